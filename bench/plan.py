"""How much the benchmark repeats: `make bench` (FULL, under 10 minutes) or
`make bench-quick` (QUICK, the same rows with smaller counts, under 2 minutes)."""

from dataclasses import dataclass


@dataclass(frozen=True)
class Plan:
    name: str
    # the existing rows (bench/scenarios.py, bench/s3_backend.py)
    sequential_gets: int  # per latency row
    sequential_misses: int
    throughput_rounds: int
    throughput_per_client: int
    single_flight_rounds: int
    hit_while_waiting_rounds: int
    large_rounds: int  # 256 MiB transfers per kind
    # the rows against the peers (bench/peer_rows.py)
    wrk_seconds: int  # per wrk run
    wrk_rounds: int  # wrk runs per target, alternating us and the peer
    peer_large_rounds: int  # 256 MiB hits and misses per target
    ttfb_rounds: int  # misses on the 100 ms origin per target
    distinct_misses: int  # 16 KiB keys per round (200 in the table)
    distinct_miss_rounds: int
    crowd_rounds: int  # 50 concurrent GETs of one missing key
    warmup_keys: (
        int  # keys of the warm-up job row (bench/warmup_rows.py; 1,000 in issue 12)
    )


FULL = Plan(
    name="full",
    sequential_gets=40,
    sequential_misses=30,
    throughput_rounds=3,
    throughput_per_client=12,
    single_flight_rounds=3,
    hit_while_waiting_rounds=5,
    large_rounds=3,
    wrk_seconds=10,
    wrk_rounds=3,
    peer_large_rounds=3,
    ttfb_rounds=10,
    distinct_misses=200,
    distinct_miss_rounds=3,
    crowd_rounds=2,
    warmup_keys=1000,
)

QUICK = Plan(
    name="quick",
    sequential_gets=10,
    sequential_misses=8,
    throughput_rounds=1,
    throughput_per_client=4,
    single_flight_rounds=1,
    hit_while_waiting_rounds=2,
    large_rounds=1,
    wrk_seconds=3,
    wrk_rounds=1,
    peer_large_rounds=1,
    ttfb_rounds=3,
    distinct_misses=200,
    distinct_miss_rounds=1,
    crowd_rounds=1,
    warmup_keys=300,
)
