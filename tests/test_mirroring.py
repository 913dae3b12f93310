import pytest

from buckets.models import StoredObject
from origin.models import OriginFetch

pytestmark = pytest.mark.django_db


def body_of(response):
    return (
        b"".join(response.streaming_content) if response.streaming else response.content
    )


def test_origin_200_is_streamed_saved_and_tagged(
    alice_client, bucket, origin_server, mirror_rule
):
    origin_server.route(
        "/static/a/b.txt",
        body=b"hello origin",
        headers={"Content-Type": "text/plain", "Cache-Control": "max-age=60"},
    )
    mirror_rule(path="static")
    response = alice_client.get("/alice-bucket/a/b.txt")
    assert response.status_code == 200
    assert response["x-oss-tag"] == "MIRROR"
    assert body_of(response) == b"hello origin"
    saved = StoredObject.objects.get(bucket=bucket, key="a/b.txt")
    assert (saved.mirrored, saved.content_type, saved.cache_control, saved.size) == (
        True,
        "text/plain",
        "max-age=60",
        12,
    )
    again = alice_client.get("/alice-bucket/a/b.txt")
    assert body_of(again) == b"hello origin"
    assert again["x-oss-tag"] == "MIRROR"
    assert len(origin_server.requests_to("/static/a/b.txt")) == 1
    assert OriginFetch.objects.get().outcome == "saved"


def test_origin_404_is_not_saved(alice_client, bucket, origin_server, mirror_rule):
    mirror_rule()
    response = alice_client.get("/alice-bucket/missing.txt")
    assert response.status_code == 404
    assert b"<Code>NoSuchKey</Code>" in response.content
    assert not StoredObject.objects.exists()


def test_truncated_body_cuts_the_client_and_saves_nothing(
    alice_client, bucket, origin_server, mirror_rule, settings
):
    from origin.mirroring import MirrorInterrupted

    origin_server.route("/big.bin", body=b"x" * 300_000, truncate_after=100_000)
    mirror_rule()
    response = alice_client.get("/alice-bucket/big.bin")
    assert response.status_code == 200
    with pytest.raises(MirrorInterrupted):
        body_of(response)
    assert not StoredObject.objects.exists()
    assert list(settings.OBJECT_TMP_DIR.iterdir()) == []


def test_seed_header_rule_reaches_the_origin(alice_client, origin_server, mirror_rule):
    origin_server.route("/k", body=b"k")
    mirror_rule(
        pass_headers=["aaa-header"],
        remove_headers=["bbb-header"],
        set_headers=[["ccc-header", "ccc"]],
    )
    alice_client.get(
        "/alice-bucket/k",
        HTTP_AAA_HEADER="aaa",
        HTTP_BBB_HEADER="bbb",
        HTTP_CCC_HEADER="111",
        HTTP_RANGE="bytes=0-0",
        HTTP_X_OSS_META_A="1",
    )
    received = origin_server.requests_to("/k")[0].headers
    assert received["aaa-header"] == "aaa"
    assert received["ccc-header"] == "ccc"
    assert "bbb-header" not in received
    assert "x-oss-meta-a" not in received
    assert "range" not in received
