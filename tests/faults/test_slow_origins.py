"""Issue 9 items 2 and 8: every origin fetch has a total deadline, and a failed mirror
is a short plain 424 for the client and one plain log line for the operator
(SPEC §9, "Every origin fetch has a total deadline" and the logging paragraph)."""

import os
import time

import pytest
import requests

from tests.faults.conftest import (
    BackgroundGet,
    closed_port_url,
    get_to_the_end,
    oss_error_code,
    oss_error_message,
    unique_key,
)
from tests.server_process import wait_until

pytestmark = [pytest.mark.faults, pytest.mark.server]
RELIABILITY_CATEGORY = "slow origins"

DEADLINE, READ_TIMEOUT = 3, 2
# The client's GET and the origin's connection must end within the deadline plus this
# (generous: without a deadline they last the origin's 100 s).
GRACE = 10
INTERNAL_NAMES = [
    "urllib3",
    "HTTPConnectionPool",
    "Max retries",
    "NewConnectionError",
    "Error(",
    "object at 0x",
]


@pytest.fixture(scope="module")
def server(start_server):
    return start_server(
        ORIGIN_DEADLINE_SECONDS=DEADLINE, ORIGIN_TIMEOUT_SECONDS=READ_TIMEOUT
    )


@pytest.fixture(scope="module")
def mirror_bucket(server, origin):
    return server.new_mirror_bucket(origin.url("/"))


def last_request(origin, path):
    wait_until(lambda: origin.requests_to(path), f"the origin is asked for {path}")
    return origin.requests_to(path)[-1]


def assert_cut_or_424(get, declared):
    """A fetch cut at the deadline: the stream ends short, or a 424 if nothing was sent."""
    if get.status == 424:
        assert oss_error_code(get.body) == "MirrorFailed", get.body
    else:
        assert get.status == 200, (get.status, get.body[:300])
        assert len(get.body) < declared, "the body looked whole"


def assert_plain_failure(response):
    """A 424 MirrorFailed whose message a client can show as it is."""
    assert response.status_code == 424, response.text[:500]
    assert oss_error_code(response.content) == "MirrorFailed"
    message = oss_error_message(response.content)
    assert 0 < len(message) <= 300, message
    for name in INTERNAL_NAMES:
        assert name not in message, message


def failure_lines(server, mark, key):
    return [
        line
        for line in server.log_since(mark).splitlines()
        if "mirror failed" in line and key in line
    ]


def assert_one_plain_log_line(server, mark, bucket_name, key, origin_url):
    """SPEC §9: one line with the bucket, key, origin URL and a plain reason; no traceback."""
    wait_until(
        lambda: failure_lines(server, mark, key),
        f"the log says 'mirror failed' for {key}",
        timeout=5,
    )
    time.sleep(0.3)  # a second line, if any, would follow at once
    (line,) = failure_lines(server, mark, key)
    for part in ("bucket=", "key=", "url=", "reason="):
        assert part in line, line
    assert bucket_name in line, line
    assert origin_url in line, line
    assert "Traceback" not in server.log_since(mark)


def test_an_origin_slower_than_the_read_timeout_is_a_short_plain_424(
    server, origin, mirror_bucket
):
    key = unique_key("late-headers.bin")
    origin.route(f"/{key}", body=b"late", delay=5)
    mark = server.log_mark()

    response = requests.get(
        server.object_url(mirror_bucket.bucket_name, key), timeout=30
    )

    assert_plain_failure(response)
    assert not server.exists(mirror_bucket.bucket_name, key)
    assert_one_plain_log_line(
        server, mark, mirror_bucket.bucket_name, key, origin.url(f"/{key}")
    )


def test_an_unreachable_origin_is_a_short_plain_424(server):
    origin_url = closed_port_url()
    bucket = server.new_mirror_bucket(origin_url)
    key = unique_key("nobody-listens.bin")
    mark = server.log_mark()

    response = requests.get(server.object_url(bucket.bucket_name, key), timeout=30)

    assert_plain_failure(response)
    assert not server.exists(bucket.bucket_name, key)
    assert_one_plain_log_line(
        server, mark, bucket.bucket_name, key, f"{origin_url}{key}"
    )


def test_an_origin_that_breaks_off_mid_body_cuts_the_client_and_saves_nothing(
    server, origin, mirror_bucket
):
    key = unique_key("half.bin")
    body = os.urandom(1024 * 1024)
    origin.route(f"/{key}", body=body, truncate_after=len(body) // 2)
    mark = server.log_mark()

    got = get_to_the_end(server.object_url(mirror_bucket.bucket_name, key))

    assert got.status == 200
    assert got.cut, "the client must see the body break off"
    assert got.body == body[: len(got.body)]
    assert not server.exists(mirror_bucket.bucket_name, key)
    assert server.leftover_temp_files() == []
    assert_one_plain_log_line(
        server, mark, mirror_bucket.bucket_name, key, origin.url(f"/{key}")
    )


# -- dripping origins (last: on a server without a deadline they keep fetching) --


def test_a_dripping_origin_is_cut_at_the_deadline_and_nothing_is_saved(
    server, origin, mirror_bucket, reliability
):
    key = unique_key("drip.bin")
    origin.route(f"/{key}", body=b"d" * 100, drip_seconds=1)

    get = BackgroundGet(server.object_url(mirror_bucket.bucket_name, key))
    get.wait(timeout=DEADLINE + GRACE)
    fetch = last_request(origin, f"/{key}")
    wait_until(
        lambda: fetch.ended is not None,
        "the origin sees its connection closed",
        timeout=GRACE,
    )

    assert_cut_or_424(get, 100)
    assert fetch.cut_by_client
    assert not server.exists(mirror_bucket.bucket_name, key)
    assert server.leftover_temp_files() == []
    reliability.note(
        RELIABILITY_CATEGORY,
        f"an origin dripping 1 byte/s (Content-Length 100): the client's GET ended after "
        f"{get.ended - get.started:.1f} s, the origin's connection after "
        f"{fetch.ended - fetch.started:.1f} s (ORIGIN_DEADLINE_SECONDS={DEADLINE})",
    )


def test_the_origin_connection_closes_at_the_deadline_after_the_client_left(
    server, origin, mirror_bucket
):
    key = unique_key("drip-alone.bin")
    origin.route(f"/{key}", body=b"d" * 100, drip_seconds=1)

    # The client hangs up after the first byte; the fetch goes on without it...
    get = BackgroundGet(
        server.object_url(mirror_bucket.bucket_name, key), read_first_only=True
    )
    get.wait(timeout=DEADLINE + GRACE)
    fetch = last_request(origin, f"/{key}")
    # ...but no longer than the deadline.
    wait_until(
        lambda: fetch.ended is not None,
        "the origin sees its connection closed",
        timeout=DEADLINE + GRACE,
    )

    assert fetch.cut_by_client
    assert fetch.ended - fetch.started < DEADLINE + GRACE
    assert not server.exists(mirror_bucket.bucket_name, key)
    assert server.leftover_temp_files() == []
