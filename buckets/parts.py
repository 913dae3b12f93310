"""The bytes of multipart uploads: part blobs named <upload id>/<number>-<random>,
in DATA_DIR/parts or, with OBJECT_STORAGE=s3, in the store (buckets/blob_store.py)
so that an upload begun on one server completes on another.

A part is written like any object (ObjectWriter in DATA_DIR/tmp, counting size,
MD5 and CRC-64, then fsync), moved or uploaded into its upload's folder, and only
then recorded; a crash in between leaves a blob no row names, which the sweep
removes. Part files are never listed or served: completing an upload streams
them, in order, into one new object that is committed atomically in place of
the upload, and then they go.
"""

import datetime
import hashlib
import uuid

from django.db import transaction
from django.utils import timezone

from buckets import blob_store
from buckets import envelope as sse_envelope
from buckets.models import MultipartUpload, UploadedPart
from buckets.storage import (
    ObjectMetadata,
    ObjectWriter,
    commit_object,
    ensure_room_for,
)

# The default of OBJECT_STORAGE_ORPHAN_SECONDS: a part blob no row names may be one
# whose row is being written right now, so the sweep leaves it this long.
ORPHAN_GRACE_SECONDS = 3600


class UploadGone(Exception):
    """The upload was completed or aborted meanwhile."""


class PartsChanged(Exception):
    """A part being assembled was replaced meanwhile (uploaded again)."""


def parts_root():
    """Where part blobs are kept with OBJECT_STORAGE=local."""
    return blob_store.parts_root()


def multipart_etag(parts):
    """OSS's ETag of a multipart object: the MD5 of the parts' binary MD5s, "-<count>"."""
    digest = hashlib.md5(b"".join(bytes.fromhex(part.md5) for part in parts))
    return f"{digest.hexdigest().upper()}-{len(parts)}"


def save_part(upload, part_number, writer):
    """Make the writer's bytes part `part_number` of `upload`, replacing any part of
    that number; returns the UploadedPart. UploadGone if the upload is no longer there."""
    writer.finish()
    area = blob_store.parts()
    name = f"{upload.upload_id}/{part_number}-{uuid.uuid4().hex}"
    try:
        area.save(writer.path, name)  # durable before a row names it (power loss)
    finally:
        writer.discard()  # moved or uploaded, or not to be kept
    try:
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
                # robust: a store that fails to delete leaves it to the sweep.
                transaction.on_commit(lambda: area.delete(replaced.file), robust=True)
    except BaseException:
        area.delete(name)
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
            transaction.on_commit(lambda: remove_part_files(upload_id), robust=True)
    return obj


def open_part(part):
    """The part's bytes as uploaded (decrypted, if the upload is encrypted)."""
    return sse_envelope.open_decrypted(
        blob_store.parts().open(part.file), part.encryption
    )


def abort_upload(upload):
    """End the upload and remove its parts; False if it had ended already."""
    with transaction.atomic():
        deleted, _ = MultipartUpload.objects.filter(pk=upload.pk).delete()
        upload_id = upload.upload_id
        transaction.on_commit(lambda: remove_part_files(upload_id), robust=True)
    return deleted > 0


def remove_part_files(upload_id):
    blob_store.parts().delete_folder(upload_id)


def abort_expired_uploads(max_age_seconds):
    """Abort the uploads initiated more than `max_age_seconds` ago; returns how many."""
    cutoff = timezone.now() - datetime.timedelta(seconds=max_age_seconds)
    expired = MultipartUpload.objects.filter(initiated__lt=cutoff)
    return sum(abort_upload(upload) for upload in expired.iterator())


def sweep_orphan_part_files():
    """Remove part blobs no row names (a crash between a part's save and its row,
    or between an upload's end and its blobs' removal) once they are older than
    OBJECT_STORAGE_ORPHAN_SECONDS. Returns how many blobs and folders went."""
    return blob_store.parts().remove_orphans(_named_part_blobs, _live_upload_ids)


def _named_part_blobs():
    return UploadedPart.objects.values_list("file", flat=True).iterator()


def _live_upload_ids():
    return MultipartUpload.objects.values_list("upload_id", flat=True).iterator()


def _lock(upload):
    """Lock the upload's row for this transaction; False if it no longer exists."""
    locked = MultipartUpload.objects.select_for_update().filter(pk=upload.pk)
    return locked.first() is not None
