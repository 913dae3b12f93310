"""Multipart uploads under faults (SPEC §9): a part cut short or too big for the disk
leaves no part and no temp file; a CompleteMultipartUpload with no room to assemble
is 507 with nothing visible, the previous object whole and the upload still there
to complete once space is back. DATA_DIR is the 40 MiB tmpfs of the disk-full
tests (skipped with the reason where mounting is not allowed)."""

import hashlib
import os

import oss2
import pytest

from tests.faults.conftest import MIB, free_bytes, send_cut_short
from tests.faults.test_disk_full import (
    assert_storage_error,
    chunked_body_bigger_than_the_disk,
)

pytestmark = [pytest.mark.faults, pytest.mark.server]
RELIABILITY_CATEGORY = "multipart uploads"

OCTETS = {"Content-Type": "application/octet-stream"}


@pytest.fixture(scope="module")
def server(tmpfs_data_dir, start_server, tmp_path_factory):
    log = tmp_path_factory.mktemp("multipart-faults-log") / "gunicorn.log"
    server = start_server(
        data_dir=tmpfs_data_dir, log=log, WEB_WORKERS=1, MIN_FREE_BYTES=4 * MIB
    )
    yield server
    server.stop()  # before the tmpfs is unmounted


@pytest.fixture
def bucket(server):
    """A new bucket; its uploads and objects go afterwards, so the disk is free again."""
    bucket = server.new_bucket()
    yield bucket
    (server.data_dir / "filler.bin").unlink(missing_ok=True)
    for upload in oss2.MultipartUploadIterator(bucket):
        bucket.abort_multipart_upload(upload.key, upload.upload_id)
    for obj in oss2.ObjectIterator(bucket):
        bucket.delete_object(obj.key)


def part_query(upload_id, number):
    return {"uploadId": upload_id, "partNumber": str(number)}


def part_target(bucket, key, upload_id, number):
    return f"/{bucket.bucket_name}/{key}?uploadId={upload_id}&partNumber={number}"


def part_files(server):
    root = server.data_dir / "parts"
    return (
        sorted(p.name for p in root.rglob("*") if p.is_file()) if root.exists() else []
    )


def test_a_part_cut_short_leaves_no_part(server, bucket):
    upload_id = bucket.init_multipart_upload("cut.bin").upload_id
    headers = server.signed_headers(
        "PUT",
        bucket.bucket_name,
        "cut.bin",
        params=part_query(upload_id, 1),
        headers=OCTETS,
    )

    answer = send_cut_short(
        server.url,
        "PUT",
        part_target(bucket, "cut.bin", upload_id, 1),
        headers,
        10 * MIB,
        os.urandom(MIB),
    )

    assert answer is None or (answer.status, answer.code) == (400, "IncompleteBody")
    assert bucket.list_parts("cut.bin", upload_id).parts == []
    assert server.leftover_temp_files() == []
    assert part_files(server) == []


def test_a_part_that_fills_the_disk_is_507_and_the_upload_goes_on(server, bucket):
    upload_id = bucket.init_multipart_upload("full.bin").upload_id
    headers = server.signed_headers(
        "PUT",
        bucket.bucket_name,
        "full.bin",
        params=part_query(upload_id, 1),
        headers=OCTETS,
    )

    answer = chunked_body_bigger_than_the_disk(
        server, "PUT", part_target(bucket, "full.bin", upload_id, 1), headers
    )

    assert_storage_error(answer.status, answer.body)
    assert server.leftover_temp_files(timeout=5) == []
    assert bucket.list_parts("full.bin", upload_id).parts == []
    assert part_files(server) == []
    result = bucket.upload_part("full.bin", upload_id, 1, b"space is back")
    bucket.complete_multipart_upload(
        "full.bin", upload_id, [oss2.models.PartInfo(1, result.etag)]
    )
    assert bucket.get_object("full.bin").read() == b"space is back"


def test_a_complete_without_room_to_assemble_is_507_and_can_be_retried(server, bucket):
    bucket.put_object("video.bin", b"the previous video")
    upload_id = bucket.init_multipart_upload("video.bin").upload_id
    datas = [os.urandom(8 * MIB), os.urandom(8 * MIB)]
    infos = [
        oss2.models.PartInfo(
            number, bucket.upload_part("video.bin", upload_id, number, data).etag
        )
        for number, data in enumerate(datas, start=1)
    ]
    # Leave less free space than the two parts need together.
    filler = server.data_dir / "filler.bin"
    filler.write_bytes(b"\0" * (free_bytes(server.data_dir) - 12 * MIB))

    with pytest.raises(oss2.exceptions.ServerError) as raised:
        bucket.complete_multipart_upload("video.bin", upload_id, infos)

    assert (raised.value.status, raised.value.code) == (507, "InsufficientStorage")
    assert bucket.get_object("video.bin").read() == b"the previous video"
    assert len(bucket.list_parts("video.bin", upload_id).parts) == 2
    assert server.leftover_temp_files(timeout=5) == []

    filler.unlink()
    bucket.complete_multipart_upload("video.bin", upload_id, infos)

    whole = b"".join(datas)
    assert hashlib.md5(bucket.get_object("video.bin").read()).digest() == (
        hashlib.md5(whole).digest()
    )
    assert part_files(server) == []
