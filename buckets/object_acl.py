"""Object ACLs (`?acl` on an object) and the `x-oss-object-acl` header.

An object's ACL is StoredObject.acl: "default" follows the bucket's ACL, the
others replace it for that object alone (a public-read object in a private
bucket is readable by anyone; a private object in a public-read bucket by its
owner only). oss_access.readable_object / writable_object apply it. Writing an
object (PutObject, CopyObject, AppendObject's first append, PutSymlink,
CompleteMultipartUpload) sets it from the request's header, "default" without
one, as on OSS; PutObjectAcl changes it alone (neither bytes nor Last-Modified).
"""

from buckets import errors, oss_xml, public_access, versioning
from buckets.models import StoredObject
from buckets.oss_access import (
    checked_key,
    empty_response,
    get_bucket,
    readable_object,
    writable_object,
)

OBJECT_ACL_HEADER = "x-oss-object-acl"


def object_acl_from_header(request, default=StoredObject.Acl.DEFAULT):
    value = request.headers.get(OBJECT_ACL_HEADER, "")
    if not value:
        return default
    if value not in StoredObject.Acl.values:
        raise errors.invalid_argument(
            f"{OBJECT_ACL_HEADER} must be default, private, public-read or public-read-write.",
            OBJECT_ACL_HEADER,
            value,
        )
    return value


def put_object_acl(request, bucket_name, key):
    """PUT ?acl: whoever may write the object may set its ACL."""
    bucket = get_bucket(bucket_name)
    version = writable_object(request, bucket, key)
    checked_key(key)
    acl = object_acl_from_header(request, default=None)
    if acl is None:
        raise errors.invalid_argument(
            f"PutObjectAcl needs the {OBJECT_ACL_HEADER} header.", OBJECT_ACL_HEADER, ""
        )
    public_access.check_acl(bucket, acl)
    # One UPDATE of the ACL alone: bytes and Last-Modified stay as they are.
    if not versioning.update_version(bucket, key, version, acl=acl):
        raise errors.no_such_key(key)
    return versioning.with_version_headers(empty_response(), bucket, version)


def get_object_acl(request, bucket_name, key):
    bucket = get_bucket(bucket_name)
    obj = readable_object(request, bucket, key)
    checked_key(key)
    if obj is None or getattr(obj, "is_delete_marker", False):
        raise errors.no_such_key(key)
    response = oss_xml.xml_response(
        oss_xml.access_control_policy(bucket.owner, obj.acl)
    )
    for name, value in versioning.version_headers(bucket, obj).items():
        response[name] = value
    return response
