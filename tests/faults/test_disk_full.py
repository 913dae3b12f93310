"""Issue 9 item 3: a full disk is an OSS error, never an HTML 500, never a leftover
temp file, and the server recovers by itself when space is back (SPEC §9, "Disk
full / I/O errors"). DATA_DIR is a 40 MiB tmpfs the test mounts (as root; skipped
with the reason where mounting is not allowed); the server's log lives elsewhere."""

import os
import threading

import oss2
import pytest
import requests

from tests.faults.conftest import (
    MIB,
    RawRequest,
    free_bytes,
    get_to_the_end,
    oss_error_code,
)
from tests.server_process import wait_until
from tests.signing import oss2_auth

pytestmark = [pytest.mark.faults, pytest.mark.server]
RELIABILITY_CATEGORY = "disk full"

MIN_FREE = 4 * MIB
BIGGER_THAN_THE_DISK = 41 * MIB
OCTETS = {"Content-Type": "application/octet-stream"}


@pytest.fixture(scope="module")
def server(tmpfs_data_dir, start_server, tmp_path_factory):
    log = tmp_path_factory.mktemp("disk-full-log") / "gunicorn.log"
    server = start_server(
        data_dir=tmpfs_data_dir, log=log, WEB_WORKERS=1, MIN_FREE_BYTES=MIN_FREE
    )
    yield server
    server.stop()  # before the tmpfs is unmounted


@pytest.fixture(scope="module")
def mirror_bucket(server, origin):
    body = os.urandom(BIGGER_THAN_THE_DISK)
    for name in ("range.bin", "plain.bin"):
        origin.route(f"/big/{name}", body=body)
    return server.new_mirror_bucket(origin.url("/big/"))


@pytest.fixture
def bucket(server):
    return server.new_bucket()


@pytest.fixture(autouse=True)
def empty_disk_after_each_test(server):
    """Whatever a test left (it asserts on that itself) must not fill the disk for the next."""
    yield
    for path in server.tmp_dir.iterdir():
        path.unlink(missing_ok=True)
    (server.data_dir / "filler.bin").unlink(missing_ok=True)
    try:
        delete_every_object(server)
        server.new_bucket().delete_bucket()  # and writes work again
    except (oss2.exceptions.OssError, requests.RequestException):
        # A server that did not recover by itself (its test failed on that) starts
        # afresh, on the same port, so the next test is judged on its own.
        server.gunicorn.stop()
        server.gunicorn.start()
        delete_every_object(server)


def delete_every_object(server):
    service = oss2.Service(oss2_auth(server.account), server.url)
    for info in oss2.BucketIterator(service):
        bucket = server.bucket(info.name)
        keys = [item.key for item in oss2.ObjectIterator(bucket)]
        for start in range(0, len(keys), 1000):
            bucket.batch_delete_objects(keys[start : start + 1000])


def assert_storage_error(status, body, allowed=((507, "InsufficientStorage"),)):
    """An OSS error document with one of the allowed (status, code) pairs; never HTML."""
    assert (status, oss_error_code(body)) in allowed, (status, body[:300])


def assert_writes_work(server, bucket):
    """A small PutObject, PutBucketAcl and a console log-on: no restart needed."""
    assert bucket.put_object("after/small.txt", b"k" * 1024).status == 200
    assert bucket.put_bucket_acl(oss2.BUCKET_ACL_PUBLIC_READ).status == 200
    server.console_session()


def test_a_range_get_of_a_mirror_bigger_than_the_disk_is_507_and_the_server_recovers(
    server, mirror_bucket
):
    response = requests.get(
        server.object_url(mirror_bucket.bucket_name, "range.bin"),
        headers={"Range": "bytes=0-99"},
        timeout=60,
    )

    # 424 only if the origin's Content-Length was refused before fetching.
    assert_storage_error(
        response.status_code,
        response.content,
        [(507, "InsufficientStorage"), (424, "MirrorFailed")],
    )
    assert server.leftover_temp_files(timeout=5) == []
    assert not server.exists(mirror_bucket.bucket_name, "range.bin")
    assert_writes_work(server, mirror_bucket)


def test_a_plain_get_of_a_mirror_bigger_than_the_disk_is_cut_or_507_and_saves_nothing(
    server, mirror_bucket
):
    got = get_to_the_end(server.object_url(mirror_bucket.bucket_name, "plain.bin"))

    if got.status in (None, 200):  # no answer at all, or headers and a cut body
        assert got.cut, "a mirror that could not be saved must not look whole"
    else:
        assert_storage_error(got.status, got.body)
    assert server.leftover_temp_files(timeout=5) == []
    assert not server.exists(mirror_bucket.bucket_name, "plain.bin")
    assert_writes_work(server, mirror_bucket)


def test_a_put_declaring_more_than_the_free_space_is_507_before_its_body_is_sent(
    server, bucket
):
    key = "too-big-to-fit.bin"
    declared = free_bytes(server.data_dir) + 20 * MIB
    headers = server.signed_headers("PUT", bucket.bucket_name, key, headers=OCTETS)
    headers.update({"Content-Length": str(declared), "Expect": "100-continue"})

    with RawRequest(server.url, "PUT", f"/{bucket.bucket_name}/{key}", headers) as raw:
        answer = raw.answer(timeout=10)  # not one body byte sent

    assert answer is not None, "the server closed the connection without an answer"
    assert_storage_error(answer.status, answer.body)
    assert not server.exists(bucket.bucket_name, key)
    assert server.leftover_temp_files(timeout=5) == []


def send_chunked_in_background(raw, size):
    """Send `size` bytes as 1 MiB chunks and the last chunk, from a thread, so the test
    can read an answer that comes while the body is still going."""

    def send():
        piece = os.urandom(MIB)
        for _ in range(size // MIB):
            if not raw.send_chunk(piece):
                return
        raw.send(b"0\r\n\r\n")

    sender = threading.Thread(target=send, daemon=True)
    sender.start()
    return sender


def chunked_body_bigger_than_the_disk(server, method, target, headers):
    """Send 48 MiB chunked at a 40 MiB disk; the answer that comes meanwhile."""
    with RawRequest(
        server.url, method, target, {**headers, "Transfer-Encoding": "chunked"}
    ) as raw:
        send_chunked_in_background(raw, 48 * MIB)
        answer = raw.answer(timeout=60)
    assert answer is not None, "the server closed the connection without an answer"
    return answer


def test_a_chunked_put_that_fills_the_disk_is_507_and_leaves_no_temp_file(
    server, bucket
):
    key = "fills-the-disk.bin"
    headers = server.signed_headers("PUT", bucket.bucket_name, key, headers=OCTETS)

    answer = chunked_body_bigger_than_the_disk(
        server, "PUT", f"/{bucket.bucket_name}/{key}", headers
    )

    assert_storage_error(answer.status, answer.body)
    assert server.leftover_temp_files(timeout=5) == []
    assert not server.exists(bucket.bucket_name, key)
    assert_writes_work(server, bucket)


def test_an_append_that_fills_the_disk_is_507_and_keeps_its_position(server, bucket):
    key = "appendable.log"
    assert bucket.append_object(key, 0, b"a" * 100).next_position == 100
    headers = server.signed_headers(
        "POST",
        bucket.bucket_name,
        key,
        params={"append": "", "position": "100"},
        headers=OCTETS,
    )

    answer = chunked_body_bigger_than_the_disk(
        server, "POST", f"/{bucket.bucket_name}/{key}?append&position=100", headers
    )

    assert_storage_error(answer.status, answer.body)
    assert server.leftover_temp_files(timeout=5) == []
    assert bucket.head_object(key).content_length == 100
    assert bucket.append_object(key, 100, b"b" * 10).next_position == 110


def healthz(server):
    response = requests.get(f"{server.url}/healthz", timeout=10)
    return response.status_code, response.json()


def fill_disk_with_objects(server, bucket, leave=MIN_FREE // 2):
    """Store objects until less than MIN_FREE_BYTES is free (about `leave` bytes). A
    server that keeps a margin may refuse the last ones: a filler file does the rest."""
    keys = []
    while (room := free_bytes(server.data_dir) - leave) > 256 * 1024:
        size = min(room, 8 * MIB)
        try:
            bucket.put_object(f"fill/{len(keys)}.bin", os.urandom(size))
        except oss2.exceptions.ServerError as error:
            if error.status != 507:
                raise
            break
        keys.append(f"fill/{len(keys)}.bin")
    room = free_bytes(server.data_dir) - leave
    if room > 0:
        (server.data_dir / "filler.bin").write_bytes(b"\0" * room)
    return keys


def test_healthz_says_storage_is_not_ok_below_min_free_bytes_and_ok_again_after_deletes(
    server, bucket
):
    bucket.put_object("kept.txt", b"still readable")
    keys = fill_disk_with_objects(server, bucket)
    assert free_bytes(server.data_dir) < MIN_FREE

    status, checks = healthz(server)
    assert status == 503, checks
    assert checks["storage"] != "ok", checks
    assert bucket.get_object("kept.txt").read() == b"still readable"

    bucket.batch_delete_objects(keys)
    (server.data_dir / "filler.bin").unlink(missing_ok=True)
    wait_until(
        lambda: (
            healthz(server)
            == (200, {"status": "ok", "database": "ok", "storage": "ok"})
        ),
        "/healthz says ok again",
        timeout=10,
    )


def test_a_console_upload_bigger_than_the_disk_shows_an_error_and_leaves_no_temp_file(
    server, bucket
):
    session = server.console_session()
    files_page = f"{server.url}/console/buckets/{bucket.bucket_name}/files/"

    response = session.post(
        f"{server.url}/console/buckets/{bucket.bucket_name}/files/upload",
        data={"prefix": ""},
        files={"files": ("too-big.bin", os.urandom(BIGGER_THAN_THE_DISK))},
        headers={"X-CSRFToken": session.cookies["csrftoken"], "Referer": files_page},
        timeout=120,
    )

    assert response.status_code != 500, response.text[:500]
    assert "Server Error" not in response.text
    if response.status_code == 200:  # the Files page, with the reason
        assert 'class="message error"' in response.text, response.text[
            response.text.find('id="messages"') :
        ][:1500]
    else:
        assert response.status_code in (400, 413, 507), response.text[:500]
    assert server.leftover_temp_files(timeout=5) == []
    assert not server.exists(bucket.bucket_name, "too-big.bin")
    assert_writes_work(server, bucket)
