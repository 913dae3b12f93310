"""Listing a mirroring rule's origin for a warm-up job (SPEC §11): a private SeaweedFS
bucket (S3 ListObjectsV2, SigV4) and a second instance of this product (OSS
ListObjects, OSS signature), page by page, keys mapped back through the rule."""

import uuid

import oss2
import pytest

from origin import origin_listing
from origin.models import BackToOriginRule
from tests.server_process import GunicornServer
from tests.signing import REGION

pytestmark = [pytest.mark.server, pytest.mark.django_db]

ORIGIN_BUCKET = "listed-origin"
ORIGIN_KEYS = [
    "docs/a.txt",
    "docs/b b/ü.txt",
    "docs/c.jpg",
    "docs/sub/d.txt",
    "other/e.txt",
]


@pytest.fixture(scope="module")
def oss_origin(tmp_path_factory):
    """A second instance of this product with a private bucket of ORIGIN_KEYS."""
    gunicorn = GunicornServer(tmp_path_factory.mktemp("listed-oss-origin"))
    keys = gunicorn.add_users(("origin-owner",), "x-origin-pass")["origin-owner"]
    gunicorn.start()
    try:
        bucket = oss2.Bucket(
            oss2.Auth(*keys), gunicorn.url, ORIGIN_BUCKET, region=REGION
        )
        bucket.create_bucket()
        for key in ORIGIN_KEYS:
            bucket.put_object(key, key.encode())
        yield gunicorn, keys
    finally:
        gunicorn.stop()


@pytest.fixture
def s3_origin(seaweed_s3):
    name = f"listed-{uuid.uuid4().hex[:12]}"
    seaweed_s3.create_bucket(name)
    for key in ORIGIN_KEYS:
        seaweed_s3.put(name, key, key.encode())
    return seaweed_s3, name


@pytest.fixture
def small_pages(monkeypatch):
    monkeypatch.setattr(origin_listing, "PAGE_SIZE", 2)


def all_pages(rule, prefix=""):
    engine_rule = rule.to_engine()
    keys, marker, pages = [], "", 0
    while True:
        page, marker = origin_listing.list_page(engine_rule, prefix, marker)
        keys += page
        pages += 1
        if not marker:
            return keys, pages


def oss_rule(bucket, server, keys, secret=None, **fields):
    rule = BackToOriginRule(
        bucket=bucket,
        mode="mirror",
        protocol="http",
        host=f"127.0.0.1:{server.port}",
        auth_type="OSS",
        auth_access_key_id=keys.key_id,
        **fields,
    )
    rule.path = fields.get("path", ORIGIN_BUCKET)
    rule.apply_auth_secret(secret or keys.secret)
    rule.save_in_order()
    return rule


def s3_rule(bucket, s3, name, **fields):
    rule = BackToOriginRule(
        bucket=bucket,
        mode="mirror",
        protocol="http",
        host=s3.endpoint.removeprefix("http://"),
        path=fields.pop("path", name),
        auth_type="S3V4",
        auth_access_key_id=s3.reader_key.key_id,
        auth_region=s3.region,
        **fields,
    )
    rule.apply_auth_secret(s3.reader_key.secret)
    rule.save_in_order()
    return rule


def test_a_private_s3_bucket_is_listed_page_by_page(
    bucket, s3_origin, allow_private_origins, small_pages
):
    s3, name = s3_origin
    keys, pages = all_pages(s3_rule(bucket, s3, name))
    assert sorted(keys) == sorted(ORIGIN_KEYS)
    assert pages == 3


def test_a_private_oss_bucket_is_listed_with_its_signature(
    bucket, oss_origin, allow_private_origins, small_pages
):
    server, keys = oss_origin
    listed, pages = all_pages(oss_rule(bucket, server, keys), prefix="docs/")
    assert listed == [key for key in ORIGIN_KEYS if key.startswith("docs/")]
    assert pages == 2


def test_the_rule_maps_origin_keys_back_to_bucket_keys(
    bucket, s3_origin, allow_private_origins
):
    """MirrorURL path `<bucket>/docs`, prefix `files/` replaced by nothing, suffix .txt:
    origin docs/sub/d.txt is the bucket's files/sub/d.txt."""
    s3, name = s3_origin
    rule = s3_rule(
        bucket,
        s3,
        name,
        path=f"{name}/docs",
        key_prefix="files/",
        key_suffix=".txt",
        replace_prefix=True,
        replace_prefix_with="",
    )
    keys, _ = all_pages(rule)
    assert sorted(keys) == ["files/a.txt", "files/b b/ü.txt", "files/sub/d.txt"]
    keys, _ = all_pages(rule, prefix="files/sub")
    assert keys == ["files/sub/d.txt"]


def test_a_wrong_secret_is_a_listing_error_that_never_shows_the_secret(
    bucket, oss_origin, allow_private_origins
):
    server, keys = oss_origin
    rule = oss_rule(bucket, server, keys, secret="not-the-secret-at-all")
    with pytest.raises(origin_listing.ListingError) as refused:
        all_pages(rule)
    assert "HTTP 403" in str(refused.value)
    assert "not-the-secret-at-all" not in str(refused.value)


def test_an_internal_origin_is_refused_when_private_origins_are_not_allowed(
    bucket, s3_origin, settings
):
    s3, name = s3_origin
    settings.ORIGIN_ALLOW_PRIVATE = True
    rule = s3_rule(bucket, s3, name)
    settings.ORIGIN_ALLOW_PRIVATE = False
    # By name, so no pooled connection of another test is reused: the guard checks at connect.
    rule.host = rule.host.replace("127.0.0.1", "localhost")
    with pytest.raises(origin_listing.ListingError) as refused:
        all_pages(rule)
    assert "could not be listed" in str(refused.value)


@pytest.mark.parametrize(
    ("host", "path", "bucket_url", "key_prefix"),
    [
        (
            "b.oss-cn-hangzhou.aliyuncs.com",
            "",
            "http://b.oss-cn-hangzhou.aliyuncs.com/",
            "",
        ),
        (
            "b.oss-cn-hangzhou.aliyuncs.com",
            "img",
            "http://b.oss-cn-hangzhou.aliyuncs.com/",
            "img/",
        ),
        (
            "b.s3.us-east-1.amazonaws.com",
            "x/y",
            "http://b.s3.us-east-1.amazonaws.com/",
            "x/y/",
        ),
        ("127.0.0.1:8333", "bkt", "http://127.0.0.1:8333/bkt/", ""),
        ("127.0.0.1:8333", "bkt/a/b", "http://127.0.0.1:8333/bkt/", "a/b/"),
        ("origin.example.com", "", "http://origin.example.com/", ""),
    ],
)
def test_where_the_origin_bucket_is(host, path, bucket_url, key_prefix):
    rule = BackToOriginRule(mode="mirror", protocol="http", host=host, path=path)
    found = origin_listing.origin_bucket(rule.to_engine())
    assert (found.bucket_url, found.key_prefix) == (bucket_url, key_prefix)
