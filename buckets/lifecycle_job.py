"""The lifecycle job: what a bucket's lifecycle rules call expired goes.

apply_lifecycle(now) deletes expired objects and aborts expired multipart uploads.
The housekeeping sweep in each server worker calls run_if_due(), which runs it at
most once per LIFECYCLE_INTERVAL_SECONDS across all workers and servers sharing the
database; `manage.py apply_lifecycle` runs it at once. Two runs at the same time are
safe: an object is deleted only while it still has the bytes that were judged
expired (through storage.delete_key, so a mirror fetch in flight loses and the blob
goes once the deletion commits), and each deletion or abort is counted by the one
run whose statement removed the row.
"""

import datetime
from dataclasses import dataclass

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from buckets.models import LifecycleRule, MultipartUpload, ScheduledJob, StoredObject
from buckets.names import key_range
from buckets.parts import abort_upload
from buckets.storage import delete_key

JOB_NAME = "lifecycle"
BATCH_SIZE = 500


@dataclass(frozen=True)
class LifecycleOutcome:
    deleted_objects: int = 0
    aborted_uploads: int = 0


def apply_lifecycle(now):
    """Apply every bucket's Enabled rules as of `now`; returns what went."""
    deleted = aborted = 0
    rules = LifecycleRule.objects.filter(status=LifecycleRule.Status.ENABLED)
    for rule in rules.select_related("bucket").order_by("bucket_id", "position"):
        if rule.expires_objects:
            deleted += _expire_objects(rule, now)
        if rule.aborts_uploads:
            aborted += _abort_uploads(rule, now)
    return LifecycleOutcome(deleted, aborted)


def run_if_due(now=None):
    """apply_lifecycle, if no worker or server has started it within the last
    LIFECYCLE_INTERVAL_SECONDS; None when it was not this caller's turn."""
    now = now or timezone.now()
    if not _claim(now, datetime.timedelta(seconds=settings.LIFECYCLE_INTERVAL_SECONDS)):
        return None
    return apply_lifecycle(now)


def _claim(now, interval):
    """True for exactly one of the callers racing for this interval: a conditional
    update is atomic on every database, so only one moves last_started on."""
    claimed = ScheduledJob.objects.filter(
        name=JOB_NAME, last_started__lte=now - interval
    ).update(last_started=now)
    if claimed:
        return True
    if ScheduledJob.objects.filter(name=JOB_NAME).exists():
        return False  # started within the interval
    try:
        with transaction.atomic():
            ScheduledJob.objects.create(name=JOB_NAME, last_started=now)
    except IntegrityError:
        return False  # another worker created it just now
    return True


def _expire_objects(rule, now):
    cutoff = rule.expiry_cutoff(now)
    if cutoff is None:
        return 0
    # Not rule.bucket.stored_objects: a related manager re-reads each row's
    # bucket_id, which fails for a row another run deleted meanwhile.
    objects = StoredObject.objects.filter(bucket_id=rule.bucket_id)
    candidates = _under_prefix(objects, rule.prefix).filter(last_modified__lt=cutoff)
    if rule.object_size_greater_than is not None:
        candidates = candidates.filter(size__gt=rule.object_size_greater_than)
    if rule.object_size_less_than is not None:
        candidates = candidates.filter(size__lt=rule.object_size_less_than)
    deleted = 0
    after = None
    while True:
        # Keyset pages: no cursor held open while deleting. delete_key re-checks the
        # blob, so an object rewritten since this page was read stays.
        page = candidates if after is None else candidates.filter(key__gt=after)
        batch = list(page.order_by("key").only("key", "blob", "tags")[:BATCH_SIZE])
        for obj in batch:
            if rule.selects(obj) and delete_key(
                rule.bucket, obj.key, expect_blob=obj.blob
            ):
                deleted += 1
        if len(batch) < BATCH_SIZE:
            return deleted
        after = batch[-1].key


def _abort_uploads(rule, now):
    cutoff = rule.abort_cutoff(now)
    if cutoff is None:
        return 0
    # OSS counts from a part's last change: an upload still receiving parts stays.
    expired = (
        _under_prefix(
            MultipartUpload.objects.filter(bucket_id=rule.bucket_id), rule.prefix
        )
        .filter(initiated__lt=cutoff)
        .exclude(parts__last_modified__gte=cutoff)
    )
    for not_ in rule.filter_not:
        expired = expired.exclude(_prefix_condition(not_["prefix"]))
    uploads = list(expired.only("pk", "upload_id"))
    return sum(abort_upload(upload) for upload in uploads)


def _under_prefix(queryset, prefix):
    return queryset.filter(_prefix_condition(prefix)) if prefix else queryset


def _prefix_condition(prefix):
    low, high = key_range(prefix)
    condition = Q(key__gte=low)
    return condition & Q(key__lt=high) if high is not None else condition
