"""Symlinks (`?symlink`): PutSymlink and GetSymlink.

A symlink is an object of its own (StoredObject with object_type "Symlink" and
symlink_target set) whose bytes are an empty blob, so that commit_object,
delete_key, the sweeps and listings treat it as any other object. It has its
own metadata, tags and ACL; a GET or HEAD of it serves its target's bytes
(buckets/serving.py follow_symlink), a dangling one is NoSuchKey, and deleting
it deletes only the link. The target need not exist when the link is made.
"""

from urllib.parse import quote, unquote

from django.utils.http import http_date

from buckets import errors, versioning
from buckets.header_text import from_wire
from buckets.object_operations import metadata_from_headers
from buckets.oss_access import (
    checked_key,
    empty_response,
    get_bucket,
    readable_object,
    writable_object,
)
from buckets.storage import ObjectWriter, commit_object

SYMLINK_TARGET_HEADER = "x-oss-symlink-target"


def _target_key(request):
    """x-oss-symlink-target: the target's key, URL-encoded."""
    sent = from_wire(request.headers.get(SYMLINK_TARGET_HEADER, ""))
    try:
        target = unquote(sent, errors="strict")
    except UnicodeDecodeError:
        target = ""
    if not target:
        raise errors.invalid_argument(
            f"{SYMLINK_TARGET_HEADER} must name the target object, URL-encoded.",
            SYMLINK_TARGET_HEADER,
            sent,
        )
    return checked_key(target)


def put_symlink(request, bucket_name, key):
    """PUT ?symlink: metadata, x-oss-tagging and x-oss-object-acl as PutObject's."""
    bucket = get_bucket(bucket_name)
    writable_object(request, bucket, key)
    checked_key(key)
    target = _target_key(request)
    metadata = metadata_from_headers(request)
    with ObjectWriter() as writer:
        obj = commit_object(
            bucket,
            key,
            writer,
            metadata,
            object_type="Symlink",
            symlink_target=target,
        )
    response = empty_response()
    response["ETag"] = obj.etag
    return versioning.with_version_headers(response, bucket, obj)


def get_symlink(request, bucket_name, key):
    """GET ?symlink: the link's target (URL-encoded) and the link's own ETag and
    Last-Modified; an object that is not a symlink is NotSymlink."""
    bucket = get_bucket(bucket_name)
    obj = readable_object(request, bucket, key)
    checked_key(key)
    if obj is None or getattr(obj, "is_delete_marker", False):
        raise errors.no_such_key(key)
    if obj.object_type != "Symlink":
        raise errors.OssError(
            400, "NotSymlink", "The specified object is not a symlink.", Key=key
        )
    response = empty_response()
    response[SYMLINK_TARGET_HEADER] = quote(obj.symlink_target, safe="")
    response["ETag"] = obj.etag
    response["Last-Modified"] = http_date(obj.last_modified.timestamp())
    return versioning.with_version_headers(response, bucket, obj)
