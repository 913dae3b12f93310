"""Object bytes in an S3-compatible store (OBJECT_STORAGE=s3), on a real SeaweedFS.

Each test stores under a prefix of its own in the store of `.ci/with-seaweedfs`
(make test-s3) or, run alone, in a `weed server` the session starts. The bytes
are complete in the store before a row names them, leave it once the row that
named them is gone, are read back by ranged GETs of one block at a time, and
nothing partial is ever left behind: no row, no blob, no multipart upload.
"""

import contextlib
import hashlib
import os
import uuid
import xml.etree.ElementTree as ET

import pytest
from boto3.s3.transfer import TransferConfig
from django.http import FileResponse
from django.utils.http import http_date

from buckets import blob_store, parts
from buckets.models import MultipartUpload, StoredObject, UploadedPart
from buckets.storage import (
    ObjectChanged,
    ObjectMetadata,
    ObjectWriter,
    commit_object,
    delete_object,
    open_blob,
    remove_leftovers,
)
from origin.mirroring import MirrorInterrupted
from tests.oss_responses import body_of, error_code
from tests.seaweedfs import BLOB_BUCKET, REGION

pytestmark = pytest.mark.django_db

MIB = 1024 * 1024
SMALL_BLOCK = 64 * 1024


class Store:
    """The test's view of the S3 bucket: its blobs, and the requests sent to it."""

    def __init__(self, environment, location):
        self.environment = environment
        self.location = location

    def storage_options(self):
        env = self.environment
        return {
            "endpoint_url": env["AWS_S3_ENDPOINT_URL"],
            "bucket_name": env["AWS_STORAGE_BUCKET_NAME"],
            "access_key": env["AWS_ACCESS_KEY_ID"],
            "secret_key": env["AWS_SECRET_ACCESS_KEY"],
            "region_name": env.get("AWS_S3_REGION_NAME") or REGION,
            "addressing_style": "path",
            "location": self.location,
        }

    @property
    def client(self):
        return blob_store.objects().client

    def blobs(self):
        """Every key under the test's prefix, without it, sorted."""
        pages = self.client.get_paginator("list_objects_v2").paginate(
            Bucket=self.environment["AWS_STORAGE_BUCKET_NAME"],
            Prefix=f"{self.location}/",
        )
        return sorted(
            item["Key"][len(self.location) + 1 :]
            for page in pages
            for item in page.get("Contents", ())
        )

    def open_multipart_uploads(self):
        answer = self.client.list_multipart_uploads(
            Bucket=self.environment["AWS_STORAGE_BUCKET_NAME"],
            Prefix=f"{self.location}/",
        )
        return answer.get("Uploads", [])

    def count_requests(self, operation):
        """A list that grows by one (the request's params) per `operation` sent."""
        sent = []
        self.client.meta.events.register(
            f"before-parameter-build.s3.{operation}",
            lambda params, **_: sent.append(params),
        )
        return sent


@pytest.fixture(scope="session")
def s3_environment(request):
    """The store's settings: .ci/with-seaweedfs's, else a bucket in a weed of our own."""
    if os.environ.get("OBJECT_STORAGE") == "s3":
        return dict(os.environ)
    weed = request.getfixturevalue("seaweed_s3")
    client = weed.client()
    with contextlib.suppress(client.exceptions.BucketAlreadyOwnedByYou):
        client.create_bucket(Bucket=BLOB_BUCKET)
    return weed.storage_environment(BLOB_BUCKET)


@pytest.fixture(autouse=True)
def store(settings, s3_environment, isolated_data_dir):
    """OBJECT_STORAGE=s3 for the test, in a prefix of the bucket of its own."""
    view = Store(s3_environment, f"test-{uuid.uuid4().hex}")
    settings.OBJECT_STORAGE = "s3"
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "storages.backends.s3.S3Storage",
            "OPTIONS": view.storage_options(),
        },
    }
    return view


@pytest.fixture
def small_blocks(monkeypatch):
    monkeypatch.setattr(blob_store, "READ_BLOCK_SIZE", SMALL_BLOCK)


@pytest.fixture
def multipart_transfers(monkeypatch):
    """Uploads to the store in 5 MiB parts (S3's smallest) from 5 MiB up."""
    monkeypatch.setattr(
        blob_store,
        "TRANSFER_CONFIG",
        TransferConfig(multipart_threshold=5 * MIB, multipart_chunksize=5 * MIB),
    )


def write(data):
    writer = ObjectWriter()
    writer.write(data)
    return writer


def temp_files(settings):
    return sorted(p.name for p in settings.OBJECT_TMP_DIR.iterdir())


def stored_bytes(obj):
    with open_blob(obj) as handle:
        return handle.read()


# -- writes ----------------------------------------------------------------------------


def test_a_write_is_one_blob_in_the_store_and_nothing_on_local_disk(
    bucket, put_object, store, settings
):
    obj = put_object(bucket, "docs/a.txt", b"hello s3")

    assert store.blobs() == [obj.blob]
    assert stored_bytes(obj) == b"hello s3"
    assert [p for p in settings.OBJECT_STORAGE_DIR.rglob("*") if p.is_file()] == []
    assert temp_files(settings) == []


def test_a_large_write_goes_up_as_a_multipart_upload_and_reads_back_whole(
    bucket, store, multipart_transfers
):
    data = os.urandom(11 * MIB)
    started = store.count_requests("CreateMultipartUpload")

    with write(data) as writer:
        obj = commit_object(bucket, "big.bin", writer)

    assert len(started) == 1
    assert store.blobs() == [obj.blob]
    assert hashlib.md5(stored_bytes(obj)).hexdigest() == hashlib.md5(data).hexdigest()
    assert store.open_multipart_uploads() == []


def test_an_upload_to_the_store_that_fails_midway_leaves_nothing(
    bucket, put_object, store, settings, multipart_transfers
):
    old = put_object(bucket, "big.bin", b"old bytes")
    parts_sent = []

    def fail_on_the_second_part(params, **_):
        parts_sent.append(params["PartNumber"])
        if params["PartNumber"] == 2:
            raise ConnectionError("the store went away")

    store.client.meta.events.register(
        "before-parameter-build.s3.UploadPart", fail_on_the_second_part
    )

    with pytest.raises(ConnectionError), write(os.urandom(11 * MIB)) as writer:
        commit_object(bucket, "big.bin", writer)

    assert 2 in parts_sent
    assert store.blobs() == [old.blob]  # no blob of the failed write
    assert store.open_multipart_uploads() == []  # aborted at once
    assert StoredObject.objects.get().blob == old.blob
    assert stored_bytes(StoredObject.objects.get()) == b"old bytes"
    assert temp_files(settings) == []


def test_a_write_that_loses_its_race_removes_its_uploaded_blob(
    bucket, put_object, store, settings
):
    current = put_object(bucket, "log.txt", b"first")

    with pytest.raises(ObjectChanged), write(b"second") as writer:
        commit_object(bucket, "log.txt", writer, expect_blob="someone-else")

    assert store.blobs() == [current.blob]
    assert temp_files(settings) == []


def test_a_mirror_that_finds_the_key_written_meanwhile_removes_its_blob(
    bucket, put_object, store
):
    upload = put_object(bucket, "a.txt", b"uploaded")

    with write(b"mirrored") as writer:
        kept = commit_object(bucket, "a.txt", writer, replace=False, mirrored=True)

    assert kept.blob == upload.blob
    assert store.blobs() == [upload.blob]


def test_a_cut_put_object_saves_nothing_in_the_store(
    open_bucket, store, settings, client
):
    response = client.put(
        "/open-bucket/cut.bin",
        b"x" * 1000,
        content_type="application/octet-stream",
        HTTP_CONTENT_MD5="1B2M2Y8AsgTpgAmY7PhCfg==",  # the MD5 of nothing: a mismatch
    )

    assert error_code(response.content) == "InvalidDigest"
    assert not StoredObject.objects.exists()
    assert store.blobs() == []
    assert temp_files(settings) == []


# -- overwrite and delete ----------------------------------------------------------------


def test_an_overwrite_removes_the_old_blob_once_committed(
    bucket, put_object, store, django_capture_on_commit_callbacks
):
    old = put_object(bucket, "a.txt", b"old")
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        new = put_object(bucket, "a.txt", b"new")
        # Not before the row's transaction commits: a reader may still be on it.
        assert store.blobs() == sorted([old.blob, new.blob])

    for callback in callbacks:
        callback()
    assert store.blobs() == [new.blob]


def test_a_delete_removes_the_blob_once_committed(
    bucket, put_object, store, django_capture_on_commit_callbacks
):
    obj = put_object(bucket, "a.txt", b"bytes")
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        delete_object(obj)
        assert store.blobs() == [obj.blob]

    for callback in callbacks:
        callback()
    assert store.blobs() == []


def test_a_blob_the_store_refuses_to_delete_is_left_for_the_sweep(
    bucket, put_object, store, caplog, django_capture_on_commit_callbacks
):
    obj = put_object(bucket, "a.txt", b"bytes")

    def refuse(**_):
        raise ConnectionError("the store went away")

    store.client.meta.events.register("before-parameter-build.s3.DeleteObject", refuse)
    with django_capture_on_commit_callbacks(execute=True):
        delete_object(obj)

    assert not StoredObject.objects.exists()
    assert store.blobs() == [obj.blob]
    assert f"could not delete blob {obj.blob}" in caplog.text


def test_a_reader_of_a_removed_blob_gets_file_not_found(bucket, put_object, store):
    obj = put_object(bucket, "a.txt", b"bytes")
    store.client.delete_object(
        Bucket=store.environment["AWS_STORAGE_BUCKET_NAME"],
        Key=f"{store.location}/{obj.blob}",
    )

    with pytest.raises(FileNotFoundError):
        open_blob(obj)


# -- reads: streaming, ranges, conditional requests ----------------------------------------


def test_a_get_streams_the_object_by_ranged_gets_of_one_block(
    bucket, put_object, store, alice_client, small_blocks
):
    data = os.urandom(5 * SMALL_BLOCK + 10)
    put_object(bucket, "a.bin", data)
    gets = store.count_requests("GetObject")

    response = alice_client.get("/alice-bucket/a.bin")

    assert response.status_code == 200
    assert not isinstance(response, FileResponse)  # nothing local to sendfile()
    assert response["Content-Length"] == str(len(data))
    assert body_of(response) == data
    assert [get["Range"] for get in gets] == [
        f"bytes={start}-{min(start + SMALL_BLOCK, len(data)) - 1}"
        for start in range(0, len(data), SMALL_BLOCK)
    ]


def test_a_range_fetches_about_that_range_from_the_store(
    bucket, put_object, store, alice_client, small_blocks
):
    data = os.urandom(2 * MIB)
    put_object(bucket, "a.bin", data)
    gets = store.count_requests("GetObject")

    response = alice_client.get(
        "/alice-bucket/a.bin", HTTP_RANGE="bytes=1000000-1000099"
    )

    assert response.status_code == 206
    assert response["Content-Range"] == f"bytes 1000000-1000099/{len(data)}"
    assert body_of(response) == data[1000000:1000100]
    assert [get["Range"] for get in gets] == [
        f"bytes=1000000-{1000000 + SMALL_BLOCK - 1}"
    ]


@pytest.mark.parametrize(
    ("header", "value", "status"),
    [
        ("HTTP_IF_NONE_MATCH", "etag", 304),
        ("HTTP_IF_MATCH", '"0123"', 412),
        ("HTTP_IF_MODIFIED_SINCE", "last-modified", 304),
        ("HTTP_IF_RANGE", '"0123"', 200),  # a stale validator: the whole object
    ],
)
def test_conditional_gets_answer_as_on_local_disk(
    bucket, put_object, store, alice_client, header, value, status
):
    obj = put_object(bucket, "a.txt", b"0123456789")
    value = {
        "etag": obj.etag,
        "last-modified": http_date(obj.last_modified.timestamp()),
    }.get(value, value)
    gets = store.count_requests("GetObject")

    response = alice_client.get(
        "/alice-bucket/a.txt", **{header: value, "HTTP_RANGE": "bytes=2-4"}
    )

    assert response.status_code == status
    if status == 200:
        assert body_of(response) == b"0123456789"
    else:
        assert gets == []  # answered from the row alone


def test_an_encrypted_object_is_ciphertext_in_the_store_and_ranges_decrypt(
    bucket, store, alice_signed_client, alice_client, small_blocks
):
    data = os.urandom(3 * SMALL_BLOCK)
    put = alice_signed_client(
        "PUT",
        "alice-bucket",
        "secret.bin",
        body=data,
        headers={"x-oss-server-side-encryption": "AES256"},
    )
    assert put.status_code == 200
    obj = StoredObject.objects.get()
    raw = store.client.get_object(
        Bucket=store.environment["AWS_STORAGE_BUCKET_NAME"],
        Key=f"{store.location}/{obj.blob}",
    )["Body"].read()

    response = alice_client.get(
        "/alice-bucket/secret.bin",
        HTTP_RANGE=f"bytes={SMALL_BLOCK - 5}-{SMALL_BLOCK + 20}",
    )

    assert len(raw) == len(data)
    assert raw != data
    assert body_of(response) == data[SMALL_BLOCK - 5 : SMALL_BLOCK + 21]
    assert body_of(alice_client.get("/alice-bucket/secret.bin")) == data


def test_copy_object_reads_its_source_from_the_store(
    bucket, put_object, store, alice_signed_client
):
    put_object(bucket, "source.txt", b"copy me")

    response = alice_signed_client(
        "PUT",
        "alice-bucket",
        "copy.txt",
        headers={"x-oss-copy-source": "/alice-bucket/source.txt"},
    )

    assert response.status_code == 200
    copy = StoredObject.objects.get(key="copy.txt")
    assert stored_bytes(copy) == b"copy me"
    assert len(store.blobs()) == 2


def test_listing_shows_objects_whose_bytes_are_in_the_store(
    bucket, put_object, store, alice_signed_client
):
    put_object(bucket, "a/1.txt", b"1")
    put_object(bucket, "a/2.txt", b"22")

    response = alice_signed_client("GET", "alice-bucket", params={"prefix": "a/"})

    root = ET.fromstring(response.content)
    assert [
        (item.findtext("Key"), item.findtext("Size")) for item in root.iter("Contents")
    ] == [("a/1.txt", "1"), ("a/2.txt", "2")]


# -- multipart uploads -----------------------------------------------------------------


def initiate(send, key):
    response = send("POST", "alice-bucket", key, params={"uploads": ""})
    return ET.fromstring(response.content).findtext("UploadId")


def put_part(send, key, upload_id, number, data):
    response = send(
        "PUT",
        "alice-bucket",
        key,
        params={"partNumber": str(number), "uploadId": upload_id},
        body=data,
    )
    assert response.status_code == 200
    return response["ETag"]


def complete(send, key, upload_id, etags):
    listed = "".join(
        f"<Part><PartNumber>{n}</PartNumber><ETag>{etag}</ETag></Part>"
        for n, etag in enumerate(etags, start=1)
    )
    body = f"<CompleteMultipartUpload>{listed}</CompleteMultipartUpload>"
    return send(
        "POST", "alice-bucket", key, params={"uploadId": upload_id}, body=body.encode()
    )


def test_parts_are_blobs_in_the_store_and_completing_assembles_and_removes_them(
    bucket, store, alice_signed_client, django_capture_on_commit_callbacks
):
    send = alice_signed_client
    upload_id = initiate(send, "big.bin")
    first, second = os.urandom(100 * 1024), os.urandom(50_000)  # OSS: 100 KiB parts
    etags = [
        put_part(send, "big.bin", upload_id, 1, first),
        put_part(send, "big.bin", upload_id, 2, second),
    ]
    names = sorted(
        f"parts/{name}" for name in UploadedPart.objects.values_list("file", flat=True)
    )
    assert store.blobs() == names
    assert all(name.startswith(f"parts/{upload_id}/") for name in names)

    with django_capture_on_commit_callbacks(execute=True):
        response = complete(send, "big.bin", upload_id, etags)

    assert response.status_code == 200
    obj = StoredObject.objects.get()
    assert stored_bytes(obj) == first + second
    assert store.blobs() == [obj.blob]  # the parts went once it committed


def test_a_part_uploaded_again_replaces_the_old_part_blob(
    bucket, store, alice_signed_client, django_capture_on_commit_callbacks
):
    send = alice_signed_client
    upload_id = initiate(send, "big.bin")
    put_part(send, "big.bin", upload_id, 1, b"first try")

    with django_capture_on_commit_callbacks(execute=True):
        put_part(send, "big.bin", upload_id, 1, b"second try")

    assert store.blobs() == [f"parts/{UploadedPart.objects.get().file}"]


def test_aborting_an_upload_removes_its_part_blobs(
    bucket, store, alice_signed_client, django_capture_on_commit_callbacks
):
    send = alice_signed_client
    upload_id = initiate(send, "big.bin")
    put_part(send, "big.bin", upload_id, 1, b"part one")
    put_part(send, "big.bin", upload_id, 2, b"part two")

    with django_capture_on_commit_callbacks(execute=True):
        response = send(
            "DELETE", "alice-bucket", "big.bin", params={"uploadId": upload_id}
        )

    assert response.status_code == 204
    assert not MultipartUpload.objects.exists()
    assert store.blobs() == []


def test_upload_part_copy_reads_its_source_from_the_store(
    bucket, put_object, store, alice_signed_client
):
    put_object(bucket, "source.bin", b"0123456789")
    upload_id = initiate(alice_signed_client, "copy.bin")

    response = alice_signed_client(
        "PUT",
        "alice-bucket",
        "copy.bin",
        params={"partNumber": "1", "uploadId": upload_id},
        headers={
            "x-oss-copy-source": "/alice-bucket/source.bin",
            "x-oss-copy-source-range": "bytes=2-5",
        },
    )

    assert response.status_code == 200
    with parts.open_part(UploadedPart.objects.get()) as handle:
        assert handle.read() == b"2345"


# -- mirroring -----------------------------------------------------------------------


def test_a_mirrored_object_is_saved_in_the_store(
    bucket, store, alice_client, origin_server, mirror_rule
):
    origin_server.route("/a/b.txt", body=b"from the origin")
    mirror_rule()

    response = alice_client.get("/alice-bucket/a/b.txt")

    assert body_of(response) == b"from the origin"
    obj = StoredObject.objects.get()
    assert store.blobs() == [obj.blob]
    assert body_of(alice_client.get("/alice-bucket/a/b.txt")) == b"from the origin"
    assert len(origin_server.requests_to("/a/b.txt")) == 1


def test_a_mirror_cut_short_leaves_nothing_in_the_store(
    bucket, store, alice_client, origin_server, mirror_rule, settings
):
    origin_server.route("/big.bin", body=b"x" * 300_000, truncate_after=100_000)
    mirror_rule()

    response = alice_client.get("/alice-bucket/big.bin")
    with pytest.raises(MirrorInterrupted):
        body_of(response)

    assert not StoredObject.objects.exists()
    assert store.blobs() == []
    assert temp_files(settings) == []


# -- sweeps ----------------------------------------------------------------------------


def test_the_startup_sweep_leaves_young_unreferenced_blobs_alone(
    bucket, put_object, store, settings
):
    kept = put_object(bucket, "kept.txt", b"keep")
    stray = blob_store.objects().save(str(write_file(settings, b"x")), "ab/cd/abcd")
    (settings.OBJECT_TMP_DIR / "obj-crashed.part").write_bytes(b"half")

    # Another server may have uploaded it and be about to commit its row.
    assert remove_leftovers() == (1, 0)
    assert store.blobs() == sorted([kept.blob, stray])


def test_the_startup_sweep_removes_old_unreferenced_blobs_only(
    bucket, put_object, store, settings, versioned_bucket
):
    kept = put_object(bucket, "kept.txt", b"keep")
    older = put_object(versioned_bucket, "v.txt", b"version 1")
    newer = put_object(versioned_bucket, "v.txt", b"version 2")
    blob_store.objects().save(str(write_file(settings, b"x")), "ab/cd/abcd")
    settings.OBJECT_STORAGE_ORPHAN_SECONDS = -5  # everything counts as old

    assert remove_leftovers() == (0, 1)
    assert store.blobs() == sorted([kept.blob, older.blob, newer.blob])


def test_the_part_sweep_removes_old_part_blobs_no_row_names(
    bucket, store, alice_signed_client, settings
):
    upload_id = initiate(alice_signed_client, "big.bin")
    put_part(alice_signed_client, "big.bin", upload_id, 1, b"kept")
    parts_area = blob_store.parts()
    parts_area.save(str(write_file(settings, b"x")), f"{upload_id}/2-crashed")
    parts_area.save(str(write_file(settings, b"y")), f"{'F' * 32}/1-ended")

    assert parts.sweep_orphan_part_files() == 0  # young: rows may be on their way
    settings.OBJECT_STORAGE_ORPHAN_SECONDS = -5

    assert parts.sweep_orphan_part_files() == 2
    assert store.blobs() == [f"parts/{UploadedPart.objects.get().file}"]


@pytest.fixture
def versioned_bucket(alice):
    from buckets.models import Bucket

    return Bucket.objects.create(
        owner=alice, name="alice-versions", versioning="Enabled"
    )


def write_file(settings, data):
    path = settings.DATA_DIR / f"fixture-{uuid.uuid4().hex}"
    path.write_bytes(data)
    return path


def test_store_keys_are_never_object_keys(bucket, put_object, store):
    put_object(bucket, "../../etc/passwd", b"secret")

    assert not any("passwd" in key for key in store.blobs())


def test_metadata_is_kept_in_the_row_not_the_store(bucket, store):
    with write(b"x") as writer:
        obj = commit_object(
            bucket, "a.txt", writer, ObjectMetadata(content_type="text/plain")
        )

    head = store.client.head_object(
        Bucket=store.environment["AWS_STORAGE_BUCKET_NAME"],
        Key=f"{store.location}/{obj.blob}",
    )
    assert head["ContentLength"] == 1
    assert obj.content_type == "text/plain"
