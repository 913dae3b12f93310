"""X-Accel-Redirect mode (buckets/accel.py): which GETs nginx may answer from the
blob file, and which the product keeps answering itself. Without nginx: the
Django test client, the real SeaweedFS for the S3 blob store. Through nginx:
tests/faults/test_nginx_accel.py.
"""

import contextlib
import re
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from buckets import accel
from buckets.models import Bucket
from buckets.oss_access import ObjectRequest
from buckets.serving import serve_object
from tests.oss_responses import body_of
from tests.seaweedfs import BLOB_BUCKET

pytestmark = pytest.mark.django_db

LOCATION = "/_protected_objects/"
DATA = b"0123456789" * 1000
BLOB_TARGET_RE = re.compile(rf"{LOCATION}[0-9a-f]{{2}}/[0-9a-f]{{2}}/[0-9a-f]{{32}}")
NGINX_CONF = Path(__file__).resolve().parent.parent / "deploy" / "nginx.conf"


@pytest.fixture
def accel_mode(settings):
    settings.ACCEL_REDIRECT_LOCATION = LOCATION


@pytest.fixture
def stored(public_bucket, put_object):
    return put_object(public_bucket, "dir/report 2024.bin", DATA)


def target_of(response):
    return response.headers.get("X-Accel-Redirect")


def blob_target(obj):
    return LOCATION + obj.blob


# -- handed to nginx --------------------------------------------------------------------


def test_a_whole_object_get_names_its_blob_and_keeps_every_header(
    client, stored, accel_mode, settings
):
    handed_over = client.get("/alice-public/dir/report 2024.bin")
    settings.ACCEL_REDIRECT_LOCATION = ""
    served = client.get("/alice-public/dir/report 2024.bin")

    assert handed_over.status_code == served.status_code == 200
    assert target_of(handed_over) == blob_target(stored)
    assert body_of(handed_over) == b""
    assert body_of(served) == DATA
    assert handed_over.headers["Content-Length"] == str(len(DATA))  # what nginx sends
    without_ids = {"X-Accel-Redirect", "x-oss-request-id"}
    assert {k: v for k, v in handed_over.items() if k not in without_ids} == {
        k: v for k, v in served.items() if k not in without_ids
    }


def test_the_redirect_names_the_blob_file_never_the_key(
    client, public_bucket, put_object, accel_mode, settings
):
    key = "../../etc/passwd/secret name.bin"
    obj = put_object(public_bucket, key, DATA)

    target = target_of(client.get(f"/alice-public/{key}"))

    assert BLOB_TARGET_RE.fullmatch(target)
    for part_of_the_key in ("secret", "passwd", ".."):
        assert part_of_the_key not in target
    assert (Path(settings.OBJECT_STORAGE_DIR) / obj.blob).read_bytes() == DATA


def test_a_symlink_hands_over_its_targets_blob(
    client, public_bucket, put_object, accel_mode, alice_signed_client
):
    target = put_object(public_bucket, "target.bin", DATA)
    made = alice_signed_client(
        "PUT",
        "alice-public",
        "link.bin",
        params={"symlink": ""},
        headers={"x-oss-symlink-target": "target.bin"},
    )
    assert made.status_code == 200

    response = client.get("/alice-public/link.bin")

    assert target_of(response) == blob_target(target)
    assert response.headers["x-oss-object-type"] == "Symlink"


def test_metadata_nginx_keeps_or_restores_does_not_stop_it(
    client, public_bucket, put_object, accel_mode
):
    put_object(
        public_bucket,
        "report.pdf",
        DATA,
        content_type="application/pdf",
        content_disposition='attachment; filename="report.pdf"',
        cache_control="max-age=60",
        content_language="en",
    )

    response = client.get("/alice-public/report.pdf")

    assert target_of(response) is not None
    assert (
        response.headers["Content-Disposition"] == 'attachment; filename="report.pdf"'
    )


# -- answered by the product, as without the mode ----------------------------------------


def test_off_by_default(client, stored):
    response = client.get("/alice-public/dir/report 2024.bin")

    assert target_of(response) is None
    assert body_of(response) == DATA


@pytest.mark.parametrize(
    "headers",
    [
        {"Range": "bytes=0-9"},
        {"Range": "bytes=0-1,5-6"},  # ignored by the product, obeyed by nginx
        {"If-None-Match": '"other"'},
        {"If-Match": "*"},
        {"If-Modified-Since": "Mon, 01 Jan 2001 00:00:00 GMT"},
        {"If-Unmodified-Since": "Mon, 01 Jan 2035 00:00:00 GMT"},
        {"If-Range": '"other"', "Range": "bytes=0-9"},
        {"x-oss-traffic-limit": "819200"},  # a paced transfer
        {"Accept-Encoding": "gzip"},  # text/plain: compressed below
    ],
    ids=lambda headers: ",".join(headers),
)
def test_requests_nginx_would_answer_differently_are_kept(
    client, public_bucket, put_object, accel_mode, headers
):
    put_object(public_bucket, "notes.txt", DATA, content_type="text/plain")

    response = client.get("/alice-public/notes.txt", headers=headers)

    assert target_of(response) is None
    assert response.status_code in (200, 206)
    assert body_of(response)


def test_head_is_kept(client, stored, accel_mode):
    response = client.head("/alice-public/dir/report 2024.bin")

    assert target_of(response) is None
    assert response.headers["Content-Length"] == str(len(DATA))


def test_user_metadata_is_kept_nginx_could_not_restore_it(
    client, public_bucket, put_object, accel_mode
):
    put_object(public_bucket, "meta.bin", DATA, user_meta={"colour": "blue"})

    response = client.get("/alice-public/meta.bin")

    assert target_of(response) is None
    assert response.headers["x-oss-meta-colour"] == "blue"
    assert body_of(response) == DATA


def test_an_encrypted_object_is_kept_its_file_holds_ciphertext(
    client, public_bucket, accel_mode, alice_signed_client
):
    put = alice_signed_client(
        "PUT",
        "alice-public",
        "sealed.bin",
        headers={"x-oss-server-side-encryption": "AES256"},
        body=DATA,
    )
    assert put.status_code == 200

    response = client.get("/alice-public/sealed.bin")

    assert target_of(response) is None
    assert body_of(response) == DATA


def test_a_private_object_is_refused_before_anything_is_handed_over(
    client, bucket, put_object, accel_mode
):
    put_object(bucket, "secret.bin", DATA)

    response = client.get("/alice-bucket/secret.bin")

    assert response.status_code == 403
    assert target_of(response) is None


def test_an_object_served_under_another_key_is_kept(rf, stored, accel_mode):
    """An error document answers a different key (with its own status, set later)."""
    request = rf.get("/alice-public/missing.html")
    request.oss_get_object = ObjectRequest(bucket=stored.bucket, key="missing.html")

    response = serve_object(request, stored)

    assert target_of(response) is None
    assert b"".join(response.streaming_content) == DATA


# -- the S3 blob store: no file for nginx ------------------------------------------------


@pytest.fixture
def s3_store(settings, seaweed_s3):
    client = seaweed_s3.client()
    with contextlib.suppress(client.exceptions.BucketAlreadyOwnedByYou):
        client.create_bucket(Bucket=BLOB_BUCKET)
    environment = seaweed_s3.storage_environment(BLOB_BUCKET)
    settings.OBJECT_STORAGE = "s3"
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "storages.backends.s3.S3Storage",
            "OPTIONS": {
                "endpoint_url": environment["AWS_S3_ENDPOINT_URL"],
                "bucket_name": BLOB_BUCKET,
                "access_key": environment["AWS_ACCESS_KEY_ID"],
                "secret_key": environment["AWS_SECRET_ACCESS_KEY"],
                "region_name": environment["AWS_S3_REGION_NAME"],
                "addressing_style": "path",
                "location": f"test-{uuid.uuid4().hex}",
            },
        },
    }


def test_an_object_in_the_s3_store_is_kept(
    client, alice, put_object, s3_store, accel_mode
):
    bucket = Bucket.objects.create(
        owner=alice, name="alice-s3", acl=Bucket.Acl.PUBLIC_READ
    )
    put_object(bucket, "in-s3.bin", DATA)

    response = client.get("/alice-s3/in-s3.bin")

    assert target_of(response) is None
    assert body_of(response) == DATA


# -- the configuration in step -----------------------------------------------------------


def restored_in_nginx_conf():
    """The (header, variable) pairs the sample configuration's #accel lines add back."""
    return re.findall(
        r"^\s*#accel\s+add_header (\S+)\s+\$upstream_http_(\w+);$",
        NGINX_CONF.read_text(),
        flags=re.MULTILINE,
    )


def test_nginx_conf_restores_exactly_the_headers_accel_hands_over():
    pairs = restored_in_nginx_conf()

    assert [name for name, _ in pairs] == list(accel.RESTORED_BY_NGINX)
    assert all(variable == name.lower().replace("-", "_") for name, variable in pairs)


def test_a_location_without_slashes_is_refused(tmp_path):
    result = subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"],
        env={
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "DATA_DIR": str(tmp_path),
            "ACCEL_REDIRECT_LOCATION": "_protected_objects",
            "PATH": "/usr/bin:/bin",
        },
        cwd=NGINX_CONF.parent.parent,
        capture_output=True,
        text=True,
        check=False,
    )

    assert result.returncode != 0
    assert (
        "ACCEL_REDIRECT_LOCATION must look like /_protected_objects/" in result.stderr
    )
