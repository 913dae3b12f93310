"""Access points: other names (aliases) for a bucket, each with its own policy.

A request addressed to `/<alias>/key` (or `<alias>.<OSS_DOMAIN>/key`) reaches the
bucket's objects (oss_access.get_bucket resolves the alias); oss_access.check_access
then asks `check_request` first. As on OSS, the access point policy and the bucket's
own rules (policy and ACL) decide together: an explicit Deny in either denies; for
anyone but the owner both must allow (no Allow in the access point policy is an
implicit deny). The owner needs no Allow: only an explicit Deny stops them.

Through an alias only data operations run: object operations and the listing and
batch-delete of the bucket (ALIAS_BUCKET_ROUTES); configuring the bucket, or its
access points, takes the bucket's own name.

The operations that manage access points are in buckets/access_point_operations.py.
"""

import re
import secrets
from dataclasses import dataclass

from django.conf import settings
from django.db import IntegrityError, transaction

from buckets import bucket_policy, errors
from buckets.models import AccessPoint
from buckets.wildcards import wildcard_match

ALIAS_SUFFIX = "-ossalias"
# OSS: 3-19 characters, a-z 0-9 and -, not starting or ending with -.
NAME_RE = re.compile(r"^[a-z0-9][a-z0-9-]{1,17}[a-z0-9]\Z")
MAX_PER_BUCKET = 100
MAX_PER_ACCOUNT = 1000
# <name>-<30 hex>-ossalias is at most 59 characters: still a valid bucket name.
ALIAS_RANDOM_BYTES = 15
STATUS = "enable"  # created at once here: never "creating"
NETWORK_ORIGINS = ("internet", "vpc")

# Bucket-level routes (method, sub-resource) an alias may take: the data ones.
ALIAS_BUCKET_ROUTES = frozenset(
    {
        ("GET", None),  # ListObjects (v1 and v2)
        ("GET", "versions"),  # ListObjectVersions
        ("GET", "uploads"),  # ListMultipartUploads
        ("POST", "delete"),  # DeleteMultipleObjects
    }
)


# -- names, aliases, ARNs ---------------------------------------------------------


def check_name(name):
    if not NAME_RE.match(name) or name.endswith(ALIAS_SUFFIX):
        raise errors.invalid_argument(
            "An access point name has 3 to 19 characters: lowercase letters, digits "
            "and hyphens (-), not starting or ending with a hyphen.",
            "AccessPointName",
            name,
        )
    return name


def is_alias_form(name):
    """Whether a bucket name in a URL could be an alias (cheap: no query)."""
    return name.endswith(ALIAS_SUFFIX)


def new_alias(name):
    return f"{name}-{secrets.token_hex(ALIAS_RANDOM_BYTES)}{ALIAS_SUFFIX}"


def arn(access_point):
    return (
        f"acs:oss:{settings.OSS_REGION}:{access_point.owner_id}"
        f":accesspoint/{access_point.name}"
    )


def resource_name(access_point, key=None):
    """The resource a request through the access point touches, as its policy names it."""
    return arn(access_point) if key is None else f"{arn(access_point)}/object/{key}"


def no_such_access_point(name):
    # The message is OSS's own, which oss2's suite compares.
    return errors.OssError(
        404, "NoSuchAccessPoint", "Accesspoint not found", AccessPointName=name
    )


# -- creating and finding ----------------------------------------------------------


def create(bucket, name, network_origin):
    """A new access point of `bucket`, enabled at once."""
    check_name(name)
    if network_origin == "vpc":
        raise errors.invalid_argument(
            "NetworkOrigin vpc is not supported: this server cannot tell one VPC's "
            "requests from another's. Use internet.",
            "NetworkOrigin",
            network_origin,
        )
    if network_origin not in NETWORK_ORIGINS:
        raise errors.invalid_argument(
            "NetworkOrigin must be internet.", "NetworkOrigin", network_origin
        )
    _check_limits(bucket)
    try:
        with transaction.atomic():
            return AccessPoint.objects.create(
                bucket=bucket,
                owner_id=bucket.owner_id,
                name=name,
                alias=new_alias(name),
                network_origin=network_origin,
            )
    except IntegrityError:
        raise errors.OssError(
            409,
            "AccessPointAlreadyExists",
            "The access point name already exists in this account.",
            AccessPointName=name,
        ) from None


def _check_limits(bucket):
    if bucket.access_points.count() >= MAX_PER_BUCKET:
        raise _too_many(f"A bucket has at most {MAX_PER_BUCKET} access points.")
    if AccessPoint.objects.filter(owner_id=bucket.owner_id).count() >= MAX_PER_ACCOUNT:
        raise _too_many(f"An account has at most {MAX_PER_ACCOUNT} access points.")


def _too_many(message):
    return errors.OssError(400, "TooManyAccessPoints", message)


def find(bucket, name):
    """The access point `name` of `bucket`, or OSS's 404."""
    access_point = bucket.access_points.filter(name=name).first()
    if access_point is None:
        raise no_such_access_point(name)
    access_point.bucket = bucket
    return access_point


def bucket_of_alias(buckets, alias):
    """The bucket an alias names (from the queryset `buckets`), carrying the access
    point as `via_access_point`. No access point has it: the bucket of that very
    name (one created before access points existed here), or Bucket.DoesNotExist."""
    access_point = AccessPoint.objects.filter(alias=alias).first()
    if access_point is None:
        return buckets.get(name=alias)
    bucket = buckets.get(pk=access_point.bucket_id)
    access_point.bucket = bucket
    access_point.owner = bucket.owner  # loaded with the bucket: no query more
    bucket.via_access_point = access_point
    return bucket


# -- policy documents ----------------------------------------------------------------


@dataclass(frozen=True)
class _PolicyScope:
    """What bucket_policy.parse_policy checks resources against: in an access point
    policy a resource's path starts with the literal `accesspoint` (its own checks,
    below, look at the rest)."""

    owner_id: int
    name: str = "accesspoint"


_RESOURCE_PATH_RE = re.compile(r"^accesspoint/([^/]+)(?:/object/.+)?\Z")


def parse_policy(text, access_point):
    """The normalised statements of an access point policy document, or
    InvalidPolicyDocument: bucket_policy's rules (actions, principals, the
    acs:SourceIp condition), with resources of this access point only:
    acs:oss:<region>:<uid>:accesspoint/<name> and .../object/<key pattern>."""
    statements = bucket_policy.parse_policy(text, _PolicyScope(access_point.owner_id))
    for statement in statements:
        for resource in statement["resources"]:
            _check_resource(resource, access_point)
    return statements


def _check_resource(resource, access_point):
    match = _RESOURCE_PATH_RE.match(resource.split(":", 4)[4])
    if match is None or not wildcard_match(
        match.group(1), access_point.name, question_mark=True
    ):
        raise errors.OssError(
            400,
            "InvalidPolicyDocument",
            f"The resource {resource!r} is not this access point "
            f"(acs:oss:*:*:accesspoint/{access_point.name}[/object/*]).",
            EC=bucket_policy.INVALID_POLICY_EC,
        )


# -- enforcing -------------------------------------------------------------------------


def check_request(access_point, request, *, owner, user, action, key):
    """Raise AccessDenied unless a request through `access_point` may go on to the
    bucket's own decision (see the module docstring)."""
    level, method, sub_resource = getattr(request, "oss_route", ("", "", None))
    if level != "object" and (method, sub_resource) not in ALIAS_BUCKET_ROUTES:
        raise errors.access_denied(
            "This operation is not supported through an access point: "
            "use the bucket's name."
        )
    decided = bucket_policy.verdict(
        access_point,  # its policy_statements, block_public_access and owner
        user,
        action,
        resource_name(access_point, key),
        request.META.get("REMOTE_ADDR", ""),
    )
    if decided is bucket_policy.Verdict.DENY or (decided is None and not owner):
        raise errors.access_denied(
            "You have no right to access this resource because of access point policy."
        )
