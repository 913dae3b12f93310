"""Bucket access logging: PutBucketLogging, GetBucketLogging, DeleteBucketLogging
(`?logging`), the recording of each request to a logged bucket, and the job that
writes the records into the target bucket as OSS's access-log objects.

Recording (AccessLogMiddleware) is one INSERT of a finished line into
AccessLogRecord, and any failure of it is logged and swallowed: a request never
fails because of its log. A table rather than a file per worker, so that any
worker or server can flush every record, and a killed worker's records are not
stranded. The flush job (run_if_due from the housekeeping sweep, at most every
LOGGING_INTERVAL_SECONDS; `manage.py flush_access_logs` at once) writes one object
per logged bucket and run, named as OSS names them:
    <TargetPrefix><SourceBucket>YYYY-mm-DD-HH-MM-SS-<UniqueString>
one line per request, fields as OSS's (space separated, "-" when unknown):
    Remote IP, -, -, [Time], "Request-URI", HTTP Status, SentBytes,
    RequestTime(ms), "Referer", "User-Agent", "HostName", "Request ID",
    "LoggingFlag", "Requester ID", "Operation", "Bucket", "Key", ObjectSize,
    Server Cost Time(ms), "Error Code", Request Length, "UserID", Delta DataSize,
    "Sync Request", "StorageClass", "TargetStorageClass",
    "TransmissionAccelerationAccessPoint", "AccessKeyID"
Secrets never reach a log: signatures and security tokens in the query string are
replaced by REDACTED, and the Authorization header is not logged at all.

The target bucket must be the logged bucket's owner's (it may be the bucket itself);
a target that does not exist or is someone else's is refused alike (400
InvalidTargetBucketForLogging), so that the answer tells nothing about other
users' buckets.
"""

import datetime
import logging
import re
import time
import uuid
from urllib.parse import quote, unquote

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from buckets import errors, oss_xml
from buckets.models import AccessLogRecord, Bucket, LoggingConfiguration
from buckets.names import validate_object_key
from buckets.oss_access import empty_response, owned_bucket, parse_xml, read_xml_body
from buckets.scheduled_jobs import claim_turn
from buckets.storage import ObjectMetadata, ObjectWriter, commit_object
from buckets.sub_resources import V1_SUB_RESOURCES

logger = logging.getLogger(__name__)

JOB_NAME = "access-logging"
LINES_PER_OBJECT = 10000
MAX_PREFIX_BYTES = 512  # leaves room for the bucket name and the time in the key
# Query parameters that carry a signature or a token: never written to a log.
SECRET_PARAMETERS = frozenset(
    {"signature", "x-oss-signature", "security-token", "x-oss-security-token"}
)
REDACTED = "REDACTED"
_CODE_RE = re.compile(rb"<Code>([^<]{1,64})</Code>")
_UNSAFE_RE = re.compile(r'["\\\x00-\x1f\x7f]')


# -- the operations --------------------------------------------------------------------


def put_bucket_logging(request, bucket_name):
    """A BucketLoggingStatus with LoggingEnabled starts (or changes) logging; an
    empty one stops it, as oss2 sends for BucketLogging('', '')."""
    bucket = owned_bucket(request, bucket_name)
    target = _parse_status(read_xml_body(request))
    if target is None:
        LoggingConfiguration.objects.filter(bucket=bucket).delete()
        return empty_response(200)
    target_name, prefix = target
    target_bucket = Bucket.objects.filter(name=target_name, owner=bucket.owner).first()
    if target_bucket is None:
        raise errors.OssError(
            400,
            "InvalidTargetBucketForLogging",
            "The target bucket does not exist or is not yours: logs go only into "
            "a bucket of the same owner.",
            TargetBucket=target_name,
        )
    LoggingConfiguration.objects.update_or_create(
        bucket=bucket,
        defaults={"target_bucket": target_bucket, "target_prefix": prefix},
    )
    return empty_response(200)


def get_bucket_logging(request, bucket_name):
    """An empty BucketLoggingStatus when logging is off, as on OSS."""
    bucket = owned_bucket(request, bucket_name)
    config = (
        LoggingConfiguration.objects.select_related("target_bucket")
        .filter(bucket=bucket)
        .first()
    )
    children = []
    if config is not None:
        children.append(
            oss_xml.element(
                "LoggingEnabled",
                children=[
                    oss_xml.element("TargetBucket", config.target_bucket.name),
                    oss_xml.element("TargetPrefix", config.target_prefix),
                ],
            )
        )
    return oss_xml.xml_response(
        oss_xml.element("BucketLoggingStatus", children=children)
    )


def delete_bucket_logging(request, bucket_name):
    """204 whether or not logging was on, as on OSS."""
    bucket = owned_bucket(request, bucket_name)
    LoggingConfiguration.objects.filter(bucket=bucket).delete()
    return empty_response(204)


def _parse_status(body):
    """(target bucket, prefix), or None for a status without LoggingEnabled."""
    root = parse_xml(body, "BucketLoggingStatus")
    enabled = _only_children(root, {"LoggingEnabled"}).get("LoggingEnabled")
    if enabled is None:
        return None
    found = _only_children(enabled, {"TargetBucket", "TargetPrefix"})
    target = _text(found.get("TargetBucket")).strip()
    if not target:
        raise errors.malformed_xml("LoggingEnabled needs a TargetBucket.")
    prefix = _text(found.get("TargetPrefix"))
    _check_prefix(prefix)
    return target, prefix


def _only_children(node, allowed):
    """{tag: element} of the node's children; anything else, or a repeat, is refused."""
    found = {}
    for child in node:
        if child.tag not in allowed:
            raise errors.invalid_argument(
                f"{child.tag} is not an element this server knows in {node.tag}.",
                child.tag,
                "",
            )
        if child.tag in found:
            raise errors.malformed_xml(f"{child.tag} may appear only once.")
        found[child.tag] = child
    return found


def _text(node):
    if node is None:
        return ""
    if len(node):
        raise errors.malformed_xml(f"{node.tag} holds text, not elements.")
    return node.text or ""


def _check_prefix(prefix):
    """The prefix must start valid object keys (the log objects' names)."""
    too_long = len(prefix.encode("utf-8", "surrogatepass")) > MAX_PREFIX_BYTES
    try:
        validate_object_key(prefix + "x")
    except ValidationError as error:
        raise errors.invalid_argument(
            f"TargetPrefix cannot start an object name: {error.messages[0]}",
            "TargetPrefix",
            prefix[:64],
        ) from None
    if too_long:
        raise errors.invalid_argument(
            f"TargetPrefix must be at most {MAX_PREFIX_BYTES} bytes long.",
            "TargetPrefix",
            prefix[:64],
        )


# -- recording requests ------------------------------------------------------------------


class AccessLogMiddleware:
    """After each OSS request to a bucket whose logging is on, record its line."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        started = time.monotonic()
        response = self.get_response(request)
        if hasattr(request, "oss_request_id"):  # an OSS endpoint answered it
            record(request, response, started)
        return response


def record(request, response, started):
    """Buffer the request's log line if its bucket is logged; never raises."""
    match = request.resolver_match
    bucket_name = match.kwargs.get("bucket_name") if match else None
    if not bucket_name:
        return
    try:
        bucket = _logged_bucket(request, bucket_name)
        if bucket is not None:
            line = access_log_line(
                request, response, bucket, match.kwargs.get("key"), started
            )
            AccessLogRecord.objects.create(bucket=bucket, line=line)
    except Exception:  # noqa: BLE001 - a log line must never fail its request
        logger.warning(
            "access log line for bucket %s not recorded", bucket_name, exc_info=True
        )


def _logged_bucket(request, bucket_name):
    """The bucket if its requests are logged, else None. The access check already
    loaded it with its logging configuration (oss_access.check_access): no query on
    the way out, except for requests refused before that check."""
    bucket = getattr(request, "oss_bucket", None)
    via_access_point = getattr(bucket, "via_access_point", None)
    if via_access_point is not None and via_access_point.alias == bucket_name:
        bucket_name = bucket.name  # logged in the bucket's log, as by its name
    if bucket is None or bucket.name != bucket_name:
        return (
            Bucket.objects.filter(name=bucket_name, logging_configuration__isnull=False)
            .only("pk", "name", "owner_id", "storage_class")
            .first()
        )
    try:
        bucket.logging_configuration  # noqa: B018 - joined in, or DoesNotExist
    except LoggingConfiguration.DoesNotExist:
        return None
    return bucket


def access_log_line(request, response, bucket, key, started, now=None):
    """One request in OSS's access-log line format (see the module docstring)."""
    now = now or timezone.now()
    elapsed_ms = str(max(0, round((time.monotonic() - started) * 1000)))
    user = getattr(request, "oss_user", None)
    fields = [
        request.META.get("REMOTE_ADDR") or "-",
        "-",
        "-",
        now.strftime("[%d/%b/%Y:%H:%M:%S +0000]"),
        _quoted(
            f"{request.method} {redacted_uri(request)} "
            f"{request.META.get('SERVER_PROTOCOL', 'HTTP/1.1')}"
        ),
        str(response.status_code),
        response.get("Content-Length") or "-",
        elapsed_ms,
        _quoted(request.headers.get("Referer", "")),
        _quoted(request.headers.get("User-Agent", "")),
        _quoted(request.get_host()),
        _quoted(getattr(request, "oss_request_id", "")),
        _quoted("true"),
        _quoted(str(user.pk) if user is not None else ""),
        _quoted(operation_name(request, key)),
        _quoted(bucket.name),
        _quoted(quote(key, safe="/") if key else ""),
        "-",  # ObjectSize
        elapsed_ms,
        _quoted(_error_code(response)),
        request.META.get("CONTENT_LENGTH") or "-",
        _quoted(str(bucket.owner_id)),
        "-",  # Delta DataSize
        _quoted(""),  # Sync Request
        _quoted(bucket.storage_class),
        _quoted(""),
        _quoted(""),
        _quoted(access_key_id(request)),
    ]
    return " ".join(fields)


def redacted_uri(request):
    """The request's path and query as sent, with signatures and tokens replaced."""
    path = quote(request.path, safe="/-_.~!$&'()*+,;=:@%")
    query = request.META.get("QUERY_STRING", "")
    if not query:
        return path
    items = []
    for item in query.split("&"):
        name, equals, _value = item.partition("=")
        if unquote(name).lower() in SECRET_PARAMETERS:
            item = f"{name}{equals}{REDACTED}"
        items.append(item)
    return f"{path}?{'&'.join(items)}"


def operation_name(request, key):
    """GetObject, PutBucketLogging, ...: the method, the level and the first
    sub-resource named, as OSS names most operations."""
    level = "Object" if key else "Bucket"
    sub = next((name for name in request.GET if name and name[0].isalpha()), "")
    sub = sub[0].upper() + sub[1:] if sub in V1_SUB_RESOURCES else ""
    return f"{request.method.title()}{level}{sub}"


def access_key_id(request):
    """The AccessKey ID the request names (not a secret; OSS logs it too)."""
    authorization = request.headers.get("Authorization", "")
    if authorization.startswith("OSS "):
        return authorization[4:].partition(":")[0]
    match = re.search(r"Credential=([^/,\s]+)", authorization)
    if match:
        return match.group(1)
    for name in ("OSSAccessKeyId", "x-oss-access-key-id"):
        if request.GET.get(name):
            return request.GET[name]
    return request.GET.get("x-oss-credential", "").partition("/")[0]


def _error_code(response):
    if response.status_code < 400 or getattr(response, "streaming", False):
        return ""
    match = _CODE_RE.search(response.content)
    return match.group(1).decode("utf-8", "replace") if match else ""


def _quoted(text):
    """A field in quotes, "-" when empty; quotes, backslashes and control
    characters escaped, so that one request is always one line."""
    if not text:
        return '"-"'
    return '"' + _UNSAFE_RE.sub(lambda m: f"\\x{ord(m.group()):02x}", text) + '"'


# -- writing the logs -----------------------------------------------------------------------


def flush_access_logs(now=None):
    """Write every buffered record into its target bucket; returns the objects written."""
    now = now or timezone.now()
    written = 0
    bucket_ids = set(AccessLogRecord.objects.values_list("bucket_id", flat=True))
    for bucket_id in sorted(bucket_ids):
        written += _flush_bucket(bucket_id, now)
    return written


def run_if_due(now=None):
    """flush_access_logs, if no worker or server has within LOGGING_INTERVAL_SECONDS;
    None when it was not this caller's turn."""
    now = now or timezone.now()
    interval = datetime.timedelta(seconds=settings.LOGGING_INTERVAL_SECONDS)
    if not claim_turn(JOB_NAME, now, interval):
        return None
    return flush_access_logs(now)


class _TakenMeanwhile(Exception):
    """Another flush wrote some of these records first."""


def _flush_bucket(bucket_id, now):
    config = (
        LoggingConfiguration.objects.select_related("bucket", "target_bucket")
        .filter(bucket_id=bucket_id)
        .first()
    )
    records = AccessLogRecord.objects.filter(bucket_id=bucket_id)
    if config is None or config.target_bucket.owner_id != config.bucket.owner_id:
        # Logging was turned off (or its target went) before these were written.
        records.delete()
        return 0
    written = 0
    while True:
        batch = list(
            records.order_by("pk").values_list("pk", "line")[:LINES_PER_OBJECT]
        )
        if not batch:
            return written
        try:
            _write_log_object(config, batch, now)
        except _TakenMeanwhile:
            continue
        written += 1


def _write_log_object(config, batch, now):
    """One log object of `batch`; its records go in the same transaction."""
    key = (
        f"{config.target_prefix}{config.bucket.name}"
        f"{now:%Y-%m-%d-%H-%M-%S}-{uuid.uuid4().hex[:16].upper()}"
    )
    with ObjectWriter() as writer:
        for _pk, line in batch:
            writer.write(line.encode("utf-8", "replace") + b"\n")
        writer.finish()  # the fsync before the transaction, not in it
        ids = [pk for pk, _line in batch]
        with transaction.atomic():
            deleted, _ = AccessLogRecord.objects.filter(pk__in=ids).delete()
            if deleted != len(ids):
                raise _TakenMeanwhile()
            commit_object(
                config.target_bucket,
                key,
                writer,
                ObjectMetadata(content_type="text/plain"),
            )
