"""What a mirrored answer promises (SPEC §10 runtime): the object is committed before
the last byte reaches the client, the streamed answer carries the Last-Modified the
saved object will have, and conditional headers never reach the origin."""

import pytest
from django.utils.http import http_date

from buckets.models import StoredObject

BODY = b"0123456789" * 100_000  # several chunks


def test_the_object_is_committed_before_the_last_byte_reaches_the_client(
    alice_client, bucket, origin_server, mirror_rule
):
    origin_server.route("/big.bin", body=BODY)
    mirror_rule()

    response = alice_client.get("/alice-bucket/big.bin")
    received, saved_when_received = b"", []
    for chunk in response.streaming_content:
        received += chunk
        saved_when_received.append(
            StoredObject.objects.filter(bucket=bucket, key="big.bin").exists()
        )

    assert received == BODY
    assert len(saved_when_received) > 1
    assert saved_when_received[-1] is True  # a request sent now finds the object
    assert saved_when_received[0] is False  # the first bytes did not wait for the end


def test_the_streamed_answer_carries_the_saved_objects_last_modified(
    alice_client, bucket, origin_server, mirror_rule
):
    origin_server.route("/page.html", body=b"<p>hello</p>")
    mirror_rule()

    response = alice_client.get("/alice-bucket/page.html")
    assert b"".join(response.streaming_content) == b"<p>hello</p>"

    saved = StoredObject.objects.get(bucket=bucket, key="page.html")
    assert response["Last-Modified"] == http_date(saved.last_modified.timestamp())
    head = alice_client.head("/alice-bucket/page.html")
    assert head["Last-Modified"] == response["Last-Modified"]


@pytest.mark.parametrize(
    "header",
    ["If-None-Match", "If-Modified-Since", "If-Match", "If-Unmodified-Since"],
)
def test_conditional_headers_never_reach_the_origin(
    alice_client, bucket, origin_server, mirror_rule, header
):
    origin_server.route("/c.txt", body=b"whole object")
    mirror_rule(pass_all_headers=True)
    value = '"abc"' if "Match" in header else "Mon, 30 Nov 2026 10:00:00 GMT"

    response = alice_client.get(
        "/alice-bucket/c.txt", headers={header: value, "X-Kept": "yes"}
    )

    assert b"".join(response.streaming_content) == b"whole object"
    (received,) = origin_server.requests_to("/c.txt")
    assert header.lower() not in received.headers
    assert received.headers["x-kept"] == "yes"  # transmit-all still passes the rest


def test_a_range_on_a_cold_miss_is_answered_before_the_rest_arrives_and_all_is_saved(
    alice_client, bucket, origin_server, mirror_rule, gate
):
    held = gate()
    origin_server.route("/video.bin", body=BODY, pause_after=64 * 1024, gate=held)
    mirror_rule()

    response = alice_client.get(
        "/alice-bucket/video.bin", headers={"Range": "bytes=10-19"}
    )
    # The origin has sent its first 64 KiB and holds the rest: the range is already whole.
    stream = iter(response.streaming_content)
    assert (response.status_code, next(stream)) == (206, BODY[10:20])
    assert response["Content-Range"] == f"bytes 10-19/{len(BODY)}"
    assert response["Content-Length"] == "10"
    assert not StoredObject.objects.filter(bucket=bucket, key="video.bin").exists()

    held.set()
    # The answer ends; closing it (the server does, once it is sent) fetches the rest.
    assert list(stream) == []

    saved = StoredObject.objects.get(bucket=bucket, key="video.bin")
    assert (saved.size, saved.mirrored) == (len(BODY), True)


@pytest.mark.parametrize(
    ("range_header", "status", "expected"),
    [
        ("bytes=-5", 206, BODY[-5:]),
        ("bytes=999990-", 206, BODY[999990:]),
        ("bytes=5-2", 200, BODY),  # malformed: ignored, as for a stored object
    ],
)
def test_ranges_on_a_cold_miss_answer_like_ranges_on_a_stored_object(
    alice_client, bucket, origin_server, mirror_rule, range_header, status, expected
):
    origin_server.route("/r.bin", body=BODY)
    mirror_rule()

    response = alice_client.get("/alice-bucket/r.bin", headers={"Range": range_header})
    body = b"".join(response.streaming_content)

    assert (response.status_code, body) == (status, expected)
    assert StoredObject.objects.get(bucket=bucket, key="r.bin").size == len(BODY)
