"""Warm-up and refresh jobs (SPEC §11): what a job asks for, how far it got, and each
of its keys. The job runner (origin/jobs.py) claims keys one at a time with a
conditional update, so no key of a job runs twice, whichever worker runs it."""

from django.conf import settings
from django.db import models


class MigrationJob(models.Model):
    class Kind(models.TextChoices):
        WARMUP = "warmup"
        REFRESH = "refresh"

    class Status(models.TextChoices):
        QUEUED = "queued"
        RUNNING = "running"
        PAUSED = "paused"
        DONE = "done"
        FAILED = "failed"
        CANCELLED = "cancelled"

    class Source(models.TextChoices):
        KEYS = "keys"  # the keys were given
        LIST_ORIGIN = "list_origin"  # the origin bucket of a rule is listed
        PREFIX = "prefix"  # the bucket's own objects under a prefix (refresh)

    FINISHED = (Status.DONE, Status.FAILED, Status.CANCELLED)

    bucket = models.ForeignKey(
        "buckets.Bucket", on_delete=models.CASCADE, related_name="migration_jobs"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    kind = models.CharField(max_length=8, choices=Kind.choices)
    status = models.CharField(
        max_length=10, choices=Status.choices, default=Status.QUEUED
    )
    source = models.CharField(max_length=12, choices=Source.choices)
    rule_position = models.PositiveSmallIntegerField(null=True, blank=True)
    prefix = models.CharField(max_length=1024, blank=True)
    concurrency = models.PositiveSmallIntegerField(default=4)
    skip_existing = models.BooleanField(default=True)
    # Listing the origin (or the bucket) goes page by page; a resumed job goes on
    # from the last page it stored.
    listing_marker = models.TextField(blank=True)
    listing_done = models.BooleanField(default=False)
    total = models.PositiveIntegerField(default=0)
    saved = models.PositiveIntegerField(default=0)
    skipped = models.PositiveIntegerField(default=0)
    failed = models.PositiveIntegerField(default=0)
    bytes = models.BigIntegerField(default=0)
    reason = models.TextField(blank=True)  # why the whole job failed
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # Written every few seconds by the runner: a stale one means nobody runs the job.
    heartbeat_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["status", "heartbeat_at"])]

    def __str__(self):
        return f"{self.kind} job {self.pk} of {self.bucket_id}: {self.status}"

    @property
    def done(self):
        return self.saved + self.skipped + self.failed

    @property
    def is_finished(self):
        return self.status in self.FINISHED

    @property
    def percent(self):
        if self.status == self.Status.DONE:
            return 100
        if not self.total:
            return 0
        return min(100, self.done * 100 // self.total)


class JobKey(models.Model):
    class State(models.TextChoices):
        PENDING = "pending"
        RUNNING = "running"
        SAVED = "saved"
        SKIPPED = "skipped"
        FAILED = "failed"

    job = models.ForeignKey(MigrationJob, on_delete=models.CASCADE, related_name="keys")
    key = models.CharField(max_length=1024)
    state = models.CharField(max_length=8, choices=State.choices, default=State.PENDING)
    reason = models.TextField(blank=True)
    bytes = models.BigIntegerField(default=0)
    claimed_at = models.DateTimeField(null=True, blank=True)
    claimed_by = models.CharField(max_length=32, blank=True)  # the claim's token

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["job", "key"], name="origin_job_key_once")
        ]
        indexes = [
            models.Index(fields=["job", "state"]),
            models.Index(fields=["claimed_by"]),
        ]

    def __str__(self):
        return f"{self.key}: {self.state}"
