"""Issue 9, the crash tests: kill -9 of one worker, and of the whole server, in the
middle of a mirror and of an upload. Nothing partial is ever an object, a killed
worker's temp file goes without a server restart (each worker sweeps every
TMP_SWEEP_SECONDS), and the key mirrors or uploads fine afterwards (SPEC §9)."""

import os
import signal
from pathlib import Path

import oss2
import pytest
import requests

from tests.faults.conftest import (
    MIB,
    BackgroundGet,
    RawRequest,
    md5_of,
    unique_key,
)
from tests.server_process import wait_until

pytestmark = [pytest.mark.faults, pytest.mark.server]
RELIABILITY_CATEGORY = "kill -9"

SWEPT_WITHIN = 15  # seconds; the sweep runs every TMP_SWEEP_SECONDS=1


@pytest.fixture(scope="module")
def server(start_server):
    return start_server(WEB_WORKERS=2, TMP_SWEEP_SECONDS=1)


@pytest.fixture(scope="module")
def mirror_bucket(server, origin):
    return server.new_mirror_bucket(origin.url("/"), oss2.BUCKET_ACL_PUBLIC_READ_WRITE)


def workers_writing_temp_files(server):
    """Worker pids holding a file under DATA_DIR/tmp open (the request being written)."""
    tmp_dir = str(server.tmp_dir.resolve()) + os.sep
    holders = []
    for pid in server.worker_pids():
        try:
            targets = [os.readlink(fd) for fd in Path(f"/proc/{pid}/fd").iterdir()]
        except (FileNotFoundError, ProcessLookupError):
            continue  # it ended while we looked
        if any(target.startswith(tmp_dir) for target in targets):
            holders.append(pid)
    return holders


def kill_the_worker_writing(server):
    wait_until(
        lambda: workers_writing_temp_files(server),
        "a worker writes a temp file",
        timeout=10,
    )
    (pid,) = workers_writing_temp_files(server)
    os.kill(pid, signal.SIGKILL)
    wait_until(lambda: pid not in server.worker_pids(), f"worker {pid} is gone")
    return pid


def mirrored_body(server, bucket_name, key):
    response = requests.get(server.object_url(bucket_name, key), timeout=60)
    assert response.status_code == 200, response.text[:300]
    assert response.headers.get("x-oss-tag") == "MIRROR"
    return response.content


def test_a_worker_killed_mid_mirror_leaves_nothing_and_the_key_mirrors_afterwards(
    server, origin, mirror_bucket, gate
):
    key, body, held = unique_key("mirror.bin"), os.urandom(MIB), gate()
    origin.route(f"/{key}", body=body, pause_after=MIB // 2, gate=held)
    master = server.gunicorn.process.pid

    in_flight = BackgroundGet(server.object_url(mirror_bucket.bucket_name, key))
    in_flight.wait_for_first_bytes()
    kill_the_worker_writing(server)

    assert len(in_flight.wait().body) < MIB  # the client saw the body break off
    assert server.leftover_temp_files(timeout=SWEPT_WITHIN) == []
    assert not server.exists(mirror_bucket.bucket_name, key)
    assert server.gunicorn.process.poll() is None
    assert server.gunicorn.process.pid == master  # no server restart
    held.set()
    assert mirrored_body(server, mirror_bucket.bucket_name, key) == body


def test_a_worker_killed_mid_upload_leaves_nothing_and_the_key_uploads_afterwards(
    server, mirror_bucket
):
    key = unique_key("upload.bin")
    master = server.gunicorn.process.pid

    with RawRequest(
        server.url,
        "PUT",
        f"/{mirror_bucket.bucket_name}/{key}",
        {"Content-Type": "application/octet-stream", "Content-Length": str(4 * MIB)},
    ) as raw:
        raw.send(os.urandom(256 * 1024))  # and then nothing: the upload is slow
        kill_the_worker_writing(server)

    assert server.leftover_temp_files(timeout=SWEPT_WITHIN) == []
    assert not server.exists(mirror_bucket.bucket_name, key)
    assert server.gunicorn.process.pid == master  # no server restart
    data = os.urandom(4 * MIB)
    bucket = server.bucket(mirror_bucket.bucket_name)
    assert bucket.put_object(key, data).status == 200
    assert md5_of(bucket.get_object(key).read()) == md5_of(data)


# -- the whole server (last: each restarts it on a new port) ---------------------------


def test_the_server_killed_mid_mirror_restarts_with_nothing_partial_and_the_key_mirrors(
    server, origin, mirror_bucket, gate
):
    key, body, held = unique_key("crash-mirror.bin"), os.urandom(MIB), gate()
    origin.route(f"/{key}", body=body, pause_after=MIB // 2, gate=held)

    in_flight = BackgroundGet(server.object_url(mirror_bucket.bucket_name, key))
    in_flight.wait_for_first_bytes()
    server.gunicorn.kill()
    assert len(in_flight.wait().body) < MIB
    held.set()
    server.gunicorn.restart()

    assert server.temp_files() == []
    assert not server.exists(mirror_bucket.bucket_name, key)
    assert mirrored_body(server, mirror_bucket.bucket_name, key) == body


def test_the_server_killed_mid_upload_restarts_with_nothing_partial_and_the_key_uploads(
    server, mirror_bucket
):
    key = unique_key("crash-upload.bin")

    with RawRequest(
        server.url,
        "PUT",
        f"/{mirror_bucket.bucket_name}/{key}",
        {"Content-Type": "application/octet-stream", "Content-Length": str(4 * MIB)},
    ) as raw:
        raw.send(os.urandom(256 * 1024))
        wait_until(
            lambda: workers_writing_temp_files(server), "a worker writes a temp file"
        )
        server.gunicorn.kill()
    server.gunicorn.restart()

    assert server.temp_files() == []
    assert not server.exists(mirror_bucket.bucket_name, key)
    data = os.urandom(MIB)
    bucket = server.bucket(mirror_bucket.bucket_name)
    assert bucket.put_object(key, data).status == 200
    assert bucket.get_object(key).read() == data
