"""The Back-to-Origin rule engine: plain Python, no Django, no network.

Rules arrive as frozen dataclasses (models adapt with `rule.to_engine()`); the
functions here decide which rule applies and what the origin request or the
redirect looks like. `decide()` is the one decision: the runtime executes it
(origin/middleware.py) and the dry run shows it (origin/dry_run.py).
"""

import re
from dataclasses import dataclass, field
from urllib.parse import quote, unquote_plus

MIRROR = "mirror"
REDIRECT = "redirect"
INTERNAL = "Internal"  # a redirection that rewrites the key inside the bucket instead of answering 3xx

# Redirection target-key options (how the Location's path is built).
TARGET_KEEP = "keep"
TARGET_AFFIX = "affix"
TARGET_FIXED = "fixed"
TARGET_REPLACE_PREFIX = "replace_prefix"

# \Z, not $: "$" would let a trailing newline through.
HEADER_NAME_RE = re.compile(r"^[A-Za-z0-9-]+\Z")
MAX_HEADER_BYTES = 1024
MAX_HEADERS_PER_LIST = 10

FORBIDDEN_HEADER_PREFIXES = ("x-oss-", "oss-", "x-drs-", "proxy-", "x-accel-")
FORBIDDEN_HEADERS = {
    "content-length": "the origin's body sets its own length",
    "authorization": "credentials are never forwarded",
    "authorization2": "credentials are never forwarded",
    "range": "mirroring always fetches the whole object",
    "date": "the request date is the fetcher's own",
    "host": "the Host is always the origin's",
    "connection": "it is a hop-by-hop header",
    "keep-alive": "it is a hop-by-hop header",
    "te": "it is a hop-by-hop header",
    "trailer": "it is a hop-by-hop header",
    "transfer-encoding": "it is a hop-by-hop header",
    "upgrade": "it is a hop-by-hop header",
    "expect": "it is a hop-by-hop header",
    # The origin must send the whole object: a 304 or 412 from it could not be saved.
    "if-match": "conditional requests are evaluated here, against the fetched object",
    "if-none-match": "conditional requests are evaluated here, against the fetched object",
    "if-modified-since": "conditional requests are evaluated here, against the fetched object",
    "if-unmodified-since": "conditional requests are evaluated here, against the fetched object",
    "if-range": "conditional requests are evaluated here, against the fetched object",
}
_PREFIX_REASONS = {
    "x-oss-": "headers starting with x-oss- are reserved by OSS",
    "oss-": "headers starting with oss- are reserved by OSS",
    "x-drs-": "headers starting with x-drs- are reserved by OSS",
    "proxy-": "proxy-* headers are hop-by-hop",
    # Behind nginx in X-Accel-Redirect mode (buckets/accel.py) nginx obeys them on
    # any answer: a rule's return header must not send it to another file.
    "x-accel-": "X-Accel-* headers are instructions to the front server",
}

# Signature and presign parameters are the client's credentials, never the origin's business.
AUTH_QUERY_PARAMETERS = {"ossaccesskeyid", "expires", "signature", "security-token"}
AUTH_QUERY_PREFIXES = ("x-oss-",)

FIXED_USER_AGENT = "OSS-Back-to-Origin/1.0"

# How an IncludeHeader condition compares (IncludeHeader Equals / StartsWith / EndsWith).
MATCH_EQUALS = "equals"
MATCH_STARTS_WITH = "starts_with"
MATCH_ENDS_WITH = "ends_with"
HEADER_MATCHES = (MATCH_EQUALS, MATCH_STARTS_WITH, MATCH_ENDS_WITH)

# MirrorAuth types
AUTH_S3V4 = "S3V4"
AUTH_OSS = "OSS"


@dataclass(frozen=True)
class HeaderCondition:
    """The request must carry header `name` whose value equals, starts with or ends
    with `value` (case-sensitive; the header name is not)."""

    name: str
    value: str = ""
    match: str = MATCH_EQUALS

    def holds_for(self, actual):
        if self.match == MATCH_STARTS_WITH:
            return actual.startswith(self.value)
        if self.match == MATCH_ENDS_WITH:
            return actual.endswith(self.value)
        return actual == self.value

    def wanted(self):
        """What the rule wants the header's value to be, for mismatch reasons."""
        if self.match == MATCH_EQUALS:
            return repr(self.value)
        return f"a value {self.match.replace('_', ' ')} {self.value!r}".replace(
            "starts with", "starting with"
        ).replace("ends with", "ending with")

    def describe(self):
        if self.match == MATCH_EQUALS:
            return f"{self.name}={self.value}"
        return f"{self.name} {self.match.replace('_', ' ')} {self.value}"


@dataclass(frozen=True)
class OriginAuth:
    """MirrorAuth: how origin requests are signed. The secret stays sealed here; only
    the fetcher unseals it, so a rule's repr or a dry run can never show it."""

    auth_type: str
    access_key_id: str
    sealed_secret: str = field(repr=False)
    region: str = ""

    def describe(self):
        kind = "S3 Signature V4" if self.auth_type == AUTH_S3V4 else "OSS signature"
        region = f", region {self.region}" if self.region else ""
        return f"{kind} with AccessKey ID {self.access_key_id}{region}"


@dataclass(frozen=True)
class HeaderTransmission:
    """The transmission rule of HTTP header (SPEC §5)."""

    pass_all: bool = False
    pass_names: tuple = ()
    remove_names: tuple = ()
    set_headers: tuple = ()  # (name, value) pairs


@dataclass(frozen=True)
class Rule:
    position: int
    mode: str
    rule_id: int | None = None
    # Prerequisite
    key_prefix: str = ""
    key_suffix: str = ""
    http_status: int | None = 404
    include_headers: tuple = ()  # HeaderCondition, all must hold
    # Origin URL
    protocol: str = "https"
    host: str = ""
    path: str = ""
    pass_query_string: bool = False
    # Mirroring
    follow_redirects: bool = True
    check_md5: bool = False
    replace_prefix: bool = False
    replace_prefix_with: str = ""
    secondary_url: str = ""
    probe_url: str = ""
    headers: HeaderTransmission = field(default_factory=HeaderTransmission)
    alternate_urls: tuple = ()  # base URLs tried in order after the chosen origin
    switch_on_all_errors: bool = False
    transparent_codes: frozenset = frozenset()
    mirror_head: bool = False
    proxy_only: bool = False
    save_origin_meta: bool = False
    keep_origin_last_modified: bool = False
    pass_original_slashes: bool = False
    return_headers: tuple = ()  # (name, value) pairs added to the mirrored answer
    tags: tuple = ()  # (key, value) object tags set on the saved copy (MirrorTaggings)
    auth: OriginAuth | None = None
    # Origin protection (SPEC §11; ours, not OSS elements): {name: seconds or count}
    # of the non-zero settings, the names of models.PROTECTION_LIMITS.
    protection: tuple = ()
    # Redirection
    redirect_type: str = "External"
    redirect_code: int = 301
    redirect_target: str = TARGET_KEEP
    target_prefix: str = ""
    target_suffix: str = ""
    target_fixed_path: str = ""


@dataclass(frozen=True)
class Redirection:
    status: int
    location: str


def forbidden_header_reason(name):
    """Why a header may never be sent to an origin, or None when it may."""
    lowered = name.lower()
    if lowered in FORBIDDEN_HEADERS:
        return FORBIDDEN_HEADERS[lowered]
    for prefix in FORBIDDEN_HEADER_PREFIXES:
        if lowered.startswith(prefix):
            return _PREFIX_REASONS[prefix]
    return None


def mismatch_reason(rule, key, status, request_headers):
    """Why `rule` does not apply to this request, or None when it does."""
    if rule.key_prefix and not key.startswith(rule.key_prefix):
        return f"key does not start with {rule.key_prefix!r}"
    if rule.key_suffix and not key.endswith(rule.key_suffix):
        return f"key does not end with {rule.key_suffix!r}"
    if rule.http_status is not None and rule.http_status != status:
        return f"status would be {status}, rule wants {rule.http_status}"
    if rule.mode == REDIRECT and rule.redirect_type == INTERNAL and status != 404:
        # Serving another key of the bucket to a request that was refused would bypass access.
        return (
            "an Internal rule only serves missing objects the requester may read (404)"
        )
    lowered = {name.lower(): value for name, value in _header_items(request_headers)}
    for condition in rule.include_headers:
        value = lowered.get(condition.name.lower())
        if value is None:
            return f"request has no {condition.name} header"
        if not condition.holds_for(value):
            return f"{condition.name} is {value!r}, rule wants {condition.wanted()}"
    return None


def select_rule(rules, key, status, request_headers):
    """The first rule, by position, whose prerequisite holds; None when none does.

    First match wins: there is no fall-through, even if that rule's origin fails.
    """
    return decide(rules, key, status, request_headers).rule


def _header_items(headers):
    return headers.items() if hasattr(headers, "items") else headers


def _replace_key_prefix(rule, key):
    if rule.replace_prefix and rule.key_prefix and key.startswith(rule.key_prefix):
        return rule.replace_prefix_with + key[len(rule.key_prefix) :]
    return key


def encode_key(key):
    """Percent-encode a key for a URL path, keeping `/` and RFC 3986 unreserved characters."""
    return quote(key.encode("utf-8"), safe="/-_.~")


def _is_auth_parameter(raw_pair):
    name = unquote_plus(raw_pair.split("=", 1)[0]).lower()
    return name in AUTH_QUERY_PARAMETERS or name.startswith(AUTH_QUERY_PREFIXES)


def strip_auth_parameters(query):
    """The query string without OSS signature/presign parameters, the rest byte for byte as received."""
    return "&".join(
        pair
        for pair in (query or "").split("&")
        if pair and not _is_auth_parameter(pair)
    )


def origin_base_url(rule):
    """`protocol://host/path/`, the MirrorURL of the rule."""
    path = rule.path.strip("/")
    return f"{rule.protocol}://{rule.host}/" + (encode_key(path) + "/" if path else "")


def origin_key(rule, key):
    """The key as the origin URL names it: after prefix replacement, with runs of "/"
    collapsed and leading ones dropped unless the rule keeps the original slashes."""
    key = _replace_key_prefix(rule, key)
    if rule.pass_original_slashes:
        return key
    return re.sub("/{2,}", "/", key).lstrip("/")


def build_origin_url(rule, key, query="", base_url=None):
    """The URL a mirroring rule fetches for `key` (base + key after prefix replace/delete).

    `base_url` is the secondary origin when the primary's probe failed.
    """
    base = base_url or origin_base_url(rule)
    if not base.endswith("/"):
        base += "/"
    url = base + encode_key(origin_key(rule, key))
    if rule.pass_query_string:
        kept = strip_auth_parameters(query)
        if kept:
            url += "?" + kept
    return url


def transmit_headers(transmission, request_headers):
    """Headers sent to the origin: all → these → remove → set; forbidden ones never pass.

    Names compare case-insensitively; the client's spelling is kept.
    """
    chosen = {}  # lower-case name -> (name, value)
    pass_names = {name.lower() for name in transmission.pass_names}
    for name, value in _header_items(request_headers):
        if forbidden_header_reason(name):
            continue
        if transmission.pass_all or name.lower() in pass_names:
            chosen[name.lower()] = (name, value)
    for name in transmission.remove_names:
        chosen.pop(name.lower(), None)
    for name, value in transmission.set_headers:
        if not forbidden_header_reason(name):
            chosen[name.lower()] = (name, value)
    return dict(chosen.values())


def without_cookies(request_headers, private_cookies):
    """The headers with the named cookies taken out of Cookie (dropped when none is left).

    The server's own session and CSRF cookies must never reach an origin, even
    when a rule transmits Cookie.
    """
    private = set(private_cookies)
    kept = []
    for name, value in _header_items(request_headers):
        if name.lower() == "cookie" and private:
            pairs = [pair.strip() for pair in value.split(";") if pair.strip()]
            value = "; ".join(
                pair for pair in pairs if pair.split("=", 1)[0].strip() not in private
            )
            if not value:
                continue
        kept.append((name, value))
    return kept


def origin_request_headers(rule, request_headers, private_cookies=()):
    """The full header set of an origin request, with the fixed User-Agent unless transmitted."""
    headers = transmit_headers(
        rule.headers, without_cookies(request_headers, private_cookies)
    )
    if not any(name.lower() == "user-agent" for name in headers):
        headers["User-Agent"] = FIXED_USER_AGENT
    return headers


def redirect_target_key(rule, key):
    if rule.redirect_target == TARGET_AFFIX:
        return f"{rule.target_prefix}{key}{rule.target_suffix}"
    if rule.redirect_target == TARGET_FIXED:
        return rule.target_fixed_path.lstrip("/")
    if rule.redirect_target == TARGET_REPLACE_PREFIX:
        if rule.key_prefix and key.startswith(rule.key_prefix):
            return rule.replace_prefix_with + key[len(rule.key_prefix) :]
        # Without a prefix condition the value is prepended (OSS console behaviour).
        return rule.replace_prefix_with + key
    return key


def redirect_location(rule, key, query=""):
    """The Redirection Code and Location a redirection rule answers for `key`."""
    location = f"{rule.protocol}://{rule.host}/{encode_key(redirect_target_key(rule, key).lstrip('/'))}"
    if rule.pass_query_string:
        kept = strip_auth_parameters(query)
        if kept:
            location += "?" + kept
    return Redirection(status=rule.redirect_code, location=location)


@dataclass(frozen=True)
class Decision:
    """What a GET answered with an error status does instead: everything the runtime
    needs to execute it, and what the dry run shows."""

    rule: Rule | None
    mismatches: tuple = ()  # (position, reason) of the rules tried before the match
    origin_url: str = ""
    secondary_origin_url: str = (
        ""  # used instead while the probe URL does not answer 200
    )
    alternate_origin_urls: tuple = ()  # tried in order when the origin fails
    origin_headers: dict = field(default_factory=dict)
    redirection: Redirection | None = None
    internal_key: str = ""  # an Internal rule serves this key of the same bucket

    @property
    def action(self):
        """MIRROR, REDIRECT or INTERNAL; None when no rule applies."""
        if self.rule is None:
            return None
        if self.rule.mode == MIRROR:
            return MIRROR
        return INTERNAL if self.rule.redirect_type == INTERNAL else REDIRECT


def decide(rules, key, status, request_headers, query="", private_cookies=()):
    """Which rule applies, why the others do not, and the request or redirect it makes."""
    mismatches = []
    for rule in sorted(rules, key=lambda rule: rule.position):
        reason = mismatch_reason(rule, key, status, request_headers)
        if reason is not None:
            mismatches.append((rule.position, reason))
            continue
        if rule.mode == REDIRECT and rule.redirect_type == INTERNAL:
            return Decision(
                rule, tuple(mismatches), internal_key=redirect_target_key(rule, key)
            )
        if rule.mode == REDIRECT:
            return Decision(
                rule, tuple(mismatches), redirection=redirect_location(rule, key, query)
            )
        return Decision(
            rule,
            tuple(mismatches),
            origin_url=build_origin_url(rule, key, query),
            secondary_origin_url=build_origin_url(
                rule, key, query, base_url=rule.secondary_url
            )
            if rule.secondary_url
            else "",
            alternate_origin_urls=tuple(
                build_origin_url(rule, key, query, base_url=base)
                for base in rule.alternate_urls
            ),
            origin_headers=origin_request_headers(
                rule, request_headers, private_cookies
            ),
        )
    return Decision(None, tuple(mismatches))
