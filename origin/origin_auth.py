"""MirrorAuth: signing origin requests so a private bucket can be the origin (SPEC §10).

S3V4 is signed by botocore's own SigV4 signer; OSS is signed with this server's
OSS signature code (V1, or V4 when the rule names a region). Only this module
unseals the secret, and only to sign: it is never logged or put in a message.
"""

import re
from datetime import UTC, datetime
from email.utils import format_datetime
from urllib.parse import parse_qsl, quote, unquote, urlsplit

from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from buckets.models import unseal_secret
from buckets.signatures import (
    V4_ALGORITHM,
    v1_signature,
    v4_signature,
    v4_string_to_sign,
)
from buckets.sub_resources import V1_SUB_RESOURCES
from origin import engine

# bucket.oss-<region>[-internal].aliyuncs.com style endpoints: the bucket is in the host.
_OSS_VIRTUAL_HOST_RE = re.compile(r"^(?P<bucket>[a-z0-9][a-z0-9-]{1,61}[a-z0-9])\.oss-")
V4_PAYLOAD = "UNSIGNED-PAYLOAD"


def signer_for(auth):
    """A function (method, url, headers) -> headers with the signature, or None."""
    if auth is None:
        return None
    secret = unseal_secret(auth.sealed_secret)
    if auth.auth_type == engine.AUTH_S3V4:
        return lambda method, url, headers: _sign_s3v4(
            auth, secret, method, url, headers
        )
    if auth.region:
        return lambda method, url, headers: _sign_oss_v4(
            auth, secret, method, url, headers
        )
    return lambda method, url, headers: _sign_oss_v1(auth, secret, method, url, headers)


def _sign_s3v4(auth, secret, method, url, headers):
    request = AWSRequest(method=method, url=url, headers=dict(headers), data=b"")
    S3SigV4Auth(Credentials(auth.access_key_id, secret), "s3", auth.region).add_auth(
        request
    )
    return dict(request.headers.items())


def _oss_resource(url):
    """The decoded `/bucket/key` an OSS signature covers, path-style or virtual-hosted."""
    parts = urlsplit(url)
    path = parts.path or "/"
    match = _OSS_VIRTUAL_HOST_RE.match(parts.hostname or "")
    if match:
        path = f"/{match['bucket']}{path}"
    return path


def _sign_oss_v1(auth, secret, method, url, headers):
    signed = dict(headers)
    signed["Date"] = format_datetime(datetime.now(UTC), usegmt=True)
    sub_resources = sorted(
        (name, value)
        for name, value in parse_qsl(urlsplit(url).query, keep_blank_values=True)
        if name in V1_SUB_RESOURCES
    )
    resource = unquote(_oss_resource(url))
    if sub_resources:
        resource += "?" + "&".join(
            f"{name}={value}" if value else name for name, value in sub_resources
        )
    string_to_sign = "\n".join([method, "", "", signed["Date"], resource])
    signature = v1_signature(secret, string_to_sign)
    signed["Authorization"] = f"OSS {auth.access_key_id}:{signature}"
    return signed


def _sign_oss_v4(auth, secret, method, url, headers):
    now = datetime.now(UTC)
    date_time, date = now.strftime("%Y%m%dT%H%M%SZ"), now.strftime("%Y%m%d")
    signed = dict(headers)
    signed["x-oss-date"] = date_time
    signed["x-oss-content-sha256"] = V4_PAYLOAD
    # The URL's path is already encoded the way V4 canonicalises it (engine.encode_key).
    pairs = parse_qsl(urlsplit(url).query, keep_blank_values=True)
    encoded = sorted(
        (quote(name, safe="-_.~"), quote(value, safe="-_.~")) for name, value in pairs
    )
    canonical_query = "&".join(
        f"{name}={value}" if value else name for name, value in encoded
    )
    oss_headers = sorted(
        (name.lower(), value.strip())
        for name, value in signed.items()
        if name.lower().startswith("x-oss-")
    )
    canonical_request = "\n".join(
        [
            method,
            _oss_resource(url),
            canonical_query,
            "".join(f"{name}:{value}\n" for name, value in oss_headers),
            "",
            V4_PAYLOAD,
        ]
    )
    scope = f"{date}/{auth.region}/oss/aliyun_v4_request"
    signature = v4_signature(
        secret,
        date,
        auth.region,
        v4_string_to_sign(canonical_request, date_time, scope),
    )
    signed["Authorization"] = (
        f"{V4_ALGORITHM} Credential={auth.access_key_id}/{scope},Signature={signature}"
    )
    return signed
