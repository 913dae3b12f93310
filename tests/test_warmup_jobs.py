"""Warm-up and refresh jobs (SPEC §11): the runner, in this process, against real
loopback origins. Its threads each use their own database connection, which the
in-memory SQLite test database cannot serve (shared-cache table locks have no busy
wait), so these run on PostgreSQL (`make test-postgres`, in CI). The same runner on
SQLite runs in a real worker beside a real server in tests/test_job_worker.py."""

import threading
import time
from collections import Counter
from datetime import timedelta

import pytest
from django.db import connection, connections
from django.utils import timezone

from buckets.models import StoredObject
from buckets.storage import open_blob
from origin import jobs
from origin.job_models import JobKey, MigrationJob

pytestmark = [
    pytest.mark.skipif(
        connection.vendor != "postgresql",
        reason="the runner's threads need a database with row locks (PostgreSQL); "
        "on SQLite it runs in tests/test_job_worker.py's real worker",
    ),
    pytest.mark.django_db(transaction=True),
]


def saved_bytes(bucket, key):
    with open_blob(StoredObject.objects.get(bucket=bucket, key=key)) as handle:
        return handle.read()


def origin_counts(origin_server):
    return Counter(request.path for request in origin_server.received)


def runner_thread(job):
    """A runner in a thread of its own, which closes its connection when done (an
    open one would keep the test database from being dropped)."""

    def run_then_close():
        try:
            jobs.JobRunner(job.pk).run()
        finally:
            connections.close_all()

    return threading.Thread(target=run_then_close)


def run(job):
    jobs.JobRunner(job.pk).run()
    job.refresh_from_db()
    return job


@pytest.fixture
def two_hundred_keys(origin_server):
    """200 keys: 180 the origin has, 10 it lacks (404) and 10 it fails (500)."""
    keys = [f"data/{n:03d}.bin" for n in range(200)]
    for n, key in enumerate(keys):
        if n % 20 == 7:
            origin_server.route(f"/{key}", status=500, body=b"broken")
        elif n % 20 != 13:
            origin_server.route(f"/{key}", body=f"body of {key}".encode())
    return keys


# -- the runner ------------------------------------------------------------------


def test_a_job_of_200_keys_saves_each_good_key_once_with_exact_counts(
    alice, bucket, origin_server, mirror_rule, two_hundred_keys
):
    mirror_rule()
    job = jobs.create_job(
        bucket, alice, kind="warmup", keys=two_hundred_keys, concurrency=8
    )
    job = run(job)
    assert (job.status, job.total, job.done) == ("done", 200, 200)
    assert (job.saved, job.skipped, job.failed) == (180, 0, 20)
    assert job.bytes == sum(
        len(f"body of {key}")
        for n, key in enumerate(two_hundred_keys)
        if n % 20 not in (7, 13)
    )
    counts = origin_counts(origin_server)
    assert set(counts.values()) == {1}, "no key asked of the origin twice"
    assert len(counts) == 200
    assert StoredObject.objects.filter(bucket=bucket).count() == 180
    assert saved_bytes(bucket, "data/000.bin") == b"body of data/000.bin"
    reasons = {error["key"]: error["reason"] for error in jobs.errors_of(job)}
    assert len(reasons) == 20
    assert "404" in reasons["data/013.bin"] or "not" in reasons["data/013.bin"].lower()
    assert "500" in reasons["data/007.bin"]


def test_keys_already_in_the_bucket_are_skipped_without_asking_the_origin(
    alice, bucket, origin_server, mirror_rule, put_object
):
    mirror_rule()
    put_object(bucket, "here.txt", b"mine")
    origin_server.route("/new.txt", body=b"new")
    job = run(
        jobs.create_job(bucket, alice, kind="warmup", keys=["here.txt", "new.txt"])
    )
    assert (job.saved, job.skipped, job.failed) == (1, 1, 0)
    assert origin_counts(origin_server) == {"/new.txt": 1}
    assert saved_bytes(bucket, "here.txt") == b"mine"


def test_without_skip_existing_a_present_key_is_fetched_again_and_replaced(
    alice, bucket, origin_server, mirror_rule, put_object
):
    mirror_rule()
    put_object(bucket, "here.txt", b"old", mirrored=True)
    origin_server.route("/here.txt", body=b"fresh")
    job = run(
        jobs.create_job(
            bucket, alice, kind="warmup", keys=["here.txt"], skip_existing=False
        )
    )
    assert (job.saved, job.failed) == (1, 0)
    assert saved_bytes(bucket, "here.txt") == b"fresh"


def test_a_key_no_rule_mirrors_fails_with_its_reason(
    alice, bucket, origin_server, mirror_rule, make_rule
):
    mirror_rule(key_prefix="img/")
    make_rule(bucket, mode="redirect", key_prefix="go/", host="example.com")
    job = run(
        jobs.create_job(bucket, alice, kind="warmup", keys=["doc/a.txt", "go/b.txt"])
    )
    reasons = {error["key"]: error["reason"] for error in jobs.errors_of(job)}
    assert reasons == {
        "doc/a.txt": "No Back-to-Origin rule matches this key.",
        "go/b.txt": "Rule 2 is a redirection: there is nothing to copy.",
    }
    assert origin_server.received == []


def test_a_truncated_origin_body_fails_the_key_and_saves_nothing(
    alice, bucket, origin_server, mirror_rule
):
    mirror_rule()
    origin_server.route("/cut.bin", body=b"x" * 10000, truncate_after=100)
    job = run(jobs.create_job(bucket, alice, kind="warmup", keys=["cut.bin"]))
    assert (job.saved, job.failed) == (0, 1)
    assert "closed the connection early" in jobs.errors_of(job)[0]["reason"]
    assert not StoredObject.objects.filter(bucket=bucket).exists()


def test_a_runner_that_died_is_resumed_and_finished_keys_are_not_run_again(
    alice, bucket, origin_server, mirror_rule
):
    mirror_rule()
    keys = [f"k{n}" for n in range(10)]
    for key in keys:
        origin_server.route(f"/{key}", body=key.encode())
    job = jobs.create_job(bucket, alice, kind="warmup", keys=keys)
    # What a killed worker leaves: running, a stale heartbeat, 3 keys done, 2 claimed.
    stale = timezone.now() - timedelta(seconds=600)
    MigrationJob.objects.filter(pk=job.pk).update(
        status="running", heartbeat_at=stale, saved=3
    )
    rows = list(job.keys.order_by("id"))
    JobKey.objects.filter(pk__in=[row.pk for row in rows[:3]]).update(state="saved")
    JobKey.objects.filter(pk__in=[row.pk for row in rows[3:5]]).update(
        state="running", claimed_at=stale
    )
    assert jobs.recover_stalled_jobs() == 1
    job.refresh_from_db()
    assert job.status == "queued"
    job = run(job)
    assert (job.status, job.saved, job.done) == ("done", 10, 10)
    assert set(origin_counts(origin_server)) == {f"/{key}" for key in keys[3:]}


def test_a_job_whose_runner_is_alive_is_not_taken_by_a_second_runner(
    alice, bucket, mirror_rule
):
    mirror_rule()
    job = jobs.create_job(bucket, alice, kind="warmup", keys=["a"])
    MigrationJob.objects.filter(pk=job.pk).update(
        status="running", heartbeat_at=timezone.now()
    )
    assert jobs.recover_stalled_jobs() == 0
    run(job)
    assert JobKey.objects.get(job=job).state == "pending"  # untouched


def test_pause_stops_claiming_and_resume_goes_on(
    alice, bucket, origin_server, mirror_rule, gate
):
    mirror_rule()
    opened = gate()
    origin_server.route("/slow", body=b"s", pause_after=0, gate=opened)
    for n in range(5):
        origin_server.route(f"/f{n}", body=b"f")
    job = jobs.create_job(
        bucket,
        alice,
        kind="warmup",
        keys=["slow", *[f"f{n}" for n in range(5)]],
        concurrency=1,
    )
    runner = runner_thread(job)
    runner.start()
    _wait_for(lambda: origin_server.requests_to("/slow"))
    jobs.control(job, "pause")
    opened.set()
    runner.join(timeout=30)
    job.refresh_from_db()
    assert (job.status, job.saved) == ("paused", 1)  # the key in flight finished
    assert origin_counts(origin_server) == {"/slow": 1}
    jobs.control(job, "resume")
    job = run(job)
    assert (job.status, job.saved) == ("done", 6)


def test_cancel_ends_the_job_within_seconds(alice, bucket, origin_server, mirror_rule):
    mirror_rule()
    for n in range(100):
        origin_server.route(f"/c{n}", body=b"c", delay=0.05)
    job = jobs.create_job(
        bucket, alice, kind="warmup", keys=[f"c{n}" for n in range(100)], concurrency=1
    )
    runner = runner_thread(job)
    runner.start()
    _wait_for(lambda: len(origin_server.received) >= 3)
    jobs.control(job, "cancel")
    runner.join(timeout=10)
    assert not runner.is_alive()
    job.refresh_from_db()
    assert job.status == "cancelled"
    assert job.done < 100
    with pytest.raises(jobs.JobStateError):
        jobs.control(job, "resume")


# -- refresh --------------------------------------------------------------------------


def test_refresh_replaces_only_when_the_new_copy_is_complete(
    alice, bucket, origin_server, mirror_rule, put_object
):
    mirror_rule()
    put_object(bucket, "good.txt", b"old good", mirrored=True)
    put_object(bucket, "cut.txt", b"old cut", mirrored=True)
    put_object(bucket, "gone.txt", b"old gone", mirrored=True)
    origin_server.route("/good.txt", body=b"new good")
    origin_server.route("/cut.txt", body=b"new cut!" * 100, truncate_after=10)
    job = run(
        jobs.create_job(
            bucket, alice, kind="refresh", keys=["good.txt", "cut.txt", "gone.txt"]
        )
    )
    assert (job.saved, job.failed) == (1, 2)
    assert saved_bytes(bucket, "good.txt") == b"new good"
    assert saved_bytes(bucket, "cut.txt") == b"old cut"
    assert saved_bytes(bucket, "gone.txt") == b"old gone"
    reasons = {error["key"]: error["reason"] for error in jobs.errors_of(job)}
    assert set(reasons) == {"cut.txt", "gone.txt"}


def test_refresh_of_a_prefix_takes_the_bucket_objects_under_it(
    alice, bucket, origin_server, mirror_rule, put_object
):
    mirror_rule()
    for key in ("p/a", "p/b", "q/c"):
        put_object(bucket, key, b"old", mirrored=True)
        origin_server.route(f"/{key}", body=b"new")
    job = run(jobs.create_job(bucket, alice, kind="refresh", prefix="p/"))
    assert (job.total, job.saved) == (2, 2)
    assert saved_bytes(bucket, "p/a") == b"new"
    assert saved_bytes(bucket, "q/c") == b"old"


def test_an_upload_during_a_refresh_wins(
    alice, bucket, origin_server, mirror_rule, put_object, gate
):
    mirror_rule()
    put_object(bucket, "k", b"old", mirrored=True)
    opened = gate()
    origin_server.route("/k", body=b"from origin", pause_after=0, gate=opened)
    job = jobs.create_job(bucket, alice, kind="refresh", keys=["k"])
    runner = runner_thread(job)
    runner.start()
    _wait_for(lambda: origin_server.requests_to("/k"))
    put_object(bucket, "k", b"uploaded by the user")
    opened.set()
    runner.join(timeout=30)
    job.refresh_from_db()
    assert (job.saved, job.skipped, job.failed) == (0, 1, 0)
    assert "the change was kept" in JobKey.objects.get(job=job).reason
    assert saved_bytes(bucket, "k") == b"uploaded by the user"


def _wait_for(condition, seconds=10):
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.02)


# -- listing a private origin: another instance of this product -------------------------


@pytest.fixture(scope="module")
def product_origin(tmp_path_factory):
    """A second instance of this product with a private bucket of 25 objects."""
    import oss2

    from tests.server_process import GunicornServer
    from tests.signing import REGION

    server = GunicornServer(tmp_path_factory.mktemp("product-origin"))
    keys = server.add_users(("origin-owner",), "x-origin-pass")["origin-owner"]
    server.start()
    try:
        origin = oss2.Bucket(oss2.Auth(*keys), server.url, "old-site", region=REGION)
        origin.create_bucket()
        for n in range(25):
            origin.put_object(f"media/{n:02d}.txt", f"media {n}".encode())
        origin.put_object("elsewhere.txt", b"not listed")
        yield server, keys
    finally:
        server.stop()


def old_site_rule(bucket, server, keys=None):
    """Rule 1: mirror from the product origin's bucket, signed with `keys` if given."""
    from origin.models import BackToOriginRule

    rule = BackToOriginRule(
        bucket=bucket,
        mode="mirror",
        protocol="http",
        host=f"127.0.0.1:{server.port}",
        path="old-site",
    )
    if keys is not None:
        rule.auth_type, rule.auth_access_key_id = "OSS", keys.key_id
        rule.apply_auth_secret(keys.secret)
    rule.save_in_order()
    return rule


def test_list_origin_copies_a_prefix_of_a_private_oss_origin(
    alice, bucket, product_origin, allow_private_origins, monkeypatch
):
    from origin import origin_listing

    monkeypatch.setattr(origin_listing, "PAGE_SIZE", 10)  # three pages
    server, keys = product_origin
    old_site_rule(bucket, server, keys)
    job = jobs.create_job(
        bucket, alice, kind="warmup", list_origin={"rule": 1, "prefix": "media/"}
    )
    job = run(job)
    assert (job.status, job.total, job.saved, job.failed) == ("done", 25, 25, 0)
    assert job.listing_done
    assert saved_bytes(bucket, "media/07.txt") == b"media 7"
    assert not StoredObject.objects.filter(bucket=bucket, key="elsewhere.txt").exists()
    # Listed again with skip_existing: nothing is fetched twice.
    again = run(
        jobs.create_job(
            bucket, alice, kind="warmup", list_origin={"rule": 1, "prefix": "media/"}
        )
    )
    assert (again.total, again.saved, again.skipped) == (25, 0, 25)


def test_a_listing_the_origin_refuses_fails_the_job_with_its_reason(
    alice, bucket, product_origin, allow_private_origins
):
    server, _keys = product_origin
    old_site_rule(bucket, server)  # no MirrorAuth: the private bucket refuses a listing
    job = run(jobs.create_job(bucket, alice, kind="warmup", list_origin={"rule": 1}))
    assert job.status == "failed"
    assert "HTTP 403" in job.reason
    assert job.total == 0
