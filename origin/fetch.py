"""Talking to origins: the only module that imports requests.

Every connection, including each redirect hop, probe and secondary origin,
goes through the SSRF guard at connect time: the host is resolved once, every
address is checked, and the socket connects to a checked address, so there is
no window for DNS rebinding between the check and the connection.
"""

import http.cookiejar
import threading
import time
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

import requests
from django.conf import settings
from urllib3.exceptions import (
    NameResolutionError,
)

from buckets import outbound
from buckets.numbers import MAX_BYTE_OFFSET, parse_decimal
from buckets.outbound import GuardedAdapter, caused_by, plain_reason

MAX_REDIRECT_HOPS = 10
CHUNK_SIZE = 256 * 1024
PROBE_CACHE_SECONDS = 5


class OriginError(Exception):
    """An origin fetch that did not produce a usable answer; `message` says which way."""

    def __init__(self, message, *, reason="failed"):
        super().__init__(message)
        self.message = message
        self.reason = reason


class OriginRefused(OriginError):
    """The SSRF guard refused an address."""

    def __init__(self, message):
        super().__init__(message, reason="refused")


def check_address(host, address):
    """The SSRF guard's check (buckets/outbound.py), refusing as an OriginError."""
    try:
        outbound.check_address(host, address)
    except outbound.AddressRefused as refused:
        raise _origin_refused(refused) from None


def _origin_refused(refused):
    return OriginRefused(
        f"Origin refused: {refused.describe()}; origins on internal networks are not allowed."
    )


def _new_session():
    session = requests.Session()
    session.trust_env = False  # an environment proxy would bypass the guard
    session.headers.clear()  # nothing of our own beyond what the transmission rule says
    session.cookies.set_policy(http.cookiejar.DefaultCookiePolicy(allowed_domains=[]))
    adapter = GuardedAdapter(pool_connections=32, pool_maxsize=64, max_retries=0)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


_session = _new_session()


class Deadline:
    """The end of a whole origin fetch (ORIGIN_DEADLINE_SECONDS): every connect and
    read waits at most ORIGIN_TIMEOUT_SECONDS, and never past this point."""

    def __init__(self, seconds=None):
        seconds = settings.ORIGIN_DEADLINE_SECONDS if seconds is None else seconds
        self.seconds = seconds
        self.at = time.monotonic() + seconds

    def remaining(self):
        return self.at - time.monotonic()

    def raise_if_passed(self):
        if self.remaining() <= 0:
            raise OriginError(
                f"The origin fetch did not finish within {self.seconds:g} seconds (ORIGIN_DEADLINE_SECONDS).",
                reason="deadline",
            )

    def timeout(self):
        """Seconds the next connect or read may take; OriginError once passed."""
        self.raise_if_passed()
        return min(settings.ORIGIN_TIMEOUT_SECONDS, self.remaining())


@dataclass
class OriginResponse:
    url: str
    status: int
    headers: requests.structures.CaseInsensitiveDict
    hops: int
    _response: requests.Response
    deadline: Deadline

    @property
    def content_length(self):
        try:
            return parse_decimal(
                self.headers.get("Content-Length", ""), max_value=MAX_BYTE_OFFSET
            )
        except ValueError:
            return None

    def chunks(self):
        """The body as sent (no content decoding), raising OriginError if it breaks
        off, stalls for ORIGIN_TIMEOUT_SECONDS or runs past the deadline."""
        raw = self._response.raw
        while True:
            self._limit_next_read(self.deadline.timeout())
            try:
                # read1 hands on what has arrived; stream() would wait for CHUNK_SIZE
                # bytes, holding a slow origin's first bytes back from the client.
                chunk = raw.read1(CHUNK_SIZE, decode_content=False)
            except Exception as error:  # urllib3 raises several types for a broken body
                self.deadline.raise_if_passed()  # a timeout at the deadline says so
                raise OriginError(
                    f"Read body from mirror host failed: {plain_reason(error)}.",
                    reason="read",
                ) from error
            if not chunk:
                return
            yield chunk

    def _limit_next_read(self, seconds):
        connection = getattr(self._response.raw, "connection", None)
        sock = getattr(connection, "sock", None)
        if sock is not None:
            sock.settimeout(seconds)

    def close(self):
        self._response.close()


def _send(method, url, headers, deadline):
    if urlsplit(url).scheme not in ("http", "https"):
        raise OriginError(f"The origin redirected to an unsupported URL: {url[:200]}")
    wait = deadline.timeout()
    try:
        return _session.request(
            method,
            url,
            headers=headers,
            stream=True,
            allow_redirects=False,
            timeout=(wait, wait),
        )
    except OriginError:
        raise
    except outbound.AddressRefused as refused:
        raise _origin_refused(refused) from None
    except requests.Timeout as error:
        deadline.raise_if_passed()
        raise OriginError(
            f"The origin did not answer within {settings.ORIGIN_TIMEOUT_SECONDS:g} seconds.",
            reason="timeout",
        ) from error
    except requests.ConnectionError as error:
        if caused_by(error, NameResolutionError):
            raise OriginError(
                f"The origin host {urlsplit(url).hostname} could not be resolved.",
                reason="dns",
            ) from error
        raise OriginError(
            f"Could not connect to the origin: {plain_reason(error)}.",
            reason="connect",
        ) from error
    except requests.RequestException as error:
        raise OriginError(
            f"The origin request failed: {plain_reason(error)}."
        ) from error
    except UnicodeEncodeError as error:
        # Header values go out as Latin-1: a set header such as "€" cannot be sent (was a 500).
        bad = error.object[error.start : error.end]
        raise OriginError(
            f"The origin request failed: a header value is not Latin-1 ({bad!r} cannot be sent)."
        ) from error


def open_origin(
    url, headers, *, follow_redirects=True, deadline=None, sign=None, method="GET"
):
    """`method` `url` with `headers`, following up to 10 redirects when asked; the body
    is not read yet. `sign` (MirrorAuth) signs each hop on the origin's own host; a
    redirect elsewhere is sent unsigned, so credentials never leave for another host."""
    deadline = deadline or Deadline()
    signed_origin = urlsplit(url)[:2]
    hops = 0
    while True:
        hop_headers = (
            sign(method, url, headers)
            if sign and urlsplit(url)[:2] == signed_origin
            else headers
        )
        response = _send(method, url, hop_headers, deadline)
        if not (follow_redirects and response.is_redirect):
            return OriginResponse(
                url, response.status_code, response.headers, hops, response, deadline
            )
        location = response.headers.get("Location", "")
        response.close()
        hops += 1
        if hops > MAX_REDIRECT_HOPS:
            raise OriginError(
                f"The origin redirected more than {MAX_REDIRECT_HOPS} times.",
                reason="redirects",
            )
        url = urljoin(url, location)


_probe_cache = {}
_probe_lock = threading.Lock()


def probe_ok(url, deadline=None):
    """Whether the probe URL answers 200; remembered for a few seconds per process."""
    now = time.monotonic()
    with _probe_lock:
        cached = _probe_cache.get(url)
        if cached and now - cached[1] < PROBE_CACHE_SECONDS:
            return cached[0]
    try:
        response = _send(
            "GET",
            url,
            {"User-Agent": "OSS-Back-to-Origin-Probe/1.0"},
            deadline or Deadline(),
        )
        healthy = response.status_code == 200
        response.close()
    except OriginError:
        healthy = False
    with _probe_lock:
        _probe_cache[url] = (healthy, now)
    return healthy


def head_origin(url, headers, sign=None):
    """HEAD `url` (no redirects followed) and return the status; the dry run's probe."""
    response = open_origin(
        url,
        headers,
        follow_redirects=False,
        deadline=Deadline(settings.ORIGIN_TIMEOUT_SECONDS),
        sign=sign,
        method="HEAD",
    )
    response.close()
    return response.status
