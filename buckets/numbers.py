"""Bounded parsing of the decimal numbers requests carry (Range, max-keys, position,
Expires, XML elements).

`int()` is not enough: it raises on more than 4,300 digits (a 500 instead of a 4xx),
and it reads Unicode digits such as '٣' that `str.isdigit()` also lets through
(and '²', which isdigit() accepts and int() refuses).
"""

import re

_DECIMAL_RE = re.compile(r"[0-9]+")

# Beyond any object's size (18 digits): a larger offset or position means "past the end".
MAX_BYTE_OFFSET = 10**18 - 1


def parse_decimal(text, *, max_value, clamp=False):
    """The value of `text`, ASCII digits only, at most `max_value`.

    Raises ValueError for anything else, or for a larger value unless `clamp`, which
    answers `max_value` instead: "larger than anything we hold" is then all a caller
    needs to know (a Range past any object's end).
    """
    if not isinstance(text, str) or not _DECIMAL_RE.fullmatch(text):
        raise ValueError("not a decimal number")
    digits = text.lstrip("0") or "0"
    # Compare lengths first, so int() never sees more digits than max_value has.
    if len(digits) > len(str(max_value)) or int(digits) > max_value:
        if clamp:
            return max_value
        raise ValueError(f"larger than {max_value}")
    return int(digits)
