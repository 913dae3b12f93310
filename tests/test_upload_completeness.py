"""Uploads commit only when whole (SPEC §9), through the real WSGI entry point.

The requests go through `config.wsgi.application` exactly as gunicorn calls it,
with a wsgi.input that ends before the declared Content-Length (what a server
hands over when the client disconnects). The fault suite repeats this with raw
sockets against gunicorn.
"""

import hashlib
import io
import sys

import pytest
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from gunicorn.http.errors import NoMoreData

from buckets.body import CompleteBodyInput, IncompleteBody
from buckets.models import StoredObject
from config.wsgi import application
from tests.oss_responses import error_code

OLD = b"old version " * 1000


@pytest.fixture
def wsgi(db):
    """Call the WSGI application in this test's transaction (as Django's test client
    does, the per-request connection closing is off)."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)

    def call(
        method, path, body=b"", *, declared=None, query="", stream=None, **headers
    ):
        environ = {
            "REQUEST_METHOD": method,
            "PATH_INFO": path.encode("utf-8").decode("iso-8859-1")
            if isinstance(path, str)
            else path.decode("iso-8859-1"),
            "QUERY_STRING": query,
            "SERVER_NAME": "testserver",
            "SERVER_PORT": "80",
            "SERVER_PROTOCOL": "HTTP/1.1",
            "wsgi.version": (1, 0),
            "wsgi.url_scheme": "http",
            "wsgi.input": stream or io.BytesIO(body),
            "wsgi.errors": sys.stderr,
            "wsgi.multithread": True,
            "wsgi.multiprocess": True,
            "wsgi.run_once": False,
        }
        if declared is not None:
            environ["CONTENT_LENGTH"] = str(declared)
        for name, value in headers.items():
            # Content-Type is the one header WSGI passes without the HTTP_ prefix.
            meta = name.upper() if name == "content_type" else f"HTTP_{name.upper()}"
            environ[meta] = value
        status = []
        result = application(environ, lambda s, h, *a: status.append(s))
        content = b"".join(result)
        result.close()
        return int(status[0].split()[0]), content

    yield call
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


def stored(bucket, key):
    return StoredObject.objects.filter(bucket=bucket, key=key).first()


def test_a_put_that_ends_before_its_content_length_saves_nothing(wsgi, open_bucket):
    status, content = wsgi(
        "PUT", "/open-bucket/cut.bin", b"x" * 100_000, declared=10_000_000
    )

    assert (status, error_code(content)) == (400, "IncompleteBody")
    assert stored(open_bucket, "cut.bin") is None


def test_a_cut_overwrite_keeps_the_previous_version(wsgi, open_bucket, put_object):
    put_object(open_bucket, "doc.bin", OLD)

    status, content = wsgi("PUT", "/open-bucket/doc.bin", b"new" * 1000, declared=9000)

    assert (status, error_code(content)) == (400, "IncompleteBody")
    obj = stored(open_bucket, "doc.bin")
    assert (obj.size, obj.md5) == (len(OLD), hashlib.md5(OLD).hexdigest())


def test_a_cut_append_does_not_move_the_position(wsgi, open_bucket):
    assert wsgi(
        "POST",
        "/open-bucket/log.txt",
        b"0123456789",
        declared=10,
        query="append&position=0",
    )[0] == (200)

    status, content = wsgi(
        "POST",
        "/open-bucket/log.txt",
        b"0123456789",
        declared=1000,
        query="append&position=10",
    )

    assert (status, error_code(content)) == (400, "IncompleteBody")
    assert stored(open_bucket, "log.txt").size == 10


def test_a_whole_put_is_saved(wsgi, open_bucket):
    status, _ = wsgi("PUT", "/open-bucket/whole.bin", b"y" * 5000, declared=5000)

    assert status == 200
    assert stored(open_bucket, "whole.bin").size == 5000


class BrokenChunkedInput(io.RawIOBase):
    """What gunicorn's chunked reader does when the client leaves before the last chunk."""

    def __init__(self, first):
        self.first = first

    def read(self, size=-1):
        if self.first:
            data, self.first = self.first, b""
            return data
        raise NoMoreData(b"")


def test_a_chunked_put_without_its_last_chunk_saves_nothing(wsgi, open_bucket):
    status, content = wsgi(
        "PUT",
        "/open-bucket/chunked.bin",
        stream=BrokenChunkedInput(b"z" * 4096),
        transfer_encoding="chunked",
    )

    assert (status, error_code(content)) == (400, "IncompleteBody")
    assert stored(open_bucket, "chunked.bin") is None


def test_a_key_that_is_not_utf8_is_refused(wsgi, open_bucket):
    status, content = wsgi("PUT", b"/open-bucket/bad\xff", b"x", declared=1)

    assert (status, error_code(content)) == (400, "InvalidObjectName")
    assert not StoredObject.objects.filter(bucket=open_bucket).exists()


CSRF_TOKEN = "a" * 32


def console_upload_body(data):
    boundary = "----cut"
    body = (
        f"--{boundary}\r\n"
        'Content-Disposition: form-data; name="csrfmiddlewaretoken"\r\n\r\n'
        f"{CSRF_TOKEN}\r\n"
        f"--{boundary}\r\n"
        'Content-Disposition: form-data; name="files"; filename="big.bin"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n"
    ).encode() + data
    return body, f"multipart/form-data; boundary={boundary}"


@pytest.mark.parametrize("cut", [False, True])
def test_a_cut_console_upload_saves_nothing_and_leaves_no_temp_file(
    wsgi, bucket, alice_client, isolated_data_dir, cut
):
    body, content_type = console_upload_body(b"b" * 300_000)
    if not cut:
        body += b"\r\n------cut--\r\n"
    session = alice_client.cookies["sessionid"].value

    status, _ = wsgi(
        "POST",
        f"/console/buckets/{bucket.name}/files/upload",
        body,
        declared=len(body) + (1_000_000 if cut else 0),
        content_type=content_type,
        cookie=f"sessionid={session}; csrftoken={CSRF_TOKEN}",
        referer="http://testserver/console/",
    )

    assert status < 500
    saved = StoredObject.objects.filter(bucket=bucket, key="big.bin").exists()
    assert saved is not cut
    assert list((isolated_data_dir / "tmp").iterdir()) == []


@pytest.mark.parametrize(
    ("declared", "chunks", "complete"),
    [
        (6, [b"abc", b"def"], True),
        (6, [b"abc"], False),
        (0, [], True),
        (None, [b"abc"], True),  # chunked: the server's reader decides
    ],
)
def test_complete_body_input_raises_only_when_the_body_stops_short(
    declared, chunks, complete
):
    stream = CompleteBodyInput(io.BytesIO(b"".join(chunks)), declared)

    def read_all():
        return b"".join(iter(lambda: stream.read(2), b""))

    if complete:
        assert read_all() == b"".join(chunks)
    else:
        with pytest.raises(IncompleteBody):
            read_all()
