"""What every OSS operation asks first: who is asking, for which bucket and key,
with which arguments and body. Each refusal is an OssError.

It also holds ObjectRequest, the seam where Back-to-Origin plugs in.
"""

import base64
import hashlib
from dataclasses import dataclass

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import ParseError, fromstring
from django.core.exceptions import ValidationError
from django.http import HttpResponse

from buckets import (
    access_points,
    bucket_lookup,
    bucket_policy,
    errors,
    public_access,
    request_payment,
    tls,
    versioning,
)
from buckets.models import Bucket
from buckets.names import validate_object_key
from buckets.numbers import MAX_BYTE_OFFSET, parse_decimal

SAFE_METHODS = ("GET", "HEAD")
MAX_XML_BODY_BYTES = 1024 * 1024


@dataclass(frozen=True)
class ObjectRequest:
    """The seam where Back-to-Origin plugs in.

    GetObject (GET and HEAD) sets `request.oss_get_object = ObjectRequest(...)` as
    soon as the bucket exists and the key is valid, before the access check, so a
    middleware can act on its answer: on a GET whose answer is 404, that answer is
    NoSuchKey, the only 404 GetObject gives from then on. Nothing else sets it.
    """

    bucket: Bucket
    key: str


# -- who and what --------------------------------------------------------------


def request_user(request):
    """The user an OSS request acts as, or None for anonymous.

    The endpoint is CSRF-exempt, so a console session counts only for reads;
    writes need a signature.
    """
    signed_user = getattr(request, "oss_user", None)
    if signed_user is not None:
        return signed_user
    if request.method in SAFE_METHODS and request.user.is_authenticated:
        return request.user
    return None


def get_bucket(name):
    return get_bucket_and_current(name)[0]


# get_bucket_and_current's "current version not looked up" (an access point's alias,
# an invalid key): readable_object then looks it up itself.
NOT_LOOKED_UP = object()


def get_bucket_and_current(name, key=None):
    """(bucket, the current version of `key` or None) in one query; the bucket with
    what every request reads of it (buckets/bucket_lookup.py): its owner's account
    settings (Block Public Access), its Referer configuration (buckets/referer.py)
    and logging configuration (buckets/access_logging.py records the request by it).
    The object is NOT_LOOKED_UP without a valid `key` or through an alias."""
    if access_points.is_alias_form(name):  # an access point's alias
        buckets = Bucket.objects.select_related(*bucket_lookup.RELATED)
        try:
            return access_points.bucket_of_alias(buckets, name), NOT_LOOKED_UP
        except Bucket.DoesNotExist:
            raise errors.no_such_bucket(name) from None
    valid = key is not None and is_valid_key(key)
    bucket, current = bucket_lookup.load(name, key if valid else None)
    if bucket is None:
        raise errors.no_such_bucket(name)
    return bucket, current if valid else NOT_LOOKED_UP


# -- may the request do it -------------------------------------------------------
#
# One decision for every operation (check_access): the owner may do anything; for
# anyone else the bucket policy's explicit Deny wins, then its Allow grants, then
# the ACL (a public one only while public access is not blocked) decides; a request
# let in by policy or ACL then also meets pay-by-requester's rule.


def check_access(request, bucket, *, acl_grants, key=None, action=None, denied=None):
    """Raise AccessDenied unless the request may do `action` (by default the routed
    operation's) on `bucket` or its object `key`. `acl_grants`: whether the ACL
    alone would let this non-owner in."""
    if not hasattr(request, "oss_bucket"):  # the URL's bucket: checked first
        request.oss_bucket = bucket
    tls.check_tls_version(request, bucket)  # the owner's requests too
    user = request_user(request)
    via_access_point = getattr(bucket, "via_access_point", None)
    if via_access_point is not None:  # its policy joins in (buckets/access_points.py)
        access_points.check_request(
            via_access_point,
            request,
            owner=bucket.is_owned_by(user),
            user=user,
            action=action or bucket_policy.request_action(request),
            key=key,
        )
    if bucket.is_owned_by(user):
        return
    decided = bucket_policy.verdict(
        bucket,
        user,
        action or bucket_policy.request_action(request),
        bucket_policy.resource_name(bucket, key),
        request.META.get("REMOTE_ADDR", ""),
    )
    if decided is bucket_policy.Verdict.DENY:
        raise errors.access_denied(
            "You have no right to access this resource because of bucket policy."
        )
    if decided is None and not (acl_grants and not public_access.is_blocked(bucket)):
        raise denied or errors.access_denied()
    request_payment.check_payer(request, bucket, user)


def owned_bucket(request, name):
    """Bucket-level operations are the owner's, and those the bucket policy grants."""
    bucket = get_bucket(name)
    check_access(
        request,
        bucket,
        acl_grants=False,
        denied=errors.access_denied("You have no right to access this bucket."),
    )
    return bucket


def check_readable(request, bucket):
    user = request_user(request)
    check_access(request, bucket, acl_grants=bucket.readable_by(user))
    return bucket


def readable_bucket(request, name):
    return check_readable(request, get_bucket(name))


def writable_bucket(request, name):
    bucket = get_bucket(name)
    user = request_user(request)
    check_access(request, bucket, acl_grants=bucket.writable_by(user))
    return bucket


# readable_object's and writable_object's default: the request's versionId when the
# object asked about is the one in the URL (a copy's source names its own).
ROUTED = object()


def requested_version_id(request, bucket, key, version_id=ROUTED):
    """The version asked for (None: the current one)."""
    if version_id is not ROUTED:
        return version_id
    match = getattr(request, "resolver_match", None)
    kwargs = match.kwargs if match else {}
    via_access_point = getattr(bucket, "via_access_point", None)
    names = (bucket.name, via_access_point.alias if via_access_point else None)
    routed = kwargs.get("bucket_name") in names and kwargs.get("key") == key
    return request.GET.get("versionId") if routed else None


def _object_or_none(bucket, key, version_id=None, current=NOT_LOOKED_UP):
    """The current version of `key` (`current` when the bucket's query found it
    already), or with `version_id` that version (an older one, perhaps a delete
    marker: buckets.versioning), or None."""
    if not is_valid_key(key):
        return None
    if version_id is None:
        if current is not NOT_LOOKED_UP:
            return current
        return bucket.stored_objects.filter(key=key).first()
    versioning.check_version_id(version_id)
    return versioning.find_version(bucket, key, version_id)


def _checked_version(obj, key, version_id):
    """After the access check: a version asked for that does not exist is 404."""
    if obj is None and version_id is not None:
        raise errors.no_such_version(key, version_id)
    return obj


def readable_object(
    request, bucket, key, *, action=None, version_id=ROUTED, current=NOT_LOOKED_UP
):
    """The object `key` (None if there is none) once the request may read it: the
    object's own ACL, unless "default", decides instead of the bucket's. The key
    is checked after access: a denied request is AccessDenied whatever its key.
    `action`: the policy action when it is not the routed operation's (a copy's
    source is read with oss:GetObject). With a versionId, that version. `current`:
    the current version when get_bucket_and_current found it."""
    version_id = requested_version_id(request, bucket, key, version_id)
    obj = _object_or_none(bucket, key, version_id, current)
    check_object_readable(request, bucket, obj, key=key, action=action)
    return _checked_version(obj, key, version_id)


@dataclass(frozen=True)
class CopySource:
    """What x-oss-copy-source names, once the request may read it."""

    bucket: Bucket
    key: str
    version_id: str | None  # None: the current version
    obj: object  # StoredObject or ObjectVersion, None when there is none


def readable_copy_source(request):
    """The source of CopyObject or UploadPartCopy ("/bucket/key[?versionId=...]"),
    read with oss:GetObject; a delete marker is no object (NoSuchKey)."""
    bucket_name, key, version_id = versioning.parse_copy_source(
        request.headers["x-oss-copy-source"]
    )
    bucket = get_bucket(bucket_name)
    obj = readable_object(
        request, bucket, key, action="oss:GetObject", version_id=version_id
    )
    if getattr(obj, "is_delete_marker", False):
        raise errors.no_such_key(key)
    return CopySource(bucket, key, version_id, obj)


def check_object_readable(request, bucket, obj, *, key=None, action=None):
    user = request_user(request)
    check_access(
        request,
        bucket,
        acl_grants=bucket.readable_by(user, _acl_of(obj)),
        key=obj.key if obj is not None else key,
        action=action,
        denied=_denied_by(obj),
    )
    return obj


def writable_object(request, bucket, key, *, action=None, version_id=ROUTED):
    """As readable_object, for a write or delete of `key`."""
    version_id = requested_version_id(request, bucket, key, version_id)
    obj = _object_or_none(bucket, key, version_id)
    check_object_writable(request, bucket, key, obj, action=action)
    return _checked_version(obj, key, version_id)


def check_object_writable(request, bucket, key, obj, *, action=None):
    user = request_user(request)
    check_access(
        request,
        bucket,
        acl_grants=bucket.writable_by(user, _acl_of(obj)),
        key=key,
        action=action,
        denied=_denied_by(obj),
    )


def _acl_of(obj):
    return obj.acl if obj is not None else "default"


def _denied_by(obj):
    if _acl_of(obj) == "default":
        return errors.access_denied()
    return errors.access_denied(
        "You have no right to access this object because of object acl."
    )


def is_valid_key(key):
    try:
        validate_object_key(key)
    except ValidationError:
        return False
    return True


def checked_key(key):
    try:
        validate_object_key(key)
    except ValidationError as error:
        raise errors.invalid_object_name(key, error.messages[0]) from None
    return key


# -- query arguments ------------------------------------------------------------


def count_parameter(request, name, *, default, low=0, high=1000):
    """A query count such as max-keys: a whole number from `low` to `high`."""
    value = request.GET.get(name, "")
    if value == "":
        return default
    try:
        count = parse_decimal(value, max_value=high)
        if count < low:
            raise ValueError(f"below {low}")
    except ValueError:
        raise errors.invalid_argument(
            f"{name} must be an integer from {low} to {high}.", name, value
        ) from None
    return count


def url_encoding_requested(request):
    encoding = request.GET.get("encoding-type", "")
    if encoding not in ("", "url"):
        raise errors.invalid_argument(
            "encoding-type must be url.", "encoding-type", encoding
        )
    return encoding == "url"


def acl_from_header(request, header="x-oss-acl", default=None):
    value = request.headers.get(header, "")
    if not value:
        return default
    if value not in Bucket.Acl.values:
        raise errors.invalid_argument(
            f"{header} must be private, public-read or public-read-write.",
            header,
            value,
        )
    return value


# -- request bodies -------------------------------------------------------------


def _is_chunked(request):
    return "chunked" in request.META.get("HTTP_TRANSFER_ENCODING", "").lower()


def body_stream(request):
    """The request body as a file; chunked uploads have no Content-Length for Django to limit."""
    return request.META["wsgi.input"] if _is_chunked(request) else request


def declared_length(request):
    """Content-Length of a non-chunked body (None when chunked)."""
    if _is_chunked(request):
        return None
    value = request.META.get("CONTENT_LENGTH") or "0"
    try:
        return parse_decimal(value, max_value=MAX_BYTE_OFFSET)
    except ValueError:
        raise errors.invalid_argument(
            "Content-Length must be a non-negative integer.", "Content-Length", value
        ) from None


def check_content_md5(request, actual_b64):
    sent = request.headers.get("Content-MD5")
    if sent is not None and sent.strip() != actual_b64:
        raise errors.OssError(
            400,
            "InvalidDigest",
            "The Content-MD5 you specified was invalid.",
            ContentMD5=sent,
        )


def read_xml_body(request):
    """The request body, checked against Content-MD5 when one is sent."""
    length = declared_length(request) or 0
    if length > MAX_XML_BODY_BYTES:
        raise errors.OssError(400, "EntityTooLarge", "The XML document is too large.")
    body = request.body
    check_content_md5(request, base64.b64encode(hashlib.md5(body).digest()).decode())
    return body


def xml_document(request, root_tag):
    """The request's XML body (checked against Content-MD5), parsed as parse_xml."""
    return parse_xml(read_xml_body(request), root_tag)


def parse_xml(body, root_tag):
    """An XML document parsed with defusedxml (a client's entity declarations, the
    billion laughs or external files, are refused) whose root must be `root_tag`;
    else MalformedXML."""
    try:
        root = fromstring(body)
    except (ParseError, DefusedXmlException):
        raise errors.malformed_xml() from None
    if root.tag != root_tag:
        raise errors.malformed_xml(f"The root element must be {root_tag}.")
    return root


def xml_bool(root, tag, *, default):
    """The true/false text of `tag` under `root` (`default` when it is absent);
    anything else is InvalidArgument naming it."""
    text = root.findtext(tag)
    if text is None:
        return default
    if text.strip() not in ("true", "false"):
        raise errors.invalid_argument(f"{tag} must be true or false.", tag, text)
    return text.strip() == "true"


# -- answers --------------------------------------------------------------------


def empty_response(status=200):
    response = HttpResponse(status=status)
    response["Content-Length"] = "0"
    return response
