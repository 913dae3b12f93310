"""OSS API operations, one function each. views.py routes requests to them.

Every function gets the request (already authenticated: request.oss_user) and
raises OssError for anything it refuses.
"""

import base64
import binascii
import hashlib
import mimetypes
import xml.etree.ElementTree as ET
from urllib.parse import unquote

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.http import HttpResponse
from django.utils.http import http_date

from buckets import errors, oss_xml
from buckets.listing import list_objects
from buckets.models import Bucket, StoredObject
from buckets.names import validate_bucket_name, validate_object_key
from buckets.numbers import MAX_BYTE_OFFSET, parse_decimal
from buckets.serving import serve_object
from buckets.storage import (
    CHUNK_SIZE,
    ObjectChanged,
    ObjectMetadata,
    ObjectWriter,
    commit_object,
    delete_key,
    delete_object,
    ensure_room_for,
    open_blob,
    open_current_version,
)

SAFE_METHODS = ("GET", "HEAD")
MAX_OBJECT_BYTES = 5 * 1024**3  # OSS's single PUT limit
MAX_USER_META_BYTES = 8 * 1024
MAX_XML_BODY_BYTES = 1024 * 1024
RESPONSE_OVERRIDES = {
    "response-content-type": "Content-Type",
    "response-content-language": "Content-Language",
    "response-expires": "Expires",
    "response-cache-control": "Cache-Control",
    "response-content-disposition": "Content-Disposition",
    "response-content-encoding": "Content-Encoding",
}


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
        return Bucket.objects.select_related("owner").get(name=name)
    except Bucket.DoesNotExist:
        raise errors.no_such_bucket(name) from None


def owned_bucket(request, name):
    """Bucket-level operations are the owner's alone."""
    bucket = get_bucket(name)
    if not bucket.is_owned_by(request_user(request)):
        raise errors.access_denied("You have no right to access this bucket.")
    return bucket


def readable_bucket(request, name):
    bucket = get_bucket(name)
    if not bucket.readable_by(request_user(request)):
        raise errors.access_denied()
    return bucket


def writable_bucket(request, name):
    bucket = get_bucket(name)
    if not bucket.writable_by(request_user(request)):
        raise errors.access_denied()
    return bucket


def checked_key(key):
    try:
        validate_object_key(key)
    except ValidationError as error:
        raise errors.invalid_object_name(key, error.messages[0]) from None
    return key


def _region():
    return settings.OSS_REGION


def _endpoint_host(request):
    return request.get_host()


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


def _max_keys(request, default=100):
    return count_parameter(request, "max-keys", default=default)


def url_encoding_requested(request):
    encoding = request.GET.get("encoding-type", "")
    if encoding not in ("", "url"):
        raise errors.invalid_argument(
            "encoding-type must be url.", "encoding-type", encoding
        )
    return encoding == "url"


def _acl_from_header(request, header="x-oss-acl", default=None):
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


def _empty(status=200):
    response = HttpResponse(status=status)
    response["Content-Length"] = "0"
    return response


# -- service ------------------------------------------------------------------------


def list_buckets(request):
    user = request_user(request)
    if user is None:
        raise errors.access_denied("Anonymous access is forbidden for this operation.")
    prefix, marker, max_keys = (
        request.GET.get("prefix", ""),
        request.GET.get("marker", ""),
        _max_keys(request),
    )
    buckets = Bucket.objects.filter(
        owner=user, name__startswith=prefix, name__gt=marker
    ).order_by("name")
    if prefix != prefix.lower():
        # Names are lower-case; SQLite's LIKE would match prefix "LB-" to "lb-one".
        buckets = buckets.none()
    page = list(buckets[: max_keys + 1])
    truncated = len(page) > max_keys
    page = page[:max_keys]
    root = oss_xml.list_buckets(
        user,
        page,
        prefix=prefix,
        marker=marker,
        max_keys=max_keys,
        truncated=truncated,
        next_marker=page[-1].name if truncated and page else "",
        region=_region(),
        endpoint_host=_endpoint_host(request),
    )
    return oss_xml.xml_response(root)


# -- buckets --------------------------------------------------------------------------


def put_bucket(request, name):
    user = request_user(request)
    if user is None:
        raise errors.access_denied("Anonymous users cannot create buckets.")
    try:
        validate_bucket_name(name)
    except ValidationError as error:
        raise errors.OssError(
            400, "InvalidBucketName", error.messages[0], BucketName=name
        ) from None
    acl = _acl_from_header(request, default=Bucket.Acl.PRIVATE)
    existing = Bucket.objects.filter(name=name).first()
    if existing is not None:
        if existing.owner_id == user.pk:
            return _empty()
        raise errors.OssError(
            409,
            "BucketAlreadyExists",
            "The requested bucket name is not available.",
            BucketName=name,
        )
    try:
        with transaction.atomic():
            Bucket.objects.create(owner=user, name=name, acl=acl)
    except IntegrityError:
        raise errors.OssError(
            409,
            "BucketAlreadyExists",
            "The requested bucket name is not available.",
            BucketName=name,
        ) from None
    return _empty()


def delete_bucket(request, name):
    bucket = owned_bucket(request, name)
    if not bucket.is_empty():
        raise errors.OssError(
            409,
            "BucketNotEmpty",
            "The bucket you tried to delete is not empty.",
            BucketName=name,
        )
    bucket.delete()
    return _empty(204)


def get_bucket_info(request, name):
    bucket = owned_bucket(request, name)
    return oss_xml.xml_response(
        oss_xml.bucket_info(bucket, _region(), _endpoint_host(request))
    )


def get_bucket_location(request, name):
    owned_bucket(request, name)
    return oss_xml.xml_response(
        oss_xml.element("LocationConstraint", f"oss-{_region()}")
    )


def get_bucket_acl(request, name):
    bucket = owned_bucket(request, name)
    return oss_xml.xml_response(oss_xml.access_control_policy(bucket.owner, bucket.acl))


def put_bucket_acl(request, name):
    bucket = owned_bucket(request, name)
    acl = _acl_from_header(request)
    if acl is None:
        raise errors.invalid_argument("x-oss-acl is required.", "x-oss-acl", "")
    bucket.acl = acl
    bucket.save(update_fields=["acl"])
    return _empty()


def list_bucket_objects(request, name):
    bucket = readable_bucket(request, name)
    url_encoding = url_encoding_requested(request)
    prefix, delimiter = request.GET.get("prefix", ""), request.GET.get("delimiter", "")
    max_keys = _max_keys(request)
    if request.GET.get("list-type") == "2":
        token = request.GET.get("continuation-token", "")
        start_after = request.GET.get("start-after", "")
        marker = _decode_token(token) if token else start_after
        listing = list_objects(
            bucket, prefix=prefix, delimiter=delimiter, marker=marker, max_keys=max_keys
        )
        next_token = (
            base64.urlsafe_b64encode(listing.next_marker.encode()).decode()
            if listing.is_truncated
            else ""
        )
        root = oss_xml.object_listing(
            bucket,
            listing,
            url_encoding=url_encoding,
            version=2,
            start_after=start_after,
            continuation_token=token,
            next_token=next_token,
            fetch_owner=request.GET.get("fetch-owner") == "true",
        )
    else:
        listing = list_objects(
            bucket,
            prefix=prefix,
            delimiter=delimiter,
            marker=request.GET.get("marker", ""),
            max_keys=max_keys,
        )
        root = oss_xml.object_listing(
            bucket, listing, url_encoding=url_encoding, version=1
        )
    return oss_xml.xml_response(root)


def _decode_token(token):
    try:
        return base64.urlsafe_b64decode(token.encode()).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise errors.invalid_argument(
            "The continuation token is not valid.", "continuation-token", token
        ) from None


def read_xml_body(request):
    """The request body, checked against Content-MD5 when one is sent."""
    length = _declared_length(request) or 0
    if length > MAX_XML_BODY_BYTES:
        raise errors.OssError(400, "EntityTooLarge", "The XML document is too large.")
    body = request.body
    _check_content_md5(request, base64.b64encode(hashlib.md5(body).digest()).decode())
    return body


def _check_content_md5(request, actual_b64):
    sent = request.headers.get("Content-MD5")
    if sent is not None and sent.strip() != actual_b64:
        raise errors.OssError(
            400,
            "InvalidDigest",
            "The Content-MD5 you specified was invalid.",
            ContentMD5=sent,
        )


def delete_multiple_objects(request, name):
    bucket = writable_bucket(request, name)
    body = read_xml_body(request)
    try:
        root = ET.fromstring(body)
    except ET.ParseError:
        raise errors.malformed_xml() from None
    if root.tag != "Delete":
        raise errors.malformed_xml()
    url_encoding = url_encoding_requested(request)
    keys = [(node.text or "") for node in root.findall("Object/Key")]
    if not keys or len(keys) > 1000:
        raise errors.malformed_xml("Delete needs 1 to 1000 Object/Key elements.")
    if "" in keys:
        # Refused before anything is deleted; answering it would need a <Key/> SDKs cannot read.
        raise errors.malformed_xml(
            "Every Object/Key must name an object: a Key is empty."
        )
    if url_encoding:
        keys = [unquote(key) for key in keys]
    quiet = (root.findtext("Quiet") or "false").strip().lower() == "true"
    for key in keys:
        obj = bucket.stored_objects.filter(key=key).first()
        if obj is not None:
            delete_object(obj)
    return oss_xml.xml_response(
        oss_xml.delete_result([] if quiet else keys, url_encoding=url_encoding)
    )


# -- objects ---------------------------------------------------------------------------


def get_object(request, bucket_name, key):
    bucket = readable_bucket(request, bucket_name)
    checked_key(key)
    request.oss_bucket, request.oss_key = bucket, key
    obj = bucket.stored_objects.filter(key=key).first()
    if obj is None:
        raise errors.no_such_key(key)
    response = serve_object(request, obj)
    for parameter, header in RESPONSE_OVERRIDES.items():
        value = request.GET.get(parameter)
        if value and "\n" not in value and "\r" not in value:
            response[header] = value
    return response


def get_object_meta(request, bucket_name, key):
    bucket = readable_bucket(request, bucket_name)
    obj = bucket.stored_objects.filter(key=checked_key(key)).first()
    if obj is None:
        raise errors.no_such_key(key)
    response = _empty()
    response["Content-Length"] = str(obj.size)
    response["ETag"] = obj.etag
    response["Last-Modified"] = http_date(obj.last_modified.timestamp())
    return response


def _metadata_from_headers(request, key):
    values = {
        field: request.headers.get(header, "")
        for field, header in StoredObject.METADATA_HEADERS.items()
    }
    values["content_type"] = (
        values["content_type"]
        or mimetypes.guess_type(key)[0]
        or "application/octet-stream"
    )
    user_meta = {
        name.lower()[len("x-oss-meta-") :]: value
        for name, value in request.headers.items()
        if name.lower().startswith("x-oss-meta-")
    }
    if (
        sum(len(name) + len(value) for name, value in user_meta.items())
        > MAX_USER_META_BYTES
    ):
        raise errors.invalid_argument(
            "User metadata (x-oss-meta-*) is limited to 8 KB.", "x-oss-meta-*", ""
        )
    return ObjectMetadata(user_meta=user_meta, **values)


def _is_chunked(request):
    return "chunked" in request.META.get("HTTP_TRANSFER_ENCODING", "").lower()


def _body_stream(request):
    """The request body as a file; chunked uploads have no Content-Length for Django to limit."""
    return request.META["wsgi.input"] if _is_chunked(request) else request


def _declared_length(request):
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


def put_object(request, bucket_name, key):
    if request.headers.get("x-oss-copy-source"):
        return copy_object(request, bucket_name, key)
    bucket = writable_bucket(request, bucket_name)
    checked_key(key)
    _acl_from_header(
        request, "x-oss-object-acl"
    )  # accepted and checked; objects follow the bucket ACL
    metadata = _metadata_from_headers(request, key)
    with ObjectWriter() as writer:
        _write_body(request, writer)
        obj = commit_object(bucket, key, writer, metadata)
    response = _empty()
    response["ETag"] = obj.etag
    response["Content-MD5"] = base64.b64encode(bytes.fromhex(obj.md5)).decode()
    return response


def _write_body(request, writer):
    """Add the whole request body to the writer, within the size limit; check its
    length and Content-MD5. A body that stops short raises IncompleteBody."""
    declared = _declared_length(request)
    if (declared or 0) > MAX_OBJECT_BYTES:
        raise _entity_too_large()
    ensure_room_for(declared)
    stream = _body_stream(request)
    body_md5, received = hashlib.md5(), 0
    for chunk in iter(lambda: stream.read(CHUNK_SIZE), b""):
        writer.write(chunk)
        body_md5.update(chunk)
        received += len(chunk)
        if received > MAX_OBJECT_BYTES:
            raise _entity_too_large()
    if declared is not None and received != declared:
        # Only reachable without CompleteBodyInput (e.g. another WSGI server).
        raise errors.incomplete_body()
    _check_content_md5(request, base64.b64encode(body_md5.digest()).decode())


def _entity_too_large():
    return errors.OssError(
        400, "EntityTooLarge", "Your proposed upload exceeds the maximum allowed size."
    )


def _position_error(code, message, next_position):
    error = errors.OssError(409, code, message)
    error.headers["x-oss-next-append-position"] = str(next_position)
    return error


def append_object(request, bucket_name, key):
    """AppendObject: POST ?append&position=N adds the body at the end of an Appendable object."""
    bucket = writable_bucket(request, bucket_name)
    checked_key(key)
    position = request.GET.get("position", "")
    try:
        position = parse_decimal(position, max_value=MAX_BYTE_OFFSET)
    except ValueError:
        raise errors.invalid_argument(
            "position must be a non-negative integer.", "position", position
        ) from None
    existing = bucket.stored_objects.filter(key=key).first()
    if existing is not None and existing.object_type != "Appendable":
        raise errors.OssError(
            409, "ObjectNotAppendable", "The object is not appendable."
        )
    size = existing.size if existing else 0
    if position != size:
        raise _position_error(
            "PositionNotEqualToLength", "Position is not equal to file length.", size
        )
    metadata = (
        _metadata_from_headers(request, key)
        if existing is None
        else _metadata_of(existing)
    )
    with ObjectWriter() as writer:
        try:
            if existing is not None:
                # Missing bytes mean a write replaced them since: the same as losing the race.
                with open_blob(existing) as handle:
                    writer.write_from(handle, existing.size)
            _write_body(request, writer)
            obj = commit_object(
                bucket,
                key,
                writer,
                metadata,
                object_type="Appendable",
                expect_blob=existing.blob if existing else "",
            )
        except (
            ObjectChanged,
            FileNotFoundError,
        ):  # another append or write landed first
            current = bucket.stored_objects.filter(key=key).first()
            raise _position_error(
                "PositionNotEqualToLength",
                "Position is not equal to file length.",
                current.size if current else 0,
            ) from None
    response = _empty()
    response["ETag"] = obj.etag
    response["x-oss-next-append-position"] = str(obj.size)
    return response


def _metadata_of(obj):
    return ObjectMetadata(
        **{field: getattr(obj, field) for field in StoredObject.METADATA_HEADERS},
        user_meta=dict(obj.user_meta),
    )


def copy_object(request, bucket_name, key):
    bucket = writable_bucket(request, bucket_name)
    checked_key(key)
    copy_source = unquote(request.headers["x-oss-copy-source"])
    source_bucket_name, _, source_key = copy_source.lstrip("/").partition("/")
    source_bucket = readable_bucket(request, source_bucket_name)
    replace = request.headers.get("x-oss-metadata-directive", "COPY").upper()
    new_metadata = (
        _metadata_from_headers(request, key) if replace == "REPLACE" else None
    )
    original = source_bucket.stored_objects.filter(key=source_key).first()
    original, source = open_current_version(original) if original else (None, None)
    if original is None:
        raise errors.no_such_key(source_key)
    with source, ObjectWriter() as writer:
        ensure_room_for(original.size)
        writer.write_from(source, original.size)
        metadata = new_metadata or _metadata_of(original)
        obj = commit_object(bucket, key, writer, metadata)
    return oss_xml.xml_response(oss_xml.copy_result(obj))


def delete_object_view(request, bucket_name, key):
    bucket = writable_bucket(request, bucket_name)
    delete_key(bucket, checked_key(key))
    return _empty(204)
