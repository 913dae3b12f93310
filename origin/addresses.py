"""Which origin hosts are internal. Pure: no DNS here (the fetcher resolves and asks again)."""

import ipaddress
import re
import socket

# Ranges that are not the public internet, beyond what ipaddress flags as private.
_EXTRA_INTERNAL_NETWORKS = (
    ipaddress.ip_network("100.64.0.0/10"),  # carrier-grade NAT
    ipaddress.ip_network("192.0.0.0/24"),  # IETF protocol assignments
    ipaddress.ip_network("198.18.0.0/15"),  # benchmarking
)
INTERNAL_HOST_NAMES = (
    "localhost",
    "localhost.localdomain",
    "ip6-localhost",
    "ip6-loopback",
)


def internal_address_reason(address):
    """Why an IP address is not a public origin, or None when it is public."""
    ip = ipaddress.ip_address(address)
    if isinstance(ip, ipaddress.IPv6Address):
        # IPv6 forms that carry an IPv4 address (mapped, 6to4, Teredo) are judged by it.
        embedded = (
            ip.ipv4_mapped or ip.sixtofour or (ip.teredo[1] if ip.teredo else None)
        )
        if embedded is not None:
            reason = internal_address_reason(embedded)
            if reason:
                return reason
            if ip.ipv4_mapped:
                ip = ip.ipv4_mapped
    checks = (
        (ip.is_loopback, "a loopback address"),
        (ip.is_link_local, "a link-local address"),
        # fec0::/10 is deprecated but still routed by some networks; is_private misses it.
        (getattr(ip, "is_site_local", False), "a site-local address"),
        (ip.is_multicast, "a multicast address"),
        (ip.is_unspecified, "an unspecified address"),
        (ip.is_private, "a private-network address"),
        (ip.is_reserved, "a reserved address"),
        (
            any(
                ip in network
                for network in _EXTRA_INTERNAL_NETWORKS
                if network.version == ip.version
            ),
            "an internal-use address",
        ),
    )
    return next((reason for flagged, reason in checks if flagged), None)


def ip_literal(host):
    """The IP address a host string spells out literally, or None for a name."""
    candidate = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    try:
        return ipaddress.ip_address(candidate)
    except ValueError:
        pass
    # Resolvers read inet_aton shorthands (127.1, 0x7f.0.0.1, 2130706433) as IPv4 literals.
    if re.fullmatch(r"[0-9a-fA-FxX.]+", candidate):
        try:
            return ipaddress.IPv4Address(socket.inet_aton(candidate))
        except OSError:
            return None
    return None


def internal_host_reason(host):
    """Why a host (name or literal, no port) is internal at face value, or None."""
    lowered = host.lower().rstrip(".")
    if lowered in INTERNAL_HOST_NAMES or lowered.endswith(".localhost"):
        return "a local host name"
    ip = ip_literal(lowered)
    return internal_address_reason(ip) if ip is not None else None
