"""The JSON API of warm-up and refresh jobs (SPEC §11): what it accepts, what it
refuses (400 naming the field, nothing made), who may see a job. Running jobs is
tested in tests/test_warmup_jobs.py and tests/test_job_worker.py."""

import pytest

from origin.job_models import JobKey, MigrationJob

pytestmark = pytest.mark.django_db

WARMUPS = "/api/v1/buckets/alice-bucket/warmups"
REFRESH = "/api/v1/buckets/alice-bucket/refresh"


def post(api, url, body):
    return api.post(url, body, format="json")


def test_a_warmup_answers_201_with_its_url_and_location(api, bucket, make_rule):
    make_rule(bucket, mode="mirror", host="origin.example.com")
    created = post(api, WARMUPS, {"keys": ["a", "b", "a"], "concurrency": 8})
    assert created.status_code == 201
    job = created.json()
    assert created["Location"] == job["url"]
    assert job["url"] == f"http://testserver{WARMUPS}/{job['id']}"
    assert {
        k: job[k]
        for k in ("kind", "status", "total", "done", "concurrency", "skip_existing")
    } == {
        "kind": "warmup",
        "status": "queued",
        "total": 2,  # each key once
        "done": 0,
        "concurrency": 8,
        "skip_existing": True,
    }
    assert job["errors"] == []
    assert list(JobKey.objects.order_by("id").values_list("key", flat=True)) == [
        "a",
        "b",
    ]
    assert api.get(job["url"]).json() == job
    assert [each["id"] for each in api.get(WARMUPS).json()] == [job["id"]]


def test_a_refresh_is_a_job_of_kind_refresh_at_the_same_address(api, bucket):
    created = post(api, REFRESH, {"prefix": "img/"})
    assert created.status_code == 201
    job = created.json()
    assert (job["kind"], job["source"], job["prefix"]) == ("refresh", "prefix", "img/")
    assert job["url"] == f"http://testserver{WARMUPS}/{job['id']}"


def test_list_origin_names_a_mirroring_rule(api, bucket, make_rule):
    make_rule(bucket, mode="mirror", host="origin.example.com", key_prefix="img/")
    created = post(api, WARMUPS, {"list_origin": {"rule": 1, "prefix": "img/2024/"}})
    assert created.status_code == 201
    assert created.json()["list_origin"] == {"rule": 1, "prefix": "img/2024/"}
    assert created.json()["total"] == 0  # keys come as the origin is listed


@pytest.mark.parametrize(
    ("url", "body", "field", "message"),
    [
        (WARMUPS, {}, "keys", 'Give exactly one of "keys" or "list_origin".'),
        (WARMUPS, {"keys": ["a"], "list_origin": {"rule": 1}}, "keys", "exactly one"),
        (WARMUPS, {"prefix": "a/"}, "prefix", "does not support"),
        (REFRESH, {"list_origin": {"rule": 1}}, "list_origin", "does not support"),
        (REFRESH, {}, "keys", 'Give exactly one of "keys" or "prefix".'),
        (WARMUPS, {"keys": []}, "keys", "non-empty list"),
        (WARMUPS, {"keys": "a"}, "keys", "non-empty list"),
        (WARMUPS, {"keys": [""]}, "keys", "non-empty text"),
        (WARMUPS, {"keys": [5]}, "keys", "non-empty text"),
        (WARMUPS, {"keys": ["a\x00b"]}, "keys", "control characters"),
        (WARMUPS, {"keys": ["/abs"]}, "keys", "must not start with /"),
        (WARMUPS, {"keys": ["x" * 1024]}, "keys", "at most 1023 bytes"),
        (WARMUPS, {"keys": ["a"], "concurrency": 0}, "concurrency", "from 1 to 16"),
        (WARMUPS, {"keys": ["a"], "concurrency": 17}, "concurrency", "from 1 to 16"),
        (WARMUPS, {"keys": ["a"], "concurrency": "4"}, "concurrency", "whole number"),
        (WARMUPS, {"keys": ["a"], "concurrency": True}, "concurrency", "whole number"),
        (
            WARMUPS,
            {"keys": ["a"], "skip_existing": "no"},
            "skip_existing",
            "true or false",
        ),
        (WARMUPS, {"list_origin": {"rule": 9}}, "list_origin", "has no rule 9"),
        (WARMUPS, {"list_origin": {"rule": "1"}}, "list_origin", "a rule position"),
        (
            WARMUPS,
            {"list_origin": {"rule": 1, "bucket": "x"}},
            "list_origin",
            "must be",
        ),
        (WARMUPS, {"list_origin": [1]}, "list_origin", "must be"),
        (WARMUPS, {"list_origin": {"rule": 2}}, "list_origin", "is a redirection"),
        (
            WARMUPS,
            {"list_origin": {"rule": 1, "prefix": "doc/"}},
            "list_origin",
            "can match rule 1",
        ),
        (WARMUPS, {"list_origin": {"rule": 1, "prefix": 3}}, "list_origin", "text"),
        (REFRESH, {"prefix": "a\nb"}, "prefix", "control characters"),
        (WARMUPS, {"keys": ["a"], "priority": 1}, "priority", "does not support"),
        (
            REFRESH,
            {"keys": ["a"], "skip_existing": False},
            "skip_existing",
            "does not support",
        ),
    ],
)
def test_bad_requests_name_the_field_and_make_nothing(
    api, bucket, make_rule, url, body, field, message
):
    make_rule(bucket, mode="mirror", host="origin.example.com", key_prefix="img/")
    make_rule(bucket, mode="redirect", key_prefix="go/", host="example.com")
    refused = post(api, url, body)
    assert refused.status_code == 400
    assert message in refused.json()[field][0]
    assert not MigrationJob.objects.exists()
    assert not JobKey.objects.exists()


def test_too_many_keys_are_refused(api, bucket, monkeypatch):
    from origin import jobs

    monkeypatch.setattr(jobs, "MAX_KEYS", 3)
    refused = post(api, WARMUPS, {"keys": ["a", "b", "c", "d"]})
    assert refused.status_code == 400
    assert refused.json()["keys"] == ["At most 3 keys per job."]


def test_a_body_that_is_not_an_object_is_refused(api, bucket):
    refused = api.post(WARMUPS, "[1, 2]", content_type="application/json")
    assert refused.status_code == 400


def test_pause_resume_cancel_follow_the_status(api, bucket):
    job = post(api, WARMUPS, {"keys": ["a"]}).json()
    assert post(api, f"{job['url']}/resume", {}).status_code == 409
    paused = post(api, f"{job['url']}/pause", {})
    assert (paused.status_code, paused.json()["status"]) == (200, "paused")
    resumed = post(api, f"{job['url']}/resume", {})
    assert (resumed.status_code, resumed.json()["status"]) == (200, "queued")
    cancelled = post(api, f"{job['url']}/cancel", {})
    assert (cancelled.status_code, cancelled.json()["status"]) == (200, "cancelled")
    assert cancelled.json()["finished_at"] is not None
    again = post(api, f"{job['url']}/cancel", {})
    assert again.status_code == 409
    assert again.json() == {"detail": "A Cancelled job cannot be cancelled."}


def test_another_users_jobs_are_not_found(api, bob_api, bucket):
    job = post(api, WARMUPS, {"keys": ["a"]}).json()
    assert bob_api.get(job["url"]).status_code == 404
    assert bob_api.get(WARMUPS).status_code == 404
    assert post(bob_api, WARMUPS, {"keys": ["a"]}).status_code == 404
    assert post(bob_api, f"{job['url']}/cancel", {}).status_code == 404
    assert MigrationJob.objects.get().status == "queued"


def test_unknown_and_huge_job_ids_are_404_not_500(api, bucket):
    assert api.get(f"{WARMUPS}/12345").status_code == 404
    assert api.get(f"{WARMUPS}/{2**70}").status_code == 404
    assert api.get(f"{WARMUPS}/abc").status_code == 404


def test_anonymous_requests_are_refused(client, bucket):
    assert client.get(WARMUPS).status_code in (401, 403)
    assert client.post(
        WARMUPS, {"keys": ["a"]}, content_type="application/json"
    ).status_code in (401, 403)
    assert not MigrationJob.objects.exists()


def test_a_created_job_is_queued_on_the_task_runner(
    api, bucket, django_capture_on_commit_callbacks
):
    from django_tasks_db.models import DBTaskResult

    with django_capture_on_commit_callbacks(execute=True):
        job = post(api, WARMUPS, {"keys": ["a"]}).json()
    queued = DBTaskResult.objects.get()
    assert queued.task_path == "origin.jobs.run_job"
    assert queued.args_kwargs == {"args": [job["id"]], "kwargs": {}}


def test_task_results_of_runs_finished_long_ago_are_pruned(
    api, bucket, django_capture_on_commit_callbacks
):
    from datetime import timedelta

    from django.utils import timezone
    from django_tasks_db.models import DBTaskResult

    from config.housekeeping import sweep_once

    with django_capture_on_commit_callbacks(execute=True):
        post(api, WARMUPS, {"keys": ["old"]})
        post(api, WARMUPS, {"keys": ["recent"]})
        post(api, WARMUPS, {"keys": ["queued"]})
    old, recent, queued = DBTaskResult.objects.order_by("enqueued_at")
    now = timezone.now()
    DBTaskResult.objects.filter(pk=old.pk).update(
        status="SUCCESSFUL", finished_at=now - timedelta(days=8)
    )
    DBTaskResult.objects.filter(pk=recent.pk).update(
        status="SUCCESSFUL", finished_at=now - timedelta(days=1)
    )
    sweep_once()
    assert set(DBTaskResult.objects.values_list("pk", flat=True)) == {
        recent.pk,
        queued.pk,
    }
    assert MigrationJob.objects.count() == 3  # the jobs stay
