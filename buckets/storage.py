"""Object bytes: written to a temporary file, then renamed into storage and committed.

Keys never become file names. Each write stores its bytes under a fresh generated
blob name through Django's storage API, and only then points the object row at it,
in one transaction. A failure at any step leaves the previous object intact.
"""

import contextlib
import hashlib
import logging
import os
import tempfile
import uuid
from dataclasses import dataclass, field

from django.conf import settings
from django.core.files import File
from django.core.files.storage import default_storage
from django.db import IntegrityError, transaction
from django.utils import timezone

from buckets.models import StoredObject

logger = logging.getLogger(__name__)

TMP_PREFIX = "obj-"
TMP_SUFFIX = ".part"
CHUNK_SIZE = 256 * 1024


@dataclass
class ObjectMetadata:
    content_type: str = "application/octet-stream"
    content_encoding: str = ""
    content_disposition: str = ""
    content_language: str = ""
    cache_control: str = ""
    expires: str = ""
    user_meta: dict = field(default_factory=dict)


class _TemporaryFile(File):
    """A finished temporary file; FileSystemStorage moves (renames) such files."""

    def __init__(self, path):
        super().__init__(None, name=os.path.basename(path))
        self._path = path
        self.size = os.path.getsize(path)

    def temporary_file_path(self):
        return self._path


class ObjectWriter:
    """Collects an object's bytes in DATA_DIR/tmp, counting size and MD5 as they pass."""

    def __init__(self):
        settings.OBJECT_TMP_DIR.mkdir(parents=True, exist_ok=True)
        fd, self.path = tempfile.mkstemp(
            prefix=TMP_PREFIX, suffix=TMP_SUFFIX, dir=settings.OBJECT_TMP_DIR
        )
        self._file = os.fdopen(fd, "wb")
        self._md5 = hashlib.md5()
        self.size = 0
        self.finished = False

    def write(self, chunk):
        self._file.write(chunk)
        self._md5.update(chunk)
        self.size += len(chunk)

    def write_from(self, readable):
        for chunk in iter(lambda: readable.read(CHUNK_SIZE), b""):
            self.write(chunk)

    @property
    def md5_hex(self):
        return self._md5.hexdigest()

    def finish(self):
        """Make the bytes durable before anything can point at them."""
        self._file.flush()
        os.fsync(self._file.fileno())
        self._file.close()
        self.finished = True

    def discard(self):
        if not self._file.closed:
            self._file.close()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        # Whatever was not committed is thrown away.
        self.discard()


def _fsync_directory(path):
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def new_blob_name():
    name = uuid.uuid4().hex
    return f"{name[:2]}/{name[2:4]}/{name}"


class ObjectChanged(Exception):
    """The object is no longer the one the write was based on (see expect_blob)."""


def commit_object(
    bucket,
    key,
    writer,
    metadata=None,
    *,
    mirrored=False,
    replace=True,
    object_type="Normal",
    expect_blob=None,
):
    """Atomically make the writer's bytes the object `key`; returns the row.

    With replace=False an object that appeared meanwhile wins and is returned
    unchanged (a mirror must not overwrite an upload). With expect_blob, the
    write only lands if the object still has that blob ("" = does not exist),
    else ObjectChanged: an append must not lose a concurrent append.
    """
    if not writer.finished:
        writer.finish()
    metadata = metadata or ObjectMetadata()
    blob = default_storage.save(new_blob_name(), _TemporaryFile(writer.path))
    try:
        # The rename must be durable before a row points at it (power loss).
        _fsync_directory(os.path.dirname(default_storage.path(blob)))
        obj, old_blob = _point_row_at_blob(
            bucket,
            key,
            blob,
            writer,
            metadata,
            mirrored,
            replace,
            object_type,
            expect_blob,
        )
    except BaseException:
        default_storage.delete(blob)
        raise
    if old_blob:
        # Readers still streaming the old bytes keep their open file.
        transaction.on_commit(lambda: delete_blob(old_blob))
    return obj


def _point_row_at_blob(
    bucket, key, blob, writer, metadata, mirrored, replace, object_type, expect_blob
):
    fields = {
        "object_type": object_type,
        "blob": blob,
        "size": writer.size,
        "md5": writer.md5_hex,
        "mirrored": mirrored,
        "last_modified": timezone.now(),
        "content_type": metadata.content_type or "application/octet-stream",
        "content_encoding": metadata.content_encoding,
        "content_disposition": metadata.content_disposition,
        "content_language": metadata.content_language,
        "cache_control": metadata.cache_control,
        "expires": metadata.expires,
        "user_meta": metadata.user_meta,
    }
    for _attempt in range(3):
        try:
            with transaction.atomic():
                existing = (
                    StoredObject.objects.select_for_update()
                    .filter(bucket=bucket, key=key)
                    .first()
                )
                if (
                    expect_blob is not None
                    and (existing.blob if existing else "") != expect_blob
                ):
                    raise ObjectChanged(key)
                if existing is None:
                    return StoredObject.objects.create(
                        bucket=bucket, key=key, **fields
                    ), None
                if not replace:
                    default_storage.delete(blob)
                    return existing, None
                old_blob = existing.blob
                for name, value in fields.items():
                    setattr(existing, name, value)
                existing.save()
                return existing, old_blob
        except IntegrityError:
            # Another writer created the key between our read and insert; go again.
            continue
    raise IntegrityError(f"could not commit object {key!r} after concurrent writes")


def delete_object(obj):
    with transaction.atomic():
        StoredObject.objects.filter(pk=obj.pk).delete()
        transaction.on_commit(lambda: delete_blob(obj.blob))


def delete_blob(blob):
    try:
        default_storage.delete(blob)
    except OSError:
        logger.warning("could not delete blob %s; the start-up sweep will retry", blob)


def open_blob(obj):
    return default_storage.open(obj.blob, "rb")


def remove_leftovers():
    """Start-up sweep: partial writes and blobs no row points at. Returns (tmp, blobs) counts."""
    removed_tmp = 0
    for entry in os.scandir(settings.OBJECT_TMP_DIR):
        if entry.is_file():
            os.unlink(entry.path)
            removed_tmp += 1
    referenced = set(StoredObject.objects.values_list("blob", flat=True).iterator())
    removed_blobs = 0
    root = settings.OBJECT_STORAGE_DIR
    if root.exists():
        for directory, _subdirs, files in os.walk(root):
            for name in files:
                path = os.path.join(directory, name)
                if os.path.relpath(path, root).replace(os.sep, "/") not in referenced:
                    os.unlink(path)
                    removed_blobs += 1
    return removed_tmp, removed_blobs
