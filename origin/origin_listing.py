"""Listing a mirroring rule's origin bucket for a warm-up job (SPEC §11): S3
ListObjectsV2 when the rule signs with S3V4, OSS ListObjects otherwise, signed with
the rule's MirrorAuth, through the same SSRF-guarded client as every origin fetch.

The rule's MirrorURL names the origin bucket: in the host (`bucket.oss-…`,
`bucket.s3…`, or any host with no path), or as the first path segment
(path-style, as SeaweedFS or MinIO serve it); the rest of the path is a key prefix
inside that bucket. Listed origin keys map back to bucket keys by undoing what the
rule does to a key (the path prefix, the prefix replacement)."""

import re
from dataclasses import dataclass
from urllib.parse import quote, unquote

from defusedxml import ElementTree

from origin import engine, fetch, origin_auth

PAGE_SIZE = 1000
MAX_LISTING_BYTES = 32 * 1024 * 1024
_BUCKET_IN_HOST_RE = re.compile(r"^[a-z0-9][a-z0-9.-]*\.(oss-|s3[.-])")


class ListingError(Exception):
    """The origin could not be listed; the message says why, for the job's reason."""


@dataclass(frozen=True)
class OriginBucket:
    bucket_url: str  # protocol://host/ or protocol://host/bucket/
    key_prefix: str  # the MirrorURL's path inside that bucket ("" or ending in /)


def origin_bucket(rule):
    path = unquote(rule.path.strip("/"))
    root = f"{rule.protocol}://{rule.host}/"
    if not path or _BUCKET_IN_HOST_RE.match(rule.host.lower()):
        return OriginBucket(root, path + "/" if path else "")
    bucket, _, rest = path.partition("/")
    return OriginBucket(root + quote(bucket) + "/", rest + "/" if rest else "")


def listing_prefix(rule, prefix):
    """The bucket-key prefix to list: the job's prefix within the rule's KeyPrefixEquals.
    None when no key under `prefix` can match the rule."""
    if prefix.startswith(rule.key_prefix):
        return prefix
    if rule.key_prefix.startswith(prefix):
        return rule.key_prefix
    return None


def bucket_key(rule, origin_bucket_, origin_key):
    """The bucket key whose fetch the rule sends to `origin_key`, or None."""
    if not origin_key.startswith(origin_bucket_.key_prefix):
        return None
    key = origin_key[len(origin_bucket_.key_prefix) :]
    if rule.replace_prefix and rule.key_prefix:
        if not key.startswith(rule.replace_prefix_with):
            return None
        key = rule.key_prefix + key[len(rule.replace_prefix_with) :]
    if not key or not key.startswith(rule.key_prefix):
        return None
    if rule.key_suffix and not key.endswith(rule.key_suffix):
        return None
    return key


def list_page(rule, prefix, marker=""):
    """One page of the origin listing: (bucket keys, next marker or "" at the end)."""
    bucket = origin_bucket(rule)
    origin_prefix = bucket.key_prefix + engine.origin_key(rule, prefix)
    s3 = rule.auth is not None and rule.auth.auth_type == engine.AUTH_S3V4
    if s3:
        query = (
            f"list-type=2&max-keys={PAGE_SIZE}&prefix={quote(origin_prefix, safe='')}"
        )
        if marker:
            query += f"&continuation-token={quote(marker, safe='')}"
    else:
        query = f"max-keys={PAGE_SIZE}&prefix={quote(origin_prefix, safe='')}"
        if marker:
            query += f"&marker={quote(marker, safe='')}"
    root = _fetch_listing(rule, bucket.bucket_url + "?" + query)
    origin_keys = [_text(item, "Key") for item in _children(root, "Contents")]
    truncated = _text(root, "IsTruncated").lower() == "true"
    next_marker = ""
    if truncated:
        next_marker = (
            _text(root, "NextContinuationToken")
            if s3
            else _text(root, "NextMarker") or (origin_keys[-1] if origin_keys else "")
        )
        if not next_marker:
            raise ListingError(
                "The origin's listing is truncated but names no next page."
            )
    keys = [bucket_key(rule, bucket, origin_key) for origin_key in origin_keys]
    return [key for key in keys if key], next_marker


def _fetch_listing(rule, url):
    try:
        response = fetch.open_origin(
            url,
            {"User-Agent": "OSS-Back-to-Origin-Warmup/1.0"},
            follow_redirects=False,
            sign=origin_auth.signer_for(rule.auth),
        )
        body = bytearray()
        for chunk in response.chunks():
            body += chunk
            if len(body) > MAX_LISTING_BYTES:
                response.close()
                raise ListingError("The origin's listing page is too large.")
        response.close()
    except fetch.OriginError as error:
        raise ListingError(
            f"The origin could not be listed: {error.message}"
        ) from error
    if response.status != 200:
        code = _error_code(bytes(body))
        raise ListingError(
            f"The origin refused to list {url.split('?')[0]}: HTTP {response.status}"
            + (f" {code}" if code else "")
            + "."
        )
    try:
        return ElementTree.fromstring(bytes(body))
    except Exception as error:  # noqa: BLE001 - defusedxml raises several kinds
        raise ListingError("The origin's listing is not XML.") from error


def _error_code(body):
    match = re.search(rb"<Code>([^<]{1,64})</Code>", body)
    return match.group(1).decode("utf-8", "replace") if match else ""


def _local(tag):
    return tag.rsplit("}", 1)[-1]


def _children(node, name):
    return [child for child in node if _local(child.tag) == name]


def _text(node, name):
    for child in node:
        if _local(child.tag) == name:
            return child.text or ""
    return ""
