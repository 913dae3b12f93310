"""Issue 14: a big mirror through real gunicorn is hashed by a thread of its own while
it streams. The object saved has the MD5 (ETag) and CRC-64 oss2 checks; a client that
hangs up does not stop the save; a broken origin leaves nothing, not even a temp file."""

import hashlib
import os

import oss2
import pytest

from tests.faults.conftest import MIB, BackgroundGet, get_to_the_end, unique_key
from tests.server_process import wait_until

pytestmark = [pytest.mark.faults, pytest.mark.server]
RELIABILITY_CATEGORY = "big mirrors"

SIZE = 24 * MIB


@pytest.fixture(scope="module")
def server(start_server):
    return start_server()


@pytest.fixture(scope="module")
def mirror_bucket(server, origin):
    return server.new_mirror_bucket(origin.url("/"))


@pytest.fixture(scope="module")
def body():
    return os.urandom(SIZE)


def oss2_crc(data):
    crc = oss2.utils.Crc64(0)
    crc.update(data)
    return crc.crc


def assert_saved_whole(server, bucket, key, body):
    head = server.bucket(bucket.bucket_name).head_object(key)
    assert head.content_length == len(body)
    assert head.etag.lower() == hashlib.md5(body).hexdigest()
    assert head.server_crc == oss2_crc(body)
    assert server.leftover_temp_files() == []


def test_a_big_mirror_streams_whole_and_is_saved_with_its_md5_and_crc64(
    server, origin, mirror_bucket, body
):
    key = unique_key("big.bin")
    origin.route(f"/{key}", body=body)

    got = get_to_the_end(server.object_url(mirror_bucket.bucket_name, key))

    assert (got.status, got.cut) == (200, False)
    assert got.body == body
    assert got.headers["x-oss-tag"] == "MIRROR"
    assert_saved_whole(server, mirror_bucket, key, body)


def test_a_client_that_hangs_up_on_a_big_mirror_still_gets_it_saved_whole(
    server, origin, mirror_bucket, body
):
    key = unique_key("left.bin")
    origin.route(f"/{key}", body=body)

    get = BackgroundGet(
        server.object_url(mirror_bucket.bucket_name, key), read_first_only=True
    )
    get.wait_for_first_bytes()
    wait_until(
        lambda: server.exists(mirror_bucket.bucket_name, key),
        "the fetch goes on and saves the object",
    )

    assert_saved_whole(server, mirror_bucket, key, body)
    assert len(origin.requests_to(f"/{key}")) == 1


def test_a_big_mirror_whose_origin_breaks_off_saves_nothing(
    server, origin, mirror_bucket, body
):
    key = unique_key("broken.bin")
    origin.route(f"/{key}", body=body, truncate_after=SIZE // 2)

    got = get_to_the_end(server.object_url(mirror_bucket.bucket_name, key))

    assert got.status == 200
    assert got.cut, "the client must see the body break off"
    assert got.body == body[: len(got.body)]
    assert not server.exists(mirror_bucket.bucket_name, key)
    assert server.leftover_temp_files() == []
