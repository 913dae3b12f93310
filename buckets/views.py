"""The object endpoint: GET/HEAD /<bucket>/<key>, answered the OSS way.

Later layers plug in here: the Back-to-Origin middleware wraps would-be
NoSuchKey answers (it finds request.oss_bucket / request.oss_key and
response.oss_error_code), and signature checks set request.oss_user.
"""

import functools
import os

from django.core.exceptions import ValidationError
from django.db import connection
from django.http import HttpResponseRedirect, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from buckets import errors, signatures
from buckets.models import AccessKey, Bucket
from buckets.names import validate_object_key
from buckets.serving import serve_object

SAFE_METHODS = ("GET", "HEAD")


def oss_endpoint(view):
    """Check the signature, give every OSS answer a request id, render OssError as XML."""

    @csrf_exempt  # SDKs sign requests; console sessions only count for safe methods
    @functools.wraps(view)
    def wrapper(request, *args, **kwargs):
        request.oss_request_id = errors.new_request_id()
        try:
            access_key = signatures.authenticate(request, AccessKey.objects.find_active)
            request.oss_user = access_key.user if access_key else None
            response = view(request, *args, **kwargs)
        except errors.OssError as error:
            return error.response(request)
        response["x-oss-request-id"] = request.oss_request_id
        return response

    return wrapper


def request_user(request):
    """The user an OSS request acts as, or None for anonymous.

    The endpoint is CSRF-exempt, so a console session is trusted only for
    reads; writes will need a signature.
    """
    signed_user = getattr(request, "oss_user", None)
    if signed_user is not None:
        return signed_user
    if request.method in SAFE_METHODS and request.user.is_authenticated:
        return request.user
    return None


def get_bucket(name):
    try:
        return Bucket.objects.get(name=name)
    except Bucket.DoesNotExist:
        raise errors.no_such_bucket(name) from None


@oss_endpoint
def object_view(request, bucket_name, key):
    if request.method not in SAFE_METHODS:
        raise errors.method_not_allowed(request.method)
    bucket = get_bucket(bucket_name)
    if not bucket.readable_by(request_user(request)):
        raise errors.access_denied()
    try:
        validate_object_key(key)
    except ValidationError as error:
        raise errors.invalid_object_name(key, error.messages[0]) from None
    request.oss_bucket, request.oss_key = bucket, key
    obj = bucket.stored_objects.filter(key=key).first()
    if obj is None:
        raise errors.no_such_key(key)
    return serve_object(request, obj)


@oss_endpoint
def service_view(request):
    """GET / : browsers go to the console; anonymous API callers are refused."""
    if (
        "text/html" in request.headers.get("Accept", "")
        and "Authorization" not in request.headers
    ):
        return HttpResponseRedirect("/console/")
    raise errors.access_denied("Anonymous access is forbidden for this operation.")


def healthz(request):
    from django.conf import settings

    checks = {}
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        checks["database"] = "ok"
    except Exception as error:  # noqa: BLE001 - any failure means unhealthy
        checks["database"] = f"error: {type(error).__name__}"
    storage_ok = all(
        os.access(path, os.W_OK)
        for path in (
            settings.DATA_DIR,
            settings.OBJECT_TMP_DIR,
            settings.OBJECT_STORAGE_DIR,
        )
    )
    checks["storage"] = "ok" if storage_ok else "error: not writable"
    healthy = all(value == "ok" for value in checks.values())
    return JsonResponse(
        {"status": "ok" if healthy else "error", **checks},
        status=200 if healthy else 503,
    )
