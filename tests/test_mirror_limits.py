"""Mirror fetches within bounds (SPEC §9): a total deadline, a per-process bound on
fetches, a delete that wins over a fetch in flight, plain reasons and one-line logs.

Real loopback origins; the live-server versions are in tests/faults/.
"""

import errno
import logging
import threading
import time

import pytest
from django.utils import timezone

from buckets.models import StoredObject
from buckets.storage import (
    ObjectChanged,
    ObjectWriter,
    commit_object,
    delete_key,
)
from origin.flight import FetchSlot
from origin.mirroring import MirrorInterrupted
from origin.models import OriginFetch
from tests.origin_server import unused_port
from tests.oss_responses import body_of, oss_error

INTERNAL_NAMES = (
    "urllib3",
    "HTTPConnectionPool",
    "Max retries",
    "NewConnectionError",
    "Error(",
    "object at 0x",
)


def nothing_saved(bucket, key):
    return not StoredObject.objects.filter(bucket=bucket, key=key).exists()


# -- the total deadline ---------------------------------------------------------


def test_a_dripping_origin_is_cut_at_the_deadline(
    alice_client, bucket, origin_server, mirror_rule, settings
):
    settings.ORIGIN_DEADLINE_SECONDS = 1
    settings.ORIGIN_TIMEOUT_SECONDS = 5  # each byte arrives well within it
    origin_server.route("/drip.bin", body=b"d" * 100, drip_seconds=0.1)
    mirror_rule()
    started = time.monotonic()

    response = alice_client.get("/alice-bucket/drip.bin")
    assert response.status_code == 200
    with pytest.raises(MirrorInterrupted, match="did not finish within 1 seconds"):
        body_of(response)

    assert time.monotonic() - started < 4
    assert nothing_saved(bucket, "drip.bin")
    assert OriginFetch.objects.get().outcome == "failed"


def test_a_range_request_on_a_dripping_origin_is_cut_at_the_deadline(
    alice_client, bucket, origin_server, mirror_rule, settings
):
    settings.ORIGIN_DEADLINE_SECONDS = 1
    settings.ORIGIN_TIMEOUT_SECONDS = 5
    origin_server.route("/drip.bin", body=b"d" * 100, drip_seconds=0.1)
    mirror_rule()

    # Bytes 50-59 would arrive after about 5 s: the 206 has begun, the body is cut.
    response = alice_client.get(
        "/alice-bucket/drip.bin", headers={"Range": "bytes=50-59"}
    )
    assert response.status_code == 206
    with pytest.raises(MirrorInterrupted, match="did not finish within 1 seconds"):
        body_of(response)

    assert nothing_saved(bucket, "drip.bin")


def test_an_unsatisfiable_range_on_a_dripping_origin_gets_424_at_the_deadline(
    alice_client, bucket, origin_server, mirror_rule, settings
):
    settings.ORIGIN_DEADLINE_SECONDS = 1
    settings.ORIGIN_TIMEOUT_SECONDS = 5
    origin_server.route("/drip.bin", body=b"d" * 100, drip_seconds=0.1)
    mirror_rule()

    # Past the end: only the whole object can answer it (416), so it is fetched first.
    response = alice_client.get(
        "/alice-bucket/drip.bin", headers={"Range": "bytes=500-"}
    )

    assert response.status_code == 424
    code, message = oss_error(response)
    assert code == "MirrorFailed"
    assert "did not finish within 1 seconds" in message
    assert nothing_saved(bucket, "drip.bin")


def test_the_deadline_also_bounds_waiting_for_the_origin_to_answer(
    alice_client, bucket, origin_server, mirror_rule, settings
):
    settings.ORIGIN_DEADLINE_SECONDS = 0.5
    settings.ORIGIN_TIMEOUT_SECONDS = 5
    origin_server.route("/late.txt", body=b"late", delay=3)
    mirror_rule()
    started = time.monotonic()

    response = alice_client.get("/alice-bucket/late.txt")

    assert time.monotonic() - started < 2.5
    assert response.status_code == 424
    assert nothing_saved(bucket, "late.txt")


# -- the bound on fetches per process -------------------------------------------------


def test_a_miss_beyond_the_fetch_bound_gets_slow_down_without_asking_the_origin(
    alice_client, bucket, origin_server, mirror_rule, settings
):
    settings.MIRROR_MAX_CONCURRENT = 1
    settings.MIRROR_QUEUE_SECONDS = 0.2
    origin_server.route("/a.txt", body=b"a")
    mirror_rule()
    busy = FetchSlot()
    assert busy.acquire(0)  # another request's fetch holds the only slot
    try:
        response = alice_client.get("/alice-bucket/a.txt")
    finally:
        busy.release()

    assert response.status_code == 503
    assert oss_error(response)[0] == "SlowDown"
    assert response["Retry-After"] == "1"
    assert origin_server.requests_to("/a.txt") == []
    # Once a slot is free the same miss mirrors.
    assert body_of(alice_client.get("/alice-bucket/a.txt")) == b"a"


def test_a_slot_is_given_back_after_every_kind_of_fetch(
    alice_client, bucket, origin_server, mirror_rule, settings
):
    settings.MIRROR_MAX_CONCURRENT = 1
    settings.MIRROR_QUEUE_SECONDS = 0
    origin_server.route("/ok.txt", body=b"ok")
    origin_server.route("/broken.txt", status=500)
    origin_server.route("/cut.bin", body=b"c" * 100_000, truncate_after=10)
    mirror_rule()

    assert body_of(alice_client.get("/alice-bucket/ok.txt")) == b"ok"
    assert alice_client.get("/alice-bucket/broken.txt").status_code == 424
    assert alice_client.get("/alice-bucket/missing.txt").status_code == 404
    with pytest.raises(MirrorInterrupted):
        body_of(alice_client.get("/alice-bucket/cut.bin"))

    slot = FetchSlot()
    assert slot.acquire(0)
    slot.release()


# -- delete wins over a fetch in flight -------------------------------------------------


BATCH_DELETE = b"<Delete><Object><Key>gone.bin</Key></Object></Delete>"


@pytest.mark.parametrize(
    "delete",
    [
        lambda send: send("DELETE", "alice-bucket", "gone.bin").status_code == 204,
        lambda send: (
            send(
                "POST", "alice-bucket", params={"delete": ""}, body=BATCH_DELETE
            ).status_code
            == 200
        ),
    ],
    ids=["DeleteObject", "DeleteMultipleObjects"],
)
def test_a_delete_during_a_mirror_fetch_wins(
    alice_client, alice_signed_client, bucket, origin_server, mirror_rule, delete
):
    gate = threading.Event()
    origin_server.route("/gone.bin", body=b"g" * 200_000, pause_after=65_536, gate=gate)
    mirror_rule()

    response = alice_client.get("/alice-bucket/gone.bin")
    assert response.status_code == 200
    assert delete(alice_signed_client)
    gate.set()
    assert len(body_of(response)) == 200_000  # the client still gets what it asked for

    assert nothing_saved(bucket, "gone.bin")
    fetch = OriginFetch.objects.get()
    assert fetch.outcome == "not_saved"
    assert "deleted while it was being fetched" in fetch.message


def test_a_commit_after_a_delete_of_the_key_is_refused(bucket):
    before_delete = timezone.now()
    delete_key(bucket, "k")
    with ObjectWriter() as writer:
        writer.write(b"late")
        with pytest.raises(ObjectChanged):
            commit_object(
                bucket, "k", writer, mirrored=True, unless_deleted_since=before_delete
            )
    assert nothing_saved(bucket, "k")


# -- plain reasons, one-line logs ------------------------------------------------------


def test_an_unreachable_origin_gets_a_plain_reason_and_one_log_line(
    alice_client, bucket, mirror_rule, settings, caplog, origin_server
):
    rule = mirror_rule()
    rule.host = f"127.0.0.1:{unused_port()}"
    rule.save()

    with caplog.at_level(logging.INFO):
        response = alice_client.get("/alice-bucket/a.txt")

    assert response.status_code == 424
    code, message = oss_error(response)
    assert code == "MirrorFailed"
    assert message == "Could not connect to the origin: the connection was refused."
    assert len(message) <= 300
    assert not any(name in message for name in INTERNAL_NAMES)
    lines = [r for r in caplog.records if "mirror failed" in r.getMessage()]
    assert len(lines) == 1
    assert lines[0].exc_info is None
    text = lines[0].getMessage()
    for part in ("bucket=alice-bucket", "key=a.txt", f"url=http://{rule.host}/a.txt"):
        assert part in text
    assert f"reason={message}" in text


def test_a_body_cut_mid_way_logs_one_line_without_a_traceback(
    alice_client, bucket, origin_server, mirror_rule, caplog
):
    origin_server.route("/half.bin", body=b"h" * 200_000, truncate_after=100_000)
    mirror_rule()

    with caplog.at_level(logging.INFO), pytest.raises(MirrorInterrupted) as cut:
        body_of(alice_client.get("/alice-bucket/half.bin"))

    # gunicorn treats a connection reset as routine: no traceback there either.
    assert cut.value.errno == errno.ECONNRESET
    failures = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(failures) == 1
    assert "mirror failed" in failures[0].getMessage()
    assert failures[0].exc_info is None


def test_misses_beyond_the_waiting_room_are_refused_at_once(settings):
    settings.MIRROR_MAX_CONCURRENT = 2  # two slots, room for one waiter
    busy = [FetchSlot(), FetchSlot()]
    assert all(slot.acquire(0) for slot in busy)
    waiter_result = []
    waiter = threading.Thread(
        target=lambda: waiter_result.append(FetchSlot().acquire(2)), daemon=True
    )
    waiter.start()
    time.sleep(0.2)  # the waiter is in the room

    started = time.monotonic()
    refused = FetchSlot().acquire(2)

    assert refused is False
    assert time.monotonic() - started < 1  # no wait: the room is full
    busy[0].release()
    waiter.join(5)
    assert waiter_result == [True]
    busy[1].release()
