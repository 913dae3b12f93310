"""Origin protection per Mirroring rule (SPEC §11): remembered origin 404s, a cap on
concurrent fetches per origin host, and a circuit breaker; validated like every
rule field, shown in the JSON API, the console and the dry run, never in GET ?website.

Real loopback origins that count what they receive; time is moved by editing the
stored expiry, never by sleeping.
"""

import html as html_text
import re
import threading
from datetime import timedelta
from pathlib import Path

import pytest
import requests
from django.conf import settings
from django.urls import reverse
from django.utils import timezone

from buckets.models import StoredObject
from origin import protection, website_config
from origin.models import BackToOriginRule, NegativeCacheEntry, OriginBreaker
from tests.oss_responses import body_of, oss_error
from tests.server_process import GunicornServer

pytestmark = pytest.mark.django_db

HTMX = {"HX-Request": "true"}


def rules_url(*rest):
    return "/".join(["/api/v1/buckets/alice-bucket/rules", *map(str, rest)])


def get(client, key):
    response = client.get(f"/alice-bucket/{key}")
    return response, body_of(response)


def origin_asked(origin_server, key):
    return len(origin_server.requests_to(f"/{key}"))


def nothing_saved(bucket, key):
    """No row for `key`, no temporary file, and no blob beyond the stored objects'."""
    return (
        not StoredObject.objects.filter(bucket=bucket, key=key).exists()
        and files_under(Path(settings.OBJECT_TMP_DIR)) == []
        and len(files_under(Path(settings.OBJECT_STORAGE_DIR)))
        == StoredObject.objects.count()
    )


def expire_remembered_404s():
    NegativeCacheEntry.objects.update(expires_at=timezone.now() - timedelta(seconds=1))


def end_open_period():
    OriginBreaker.objects.update(open_until=timezone.now() - timedelta(seconds=1))


# -- negative cache ---------------------------------------------------------------


def test_a_missing_key_asks_the_origin_once_per_window(
    alice_client, bucket, origin_server, mirror_rule
):
    mirror_rule(negative_cache_seconds=60)

    answers = [get(alice_client, "gone.txt")[0] for _ in range(4)]

    assert [response.status_code for response in answers] == [404] * 4
    assert {oss_error(response)[0] for response in answers} == {"NoSuchKey"}
    assert origin_asked(origin_server, "gone.txt") == 1
    assert nothing_saved(bucket, "gone.txt")

    expire_remembered_404s()
    assert get(alice_client, "gone.txt")[0].status_code == 404
    assert origin_asked(origin_server, "gone.txt") == 2


def test_remembered_404s_are_stored_by_digest_never_by_key(
    alice_client, origin_server, mirror_rule
):
    rule = mirror_rule(negative_cache_seconds=60)

    get(alice_client, "secret-name.txt")

    entry = NegativeCacheEntry.objects.get()
    assert entry.rule_id == rule.pk
    assert entry.key_digest == protection.key_digest("secret-name.txt")
    assert "secret-name" not in entry.key_digest


def test_without_a_negative_cache_every_miss_asks_the_origin(
    alice_client, origin_server, mirror_rule
):
    mirror_rule()

    get(alice_client, "gone.txt")
    get(alice_client, "gone.txt")

    assert origin_asked(origin_server, "gone.txt") == 2
    assert not NegativeCacheEntry.objects.exists()


def test_origin_errors_are_not_remembered(alice_client, origin_server, mirror_rule):
    origin_server.route("/flaky.txt", status=503, body=b"busy")
    mirror_rule(negative_cache_seconds=60)

    statuses = [get(alice_client, "flaky.txt")[0].status_code for _ in range(2)]

    assert statuses == [424, 424]
    assert origin_asked(origin_server, "flaky.txt") == 2
    assert not NegativeCacheEntry.objects.exists()


def test_an_upload_wins_over_a_remembered_404(
    alice_client, bucket, origin_server, mirror_rule, put_object
):
    mirror_rule(negative_cache_seconds=60)
    get(alice_client, "later.txt")

    put_object(bucket, "later.txt", b"uploaded")
    response, body = get(alice_client, "later.txt")

    assert (response.status_code, body) == (200, b"uploaded")
    assert origin_asked(origin_server, "later.txt") == 1


def test_changing_or_clearing_the_rule_forgets_its_404s(
    alice_client, origin_server, mirror_rule
):
    rule = mirror_rule(negative_cache_seconds=60)
    get(alice_client, "gone.txt")
    assert NegativeCacheEntry.objects.count() == 1

    rule.negative_cache_seconds = 120
    rule.save_in_order()
    assert not NegativeCacheEntry.objects.exists()
    get(alice_client, "gone.txt")
    assert origin_asked(origin_server, "gone.txt") == 2

    rule.clear()
    assert not NegativeCacheEntry.objects.exists()


def test_the_housekeeping_sweep_removes_expired_404s(
    alice_client, origin_server, mirror_rule
):
    mirror_rule(negative_cache_seconds=60)
    get(alice_client, "old.txt")
    get(alice_client, "new.txt")
    NegativeCacheEntry.objects.filter(
        key_digest=protection.key_digest("old.txt")
    ).update(expires_at=timezone.now() - timedelta(seconds=1))

    assert protection.sweep_negative_cache() == 1
    assert NegativeCacheEntry.objects.get().key_digest == protection.key_digest(
        "new.txt"
    )


# -- circuit breaker --------------------------------------------------------------


@pytest.fixture
def failing_origin(origin_server):
    """An origin whose down.txt answers 500 and whose up.txt answers 200."""
    origin_server.route("/down.txt", status=500, body=b"broken")
    origin_server.route("/up.txt", body=b"fine")
    return origin_server


def test_k_failures_open_the_circuit_and_misses_fail_at_once(
    alice_client, api, bucket, failing_origin, mirror_rule
):
    rule = mirror_rule(breaker_failures=2, breaker_open_seconds=30)

    assert [get(alice_client, "down.txt")[0].status_code for _ in range(2)] == [
        424,
        424,
    ]
    response, _ = get(alice_client, "up.txt")

    assert response.status_code == 424
    code, message = oss_error(response)
    assert code == "MirrorFailed"
    assert "circuit is open until" in message
    assert "2 consecutive failed fetches" in message
    assert origin_asked(failing_origin, "up.txt") == 0
    assert origin_asked(failing_origin, "down.txt") == 2
    assert nothing_saved(bucket, "up.txt")
    assert nothing_saved(bucket, "down.txt")
    state = api.get(rules_url(rule.pk)).json()["breaker_state"]
    assert (state["state"], state["failures"]) == ("open", 2)
    assert state["open_until"] is not None


def test_after_the_open_period_one_trial_success_closes_the_circuit(
    alice_client, api, bucket, failing_origin, mirror_rule
):
    rule = mirror_rule(breaker_failures=1, breaker_open_seconds=30)
    get(alice_client, "down.txt")
    end_open_period()
    assert api.get(rules_url(rule.pk)).json()["breaker_state"]["state"] == "half-open"

    response, body = get(alice_client, "up.txt")

    assert (response.status_code, body) == (200, b"fine")
    assert origin_asked(failing_origin, "up.txt") == 1
    assert api.get(rules_url(rule.pk)).json()["breaker_state"] == {
        "state": "closed",
        "failures": 0,
        "open_until": None,
    }
    assert StoredObject.objects.filter(bucket=bucket, key="up.txt").exists()


def test_a_failed_trial_opens_the_circuit_again(
    alice_client, failing_origin, mirror_rule
):
    mirror_rule(breaker_failures=1, breaker_open_seconds=30)
    get(alice_client, "down.txt")
    end_open_period()

    assert get(alice_client, "down.txt")[0].status_code == 424  # the trial
    response, _ = get(alice_client, "up.txt")

    assert "circuit is open" in oss_error(response)[1]
    assert origin_asked(failing_origin, "down.txt") == 2
    assert origin_asked(failing_origin, "up.txt") == 0
    assert OriginBreaker.objects.get().open_until > timezone.now()


def test_while_a_trial_is_under_way_other_misses_do_not_reach_the_origin(
    alice_client, failing_origin, mirror_rule
):
    mirror_rule(breaker_failures=1, breaker_open_seconds=30)
    get(alice_client, "down.txt")
    end_open_period()
    OriginBreaker.objects.update(trial_until=timezone.now() + timedelta(seconds=60))

    response, _ = get(alice_client, "up.txt")

    assert response.status_code == 424
    assert "half-open" in oss_error(response)[1]
    assert origin_asked(failing_origin, "up.txt") == 0


def test_an_origin_404_is_not_a_failure(alice_client, origin_server, mirror_rule):
    mirror_rule(breaker_failures=1, breaker_open_seconds=30)

    statuses = [get(alice_client, "gone.txt")[0].status_code for _ in range(3)]

    assert statuses == [404, 404, 404]
    assert origin_asked(origin_server, "gone.txt") == 3


def test_a_success_resets_the_count_of_consecutive_failures(
    alice_client, failing_origin, mirror_rule
):
    mirror_rule(breaker_failures=2, breaker_open_seconds=30)

    get(alice_client, "down.txt")
    get(alice_client, "up.txt")
    get(alice_client, "down.txt")
    get(alice_client, "down2.txt")  # an origin 404: the origin answered

    assert OriginBreaker.objects.get().open_until is None
    assert origin_asked(failing_origin, "down.txt") == 2


def test_the_open_circuit_shows_on_the_rule_row(
    alice_client, bucket, failing_origin, mirror_rule
):
    mirror_rule(breaker_failures=1, breaker_open_seconds=30)
    get(alice_client, "down.txt")

    page = alice_client.get(reverse("console-rules", args=[bucket.name])).content
    text = page.decode()

    assert 'data-testid="circuit-notice"' in text
    assert re.search(r"Origin circuit open until \d\d:\d\d:\d\d \(1 failures\)", text)


def test_editing_the_rule_closes_its_circuit(alice_client, failing_origin, mirror_rule):
    rule = mirror_rule(breaker_failures=1, breaker_open_seconds=30)
    get(alice_client, "down.txt")

    rule.breaker_open_seconds = 60
    rule.save_in_order()

    assert not OriginBreaker.objects.exists()
    assert get(alice_client, "up.txt")[0].status_code == 200


# -- the dry run ------------------------------------------------------------------


def test_the_dry_run_shows_protection_and_what_it_remembers(
    alice_client, api, origin_server, mirror_rule
):
    mirror_rule(
        negative_cache_seconds=60,
        max_concurrent_fetches=4,
        breaker_failures=3,
        breaker_open_seconds=30,
    )
    get(alice_client, "gone.txt")

    answer = api.post(rules_url("dry-run"), {"key": "gone.txt"}, format="json").json()

    guard = answer["protection"]
    assert {name: guard[name] for name in list(guard)[:4]} == {
        "negative_cache_seconds": 60,
        "max_concurrent_fetches": 4,
        "breaker_failures": 3,
        "breaker_open_seconds": 30,
    }
    assert guard["remembered_404_until"] is not None
    assert guard["breaker_state"]["state"] == "closed"
    other = api.post(rules_url("dry-run"), {"key": "x.txt"}, format="json").json()
    assert other["protection"]["remembered_404_until"] is None


def test_the_console_dry_run_says_a_404_is_remembered(
    alice_client, bucket, origin_server, mirror_rule
):
    mirror_rule(negative_cache_seconds=60)
    get(alice_client, "gone.txt")

    response = alice_client.post(
        reverse("console-rule-dry-run", args=[bucket.name]),
        {"key": "gone.txt"},
        headers=HTMX,
    )

    text = response.content.decode()
    assert 'data-testid="dry-run-protection"' in text
    assert "this key's 404 is remembered until" in text


def test_the_dry_run_is_unchanged_for_a_rule_without_protection(
    api, origin_server, mirror_rule
):
    mirror_rule()

    answer = api.post(rules_url("dry-run"), {"key": "a.txt"}, format="json").json()

    assert "protection" not in answer


# -- validation: one model clean() for the API and the console ---------------------

MIRROR = {"mode": "mirror", "protocol": "https", "host": "www.example.com"}
REDIRECT = {"mode": "redirect", "protocol": "https", "host": "new.example.com"}

REFUSED = [
    (MIRROR, "negative_cache_seconds", 86401, "from 0 to 86400"),
    (MIRROR, "max_concurrent_fetches", 1001, "from 0 to 1000"),
    (MIRROR, "breaker_failures", 1001, "from 0 to 1000"),
    (MIRROR, "breaker_open_seconds", 86401, "from 0 to 86400"),
    (
        {**MIRROR, "breaker_failures": 3},
        "breaker_open_seconds",
        0,
        "from 1 to 86400",
    ),
    (REDIRECT, "negative_cache_seconds", 10, "Mirroring rules only"),
    (REDIRECT, "max_concurrent_fetches", 2, "Mirroring rules only"),
    (REDIRECT, "breaker_failures", 2, "Mirroring rules only"),
    (REDIRECT, "breaker_open_seconds", 5, "Mirroring rules only"),
]
NEGATIVE = [
    "negative_cache_seconds",
    "max_concurrent_fetches",
    "breaker_failures",
    "breaker_open_seconds",
]


@pytest.mark.parametrize(("base", "field", "value", "message"), REFUSED)
def test_the_api_refuses_out_of_range_values(api, bucket, base, field, value, message):
    response = api.post(rules_url(), {**base, field: value}, format="json")

    assert response.status_code == 400
    assert list(response.json()) == [field]
    assert message in response.json()[field][0]
    assert not BackToOriginRule.objects.exists()


@pytest.mark.parametrize("field", NEGATIVE)
def test_the_api_refuses_negative_values(api, bucket, field):
    response = api.post(rules_url(), {**MIRROR, field: -1}, format="json")

    assert response.status_code == 400
    assert list(response.json()) == [field]
    assert not BackToOriginRule.objects.exists()


def test_the_api_carries_the_fields_and_the_breaker_state_is_read_only(api, bucket):
    values = {
        "negative_cache_seconds": 60,
        "max_concurrent_fetches": 4,
        "breaker_failures": 5,
        "breaker_open_seconds": 30,
    }
    response = api.post(
        rules_url(),
        {**MIRROR, **values, "breaker_state": {"state": "open"}},
        format="json",
    )

    assert response.status_code == 201, response.content
    body = response.json()
    assert {name: body[name] for name in values} == values
    assert body["breaker_state"] == {
        "state": "closed",
        "failures": 0,
        "open_until": None,
    }
    rule = BackToOriginRule.objects.get()
    assert (rule.negative_cache_seconds, rule.breaker_open_seconds) == (60, 30)


def test_protection_is_off_by_default(api, bucket):
    body = api.post(rules_url(), MIRROR, format="json").json()

    assert [body[name] for name in NEGATIVE] == [0, 0, 0, 0]


def console_post(**fields):
    return {
        "mode": "mirror",
        "http_status": "404",
        "protocol": "https",
        "host": "www.example.com",
        "follow_redirects": "on",
        **{name: str(value) for name, value in fields.items()},
    }


def errors_at(text, name):
    start = text.index(f'id="field-{name}"')
    end = text.find('id="field-', start + 1)
    block = text[start : end if end != -1 else None]
    return [
        html_text.unescape(message)
        for message in re.findall(r'<div class="field-error">(.*?)</div>', block)
    ]


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"negative_cache_seconds": 90000}, "negative_cache_seconds", "0 to 86400"),
        ({"max_concurrent_fetches": 5000}, "max_concurrent_fetches", "0 to 1000"),
        ({"breaker_failures": 1001}, "breaker_failures", "0 to 1000"),
        (
            {"breaker_failures": 3, "breaker_open_seconds": 0},
            "breaker_open_seconds",
            "1 to 86400",
        ),
        ({"negative_cache_seconds": -5}, "negative_cache_seconds", "0"),
    ],
)
def test_the_console_shows_errors_inline(alice_client, bucket, fields, field, message):
    response = alice_client.post(
        reverse("console-rule-create", args=[bucket.name]),
        console_post(**fields),
        headers=HTMX,
    )

    assert response.status_code == 200
    text = response.content.decode()
    assert any(message in error for error in errors_at(text, field))
    assert 'id="rule-advanced" open' in text
    assert not BackToOriginRule.objects.exists()


def test_the_console_saves_the_fields_and_labels_them(alice_client, bucket):
    form_page = alice_client.get(
        reverse("console-rule-create", args=[bucket.name])
    ).content.decode()
    for label in (
        "Remember origin 404s (seconds)",
        "Max concurrent fetches per origin host",
        "Open circuit after N failures",
        "Keep circuit open (seconds)",
    ):
        assert label in form_page

    alice_client.post(
        reverse("console-rule-create", args=[bucket.name]),
        console_post(
            negative_cache_seconds=60,
            max_concurrent_fetches=2,
            breaker_failures=5,
            breaker_open_seconds=30,
        ),
    )

    rule = BackToOriginRule.objects.get()
    assert [getattr(rule, name) for name in NEGATIVE] == [60, 2, 5, 30]
    assert "origin 404s remembered 60 s" in rule.options_summary()


def test_switching_a_protected_rule_to_redirection_in_the_console_turns_it_off(
    alice_client, bucket, make_rule
):
    rule = make_rule(
        bucket, negative_cache_seconds=60, breaker_failures=2, breaker_open_seconds=5
    )

    response = alice_client.post(
        reverse("console-rule-edit", args=[bucket.name, rule.pk]),
        {
            "mode": "redirect",
            "protocol": "https",
            "host": "new.example.com",
            "redirect_code": "302",
            "redirect_target": "keep",
            "http_status": "404",
        },
    )

    assert response.status_code in (200, 302)
    rule.refresh_from_db()
    assert rule.mode == "redirect"
    assert [getattr(rule, name) for name in NEGATIVE] == [0, 0, 0, 0]


# -- GET / PUT ?website -----------------------------------------------------------


def website(rule_xml):
    return (
        "<WebsiteConfiguration><RoutingRules>"
        + rule_xml
        + "</RoutingRules></WebsiteConfiguration>"
    ).encode()


def mirror_rule_xml(number, url):
    return (
        f"<RoutingRule><RuleNumber>{number}</RuleNumber><Condition>"
        "<HttpErrorCodeReturnedEquals>404</HttpErrorCodeReturnedEquals></Condition>"
        f"<Redirect><RedirectType>Mirror</RedirectType><MirrorURL>{url}</MirrorURL>"
        "</Redirect></RoutingRule>"
    )


def test_get_website_does_not_emit_the_protection_fields(bucket, make_rule):
    make_rule(
        bucket,
        negative_cache_seconds=60,
        max_concurrent_fetches=4,
        breaker_failures=5,
        breaker_open_seconds=30,
    )

    document = website_config.configuration_xml(bucket).decode().lower()

    for word in ("negative", "concurrent", "breaker", "circuit", ">60<", ">30<"):
        assert word not in document


def test_put_website_keeps_protection_of_a_rule_with_the_same_position_and_origin(
    bucket, make_rule
):
    make_rule(
        bucket, negative_cache_seconds=60, breaker_failures=5, breaker_open_seconds=30
    )
    make_rule(bucket, key_prefix="b/", max_concurrent_fetches=3)

    website_config.replace_configuration(
        bucket,
        website(
            mirror_rule_xml(1, "https://www.example.com/")
            + mirror_rule_xml(2, "https://elsewhere.example.com/").replace(
                "<Condition>", "<Condition><KeyPrefixEquals>b/</KeyPrefixEquals>"
            )
        ),
    )

    first, second = bucket.origin_rules.order_by("position")
    assert [getattr(first, name) for name in NEGATIVE] == [60, 0, 5, 30]
    assert [getattr(second, name) for name in NEGATIVE] == [0, 0, 0, 0]  # new origin


# -- the cap on concurrent fetches, across gunicorn workers ------------------------

SETUP_SCRIPT = """
from django.contrib.auth import get_user_model
from buckets.models import Bucket
from origin.models import BackToOriginRule

owner = get_user_model().objects.create_user("operator")
bucket = Bucket.objects.create(owner=owner, name="capped", acl=Bucket.Acl.PUBLIC_READ)
BackToOriginRule(bucket=bucket, mode="mirror", protocol="http", host={host!r},
                 max_concurrent_fetches=1).save_in_order()
"""


COUNT_SCRIPT = """
from buckets.models import StoredObject

print("objects=%d" % StoredObject.objects.filter(bucket__name="capped").count())
"""


def files_under(directory):
    return sorted(path for path in directory.rglob("*") if path.is_file())


def most_at_once(received):
    """The most requests the origin was answering at the same moment."""
    edges = sorted(
        [(request.started, 1) for request in received]
        + [(request.ended, -1) for request in received]
    )
    busy = peak = 0
    for _, change in edges:
        busy += change
        peak = max(peak, busy)
    return peak


@pytest.mark.server
def test_a_cap_of_one_keeps_the_origin_to_one_fetch_at_a_time(tmp_path, origin_server):
    for name in ("a", "b", "c", "d"):
        origin_server.route(f"/{name}.bin", body=name.encode() * 1000, delay=1.0)
    server = GunicornServer(
        tmp_path / "server",
        ORIGIN_ALLOW_PRIVATE="1",
        WEB_WORKERS="2",
        MIRROR_QUEUE_SECONDS="0.2",
    )
    server.manage("migrate", "--noinput")
    server.manage("shell", "-c", SETUP_SCRIPT.format(host=origin_server.netloc))
    server.start()
    statuses = {}

    def fetch(name):
        response = requests.get(f"{server.url}/capped/{name}.bin", timeout=30)
        statuses[name] = (response.status_code, response.headers.get("Retry-After"))

    try:
        threads = [threading.Thread(target=fetch, args=(n,)) for n in "abcd"]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        saved = server.manage("shell", "-c", COUNT_SCRIPT)
    finally:
        server.stop()

    codes = sorted(status for status, _ in statuses.values())
    assert codes.count(200) >= 1
    assert set(codes) <= {200, 503}
    assert 503 in codes  # four misses at once, one place, 0.2 s of waiting
    assert all(after == "1" for status, after in statuses.values() if status == 503)
    assert len(origin_server.received) == codes.count(200)
    assert most_at_once(origin_server.received) == 1
    # The refused misses left nothing: one row and one blob per answered key.
    assert f"objects={codes.count(200)}" in saved
    assert files_under(tmp_path / "server" / "tmp") == []
    assert len(files_under(tmp_path / "server" / "objects")) == codes.count(200)
