"""The OSS endpoint's parts: the `oss_endpoint` envelope (signature, request id,
OssError as XML), routing by (method, sub-resource), ListBuckets and /healthz.

The route tables that pick bucket and object operations are composed in
config/oss_urls.py, so that origin's ?website operations can join them.
"""

import functools
import os

from django.conf import settings
from django.db import connection
from django.http import HttpResponseRedirect, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from buckets import (
    blob_store,
    cors,
    errors,
    signatures,
    storage,
    unsupported,
)
from buckets.body import PATH_NOT_UTF8, drain
from buckets.models import AccessKey
from buckets.oss_access import body_stream, get_bucket
from buckets.unread_body import CLOSE_CONNECTION


def oss_endpoint(view):
    """Check the signature, give every OSS answer a request id, render OssError as XML."""

    @csrf_exempt  # SDKs sign requests; console sessions only count for safe methods
    @functools.wraps(view)
    def wrapper(request, *args, **kwargs):
        request.oss_request_id = errors.new_request_id()
        try:
            _check_path_is_utf8(request)
            # A CORS preflight is never signed: it goes to the URL the browser is
            # about to call, and a signed URL's signature is for that other method.
            preflight = request.method == "OPTIONS"
            request.oss_user = (
                None if preflight else _signed_user(request, kwargs.get("bucket_name"))
            )
            response = view(request, *args, **kwargs)
        except Exception as error:  # noqa: BLE001 - every failure is an OSS error document
            response = errors.from_exception(error).response(request)
            # An upload refused before its body was read: read the rest, or end the
            # connection with this answer (a GET's stray body ends it anyway). A
            # client that waits for "100 Continue" has sent nothing and never will.
            if request.method in ("PUT", "POST"):
                waiting = "100-continue" in request.headers.get("Expect", "").lower()
                if waiting or not drain(body_stream(request)):
                    request.META[CLOSE_CONNECTION] = True
            return response
        response["x-oss-request-id"] = request.oss_request_id
        return response

    return wrapper


def _signed_user(request, bucket_name):
    """The user the request is signed by (None: anonymous). As in OSS, a request on a
    bucket that does not exist is NoSuchBucket before its signature is judged: the
    SDKs' bucket-exists checks rely on that order. Creating a bucket is the exception."""
    try:
        access_key = signatures.authenticate(request, AccessKey.objects.find_active)
    except errors.OssError:
        creating = (
            request.method == "PUT"
            and not request.GET
            and "/" not in (request.path_info.strip("/"))
        )
        if bucket_name and not creating and not _bucket_exists(bucket_name):
            raise errors.no_such_bucket(bucket_name) from None
        raise
    return access_key.user if access_key else None


def _bucket_exists(name):
    """Whether `name` is a bucket or an access point's alias for one."""
    try:
        get_bucket(name)
    except errors.OssError:
        return False
    return True


def _check_path_is_utf8(request):
    """Refuse keys that are not UTF-8: Django would re-percent-encode the broken
    bytes, and `/bucket/bad%ff` would be saved under the literal key `bad%FF`.
    (Django overwrites PATH_INFO with its decoded form; the WSGI entry point
    marks the raw path first, see buckets.body.mark_path_encoding.)"""
    if request.META.get(PATH_NOT_UTF8):
        raise errors.invalid_object_name(
            request.path_info, "The object name is not valid UTF-8."
        )


def route_to_operation(request, operations, *args):
    """Run the operation `operations` maps (method, sub-resource) to; None is the
    plain resource."""
    if request.method == "OPTIONS":
        # A CORS preflight, for whatever URL (and query) the browser is about to call.
        return cors.preflight(request, *args)
    implemented = {sub for _method, sub in operations if sub}
    # Other OSS sub-resources never run as the plain operation (SPEC §9).
    answer = unsupported.answer(request, implemented, *args)
    if answer is not None:
        return answer
    # The first sub-resource named that this method implements (?partNumber&uploadId
    # is UploadPart's as much as ?uploadId&partNumber); else the first named (405).
    named = [name for name in request.GET if name in implemented]
    sub_resource = next(
        (name for name in named if (request.method, name) in operations),
        named[0] if named else None,
    )
    operation = operations.get((request.method, sub_resource))
    if operation is None:
        raise errors.method_not_allowed(request.method)
    # A query naming two operations' sub-resources (?append&live) runs neither.
    for name in named:
        if operations.get((request.method, name), operation) is not operation:
            raise errors.not_implemented(name)
    # Which operation this is, for the bucket policy's actions (buckets.bucket_policy).
    request.oss_route = (
        ("bucket", "object")[len(args) - 1],
        request.method,
        sub_resource,
    )
    return operation(request, *args)


def route_service_operation(request, operations):
    """GET / : browsers go to the console; signed requests list buckets. Other
    service-level operations are named by their sub-resource, as at the bucket
    level (`operations` maps (method, sub-resource) to the operation)."""
    implemented = {sub for _method, sub in operations if sub}
    answer = unsupported.answer(request, implemented)
    if answer is not None:
        return answer
    sub_resource = next((name for name in request.GET if name in implemented), None)
    operation = operations.get((request.method, sub_resource))
    if operation is None:
        raise errors.method_not_allowed(request.method)
    if (
        sub_resource is None
        and request.oss_user is None
        and "text/html" in request.headers.get("Accept", "")
    ):
        return HttpResponseRedirect("/console/")
    request.oss_route = ("service", request.method, sub_resource)
    return operation(request)


def healthz(request):
    checks = {}
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        checks["database"] = "ok"
    except Exception as error:  # noqa: BLE001 - any failure means unhealthy
        checks["database"] = f"error: {type(error).__name__}"
    local_dirs = [settings.DATA_DIR, settings.OBJECT_TMP_DIR]
    if blob_store.uses_s3():
        try:
            blob_store.objects().check_reachable()
        except Exception as error:  # noqa: BLE001 - any failure means unhealthy
            checks["object_store"] = f"error: {type(error).__name__}"
        else:
            checks["object_store"] = "ok"
    else:
        local_dirs.append(settings.OBJECT_STORAGE_DIR)
    storage_ok = all(os.access(path, os.W_OK) for path in local_dirs)
    free = storage.free_bytes()
    if not storage_ok:
        checks["storage"] = "error: not writable"
    elif free < settings.MIN_FREE_BYTES:
        checks["storage"] = f"error: {free} bytes free, below MIN_FREE_BYTES"
    else:
        checks["storage"] = "ok"
    healthy = all(value == "ok" for value in checks.values())
    return JsonResponse(
        {"status": "ok" if healthy else "error", **checks},
        status=200 if healthy else 503,
    )
