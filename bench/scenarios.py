"""The scenarios: each measures the mirror bucket against the same bytes fetched
straight from the origin in the same run, and returns rows for the table."""

import statistics
import time
from concurrent.futures import ThreadPoolExecutor

import requests

from bench.loopback_origin import object_key
from bench.measure import (
    KIB,
    MIB,
    Row,
    RssSampler,
    concurrent_round,
    get,
    ms,
    p95,
    progress,
    sequential,
)
from bench.server_under_test import WEB_WORKERS

CLIENTS = 8  # concurrent clients in the throughput runs
SINGLE_FLIGHT_CLIENTS = 30
SLOW_ORIGIN_MS = 200
LARGE = 256 * MIB


def latency_rows(label, size, origin, bucket, checks, gets=40, misses=30):
    """Sequential latency: origin direct (baseline), local hit, mirror miss."""
    base_key = object_key(size, "base")
    hit_key = object_key(size, "hit")
    sequential(bucket, [hit_key], size, checks)  # the miss that makes it a hit
    results = {}
    for name, target, keys, warmup in [
        ("origin direct", origin, [base_key] * gets, [base_key] * 5),
        ("local hit", bucket, [hit_key] * gets, [hit_key] * 5),
        (
            "mirror miss",
            bucket,
            [object_key(size, f"miss-{i}") for i in range(misses)],
            [object_key(size, f"miss-warm-{i}") for i in range(3)],
        ),
    ]:
        progress(f"{label} sequential GETs, {name}")
        latencies = sequential(target, keys, size, checks, warmup_keys=warmup)
        results[name] = (ms(statistics.median(latencies)), ms(p95(latencies)))
    base50, base95 = results["origin direct"]
    rows = [
        Row(f"{label} GET p50, origin direct", base50, "ms"),
        Row(f"{label} GET p95, origin direct", base95, "ms"),
    ]
    for name in ("local hit", "mirror miss"):
        p50, p95_ = results[name]
        rows.append(Row(f"{label} GET p50, {name}", p50, "ms", base50))
        rows.append(Row(f"{label} GET p95, {name}", p95_, "ms", base95))
    return rows


def throughput_rows(origin, bucket, checks, rounds=3, per_client=12):
    """1 MiB GETs from 8 clients at once: MiB/s (median of rounds) and p95 latency."""
    size = MIB
    base_key = object_key(size, "base")
    hit_key = object_key(size, "hit")
    results = {}
    for name, target in [
        ("origin direct", origin),
        ("local hit", bucket),
        ("mirror miss", bucket),
    ]:
        progress(f"1 MiB GETs from {CLIENTS} clients, {name}")

        def keys(round_name, count, name=name):
            if name == "origin direct":
                return [[base_key] * count for _ in range(CLIENTS)]
            if name == "local hit":
                return [[hit_key] * count for _ in range(CLIENTS)]
            return [
                [object_key(size, f"tp-{round_name}-{c}-{i}") for i in range(count)]
                for c in range(CLIENTS)
            ]

        concurrent_round(target, keys("warm", 2), size, checks)
        speeds, latencies = [], []
        for r in range(rounds):
            wall, round_latencies = concurrent_round(
                target, keys(f"r{r}", per_client), size, checks
            )
            speeds.append(CLIENTS * per_client * size / MIB / wall)
            latencies += round_latencies
        results[name] = (statistics.median(speeds), ms(p95(latencies)))
    base_speed, base95 = results["origin direct"]
    rows = [
        Row(f"1 MiB throughput, {CLIENTS} clients, origin direct", base_speed, "MiB/s"),
        Row(f"1 MiB p95 under {CLIENTS} clients, origin direct", base95, "ms"),
    ]
    for name in ("local hit", "mirror miss"):
        speed, p95_ = results[name]
        rows.append(
            Row(
                f"1 MiB throughput, {CLIENTS} clients, {name}",
                speed,
                "MiB/s",
                base_speed,
            )
        )
        rows.append(
            Row(f"1 MiB p95 under {CLIENTS} clients, {name}", p95_, "ms", base95)
        )
    return rows


def single_flight_rows(origin, bucket, checks, rounds=3, hit_rounds=5):
    """30 GETs at once on one missing key while the origin takes 200 ms to answer."""
    size = MIB
    progress(f"single flight: one miss on a {SLOW_ORIGIN_MS} ms origin")
    alone = sequential(
        bucket,
        [object_key(size, f"sf-alone-{i}", SLOW_ORIGIN_MS) for i in range(rounds)],
        size,
        checks,
    )
    walls, origin_requests = [], []
    for r in range(rounds):
        progress(f"single flight: {SINGLE_FLIGHT_CLIENTS} GETs on one missing key")
        key = object_key(size, f"sf-{r}", SLOW_ORIGIN_MS)
        wall, _ = concurrent_round(
            bucket, [[key] for _ in range(SINGLE_FLIGHT_CLIENTS)], size, checks
        )
        walls.append(wall)
        count = origin.requests_for(key)
        origin_requests.append(count)
        checks.expect(
            count == 1,
            f"single flight: {SINGLE_FLIGHT_CLIENTS} concurrent GETs of {key} made {count} origin requests",
        )
    return [
        Row(
            f"single flight: origin requests for {SINGLE_FLIGHT_CLIENTS} concurrent GETs (worst of {rounds})",
            max(origin_requests),
            "",
            1,
            "must be 1",
        ),
        Row(
            f"single flight: wall time of {SINGLE_FLIGHT_CLIENTS} concurrent GETs",
            ms(statistics.median(walls)),
            "ms",
            ms(statistics.median(alone)),
            "one miss",
        ),
        *hit_while_waiting_rows(bucket, checks, rounds=hit_rounds),
    ]


def hit_while_waiting_rows(bucket, checks, rounds=5, delay_ms=600):
    """A new client's local hit of another key while 30 GETs wait on one slow miss.

    Waiters hold a server thread each until the leader's fetch is saved, so this
    shows whether a hot missing object holds up requests for unrelated objects.
    Whether the hit lands on a worker with a free thread depends on how the
    workers happened to share the 30 connections, hence the median and the worst.
    """
    size = 64 * KIB
    hit_key = object_key(size, "hit")  # mirrored by the 64 KiB latency runs

    def fresh_hit():
        with requests.Session() as session:
            fetched = get(session, bucket.url_for(hit_key))
        checks.body(fetched, hit_key, size, mirrored=True)
        return fetched.total

    fresh_hit()
    alone = [fresh_hit() for _ in range(10)]
    during = []
    for r in range(rounds):
        progress(
            f"local hit while {SINGLE_FLIGHT_CLIENTS} GETs wait on a {delay_ms} ms origin"
        )
        slow_key = object_key(MIB, f"hol-{r}", delay_ms)
        with ThreadPoolExecutor(1) as background:
            waiting = background.submit(
                concurrent_round,
                bucket,
                [[slow_key] for _ in range(SINGLE_FLIGHT_CLIENTS)],
                MIB,
                checks,
            )
            time.sleep(delay_ms / 1000 / 4)  # the waiters are parked by now
            during.append(fresh_hit())
            waiting.result()
    label = f"64 KiB local hit (new client) while {SINGLE_FLIGHT_CLIENTS} GETs wait on a {delay_ms} ms miss"
    return [
        Row(
            f"{label}, p50",
            ms(statistics.median(during)),
            "ms",
            ms(statistics.median(alone)),
            "hit alone",
        ),
        Row(
            f"{label}, worst of {rounds}",
            ms(max(during)),
            "ms",
            ms(statistics.median(alone)),
            "hit alone",
        ),
    ]


def large_rows(origin, server, bucket, checks, rounds=3):
    """A 256 MiB object: streamed while mirrored, worker memory flat, then served locally."""
    size = LARGE
    label = f"{size // MIB} MiB"
    pids = server.worker_pids()
    checks.expect(
        len(pids) == WEB_WORKERS,
        f"found {len(pids)} gunicorn workers, not {WEB_WORKERS}",
    )
    base_key = object_key(size, "big-base")
    rss_before = [RssSampler.rss(pid) for pid in pids]
    progress(f"{label} from the origin directly")
    with requests.Session() as session:
        base = []
        for _ in range(rounds):
            fetched = get(session, origin.url_for(base_key), chunk=MIB)
            checks.body(fetched, base_key, size, mirrored=False)
            base.append(fetched.total)

        misses, growth, first_bytes = [], [], []
        mirrored_keys = [object_key(size, f"big-{r}") for r in range(rounds)]
        for key in mirrored_keys:
            progress(f"{label} mirror miss")
            with RssSampler(pids) as sampler:
                fetched = get(session, bucket.url_for(key), chunk=MIB)
            checks.body(fetched, key, size, mirrored=True)
            misses.append(fetched.total)
            first_bytes.append(fetched.first_byte)
            growth.append(sampler.growth)
        head = session.head(bucket.url_for(mirrored_keys[0]), timeout=30)
        checks.expect(
            head.status_code == 200
            and head.headers.get("Content-Length") == str(size)
            and head.headers.get("x-oss-tag") == "MIRROR",
            f"{label} mirrored object was not saved whole (HEAD {head.status_code})",
        )

        hits, hit_growth = [], []
        for _ in range(rounds):
            progress(f"{label} local hit")
            with RssSampler(pids) as sampler:
                fetched = get(session, bucket.url_for(mirrored_keys[0]), chunk=MIB)
            checks.body(fetched, mirrored_keys[0], size, mirrored=True)
            hits.append(fetched.total)
            hit_growth.append(sampler.growth)

    def speed(seconds):
        return size / MIB / statistics.median(seconds)

    return [
        Row(f"{label} throughput, origin direct", speed(base), "MiB/s"),
        Row(f"{label} throughput, mirror miss", speed(misses), "MiB/s", speed(base)),
        Row(f"{label} throughput, local hit", speed(hits), "MiB/s", speed(base)),
        Row(
            f"{label} mirror miss: time to first byte",
            ms(statistics.median(first_bytes)),
            "ms",
            ms(statistics.median(misses)),
            "total time",
        ),
        Row(
            "gunicorn worker RSS before the transfers (largest worker)",
            max(rss_before) / MIB,
            "MiB",
            note="(info)",
        ),
        Row(
            f"{label} mirror miss: worker peak RSS growth (worst of {rounds})",
            max(growth) / MIB,
            "MiB",
            size / MIB,
            "object size",
        ),
        Row(
            f"{label} local hit: worker peak RSS growth (worst of {rounds})",
            max(hit_growth) / MIB,
            "MiB",
            size / MIB,
            "object size",
        ),
    ]


def each_object_fetched_once(origin, checks, exempt=()):
    """Every mirrored key must have reached the origin exactly once: later GETs are hits.
    `exempt` keys were fetched many times on purpose (nginx's mirror has no single flight)."""
    counts = origin.request_counts()
    for key, count in sorted(counts.items()):
        # Baselines are fetched directly, often.
        if "base" not in key.rsplit("/", 1)[1] and key not in exempt:
            checks.expect(
                count == 1, f"{key} was fetched from the origin {count} times"
            )
