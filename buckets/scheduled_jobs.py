"""Periodic jobs shared by every worker and server: claim_turn() lets exactly one
caller per interval run a job (the same claim as buckets/lifecycle_job.py's)."""

from django.db import IntegrityError, transaction

from buckets.models import ScheduledJob


def claim_turn(name, now, interval):
    """True for exactly one of the callers racing for this interval of job `name`:
    a conditional update is atomic on every database, so only one moves
    last_started on."""
    claimed = ScheduledJob.objects.filter(
        name=name, last_started__lte=now - interval
    ).update(last_started=now)
    if claimed:
        return True
    if ScheduledJob.objects.filter(name=name).exists():
        return False  # started within the interval
    try:
        with transaction.atomic():
            ScheduledJob.objects.create(name=name, last_started=now)
    except IntegrityError:
        return False  # another worker created it just now
    return True
