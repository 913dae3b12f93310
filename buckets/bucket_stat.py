"""GetBucketStat (`GET /bucket?stat`): how much a bucket holds, for its owner.

Every object here is in its bucket's storage class (Standard or IA; archive
classes are refused), so the totals land in that class's fields and the other
classes read 0. Storage counts the parts of uploads in progress too, as OSS
does; there is no minimum billable size, so the "Real" storages equal the others.
"""

from django.db.models import Count, Sum
from django.utils import timezone

from buckets import oss_xml
from buckets.models import Bucket, UploadedPart
from buckets.oss_access import owned_bucket

_CLASS_FIELDS = {
    Bucket.StorageClass.STANDARD: ("StandardStorage", None, "StandardObjectCount"),
    Bucket.StorageClass.IA: (
        "InfrequentAccessStorage",
        "InfrequentAccessRealStorage",
        "InfrequentAccessObjectCount",
    ),
}
_ZERO_FIELDS = (
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
    "DeleteMarkerCount",  # no versioning here
)


def bucket_stat(bucket):
    """{field: number} of a BucketStat document, in OSS's order, in three queries."""
    object_count, object_bytes = bucket.usage()
    parts = UploadedPart.objects.filter(upload__bucket=bucket).aggregate(
        count=Count("id"), size=Sum("size")
    )
    storage = object_bytes + (parts["size"] or 0)
    stat = {
        "Storage": storage,
        "ObjectCount": object_count,
        "MultipartUploadCount": bucket.multipart_uploads.count(),
        "LiveChannelCount": 0,  # no RTMP live channels here
        # The moment the numbers were taken (OSS's meaning), in Unix seconds.
        "LastModifiedTime": int(timezone.now().timestamp()),
        **dict.fromkeys(_ZERO_FIELDS, 0),
        "MultipartPartCount": parts["count"],
    }
    storage_field, real_field, count_field = _CLASS_FIELDS.get(
        bucket.storage_class, _CLASS_FIELDS[Bucket.StorageClass.STANDARD]
    )
    stat[storage_field] = storage
    if real_field:
        stat[real_field] = storage
    stat[count_field] = object_count
    return stat


def get_bucket_stat(request, bucket_name):
    bucket = owned_bucket(request, bucket_name)
    stat = bucket_stat(bucket)
    return oss_xml.xml_response(
        oss_xml.element(
            "BucketStat",
            children=[oss_xml.element(name, value) for name, value in stat.items()],
        )
    )
