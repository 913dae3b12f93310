"""Back-to-Origin > Warm up in the console (SPEC §11): starting warm-up and refresh
jobs, their progress partial, Pause / Resume / Cancel, recent jobs, and Re-fetch from
origin on an object, through Django's test client.

The tests that run a job use the real JobRunner, whose threads need PostgreSQL
(`make test-postgres`; see tests/test_warmup_jobs.py); on SQLite the browser test
runs the same jobs in a real worker beside a real server."""

import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test import Client
from django.urls import reverse

from buckets.models import StoredObject
from buckets.storage import open_blob
from console.job_forms import keys_from_text
from console.job_views import job_summary
from origin import jobs
from origin.job_models import JobKey, MigrationJob

HTMX = {"HTTP_HX_REQUEST": "true"}
needs_postgres = pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="the job runner's threads need PostgreSQL (make test-postgres)",
)


def section_url(bucket):
    return reverse("console-warmup", args=[bucket.name])


def start_url(bucket):
    return reverse("console-warmup-start", args=[bucket.name])


def job_url(job):
    return reverse("console-job", args=[job.bucket.name, job.pk])


def control_url(job, action):
    return reverse("console-job-control", args=[job.bucket.name, job.pk, action])


def refetch_url(bucket):
    return reverse("console-object-refetch", args=[bucket.name])


def warmup_post(**fields):
    return {
        "source": "keys",
        "keys": "",
        "list_prefix": "",
        "concurrency": "4",
        "skip_existing": "on",
        **fields,
    }


def progress_value(html):
    match = re.search(r'<progress max="100" value="(\d+)"', html)
    return int(match.group(1)) if match else None


def by_testid(html, name):
    match = re.search(rf'data-testid="{name}">([^<]*)<', html)
    return match.group(1) if match else None


def saved_bytes(bucket, key):
    with open_blob(StoredObject.objects.get(bucket=bucket, key=key)) as handle:
        return handle.read()


def run(job):
    jobs.JobRunner(job.pk).run()
    job.refresh_from_db()
    return job


@pytest.fixture
def origin_rules(bucket, make_rule, mirror_rule):
    """Rule 1 mirrors everything from the loopback origin; rule 2 redirects go/."""
    mirror = mirror_rule()
    redirect = make_rule(
        bucket, mode="redirect", key_prefix="go/", host="new.example.com"
    )
    return mirror, redirect


@pytest.fixture
def twenty_keys(origin_server):
    """20 keys: 18 the origin has, one it lacks (404) and one it fails on (500)."""
    keys = [f"files/{n:02d}.txt" for n in range(20)]
    for n, key in enumerate(keys):
        if n == 7:
            origin_server.route(f"/{key}", status=500, body=b"broken")
        elif n != 13:
            origin_server.route(f"/{key}", body=f"body of {key}".encode())
    return keys


# -- the section ----------------------------------------------------------------------


@pytest.mark.django_db
def test_the_rule_editor_loads_the_warm_up_section_in_place(alice_client, bucket):
    page = alice_client.get(
        reverse("console-rules", args=[bucket.name])
    ).content.decode()
    assert f'hx-get="{section_url(bucket)}" hx-trigger="load"' in page
    assert f'<a href="{section_url(bucket)}">Open Warm up</a>' in page

    partial = alice_client.get(section_url(bucket), **HTMX).content.decode()
    assert "<html" not in partial
    assert '<h3 id="warmup-title">Warm up</h3>' in partial
    assert '<label for="warmup-keys">Keys</label>' in partial
    assert 'type="file" name="keys_file"' in partial
    assert "List the origin" in partial
    assert 'name="concurrency" value="4"' in partial
    assert re.search(r'name="skip_existing"[^>]*checked', partial)
    assert ">Start</button>" in partial
    assert ">Refresh prefix</button>" in partial
    assert "hx-trigger" not in partial  # nothing polls while no job is shown


@pytest.mark.django_db
def test_without_htmx_the_section_is_the_settings_page_with_the_editor_open(
    alice_client, bucket, origin_rules
):
    page = alice_client.get(section_url(bucket)).content.decode()
    assert "<html" in page
    assert 'id="rule-list"' in page
    assert '<h3 id="warmup-title">Warm up</h3>' in page
    # The rule select offers the mirroring rules only, by position and origin URL.
    mirror, _redirect = origin_rules
    assert f'<option value="1">Rule 1 · {mirror.origin_url}</option>' in page
    assert '<option value="2">' not in page


@pytest.mark.django_db
def test_start_with_pasted_keys_queues_a_job_and_shows_its_progress(
    alice_client, bucket, origin_rules
):
    answer = alice_client.post(
        start_url(bucket),
        warmup_post(keys="a.txt\r\n\r\n  \nb/c.txt\na.txt\n", concurrency="8"),
        **HTMX,
    )
    assert answer.status_code == 200
    job = MigrationJob.objects.get()
    assert (job.kind, job.status, job.source, job.total) == (
        "warmup",
        "queued",
        "keys",
        2,
    )
    assert (job.concurrency, job.skip_existing, job.created_by) == (
        8,
        True,
        bucket.owner,
    )
    assert list(job.keys.order_by("id").values_list("key", flat=True)) == [
        "a.txt",
        "b/c.txt",
    ]
    html = answer.content.decode()
    assert f"Warm-up job {job.pk} started." in html
    assert progress_value(html) == 0
    assert f'hx-get="{job_url(job)}?in=warmup" hx-trigger="every 1s"' in html
    assert by_testid(html, "job-summary") == "Queued: waiting for a worker."
    assert f'id="recent-job-{job.pk}"' in html
    # The form is fresh again for the next job.
    assert "a.txt</textarea>" not in html


@pytest.mark.django_db
def test_skip_existing_unchecked_is_kept_on_the_job(alice_client, bucket, origin_rules):
    post = warmup_post(keys="a.txt")
    del post["skip_existing"]
    alice_client.post(start_url(bucket), post, **HTMX)
    assert MigrationJob.objects.get().skip_existing is False


@pytest.mark.django_db
def test_a_text_file_of_keys_starts_a_job(alice_client, bucket, origin_rules):
    upload = SimpleUploadedFile(
        "keys.txt", "\ufeffone.txt\r\ntwo/é.txt\n\nthree.txt\n".encode(), "text/plain"
    )
    answer = alice_client.post(start_url(bucket), warmup_post(keys_file=upload), **HTMX)
    assert answer.status_code == 200
    job = MigrationJob.objects.get()
    assert list(job.keys.order_by("id").values_list("key", flat=True)) == [
        "one.txt",
        "two/é.txt",
        "three.txt",
    ]


@pytest.mark.django_db
def test_list_the_origin_starts_a_listing_job_of_the_chosen_rule(
    alice_client, bucket, origin_rules
):
    alice_client.post(
        start_url(bucket),
        warmup_post(source="list_origin", rule="1", list_prefix="files/"),
        **HTMX,
    )
    job = MigrationJob.objects.get()
    assert (job.source, job.rule_position, job.prefix) == ("list_origin", 1, "files/")
    assert job.total == 0
    assert not job.listing_done


@pytest.mark.django_db
def test_a_plain_post_redirects_to_the_job_page(alice_client, bucket, origin_rules):
    answer = alice_client.post(start_url(bucket), warmup_post(keys="a.txt"))
    job = MigrationJob.objects.get()
    assert answer.status_code == 302
    assert answer["Location"] == job_url(job)
    page = alice_client.get(answer["Location"]).content.decode()
    assert "<html" in page
    assert f"Warm-up job {job.pk} started." in page
    assert f'id="job-{job.pk}"' in page
    assert progress_value(page) == 0


# -- bad input: refused next to the field, nothing created, never a 500 ---------------

TOO_MANY = "\n".join(f"k{n}" for n in range(jobs.MAX_KEYS + 1))
BAD_WARMUPS = [
    ("no keys", {"keys": ""}, "keys", "Enter at least one key, one per line."),
    ("blank lines only", {"keys": "\n  \r\n"}, "keys", "Enter at least one key"),
    (
        "control char",
        {"keys": "good.txt\nbad\x01key"},
        "keys",
        "must not contain control characters",
    ),
    (
        "form feed",
        {"keys": "bad\x0ckey"},
        "keys",
        "must not contain control characters",
    ),
    ("leading slash", {"keys": "/abs.txt"}, "keys", "must not start with /"),
    ("key too long", {"keys": "k" * 1024}, "keys", "at most 1023 bytes"),
    (
        "too many keys",
        {"keys": TOO_MANY},
        "keys",
        f"At most {jobs.MAX_KEYS} keys per job.",
    ),
    ("concurrency 0", {"keys": "a", "concurrency": "0"}, "concurrency", "from 1 to 16"),
    (
        "concurrency 17",
        {"keys": "a", "concurrency": "17"},
        "concurrency",
        "from 1 to 16",
    ),
    (
        "concurrency huge",
        {"keys": "a", "concurrency": "9" * 40},
        "concurrency",
        "from 1 to 16",
    ),
    (
        "concurrency text",
        {"keys": "a", "concurrency": "four"},
        "concurrency",
        "Enter a whole number.",
    ),
    (
        "concurrency empty",
        {"keys": "a", "concurrency": ""},
        "concurrency",
        "This field is required.",
    ),
    ("unknown source", {"source": "everything"}, "source", "Select a valid choice."),
    ("no rule chosen", {"source": "list_origin"}, "rule", "Choose the mirroring rule"),
    (
        "unknown rule",
        {"source": "list_origin", "rule": "9"},
        "rule",
        "The bucket has no rule 9.",
    ),
    (
        "rule not a number",
        {"source": "list_origin", "rule": "x"},
        "rule",
        "Enter a whole number.",
    ),
    (
        "redirect rule",
        {"source": "list_origin", "rule": "2"},
        "rule",
        "Rule 2 is a redirection",
    ),
    (
        "control char in listing prefix",
        {"source": "list_origin", "rule": "1", "list_prefix": "a\x7fb"},
        "rule",
        "must not contain control characters",
    ),
]


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [case[1:] for case in BAD_WARMUPS],
    ids=[case[0] for case in BAD_WARMUPS],
)
def test_bad_warm_up_input_is_refused_next_to_its_field(
    alice_client, bucket, origin_rules, fields, field, message
):
    answer = alice_client.post(start_url(bucket), warmup_post(**fields), **HTMX)
    assert answer.status_code == 200
    html = answer.content.decode()
    error = re.search(
        rf'id="field-warmup-{field}".*?<div class="field-error">([^<]*)</div>',
        html,
        re.S,
    )
    assert error, html
    assert message in error.group(1).replace("&#x27;", "'")
    assert not MigrationJob.objects.exists()
    assert not JobKey.objects.exists()


BAD_FILES = [
    ("not UTF-8", b"caf\xe9.txt\n", "The file is not UTF-8 text"),
    ("over 10 MiB", b"k\n" * (5 * 1024 * 1024 + 1), "The file is larger than 10 MiB"),
    ("empty", b"", "The submitted file is empty."),
    ("control char", b"a\x00b\n", "must not contain control characters"),
]


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("content", "message"),
    [case[1:] for case in BAD_FILES],
    ids=[case[0] for case in BAD_FILES],
)
def test_a_bad_file_of_keys_is_refused_clearly(
    alice_client, bucket, origin_rules, content, message
):
    upload = SimpleUploadedFile("keys.txt", content, "text/plain")
    answer = alice_client.post(start_url(bucket), warmup_post(keys_file=upload), **HTMX)
    html = answer.content.decode()
    assert answer.status_code == 200
    assert re.search(
        rf'id="field-warmup-keys_file".*?<div class="field-error">[^<]*{re.escape(message)}',
        html,
        re.S,
    ), html
    assert not MigrationJob.objects.exists()


@pytest.mark.django_db
def test_a_paste_over_djangos_form_size_limit_is_a_400_not_a_500(
    alice_client, bucket, origin_rules, settings
):
    keys = "k" * 1000 + "\n"
    too_big = keys * (settings.DATA_UPLOAD_MAX_MEMORY_SIZE // len(keys) + 1)
    answer = alice_client.post(start_url(bucket), warmup_post(keys=too_big), **HTMX)
    assert answer.status_code == 400
    assert not MigrationJob.objects.exists()


@pytest.mark.django_db
def test_pasting_and_uploading_at_once_is_refused(alice_client, bucket, origin_rules):
    upload = SimpleUploadedFile("keys.txt", b"a.txt\n", "text/plain")
    answer = alice_client.post(
        start_url(bucket), warmup_post(keys="b.txt", keys_file=upload), **HTMX
    )
    assert "Paste keys or upload a file, not both." in answer.content.decode()
    assert not MigrationJob.objects.exists()


@pytest.mark.django_db
def test_a_refused_form_keeps_what_was_typed(alice_client, bucket, origin_rules):
    answer = alice_client.post(
        start_url(bucket),
        warmup_post(keys="keep/me.txt\nbad\x01", concurrency="3"),
        **HTMX,
    )
    html = answer.content.decode()
    assert "keep/me.txt\nbad\x01</textarea>" in html
    assert 'name="concurrency" value="3"' in html


@pytest.mark.django_db
def test_without_a_mirroring_rule_listing_says_why(alice_client, bucket):
    html = alice_client.get(section_url(bucket), **HTMX).content.decode()
    assert 'data-testid="no-mirror-rule"' in html
    answer = alice_client.post(
        start_url(bucket), warmup_post(source="list_origin", rule="1"), **HTMX
    )
    assert "The bucket has no rule 1." in answer.content.decode()
    assert not MigrationJob.objects.exists()


def test_keys_from_text_splits_on_newlines_only():
    assert keys_from_text("a\r\nb\n\n \nc d \n") == ["a", "b", "c d "]
    assert keys_from_text("a\x0bb\u2028c") == ["a\x0bb\u2028c"]
    assert keys_from_text("") == []


# -- refresh of a prefix ----------------------------------------------------------------


@pytest.mark.django_db
def test_refresh_prefix_starts_a_refresh_job(alice_client, bucket, origin_rules):
    url = reverse("console-refresh-start", args=[bucket.name])
    answer = alice_client.post(url, {"prefix": "files/"}, **HTMX)
    job = MigrationJob.objects.get()
    assert (job.kind, job.source, job.prefix) == ("refresh", "prefix", "files/")
    assert f"Refresh job {job.pk} started." in answer.content.decode()


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("prefix", "message"),
    [
        ("", "Enter the prefix of the objects to refresh."),
        ("a\x1fb", "must not contain control characters"),
        ("p" * 1024, "at most 1023 bytes"),
    ],
)
def test_a_bad_refresh_prefix_is_refused(
    alice_client, bucket, origin_rules, prefix, message
):
    url = reverse("console-refresh-start", args=[bucket.name])
    answer = alice_client.post(url, {"prefix": prefix}, **HTMX)
    assert answer.status_code == 200
    assert re.search(
        rf'id="field-refresh-prefix".*?<div class="field-error">[^<]*{re.escape(message)}',
        answer.content.decode(),
        re.S,
    )
    assert not MigrationJob.objects.exists()


# -- a job's progress -------------------------------------------------------------------


@needs_postgres
@pytest.mark.django_db(transaction=True)
def test_a_job_of_twenty_keys_ends_at_100_with_its_counts_and_reasons(
    alice_client, bucket, origin_rules, twenty_keys, put_object
):
    put_object(bucket, "files/00.txt", b"already here")
    alice_client.post(
        start_url(bucket), warmup_post(keys="\n".join(twenty_keys)), **HTMX
    )
    job = run(MigrationJob.objects.get())
    assert job.status == "done"

    html = alice_client.get(job_url(job), **HTMX).content.decode()
    assert "<html" not in html
    assert progress_value(html) == 100
    assert "hx-trigger" not in html  # finished: no more polling
    counts = {
        name: by_testid(html, f"job-{name}")
        for name in ("status", "total", "done", "saved", "skipped", "failed")
    }
    assert counts == {
        "status": "Done",
        "total": "20",
        "done": "20",
        "saved": "17",
        "skipped": "1",
        "failed": "2",
    }
    body_bytes = sum(
        len(f"body of {key}")
        for key in twenty_keys[1:]
        if key not in ("files/07.txt", "files/13.txt")
    )
    assert by_testid(html, "job-bytes") == f"{body_bytes}\xa0bytes"
    assert by_testid(html, "job-summary") == "Done: 17 saved, 1 skipped, 2 failed."
    rows = re.findall(
        r'<td data-label="Key"><code>([^<]*)</code></td><td data-label="Reason">([^<]*)</td>',
        html,
    )
    assert [key for key, _reason in rows] == ["files/07.txt", "files/13.txt"]
    assert "500" in rows[0][1]
    assert rows[1][1]  # the origin's 404, said plainly
    assert 'aria-label="Pause' not in html
    assert 'aria-label="Cancel' not in html
    assert saved_bytes(bucket, "files/01.txt") == b"body of files/01.txt"


@pytest.mark.django_db
def test_only_the_first_100_errors_are_listed(alice_client, bucket, origin_rules):
    job = jobs.create_job(
        bucket, bucket.owner, kind="warmup", keys=[f"k{n}" for n in range(120)]
    )
    job.keys.update(state="failed", reason="Not found at the origin.")
    MigrationJob.objects.filter(pk=job.pk).update(status="done", failed=120)
    html = alice_client.get(job_url(job), **HTMX).content.decode()
    assert html.count('<td data-label="Key">') == 100
    assert "(the first 100 of 120)" in html


@pytest.mark.django_db
def test_pause_resume_and_cancel_change_the_status_and_the_buttons(
    alice_client, bucket, origin_rules
):
    job = jobs.create_job(bucket, bucket.owner, kind="warmup", keys=["a", "b"])

    def buttons(html):
        return re.findall(r'<button type="submit" aria-label="(\w+) job', html)

    html = alice_client.get(job_url(job), **HTMX).content.decode()
    assert buttons(html) == ["Pause", "Cancel"]

    html = alice_client.post(control_url(job, "pause"), **HTMX).content.decode()
    assert by_testid(html, "job-status") == "Paused"
    assert buttons(html) == ["Resume", "Cancel"]
    assert by_testid(html, "job-summary") == "Paused: 0 of 2 done."
    assert "hx-trigger" in html

    html = alice_client.post(control_url(job, "resume"), **HTMX).content.decode()
    assert by_testid(html, "job-status") == "Queued"
    assert buttons(html) == ["Pause", "Cancel"]

    html = alice_client.post(control_url(job, "cancel"), **HTMX).content.decode()
    assert by_testid(html, "job-status") == "Cancelled"
    assert buttons(html) == []
    assert "hx-trigger" not in html

    # A button from a stale page: said plainly, nothing changed.
    html = alice_client.post(control_url(job, "pause"), **HTMX).content.decode()
    assert by_testid(html, "job-notice") == "A Cancelled job cannot be paused."
    job.refresh_from_db()
    assert job.status == "cancelled"


@pytest.mark.django_db
def test_control_without_htmx_redirects_to_the_job_and_unknown_actions_are_404(
    alice_client, bucket, origin_rules
):
    job = jobs.create_job(bucket, bucket.owner, kind="warmup", keys=["a"])
    answer = alice_client.post(control_url(job, "pause"))
    assert (answer.status_code, answer["Location"]) == (302, job_url(job))
    assert alice_client.post(control_url(job, "explode")).status_code == 404
    assert alice_client.get(control_url(job, "cancel")).status_code == 405
    job.refresh_from_db()
    assert job.status == "paused"


@pytest.mark.django_db
def test_recent_jobs_lists_the_last_ten_each_opening_its_progress(
    alice_client, bucket, origin_rules
):
    made = [
        jobs.create_job(bucket, bucket.owner, kind="warmup", keys=[f"k{n}"])
        for n in range(12)
    ]
    html = alice_client.get(section_url(bucket), **HTMX).content.decode()
    listed = [int(pk) for pk in re.findall(r'id="recent-job-(\d+)"', html)]
    assert listed == [job.pk for job in reversed(made)][:10]
    newest = made[-1]
    assert f'hx-get="{job_url(newest)}?in=warmup" hx-target="#job-panel"' in html


@pytest.mark.django_db
def test_a_poll_from_the_warm_up_section_also_updates_its_recent_jobs_row(
    alice_client, bucket, origin_rules
):
    job = jobs.create_job(bucket, bucket.owner, kind="warmup", keys=["a", "b"])
    MigrationJob.objects.filter(pk=job.pk).update(status="running", saved=1)
    html = alice_client.get(f"{job_url(job)}?in=warmup", **HTMX).content.decode()
    assert f'hx-get="{job_url(job)}?in=warmup"' in html
    assert (
        f'<span id="recent-job-{job.pk}-status" hx-swap-oob="true">Running</span>'
        in html
    )
    assert f'<span id="recent-job-{job.pk}-progress" hx-swap-oob="true">50 %' in html
    # Elsewhere (an object's details) there is no such row to update.
    html = alice_client.get(job_url(job), **HTMX).content.decode()
    assert "hx-swap-oob" not in html
    assert f'hx-get="{job_url(job)}"' in html


# -- Re-fetch from origin ------------------------------------------------------------------


@pytest.mark.django_db
def test_object_details_offer_re_fetch_from_origin(alice_client, bucket, put_object):
    put_object(bucket, "docs/a.txt", b"old")
    url = reverse("console-object", args=[bucket.name]) + "?key=docs/a.txt"
    html = alice_client.get(url, **HTMX).content.decode()
    assert f'hx-post="{refetch_url(bucket)}"' in html
    assert '<input type="hidden" name="key" value="docs/a.txt">' in html
    assert ">Re-fetch from origin</button>" in html


@needs_postgres
@pytest.mark.django_db(transaction=True)
def test_re_fetch_replaces_the_object_with_a_fresh_copy(
    alice_client, bucket, origin_rules, origin_server, put_object
):
    put_object(bucket, "docs/a.txt", b"old", mirrored=True)
    origin_server.route("/docs/a.txt", body=b"fresh from the origin")
    html = alice_client.post(
        refetch_url(bucket), {"key": "docs/a.txt"}, **HTMX
    ).content.decode()
    job = MigrationJob.objects.get()
    assert (job.kind, job.total) == ("refresh", 1)
    assert f'id="job-{job.pk}"' in html
    assert "hx-trigger" in html
    run(job)
    html = alice_client.get(job_url(job), **HTMX).content.decode()
    assert by_testid(html, "job-summary") == "Replaced with a fresh copy."
    assert progress_value(html) == 100
    assert saved_bytes(bucket, "docs/a.txt") == b"fresh from the origin"


@needs_postgres
@pytest.mark.django_db(transaction=True)
def test_a_failed_re_fetch_says_why_and_keeps_the_old_copy(
    alice_client, bucket, origin_rules, origin_server, put_object
):
    put_object(bucket, "docs/a.txt", b"old", mirrored=True)
    origin_server.route("/docs/a.txt", status=500, body=b"broken")
    alice_client.post(refetch_url(bucket), {"key": "docs/a.txt"}, **HTMX)
    job = run(MigrationJob.objects.get())
    html = alice_client.get(job_url(job), **HTMX).content.decode()
    summary = by_testid(html, "job-summary")
    assert summary.startswith("Not refreshed: ")
    assert "500" in summary
    assert summary.endswith("; the old copy was kept.")
    assert saved_bytes(bucket, "docs/a.txt") == b"old"
    assert StoredObject.objects.filter(bucket=bucket).count() == 1


@pytest.mark.django_db
def test_re_fetch_of_a_bad_key_says_why_and_creates_nothing(alice_client, bucket):
    answer = alice_client.post(refetch_url(bucket), {"key": "bad\x01key"}, **HTMX)
    html = answer.content.decode()
    assert answer.status_code == 200
    assert 'role="alert">' in html
    assert "must not contain control characters" in html
    assert ">Re-fetch from origin</button>" in html
    assert not MigrationJob.objects.exists()


# -- who may -------------------------------------------------------------------------------


@pytest.mark.django_db
def test_another_users_bucket_and_jobs_are_404(bob_client, bucket, origin_rules):
    job = jobs.create_job(bucket, bucket.owner, kind="warmup", keys=["a"])
    refresh = reverse("console-refresh-start", args=[bucket.name])
    assert bob_client.get(section_url(bucket)).status_code == 404
    assert bob_client.get(job_url(job), **HTMX).status_code == 404
    assert bob_client.post(start_url(bucket), warmup_post(keys="x")).status_code == 404
    assert bob_client.post(refresh, {"prefix": "a"}).status_code == 404
    assert bob_client.post(control_url(job, "cancel")).status_code == 404
    assert bob_client.post(refetch_url(bucket), {"key": "a"}).status_code == 404
    job.refresh_from_db()
    assert job.status == "queued"
    assert MigrationJob.objects.count() == 1


@pytest.mark.django_db
def test_a_job_is_found_only_under_its_own_bucket(
    alice_client, bucket, photos, origin_rules
):
    job = jobs.create_job(bucket, bucket.owner, kind="warmup", keys=["a"])
    url = reverse("console-job", args=[photos.name, job.pk])
    assert alice_client.get(url, **HTMX).status_code == 404
    url = reverse("console-job-control", args=[photos.name, job.pk, "cancel"])
    assert alice_client.post(url).status_code == 404


@pytest.mark.django_db
def test_logged_out_users_are_sent_to_log_on(client, bucket):
    answer = client.get(section_url(bucket))
    assert answer.status_code == 302
    assert "login" in answer["Location"]
    answer = client.post(start_url(bucket), warmup_post(keys="a"))
    assert answer.status_code == 302
    assert "login" in answer["Location"]
    assert not MigrationJob.objects.exists()


@pytest.mark.django_db
def test_csrf_is_enforced(alice, bucket, origin_rules):
    client = Client(enforce_csrf_checks=True)
    client.force_login(alice)
    assert client.post(start_url(bucket), warmup_post(keys="a")).status_code == 403
    assert client.post(refetch_url(bucket), {"key": "a"}).status_code == 403
    assert not MigrationJob.objects.exists()


# -- the status line -------------------------------------------------------------------------


def _job(**fields):
    return MigrationJob(
        **{"kind": "warmup", "status": "running", "total": 200, **fields}
    )


@pytest.mark.parametrize(
    ("job", "summary"),
    [
        (_job(status="queued"), "Queued: waiting for a worker."),
        (_job(saved=10, failed=2), "Running: 12 of 200 done."),
        (_job(status="paused", skipped=5), "Paused: 5 of 200 done."),
        (_job(status="done", saved=198, failed=2), "Done: 198 saved, 2 failed."),
        (
            _job(status="done", saved=1, skipped=3, failed=0),
            "Done: 1 saved, 3 skipped, 0 failed.",
        ),
        (_job(status="cancelled", saved=7), "Cancelled: 7 of 200 done."),
        (
            _job(status="failed", reason="The origin refused the listing.", saved=3),
            "Failed: The origin refused the listing. 3 saved, 0 failed.",
        ),
    ],
)
def test_the_status_line_says_where_the_job_is(job, summary):
    assert job_summary(job) == summary


@pytest.mark.parametrize(
    ("state", "reason", "summary"),
    [
        ("saved", "", "Replaced with a fresh copy."),
        (
            "failed",
            "Origin answered HTTP 500.",
            "Not refreshed: Origin answered HTTP 500; the old copy was kept.",
        ),
        ("skipped", "Uploaded meanwhile.", "Not replaced: Uploaded meanwhile."),
    ],
)
def test_a_single_key_refresh_says_what_became_of_the_object(state, reason, summary):
    job = _job(kind="refresh", status="done", total=1)
    assert job_summary(job, JobKey(state=state, reason=reason)) == summary
