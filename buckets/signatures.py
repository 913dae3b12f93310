"""OSS request signatures, V1 (HMAC-SHA1), V2 (OSS2, HMAC-SHA256) and V4
(OSS4-HMAC-SHA256), header and presigned.

`authenticate(request)` returns the AccessKey a request is signed with, None for an
anonymous request, or raises OssError. The string-to-sign builders are pure
functions of the request's parts (reference §4.2, §4.3).
"""

import base64
import hashlib
import hmac
import re
import time
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from urllib.parse import parse_qsl, quote

from django.conf import settings

from buckets.errors import OssError
from buckets.header_text import from_wire
from buckets.numbers import parse_decimal
from buckets.sub_resources import V1_SUB_RESOURCES

MAX_CLOCK_SKEW_SECONDS = 15 * 60
MAX_PRESIGN_SECONDS = 7 * 24 * 3600  # OSS's cap on x-oss-expires
MAX_EPOCH_SECONDS = 10**12 - 1  # a V1 Expires beyond year 30000 is not a date
V4_ALGORITHM = "OSS4-HMAC-SHA256"
V4_DEFAULT_SIGNED_HEADERS = ("content-type", "content-md5")

V1_PRESIGN_PARAMETERS = ("OSSAccessKeyId", "Expires", "Signature")
V2_SCHEME = "OSS2"
V4_PRESIGN_PARAMETERS = (
    "x-oss-signature-version",
    "x-oss-credential",
    "x-oss-date",
    "x-oss-expires",
    "x-oss-signature",
)


def invalid_access_key(key_id):
    return OssError(
        403,
        "InvalidAccessKeyId",
        "The OSS Access Key Id you provided does not exist in our records.",
        OSSAccessKeyId=key_id,
    )


def signature_mismatch(string_to_sign, key_id):
    data = string_to_sign.encode("utf-8")
    return OssError(
        403,
        "SignatureDoesNotMatch",
        "The request signature we calculated does not match the signature you provided. Check your key and signing method.",
        OSSAccessKeyId=key_id,
        StringToSign=string_to_sign,
        StringToSignBytes=" ".join(f"{byte:02x}" for byte in data),
    )


def _bad_request(message, name="", value=""):
    details = {"ArgumentName": name, "ArgumentValue": value} if name else {}
    return OssError(400, "InvalidArgument", message, **details)


def _expired(expires):
    return OssError(
        403,
        "AccessDenied",
        "Request has expired.",
        Expires=expires,
        ServerTime=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
    )


def _skewed(request_time):
    return OssError(
        403,
        "RequestTimeTooSkewed",
        "The difference between the request time and the current time is too large.",
        RequestTime=request_time,
        ServerTime=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z"),
    )


# -- request parts --------------------------------------------------------------


def query_pairs(request):
    """Decoded (name, value) pairs of the query string, in order, blanks kept."""
    return parse_qsl(request.META.get("QUERY_STRING", ""), keep_blank_values=True)


def resource_path(request):
    """`/bucket/key` (decoded), `/bucket/` for bucket operations, `/` for the service."""
    path = request.path_info or "/"
    if path != "/" and path.count("/") == 1:
        path += "/"  # "/bucket" is the bucket itself
    return path


def _content_types(request):
    """The Content-Type to verify with, and the empty one too when it may be invented.

    wsgiref (runserver, Django's live server) fills in text/plain for requests that
    had none; SDKs sign GETs without one, so that value is also tried as absent.
    """
    content_type = request.META.get("CONTENT_TYPE", "")
    return [content_type, ""] if content_type == "text/plain" else [content_type]


def _oss_headers(request):
    return sorted(
        (name.lower(), from_wire(value))
        for name, value in request.headers.items()
        if name.lower().startswith("x-oss-")
    )


# -- V1 ------------------------------------------------------------------------------


def v1_canonical_resource(request, exclude=()):
    sub_resources = sorted(
        (name, value)
        for name, value in query_pairs(request)
        if name in V1_SUB_RESOURCES and name not in exclude
    )
    resource = resource_path(request)
    if sub_resources:
        resource += "?" + "&".join(
            f"{name}={value}" if value else name for name, value in sub_resources
        )
    return resource


def v1_string_to_sign(request, date_value, content_type=None):
    canonical_headers = "".join(
        f"{name}:{value}\n" for name, value in _oss_headers(request)
    )
    return "\n".join(
        [
            request.method,
            request.headers.get("content-md5", ""),
            request.META.get("CONTENT_TYPE", "")
            if content_type is None
            else content_type,
            date_value,
            canonical_headers
            + v1_canonical_resource(request, exclude=V1_PRESIGN_PARAMETERS),
        ]
    )


def v1_signature(secret, string_to_sign):
    digest = hmac.new(
        secret.encode("utf-8"), string_to_sign.encode("utf-8"), hashlib.sha1
    ).digest()
    return base64.b64encode(digest).decode("ascii")


# -- V2 ------------------------------------------------------------------------------


def _v2_encode(value):
    # Every byte but the unreserved ones, "/" included (oss2's v2_uri_encode).
    return quote(value, safe="-_.~")


def v2_string_to_sign(request, date_value, additional_headers, content_type=None):
    """V2's string-to-sign: V1's lines, then the AdditionalHeaders line, then the
    whole path (slashes encoded) with every query parameter but the signature."""
    signed_headers = sorted(
        (name.lower(), from_wire(value))
        for name, value in request.headers.items()
        if name.lower().startswith("x-oss-") or name.lower() in additional_headers
    )
    pairs = sorted(
        (_v2_encode(name), _v2_encode(value))
        for name, value in query_pairs(request)
        if name != "x-oss-signature"
    )
    query = "&".join(f"{name}={value}" if value else name for name, value in pairs)
    return "\n".join(
        [
            request.method,
            request.headers.get("content-md5", ""),
            request.META.get("CONTENT_TYPE", "")
            if content_type is None
            else content_type,
            date_value,
            "".join(f"{name}:{value}\n" for name, value in signed_headers)
            + ";".join(sorted(additional_headers)),
            _v2_encode(resource_path(request)) + (f"?{query}" if query else ""),
        ]
    )


def v2_signature(secret, string_to_sign):
    digest = hmac.new(
        secret.encode("utf-8"), string_to_sign.encode("utf-8"), hashlib.sha256
    ).digest()
    return base64.b64encode(digest).decode("ascii")


def _parse_v2_authorization(value):
    """{AccessKeyId, AdditionalHeaders, Signature} of `OSS2 AccessKeyId:...,...`."""
    fields = {}
    for part in value[len(V2_SCHEME) :].split(","):
        name, _, field = part.strip().partition(":")
        if name:
            fields[name] = field.strip()
    if not fields.get("AccessKeyId") or not fields.get("Signature"):
        raise _bad_request(
            "The Authorization header is malformed.", "Authorization", value
        )
    return fields


def _additional_header_names(value):
    return {name.strip().lower() for name in (value or "").split(";") if name.strip()}


# -- V4 ------------------------------------------------------------------------------


def _v4_encode(value, keep_slash):
    return quote(value, safe="-_.~" + ("/" if keep_slash else ""))


def v4_canonical_request(request, additional_headers, *, presigned, content_type=None):
    pairs = [
        (name, value)
        for name, value in query_pairs(request)
        if not (presigned and name == "x-oss-signature")
    ]
    encoded = sorted(
        (_v4_encode(name, False), _v4_encode(value, False)) for name, value in pairs
    )
    canonical_query = "&".join(
        f"{name}={value}" if value else name for name, value in encoded
    )
    signed = {}
    for name, value in request.headers.items():
        lowered = name.lower()
        if (
            lowered.startswith("x-oss-")
            or lowered in V4_DEFAULT_SIGNED_HEADERS
            or lowered in additional_headers
        ):
            signed[lowered] = from_wire(value)
    if content_type is not None:
        signed["content-type"] = content_type
    if not signed.get("content-type"):
        signed.pop("content-type", None)  # a request without a body type signs none
    canonical_headers = "".join(
        f"{name}:{value}\n" for name, value in sorted(signed.items())
    )
    payload = (
        "UNSIGNED-PAYLOAD"
        if presigned
        else request.headers.get("x-oss-content-sha256", "UNSIGNED-PAYLOAD")
    )
    return "\n".join(
        [
            request.method,
            _v4_encode(resource_path(request), True),
            canonical_query,
            canonical_headers,
            ";".join(sorted(additional_headers)),
            payload,
        ]
    )


def v4_string_to_sign(canonical_request, date_time, scope):
    return "\n".join(
        [
            V4_ALGORITHM,
            date_time,
            scope,
            hashlib.sha256(canonical_request.encode("utf-8")).hexdigest(),
        ]
    )


def v4_signature(secret, date, region, string_to_sign, product="oss"):
    key = ("aliyun_v4" + secret).encode("utf-8")
    for part in (date, region, product, "aliyun_v4_request"):
        key = hmac.new(key, part.encode("utf-8"), hashlib.sha256).digest()
    return hmac.new(key, string_to_sign.encode("utf-8"), hashlib.sha256).hexdigest()


def _parse_v4_authorization(value):
    fields = {}
    for part in value[len(V4_ALGORITHM) :].split(","):
        name, _, field = part.strip().partition("=")
        if name:
            fields[name.strip()] = field.strip()
    if "Credential" not in fields or "Signature" not in fields:
        raise _bad_request(
            "The Authorization header is malformed.", "Authorization", value
        )
    if "AdditionalHeaders" in fields and not fields["AdditionalHeaders"]:
        raise _bad_request(
            "AdditionalHeaders must not be empty.", "AdditionalHeaders", ""
        )
    return fields


def _parse_credential(credential):
    parts = credential.split("/")
    if (
        len(parts) != 5
        or parts[4] != "aliyun_v4_request"
        or not re.fullmatch(r"\d{8}", parts[1])
    ):
        raise _bad_request(
            "The credential scope is malformed.", "Credential", credential
        )
    key_id, date, region, product, _terminator = parts
    return key_id, date, region, product


def _parse_v4_time(value):
    try:
        return (
            datetime.strptime(value, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC).timestamp()
        )
    except ValueError:
        raise _bad_request(
            "x-oss-date is not in the YYYYMMDDTHHMMSSZ format.", "x-oss-date", value
        ) from None


# -- verification -----------------------------------------------------------------


def _check_skew(timestamp, shown):
    if abs(time.time() - timestamp) > MAX_CLOCK_SKEW_SECONDS:
        raise _skewed(shown)


def _matches(expected, given):
    return hmac.compare_digest(expected.encode("utf-8"), given.encode("utf-8"))


def authenticate(request, find_key):
    """The access key a request is signed with, None when it is not signed.

    `find_key(key_id)` returns the active key or None.
    """
    authorization = request.headers.get("Authorization", "")
    params = dict(query_pairs(request))
    if authorization.startswith("OSS "):
        return _verify_v1_header(request, authorization, find_key)
    if authorization.startswith(V2_SCHEME + " "):
        return _verify_v2_header(request, authorization, find_key)
    if authorization.startswith(V4_ALGORITHM):
        return _verify_v4(
            request,
            _parse_v4_authorization(authorization),
            request.headers.get("x-oss-date", ""),
            find_key,
            presigned=False,
        )
    if "OSSAccessKeyId" in params and "Signature" in params:
        return _verify_v1_presigned(request, params, find_key)
    if params.get("x-oss-signature-version") == V2_SCHEME:
        return _verify_v2_presigned(request, params, find_key)
    if params.get("x-oss-signature-version") == V4_ALGORITHM:
        fields = {
            "Credential": params.get("x-oss-credential", ""),
            "Signature": params.get("x-oss-signature", ""),
            "AdditionalHeaders": params.get("x-oss-additional-headers"),
        }
        return _verify_v4(
            request,
            fields,
            params.get("x-oss-date", ""),
            find_key,
            presigned=True,
            expires=params.get("x-oss-expires", ""),
        )
    if authorization:
        raise _bad_request(
            "The Authorization header is not an OSS signature.",
            "Authorization",
            authorization[:40],
        )
    return None


def _key_or_error(find_key, key_id):
    key = find_key(key_id)
    if key is None:
        raise invalid_access_key(key_id)
    return key


def _check_date_header(request):
    """x-oss-date (or else Date), which must be within 15 minutes of now."""
    date_value = request.headers.get("x-oss-date") or request.headers.get("Date", "")
    try:
        _check_skew(parsedate_to_datetime(date_value).timestamp(), date_value)
    except (TypeError, ValueError):
        raise OssError(
            403, "AccessDenied", "The request has no valid Date header."
        ) from None
    return date_value


def _check_expires(expires, name):
    """An absolute expiry time (seconds since the epoch) that has not passed yet."""
    try:
        expires_at = parse_decimal(expires, max_value=MAX_EPOCH_SECONDS)
    except ValueError:
        raise _bad_request(
            f"{name} must be a number of seconds since the epoch.", name, expires
        ) from None
    if expires_at < time.time():
        raise _expired(expires)


def _verify_v1_header(request, authorization, find_key):
    key_id, _, signature = authorization[4:].strip().rpartition(":")
    if not key_id or not signature:
        raise _bad_request(
            "The Authorization header is malformed.", "Authorization", authorization
        )
    date_value = _check_date_header(request)
    key = _key_or_error(find_key, key_id)
    return _check_v1(request, key, date_value, signature, key_id)


def _verify_v1_presigned(request, params, find_key):
    expires = params.get("Expires", "")
    _check_expires(expires, "Expires")
    key = _key_or_error(find_key, params["OSSAccessKeyId"])
    return _check_v1(
        request, key, expires, params["Signature"], params["OSSAccessKeyId"]
    )


def _v4_lifetime(expires):
    """x-oss-expires in seconds, at most MAX_PRESIGN_SECONDS.

    A negative lifetime is simply expired (oss2 signs one for "already expired"),
    however many digits it has.
    """
    negative = expires.startswith("-")
    try:
        seconds = parse_decimal(
            expires.removeprefix("-"), max_value=MAX_PRESIGN_SECONDS, clamp=negative
        )
    except ValueError:
        raise _bad_request(
            f"x-oss-expires must be a number of seconds up to {MAX_PRESIGN_SECONDS}.",
            "x-oss-expires",
            expires,
        ) from None
    return -seconds if negative else seconds


def _check_v1(request, key, date_value, signature, key_id):
    strings = [
        v1_string_to_sign(request, date_value, content_type)
        for content_type in _content_types(request)
    ]
    if not any(
        _matches(v1_signature(key.secret, string), signature) for string in strings
    ):
        raise signature_mismatch(strings[0], key_id)
    return key


def _verify_v2_header(request, authorization, find_key):
    fields = _parse_v2_authorization(authorization)
    _check_date_header(request)
    # The Date header is what V2 signs, even when x-oss-date is the one checked.
    return _check_v2(
        request,
        fields["AccessKeyId"],
        request.headers.get("Date", ""),
        fields.get("AdditionalHeaders"),
        fields["Signature"],
        find_key,
    )


def _verify_v2_presigned(request, params, find_key):
    expires = params.get("x-oss-expires", "")
    _check_expires(expires, "x-oss-expires")
    key_id = params.get("x-oss-access-key-id", "")
    if not key_id or not params.get("x-oss-signature"):
        raise _bad_request(
            "A V2 signed URL needs x-oss-access-key-id and x-oss-signature.",
            "x-oss-signature",
            params.get("x-oss-signature", ""),
        )
    return _check_v2(
        request,
        key_id,
        expires,
        params.get("x-oss-additional-headers"),
        params["x-oss-signature"],
        find_key,
    )


def _check_v2(request, key_id, date_value, additional, signature, find_key):
    key = _key_or_error(find_key, key_id)
    names = _additional_header_names(additional)
    strings = [
        v2_string_to_sign(request, date_value, names, content_type)
        for content_type in _content_types(request)
    ]
    if not any(
        _matches(v2_signature(key.secret, string), signature) for string in strings
    ):
        raise signature_mismatch(strings[0], key_id)
    return key


def _verify_v4(request, fields, date_time, find_key, *, presigned, expires=""):
    key_id, date, region, product = _parse_credential(fields["Credential"])
    # A signature for another region (or product) is not one for this endpoint;
    # the messages (and EC) are OSS's own.
    for part, expected, name in (
        (region, settings.OSS_REGION, "region"),
        (product, "oss", "product"),
    ):
        if part == expected:
            continue
        if presigned:
            raise _bad_request(
                f"The signing {name} in credential is invalid.",
                "Credential",
                fields["Credential"],
            )
        error = _bad_request(
            f"Invalid signing {name} in Authorization header.",
            "Credential",
            fields["Credential"],
        )
        error.details["EC"] = "0002-00000226"
        raise error
    timestamp = _parse_v4_time(date_time)
    if date_time[:8] != date:
        raise _bad_request(
            "The credential date does not match x-oss-date.",
            "Credential",
            fields["Credential"],
        )
    if presigned:
        lifetime = _v4_lifetime(expires)
        if timestamp - MAX_CLOCK_SKEW_SECONDS > time.time():
            raise _skewed(date_time)  # signed "in the future" to outlive the expiry cap
        if timestamp + lifetime < time.time():
            raise _expired(expires)
    else:
        _check_skew(timestamp, date_time)
        sha = request.headers.get("x-oss-content-sha256", "")
        if sha != "UNSIGNED-PAYLOAD":
            raise _bad_request(
                "x-oss-content-sha256 must be UNSIGNED-PAYLOAD.",
                "x-oss-content-sha256",
                sha,
            )
    additional = {
        name.strip().lower()
        for name in (fields.get("AdditionalHeaders") or "").split(";")
        if name.strip()
    }
    key = _key_or_error(find_key, key_id)
    scope = f"{date}/{region}/{product}/aliyun_v4_request"
    strings = [
        v4_string_to_sign(
            v4_canonical_request(
                request, additional, presigned=presigned, content_type=content_type
            ),
            date_time,
            scope,
        )
        for content_type in _content_types(request)
    ]
    if not any(
        _matches(
            v4_signature(key.secret, date, region, string, product), fields["Signature"]
        )
        for string in strings
    ):
        raise signature_mismatch(strings[0], key_id)
    return key
