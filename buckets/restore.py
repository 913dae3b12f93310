"""Reading archive-class objects: RestoreObject (`POST ?restore`), the restore state
GET/HEAD and listings show, and PutBucketArchiveDirectRead/Get
(`?bucketArchiveDirectRead`).

An Archive, ColdArchive or DeepColdArchive object's bytes stay where they are (the
class governs access, not placement): a GET is refused with 403 InvalidObjectState
until a restore is ready, and again once the restored copy expires. A restore is
ready RESTORE_SECONDS after it was asked and lasts its Days from then; nothing runs
in the background, the state is computed from the two stored times.
"""

import dataclasses
import datetime

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.http import http_date

from buckets import errors, oss_xml
from buckets.models import Bucket, StoredObject
from buckets.oss_access import (
    checked_key,
    empty_response,
    get_bucket,
    owned_bucket,
    parse_xml,
    read_xml_body,
    writable_object,
)
from buckets.storage_classes import ARCHIVE_CLASSES, StorageClass

RESTORE_HEADER = "x-oss-restore"
PRIORITY_HEADER = "x-oss-object-restore-priority"
# Fastest first; ColdArchive has all three, DeepColdArchive no Bulk, Archive none.
TIERS = ("Expedited", "Standard", "Bulk")
TIERS_OF = {
    StorageClass.COLD_ARCHIVE: TIERS,
    StorageClass.DEEP_COLD_ARCHIVE: ("Expedited", "Standard"),
}
DEFAULT_TIER = "Standard"
MAX_DAYS = {
    StorageClass.ARCHIVE: 7,
    StorageClass.COLD_ARCHIVE: 365,
    StorageClass.DEEP_COLD_ARCHIVE: 365,
}


@dataclasses.dataclass(frozen=True)
class RestoreRequest:
    days: int = 1
    tier: str = ""  # "" for Archive, which has no tiers


# -- the state of an object -----------------------------------------------------------


def restore_in_progress(obj, now):
    return obj.restore_ready_at is not None and now < obj.restore_ready_at


def is_restored(obj, now):
    return (
        obj.restore_ready_at is not None
        and obj.restore_ready_at <= now < obj.restore_expires_at
    )


def is_readable(obj, bucket, now):
    """Standard and IA always; Archive once restored or with archive direct read on;
    the cold classes once restored."""
    if obj.storage_class not in ARCHIVE_CLASSES:
        return True
    if obj.storage_class == StorageClass.ARCHIVE and bucket.archive_direct_read:
        return True
    return is_restored(obj, now)


def archived_error():
    return errors.OssError(
        403, "InvalidObjectState", "The operation is not valid for the object's state"
    )


def check_readable_now(obj, bucket):
    """403 InvalidObjectState for an archived object's bytes (a copy source; GET
    answers it in serving.serve_object)."""
    if not is_readable(obj, bucket, timezone.now()):
        raise archived_error()


def restore_status(obj, now):
    """x-oss-restore (and ListObjects' RestoreInfo) while a restore is asked or
    ready; None before the first one and once the restored copy expired."""
    if restore_in_progress(obj, now):
        return 'ongoing-request="true"'
    if is_restored(obj, now):
        expiry = http_date(obj.restore_expires_at.timestamp())
        return f'ongoing-request="false", expiry-date="{expiry}"'
    return None


# -- RestoreObject --------------------------------------------------------------------


def restore_object(request, bucket_name, key):
    """202 for a new restore, 409 RestoreAlreadyInProgress while one runs, 200 when
    the object is restored already (its restored copy then lasts Days from now)."""
    bucket = get_bucket(bucket_name)
    obj = writable_object(request, bucket, key)
    checked_key(key)
    _check_restorable(obj, key)
    body = read_xml_body(request)
    with transaction.atomic():
        # Two restores at once: the second sees the first's times; an object
        # rewritten meanwhile is judged as it is now.
        obj = StoredObject.objects.select_for_update().filter(pk=obj.pk).first()
        _check_restorable(obj, key)
        asked = parse_restore_request(body, obj.storage_class)
        status = _start_or_extend(obj, asked, timezone.now())
    response = empty_response(status)
    if asked.tier:
        response[PRIORITY_HEADER] = asked.tier
    return response


def _check_restorable(obj, key):
    if obj is None:
        raise errors.no_such_key(key)
    if obj.storage_class not in ARCHIVE_CLASSES:
        raise errors.OssError(
            400,
            "OperationNotSupported",
            "The operation is not supported for this resource",
            EC="0016-00000702",
        )


def _start_or_extend(obj, asked, now):
    if restore_in_progress(obj, now):
        raise errors.OssError(
            409,
            "RestoreAlreadyInProgress",
            "The restore operation is in progress.",
            EC="0016-00000701",
        )
    days = datetime.timedelta(days=asked.days)
    if is_restored(obj, now):
        _save_restore(obj, obj.restore_ready_at, now + days, obj.restore_tier)
        return 200
    ready = now + datetime.timedelta(seconds=settings.RESTORE_SECONDS)
    _save_restore(obj, ready, ready + days, asked.tier)
    return 202


def _save_restore(obj, ready_at, expires_at, tier):
    # Only while the object has the bytes that were judged: an overwrite wins.
    StoredObject.objects.filter(pk=obj.pk, blob=obj.blob).update(
        restore_ready_at=ready_at, restore_expires_at=expires_at, restore_tier=tier
    )


def parse_restore_request(body, storage_class):
    """The RestoreRequest document (optional: an empty body is 1 day, Standard tier)."""
    default_tier = DEFAULT_TIER if storage_class in TIERS_OF else ""
    if not body.strip():
        return RestoreRequest(days=1, tier=default_tier)
    root = parse_xml(body, "RestoreRequest")
    _only_children(root, {"Days", "JobParameters"})
    days = _days(root.find("Days"), storage_class)
    job = root.find("JobParameters")
    if job is None:
        return RestoreRequest(days=days, tier=default_tier)
    if storage_class not in TIERS_OF:
        # OSS: JobParameters is for the cold archive classes only.
        raise errors.malformed_xml(
            "JobParameters is only valid for ColdArchive and DeepColdArchive objects."
        )
    _only_children(job, {"Tier"})
    tier = (job.findtext("Tier") or "").strip()
    if tier not in TIERS_OF[storage_class]:
        raise errors.invalid_argument(
            f"Tier must be one of {', '.join(TIERS_OF[storage_class])} for "
            f"{storage_class} objects.",
            "Tier",
            tier,
        )
    return RestoreRequest(days=days, tier=tier)


def _days(node, storage_class):
    if node is None:
        return 1
    text = (node.text or "").strip()
    high = MAX_DAYS[storage_class]
    if not (text.isascii() and text.isdigit() and 1 <= int(text) <= high):
        raise errors.invalid_argument(
            f"Days must be a whole number from 1 to {high} for {storage_class} objects.",
            "Days",
            text,
        )
    return int(text)


def _only_children(node, allowed):
    for child in node:
        if child.tag not in allowed or len(node.findall(child.tag)) > 1:
            raise errors.malformed_xml(
                f"{child.tag} is not expected (at most once) in {node.tag}."
            )


# -- PutBucketArchiveDirectRead / GetBucketArchiveDirectRead ----------------------------


def put_bucket_archive_direct_read(request, bucket_name):
    bucket = owned_bucket(request, bucket_name)
    root = parse_xml(read_xml_body(request), "ArchiveDirectReadConfiguration")
    _only_children(root, {"Enabled"})
    enabled = (root.findtext("Enabled") or "").strip()
    if enabled not in ("true", "false"):
        raise errors.malformed_xml("Enabled must be true or false.")
    Bucket.objects.filter(pk=bucket.pk).update(archive_direct_read=enabled == "true")
    return empty_response(200)


def get_bucket_archive_direct_read(request, bucket_name):
    bucket = owned_bucket(request, bucket_name)
    return oss_xml.xml_response(
        oss_xml.element(
            "ArchiveDirectReadConfiguration",
            children=[
                oss_xml.element(
                    "Enabled", "true" if bucket.archive_direct_read else "false"
                )
            ],
        )
    )
