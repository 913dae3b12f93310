"""Per-object storage classes: the class a write gives an object, and why new
bytes always get a class chosen for them.

OSS fixes an object's class when its bytes are written: x-oss-storage-class on
PutObject, CopyObject, InitiateMultipartUpload and the first AppendObject, else the
bucket's class. Later only a lifecycle transition (buckets/lifecycle_job.py) or a
read after an access-time transition with ReturnToStdWhenVisit changes it.

Writers pass through storage.commit_object, which knows nothing of classes. So the
class travels beside it: a writer that chose one wraps its commit in
`objects_written_as(storage_class)`, and the pre_save hook below gives every row
whose bytes changed that class (or its bucket's, for writers that chose none: the
console, mirroring, symlinks) and clears the old bytes' restore and access state,
in the same save: an overwritten Archive object is never left restored, nor a new
object in its predecessor's class.
"""

import contextlib
import contextvars

from django.db.models.signals import post_init, pre_save
from django.dispatch import receiver

from buckets import errors
from buckets.models import Bucket, StoredObject

STORAGE_CLASS_HEADER = "x-oss-storage-class"
StorageClass = Bucket.StorageClass
ARCHIVE_CLASSES = frozenset(
    {StorageClass.ARCHIVE, StorageClass.COLD_ARCHIVE, StorageClass.DEEP_COLD_ARCHIVE}
)
# Warmest first: a lifecycle transition only ever moves an object colder.
COLDNESS = {
    storage_class: rank
    for rank, storage_class in enumerate(
        (
            StorageClass.STANDARD,
            StorageClass.IA,
            StorageClass.ARCHIVE,
            StorageClass.COLD_ARCHIVE,
            StorageClass.DEEP_COLD_ARCHIVE,
        )
    )
}
# OSS: an appendable object cannot be in the cold archive classes.
APPENDABLE_CLASSES = frozenset(
    {StorageClass.STANDARD, StorageClass.IA, StorageClass.ARCHIVE}
)

_class_of_new_bytes = contextvars.ContextVar("class_of_new_bytes", default=None)


def requested_class(request, bucket, *, allowed=frozenset(StorageClass.values)):
    """x-oss-storage-class of a write, else the bucket's class; 400 InvalidArgument
    for a class OSS does not have (or that this write cannot take: an appendable
    object in a cold archive class)."""
    value = request.headers.get(STORAGE_CLASS_HEADER, bucket.storage_class)
    if value not in allowed:
        raise errors.invalid_argument(
            f"x-oss-storage-class must be one of {', '.join(sorted(allowed))}.",
            STORAGE_CLASS_HEADER,
            value,
        )
    return value


@contextlib.contextmanager
def objects_written_as(storage_class):
    """Objects whose bytes are committed inside this block get `storage_class`."""
    token = _class_of_new_bytes.set(storage_class)
    try:
        yield
    finally:
        _class_of_new_bytes.reset(token)


@receiver(post_init, sender=StoredObject)
def _remember_loaded_blob(sender, instance, **kwargs):
    # __dict__: a deferred blob (.only()) must not cost a query per row.
    instance._loaded_blob = instance.__dict__.get("blob")


@receiver(pre_save, sender=StoredObject)
def _new_bytes_get_a_chosen_class(sender, instance, update_fields=None, **kwargs):
    if instance.pk is not None and instance.blob == instance._loaded_blob:
        return  # the same bytes (tags, ACL, ...): class and restore stay
    instance.storage_class = _class_of_new_bytes.get() or instance.bucket.storage_class
    instance.restore_ready_at = instance.restore_expires_at = None
    instance.restore_tier = ""
    instance.last_access_time = None
    instance.return_to_standard_on_read = False
    instance._loaded_blob = instance.blob
