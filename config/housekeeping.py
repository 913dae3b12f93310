"""Housekeeping each server worker does while it runs (started by gunicorn's
post_worker_init): what a killed process left behind goes without a restart."""

import logging
import threading

from django.conf import settings
from django.db import connections

from buckets import access_logging, inventory
from buckets.lifecycle_job import run_if_due
from buckets.parts import abort_expired_uploads, sweep_orphan_part_files
from buckets.storage import forget_old_deletions, sweep_temp_files
from origin.flight import sweep_flight_outcomes, sweep_unheld_locks
from origin.jobs import prune_task_results
from origin.protection import sweep_negative_cache

logger = logging.getLogger(__name__)


def sweep_once():
    """One pass; returns (temporary files, lock files, deletion times, expired
    multipart uploads, orphaned part files) removed."""
    # A deletion time matters while a fetch that was waiting or running before it may commit.
    longest_fetch = (
        settings.MIRROR_WAIT_SECONDS
        + settings.MIRROR_QUEUE_SECONDS
        + settings.ORIGIN_DEADLINE_SECONDS
        + 60
    )
    sweep_flight_outcomes()  # outcome rows of single flight no waiter still needs
    sweep_negative_cache()  # origin 404s a rule no longer remembers
    prune_task_results()  # the task runner's rows of job runs finished long ago
    return (
        sweep_temp_files(),
        sweep_unheld_locks(),
        forget_old_deletions(longest_fetch),
        abort_expired_uploads(settings.MULTIPART_MAX_AGE_SECONDS),
        sweep_orphan_part_files(),
    )


def lifecycle_if_due():
    """Apply the buckets' lifecycle rules if no worker (of any server) has within
    LIFECYCLE_INTERVAL_SECONDS; returns the outcome, or None if it was not due."""
    outcome = run_if_due()
    if outcome is not None and any(
        (outcome.deleted_objects, outcome.transitioned_objects, outcome.aborted_uploads)
    ):
        logger.info(
            "lifecycle deleted %d expired object(s), moved %d to a colder class and "
            "aborted %d expired multipart upload(s)",
            outcome.deleted_objects,
            outcome.transitioned_objects,
            outcome.aborted_uploads,
        )
    return outcome


def _sweep_forever(stop):
    while True:
        try:
            removed = sweep_once()
            if any(removed[:2]):
                logger.info(
                    "sweep removed %d temporary and %d lock file(s)", *removed[:2]
                )
            if any(removed[3:]):
                logger.info(
                    "sweep aborted %d expired multipart upload(s) and removed %d "
                    "orphaned part file(s)",
                    *removed[3:],
                )
        except Exception:
            logger.exception("housekeeping sweep failed; trying again later")
        try:
            lifecycle_if_due()
        except Exception:
            logger.exception("lifecycle run failed; trying again next interval")
        try:
            access_logging.run_if_due()
        except Exception:
            logger.exception("access log flush failed; trying again next interval")
        try:
            inventory.run_if_due()
        except Exception:
            logger.exception("inventory run failed; trying again next interval")
        finally:
            connections.close_all()  # the sweeper thread's own connection, between passes
        if stop.wait(settings.TMP_SWEEP_SECONDS):
            return


def start_sweeper():
    """A daemon thread sweeping now and every TMP_SWEEP_SECONDS; set the event to stop."""
    stop = threading.Event()
    threading.Thread(
        target=_sweep_forever, args=(stop,), name="housekeeping", daemon=True
    ).start()
    return stop
