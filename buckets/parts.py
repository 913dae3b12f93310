"""The bytes of multipart uploads: part files in DATA_DIR/parts/<upload id>/.

A part is written like any object (ObjectWriter in DATA_DIR/tmp, counting size,
MD5 and CRC-64, then fsync), renamed into its upload's folder, and only then
recorded; a crash in between leaves a file no row names, which the sweep
removes. Part files are never listed or served: completing an upload streams
them, in order, into one new object that is committed atomically in place of
the upload, and then they go.
"""

import datetime
import hashlib
import os
import shutil
import time
import uuid
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from buckets import envelope as sse_envelope
from buckets.models import MultipartUpload, UploadedPart
from buckets.storage import (
    ObjectMetadata,
    ObjectWriter,
    commit_object,
    ensure_room_for,
    fsync_directory,
)

# A part file no row names may be one whose row is being written right now.
ORPHAN_GRACE_SECONDS = 3600


class UploadGone(Exception):
    """The upload was completed or aborted meanwhile."""


class PartsChanged(Exception):
    """A part being assembled was replaced meanwhile (uploaded again)."""


def parts_root():
    return Path(settings.DATA_DIR) / "parts"


def part_path(part):
    return parts_root() / part.file


def multipart_etag(parts):
    """OSS's ETag of a multipart object: the MD5 of the parts' binary MD5s, "-<count>"."""
    digest = hashlib.md5(b"".join(bytes.fromhex(part.md5) for part in parts))
    return f"{digest.hexdigest().upper()}-{len(parts)}"


def save_part(upload, part_number, writer):
    """Make the writer's bytes part `part_number` of `upload`, replacing any part of
    that number; returns the UploadedPart. UploadGone if the upload is no longer there."""
    writer.finish()
    folder = parts_root() / upload.upload_id
    folder.mkdir(parents=True, exist_ok=True)
    name = f"{upload.upload_id}/{part_number}-{uuid.uuid4().hex}"
    path = parts_root() / name
    os.replace(writer.path, path)  # DATA_DIR/tmp is on the same file system
    try:
        fsync_directory(folder)  # durable before a row names it (power loss)
        with transaction.atomic():
            if not _lock(upload):
                raise UploadGone(upload.upload_id)
            replaced = UploadedPart.objects.filter(
                upload=upload, part_number=part_number
            ).first()
            part, _created = UploadedPart.objects.update_or_create(
                upload=upload,
                part_number=part_number,
                defaults={
                    "file": name,
                    "size": writer.size,
                    "md5": writer.md5_hex,
                    "crc64": writer.crc64,
                    "last_modified": timezone.now(),
                    "encryption": sse_envelope.stored_envelope(writer.envelope),
                },
            )
            if replaced is not None:
                old_path = part_path(replaced)
                transaction.on_commit(lambda: old_path.unlink(missing_ok=True))
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return part


def complete_upload(upload, parts):
    """Stream `parts` (in order) into one object at the upload's key and commit it,
    ending the upload, in one transaction: nothing is visible before, and the
    previous object at the key stays whole until then. Returns the object."""
    ensure_room_for(sum(part.size for part in parts))
    with ObjectWriter(sse_envelope.Sse.from_dict(upload.encryption)) as writer:
        for part in parts:
            try:
                handle = open_part(part)
            except FileNotFoundError:
                raise PartsChanged(part.part_number) from None
            with handle:
                writer.write_from(handle, writer.size + part.size)
        writer.finish()  # the slow fsync before the transaction, not in it
        files = {part.part_number: part.file for part in parts}
        with transaction.atomic():
            if not _lock(upload):
                raise UploadGone(upload.upload_id)
            current = upload.parts.filter(part_number__in=files)
            if dict(current.values_list("part_number", "file")) != files:
                raise PartsChanged()
            # Ended first: should the commit fail, the rollback brings the upload back.
            upload.delete()
            obj = commit_object(
                upload.bucket,
                upload.key,
                writer,
                ObjectMetadata(**upload.metadata),
                object_type="Multipart",
                multipart_etag=multipart_etag(parts),
            )
            upload_id = upload.upload_id
            transaction.on_commit(lambda: remove_part_files(upload_id))
    return obj


def open_part(part):
    """The part's bytes as uploaded (decrypted, if the upload is encrypted)."""
    raw = open(part_path(part), "rb")  # noqa: SIM115 - the caller closes it
    return sse_envelope.open_decrypted(raw, part.encryption)


def abort_upload(upload):
    """End the upload and remove its parts; False if it had ended already."""
    with transaction.atomic():
        deleted, _ = MultipartUpload.objects.filter(pk=upload.pk).delete()
        upload_id = upload.upload_id
        transaction.on_commit(lambda: remove_part_files(upload_id))
    return deleted > 0


def remove_part_files(upload_id):
    shutil.rmtree(parts_root() / upload_id, ignore_errors=True)


def abort_expired_uploads(max_age_seconds):
    """Abort the uploads initiated more than `max_age_seconds` ago; returns how many."""
    cutoff = timezone.now() - datetime.timedelta(seconds=max_age_seconds)
    expired = MultipartUpload.objects.filter(initiated__lt=cutoff)
    return sum(abort_upload(upload) for upload in expired.iterator())


def sweep_orphan_part_files():
    """Remove part files and folders no row names (a crash between a part's rename
    and its row, or between an upload's end and its files' removal) once they are
    older than ORPHAN_GRACE_SECONDS. Returns how many files and folders went."""
    root = parts_root()
    if not root.exists():
        return 0
    live = set(MultipartUpload.objects.values_list("upload_id", flat=True))
    removed = 0
    for folder in os.scandir(root):
        try:
            if folder.name not in live:
                if _older_than_grace(folder):
                    shutil.rmtree(folder.path, ignore_errors=True)
                    removed += 1
                continue
            named = set(
                UploadedPart.objects.filter(upload__upload_id=folder.name).values_list(
                    "file", flat=True
                )
            )
            for entry in os.scandir(folder.path):
                name = f"{folder.name}/{entry.name}"
                if name not in named and _older_than_grace(entry):
                    os.unlink(entry.path)
                    removed += 1
        except FileNotFoundError:
            continue  # completed or aborted meanwhile
    return removed


def _older_than_grace(entry):
    return time.time() - entry.stat().st_mtime > ORPHAN_GRACE_SECONDS


def _lock(upload):
    """Lock the upload's row for this transaction; False if it no longer exists."""
    locked = MultipartUpload.objects.select_for_update().filter(pk=upload.pk)
    return locked.first() is not None
