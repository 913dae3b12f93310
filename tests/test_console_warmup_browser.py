"""Warm up and Re-fetch from origin in a real Chromium, against the real gunicorn with
its job worker (JOB_WORKERS=1) and a loopback origin: paste keys, Start, and watch the
<progress> reach 100 as the worker copies them (SPEC §11)."""

import oss2
import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import expect

from tests.conftest import PASSWORD
from tests.server_process import GunicornServer

pytestmark = [pytest.mark.browser, pytest.mark.server]

BUCKET = "warm-bucket"
GOOD_KEYS = [f"site/page-{n:02d}.html" for n in range(28)]
MISSING, BROKEN = "site/gone.html", "site/broken.html"
NO_SIDEWAYS_SCROLL = (
    "() => document.documentElement.scrollWidth <= document.documentElement.clientWidth"
)
JOB_SECONDS = 60_000  # ms: a generous bound for a busy CI machine, not a speed check


@pytest.fixture(scope="module")
def server(tmp_path_factory, origin):
    """gunicorn with one job worker beside it; alice owns BUCKET, whose rule 1 mirrors
    everything from the loopback origin. Yields (server, alice's oss2.Bucket)."""
    gunicorn = GunicornServer(
        tmp_path_factory.mktemp("warmup-server"),
        JOB_WORKERS="1",
        JOB_STALE_SECONDS="3",
        ORIGIN_ALLOW_PRIVATE="1",
    )
    keys = gunicorn.add_users(("alice",), PASSWORD)
    gunicorn.manage(
        "shell",
        "-c",
        "from django.contrib.auth import get_user_model\n"
        "from buckets.models import Bucket\n"
        "from origin.models import BackToOriginRule\n"
        f"bucket = Bucket.objects.create(owner=get_user_model().objects.get(username='alice'), name={BUCKET!r})\n"
        f"BackToOriginRule(bucket=bucket, mode='mirror', protocol='http', host={origin.netloc!r}).save_in_order()\n",
    )
    for key in GOOD_KEYS:
        origin.route(f"/{key}", body=f"<p>{key}</p>".encode())
    origin.route(f"/{BROKEN}", status=500, body=b"broken")
    gunicorn.start()
    try:
        yield gunicorn, oss2.Bucket(oss2.Auth(*keys["alice"]), gunicorn.url, BUCKET)
    finally:
        gunicorn.stop()


@pytest.fixture
def console(page, server):
    """alice logged on through the real login page."""
    gunicorn, _bucket = server
    page.goto(f"{gunicorn.url}/console/")
    page.get_by_label("Username", exact=True).fill("alice")
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="Log on").click()
    expect(page.get_by_test_id("user-name")).to_have_text("alice")
    return page


def axe_violations(page):
    results = Axe().run(page)
    return [
        f"{violation['id']}: {[node['target'] for node in violation['nodes']][:3]}"
        for violation in results.response["violations"]
        if violation["impact"] in ("critical", "serious")
    ]


def open_warm_up(page):
    """The bucket on the left, Basic Settings, Back-to-Origin Edit: Warm up loads below."""
    page.locator("#bucket-nav").get_by_role("link", name=BUCKET).click()
    page.get_by_role("link", name="Basic Settings").click()
    origin_section = page.locator("#back-to-origin-section")
    origin_section.get_by_role("link", name="Edit").click()
    warm_up = page.locator("#warmup-section")
    expect(warm_up.get_by_role("heading", name="Warm up")).to_be_visible()
    expect(warm_up.get_by_label("Keys", exact=True)).to_be_visible()
    return warm_up


def test_pasted_keys_are_copied_while_the_progress_bar_climbs_to_100(console, server):
    _gunicorn, bucket = server
    warm_up = open_warm_up(console)
    warm_up.get_by_role("button", name="Start").click()
    expect(warm_up.locator("#field-warmup-keys .field-error")).to_have_text(
        "Enter at least one key, one per line."
    )
    assert axe_violations(console) == []
    warm_up.get_by_label("Keys", exact=True).fill(
        "\n".join([*GOOD_KEYS, "", MISSING, BROKEN])
    )
    warm_up.get_by_label("Concurrency", exact=True).fill("4")
    warm_up.get_by_role("button", name="Start").click()

    job = warm_up.locator(".job-progress")
    expect(warm_up.get_by_role("status").first).to_contain_text("started.")
    progress = job.locator("progress")
    expect(progress).to_have_attribute("max", "100")
    expect(progress).to_have_attribute("value", "100", timeout=JOB_SECONDS)

    expect(job.get_by_role("status")).to_have_text("Done: 28 saved, 2 failed.")
    expect(job.get_by_test_id("job-percent")).to_have_text("100 %")
    expect(job.get_by_test_id("job-status")).to_have_text("Done")
    expect(job.get_by_test_id("job-total")).to_have_text("30")
    expect(job.get_by_test_id("job-saved")).to_have_text("28")
    expect(job.get_by_test_id("job-failed")).to_have_text("2")
    errors = job.locator(".job-errors tbody tr")
    expect(errors).to_have_count(2)
    expect(errors.nth(0)).to_contain_text(MISSING)
    expect(errors.nth(1)).to_contain_text(BROKEN)
    expect(errors.nth(1)).to_contain_text("500")
    recent_row = warm_up.locator("#recent-jobs tbody tr").first
    expect(recent_row.locator("td").nth(2)).to_have_text("Done")
    expect(recent_row.locator("td").nth(3)).to_have_text("100 % (30 of 30)")
    # Finished: it stops polling, and the bar stays at 100.
    expect(job).not_to_have_attribute("hx-trigger", "every 1s")
    console.wait_for_timeout(1500)  # longer than a poll period: nothing reverts
    expect(progress).to_have_attribute("value", "100")
    assert bucket.get_object(GOOD_KEYS[0]).read() == f"<p>{GOOD_KEYS[0]}</p>".encode()
    assert axe_violations(console) == []
    console.set_viewport_size({"width": 390, "height": 844})  # a phone
    assert console.evaluate(NO_SIDEWAYS_SCROLL)
    assert axe_violations(console) == []
    console.set_viewport_size({"width": 1366, "height": 900})

    # After a reload (Basic Settings), the job is in the recent jobs list.
    console.reload()
    console.locator("#back-to-origin-section").get_by_role("link", name="Edit").click()
    warm_up = console.locator("#warmup-section")
    warm_up.locator("#recent-jobs").get_by_role("link").first.click()
    expect(warm_up.locator(".job-progress progress")).to_have_attribute("value", "100")


def test_re_fetch_from_origin_replaces_the_copy_or_keeps_it_and_says_why(
    console, server, origin
):
    gunicorn, bucket = server
    bucket.put_object("docs/fresh.txt", b"stale copy")
    bucket.put_object("docs/kept.txt", b"the only copy")
    origin.route("/docs/fresh.txt", body=b"fresh from the origin")
    origin.route("/docs/kept.txt", status=500, body=b"broken")

    console.goto(
        f"{gunicorn.url}/console/buckets/{BUCKET}/files/object?key=docs/fresh.txt"
    )
    console.get_by_role("button", name="Re-fetch from origin").click()
    result = console.locator(".job-progress")
    expect(result.get_by_role("status")).to_have_text(
        "Replaced with a fresh copy.", timeout=JOB_SECONDS
    )
    expect(result.locator("progress")).to_have_attribute("value", "100")
    assert bucket.get_object("docs/fresh.txt").read() == b"fresh from the origin"
    assert axe_violations(console) == []

    console.goto(
        f"{gunicorn.url}/console/buckets/{BUCKET}/files/object?key=docs/kept.txt"
    )
    console.get_by_role("button", name="Re-fetch from origin").click()
    status = console.locator(".job-progress").get_by_role("status")
    expect(status).to_contain_text("the old copy was kept.", timeout=JOB_SECONDS)
    expect(status).to_contain_text("500")
    assert bucket.get_object("docs/kept.txt").read() == b"the only copy"


def test_pause_resume_and_cancel_a_running_job(console, server, origin, gate):
    """The origin holds each answer until the test is done, so the job cannot finish
    on its own while the buttons are clicked."""
    held = gate()
    keys = [f"slow/{n}.txt" for n in range(5)]
    for key in keys:
        origin.route(f"/{key}", body=b"slow", pause_after=0, gate=held)
    warm_up = open_warm_up(console)
    warm_up.get_by_label("Keys", exact=True).fill("\n".join(keys))
    warm_up.get_by_label("Concurrency", exact=True).fill("1")
    warm_up.get_by_role("button", name="Start").click()
    job = warm_up.locator(".job-progress")
    status = job.get_by_test_id("job-status")
    expect(status).to_have_text("Running", timeout=JOB_SECONDS)

    job.get_by_role("button", name="Pause").click()
    expect(status).to_have_text("Paused")
    expect(job.get_by_role("button", name="Resume")).to_be_visible()
    expect(job.get_by_role("button", name="Pause")).to_have_count(0)

    job.get_by_role("button", name="Resume").click()
    expect(status).not_to_have_text("Paused")
    expect(job.get_by_role("button", name="Pause")).to_be_visible()

    job.get_by_role("button", name="Cancel").click()
    expect(status).to_have_text("Cancelled")
    expect(job.get_by_role("status")).to_contain_text("Cancelled:")
    expect(job.get_by_role("button")).to_have_count(0)
    expect(job).not_to_have_attribute("hx-trigger", "every 1s")


def test_a_text_file_of_keys_uploaded_in_the_browser_is_copied(console, server, origin):
    keys = [f"upload/{n}.txt" for n in range(3)]
    for key in keys:
        origin.route(f"/{key}", body=key.encode())
    warm_up = open_warm_up(console)
    warm_up.get_by_label("Or upload a text file of keys", exact=True).set_input_files(
        {
            "name": "keys.txt",
            "mimeType": "text/plain",
            "buffer": "\n".join(keys).encode(),
        }
    )
    warm_up.get_by_role("button", name="Start").click()
    job = warm_up.locator(".job-progress")
    expect(job.locator("progress")).to_have_attribute(
        "value", "100", timeout=JOB_SECONDS
    )
    expect(job.get_by_role("status")).to_have_text("Done: 3 saved, 0 failed.")
