"""Outbound HTTP that cannot be turned against the server's own network (the SSRF
guard): which addresses are internal (pure: no DNS in the classification), and a
requests adapter whose connections resolve the host, refuse internal addresses
(unless settings.ORIGIN_ALLOW_PRIVATE) and connect to the very address checked.

Back-to-Origin fetches (origin/fetch.py) and upload callbacks (buckets/callbacks.py)
both go out through it.
"""

import ipaddress
import re
import socket
import ssl

from django.conf import settings
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import (
    ConnectTimeoutError,
    NameResolutionError,
    NewConnectionError,
    ProtocolError,
    ReadTimeoutError,
    SSLError,
)

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


class AddressRefused(Exception):
    """The guard refused to connect: `host` is, or resolves to, an internal `address`."""

    def __init__(self, host, address, reason):
        super().__init__(f"{host}: {reason}")
        self.host, self.address, self.reason = host, address, reason

    def describe(self):
        """ "10.0.0.1 is a private-network address", naming what the host resolved to."""
        shown = (
            self.host
            if self.host == self.address
            else f"{self.host} resolves to {self.address}, which"
        )
        return f"{shown} is {self.reason}"


def resolve_addresses(host, port):
    """All addresses a host name resolves to (IP literals resolve to themselves)."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(info[4][0] for info in infos))


def check_address(host, address):
    if settings.ORIGIN_ALLOW_PRIVATE:
        return
    reason = internal_address_reason(address)
    if reason:
        raise AddressRefused(host, address, reason)


class _GuardedConnectionMixin:
    def _new_conn(self):
        host = self._dns_host
        try:
            addresses = resolve_addresses(host, self.port)
        except socket.gaierror as error:
            raise NameResolutionError(self.host, self, error) from error
        for address in addresses:
            check_address(host, address)
        last_error = None
        for address in addresses:
            # Connect to the address that was checked; TLS still verifies the name.
            self._dns_host = address
            try:
                return super()._new_conn()
            except (NewConnectionError, ConnectTimeoutError) as error:
                last_error = error
            finally:
                self._dns_host = host
        raise last_error


class GuardedHTTPConnection(_GuardedConnectionMixin, HTTPConnection):
    pass


class GuardedHTTPSConnection(_GuardedConnectionMixin, HTTPSConnection):
    pass


class GuardedHTTPConnectionPool(HTTPConnectionPool):
    ConnectionCls = GuardedHTTPConnection


class GuardedHTTPSConnectionPool(HTTPSConnectionPool):
    ConnectionCls = GuardedHTTPSConnection


class GuardedAdapter(HTTPAdapter):
    def init_poolmanager(self, *args, **kwargs):
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {
            "http": GuardedHTTPConnectionPool,
            "https": GuardedHTTPSConnectionPool,
        }


def plain_reason(error, peer="the origin"):
    """A short reason for a failed connection or read, without library internals;
    `peer` is what was asked (the origin, the callback server)."""
    if caused_by(error, NameResolutionError):
        return "the host name could not be resolved"
    if caused_by(error, ConnectionRefusedError):
        return "the connection was refused"
    # urllib3's NewConnectionError (refused, unreachable...) subclasses ConnectTimeoutError.
    if caused_by(error, ConnectTimeoutError) and not caused_by(
        error, NewConnectionError
    ):
        return f"connecting timed out after {settings.ORIGIN_TIMEOUT_SECONDS:g} seconds"
    if caused_by(error, ReadTimeoutError) or caused_by(error, TimeoutError):
        return f"{peer} sent nothing for {settings.ORIGIN_TIMEOUT_SECONDS:g} seconds"
    if caused_by(error, SSLError) or caused_by(error, ssl.SSLError):
        return "the TLS handshake failed"
    if caused_by(error, ProtocolError) or caused_by(error, ConnectionError):
        return f"{peer} closed the connection early"
    return "the connection failed"


def caused_by(error, kind):
    seen = error
    while seen is not None:
        if isinstance(seen, kind) or any(
            isinstance(arg, kind) for arg in getattr(seen, "args", ())
        ):
            return True
        seen = seen.__cause__ or seen.__context__
    return False
