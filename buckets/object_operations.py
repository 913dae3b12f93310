"""OSS object operations, one function each. The route tables in
config/oss_urls.py pick them.

Every function gets the request (already authenticated: request.oss_user) and
raises OssError for anything it refuses.
"""

import base64
import dataclasses
import hashlib

from django.utils.http import http_date

from buckets import (
    callbacks,
    encryption,
    errors,
    oss_xml,
    qos,
    quota,
    traffic_limit,
    versioning,
    worm,
)
from buckets import envelope as sse_envelope
from buckets.access_monitor import last_access_header, record_read
from buckets.header_text import from_wire
from buckets.models import StoredObject
from buckets.numbers import MAX_BYTE_OFFSET, parse_decimal
from buckets.object_acl import object_acl_from_header
from buckets.oss_access import (
    ObjectRequest,
    body_stream,
    check_content_md5,
    check_object_readable,
    checked_key,
    declared_length,
    empty_response,
    get_bucket,
    get_bucket_and_current,
    is_valid_key,
    readable_copy_source,
    readable_object,
    writable_object,
)
from buckets.referer import check_referer
from buckets.restore import check_readable_now
from buckets.serving import follow_symlink, serve_object
from buckets.storage import (
    CHUNK_SIZE,
    ObjectChanged,
    ObjectMetadata,
    ObjectWriter,
    commit_object,
    delete_current,
    delete_version,
    ensure_room_for,
    open_blob,
    open_current_version,
)
from buckets.storage_classes import (
    APPENDABLE_CLASSES,
    objects_written_as,
    requested_class,
)
from buckets.tagging import tags_for_copy, tags_from_header

MAX_OBJECT_BYTES = 5 * 1024**3  # OSS's single PUT limit
MAX_USER_META_BYTES = 8 * 1024
RESPONSE_OVERRIDES = {
    "response-content-type": "Content-Type",
    "response-content-language": "Content-Language",
    "response-expires": "Expires",
    "response-cache-control": "Cache-Control",
    "response-content-disposition": "Content-Disposition",
    "response-content-encoding": "Content-Encoding",
}


def get_object(request, bucket_name, key):
    bucket, current = get_bucket_and_current(bucket_name, key)
    if is_valid_key(key):
        # Before the access check, so that Back-to-Origin sees a denied GET too.
        request.oss_get_object = ObjectRequest(bucket=bucket, key=key)
    obj = readable_object(request, bucket, key, current=current)
    check_referer(request, bucket)
    checked_key(key)  # after it: a denied request is AccessDenied whatever its key
    if obj is None:
        raise errors.no_such_key(key)
    _refuse_delete_marker(request, bucket, obj)
    version = obj
    link, obj = _followed(request, bucket, obj)
    response = serve_object(request, obj, link=link)
    versioning.with_version_headers(response, bucket, version)
    if request.method == "GET" and response.status_code < 300:
        record_read(obj, bucket)  # the access monitor's, at most daily
    for parameter, header in RESPONSE_OVERRIDES.items():
        value = request.GET.get(parameter)
        if value and "\n" not in value and "\r" not in value:
            response[header] = value
    return response


def _refuse_delete_marker(request, bucket, version):
    """A delete marker asked for by its versionId has no bytes or metadata."""
    if getattr(version, "is_delete_marker", False):
        error = errors.method_not_allowed(request.method)
        error.headers.update(versioning.version_headers(bucket, version))
        raise error


def _followed(request, bucket, obj):
    """(symlink or None, the object whose bytes answer): a Symlink's target must
    exist and be readable by the request as well."""
    if obj.object_type != "Symlink":
        return None, obj
    return obj, check_object_readable(request, bucket, follow_symlink(obj))


def get_object_meta(request, bucket_name, key):
    bucket, current = get_bucket_and_current(bucket_name, key)
    obj = readable_object(request, bucket, key, current=current)
    check_referer(request, bucket)
    checked_key(key)
    if obj is None:
        raise errors.no_such_key(key)
    _refuse_delete_marker(request, bucket, obj)
    version = obj
    _link, obj = _followed(request, bucket, obj)
    response = empty_response()
    versioning.with_version_headers(response, bucket, version)
    response["Content-Length"] = str(obj.size)
    response["ETag"] = obj.etag
    response["Last-Modified"] = http_date(obj.last_modified.timestamp())
    for name, value in last_access_header(obj, bucket).items():
        response[name] = value
    _with_encryption_headers(response, obj)
    return response


def _with_encryption_headers(response, obj):
    for name, value in sse_envelope.response_headers(obj.encryption).items():
        response[name] = value
    return response


def metadata_from_headers(request, *, tags=None):
    """What PutObject stores from the request's headers; the tags are x-oss-tagging's
    unless `tags` is given."""
    values = {
        field: request.headers.get(header, "")
        for field, header in StoredObject.METADATA_HEADERS.items()
    }
    # Nothing guessed from the key: OSS stores what was sent, or octet-stream.
    values["content_type"] = values["content_type"] or "application/octet-stream"
    user_meta = {
        name.lower()[len("x-oss-meta-") :]: from_wire(value)
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
    if tags is None:
        tags = tags_from_header(request)
    return ObjectMetadata(
        user_meta=user_meta, tags=tags, acl=object_acl_from_header(request), **values
    )


def put_object(request, bucket_name, key):
    if request.headers.get("x-oss-copy-source"):
        return copy_object(request, bucket_name, key)
    bucket = get_bucket(bucket_name)
    existing = writable_object(request, bucket, key)
    checked_key(key)
    worm.check_replaceable(bucket, key)  # before the body is read
    # Likewise (and again when the write commits).
    quota.check_room(bucket, declared_length(request), existing.size if existing else 0)
    metadata = metadata_from_headers(request)
    sse = encryption.for_new_object(request, bucket)  # refused before the body is read
    storage_class = requested_class(request, bucket)  # likewise
    callback = callbacks.callback_of(request, bucket)  # likewise
    with ObjectWriter(sse) as writer, objects_written_as(storage_class):
        write_body(request, writer)
        obj = commit_object(bucket, key, writer, metadata)
    response = written_answer(obj)
    response["Content-MD5"] = base64.b64encode(bytes.fromhex(obj.md5)).decode()
    return callbacks.answer_with_callback(request, callback, obj, response, "PutObject")


def written_answer(obj):
    """The answer to a write: the object's ETag and CRC-64 (oss2 checks the CRC)."""
    response = empty_response()
    response["ETag"] = obj.etag
    response["x-oss-hash-crc64ecma"] = obj.crc64
    if isinstance(obj, StoredObject):  # not a part of a multipart upload
        versioning.with_version_headers(response, obj.bucket, obj)
    return _with_encryption_headers(response, obj)


def write_body(request, writer):
    """Add the whole request body to the writer, within the size limit; check its
    length and Content-MD5. A body that stops short raises IncompleteBody."""
    declared = declared_length(request)
    if (declared or 0) > MAX_OBJECT_BYTES:
        raise _entity_too_large()
    ensure_room_for(declared)
    stream = body_stream(request)
    body_md5, received = hashlib.md5(), 0
    chunks = iter(lambda: stream.read(CHUNK_SIZE), b"")
    chunks = traffic_limit.paced(chunks, traffic_limit.bytes_per_second(request))
    # Bandwidth caps (buckets/qos.py): the body arrives no faster than they allow.
    for chunk in qos.shaped(chunks, qos.shaper_for(request, "upload_bw", declared)):
        writer.write(chunk)
        body_md5.update(chunk)
        received += len(chunk)
        if received > MAX_OBJECT_BYTES:
            raise _entity_too_large()
    if declared is not None and received != declared:
        # Only reachable without CompleteBodyInput (e.g. another WSGI server).
        raise errors.incomplete_body()
    check_content_md5(request, base64.b64encode(body_md5.digest()).decode())


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
    bucket = get_bucket(bucket_name)
    existing = writable_object(request, bucket, key)
    checked_key(key)
    position = request.GET.get("position", "")
    try:
        position = parse_decimal(position, max_value=MAX_BYTE_OFFSET)
    except ValueError:
        raise errors.invalid_argument(
            "position must be a non-negative integer.", "position", position
        ) from None
    if existing is not None and existing.object_type != "Appendable":
        raise errors.OssError(
            409, "ObjectNotAppendable", "The object is not appendable."
        )
    if existing is not None:
        worm.check_replaceable(bucket, key, existing)  # before the body is read
    size = existing.size if existing else 0
    if position != size:
        raise _position_error(
            "PositionNotEqualToLength", "Position is not equal to file length.", size
        )
    metadata = (
        metadata_from_headers(request) if existing is None else _metadata_of(existing)
    )
    # The first append decides the object's encryption; later ones keep it.
    sse = (
        encryption.for_new_object(request, bucket)
        if existing is None
        else encryption.for_existing_object(request, existing.encryption)
    )
    # Likewise its storage class.
    storage_class = (
        requested_class(request, bucket, allowed=APPENDABLE_CLASSES)
        if existing is None
        else existing.storage_class
    )
    with ObjectWriter(sse) as writer, objects_written_as(storage_class):
        try:
            if existing is not None:
                # Missing bytes mean a write replaced them since: the same as losing the race.
                with open_blob(existing) as handle:
                    writer.write_from(handle, existing.size)
            write_body(request, writer)
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
    response = written_answer(obj)
    response["x-oss-next-append-position"] = str(obj.size)
    return response


def _metadata_of(obj):
    return ObjectMetadata(
        **{field: getattr(obj, field) for field in StoredObject.METADATA_HEADERS},
        user_meta=dict(obj.user_meta),
        tags=dict(obj.tags),
        acl=obj.acl,
    )


def copy_object(request, bucket_name, key):
    """CopyObject. A Symlink source is copied as the symlink, not its target's
    bytes, as on OSS. The copy's ACL is x-oss-object-acl's, never the source's."""
    bucket = get_bucket(bucket_name)
    writable_object(request, bucket, key)
    checked_key(key)
    worm.check_replaceable(bucket, key)
    replace = request.headers.get("x-oss-metadata-directive", "COPY").upper()
    # The copy's own headers or the bucket's default, never the source's.
    sse = encryption.for_new_object(request, bucket)
    storage_class = requested_class(request, bucket)  # likewise
    copy_source = readable_copy_source(request)
    source_bucket, source_key, original = (
        copy_source.bucket,
        copy_source.key,
        copy_source.obj,
    )
    original, source = open_current_version(original) if original else (None, None)
    if original is None:
        raise errors.no_such_key(source_key)
    with source, ObjectWriter(sse) as writer, objects_written_as(storage_class):
        if original.object_type != "Symlink":  # a symlink is copied, not read
            check_readable_now(original, source_bucket)
        # Tags follow their own directive, not the metadata's.
        tags = tags_for_copy(request, original)
        metadata = (
            metadata_from_headers(request, tags=tags)
            if replace == "REPLACE"
            else dataclasses.replace(
                _metadata_of(original), tags=tags, acl=object_acl_from_header(request)
            )
        )
        ensure_room_for(original.size)
        writer.write_from(source, original.size)
        symlink = original.object_type == "Symlink"
        obj = commit_object(
            bucket,
            key,
            writer,
            metadata,
            object_type="Symlink" if symlink else "Normal",
            symlink_target=original.symlink_target if symlink else "",
        )
    response = oss_xml.xml_response(oss_xml.copy_result(obj))
    versioning.with_version_headers(response, bucket, obj)
    if copy_source.version_id is not None and versioning.is_versioned(source_bucket):
        response["x-oss-copy-source-version-id"] = original.version_id
    return _with_encryption_headers(response, obj)


def delete_object_view(request, bucket_name, key):
    """Deleting a Symlink deletes the link alone."""
    bucket = get_bucket(bucket_name)
    version = writable_object(request, bucket, key)
    checked_key(key)
    response = empty_response(204)
    if "versionId" in request.GET:  # that version, for good
        delete_version(bucket, key, version)
        return versioning.with_version_headers(response, bucket, version)
    _deleted, marker = delete_current(bucket, key)
    return versioning.with_version_headers(response, bucket, marker)
