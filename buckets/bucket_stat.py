"""GetBucketStat (`GET /bucket?stat`): how much a bucket holds, for its owner.

Each object counts in its own storage class (StoredObject.storage_class), and so do
the older versions of a versioned bucket (their bytes are stored too; the object
counts are of current objects). Storage counts the parts of uploads in progress
too, as OSS does, in the bucket's class; there is no minimum billable size, so the
"Real" storages equal the others.
"""

from django.db.models import Count, Sum
from django.utils import timezone

from buckets import oss_xml
from buckets.models import Bucket, UploadedPart
from buckets.oss_access import owned_bucket

StorageClass = Bucket.StorageClass
# class -> (its storage field, its "real" storage field or None, its count field)
_CLASS_FIELDS = {
    StorageClass.STANDARD: ("StandardStorage", None, "StandardObjectCount"),
    StorageClass.IA: (
        "InfrequentAccessStorage",
        "InfrequentAccessRealStorage",
        "InfrequentAccessObjectCount",
    ),
    StorageClass.ARCHIVE: (
        "ArchiveStorage",
        "ArchiveRealStorage",
        "ArchiveObjectCount",
    ),
    StorageClass.COLD_ARCHIVE: (
        "ColdArchiveStorage",
        "ColdArchiveRealStorage",
        "ColdArchiveObjectCount",
    ),
    StorageClass.DEEP_COLD_ARCHIVE: (
        "DeepColdArchiveStorage",
        "DeepColdArchiveRealStorage",
        "DeepColdArchiveObjectCount",
    ),
}


def bucket_stat(bucket):
    """{field: number} of a BucketStat document, in OSS's order."""
    current = _by_class(bucket.stored_objects.all())
    older = _by_class(bucket.object_versions.filter(is_delete_marker=False))
    parts = UploadedPart.objects.filter(upload__bucket=bucket).aggregate(
        count=Count("id"), size=Sum("size")
    )
    part_bytes = parts["size"] or 0
    stat = {
        "Storage": sum(size for _count, size in (*current.values(), *older.values()))
        + part_bytes,
        "ObjectCount": sum(count for count, _size in current.values()),
        "MultipartUploadCount": bucket.multipart_uploads.count(),
        "LiveChannelCount": bucket.live_channels.count(),
        # The moment the numbers were taken (OSS's meaning), in Unix seconds.
        "LastModifiedTime": int(timezone.now().timestamp()),
    }
    for storage_class, (
        storage_field,
        real_field,
        count_field,
    ) in _CLASS_FIELDS.items():
        count, size = current.get(storage_class, (0, 0))
        size += older.get(storage_class, (0, 0))[1]
        if storage_class == bucket.storage_class:
            size += part_bytes
        stat[storage_field] = size
        stat[count_field] = count
        if real_field:
            stat[real_field] = size
    stat["DeleteMarkerCount"] = bucket.object_versions.filter(
        is_delete_marker=True
    ).count()
    stat["MultipartPartCount"] = parts["count"]
    return {name: stat[name] for name in _ORDER}


def _by_class(queryset):
    """{storage class: (count, bytes)} in one query."""
    rows = queryset.values("storage_class").annotate(
        count=Count("id"), size=Sum("size")
    )
    return {row["storage_class"]: (row["count"], row["size"] or 0) for row in rows}


# OSS's order of the BucketStat elements.
_ORDER = (
    "Storage",
    "ObjectCount",
    "MultipartUploadCount",
    "LiveChannelCount",
    "LastModifiedTime",
    "StandardStorage",
    "StandardObjectCount",
    "InfrequentAccessStorage",
    "InfrequentAccessRealStorage",
    "InfrequentAccessObjectCount",
    "ArchiveStorage",
    "ArchiveRealStorage",
    "ArchiveObjectCount",
    "ColdArchiveStorage",
    "ColdArchiveRealStorage",
    "ColdArchiveObjectCount",
    "DeepColdArchiveStorage",
    "DeepColdArchiveRealStorage",
    "DeepColdArchiveObjectCount",
    "DeleteMarkerCount",
    "MultipartPartCount",
)


def get_bucket_stat(request, bucket_name):
    bucket = owned_bucket(request, bucket_name)
    stat = bucket_stat(bucket)
    return oss_xml.xml_response(
        oss_xml.element(
            "BucketStat",
            children=[oss_xml.element(name, value) for name, value in stat.items()],
        )
    )
