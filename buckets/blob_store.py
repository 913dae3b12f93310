"""Where blob bytes live: files under DATA_DIR (OBJECT_STORAGE=local, the default) or
objects in one S3-compatible bucket (OBJECT_STORAGE=s3, django-storages' S3 backend).

Two areas hold blobs: objects (the `blob` of a StoredObject or ObjectVersion) and
multipart parts (an UploadedPart's `file`). Locally they are OBJECT_STORAGE_DIR (Django's
default storage) and DATA_DIR/parts; on S3 one bucket, parts under `parts/`, so an
upload begun on one server completes on another. Only buckets/storage.py and
buckets/parts.py call this module; nothing else knows which backend is in use.

A blob is saved only once its temporary file is complete, as one store object
(boto3's managed transfer: multipart for large files, aborted on failure), so a row
never names partial bytes. Reads of S3 blobs are ranged GETs of one block at a time.
"""

import contextlib
import datetime
import errno
import io
import os
import shutil
import time
from pathlib import Path

from boto3.s3.transfer import TransferConfig
from botocore.exceptions import ClientError
from django.conf import settings
from django.core.files import File
from django.core.files.storage import default_storage
from storages.utils import clean_name

PARTS_PREFIX = "parts/"
# A ranged GET fetches this much: the most a reader holds in memory.
READ_BLOCK_SIZE = 4 * 1024 * 1024
# Uploads of finished temp files: multipart above 16 MiB, a few parts at a time,
# each read from the file as it is sent (flat memory).
TRANSFER_CONFIG = TransferConfig(
    multipart_threshold=16 * 1024 * 1024,
    multipart_chunksize=16 * 1024 * 1024,
    max_concurrency=4,
)
_MISSING_CODES = {"404", "NoSuchKey", "NotFound"}


def uses_s3():
    return settings.OBJECT_STORAGE == "s3"


def objects():
    """The area of object blobs."""
    return S3Area("") if uses_s3() else LocalObjects()


def parts():
    """The area of multipart parts."""
    return S3Area(PARTS_PREFIX) if uses_s3() else LocalFolder(parts_root())


def parts_root():
    return Path(settings.DATA_DIR) / "parts"


def fsync_directory(path):
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class _TemporaryFile(File):
    """A finished temporary file; FileSystemStorage moves (renames) such files."""

    def __init__(self, path):
        super().__init__(None, name=os.path.basename(path))
        self._path = path
        self.size = os.path.getsize(path)

    def temporary_file_path(self):
        return self._path


# -- local ----------------------------------------------------------------------------


class LocalObjects:
    """Object blobs as files of Django's default storage (FileSystemStorage)."""

    def save(self, path, name):
        """Move the finished file at `path` in as blob `name`, durably; returns the name."""
        blob = default_storage.save(name, _TemporaryFile(path))
        try:
            # The rename must be durable before a row points at it (power loss).
            fsync_directory(os.path.dirname(default_storage.path(blob)))
        except BaseException:
            default_storage.delete(blob)
            raise
        return blob

    def open(self, name):
        return default_storage.open(name, "rb")

    def delete(self, name):
        default_storage.delete(name)

    def local_path(self, name):
        return Path(default_storage.path(name))

    def remove_orphans(self, referenced):
        """At start-up, before any worker writes: every file `referenced()` does not
        name goes, whatever its age. Returns how many."""
        root = Path(settings.OBJECT_STORAGE_DIR)
        if not root.exists():
            return 0
        names = set(referenced())
        removed = 0
        for directory, _subdirs, files in os.walk(root):
            for file_name in files:
                path = os.path.join(directory, file_name)
                if os.path.relpath(path, root).replace(os.sep, "/") not in names:
                    os.unlink(path)
                    removed += 1
        return removed


class LocalFolder:
    """Blobs as files under one folder of DATA_DIR (multipart parts)."""

    def __init__(self, root):
        self.root = Path(root)

    def save(self, path, name):
        target = self.root / name
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(path, target)  # DATA_DIR/tmp is on the same file system
        try:
            fsync_directory(target.parent)  # durable before a row names it
        except BaseException:
            target.unlink(missing_ok=True)
            raise
        return name

    def open(self, name):
        return open(self.root / name, "rb")  # noqa: SIM115 - the caller closes it

    def delete(self, name):
        (self.root / name).unlink(missing_ok=True)

    def delete_folder(self, folder):
        shutil.rmtree(self.root / folder, ignore_errors=True)

    def local_path(self, name):
        return self.root / name

    def remove_orphans(self, named, live_folders):
        """Folders of uploads that ended (not in `live_folders()`) and files `named()`
        does not name, once older than OBJECT_STORAGE_ORPHAN_SECONDS (a part's row
        may be on its way). Returns how many files and folders went."""
        if not self.root.exists():
            return 0
        live, named = set(live_folders()), set(named())
        removed = 0
        for folder in os.scandir(self.root):
            try:
                if folder.name not in live:
                    if _older_than_grace(folder):
                        shutil.rmtree(folder.path, ignore_errors=True)
                        removed += 1
                    continue
                for entry in os.scandir(folder.path):
                    unnamed = f"{folder.name}/{entry.name}" not in named
                    if unnamed and _older_than_grace(entry):
                        os.unlink(entry.path)
                        removed += 1
            except FileNotFoundError:
                continue  # completed or aborted meanwhile
        return removed


def _older_than_grace(entry):
    return time.time() - entry.stat().st_mtime > settings.OBJECT_STORAGE_ORPHAN_SECONDS


# -- S3 -------------------------------------------------------------------------------


class S3Area:
    """Blobs as objects of the S3 bucket django-storages is configured with, under
    `prefix` (and the storage's own AWS_LOCATION)."""

    def __init__(self, prefix):
        self.prefix = prefix
        self.storage = default_storage

    @property
    def client(self):
        # django-storages keeps one boto3 resource per thread.
        return self.storage.connection.meta.client

    @property
    def bucket_name(self):
        return self.storage.bucket_name

    def key(self, name):
        return self.storage._normalize_name(clean_name(self.prefix + name))

    def save(self, path, name):
        """Upload the finished file at `path` as blob `name`. boto3 aborts a failed
        multipart upload, so a failure leaves nothing in the store."""
        self.client.upload_file(
            path, self.bucket_name, self.key(name), Config=TRANSFER_CONFIG
        )
        return name

    def open(self, name):
        return S3RangeReader(self.client, self.bucket_name, self.key(name))

    def delete(self, name):
        self.client.delete_object(Bucket=self.bucket_name, Key=self.key(name))

    def delete_folder(self, folder):
        keys = [key for key, _modified in self._list(self.key(folder) + "/")]
        for start in range(0, len(keys), 1000):  # DeleteObjects takes 1000 at most
            self.client.delete_objects(
                Bucket=self.bucket_name,
                Delete={
                    "Objects": [{"Key": key} for key in keys[start : start + 1000]],
                    "Quiet": True,
                },
            )

    def local_path(self, name):
        return None

    def check_reachable(self):
        """Raise unless the bucket answers (healthz)."""
        self.client.head_bucket(Bucket=self.bucket_name)

    def remove_orphans(self, referenced, live_folders=None):
        """Blobs `referenced()` does not name that are older than
        OBJECT_STORAGE_ORPHAN_SECONDS: a younger one may be another server's,
        uploaded and about to be named by its row. Listed before `referenced()` is
        read, so a row committed meanwhile is seen. Returns how many went."""
        old = list(self._names_older_than(settings.OBJECT_STORAGE_ORPHAN_SECONDS))
        names = set(referenced())
        removed = 0
        for name in old:
            if name not in names:
                self.delete(name)
                removed += 1
        return removed

    def _names_older_than(self, seconds):
        cutoff = datetime.datetime.now(datetime.UTC) - datetime.timedelta(
            seconds=seconds
        )
        root = self.key("")
        root = root + "/" if root and not root.endswith("/") else root
        for key, modified in self._list(root):
            name = key[len(root) :]
            if not self.prefix and name.startswith(PARTS_PREFIX):
                continue  # the parts area's
            if modified < cutoff:
                yield name

    def _list(self, prefix):
        pages = self.client.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket_name, Prefix=prefix
        )
        for page in pages:
            for item in page.get("Contents", ()):
                yield item["Key"], item["LastModified"]


def _is_missing(error):
    return error.response.get("Error", {}).get("Code") in _MISSING_CODES


class S3RangeReader(io.RawIOBase):
    """A seekable, read-only view of one S3 object, fetched by ranged GETs of
    READ_BLOCK_SIZE: a Range of a large object fetches about that range, and
    streaming any size holds one block. FileNotFoundError if the blob is gone
    (removed by an overwrite or delete that committed meanwhile)."""

    def __init__(self, client, bucket_name, key, block_size=None):
        super().__init__()
        self._client, self._bucket, self._key = client, bucket_name, key
        self._block_size = block_size or READ_BLOCK_SIZE
        try:
            head = client.head_object(Bucket=bucket_name, Key=key)
        except ClientError as error:
            if _is_missing(error):
                raise FileNotFoundError(errno.ENOENT, "blob is gone") from None
            raise
        self.size = head["ContentLength"]
        self._etag = head["ETag"]
        self._position = 0
        self._block_start = 0
        self._block = memoryview(b"")

    def readable(self):
        return True

    def seekable(self):
        return True

    def tell(self):
        return self._position

    def seek(self, offset, whence=io.SEEK_SET):
        if whence == io.SEEK_CUR:
            offset += self._position
        elif whence == io.SEEK_END:
            offset += self.size
        if offset < 0:
            raise ValueError("negative seek position")
        self._position = offset
        return offset

    def readinto(self, buffer):
        """Fill `buffer` as a regular file does: short only at the end."""
        filled = 0
        while filled < len(buffer) and self._position < self.size:
            offset = self._position - self._block_start
            if not 0 <= offset < len(self._block):
                self._fetch_block_at(self._position)
                offset = 0
            count = min(len(buffer) - filled, len(self._block) - offset)
            buffer[filled : filled + count] = self._block[offset : offset + count]
            filled += count
            self._position += count
        return filled

    def _fetch_block_at(self, start):
        end = min(start + self._block_size, self.size) - 1
        try:
            response = self._client.get_object(
                Bucket=self._bucket,
                Key=self._key,
                Range=f"bytes={start}-{end}",
                IfMatch=self._etag,
            )
        except ClientError as error:
            if _is_missing(error):
                raise FileNotFoundError(errno.ENOENT, "blob is gone") from None
            raise
        with contextlib.closing(response["Body"]) as body:
            data = body.read()
        if len(data) != end - start + 1:
            raise OSError(errno.EIO, "the store sent fewer bytes than asked")
        self._block_start, self._block = start, memoryview(data)

    def close(self):
        self._block = memoryview(b"")
        super().close()
