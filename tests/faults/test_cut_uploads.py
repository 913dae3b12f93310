"""Issue 9 item 1: an upload commits only when whole (SPEC §9, "Uploads commit only
when complete"). Each cut-short body is written by hand on a raw socket; the server
must save nothing, keep the previous version, leave no temp file, and answer
400 IncompleteBody (or just close the connection)."""

import os
import uuid
from urllib.parse import quote

import oss2
import pytest

from tests.faults.conftest import (
    MIB,
    RawRequest,
    free_bytes,
    md5_of,
    send_cut_short,
)

pytestmark = [pytest.mark.faults, pytest.mark.server]
RELIABILITY_CATEGORY = "cut uploads"

OCTETS = {"Content-Type": "application/octet-stream"}
MAX_PUT_BYTES = 5 * 1024**3  # OSS's PutObject limit


@pytest.fixture(scope="module")
def server(start_server):
    return start_server()


@pytest.fixture(scope="module")
def open_bucket(server):
    """Anyone may write here: the cut uploads need no signature."""
    return server.new_bucket(oss2.BUCKET_ACL_PUBLIC_READ_WRITE)


@pytest.fixture
def bucket(server):
    return server.new_bucket()


def stored_size(bucket, key):
    """The stored object's size, None when there is none (HEAD never mirrors)."""
    try:
        return bucket.head_object(key).content_length
    except oss2.exceptions.NotFound:
        return None


def target(bucket, key, query=""):
    return f"/{bucket.bucket_name}/{quote(key)}" + (f"?{query}" if query else "")


def assert_refused_as_incomplete(answer, also=()):
    """A cut-short upload gets 400 IncompleteBody OSS XML, or the connection closes;
    `also` lists other (status, code) refusals a test allows."""
    if answer is None:
        return
    assert (answer.status, answer.code) in [(400, "IncompleteBody"), *also], answer


def refusals_before_the_body(declared, data_dir):
    """What may refuse a declared length before any byte is read: OSS's 5 GiB PutObject
    limit, and a length the data disk has no room for."""
    refusals = []
    if declared > MAX_PUT_BYTES:
        refusals.append((400, "EntityTooLarge"))
    if declared > free_bytes(data_dir):
        refusals.append((507, "InsufficientStorage"))
    return refusals


@pytest.mark.parametrize("declared", [6_000_000_000, 64 * MIB])
def test_an_anonymous_put_that_sends_20_mib_of_a_longer_declared_body_saves_nothing(
    server, open_bucket, declared
):
    key = f"cut/declared-{declared}.bin"

    answer = send_cut_short(
        server.url,
        "PUT",
        target(open_bucket, key),
        OCTETS,
        declared,
        os.urandom(20 * MIB),
    )

    assert stored_size(open_bucket, key) is None
    assert server.leftover_temp_files() == []
    assert_refused_as_incomplete(
        answer, also=refusals_before_the_body(declared, server.data_dir)
    )


def test_a_signed_overwrite_cut_short_keeps_the_previous_object(server, bucket):
    key = "cut/overwrite.bin"
    previous = os.urandom(5 * MIB)
    bucket.put_object(key, previous)
    headers = server.signed_headers("PUT", bucket.bucket_name, key, headers=OCTETS)

    answer = send_cut_short(
        server.url, "PUT", target(bucket, key), headers, 10 * MIB, os.urandom(MIB)
    )

    assert md5_of(bucket.get_object(key).read()) == md5_of(previous)
    assert server.leftover_temp_files() == []
    assert_refused_as_incomplete(answer)


def test_an_append_cut_short_leaves_size_and_position_unchanged(server, bucket):
    key = "cut/appendable.log"
    assert bucket.append_object(key, 0, b"a" * 100).next_position == 100
    query = {"append": "", "position": "100"}
    headers = server.signed_headers(
        "POST", bucket.bucket_name, key, params=query, headers=OCTETS
    )

    answer = send_cut_short(
        server.url,
        "POST",
        target(bucket, key, "append&position=100"),
        headers,
        1000,
        b"0123456789",
    )

    assert stored_size(bucket, key) == 100
    assert server.leftover_temp_files() == []
    assert_refused_as_incomplete(answer)
    # The position did not move: the next append at 100 lands.
    assert bucket.append_object(key, 100, b"b" * 10).next_position == 110


def test_a_chunked_put_without_its_last_chunk_saves_nothing_and_is_no_server_error(
    server, open_bucket
):
    key = "cut/unfinished-chunks.bin"
    path = target(open_bucket, key)
    mark = server.log_mark()

    with RawRequest(
        server.url, "PUT", path, {**OCTETS, "Transfer-Encoding": "chunked"}
    ) as raw:
        for _ in range(4):
            raw.send_chunk(os.urandom(64 * 1024))
        raw.stop_sending()  # no "0\r\n\r\n": the body never ended
        answer = raw.answer()

    assert stored_size(open_bucket, key) is None
    assert server.leftover_temp_files() == []
    log = server.log_since(mark)
    assert f'"PUT {path}" 500' not in log
    assert "Traceback" not in log
    assert_refused_as_incomplete(answer)


def test_a_whole_raw_put_is_saved(server, open_bucket):
    key = "whole/raw.bin"
    data = os.urandom(3 * MIB)

    with RawRequest(
        server.url,
        "PUT",
        target(open_bucket, key),
        {**OCTETS, "Content-Length": str(len(data))},
    ) as raw:
        raw.send(data)
        answer = raw.answer()

    assert answer.status == 200, answer
    assert md5_of(open_bucket.get_object(key).read()) == md5_of(data)
    assert server.leftover_temp_files() == []


def test_a_whole_body_with_the_wrong_content_md5_is_invalid_digest_and_keeps_the_old_bytes(
    server, open_bucket
):
    key = "whole/wrong-md5.bin"
    previous = b"the previous version"
    open_bucket.put_object(key, previous)
    data = os.urandom(MIB)
    wrong_md5 = "1B2M2Y8AsgTpgAmY7PhCfg=="  # the MD5 of no bytes

    with RawRequest(
        server.url,
        "PUT",
        target(open_bucket, key),
        {**OCTETS, "Content-Length": str(len(data)), "Content-MD5": wrong_md5},
    ) as raw:
        raw.send(data)
        answer = raw.answer()

    assert (answer.status, answer.code) == (400, "InvalidDigest"), answer
    assert open_bucket.get_object(key).read() == previous
    assert server.leftover_temp_files() == []


# -- the console's upload form ----------------------------------------------------------


def multipart_upload(token, file_name, data):
    """The console Files form as a browser posts it: (content type, head, body, tail)."""
    boundary = f"----fault-suite-{uuid.uuid4().hex}"
    head = (
        f"--{boundary}\r\n"
        'Content-Disposition: form-data; name="csrfmiddlewaretoken"\r\n\r\n'
        f"{token}\r\n"
        f"--{boundary}\r\n"
        'Content-Disposition: form-data; name="prefix"\r\n\r\n\r\n'
        f"--{boundary}\r\n"
        f'Content-Disposition: form-data; name="files"; filename="{file_name}"\r\n'
        "Content-Type: application/octet-stream\r\n\r\n"
    ).encode()
    tail = f"\r\n--{boundary}--\r\n".encode()
    return f"multipart/form-data; boundary={boundary}", head, data, tail


def console_upload(server, bucket, file_name, data, cut_at=None):
    """POST the upload form on a raw socket; with `cut_at(head, data, tail)` (their
    lengths) send only that many bytes of the body, then stop sending."""
    session = server.console_session()
    token = session.cookies["csrftoken"]
    content_type, head, data, tail = multipart_upload(token, file_name, data)
    upload_url = f"/console/buckets/{bucket.bucket_name}/files/upload"
    headers = {
        "Content-Type": content_type,
        "Cookie": "; ".join(f"{c.name}={c.value}" for c in session.cookies),
        "X-CSRFToken": token,
        "Referer": f"{server.url}/console/buckets/{bucket.bucket_name}/files/",
    }
    body = head + data + tail
    if cut_at is None:
        with RawRequest(
            server.url,
            "POST",
            upload_url,
            {**headers, "Content-Length": str(len(body))},
        ) as raw:
            raw.send(body)
            return raw.answer()
    sent = body[: cut_at(len(head), len(data), len(tail))]
    return send_cut_short(server.url, "POST", upload_url, headers, len(body), sent)


def test_a_whole_console_upload_is_saved(server, bucket):
    data = os.urandom(3 * MIB)

    answer = console_upload(server, bucket, "whole.bin", data)

    assert answer.status == 302, answer  # back to the Files page
    assert md5_of(bucket.get_object("whole.bin").read()) == md5_of(data)


@pytest.mark.parametrize(
    "cut_at",
    [
        pytest.param(lambda head, data, tail: head + MIB, id="mid-file"),
        # Every byte of the file arrived, the closing boundary did not.
        pytest.param(
            lambda head, data, tail: head + data + tail - 4, id="in-the-last-boundary"
        ),
    ],
)
def test_a_console_upload_cut_short_saves_nothing_and_leaves_no_temp_file(
    server, bucket, cut_at
):
    answer = console_upload(server, bucket, "cut.bin", os.urandom(3 * MIB), cut_at)

    assert stored_size(bucket, "cut.bin") is None
    assert server.leftover_temp_files() == []
    assert answer is None or answer.status < 500, answer
