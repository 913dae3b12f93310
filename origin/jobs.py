"""Warm-up and refresh jobs (SPEC §11) on the database task runner.

A job is a row (origin/job_models.py) and one task, `run_job`, on Django's Tasks API
with the database backend (django-tasks-db): `manage.py run_jobs` is the worker that
`make run` starts beside gunicorn. The runner takes the job with a conditional update,
lists what it has to list page by page (remembering where it got to), and its
threads claim keys a batch at a time, also with a conditional update: no key of a
job runs twice, on any worker. A runner writes a heartbeat; a job whose heartbeat went
stale (its worker was killed) is queued again by `recover_stalled_jobs`, and goes on
from the keys not yet finished."""

import logging
import threading
import time
import uuid
from collections import deque
from datetime import timedelta

from django.conf import settings
from django.db import close_old_connections, connections, transaction
from django.db.models import Count, Sum
from django.utils import timezone
from django_tasks import task

from origin import origin_listing, warmup
from origin.job_models import JobKey, MigrationJob
from origin.models import BackToOriginRule

logger = logging.getLogger(__name__)

Status, State = MigrationJob.Status, JobKey.State
MAX_CONCURRENCY = 16
MAX_KEYS = 100_000  # keys given in one request
MAX_ERRORS_SHOWN = 100
BUCKET_PAGE = 1000
# Set when this worker process is asked to stop: runners claim no more keys.
SHUTTING_DOWN = threading.Event()


class JobRequestError(Exception):
    """A job that cannot be made as asked; `field` names what to fix."""

    def __init__(self, field, message):
        super().__init__(message)
        self.field = field
        self.message = message


class JobStateError(Exception):
    """Pause, resume or cancel of a job in a status that does not allow it."""


# -- making jobs ---------------------------------------------------------------


def create_job(
    bucket,
    user,
    *,
    kind,
    keys=None,
    list_origin=None,
    prefix=None,
    concurrency=4,
    skip_existing=True,
):
    """A queued job, its keys stored, its task enqueued when the transaction commits."""
    source, rule_position, prefix = _source(bucket, kind, keys, list_origin, prefix)
    if not isinstance(concurrency, int) or isinstance(concurrency, bool):
        raise JobRequestError("concurrency", "concurrency must be a whole number.")
    if not 1 <= concurrency <= MAX_CONCURRENCY:
        raise JobRequestError(
            "concurrency", f"concurrency must be from 1 to {MAX_CONCURRENCY}."
        )
    if not isinstance(skip_existing, bool):
        raise JobRequestError("skip_existing", "skip_existing must be true or false.")
    with transaction.atomic():
        job = MigrationJob.objects.create(
            bucket=bucket,
            created_by=user,
            kind=kind,
            source=source,
            rule_position=rule_position,
            prefix=prefix,
            concurrency=concurrency,
            skip_existing=skip_existing,
            listing_done=source == MigrationJob.Source.KEYS,
        )
        if source == MigrationJob.Source.KEYS:
            _add_keys(job, _checked_keys(keys))
        transaction.on_commit(lambda: enqueue(job))
    job.refresh_from_db()
    return job


def _source(bucket, kind, keys, list_origin, prefix):
    given = [
        name
        for name, value in (
            ("keys", keys),
            ("list_origin", list_origin),
            ("prefix", prefix),
        )
        if value is not None
    ]
    allowed = (
        ["keys", "list_origin"]
        if kind == MigrationJob.Kind.WARMUP
        else ["keys", "prefix"]
    )
    wanted = " or ".join(f'"{name}"' for name in allowed)
    if len(given) != 1 or given[0] not in allowed:
        raise JobRequestError(
            given[0] if given else allowed[0], f"Give exactly one of {wanted}."
        )
    if keys is not None:
        return MigrationJob.Source.KEYS, None, ""
    if prefix is not None:
        return MigrationJob.Source.PREFIX, None, _checked_prefix(prefix, "prefix")
    if not isinstance(list_origin, dict) or set(list_origin) - {"rule", "prefix"}:
        raise JobRequestError(
            "list_origin", 'list_origin must be {"rule": <position>, "prefix": "..."}.'
        )
    position = list_origin.get("rule")
    if not isinstance(position, int) or isinstance(position, bool):
        raise JobRequestError(
            "list_origin", "list_origin.rule must be a rule position (a number)."
        )
    rule = BackToOriginRule.objects.filter(bucket=bucket, position=position).first()
    if rule is None:
        raise JobRequestError("list_origin", f"The bucket has no rule {position}.")
    if not rule.is_mirror:
        raise JobRequestError(
            "list_origin",
            f"Rule {position} is a redirection; only a mirroring rule has an origin to list.",
        )
    list_prefix = _checked_prefix(list_origin.get("prefix", ""), "list_origin")
    if origin_listing.listing_prefix(rule.to_engine(), list_prefix) is None:
        raise JobRequestError(
            "list_origin",
            f'No key under "{list_prefix}" can match rule {position}, whose prefix is "{rule.key_prefix}".',
        )
    return MigrationJob.Source.LIST_ORIGIN, position, list_prefix


def _checked_prefix(prefix, field):
    if not isinstance(prefix, str) or len(prefix.encode()) > 1023:
        raise JobRequestError(field, "The prefix must be text of at most 1023 bytes.")
    if any(ord(char) < 32 or ord(char) == 127 for char in prefix):
        raise JobRequestError(field, "The prefix must not contain control characters.")
    return prefix


def _checked_keys(keys):
    if not isinstance(keys, list) or not keys:
        raise JobRequestError("keys", "keys must be a non-empty list of object keys.")
    if len(keys) > MAX_KEYS:
        raise JobRequestError("keys", f"At most {MAX_KEYS} keys per job.")
    for key in keys:
        reason = _key_problem(key)
        if reason:
            shown = key if isinstance(key, str) else repr(key)
            raise JobRequestError("keys", f"{shown[:200]!r}: {reason}")
    return list(dict.fromkeys(keys))  # once each, in the order given


def _key_problem(key):
    if not isinstance(key, str) or not key:
        return "A key must be non-empty text."
    if len(key.encode("utf-8", "surrogatepass")) > 1023:
        return "A key is at most 1023 bytes."
    if any(
        ord(char) < 32 or ord(char) == 127 or 0xD800 <= ord(char) <= 0xDFFF
        for char in key
    ):
        return "A key must not contain control characters."
    if key.startswith("/") or "\\" in key:
        return "A key must not start with / or contain a backslash."
    return ""


def _add_keys(job, keys):
    JobKey.objects.bulk_create(
        [JobKey(job=job, key=key) for key in keys],
        batch_size=1000,
        ignore_conflicts=True,
    )
    MigrationJob.objects.filter(pk=job.pk).update(total=job.keys.count())


def enqueue(job):
    run_job.enqueue(job.pk)


# -- pause, resume, cancel ------------------------------------------------------

_CONTROL = {
    "pause": ((Status.QUEUED, Status.RUNNING), Status.PAUSED),
    "resume": ((Status.PAUSED,), Status.QUEUED),
    "cancel": ((Status.QUEUED, Status.RUNNING, Status.PAUSED), Status.CANCELLED),
}


def control(job, action):
    """Pause, resume or cancel `job`; its runner stops claiming keys at once (the keys
    already being fetched finish). Raises JobStateError when the status forbids it."""
    allowed, new_status = _CONTROL[action]
    changes = {"status": new_status}
    if new_status == Status.CANCELLED:
        changes["finished_at"] = timezone.now()
    if new_status == Status.QUEUED:
        changes["heartbeat_at"] = None
    with transaction.atomic():
        changed = MigrationJob.objects.filter(pk=job.pk, status__in=allowed).update(
            **changes
        )
        if new_status == Status.QUEUED and changed:
            transaction.on_commit(lambda: enqueue(job))
    job.refresh_from_db()
    if not changed:
        raise JobStateError(
            f"A {job.get_status_display()} job cannot be {_PAST[action]}."
        )
    return job


_PAST = {"pause": "paused", "resume": "resumed", "cancel": "cancelled"}


def allowed_actions(job):
    """The controls (pause, resume, cancel) the job's status allows now."""
    return [
        action for action, (allowed, _) in _CONTROL.items() if job.status in allowed
    ]


def _unclaim(job_keys):
    """The running keys among `job_keys` go back to pending, for any runner to claim."""
    job_keys.filter(state=State.RUNNING).update(
        state=State.PENDING, claimed_at=None, claimed_by=""
    )


def recover_stalled_jobs(stale_seconds=None):
    """Queue again the jobs whose runner stopped writing its heartbeat (killed, or its
    server went down); their unfinished keys go back to pending. Returns how many."""
    stale_seconds = stale_seconds or settings.JOB_STALE_SECONDS
    cutoff = timezone.now() - timedelta(seconds=stale_seconds)
    recovered = 0
    for job_id in MigrationJob.objects.filter(
        status=Status.RUNNING, heartbeat_at__lt=cutoff
    ).values_list("pk", flat=True):
        with transaction.atomic():
            taken = MigrationJob.objects.filter(
                pk=job_id, status=Status.RUNNING, heartbeat_at__lt=cutoff
            ).update(status=Status.QUEUED, heartbeat_at=None)
            if taken:
                _unclaim(JobKey.objects.filter(job_id=job_id))
                transaction.on_commit(lambda job_id=job_id: run_job.enqueue(job_id))
                recovered += 1
    if recovered:
        logger.warning("queued again %d job(s) whose worker had stopped", recovered)
    return recovered


def prune_task_results(days=7):
    """The task runner's rows of runs finished more than `days` ago (the jobs
    themselves stay: they are the user's record)."""
    from django_tasks_db.models import DBTaskResult

    cutoff = timezone.now() - timedelta(days=days)
    return DBTaskResult.objects.finished().filter(finished_at__lt=cutoff).delete()[0]


# -- reading --------------------------------------------------------------------


def update_counts(job_id):
    """The job's counts, from its keys' states: they cannot drift from what the keys
    say, whoever (a runner, a killed runner, a recovery) moved them."""
    totals = {
        row["state"]: row
        for row in JobKey.objects.filter(job_id=job_id)
        .values("state")
        .annotate(keys=Count("id"), bytes=Sum("bytes"))
    }

    def keys_in(state):
        return totals.get(state, {}).get("keys", 0)

    MigrationJob.objects.filter(pk=job_id).update(
        total=sum(row["keys"] for row in totals.values()),
        saved=keys_in(State.SAVED),
        skipped=keys_in(State.SKIPPED),
        failed=keys_in(State.FAILED),
        bytes=sum(row["bytes"] or 0 for row in totals.values()),
    )


def errors_of(job, limit=MAX_ERRORS_SHOWN):
    return [
        {"key": key, "reason": reason}
        for key, reason in job.keys.filter(state=State.FAILED)
        .order_by("id")
        .values_list("key", "reason")[:limit]
    ]


# -- running ----------------------------------------------------------------------


@task()
def run_job(job_id):
    """The task: run the job until its keys are done, or it is paused or cancelled."""
    JobRunner(job_id).run()


class JobRunner:
    def __init__(self, job_id):
        self.job_id = job_id
        self.stop = threading.Event()
        self.listing_finished = threading.Event()
        self._claimed = deque()
        self._claimed_lock = threading.Lock()
        self._outcomes = []  # (key id, state, reason, bytes) not yet written
        self._outcomes_lock = threading.Lock()
        self.batch_size = 8

    def run(self):
        if not self._take():
            return
        job = MigrationJob.objects.select_related("bucket").get(pk=self.job_id)
        if job.listing_done:
            self.listing_finished.set()
        threads = [
            threading.Thread(
                target=self._in_thread, args=(self._heartbeat,), daemon=True
            )
        ]
        if not job.listing_done:
            threads.append(
                threading.Thread(
                    target=self._in_thread, args=(self._list, job), daemon=True
                )
            )
        threads += [
            threading.Thread(
                target=self._in_thread, args=(self._copy_keys, job), daemon=True
            )
            for _ in range(job.concurrency)
        ]
        for thread in threads[1:]:
            thread.start()
        threads[0].start()
        self.batch_size = job.concurrency
        for thread in threads[1:]:
            thread.join()
        self.stop.set()
        threads[0].join()
        self._release_unstarted()
        self._flush_outcomes()
        update_counts(self.job_id)
        self._finish()

    def _take(self):
        """Only one runner runs a job: it must be queued, or running with a stale heartbeat."""
        now = timezone.now()
        cutoff = now - timedelta(seconds=settings.JOB_STALE_SECONDS)
        with transaction.atomic():
            abandoned = MigrationJob.objects.filter(
                pk=self.job_id, status=Status.RUNNING, heartbeat_at__lt=cutoff
            ).update(heartbeat_at=now)
            if abandoned:  # its runner died: what it had claimed is pending again
                _unclaim(JobKey.objects.filter(job_id=self.job_id))
            taken = abandoned or MigrationJob.objects.filter(
                pk=self.job_id, status=Status.QUEUED
            ).update(status=Status.RUNNING, heartbeat_at=now)
            MigrationJob.objects.filter(pk=self.job_id, started_at=None).update(
                started_at=now
            )
        return bool(taken)

    def _in_thread(self, target, *args):
        try:
            target(*args)
        except Exception:
            logger.exception("job %s: a runner thread failed", self.job_id)
            self._fail_job("The job stopped on an internal error; see the server log.")
        finally:
            connections.close_all()  # this thread's own connection

    def _heartbeat(self):
        """Every half second: stop if the job is no longer running here, and bring its
        counts up to date; every JOB_STALE_SECONDS / 5: the heartbeat itself (several
        fit in JOB_STALE_SECONDS, so one slow write is not taken for death)."""
        beat_every = settings.JOB_STALE_SECONDS / 5
        last_beat = time.monotonic()
        while not self.stop.wait(0.5):
            close_old_connections()
            if time.monotonic() - last_beat >= beat_every:
                last_beat = time.monotonic()
                MigrationJob.objects.filter(
                    pk=self.job_id, status=Status.RUNNING
                ).update(heartbeat_at=timezone.now())
            status = (
                MigrationJob.objects.filter(pk=self.job_id)
                .values_list("status", flat=True)
                .first()
            )
            if status != Status.RUNNING or SHUTTING_DOWN.is_set():
                self.stop.set()  # paused, cancelled, failed, taken over or stopping
            self._flush_outcomes()
            update_counts(self.job_id)

    # -- the keys

    def _copy_keys(self, job):
        while not self.stop.is_set():
            job_key = self._next_key()
            if job_key is None:
                if self.listing_finished.is_set() and not self._unclaimed_left():
                    return
                self.stop.wait(0.2)
                continue
            outcome = self._copy(job, job_key)
            self._record(job_key, outcome)

    def _next_key(self):
        """A key claimed for this runner: keys are claimed a batch at a time (one
        conditional update marks them with this runner's token) and handed out here."""
        with self._claimed_lock:
            if not self._claimed:
                if not self._still_running():
                    self.stop.set()
                    return None
                self._claimed.extend(self._claim_batch())
            return self._claimed.popleft() if self._claimed else None

    def _still_running(self):
        """Asked before each batch, so a pause or cancel stops new claims at once."""
        return not SHUTTING_DOWN.is_set() and (
            MigrationJob.objects.filter(pk=self.job_id, status=Status.RUNNING).exists()
        )

    def _claim_batch(self):
        ids = list(
            JobKey.objects.filter(job_id=self.job_id, state=State.PENDING)
            .order_by("id")
            .values_list("pk", flat=True)[: self.batch_size]
        )
        if not ids:
            return []
        token = uuid.uuid4().hex
        JobKey.objects.filter(pk__in=ids, state=State.PENDING).update(
            state=State.RUNNING, claimed_at=timezone.now(), claimed_by=token
        )
        # Only the rows this update changed carry the token: a lost race claims fewer.
        return list(
            JobKey.objects.filter(claimed_by=token, state=State.RUNNING).order_by("id")
        )

    def _release_unstarted(self):
        """Keys claimed but not begun when the runner stops go back to pending."""
        with self._claimed_lock:
            ids = [job_key.pk for job_key in self._claimed]
            self._claimed.clear()
        if ids:
            _unclaim(JobKey.objects.filter(pk__in=ids))

    def _unclaimed_left(self):
        return JobKey.objects.filter(job_id=self.job_id, state=State.PENDING).exists()

    def _copy(self, job, job_key):
        refresh = job.kind == MigrationJob.Kind.REFRESH
        while True:
            try:
                outcome = warmup.copy_key(
                    job.bucket,
                    job_key.key,
                    refresh=refresh,
                    skip_existing=job.skip_existing,
                )
            except Exception as error:  # noqa: BLE001 - one key must not stop the job
                logger.exception("job %s: key failed", self.job_id)
                return warmup.KeyOutcome(
                    warmup.FAILED, f"Internal error: {type(error).__name__}."
                )
            if outcome.state != warmup.RETRY or self.stop.is_set():
                return outcome
            time.sleep(0.5)  # every fetch slot of this process is busy: wait for one

    def _record(self, job_key, outcome):
        """The key's outcome, written with others a moment later (_flush_outcomes):
        one write transaction for many keys, since SQLite has a single writer. Lost
        in a crash, the key is still running, so it goes back to pending and runs
        again (as "already in the bucket" if it was saved)."""
        state = outcome.state if outcome.state != warmup.RETRY else State.FAILED
        with self._outcomes_lock:
            self._outcomes.append(
                (job_key.pk, state, outcome.reason[:2000], outcome.bytes)
            )

    def _flush_outcomes(self):
        with self._outcomes_lock:
            outcomes, self._outcomes = self._outcomes, []
        if not outcomes:
            return
        with transaction.atomic():
            for pk, state, reason, size in outcomes:
                JobKey.objects.filter(pk=pk, state=State.RUNNING).update(
                    state=state, reason=reason, bytes=size
                )

    # -- the listing

    def _list(self, job):
        try:
            if job.source == MigrationJob.Source.LIST_ORIGIN:
                self._list_pages(job, self._origin_page(job))
            else:
                self._list_pages(job, self._bucket_page(job))
        except origin_listing.ListingError as error:
            self._fail_job(str(error))
        finally:
            self.listing_finished.set()

    def _origin_page(self, job):
        rule = BackToOriginRule.objects.filter(
            bucket_id=job.bucket_id, position=job.rule_position
        ).first()
        if rule is None or not rule.is_mirror:
            raise origin_listing.ListingError(
                f"Rule {job.rule_position} is no longer a mirroring rule of this bucket."
            )
        engine_rule = rule.to_engine()
        prefix = origin_listing.listing_prefix(engine_rule, job.prefix)
        if prefix is None:
            raise origin_listing.ListingError(
                f"No key under the prefix can match rule {job.rule_position} any more."
            )
        return lambda marker: origin_listing.list_page(engine_rule, prefix, marker)

    def _bucket_page(self, job):
        def page(marker):
            keys = list(
                job.bucket.stored_objects.filter(
                    key__startswith=job.prefix, key__gt=marker
                )
                .order_by("key")
                .values_list("key", flat=True)[:BUCKET_PAGE]
            )
            return keys, (keys[-1] if len(keys) == BUCKET_PAGE else "")

        return page

    def _list_pages(self, job, page):
        marker = job.listing_marker
        while not self.stop.is_set():
            keys, next_marker = page(marker)
            with transaction.atomic():
                _add_keys(job, keys)
                MigrationJob.objects.filter(pk=self.job_id).update(
                    listing_marker=next_marker, listing_done=not next_marker
                )
            if not next_marker:
                return
            marker = next_marker

    # -- the end

    def _fail_job(self, reason):
        MigrationJob.objects.filter(
            pk=self.job_id, status__in=(Status.QUEUED, Status.RUNNING)
        ).update(status=Status.FAILED, reason=reason[:2000], finished_at=timezone.now())
        self.stop.set()

    def _finish(self):
        """Done when every key is; a paused or cancelled job stays as it is."""
        job = MigrationJob.objects.filter(pk=self.job_id).first()
        if job is None or job.status != Status.RUNNING:
            return
        if SHUTTING_DOWN.is_set():  # the next worker goes on with it
            with transaction.atomic():
                if MigrationJob.objects.filter(
                    pk=self.job_id, status=Status.RUNNING
                ).update(status=Status.QUEUED, heartbeat_at=None):
                    transaction.on_commit(lambda: run_job.enqueue(self.job_id))
            return
        if (
            job.listing_done
            and not job.keys.exclude(
                state__in=(State.SAVED, State.SKIPPED, State.FAILED)
            ).exists()
        ):
            MigrationJob.objects.filter(pk=self.job_id, status=Status.RUNNING).update(
                status=Status.DONE, finished_at=timezone.now()
            )
