"""Issue 12's throughput figure: a warm-up job of 1,000 small keys at concurrency 8
(made through the JSON API, run by the server's job worker), against fetching the
same number of keys straight from the loopback origin with 8 clients in this run."""

import time

from bench.loopback_origin import object_key
from bench.measure import KIB, Row, concurrent_round, progress
from bench.server_under_test import BUCKET
from tests.signing import signed_json_request

KEYS = 1000
SIZE = 4 * KIB
CONCURRENCY = 8

ACCESS_KEY_SCRIPT = """
from django.contrib.auth import get_user_model
from buckets.models import AccessKey

key, secret = AccessKey.create_for(get_user_model().objects.get(username="bench"))
print("KEY=%s %s" % (key.key_id, secret))
"""


def _access_key(server):
    output = server.manage("shell", "-c", ACCESS_KEY_SCRIPT)
    line = next(line for line in output.splitlines() if line.startswith("KEY="))
    return tuple(line.removeprefix("KEY=").split())


def _api(server, key_pair, method, path, body=None):
    return signed_json_request(
        server.url,
        key_pair,
        method,
        f"/api/v1/buckets/{BUCKET}{path}",
        body,
        timeout=60,
    )


def warmup_rows(origin, server, checks, keys=KEYS):
    """keys/s of a warm-up job and of 8 clients fetching from the origin directly."""
    progress(f"{keys} keys of 4 KiB from the origin directly, {CONCURRENCY} clients")
    direct = [object_key(SIZE, f"wu-direct-{i}") for i in range(keys)]
    per_client = [direct[c::CONCURRENCY] for c in range(CONCURRENCY)]
    direct_wall, _ = concurrent_round(origin, per_client, SIZE, checks)

    progress(f"a warm-up job of {keys} keys of 4 KiB at concurrency {CONCURRENCY}")
    key_pair = _access_key(server)
    wanted = [object_key(SIZE, f"wu-job-{i}") for i in range(keys)]
    started = time.perf_counter()
    created = _api(
        server,
        key_pair,
        "POST",
        "/warmups",
        {"keys": wanted, "concurrency": CONCURRENCY},
    )
    checks.expect(
        created.status_code == 201, f"warm-up job not made: {created.text[:300]}"
    )
    if created.status_code != 201:
        return []
    job = created.json()
    deadline = started + 600
    while (
        job["status"] not in ("done", "failed", "cancelled")
        and time.perf_counter() < deadline
    ):
        time.sleep(0.05)
        job = _api(server, key_pair, "GET", f"/warmups/{job['id']}").json()
    job_wall = time.perf_counter() - started
    checks.expect(
        (job["status"], job["saved"], job["failed"]) == ("done", keys, 0),
        f"warm-up job: {job['status']}, {job['saved']} saved, {job['failed']} failed "
        f"of {keys}: {job['errors'][:3]}",
    )
    checks.expect(
        job["bytes"] == keys * SIZE,
        f"warm-up job saved {job['bytes']} bytes, not {keys * SIZE}",
    )
    return [
        Row(
            f"{keys} × 4 KiB keys, {CONCURRENCY} clients, origin direct",
            keys / direct_wall,
            "keys/s",
        ),
        Row(
            f"{keys} × 4 KiB keys, warm-up job at concurrency {CONCURRENCY}",
            keys / job_wall,
            "keys/s",
            keys / direct_wall,
        ),
    ]
