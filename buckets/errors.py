"""OSS error responses: an XML body, the right status, and x-oss-request-id."""

import base64
import errno
import logging
import secrets

from django.db import DatabaseError
from django.http import HttpResponse, UnreadablePostError

from buckets import oss_xml
from buckets.body import IncompleteBody

logger = logging.getLogger(__name__)


def new_request_id():
    return secrets.token_hex(12).upper()


class OssError(Exception):
    """Raised anywhere below an OSS view; the view wrapper renders it."""

    def __init__(self, status, code, message, **details):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = details
        self.headers = {}  # extra response headers, e.g. Content-Range on 416

    def to_xml(self, request_id, host_id=""):
        fields = {
            "Code": self.code,
            "Message": self.message,
            "RequestId": request_id,
            "HostId": host_id,
            **self.details,
        }
        return oss_xml.xml_document(
            oss_xml.element(
                "Error",
                children=[
                    oss_xml.element(name, value) for name, value in fields.items()
                ],
            )
        )

    def response(self, request):
        request_id = getattr(request, "oss_request_id", None) or new_request_id()
        body = self.to_xml(request_id, request.get_host())
        response = HttpResponse(status=self.status, content_type="application/xml")
        if request.method == "HEAD":
            # HEAD has no body, so OSS carries the error document in a header.
            response["x-oss-err"] = base64.b64encode(body).decode("ascii")
        else:
            response.content = body
        response["Content-Length"] = str(len(response.content))
        response["x-oss-request-id"] = request_id
        if "EC" in self.details:  # OSS's error code detail, also as a header
            response["x-oss-ec"] = self.details["EC"]
        for name, value in self.headers.items():
            response[name] = value
        return response


def no_such_bucket(name):
    return OssError(
        404, "NoSuchBucket", "The specified bucket does not exist.", BucketName=name
    )


def no_such_key(key):
    return OssError(
        404,
        "NoSuchKey",
        "The specified key does not exist.",
        Key=key,
        EC="0026-00000001",  # OSS's EC for it; SDKs expose it
    )


def access_denied(
    message="You have no right to access this object because of bucket acl.",
):
    return OssError(403, "AccessDenied", message)


def invalid_object_name(key, reason):
    return OssError(400, "InvalidObjectName", reason, Key=key)


def invalid_range(size):
    error = OssError(
        416,
        "InvalidRange",
        "The requested range cannot be satisfied.",
        ActualObjectSize=size,
    )
    error.headers["Content-Range"] = f"bytes */{size}"
    return error


def precondition_failed(condition):
    return OssError(
        412,
        "PreconditionFailed",
        "At least one of the pre-conditions you specified did not hold.",
        Condition=condition,
    )


def method_not_allowed(method):
    return OssError(
        405,
        "MethodNotAllowed",
        "The specified method is not allowed against this resource.",
        Method=method,
    )


def invalid_argument(message, name, value):
    return OssError(
        400, "InvalidArgument", message, ArgumentName=name, ArgumentValue=value
    )


def malformed_xml(
    message="The XML you provided was not well-formed or did not validate against our published schema.",
):
    return OssError(400, "MalformedXML", message)


def not_implemented(feature):
    return OssError(
        501,
        "NotImplemented",
        f"The {feature} feature is not implemented by this server.",
    )


def not_configured(code, message, bucket_name):
    """404 for a bucket configuration that does not exist (NoSuchLifecycle, ...)."""
    return OssError(404, code, message, BucketName=bucket_name)


def no_such_upload(upload_id):
    return OssError(
        404,
        "NoSuchUpload",
        "The specified upload does not exist.",
        UploadId=upload_id,
    )


def no_such_version(key, version_id):
    return OssError(
        404,
        "NoSuchVersion",
        "The specified version does not exist.",
        Key=key,
        VersionId=version_id,
    )


def incomplete_body():
    return OssError(
        400,
        "IncompleteBody",
        "The request body ended before the Content-Length it declared (or its last chunk); nothing was saved.",
    )


def insufficient_storage():
    return OssError(
        507,
        "InsufficientStorage",
        "There is not enough free storage to save this object; nothing was saved.",
    )


def internal_error():
    return OssError(
        500,
        "InternalError",
        "We encountered an internal error; nothing was saved. Please try again.",
    )


def slow_down(retry_after_seconds):
    error = OssError(
        503,
        "SlowDown",
        "Too many origin fetches are running; please retry shortly.",
    )
    error.headers["Retry-After"] = str(retry_after_seconds)
    return error


def is_disk_full(error):
    """ENOSPC from the file system, or a database that ran out of space."""
    if isinstance(error, OSError):
        return error.errno in (errno.ENOSPC, errno.EDQUOT)
    text = str(error).lower()
    return isinstance(error, DatabaseError) and (
        "disk is full" in text or "no space left" in text
    )


def from_exception(error):
    """The OSS answer for anything an OSS request raised: never an HTML page."""
    if isinstance(error, OssError):
        return error
    if isinstance(error, IncompleteBody | UnreadablePostError):
        return incomplete_body()
    if is_disk_full(error):
        logger.warning("storage full: %s", error)
        return insufficient_storage()
    logger.error("internal error", exc_info=error)
    return internal_error()
