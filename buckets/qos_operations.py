"""The OSS QoS operations and their XML: GetUserQoSInfo (`GET /?qosInfo`), a
bucket's `?qosInfo` and its requesters' `?requesterQosInfo&qosRequester=<UID>`
(Put/Get/Delete, and the list), and the resource pool operations.

Resource pools are made by Alibaba Cloud support on real OSS; here none exist and
none can be made, so ListResourcePools is empty and every operation on a named pool
answers 404. The caps themselves are enforced by buckets/qos.py.
"""

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction

from buckets import errors, oss_xml, qos
from buckets.models import QosConfiguration
from buckets.numbers import parse_decimal
from buckets.oss_access import (
    count_parameter,
    empty_response,
    owned_bucket,
    request_user,
    xml_document,
)

MAX_CAP = 10**9  # far above any real OSS cap; larger numbers are refused, not parsed
SERVICE_SUB_RESOURCES = (
    "qosInfo",
    "resourcePool",
    "resourcePoolInfo",
    "resourcePoolBuckets",
    "requesterQosInfo",
    "qosRequester",
)


# -- the XML --------------------------------------------------------------------------


def caps_from_xml(request):
    """The Caps of a QoSConfiguration body; an element left out is -1 (no cap)."""
    root = xml_document(request, "QoSConfiguration")
    by_element = {element: name for name, element in qos.XML_NAMES.items()}
    values = {}
    for child in root:
        name = by_element.get(child.tag)
        if name is None or name in values:
            raise errors.malformed_xml(
                f"A QoSConfiguration holds each of {', '.join(by_element)} at most once."
            )
        values[name] = _cap(child.tag, child.text)
    return qos.Caps(**values)


def _cap(element, text):
    value = (text or "").strip()
    try:
        negative = value.startswith("-")
        number = parse_decimal(value[1:] if negative else value, max_value=MAX_CAP)
    except ValueError:
        number = None
    if number is None or (negative and number != 1):
        raise errors.invalid_argument(
            f"{element} must be -1 (no cap) or a whole number from 0 up.",
            element,
            value[:64],
        )
    return -number if negative else number


def caps_elements(caps):
    return [
        oss_xml.element(element, getattr(caps, name))
        for name, element in qos.XML_NAMES.items()
    ]


def requester_element(requester, caps):
    return oss_xml.element(
        "RequesterQoSInfo",
        children=[
            oss_xml.element("Requester", requester),
            oss_xml.element("QoSConfiguration", children=caps_elements(caps)),
        ],
    )


# -- the account ------------------------------------------------------------------------


def signed_user(request):
    user = request_user(request)
    if user is None:
        raise errors.access_denied("Anonymous access is forbidden for this operation.")
    return user


def get_user_qos_info(request):
    signed_user(request)
    return oss_xml.xml_response(
        oss_xml.element(
            "QoSConfiguration",
            children=[
                oss_xml.element("Region", settings.OSS_REGION),
                *caps_elements(qos.account_caps()),
            ],
        )
    )


# -- a bucket's own caps ---------------------------------------------------------------------


def put_bucket_qos_info(request, bucket_name):
    bucket = owned_bucket(request, bucket_name)
    caps = caps_from_xml(request)
    qos.check_caps(caps, qos.account_caps())
    _save(bucket, "", caps)
    return empty_response(200)


def get_bucket_qos_info(request, bucket_name):
    """The bucket's caps; without a configuration, none: all -1."""
    bucket = owned_bucket(request, bucket_name)
    caps = _stored(bucket, "") or qos.Caps()
    return oss_xml.xml_response(
        oss_xml.element("QoSConfiguration", children=caps_elements(caps))
    )


def delete_bucket_qos_info(request, bucket_name):
    bucket = owned_bucket(request, bucket_name)
    _delete(bucket, "")
    return empty_response(204)


# -- a requester's caps on a bucket --------------------------------------------------------


def bucket_requester_operation(request, bucket_name):
    """?requesterQosInfo: with qosRequester one requester's caps, else (GET) the list."""
    if "qosRequester" not in request.GET:
        if request.method != "GET":
            raise _requester_missing()
        return list_bucket_requester_qos_infos(request, bucket_name)
    operation = {
        "PUT": put_bucket_requester_qos_info,
        "GET": get_bucket_requester_qos_info,
        "DELETE": delete_bucket_requester_qos_info,
    }.get(request.method)
    if operation is None:
        raise errors.method_not_allowed(request.method)
    return operation(request, bucket_name, request.GET["qosRequester"])


def put_bucket_requester_qos_info(request, bucket_name, requester):
    bucket = owned_bucket(request, bucket_name)
    requester = _existing_user_uid(requester)
    caps = caps_from_xml(request)
    qos.check_caps(caps, _stored(bucket, "") or qos.Caps())
    _save(bucket, requester, caps)
    return empty_response(200)


def get_bucket_requester_qos_info(request, bucket_name, requester):
    """A requester's caps on the bucket; without a configuration, none: all -1."""
    bucket = owned_bucket(request, bucket_name)
    requester = _uid(requester)
    caps = _stored(bucket, requester) or qos.Caps()
    return oss_xml.xml_response(requester_element(requester, caps))


def delete_bucket_requester_qos_info(request, bucket_name, requester):
    bucket = owned_bucket(request, bucket_name)
    _delete(bucket, _uid(requester))
    return empty_response(204)


def list_bucket_requester_qos_infos(request, bucket_name):
    """The requesters' caps in UID order, from continuation-token (a UID) on."""
    bucket = owned_bucket(request, bucket_name)
    token = request.GET.get("continuation-token", "")
    max_keys = count_parameter(request, "max-keys", default=100, low=1, high=1000)
    rows = bucket.qos_configurations.exclude(requester="").filter(requester__gte=token)
    page = list(rows.order_by("requester")[: max_keys + 1])
    truncated = len(page) > max_keys
    return oss_xml.xml_response(
        oss_xml.element(
            "ListBucketRequesterQoSInfosResult",
            children=[
                oss_xml.element("Bucket", bucket.name),
                oss_xml.element("ContinuationToken", token),
                oss_xml.element(
                    "NextContinuationToken",
                    page[max_keys].requester if truncated else "",
                ),
                oss_xml.element("IsTruncated", "true" if truncated else "false"),
                *(
                    requester_element(row.requester, qos.Caps.of(row))
                    for row in page[:max_keys]
                ),
            ],
        )
    )


def _uid(value):
    """A requester is named by its UID: the user's number (the Owner ID OSS lists)."""
    value = value.strip()
    if not value.isascii() or not value.isdigit() or len(value) > 20:
        raise errors.invalid_argument(
            "qosRequester must be the UID of an account.", "qosRequester", value[:64]
        )
    return str(int(value))


def _existing_user_uid(value):
    """Caps are set only for an account of this server: others would never apply."""
    uid = _uid(value)
    if not get_user_model().objects.filter(pk=int(uid)).exists():
        raise errors.invalid_argument(
            "qosRequester is not the UID of an account of this server.",
            "qosRequester",
            uid,
        )
    return uid


def _requester_missing():
    return errors.invalid_argument(
        "qosRequester (the requester's UID) is required.", "qosRequester", ""
    )


def _stored(bucket, requester):
    row = bucket.qos_configurations.filter(requester=requester).first()
    return qos.Caps.of(row) if row is not None else None


def _save(bucket, requester, caps):
    with transaction.atomic():
        QosConfiguration.objects.update_or_create(
            bucket=bucket, requester=requester, defaults=caps.as_dict()
        )
        qos.caps_changed()


def _delete(bucket, requester):
    with transaction.atomic():
        bucket.qos_configurations.filter(requester=requester).delete()
        qos.caps_changed()


# -- the service level: the account's caps and resource pools ------------------------------


def service_operation(request):
    """GET ?qosInfo is the account's caps; ?resourcePool alone lists resource pools;
    anything naming a pool (resourcePoolInfo, resourcePoolBuckets, requesterQosInfo
    with resourcePool) is about a pool, and none exists."""
    user = signed_user(request)
    names = set(request.GET)
    if names & {"resourcePoolInfo", "resourcePoolBuckets", "requesterQosInfo"}:
        return _about_a_pool(request)
    if request.method != "GET":
        raise errors.method_not_allowed(request.method)
    if "resourcePool" in names:
        return list_resource_pools(request, user)
    if "qosInfo" in names:
        return get_user_qos_info(request)
    raise _requester_missing()  # a bare ?qosRequester


def list_resource_pools(request, user):
    count_parameter(request, "max-keys", default=100, low=1, high=1000)
    return oss_xml.xml_response(
        oss_xml.element(
            "ListResourcePoolsResult",
            children=[
                oss_xml.element("Region", settings.OSS_REGION),
                oss_xml.element("Owner", user.pk),
                oss_xml.element(
                    "ContinuationToken", request.GET.get("continuation-token", "")
                ),
                oss_xml.element("NextContinuationToken", ""),
                oss_xml.element("IsTruncated", "false"),
            ],
        )
    )


def _about_a_pool(request):
    name = request.GET.get("resourcePool", "")
    if not name:
        raise errors.invalid_argument(
            "resourcePool (the resource pool's name) is required.", "resourcePool", ""
        )
    if "requesterQosInfo" in request.GET and request.method not in (
        "PUT",
        "GET",
        "DELETE",
    ):
        raise errors.method_not_allowed(request.method)
    if "requesterQosInfo" not in request.GET and request.method != "GET":
        raise errors.method_not_allowed(request.method)
    raise errors.OssError(
        404,
        "NoSuchResourcePool",
        "The specified resource pool does not exist.",
        ResourcePool=name[:255],
    )
