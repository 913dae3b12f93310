"""Validation of bucket names and object keys (OSS naming rules)."""

import re

from django.conf import settings
from django.core.exceptions import ValidationError

# First path segments the server keeps for itself (SPEC §6): never bucket names.
RESERVED_BUCKET_NAMES = frozenset(
    {"console", "api", "admin", "static", "accounts", "healthz"}
)

# \Z, not $: "$" also matches before a trailing newline, letting "abc\n" through.
BUCKET_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]\Z")
MAX_KEY_BYTES = 1023
_HIGHEST_CODE_POINT = 0x10FFFF


def validate_bucket_name(name):
    if not 3 <= len(name) <= 63:
        raise ValidationError(
            "A bucket name must be 3 to 63 characters long.", code="length"
        )
    if not BUCKET_NAME_RE.match(name):
        raise ValidationError(
            "A bucket name may contain only lowercase letters, digits and hyphens (-), "
            "and must start and end with a letter or digit.",
            code="characters",
        )
    if name in RESERVED_BUCKET_NAMES:
        raise ValidationError(
            f"'{name}' is reserved and cannot be a bucket name.", code="reserved"
        )


def validate_object_key(key):
    """Keys are 1-1023 bytes of UTF-8, not starting with / or \\, without NUL.

    Other control characters are allowed, as OSS allows them (listings carry them
    with encoding-type=url); NUL cannot be stored in PostgreSQL text."""
    if not key:
        raise ValidationError("The object name must not be empty.", code="empty")
    try:
        size = len(key.encode("utf-8"))
    except UnicodeEncodeError:
        raise ValidationError(
            "The object name must be valid UTF-8.", code="encoding"
        ) from None
    if size > MAX_KEY_BYTES:
        raise ValidationError(
            f"The object name is {size} bytes long; the limit is {MAX_KEY_BYTES} bytes of UTF-8.",
            code="length",
        )
    if key[0] in "/\\":
        raise ValidationError(
            "The object name must not start with / or \\.", code="leading_slash"
        )
    if "\x00" in key:
        raise ValidationError(
            "The object name must not contain the NUL character.", code="control"
        )


def key_range(prefix):
    """The half-open range [prefix, upper) of keys that start with prefix.

    Used instead of LIKE, which SQLite compares case-insensitively. Code point
    order equals UTF-8 byte order, which is how keys are collated.
    """
    chars = list(prefix)
    while chars and ord(chars[-1]) == _HIGHEST_CODE_POINT:
        chars.pop()
    if not chars:
        return prefix, None
    following = ord(chars[-1]) + 1
    if 0xD800 <= following <= 0xDFFF:  # surrogates cannot be stored; skip past them
        following = 0xE000
    chars[-1] = chr(following)
    return prefix, "".join(chars)


def key_db_collation():
    """A byte-order collation so listings sort like OSS whatever the server locale."""
    engine = settings.DATABASES["default"]["ENGINE"]
    return "C" if "postgresql" in engine else None
