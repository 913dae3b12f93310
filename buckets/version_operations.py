"""The versioning operations: Put/GetBucketVersioning and ListObjectVersions (GET
?versions). The rules are in buckets.versioning."""

from dataclasses import dataclass, field

from buckets import errors, oss_xml
from buckets.listing import _AFTER_ALL, _common_prefix
from buckets.models import Bucket, ObjectVersion
from buckets.names import key_range
from buckets.oss_access import (
    count_parameter,
    empty_response,
    owned_bucket,
    readable_bucket,
    url_encoding_requested,
    xml_document,
)

MAX_PARAMETER_LENGTH = 1024


def put_bucket_versioning(request, bucket_name):
    bucket = owned_bucket(request, bucket_name)
    status = xml_document(request, "VersioningConfiguration").findtext("Status") or ""
    status = status.strip()
    if status not in (Bucket.Versioning.ENABLED, Bucket.Versioning.SUSPENDED):
        raise errors.malformed_xml("Status must be Enabled or Suspended.")
    bucket.versioning = status
    bucket.save(update_fields=["versioning"])
    return empty_response()


def get_bucket_versioning(request, bucket_name):
    bucket = owned_bucket(request, bucket_name)
    children = (
        [oss_xml.element("Status", bucket.versioning)] if bucket.versioning else []
    )
    return oss_xml.xml_response(
        oss_xml.element("VersioningConfiguration", children=children)
    )


# -- ListObjectVersions ------------------------------------------------------------------------


@dataclass
class VersionListing:
    entries: list = field(default_factory=list)  # (version, is_latest)
    common_prefixes: list = field(default_factory=list)
    is_truncated: bool = False
    next_key_marker: str = ""
    next_version_marker: str = ""


def list_object_versions(request, bucket_name):
    bucket = readable_bucket(request, bucket_name)
    url_encoding = url_encoding_requested(request)
    texts = {
        name: _text_parameter(request, name)
        for name in ("prefix", "delimiter", "key-marker", "version-id-marker")
    }
    max_keys = count_parameter(request, "max-keys", default=100, low=1)
    listing = list_versions(
        bucket,
        prefix=texts["prefix"],
        delimiter=texts["delimiter"],
        key_marker=texts["key-marker"],
        version_marker=texts["version-id-marker"],
        max_keys=max_keys,
    )
    return oss_xml.xml_response(
        _listing_document(bucket, listing, texts, max_keys, url_encoding)
    )


def _text_parameter(request, name):
    value = request.GET.get(name, "")
    if len(value) > MAX_PARAMETER_LENGTH:
        raise errors.invalid_argument(
            f"{name} is longer than {MAX_PARAMETER_LENGTH} characters.",
            name,
            value[:64],
        )
    return value


def list_versions(bucket, *, prefix, delimiter, key_marker, version_marker, max_keys):
    """One page of versions, in key order and newest first within a key, after
    (key_marker, version_marker); folders fold into common prefixes."""
    listing = VersionListing()
    cursor, inclusive = key_marker, bool(version_marker)
    folder_of_marker = (
        _common_prefix(key_marker, prefix, delimiter)
        if key_marker and key_marker.startswith(prefix)
        else None
    )
    if folder_of_marker:
        cursor, inclusive = folder_of_marker + _AFTER_ALL, False
    while True:
        keys = _next_keys(bucket, prefix, cursor, inclusive, max_keys + 1)
        if not keys:
            return listing
        for key in keys:
            cursor, inclusive = key, False
            folder = _common_prefix(key, prefix, delimiter)
            if folder:
                if not _add(listing, max_keys, folder=folder):
                    return listing
                cursor = folder + _AFTER_ALL
                break
            versions = _versions_of(bucket, key)
            if key == key_marker and version_marker:
                ids = [version.version_id for version, _latest in versions]
                if version_marker in ids:
                    versions = versions[ids.index(version_marker) + 1 :]
            for version, is_latest in versions:
                if not _add(listing, max_keys, version=(version, is_latest)):
                    return listing


def _add(listing, max_keys, *, folder=None, version=None):
    """Add one entry, or mark the page truncated when it is full (False)."""
    if len(listing.entries) + len(listing.common_prefixes) >= max_keys:
        listing.is_truncated = True
        return False
    if folder is not None:
        listing.common_prefixes.append(folder)
        listing.next_key_marker, listing.next_version_marker = folder, ""
    else:
        listing.entries.append(version)
        listing.next_key_marker = version[0].key
        listing.next_version_marker = version[0].version_id
    return True


def _next_keys(bucket, prefix, cursor, inclusive, limit):
    """The next `limit` distinct keys with a version, from the current and the older
    versions, in key (code point) order."""
    low, high = key_range(prefix)
    after = {"key__gte" if inclusive else "key__gt": cursor} if cursor else {}
    keys = set()
    for queryset in (bucket.stored_objects.all(), bucket.object_versions.all()):
        queryset = queryset.filter(key__gte=low).filter(**after)
        if high is not None:
            queryset = queryset.filter(key__lt=high)
        keys.update(
            queryset.order_by("key").values_list("key", flat=True).distinct()[:limit]
        )
    return sorted(keys)[:limit]


def _versions_of(bucket, key):
    """[(version, is_latest)], newest first: the current version, then older ones."""
    current = bucket.stored_objects.filter(key=key).first()
    older = list(ObjectVersion.objects.filter(bucket=bucket, key=key).order_by("-id"))
    versions = ([current] if current is not None else []) + older
    return [(version, index == 0) for index, version in enumerate(versions)]


def _listing_document(bucket, listing, texts, max_keys, url_encoding):
    encode = lambda value: oss_xml._encoded(value, url_encoding)  # noqa: E731, SLF001
    children = [
        oss_xml.element("Name", bucket.name),
        oss_xml.element("Prefix", encode(texts["prefix"])),
        oss_xml.element("KeyMarker", encode(texts["key-marker"])),
        oss_xml.element("VersionIdMarker", texts["version-id-marker"]),
        oss_xml.element("MaxKeys", max_keys),
        oss_xml.element("Delimiter", encode(texts["delimiter"])),
        oss_xml.element("IsTruncated", "true" if listing.is_truncated else "false"),
    ]
    if listing.is_truncated:
        children += [
            oss_xml.element("NextKeyMarker", encode(listing.next_key_marker)),
            oss_xml.element("NextVersionIdMarker", listing.next_version_marker),
        ]
    if url_encoding:
        children.append(oss_xml.element("EncodingType", "url"))
    for version, is_latest in listing.entries:
        common = [
            oss_xml.element("Key", encode(version.key)),
            oss_xml.element("VersionId", version.version_id),
            oss_xml.element("IsLatest", "true" if is_latest else "false"),
            oss_xml.element("LastModified", oss_xml.iso8601(version.last_modified)),
        ]
        if getattr(version, "is_delete_marker", False):
            children.append(
                oss_xml.element(
                    "DeleteMarker",
                    children=[*common, oss_xml.owner_element(bucket.owner)],
                )
            )
            continue
        details = [
            oss_xml.element("ETag", version.etag),
            oss_xml.element("Type", version.object_type),
            oss_xml.element("Size", version.size),
            oss_xml.element("StorageClass", version.storage_class),
            oss_xml.owner_element(bucket.owner),
            oss_xml._restore_info(version),  # noqa: SLF001 - the listings' own element
        ]
        children.append(oss_xml.element("Version", children=[*common, *details]))
    children += [
        oss_xml.element(
            "CommonPrefixes", children=[oss_xml.element("Prefix", encode(p))]
        )
        for p in listing.common_prefixes
    ]
    return oss_xml.element("ListVersionsResult", children=children)
