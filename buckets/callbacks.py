"""Upload callbacks: after PutObject or CompleteMultipartUpload has stored the object,
OSS POSTs a body the client described to the client's server and hands that server's
answer back as the upload's answer.

The callback comes base64-encoded JSON in `x-oss-callback` (or the `callback` URL
parameter of a presigned URL), its custom variables in `x-oss-callback-var` (or
`callback-var`); `{"callbackPolicy": name}` names one of the bucket's callback
policies instead. Everything is checked before the body is read, so a bad callback
stores nothing (400 InvalidArgument). Once the object is stored it stays stored:
a callback that fails answers 203 CallbackFailed.

The POST goes through the SSRF guard of buckets/outbound.py (internal addresses refused unless
ORIGIN_ALLOW_PRIVATE), with a timeout, no redirects followed and nothing of it
logged but the host and the plain reason.

Not done: OSS signs its callback requests with its RSA key (`authorization`,
`x-oss-pub-key-url`); this server has no such key, so it sends no signature.
"""

import base64
import binascii
import json
import logging
import re
import time
from dataclasses import dataclass, field
from urllib.parse import quote, urlsplit

import requests
from django.db import transaction

from buckets import errors, oss_xml
from buckets.models import CallbackPolicy
from buckets.oss_access import empty_response, owned_bucket, xml_document
from buckets.outbound import AddressRefused, GuardedAdapter, plain_reason

logger = logging.getLogger(__name__)

CALLBACK_TIMEOUT_SECONDS = 5  # OSS waits 5 seconds for the callback server
MAX_CALLBACK_URLS = 5
MAX_ANSWER_BYTES = 1024 * 1024  # OSS refuses callback answers beyond 1 MB
MAX_POLICIES = 100
FORM = "application/x-www-form-urlencoded"
JSON = "application/json"
KNOWN_FIELDS = frozenset(
    {
        "callbackUrl",
        "callbackHost",
        "callbackBody",
        "callbackBodyType",
        "callbackSNI",
        "callbackPolicy",
    }
)
VARIABLE_RE = re.compile(r"\$\{([^}]*)\}")
# The system variables with a value here; image info is empty: no images are read.
SYSTEM_VARIABLES = (
    "bucket",
    "object",
    "etag",
    "size",
    "mimeType",
    "crc64",
    "contentMd5",
    "clientIp",
    "reqId",
    "operation",
    "vpcId",
    "imageInfo.height",
    "imageInfo.width",
    "imageInfo.format",
)


@dataclass(frozen=True)
class Callback:
    urls: tuple
    host: str
    body: str
    body_type: str
    variables: dict = field(default_factory=dict)


class CallbackFailed(Exception):
    """The callback server could not be reached or did not answer 200 with JSON."""


def _invalid(message, name="x-oss-callback", value=""):
    return errors.invalid_argument(message, name, value[:200])


# -- reading the request ----------------------------------------------------------------


def _decoded_json(encoded, name):
    try:
        text = base64.b64decode(encoded, validate=True).decode("utf-8")
    except (binascii.Error, ValueError):
        raise _invalid(f"{name} is not base64-encoded UTF-8.", name, encoded) from None
    try:
        value = json.loads(text)
    except ValueError:
        raise _invalid(f"{name} is not valid JSON.", name, text) from None
    if not isinstance(value, dict):
        raise _invalid(f"{name} must be a JSON object.", name, text)
    return value


def _callback_url(url):
    """One callbackUrl entry, http:// added when it names no scheme (as OSS does)."""
    url = url.strip()
    if "://" not in url:
        url = "http://" + url
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number
    except ValueError:
        raise _invalid("The callbackUrl is invalid.", "callbackUrl", url) from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise _invalid("The callbackUrl is invalid.", "callbackUrl", url)
    return url


def _variables(encoded):
    """The custom variables (`x:name`) of x-oss-callback-var. Other names cannot be
    referenced from a callbackBody; OSS accepts and skips them, so does this."""
    if not encoded:
        return {}
    variables = {}
    for name, value in _decoded_json(encoded, "x-oss-callback-var").items():
        if not name.startswith("x:"):
            continue
        if isinstance(value, (dict, list)) or value is None:
            raise _invalid(
                f"The callback variable {name} must be a string or a number.",
                "x-oss-callback-var",
                name,
            )
        variables[name] = json.dumps(value) if isinstance(value, bool) else str(value)
    return variables


def parse_callback(encoded, encoded_variables, policies=None):
    """The Callback described by base64 JSON (and its variables), refusing what OSS
    refuses. `policies` maps policy names to (callback, variables), both base64."""
    spec = _decoded_json(encoded, "x-oss-callback")
    unknown = sorted(set(spec) - KNOWN_FIELDS)
    if unknown:
        raise _invalid(f"Unknown callback field {unknown[0]}.", unknown[0], "")
    if "callbackPolicy" in spec:
        name = spec["callbackPolicy"]
        if policies is None or len(spec) != 1 or name not in policies:
            raise _invalid(
                "The callbackPolicy names no callback policy of this bucket.",
                "callbackPolicy",
                str(name),
            )
        return parse_callback(*policies[name])
    url, body = spec.get("callbackUrl"), spec.get("callbackBody")
    if not isinstance(url, str) or not url.strip():
        raise _invalid("The callbackUrl is missing.", "callbackUrl")
    if not isinstance(body, str) or not body:
        raise _invalid("The callbackBody is missing.", "callbackBody")
    urls = [part for part in url.split(";") if part.strip()]
    if len(urls) > MAX_CALLBACK_URLS:
        raise _invalid("At most 5 callbackUrl values.", "callbackUrl", url)
    body_type = spec.get("callbackBodyType") or FORM
    if body_type not in (FORM, JSON):
        raise _invalid("Unsupported callbackBodyType.", "callbackBodyType", body_type)
    host = spec.get("callbackHost") or ""
    if not isinstance(host, str) or re.search(r"[\s/@]", host):
        raise _invalid("The callbackHost is invalid.", "callbackHost", str(host))
    if spec.get("callbackSNI", False) not in (True, False, "true", "false"):
        raise _invalid("callbackSNI must be true or false.", "callbackSNI")
    return Callback(
        urls=tuple(_callback_url(part) for part in urls),
        host=host,
        body=body,
        body_type=body_type,
        variables=_variables(encoded_variables),
    )


def callback_of(request, bucket):
    """The request's Callback (header or presigned-URL parameter), or None."""
    encoded = request.headers.get("x-oss-callback") or request.GET.get("callback")
    if not encoded:
        return None
    encoded_variables = request.headers.get("x-oss-callback-var") or request.GET.get(
        "callback-var", ""
    )
    policies = {
        policy.name: (policy.callback, policy.callback_var)
        for policy in bucket.callback_policies.all()
    }
    return parse_callback(encoded, encoded_variables, policies)


# -- the callback request -----------------------------------------------------------------


def callback_body(callback, values):
    """callbackBody with ${...} replaced: system variables from `values`, ${x:...}
    from the custom ones, URL-encoded for a form body, JSON-escaped for JSON."""

    def escaped(value):
        if callback.body_type == JSON:
            return json.dumps(value)[1:-1]
        return quote(value, safe="")

    def replace(match):
        name = match.group(1)
        if name.startswith("x:"):
            return escaped(callback.variables.get(name, ""))
        return escaped(str(values.get(name, "")))

    return VARIABLE_RE.sub(replace, callback.body)


def upload_values(request, obj, operation):
    """The system variables' values for an upload that stored `obj`."""
    return {
        "bucket": obj.bucket.name,
        "object": obj.key,
        "etag": obj.etag.strip('"'),
        "size": obj.size,
        "mimeType": obj.content_type,
        "crc64": obj.crc64,
        "contentMd5": base64.b64encode(bytes.fromhex(obj.md5)).decode()
        if operation == "PutObject" and obj.md5
        else "",
        "clientIp": request.META.get("REMOTE_ADDR", ""),
        "reqId": getattr(request, "oss_request_id", ""),
        "operation": operation,
    }


def _new_session():
    session = requests.Session()
    session.trust_env = False  # an environment proxy would bypass the guard
    session.headers.clear()
    adapter = GuardedAdapter(pool_connections=4, pool_maxsize=16, max_retries=0)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


_session = _new_session()


def _post(url, callback, body):
    headers = {
        "Content-Type": callback.body_type,
        "User-Agent": "aliyun-oss-callback",
    }
    if callback.host:
        headers["Host"] = callback.host
    try:
        response = _session.post(
            url,
            data=body.encode("utf-8"),
            headers=headers,
            timeout=CALLBACK_TIMEOUT_SECONDS,
            allow_redirects=False,  # a redirect could point anywhere: not followed
            stream=True,
        )
    except requests.RequestException as error:
        raise CallbackFailed(
            "Error status : -1. OSS can not connect to your callbackUrl: "
            f"{plain_reason(error, 'the callback server')}."
        ) from None
    except AddressRefused as refused:  # the SSRF guard
        raise CallbackFailed(
            f"Error status : -1. Callback refused: {refused.describe()}; callbacks to "
            "internal networks are not allowed."
        ) from None
    except Exception as error:  # a header that cannot be sent
        raise CallbackFailed(
            f"Error status : -1. {getattr(error, 'message', None) or plain_reason(error)}"
        ) from None
    with response:
        if response.status_code != 200:
            raise CallbackFailed(f"Error status : {response.status_code}.")
        answer = _read_answer(response, time.monotonic() + CALLBACK_TIMEOUT_SECONDS)
    try:
        json.loads(answer)
    except ValueError:
        raise CallbackFailed("Response body is not valid json format.") from None
    return answer


def _read_answer(response, deadline):
    """The answer's body, at most MAX_ANSWER_BYTES, read before `deadline` (each read
    also waits at most CALLBACK_TIMEOUT_SECONDS): a server that drips its answer
    cannot hold the upload's answer back for long."""
    answer = b""
    try:
        for chunk in response.iter_content(64 * 1024):
            answer += chunk
            if len(answer) > MAX_ANSWER_BYTES:
                raise CallbackFailed("Response body is too large (more than 1 MB).")
            if time.monotonic() > deadline:
                raise CallbackFailed(
                    "Error status : -1. The callback answer timed out."
                )
    except requests.RequestException as error:
        raise CallbackFailed(
            "Error status : -1. Reading the callback answer failed: "
            f"{plain_reason(error, 'the callback server')}."
        ) from None
    return answer


def run_callback(callback, body):
    """POST `body` to the callback URLs in turn; the first answer that is 200 with a
    JSON body. CallbackFailed says why the last one failed."""
    failure = None
    for url in callback.urls:
        try:
            return _post(url, callback, body)
        except CallbackFailed as error:
            logger.warning(
                "upload callback failed host=%s reason=%s",
                urlsplit(url).hostname,
                error,
            )
            failure = error
    raise failure


def answer_with_callback(request, callback, obj, stored_answer, operation):
    """The answer to an upload: `stored_answer` when there is no callback, else the
    callback server's body (200) or 203 CallbackFailed, with the stored answer's
    headers either way (the object stays stored)."""
    if callback is None:
        return stored_answer
    body = callback_body(callback, upload_values(request, obj, operation))
    try:
        answer = run_callback(callback, body)
        response = empty_response(200)
        response.content = answer
        response["Content-Type"] = JSON
    except CallbackFailed as failure:
        response = errors.OssError(203, "CallbackFailed", str(failure)).response(
            request
        )
    response["Content-Length"] = str(len(response.content))
    for name in ("ETag", "x-oss-hash-crc64ecma", "Content-MD5", "x-oss-version-id"):
        if stored_answer.has_header(name):
            response[name] = stored_answer[name]
    return response


# -- PutBucketCallbackPolicy (?policy&comp=callback) --------------------------------------


def _policy_items(request):
    root = xml_document(request, "BucketCallbackPolicy")
    items = []
    for node in root.findall("PolicyItem"):
        name = (node.findtext("PolicyName") or "").strip()
        callback = (node.findtext("Callback") or "").strip()
        variables = (node.findtext("CallbackVar") or "").strip()
        if not name:
            raise errors.malformed_xml("Every PolicyItem needs a PolicyName.")
        if not callback:
            raise errors.malformed_xml(f"The PolicyItem {name} has no Callback.")
        if any(item[0] == name for item in items):
            raise _invalid("Two callback policies have one name.", "PolicyName", name)
        parse_callback(callback, variables)  # refused now, not at the first upload
        items.append((name, callback, variables))
    if len(items) > MAX_POLICIES:
        raise errors.malformed_xml(f"At most {MAX_POLICIES} callback policies.")
    return items


def put_bucket_callback_policy(request, bucket_name):
    bucket = owned_bucket(request, bucket_name)
    items = _policy_items(request)
    with transaction.atomic():  # the new set replaces the old one whole
        bucket.callback_policies.all().delete()
        CallbackPolicy.objects.bulk_create(
            CallbackPolicy(
                bucket=bucket,
                position=position,
                name=name,
                callback=cb,
                callback_var=var,
            )
            for position, (name, cb, var) in enumerate(items)
        )
    return empty_response()


def get_bucket_callback_policy(request, bucket_name):
    bucket = owned_bucket(request, bucket_name)
    policies = list(bucket.callback_policies.all())
    if not policies:
        raise errors.OssError(
            404,
            "BucketCallbackPolicyNotExist",
            "The bucket has no callback policy.",
            BucketName=bucket.name,
        )
    return oss_xml.xml_response(
        oss_xml.element(
            "BucketCallbackPolicy",
            children=[
                oss_xml.element(
                    "PolicyItem",
                    children=[
                        oss_xml.element("PolicyName", policy.name),
                        oss_xml.element("Callback", policy.callback),
                        oss_xml.element("CallbackVar", policy.callback_var),
                    ],
                )
                for policy in policies
            ],
        )
    )


def delete_bucket_callback_policy(request, bucket_name):
    bucket = owned_bucket(request, bucket_name)
    bucket.callback_policies.all().delete()
    return empty_response(204)


CALLBACK_POLICY_OPERATIONS = {
    "GET": get_bucket_callback_policy,
    "PUT": put_bucket_callback_policy,
    "DELETE": delete_bucket_callback_policy,
}


def route_callback_policy(method, bucket_policy_operation):
    """The operation for (method, "policy") and (method, "comp"): `?policy&comp=callback`
    is the callback policy, a plain `?policy` the bucket policy
    (`bucket_policy_operation`), any other `comp` 501."""

    def operation(request, bucket_name):
        comp = request.GET.get("comp")
        if comp == "callback" and "policy" in request.GET:
            return CALLBACK_POLICY_OPERATIONS[method](request, bucket_name)
        if comp is not None or bucket_policy_operation is None:
            owned_bucket(request, bucket_name)
            raise errors.not_implemented("comp" if comp is not None else "policy")
        return bucket_policy_operation(request, bucket_name)

    return operation
