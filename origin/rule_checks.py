"""Checks of Back-to-Origin rule values, one place for every path.

`BackToOriginRule.clean()` calls them, and the console form, the JSON API and
PUT ?website all save through clean(); the XML parser also calls
`split_origin_url` to read a MirrorURL. Each raises ValidationError with a
message that names the field by its console label.
"""

import ipaddress
import re

from django.conf import settings
from django.core.exceptions import ValidationError

from buckets.numbers import parse_decimal
from origin import engine
from origin.addresses import internal_host_reason, ip_literal

_HOST_RE = re.compile(
    r"^(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)*[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.?$"
)
_IPV6_RE = re.compile(r"^\[[0-9A-Fa-f:.]+\]$")
_BAD_PATH_CHARS_RE = re.compile(r"[\s?#\\\x00-\x1f\x7f]")
_URL_RE = re.compile(
    r"^(?P<protocol>https?)://(?P<host>[^/?#]*)(?P<path>/[^?#]*)?(?P<query>\?[^#]*)?$"
)
# No rule value needs a control character, and XML 1.0 cannot carry U+FFFE, U+FFFF or a
# lone surrogate: refusing them keeps GET ?website well-formed (SPEC §9).
_UNSTORABLE_CHARS_RE = re.compile("[\x00-\x1f\x7f\ud800-\udfff\ufffe\uffff]")
_CONTROL_CHARS_RE = re.compile(r"[\x00-\x1f\x7f]")


def check_host_port(value, label):
    """`host[:port]` of an origin: a DNS name or IP literal, never internal unless allowed."""
    value = (value or "").strip().rstrip("/")
    if not value:
        raise ValidationError(f"{label} is required.")
    if "@" in value:
        raise ValidationError(f"{label} must not contain user information (@).")
    if re.search(r"[\s/?#\\]", value):
        raise ValidationError(
            f"{label} must be a domain name or IP address with an optional port, without spaces or a path."
        )
    host, port = value, None
    if value.startswith("["):
        host, _, rest = value.partition("]")
        host += "]"
        if rest:
            if not rest.startswith(":"):
                raise ValidationError(f"{label} is not a valid address.")
            port = rest[1:]
    elif value.count(":") == 1:
        host, port = value.split(":")
    if port is not None and not 1 <= _port_number(port) <= 65535:
        raise ValidationError(f"The port in {label} must be a number from 1 to 65535.")
    # The bracket pattern alone would let "[1:2:3]" through: it must parse as IPv6 too.
    is_ipv6 = bool(_IPV6_RE.match(host)) and isinstance(
        ip_literal(host), ipaddress.IPv6Address
    )
    if not (_HOST_RE.match(host) or is_ipv6) or len(host) > 253:
        raise ValidationError(f"{host!r} is not a valid domain name or IP address.")
    reason = internal_host_reason(host)
    if reason and not settings.ORIGIN_ALLOW_PRIVATE:
        raise ValidationError(
            f"{host} is {reason}; origins on internal networks are not allowed."
        )
    return host, port


def _port_number(text):
    """The port's value, 0 for anything that is not a port (even 5,000 digits)."""
    try:
        return parse_decimal(text, max_value=65535)
    except ValueError:
        return 0


def check_url(url, label):
    if _CONTROL_CHARS_RE.search((url or "").strip()):
        raise ValidationError(f"{label} must not contain control characters or tabs.")
    match = _URL_RE.match((url or "").strip())
    if not match:
        raise ValidationError(f"{label} must be a full http:// or https:// URL.")
    check_host_port(match["host"], label)
    check_path(match["path"] or "", label)


def split_origin_url(url, label):
    """(protocol, host[:port], path) of a URL the object's key is appended to.

    The key goes after the path, so a query string cannot be part of it; the
    trailing / is where the key starts, so a URL without one is read as if it had it.
    """
    url = (url or "").strip()
    check_url(url, label)
    if "?" in url:
        raise ValidationError(
            f"{label} must not have a query string: the file name is added after it."
        )
    match = _URL_RE.match(url)
    return match["protocol"], match["host"], match["path"] or ""


def check_path(value, label):
    if _BAD_PATH_CHARS_RE.search(value or ""):
        raise ValidationError(
            f"{label} must not contain spaces, control characters, ?, # or \\."
        )
    if any(segment in (".", "..") for segment in (value or "").split("/")):
        raise ValidationError(f"{label} must not contain . or .. segments.")


def _is_latin1(value):
    try:
        value.encode("latin-1")
    except UnicodeEncodeError:
        return False
    return True


def _utf8_length(value):
    # surrogatepass: a lone surrogate is refused later with a clear message, not a crash here.
    return len(value.encode("utf-8", "surrogatepass"))


def check_key_part(value, label):
    """Prefixes and suffixes are parts of object keys: the same characters are allowed."""
    if _utf8_length(value) > 1023:
        raise ValidationError(f"{label} is longer than 1023 bytes.")
    if _CONTROL_CHARS_RE.search(value):
        raise ValidationError(f"{label} must not contain control characters.")


def _check_header_name(name, label, condition=False):
    if not name:
        raise ValidationError(f"{label}: a header name is empty.")
    if _utf8_length(name) > engine.MAX_HEADER_BYTES:
        raise ValidationError(
            f"{label}: header name {name[:40]!r}… is longer than {engine.MAX_HEADER_BYTES} bytes."
        )
    if not engine.HEADER_NAME_RE.match(name):
        raise ValidationError(
            f"{label}: {name!r} is not a valid header name (letters, digits and - only)."
        )
    reason = None if condition else engine.forbidden_header_reason(name)
    if reason:
        raise ValidationError(f"{label}: {name} cannot be transmitted: {reason}.")


def _check_list_size(items, label, unique=True):
    if len(items) > engine.MAX_HEADERS_PER_LIST:
        raise ValidationError(
            f"{label}: at most {engine.MAX_HEADERS_PER_LIST} headers."
        )
    if not unique:
        return
    lowered = [
        str(item[0] if isinstance(item, list | tuple) else item).lower()
        for item in items
    ]
    duplicates = sorted({name for name in lowered if lowered.count(name) > 1})
    if duplicates:
        raise ValidationError(
            f"{label}: {', '.join(duplicates)} is listed more than once."
        )


def _each_error(items, check):
    """Run check on every item and report all failures together."""
    messages = []
    for item in items:
        try:
            check(item)
        except ValidationError as error:
            messages.extend(error.messages)
    if messages:
        raise ValidationError(messages)


def check_header_names(names, label):
    if not isinstance(names, list) or not all(isinstance(name, str) for name in names):
        raise ValidationError(f"{label}: expected a list of header names.")
    _check_list_size(names, label)
    _each_error(names, lambda name: _check_header_name(name, label))


def check_header_pairs(pairs, label, condition=False):
    if not isinstance(pairs, list) or not all(
        isinstance(pair, list | tuple)
        and len(pair) == 2
        and all(isinstance(part, str) for part in pair)
        for pair in pairs
    ):
        raise ValidationError(f"{label}: expected a list of name and value pairs.")
    # One header may be named by several conditions (all must hold).
    _check_list_size(pairs, label, unique=not condition)

    def check_pair(pair):
        name, value = pair
        _check_header_name(name, label, condition)
        if not condition and not _is_latin1(value):
            raise ValidationError(
                f"{label}: the value of {name} must use Latin-1 characters only (HTTP header values cannot carry others)."
            )
        if "\r" in value or "\n" in value:
            raise ValidationError(
                f"{label}: the value of {name} must not contain line breaks (CR/LF)."
            )
        if value != value.strip(" \t"):
            raise ValidationError(
                f"{label}: the value of {name} must not start or end with a space or tab "
                "(HTTP drops them, so the rule could never work as typed)."
            )
        if _CONTROL_CHARS_RE.search(value):
            raise ValidationError(
                f"{label}: the value of {name} must not contain control characters (tabs included)."
            )
        if _utf8_length(value) > engine.MAX_HEADER_BYTES:
            raise ValidationError(
                f"{label}: the value of {name} is longer than {engine.MAX_HEADER_BYTES} bytes."
            )
        if not value and not condition:
            raise ValidationError(f"{label}: {name} needs a value.")

    _each_error(pairs, check_pair)


def strings_in(value):
    """Every string inside a JSON value (the header lists hold lists of strings)."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, list | tuple):
        for item in value:
            yield from strings_in(item)


def check_storable(strings, label):
    for value in strings:
        found = _UNSTORABLE_CHARS_RE.search(value)
        if found:
            raise ValidationError(
                f"{label} must not contain control characters, U+FFFE, U+FFFF or "
                f"unpaired surrogates (found U+{ord(found.group()):04X})."
            )


def check_header_conditions(items, label):
    """IncludeHeader conditions as [[name, value, match], ...]; a [name, value] pair is
    an `equals` condition. One header may be named by several conditions (all must hold)."""
    if not isinstance(items, list) or not all(
        isinstance(item, list | tuple)
        and len(item) in (2, 3)
        and all(isinstance(part, str) for part in item)
        for item in items
    ):
        raise ValidationError(
            f"{label}: expected a list of [name, value] or [name, value, match] items."
        )
    conditions = [
        [item[0], item[1], item[2] if len(item) == 3 else engine.MATCH_EQUALS]
        for item in items
    ]
    check_header_pairs([[name, value] for name, value, _ in conditions], label, True)
    for name, value, match in conditions:
        if match not in engine.HEADER_MATCHES:
            raise ValidationError(
                f"{label}: {match!r} is not a comparison; use "
                + ", ".join(engine.HEADER_MATCHES)
                + "."
            )
        if match != engine.MATCH_EQUALS and not value:
            raise ValidationError(
                f"{label}: {name} {match.replace('_', ' ')} needs a value."
            )
    return conditions


MAX_ALTERNATES = 10
MAX_ALTERNATE_NUMBER = 10_000


def check_alternates(items, label):
    """Alternate origins as [[number, base URL], ...] sorted by number, each URL ending in /."""
    if not isinstance(items, list) or not all(
        isinstance(item, list | tuple)
        and len(item) == 2
        and isinstance(item[0], int)
        and not isinstance(item[0], bool)
        and isinstance(item[1], str)
        for item in items
    ):
        raise ValidationError(f"{label}: expected a list of [number, URL] items.")
    if len(items) > MAX_ALTERNATES:
        raise ValidationError(f"{label}: at most {MAX_ALTERNATES} alternate origins.")
    numbers = [number for number, _ in items]
    for number in numbers:
        if not 1 <= number <= MAX_ALTERNATE_NUMBER:
            raise ValidationError(
                f"{label}: the number {number} must be from 1 to {MAX_ALTERNATE_NUMBER}."
            )
    repeated = sorted({number for number in numbers if numbers.count(number) > 1})
    if repeated:
        raise ValidationError(f"{label}: number {repeated[0]} is used more than once.")
    alternates = []
    for number, url in sorted(items):
        url = url.strip()
        split_origin_url(url, f"{label} {number}")
        alternates.append([number, url if url.endswith("/") else url + "/"])
    return alternates


MAX_TRANSPARENT_CODES = 20


def parse_status_codes(text, label):
    """ "403, 429" as [403, 429]: what TransparentMirrorResponseCodes holds."""
    codes = []
    for part in (text or "").split(","):
        part = part.strip()
        if not part:
            continue
        try:
            codes.append(parse_decimal(part, max_value=999))
        except ValueError:
            raise ValidationError(
                f"{label}: {part[:20]!r} is not an HTTP status code."
            ) from None
    return codes


def check_status_codes(codes, label):
    """Origin statuses answered as they are: 4xx and 5xx, each once."""
    if not isinstance(codes, list) or not all(
        isinstance(code, int) and not isinstance(code, bool) for code in codes
    ):
        raise ValidationError(f"{label}: expected a list of HTTP status codes.")
    if len(codes) > MAX_TRANSPARENT_CODES:
        raise ValidationError(f"{label}: at most {MAX_TRANSPARENT_CODES} codes.")
    for code in codes:
        if not 400 <= code <= 599:
            raise ValidationError(
                f"{label}: {code} is not an error status (400 to 599); "
                "successful answers are mirrored and 3xx follow the redirect setting."
            )
    return sorted(set(codes))


_CREDENTIAL_RE = re.compile(r"^[\x21-\x7e]+\Z")
_REGION_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}\Z")


def check_credential(value, label, max_length=128):
    """An AccessKey ID or secret: printable ASCII, no spaces."""
    if not value:
        raise ValidationError(f"{label} is required.")
    if len(value) > max_length or not _CREDENTIAL_RE.match(value):
        raise ValidationError(
            f"{label} must be 1 to {max_length} printable ASCII characters without spaces."
        )


def check_region(value, label):
    if not _REGION_RE.match(value or ""):
        raise ValidationError(
            f"{label} must be a region name such as us-east-1 or cn-hangzhou "
            "(lower-case letters, digits and -)."
        )
