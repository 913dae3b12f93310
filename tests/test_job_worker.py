"""Warm-up jobs on the real worker (`manage.py run_jobs`, started by gunicorn beside
itself) with the server's own SQLite database: jobs made through the JSON API run
to the end, survive a killed worker and a restart, and stop when cancelled."""

import os
import signal
import time
import uuid
from collections import Counter

import pytest
import requests

from tests.server_process import GunicornServer, wait_until
from tests.signing import signed_json_request, v1_headers

pytestmark = pytest.mark.server

SETUP_SCRIPT = """
from django.contrib.auth import get_user_model
from buckets.models import AccessKey, Bucket
from origin.models import BackToOriginRule

owner = get_user_model().objects.create_user("operator")
bucket = Bucket.objects.create(owner=owner, name="warm", acl=Bucket.Acl.PRIVATE)
BackToOriginRule(bucket=bucket, mode="mirror", protocol="http", host={host!r}).save_in_order()
key, secret = AccessKey.create_for(owner)
print("KEY=%s %s" % (key.key_id, secret))
"""


class Api:
    """The JSON API with an AccessKey's V1 signature, as a script would use it."""

    def __init__(self, server, key_pair):
        self.server, self.key_pair = server, key_pair

    def call(self, method, path, body=None):
        return signed_json_request(
            self.server.url,
            self.key_pair,
            method,
            f"/api/v1/buckets/warm{path}",
            body,
        )

    def job(self, job_id):
        return self.call("GET", f"/warmups/{job_id}").json()


@pytest.fixture(scope="module")
def warm_server(tmp_path_factory, origin):
    server = GunicornServer(
        tmp_path_factory.mktemp("warm"),
        ORIGIN_ALLOW_PRIVATE="1",
        JOB_WORKERS="1",
        JOB_STALE_SECONDS="5",
    )
    server.manage("migrate", "--noinput")
    output = server.manage("shell", "-c", SETUP_SCRIPT.format(host=origin.netloc))
    line = next(line for line in output.splitlines() if line.startswith("KEY="))
    key_pair = tuple(line.removeprefix("KEY=").split())
    server.start()
    yield server, Api(server, key_pair)
    server.stop()


def origin_counts(origin, prefix):
    """Requests the shared origin received for this test's keys."""
    return Counter(
        request.path for request in origin.received if request.path.startswith(prefix)
    )


def wait_for_status(api, job_id, statuses, timeout=60):
    wait_until(
        lambda: api.job(job_id)["status"] in statuses,
        f"job {job_id} never reached {statuses}",
        timeout=timeout,
    )
    return api.job(job_id)


def test_a_job_made_through_the_api_runs_on_the_worker_to_exact_counts(
    warm_server, origin
):
    server, api = warm_server
    keys = [f"d/{n:03d}" for n in range(200)]
    for n, key in enumerate(keys):
        if n % 25 == 3:
            origin.route(f"/{key}", status=503, body=b"busy")
        elif n % 25 != 4:
            origin.route(f"/{key}", body=key.encode())
    created = api.call("POST", "/warmups", {"keys": keys, "concurrency": 8})
    assert created.status_code == 201
    job = created.json()
    assert created.headers["Location"] == job["url"]
    assert job["url"].endswith(f"/api/v1/buckets/warm/warmups/{job['id']}")
    job = wait_for_status(api, job["id"], {"done"})
    assert (job["total"], job["done"], job["saved"], job["failed"]) == (
        200,
        200,
        184,
        16,
    )
    assert job["bytes"] == sum(
        len(key) for n, key in enumerate(keys) if n % 25 not in (3, 4)
    )
    assert len(job["errors"]) == 16
    counts = origin_counts(origin, "/d/")
    assert len(counts) == 200
    assert set(counts.values()) == {1}
    # The saved objects are there for a GET, with no origin request.
    fetched = requests.get(
        server.url + "/warm/d/000",
        headers=v1_headers(api.key_pair, "GET", "/warm/d/000"),
        timeout=10,
    )
    assert fetched.content == b"d/000"
    assert counts == origin_counts(origin, "/d/")
    listed = api.call("GET", "/warmups").json()
    assert job["id"] in [each["id"] for each in listed]


def test_a_killed_worker_is_replaced_on_restart_and_the_job_resumes(
    warm_server, origin
):
    server, api = warm_server
    keys = [f"slow/{n:02d}" for n in range(40)]
    for key in keys:
        origin.route(f"/{key}", body=key.encode(), delay=0.1)
    job = api.call("POST", "/warmups", {"keys": keys, "concurrency": 2}).json()
    wait_until(lambda: api.job(job["id"])["done"] >= 5, "the job never started")
    for pid in server.companion_pids("run_jobs"):
        os.kill(pid, signal.SIGKILL)
    stopped_at = api.job(job["id"])
    assert stopped_at["status"] == "running"
    time.sleep(0.5)
    assert api.job(job["id"])["done"] == stopped_at["done"] < 40  # nobody runs it
    server.stop()
    server.restart()
    job = wait_for_status(api, job["id"], {"done"})
    # A key the dead worker saved but had not yet counted is found there: skipped.
    assert (job["saved"] + job["skipped"], job["failed"], job["done"]) == (40, 0, 40)
    assert job["skipped"] <= 2
    counts = origin_counts(origin, "/slow/")
    assert set(counts) == {f"/{key}" for key in keys}
    # Only what was in flight when the worker died (at most `concurrency` keys) went twice.
    assert sum(count - 1 for count in counts.values()) <= 2


def test_a_polite_stop_queues_the_job_for_the_next_start(warm_server, origin):
    server, api = warm_server
    keys = [f"p/{n:02d}" for n in range(30)]
    for key in keys:
        origin.route(f"/{key}", body=b"p", delay=0.1)
    job = api.call("POST", "/warmups", {"keys": keys, "concurrency": 1}).json()
    wait_until(lambda: api.job(job["id"])["done"] >= 3, "the job never started")
    server.stop()
    server.restart()
    job = wait_for_status(api, job["id"], {"done"})
    assert (job["saved"], job["done"]) == (30, 30)
    assert set(origin_counts(origin, "/p/").values()) == {1}


def test_cancel_stops_a_running_job_within_seconds(warm_server, origin):
    server, api = warm_server
    keys = [f"c/{n:03d}" for n in range(300)]
    for key in keys:
        origin.route(f"/{key}", body=b"c", delay=0.05)
    job = api.call("POST", "/warmups", {"keys": keys, "concurrency": 2}).json()
    wait_until(lambda: api.job(job["id"])["done"] >= 3, "the job never started")
    cancelled = api.call("POST", f"/warmups/{job['id']}/cancel")
    assert cancelled.status_code == 200
    assert cancelled.json()["status"] == "cancelled"
    time.sleep(1)
    settled = api.job(job["id"])["done"]
    time.sleep(1)
    assert api.job(job["id"])["done"] == settled < 300
    assert sum(origin_counts(origin, "/c/").values()) == settled
    refused = api.call("POST", f"/warmups/{job['id']}/resume")
    assert refused.status_code == 409


def test_list_origin_copies_a_prefix_of_a_private_s3_origin(warm_server, seaweed_s3):
    server, api = warm_server
    name = f"warm-{uuid.uuid4().hex[:12]}"
    seaweed_s3.create_bucket(name)
    origin_keys = [f"docs/{n:02d}.txt" for n in range(12)] + ["else/x.txt"]
    for key in origin_keys:
        seaweed_s3.put(name, key, key.encode())
    rule = api.call(
        "POST",
        "/rules",
        {
            "mode": "mirror",
            "protocol": "http",
            "host": seaweed_s3.endpoint.removeprefix("http://"),
            "path": name,
            "key_prefix": "s3/",
            "replace_prefix": True,
            "replace_prefix_with": "",
            "auth_type": "S3V4",
            "auth_access_key_id": seaweed_s3.reader_key.key_id,
            "auth_access_key_secret": seaweed_s3.reader_key.secret,
            "auth_region": seaweed_s3.region,
        },
    )
    assert rule.status_code == 201, rule.text
    # Behind the catch-all rule 1 it could never match: the answer says so.
    assert [w["code"] for w in rule.json()["warnings"]] == ["shadowed"]
    others = [
        each["id"]
        for each in api.call("GET", "/rules").json()["results"]
        if each["id"] != rule.json()["id"]
    ]
    moved = api.call("POST", "/rules/reorder", {"order": [rule.json()["id"], *others]})
    assert moved.status_code == 200, moved.text
    position = 1
    try:
        created = api.call(
            "POST",
            "/warmups",
            {"list_origin": {"rule": position, "prefix": "s3/docs/"}},
        )
        assert created.status_code == 201, created.text
        job = wait_for_status(api, created.json()["id"], {"done", "failed"})
        assert (job["status"], job["total"], job["saved"], job["failed"]) == (
            "done",
            12,
            12,
            0,
        )
        assert job["list_origin"] == {"rule": position, "prefix": "s3/docs/"}
        fetched = requests.get(
            server.url + "/warm/s3/docs/07.txt",
            headers=v1_headers(api.key_pair, "GET", "/warm/s3/docs/07.txt"),
            timeout=10,
        )
        assert (fetched.status_code, fetched.content) == (200, b"docs/07.txt")
    finally:
        api.call("DELETE", f"/rules/{rule.json()['id']}")
