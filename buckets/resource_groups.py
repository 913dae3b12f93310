"""Resource groups: this server has one, the account's default group, which holds
every bucket. OSS reports a bucket's group (GetBucketInfo, ListBuckets), filters
ListBuckets by `x-oss-resource-group-id`, and takes the header on PutBucket and
the ?resourceGroup operations; here only the default group can be named, and any
other group id is refused as OSS refuses a group that does not exist.
"""

from buckets import errors, oss_xml
from buckets.oss_access import empty_response, owned_bucket, xml_document

DEFAULT_RESOURCE_GROUP_ID = "rg-default"
HEADER = "x-oss-resource-group-id"


def no_such_group(group_id):
    return errors.OssError(
        400,
        "ResourceGroupIdPreCheckError",
        "The resource group does not exist; this server has only the default group "
        f"{DEFAULT_RESOURCE_GROUP_ID}.",
        ResourceGroupId=group_id,
    )


def check_requested_group(request):
    """PutBucket's x-oss-resource-group-id: the default group or none at all."""
    group_id = request.headers.get(HEADER)
    if group_id and group_id != DEFAULT_RESOURCE_GROUP_ID:
        raise no_such_group(group_id)


def buckets_in_requested_group(buckets, request):
    """ListBuckets's x-oss-resource-group-id filter: all buckets, or none."""
    group_id = request.headers.get(HEADER)
    if group_id and group_id != DEFAULT_RESOURCE_GROUP_ID:
        return buckets.none()
    return buckets


def add_group_ids(root):
    """Each <Bucket> of a ListBuckets or GetBucketInfo answer names its group."""
    for node in root.iter("Bucket"):
        if node.find("Name") is not None:
            node.append(oss_xml.element("ResourceGroupId", DEFAULT_RESOURCE_GROUP_ID))
    return root


def get_bucket_resource_group(request, name):
    owned_bucket(request, name)
    return oss_xml.xml_response(
        oss_xml.element(
            "BucketResourceGroupConfiguration",
            children=[oss_xml.element("ResourceGroupId", DEFAULT_RESOURCE_GROUP_ID)],
        )
    )


def put_bucket_resource_group(request, name):
    owned_bucket(request, name)
    root = xml_document(request, "BucketResourceGroupConfiguration")
    group_id = (root.findtext("ResourceGroupId") or "").strip()
    if group_id != DEFAULT_RESOURCE_GROUP_ID:
        raise no_such_group(group_id)
    return empty_response()
