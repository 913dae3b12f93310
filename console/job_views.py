"""Back-to-Origin > Warm up: start warm-up and refresh jobs and watch them run (SPEC §11).

The jobs themselves are origin/jobs.py's; these views only turn forms into
`create_job` calls and render a job's progress partial, which polls itself with htmx
until the job is finished."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST
from django.views.decorators.vary import vary_on_headers

from console.job_forms import RefreshForm, WarmupForm
from console.rule_views import _editor_context
from console.views import _get_bucket_for_user
from origin import jobs
from origin.job_models import JobKey, MigrationJob

RECENT_JOBS = 10
Kind, Status = MigrationJob.Kind, MigrationJob.Status
ACTION_LABELS = {"pause": "Pause", "resume": "Resume", "cancel": "Cancel"}


def _get_job_for_user(request, name, job_id):
    bucket = _get_bucket_for_user(request, name)
    return bucket, get_object_or_404(MigrationJob, bucket=bucket, pk=job_id)


# -- what a job says about itself ---------------------------------------------------


def job_actions(job):
    """The (action, label) buttons the job's status allows, in jobs.control's terms."""
    return [
        (action, label)
        for action, label in ACTION_LABELS.items()
        if action in jobs.allowed_actions(job)
    ]


def counts_summary(job):
    skipped = f", {job.skipped} skipped" if job.skipped else ""
    return f"{job.saved} saved{skipped}, {job.failed} failed"


def job_summary(job, single_key=None):
    """The one line the role="status" element reads out, e.g. "Done: 198 saved, 2 failed"."""
    if single_key is not None and job.status == Status.DONE:
        return _single_refresh_summary(single_key)
    progress = f"{job.done} of {job.total} done"
    return {
        Status.QUEUED: "Queued: waiting for a worker.",
        Status.RUNNING: f"Running: {progress}.",
        Status.PAUSED: f"Paused: {progress}.",
        Status.DONE: f"Done: {counts_summary(job)}.",
        Status.FAILED: f"Failed: {job.reason.rstrip('.')}. {counts_summary(job)}.",
        Status.CANCELLED: f"Cancelled: {progress}.",
    }[job.status]


def _single_refresh_summary(job_key):
    reason = job_key.reason.rstrip(".")
    if job_key.state == JobKey.State.SAVED:
        return "Replaced with a fresh copy."
    if job_key.state == JobKey.State.FAILED:
        return f"Not refreshed: {reason}; the old copy was kept."
    return f"Not replaced: {reason}."


def _job_context(job, *, in_warmup=False):
    """`in_warmup`: shown in the Warm up section, whose Recent jobs row it keeps current."""
    single_key = (
        job.keys.first()
        if job.kind == Kind.REFRESH and job.total == 1 and job.is_finished
        else None
    )
    return {
        "job": job,
        "job_actions": job_actions(job),
        "job_errors": jobs.errors_of(job) if job.failed else [],
        "job_summary": job_summary(job, single_key),
        "in_warmup": in_warmup,
    }


# -- the Warm up section ----------------------------------------------------------------


def _render_section(request, bucket, *, current_job=None, **ctx):
    """The Warm up section for htmx; otherwise the settings page with the rule editor
    open and the section in it, so a reload shows the same thing."""
    rules = list(bucket.origin_rules.order_by("position"))
    ctx = {
        "warmup_form": WarmupForm(rules=rules),
        "refresh_form": RefreshForm(),
        "recent_jobs": bucket.migration_jobs.all()[:RECENT_JOBS],
        **(_job_context(current_job, in_warmup=True) if current_job else {}),
        **ctx,
    }
    if request.htmx:
        return render(
            request, "console/_warmup_section.html", {"bucket": bucket, **ctx}
        )
    page_ctx = _editor_context(request, bucket, **ctx)
    return render(request, "console/bucket_settings.html", page_ctx)


def _job_started(request, bucket, job):
    what = "Refresh" if job.kind == Kind.REFRESH else "Warm-up"
    message = f"{what} job {job.pk} started."
    if not request.htmx:
        messages.success(request, message)
        return redirect(reverse("console-job", args=[bucket.name, job.pk]))
    return _render_section(request, bucket, current_job=job, job_started=message)


@login_required
@vary_on_headers("HX-Request")
@require_GET
def warmup_section(request, name):
    return _render_section(request, _get_bucket_for_user(request, name))


@login_required
@vary_on_headers("HX-Request")
@require_POST
def warmup_start(request, name):
    bucket = _get_bucket_for_user(request, name)
    rules = list(bucket.origin_rules.order_by("position"))
    form = WarmupForm(request.POST, request.FILES, rules=rules)
    if form.is_valid():
        try:
            job = jobs.create_job(
                bucket, request.user, kind=Kind.WARMUP, **form.job_arguments()
            )
        except jobs.JobRequestError as error:
            form.add_job_error(error)
        else:
            return _job_started(request, bucket, job)
    return _render_section(request, bucket, warmup_form=form)


@login_required
@vary_on_headers("HX-Request")
@require_POST
def refresh_start(request, name):
    bucket = _get_bucket_for_user(request, name)
    form = RefreshForm(request.POST)
    if form.is_valid():
        try:
            job = jobs.create_job(
                bucket,
                request.user,
                kind=Kind.REFRESH,
                prefix=form.cleaned_data["prefix"],
            )
        except jobs.JobRequestError as error:
            form.add_job_error(error)
        else:
            return _job_started(request, bucket, job)
    return _render_section(request, bucket, refresh_form=form)


# -- one job ------------------------------------------------------------------------------


def _render_job(request, bucket, job, **extra):
    in_warmup = request.GET.get("in") == "warmup"
    ctx = {"bucket": bucket, **_job_context(job, in_warmup=in_warmup), **extra}
    return render(
        request, "console/_job_progress.html", {**ctx, "oob_recent": in_warmup}
    )


@login_required
@vary_on_headers("HX-Request")
@require_GET
def job_detail(request, name, job_id):
    """The progress partial (what the bar polls), or the settings page showing it."""
    bucket, job = _get_job_for_user(request, name, job_id)
    if request.htmx:
        return _render_job(request, bucket, job)
    return _render_section(request, bucket, current_job=job)


@login_required
@vary_on_headers("HX-Request")
@require_POST
def job_control(request, name, job_id, action):
    bucket, job = _get_job_for_user(request, name, job_id)
    if action not in ACTION_LABELS:
        raise Http404("No such action")
    try:
        jobs.control(job, action)
        notice = f"Job {job.pk}: {job.get_status_display().lower()}."
    except jobs.JobStateError as error:
        notice = str(error)
    if not request.htmx:
        messages.info(request, notice)
        return redirect(reverse("console-job", args=[bucket.name, job.pk]))
    return _render_job(request, bucket, job, job_notice=notice)


@login_required
@vary_on_headers("HX-Request")
@require_POST
def object_refetch(request, name):
    """Re-fetch from origin (object details): a refresh job of one key, shown in place."""
    bucket = _get_bucket_for_user(request, name)
    key = request.POST.get("key", "")
    try:
        job = jobs.create_job(bucket, request.user, kind=Kind.REFRESH, keys=[key])
    except jobs.JobRequestError as error:
        ctx = {"bucket": bucket, "obj": {"key": key}, "refetch_error": error.message}
        return render(request, "console/_job_refetch.html", ctx)
    if not request.htmx:
        return redirect(reverse("console-job", args=[bucket.name, job.pk]))
    return _render_job(request, bucket, job)
