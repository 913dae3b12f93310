"""X-Accel-Redirect mode (issue 14, "Behind nginx"): deploy/nginx.conf with its
#accel lines in front of a gunicorn run with ACCEL_REDIRECT_LOCATION. The product
authorises each GET; nginx sends whole local files itself. A client must see the
same status, headers and bytes as from gunicorn without the mode.
"""

import hashlib
import os

import oss2
import pytest
import requests

from bench.loopback_origin import Origin, body_pieces, object_key
from bench.peers import start_peers
from bench.run import Cleanup
from bench.server_under_test import start_with_bucket
from tests.faults.test_nginx_front import NginxServer, install_nginx
from tests.server_process import GunicornServer
from tests.signing import REGION, oss2_auth

pytestmark = [pytest.mark.faults, pytest.mark.server]

RELIABILITY_CATEGORY = "nginx sends the bytes (X-Accel-Redirect)"
LOCATION = "/_protected_objects/"
PUBLIC, PRIVATE = "accel-public", "accel-private"
BODY = os.urandom(3 * 1024 * 1024 + 17)
# Differ between two servers, or between nginx and gunicorn, by nature.
UNCOMPARED = {"date", "server", "connection", "x-oss-request-id", "keep-alive"}


class Sides:
    """One DATA_DIR served two ways: by nginx in front of a gunicorn in
    X-Accel-Redirect mode, and by a plain gunicorn (the reference)."""

    def __init__(self, accel, plain, nginx):
        self.accel, self.plain, self.nginx = accel, plain, nginx

    def bucket(self, name):
        """oss2 through nginx."""
        auth = oss2_auth(self.accel.account)
        return oss2.Bucket(auth, self.nginx.url, name, region=REGION)

    def get_both(self, path, method="GET", **kwargs):
        """(through nginx, straight from the plain gunicorn)."""
        return tuple(
            requests.request(method, f"{base}{path}", timeout=30, **kwargs)
            for base in (self.nginx.url, self.plain.url)
        )


@pytest.fixture(scope="module")
def sides(start_server, tmp_path_factory):
    executable = install_nginx()
    accel = start_server(ACCEL_REDIRECT_LOCATION=LOCATION)
    plain = GunicornServer(
        accel.data_dir,
        log=accel.data_dir / "plain.log",
        **{**accel.settings, "ACCEL_REDIRECT_LOCATION": ""},
    )
    nginx = NginxServer(
        executable,
        tmp_path_factory.mktemp("nginx-accel"),
        f"127.0.0.1:{accel.gunicorn.port}",
        object_dir=accel.data_dir / "objects",
    )
    try:
        plain.start()
        nginx.start()
        sides = Sides(accel, plain, nginx)
        sides.bucket(PUBLIC).create_bucket(oss2.BUCKET_ACL_PUBLIC_READ)
        sides.bucket(PRIVATE).create_bucket(oss2.BUCKET_ACL_PRIVATE)
        yield sides
    finally:
        nginx.stop()
        plain.stop()


def compared(response):
    return {
        name.lower(): value
        for name, value in response.headers.items()
        if name.lower() not in UNCOMPARED
    }


def sent_by_nginx(response):
    """nginx's internal location answers with its own Server header; what it proxies
    keeps the product's (proxy_pass_header Server)."""
    return response.headers["Server"] == "nginx"


def md5(data):
    return hashlib.md5(data).hexdigest()  # noqa: S324 - a checksum, not security


def assert_same_answer(through_nginx, direct):
    assert through_nginx.status_code == direct.status_code
    assert compared(through_nginx) == compared(direct)
    assert md5(through_nginx.content) == md5(direct.content)


# -- nginx sends the bytes -------------------------------------------------------------


def test_plain_object_is_sent_by_nginx_with_the_products_headers(sides):
    sides.bucket(PUBLIC).put_object("plain.bin", BODY)

    through_nginx, direct = sides.get_both(f"/{PUBLIC}/plain.bin")

    assert through_nginx.status_code == 200
    assert md5(through_nginx.content) == md5(BODY)
    assert_same_answer(through_nginx, direct)
    assert through_nginx.headers["x-oss-request-id"]
    assert sent_by_nginx(through_nginx)


def test_metadata_headers_survive_the_redirect(sides):
    headers = {
        "Content-Type": "text/plain; charset=utf-8",
        "Content-Disposition": 'attachment; filename="report.txt"',
        "Cache-Control": "max-age=600, public",
        "Content-Language": "en-GB",
        "Expires": "Wed, 21 Oct 2037 07:28:00 GMT",
        "x-oss-tagging": "team=web",
    }
    sides.bucket(PUBLIC).put_object("report.txt", BODY, headers=headers)

    through_nginx, direct = sides.get_both(
        f"/{PUBLIC}/report.txt", headers={"Accept-Encoding": "identity"}
    )

    assert_same_answer(through_nginx, direct)
    assert (
        through_nginx.headers["Content-Disposition"] == headers["Content-Disposition"]
    )
    assert through_nginx.headers["x-oss-tagging-count"] == "1"
    assert sent_by_nginx(through_nginx)


def test_compressed_answers_are_sent_by_gunicorn(sides):
    sides.bucket(PUBLIC).put_object(
        "page.css", b"p { margin: 0 }\n" * 4096, headers={"Content-Type": "text/css"}
    )

    through_nginx, direct = sides.get_both(
        f"/{PUBLIC}/page.css", headers={"Accept-Encoding": "gzip"}
    )

    assert through_nginx.headers["Content-Encoding"] == "gzip"
    assert_same_answer(through_nginx, direct)
    assert not sent_by_nginx(through_nginx)


def test_user_metadata_objects_are_sent_by_gunicorn_with_every_header(sides):
    """nginx cannot put back headers whose names it does not know: x-oss-meta-*."""
    headers = {
        "x-oss-meta-Colour": "blue",
        "Content-Disposition": 'inline; filename="photo.jpg"',
        "Cache-Control": "no-cache",
    }
    sides.bucket(PUBLIC).put_object("photo.jpg", BODY, headers=headers)

    through_nginx, direct = sides.get_both(f"/{PUBLIC}/photo.jpg")

    assert_same_answer(through_nginx, direct)
    assert through_nginx.headers["x-oss-meta-colour"] == "blue"
    assert not sent_by_nginx(through_nginx)


def test_response_overrides_and_version_headers_survive(sides):
    sides.bucket(PUBLIC).put_object("override.bin", BODY)
    path = f"/{PUBLIC}/override.bin?response-content-type=image/png&response-content-language=fr"

    through_nginx, direct = sides.get_both(path)

    assert_same_answer(through_nginx, direct)
    assert through_nginx.headers["Content-Type"] == "image/png"


def test_signed_get_of_a_private_object_goes_through_and_unsigned_is_refused(sides):
    bucket = sides.bucket(PRIVATE)
    bucket.put_object("secret.bin", BODY)

    signed = bucket.get_object("secret.bin")
    assert md5(signed.read()) == md5(BODY)
    assert signed.headers["Server"] == "nginx"
    unsigned, direct = sides.get_both(f"/{PRIVATE}/secret.bin")

    assert (unsigned.status_code, direct.status_code) == (403, 403)
    assert "<Code>AccessDenied</Code>" in unsigned.text
    assert compared(unsigned) == compared(direct)


# -- the product still answers itself -------------------------------------------------


def test_range_is_answered_by_the_product(sides):
    sides.bucket(PUBLIC).put_object("ranged.bin", BODY)
    path = f"/{PUBLIC}/ranged.bin"

    through_nginx, direct = sides.get_both(path, headers={"Range": "bytes=100-199"})

    assert (through_nginx.status_code, through_nginx.content) == (206, BODY[100:200])
    assert_same_answer(through_nginx, direct)


def test_multipart_range_is_ignored_as_without_nginx(sides):
    sides.bucket(PUBLIC).put_object("multi.bin", BODY)

    through_nginx, direct = sides.get_both(
        f"/{PUBLIC}/multi.bin", headers={"Range": "bytes=0-1,5-6"}
    )

    assert through_nginx.status_code == 200
    assert_same_answer(through_nginx, direct)


@pytest.mark.parametrize(
    "condition",
    ["If-None-Match", "If-Match", "If-Modified-Since", "If-Unmodified-Since"],
)
def test_conditional_gets_are_answered_by_the_product(sides, condition):
    sides.bucket(PUBLIC).put_object("conditional.bin", BODY)
    first, _ = sides.get_both(f"/{PUBLIC}/conditional.bin")
    value = first.headers["ETag" if "Match" in condition else "Last-Modified"]

    through_nginx, direct = sides.get_both(
        f"/{PUBLIC}/conditional.bin", headers={condition: value}
    )

    assert through_nginx.status_code in (200, 304)
    assert_same_answer(through_nginx, direct)


def test_head_is_unchanged(sides):
    sides.bucket(PUBLIC).put_object("head.bin", BODY)

    through_nginx, direct = sides.get_both(f"/{PUBLIC}/head.bin", method="HEAD")

    assert through_nginx.status_code == 200
    assert "X-Accel-Redirect" not in through_nginx.headers
    assert compared(through_nginx) == compared(direct)


def test_internal_location_is_not_reachable_from_a_client(sides):
    sides.bucket(PUBLIC).put_object("hidden.bin", BODY)
    blob = next(
        path.relative_to(sides.accel.data_dir / "objects").as_posix()
        for path in (sides.accel.data_dir / "objects").rglob("*")
        if path.is_file()
    )

    response = requests.get(f"{sides.nginx.url}{LOCATION}{blob}", timeout=30)

    assert response.status_code == 404
    assert BODY[:64] not in response.content


def test_a_blob_gone_before_nginx_opens_it_is_retry_later_not_404(sides, tmp_path):
    """An overwrite or delete that commits between the product's answer and nginx's
    open: nginx's object directory is empty here, so every blob is "gone"."""
    sides.bucket(PUBLIC).put_object("raced.bin", BODY)
    empty = tmp_path / "no-objects"
    empty.mkdir()
    nginx = NginxServer(
        sides.nginx.executable,
        tmp_path / "nginx",
        f"127.0.0.1:{sides.accel.gunicorn.port}",
        object_dir=empty,
    ).start()
    try:
        response = requests.get(f"{nginx.url}/{PUBLIC}/raced.bin", timeout=30)
    finally:
        nginx.stop()

    assert response.status_code == 503
    assert response.headers["Retry-After"] == "5"
    assert response.headers["Content-Type"] == "application/xml"
    assert "<Code>ServiceUnavailable</Code>" in response.text
    assert BODY[:64] not in response.content


def test_cors_version_and_symlink_headers_survive(sides):
    bucket = sides.bucket("accel-versioned")
    bucket.create_bucket(oss2.BUCKET_ACL_PUBLIC_READ)
    bucket.put_bucket_versioning(oss2.models.BucketVersioningConfig("Enabled"))
    bucket.put_bucket_cors(
        oss2.models.BucketCors(
            [
                oss2.models.CorsRule(
                    allowed_origins=["https://app.example"],
                    allowed_methods=["GET"],
                    expose_headers=["ETag"],
                    max_age_seconds=60,
                )
            ]
        )
    )
    bucket.put_object("target.bin", BODY)
    bucket.put_symlink("target.bin", "link.bin")

    for key in ("target.bin", "link.bin"):
        through_nginx, direct = sides.get_both(
            f"/{bucket.bucket_name}/{key}", headers={"Origin": "https://app.example"}
        )

        assert_same_answer(through_nginx, direct)
        assert sent_by_nginx(through_nginx)
        assert through_nginx.headers["x-oss-version-id"]
        assert through_nginx.headers["Access-Control-Allow-Origin"]


def test_an_older_version_is_sent_by_nginx_with_its_own_headers(sides):
    bucket = sides.bucket("accel-history")
    bucket.create_bucket(oss2.BUCKET_ACL_PUBLIC_READ)
    bucket.put_bucket_versioning(oss2.models.BucketVersioningConfig("Enabled"))
    older = bucket.put_object("doc.bin", BODY).versionid
    bucket.put_object("doc.bin", b"newer bytes")

    through_nginx, direct = sides.get_both(f"/accel-history/doc.bin?versionId={older}")

    assert md5(through_nginx.content) == md5(BODY)
    assert_same_answer(through_nginx, direct)
    assert through_nginx.headers["x-oss-version-id"] == older
    assert sent_by_nginx(through_nginx)


def test_the_benchmarks_front_server_has_nginx_send_our_hits(tmp_path):
    """bench/nginx-peers.conf.template's X-Accel-Redirect front, as the row
    "hit 256 MiB behind nginx" uses it, on a small object."""
    install_nginx()
    size = 256 * 1024
    key = object_key(size, "accel-front-smoke")
    expected = md5(b"".join(body_pieces(key, size)))
    origin, cleanup = Origin(), Cleanup()
    cleanup.add(origin.stop)
    try:
        scratch = tmp_path / "peers"  # tmp_path is DATA_DIR here: objects/ is taken
        scratch.mkdir()
        nginx, _bare = start_peers(scratch, [(key, size)], origin, cleanup)
        server = nginx.front_server()
        cleanup.add(server.stop)
        start_with_bucket(server, origin)
        miss = requests.get(f"{server.url}{nginx.front.prefix}/{key}", timeout=30)
        hit = requests.get(nginx.front.url_for(key), timeout=30)
    finally:
        cleanup.run()

    assert md5(miss.content) == md5(hit.content) == expected
    assert miss.headers["x-oss-tag"] == hit.headers["x-oss-tag"] == "MIRROR"
    assert hit.headers["Server"].startswith("nginx")
