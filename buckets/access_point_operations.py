"""The access point operations of the OSS API and their XML: CreateAccessPoint,
GetAccessPoint, DeleteAccessPoint, ListAccessPoints (a bucket's, `GET /<bucket>?accessPoint`,
and an account's, `GET /?accessPoint`), Put/Get/DeleteAccessPointPolicy and
Put/Get/DeleteAccessPointPublicAccessBlock. The access point is named by the
x-oss-access-point-name header (the public access block ones: the query parameter).

What an access point does to requests is in buckets/access_points.py."""

import functools

from django.conf import settings

from buckets import access_points, bucket_policy, errors, oss_xml, public_access
from buckets.access_operations import block_answer, block_setting
from buckets.bucket_policy import MAX_POLICY_BYTES
from buckets.models import AccessPoint
from buckets.oss_access import (
    check_access,
    count_parameter,
    empty_response,
    get_bucket,
    read_xml_body,
    request_user,
    xml_document,
)

NAME_HEADER = "x-oss-access-point-name"
CREATE_ELEMENTS = frozenset({"AccessPointName", "NetworkOrigin", "VpcConfiguration"})


def _owned_bucket(request, bucket_name, action):
    """The bucket, once the request may do `action` on it (its owner, or whom the
    bucket policy grants the action)."""
    bucket = get_bucket(bucket_name)
    check_access(
        request,
        bucket,
        acl_grants=False,
        action=action,
        denied=errors.access_denied("You have no right to access this bucket."),
    )
    return bucket


def _named_access_point(request, bucket_name, action):
    name = request.headers.get(NAME_HEADER, "")
    if not name:
        raise errors.invalid_argument(f"{NAME_HEADER} is required.", NAME_HEADER, "")
    return access_points.find(_owned_bucket(request, bucket_name, action), name)


# -- the access points ------------------------------------------------------------


def create_access_point(request, bucket_name):
    bucket = _owned_bucket(request, bucket_name, "oss:CreateAccessPoint")
    name, network_origin = _create_configuration(
        xml_document(request, "CreateAccessPointConfiguration")
    )
    access_point = access_points.create(bucket, name, network_origin)
    return oss_xml.xml_response(
        oss_xml.element(
            "CreateAccessPointResult",
            children=[
                oss_xml.element("AccessPointArn", access_points.arn(access_point)),
                oss_xml.element("Alias", access_point.alias),
            ],
        )
    )


def _create_configuration(root):
    """(name, network origin); anything this server would not honour is refused."""
    for child in root:
        if child.tag not in CREATE_ELEMENTS:
            raise errors.invalid_argument(
                f"{child.tag} is not an element of CreateAccessPointConfiguration.",
                child.tag,
                child.text or "",
            )
    name = (root.findtext("AccessPointName") or "").strip()
    network_origin = (root.findtext("NetworkOrigin") or "").strip()
    if root.find("VpcConfiguration") is not None and network_origin != "vpc":
        raise errors.invalid_argument(
            "VpcConfiguration is only for NetworkOrigin vpc.", "VpcConfiguration", ""
        )
    return name, network_origin


def access_point_or_list(request, bucket_name):
    """GET ?accessPoint: GetAccessPoint with the name header, else ListAccessPoints."""
    if NAME_HEADER not in request.headers:
        bucket = _owned_bucket(request, bucket_name, "oss:ListAccessPoints")
        return _listing(request, bucket.access_points.all(), bucket.owner_id)
    access_point = _named_access_point(request, bucket_name, "oss:GetAccessPoint")
    return oss_xml.xml_response(_access_point_result(request, access_point))


def delete_access_point(request, bucket_name):
    _named_access_point(request, bucket_name, "oss:DeleteAccessPoint").delete()
    return empty_response(204)


def list_account_access_points(request):
    """GET /?accessPoint: the access points of every bucket of the account."""
    user = request_user(request)
    if user is None:
        raise errors.access_denied("Anonymous users cannot list access points.")
    return _listing(request, AccessPoint.objects.filter(owner=user), user.pk)


def _listing(request, access_point_rows, account_id):
    """One page of ListAccessPointsResult, by name; the token is the last name given."""
    max_keys = count_parameter(request, "max-keys", default=100, low=1)
    token = request.GET.get("continuation-token", "")
    rows = access_point_rows.select_related("bucket").order_by("name")
    if token:
        rows = rows.filter(name__gt=token)
    page = list(rows[: max_keys + 1])
    truncated = len(page) > max_keys
    page = page[:max_keys]
    return oss_xml.xml_response(
        oss_xml.element(
            "ListAccessPointsResult",
            children=[
                oss_xml.element("IsTruncated", str(truncated).lower()),
                oss_xml.element("NextContinuationToken", page[-1].name)
                if truncated
                else None,
                oss_xml.element("AccountId", account_id),
                oss_xml.element("MaxKeys", max_keys),
                oss_xml.element(
                    "AccessPoints", children=[_listed(row) for row in page]
                ),
            ],
        )
    )


def _listed(access_point):
    return oss_xml.element(
        "AccessPoint",
        children=[
            oss_xml.element("Bucket", access_point.bucket.name),
            oss_xml.element("AccessPointName", access_point.name),
            oss_xml.element("Alias", access_point.alias),
            oss_xml.element("NetworkOrigin", access_point.network_origin),
            oss_xml.element("Status", access_points.STATUS),
        ],
    )


def _access_point_result(request, access_point):
    blocked = str(access_point.block_public_access).lower()
    return oss_xml.element(
        "GetAccessPointResult",
        children=[
            oss_xml.element("AccessPointName", access_point.name),
            oss_xml.element("Bucket", access_point.bucket.name),
            oss_xml.element("AccountId", access_point.owner_id),
            oss_xml.element("NetworkOrigin", access_point.network_origin),
            oss_xml.element("AccessPointArn", access_points.arn(access_point)),
            oss_xml.element("CreationDate", int(access_point.created_at.timestamp())),
            oss_xml.element("Alias", access_point.alias),
            oss_xml.element("Status", access_points.STATUS),
            oss_xml.element(
                "Endpoints",
                children=[
                    oss_xml.element("PublicEndpoint", _endpoint(request, access_point)),
                    oss_xml.element(
                        "InternalEndpoint", _endpoint(request, access_point)
                    ),
                ],
            ),
            oss_xml.element(
                "PublicAccessBlockConfiguration",
                children=[oss_xml.element("BlockPublicAccess", blocked)],
            ),
        ],
    )


def _endpoint(request, access_point):
    """Where clients reach the access point here: <alias>.<OSS_DOMAIN> (virtual-host
    style) when the server has a domain, else this server, where /<alias>/ works
    path-style. Inside and outside are the same network here."""
    host = request.get_host()
    if not settings.OSS_DOMAIN:
        return host
    _name, colon, port = host.rpartition(":")
    suffix = f":{port}" if colon and port.isdigit() else ""
    return f"{access_point.alias}.{settings.OSS_DOMAIN}{suffix}"


# -- its policy ------------------------------------------------------------------------


def put_access_point_policy(request, bucket_name):
    access_point = _named_access_point(request, bucket_name, "oss:PutAccessPointPolicy")
    body = read_xml_body(request)
    if len(body) > MAX_POLICY_BYTES:
        raise errors.OssError(
            400,
            "InvalidPolicyDocument",
            f"The policy is longer than {MAX_POLICY_BYTES} bytes.",
            EC=bucket_policy.INVALID_POLICY_EC,
        )
    statements = access_points.parse_policy(body, access_point)
    if bucket_policy.grants_public_access(statements):
        public_access.check_may_grant_public_access(access_point)
    access_point.policy, access_point.policy_statements = body.decode(), statements
    access_point.save(update_fields=["policy", "policy_statements"])
    return empty_response()


def get_access_point_policy(request, bucket_name):
    access_point = _named_access_point(request, bucket_name, "oss:GetAccessPointPolicy")
    if not access_point.policy:
        raise errors.OssError(
            404,
            "NoSuchAccessPointPolicy",
            "The access point policy does not exist.",
            AccessPointName=access_point.name,
        )
    response = empty_response()
    response.content = access_point.policy.encode()
    response["Content-Type"] = "application/json"
    response["Content-Length"] = str(len(response.content))
    return response


def delete_access_point_policy(request, bucket_name):
    """Deleting a policy that does not exist succeeds, as for a bucket policy."""
    access_point = _named_access_point(
        request, bucket_name, "oss:DeleteAccessPointPolicy"
    )
    access_point.policy, access_point.policy_statements = "", []
    access_point.save(update_fields=["policy", "policy_statements"])
    return empty_response(204)


# -- its Block Public Access -----------------------------------------------------------

_VERBS = {"GET": "Get", "PUT": "Put", "DELETE": "Delete"}


def public_access_block(request, bucket_name):
    """?publicAccessBlock&x-oss-access-point-name=NAME (buckets/unsupported.py routes
    it here before the bucket's own ?publicAccessBlock could run). With the block
    on, the access point policy's grants to everyone stop counting."""
    if "publicAccessBlock" not in request.GET:
        get_bucket(bucket_name)  # a missing bucket is still NoSuchBucket
        raise errors.not_implemented(NAME_HEADER)
    bucket = _owned_bucket(
        request,
        bucket_name,
        f"oss:{_VERBS[request.method]}AccessPointPublicAccessBlock",
    )
    access_point = access_points.find(bucket, request.GET[NAME_HEADER])
    if request.method == "GET":
        return block_answer(access_point.block_public_access)
    access_point.block_public_access = (
        block_setting(request) if request.method == "PUT" else False
    )
    access_point.save(update_fields=["block_public_access"])
    return empty_response(200 if request.method == "PUT" else 204)


# -- deleting the bucket ---------------------------------------------------------------


def keeping_access_points(delete_bucket):
    """DeleteBucket, refused while the bucket has access points (OSS asks for them
    to be deleted first)."""

    @functools.wraps(delete_bucket)
    def delete(request, bucket_name):
        bucket = _owned_bucket(request, bucket_name, "oss:DeleteBucket")
        if bucket.access_points.exists():
            raise errors.OssError(
                409,
                "BucketNotEmpty",
                "The bucket has access points: delete them before the bucket.",
                BucketName=bucket_name,
            )
        return delete_bucket(request, bucket_name)

    return delete


def refusing_alias_names(put_bucket):
    """PutBucket: a name of the alias form is an access point's, never a bucket's."""

    @functools.wraps(put_bucket)
    def put(request, bucket_name):
        if access_points.is_alias_form(bucket_name):
            raise errors.OssError(
                400,
                "InvalidBucketName",
                f"A bucket name cannot end with {access_points.ALIAS_SUFFIX}: "
                "such names are access points' aliases.",
                BucketName=bucket_name,
            )
        return put_bucket(request, bucket_name)

    return put


BUCKET_OPERATIONS = {
    ("PUT", "accessPoint"): create_access_point,
    ("GET", "accessPoint"): access_point_or_list,
    ("DELETE", "accessPoint"): delete_access_point,
    ("PUT", "accessPointPolicy"): put_access_point_policy,
    ("GET", "accessPointPolicy"): get_access_point_policy,
    ("DELETE", "accessPointPolicy"): delete_access_point_policy,
}
SERVICE_OPERATIONS = {("GET", "accessPoint"): list_account_access_points}
