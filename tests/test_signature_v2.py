"""OSS signature V2 (`OSS2 AccessKeyId:...,AdditionalHeaders:...,Signature:...` and
the presigned `x-oss-signature-version=OSS2` URL), in process, signed by oss2.AuthV2;
and through the live server, the suite's GET that carries a Content-Length."""

import hmac
import time
import uuid
from urllib.parse import parse_qsl, urlencode, urlsplit

import oss2
import pytest
from django.test import Client

from buckets import signatures
from buckets.models import StoredObject
from tests.oss_responses import error_fields
from tests.signing import ENDPOINT, REGION, http_date, send_signed, sign_request

pytestmark = pytest.mark.django_db

BUCKET = "alice-bucket"  # conftest's `bucket`


@pytest.fixture
def client():
    return Client()


@pytest.fixture
def auth_v2(alice_key):
    return oss2.AuthV2(*alice_key)


def assert_error(response, status, code):
    assert (response.status_code, error_fields(response)["Code"]) == (status, code), (
        response.content
    )


def presigned_v2(auth, key, *, method="GET", expires=60, headers=None, additional=None):
    bucket = oss2.Bucket(auth, ENDPOINT, BUCKET, region=REGION)
    url = bucket.sign_url(
        method, key, expires, headers=headers, additional_headers=additional
    )
    parts = urlsplit(url)
    return parts.path, parts.query


def send_path(client, method, path, query, headers=None, body=b"", content_type=""):
    return client.generic(
        method,
        f"{path}?{query}",
        data=body,
        headers=headers or {},
        content_type=content_type,
    )


# -- header signatures ------------------------------------------------------------------


def test_v2_header_signatures_are_accepted_for_puts_gets_and_sub_resources(
    client, auth_v2, bucket
):
    key = "dir/ünï cøde+1 (v2).txt"
    put = sign_request(
        auth_v2,
        "PUT",
        BUCKET,
        key,
        headers={"Content-Type": "text/plain", "x-oss-meta-Colour": "blå"},
        body=b"signed with V2",
    )
    got = sign_request(auth_v2, "GET", BUCKET, key, headers={"Range": "bytes=0-5"})
    listing = sign_request(
        auth_v2, "GET", BUCKET, params={"prefix": "dir/", "max-keys": "10"}
    )
    acl = sign_request(auth_v2, "GET", BUCKET, params={"acl": ""})

    assert send_signed(client, put).status_code == 200
    response = send_signed(client, got)
    assert response.status_code == 206
    assert b"".join(response.streaming_content) == b"signed"
    assert send_signed(client, listing).status_code == 200
    assert send_signed(client, acl).status_code == 200
    assert StoredObject.objects.get(key=key).user_meta == {"colour": "blå"}


def test_v2_signs_every_query_parameter(client, auth_v2, bucket):
    listing = sign_request(auth_v2, "GET", BUCKET, params={"prefix": "a/"})
    path = urlsplit(listing.url).path

    response = client.generic(
        "GET", f"{path}?prefix=b/", headers=dict(listing.headers.items())
    )

    assert_error(response, 403, "SignatureDoesNotMatch")


def test_v2_additional_headers_are_covered_by_the_signature(client, auth_v2, bucket):
    request = sign_request(
        auth_v2,
        "PUT",
        BUCKET,
        "extra.txt",
        headers={"Custom-Header": "abc"},
        body=b"x",
        additional_headers={"custom-header"},
    )
    assert "AdditionalHeaders:custom-header," in request.headers["authorization"]
    request.headers["Custom-Header"] = "changed"

    assert_error(send_signed(client, request), 403, "SignatureDoesNotMatch")
    assert not StoredObject.objects.filter(key="extra.txt").exists()


def test_v2_wrong_secret_is_signature_does_not_match_and_stores_nothing(
    client, alice_key, bucket
):
    wrong = oss2.AuthV2(alice_key.key_id, "not-the-secret")
    request = sign_request(wrong, "PUT", BUCKET, "nope.txt", body=b"data")

    response = send_signed(client, request)

    assert_error(response, 403, "SignatureDoesNotMatch")
    assert error_fields(response)["StringToSign"].startswith("PUT\n")
    assert alice_key.secret not in response.content.decode()
    assert not StoredObject.objects.filter(key="nope.txt").exists()


def test_v2_unknown_access_key_is_invalid_access_key_id(client, bucket):
    request = sign_request(oss2.AuthV2("NoSuchKeyId", "secret"), "GET", BUCKET)

    assert_error(send_signed(client, request), 403, "InvalidAccessKeyId")


def test_v2_x_oss_date_more_than_15_minutes_off_is_request_time_too_skewed(
    client, auth_v2, bucket
):
    stale = http_date().replace(time.strftime("%Y"), str(int(time.strftime("%Y")) - 1))
    request = sign_request(auth_v2, "GET", BUCKET, headers={"x-oss-date": stale})

    response = send_signed(client, request)

    assert_error(response, 403, "RequestTimeTooSkewed")
    assert error_fields(response)["Message"] == (
        "The difference between the request time and the current time is too large."
    )


@pytest.mark.parametrize(
    "authorization",
    ["OSS2 ", "OSS2 AccessKeyId:abc", "OSS2 Signature:abc", "OSS2 garbage"],
)
def test_malformed_v2_authorization_is_invalid_argument(client, bucket, authorization):
    response = client.get(
        f"/{BUCKET}", headers={"Authorization": authorization, "Date": http_date()}
    )

    assert_error(response, 400, "InvalidArgument")


def test_v2_signatures_are_compared_in_constant_time(
    client, auth_v2, bucket, monkeypatch
):
    calls = []
    real = hmac.compare_digest
    monkeypatch.setattr(
        signatures.hmac, "compare_digest", lambda a, b: calls.append(b) or real(a, b)
    )
    request = sign_request(auth_v2, "GET", BUCKET, params={"acl": ""})
    sent = request.headers["authorization"].rsplit("Signature:", 1)[-1]

    assert send_signed(client, request).status_code == 200
    assert calls == [sent.encode()]


# -- presigned URLs ---------------------------------------------------------------------


@pytest.fixture
def stored(bucket, put_object):
    return put_object(bucket, "shared/v2.txt", b"presigned by V2")


def test_a_v2_presigned_url_is_accepted(client, auth_v2, stored):
    path, query = presigned_v2(auth_v2, "shared/v2.txt")
    assert "x-oss-signature-version=OSS2" in query

    response = send_path(client, "GET", path, query)

    assert response.status_code == 200
    assert b"".join(response.streaming_content) == b"presigned by V2"


def test_a_v2_presigned_put_stores_the_object(client, auth_v2, bucket):
    path, query = presigned_v2(
        auth_v2, "up.txt", method="PUT", headers={"Content-Type": "text/plain"}
    )

    response = send_path(
        client, "PUT", path, query, body=b"uploaded", content_type="text/plain"
    )

    assert response.status_code == 200
    assert StoredObject.objects.get(key="up.txt").size == len(b"uploaded")


def test_a_tampered_v2_presigned_url_is_refused(client, auth_v2, stored):
    path, query = presigned_v2(auth_v2, "shared/v2.txt")
    fields = dict(parse_qsl(query))
    signature = fields["x-oss-signature"]
    fields["x-oss-signature"] = ("A" if signature[0] != "A" else "B") + signature[1:]

    response = send_path(client, "GET", path, urlencode(fields))

    assert_error(response, 403, "SignatureDoesNotMatch")


def test_a_v2_presigned_url_for_another_key_is_refused(client, auth_v2, stored):
    _path, query = presigned_v2(auth_v2, "shared/other.txt")

    response = send_path(client, "GET", f"/{BUCKET}/shared/v2.txt", query)

    assert_error(response, 403, "SignatureDoesNotMatch")


def test_an_expired_v2_presigned_url_is_access_denied(client, auth_v2, stored):
    path, query = presigned_v2(auth_v2, "shared/v2.txt", expires=-5)

    response = send_path(client, "GET", path, query)

    assert_error(response, 403, "AccessDenied")
    assert error_fields(response)["Message"] == "Request has expired."


@pytest.mark.parametrize("expires", ["soon", "9" * 40, ""])
def test_a_v2_presigned_expires_that_is_not_a_time_is_invalid_argument(
    client, auth_v2, stored, expires
):
    path, query = presigned_v2(auth_v2, "shared/v2.txt")
    fields = dict(parse_qsl(query))
    fields["x-oss-expires"] = expires

    response = send_path(client, "GET", path, urlencode(fields))

    assert_error(response, 400, "InvalidArgument")


def test_a_v2_presigned_url_without_its_access_key_id_is_invalid_argument(
    client, auth_v2, stored
):
    path, query = presigned_v2(auth_v2, "shared/v2.txt")
    fields = dict(parse_qsl(query))
    del fields["x-oss-access-key-id"]

    response = send_path(client, "GET", path, urlencode(fields))

    assert_error(response, 400, "InvalidArgument")


def test_v2_presigned_additional_headers_must_be_sent_as_signed(
    client, auth_v2, stored
):
    path, query = presigned_v2(
        auth_v2,
        "shared/v2.txt",
        headers={"Custom-Header": "abc"},
        additional={"custom-header"},
    )
    assert "x-oss-additional-headers=custom-header" in query

    good = send_path(client, "GET", path, query, headers={"Custom-Header": "abc"})
    bad = send_path(client, "GET", path, query, headers={"Custom-Header": "xyz"})

    assert good.status_code == 200
    assert_error(bad, 403, "SignatureDoesNotMatch")


# -- through the live server --------------------------------------------------------------


@pytest.mark.server
def test_oss2_authv2_round_trip_with_a_content_length_on_gets(two_user_server):
    """The suite's test_sign_v2_additional_headers: presigned GETs that carry the
    PUT's `Content-Length: 9` but no body, on one keep-alive connection."""
    gunicorn, keys = two_user_server
    bucket = oss2.Bucket(
        oss2.AuthV2(*keys["alice"]), gunicorn.url, f"v2-{uuid.uuid4().hex[:12]}"
    )
    bucket.create_bucket()
    headers = {"Content-Length": "9", "custom-header": "abc"}
    additional = {"Content-Length", "custom-header"}

    for key, extra in (("plain.txt", None), ("additional.txt", additional)):
        put_url = bucket.sign_url(
            "PUT", key, 600, headers=headers, additional_headers=extra
        )
        bucket.put_object_with_url(put_url, "Hello OSS", headers=headers)
        get_url = bucket.sign_url(
            "GET", key, 600, headers=headers, additional_headers=extra
        )
        for _ in range(3):
            got = bucket.get_object_with_url(
                get_url, byte_range=(1, 3), headers=headers
            )
            assert got.read() == b"ell"

    assert bucket.get_object("plain.txt").read() == b"Hello OSS"
