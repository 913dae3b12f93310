"""Issue 9 item 8, the smaller faults: a delete wins over a mirror that was in flight,
and a key that is not valid UTF-8 is refused rather than saved under another name
(SPEC §9)."""

import http.client
import os
import uuid
from urllib.parse import urlsplit

import oss2
import pytest

from tests.faults.conftest import MIB, BackgroundGet, oss_error_code

pytestmark = [pytest.mark.faults, pytest.mark.server]
RELIABILITY_CATEGORY = "misc faults"


@pytest.fixture(scope="module")
def server(start_server):
    return start_server()


@pytest.fixture(scope="module")
def mirror_bucket(server, origin):
    return server.new_mirror_bucket(origin.url("/"))


def test_a_delete_wins_over_a_mirror_that_was_in_flight(
    server, origin, mirror_bucket, gate
):
    key, body, held = f"{uuid.uuid4().hex[:8]}-deleted.bin", os.urandom(MIB), gate()
    origin.route(f"/{key}", body=body, pause_after=MIB // 2, gate=held)
    mark = server.log_mark()

    in_flight = BackgroundGet(server.object_url(mirror_bucket.bucket_name, key))
    in_flight.wait_for_first_bytes()
    # The key is still missing, so this is a 204 that deletes nothing yet...
    assert mirror_bucket.delete_object(key).status == 204
    held.set()
    in_flight.wait()
    # ...and the mirror that was in flight must not bring the object back.
    # (gunicorn logs the request once the mirror has tried to commit.)
    server.wait_for_log(mark, f'"GET /{mirror_bucket.bucket_name}/{key}"')

    assert not server.exists(mirror_bucket.bucket_name, key)
    assert [obj.key for obj in oss2.ObjectIterator(mirror_bucket)] == []
    assert len(origin.requests_to(f"/{key}")) == 1


def raw_path_request(server, method, path, body=None):
    """Send `path` exactly as written (no client re-encodes %ff); (status, body)."""
    address = urlsplit(server.url)
    connection = http.client.HTTPConnection(address.hostname, address.port, timeout=10)
    try:
        headers = {"Content-Type": "application/octet-stream"} if body else {}
        connection.request(method, path, body=body, headers=headers)
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


@pytest.mark.parametrize(
    ("method", "body"), [("GET", None), ("PUT", b"saved under a broken name")]
)
def test_a_key_that_is_not_utf8_is_invalid_object_name_and_nothing_is_saved(
    server, method, body
):
    bucket = server.new_bucket(oss2.BUCKET_ACL_PUBLIC_READ_WRITE)

    status, answer = raw_path_request(
        server, method, f"/{bucket.bucket_name}/bad%ff", body
    )

    assert (status, oss_error_code(answer)) == (400, "InvalidObjectName"), answer
    assert [obj.key for obj in oss2.ObjectIterator(bucket)] == []
