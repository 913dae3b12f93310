"""The OSS endpoint's URLs and route tables: the project composes the apps here.

Bucket and object operations come from buckets/, the ?website operations from
origin/; buckets/ itself never imports origin/.
"""

from django.urls import path, re_path

from buckets import (
    access_logging,
    access_monitor,
    access_operations,
    access_point_operations,
    bucket_operations,
    bucket_stat,
    callbacks,
    cors,
    encryption,
    inventory,
    lifecycle,
    meta_query,
    multipart,
    object_acl,
    object_operations,
    qos,
    qos_operations,
    referer,
    resource_groups,
    restore,
    symlinks,
    tagging,
    version_operations,
    worm,
)
from buckets.live import operations as live_operations
from buckets.names import RESERVED_BUCKET_NAMES
from buckets.select import views as select_views
from buckets.views import (
    oss_endpoint,
    route_service_operation,
    route_to_operation,
)
from origin import website_api

# (method, sub-resource) -> operation; None is the plain resource.
BUCKET_OPERATIONS = {
    ("GET", None): bucket_operations.list_bucket_objects,
    ("PUT", None): bucket_operations.put_bucket,
    ("DELETE", None): bucket_operations.delete_bucket,
    ("GET", "acl"): bucket_operations.get_bucket_acl,
    ("PUT", "acl"): bucket_operations.put_bucket_acl,
    ("GET", "bucketInfo"): bucket_operations.get_bucket_info,
    ("GET", "stat"): bucket_stat.get_bucket_stat,
    ("GET", "location"): bucket_operations.get_bucket_location,
    ("POST", "delete"): bucket_operations.delete_multiple_objects,
    ("GET", "uploads"): multipart.list_multipart_uploads,
    ("GET", "website"): website_api.get_bucket_website,
    ("PUT", "website"): website_api.put_bucket_website,
    ("DELETE", "website"): website_api.delete_bucket_website,
    ("GET", "cors"): cors.get_bucket_cors,
    ("PUT", "cors"): cors.put_bucket_cors,
    ("DELETE", "cors"): cors.delete_bucket_cors,
    ("GET", "referer"): referer.get_bucket_referer,
    ("PUT", "referer"): referer.put_bucket_referer,
    ("GET", "tagging"): tagging.get_bucket_tagging,
    ("PUT", "tagging"): tagging.put_bucket_tagging,
    ("DELETE", "tagging"): tagging.delete_bucket_tagging,
    ("GET", "lifecycle"): lifecycle.get_bucket_lifecycle,
    ("PUT", "lifecycle"): lifecycle.put_bucket_lifecycle,
    ("DELETE", "lifecycle"): lifecycle.delete_bucket_lifecycle,
    ("GET", "accessmonitor"): access_monitor.get_bucket_access_monitor,
    ("PUT", "accessmonitor"): access_monitor.put_bucket_access_monitor,
    ("GET", "bucketArchiveDirectRead"): restore.get_bucket_archive_direct_read,
    ("PUT", "bucketArchiveDirectRead"): restore.put_bucket_archive_direct_read,
    ("GET", "encryption"): encryption.get_bucket_encryption,
    ("PUT", "encryption"): encryption.put_bucket_encryption,
    ("DELETE", "encryption"): encryption.delete_bucket_encryption,
    ("GET", "policy"): access_operations.get_bucket_policy,
    ("PUT", "policy"): access_operations.put_bucket_policy,
    ("DELETE", "policy"): access_operations.delete_bucket_policy,
    ("GET", "httpsConfig"): access_operations.get_bucket_https_config,
    ("PUT", "httpsConfig"): access_operations.put_bucket_https_config,
    ("GET", "versioning"): version_operations.get_bucket_versioning,
    ("PUT", "versioning"): version_operations.put_bucket_versioning,
    ("GET", "versions"): version_operations.list_object_versions,
    ("GET", "qos"): access_operations.get_bucket_storage_capacity,
    ("PUT", "qos"): access_operations.put_bucket_storage_capacity,
    ("GET", "requestPayment"): access_operations.get_bucket_request_payment,
    ("PUT", "requestPayment"): access_operations.put_bucket_request_payment,
    ("GET", "publicAccessBlock"): access_operations.get_bucket_public_access_block,
    ("PUT", "publicAccessBlock"): access_operations.put_bucket_public_access_block,
    (
        "DELETE",
        "publicAccessBlock",
    ): access_operations.delete_bucket_public_access_block,
    # Retention policy (WORM), access logging, inventory (buckets/worm.py,
    # access_logging.py, inventory.py). ?wormExtend and ?inventoryId name the same
    # operations as ?wormId and ?inventory, whichever the query names first.
    ("POST", "worm"): worm.initiate_bucket_worm,
    ("GET", "worm"): worm.get_bucket_worm,
    ("DELETE", "worm"): worm.abort_bucket_worm,
    ("POST", "wormId"): worm.worm_id_operation,
    ("POST", "wormExtend"): worm.worm_id_operation,
    ("GET", "logging"): access_logging.get_bucket_logging,
    ("PUT", "logging"): access_logging.put_bucket_logging,
    ("DELETE", "logging"): access_logging.delete_bucket_logging,
    **{
        (method, name): inventory.inventory_operation
        for method in ("GET", "PUT", "DELETE")
        for name in ("inventory", "inventoryId")
    },
}
OBJECT_OPERATIONS = {
    ("GET", None): object_operations.get_object,
    ("HEAD", None): object_operations.get_object,
    ("PUT", None): object_operations.put_object,
    ("DELETE", None): object_operations.delete_object_view,
    ("POST", "append"): object_operations.append_object,
    ("GET", "objectMeta"): object_operations.get_object_meta,
    ("HEAD", "objectMeta"): object_operations.get_object_meta,
    ("POST", "uploads"): multipart.initiate_multipart_upload,
    ("POST", "sequential"): multipart.initiate_multipart_upload,  # ?sequential&uploads
    # UploadPart names both; whichever the query names first picks the route.
    ("PUT", "uploadId"): multipart.upload_part,
    ("PUT", "partNumber"): multipart.upload_part,
    ("POST", "uploadId"): multipart.complete_multipart_upload,
    ("DELETE", "uploadId"): multipart.abort_multipart_upload,
    ("GET", "uploadId"): multipart.list_parts,
    ("GET", "tagging"): tagging.get_object_tagging,
    ("PUT", "tagging"): tagging.put_object_tagging,
    ("DELETE", "tagging"): tagging.delete_object_tagging,
    ("PUT", "symlink"): symlinks.put_symlink,
    ("GET", "symlink"): symlinks.get_symlink,
    # oss2 adds ?symlink to the params dict a caller passes to get_symlink and may
    # reuse for a delete; OSS deletes the link (or its version) then.
    ("DELETE", "symlink"): object_operations.delete_object_view,
    ("PUT", "acl"): object_acl.put_object_acl,
    ("GET", "acl"): object_acl.get_object_acl,
    ("POST", "restore"): restore.restore_object,
}

# ?policy&comp=callback is the bucket's callback policy (buckets/callbacks.py), a
# plain ?policy its bucket policy: both sub-resources route through one switch, so
# neither runs as the other. Resource groups: buckets/resource_groups.py.
for _method in ("GET", "PUT", "DELETE"):
    BUCKET_OPERATIONS[(_method, "policy")] = BUCKET_OPERATIONS[(_method, "comp")] = (
        callbacks.route_callback_policy(
            _method, BUCKET_OPERATIONS.get((_method, "policy"))
        )
    )
BUCKET_OPERATIONS[("GET", "resourceGroup")] = resource_groups.get_bucket_resource_group
BUCKET_OPERATIONS[("PUT", "resourceGroup")] = resource_groups.put_bucket_resource_group
# Data indexing (buckets/meta_query.py): routed by its own name; its POST reads `comp`
# itself (add / query / delete), so ?comp&metaQuery never reaches the callback policy.
BUCKET_OPERATIONS[("GET", "metaQuery")] = meta_query.meta_query_status
BUCKET_OPERATIONS[("POST", "metaQuery")] = meta_query.meta_query_operation
# Access points (buckets/access_point_operations.py): their operations; DeleteBucket
# waits until they are gone; PutBucket leaves their aliases' form to them.
BUCKET_OPERATIONS.update(access_point_operations.BUCKET_OPERATIONS)
BUCKET_OPERATIONS[("DELETE", None)] = access_point_operations.keeping_access_points(
    BUCKET_OPERATIONS[("DELETE", None)]
)
BUCKET_OPERATIONS[("PUT", None)] = access_point_operations.refusing_alias_names(
    BUCKET_OPERATIONS[("PUT", None)]
)

# SelectObject / CreateSelectObjectMeta (buckets/select/) are POST ?x-oss-process;
# on any other method (GET: image processing) it stays 501, never the plain operation.
OBJECT_OPERATIONS[("POST", "x-oss-process")] = select_views.process_object
for _method in ("GET", "HEAD", "PUT", "DELETE"):
    OBJECT_OPERATIONS[(_method, "x-oss-process")] = (
        select_views.processing_not_implemented
    )


# RTMP live channels (buckets/live/operations.py): ListLiveChannel at the bucket;
# one switch for the channel's operations, whichever of its names a query puts first.
BUCKET_OPERATIONS[("GET", "live")] = live_operations.list_live_channels
for _method in live_operations.ROUTED_METHODS:
    for _name in live_operations.ROUTED_NAMES:
        OBJECT_OPERATIONS[(_method, _name)] = live_operations.live_channel_operation


# QoS (buckets/qos_operations.py): the bucket's caps, and its requesters' caps
# (one switch for ?requesterQosInfo and ?qosRequester, whichever comes first).
for _method in ("GET", "PUT", "DELETE"):
    BUCKET_OPERATIONS[(_method, "qosInfo")] = getattr(
        qos_operations, f"{_method.lower()}_bucket_qos_info"
    )
    for _name in ("requesterQosInfo", "qosRequester"):
        BUCKET_OPERATIONS[(_method, _name)] = qos_operations.bucket_requester_operation


# The service level (GET / and the account's settings). ?regionList lists the
# buckets of every region: here, that is all of them.
SERVICE_OPERATIONS = {
    ("GET", None): bucket_operations.list_buckets,
    **access_point_operations.SERVICE_OPERATIONS,  # ListAccessPoints of the account
    ("GET", "regionList"): bucket_operations.list_buckets,
    # GetUserQoSInfo and the resource pools (buckets/qos_operations.py): one switch.
    **{
        (method, name): qos_operations.service_operation
        for method in ("GET", "PUT", "DELETE")
        for name in qos_operations.SERVICE_SUB_RESOURCES
    },
    **{
        (method, "publicAccessBlock"): operation
        for method, operation in access_operations.SERVICE_OPERATIONS.items()
    },
}


@oss_endpoint
def service_view(request):
    return route_service_operation(request, SERVICE_OPERATIONS)


@oss_endpoint
def object_view(request, bucket_name, key):
    qos.admit_request(request, bucket_name)  # QPS caps (buckets/qos.py)
    return route_to_operation(request, OBJECT_OPERATIONS, bucket_name, key)


@oss_endpoint
def bucket_view(request, bucket_name):
    qos.admit_request(request, bucket_name)  # QPS caps (buckets/qos.py)
    return route_to_operation(request, BUCKET_OPERATIONS, bucket_name)


_reserved = "|".join(sorted(RESERVED_BUCKET_NAMES))

urlpatterns = [
    path("", service_view, name="oss-service"),
    # Everything else whose first segment is not reserved is a bucket or object URL.
    re_path(
        rf"^(?!(?:{_reserved})(?:/|$))(?P<bucket_name>[^/]+)/?$",
        bucket_view,
        name="oss-bucket",
    ),
    re_path(
        rf"^(?!(?:{_reserved})(?:/|$))(?P<bucket_name>[^/]+)/(?P<key>[\s\S]+)$",
        object_view,
        name="oss-object",
    ),
]
