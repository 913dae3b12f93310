"""GetObject compressed with gzip when the client accepts it, by OSS's rule (a text
Content-Type, at least 1 KB, the whole object): in process for the rule, and
through oss2 against gunicorn for what a client sees (chunked, no Content-Length,
the CRC-64 check of the decoded bytes passing)."""

import gzip
import os
import uuid

import oss2
import pytest
import requests

from buckets import compression
from tests.oss_responses import body_of
from tests.signing import REGION

pytestmark = pytest.mark.django_db

BUCKET = "alice-bucket"  # conftest's `bucket`
TEXT = b"All work and no play makes Jack a dull boy.\n" * 100  # 4.4 KB


@pytest.fixture
def stored(bucket, alice_signed_client):
    def store(key, data=TEXT, content_type="text/plain", **headers):
        response = alice_signed_client(
            "PUT",
            BUCKET,
            key,
            headers={"Content-Type": content_type, **headers},
            body=data,
        )
        assert response.status_code == 200
        return response

    return store


def get(alice_signed_client, key, **headers):
    return alice_signed_client("GET", BUCKET, key, headers=headers)


def test_a_text_object_is_sent_gzipped_with_the_objects_own_etag_and_crc(
    alice_signed_client, stored
):
    put = stored("notes.txt")

    response = get(alice_signed_client, "notes.txt", **{"Accept-Encoding": "gzip"})

    assert response.status_code == 200
    assert response["Content-Encoding"] == "gzip"
    assert not response.has_header("Content-Length")
    assert gzip.decompress(body_of(response)) == TEXT
    assert response["ETag"] == put["ETag"]
    assert response["x-oss-hash-crc64ecma"] == put["x-oss-hash-crc64ecma"]
    assert response["Vary"] == "Accept-Encoding"


@pytest.mark.parametrize(
    ("key", "data", "content_type", "stored_headers", "request_headers"),
    [
        ("small.txt", TEXT[:1023], "text/plain", {}, {"Accept-Encoding": "gzip"}),
        ("photo.png", TEXT, "image/png", {}, {"Accept-Encoding": "gzip"}),
        ("plain.txt", TEXT, "text/plain", {}, {}),
        ("refused.txt", TEXT, "text/plain", {}, {"Accept-Encoding": "gzip;q=0"}),
        ("other.txt", TEXT, "text/plain", {}, {"Accept-Encoding": "br, deflate"}),
        (
            "range.txt",
            TEXT,
            "text/plain",
            {},
            {"Accept-Encoding": "gzip", "Range": "bytes=0-1499"},
        ),
        (
            "already.txt",
            gzip.compress(TEXT),
            "text/plain",
            {"Content-Encoding": "gzip"},
            {"Accept-Encoding": "gzip"},
        ),
    ],
    ids=[
        "under 1 KB",
        "not a text type",
        "gzip not accepted",
        "gzip refused by q=0",
        "other codings only",
        "a range",
        "already content-encoded",
    ],
)
def test_objects_outside_osss_rule_are_sent_as_stored(
    alice_signed_client,
    stored,
    key,
    data,
    content_type,
    stored_headers,
    request_headers,
):
    stored(key, data, content_type, **stored_headers)

    response = get(alice_signed_client, key, **request_headers)

    body = body_of(response)
    assert response.get("Content-Encoding", "") == stored_headers.get(
        "Content-Encoding", ""
    )
    assert response["Content-Length"] == str(len(body))
    assert body == data[: len(body)]


def test_a_json_type_with_parameters_is_compressed(alice_signed_client, stored):
    stored("data.json", b"[" + b"1," * 1000 + b"1]", "application/json; charset=utf-8")

    response = get(alice_signed_client, "data.json", **{"Accept-Encoding": "gzip"})

    assert response["Content-Encoding"] == "gzip"


def test_head_keeps_the_length_of_the_stored_bytes(alice_signed_client, stored):
    stored("head.txt")

    response = alice_signed_client(
        "HEAD", BUCKET, "head.txt", headers={"Accept-Encoding": "gzip"}
    )

    assert response["Content-Length"] == str(len(TEXT))
    assert not response.has_header("Content-Encoding")


@pytest.mark.parametrize(
    ("accept_encoding", "accepted"),
    [
        ("gzip", True),
        ("GZIP", True),
        ("deflate, gzip;q=0.5", True),
        ("x-gzip", True),
        ("gzip;q=0", False),
        ("gzip;q=0.0", False),
        ("gzip;q=abc", False),
        ("identity", False),
        ("", False),
        ("*", False),  # OSS compresses only when gzip is named
    ],
)
def test_accepts_gzip(accept_encoding, accepted):
    assert compression.accepts_gzip(accept_encoding) is accepted


# -- through oss2 against gunicorn ------------------------------------------------------------


@pytest.fixture
def sdk_bucket(two_user_server, sdk_version):
    gunicorn, keys = two_user_server
    auth = (oss2.AuthV4 if sdk_version == "v4" else oss2.Auth)(*keys["alice"])
    bucket = oss2.Bucket(
        auth, gunicorn.url, f"gz-{uuid.uuid4().hex[:12]}", region=REGION
    )
    bucket.create_bucket()
    return bucket


def test_oss2_reads_a_gzipped_object_whole_with_its_crc_checked(sdk_bucket):
    content = os.urandom(256 * 1024)
    sdk_bucket.put_object("random.txt", content)

    result = sdk_bucket.get_object("random.txt", headers={"Accept-Encoding": "gzip"})

    assert result.headers["Content-Encoding"] == "gzip"
    assert result.content_length is None
    assert result.read() == content  # oss2 compares the CRC-64 of what it read


def test_a_presigned_get_accepting_gzip_is_sent_chunked(sdk_bucket):
    sdk_bucket.put_object("chunked.txt", b"a" * 1024)
    url = sdk_bucket.sign_url("GET", "chunked.txt", 60)

    response = requests.get(url, headers={"Accept-Encoding": "gzip"}, timeout=30)

    assert response.headers["Transfer-Encoding"] == "chunked"
    assert response.headers["Content-Encoding"] == "gzip"
    assert response.content == b"a" * 1024  # requests decodes it
