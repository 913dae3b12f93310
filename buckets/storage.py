"""Object bytes: written to a temporary file, then renamed into storage and committed.

Keys never become file names. Each write stores its bytes under a fresh generated
blob name (buckets/blob_store.py: a file under DATA_DIR, or an object in an
S3-compatible store), and only then points the object row at it, in one
transaction. A failure at any step leaves the previous object intact.
"""

import contextlib
import datetime
import errno
import hashlib
import logging
import os
import queue
import shutil
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from buckets import blob_store, bucket_lookup, quota, versioning, worm, writeback
from buckets import envelope as sse_envelope
from buckets.checksums import crc64_ecma
from buckets.models import DeletedKey, ObjectVersion, StoredObject

logger = logging.getLogger(__name__)

TMP_PREFIX = "obj-"
TMP_SUFFIX = ".part"
# A temporary file of a live process untouched this long is abandoned too (a reused pid).
STALE_TMP_SECONDS = 3600
CHUNK_SIZE = 256 * 1024
# A writer that hashes in the background starts its thread only past this many bytes:
# a small object is not worth a thread.
BACKGROUND_AFTER_BYTES = 1024 * 1024
# Chunks waiting to be hashed (a mirror's are at most origin/fetch.py's read size,
# 256 KiB): how far, in memory, the writes can run ahead of the digests.
BACKGROUND_QUEUE_CHUNKS = 16
# The hashing thread starts the disk write of what was written every this many bytes,
# so the fsync before the commit has little left to do (buckets/writeback.py).
WRITEBACK_EVERY_BYTES = 8 * 1024 * 1024


@dataclass
class ObjectMetadata:
    content_type: str = "application/octet-stream"
    content_encoding: str = ""
    content_disposition: str = ""
    content_language: str = ""
    cache_control: str = ""
    expires: str = ""
    user_meta: dict = field(default_factory=dict)
    # Object tags: a write without them clears the old ones, as on OSS.
    tags: dict = field(default_factory=dict)
    # x-oss-object-acl: likewise, a write without it makes the object's ACL "default".
    acl: str = "default"


class ObjectWriter:
    """Collects an object's bytes in DATA_DIR/tmp, counting size and MD5 as they pass.

    `encryption` (an envelope.Sse) encrypts them as they are written; envelope.PLAIN
    keeps them plain; None leaves it to commit_object (the bucket's default).

    With hash_in_background, a large object's MD5 and CRC-64 are computed by a thread
    of its own (MD5 runs at ~700 MiB/s, releasing the GIL), which also starts the
    disk write of what was written: the caller only writes the bytes, so a mirror
    streams to its client on one core while they are hashed on the other. Chunks
    handed to write() must not change afterwards (bytes, as sockets and files give)."""

    def __init__(self, encryption=None, *, hash_in_background=False):
        self.encryption = encryption
        self.envelope = sse_envelope.envelope_for(encryption)
        self._encryptor = self.envelope.encryptor() if self.envelope else None
        settings.OBJECT_TMP_DIR.mkdir(parents=True, exist_ok=True)
        # The writer's pid in the name lets the sweeper tell a dead process's file.
        fd, self.path = tempfile.mkstemp(
            prefix=f"{TMP_PREFIX}{os.getpid()}-",
            suffix=TMP_SUFFIX,
            dir=settings.OBJECT_TMP_DIR,
        )
        self._file = os.fdopen(fd, "wb")
        self._md5 = hashlib.md5()
        self._crc64 = crc64_ecma()
        self.size = 0
        self.finished = False
        self._hash_in_background = hash_in_background
        self._hashing = None  # the _BackgroundDigests once started

    def write(self, chunk):
        try:
            self._file.write(
                self._encryptor.update(chunk) if self._encryptor else chunk
            )
        except OSError:
            self.discard()  # a full disk gets its space back at once
            raise
        self.size += len(chunk)
        if self._hashing is None and self._wants_background():
            self._hashing = _BackgroundDigests(
                self._md5, self._crc64, self._file.fileno()
            )
        if self._hashing is None:
            self._md5.update(chunk)
            self._crc64.update(chunk)
        else:
            self._hashing.put(chunk)

    def _wants_background(self):
        return self._hash_in_background and self.size > BACKGROUND_AFTER_BYTES

    def _catch_up(self):
        """Wait until every chunk written so far is hashed; later ones are hashed inline."""
        hashing, self._hashing = self._hashing, None
        if hashing is not None:
            hashing.finish()

    def write_from(self, readable, expected_size=None):
        for chunk in iter(lambda: readable.read(CHUNK_SIZE), b""):
            self.write(chunk)
        if expected_size is not None and self.size != expected_size:
            self.discard()
            raise OSError(
                errno.EIO, f"read {self.size} of the {expected_size} bytes stored"
            )

    @property
    def md5_hex(self):
        self._catch_up()
        return self._md5.hexdigest()

    @property
    def crc64(self):
        """CRC-64/ECMA of the bytes so far, as OSS's x-oss-hash-crc64ecma (decimal)."""
        self._catch_up()
        return str(self._crc64.value)

    def finish(self):
        """Make the bytes durable before anything can point at them."""
        self._catch_up()
        try:
            self._file.flush()
            os.fsync(self._file.fileno())
            self._file.close()
        except OSError:
            self.discard()
            raise
        self.finished = True

    def discard(self):
        hashing, self._hashing = self._hashing, None
        if hashing is not None:
            hashing.cancel()  # its thread must be done with the file first
        if not self._file.closed:
            # Closing flushes the buffer, which fails again on a full disk.
            with contextlib.suppress(OSError):
                self._file.close()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        # Whatever was not committed is thrown away.
        self.discard()


class _BackgroundDigests:
    """One thread updating an MD5 and a CRC-64 with chunks in order, fed by a bounded
    queue (a writer faster than MD5 waits: memory stays bounded), and starting the
    disk write of the file as it goes."""

    _END = None

    def __init__(self, md5, crc64, fd):
        self._md5 = md5
        self._crc64 = crc64
        self._fd = fd
        self._chunks = queue.Queue(maxsize=BACKGROUND_QUEUE_CHUNKS)
        self._cancelled = False
        self._error = None
        self._thread = threading.Thread(
            target=self._run, name="object-digests", daemon=True
        )
        self._thread.start()

    def put(self, chunk):
        self._chunks.put(chunk)

    def finish(self):
        """Wait for every chunk put so far; raises what failed in the thread."""
        self._chunks.put(self._END)
        self._thread.join()
        if self._error is not None:
            raise self._error

    def cancel(self):
        """Stop; returns once the thread no longer touches the file."""
        self._cancelled = True
        self._chunks.put(self._END)
        self._thread.join()

    def _run(self):
        unsynced = 0
        # After a failure or a cancel it keeps taking chunks, so a writer never blocks.
        while (chunk := self._chunks.get()) is not self._END:
            if self._cancelled or self._error is not None:
                continue
            try:
                self._md5.update(chunk)
                self._crc64.update(chunk)
                unsynced += len(chunk)
                if unsynced >= WRITEBACK_EVERY_BYTES:
                    writeback.start_writeback(self._fd)
                    unsynced = 0
            except BaseException as error:  # noqa: BLE001 - raised by finish()
                self._error = error


def free_bytes():
    return shutil.disk_usage(settings.OBJECT_TMP_DIR).free


def ensure_room_for(length):
    """Refuse a body of known length that cannot fit, before reading or sending any of it."""
    if length is None:
        return
    free = free_bytes()
    if length > free:
        raise OSError(
            errno.ENOSPC, f"{length} bytes do not fit in the {free} bytes free"
        )


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
    unless_deleted_since=None,
    last_modified=None,
    multipart_etag="",
    symlink_target="",
    on_row=None,
):
    """Atomically make the writer's bytes the object `key`; returns the row.

    With replace=False an object that appeared meanwhile wins and is returned
    unchanged (a mirror must not overwrite an upload). With expect_blob, the
    write only lands if the object still has that blob ("" = does not exist),
    else ObjectChanged: an append must not lose a concurrent append. With
    unless_deleted_since, a delete of the key after that time wins: ObjectChanged.
    `last_modified` defaults to now (a mirror passes the time it already announced).
    `multipart_etag` is the ETag CompleteMultipartUpload gives (any other write clears it);
    `symlink_target` a Symlink's target (likewise).
    `on_row(row)` runs inside the committing transaction once the row is decided (the
    new one, or the one kept with replace=False): what it writes commits with the row
    or not at all, with no second write transaction (a mirror's fetch-log entry).
    """
    if not writer.finished:
        writer.finish()
    metadata = metadata or ObjectMetadata()
    writer = _encrypted_as_bucket_default(bucket, writer)
    try:
        # Complete and durable in the store before any row can point at it.
        blob = blob_store.objects().save(writer.path, new_blob_name())
    finally:
        writer.discard()  # moved or uploaded into storage, or not to be kept
    fields = {
        "object_type": object_type,
        "blob": blob,
        "size": writer.size,
        "md5": writer.md5_hex,
        "crc64": writer.crc64,
        "multipart_etag": multipart_etag,
        "mirrored": mirrored,
        "last_modified": last_modified or timezone.now(),
        "content_type": metadata.content_type or "application/octet-stream",
        "content_encoding": metadata.content_encoding,
        "content_disposition": metadata.content_disposition,
        "content_language": metadata.content_language,
        "cache_control": metadata.cache_control,
        "expires": metadata.expires,
        "user_meta": metadata.user_meta,
        "tags": metadata.tags,
        "acl": metadata.acl,
        "symlink_target": symlink_target,
        "encryption": sse_envelope.stored_envelope(writer.envelope),
    }
    try:
        obj, old_blobs = _point_row_at_blob(
            bucket,
            key,
            fields,
            replace=replace,
            expect_blob=expect_blob,
            unless_deleted_since=unless_deleted_since,
            on_row=on_row,
        )
    except BaseException:
        delete_blob(blob)  # logged, not raised: the error that got us here matters
        raise
    # Readers still streaming the old bytes keep their open file.
    _delete_blobs_on_commit(old_blobs)
    return obj


def _delete_blobs_on_commit(blobs):
    for blob in blobs:
        transaction.on_commit(lambda blob=blob: delete_blob(blob))


def _encrypted_as_bucket_default(bucket, writer):
    """A writer that left its encryption to the bucket (a mirror, a console upload)
    gets the bucket's default: one more pass, and the plaintext file goes at once."""
    sse = sse_envelope.bucket_default(bucket)
    if writer.encryption is not None or not sse:
        return writer
    encrypted = ObjectWriter(sse)
    try:
        with open(writer.path, "rb") as plain:
            encrypted.write_from(plain, writer.size)
        encrypted.finish()
    except BaseException:
        encrypted.discard()
        raise
    finally:
        writer.discard()
    return encrypted


def _point_row_at_blob(
    bucket, key, fields, *, replace, expect_blob, unless_deleted_since, on_row=None
):
    for _attempt in range(3):
        try:
            with transaction.atomic():
                obj, old_blobs = _write_row(
                    bucket,
                    key,
                    fields,
                    replace=replace,
                    expect_blob=expect_blob,
                    unless_deleted_since=unless_deleted_since,
                )
                if on_row is not None:
                    on_row(obj)
                return obj, old_blobs
        except IntegrityError:
            # Another writer created the key between our read and insert; go again.
            continue
    raise IntegrityError(f"could not commit object {key!r} after concurrent writes")


def _write_row(bucket, key, fields, *, replace, expect_blob, unless_deleted_since):
    """Inside the committing transaction: (the object's row, blobs to delete after commit)."""
    exists, deleted = _key_state(bucket, key, unless_deleted_since)
    if deleted:
        raise ObjectChanged(key)
    existing = None
    if exists:  # the full row, locked (PostgreSQL) against other writers of the key
        existing = (
            StoredObject.objects.select_for_update()
            .filter(bucket=bucket, key=key)
            .first()
        )
        # A delete we waited for while locking the row: seen now, it still wins.
        if _key_state(bucket, key, unless_deleted_since)[1]:
            raise ObjectChanged(key)
    if expect_blob is not None and (existing.blob if existing else "") != expect_blob:
        raise ObjectChanged(key)
    version_id = versioning.version_id_for_new(bucket)
    if existing is None:
        quota.check_room_locked(bucket, fields["size"])
        stale = versioning.before_first_current(bucket, key, version_id)
        return StoredObject.objects.create(
            bucket=bucket, key=key, version_id=version_id, **fields
        ), stale
    if not replace:
        blob_store.objects().delete(fields["blob"])
        return existing, []
    worm.check_replaceable(bucket, key, existing)  # retention policy
    quota.check_room_locked(bucket, fields["size"], existing.size)
    old_blobs = versioning.retire_current(bucket, existing, version_id)
    for name, value in {**fields, "version_id": version_id}.items():
        setattr(existing, name, value)
    existing.save()
    return existing, old_blobs


def _key_state(bucket, key, deleted_since):
    """(whether the key has a current row, whether it was deleted at or after
    `deleted_since`) in one plain query. It runs while SQLite's writer lock is held:
    the two ORM queries it replaces spent over a millisecond compiling SQL there."""

    def key_of(model):
        return (
            f"{bucket_lookup.quoted_column(model, 'bucket')} = %s"
            f" AND {bucket_lookup.quoted_column(model, 'key')} = %s"
        )

    checks = [
        f"EXISTS (SELECT 1 FROM {bucket_lookup.quoted_table(StoredObject)}"
        f" WHERE {key_of(StoredObject)})"
    ]
    params = [bucket.pk, key]
    if deleted_since is not None:
        checks.append(
            f"EXISTS (SELECT 1 FROM {bucket_lookup.quoted_table(DeletedKey)}"
            f" WHERE {key_of(DeletedKey)}"
            f" AND {bucket_lookup.quoted_column(DeletedKey, 'deleted_at')} >= %s)"
        )
        params += [
            bucket.pk,
            key,
            connection.ops.adapt_datetimefield_value(deleted_since),
        ]
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {', '.join(checks)}", params)
        exists, *deleted = cursor.fetchone()
    return bool(exists), bool(deleted and deleted[0])


def delete_object(obj):
    delete_key(obj.bucket, obj.key)


def delete_key(bucket, key, *, expect_blob=None):
    """Delete the object `key` if there is one, and remember when, so that a mirror
    fetch of it that is still running does not bring it back (see commit_object).

    With expect_blob, only while the object still has those bytes: the lifecycle
    job must not delete an object rewritten since it judged it expired. Returns
    whether this call deleted an object (of two concurrent calls, one does)."""
    return delete_current(bucket, key, expect_blob=expect_blob)[0]


def delete_current(bucket, key, *, expect_blob=None):
    """delete_key, also returning the delete marker it left (versioning), or None."""
    with transaction.atomic():
        current = StoredObject.objects.filter(bucket=bucket, key=key)
        if expect_blob is not None:
            current = current.filter(blob=expect_blob)
        obj = current.first()
        deleted = False
        if obj is not None:
            worm.check_replaceable(bucket, key, obj)  # retention policy
            _, per_model = StoredObject.objects.filter(
                pk=obj.pk, blob=obj.blob
            ).delete()
            deleted = per_model.get(StoredObject._meta.label, 0) > 0
        if not deleted and expect_blob is not None:
            return False, None
        blobs, marker = versioning.after_current_deleted(
            bucket, key, obj if deleted else None
        )
        _delete_blobs_on_commit(blobs)
        DeletedKey.objects.update_or_create(
            bucket=bucket, key=key, defaults={"deleted_at": timezone.now()}
        )
    return deleted, marker


def delete_version(bucket, key, version):
    """Remove one version of `key` for good (DELETE ?versionId)."""
    with transaction.atomic():
        if not getattr(version, "is_delete_marker", False):
            worm.check_replaceable(bucket, key, version)  # retention policy
        _delete_blobs_on_commit(versioning.remove_version(bucket, key, version))


def delete_blob(blob):
    try:
        blob_store.objects().delete(blob)
    except Exception:  # an I/O error, or the S3 store refusing or unreachable
        logger.warning("could not delete blob %s; the start-up sweep will retry", blob)


def open_blob(obj):
    """The object's bytes as stored by the client: decrypted here, for every reader."""
    return sse_envelope.open_decrypted(
        blob_store.objects().open(obj.blob), obj.encryption
    )


def local_path(blob):
    """The file holding `blob` when it is one on this server's disk (a server may
    sendfile() it), else None (OBJECT_STORAGE=s3)."""
    return blob_store.objects().local_path(blob)


def open_current_version(obj):
    """(row, open file) of the object's bytes as they are now.

    A reader holds a row it read a moment ago; an overwrite or delete that
    commits meanwhile removes those bytes. Then follow the key to its newest
    row (None, None once it is deleted); an open file keeps its bytes readable.
    """
    if not isinstance(obj, StoredObject):  # an older version: its bytes only
        try:
            return obj, open_blob(obj)
        except FileNotFoundError:
            return None, None  # removed for good meanwhile
    for _attempt in range(5):
        try:
            return obj, open_blob(obj)
        except FileNotFoundError:
            obj = StoredObject.objects.filter(
                bucket_id=obj.bucket_id, key=obj.key
            ).first()
            if obj is None:
                return None, None
    raise FileNotFoundError(f"the bytes of {obj.key!r} kept changing while opened")


def remove_leftovers():
    """Start-up sweep: partial writes and blobs no row points at (on S3 only those
    older than OBJECT_STORAGE_ORPHAN_SECONDS: other servers keep writing). Returns
    the (temporary files, blobs) removed."""
    removed_tmp = 0
    for entry in os.scandir(settings.OBJECT_TMP_DIR):
        if entry.is_file():
            os.unlink(entry.path)
            removed_tmp += 1
    return removed_tmp, blob_store.objects().remove_orphans(referenced_blobs)


def referenced_blobs():
    """Every blob a row names: current objects and older versions."""
    current = StoredObject.objects.values_list("blob", flat=True)
    older = ObjectVersion.objects.exclude(blob="").values_list("blob", flat=True)
    return {*current.iterator(), *older.iterator()}


def _process_is_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _owner_pid(name):
    """The pid in an ObjectWriter file name (obj-<pid>-xxxx.part), else None."""
    middle = name[len(TMP_PREFIX) :].split("-", 1)[0]
    return int(middle) if name.startswith(TMP_PREFIX) and middle.isdigit() else None


def sweep_temp_files():
    """While the server runs: remove temporary files of processes that died (a killed
    worker) and any left untouched for STALE_TMP_SECONDS. Returns the count."""
    removed = 0
    now = time.time()
    for entry in os.scandir(settings.OBJECT_TMP_DIR):
        try:
            pid = _owner_pid(entry.name)
            dead = pid is not None and not _process_is_alive(pid)
            if dead or now - entry.stat().st_mtime > STALE_TMP_SECONDS:
                os.unlink(entry.path)
                removed += 1
        except FileNotFoundError:
            continue  # committed or discarded meanwhile
    return removed


def forget_old_deletions(older_than_seconds):
    """Deletion times only matter while a fetch that began before them may still commit."""
    cutoff = timezone.now() - datetime.timedelta(seconds=older_than_seconds)
    return DeletedKey.objects.filter(deleted_at__lt=cutoff).delete()[0]
