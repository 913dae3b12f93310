"""Filters the console's templates share: how URLs wrap and how sizes read."""

import re

from django import template
from django.template.defaultfilters import filesizeformat
from django.utils.html import escape
from django.utils.safestring import mark_safe

register = template.Library()

# After these a URL may wrap; nowhere else (a host or a file name stays whole).
URL_BREAK_AFTER = re.compile(r"([/?&])")


@register.filter
def url_breaks(url):
    """The URL, escaped, with a line-break opportunity (<wbr>) after each / ? and &."""
    parts = URL_BREAK_AFTER.split(str(url))
    return mark_safe(
        "".join(
            escape(part) + ("<wbr>" if part in "/?&" and part else "") for part in parts
        )
    )


@register.filter
def size_with_bytes(size):
    """'1.2 KB (1234 bytes)', or '0 bytes' alone when the short form says it all."""
    size = int(size or 0)
    short = filesizeformat(size)
    if size < 1024:
        return short
    return f"{short} ({size} bytes)"
