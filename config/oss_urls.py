"""The OSS endpoint's URLs and route tables: the project composes the apps here.

Bucket and object operations come from buckets/, the ?website operations from
origin/; buckets/ itself never imports origin/.
"""

from django.urls import path, re_path

from buckets import (
    bucket_operations,
    bucket_stat,
    cors,
    lifecycle,
    multipart,
    object_acl,
    object_operations,
    referer,
    symlinks,
    tagging,
)
from buckets.names import RESERVED_BUCKET_NAMES
from buckets.views import oss_endpoint, route_to_operation, service_view
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
    ("PUT", "acl"): object_acl.put_object_acl,
    ("GET", "acl"): object_acl.get_object_acl,
}


@oss_endpoint
def object_view(request, bucket_name, key):
    return route_to_operation(request, OBJECT_OPERATIONS, bucket_name, key)


@oss_endpoint
def bucket_view(request, bucket_name):
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
