"""Retention policies (WORM): InitiateBucketWorm, CompleteBucketWorm,
ExtendBucketWorm, AbortBucketWorm and GetBucketWorm (`?worm`, `?wormId`,
`?wormExtend`), and the rule they enforce.

The rule lives in one place, check_replaceable(): while a bucket's policy is
InProgress (for 24 hours after InitiateBucketWorm, as on OSS) or Locked, an object
can be neither overwritten nor deleted until it is RetentionPeriodInDays old
(counted from its last modification): 403 FileImmutable, and nothing changes.
New keys can still be written. storage.commit_object and storage.delete_key call it
inside their transactions, so every path that writes or deletes (the OSS API, the
console, the lifecycle job) obeys it; the OSS operations also call it before
reading a body, so that a refused upload is refused at once.

State transitions, as OSS answers them: an InProgress policy can be completed
(Locked) or aborted; a Locked one can only be extended (never shortened) and never
aborted (403 WORMConfigurationLocked); extending an InProgress one is 400
InvalidWORMConfiguration; a wrong or unknown wormId, or no policy, is 404
NoSuchWORMConfiguration.
"""

import datetime
import re
import uuid

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import ParseError, fromstring
from django.db import transaction
from django.utils import timezone

from buckets import errors, oss_xml
from buckets.models import Bucket, StoredObject, WormConfiguration
from buckets.oss_access import empty_response, owned_bucket, read_xml_body

MIN_RETENTION_DAYS = 1
MAX_RETENTION_DAYS = 25550  # 70 years, OSS's limit
IN_PROGRESS_LIFETIME = datetime.timedelta(hours=24)
WORM_ID_HEADER = "x-oss-worm-id"
_DAYS_RE = re.compile(r"[0-9]{1,10}")


class ObjectImmutable(errors.OssError):
    """An overwrite or delete refused by a retention policy (OSS's FileImmutable)."""

    def __init__(self, key):
        super().__init__(
            403,
            "FileImmutable",
            "The object you specified is immutable.",
            Key=key,
            EC="0026-00000202",
        )


# -- the rule ----------------------------------------------------------------------------


def active_configuration(bucket, now=None):
    """The bucket's policy while it protects objects (InProgress for 24 hours, or
    Locked), else None: an InProgress policy left uncompleted expires after 24 hours
    (its row stays until InitiateBucketWorm replaces it)."""
    config = WormConfiguration.objects.filter(bucket_id=bucket.pk).first()
    if config is None or _expired(config, now or timezone.now()):
        return None
    return config


def _expired(config, now):
    return (
        config.state == WormConfiguration.State.IN_PROGRESS
        and config.created_at + IN_PROGRESS_LIFETIME <= now
    )


def retention_cutoff(bucket, now=None):
    """Objects last modified at or after this are retained (None: no policy)."""
    now = now or timezone.now()
    config = active_configuration(bucket, now)
    if config is None:
        return None
    return now - datetime.timedelta(days=config.retention_days)


def check_replaceable(bucket, key, current=None):
    """Raise ObjectImmutable if the object `key` (`current`, its row, when the caller
    holds it) may not be overwritten or deleted now; a missing object may be written."""
    if current is None:
        current = StoredObject.objects.filter(bucket_id=bucket.pk, key=key).first()
    if current is None:
        return
    cutoff = retention_cutoff(bucket)
    if cutoff is not None and current.last_modified > cutoff:
        raise ObjectImmutable(key)


def exclude_retained(objects, bucket, now):
    """`objects` without those the bucket's policy retains at `now` (the lifecycle job)."""
    cutoff = retention_cutoff(bucket, now)
    return objects if cutoff is None else objects.filter(last_modified__lte=cutoff)


# -- the operations ------------------------------------------------------------------------


def initiate_bucket_worm(request, bucket_name):
    """POST ?worm: a new InProgress policy; its id is the x-oss-worm-id header."""
    bucket = owned_bucket(request, bucket_name)
    days = _retention_days(read_xml_body(request), "InitiateWormConfiguration")
    with transaction.atomic():
        Bucket.objects.select_for_update().filter(pk=bucket.pk).first()
        current = active_configuration(bucket)
        if current is not None and current.state == WormConfiguration.State.LOCKED:
            raise _locked()
        if current is not None:
            raise _invalid(
                "The bucket already has an InProgress retention policy: complete or abort it first."
            )
        WormConfiguration.objects.filter(bucket=bucket).delete()  # an expired one
        config = WormConfiguration.objects.create(
            bucket=bucket,
            worm_id=uuid.uuid4().hex.upper(),
            state=WormConfiguration.State.IN_PROGRESS,
            retention_days=days,
        )
    response = empty_response(200)
    response[WORM_ID_HEADER] = config.worm_id
    return response


def worm_id_operation(request, bucket_name):
    """POST ?wormId=X is CompleteBucketWorm; with ?wormExtend, ExtendBucketWorm."""
    bucket = owned_bucket(request, bucket_name)
    if "wormId" not in request.GET:
        raise errors.invalid_argument(
            "wormExtend needs the wormId of a Locked retention policy.", "wormId", ""
        )
    if "wormExtend" in request.GET:
        return _extend(request, bucket)
    return _complete(request, bucket)


def _complete(request, bucket):
    with transaction.atomic():
        config = _named_configuration(request, bucket)
        if config.state == WormConfiguration.State.LOCKED:
            raise _locked()
        config.state = WormConfiguration.State.LOCKED
        config.save(update_fields=["state"])
    return empty_response(200)


def _extend(request, bucket):
    days = _retention_days(read_xml_body(request), "ExtendWormConfiguration")
    with transaction.atomic():
        config = _named_configuration(request, bucket)
        if config.state != WormConfiguration.State.LOCKED:
            raise _invalid("Only a Locked retention policy can be extended.")
        if days < config.retention_days:
            raise _invalid(
                f"A retention period can only be extended: {days} days is shorter "
                f"than the current {config.retention_days}."
            )
        config.retention_days = days
        config.save(update_fields=["retention_days"])
    return empty_response(200)


def abort_bucket_worm(request, bucket_name):
    """DELETE ?worm: only an InProgress policy can be removed."""
    bucket = owned_bucket(request, bucket_name)
    with transaction.atomic():
        config = _configuration(bucket)
        if config.state == WormConfiguration.State.LOCKED:
            raise _locked()
        config.delete()
    return empty_response(204)


def get_bucket_worm(request, bucket_name):
    bucket = owned_bucket(request, bucket_name)
    config = _configuration(bucket)
    children = [
        oss_xml.element("WormId", config.worm_id),
        oss_xml.element("State", config.state),
        oss_xml.element("RetentionPeriodInDays", config.retention_days),
        oss_xml.element("CreationDate", oss_xml.iso8601(config.created_at)),
    ]
    if config.state == WormConfiguration.State.IN_PROGRESS:
        expires = config.created_at + IN_PROGRESS_LIFETIME
        children.append(oss_xml.element("ExpirationDate", oss_xml.iso8601(expires)))
    return oss_xml.xml_response(oss_xml.element("WormConfiguration", children=children))


# -- helpers -------------------------------------------------------------------------------


def _configuration(bucket):
    config = active_configuration(bucket)
    if config is None:
        raise _no_such_configuration(bucket.name)
    return config


def _named_configuration(request, bucket):
    """The active policy if ?wormId names it (locked for update), else 404."""
    config = _configuration(bucket)
    if config.worm_id != request.GET.get("wormId", ""):
        raise _no_such_configuration(bucket.name)
    return WormConfiguration.objects.select_for_update().get(pk=config.pk)


def _retention_days(body, root_tag):
    try:
        root = fromstring(body)
    except (ParseError, DefusedXmlException):
        raise errors.malformed_xml() from None
    if root.tag != root_tag or [child.tag for child in root] != [
        "RetentionPeriodInDays"
    ]:
        raise errors.malformed_xml(
            f"The body must be a {root_tag} holding one RetentionPeriodInDays."
        )
    text = (root[0].text or "").strip()
    if (
        not _DAYS_RE.fullmatch(text)
        or not MIN_RETENTION_DAYS <= int(text) <= MAX_RETENTION_DAYS
    ):
        raise errors.invalid_argument(
            f"RetentionPeriodInDays must be a whole number of days from "
            f"{MIN_RETENTION_DAYS} to {MAX_RETENTION_DAYS}.",
            "RetentionPeriodInDays",
            text[:32],
        )
    return int(text)


def _no_such_configuration(bucket_name):
    return errors.not_configured(
        "NoSuchWORMConfiguration",
        "The WORM Configuration does not exist.",
        bucket_name,
    )


def _locked():
    return errors.OssError(
        403, "WORMConfigurationLocked", "The WORM Configuration is locked."
    )


def _invalid(message):
    return errors.OssError(400, "InvalidWORMConfiguration", message)
