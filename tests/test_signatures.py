"""V1 and V4 signature verification, in process, through the OSS endpoint.

Valid requests are signed by oss2's own signers; the edge cases oss2 will not
produce (old dates, odd Authorization headers) by the reference signers in
tests/signing.py, written from the reference (§4.2, §4.3) and checked against oss2
first, here.
"""

import hashlib
import hmac
import logging
import xml.etree.ElementTree as ET
from datetime import timedelta
from email.utils import format_datetime
from urllib.parse import parse_qsl, urlencode, urlsplit

import oss2
import pytest
from django.test import Client

from buckets import signatures
from buckets.models import AccessKey
from tests.oss_responses import error_fields
from tests.signing import (
    content_md5,
    now,
    oss2_auth,
    presigned_path,
    send_signed,
    sign_request,
    v1_headers,
    v4_date,
    v4_headers,
    v4_presigned_query,
    v4_signature,
)

pytestmark = pytest.mark.django_db

BUCKET = "alice-bucket"  # conftest's `bucket`


@pytest.fixture
def client():
    return Client()


# -- sending --------------------------------------------------------------------------


def send(client, method, path, headers=None, body=b"", query=""):
    """Send with the Django test client, which (unlike runserver) adds no Content-Type."""
    headers = {name: value for name, value in (headers or {}).items() if value}
    return client.generic(
        method, f"{path}?{query}" if query else path, data=body, headers=headers
    )


def send_url(client, url, method="GET"):
    parts = urlsplit(url)
    return send(client, method, parts.path, query=parts.query)


def assert_error(response, status, code):
    assert (response.status_code, error_fields(response)["Code"]) == (status, code), (
        response.content
    )


# -- the reference signers -----------------------------------------------------------------


def test_the_reference_signers_agree_with_oss2(alice_key):
    key_id, secret = alice_key
    headers = {"Content-Type": "text/plain", "x-oss-meta-Color": "blue"}
    params = {"acl": "", "prefix": "a b/"}

    v1 = sign_request(
        oss2.Auth(*alice_key),
        "PUT",
        BUCKET,
        "dir/ü x.txt",
        params=params,
        headers=headers,
    )
    v4 = sign_request(
        oss2.AuthV4(*alice_key),
        "PUT",
        BUCKET,
        "dir/ü x.txt",
        params=params,
        headers=headers,
    )

    expected_v1 = v1_headers(
        alice_key,
        "PUT",
        f"/{BUCKET}/dir/ü x.txt?acl",
        v1.headers["date"],
        {"Content-Type": "text/plain", "x-oss-meta-Color": "blue"},
    )["Authorization"]
    assert v1.headers["authorization"] == expected_v1
    signature = v4_signature(
        secret,
        "PUT",
        f"/{BUCKET}/dir/ü x.txt",
        list(params.items()),
        dict(v4.headers),
        v4.headers["x-oss-date"],
    )
    assert v4.headers["authorization"].endswith(f"Signature={signature}")


# -- valid header signatures ---------------------------------------------------------


@pytest.fixture(params=["v1", "v4"])
def auth(request, alice_key):
    return oss2_auth(alice_key, request.param)


def test_valid_header_signatures_are_accepted_for_every_kind_of_request(
    client, auth, bucket
):
    data = b"signed upload"
    put = sign_request(
        auth,
        "PUT",
        BUCKET,
        "dir/ünï cøde+1.txt",
        headers={
            "Content-Type": "text/plain",
            "Content-MD5": content_md5(data),
            "x-oss-meta-Color": "blue",
        },
        body=data,
    )
    assert send_signed(client, put).status_code == 200

    for request in [
        sign_request(auth, "GET", BUCKET, "dir/ünï cøde+1.txt"),
        sign_request(auth, "HEAD", BUCKET, "dir/ünï cøde+1.txt"),
        sign_request(
            auth,
            "GET",
            BUCKET,
            "dir/ünï cøde+1.txt",
            params={"response-content-disposition": 'attachment; filename="a b.txt"'},
        ),
        sign_request(auth, "GET", BUCKET, params={"acl": ""}),
        sign_request(auth, "GET", BUCKET, params={"bucketInfo": ""}),
        sign_request(
            auth,
            "GET",
            BUCKET,
            params={"prefix": "dir/", "delimiter": "/", "encoding-type": "url"},
        ),
        sign_request(auth, "GET", params={"prefix": "", "max-keys": "10"}),
    ]:
        response = send_signed(client, request)
        assert response.status_code == 200, (
            request.method,
            request.params,
            response.content,
        )


def test_v4_additional_headers_are_signed_in_either_order(client, alice_key, bucket):
    auth = oss2.AuthV4(*alice_key)
    headers = {"aaa-header": "1", "aab-header": "2", "zzz-header": "3"}
    # oss2 sorts AdditionalHeaders by first letter only; the server must sort fully.
    unsorted = sign_request(
        auth,
        "GET",
        BUCKET,
        params={"acl": ""},
        headers=headers,
        additional_headers=["zzz-header", "aab-header", "aaa-header"],
    )
    in_order = sign_request(
        auth,
        "GET",
        BUCKET,
        params={"acl": ""},
        headers=headers,
        additional_headers=["aaa-header", "zzz-header"],
    )
    assert unsorted.headers["authorization"].endswith(
        "AdditionalHeaders=aab-header;aaa-header;zzz-header"
    )

    assert send_signed(client, unsorted).status_code == 200
    assert send_signed(client, in_order).status_code == 200
    # The Python SDK v2 puts AdditionalHeaders first and writes "," without a space.
    credential, signature, additional = in_order.headers["authorization"].split(", ")
    in_order.headers["authorization"] = f"{credential},{additional},{signature}"
    assert send_signed(client, in_order).status_code == 200


def test_v4_additional_headers_are_covered_by_the_signature(client, alice_key, bucket):
    request = sign_request(
        oss2.AuthV4(*alice_key),
        "GET",
        BUCKET,
        params={"acl": ""},
        headers={"aaa-header": "signed", "other-header": "free"},
        additional_headers=["aaa-header"],
    )
    request.headers["other-header"] = "changed"  # not signed: may change
    assert send_signed(client, request).status_code == 200

    request.headers["aaa-header"] = "tampered"
    assert_error(send_signed(client, request), 403, "SignatureDoesNotMatch")


def test_v4_empty_additional_headers_is_invalid_argument(client, alice_key, bucket):
    request = sign_request(oss2.AuthV4(*alice_key), "GET", BUCKET, params={"acl": ""})
    request.headers["authorization"] += ", AdditionalHeaders="

    response = send_signed(client, request)

    assert_error(response, 400, "InvalidArgument")
    assert error_fields(response)["ArgumentName"] == "AdditionalHeaders"


def test_v4_payload_hash_other_than_unsigned_payload_is_refused(
    client, alice_key, bucket
):
    body_hash = hashlib.sha256(b"").hexdigest()
    # Correctly signed over the hash, and still refused: only UNSIGNED-PAYLOAD is supported.
    headers = v4_headers(
        alice_key, "GET", f"/{BUCKET}/", sha=body_hash, query=[("acl", "")]
    )

    response = send(client, "GET", f"/{BUCKET}/", headers, query="acl=")

    assert_error(response, 400, "InvalidArgument")
    assert error_fields(response)["ArgumentName"] == "x-oss-content-sha256"


def test_v4_credential_date_must_match_x_oss_date(client, alice_key, bucket):
    yesterday = (now() - timedelta(days=1)).strftime("%Y%m%d")
    headers = v4_headers(
        alice_key, "GET", f"/{BUCKET}/", credential_date=yesterday, query=[("acl", "")]
    )

    response = send(client, "GET", f"/{BUCKET}/", headers, query="acl=")

    assert_error(response, 400, "InvalidArgument")
    assert error_fields(response)["ArgumentName"] == "Credential"


def test_the_hand_made_v4_header_is_accepted(client, alice_key, bucket):
    headers = v4_headers(alice_key, "GET", f"/{BUCKET}/", query=[("acl", "")])

    assert send(client, "GET", f"/{BUCKET}/", headers, query="acl=").status_code == 200


@pytest.mark.parametrize("version", ["v1", "v4"])
def test_virtual_host_style_requests_sign_the_bucket_in_the_resource(
    settings, alice_key, stored_object, version
):
    settings.OSS_DOMAIN = "oss.test"
    host = f"{BUCKET}.oss.test"
    # The Host header is signed too (V4 AdditionalHeaders), as a v2 SDK client may do.
    request = sign_request(
        oss2_auth(alice_key, version),
        "GET",
        BUCKET,
        "shared/report.txt",
        headers={"Host": host},
        additional_headers=["host"] if version == "v4" else None,
    )

    response = send(Client(), "GET", "/shared/report.txt", dict(request.headers))

    assert response.status_code == 200
    assert b"".join(response.streaming_content) == b"presigned bytes"


# -- clock skew and dates ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("offset_minutes", "accepted"),
    [(-16, False), (16, False), (-14, True), (14, True)],
)
def test_v1_date_more_than_15_minutes_off_is_request_time_too_skewed(
    client, alice_key, bucket, offset_minutes, accepted
):
    date = format_datetime(now() + timedelta(minutes=offset_minutes), usegmt=True)
    headers = v1_headers(alice_key, "GET", f"/{BUCKET}/?acl", date)

    response = send(client, "GET", f"/{BUCKET}/", headers, query="acl=")

    if accepted:
        assert response.status_code == 200
    else:
        assert_error(response, 403, "RequestTimeTooSkewed")
        assert error_fields(response)["RequestTime"] == date


def test_v1_x_oss_date_takes_the_place_of_date_and_is_checked_too(
    client, alice_key, bucket
):
    old = format_datetime(now() - timedelta(minutes=20), usegmt=True)
    # oss2 signs x-oss-date in place of its own fresh Date header.
    request = sign_request(
        oss2.Auth(*alice_key),
        "GET",
        BUCKET,
        params={"acl": ""},
        headers={"x-oss-date": old},
    )

    assert_error(send_signed(client, request), 403, "RequestTimeTooSkewed")


@pytest.mark.parametrize(
    ("offset_minutes", "accepted"),
    [(-16, False), (16, False), (-14, True), (14, True)],
)
def test_v4_x_oss_date_more_than_15_minutes_off_is_request_time_too_skewed(
    client, alice_key, bucket, offset_minutes, accepted
):
    moment = now() + timedelta(minutes=offset_minutes)
    headers = v4_headers(
        alice_key, "GET", f"/{BUCKET}/", moment=moment, query=[("acl", "")]
    )

    response = send(client, "GET", f"/{BUCKET}/", headers, query="acl=")

    if accepted:
        assert response.status_code == 200
    else:
        assert_error(response, 403, "RequestTimeTooSkewed")


@pytest.mark.parametrize(
    "date_value", ["", "yesterday", "Mon, 99 Foo 2024 25:61:00 GMT"]
)
def test_v1_missing_or_invalid_date_is_access_denied(
    client, alice_key, bucket, date_value
):
    headers = v1_headers(alice_key, "GET", f"/{BUCKET}/?acl", date_value)

    assert_error(
        send(client, "GET", f"/{BUCKET}/", headers, query="acl="), 403, "AccessDenied"
    )


def test_v4_invalid_x_oss_date_is_invalid_argument(client, alice_key, bucket):
    request = sign_request(oss2.AuthV4(*alice_key), "GET", BUCKET, params={"acl": ""})
    request.headers["x-oss-date"] = "yesterday"

    assert_error(send_signed(client, request), 400, "InvalidArgument")


@pytest.mark.parametrize(
    "authorization",
    [
        "OSS no-colon-here",
        "OSS :signature-without-key",
        "OSS key-without-signature:",
        "OSS4-HMAC-SHA256 Signature=abc",
        "OSS4-HMAC-SHA256 Credential=LTAIx/20240101/cn-hangzhou/oss, Signature=abc",
        "OSS4-HMAC-SHA256 Credential=LTAIx/2024-01-01/cn-hangzhou/oss/aliyun_v4_request, Signature=abc",
        "Bearer some-token",
    ],
)
def test_malformed_authorization_is_invalid_argument(client, bucket, authorization):
    headers = {
        "Authorization": authorization,
        "Date": format_datetime(now(), usegmt=True),
        "x-oss-date": v4_date(now()) if authorization.startswith("OSS4") else "",
        "x-oss-content-sha256": "UNSIGNED-PAYLOAD",
    }

    response = send(client, "GET", f"/{BUCKET}/", headers, query="acl=")

    assert_error(response, 400, "InvalidArgument")


# -- presigned URLs ---------------------------------------------------------------------


@pytest.fixture
def stored_object(bucket, put_object):
    return put_object(bucket, "shared/report.txt", b"presigned bytes")


def presigned(alice_key, version, expires, key="shared/report.txt", params=None):
    return presigned_path(
        alice_key, BUCKET, key, version=version, expires=expires, params=params
    )


@pytest.mark.parametrize("version", ["v1", "v4"])
def test_presigned_url_is_accepted(client, alice_key, stored_object, version):
    response = send_url(client, presigned(alice_key, version, 60))

    assert response.status_code == 200
    assert b"".join(response.streaming_content) == b"presigned bytes"


@pytest.mark.parametrize("version", ["v1", "v4"])
def test_presigned_url_with_a_tampered_signature_is_refused(
    client, alice_key, stored_object, version
):
    parts = urlsplit(presigned(alice_key, version, 60))
    query = dict(parse_qsl(parts.query))
    name = "x-oss-signature" if version == "v4" else "Signature"
    # Another character of the same alphabet (hex for V4, base64 for V1).
    query[name] = ("1" if query[name][0] == "0" else "0") + query[name][1:]

    response = send(client, "GET", parts.path, query=urlencode(query))

    assert_error(response, 403, "SignatureDoesNotMatch")


@pytest.mark.parametrize("version", ["v1", "v4"])
def test_presigned_url_for_another_key_is_refused(
    client, alice_key, stored_object, version
):
    parts = urlsplit(presigned(alice_key, version, 60, key="shared/other.txt"))

    response = send(client, "GET", "/alice-bucket/shared/report.txt", query=parts.query)

    assert_error(response, 403, "SignatureDoesNotMatch")


def test_expired_v1_presigned_url_is_access_denied(client, alice_key, stored_object):
    response = send_url(client, presigned(alice_key, "v1", -1))

    assert_error(response, 403, "AccessDenied")
    assert error_fields(response)["Message"] == "Request has expired."


def test_v4_presigned_url_expires_after_x_oss_expires_seconds(
    client, alice_key, stored_object
):
    path = f"/{BUCKET}/shared/report.txt"
    fresh = v4_presigned_query(
        alice_key, "GET", path, now() - timedelta(seconds=30), 60
    )
    stale = v4_presigned_query(alice_key, "GET", path, now() - timedelta(hours=2), 60)

    assert send(client, "GET", path, query=fresh).status_code == 200
    assert_error(send(client, "GET", path, query=stale), 403, "AccessDenied")


def test_presigned_response_overrides_are_signed(client, alice_key, stored_object):
    url = presigned(
        alice_key,
        "v1",
        60,
        params={"response-content-disposition": "attachment; filename=x.txt"},
    )
    parts = urlsplit(url)
    assert send(client, "GET", parts.path, query=parts.query).status_code == 200

    changed = parts.query.replace("filename%3Dx.txt", "filename%3Devil.exe")
    assert changed != parts.query
    assert_error(
        send(client, "GET", parts.path, query=changed), 403, "SignatureDoesNotMatch"
    )


# -- the V1 canonical resource ------------------------------------------------------------


def v1_request(client, alice_key, method, resource, path, query, extra=None, body=b""):
    date = format_datetime(now(), usegmt=True)
    headers = v1_headers(alice_key, method, resource, date, extra)
    return send(client, method, path, headers, body, query)


def test_v1_sub_resources_are_part_of_the_canonical_resource(client, alice_key, bucket):
    signed_without = v1_request(
        client, alice_key, "GET", f"/{BUCKET}/", f"/{BUCKET}/", "acl="
    )
    signed_with = v1_request(
        client, alice_key, "GET", f"/{BUCKET}/?acl", f"/{BUCKET}/", "acl="
    )

    assert_error(signed_without, 403, "SignatureDoesNotMatch")
    assert error_fields(signed_without)["StringToSign"].endswith(f"/{BUCKET}/?acl")
    assert signed_with.status_code == 200


def test_v1_put_website_signs_the_website_sub_resource(client, alice_key, bucket):
    body = (
        b"<WebsiteConfiguration><IndexDocument><Suffix>index.html</Suffix>"
        b"</IndexDocument></WebsiteConfiguration>"
    )

    response = v1_request(
        client,
        alice_key,
        "PUT",
        f"/{BUCKET}/?website",
        f"/{BUCKET}/",
        "website=",
        {"Content-Type": "application/xml"},
        body,
    )

    assert response.status_code == 200


def test_v1_sub_resources_are_sorted_with_raw_values(client, alice_key, stored_object):
    query = urlencode(
        {
            "response-content-type": "text/plain; charset=utf-8",
            "response-cache-control": "no-cache",
        }
    )
    resource = (
        f"/{BUCKET}/shared/report.txt?response-cache-control=no-cache"
        "&response-content-type=text/plain; charset=utf-8"
    )

    response = v1_request(
        client, alice_key, "GET", resource, f"/{BUCKET}/shared/report.txt", query
    )

    assert response.status_code == 200
    assert response["Cache-Control"] == "no-cache"


def test_v1_ordinary_query_parameters_are_not_signed(client, alice_key, bucket):
    response = v1_request(
        client,
        alice_key,
        "GET",
        f"/{BUCKET}/",
        f"/{BUCKET}/",
        "prefix=dir%2F&marker=a&max-keys=5&delimiter=%2F",
    )

    assert response.status_code == 200
    assert ET.fromstring(response.content).findtext("MaxKeys") == "5"


def test_v1_oss_headers_are_signed(client, alice_key, bucket):
    request = sign_request(
        oss2.Auth(*alice_key),
        "PUT",
        BUCKET,
        "meta.txt",
        headers={"x-oss-meta-owner": "alice"},
        body=b"x",
    )
    request.headers["x-oss-meta-owner"] = "mallory"

    assert_error(send_signed(client, request), 403, "SignatureDoesNotMatch")


# -- keys ---------------------------------------------------------------------------------


def test_an_unknown_or_disabled_key_is_invalid_access_key_id(client, alice_key, bucket):
    AccessKey.objects.filter(key_id=alice_key[0]).update(is_active=False)

    for version in ("v1", "v4"):
        request = sign_request(
            oss2_auth(alice_key, version), "GET", BUCKET, params={"acl": ""}
        )
        response = send_signed(client, request)
        assert_error(response, 403, "InvalidAccessKeyId")
        assert error_fields(response)["OSSAccessKeyId"] == alice_key[0]


def test_a_key_of_a_deactivated_user_is_refused(client, alice, alice_key, bucket):
    alice.is_active = False
    alice.save()

    request = sign_request(oss2.Auth(*alice_key), "GET", BUCKET, params={"acl": ""})

    assert_error(send_signed(client, request), 403, "InvalidAccessKeyId")


def test_another_users_key_is_not_the_owner(client, bob, bucket):
    key, secret = AccessKey.create_for(bob)
    request = sign_request(
        oss2.Auth(key.key_id, secret), "GET", BUCKET, params={"acl": ""}
    )

    assert_error(send_signed(client, request), 403, "AccessDenied")


# -- constant time, and secrets kept secret --------------------------------------------------


@pytest.fixture
def compare_digest_calls(monkeypatch):
    """Spy on hmac.compare_digest: the only way signatures should be compared."""
    calls = []
    real = hmac.compare_digest

    def spy(a, b):
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(signatures.hmac, "compare_digest", spy)
    return calls


@pytest.mark.parametrize("version", ["v1", "v4"])
def test_signatures_are_compared_in_constant_time(
    client, alice_key, bucket, compare_digest_calls, version
):
    request = sign_request(
        oss2_auth(alice_key, version), "GET", BUCKET, params={"acl": ""}
    )
    sent_signature = request.headers["authorization"].rsplit(":", 1)[-1]
    if version == "v4":
        sent_signature = request.headers["authorization"].rsplit("Signature=", 1)[-1]

    assert send_signed(client, request).status_code == 200
    assert (
        send_url(client, presigned(alice_key, version, 60, key="none")).status_code
        == 404
    )

    assert len(compare_digest_calls) == 2  # the header request, then the presigned URL
    assert sent_signature.encode() in compare_digest_calls[0]


@pytest.mark.parametrize("version", ["v1", "v4"])
def test_secrets_never_reach_error_bodies_or_logs(
    client, alice_key, bucket, caplog, version
):
    key_id, secret = alice_key
    caplog.set_level(logging.DEBUG)
    wrong = sign_request(
        oss2_auth((key_id, "wrong-" + secret[6:]), version),
        "GET",
        BUCKET,
        params={"acl": ""},
    )
    right = sign_request(
        oss2_auth(alice_key, version), "GET", BUCKET, params={"acl": ""}
    )

    refused = send_signed(client, wrong)
    accepted = send_signed(client, right)

    assert_error(refused, 403, "SignatureDoesNotMatch")
    error = error_fields(refused)
    assert error["StringToSign"]
    assert (
        bytes.fromhex(error["StringToSignBytes"].replace(" ", "")).decode()
        == (error["StringToSign"])
    )
    assert accepted.status_code == 200
    for text in (refused.content.decode(), accepted.content.decode(), caplog.text):
        assert secret not in text
        assert AccessKey.objects.get(key_id=key_id).sealed_secret not in text


@pytest.mark.parametrize("seconds_ahead", [0, 3600])
def test_a_v4_presigned_url_cannot_outlive_seven_days(
    client, bucket, alice_key, seconds_ahead
):
    moment = now() + timedelta(seconds=seconds_ahead)
    query = v4_presigned_query(
        alice_key, "GET", "/alice-bucket/doc.txt", moment, 7 * 24 * 3600 + 1
    )

    response = client.get(f"/alice-bucket/doc.txt?{query}")

    assert response.status_code == 400
    assert error_fields(response)["ArgumentName"] == "x-oss-expires"


def test_a_v4_presigned_url_dated_in_the_future_is_refused(client, bucket, alice_key):
    moment = now() + timedelta(days=2)
    query = v4_presigned_query(alice_key, "GET", "/alice-bucket/doc.txt", moment, 3600)

    response = client.get(f"/alice-bucket/doc.txt?{query}")

    assert response.status_code == 403
    assert error_fields(response)["Code"] == "RequestTimeTooSkewed"


@pytest.mark.parametrize("version", ["v1", "v4"])
def test_a_text_plain_content_type_invented_by_the_wsgi_server_is_tolerated(
    client, bucket, alice_key, version
):
    # wsgiref (runserver, live_server) fills in text/plain when a GET had no Content-Type.
    signed = sign_request(
        oss2_auth(alice_key, version), "GET", "alice-bucket", "doc.txt"
    )
    headers = {**dict(signed.headers), "Content-Type": "text/plain"}

    response = send(client, "GET", "/alice-bucket/doc.txt", headers)

    assert response.status_code == 404
    assert error_fields(response)["Code"] == "NoSuchKey"


@pytest.mark.parametrize("version", ["v1", "v4"])
def test_another_content_type_than_the_signed_one_is_refused(
    client, bucket, alice_key, version
):
    signed = sign_request(
        oss2_auth(alice_key, version), "GET", "alice-bucket", "doc.txt"
    )
    headers = {**dict(signed.headers), "Content-Type": "application/json"}

    response = send(client, "GET", "/alice-bucket/doc.txt", headers)

    assert response.status_code == 403
    assert error_fields(response)["Code"] == "SignatureDoesNotMatch"


# -- hostile numbers: never a 500 --------------------------------------------------------

NINES = "9" * 4301  # Python refuses int() of more than 4300 digits


@pytest.mark.parametrize(
    "expires",
    [pytest.param(NINES, id="4301-nines"), "\u00b2", "\u0663", "-1", "1e9", " 1"],
)
def test_a_v1_presigned_expires_that_is_not_a_decimal_is_invalid_argument(
    client, alice_key, stored_object, expires
):
    parts = urlsplit(presigned(alice_key, "v1", 60))
    query = {**dict(parse_qsl(parts.query)), "Expires": expires}

    response = send(client, "GET", parts.path, query=urlencode(query))

    assert_error(response, 400, "InvalidArgument")
    assert error_fields(response)["ArgumentName"] == "Expires"


@pytest.mark.parametrize(
    "expires",
    [pytest.param(NINES, id="4301-nines"), "\u00b2", "\u0663", "--1", "1e9", "+60"],
)
def test_a_v4_presigned_expires_that_is_not_a_decimal_is_invalid_argument(
    client, alice_key, stored_object, expires
):
    path = f"/{BUCKET}/shared/report.txt"
    query = v4_presigned_query(alice_key, "GET", path, now(), expires)

    response = send(client, "GET", path, query=query)

    assert_error(response, 400, "InvalidArgument")
    assert error_fields(response)["ArgumentName"] == "x-oss-expires"


def test_a_v4_presigned_url_with_a_hugely_negative_expires_has_expired(
    client, alice_key, stored_object
):
    path = f"/{BUCKET}/shared/report.txt"
    query = v4_presigned_query(alice_key, "GET", path, now(), "-" + NINES)

    assert_error(send(client, "GET", path, query=query), 403, "AccessDenied")


@pytest.mark.parametrize(
    "date_value",
    [
        f"Mon, 01 Jan {NINES} 00:00:00 GMT",
        f"Mon, {NINES} Jan 2024 00:00:00 GMT",
        f"Mon, 01 Jan 2024 {NINES}:00:00 GMT",
        f"Mon, 01 Jan 2024 00:00:00 +{NINES}",
        "Mon, 01 Jan 9999 00:00:00 GMT",
    ],
    ids=["year", "day", "hour", "zone", "year-9999"],
)
def test_a_v1_date_with_hostile_numbers_is_refused_with_a_4xx(
    client, alice_key, bucket, date_value
):
    headers = v1_headers(alice_key, "GET", f"/{BUCKET}/?acl", date_value)

    response = send(client, "GET", f"/{BUCKET}/", headers, query="acl=")

    assert 400 <= response.status_code < 500
    assert error_fields(response)["Code"] in ("AccessDenied", "RequestTimeTooSkewed")


@pytest.mark.parametrize(
    "date_time",
    [
        NINES,
        f"2024{NINES}T000000Z",
        "\u0662\u0660\u0662\u0664\u0660\u0661\u0660\u0661T000000Z",
    ],
    ids=["4301-nines", "long-year", "arabic-indic-date"],
)
def test_a_v4_x_oss_date_with_hostile_numbers_is_invalid_argument(
    client, alice_key, bucket, date_time
):
    request = sign_request(oss2.AuthV4(*alice_key), "GET", BUCKET, params={"acl": ""})
    request.headers["x-oss-date"] = date_time

    assert_error(send_signed(client, request), 400, "InvalidArgument")
