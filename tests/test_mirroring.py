import base64
import gzip
import hashlib
import threading
import time
from email.utils import formatdate

import pytest
from django.test import Client

from buckets.models import StoredObject
from buckets.storage import open_blob
from origin.engine import FIXED_USER_AGENT
from origin.mirroring import MirrorInterrupted
from origin.models import OriginFetch
from tests.origin_server import unused_port
from tests.oss_responses import body_of, oss_error
from tests.signing import content_md5, presigned_path, v1_headers

pytestmark = pytest.mark.django_db


# -- helpers and fixtures ---------------------------------------------------


@pytest.fixture
def redirect_rule(bucket, make_rule):
    """Make a redirection rule on alice's bucket (to https://www.example.com unless told)."""

    def make(**fields):
        return make_rule(bucket, mode="redirect", **fields)

    return make


def saved_bytes(obj):
    with open_blob(obj) as handle:
        return handle.read()


def assert_nothing_saved(settings):
    """No object row, no leftover temporary file, no orphan blob."""
    assert not StoredObject.objects.exists()
    assert list(settings.OBJECT_TMP_DIR.iterdir()) == []
    assert [p for p in settings.OBJECT_STORAGE_DIR.rglob("*") if p.is_file()] == []


# -- origin 200 --------------------------------------------------------------------


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


SAVED_METADATA = {
    "Content-Type": "text/html; charset=utf-8",
    "Content-Encoding": "gzip",
    "Content-Disposition": 'attachment; filename="report.html"',
    "Content-Language": "en-GB",
    "Cache-Control": "public, max-age=3600",
    "Expires": "Thu, 01 Jan 2037 00:00:00 GMT",
}


def test_saved_metadata_headers_come_back_on_the_mirror_and_later_get_and_head(
    alice_client, bucket, origin_server, mirror_rule
):
    body = gzip.compress(b"<h1>report</h1>")
    origin_server.route(
        "/report.html",
        body=body,
        headers={
            **SAVED_METADATA,
            "ETag": '"origin-etag"',
            "X-Origin-Secret": "not copied",
        },
    )
    mirror_rule()

    mirrored = alice_client.get("/alice-bucket/report.html")
    assert body_of(mirrored) == body
    assert {name: mirrored[name] for name in SAVED_METADATA} == SAVED_METADATA
    assert mirrored["x-oss-tag"] == "MIRROR"
    assert mirrored["Content-Length"] == str(len(body))
    assert len(mirrored["x-oss-request-id"]) == 24

    etag = '"' + hashlib.md5(body).hexdigest().upper() + '"'
    later_get = alice_client.get("/alice-bucket/report.html")
    later_head = alice_client.head("/alice-bucket/report.html")
    for later in (later_get, later_head):
        assert later.status_code == 200
        assert {name: later[name] for name in SAVED_METADATA} == SAVED_METADATA
        assert later["x-oss-tag"] == "MIRROR"
        assert later["ETag"] == etag
        assert "X-Origin-Secret" not in later
    assert body_of(later_get) == body
    assert later_head.content == b""
    assert len(origin_server.requests_to("/report.html")) == 1


def test_content_type_defaults_to_octet_stream(
    alice_client, bucket, origin_server, mirror_rule
):
    origin_server.route("/blob", body=b"\x00\x01")
    mirror_rule()
    response = alice_client.get("/alice-bucket/blob")
    assert body_of(response) == b"\x00\x01"
    assert response["Content-Type"] == "application/octet-stream"
    assert StoredObject.objects.get().content_type == "application/octet-stream"
    assert alice_client.head("/alice-bucket/blob")["Content-Type"] == (
        "application/octet-stream"
    )


def test_gzip_body_is_stored_byte_for_byte_not_decoded(
    alice_client, bucket, origin_server, mirror_rule
):
    body = gzip.compress(b"hello " * 1000)
    origin_server.route(
        "/page.txt",
        body=body,
        headers={"Content-Type": "text/plain", "Content-Encoding": "gzip"},
    )
    mirror_rule()
    response = alice_client.get("/alice-bucket/page.txt")
    assert body_of(response) == body
    saved = StoredObject.objects.get()
    assert (saved.content_encoding, saved.size, saved.md5) == (
        "gzip",
        len(body),
        hashlib.md5(body).hexdigest(),
    )
    assert saved_bytes(saved) == body


# -- origin failures -----------------------------------------------------------


def test_origin_404_is_logged_as_not_found(
    alice_client, bucket, origin_server, mirror_rule, settings
):
    mirror_rule()
    response = alice_client.get("/alice-bucket/gone.txt")
    assert response.status_code == 404
    assert oss_error(response)[0] == "NoSuchKey"
    assert_nothing_saved(settings)
    log = OriginFetch.objects.get()
    assert (log.status_code, log.outcome) == (404, "not_found")


@pytest.mark.parametrize("status", [500, 503, 403])
def test_origin_error_status_is_424_mirror_failed(
    alice_client, bucket, origin_server, mirror_rule, settings, status
):
    origin_server.route("/broken.txt", status=status, body=b"origin error page")
    mirror_rule()
    response = alice_client.get("/alice-bucket/broken.txt")
    assert response.status_code == 424
    assert response["Content-Type"] == "application/xml"
    code, message = oss_error(response)
    assert code == "MirrorFailed"
    assert f"HTTP {status}" in message
    assert b"origin error page" not in response.content
    assert_nothing_saved(settings)
    log = OriginFetch.objects.get()
    assert (log.status_code, log.outcome) == (status, "failed")


def test_slow_origin_is_424_after_the_timeout(
    alice_client, bucket, origin_server, mirror_rule, settings
):
    settings.ORIGIN_TIMEOUT_SECONDS = 0.5
    origin_server.route("/slow.txt", body=b"late", delay=2.0)
    mirror_rule()
    started = time.monotonic()
    response = alice_client.get("/alice-bucket/slow.txt")
    assert time.monotonic() - started < 1.5
    assert response.status_code == 424
    assert oss_error(response) == (
        "MirrorFailed",
        "The origin did not answer within 0.5 seconds.",
    )
    assert_nothing_saved(settings)


def test_body_that_stalls_longer_than_the_timeout_cuts_the_client(
    alice_client, bucket, origin_server, mirror_rule, settings
):
    settings.ORIGIN_TIMEOUT_SECONDS = 0.5
    gate = threading.Event()
    origin_server.route(
        "/stall.bin", body=b"s" * 200_000, pause_after=65_536, gate=gate
    )
    mirror_rule()
    response = alice_client.get("/alice-bucket/stall.bin")
    assert response.status_code == 200
    try:
        with pytest.raises(
            MirrorInterrupted, match="Read body from mirror host failed"
        ):
            body_of(response)
    finally:
        gate.set()
    assert_nothing_saved(settings)
    assert OriginFetch.objects.get().outcome == "failed"


def test_connection_refused_is_424(
    alice_client, bucket, make_rule, allow_private_origins, settings
):
    make_rule(bucket, mode="mirror", protocol="http", host=f"127.0.0.1:{unused_port()}")
    response = alice_client.get("/alice-bucket/a.txt")
    assert response.status_code == 424
    code, message = oss_error(response)
    assert code == "MirrorFailed"
    assert message.startswith("Could not connect to the origin")
    assert_nothing_saved(settings)
    log = OriginFetch.objects.get()
    assert (log.status_code, log.outcome) == (None, "failed")


def test_unresolvable_origin_host_is_424(
    alice_client, bucket, allow_private_origins, settings, make_rule
):
    make_rule(bucket, mode="mirror", protocol="http", host="no-such-host.invalid")
    response = alice_client.get("/alice-bucket/a.txt")
    assert response.status_code == 424
    assert oss_error(response) == (
        "MirrorFailed",
        "The origin host no-such-host.invalid could not be resolved.",
    )
    assert_nothing_saved(settings)


# -- bodies: truncated, chunked --------------------------------------------------


def test_chunked_origin_body_is_saved(alice_client, bucket, origin_server, mirror_rule):
    body = bytes(range(256)) * 800  # 204,800 bytes in several chunks
    origin_server.route("/chunked.bin", body=body, chunked=True)
    mirror_rule()
    response = alice_client.get("/alice-bucket/chunked.bin")
    assert response.status_code == 200
    assert "Content-Length" not in response
    assert body_of(response) == body
    saved = StoredObject.objects.get()
    assert (saved.size, saved.md5) == (len(body), hashlib.md5(body).hexdigest())
    assert saved_bytes(saved) == body


def test_chunked_body_that_breaks_off_saves_nothing(
    alice_client, bucket, origin_server, mirror_rule, settings
):
    origin_server.route(
        "/chunked.bin", body=b"y" * 300_000, chunked=True, truncate_after=100_000
    )
    mirror_rule()
    response = alice_client.get("/alice-bucket/chunked.bin")
    assert response.status_code == 200
    with pytest.raises(MirrorInterrupted):
        body_of(response)
    assert_nothing_saved(settings)
    assert OriginFetch.objects.get().outcome == "failed"


# -- origin redirects -------------------------------------------------------------


def redirect_chain(origin_server, hops, body=b"at the end"):
    """/hop0 -> /hop1 -> ... -> /hop<hops>, which answers 200."""
    for hop in range(hops):
        origin_server.route(
            f"/hop{hop}",
            status=302,
            headers={"Location": origin_server.url(f"/hop{hop + 1}")},
        )
    origin_server.route(f"/hop{hops}", body=body)


def test_ten_redirect_hops_then_200_is_saved(
    alice_client, bucket, origin_server, mirror_rule
):
    redirect_chain(origin_server, 10)
    mirror_rule()
    response = alice_client.get("/alice-bucket/hop0")
    assert body_of(response) == b"at the end"
    assert StoredObject.objects.get().key == "hop0"
    log = OriginFetch.objects.get()  # one fetch, however many hops
    assert (log.origin_url, log.status_code) == (origin_server.url("/hop0"), 200)
    assert [request.path for request in origin_server.received] == [
        f"/hop{hop}" for hop in range(11)
    ]


def test_eleven_redirect_hops_is_424(
    alice_client, bucket, origin_server, mirror_rule, settings
):
    redirect_chain(origin_server, 11)
    mirror_rule()
    response = alice_client.get("/alice-bucket/hop0")
    assert response.status_code == 424
    assert oss_error(response) == (
        "MirrorFailed",
        "The origin redirected more than 10 times.",
    )
    assert origin_server.requests_to("/hop11") == []
    assert_nothing_saved(settings)


def test_follow_redirects_off_passes_the_origin_3xx_through(
    alice_client, bucket, origin_server, mirror_rule, settings
):
    origin_server.route(
        "/old.txt", status=302, headers={"Location": "https://cdn.example.com/new.txt"}
    )
    origin_server.route("/new.txt", body=b"never fetched")
    mirror_rule(follow_redirects=False)
    response = alice_client.get("/alice-bucket/old.txt")
    assert response.status_code == 302
    assert response["Location"] == "https://cdn.example.com/new.txt"
    assert response.content == b""
    assert [request.path for request in origin_server.received] == ["/old.txt"]
    assert_nothing_saved(settings)
    log = OriginFetch.objects.get()
    assert (log.status_code, log.outcome) == (302, "redirect_passed")


def test_relative_location_is_followed(
    alice_client, bucket, origin_server, mirror_rule
):
    origin_server.route("/dir/start.txt", status=301, headers={"Location": "next.txt"})
    origin_server.route(
        "/dir/next.txt", status=307, headers={"Location": "/elsewhere/final.txt"}
    )
    origin_server.route("/elsewhere/final.txt", body=b"final")
    mirror_rule(path="dir")
    response = alice_client.get("/alice-bucket/start.txt")
    assert body_of(response) == b"final"
    assert [request.path for request in origin_server.received] == [
        "/dir/start.txt",
        "/dir/next.txt",
        "/elsewhere/final.txt",
    ]
    assert StoredObject.objects.get().key == "start.txt"


# -- MD5 verification ---------------------------------------------------------------


def test_matching_content_md5_is_saved(
    alice_client, bucket, origin_server, mirror_rule
):
    origin_server.route("/checked.txt", body=b"checked body", content_md5="auto")
    mirror_rule(check_md5=True)
    assert body_of(alice_client.get("/alice-bucket/checked.txt")) == b"checked body"
    assert StoredObject.objects.get().md5 == hashlib.md5(b"checked body").hexdigest()
    assert OriginFetch.objects.get().outcome == "saved"


def test_wrong_content_md5_serves_the_bytes_but_saves_nothing(
    alice_client, bucket, origin_server, mirror_rule, settings
):
    origin_server.route(
        "/checked.txt", body=b"checked body", content_md5=content_md5(b"other body")
    )
    mirror_rule(check_md5=True)
    response = alice_client.get("/alice-bucket/checked.txt")
    assert response.status_code == 200
    assert body_of(response) == b"checked body"
    assert_nothing_saved(settings)
    log = OriginFetch.objects.get()
    assert (log.outcome, log.bytes_received) == ("not_saved", 12)
    assert log.message.startswith("MD5 in header")


def test_wrong_content_md5_is_saved_when_verification_is_off(
    alice_client, bucket, origin_server, mirror_rule
):
    origin_server.route(
        "/checked.txt", body=b"checked body", content_md5=content_md5(b"other body")
    )
    mirror_rule(check_md5=False)
    assert body_of(alice_client.get("/alice-bucket/checked.txt")) == b"checked body"
    assert StoredObject.objects.get().size == 12


# -- Transfer queryString -------------------------------------------------------------

# Parameters the origin may see; oss2 adds OSSAccessKeyId, Expires and Signature.
QUERY_PARAMS = {
    "size": "large",
    "x-oss-traffic-limit": "819200",
    "security-token": "tok",
    "lang": "en GB",
}


def test_query_string_is_transferred_without_auth_parameters(
    bucket, origin_server, mirror_rule, alice_key
):
    origin_server.route("/q.txt", body=b"q")
    mirror_rule(pass_query_string=True)
    path = presigned_path(alice_key, "alice-bucket", "q.txt", params=QUERY_PARAMS)
    assert "OSSAccessKeyId=" in path
    response = Client().get(path)
    assert body_of(response) == b"q"
    assert origin_server.requests_to("/q.txt")[0].query == "size=large&lang=en%20GB"
    assert StoredObject.objects.get().key == "q.txt"


def test_query_string_is_not_transferred_by_default(
    alice_client, bucket, origin_server, mirror_rule
):
    origin_server.route("/q.txt", body=b"q")
    mirror_rule()
    body_of(alice_client.get("/alice-bucket/q.txt?size=large&lang=en"))
    assert origin_server.requests_to("/q.txt")[0].query == ""


# -- header transmission ---------------------------------------------------------------


def test_default_transmission_sends_none_of_the_client_headers(
    alice_client, bucket, origin_server, mirror_rule
):
    origin_server.route("/k", body=b"k")
    mirror_rule()
    body_of(
        alice_client.get(
            "/alice-bucket/k",
            HTTP_REFERER="https://shop.example.com/",
            HTTP_ACCEPT_LANGUAGE="fr",
            HTTP_X_CUSTOM="1",
            HTTP_USER_AGENT="client-agent/1.0",
        )
    )
    received = origin_server.requests_to("/k")[0].headers
    assert set(received) == {"host", "user-agent", "accept-encoding"}
    assert received["host"] == origin_server.netloc
    assert received["user-agent"] == FIXED_USER_AGENT


def test_transmitted_user_agent_replaces_the_fixed_one(
    alice_client, bucket, origin_server, mirror_rule
):
    origin_server.route("/k", body=b"k")
    mirror_rule(pass_headers=["User-Agent"])
    body_of(alice_client.get("/alice-bucket/k", HTTP_USER_AGENT="client-agent/1.0"))
    assert (
        origin_server.requests_to("/k")[0].headers["user-agent"] == "client-agent/1.0"
    )


def test_transmit_all_then_remove(alice_client, bucket, origin_server, mirror_rule):
    origin_server.route("/k", body=b"k")
    mirror_rule(pass_all_headers=True, remove_headers=["X-Bar"])
    body_of(
        alice_client.get(
            "/alice-bucket/k",
            HTTP_X_FOO="foo",
            HTTP_X_BAR="bar",
            HTTP_ACCEPT_LANGUAGE="fr",
        )
    )
    received = origin_server.requests_to("/k")[0].headers
    assert (received["x-foo"], received["accept-language"]) == ("foo", "fr")
    assert "x-bar" not in received


def test_forbidden_headers_never_reach_the_origin_even_with_transmit_all(
    bucket, origin_server, mirror_rule, alice_key
):
    origin_server.route("/k", body=b"0123456789")
    mirror_rule(pass_all_headers=True)
    date = formatdate(usegmt=True)
    # A correctly signed V1 request, so the endpoint lets it through to the rules.
    authorization = v1_headers(
        alice_key, "GET", "/alice-bucket/k", date, {"x-oss-anything": "1"}
    )["Authorization"]
    response = Client().get(
        "/alice-bucket/k",
        HTTP_HOST="client.example.com",
        HTTP_AUTHORIZATION=authorization,
        HTTP_AUTHORIZATION2="Bearer client-secret",
        HTTP_RANGE="bytes=0-1",
        HTTP_X_OSS_ANYTHING="1",
        HTTP_OSS_THING="1",
        HTTP_X_DRS_THING="1",
        HTTP_DATE=date,
        CONTENT_LENGTH="0",
        HTTP_CONNECTION="X-Hop",
        HTTP_KEEP_ALIVE="timeout=5",
        HTTP_PROXY_AUTHORIZATION="Basic cHJveHk=",
        HTTP_TE="trailers",
        HTTP_TRAILER="X-Checksum",
        HTTP_TRANSFER_ENCODING="gzip",
        HTTP_UPGRADE="websocket",
        HTTP_EXPECT="100-continue",
        HTTP_X_ALLOWED="yes",
    )
    assert body_of(response) == b"01"
    assert origin_server.requests_to("/k")[0].headers == {
        "host": origin_server.netloc,
        "user-agent": FIXED_USER_AGENT,
        "accept-encoding": "identity",  # http.client's own: the body is never decoded
        "x-allowed": "yes",
    }


def test_prefix_is_replaced_in_the_origin_url_but_not_the_saved_key(
    alice_client, bucket, origin_server, mirror_rule
):
    origin_server.route("/path/test/photo.jpg", body=b"jpeg")
    mirror_rule(
        key_prefix="mirror/",
        replace_prefix=True,
        replace_prefix_with="test/",
        path="path",
    )
    assert body_of(alice_client.get("/alice-bucket/mirror/photo.jpg")) == b"jpeg"
    assert [request.path for request in origin_server.received] == [
        "/path/test/photo.jpg"
    ]
    assert StoredObject.objects.get().key == "mirror/photo.jpg"


def test_prefix_is_deleted_with_an_empty_replacement(
    alice_client, bucket, origin_server, mirror_rule
):
    origin_server.route("/path/photo.jpg", body=b"jpeg")
    mirror_rule(key_prefix="mirror/", replace_prefix=True, path="path")
    assert body_of(alice_client.get("/alice-bucket/mirror/photo.jpg")) == b"jpeg"
    assert [request.path for request in origin_server.received] == ["/path/photo.jpg"]
    assert StoredObject.objects.get().key == "mirror/photo.jpg"


# -- secondary origin ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("probe_status", "fetched"),
    [(500, "/secondary/k.txt"), (200, "/primary/k.txt")],
)
def test_probe_chooses_the_primary_or_secondary_origin(
    alice_client,
    bucket,
    origin_server,
    mirror_rule,
    fresh_probe_cache,
    probe_status,
    fetched,
):
    origin_server.route("/probe", status=probe_status, body=b"probe")
    origin_server.route("/primary/k.txt", body=b"from primary")
    origin_server.route("/secondary/k.txt", body=b"from secondary")
    mirror_rule(
        path="primary",
        secondary_url=origin_server.url("/secondary/"),
        probe_url=origin_server.url("/probe"),
    )
    response = alice_client.get("/alice-bucket/k.txt")
    assert body_of(response) == b"from " + fetched.split("/")[1].encode()
    assert [request.path for request in origin_server.received] == ["/probe", fetched]


# -- when rules do not run ----------------------------------------------------------------


def test_head_on_a_missing_key_is_404_without_an_origin_request(
    alice_client, bucket, origin_server, mirror_rule
):
    origin_server.route("/k.txt", body=b"k")
    mirror_rule()
    response = alice_client.head("/alice-bucket/k.txt")
    assert response.status_code == 404
    assert b"<Code>NoSuchKey</Code>" in base64.b64decode(response["x-oss-err"])
    assert origin_server.received == []
    assert not OriginFetch.objects.exists()


@pytest.mark.parametrize("method", ["put", "delete"])
def test_put_and_delete_never_trigger_mirroring(
    alice_client, bucket, origin_server, mirror_rule, method
):
    origin_server.route("/k.txt", body=b"k")
    mirror_rule()
    getattr(alice_client, method)("/alice-bucket/k.txt")
    assert origin_server.received == []
    assert not StoredObject.objects.filter(mirrored=True).exists()


def test_existing_object_is_served_without_contacting_the_origin(
    alice_client, bucket, origin_server, mirror_rule, put_object
):
    put_object(bucket, "k.txt", b"local bytes")
    origin_server.route("/k.txt", body=b"origin bytes")
    mirror_rule()
    response = alice_client.get("/alice-bucket/k.txt")
    assert body_of(response) == b"local bytes"
    assert "x-oss-tag" not in response
    assert origin_server.received == []


def test_anonymous_get_on_a_private_bucket_is_denied_before_rules_run(
    bucket, origin_server, mirror_rule
):
    origin_server.route("/k.txt", body=b"k")
    mirror_rule()
    response = Client().get("/alice-bucket/k.txt")
    assert response.status_code == 403
    assert oss_error(response)[0] == "AccessDenied"
    assert origin_server.received == []
    assert not OriginFetch.objects.exists()


def test_no_matching_rule_is_404_without_an_origin_request(
    alice_client, bucket, origin_server, mirror_rule
):
    origin_server.route("/docs/a.txt", body=b"a")
    mirror_rule(key_prefix="images/")
    response = alice_client.get("/alice-bucket/docs/a.txt")
    assert response.status_code == 404
    assert oss_error(response)[0] == "NoSuchKey"
    assert origin_server.received == []


def test_first_matching_rule_by_position_wins(
    alice_client, bucket, origin_server, mirror_rule
):
    origin_server.route("/one/a/x.txt", body=b"one")
    origin_server.route("/two/a/y.txt", body=b"two")
    mirror_rule(key_suffix=".txt", path="one")
    second = mirror_rule(key_prefix="a/", path="two")
    assert body_of(alice_client.get("/alice-bucket/a/x.txt")) == b"one"
    second.move(-1)
    assert body_of(alice_client.get("/alice-bucket/a/y.txt")) == b"two"
    assert [request.path for request in origin_server.received] == [
        "/one/a/x.txt",
        "/two/a/y.txt",
    ]


def test_a_failing_first_rule_does_not_fall_through(
    alice_client, bucket, origin_server, mirror_rule, settings
):
    origin_server.route("/one/a/x.txt", status=500)
    origin_server.route("/two/a/x.txt", body=b"two")
    mirror_rule(key_prefix="a/", path="one")
    mirror_rule(path="two")
    response = alice_client.get("/alice-bucket/a/x.txt")
    assert response.status_code == 424
    assert [request.path for request in origin_server.received] == ["/one/a/x.txt"]
    assert_nothing_saved(settings)


# -- Range on a miss ---------------------------------------------------------------------


def test_range_on_a_missing_key_saves_the_whole_object_and_answers_the_range(
    alice_client, bucket, origin_server, mirror_rule
):
    origin_server.route("/digits.txt", body=b"0123456789")
    mirror_rule()
    response = alice_client.get("/alice-bucket/digits.txt", HTTP_RANGE="bytes=2-5")
    assert response.status_code == 206
    assert body_of(response) == b"2345"
    assert response["Content-Range"] == "bytes 2-5/10"
    assert response["x-oss-tag"] == "MIRROR"
    assert len(response["x-oss-request-id"]) == 24
    saved = StoredObject.objects.get()
    assert (saved.key, saved.size) == ("digits.txt", 10)
    assert saved_bytes(saved) == b"0123456789"
    assert "range" not in origin_server.requests_to("/digits.txt")[0].headers


# -- ORIGIN_MAX_BYTES ----------------------------------------------------------------------


def test_content_length_above_the_cap_is_424(
    alice_client, bucket, origin_server, mirror_rule, settings
):
    settings.ORIGIN_MAX_BYTES = 1000
    origin_server.route("/big.bin", body=b"z" * 2000)
    mirror_rule()
    response = alice_client.get("/alice-bucket/big.bin")
    assert response.status_code == 424
    assert oss_error(response) == (
        "MirrorFailed",
        "The origin object is 2000 bytes, more than ORIGIN_MAX_BYTES (1000).",
    )
    assert_nothing_saved(settings)


def test_chunked_body_over_the_cap_is_cut_mid_stream(
    alice_client, bucket, origin_server, mirror_rule, settings
):
    settings.ORIGIN_MAX_BYTES = 100_000
    origin_server.route("/big.bin", body=b"z" * 300_000, chunked=True)
    mirror_rule()
    response = alice_client.get("/alice-bucket/big.bin")
    assert response.status_code == 200
    chunks = iter(response.streaming_content)
    first = next(chunks)
    with pytest.raises(MirrorInterrupted, match="ORIGIN_MAX_BYTES"):
        b"".join(chunks)
    assert 0 < len(first) <= 100_000
    assert_nothing_saved(settings)


# -- redirection rules ------------------------------------------------------------------------


def test_redirection_rule_answers_301_with_the_key_kept(
    alice_client, bucket, redirect_rule
):
    redirect_rule()
    response = alice_client.get("/alice-bucket/docs/a%20b.txt")
    assert response.status_code == 301
    assert response["Location"] == "https://www.example.com/docs/a%20b.txt"
    assert response.content == b""
    assert response["x-oss-request-id"]
    assert not OriginFetch.objects.exists()


@pytest.mark.parametrize(
    ("fields", "location"),
    [
        (
            {
                "redirect_target": "affix",
                "target_prefix": "new/",
                "target_suffix": ".bak",
            },
            "https://www.example.com/new/docs/a.txt.bak",
        ),
        (
            {"redirect_target": "fixed", "target_fixed_path": "/errors/missing.html"},
            "https://www.example.com/errors/missing.html",
        ),
        (
            {
                "redirect_target": "replace_prefix",
                "key_prefix": "docs/",
                "replace_prefix_with": "archive/",
            },
            "https://www.example.com/archive/a.txt",
        ),
    ],
)
def test_redirection_location_follows_the_target_option(
    alice_client, bucket, redirect_rule, fields, location
):
    redirect_rule(**fields)
    response = alice_client.get("/alice-bucket/docs/a.txt")
    assert (response.status_code, response["Location"]) == (301, location)


@pytest.mark.parametrize("code", [302, 307])
def test_redirection_code_is_used(alice_client, bucket, redirect_rule, code):
    redirect_rule(redirect_code=code, protocol="http", host="old.example.com:8080")
    response = alice_client.get("/alice-bucket/a.txt")
    assert response.status_code == code
    assert response["Location"] == "http://old.example.com:8080/a.txt"
    assert response.content == b""


@pytest.mark.parametrize(
    ("pass_query_string", "location"),
    [
        (True, "https://www.example.com/a.txt?size=large&lang=en%20GB"),
        (False, "https://www.example.com/a.txt"),
    ],
)
def test_redirection_carries_the_query_only_when_enabled(
    bucket, redirect_rule, alice_key, pass_query_string, location
):
    redirect_rule(pass_query_string=pass_query_string)
    response = Client().get(
        presigned_path(alice_key, "alice-bucket", "a.txt", params=QUERY_PARAMS)
    )
    assert (response.status_code, response["Location"]) == (301, location)


def test_redirection_rule_does_not_fire_for_existing_objects(
    alice_client, bucket, redirect_rule, put_object
):
    put_object(bucket, "a.txt", b"here")
    redirect_rule()
    response = alice_client.get("/alice-bucket/a.txt")
    assert response.status_code == 200
    assert body_of(response) == b"here"


# -- fetch log and disconnects ------------------------------------------------------------------


def test_fetch_log_has_one_row_per_origin_fetch(
    alice_client, bucket, origin_server, mirror_rule
):
    origin_server.route("/p/logged.txt", body=b"12345")
    rule = mirror_rule(path="p")
    body_of(alice_client.get("/alice-bucket/logged.txt"))
    body_of(alice_client.get("/alice-bucket/logged.txt"))  # a hit: no fetch, no row
    log = OriginFetch.objects.get()
    assert (
        log.bucket,
        log.rule,
        log.rule_position,
        log.key,
        log.origin_url,
        log.status_code,
        log.bytes_received,
        log.outcome,
        log.message,
    ) == (
        bucket,
        rule,
        1,
        "logged.txt",
        origin_server.url("/p/logged.txt"),
        200,
        5,
        "saved",
        "",
    )
    assert log.duration_ms >= 0


# A real transaction: closing the response ends the "request", and Django then
# closes a connection left inside a transaction (PostgreSQL does not forgive that).
@pytest.mark.django_db(transaction=True)
def test_a_client_that_stops_reading_still_gets_the_object_saved(
    alice_client, bucket, origin_server, mirror_rule
):
    body = bytes(range(256)) * 4096  # 1 MiB: several reads
    origin_server.route("/large.bin", body=body)
    mirror_rule()
    response = alice_client.get("/alice-bucket/large.bin")
    first = next(iter(response.streaming_content))
    assert 0 < len(first) < len(body)
    response.close()  # what the server does when the client goes away
    saved = StoredObject.objects.get()
    assert (saved.size, saved.md5) == (len(body), hashlib.md5(body).hexdigest())
    assert body_of(alice_client.get("/alice-bucket/large.bin")) == body
    assert len(origin_server.requests_to("/large.bin")) == 1
    assert OriginFetch.objects.get().outcome == "saved"


def test_an_upload_during_the_fetch_wins_and_the_log_says_not_saved(
    alice_client, bucket, origin_server, mirror_rule, put_object
):
    gate = threading.Event()
    origin_server.route("/race.bin", body=b"m" * 200_000, pause_after=65_536, gate=gate)
    mirror_rule()
    response = alice_client.get("/alice-bucket/race.bin")
    put_object(bucket, "race.bin", b"uploaded")  # lands while the origin body is held
    gate.set()

    assert (
        body_of(response) == b"m" * 200_000
    )  # the requester still gets the origin bytes
    saved = StoredObject.objects.get(bucket=bucket, key="race.bin")
    assert (saved.size, saved.mirrored) == (8, False)
    assert OriginFetch.objects.get().outcome == "not_saved"
    assert (
        OriginFetch.objects.get().message
        == "The object was uploaded while it was being fetched; the upload was kept."
    )


def test_no_lock_file_outlives_its_fetch(
    alice_client, bucket, origin_server, mirror_rule, settings
):
    origin_server.route("/ok.txt", body=b"ok")
    origin_server.route("/bad.txt", status=500)
    mirror_rule()

    assert body_of(alice_client.get("/alice-bucket/ok.txt")) == b"ok"
    assert alice_client.get("/alice-bucket/bad.txt").status_code == 424
    assert alice_client.get("/alice-bucket/none.txt").status_code == 404

    assert list((settings.DATA_DIR / "locks").iterdir()) == []
