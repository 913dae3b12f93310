"""OSS bucket operations (and ListBuckets), one function each. The route tables
in config/oss_urls.py pick them.

Every function gets the request (already authenticated: request.oss_user) and
raises OssError for anything it refuses.
"""

import base64
import binascii
from urllib.parse import unquote

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import ParseError, fromstring
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from buckets import (
    encryption,
    errors,
    oss_xml,
    public_access,
    resource_groups,
    versioning,
    worm,
)
from buckets.control_characters import parse_keeping_control_characters
from buckets.listing import list_objects
from buckets.models import Bucket
from buckets.names import validate_bucket_name
from buckets.oss_access import (
    acl_from_header,
    check_object_writable,
    count_parameter,
    empty_response,
    get_bucket,
    owned_bucket,
    read_xml_body,
    readable_bucket,
    request_user,
    url_encoding_requested,
)
from buckets.storage import delete_current, delete_version
from buckets.tagging import buckets_with_tag


def _region():
    return settings.OSS_REGION


def _endpoint_host(request):
    return request.get_host()


def _max_keys(request, default=100):
    return count_parameter(request, "max-keys", default=default)


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
    buckets = buckets_with_tag(buckets, request)
    buckets = resource_groups.buckets_in_requested_group(buckets, request)
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
    return oss_xml.xml_response(resource_groups.add_group_ids(root))


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
    acl = acl_from_header(request, default=Bucket.Acl.PRIVATE)
    resource_groups.check_requested_group(request)
    if acl in public_access.PUBLIC_ACLS and public_access.account_blocks(user):
        raise public_access.blocked_error()
    configuration = _create_configuration(read_xml_body(request))
    configuration.update(encryption.create_bucket_fields(request))
    existing = Bucket.objects.filter(name=name).first()
    if existing is not None:
        if existing.owner_id == user.pk:
            return empty_response()
        raise errors.OssError(
            409,
            "BucketAlreadyExists",
            "The requested bucket name is not available.",
            BucketName=name,
        )
    try:
        with transaction.atomic():
            Bucket.objects.create(owner=user, name=name, acl=acl, **configuration)
    except IntegrityError:
        raise errors.OssError(
            409,
            "BucketAlreadyExists",
            "The requested bucket name is not available.",
            BucketName=name,
        ) from None
    return empty_response()


def _parse_xml(body, root_tag):
    try:
        # defusedxml: a client's entity declarations (billion laughs, external files) are refused.
        root = fromstring(body)
    except (ParseError, DefusedXmlException):
        raise errors.malformed_xml() from None
    if root.tag != root_tag:
        raise errors.malformed_xml()
    return root


def _create_configuration(body):
    """StorageClass and DataRedundancyType of a CreateBucketConfiguration body (optional)."""
    if not body.strip():
        return {}
    root = _parse_xml(body, "CreateBucketConfiguration")
    fields = {}
    storage_class = (root.findtext("StorageClass") or "").strip()
    if storage_class:
        if storage_class not in Bucket.StorageClass.values:
            raise errors.invalid_argument(
                f"StorageClass must be one of {', '.join(Bucket.StorageClass.values)}.",
                "StorageClass",
                storage_class,
            )
        fields["storage_class"] = storage_class
    redundancy = (root.findtext("DataRedundancyType") or "").strip()
    if redundancy:
        if redundancy not in Bucket.Redundancy.values:
            raise errors.invalid_argument(
                "DataRedundancyType must be LRS or ZRS.",
                "DataRedundancyType",
                redundancy,
            )
        fields["data_redundancy"] = redundancy
    return fields


def delete_bucket(request, name):
    bucket = owned_bucket(request, name)
    # As on OSS, multipart uploads in progress keep a bucket from being deleted.
    if not bucket.is_empty() or bucket.multipart_uploads.exists():
        raise errors.OssError(
            409,
            "BucketNotEmpty",
            "The bucket you tried to delete is not empty.",
            BucketName=name,
        )
    bucket.delete()
    return empty_response(204)


def get_bucket_info(request, name):
    bucket = owned_bucket(request, name)
    return oss_xml.xml_response(
        resource_groups.add_group_ids(
            oss_xml.bucket_info(bucket, _region(), _endpoint_host(request))
        )
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
    acl = acl_from_header(request)
    if acl is None:
        raise errors.invalid_argument("x-oss-acl is required.", "x-oss-acl", "")
    public_access.check_acl(bucket, acl)
    bucket.acl = acl
    bucket.save(update_fields=["acl"])
    return empty_response()


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


def _check_objects_deletable(request, bucket, keys):
    """Each key must be deletable by this requester (its object's own ACL, the
    bucket's and the bucket policy decide, as for DeleteObject); one that is not
    refuses the whole request, before anything is deleted."""
    if bucket.is_owned_by(request_user(request)):
        return
    objects = bucket.stored_objects.filter(key__in=keys).only("key", "acl")
    by_key = {obj.key: obj for obj in objects}
    for key in keys:
        check_object_writable(
            request, bucket, key, by_key.get(key), action="oss:DeleteObject"
        )


def delete_multiple_objects(request, name):
    # Access is judged per key, once the keys are known (a policy may grant some).
    bucket = get_bucket(name)
    # Keys may hold control characters, which SDKs write raw into this XML.
    root = parse_keeping_control_characters(
        read_xml_body(request), lambda body: _parse_xml(body, "Delete")
    )
    url_encoding = url_encoding_requested(request)
    targets = [
        (node.findtext("Key") or "", node.findtext("VersionId"))
        for node in root.findall("Object")
    ]
    if not targets or len(targets) > 1000:
        raise errors.malformed_xml("Delete needs 1 to 1000 Object/Key elements.")
    if any(key == "" for key, _version in targets):
        # Refused before anything is deleted; answering it would need a <Key/> SDKs cannot read.
        raise errors.malformed_xml(
            "Every Object/Key must name an object: a Key is empty."
        )
    if url_encoding:
        targets = [(unquote(key), version) for key, version in targets]
    for _key, version_id in targets:
        if version_id is not None:
            versioning.check_version_id(version_id)
    quiet = (root.findtext("Quiet") or "false").strip().lower() == "true"
    keys = [key for key, _version in targets]
    _check_objects_deletable(request, bucket, keys)
    for key in keys:  # a retained object refuses the whole request, before any delete
        worm.check_replaceable(bucket, key)
    deleted = [_delete_one(bucket, key, version_id) for key, version_id in targets]
    return oss_xml.xml_response(
        oss_xml.delete_result([] if quiet else deleted, url_encoding=url_encoding)
    )


def _delete_one(bucket, key, version_id):
    """Delete as DeleteObject would (also winning over a mirror of it in flight):
    (key, version id or None, the delete marker made or removed, or None)."""
    if version_id is None:
        _deleted, marker = delete_current(bucket, key)
        return key, None, marker
    version = versioning.find_version(bucket, key, version_id)
    if version is not None:
        delete_version(bucket, key, version)
    is_marker = getattr(version, "is_delete_marker", False)
    return key, version_id, version if is_marker else None
