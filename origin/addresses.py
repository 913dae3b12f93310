"""Which origin hosts are internal: the SSRF guard's classification, which lives in
buckets/outbound.py (upload callbacks use it too)."""

from buckets.outbound import (  # noqa: F401 - this module's names
    INTERNAL_HOST_NAMES,
    internal_address_reason,
    internal_host_reason,
    ip_literal,
)
