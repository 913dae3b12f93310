"""Signing OSS requests in tests: every test that signs by hand signs here.

What an SDK would send is signed by oss2's own signers (`oss2.Auth` for V1,
`oss2.AuthV4` for V4): `sign_request` for a raw request (`send_signed` sends it
through Django's test client), `presigned_path` for a URL.
What no SDK sends (an old date, a credential date of its own, a payload hash, a path
outside the OSS endpoint) is signed by the reference signers below, written from the
OSS reference (V1 §4.2, V4 §4.3); test_signatures.py checks them against oss2 first.
"""

import base64
import hashlib
import hmac
import json
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import NamedTuple
from urllib.parse import quote, urlencode, urlsplit

import oss2
import requests

REGION = "cn-hangzhou"  # the server's default OSS_REGION
ENDPOINT = "http://127.0.0.1"  # an IP endpoint: oss2 signs path-style URLs
V4_SCOPE_TAIL = f"{REGION}/oss/aliyun_v4_request"


class KeyPair(NamedTuple):
    """An access key id and its secret; unpacks as `oss2.Auth(*pair)` takes them."""

    key_id: str
    secret: str

    @classmethod
    def from_command_output(cls, output):
        """The pair `manage.py create_access_key` prints as AccessKeyId=/AccessKeySecret=."""
        values = dict(line.split("=", 1) for line in output.splitlines() if "=" in line)
        return cls(values["AccessKeyId"], values["AccessKeySecret"])


def content_md5(data):
    """The Content-MD5 header for `data`: the base64 of its MD5 digest."""
    return base64.b64encode(hashlib.md5(data).digest()).decode()


# -- oss2's own signers -----------------------------------------------------------------


def oss2_auth(key_pair, version="v1"):
    return oss2.AuthV4(*key_pair) if version == "v4" else oss2.Auth(*key_pair)


def object_path(bucket_name="", key=""):
    """The path-style path of a bucket or object; "/" is the service (ListBuckets)."""
    return f"/{bucket_name}/{quote(key, safe='')}" if bucket_name else "/"


def sign_request(
    auth,
    method,
    bucket_name="",
    key="",
    *,
    params=None,
    headers=None,
    body=b"",
    additional_headers=None,
    endpoint=ENDPOINT,
):
    """An oss2.http.Request for /bucket/key, signed by `auth` exactly as the SDK signs
    it, for requests the SDK would refuse to build or that a test alters afterwards."""
    request = oss2.http.Request(
        method,
        endpoint + object_path(bucket_name, key),
        data=body,
        params=dict(params or {}),
        headers=headers,
        region=REGION,
        product="oss",
    )
    if additional_headers is None:
        auth._sign_request(request, bucket_name, key)
    else:
        auth._sign_request(request, bucket_name, key, additional_headers)
    return request


def sent_headers(request):
    """A signed request's headers as a client sends them (oss2 leaves some empty, to
    keep `requests` from adding its own)."""
    return {name: value for name, value in request.headers.items() if value}


def send_signed(client, request):
    """Send a signed oss2.http.Request through Django's test client, which (unlike
    runserver) adds no Content-Type of its own."""
    path, query = urlsplit(request.url).path, urlencode(request.params)
    return client.generic(
        request.method,
        f"{path}?{query}" if query else path,
        data=request.data or b"",
        headers=sent_headers(request),
    )


def presigned_path(
    key_pair, bucket_name, key, *, version="v1", expires=300, params=None, method="GET"
):
    """/bucket/key?<signature> as oss2 presigns it: path and query, for Django's client."""
    bucket = oss2.Bucket(
        oss2_auth(key_pair, version), ENDPOINT, bucket_name, region=REGION
    )
    url = bucket.sign_url(method, key, expires, params=params)
    return url.removeprefix(ENDPOINT)


# -- reference signers, for what no SDK sends ---------------------------------------------


def now():
    return datetime.now(UTC)


def http_date(moment=None):
    return format_datetime(moment or now(), usegmt=True)


def v4_date(moment):
    return moment.strftime("%Y%m%dT%H%M%SZ")


def v1_signature(secret, string_to_sign):
    digest = hmac.new(secret.encode(), string_to_sign.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def v1_headers(key_pair, method, resource, date=None, headers=None):
    """`headers` plus `Date` and `Authorization: OSS <id>:<signature>` over
    `resource` (the canonical resource, sub-resources included). `date` defaults
    to now; "" signs an empty date and sends no Date header."""
    key_id, secret = key_pair
    date = http_date() if date is None else date
    headers = headers or {}
    oss_headers = "".join(
        f"{name.lower()}:{value}\n"
        for name, value in sorted(headers.items())
        if name.lower().startswith("x-oss-")
    )
    string_to_sign = "\n".join(
        [
            method,
            headers.get("Content-MD5", ""),
            headers.get("Content-Type", ""),
            date,
            oss_headers + resource,
        ]
    )
    signed = {
        **headers,
        "Authorization": f"OSS {key_id}:{v1_signature(secret, string_to_sign)}",
    }
    if date:
        signed.setdefault("Date", date)
    return signed


def _encode(value, keep_slash):
    return quote(value, safe="-_.~" + ("/" if keep_slash else ""))


def v4_signature(
    secret, method, path, query, headers, date_time, additional=(), payload=None
):
    lowered = {name.lower(): value for name, value in headers.items()}
    canonical_query = "&".join(
        f"{name}={value}" if value else name
        for name, value in sorted(
            (_encode(name, False), _encode(value, False)) for name, value in query
        )
    )
    signed = sorted(
        (name, value)
        for name, value in lowered.items()
        if name.startswith("x-oss-")
        or name in ("content-type", "content-md5")
        or name in additional
    )
    canonical_request = "\n".join(
        [
            method,
            _encode(path, True),
            canonical_query,
            "".join(f"{name}:{value}\n" for name, value in signed),
            ";".join(sorted(additional)),
            payload or lowered.get("x-oss-content-sha256", "UNSIGNED-PAYLOAD"),
        ]
    )
    string_to_sign = "\n".join(
        [
            "OSS4-HMAC-SHA256",
            date_time,
            f"{date_time[:8]}/{V4_SCOPE_TAIL}",
            hashlib.sha256(canonical_request.encode()).hexdigest(),
        ]
    )
    key = ("aliyun_v4" + secret).encode()
    for part in (date_time[:8], REGION, "oss", "aliyun_v4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return hmac.new(key, string_to_sign.encode(), hashlib.sha256).hexdigest()


def v4_headers(
    key_pair,
    method,
    path,
    *,
    moment=None,
    headers=None,
    sha="UNSIGNED-PAYLOAD",
    credential_date=None,
    query=(),
):
    """`headers` plus x-oss-date, x-oss-content-sha256 and `Authorization:
    OSS4-HMAC-SHA256 ...`; `credential_date` may differ from x-oss-date on purpose."""
    key_id, secret = key_pair
    date_time = v4_date(moment or now())
    headers = {"x-oss-date": date_time, "x-oss-content-sha256": sha, **(headers or {})}
    signature = v4_signature(secret, method, path, query, headers, date_time)
    scope = f"{credential_date or date_time[:8]}/{V4_SCOPE_TAIL}"
    headers["Authorization"] = (
        f"OSS4-HMAC-SHA256 Credential={key_id}/{scope}, Signature={signature}"
    )
    return headers


def v4_presigned_query(key_pair, method, path, moment, expires):
    """The query string of a V4 presigned URL dated `moment`, valid `expires` seconds
    (any string: the tests send values oss2 refuses to)."""
    key_id, secret = key_pair
    date_time = v4_date(moment)
    query = {
        "x-oss-signature-version": "OSS4-HMAC-SHA256",
        "x-oss-credential": f"{key_id}/{date_time[:8]}/{V4_SCOPE_TAIL}",
        "x-oss-date": date_time,
        "x-oss-expires": str(expires),
    }
    query["x-oss-signature"] = v4_signature(
        secret, method, path, list(query.items()), {}, date_time
    )
    return urlencode(query)


def signed_json_request(base_url, key_pair, method, path, body=None, timeout=30):
    """`method` `path` of the JSON API with `body` as JSON, V1-signed as a script
    with an AccessKey would send it (the job tests and the warm-up benchmark)."""
    headers = {"Content-Type": "application/json"} if body is not None else {}
    return requests.request(
        method,
        base_url + path,
        data=json.dumps(body) if body is not None else None,
        headers=v1_headers(key_pair, method, path, headers=headers),
        timeout=timeout,
    )
