"""The benchmark's peer table (bench/peer_rows.py): reading wrk's report and judging a
row against issue 14's target. Pure functions: no server, no wrk."""

import pytest

from bench.peer_rows import PeerRow, parse_wrk

WRK_REPORT = """\
Running 5s test @ http://127.0.0.1:8000/b/o/1024/0/peer-hit-1k
  2 threads and 16 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency    30.12ms   10.01ms  80.00ms   70.00%
  2468 requests in 5.00s, 3.1MB read
  Socket errors: connect 0, read 3, write 1, timeout 2
  Non-2xx or 3xx responses: 7
Requests/sec:    493.60
Transfer/sec:    634.12KB
"""


def test_wrk_s_report_gives_the_rate_the_count_and_every_failure():
    run = parse_wrk(WRK_REPORT)

    assert (run.requests_per_second, run.requests) == (493.6, 2468)
    assert (run.bad_statuses, run.socket_errors) == (7, 6)


def test_a_clean_wrk_report_has_no_failures():
    clean = "\n".join(
        line
        for line in WRK_REPORT.splitlines()
        if not line.strip().startswith(("Socket errors", "Non-2xx"))
    )

    assert (parse_wrk(clean).bad_statuses, parse_wrk(clean).socket_errors) == (0, 0)


@pytest.mark.parametrize(
    ("us", "peer", "target", "met"),
    [
        (800, 1000, "≥ 0.8×", True),
        (799, 1000, "≥ 0.8×", False),
        (10, None, "≥ 0.8×", False),  # no peer figure: nothing to be a ratio of
        (9.5, 1.0, "≤ +10 ms", True),
        (10.5, 1.0, "≤ +10 ms", False),
        (0.6, None, "≤ 64 MiB", True),
        (1, 50, "keep 1", True),
        (2, 50, "keep 1", False),
    ],
)
def test_a_row_meets_its_target_only_within_it(us, peer, target, met):
    row = PeerRow("scenario", us, peer, "peer", "unit", target)

    assert row.met is met
