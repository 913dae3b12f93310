"""Access tracking: PutBucketAccessMonitor / GetBucketAccessMonitor (`?accessmonitor`)
and the last access times it keeps.

While a bucket's monitor is Enabled, an object's last access time is the latest of
the moment tracking was enabled (OSS's starting value), its last write and its last
recorded GET. A GET records itself at most once a day per object (OSS likewise
keeps the first access of each 24 hours), so reads stay reads: one small UPDATE a
day at most. Lifecycle transitions with IsAccessTime count from this time
(buckets/lifecycle_job.py); OSS refuses to disable tracking while such a rule exists.
"""

import datetime

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import ParseError, fromstring
from django.db import transaction
from django.utils import timezone
from django.utils.http import http_date

from buckets import errors, oss_xml
from buckets.models import Bucket, StoredObject
from buckets.oss_access import empty_response, owned_bucket, read_xml_body
from buckets.storage_classes import StorageClass

LAST_ACCESS_HEADER = "x-oss-last-access-time"
RECORD_EVERY = datetime.timedelta(days=1)
STATUSES = ("Enabled", "Disabled")


def put_bucket_access_monitor(request, bucket_name):
    bucket = owned_bucket(request, bucket_name)
    status = _status(read_xml_body(request))
    with transaction.atomic():
        # Serialised with PutBucketLifecycle, which takes the same lock.
        bucket = Bucket.objects.select_for_update().get(pk=bucket.pk)
        if status == "Enabled":
            bucket.access_monitor_since = bucket.access_monitor_since or timezone.now()
        else:
            _check_no_access_time_rule(bucket)
            bucket.access_monitor_since = None
        bucket.save(update_fields=["access_monitor_since"])
    return empty_response(200)


def get_bucket_access_monitor(request, bucket_name):
    bucket = owned_bucket(request, bucket_name)
    return oss_xml.xml_response(
        oss_xml.element(
            "AccessMonitorConfiguration",
            children=[oss_xml.element("Status", monitor_status(bucket))],
        )
    )


def monitor_status(bucket):
    """Enabled or Disabled, as GetBucketAccessMonitor and GetBucketInfo say it."""
    return "Enabled" if bucket.access_monitor_since is not None else "Disabled"


def _status(body):
    try:
        root = fromstring(body)
    except (ParseError, DefusedXmlException):
        raise errors.malformed_xml() from None
    statuses = root.findall("Status")
    if root.tag != "AccessMonitorConfiguration" or len(statuses) != 1 or len(root) != 1:
        raise errors.malformed_xml(
            "An AccessMonitorConfiguration holds one Status and nothing else."
        )
    status = (statuses[0].text or "").strip()
    if status not in STATUSES:
        raise errors.malformed_xml("Status must be Enabled or Disabled.")
    return status


def _check_no_access_time_rule(bucket):
    if any(uses_access_time(rule) for rule in bucket.lifecycle_rules.all()):
        error = errors.invalid_argument(
            "Access tracking cannot be disabled while a lifecycle rule is based on "
            "last access time.",
            "Status",
            "Disabled",
        )
        error.details["EC"] = "0036-00000005"  # OSS's, for this refusal
        raise error


def uses_access_time(rule):
    """A lifecycle rule with a transition counted from last access (IsAccessTime)."""
    transitions = [*rule.transitions, *rule.noncurrent_transitions]
    return any(transition.get("is_access_time") for transition in transitions)


# -- last access times ------------------------------------------------------------------


def last_access_time(obj, bucket):
    """The object's last access time while tracking is on, else None."""
    if bucket.access_monitor_since is None:
        return None
    return max(
        obj.last_access_time or obj.last_modified,
        obj.last_modified,
        bucket.access_monitor_since,
    )


def last_access_header(obj, bucket):
    """{x-oss-last-access-time: ...} while tracking is on, else {}."""
    moment = last_access_time(obj, bucket)
    return {} if moment is None else {LAST_ACCESS_HEADER: http_date(moment.timestamp())}


def record_read(obj, bucket, now=None):
    """A GET of `obj`'s bytes: note it (at most daily) while tracking is on, and an
    object an access-time rule moved to IA with ReturnToStdWhenVisit goes back to
    Standard. At most one UPDATE, and none on most reads."""
    now = now or timezone.now()
    changes = {}
    if bucket.access_monitor_since is not None and (
        obj.last_access_time is None or now - obj.last_access_time >= RECORD_EVERY
    ):
        changes["last_access_time"] = now
    if obj.return_to_standard_on_read:
        changes.update(
            storage_class=StorageClass.STANDARD, return_to_standard_on_read=False
        )
    if changes:
        # Only the bytes that were read: an overwrite meanwhile starts afresh.
        StoredObject.objects.filter(pk=obj.pk, blob=obj.blob).update(**changes)
