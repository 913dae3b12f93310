"""The report: the table of values, baselines and ratios, printed and written to
bench/RESULTS.md with the machine's facts and how to read it."""

import importlib.metadata
import os
import platform
from pathlib import Path

from bench.measure import KIB, MIB
from bench.scenarios import LARGE, SINGLE_FLIGHT_CLIENTS, SLOW_ORIGIN_MS
from bench.server_under_test import BENCH_ACCOUNT_GBIT, WEB_THREADS, WEB_WORKERS

RESULTS = Path(__file__).resolve().parent / "RESULTS.md"

# -- the table -------------------------------------------------------------------------


def _row_ratio(row):
    if row.note:
        return row.note
    if row.baseline is None:
        return "(baseline)" if not row.baseline_label else "—"
    if not row.baseline:
        return "—"
    return f"{row.value / row.baseline:.2f}×"


def _row_cells(row):
    baseline = "—"
    if row.baseline is not None:
        baseline = _format(row.baseline, row.unit)
        if row.baseline_label:
            baseline += f" ({row.baseline_label})"
    return [row.metric, _format(row.value, row.unit), baseline, _row_ratio(row)]


def _format(value, unit):
    if unit == "ms":
        return f"{value:.1f} ms" if value < 100 else f"{value:.0f} ms"
    if unit == "MiB/s":
        return f"{value:.0f} MiB/s"
    if unit == "keys/s":
        return f"{value:.0f} keys/s"
    if unit == "MiB":
        return f"{value:.1f} MiB"
    return f"{value:g} {unit}".strip()


HEADERS = ["Metric", "Value", "Baseline", "Ratio"]


def text_table(rows):
    return _aligned([HEADERS, *(_row_cells(row) for row in rows)])


def markdown_table(rows):
    lines = ["| " + " | ".join(HEADERS) + " |", "|---|---:|---:|---:|"]
    lines += ["| " + " | ".join(_row_cells(row)) + " |" for row in rows]
    return "\n".join(lines)


# -- the peer table (issue 14) ---------------------------------------------------------

PEER_HEADERS = ["Scenario", "us", "peer", "us ÷ peer", "target", "met"]


def _peer_value(value, unit):
    if unit == "req/s":
        return f"{value:,.0f} req/s"
    if unit == "+ms":
        return f"{value:+.1f} ms"
    if unit == "MiB":
        return f"+{value:.1f} MiB"
    return _format(value, unit)


def _peer_cells(row):
    peer = "—"
    if row.peer is not None:
        peer = f"{row.peer_name} {_peer_value(row.peer, row.unit)}"
    ratio = "—"
    if row.ratio and row.peer and row.peer > 0:
        ratio = f"{row.us / row.peer:.2f}×"
    met = "yes" if row.met else "no"
    return [row.scenario, _peer_value(row.us, row.unit), peer, ratio, row.target, met]


def peer_text_table(rows):
    return _aligned([PEER_HEADERS, *(_peer_cells(row) for row in rows)])


def peer_markdown_table(rows):
    lines = ["| " + " | ".join(PEER_HEADERS) + " |", "|---|---:|---:|---:|---|---|"]
    lines += ["| " + " | ".join(_peer_cells(row)) + " |" for row in rows]
    return "\n".join(lines)


def _aligned(cells):
    widths = [max(len(line[i]) for line in cells) for i in range(len(cells[0]))]
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


# -- RESULTS.md ------------------------------------------------------------------------


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
        f"server: gunicorn gthread, {WEB_WORKERS} workers × {WEB_THREADS} threads, SQLite in a temporary DATA_DIR, "
        f"account bandwidth caps {BENCH_ACCOUNT_GBIT} Gbit/s (charged on every transfer; the default 10 Gbit/s, OSS's, is below loopback nginx)",
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
    "time means the client got the bytes as they arrived. The S3 rows come from a second "
    "server, the same but for OBJECT_STORAGE=s3, whose object bytes live in a SeaweedFS "
    "started for the run on 127.0.0.1 (one `weed server` with its S3 gateway). Its hits "
    'and mirror misses are compared with the same requests to the local-disk server ("local '
    'disk hit/miss", measured right beside them on keys of the same size), so those ratios '
    "are the cost of keeping bytes in the store instead of on disk. The hit rows are also "
    'compared with the floor, "boto3 from SeaweedFS": a GetObject of the very blob the S3 '
    "server stored, read by the benchmark's process in the same chunks (its bytes must "
    "equal the origin's: the store holds them unmodified); no server reading from that "
    "store can beat it, and a hit from S3 costs the server a HEAD plus one ranged GET per "
    "4 MiB block. The S3 RSS rows are the same measure as above for the S3 server's "
    "workers; near 0 means the bytes passed through a block at a time. Client, origin, "
    "SeaweedFS and the servers share "
    "the machine's cores (see the load average above), so absolute numbers are loopback "
    "numbers: compare ratios between runs, not with a production network."
)


HOW_TO_READ_PEERS = (
    "Each figure of ours is set beside a peer measured in the same run, in alternating "
    "rounds (medians shown): a bare Django project (`django-admin startproject` and one "
    "`FileResponse` view, under gunicorn with our worker class, workers and threads) for "
    "small hits, driven by wrk with 16 connections and `Connection: close`; nginx serving "
    "the same file with sendfile for large hits; nginx as the classic mirror (`try_files "
    "$uri @fetch; proxy_store on;`, bench/nginx-peers.conf.template) for misses, on the "
    "same loopback origin. Large bodies are read by a client that does not hash them "
    "(the copies kept are checked afterwards), so the servers, not MD5, set the pace. "
    "The time to first byte row is the extra over fetching the same size straight from "
    'the origin, which waits 100 ms before answering. "us ÷ peer" above 1 means faster '
    "for req/s and MiB/s, slower for time and origin requests; the target column is "
    "issue 14's (SPEC §13), and \"met\" says whether our figure meets it. nginx's "
    "mirror has no single flight: every concurrent miss "
    "reaches the origin, ours must stay at 1."
)


CHANGES = Path(__file__).resolve().parent / "CHANGES.md"


def _changes():
    """What each change to the hot paths did to the figures: kept by hand in
    bench/CHANGES.md (each entry measured before and after), copied in here."""
    return CHANGES.read_text().strip() if CHANGES.exists() else ""


def write_results(rows, checks, facts, started, seconds, peer_rows=(), plan="full"):
    status = (
        "All functional checks passed."
        if not checks.failures
        else "**Functional checks FAILED:**\n\n"
        + "\n".join(f"- {failure}" for failure in checks.failures[:50])
    )
    facts = "\n".join(f"- {fact}" for fact in facts)
    command = "make bench" if plan == "full" else "make bench-quick"
    RESULTS.write_text(
        f"""# Benchmark results

Measured {started:%Y-%m-%d %H:%M} UTC by `{command}` (`bench/run.py`) in {seconds:.0f} s.

{facts}

## Against the peers (issue 14)

{peer_markdown_table(peer_rows)}

## Against the origin and local disk

{markdown_table(rows)}

{status}

{_changes()}

## How to read it

{HOW_TO_READ_PEERS}

{HOW_TO_READ}
"""
    )
