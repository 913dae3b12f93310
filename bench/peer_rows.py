"""Issue 14's table: our hot paths side by side with their peers in the same run.

Hits are compared with a bare Django project (small objects, driven by wrk) and nginx
serving the same file with sendfile (large objects); misses with nginx as the classic
mirror (`proxy_store`). Each scenario alternates rounds of us and the peer, so a busy
moment on the shared machine falls on both.
"""

import hashlib
import http.client
import os
import re
import statistics
import subprocess
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

from bench.loopback_origin import expected_md5, object_key
from bench.measure import (
    KIB,
    MIB,
    RssSampler,
    concurrent_round,
    ms,
    progress,
    sequential,
)
from bench.scenarios import LARGE
from bench.server_under_test import start_with_bucket

SMALL_HIT = KIB
WRK_CONNECTIONS = 16
TTFB_ORIGIN_MS = 100
TTFB_SIZE = MIB
DISTINCT_MISS_SIZE = 16 * KIB
DISTINCT_MISS_CLIENTS = 8
CROWD = 50
CROWD_ORIGIN_MS = 200
RSS_LIMIT_MIB = 64

HIT_SMALL_KEY = object_key(SMALL_HIT, "peer-hit-1k")
HIT_LARGE_KEY = object_key(LARGE, "peer-hit-big")
# A key of its own: the X-Accel-Redirect server mirrors it once into its DATA_DIR.
HIT_LARGE_ACCEL_KEY = object_key(LARGE, "peer-hit-big-accel")
# What the peers serve from disk (nginx static and bare Django): (key, size) pairs.
PEER_OBJECTS = [
    (HIT_SMALL_KEY, SMALL_HIT),
    (HIT_LARGE_KEY, LARGE),
    (HIT_LARGE_ACCEL_KEY, LARGE),
]


@dataclass
class PeerRow:
    """One row of issue 14's table: our figure, the peer's, and the target."""

    scenario: str
    us: float
    peer: float | None
    peer_name: str
    unit: str
    target: str
    ratio: bool = True  # False where us ÷ peer means nothing (no peer figure)

    @property
    def met(self):
        """Whether our figure meets the target: "≥ 0.8×" is a ratio to the peer,
        "≤ +10 ms" and "≤ 64 MiB" bound our figure, "keep 1" is exact."""
        bound = float(re.search(r"[\d.]+", self.target).group())
        if self.target.startswith("keep"):
            return self.us == bound
        if self.target.endswith("×"):
            return bool(self.peer) and self.us / self.peer >= bound
        return self.us <= bound


class Targets:
    """Who is measured: our bucket and server, and the peers."""

    def __init__(self, origin, server, bucket, nginx, bare):
        self.origin = origin
        self.server = server
        self.bucket = bucket
        self.nginx = nginx
        self.bare = bare.peer


def peer_rows(targets, plan, checks):
    """Every row of issue 14's table, in its order; and the origin keys nginx's
    mirror fetched more than once on purpose (the crowd on one key)."""
    measured = {}
    # Small and latency-bound rows first, before the big transfers fill the page cache.
    measured["hit small"] = hit_small_row(targets, plan, checks)
    measured["crowd"], crowd_keys = crowd_row(targets, plan, checks)
    measured["ttfb"] = ttfb_row(targets, plan, checks)
    measured["distinct"] = distinct_misses_row(targets, plan, checks)
    measured["hit large"] = hit_large_row(targets, plan, checks)
    measured["hit large accel"] = hit_large_accel_row(targets, plan, checks)
    measured["miss large"], measured["rss"] = miss_large_rows(targets, plan, checks)
    order = [
        "hit small",
        "hit large",
        "hit large accel",
        "ttfb",
        "miss large",
        "distinct",
        "crowd",
        "rss",
    ]
    return [measured[name] for name in order], crowd_keys


# -- hit 1 KiB: wrk, 16 connections, Connection: close ---------------------------------


@dataclass
class WrkRun:
    requests_per_second: float
    requests: int
    bad_statuses: int
    socket_errors: int


def wrk(url, seconds, connections=WRK_CONNECTIONS):
    """wrk against `url`, every request on a new connection (Connection: close)."""
    result = subprocess.run(
        [
            "wrk",
            "-t2",
            f"-c{connections}",
            f"-d{seconds}s",
            "-H",
            "Connection: close",
            url,
        ],
        capture_output=True,
        text=True,
        timeout=seconds + 60,
        check=True,
    )
    return parse_wrk(result.stdout)


def wrk_version():
    output = subprocess.run(["wrk", "-v"], capture_output=True, text=True).stdout
    found = re.search(r"wrk (\S+)", output)
    return found.group(1) if found else "(unknown version)"


def parse_wrk(output):
    def number(pattern):
        found = re.search(pattern, output)
        return float(found.group(1)) if found else 0.0

    errors = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output
    )
    return WrkRun(
        requests_per_second=number(r"Requests/sec:\s+([\d.]+)"),
        requests=int(number(r"(\d+) requests in")),
        bad_statuses=int(number(r"Non-2xx or 3xx responses: (\d+)")),
        socket_errors=sum(int(n) for n in errors.groups()) if errors else 0,
    )


def hit_small_row(targets, plan, checks):
    key = HIT_SMALL_KEY
    sequential(targets.bucket, [key], SMALL_HIT, checks)  # the miss that makes it a hit
    sequential(targets.bare, [key], SMALL_HIT, checks)
    ours, bare = [], []
    for _ in range(plan.wrk_rounds):
        for name, target, runs in (
            ("us", targets.bucket, ours),
            ("bare Django", targets.bare, bare),
        ):
            progress(
                f"1 KiB hits, wrk {WRK_CONNECTIONS} connections, Connection: close: {name}"
            )
            os.sync()
            run = wrk(target.url_for(key), plan.wrk_seconds)
            checks.expect(
                run.requests > 0 and run.bad_statuses == 0,
                f"wrk against {name}: {run.bad_statuses} of {run.requests} answers were not 2xx",
            )
            if run.socket_errors:
                progress(f"wrk against {name}: {run.socket_errors} socket errors")
            runs.append(run.requests_per_second)
    return PeerRow(
        f"hit 1 KiB, {WRK_CONNECTIONS} connections, Connection: close",
        statistics.median(ours),
        statistics.median(bare),
        "bare Django",
        "req/s",
        "≥ 0.8×",
    )


# -- large bodies: one client reading as fast as it can ---------------------------------


@dataclass
class Transfer:
    status: int
    headers: http.client.HTTPMessage
    size: int
    md5: str | None
    first_byte: float  # seconds to the first body bytes
    total: float


READ_BUFFER = bytearray(4 * MIB)  # transfers run one at a time, from the main thread


def transfer(url, *, digest=False):
    """GET `url` into one reused buffer, hashing only when asked: unlike measure.get,
    the client costs almost nothing, so a fast server is not capped at MD5's speed."""
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=120)
    md5 = hashlib.md5() if digest else None
    view = memoryview(READ_BUFFER)
    try:
        start = time.perf_counter()
        connection.request("GET", parts.path)
        response = connection.getresponse()
        first_piece = response.read1(64 * KIB)
        first = time.perf_counter()
        size = len(first_piece)
        if md5:
            md5.update(first_piece)
        while count := response.readinto(view):
            size += count
            if md5:
                md5.update(view[:count])
        end = time.perf_counter()
    finally:
        connection.close()
    return Transfer(
        response.status,
        response.headers,
        size,
        md5.hexdigest() if md5 else None,
        first - start,
        end - start,
    )


def check_transfer(checks, fetched, key, size, where, *, mirrored=False):
    checks.expect(fetched.status == 200, f"{where}: HTTP {fetched.status}")
    checks.expect(fetched.size == size, f"{where}: {fetched.size} bytes, not {size}")
    if fetched.md5 is not None:
        checks.expect(
            fetched.md5 == expected_md5(key, size),
            f"{where}: the body differs from the origin's",
        )
    if mirrored:
        checks.expect(
            fetched.headers.get("x-oss-tag") == "MIRROR",
            f"{where}: no x-oss-tag: MIRROR",
        )


def mib_per_second(seconds, size=LARGE):
    return size / MIB / statistics.median(seconds)


def hit_large_row(targets, plan, checks):
    key = HIT_LARGE_KEY
    progress("256 MiB hit: mirroring it first")
    check_transfer(
        checks,
        transfer(targets.bucket.url_for(key)),
        key,
        LARGE,
        "256 MiB miss",
        mirrored=True,
    )
    for name, target, mirrored in (
        ("us", targets.bucket, True),
        ("nginx static", targets.nginx.static, False),
    ):
        where = f"256 MiB hit from {name}"
        check_transfer(
            checks,
            transfer(target.url_for(key), digest=True),
            key,
            LARGE,
            where,
            mirrored=mirrored,
        )
    ours, nginx = alternate_large_hits(
        checks, key, ("us", targets.bucket), targets.nginx.static, plan
    )
    return PeerRow(
        "hit 256 MiB",
        mib_per_second(ours),
        mib_per_second(nginx),
        "nginx sendfile",
        "MiB/s",
        "≥ 0.9×",
    )


def hit_large_accel_row(targets, plan, checks):
    """256 MiB hits through nginx in front of our server in X-Accel-Redirect mode
    (a second instance, on its own DATA_DIR), against nginx static."""
    key, front = HIT_LARGE_ACCEL_KEY, targets.nginx.front
    server = targets.nginx.front_server()
    progress("256 MiB hit behind nginx (X-Accel-Redirect): starting our second server")
    try:
        start_with_bucket(server, targets.origin)
        # The miss is streamed by gunicorn itself; nginx sends only the hits.
        check_transfer(
            checks,
            transfer(f"{server.url}{front.prefix}/{key}"),
            key,
            LARGE,
            "256 MiB miss (X-Accel-Redirect server)",
            mirrored=True,
        )
        where = "256 MiB hit behind nginx (X-Accel-Redirect)"
        fetched = transfer(front.url_for(key), digest=True)
        check_transfer(checks, fetched, key, LARGE, where, mirrored=True)
        # nginx's own Server header: the internal location answered, not gunicorn.
        checks.expect(
            fetched.headers.get("Server", "").startswith("nginx"),
            f"{where}: sent by gunicorn, not by nginx",
        )
        ours, nginx = alternate_large_hits(
            checks, key, ("us behind nginx", front), targets.nginx.static, plan
        )
    finally:
        server.stop()
    return PeerRow(
        "hit 256 MiB behind nginx (X-Accel-Redirect)",
        mib_per_second(ours),
        mib_per_second(nginx),
        "nginx sendfile",
        "MiB/s",
        "≥ 0.9×",
    )


def alternate_large_hits(checks, key, us, static, plan):
    """Total seconds of `plan.peer_large_rounds` hits of `key` from `us` (name,
    target) and from nginx static, one after the other."""
    ours, nginx = [], []
    for _ in range(plan.peer_large_rounds):
        for (name, target), times in ((us, ours), (("nginx sendfile", static), nginx)):
            progress(f"256 MiB hit: {name}")
            fetched = transfer(target.url_for(key))
            check_transfer(checks, fetched, key, LARGE, f"256 MiB hit from {name}")
            times.append(fetched.total)
    return ours, nginx


def miss_large_rows(targets, plan, checks):
    """256 MiB through a mirror miss, with our workers' RSS sampled meanwhile."""
    pids = targets.server.worker_pids()
    ours, nginx, growth = [], [], []
    our_keys, nginx_keys = [], []
    for r in range(plan.peer_large_rounds):
        our_key = object_key(LARGE, f"peer-miss-big-us-{r}")
        nginx_key = object_key(LARGE, f"peer-miss-big-nginx-{r}")
        progress("256 MiB mirror miss: us")
        os.sync()
        with RssSampler(pids) as sampler:
            fetched = transfer(targets.bucket.url_for(our_key))
        check_transfer(
            checks, fetched, our_key, LARGE, "256 MiB miss from us", mirrored=True
        )
        ours.append(fetched.total)
        growth.append(sampler.growth)
        our_keys.append(our_key)
        progress("256 MiB mirror miss: nginx proxy_store")
        os.sync()
        fetched = transfer(targets.nginx.mirror.url_for(nginx_key))
        check_transfer(checks, fetched, nginx_key, LARGE, "256 MiB miss from nginx")
        nginx.append(fetched.total)
        nginx_keys.append(nginx_key)
    check_stored_copies(targets, our_keys[0], nginx_keys[0], checks)
    return (
        PeerRow(
            "256 MiB through a mirror miss",
            mib_per_second(ours),
            mib_per_second(nginx),
            "nginx proxy_store",
            "MiB/s",
            "≥ 1.0×",
        ),
        PeerRow(
            f"RSS growth during a 256 MiB mirror (worst of {len(growth)})",
            max(growth) / MIB,
            None,
            "",
            "MiB",
            f"≤ {RSS_LIMIT_MIB} MiB",
            ratio=False,
        ),
    )


def check_stored_copies(targets, our_key, nginx_key, checks):
    """The misses were timed without hashing: the copies each side kept must be whole."""
    progress("256 MiB mirror miss: checking both stored copies")
    fetched = transfer(targets.bucket.url_for(our_key), digest=True)
    check_transfer(
        checks, fetched, our_key, LARGE, "256 MiB mirrored copy (us)", mirrored=True
    )
    md5 = hashlib.md5()
    with (targets.nginx.mirror_root / nginx_key).open("rb") as stored:
        while piece := stored.read(4 * MIB):
            md5.update(piece)
    checks.expect(
        md5.hexdigest() == expected_md5(nginx_key, LARGE),
        "nginx's stored 256 MiB copy differs from the origin's",
    )


# -- misses: time to first byte, many distinct keys, one key by many -------------------


def ttfb_row(targets, plan, checks):
    """Time to the first body byte of a 1 MiB miss on a 100 ms origin, over the same
    fetched straight from the origin."""
    firsts = {"origin": [], "us": [], "nginx": []}
    sources = [
        ("origin", targets.origin, False),
        ("us", targets.bucket, True),
        ("nginx", targets.nginx.mirror, False),
    ]
    progress(f"miss time to first byte, origin answering after {TTFB_ORIGIN_MS} ms")
    for r in range(plan.ttfb_rounds):
        for name, target, mirrored in sources:
            label = "base" if name == "origin" else name
            key = object_key(TTFB_SIZE, f"peer-ttfb-{label}-{r}", TTFB_ORIGIN_MS)
            fetched = transfer(target.url_for(key), digest=True)
            check_transfer(
                checks,
                fetched,
                key,
                TTFB_SIZE,
                f"1 MiB miss from {name}",
                mirrored=mirrored,
            )
            firsts[name].append(fetched.first_byte)
    origin = statistics.median(firsts["origin"])
    return PeerRow(
        f"mirror miss time to first byte (origin TTFB {TTFB_ORIGIN_MS} ms), extra over the origin",
        ms(statistics.median(firsts["us"]) - origin),
        ms(statistics.median(firsts["nginx"]) - origin),
        "nginx proxy_store",
        "+ms",
        "≤ +10 ms",
    )


def distinct_misses_row(targets, plan, checks):
    """`plan.distinct_misses` distinct 16 KiB keys from 8 clients at once: req/s."""
    count, size = plan.distinct_misses, DISTINCT_MISS_SIZE
    per_client = count // DISTINCT_MISS_CLIENTS
    speeds = {"us": [], "nginx": []}
    for r in range(plan.distinct_miss_rounds):
        for name, target in (("us", targets.bucket), ("nginx", targets.nginx.mirror)):
            progress(
                f"{count} distinct 16 KiB misses, {DISTINCT_MISS_CLIENTS} clients: {name}"
            )
            keys = [
                [
                    object_key(size, f"peer-distinct-{name}-{r}-{c}-{i}")
                    for i in range(per_client)
                ]
                for c in range(DISTINCT_MISS_CLIENTS)
            ]
            os.sync()
            wall, _ = concurrent_round(target, keys, size, checks)
            speeds[name].append(per_client * DISTINCT_MISS_CLIENTS / wall)
    return PeerRow(
        f"{per_client * DISTINCT_MISS_CLIENTS} distinct misses (16 KiB), {DISTINCT_MISS_CLIENTS} clients",
        statistics.median(speeds["us"]),
        statistics.median(speeds["nginx"]),
        "nginx proxy_store",
        "req/s",
        "≥ 0.5×",
    )


def crowd_row(targets, plan, checks):
    """50 GETs at once of one missing key on a 200 ms origin: how many reach it."""
    size = 16 * KIB
    counts = {"us": [], "nginx": []}
    nginx_keys = []
    for r in range(plan.crowd_rounds):
        for name, target in (("us", targets.bucket), ("nginx", targets.nginx.mirror)):
            progress(f"{CROWD} concurrent misses on one key: {name}")
            key = object_key(size, f"peer-crowd-{name}-{r}", CROWD_ORIGIN_MS)
            concurrent_round(target, [[key] for _ in range(CROWD)], size, checks)
            counts[name].append(targets.origin.requests_for(key))
            if name == "nginx":
                nginx_keys.append(key)
    checks.expect(
        max(counts["us"]) == 1,
        f"{CROWD} concurrent misses of one key made {max(counts['us'])} origin requests",
    )
    return (
        PeerRow(
            f"{CROWD} concurrent misses on one key: origin requests (worst of {plan.crowd_rounds})",
            max(counts["us"]),
            max(counts["nginx"]),
            "nginx proxy_store",
            "",
            "keep 1",
        ),
        nginx_keys,
    )
