"""Benchmarks for Back-to-Origin mirroring, against a baseline measured in the same run.

`make bench` runs this file. It starts the loopback origin (bench/loopback_origin.py)
and the real server the way `make run` does (bench/server_under_test.py), runs the
scenarios (bench/scenarios.py), then starts SeaweedFS and the same server with its
object bytes there and compares the two backends (bench/s3_backend.py), prints a
table of ratios and writes bench/RESULTS.md (bench/report.py).

Speeds are recorded, never asserted. The run exits non-zero only when something is
functionally wrong: a body that differs from the origin's, a missing x-oss-tag, or
single flight letting more than one request through to the origin.
"""

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
from bench.report import RESULTS, machine_facts, text_table, write_results
from bench.s3_backend import s3_backend_rows, start_s3_server, store_fact
from bench.scenarios import (
    each_object_fetched_once,
    large_rows,
    latency_rows,
    single_flight_rows,
    throughput_rows,
)
from bench.server_under_test import Bucket, bench_server, start_with_bucket
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


def main():
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
    s3_data_dir = Path(tempfile.mkdtemp(prefix="bench-s3-data-"))
    cleanup.add(functools.partial(shutil.rmtree, s3_data_dir, ignore_errors=True))
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
            rows += latency_rows(label, size, origin, bucket, checks)
        rows += throughput_rows(origin, bucket, checks)
        rows += single_flight_rows(origin, bucket, checks)
        rows += large_rows(origin, server, bucket, checks)

        progress("starting SeaweedFS and a gunicorn keeping its object bytes there")
        store, s3_bucket = start_s3_server(s3_data_dir, origin, cleanup)
        servers.append(s3_bucket.server)
        facts.append(store_fact(store))
        rows += s3_backend_rows(bucket, s3_bucket, store, checks)
        each_object_fetched_once(origin, checks)
    except Exception as error:
        checks.expect(False, f"the benchmark stopped: {type(error).__name__}: {error}")
        for failed in servers:
            if failed.log.exists():
                print(failed.log.read_text()[-4000:], file=sys.stderr)
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


if __name__ == "__main__":
    sys.exit(main())
