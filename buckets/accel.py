"""X-Accel-Redirect mode: the product authorises a GET, nginx sends the file.

With ACCEL_REDIRECT_LOCATION set (deploy/nginx.conf's `internal` location), a GET
answered with a whole local blob, byte for byte, gets the same status and headers
with an empty body and `X-Accel-Redirect: <location><blob path>`; nginx then sends
the file with sendfile. Everything else (ranges, HEAD, conditionals, decryption,
compression, paced transfers, the S3 blob store) is answered as before.

nginx keeps only a few of the upstream headers across the redirect; the internal
location restores RESTORED_BY_NGINX from `$upstream_http_*`. An answer carrying a
header outside those lists (x-oss-meta-*, an encryption header) is not handed over,
so a client sees the same headers either way.
"""

import re
from pathlib import Path

from django.conf import settings
from django.http import FileResponse

from buckets.storage import local_path

# Copied from the upstream answer by nginx itself on X-Accel-Redirect (its
# ngx_http_upstream_headers_in table); Content-Length it sets from the file.
KEPT_BY_NGINX = frozenset(
    {
        "content-type",
        "content-disposition",
        "cache-control",
        "expires",
        "accept-ranges",
        "content-length",
        "set-cookie",
    }
)
# Restored by deploy/nginx.conf's internal location (`add_header NAME
# $upstream_http_NAME`): every fixed name a whole-object GET can carry.
# tests/test_accel.py keeps this list and the configuration in step.
RESTORED_BY_NGINX = (
    "ETag",
    "Last-Modified",
    "Content-Encoding",
    "Content-Language",
    "Vary",
    "x-oss-request-id",
    "x-oss-object-type",
    "x-oss-storage-class",
    "x-oss-hash-crc64ecma",
    "x-oss-tag",
    "x-oss-tagging-count",
    "x-oss-restore",
    "x-oss-last-access-time",
    "x-oss-version-id",
    "Access-Control-Allow-Origin",
    "Access-Control-Allow-Methods",
    "Access-Control-Allow-Headers",
    "Access-Control-Expose-Headers",
    "Access-Control-Max-Age",
    "Access-Control-Allow-Credentials",
    "X-Frame-Options",
    "X-Content-Type-Options",
    "Referrer-Policy",
    "Cross-Origin-Opener-Policy",
)
HANDED_OVER = KEPT_BY_NGINX | {name.lower() for name in RESTORED_BY_NGINX}
# nginx would evaluate these itself against the file (its own ETag, mtime, ranges).
_REQUEST_HEADERS_NGINX_WOULD_ACT_ON = (
    "Range",
    "If-Range",
    "If-Match",
    "If-None-Match",
    "If-Modified-Since",
    "If-Unmodified-Since",
)
# What buckets.storage.new_blob_name makes: random hex, never derived from a key.
_BLOB_PATH_RE = re.compile(r"[0-9a-f]{2}/[0-9a-f]{2}/[0-9a-f]{32}")


def hand_to_front(request, response, obj, link=None):
    """`response`, or the same answer for nginx to send the bytes of: emptied, with
    X-Accel-Redirect naming `obj`'s blob (`link`: the symlink asked for, if any).
    The file it held is closed."""
    path = _redirect_path(request, response, obj, link)
    if path is None:
        return response
    response.file_to_stream.close()
    # Content-Length stays the object's size, which nginx sends: the answer is only
    # ever read by nginx, and a client reaching gunicorn directly sees a short body
    # (an error), never a complete-looking empty object.
    response.streaming_content = ()
    response["X-Accel-Redirect"] = path
    return response


def _redirect_path(request, response, obj, link):
    """The X-Accel-Redirect target when nginx would send exactly these bytes and
    headers, else None."""
    location = settings.ACCEL_REDIRECT_LOCATION
    if not location or not _whole_file_answer(request, response, obj, link):
        return None
    blob_path = _blob_path(obj)
    if blob_path is None or not _headers_survive(response):
        return None
    return location + blob_path


def _whole_file_answer(request, response, obj, link):
    """A 200 GET of the requested object's stored bytes as they are (no range, no
    conditional, no decryption, no transform: FileResponse is the sendfile path)."""
    return (
        request.method == "GET"
        and isinstance(response, FileResponse)
        and response.status_code == 200
        and not obj.encryption
        and _is_requested_object(request, link or obj)
        and not any(
            name in request.headers for name in _REQUEST_HEADERS_NGINX_WOULD_ACT_ON
        )
    )


def _is_requested_object(request, served):
    """Only the key asked for: an error document served for another key gets its
    status changed afterwards, which nginx would not keep."""
    asked = getattr(request, "oss_get_object", None)
    return (
        asked is not None
        and asked.bucket.pk == served.bucket_id
        and asked.key == served.key
    )


def _blob_path(obj):
    """The blob's path under OBJECT_STORAGE_DIR: a random name, never the key."""
    path = local_path(obj.blob)
    if path is None:  # OBJECT_STORAGE=s3: no file nginx could open
        return None
    try:
        relative = Path(path).relative_to(settings.OBJECT_STORAGE_DIR).as_posix()
    except ValueError:
        return None
    return relative if _BLOB_PATH_RE.fullmatch(relative) else None


def _headers_survive(response):
    """Whether nginx keeps or restores every header: not x-oss-meta-*, whose names
    no configuration can list, nor the encryption headers."""
    return all(name.lower() in HANDED_OVER for name in response.headers)
