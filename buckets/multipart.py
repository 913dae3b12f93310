"""OSS multipart upload, one function per operation: Initiate, UploadPart (and
UploadPartCopy), Complete, Abort, ListParts, ListMultipartUploads. The route
tables in config/oss_urls.py pick them; the part files are buckets/parts.py's.

Only the bucket's owner uses them. An upload belongs to its bucket and key: its
id under any other bucket or key is NoSuchUpload, as is an id that never was.
"""

import base64
import dataclasses
import itertools
from urllib.parse import quote

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import ParseError, fromstring

from buckets import callbacks, encryption, errors, oss_xml, parts, versioning, worm
from buckets import envelope as sse_envelope
from buckets.models import MultipartUpload
from buckets.numbers import parse_decimal
from buckets.object_operations import (
    metadata_from_headers,
    write_body,
    written_answer,
)
from buckets.oss_access import (
    check_object_readable,
    checked_key,
    count_parameter,
    empty_response,
    owned_bucket,
    read_xml_body,
    readable_copy_source,
    url_encoding_requested,
)
from buckets.restore import check_readable_now
from buckets.serving import follow_symlink, iter_blob_range, parse_range
from buckets.storage import ObjectWriter, ensure_room_for, open_current_version
from buckets.storage_classes import objects_written_as, requested_class
from buckets.upload_listing import list_uploads

MAX_PART_NUMBER = 10000
# OSS's EntityTooSmall: every part but the last must hold at least this much.
MIN_PART_BYTES = 100 * 1024
MAX_PARTS_LISTED = 1000
MAX_UPLOADS_LISTED = 1000


# -- an upload and its parts ---------------------------------------------------------


def initiate_multipart_upload(request, bucket_name, key):
    """POST ?uploads. The headers PutObject would store are kept for the final object."""
    if "uploads" not in request.GET:  # routed here by ?sequential alone
        raise errors.invalid_argument(
            "sequential is a parameter of InitiateMultipartUpload (?uploads).",
            "sequential",
            request.GET["sequential"],
        )
    bucket = owned_bucket(request, bucket_name)
    checked_key(key)
    url_encoding = url_encoding_requested(request)
    # x-oss-object-acl and the rest are the final object's (ObjectMetadata).
    upload = MultipartUpload.objects.create(
        bucket=bucket,
        key=key,
        upload_id=MultipartUpload.new_upload_id(),
        metadata=dataclasses.asdict(metadata_from_headers(request)),
        encryption=encryption.for_new_object(request, bucket).as_dict(),
        storage_class=requested_class(request, bucket),
    )
    response = oss_xml.xml_response(
        oss_xml.initiate_multipart_upload_result(upload, url_encoding=url_encoding)
    )
    return _with_upload_encryption(response, upload)


def _with_upload_encryption(response, upload):
    """Every answer about an upload's bytes names its encryption, as OSS's do."""
    for name, value in sse_envelope.response_headers(upload.encryption).items():
        response[name] = value
    return response


def upload_part(request, bucket_name, key):
    """PUT ?partNumber=N&uploadId=X: the body (or, with x-oss-copy-source, a range
    of an object) becomes part N, replacing any part N before it."""
    bucket = owned_bucket(request, bucket_name)
    part_number = _part_number(request)
    upload = _upload(request, bucket, key)
    encryption.refuse_headers(request, "UploadPart")
    if request.headers.get("x-oss-copy-source"):
        return _upload_part_copy(request, upload, part_number)
    with ObjectWriter(sse_envelope.Sse.from_dict(upload.encryption)) as writer:
        write_body(request, writer)
        part = _save_part(upload, part_number, writer)
    response = written_answer(part)
    response["Content-MD5"] = base64.b64encode(bytes.fromhex(part.md5)).decode()
    return response


def _upload_part_copy(request, upload, part_number):
    """UploadPartCopy: the source object's bytes in x-oss-copy-source-range
    (all of them without one) become the part."""
    copy_source = readable_copy_source(request)
    source_bucket, source_key, original = (
        copy_source.bucket,
        copy_source.key,
        copy_source.obj,
    )
    if original is not None and original.object_type == "Symlink":
        # A part is bytes: a symlink gives its target's, which must be readable too.
        original = check_object_readable(
            request, source_bucket, follow_symlink(original), action="oss:GetObject"
        )
    original, source = open_current_version(original) if original else (None, None)
    if original is None:
        raise errors.no_such_key(source_key)
    with source:
        # An archived source's bytes wait for a restore.
        check_readable_now(original, source_bucket)
        byte_range = parse_range(
            request.headers.get("x-oss-copy-source-range"), original.size
        )
        start, end = byte_range or (0, original.size - 1)
        length = end - start + 1
        ensure_room_for(length)
        with ObjectWriter(sse_envelope.Sse.from_dict(upload.encryption)) as writer:
            for chunk in iter_blob_range(source, start, length):
                writer.write(chunk)
            if writer.size != length:  # the bytes went while being read: a lost race
                raise errors.no_such_key(source_key)
            part = _save_part(upload, part_number, writer)
    response = oss_xml.xml_response(oss_xml.copy_part_result(part))
    response["ETag"] = part.etag  # oss2 reads the part's ETag from the header
    response["x-oss-hash-crc64ecma"] = part.crc64
    return _with_upload_encryption(response, upload)


def _save_part(upload, part_number, writer):
    try:
        return parts.save_part(upload, part_number, writer)
    except parts.UploadGone:
        raise errors.no_such_upload(upload.upload_id) from None


def complete_multipart_upload(request, bucket_name, key):
    """POST ?uploadId=X: the listed parts (or, with x-oss-complete-all: yes, every
    part) become the object, atomically; the upload and its parts end."""
    bucket = owned_bucket(request, bucket_name)
    upload = _upload(request, bucket, key)
    worm.check_replaceable(bucket, key)  # before the parts are assembled
    encryption.refuse_headers(request, "CompleteMultipartUpload")
    url_encoding = url_encoding_requested(request)
    uploaded = {part.part_number: part for part in upload.parts.all()}
    body = read_xml_body(request)
    if request.headers.get("x-oss-complete-all", "").lower() == "yes":
        if body.strip():
            raise errors.invalid_argument(
                "With x-oss-complete-all: yes the request must have no body.",
                "x-oss-complete-all",
                "yes",
            )
        chosen = [uploaded[number] for number in sorted(uploaded)]
        if not chosen:
            raise _invalid_part("The upload has no parts.")
    else:
        chosen = _listed_parts(_requested_parts(body), uploaded)
    _check_part_sizes(chosen)
    callback = callbacks.callback_of(request, bucket)  # refused before assembling
    try:
        # The class InitiateMultipartUpload chose (uploads from before it: the bucket's).
        with objects_written_as(upload.storage_class or None):
            obj = parts.complete_upload(upload, chosen)
    except parts.UploadGone:
        raise errors.no_such_upload(upload.upload_id) from None
    except parts.PartsChanged:
        raise _invalid_part("A part was uploaded again while completing.") from None
    location = request.build_absolute_uri(f"/{bucket.name}/{quote(obj.key)}")
    response = oss_xml.xml_response(
        oss_xml.complete_multipart_upload_result(
            obj, location, url_encoding=url_encoding
        )
    )
    response["ETag"] = obj.etag
    response["x-oss-hash-crc64ecma"] = obj.crc64
    versioning.with_version_headers(response, bucket, obj)
    return callbacks.answer_with_callback(
        request,
        callback,
        obj,
        _with_upload_encryption(response, upload),
        "CompleteMultipartUpload",
    )


def _requested_parts(body):
    """[(part number, ETag)] of a CompleteMultipartUpload document, as listed."""
    try:
        root = fromstring(body)
    except (ParseError, DefusedXmlException):
        raise errors.malformed_xml() from None
    nodes = root.findall("Part") if root.tag == "CompleteMultipartUpload" else []
    if not nodes or len(nodes) > MAX_PART_NUMBER:
        raise errors.malformed_xml(
            f"CompleteMultipartUpload needs 1 to {MAX_PART_NUMBER} Part elements."
        )
    requested = []
    for node in nodes:
        number, etag = node.findtext("PartNumber"), node.findtext("ETag")
        try:
            number = parse_decimal((number or "").strip(), max_value=MAX_PART_NUMBER)
        except ValueError:
            raise errors.malformed_xml(
                f"PartNumber must be an integer from 1 to {MAX_PART_NUMBER}."
            ) from None
        if etag is None:
            raise errors.malformed_xml("Every Part needs an ETag.")
        requested.append((number, etag.strip().strip('"').upper()))
    return requested


def _listed_parts(requested, uploaded):
    numbers = [number for number, _etag in requested]
    if any(later <= earlier for earlier, later in itertools.pairwise(numbers)):
        raise errors.OssError(
            400,
            "InvalidPartOrder",
            "The list of parts was not in ascending order. Parts must be ordered by part number.",
        )
    chosen = []
    for number, etag in requested:
        part = uploaded.get(number)
        if part is None or part.md5.upper() != etag:
            raise _invalid_part(
                "One or more of the specified parts could not be found or the "
                "specified entity tag might not have matched the part's entity tag.",
                PartNumber=number,
                ETag=etag,
            )
        chosen.append(part)
    return chosen


def _check_part_sizes(chosen):
    for part in chosen[:-1]:
        if part.size < MIN_PART_BYTES:
            raise errors.OssError(
                400,
                "EntityTooSmall",
                "Your proposed upload smaller than the minimum allowed object size.",
                PartNumber=part.part_number,
                MinSizeAllowed=MIN_PART_BYTES,
                ProposedSize=part.size,
            )


def _invalid_part(message, **details):
    return errors.OssError(400, "InvalidPart", message, **details)


def abort_multipart_upload(request, bucket_name, key):
    """DELETE ?uploadId=X: the upload ends and its parts go."""
    bucket = owned_bucket(request, bucket_name)
    upload = _upload(request, bucket, key)
    if not parts.abort_upload(upload):
        raise errors.no_such_upload(upload.upload_id)
    return empty_response(204)


def list_parts(request, bucket_name, key):
    """GET ?uploadId=X: the parts in part-number order, max-parts a page."""
    bucket = owned_bucket(request, bucket_name)
    upload = _upload(request, bucket, key)
    url_encoding = url_encoding_requested(request)
    max_parts = count_parameter(
        request, "max-parts", default=MAX_PARTS_LISTED, low=1, high=MAX_PARTS_LISTED
    )
    marker = count_parameter(
        request, "part-number-marker", default=0, high=MAX_PART_NUMBER
    )
    page = list(upload.parts.filter(part_number__gt=marker)[: max_parts + 1])
    return oss_xml.xml_response(
        oss_xml.list_parts_result(
            upload,
            page[:max_parts],
            marker=marker,
            max_parts=max_parts,
            truncated=len(page) > max_parts,
            url_encoding=url_encoding,
        )
    )


def list_multipart_uploads(request, bucket_name):
    """GET /bucket?uploads: the uploads in progress, in (key, upload id) order."""
    bucket = owned_bucket(request, bucket_name)
    url_encoding = url_encoding_requested(request)
    query = {
        "prefix": request.GET.get("prefix", ""),
        "delimiter": request.GET.get("delimiter", ""),
        "key_marker": request.GET.get("key-marker", ""),
        "upload_id_marker": request.GET.get("upload-id-marker", ""),
        "max_uploads": count_parameter(
            request,
            "max-uploads",
            default=MAX_UPLOADS_LISTED,
            low=1,
            high=MAX_UPLOADS_LISTED,
        ),
    }
    listing = list_uploads(bucket, **query)
    return oss_xml.xml_response(
        oss_xml.multipart_upload_listing(
            bucket, listing, url_encoding=url_encoding, **query
        )
    )


# -- arguments -------------------------------------------------------------------------


def _upload(request, bucket, key):
    """The upload named by ?uploadId, of this bucket and key, else NoSuchUpload."""
    checked_key(key)
    upload_id = request.GET.get("uploadId", "")
    upload = (
        MultipartUpload.objects.select_related("bucket")
        .filter(bucket=bucket, key=key, upload_id=upload_id)
        .first()
    )
    if upload is None:
        raise errors.no_such_upload(upload_id)
    return upload


def _part_number(request):
    value = request.GET.get("partNumber", "")
    try:
        number = parse_decimal(value, max_value=MAX_PART_NUMBER)
        if number < 1:
            raise ValueError("below 1")
    except ValueError:
        raise errors.invalid_argument(
            f"Part number must be an integer between 1 and {MAX_PART_NUMBER}, inclusive.",
            "partNumber",
            value,
        ) from None
    return number
