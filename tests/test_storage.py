import hashlib
import io
import logging
import os
import re

import pytest
from django.core.files.storage import FileSystemStorage
from django.db import DatabaseError, IntegrityError

from buckets import storage
from buckets.models import StoredObject
from buckets.storage import (
    CHUNK_SIZE,
    ObjectMetadata,
    ObjectWriter,
    commit_object,
    delete_object,
    remove_leftovers,
)

BLOB_NAME_RE = re.compile(r"^([0-9a-f]{2})/([0-9a-f]{2})/\1\2[0-9a-f]{28}$")


def files_under(folder):
    """Every file below folder, as sorted relative paths with forward slashes."""
    return sorted(
        path.relative_to(folder).as_posix()
        for path in folder.rglob("*")
        if path.is_file()
    )


def stored_bytes(bucket, key):
    obj = bucket.stored_objects.get(key=key)
    with storage.open_blob(obj) as handle:
        return handle.read()


def write_and_commit(bucket, key, readable):
    with ObjectWriter() as writer:
        writer.write_from(readable)
        return commit_object(bucket, key, writer)


def write_and_give_up(data):
    """A writer whose caller finds a problem (say, a short body) before committing."""
    with ObjectWriter() as writer:
        writer.write(data)
        raise ValueError("length mismatch")


class BreaksAfter:
    """A readable that hands out some chunks, then fails like a dropped connection."""

    def __init__(self, chunks, tmp_dir):
        self.chunks = chunks
        self.tmp_dir = tmp_dir
        self.partial_files_seen = []

    def read(self, size):
        if self.chunks == 0:
            self.partial_files_seen = files_under(self.tmp_dir)
            raise ConnectionError("origin went away")
        self.chunks -= 1
        return b"x" * size


def test_committing_a_writer_creates_the_row_and_its_file(bucket, settings):
    with ObjectWriter() as writer:
        writer.write(b"hello ")
        writer.write(b"world")
        obj = commit_object(
            bucket,
            "greeting.txt",
            writer,
            ObjectMetadata(content_type="text/plain", user_meta={"author": "alice"}),
        )

    obj.refresh_from_db()
    assert (obj.bucket, obj.key, obj.size, obj.md5) == (
        bucket,
        "greeting.txt",
        11,
        "5eb63bbbe01eeed093cb22bb8f5acdc3",
    )
    assert (obj.content_type, obj.user_meta, obj.mirrored) == (
        "text/plain",
        {"author": "alice"},
        False,
    )
    assert files_under(settings.OBJECT_STORAGE_DIR) == [obj.blob]
    assert (settings.OBJECT_STORAGE_DIR / obj.blob).read_bytes() == b"hello world"
    assert files_under(settings.OBJECT_TMP_DIR) == []


def test_a_commit_without_metadata_stores_octet_stream(bucket):
    with ObjectWriter() as writer:
        writer.write(b"\x00\x01")
        obj = commit_object(bucket, "data.bin", writer)

    assert obj.content_type == "application/octet-stream"
    assert obj.content_disposition == ""
    assert obj.user_meta == {}


def test_an_empty_object_can_be_committed(bucket, put_object, settings):
    obj = put_object(bucket, "folder/", b"")

    assert (obj.size, obj.md5) == (0, "d41d8cd98f00b204e9800998ecf8427e")
    assert (settings.OBJECT_STORAGE_DIR / obj.blob).read_bytes() == b""


def test_write_from_copies_a_readable_across_chunk_boundaries(bucket):
    data = bytes(range(256)) * 3000
    assert len(data) > 2 * CHUNK_SIZE

    obj = write_and_commit(bucket, "big.bin", io.BytesIO(data))

    assert (obj.size, obj.md5) == (768000, hashlib.md5(data).hexdigest())
    assert stored_bytes(bucket, "big.bin") == data


def test_a_mirrored_commit_is_marked_mirrored(bucket, put_object):
    obj = put_object(bucket, "from-origin.txt", b"abc", mirrored=True)

    obj.refresh_from_db()
    assert obj.mirrored is True


def test_overwriting_replaces_the_bytes_and_deletes_the_old_file_after_commit(
    bucket, put_object, settings, django_capture_on_commit_callbacks
):
    old = put_object(bucket, "report.csv", b"first version")

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        new = put_object(bucket, "report.csv", b"second version")
        # Until the transaction commits, readers of the old row still find its file.
        assert (settings.OBJECT_STORAGE_DIR / old.blob).exists()

    assert len(callbacks) == 1
    assert new.pk == old.pk
    assert new.blob != old.blob
    assert files_under(settings.OBJECT_STORAGE_DIR) == [new.blob]
    assert stored_bytes(bucket, "report.csv") == b"second version"
    assert StoredObject.objects.count() == 1


def test_overwriting_replaces_all_metadata_rather_than_merging_it(bucket, put_object):
    put_object(
        bucket,
        "page.html",
        b"<p>old</p>",
        mirrored=True,
        content_type="text/html",
        cache_control="max-age=60",
        content_disposition="attachment",
        user_meta={"author": "alice"},
    )

    put_object(bucket, "page.html", b"new")

    obj = bucket.stored_objects.get(key="page.html")
    assert (
        obj.content_type,
        obj.cache_control,
        obj.content_disposition,
        obj.user_meta,
        obj.mirrored,
        obj.size,
    ) == ("application/octet-stream", "", "", {}, False, 3)


def test_a_write_that_fails_midway_leaves_the_previous_object_intact(
    bucket, put_object, settings
):
    old = put_object(bucket, "report.csv", b"old bytes")
    reader = BreaksAfter(chunks=3, tmp_dir=settings.OBJECT_TMP_DIR)

    with pytest.raises(ConnectionError):
        write_and_commit(bucket, "report.csv", reader)

    assert len(reader.partial_files_seen) == 1  # the failure really came mid-write
    assert stored_bytes(bucket, "report.csv") == b"old bytes"
    assert bucket.stored_objects.get(key="report.csv").md5 == old.md5
    assert files_under(settings.OBJECT_STORAGE_DIR) == [old.blob]
    assert files_under(settings.OBJECT_TMP_DIR) == []


def test_an_error_before_commit_throws_the_written_bytes_away(
    bucket, put_object, settings
):
    old = put_object(bucket, "report.csv", b"old bytes")

    with pytest.raises(ValueError, match="length mismatch"):
        write_and_give_up(b"new but truncated")

    assert stored_bytes(bucket, "report.csv") == b"old bytes"
    assert files_under(settings.OBJECT_STORAGE_DIR) == [old.blob]
    assert files_under(settings.OBJECT_TMP_DIR) == []


def test_a_failed_write_of_a_new_key_leaves_nothing_behind(bucket, settings):
    reader = BreaksAfter(chunks=1, tmp_dir=settings.OBJECT_TMP_DIR)

    with pytest.raises(ConnectionError):
        write_and_commit(bucket, "new.bin", reader)

    assert not bucket.stored_objects.exists()
    assert files_under(settings.OBJECT_STORAGE_DIR) == []
    assert files_under(settings.OBJECT_TMP_DIR) == []


def test_a_failure_while_pointing_the_row_at_the_new_file_removes_that_file(
    bucket, put_object, settings, monkeypatch
):
    old = put_object(bucket, "report.csv", b"old bytes")

    def fail(*args, **kwargs):
        raise DatabaseError("disk I/O error")

    monkeypatch.setattr(storage, "_point_row_at_blob", fail)
    with pytest.raises(DatabaseError):
        write_and_commit(bucket, "report.csv", io.BytesIO(b"new bytes"))

    assert stored_bytes(bucket, "report.csv") == b"old bytes"
    assert bucket.stored_objects.get(key="report.csv").md5 == old.md5
    assert files_under(settings.OBJECT_STORAGE_DIR) == [old.blob]
    assert files_under(settings.OBJECT_TMP_DIR) == []


@pytest.mark.parametrize("key", ["report.csv", "another.csv"])
def test_a_failing_row_save_rolls_back_and_removes_the_new_file(
    key, bucket, put_object, settings, monkeypatch
):
    old = put_object(bucket, "report.csv", b"old bytes")

    def fail(self, *args, **kwargs):
        raise DatabaseError("database is locked")

    monkeypatch.setattr(StoredObject, "save", fail)
    with pytest.raises(DatabaseError):
        write_and_commit(bucket, key, io.BytesIO(b"new bytes"))

    monkeypatch.undo()
    assert list(bucket.stored_objects.values_list("key", "blob", "md5")) == [
        ("report.csv", old.blob, old.md5)
    ]
    assert stored_bytes(bucket, "report.csv") == b"old bytes"
    assert files_under(settings.OBJECT_STORAGE_DIR) == [old.blob]
    assert files_under(settings.OBJECT_TMP_DIR) == []


def test_a_commit_that_keeps_colliding_gives_up_and_removes_its_file(
    bucket, settings, monkeypatch
):
    attempts = []

    def collide(self, *args, **kwargs):
        attempts.append(self.key)
        raise IntegrityError("UNIQUE constraint failed")

    monkeypatch.setattr(StoredObject, "save", collide)
    with pytest.raises(IntegrityError):
        write_and_commit(bucket, "contended.txt", io.BytesIO(b"bytes"))

    assert attempts == ["contended.txt"] * 3
    assert files_under(settings.OBJECT_STORAGE_DIR) == []
    assert files_under(settings.OBJECT_TMP_DIR) == []


def test_a_commit_that_must_not_replace_keeps_the_existing_object(
    bucket, put_object, settings
):
    uploaded = put_object(bucket, "k.txt", b"uploaded", content_type="text/plain")

    with ObjectWriter() as writer:
        writer.write(b"mirrored bytes")
        result = commit_object(bucket, "k.txt", writer, mirrored=True, replace=False)

    assert (result.pk, result.blob, result.md5, result.mirrored) == (
        uploaded.pk,
        uploaded.blob,
        uploaded.md5,
        False,
    )
    assert stored_bytes(bucket, "k.txt") == b"uploaded"
    assert files_under(settings.OBJECT_STORAGE_DIR) == [uploaded.blob]
    assert files_under(settings.OBJECT_TMP_DIR) == []


def test_a_commit_that_must_not_replace_still_creates_a_missing_object(bucket):
    with ObjectWriter() as writer:
        writer.write(b"mirrored bytes")
        obj = commit_object(bucket, "k.txt", writer, mirrored=True, replace=False)

    assert (obj.size, obj.mirrored) == (14, True)
    assert stored_bytes(bucket, "k.txt") == b"mirrored bytes"


def test_the_same_key_in_two_buckets_is_two_objects(bucket, public_bucket, put_object):
    put_object(bucket, "same.txt", b"private")
    put_object(public_bucket, "same.txt", b"public")

    assert stored_bytes(bucket, "same.txt") == b"private"
    assert stored_bytes(public_bucket, "same.txt") == b"public"


def test_discarding_an_uncommitted_writer_removes_its_temp_file(settings):
    writer = ObjectWriter()
    writer.write(b"partial")
    assert files_under(settings.OBJECT_TMP_DIR) == [os.path.basename(writer.path)]

    writer.discard()
    writer.discard()  # twice is harmless

    assert files_under(settings.OBJECT_TMP_DIR) == []


def test_deleting_an_object_removes_its_row_and_after_commit_its_file(
    bucket, put_object, settings, django_capture_on_commit_callbacks
):
    obj = put_object(bucket, "gone.txt", b"bye")

    with django_capture_on_commit_callbacks(execute=True):
        delete_object(obj)
        assert (settings.OBJECT_STORAGE_DIR / obj.blob).exists()

    assert not bucket.stored_objects.exists()
    assert files_under(settings.OBJECT_STORAGE_DIR) == []


def test_a_file_that_cannot_be_deleted_is_left_for_the_sweep(
    bucket, put_object, monkeypatch, caplog, django_capture_on_commit_callbacks
):
    obj = put_object(bucket, "stuck.txt", b"bytes")

    def refuse(self, name):
        raise PermissionError("read-only file system")

    monkeypatch.setattr(FileSystemStorage, "delete", refuse)
    with (
        caplog.at_level(logging.WARNING, logger="buckets.storage"),
        django_capture_on_commit_callbacks(execute=True),
    ):
        delete_object(obj)

    assert not bucket.stored_objects.exists()
    assert caplog.messages == [
        f"could not delete blob {obj.blob}; the start-up sweep will retry"
    ]


def test_the_startup_sweep_removes_partial_writes_and_unreferenced_files(
    bucket, put_object, settings
):
    kept = put_object(bucket, "kept.txt", b"keep me")
    # Deleted inside the test transaction, so its file's on_commit removal never ran.
    gone = put_object(bucket, "gone.txt", b"deleted")
    delete_object(gone)
    stray = settings.OBJECT_STORAGE_DIR / "ab" / "cd" / ("abcd" + "0" * 28)
    stray.parent.mkdir(parents=True, exist_ok=True)
    stray.write_bytes(b"orphan")
    (settings.OBJECT_TMP_DIR / "obj-crashed.part").write_bytes(b"half an obj")

    assert remove_leftovers() == (1, 2)

    assert files_under(settings.OBJECT_STORAGE_DIR) == [kept.blob]
    assert files_under(settings.OBJECT_TMP_DIR) == []
    assert stored_bytes(bucket, "kept.txt") == b"keep me"


def test_the_startup_sweep_with_nothing_to_do_removes_nothing(
    bucket, put_object, settings
):
    kept = put_object(bucket, "kept.txt", b"keep me")

    assert remove_leftovers() == (0, 0)
    assert files_under(settings.OBJECT_STORAGE_DIR) == [kept.blob]


@pytest.mark.django_db
def test_the_startup_sweep_copes_with_no_storage_folder_yet(settings):
    settings.OBJECT_STORAGE_DIR.rmdir()

    assert remove_leftovers() == (0, 0)


@pytest.mark.parametrize(
    "key",
    [
        "../../etc/passwd",
        "..\\..\\windows\\win.ini",
        "folder/../../../outside.txt",
        "ünï/😀.txt",
        "a" * 1023,
    ],
)
def test_blob_names_are_generated_and_never_contain_the_key(
    key, bucket, put_object, isolated_data_dir, settings
):
    obj = put_object(bucket, key, b"secret")

    assert BLOB_NAME_RE.match(obj.blob)
    assert (
        (settings.OBJECT_STORAGE_DIR / obj.blob)
        .resolve()
        .is_relative_to(settings.OBJECT_STORAGE_DIR.resolve())
    )
    # Nothing was written anywhere else under the test's data folder.
    assert files_under(isolated_data_dir) == [f"objects/{obj.blob}"]
    assert stored_bytes(bucket, key) == b"secret"


def test_two_writes_of_the_same_bytes_get_different_blob_names(bucket, put_object):
    first = put_object(bucket, "one.txt", b"same")
    second = put_object(bucket, "two.txt", b"same")

    assert first.blob != second.blob
    assert first.md5 == second.md5


def test_a_reader_holding_a_row_read_before_an_overwrite_gets_the_new_bytes(
    bucket, put_object, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        stale = put_object(bucket, "k", b"old")
    with django_capture_on_commit_callbacks(execute=True):
        put_object(bucket, "k", b"new")  # the old bytes are removed on commit

    current, handle = storage.open_current_version(stale)

    with handle:
        assert (current.size, handle.read()) == (3, b"new")


def test_a_reader_holding_a_row_read_before_a_delete_finds_nothing(
    bucket, put_object, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        stale = put_object(bucket, "k", b"old")
    with django_capture_on_commit_callbacks(execute=True):
        storage.delete_key(bucket, "k")

    assert storage.open_current_version(stale) == (None, None)
