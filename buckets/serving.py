"""Serving a stored object: conditional requests, single byte ranges, streaming."""

import re

from django.http import FileResponse, HttpResponse, StreamingHttpResponse
from django.utils import timezone
from django.utils.cache import get_conditional_response
from django.utils.http import (
    content_disposition_header,
    http_date,
    parse_http_date_safe,
)

from buckets import accel, compression, errors, qos, traffic_limit
from buckets import envelope as sse_envelope
from buckets.access_monitor import last_access_header
from buckets.header_text import to_wire
from buckets.numbers import MAX_BYTE_OFFSET, parse_decimal
from buckets.restore import RESTORE_HEADER, archived_error, is_readable, restore_status
from buckets.storage import CHUNK_SIZE, local_path, open_current_version

# ASCII digits only: \d would also match digits of other scripts.
_RANGE_RE = re.compile(r"bytes=([0-9]*)-([0-9]*)")


def parse_range(header, size):
    """Return (start, end) inclusive for a satisfiable single range, None to serve it all.

    Like OSS, a malformed or multi-part range is ignored; a well-formed one that
    starts past the end raises InvalidRange (416).
    """
    match = _RANGE_RE.fullmatch((header or "").strip())
    if not match or match.groups() == ("", ""):
        return None
    first, last = match.groups()
    if first == "":
        suffix = _byte_offset(last)
        if suffix == 0 or size == 0:
            raise errors.invalid_range(size)
        return max(size - suffix, 0), size - 1
    start = _byte_offset(first)
    if last and _byte_offset(last) < start:
        return None  # last before first is malformed, so ignored
    # Before end defaults to size - 1, so that "bytes=<size>-" is 416, not ignored.
    if start >= size:
        raise errors.invalid_range(size)
    end = _byte_offset(last) if last else size - 1
    return start, min(end, size - 1)


def _byte_offset(digits):
    """A Range number; thousands of digits read as MAX_BYTE_OFFSET, never a 500."""
    return parse_decimal(digits, max_value=MAX_BYTE_OFFSET, clamp=True)


def _range_applies(request, obj):
    """If-Range: only honour the range while the validator still matches."""
    if_range = request.headers.get("If-Range")
    if not if_range:
        return True
    if if_range.strip().startswith(('"', "W/")):
        return if_range.strip() == obj.etag
    # RFC 9110 13.1.5: a date validator must equal Last-Modified exactly.
    since = parse_http_date_safe(if_range)
    return since is not None and int(obj.last_modified.timestamp()) == since


def iter_blob_range(handle, start, length):
    with handle:
        handle.seek(start)
        remaining = length
        while remaining > 0:
            chunk = handle.read(min(CHUNK_SIZE, remaining))
            if not chunk:
                break
            remaining -= len(chunk)
            yield chunk


def follow_symlink(link):
    """The object a Symlink's GET serves: its target, which must exist (else
    NoSuchKey, as OSS answers for a dangling link) and not be a symlink itself."""
    target = link.symlink_target_object()
    if target is None:
        raise errors.no_such_key(link.key)
    if target.object_type == "Symlink":
        raise errors.OssError(
            400, "InvalidTargetType", "The symlink target object type is invalid."
        )
    return target


def last_modified(obj, link=None):
    """A symlink is as new as the later of itself and its target (OSS's rule)."""
    return max(obj.last_modified, link.last_modified) if link else obj.last_modified


def object_headers(obj, link=None):
    """The headers of a GET/HEAD of `obj`; of `link`, a Symlink to `obj`, when
    given: the target's bytes (length, ETag, CRC) with the link's own metadata."""
    described = link or obj
    headers = {
        "Content-Type": described.content_type or "application/octet-stream",
        "ETag": obj.etag,
        "Last-Modified": http_date(last_modified(obj, link).timestamp()),
        "Accept-Ranges": "bytes",
        "x-oss-object-type": described.object_type,
        "x-oss-storage-class": obj.storage_class,
    }
    # An archived object's restore, and its last access while the bucket tracks it.
    restore = restore_status(obj, timezone.now())
    if restore:
        headers[RESTORE_HEADER] = restore
    headers.update(last_access_header(obj, obj.bucket))
    if obj.crc64:  # objects stored before CRC-64 was kept have none
        headers["x-oss-hash-crc64ecma"] = obj.crc64
    # The bytes' encryption: the target's, for a symlink.
    headers.update(sse_envelope.response_headers(obj.encryption))
    headers.update(described.metadata_headers())
    headers.update(
        {
            f"x-oss-meta-{name}": to_wire(value)
            for name, value in described.user_meta.items()
        }
    )
    if described.mirrored:
        headers["x-oss-tag"] = "MIRROR"
    if described.tags:
        headers["x-oss-tagging-count"] = str(len(described.tags))
    return headers


def serve_object(request, obj, *, as_attachment=False, link=None):
    """The GET/HEAD response for an existing object, streamed from storage. A
    Symlink serves its target (`link`: the symlink whose target `obj` is)."""
    if link is None and obj.object_type == "Symlink":
        link, obj = obj, follow_symlink(obj)
    handle, key = None, obj.key
    if request.method != "HEAD" and not is_readable(obj, obj.bucket, timezone.now()):
        # An archived object's bytes wait for a restore (HEAD answers as usual).
        return archived_error().response(request)
    if request.method != "HEAD":
        # Open first: the answer's headers must describe the bytes actually sent,
        # also when an overwrite or delete lands after the row was read.
        obj, handle = open_current_version(obj)
        if obj is None:
            raise errors.no_such_key(key)
    try:
        return _object_response(request, obj, handle, as_attachment, link)
    except BaseException:
        if handle is not None:
            handle.close()
        raise


def _quote_bare_etags(request):
    """oss2's resumable_download sends If-Match with the ETag unquoted; OSS honours it.
    Django's parser would skip a bare value and ignore the condition, so quote it."""
    for name in ("HTTP_IF_MATCH", "HTTP_IF_NONE_MATCH"):
        value = request.META.get(name)
        if value:
            request.META[name] = ", ".join(
                tag if tag == "*" or tag.startswith(('"', "W/")) else f'"{tag}"'
                for tag in (part.strip() for part in value.split(","))
                if tag
            )


def _object_response(request, obj, handle, as_attachment, link=None):
    headers = object_headers(obj, link)
    if as_attachment:
        headers["Content-Disposition"] = content_disposition_header(
            True, obj.name.rstrip("/") or "download"
        )
    conditional = _conditional_answer(request, obj, link, headers)
    if conditional is not None:
        if handle is not None:
            handle.close()
        return conditional  # 304 Not Modified, validators and caching headers kept

    byte_range = (
        parse_range(request.headers.get("Range"), obj.size)
        if _range_applies(request, obj)
        else None
    )
    start, end = byte_range or (0, obj.size - 1)
    length = end - start + 1 if obj.size else 0

    rate = traffic_limit.bytes_per_second(request)
    # Bandwidth caps (buckets/qos.py): None when none apply, or when this answer
    # was small enough to be charged (and wait its turn) at once.
    shaper = (
        qos.shaper_for(request, "download_bw", length)
        if request.method != "HEAD"
        else None
    )
    gzip = compression.should_compress(request, obj, byte_range is None)
    if request.method == "HEAD":
        response = HttpResponse(status=206 if byte_range else 200)
    elif gzip:
        # No Content-Length: the compressed length is known only at the end (chunked).
        response = StreamingHttpResponse(
            qos.shaped(
                traffic_limit.paced(
                    compression.gzipped(iter_blob_range(handle, 0, length)), rate
                ),
                shaper,
            )
        )
        response._resource_closers.append(handle.close)
    elif (
        byte_range
        or rate is not None
        or shaper is not None
        or local_path(obj.blob) is None
    ):
        # A range, or a capped rate (x-oss-traffic-limit, QoS), is sent chunk by
        # chunk; so are bytes not in a local file (nothing to sendfile()).
        response = StreamingHttpResponse(
            qos.shaped(
                traffic_limit.paced(iter_blob_range(handle, start, length), rate),
                shaper,
            ),
            status=206 if byte_range else 200,
        )
        # Closed with the response even if the body is never read (as FileResponse does).
        response._resource_closers.append(handle.close)
    else:
        # FileResponse hands the open file to the server's sendfile wrapper.
        response = _BlobFileResponse(handle)
    if byte_range:
        response["Content-Range"] = f"bytes {start}-{end}/{obj.size}"
    _with_headers(response, headers)
    if gzip:
        response["Content-Encoding"] = "gzip"
        response["Vary"] = "Accept-Encoding"
    else:
        response["Content-Length"] = str(length)
    return accel.hand_to_front(request, response, obj, link)


# The request headers that can make GET/HEAD answer 304 or 412.
CONDITIONAL_HEADERS = (
    "HTTP_IF_MATCH",
    "HTTP_IF_NONE_MATCH",
    "HTTP_IF_MODIFIED_SINCE",
    "HTTP_IF_UNMODIFIED_SINCE",
)


def _conditional_answer(request, obj, link, headers):
    """The 304 (with the object's headers) the request's conditions call for, None
    to answer in full; 412 is raised."""
    if not any(name in request.META for name in CONDITIONAL_HEADERS):
        return None
    unconditional = _with_headers(HttpResponse(), headers)
    _quote_bare_etags(request)
    conditional = get_conditional_response(
        request,
        etag=obj.etag,
        last_modified=int(last_modified(obj, link).timestamp()),
        response=unconditional,
    )
    if conditional.status_code == 412:
        raise errors.precondition_failed("If-Match/If-Unmodified-Since")
    return None if conditional is unconditional else conditional


class _BlobFileResponse(FileResponse):
    """A FileResponse whose headers are all the object's (set by the caller): none
    guessed from the blob file's name or measured from it."""

    def set_headers(self, filelike):
        pass


def _with_headers(response, headers):
    for name, value in headers.items():
        response[name] = value
    return response
