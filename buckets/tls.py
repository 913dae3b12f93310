"""A bucket's HTTPS configuration (PutBucketHttpsConfig / GetBucketHttpsConfig,
`?httpsConfig`): with TLS enabled, HTTPS requests to the bucket must use one of the
listed TLS versions, or are refused with 403 AccessDenied.

This server does not terminate TLS itself; the proxy in front does, and tells it the
version in a header (settings.TLS_VERSION_HEADER, deploy/nginx.conf sets it on every
request, empty over plain HTTP). A request without a version came over plain HTTP,
which the setting leaves alone, as OSS does.
"""

from django.conf import settings

from buckets import errors

TLS_VERSIONS = ("TLSv1.0", "TLSv1.1", "TLSv1.2", "TLSv1.3")
# nginx's $ssl_protocol names TLS 1.0 "TLSv1".
PROXY_NAMES = {"TLSv1": "TLSv1.0"}


def request_tls_version(request):
    """The TLS version the request came with, or "" over plain HTTP."""
    if not settings.TLS_VERSION_HEADER:
        return ""
    sent = request.headers.get(settings.TLS_VERSION_HEADER, "").strip()
    return PROXY_NAMES.get(sent, sent)


def check_tls_version(request, bucket):
    if not bucket.tls_enabled:
        return
    version = request_tls_version(request)
    if version and version not in bucket.tls_versions:
        raise errors.access_denied(
            f"This bucket accepts HTTPS requests over {', '.join(bucket.tls_versions)} "
            f"only; this one came over {version}."
        )


def parse_https_config(root):
    """(enabled, versions) of an HttpsConfiguration document, or MalformedXML."""
    enabled_text = (root.findtext("TLS/Enable") or "").strip().lower()
    if enabled_text not in ("true", "false"):
        raise errors.malformed_xml("TLS/Enable must be true or false.")
    versions = []
    for node in root.findall("TLS/TLSVersion"):
        version = (node.text or "").strip()
        if version not in TLS_VERSIONS:
            raise errors.malformed_xml(
                f"TLSVersion must be one of {', '.join(TLS_VERSIONS)}."
            )
        if version not in versions:
            versions.append(version)
    enabled = enabled_text == "true"
    if enabled and not versions:
        raise errors.malformed_xml("With TLS enabled, name at least one TLSVersion.")
    return enabled, versions if enabled else []
