"""OSS sub-resources this server does not implement, and what it answers for them.

OSS picks the operation by the sub-resource a request names (`?symlink`,
`?worm`, ...). A request that names one this server lacks must never run as
the plain PutObject, DeleteObject, DeleteBucket or ListObjects (SPEC §9): before
routing, views.route_to_operation asks `answer()`. It gives OSS's own answer
where "nothing of that kind is configured" is the truth and cheap (404
NoSuchLifecycle, ...), so SDK clients keep working, and 501
NotImplemented for everything else, above all for anything that would set
something.

Every query name falls in one of three classes:
  (a) a sub-resource the route table implements at that level
      (config/oss_urls.py);
  (b) PARAMETERS below: sub-resource names that only modify an implemented
      operation (other query names, such as prefix, marker, max-keys, list-type,
      encoding-type or the signature's own, are not sub-resources at all);
  (c) any other OSS sub-resource (sub_resources.V1_SUB_RESOURCES, oss2's list):
      a feature this server does not have.
"""

from buckets import access_point_operations, errors
from buckets.object_operations import RESPONSE_OVERRIDES
from buckets.oss_access import (
    empty_response,
    get_bucket,
    owned_bucket,
)
from buckets.sub_resources import V1_SUB_RESOURCES

PARAMETERS = frozenset(
    {
        *RESPONSE_OVERRIDES,  # GetObject's response-* header overrides
        "position",  # AppendObject's offset
        "continuation-token",  # ListObjectsV2 paging
        "security-token",  # an STS token on a presigned URL: input to authentication
        # A bandwidth cap on GetObject/PutObject: OSS sends the same bytes, only slower.
        "x-oss-traffic-limit",
        "x-oss-request-payer",  # who is billed for the request; nobody is, here
        # Which version of the object (buckets/versioning.py): the object operations
        # find it through oss_access.readable_object / writable_object.
        "versionId",
        # A presigned upload's callback (buckets/callbacks.py); other operations
        # ignore it, as on OSS.
        "callback",
        "callback-var",
    }
)


def answer(request, implemented, bucket_name=None, key=None):
    """OSS's answer if the query names a sub-resource not in `implemented` (this
    level's: service, bucket or object), else None: the request routes as usual."""
    target = tuple(part for part in (bucket_name, key) if part is not None)
    level = ("service", "bucket", "object")[len(target)]
    for name in unsupported_names(request.GET, implemented):
        answer_for = NOTHING_CONFIGURED.get((level, request.method, name))
        if answer_for is None:
            if bucket_name is not None:
                get_bucket(bucket_name)  # a missing bucket is still NoSuchBucket
            raise errors.not_implemented(name)
        response = answer_for(request, *target)
        if response is not None:
            return response
    return None


def unsupported_names(query, implemented):
    """The OSS sub-resources in `query` that are neither in `implemented` nor
    PARAMETERS, versionId first: a version that does not exist answers 404
    whatever was asked of it."""
    names = [
        name
        for name in query
        if name in V1_SUB_RESOURCES
        and name not in implemented
        and name not in PARAMETERS
    ]
    return sorted(names, key=lambda name: name != "versionId")


# -- "nothing configured" answers -----------------------------------------------------


def _not_configured(code, message):
    def bucket_answer(request, bucket_name):
        owned_bucket(request, bucket_name)
        raise errors.not_configured(code, message, bucket_name)

    return bucket_answer


def _nothing_to_delete(request, bucket_name):
    """Deleting a configuration that does not exist succeeds, as on OSS."""
    owned_bucket(request, bucket_name)
    return empty_response(204)


# (level, method, sub-resource) -> the answer when nothing of that kind can exist
# here; every other (level, method, unimplemented sub-resource) is 501. Nothing
# that would set something is in this table.
NOTHING_CONFIGURED = {
    ("bucket", "GET", "transferAcceleration"): _not_configured(
        "NoSuchTransferAccelerationConfiguration",
        "The bucket transfer acceleration configuration does not exist.",
    ),
    **{
        # An access point's Block Public Access (buckets/access_point_operations.py):
        # answered here, so it never runs as the bucket's own ?publicAccessBlock.
        ("bucket", method, "x-oss-access-point-name"): (
            access_point_operations.public_access_block
        )
        for method in ("GET", "PUT", "DELETE")
    },
}
