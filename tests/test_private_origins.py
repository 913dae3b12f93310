"""MirrorAuth against real private buckets on loopback (SPEC §10): a second instance
of this product as a private OSS origin (V1, and V4 with a region), and SeaweedFS's
S3 gateway as a private S3 origin (SigV4 by botocore). The secret never shows."""

import logging
import uuid

import oss2
import pytest

from buckets.models import StoredObject
from buckets.storage import open_blob
from origin.models import BackToOriginRule, OriginFetch
from tests.origin_server import OriginServer
from tests.server_process import GunicornServer
from tests.signing import REGION, KeyPair

pytestmark = pytest.mark.server

ORIGIN_BUCKET = "private-origin"
KEY = "docs/a b/ü.txt"  # spaces and non-ASCII must be signed as sent
BODY = "private bytes ü".encode()


@pytest.fixture(scope="module")
def oss_origin(tmp_path_factory):
    """A second instance of this product holding a private bucket with one object."""
    gunicorn = GunicornServer(tmp_path_factory.mktemp("oss-origin-data"))
    keys = gunicorn.add_users(("origin-owner",), "x-origin-pass")["origin-owner"]
    gunicorn.start()
    try:
        bucket = oss2.Bucket(
            oss2.Auth(*keys), gunicorn.url, ORIGIN_BUCKET, region=REGION
        )
        bucket.create_bucket()  # private by default
        bucket.put_object(KEY, BODY, headers={"Content-Type": "text/plain"})
        yield gunicorn, keys
    finally:
        gunicorn.stop()


def oss_rule(bucket, server, keys, secret=None, region=""):
    rule = BackToOriginRule(
        bucket=bucket,
        mode="mirror",
        protocol="http",
        host=f"127.0.0.1:{server.port}",
        path=ORIGIN_BUCKET,
        auth_type="OSS",
        auth_access_key_id=keys.key_id,
        auth_region=region,
    )
    rule.apply_auth_secret(secret or keys.secret)
    rule.save_in_order()
    return rule


def fetch(client, key=KEY):
    response = client.get("/alice-bucket/" + key)
    body = (
        b"".join(response.streaming_content) if response.streaming else response.content
    )
    return response.status_code, body


def stored_bytes(bucket, key):
    obj = StoredObject.objects.filter(bucket=bucket, key=key).first()
    if obj is None:
        return None
    with open_blob(obj) as handle:
        return handle.read()


def test_the_private_bucket_refuses_anonymous_reads(
    alice_client, bucket, oss_origin, make_rule, allow_private_origins
):
    server, _keys = oss_origin
    make_rule(
        bucket, protocol="http", host=f"127.0.0.1:{server.port}", path=ORIGIN_BUCKET
    )

    status, body = fetch(alice_client)

    assert status == 424
    assert b"HTTP 403" in body
    assert stored_bytes(bucket, KEY) is None


@pytest.mark.parametrize("region", ["", REGION], ids=["oss-v1", "oss-v4"])
def test_a_private_oss_bucket_is_an_origin_with_mirror_auth(
    alice_client, bucket, oss_origin, allow_private_origins, region, caplog
):
    server, keys = oss_origin
    oss_rule(bucket, server, keys, region=region)

    with caplog.at_level(logging.DEBUG):
        status, body = fetch(alice_client)

    assert (status, body) == (200, BODY)
    assert stored_bytes(bucket, KEY) == BODY
    assert keys.secret not in caplog.text


def test_a_wrong_secret_is_a_mirror_failure_that_never_shows_the_secret(
    alice_client, bucket, oss_origin, allow_private_origins, caplog
):
    server, keys = oss_origin
    oss_rule(bucket, server, keys, secret="wrong-secret-value")

    with caplog.at_level(logging.DEBUG):
        status, body = fetch(alice_client)

    assert status == 424
    assert b"HTTP 403" in body
    assert b"wrong-secret-value" not in body
    assert "wrong-secret-value" not in caplog.text
    logged = OriginFetch.objects.get(bucket=bucket)
    assert "wrong-secret-value" not in logged.message + logged.origin_url


def test_head_on_a_miss_is_signed_too(
    alice_client, bucket, oss_origin, allow_private_origins
):
    server, keys = oss_origin
    rule = oss_rule(bucket, server, keys, region=REGION)
    rule.mirror_head = True
    rule.save()

    response = alice_client.head("/alice-bucket/" + KEY)

    assert response.status_code == 200
    assert response["Content-Length"] == str(len(BODY))
    assert stored_bytes(bucket, KEY) is None


def test_the_rule_api_never_returns_the_secret(
    api, bucket, oss_origin, allow_private_origins
):
    server, keys = oss_origin
    rule = oss_rule(bucket, server, keys)

    listed = api.get("/api/v1/buckets/alice-bucket/rules")
    one = api.get(f"/api/v1/buckets/alice-bucket/rules/{rule.pk}")

    assert listed.status_code == one.status_code == 200
    for response in (listed, one):
        assert keys.secret not in response.content.decode()
        assert rule.auth_sealed_secret not in response.content.decode()
    assert one.json()["auth_access_key_id"] == keys.key_id


def test_credentials_never_follow_a_redirect_to_another_host(
    alice_client, bucket, origin_server, allow_private_origins
):
    other = OriginServer()
    try:
        other.route("/moved.txt", body=b"moved")
        origin_server.route(
            "/a.txt", status=302, headers={"Location": other.url("/moved.txt")}
        )
        rule = BackToOriginRule(
            bucket=bucket,
            protocol="http",
            host=origin_server.netloc,
            auth_type="S3V4",
            auth_access_key_id="AKID",
            auth_region="us-east-1",
        )
        rule.apply_auth_secret("secret-value")
        rule.save_in_order()

        status, body = fetch(alice_client, "a.txt")

        assert (status, body) == (200, b"moved")
        (signed,) = origin_server.requests_to("/a.txt")
        assert signed.headers["authorization"].startswith(
            "AWS4-HMAC-SHA256 Credential=AKID/"
        )
        (unsigned,) = other.requests_to("/moved.txt")
        assert "authorization" not in unsigned.headers
        assert "x-amz-date" not in unsigned.headers
    finally:
        other.close()


# -- a private S3 bucket (SeaweedFS) signed with S3 Signature V4 ---------------------


@pytest.fixture
def s3_origin(seaweed_s3):
    """A fresh private bucket on the SeaweedFS S3 gateway holding KEY (with metadata)."""
    name = f"origin-{uuid.uuid4().hex[:12]}"
    seaweed_s3.create_bucket(name)
    seaweed_s3.put(
        name,
        KEY,
        BODY,
        ContentType="text/plain",
        Metadata={"project": "move"},
    )
    return seaweed_s3, name


def s3_rule(bucket, s3, name, key, **fields):
    rule = BackToOriginRule(
        bucket=bucket,
        protocol="http",
        host=s3.endpoint.removeprefix("http://"),
        path=name,
        auth_type="S3V4",
        auth_access_key_id=key.key_id,
        auth_region=s3.region,
        **fields,
    )
    rule.apply_auth_secret(key.secret)
    rule.save_in_order()
    return rule


def test_a_private_s3_bucket_is_an_origin_with_s3v4_auth(
    alice_client, bucket, s3_origin, allow_private_origins, caplog
):
    s3, name = s3_origin
    s3_rule(bucket, s3, name, s3.reader_key, save_origin_meta=True)

    with caplog.at_level(logging.DEBUG):
        response = alice_client.get("/alice-bucket/" + KEY)
        body = b"".join(response.streaming_content)

    assert (response.status_code, body) == (200, BODY)
    assert response["Content-Type"] == "text/plain"
    stored = StoredObject.objects.get(bucket=bucket, key=KEY)
    assert stored.user_meta == {"project": "move"}  # x-amz-meta-project kept
    assert stored_bytes(bucket, KEY) == BODY
    assert s3.reader_key.secret not in caplog.text


def test_without_auth_the_s3_bucket_refuses_and_nothing_is_saved(
    alice_client, bucket, s3_origin, make_rule, allow_private_origins
):
    s3, name = s3_origin
    make_rule(
        bucket, protocol="http", host=s3.endpoint.removeprefix("http://"), path=name
    )

    status, body = fetch(alice_client)

    assert status == 424
    assert b"HTTP 403" in body
    assert stored_bytes(bucket, KEY) is None


def test_a_wrong_s3_secret_fails_without_showing_it(
    alice_client, bucket, s3_origin, allow_private_origins, caplog
):
    s3, name = s3_origin
    wrong = KeyPair(s3.reader_key.key_id, "not-the-reader-secret")
    s3_rule(bucket, s3, name, wrong)

    with caplog.at_level(logging.DEBUG):
        status, body = fetch(alice_client)

    assert status == 424
    assert b"not-the-reader-secret" not in body
    assert "not-the-reader-secret" not in caplog.text
    assert stored_bytes(bucket, KEY) is None


def test_a_missing_s3_key_is_no_such_key_and_head_is_signed(
    alice_client, bucket, s3_origin, allow_private_origins
):
    s3, name = s3_origin
    s3_rule(bucket, s3, name, s3.reader_key, mirror_head=True)

    assert fetch(alice_client, "not-there.txt")[0] == 404
    head = alice_client.head("/alice-bucket/" + KEY)
    assert (head.status_code, head["Content-Length"]) == (200, str(len(BODY)))
    assert stored_bytes(bucket, KEY) is None
