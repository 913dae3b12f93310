"""A bucket's storage capacity (PutBucketStorageCapacity / GetBucketStorageCapacity,
`?qos`, OSS's BucketUserQos): at most that many GB of objects. A write that would
take the bucket over it is refused with 403 InsufficientStorageSpace and stores
nothing; -1 (the default) is no limit. Objects count by their size; parts of
multipart uploads in progress count for nothing until completed.

The check runs when a write commits (storage.commit_object), with the bucket's row
locked so that two writes cannot both take the last room, and, for uploads that
declare their length, before the body is read. It sums the bucket's object sizes:
one aggregate query per write, only for buckets that have a capacity.
"""

from django.db.models import Sum

from buckets import errors
from buckets.models import Bucket

GB = 1024**3
UNLIMITED = -1
MAX_CAPACITY_GB = 2**40  # far beyond any disk; keeps GB * capacity in a 64-bit column


def check_room(bucket, adding, replacing=0):
    """Refuse a write of `adding` bytes that replaces `replacing` bytes if the bucket
    would then hold more than its capacity."""
    if bucket.storage_capacity_gb == UNLIMITED or adding is None:
        return
    used = bucket.stored_objects.aggregate(used=Sum("size"))["used"] or 0
    if used - replacing + adding > bucket.storage_capacity_gb * GB:
        raise errors.OssError(
            403,
            "InsufficientStorageSpace",
            f"The bucket's storage capacity ({bucket.storage_capacity_gb} GB) "
            "would be exceeded; nothing was stored.",
            BucketName=bucket.name,
        )


def check_room_locked(bucket, adding, replacing=0):
    """check_room inside the committing transaction, the bucket row locked."""
    if bucket.storage_capacity_gb == UNLIMITED:
        return
    locked = Bucket.objects.select_for_update().get(pk=bucket.pk)
    check_room(locked, adding, replacing)
