"""Benchmarks for Back-to-Origin mirroring, against a baseline measured in the same run.

`make bench` runs this file. It starts the loopback origin (bench/loopback_origin.py)
and the real server the way `make run` does (bench/server_under_test.py), runs the
scenarios (bench/scenarios.py), then the peers (bench/peers.py: nginx as a static
server and as the classic mirror, a bare Django project) and issue 14's table against
them (bench/peer_rows.py), then starts SeaweedFS and the same server with its
object bytes there and compares the two backends (bench/s3_backend.py), prints a
table of ratios and writes bench/RESULTS.md (bench/report.py).

Speeds are recorded, never asserted. The run exits non-zero only when something is
functionally wrong: a body that differs from the origin's, a missing x-oss-tag, or
single flight letting more than one request through to the origin.
"""

import argparse
import functools
import os
import shutil
import signal
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

# Run as a script, Python puts bench/ on sys.path; the repository root lets the
# benchmark import its modules as bench.* and the gunicorn launcher from tests/.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.loopback_origin import Origin
from bench.measure import KIB, MIB, Checks, progress
from bench.peer_rows import PEER_OBJECTS, Targets, peer_rows, wrk_version
from bench.peers import start_peers
from bench.plan import FULL, QUICK
from bench.report import (
    RESULTS,
    machine_facts,
    peer_text_table,
    text_table,
    write_results,
)
from bench.s3_backend import s3_backend_rows, start_s3_server, store_fact
from bench.scenarios import (
    each_object_fetched_once,
    large_rows,
    latency_rows,
    single_flight_rows,
    throughput_rows,
)
from bench.server_under_test import (
    WEB_WORKERS,
    Bucket,
    bench_server,
    start_with_bucket,
)
from bench.warmup_rows import warmup_rows
from tests.server_process import ROOT


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


def parse_plan():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick",
        action="store_true",
        help="the same rows with smaller counts (make bench-quick, under 2 minutes)",
    )
    return QUICK if parser.parse_args().quick else FULL


def main():
    plan = parse_plan()
    started = datetime.now(UTC)
    facts = machine_facts()
    clock = time.monotonic()
    checks = Checks()
    rows, peer_table = [], []
    cleanup = Cleanup()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, cleanup.on_signal)
    data_dir = Path(tempfile.mkdtemp(prefix="bench-data-"))
    cleanup.add(functools.partial(shutil.rmtree, data_dir, ignore_errors=True))
    s3_data_dir = Path(tempfile.mkdtemp(prefix="bench-s3-data-"))
    cleanup.add(functools.partial(shutil.rmtree, s3_data_dir, ignore_errors=True))
    peers_dir = Path(tempfile.mkdtemp(prefix="bench-peers-"))
    cleanup.add(functools.partial(shutil.rmtree, peers_dir, ignore_errors=True))
    exempt = []  # origin keys fetched more than once on purpose
    servers = []  # whose log tail a failure prints
    try:
        progress("starting the origin and gunicorn")
        origin = Origin()
        cleanup.add(origin.stop)
        server = bench_server(data_dir)
        cleanup.add(server.stop)
        servers.append(server)
        start_with_bucket(server, origin)
        bucket = Bucket(server)

        for label, size in [("1 MiB", MIB), ("64 KiB", 64 * KIB)]:
            rows += latency_rows(
                label,
                size,
                origin,
                bucket,
                checks,
                gets=plan.sequential_gets,
                misses=plan.sequential_misses,
            )
        rows += throughput_rows(
            origin,
            bucket,
            checks,
            rounds=plan.throughput_rounds,
            per_client=plan.throughput_per_client,
        )
        rows += single_flight_rows(
            origin,
            bucket,
            checks,
            rounds=plan.single_flight_rounds,
            hit_rounds=plan.hit_while_waiting_rounds,
        )
        rows += large_rows(origin, server, bucket, checks, rounds=plan.large_rounds)
        rows += warmup_rows(origin, server, checks, keys=plan.warmup_keys)

        progress("starting nginx (static and mirror) and a bare Django project")
        nginx, bare = start_peers(peers_dir, PEER_OBJECTS, origin, cleanup)
        servers.append(bare)
        facts += peer_facts(nginx, bare)
        targets = Targets(origin, server, bucket, nginx, bare)
        peer_table, exempt = peer_rows(targets, plan, checks)

        progress("starting SeaweedFS and a gunicorn keeping its object bytes there")
        store, s3_bucket = start_s3_server(s3_data_dir, origin, cleanup)
        servers.append(s3_bucket.server)
        facts.append(store_fact(store))
        rows += s3_backend_rows(
            bucket,
            s3_bucket,
            store,
            checks,
            times=plan.sequential_gets,
            misses=plan.sequential_misses,
            rounds=plan.large_rounds,
        )
        each_object_fetched_once(origin, checks, exempt)
    except Exception as error:
        checks.expect(False, f"the benchmark stopped: {type(error).__name__}: {error}")
        for failed in servers:
            if failed.log.exists():
                print(failed.log.read_text()[-4000:], file=sys.stderr)
    finally:
        cleanup.run()

    seconds = time.monotonic() - clock
    print()
    print(peer_text_table(peer_table))
    print()
    print(text_table(rows))
    print()
    write_results(rows, checks, facts, started, seconds, peer_table, plan.name)
    print(f"Wrote {RESULTS.relative_to(ROOT)} ({seconds:.0f} s).")
    if checks.failures:
        print("\nFunctional checks FAILED:", file=sys.stderr)
        for failure in checks.failures[:50]:
            print(f"  - {failure}", file=sys.stderr)
        return 1
    print("All functional checks passed.")
    return 0


def peer_facts(nginx, bare):
    """RESULTS.md's lines about the peers."""
    return [
        f"peers: nginx {nginx.version()} (Debian; static with sendfile, and the classic "
        f"proxy_store mirror), {WEB_WORKERS} worker processes; bare Django "
        f"(startproject + one FileResponse view) under {bare.describe()}; wrk {wrk_version()}",
    ]


if __name__ == "__main__":
    sys.exit(main())
