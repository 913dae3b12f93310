"""The lifecycle job: what a bucket's lifecycle rules call expired goes.

apply_lifecycle(now) deletes expired objects, moves objects to the colder storage
class their rules' Transitions name (the bytes stay where they are: the class
governs how they may be read) and aborts expired multipart uploads.
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
from django.db.models import Q
from django.utils import timezone

from buckets import worm
from buckets.errors import OssError
from buckets.models import LifecycleRule, MultipartUpload, ObjectVersion, StoredObject
from buckets.names import key_range
from buckets.parts import abort_upload
from buckets.scheduled_jobs import claim_turn
from buckets.storage import delete_key, delete_version
from buckets.storage_classes import COLDNESS

JOB_NAME = "lifecycle"
BATCH_SIZE = 500
# OSS leaves objects smaller than this alone in access-time transitions, unless the
# transition says AllowSmallFile.
SMALL_FILE_BYTES = 64 * 1024


@dataclass(frozen=True)
class LifecycleOutcome:
    deleted_objects: int = 0
    aborted_uploads: int = 0
    transitioned_objects: int = 0


def apply_lifecycle(now):
    """Apply every bucket's Enabled rules as of `now`; returns what went."""
    deleted = aborted = moved = 0
    rules = LifecycleRule.objects.filter(status=LifecycleRule.Status.ENABLED)
    for rule in rules.select_related("bucket").order_by("bucket_id", "position"):
        if rule.expires_objects:
            deleted += _expire_objects(rule, now)
        if rule.transitions:
            moved += _transition_objects(rule, now)
        if rule.aborts_uploads:
            aborted += _abort_uploads(rule, now)
        if rule.acts_on_older_versions:
            deleted += _expire_older_versions(rule, now)
            moved += _transition_older_versions(rule, now)
    return LifecycleOutcome(deleted, aborted, moved)


def run_if_due(now=None):
    """apply_lifecycle, if no worker or server has started it within the last
    LIFECYCLE_INTERVAL_SECONDS; None when it was not this caller's turn."""
    now = now or timezone.now()
    interval = datetime.timedelta(seconds=settings.LIFECYCLE_INTERVAL_SECONDS)
    if not claim_turn(JOB_NAME, now, interval):
        return None
    return apply_lifecycle(now)


def _expire_objects(rule, now):
    cutoff = rule.expiry_cutoff(now)
    if cutoff is None:
        return 0
    # Not rule.bucket.stored_objects: a related manager re-reads each row's
    # bucket_id, which fails for a row another run deleted meanwhile.
    objects = StoredObject.objects.filter(bucket_id=rule.bucket_id)
    candidates = _under_prefix(objects, rule.prefix).filter(last_modified__lt=cutoff)
    candidates = worm.exclude_retained(candidates, rule.bucket, now)
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


def _transition_objects(rule, now):
    """Coldest transition first, so that an object old enough for two goes
    straight to the colder class."""
    ordered = sorted(
        rule.transitions, key=lambda t: COLDNESS[t["storage_class"]], reverse=True
    )
    return sum(_transition(rule, transition, now) for transition in ordered)


def _transition(rule, transition, now):
    target = transition["storage_class"]
    warmer = [name for name, rank in COLDNESS.items() if rank < COLDNESS[target]]
    objects = StoredObject.objects.filter(
        bucket_id=rule.bucket_id, storage_class__in=warmer
    )
    candidates = _by_size(_under_prefix(objects, rule.prefix), rule)
    candidates = _old_enough(candidates, rule.bucket, transition, now)
    if candidates is None:
        return 0
    changes = {
        "storage_class": target,
        # A read of such an object moves it back (access_monitor.record_read).
        "return_to_standard_on_read": bool(transition["return_to_std_when_visit"]),
        # A restore was of the old class; the new one needs its own.
        "restore_ready_at": None,
        "restore_expires_at": None,
        "restore_tier": "",
    }
    moved = 0
    for batch in _pages(candidates, ("key", "blob", "tags")):
        chosen = [obj for obj in batch if rule.selects(obj)]
        # Blobs are unique: an object rewritten since this page was read has a new
        # one and stays as its writer made it.
        moved += StoredObject.objects.filter(
            pk__in=[obj.pk for obj in chosen],
            blob__in=[obj.blob for obj in chosen],
            storage_class__in=warmer,
        ).update(**changes)
    return moved


def _old_enough(candidates, bucket, transition, now):
    """The candidates old enough for `transition` at `now` (None: none can be):
    by last write, or by last access for IsAccessTime."""
    date = transition["created_before_date"]
    if date is not None:
        cutoff = datetime.datetime.combine(
            datetime.date.fromisoformat(date), datetime.time(), tzinfo=datetime.UTC
        )
        return candidates.filter(last_modified__lt=cutoff)
    try:
        cutoff = now - datetime.timedelta(days=transition["days"])
    except OverflowError:
        return None  # more days than the calendar has had
    candidates = candidates.filter(last_modified__lt=cutoff)
    if not transition["is_access_time"]:
        return candidates
    since = bucket.access_monitor_since
    if since is None or since >= cutoff:
        return None  # no tracking, or not for long enough to call anything cold
    if not transition["allow_small_file"]:
        candidates = candidates.filter(size__gte=SMALL_FILE_BYTES)
    return candidates.filter(
        Q(last_access_time__isnull=True) | Q(last_access_time__lt=cutoff)
    )


def _by_size(queryset, rule):
    if rule.object_size_greater_than is not None:
        queryset = queryset.filter(size__gt=rule.object_size_greater_than)
    if rule.object_size_less_than is not None:
        queryset = queryset.filter(size__lt=rule.object_size_less_than)
    return queryset


def _pages(candidates, fields):
    """Keyset pages of the candidates in key order: no cursor held open while the
    caller changes rows."""
    after = None
    while True:
        page = candidates if after is None else candidates.filter(key__gt=after)
        batch = list(page.order_by("key").only(*fields)[:BATCH_SIZE])
        if batch:
            yield batch
        if len(batch) < BATCH_SIZE:
            return
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


# -- older versions (versioned buckets) -----------------------------------------------


def _older_versions(rule):
    """The rule's older versions and delete markers: its prefix and size filter
    here, its tags and Not by rule.selects."""
    versions = _under_prefix(
        ObjectVersion.objects.filter(bucket_id=rule.bucket_id), rule.prefix
    )
    if rule.object_size_greater_than is not None:
        versions = versions.filter(size__gt=rule.object_size_greater_than)
    if rule.object_size_less_than is not None:
        versions = versions.filter(size__lt=rule.object_size_less_than)
    return versions


def _expire_older_versions(rule, now):
    """NoncurrentVersionExpiration: an older version goes NoncurrentDays after a
    newer one replaced it; ExpiredObjectDeleteMarker: a delete marker with no
    version left behind it goes."""
    removed = 0
    candidates = []
    if rule.noncurrent_expiration_days is not None:
        cutoff = now - datetime.timedelta(days=rule.noncurrent_expiration_days)
        candidates += _older_versions(rule).filter(
            is_delete_marker=False, noncurrent_since__lte=cutoff
        )
    if rule.expired_object_delete_marker:
        candidates += [
            marker
            for marker in _older_versions(rule).filter(is_delete_marker=True)
            if _is_alone(marker)
        ]
    for version in candidates:
        if not rule.selects(version):
            continue
        try:
            delete_version(rule.bucket, version.key, version)
        except OssError:  # a retention policy keeps it
            continue
        removed += 1
    return removed


def _is_alone(marker):
    others = ObjectVersion.objects.filter(bucket_id=marker.bucket_id, key=marker.key)
    return not (
        StoredObject.objects.filter(bucket_id=marker.bucket_id, key=marker.key).exists()
        or others.exclude(pk=marker.pk).exists()
    )


def _transition_older_versions(rule, now):
    """NoncurrentVersionTransition, coldest first; only ever colder."""
    moved = 0
    ordered = sorted(
        rule.noncurrent_transitions,
        key=lambda t: COLDNESS[t["storage_class"]],
        reverse=True,
    )
    for transition in ordered:
        target = transition["storage_class"]
        warmer = [name for name, rank in COLDNESS.items() if rank < COLDNESS[target]]
        try:
            cutoff = now - datetime.timedelta(days=transition["days"])
        except OverflowError:
            continue  # more days than the calendar has had
        versions = _older_versions(rule).filter(
            is_delete_marker=False,
            noncurrent_since__lte=cutoff,
            storage_class__in=warmer,
        )
        if transition["is_access_time"]:
            versions = _unread_since(versions, rule.bucket, transition, cutoff)
            if versions is None:
                continue
        for version in versions:
            if rule.selects(version):
                moved += ObjectVersion.objects.filter(
                    pk=version.pk, storage_class=version.storage_class
                ).update(storage_class=target)
    return moved


def _unread_since(versions, bucket, transition, cutoff):
    """IsAccessTime: versions not read since `cutoff` while the access monitor
    tracked reads (None: it has not tracked them that long)."""
    since = bucket.access_monitor_since
    if since is None or since >= cutoff:
        return None
    if not transition["allow_small_file"]:
        versions = versions.filter(size__gte=SMALL_FILE_BYTES)
    return versions.filter(
        Q(last_access_time__isnull=True) | Q(last_access_time__lt=cutoff)
    )
