"""Timing and checking what the benchmark fetches: one client GET, sequential and
concurrent rounds of them, worker memory sampled meanwhile, and the functional
checks whose failure fails the run."""

import contextlib
import hashlib
import math
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import requests

from bench.loopback_origin import expected_md5

KIB, MIB = 1024, 1024 * 1024


@dataclass
class Row:
    """One line of the results: a value and the baseline it is compared with."""

    metric: str
    value: float
    unit: str
    baseline: float | None = None
    baseline_label: str = ""
    note: str = ""  # shown instead of a ratio


def ms(seconds):
    return seconds * 1000


def progress(message):
    print(f"· {message}", file=sys.stderr, flush=True)


@dataclass
class Fetched:
    status: int
    headers: dict
    size: int
    md5: str
    first_byte: float  # seconds to the first body bytes
    total: float  # seconds to the last body bytes


def get(session, url, *, chunk=256 * KIB, timeout=120):
    """GET `url`, reading the body in chunks (the same client work for every target)."""
    digest = hashlib.md5()
    size, first = 0, None
    start = time.perf_counter()
    with session.get(url, stream=True, timeout=timeout) as response:
        for piece in response.iter_content(chunk):
            if first is None:
                first = time.perf_counter()
            digest.update(piece)
            size += len(piece)
    end = time.perf_counter()
    return Fetched(
        response.status_code,
        response.headers,
        size,
        digest.hexdigest(),
        (first or end) - start,
        end - start,
    )


def get_with_boto3(client, bucket, key, *, chunk=256 * KIB):
    """GetObject `key` from an S3 store, reading the body as `get` does (the floor)."""
    digest = hashlib.md5()
    size, first = 0, None
    start = time.perf_counter()
    response = client.get_object(Bucket=bucket, Key=key)
    with contextlib.closing(response["Body"]) as body:
        for piece in body.iter_chunks(chunk):
            if first is None:
                first = time.perf_counter()
            digest.update(piece)
            size += len(piece)
    end = time.perf_counter()
    metadata = response["ResponseMetadata"]
    return Fetched(
        metadata["HTTPStatusCode"],
        metadata["HTTPHeaders"],
        size,
        digest.hexdigest(),
        (first or end) - start,
        end - start,
    )


def p95(values):
    ordered = sorted(values)
    return ordered[max(math.ceil(0.95 * len(ordered)) - 1, 0)]


class Checks:
    """Functional problems found along the way; any of them makes the run fail."""

    def __init__(self):
        self.failures = []

    def expect(self, ok, message):
        if not ok and message not in self.failures:
            self.failures.append(message)

    def body(self, fetched, key, size, *, mirrored, where=None):
        where = where or f"GET {key}"
        self.expect(fetched.status == 200, f"{where}: HTTP {fetched.status}")
        if fetched.status != 200:
            return
        self.expect(
            fetched.size == size and fetched.md5 == expected_md5(key, size),
            f"{where}: the body differs from the origin's",
        )
        if mirrored:
            self.expect(
                fetched.headers.get("x-oss-tag") == "MIRROR",
                f"{where}: no x-oss-tag: MIRROR",
            )


def sequential(target, keys, size, checks, *, warmup_keys=()):
    """One client, one request at a time; returns the latencies in seconds."""
    with requests.Session() as session:
        for key in warmup_keys:
            checks.body(
                get(session, target.url_for(key)), key, size, mirrored=target.mirrored
            )
        latencies = []
        for key in keys:
            fetched = get(session, target.url_for(key))
            checks.body(fetched, key, size, mirrored=target.mirrored)
            latencies.append(fetched.total)
    return latencies


def concurrent_round(target, keys_per_client, size, checks):
    """Each client fetches its keys in turn, all clients at once; (wall s, latencies)."""
    barrier = threading.Barrier(len(keys_per_client))

    def client(keys):
        with requests.Session() as session:
            barrier.wait(timeout=60)
            start = time.perf_counter()
            fetched = [get(session, target.url_for(key)) for key in keys]
            return start, time.perf_counter(), fetched

    with ThreadPoolExecutor(len(keys_per_client)) as pool:
        outcomes = list(pool.map(client, keys_per_client))
    latencies = []
    for keys, (_start, _end, fetched) in zip(keys_per_client, outcomes, strict=True):
        for key, one in zip(keys, fetched, strict=True):
            checks.body(one, key, size, mirrored=target.mirrored)
            latencies.append(one.total)
    wall = max(end for _, end, _ in outcomes) - min(start for start, _, _ in outcomes)
    return wall, latencies


class RssSampler:
    """Peak VmRSS of some processes, sampled every few milliseconds in a thread."""

    def __init__(self, pids, interval=0.005):
        self.pids = pids
        self.interval = interval
        self.before = {pid: self.rss(pid) for pid in pids}
        self.peak = dict(self.before)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    @staticmethod
    def rss(pid):
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * KIB
        return 0

    def _run(self):
        while not self._stop.is_set():
            for pid in self.pids:
                self.peak[pid] = max(self.peak[pid], self.rss(pid))
            self._stop.wait(self.interval)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()

    @property
    def growth(self):
        """The largest rise of any one process over its RSS before the transfer."""
        return max(self.peak[pid] - self.before[pid] for pid in self.pids)
