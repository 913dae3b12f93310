"""Rule lint: warnings about a bucket's Back-to-Origin rules, never blocking.

Plain Python over the engine's rules (`engine.Rule`), like the engine itself:
the console and the JSON API compute the warnings after every save and reorder.

- `shadowed`: a rule that can never match, because an earlier rule matches every
  request it would (first match wins, no fall-through). Conservative: warned only
  when provable from the conditions alone.
- `loop`: a mirror or redirect whose origin is this bucket's own endpoint.
- `temporary_301`: a 301 (cached for good by browsers) to a target that looks
  temporary: a host or path word from TEMPORARY_WORDS. Words are whole tokens
  between non-alphanumerics, so "template" or "attempt" do not count.
"""

import re
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

from origin import engine

SHADOWED = "shadowed"
LOOP = "loop"
TEMPORARY_301 = "temporary_301"
CODE_ORDER = (SHADOWED, LOOP, TEMPORARY_301)

TEMPORARY_WORDS = frozenset(
    {
        "maintenance",
        "temp",
        "tmp",
        "temporary",
        "staging",
        "beta",
        "preview",
        "outage",
        "downtime",
    }
)
DEFAULT_PORTS = {"http": 80, "https": 443}


@dataclass(frozen=True)
class RuleWarning:
    rule: int  # the position of the rule the warning is about
    code: str
    message: str

    def as_dict(self):
        return {"rule": self.rule, "code": self.code, "message": self.message}


@dataclass(frozen=True)
class BucketEndpoint:
    """Where this server answers for the bucket: path style (`/<bucket>/<key>`) on
    `server_hosts`, virtual-host style on `<bucket>.<domain>` (OSS_DOMAIN).

    `server_hosts` holds (host name, port) pairs; a port of None is any port.
    """

    bucket: str
    server_hosts: tuple = ()
    domain: str = ""

    def path_style_hosts(self):
        hosts = list(self.server_hosts)
        if self.domain:
            hosts.append((self.domain, None))
        return hosts

    def virtual_host(self):
        return f"{self.bucket}.{self.domain}" if self.domain else ""


def lint_rules(rules, endpoint=None):
    """Every warning about `rules` (engine rules), by position then code."""
    ordered = sorted(rules, key=lambda rule: rule.position)
    warnings = []
    for index, rule in enumerate(ordered):
        cover = next((a for a in ordered[:index] if covers(a, rule)), None)
        if cover is not None:
            warnings.append(_shadowed_warning(cover, rule))
        if endpoint is not None:
            warnings += _loop_warnings(rule, endpoint)
        if _looks_temporary(rule):
            warnings.append(_temporary_warning(rule))
    return sorted(warnings, key=lambda w: (w.rule, CODE_ORDER.index(w.code)))


def warnings_by_rule(warnings):
    """{position: [warning, ...]}, for showing each next to its rule row."""
    grouped = {}
    for warning in warnings:
        grouped.setdefault(warning.rule, []).append(warning)
    return grouped


# -- shadowed ------------------------------------------------------------------------


def _can_match(rule):
    # An Internal rule only fires on a 404 (engine.mismatch_reason): with another
    # status it matches nothing, and "shadowed" would misname the problem.
    return not (_is_internal(rule) and rule.http_status != 404)


def covers(earlier, later):
    """True when every request `later` matches is matched by `earlier` (provably)."""
    if not _can_match(later) or not _can_match(earlier):
        return False
    return (
        later.key_prefix.startswith(earlier.key_prefix)
        and later.key_suffix.endswith(earlier.key_suffix)
        and earlier.http_status == later.http_status
        and all(
            _implied(condition, later.include_headers)
            for condition in earlier.include_headers
        )
    )


def _implied(wanted, conditions):
    """True when one of `conditions` (all of which hold) guarantees `wanted` holds."""
    return any(
        _implies(given, wanted)
        for given in conditions
        if given.name.lower() == wanted.name.lower()
    )


def _implies(given, wanted):
    if wanted.match != engine.MATCH_EQUALS and wanted.value == "":
        return True  # the header is present: any condition on it says so
    if wanted.match == engine.MATCH_EQUALS:
        return given.match == engine.MATCH_EQUALS and given.value == wanted.value
    if given.match not in (engine.MATCH_EQUALS, wanted.match):
        return False
    if wanted.match == engine.MATCH_STARTS_WITH:
        return given.value.startswith(wanted.value)
    return given.value.endswith(wanted.value)


def _conditions_text(rule):
    parts = [
        f"File Name Prefix {rule.key_prefix!r}"
        if rule.key_prefix
        else "no File Name Prefix",
        f"File Name Suffix {rule.key_suffix!r}"
        if rule.key_suffix
        else "no File Name Suffix",
        f"HTTP {rule.http_status}",
    ]
    if rule.include_headers:
        parts += [f"header {c.describe()}" for c in rule.include_headers]
    else:
        parts.append("no header condition")
    return ", ".join(parts)


def _shadowed_warning(earlier, later):
    return RuleWarning(
        later.position,
        SHADOWED,
        f"Rule {later.position} can never match: rule {earlier.position} comes first "
        f"and matches every request it would ({_conditions_text(earlier)}). "
        f"Move rule {later.position} above rule {earlier.position} or narrow rule "
        f"{earlier.position}.",
    )


# -- loop ----------------------------------------------------------------------------


def _is_internal(rule):
    return rule.mode == engine.REDIRECT and rule.redirect_type == engine.INTERNAL


def _known_origin_key(rule):
    """What every origin key of a mirror starts with."""
    return rule.replace_prefix_with if rule.replace_prefix else rule.key_prefix


def _known_target_key(rule):
    """What every redirect target key starts with (engine.redirect_target_key)."""
    if rule.redirect_target == engine.TARGET_AFFIX:
        return rule.target_prefix + rule.key_prefix
    if rule.redirect_target == engine.TARGET_FIXED:
        return rule.target_fixed_path.lstrip("/")
    if rule.redirect_target == engine.TARGET_REPLACE_PREFIX:
        return rule.replace_prefix_with
    return rule.key_prefix


def _origin_urls(rule):
    """(label, URL, what every path under it starts with) of each origin of the rule."""
    if rule.mode == engine.MIRROR:
        known = _known_origin_key(rule)
        urls = [("origin", engine.origin_base_url(rule))]
        if rule.secondary_url:
            urls.append(("secondary origin", rule.secondary_url))
        urls += [("alternate origin", url) for url in rule.alternate_urls]
        return [(label, url, known) for label, url in urls]
    target = f"{rule.protocol}://{rule.host}/"
    return [("target", target, _known_target_key(rule))]


def host_and_port(url):
    """(lower-case host name, port or the scheme's default) of a URL; (None, None) if bad."""
    try:
        parts = urlsplit(url)
        port = parts.port or DEFAULT_PORTS.get(parts.scheme)
    except ValueError:
        return None, None
    return (parts.hostname or "").lower(), port


def points_at_bucket(url, known_key, endpoint):
    """True when `url` followed by a key starting `known_key` is in this bucket."""
    host, port = host_and_port(url)
    if not host:
        return False
    if host == endpoint.virtual_host():
        return True
    path = unquote(urlsplit(url).path).lstrip("/") + known_key
    on_this_server = any(
        host == own_host and own_port in (None, port)
        for own_host, own_port in endpoint.path_style_hosts()
    )
    return on_this_server and path.startswith(endpoint.bucket + "/")


def _loop_warnings(rule, endpoint):
    if _is_internal(rule):
        return []  # serving another key of the bucket is what Internal is for
    for label, url, known in _origin_urls(rule):
        if points_at_bucket(url, known, endpoint):
            return [_loop_warning(rule, label, url)]
    return []


def _loop_warning(rule, label, url):
    if rule.mode == engine.MIRROR:
        text = (
            f"Rule {rule.position} mirrors from this bucket's own endpoint ({label} "
            f"{url}): a missing key would be fetched from this bucket itself, a loop."
        )
    else:
        text = (
            f"Rule {rule.position} redirects to this bucket's own endpoint ({url}): a "
            "target that is missing too gets the same redirect again, a loop. To serve "
            "another file of this bucket, use the Internal redirect type."
        )
    return RuleWarning(rule.position, LOOP, text)


# -- temporary 301 -------------------------------------------------------------------


def temporary_word(rule):
    """The first TEMPORARY_WORDS token in the redirect's host or target path, or None."""
    text = f"{rule.host}/{_known_target_key(rule)}/{rule.target_suffix}".lower()
    return next(
        (token for token in re.split(r"[^a-z0-9]+", text) if token in TEMPORARY_WORDS),
        None,
    )


def _looks_temporary(rule):
    return (
        rule.mode == engine.REDIRECT
        and not _is_internal(rule)
        and rule.redirect_code == 301
        and temporary_word(rule) is not None
    )


def _temporary_warning(rule):
    return RuleWarning(
        rule.position,
        TEMPORARY_301,
        f"Rule {rule.position} answers 301 (Moved Permanently) to a target that looks "
        f"temporary ({temporary_word(rule)!r}): browsers and caches keep a 301 for good. "
        "Use 302 or 307 for a temporary move.",
    )
