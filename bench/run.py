"""Benchmarks for Back-to-Origin mirroring, against a baseline measured in the same run.

`make bench` runs this file. It starts a loopback origin (this file again, with
`--origin`, in its own process so it never shares a GIL with the client), starts the
real server the way `make run` does (gunicorn, its own DATA_DIR), creates a
public-read bucket whose mirroring rule points at the origin, measures, prints a
table of ratios and writes bench/RESULTS.md.

Speeds are recorded, never asserted. The run exits non-zero only when something is
functionally wrong: a body that differs from the origin's, a missing x-oss-tag, or
single flight letting more than one request through to the origin.
"""

import contextlib
import ctypes
import functools
import hashlib
import importlib.metadata
import json
import math
import os
import platform
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
RESULTS = ROOT / "bench" / "RESULTS.md"

KIB, MIB = 1024, 1024 * 1024
BUCKET = "bench-mirror"
WEB_WORKERS, WEB_THREADS = 2, 32  # as `make run` serves (config/gunicorn.conf.py)
CLIENTS = 8  # concurrent clients in the throughput runs
SINGLE_FLIGHT_CLIENTS = 30
SLOW_ORIGIN_MS = 200
LARGE = 256 * MIB
PR_SET_PDEATHSIG = 1  # linux/prctl.h

# -- generated bodies ----------------------------------------------------------------
#
# Origin and client derive an object's bytes from its key: a fixed random MiB, cycled
# from a key-dependent offset. The origin serves it from memory without ever holding a
# whole large body; the client computes the MD5 it must receive.

PATTERN = random.Random(4).randbytes(MIB)
DOUBLED = memoryview(PATTERN + PATTERN)


def object_key(size, name, delay_ms=0):
    """A bucket key that is also the origin path: o/<bytes>/<delay ms>/<name>."""
    return f"o/{size}/{delay_ms}/{name}"


def body_pieces(key, size, piece=MIB):
    offset = int.from_bytes(hashlib.sha256(key.encode()).digest()[:4], "big") % MIB
    sent = 0
    while sent < size:
        start = (offset + sent) % MIB
        length = min(piece, size - sent)
        yield DOUBLED[start : start + length]
        sent += length


@functools.lru_cache(maxsize=4096)
def expected_md5(key, size):
    digest = hashlib.md5()
    for piece in body_pieces(key, size):
        digest.update(piece)
    return digest.hexdigest()


# -- the origin (runs as `bench/run.py --origin`) -----------------------------------


class OriginHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out in separate writes
    counts = {}
    counts_lock = threading.Lock()

    def log_message(self, *args):
        pass

    def do_GET(self):
        if self.path == "/_stats":
            with self.counts_lock:
                self._send_json(dict(self.counts))
            return
        key = self.path.lstrip("/")
        try:
            prefix, size, delay_ms, _name = key.split("/", 3)
            size, delay_ms = int(size), int(delay_ms)
        except ValueError:
            prefix = ""
        if prefix != "o":
            self.send_error(404)
            return
        with self.counts_lock:
            self.counts[key] = self.counts.get(key, 0) + 1
        if delay_ms:
            time.sleep(delay_ms / 1000)
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(size))
        self.end_headers()
        try:
            for piece in body_pieces(key, size):
                self.wfile.write(piece)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def _send_json(self, payload):
        data = json.dumps(payload).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


def serve_origin():
    ThreadingHTTPServer.request_queue_size = 128
    server = ThreadingHTTPServer(("127.0.0.1", 0), OriginHandler)
    server.daemon_threads = True
    print(server.server_address[1], flush=True)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    server.serve_forever(poll_interval=0.1)


# -- processes -----------------------------------------------------------------------


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _die_with_parent():
    """In a child before exec: SIGTERM it when this benchmark dies, even by SIGKILL."""
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def stop_process(process, *, group=False):
    if process is None:
        return
    if process.poll() is None:
        process.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=15)
    if group:  # gunicorn workers that outlived their master
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
    if process.poll() is None:
        process.kill()
    process.wait()


class Origin:
    mirrored = False  # what the origin sends carries no x-oss-tag

    def __init__(self):
        self.process = subprocess.Popen(
            [sys.executable, __file__, "--origin"],
            stdout=subprocess.PIPE,
            text=True,
            preexec_fn=_die_with_parent,
        )
        line = self.process.stdout.readline().strip()
        if not line.isdigit():
            self.stop()
            raise RuntimeError("the origin server did not start")
        self.url = f"http://127.0.0.1:{line}"
        self.netloc = f"127.0.0.1:{line}"

    def url_for(self, key):
        return f"{self.url}/{key}"

    def requests_for(self, key):
        return requests.get(f"{self.url}/_stats", timeout=10).json().get(key, 0)

    def stop(self):
        stop_process(self.process)


SETUP_SCRIPT = """
from django.contrib.auth import get_user_model
from buckets.models import Bucket
from origin.models import BackToOriginRule

owner = get_user_model().objects.create_user("bench")
bucket = Bucket.objects.create(owner=owner, name={bucket!r}, acl=Bucket.Acl.PUBLIC_READ)
BackToOriginRule(bucket=bucket, mode="mirror", protocol="http", host={host!r}).save_in_order()
"""


class Server:
    """gunicorn started as `make run` starts it, on a throwaway DATA_DIR."""

    def __init__(self, data_dir, origin):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = Path(data_dir) / "gunicorn.log"
        self.env = {
            **os.environ,
            "DATA_DIR": str(data_dir),
            "HOST": "127.0.0.1",
            "PORT": str(self.port),
            "ORIGIN_ALLOW_PRIVATE": "1",
            "WEB_WORKERS": str(WEB_WORKERS),
            "WEB_THREADS": str(WEB_THREADS),
            "ACCESS_LOG": "/dev/null",
        }
        self.env.pop("DATABASE_URL", None)
        self.process = None
        self.manage("migrate", "--noinput")
        self.manage(
            "shell", "-c", SETUP_SCRIPT.format(bucket=BUCKET, host=origin.netloc)
        )

    def manage(self, *args):
        result = subprocess.run(
            [BIN / "python", "manage.py", *args],
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        if result.returncode:
            raise RuntimeError(f"manage.py {args[0]} failed:\n{result.stderr}")
        return result.stdout

    def start(self):
        with self.log.open("ab") as log_file:
            self.process = subprocess.Popen(
                [BIN / "gunicorn", "-c", "config/gunicorn.conf.py"],
                cwd=ROOT,
                env=self.env,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=_die_with_parent,
            )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"gunicorn exited:\n{self.log.read_text()}")
            # A busy machine may answer slowly: a read timeout is another try, not a failure.
            with contextlib.suppress(requests.RequestException):
                if requests.get(f"{self.url}/healthz", timeout=5).status_code == 200:
                    break
            time.sleep(0.1)
        else:
            raise RuntimeError(
                f"gunicorn did not become healthy:\n{self.log.read_text()}"
            )
        deadline = time.monotonic() + 10
        while len(self.worker_pids()) < WEB_WORKERS and time.monotonic() < deadline:
            time.sleep(0.1)

    def worker_pids(self):
        pids = []
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            with contextlib.suppress(OSError):
                stat = Path(f"/proc/{entry}/stat").read_text()
                if int(stat.rsplit(")", 1)[1].split()[1]) == self.process.pid:
                    pids.append(int(entry))
        return pids

    def stop(self):
        stop_process(self.process, group=True)


class Bucket:
    """The benchmark bucket on the server: every answer must carry x-oss-tag: MIRROR."""

    mirrored = True

    def __init__(self, server):
        self.server = server

    def url_for(self, key):
        return f"{self.server.url}/{BUCKET}/{key}"


# -- measuring -------------------------------------------------------------------------


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

    def body(self, fetched, key, size, *, mirrored):
        where = f"GET {key}"
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


# -- the table -------------------------------------------------------------------------


@dataclass
class Row:
    metric: str
    value: float
    unit: str
    baseline: float | None = None
    baseline_label: str = ""
    note: str = ""  # shown instead of a ratio

    @property
    def ratio(self):
        if self.note:
            return self.note
        if self.baseline is None:
            return "(baseline)" if not self.baseline_label else "—"
        if not self.baseline:
            return "—"
        return f"{self.value / self.baseline:.2f}×"

    def cells(self):
        baseline = "—"
        if self.baseline is not None:
            baseline = _format(self.baseline, self.unit)
            if self.baseline_label:
                baseline += f" ({self.baseline_label})"
        return [self.metric, _format(self.value, self.unit), baseline, self.ratio]


def _format(value, unit):
    if unit == "ms":
        return f"{value:.1f} ms" if value < 100 else f"{value:.0f} ms"
    if unit == "MiB/s":
        return f"{value:.0f} MiB/s"
    if unit == "MiB":
        return f"{value:.1f} MiB"
    return f"{value:g} {unit}".strip()


HEADERS = ["Metric", "Value", "Baseline", "Ratio"]


def text_table(rows):
    cells = [HEADERS, *(row.cells() for row in rows)]
    widths = [max(len(line[i]) for line in cells) for i in range(len(HEADERS))]
    lines = []
    for index, line in enumerate(cells):
        lines.append(
            "  ".join(
                cell.ljust(width) if i == 0 else cell.rjust(width)
                for i, (cell, width) in enumerate(zip(line, widths, strict=True))
            )
        )
        if index == 0:
            lines.append("  ".join("-" * width for width in widths))
    return "\n".join(lines)


def markdown_table(rows):
    lines = ["| " + " | ".join(HEADERS) + " |", "|---|---:|---:|---:|"]
    lines += ["| " + " | ".join(row.cells()) + " |" for row in rows]
    return "\n".join(lines)


# -- the scenarios ---------------------------------------------------------------------


def ms(seconds):
    return seconds * 1000


def progress(message):
    print(f"· {message}", file=sys.stderr, flush=True)


def latency_rows(label, size, origin, bucket, checks):
    """Sequential latency: origin direct (baseline), local hit, mirror miss."""
    base_key = object_key(size, "base")
    hit_key = object_key(size, "hit")
    sequential(bucket, [hit_key], size, checks)  # the miss that makes it a hit
    results = {}
    for name, target, keys, warmup in [
        ("origin direct", origin, [base_key] * 40, [base_key] * 5),
        ("local hit", bucket, [hit_key] * 40, [hit_key] * 5),
        (
            "mirror miss",
            bucket,
            [object_key(size, f"miss-{i}") for i in range(30)],
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


def single_flight_rows(origin, bucket, checks, rounds=3):
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
        *hit_while_waiting_rows(bucket, checks),
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


def each_object_fetched_once(origin, checks):
    """Every mirrored key must have reached the origin exactly once: later GETs are hits."""
    counts = requests.get(f"{origin.url}/_stats", timeout=10).json()
    for key, count in sorted(counts.items()):
        if "base" not in key.rsplit("/", 1)[1]:  # baselines are fetched directly, often
            checks.expect(
                count == 1, f"{key} was fetched from the origin {count} times"
            )


# -- the report ------------------------------------------------------------------------


def machine_facts():
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor() or "unknown",
    )
    memory = next(
        (
            int(line.split()[1]) * KIB
            for line in Path("/proc/meminfo").read_text().splitlines()
            if line.startswith("MemTotal:")
        ),
        0,
    )
    versions = ", ".join(
        f"{name} {importlib.metadata.version(name)}"
        for name in ("Django", "gunicorn", "requests")
    )
    load = ", ".join(f"{value:.2f}" for value in os.getloadavg())
    return [
        f"nproc: {len(os.sched_getaffinity(0))} ({cpu}); load average at the start: {load}",
        f"memory: {memory / 1024**3:.1f} GiB",
        f"Python {platform.python_version()} on {platform.system()} {platform.release()}",
        versions,
        f"server: gunicorn gthread, {WEB_WORKERS} workers × {WEB_THREADS} threads, SQLite in a temporary DATA_DIR",
        "origin: a threaded http.server in its own process on 127.0.0.1, bodies generated from memory",
    ]


HOW_TO_READ = (
    "Every ratio is value ÷ baseline, and every baseline was measured in the same run on "
    "the same machine. For latencies (ms) a ratio above 1 means slower than the baseline; "
    "for throughput (MiB/s) a ratio below 1 means slower. The baseline for hits and misses "
    "is the same object size fetched straight from the loopback origin by the same client "
    'code, so the "mirror miss" ratios are the whole cost of mirroring (the origin fetch '
    "through the server, streaming, writing and fsyncing the copy, committing the object "
    'row and the fetch log) and the "local hit" ratios the cost of serving from our own '
    "storage instead. p50 is the median, p95 the nearest-rank 95th percentile of single "
    "requests. The single-flight rows show how many requests reached the origin (anything "
    f"but 1 fails the run) and how long {SINGLE_FLIGHT_CLIENTS} simultaneous misses take "
    f"next to one miss on the same slowed ({SLOW_ORIGIN_MS} ms) origin; near 1 means the "
    'waiters were released as soon as the object was saved. The "hit while GETs wait" '
    "rows show whether requests parked on one slow miss hold up a new client asking for a "
    "different, already stored object; near 1 means they do not. The RSS rows are the "
    "largest rise of one gunicorn worker's resident memory while a "
    f"{LARGE // MIB} MiB object went through it, against the object size; near 0 means "
    "the body is streamed, not buffered, and a time to first byte far below the total "
    "time means the client got the bytes as they arrived. Client, origin and server share "
    "the machine's cores (see the load average above), so absolute numbers are loopback "
    "numbers: compare ratios between runs, not with a production network."
)


def write_results(rows, checks, facts, started, seconds):
    status = (
        "All functional checks passed."
        if not checks.failures
        else "**Functional checks FAILED:**\n\n"
        + "\n".join(f"- {failure}" for failure in checks.failures[:50])
    )
    facts = "\n".join(f"- {fact}" for fact in facts)
    RESULTS.write_text(
        f"""# Benchmark results

Measured {started:%Y-%m-%d %H:%M} UTC by `make bench` (`bench/run.py`) in {seconds:.0f} s.

{facts}

{markdown_table(rows)}

{status}

## How to read it

{HOW_TO_READ}
"""
    )


class Cleanup:
    """Undo steps, each run once, newest first: from the finally block, or from a
    signal handler that then exits at once (unwinding could wait on client threads)."""

    def __init__(self):
        self._steps = []

    def add(self, step):
        self._steps.append(step)

    def run(self):
        while self._steps:
            step = self._steps.pop()
            try:
                step()
            except Exception as error:  # one failing step must not leave the rest
                print(f"cleanup failed: {error!r}", file=sys.stderr)

    def on_signal(self, signum, _frame):
        print(f"\nstopped by signal {signum}; cleaning up", file=sys.stderr)
        self.run()
        os._exit(128 + signum)


def run():
    started = datetime.now(UTC)
    facts = machine_facts()
    clock = time.monotonic()
    checks = Checks()
    rows = []
    cleanup = Cleanup()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, cleanup.on_signal)
    data_dir = Path(tempfile.mkdtemp(prefix="bench-data-"))
    cleanup.add(functools.partial(shutil.rmtree, data_dir, ignore_errors=True))
    server = None
    try:
        progress("starting the origin and gunicorn")
        origin = Origin()
        cleanup.add(origin.stop)
        server = Server(data_dir, origin)
        cleanup.add(server.stop)
        server.start()
        bucket = Bucket(server)

        for label, size in [("1 MiB", MIB), ("64 KiB", 64 * KIB)]:
            rows += latency_rows(label, size, origin, bucket, checks)
        rows += throughput_rows(origin, bucket, checks)
        rows += single_flight_rows(origin, bucket, checks)
        rows += large_rows(origin, server, bucket, checks)
        each_object_fetched_once(origin, checks)
    except Exception as error:
        checks.expect(False, f"the benchmark stopped: {type(error).__name__}: {error}")
        if server is not None and server.log.exists():
            print(server.log.read_text()[-4000:], file=sys.stderr)
    finally:
        cleanup.run()

    seconds = time.monotonic() - clock
    print()
    print(text_table(rows))
    print()
    write_results(rows, checks, facts, started, seconds)
    print(f"Wrote {RESULTS.relative_to(ROOT)} ({seconds:.0f} s).")
    if checks.failures:
        print("\nFunctional checks FAILED:", file=sys.stderr)
        for failure in checks.failures[:50]:
            print(f"  - {failure}", file=sys.stderr)
        return 1
    print("All functional checks passed.")
    return 0


def main():
    if sys.argv[1:] == ["--origin"]:
        serve_origin()
        return 0
    return run()


if __name__ == "__main__":
    sys.exit(main())
