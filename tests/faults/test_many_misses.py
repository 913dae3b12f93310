"""Issue 14: many distinct misses at once on 2 workers × 32 threads, as the benchmark
sends them. Each saved mirror commits its object and its one fetch-log entry in one
write transaction, and the writers queue on SQLite's lock without failing."""

import json
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

pytestmark = [pytest.mark.faults, pytest.mark.server]
RELIABILITY_CATEGORY = "concurrent misses"

KEYS, CLIENTS = 120, 16

FETCH_LOG_SCRIPT = """
import json
from origin.models import OriginFetch
print(json.dumps(list(OriginFetch.objects.filter(bucket__name={bucket!r}).values_list("key", "outcome"))))
"""


@pytest.fixture(scope="module")
def server(start_server):
    return start_server(WEB_WORKERS=2, WEB_THREADS=32)


def body_for(key):
    return key.encode() * 200


def fetch_log(server, bucket_name):
    output = server.gunicorn.manage(
        "shell", "-c", FETCH_LOG_SCRIPT.format(bucket=bucket_name)
    )
    return sorted(tuple(entry) for entry in json.loads(output.strip().splitlines()[-1]))


def test_distinct_misses_at_once_are_each_saved_with_one_entry_and_no_lock_error(
    server, origin
):
    bucket = server.new_mirror_bucket(origin.url("/"))
    keys = [f"many/{number:03}.bin" for number in range(KEYS)]
    for key in keys:
        origin.route(f"/{key}", body=body_for(key))
    mark = server.log_mark()

    def get(key):
        response = requests.get(server.object_url(bucket.bucket_name, key), timeout=60)
        return response.status_code, response.headers.get("x-oss-tag"), response.content

    with ThreadPoolExecutor(CLIENTS) as pool:
        answers = list(pool.map(get, keys))

    assert answers == [(200, "MIRROR", body_for(key)) for key in keys]
    assert all(bucket.get_object(key).read() == body_for(key) for key in keys)
    assert fetch_log(server, bucket.bucket_name) == [(key, "saved") for key in keys]
    assert "database is locked" not in server.log_since(mark)
    assert server.leftover_temp_files() == []
