"""XML documents of the OSS API (what oss2's parsers read)."""

import re
import xml.etree.ElementTree as ET
from urllib.parse import quote

from django.http import HttpResponse
from django.utils import timezone

# Characters XML 1.0 cannot carry even escaped; an invalid key may still hold them.
_NOT_XML_CHARS_RE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def xml_safe(value):
    """Text XML 1.0 can carry: impossible characters become U+FFFD."""
    return _NOT_XML_CHARS_RE.sub("\ufffd", str(value))


def iso8601(moment):
    # oss2 accepts exactly ".000Z": OSS times are whole seconds.
    return moment.strftime("%Y-%m-%dT%H:%M:%S.000Z")


def element(tag, text=None, children=()):
    node = ET.Element(tag)
    if text is not None:
        node.text = xml_safe(str(text))
    for child in children:
        if child is not None:
            node.append(child)
    return node


def xml_document(root):
    """The bytes of an XML document with OSS's declaration."""
    return b'<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(
        root, encoding="utf-8", xml_declaration=False
    )


def xml_response(root, status=200):
    body = xml_document(root)
    response = HttpResponse(body, status=status, content_type="application/xml")
    response["Content-Length"] = str(len(body))
    return response


def owner_element(user):
    return element(
        "Owner",
        children=[element("ID", user.pk), element("DisplayName", user.get_username())],
    )


def bucket_element(bucket, region, endpoint_host):
    return element(
        "Bucket",
        children=[
            element("CreationDate", iso8601(bucket.created_at)),
            element("ExtranetEndpoint", endpoint_host),
            element("IntranetEndpoint", endpoint_host),
            element("Location", f"oss-{region}"),
            element("Name", bucket.name),
            element("Region", region),
            element("StorageClass", bucket.storage_class),
        ],
    )


def list_buckets(
    user,
    buckets,
    *,
    prefix,
    marker,
    max_keys,
    truncated,
    next_marker,
    region,
    endpoint_host,
):
    return element(
        "ListAllMyBucketsResult",
        children=[
            element("Prefix", prefix),
            element("Marker", marker),
            element("MaxKeys", max_keys),
            element("IsTruncated", "true" if truncated else "false"),
            element("NextMarker", next_marker) if truncated else None,
            owner_element(user),
            element(
                "Buckets",
                children=[
                    bucket_element(bucket, region, endpoint_host) for bucket in buckets
                ],
            ),
        ],
    )


def bucket_info(bucket, region, endpoint_host):
    node = bucket_element(bucket, region, endpoint_host)
    node.append(owner_element(bucket.owner))
    node.append(element("AccessControlList", children=[element("Grant", bucket.acl)]))
    for child in (
        element("DataRedundancyType", bucket.data_redundancy),
        element("Comment", ""),
        element(
            "AccessMonitor", "Enabled" if bucket.access_monitor_since else "Disabled"
        ),
        element("TransferAcceleration", "Disabled"),
        element("Versioning", bucket.versioning) if bucket.versioning else None,
        element("CrossRegionReplication", "Disabled"),
        element("BlockPublicAccess", "true" if bucket.block_public_access else "false"),
        element(
            "ServerSideEncryptionRule",
            children=server_side_encryption_settings(bucket.encryption),
        ),
    ):
        if child is not None:
            node.append(child)
    return element("BucketInfo", children=[node])


def server_side_encryption_settings(rule):
    """A bucket's encryption rule ({} for none: SSEAlgorithm "None") as OSS lists it."""
    return [
        element("SSEAlgorithm", rule.get("algorithm") or "None"),
        element("KMSMasterKeyID", rule["key_id"]) if rule.get("key_id") else None,
        element("KMSDataEncryption", rule["data_algorithm"])
        if rule.get("data_algorithm")
        else None,
    ]


def server_side_encryption_rule(rule):
    """GetBucketEncryption's document."""
    return element(
        "ServerSideEncryptionRule",
        children=[
            element(
                "ApplyServerSideEncryptionByDefault",
                children=server_side_encryption_settings(rule),
            )
        ],
    )


def access_control_policy(owner, acl):
    return element(
        "AccessControlPolicy",
        children=[
            owner_element(owner),
            element("AccessControlList", children=[element("Grant", acl)]),
        ],
    )


def _encoded(value, url_encoding):
    return quote(value, safe="/") if url_encoding else value


def object_listing(
    bucket,
    listing,
    *,
    url_encoding,
    version,
    start_after="",
    continuation_token="",
    next_token="",
    fetch_owner=True,
):
    encode = lambda value: _encoded(value, url_encoding)  # noqa: E731
    children = [
        element("Name", bucket.name),
        element("Prefix", encode(listing.prefix)),
        element("MaxKeys", listing.max_keys),
        element("Delimiter", encode(listing.delimiter)),
        element("IsTruncated", "true" if listing.is_truncated else "false"),
    ]
    if url_encoding:
        children.append(element("EncodingType", "url"))
    if version == 1:
        children.insert(2, element("Marker", encode(listing.marker)))
        if listing.is_truncated:
            children.append(element("NextMarker", encode(listing.next_marker)))
    else:
        if start_after:
            children.append(element("StartAfter", encode(start_after)))
        if continuation_token:
            children.append(element("ContinuationToken", continuation_token))
        if listing.is_truncated:
            children.append(element("NextContinuationToken", next_token))
        children.append(
            element("KeyCount", len(listing.objects) + len(listing.common_prefixes))
        )
    for obj in listing.objects:
        contents = [
            element("Key", encode(obj.key)),
            element("LastModified", iso8601(obj.last_modified)),
            element("ETag", obj.etag),
            element("Type", obj.object_type),
            element("Size", obj.size),
            element("StorageClass", obj.storage_class),
        ]
        if fetch_owner:
            contents.append(owner_element(bucket.owner))
        contents.append(_restore_info(obj))
        children.append(element("Contents", children=contents))
    children += [
        element("CommonPrefixes", children=[element("Prefix", encode(folder))])
        for folder in listing.common_prefixes
    ]
    return element("ListBucketResult", children=children)


def _restore_info(obj):
    """RestoreInfo of an archived object with a restore asked or ready, else None."""
    # Here, not at the top: buckets.restore builds its own documents with this module.
    from buckets.restore import restore_status  # noqa: PLC0415

    status = restore_status(obj, timezone.now())
    return element("RestoreInfo", status) if status else None


def delete_result(deleted, *, url_encoding):
    """DeleteResult of (key, version id asked or None, delete marker or None)."""
    children = []
    for key, version_id, marker in deleted:
        fields = [element("Key", _encoded(key, url_encoding))]
        if version_id is not None:
            fields.append(element("VersionId", version_id))
        if marker is not None:
            fields.append(element("DeleteMarker", "true"))
            fields.append(element("DeleteMarkerVersionId", marker.version_id))
        children.append(element("Deleted", children=fields))
    if url_encoding:
        children.insert(0, element("EncodingType", "url"))
    return element("DeleteResult", children=children)


def copy_result(obj):
    return element(
        "CopyObjectResult",
        children=[
            element("ETag", obj.etag),
            element("LastModified", iso8601(obj.last_modified)),
        ],
    )


def _encoding_type(url_encoding):
    return element("EncodingType", "url") if url_encoding else None


def initiate_multipart_upload_result(upload, *, url_encoding):
    return element(
        "InitiateMultipartUploadResult",
        children=[
            _encoding_type(url_encoding),
            element("Bucket", upload.bucket.name),
            element("Key", _encoded(upload.key, url_encoding)),
            element("UploadId", upload.upload_id),
        ],
    )


def part_element(part):
    return element(
        "Part",
        children=[
            element("PartNumber", part.part_number),
            element("LastModified", iso8601(part.last_modified)),
            element("ETag", part.etag),
            element("HashCrc64ecma", part.crc64),
            element("Size", part.size),
        ],
    )


def list_parts_result(upload, parts, *, marker, max_parts, truncated, url_encoding):
    """ListPartsResult; NextPartNumberMarker is the last part listed (where the next page starts)."""
    return element(
        "ListPartsResult",
        children=[
            _encoding_type(url_encoding),
            element("Bucket", upload.bucket.name),
            element("Key", _encoded(upload.key, url_encoding)),
            element("UploadId", upload.upload_id),
            element(
                "StorageClass", upload.storage_class or upload.bucket.storage_class
            ),
            element("PartNumberMarker", marker),
            element("NextPartNumberMarker", parts[-1].part_number if parts else ""),
            element("MaxParts", max_parts),
            element("IsTruncated", "true" if truncated else "false"),
            *(part_element(part) for part in parts),
        ],
    )


def multipart_upload_listing(
    bucket,
    listing,
    *,
    prefix,
    delimiter,
    key_marker,
    upload_id_marker,
    max_uploads,
    url_encoding,
):
    """ListMultipartUploadsResult: every element oss2's parser requires."""
    encode = lambda value: _encoded(value, url_encoding)  # noqa: E731
    children = [
        _encoding_type(url_encoding),
        element("Bucket", bucket.name),
        element("KeyMarker", encode(key_marker)),
        element("UploadIdMarker", upload_id_marker),
        element("NextKeyMarker", encode(listing.next_key_marker)),
        element("NextUploadIdMarker", listing.next_upload_id_marker),
        element("Delimiter", encode(delimiter)),
        element("Prefix", encode(prefix)),
        element("MaxUploads", max_uploads),
        element("IsTruncated", "true" if listing.is_truncated else "false"),
    ]
    children += [
        element(
            "Upload",
            children=[
                element("Key", encode(upload.key)),
                element("UploadId", upload.upload_id),
                element("StorageClass", upload.storage_class or bucket.storage_class),
                element("Initiated", iso8601(upload.initiated)),
            ],
        )
        for upload in listing.uploads
    ]
    children += [
        element("CommonPrefixes", children=[element("Prefix", encode(folder))])
        for folder in listing.common_prefixes
    ]
    return element("ListMultipartUploadsResult", children=children)


def complete_multipart_upload_result(obj, location, *, url_encoding):
    return element(
        "CompleteMultipartUploadResult",
        children=[
            _encoding_type(url_encoding),
            element("Location", location),
            element("Bucket", obj.bucket.name),
            element("Key", _encoded(obj.key, url_encoding)),
            element("ETag", obj.etag),
        ],
    )


def copy_part_result(part):
    return element(
        "CopyPartResult",
        children=[
            element("LastModified", iso8601(part.last_modified)),
            element("ETag", part.etag),
        ],
    )


def tagging(tags):
    """GetObjectTagging's and GetBucketTagging's answer for {key: value}."""
    return element(
        "Tagging",
        children=[
            element(
                "TagSet",
                children=[
                    element(
                        "Tag", children=[element("Key", key), element("Value", value)]
                    )
                    for key, value in tags.items()
                ],
            )
        ],
    )


def versioning_never_enabled():
    # OSS leaves out Status when versioning was never enabled.
    return element("VersioningConfiguration")
