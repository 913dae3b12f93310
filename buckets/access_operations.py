"""The operations that set who may do what, and how much: bucket policy,
pay-by-requester, Block Public Access (for a bucket, and for the whole account at
the service level), the bucket's storage capacity and its TLS versions. The rules
themselves are in buckets.bucket_policy, buckets.request_payment,
buckets.public_access, buckets.tls (which oss_access.check_access applies) and
buckets.quota (which storage applies)."""

from buckets import errors, oss_xml, public_access, quota, tls
from buckets.bucket_policy import MAX_POLICY_BYTES, grants_public_access, parse_policy
from buckets.models import AccountSettings, Bucket
from buckets.numbers import parse_decimal
from buckets.oss_access import (
    empty_response,
    owned_bucket,
    read_xml_body,
    request_user,
    xml_document,
)

# -- bucket policy -----------------------------------------------------------------


def put_bucket_policy(request, bucket_name):
    bucket = owned_bucket(request, bucket_name)
    body = read_xml_body(request)
    if len(body) > MAX_POLICY_BYTES:
        raise errors.OssError(
            400,
            "InvalidPolicyDocument",
            f"The policy is longer than {MAX_POLICY_BYTES} bytes.",
        )
    statements = parse_policy(body, bucket)
    if grants_public_access(statements):
        public_access.check_may_grant_public_access(bucket)
    bucket.policy, bucket.policy_statements = body.decode(), statements
    bucket.save(update_fields=["policy", "policy_statements"])
    return empty_response()


def get_bucket_policy(request, bucket_name):
    bucket = owned_bucket(request, bucket_name)
    if not bucket.policy:
        raise errors.not_configured(
            "NoSuchBucketPolicy", "The bucket policy does not exist.", bucket_name
        )
    response = empty_response()
    response.content = bucket.policy.encode()
    response["Content-Type"] = "application/json"
    response["Content-Length"] = str(len(response.content))
    return response


def delete_bucket_policy(request, bucket_name):
    """Deleting a policy that does not exist succeeds, as on OSS."""
    bucket = owned_bucket(request, bucket_name)
    bucket.policy, bucket.policy_statements = "", []
    bucket.save(update_fields=["policy", "policy_statements"])
    return empty_response(204)


# -- pay-by-requester --------------------------------------------------------------


def put_bucket_request_payment(request, bucket_name):
    bucket = owned_bucket(request, bucket_name)
    root = xml_document(request, "RequestPaymentConfiguration")
    payer = (root.findtext("Payer") or "").strip()
    if payer not in Bucket.Payer.values:
        raise errors.OssError(
            400,
            "MalformedXML",
            "Payer must be BucketOwner or Requester.",
        )
    bucket.request_payer = payer
    bucket.save(update_fields=["request_payer"])
    return empty_response()


def get_bucket_request_payment(request, bucket_name):
    bucket = owned_bucket(request, bucket_name)
    return _one_value("RequestPaymentConfiguration", "Payer", bucket.request_payer)


# -- Block Public Access -------------------------------------------------------------


def block_setting(request):
    """A PublicAccessBlockConfiguration body's true/false (bucket, account and access
    point alike)."""
    root = xml_document(request, "PublicAccessBlockConfiguration")
    value = (root.findtext("BlockPublicAccess") or "").strip().lower()
    if value not in ("true", "false"):
        raise errors.OssError(
            400, "MalformedXML", "BlockPublicAccess must be true or false."
        )
    return value == "true"


def block_answer(blocked):
    return _one_value(
        "PublicAccessBlockConfiguration", "BlockPublicAccess", str(blocked).lower()
    )


def put_bucket_public_access_block(request, bucket_name):
    bucket = owned_bucket(request, bucket_name)
    bucket.block_public_access = block_setting(request)
    bucket.save(update_fields=["block_public_access"])
    return empty_response()


def get_bucket_public_access_block(request, bucket_name):
    return block_answer(owned_bucket(request, bucket_name).block_public_access)


def delete_bucket_public_access_block(request, bucket_name):
    bucket = owned_bucket(request, bucket_name)
    bucket.block_public_access = False
    bucket.save(update_fields=["block_public_access"])
    return empty_response(204)


def _signed_user(request):
    user = request_user(request)
    if user is None:
        raise errors.access_denied("Anonymous users have no account settings.")
    return user


def put_public_access_block(request):
    user = _signed_user(request)
    blocked = block_setting(request)
    AccountSettings.objects.update_or_create(
        user=user, defaults={"block_public_access": blocked}
    )
    return empty_response()


def get_public_access_block(request):
    return block_answer(public_access.account_blocks(_signed_user(request)))


def delete_public_access_block(request):
    AccountSettings.objects.filter(user=_signed_user(request)).update(
        block_public_access=False
    )
    return empty_response(204)


# -- storage capacity ---------------------------------------------------------------


def put_bucket_storage_capacity(request, bucket_name):
    bucket = owned_bucket(request, bucket_name)
    text = (
        xml_document(request, "BucketUserQos").findtext("StorageCapacity") or ""
    ).strip()
    try:
        capacity = (
            quota.UNLIMITED
            if text == "-1"
            else parse_decimal(text, max_value=quota.MAX_CAPACITY_GB)
        )
    except ValueError:
        raise errors.invalid_argument(
            f"StorageCapacity must be -1 (no limit) or 0 to {quota.MAX_CAPACITY_GB} GB.",
            "StorageCapacity",
            text,
        ) from None
    bucket.storage_capacity_gb = capacity
    bucket.save(update_fields=["storage_capacity_gb"])
    return empty_response()


def get_bucket_storage_capacity(request, bucket_name):
    bucket = owned_bucket(request, bucket_name)
    return _one_value("BucketUserQos", "StorageCapacity", bucket.storage_capacity_gb)


# -- TLS versions ---------------------------------------------------------------------


def put_bucket_https_config(request, bucket_name):
    bucket = owned_bucket(request, bucket_name)
    root = xml_document(request, "HttpsConfiguration")
    bucket.tls_enabled, bucket.tls_versions = tls.parse_https_config(root)
    bucket.save(update_fields=["tls_enabled", "tls_versions"])
    return empty_response()


def get_bucket_https_config(request, bucket_name):
    bucket = owned_bucket(request, bucket_name)
    versions = [oss_xml.element("TLSVersion", v) for v in bucket.tls_versions]
    enable = oss_xml.element("Enable", str(bucket.tls_enabled).lower())
    return oss_xml.xml_response(
        oss_xml.element(
            "HttpsConfiguration",
            children=[oss_xml.element("TLS", children=[enable, *versions])],
        )
    )


SERVICE_OPERATIONS = {
    "PUT": put_public_access_block,
    "GET": get_public_access_block,
    "DELETE": delete_public_access_block,
}


def _one_value(root, name, value):
    """An answer document holding one setting: <root><name>value</name></root>."""
    return oss_xml.xml_response(
        oss_xml.element(root, children=[oss_xml.element(name, str(value))])
    )
