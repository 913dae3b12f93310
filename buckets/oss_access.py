"""What every OSS operation asks first: who is asking, for which bucket and key,
with which arguments and body. Each refusal is an OssError.

It also holds ObjectRequest, the seam where Back-to-Origin plugs in.
"""

import base64
import hashlib
from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.http import HttpResponse

from buckets import errors
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
    try:
        # The Referer configuration joins in: a read checks it (buckets/referer.py).
        return Bucket.objects.select_related("owner", "referer_configuration").get(
            name=name
        )
    except Bucket.DoesNotExist:
        raise errors.no_such_bucket(name) from None


def owned_bucket(request, name):
    """Bucket-level operations are the owner's alone."""
    bucket = get_bucket(name)
    if not bucket.is_owned_by(request_user(request)):
        raise errors.access_denied("You have no right to access this bucket.")
    return bucket


def check_readable(request, bucket):
    if not bucket.readable_by(request_user(request)):
        raise errors.access_denied()
    return bucket


def readable_bucket(request, name):
    return check_readable(request, get_bucket(name))


def writable_bucket(request, name):
    bucket = get_bucket(name)
    if not bucket.writable_by(request_user(request)):
        raise errors.access_denied()
    return bucket


def _object_or_none(bucket, key):
    return bucket.stored_objects.filter(key=key).first() if is_valid_key(key) else None


def readable_object(request, bucket, key):
    """The object `key` (None if there is none) once the request may read it: the
    object's own ACL, unless "default", decides instead of the bucket's. The key
    is checked after access: a denied request is AccessDenied whatever its key."""
    return check_object_readable(request, bucket, _object_or_none(bucket, key))


def check_object_readable(request, bucket, obj):
    if not bucket.readable_by(request_user(request), _acl_of(obj)):
        raise _denied_by(obj)
    return obj


def writable_object(request, bucket, key):
    """As readable_object, for a write or delete of `key`."""
    obj = _object_or_none(bucket, key)
    if not bucket.writable_by(request_user(request), _acl_of(obj)):
        raise _denied_by(obj)
    return obj


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


# -- answers --------------------------------------------------------------------


def empty_response(status=200):
    response = HttpResponse(status=status)
    response["Content-Length"] = "0"
    return response
