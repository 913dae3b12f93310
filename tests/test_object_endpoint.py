import re
from datetime import UTC, datetime
from urllib.parse import quote

import pytest
from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from django.test import Client

from buckets.models import StoredObject
from buckets.oss_access import request_user
from tests.oss_responses import body_of, error_fields

HELLO = b"hello world"
HELLO_ETAG = '"5EB63BBBE01EEED093CB22BB8F5ACDC3"'
LAST_MODIFIED = datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)
LAST_MODIFIED_HTTP = "Tue, 02 Jan 2024 03:04:05 GMT"
REQUEST_ID_RE = re.compile(r"^[0-9A-F]{24}$")
HTTP_DATE_RE = re.compile(
    r"^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d{2} "
    r"(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d{4} \d{2}:\d{2}:\d{2} GMT$"
)


def set_last_modified(obj, when=LAST_MODIFIED):
    StoredObject.objects.filter(pk=obj.pk).update(last_modified=when)


@pytest.fixture
def hello(public_bucket, put_object):
    """alice-public/hello.txt, "hello world", last modified at a known instant."""
    obj = put_object(public_bucket, "hello.txt", HELLO, content_type="text/plain")
    set_last_modified(obj)
    return obj


# --- A successful GET ------------------------------------------------------


def test_anyone_can_get_an_object_from_a_public_read_bucket(client, hello):
    response = client.get("/alice-public/hello.txt")

    assert response.status_code == 200
    assert body_of(response) == b"hello world"
    assert response["Content-Type"] == "text/plain"
    assert response["Content-Length"] == "11"
    assert response["ETag"] == HELLO_ETAG
    assert response["Last-Modified"] == LAST_MODIFIED_HTTP
    assert response["Accept-Ranges"] == "bytes"
    assert response["x-oss-object-type"] == "Normal"
    assert response["x-oss-storage-class"] == "Standard"
    assert REQUEST_ID_RE.match(response["x-oss-request-id"])
    assert "x-oss-tag" not in response.headers
    assert "Content-Disposition" not in response.headers
    assert "Content-Range" not in response.headers


def test_last_modified_of_a_fresh_object_is_an_rfc_1123_gmt_date(
    client, public_bucket, put_object
):
    put_object(public_bucket, "new.txt", b"new")

    response = client.get("/alice-public/new.txt")

    assert HTTP_DATE_RE.match(response["Last-Modified"])


def test_an_object_without_a_content_type_is_served_as_octet_stream(
    client, public_bucket, put_object
):
    put_object(public_bucket, "blob", b"\x00\x01\x02", content_type="")

    response = client.get("/alice-public/blob")

    assert response["Content-Type"] == "application/octet-stream"
    assert body_of(response) == b"\x00\x01\x02"


def test_an_empty_object_is_served_with_zero_length(client, public_bucket, put_object):
    put_object(public_bucket, "folder/", b"")

    response = client.get("/alice-public/folder/")

    assert response.status_code == 200
    assert response["Content-Length"] == "0"
    assert response["ETag"] == '"D41D8CD98F00B204E9800998ECF8427E"'
    assert body_of(response) == b""


def test_saved_metadata_comes_back_as_headers(client, public_bucket, put_object):
    put_object(
        public_bucket,
        "report.pdf",
        b"%PDF-1.7",
        content_type="application/pdf",
        content_disposition='attachment; filename="report.pdf"',
        cache_control="max-age=60",
        content_encoding="identity",
        content_language="en-GB",
        expires="Wed, 21 Oct 2015 07:28:00 GMT",
        user_meta={"author": "alice", "project": "apollo"},
    )

    response = client.get("/alice-public/report.pdf")

    assert response.status_code == 200
    assert {
        name: response[name]
        for name in (
            "Content-Type",
            "Content-Disposition",
            "Cache-Control",
            "Content-Encoding",
            "Content-Language",
            "Expires",
            "x-oss-meta-author",
            "x-oss-meta-project",
        )
    } == {
        "Content-Type": "application/pdf",
        "Content-Disposition": 'attachment; filename="report.pdf"',
        "Cache-Control": "max-age=60",
        "Content-Encoding": "identity",
        "Content-Language": "en-GB",
        "Expires": "Wed, 21 Oct 2015 07:28:00 GMT",
        "x-oss-meta-author": "alice",
        "x-oss-meta-project": "apollo",
    }
    assert body_of(response) == b"%PDF-1.7"


def test_a_mirrored_object_carries_the_mirror_tag(client, public_bucket, put_object):
    put_object(public_bucket, "mirrored.txt", b"from origin", mirrored=True)

    response = client.get("/alice-public/mirrored.txt")

    assert response["x-oss-tag"] == "MIRROR"


def test_each_answer_has_its_own_request_id(client, hello):
    first = client.get("/alice-public/hello.txt")["x-oss-request-id"]
    second = client.get("/alice-public/hello.txt")["x-oss-request-id"]

    assert first != second


def test_serving_a_public_object_anonymously_takes_one_query(
    client, hello, django_assert_num_queries
):
    with django_assert_num_queries(1):  # the bucket and the object in one SELECT
        response = client.get("/alice-public/hello.txt")

    assert body_of(response) == HELLO


def test_an_object_larger_than_a_chunk_is_served_whole(
    client, public_bucket, put_object
):
    data = bytes(range(256)) * 3000
    put_object(public_bucket, "big.bin", data)

    response = client.get("/alice-public/big.bin")

    assert response["Content-Length"] == "768000"
    assert body_of(response) == data


# --- Who may read ----------------------------------------------------------


@pytest.mark.parametrize(
    ("acl", "who", "status"),
    [
        ("private", "anonymous", 403),
        ("private", "owner", 200),
        ("private", "other user", 403),
        ("public-read", "anonymous", 200),
        ("public-read", "owner", 200),
        ("public-read", "other user", 200),
        ("public-read-write", "anonymous", 200),
        ("public-read-write", "owner", 200),
        ("public-read-write", "other user", 200),
    ],
)
def test_who_may_read_an_object_depends_on_the_bucket_acl(
    acl, who, status, request, bucket, put_object
):
    bucket.acl = acl
    bucket.save()
    put_object(bucket, "doc.txt", b"contents")
    client = {
        "anonymous": Client,
        "owner": lambda: request.getfixturevalue("alice_client"),
        "other user": lambda: request.getfixturevalue("bob_client"),
    }[who]()

    response = client.get("/alice-bucket/doc.txt")

    assert response.status_code == status
    if status == 200:
        assert body_of(response) == b"contents"
    else:
        assert error_fields(response)["Code"] == "AccessDenied"


@pytest.mark.parametrize(
    ("acl", "who", "readable", "writable"),
    [
        ("private", "owner", True, True),
        ("private", "other user", False, False),
        ("private", "anonymous", False, False),
        ("private", "nobody", False, False),
        ("public-read", "owner", True, True),
        ("public-read", "other user", True, False),
        ("public-read", "anonymous", True, False),
        ("public-read-write", "other user", True, True),
        ("public-read-write", "anonymous", True, True),
        ("public-read-write", "nobody", True, True),
    ],
)
def test_the_bucket_acl_decides_who_reads_and_writes(
    acl, who, readable, writable, bucket, bob
):
    bucket.acl = acl
    user = {
        "owner": bucket.owner,
        "other user": bob,
        "anonymous": AnonymousUser(),
        "nobody": None,
    }[who]

    assert (bucket.readable_by(user), bucket.writable_by(user)) == (readable, writable)


def test_a_private_bucket_refuses_anonymous_readers_with_access_denied_xml(
    client, bucket, put_object
):
    put_object(bucket, "secret.txt", b"secret")

    response = client.get("/alice-bucket/secret.txt")

    assert response.status_code == 403
    assert response["Content-Type"] == "application/xml"
    assert error_fields(response) == {
        "Code": "AccessDenied",
        "Message": "You have no right to access this object because of bucket acl.",
        "RequestId": response["x-oss-request-id"],
        "HostId": "testserver",
    }


def test_a_private_bucket_does_not_tell_strangers_which_keys_exist(bob_client, bucket):
    response = bob_client.get("/alice-bucket/missing.txt")

    assert response.status_code == 403
    assert error_fields(response)["Code"] == "AccessDenied"


def test_the_owner_of_a_private_bucket_reads_with_the_console_session(
    alice_client, bucket, put_object, django_assert_max_num_queries
):
    put_object(bucket, "secret.txt", b"secret")

    with django_assert_max_num_queries(4):  # session, user, bucket, object
        response = alice_client.get("/alice-bucket/secret.txt")

    assert response.status_code == 200
    assert body_of(response) == b"secret"


# --- Errors ----------------------------------------------------------------


def test_a_missing_bucket_is_no_such_bucket(client, db):
    response = client.get("/no-such-bucket/a.txt")

    assert response.status_code == 404
    assert response["Content-Type"] == "application/xml"
    assert error_fields(response) == {
        "Code": "NoSuchBucket",
        "Message": "The specified bucket does not exist.",
        "RequestId": response["x-oss-request-id"],
        "HostId": "testserver",
        "BucketName": "no-such-bucket",
    }
    assert response["Content-Length"] == str(len(response.content))


def test_a_missing_key_is_no_such_key(client, public_bucket):
    response = client.get("/alice-public/missing/file.txt")

    assert response.status_code == 404
    assert error_fields(response) == {
        "Code": "NoSuchKey",
        "Message": "The specified key does not exist.",
        "RequestId": response["x-oss-request-id"],
        "HostId": "testserver",
        "Key": "missing/file.txt",
        "EC": "0026-00000001",
    }
    assert response["x-oss-ec"] == "0026-00000001"


def test_the_owner_gets_no_such_key_for_a_missing_key_in_a_private_bucket(
    alice_client, bucket
):
    response = alice_client.get("/alice-bucket/missing.txt")

    assert response.status_code == 404
    assert error_fields(response)["Code"] == "NoSuchKey"


def test_a_key_with_xml_special_characters_is_escaped_in_the_error(
    client, public_bucket
):
    response = client.get("/alice-public/a%26b%3Cc%3E%22d%22.txt")

    assert error_fields(response)["Key"] == 'a&b<c>"d".txt'


@pytest.mark.parametrize(
    ("path", "key", "message"),
    [
        (
            "/alice-public//etc/passwd",
            "/etc/passwd",
            "The object name must not start with / or \\.",
        ),
        (
            "/alice-public/%5Cwindows",
            "\\windows",
            "The object name must not start with / or \\.",
        ),
        (
            "/alice-public/" + "a" * 1024,
            "a" * 1024,
            "The object name is 1024 bytes long; the limit is 1023 bytes of UTF-8.",
        ),
    ],
)
def test_an_invalid_key_is_invalid_object_name(path, key, message, client, hello):
    response = client.get(path)

    assert response.status_code == 400
    assert error_fields(response) == {
        "Code": "InvalidObjectName",
        "Message": message,
        "RequestId": response["x-oss-request-id"],
        "HostId": "testserver",
        "Key": key,
    }


def test_a_key_with_a_nul_byte_still_gets_well_formed_error_xml(client, hello):
    response = client.get("/alice-public/nul%00byte")

    assert response.status_code == 400
    # XML 1.0 cannot carry U+0000 even escaped, so it is replaced.
    assert error_fields(response)["Key"] == "nul\ufffdbyte"
    assert "must not contain the NUL character" in error_fields(response)["Message"]


@pytest.mark.parametrize("method", ["post", "patch"])
def test_methods_the_object_url_does_not_know_are_not_allowed(method, client, hello):
    response = getattr(client, method)("/alice-public/hello.txt")

    assert response.status_code == 405
    assert error_fields(response) == {
        "Code": "MethodNotAllowed",
        "Message": "The specified method is not allowed against this resource.",
        "RequestId": response["x-oss-request-id"],
        "HostId": "testserver",
        "Method": method.upper(),
    }


def test_options_on_an_object_is_a_cors_preflight(client, hello):
    """OPTIONS is the browser's CORS preflight (tests/test_cors_referer.py): with no
    CORS rules on the bucket it is refused as OSS refuses it."""
    response = client.options(
        "/alice-public/hello.txt",
        headers={"Origin": "http://app.test", "Access-Control-Request-Method": "GET"},
    )

    assert response.status_code == 403
    assert error_fields(response)["Code"] == "AccessForbidden"
    assert "Access-Control-Allow-Origin" not in response


@pytest.mark.parametrize("method", ["put", "post", "delete"])
def test_the_owners_session_cannot_write_through_the_csrf_exempt_endpoint(
    method, alice, bucket, put_object
):
    put_object(bucket, "doc.txt", b"original")
    client = Client(enforce_csrf_checks=True)
    client.force_login(alice)

    for key in ("doc.txt", "new.txt"):
        response = getattr(client, method)(
            f"/alice-bucket/{key}", data=b"evil", content_type="text/plain"
        )
        # Writes need a signature (or a public-read-write bucket); POST is no object operation.
        assert response.status_code == (405 if method == "post" else 403)

    assert list(bucket.stored_objects.values_list("key", "size")) == [("doc.txt", 8)]
    assert body_of(client.get("/alice-bucket/doc.txt")) == b"original"


@pytest.mark.parametrize(
    ("method", "acts_as_alice"),
    [("get", True), ("head", True), ("post", False), ("put", False), ("delete", False)],
)
def test_a_console_session_counts_only_for_reads(method, acts_as_alice, rf, alice):
    request = getattr(rf, method)("/alice-bucket/doc.txt")
    request.user = alice

    assert (request_user(request) == alice) is acts_as_alice
    if not acts_as_alice:
        assert request_user(request) is None


@pytest.mark.parametrize("method", ["get", "put", "delete"])
def test_a_signed_request_acts_as_its_signer_for_every_method(method, rf, alice, bob):
    request = getattr(rf, method)("/alice-bucket/doc.txt")
    request.user = alice
    request.oss_user = bob

    assert request_user(request) == bob


def test_an_anonymous_request_acts_as_nobody(rf):
    request = rf.get("/alice-bucket/doc.txt")
    request.user = AnonymousUser()

    assert request_user(request) is None


# --- HEAD ------------------------------------------------------------------


def test_head_returns_the_headers_without_the_body(client, hello):
    response = client.head("/alice-public/hello.txt")

    assert response.status_code == 200
    assert body_of(response) == b""
    assert response["Content-Length"] == "11"
    assert response["Content-Type"] == "text/plain"
    assert response["ETag"] == HELLO_ETAG
    assert response["Last-Modified"] == LAST_MODIFIED_HTTP
    assert REQUEST_ID_RE.match(response["x-oss-request-id"])


@pytest.mark.parametrize(
    ("path", "status", "code"),
    [
        ("/alice-public/missing.txt", 404, "NoSuchKey"),
        ("/no-such-bucket/a.txt", 404, "NoSuchBucket"),
        ("/alice-bucket/a.txt", 403, "AccessDenied"),
        ("/alice-public//a.txt", 400, "InvalidObjectName"),
    ],
)
def test_head_errors_carry_the_error_document_in_a_header(
    path, status, code, client, bucket, public_bucket
):
    response = client.head(path)

    assert response.status_code == status
    assert body_of(response) == b""
    assert response["Content-Length"] == "0"
    error = error_fields(response)
    assert error["Code"] == code
    assert error["RequestId"] == response["x-oss-request-id"]


def test_a_get_error_carries_its_document_in_the_body_not_a_header(
    client, public_bucket
):
    response = client.get("/alice-public/missing.txt")

    assert "x-oss-err" not in response.headers


# --- Keys in URLs ----------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "path"),
    [
        ("a/b.txt", "/alice-public/a/b.txt"),
        ("a/b/c.txt", "/alice-public/a%2Fb%2Fc.txt"),
        ("a/b/c.txt", "/alice-public/a/b%2fc.txt"),
        ("with space.txt", "/alice-public/with space.txt"),
        ("with space.txt", "/alice-public/with%20space.txt"),
        ("ünï/文件.txt", "/alice-public/ünï/文件.txt"),
        ("ünï/文件.txt", "/alice-public/%C3%BCn%C3%AF/%E6%96%87%E4%BB%B6.txt"),
        ("emoji 😀.png", "/alice-public/emoji%20%F0%9F%98%80.png"),
        ("what?.txt", "/alice-public/what%3F.txt"),
        ("a#b", "/alice-public/a%23b"),
        ("100%.txt", "/alice-public/100%25.txt"),
        ("a+b.txt", "/alice-public/a+b.txt"),
        ("folder/", "/alice-public/folder/"),
        ("a//b", "/alice-public/a//b"),
        ("../secret", "/alice-public/..%2Fsecret"),
        ("console/x", "/alice-public/console/x"),
        ("Case.TXT", "/alice-public/Case.TXT"),
    ],
)
def test_keys_are_read_from_the_decoded_path(
    key, path, client, public_bucket, put_object
):
    put_object(public_bucket, key, key.encode())

    response = client.get(path)

    assert response.status_code == 200
    assert body_of(response) == key.encode()


def test_keys_are_case_sensitive(client, public_bucket, put_object):
    put_object(public_bucket, "Case.txt", b"upper")

    response = client.get("/alice-public/case.txt")

    assert response.status_code == 404
    assert error_fields(response)["Key"] == "case.txt"


def test_an_unencoded_question_mark_starts_the_query_string(
    client, public_bucket, put_object
):
    put_object(public_bucket, "what?.txt", b"question")

    response = client.get("/alice-public/what?.txt")

    assert response.status_code == 404
    assert error_fields(response)["Key"] == "what"


def test_a_query_string_does_not_change_the_key(client, hello):
    response = client.get("/alice-public/hello.txt?versionId=null&x=2")

    assert body_of(response) == HELLO


# --- Ranges ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("range_header", "content_range", "content"),
    [
        ("bytes=0-4", "bytes 0-4/11", b"hello"),
        ("bytes=6-", "bytes 6-10/11", b"world"),
        ("bytes=5-", "bytes 5-10/11", b" world"),
        ("bytes=-3", "bytes 8-10/11", b"rld"),
        ("bytes=10-10", "bytes 10-10/11", b"d"),
        ("bytes=0-0", "bytes 0-0/11", b"h"),
        ("bytes=6-100", "bytes 6-10/11", b"world"),
        ("bytes=0-10", "bytes 0-10/11", b"hello world"),
        ("bytes=-100", "bytes 0-10/11", b"hello world"),
    ],
)
def test_a_single_byte_range_is_partial_content(
    range_header, content_range, content, client, hello
):
    response = client.get("/alice-public/hello.txt", HTTP_RANGE=range_header)

    assert response.status_code == 206
    assert response["Content-Range"] == content_range
    assert response["Content-Length"] == str(len(content))
    assert response["ETag"] == HELLO_ETAG
    assert response["Content-Type"] == "text/plain"
    assert body_of(response) == content


@pytest.mark.parametrize("range_header", ["bytes=11-", "bytes=20-30", "bytes=-0"])
def test_a_range_past_the_end_is_invalid_range(range_header, client, hello):
    response = client.get("/alice-public/hello.txt", HTTP_RANGE=range_header)

    assert response.status_code == 416
    assert response["Content-Range"] == "bytes */11"
    assert error_fields(response) == {
        "Code": "InvalidRange",
        "Message": "The requested range cannot be satisfied.",
        "RequestId": response["x-oss-request-id"],
        "HostId": "testserver",
        "ActualObjectSize": "11",
    }


@pytest.mark.parametrize(
    "range_header",
    [
        "bytes=4-2",
        "bytes=20-5",
        "bytes=0-1,3-4",
        "bytes=abc",
        "bytes=-",
        "pages=0-4",
        "bytes 0-4",
        "0-4",
        "",
    ],
)
def test_a_malformed_or_multi_part_range_is_ignored(range_header, client, hello):
    response = client.get("/alice-public/hello.txt", HTTP_RANGE=range_header)

    assert response.status_code == 200
    assert "Content-Range" not in response.headers
    assert response["Content-Length"] == "11"
    assert body_of(response) == HELLO


def test_any_range_of_an_empty_object_is_invalid(client, public_bucket, put_object):
    put_object(public_bucket, "empty", b"")

    response = client.get("/alice-public/empty", HTTP_RANGE="bytes=0-0")

    assert response.status_code == 416
    assert error_fields(response)["ActualObjectSize"] == "0"


def test_a_range_across_chunk_boundaries_is_served_exactly(
    client, public_bucket, put_object
):
    data = bytes(range(256)) * 3000
    put_object(public_bucket, "big.bin", data)

    response = client.get("/alice-public/big.bin", HTTP_RANGE="bytes=100-600099")

    assert response.status_code == 206
    assert response["Content-Range"] == "bytes 100-600099/768000"
    assert body_of(response) == data[100:600100]


def test_head_with_a_range_describes_the_part(client, hello):
    response = client.head("/alice-public/hello.txt", HTTP_RANGE="bytes=0-4")

    assert response.status_code == 206
    assert response["Content-Range"] == "bytes 0-4/11"
    assert response["Content-Length"] == "5"
    assert body_of(response) == b""


@pytest.mark.parametrize(
    ("if_range", "status", "content"),
    [
        (HELLO_ETAG, 206, b"hello"),
        ('"0123456789ABCDEF0123456789ABCDEF"', 200, HELLO),
        ("W/" + HELLO_ETAG, 200, HELLO),  # If-Range needs a strong match
        (LAST_MODIFIED_HTTP, 206, b"hello"),
        ("Wed, 01 Jan 2031 00:00:00 GMT", 200, HELLO),  # dates must match exactly
        ("Mon, 01 Jan 2024 00:00:00 GMT", 200, HELLO),
        ("not a date", 200, HELLO),
    ],
)
def test_if_range_honours_the_range_only_while_the_validator_matches(
    if_range, status, content, client, hello
):
    response = client.get(
        "/alice-public/hello.txt", HTTP_RANGE="bytes=0-4", HTTP_IF_RANGE=if_range
    )

    assert response.status_code == status
    assert body_of(response) == content


# --- Conditional requests --------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({"HTTP_IF_NONE_MATCH": HELLO_ETAG}, 304),
        ({"HTTP_IF_NONE_MATCH": '"0000"'}, 200),
        ({"HTTP_IF_NONE_MATCH": f'"0000", {HELLO_ETAG}'}, 304),
        ({"HTTP_IF_NONE_MATCH": "*"}, 304),
        ({"HTTP_IF_MODIFIED_SINCE": LAST_MODIFIED_HTTP}, 304),
        ({"HTTP_IF_MODIFIED_SINCE": "Wed, 01 Jan 2031 00:00:00 GMT"}, 304),
        ({"HTTP_IF_MODIFIED_SINCE": "Mon, 01 Jan 2024 00:00:00 GMT"}, 200),
        ({"HTTP_IF_MODIFIED_SINCE": "not a date"}, 200),
        (
            # If-None-Match wins over If-Modified-Since.
            {
                "HTTP_IF_NONE_MATCH": '"0000"',
                "HTTP_IF_MODIFIED_SINCE": "Wed, 01 Jan 2031 00:00:00 GMT",
            },
            200,
        ),
        ({"HTTP_IF_MATCH": HELLO_ETAG}, 200),
        ({"HTTP_IF_MATCH": "*"}, 200),
        ({"HTTP_IF_UNMODIFIED_SINCE": LAST_MODIFIED_HTTP}, 200),
        ({"HTTP_IF_MATCH": HELLO_ETAG, "HTTP_IF_NONE_MATCH": HELLO_ETAG}, 304),
    ],
)
def test_conditional_gets(headers, status, client, hello):
    response = client.get("/alice-public/hello.txt", **headers)

    assert response.status_code == status
    assert body_of(response) == (HELLO if status == 200 else b"")


def test_not_modified_keeps_the_validators(client, hello):
    response = client.get("/alice-public/hello.txt", HTTP_IF_NONE_MATCH=HELLO_ETAG)

    assert response.status_code == 304
    assert response["ETag"] == HELLO_ETAG
    assert response["Last-Modified"] == LAST_MODIFIED_HTTP
    assert REQUEST_ID_RE.match(response["x-oss-request-id"])


def test_head_can_be_not_modified(client, hello):
    response = client.head("/alice-public/hello.txt", HTTP_IF_NONE_MATCH=HELLO_ETAG)

    assert response.status_code == 304


def test_a_matching_if_none_match_wins_over_a_range(client, hello):
    response = client.get(
        "/alice-public/hello.txt", HTTP_IF_NONE_MATCH=HELLO_ETAG, HTTP_RANGE="bytes=0-4"
    )

    assert response.status_code == 304


@pytest.mark.parametrize(
    "headers",
    [
        {"HTTP_IF_MATCH": '"0123456789ABCDEF0123456789ABCDEF"'},
        # Unquoted, as oss2's resumable_download sends it: still a condition.
        {"HTTP_IF_MATCH": "0123456789ABCDEF0123456789ABCDEF"},
        {"HTTP_IF_UNMODIFIED_SINCE": "Mon, 01 Jan 2024 00:00:00 GMT"},
    ],
)
def test_a_failed_precondition_is_precondition_failed_xml(headers, client, hello):
    response = client.get("/alice-public/hello.txt", **headers)

    assert response.status_code == 412
    assert error_fields(response) == {
        "Code": "PreconditionFailed",
        "Message": "At least one of the pre-conditions you specified did not hold.",
        "RequestId": response["x-oss-request-id"],
        "HostId": "testserver",
        "Condition": "If-Match/If-Unmodified-Since",
    }


@pytest.mark.parametrize(
    "header", ["HTTP_IF_MATCH", "HTTP_IF_NONE_MATCH"], ids=["if-match", "if-none-match"]
)
def test_an_unquoted_etag_is_compared_like_a_quoted_one(header, client, hello):
    response = client.get("/alice-public/hello.txt", **{header: HELLO_ETAG.strip('"')})

    assert response.status_code == (200 if header == "HTTP_IF_MATCH" else 304)


# --- Virtual-host style ----------------------------------------------------


@pytest.mark.parametrize(
    "host",
    [
        "alice-public.oss.test",
        "alice-public.oss.test:8000",
        "ALICE-PUBLIC.OSS.TEST",
    ],
)
def test_virtual_host_style_names_the_bucket_in_the_host(host, settings, client, hello):
    settings.OSS_DOMAIN = "oss.test"  # read when the client builds its middleware

    response = client.get("/hello.txt", HTTP_HOST=host)

    assert response.status_code == 200
    assert body_of(response) == HELLO


def test_virtual_host_style_keeps_folders_in_the_key(
    settings, client, public_bucket, put_object
):
    put_object(public_bucket, "a/b/c.txt", b"nested")
    settings.OSS_DOMAIN = "oss.test"

    response = client.get("/a/b%2Fc.txt", HTTP_HOST="alice-public.oss.test")

    assert body_of(response) == b"nested"


def test_virtual_host_style_applies_the_bucket_acl(
    settings, client, bucket, put_object
):
    put_object(bucket, "secret.txt", b"secret")
    settings.OSS_DOMAIN = "oss.test"

    response = client.get("/secret.txt", HTTP_HOST="alice-bucket.oss.test")

    assert response.status_code == 403
    assert error_fields(response)["Code"] == "AccessDenied"


def test_virtual_host_style_for_a_missing_bucket_is_no_such_bucket(
    settings, client, db
):
    settings.OSS_DOMAIN = "oss.test"

    response = client.get("/a.txt", HTTP_HOST="nobody.oss.test")

    assert response.status_code == 404
    assert error_fields(response)["BucketName"] == "nobody"


@pytest.mark.parametrize("host", ["oss.test", "testserver", "a.alice-public.oss.test"])
def test_path_style_still_works_on_other_hosts(host, settings, client, hello):
    settings.OSS_DOMAIN = "oss.test"

    response = client.get("/alice-public/hello.txt", HTTP_HOST=host)

    assert body_of(response) == HELLO


def test_without_an_oss_domain_the_host_is_not_a_bucket(settings, client, hello):
    settings.OSS_DOMAIN = ""

    response = client.get("/hello.txt", HTTP_HOST="alice-public.oss.test")

    # Path style: the first segment is the bucket, whatever the Host says.
    assert response.status_code == 404
    assert error_fields(response)["Code"] == "NoSuchBucket"
    assert error_fields(response)["BucketName"] == "hello.txt"


# --- What is not an object URL ----------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        "/console/x",
        "/console/buckets/alice-public/",
        "/api/v1/buckets",
        "/admin/x",
        "/static/x.js",
        "/accounts/x",
        "/healthz/x",
    ],
)
def test_reserved_first_segments_are_not_oss_urls(path, client, hello):
    response = client.get(path)

    assert "x-oss-request-id" not in response.headers


@pytest.mark.parametrize(
    "bucket_name", ["consoles", "api-docs", "staticfiles", "healthz2", "admin1"]
)
def test_names_that_merely_start_with_a_reserved_word_are_buckets(
    bucket_name, client, db
):
    response = client.get(f"/{bucket_name}/x")

    assert response.status_code == 404
    assert error_fields(response)["BucketName"] == bucket_name


def test_a_browser_at_the_root_is_sent_to_the_console(client):
    response = client.get("/", HTTP_ACCEPT="text/html,application/xhtml+xml")

    assert response.status_code == 302
    assert response["Location"] == "/console/"


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"HTTP_ACCEPT": "application/xml"},
    ],
)
def test_an_anonymous_api_call_at_the_root_is_access_denied(headers, client):
    response = client.get("/", **headers)

    assert response.status_code == 403
    assert error_fields(response) == {
        "Code": "AccessDenied",
        "Message": "Anonymous access is forbidden for this operation.",
        "RequestId": response["x-oss-request-id"],
        "HostId": "testserver",
    }


@pytest.mark.django_db
def test_healthz_reports_database_and_storage(client):
    response = client.get("/healthz")

    assert response.status_code == 200
    expected = {"status": "ok", "database": "ok", "storage": "ok"}
    if settings.OBJECT_STORAGE == "s3":  # make test-s3: the store answers too
        expected["object_store"] = "ok"
    assert response.json() == expected


@pytest.mark.parametrize("path", ["/alice-public", "/alice-public/"])
def test_a_bucket_root_is_the_bucket_listing(path, client, hello):
    response = client.get(path)

    assert response.status_code == 200
    assert b"<ListBucketResult>" in response.content
    assert b"<Key>hello.txt</Key>" in response.content
    assert len(response["x-oss-request-id"]) == 24


@pytest.mark.parametrize("method", ["put", "delete"])
def test_anonymous_writes_to_a_public_read_bucket_are_denied(method, client, hello):
    response = getattr(client, method)(
        "/alice-public/hello.txt", data=b"evil", content_type="text/plain"
    )

    assert response.status_code == 403
    assert error_fields(response)["Code"] == "AccessDenied"
    assert body_of(client.get("/alice-public/hello.txt")) == b"hello world"


# --- Hostile numbers: absurdly long or non-ASCII digits get a 4xx, never a 500 ----------

NINES = "9" * 4301  # Python refuses int() of more than 4300 digits


@pytest.mark.parametrize(
    ("range_header", "content_range", "content"),
    [
        (f"bytes=0-{NINES}", "bytes 0-10/11", b"hello world"),  # the end clamps
        (f"bytes=6-{NINES}", "bytes 6-10/11", b"world"),
        (f"bytes=-{NINES}", "bytes 0-10/11", b"hello world"),  # the whole object
        (f"bytes={'0' * 5000}6-", "bytes 6-10/11", b"world"),  # leading zeros
    ],
)
def test_a_range_with_a_huge_end_or_suffix_is_clamped_to_the_object(
    range_header, content_range, content, client, hello
):
    response = client.get("/alice-public/hello.txt", HTTP_RANGE=range_header)

    assert response.status_code == 206
    assert response["Content-Range"] == content_range
    assert body_of(response) == content


@pytest.mark.parametrize(
    "range_header",
    [f"bytes={NINES}-", f"bytes={NINES}-{NINES}", "bytes=1000000000000000000000-"],
)
def test_a_range_with_a_huge_start_is_invalid_range(range_header, client, hello):
    response = client.get("/alice-public/hello.txt", HTTP_RANGE=range_header)

    assert response.status_code == 416
    assert error_fields(response)["Code"] == "InvalidRange"
    assert response["Content-Range"] == "bytes */11"


@pytest.mark.parametrize(
    "range_header",
    ["bytes=\u0663-\u0665", "bytes=\u00b2-", "bytes=-\u00b2", "bytes=\uff11-"],
    ids=["arabic-indic", "superscript", "superscript-suffix", "fullwidth"],
)
def test_a_range_with_non_ascii_digits_is_ignored(range_header, client, hello):
    response = client.get("/alice-public/hello.txt", HTTP_RANGE=range_header)

    assert response.status_code == 200
    assert body_of(response) == HELLO


@pytest.mark.parametrize(
    "max_keys", [NINES, "1001", "\u00b2", "\u0661", "-1", "1e3", " 5", "x"]
)
def test_max_keys_outside_0_to_1000_is_invalid_argument(max_keys, client, hello):
    response = client.get("/alice-public", {"max-keys": max_keys})

    assert response.status_code == 400
    assert error_fields(response)["Code"] == "InvalidArgument"
    assert error_fields(response)["ArgumentName"] == "max-keys"


def test_max_keys_with_leading_zeros_is_read_as_decimal(client, hello):
    response = client.get("/alice-public", {"max-keys": "0" * 5000 + "1"})

    assert response.status_code == 200
    assert b"<MaxKeys>1</MaxKeys>" in response.content


@pytest.mark.parametrize(
    "position", [NINES, "\u00b2", "\u0661", "-1", "+1", "1.0", "", "0x0"]
)
def test_an_append_position_that_is_not_a_small_decimal_is_invalid_argument(
    position, client, open_bucket
):
    response = client.post(
        f"/open-bucket/log.txt?append&position={quote(position)}",
        data=b"abc",
        content_type="text/plain",
    )

    assert response.status_code == 400
    assert error_fields(response)["Code"] == "InvalidArgument"
    assert error_fields(response)["ArgumentName"] == "position"
    assert not StoredObject.objects.filter(key="log.txt").exists()


def test_an_append_position_with_leading_zeros_is_read_as_decimal(client, open_bucket):
    response = client.post(
        f"/open-bucket/log.txt?append&position={'0' * 5000}",
        data=b"abc",
        content_type="text/plain",
    )

    assert response.status_code == 200
    assert response["x-oss-next-append-position"] == "3"
