"""The worker of warm-up and refresh jobs: django-tasks-db's `db_worker` loop, plus a
thread that queues again the jobs whose worker died (origin/jobs.py). gunicorn
starts JOB_WORKERS of these beside itself; `manage.py run_jobs` runs one by hand."""

import threading
import time

from django.conf import settings
from django.db import connections
from django_tasks_db.management.commands import db_worker

from origin import jobs


class JobWorker(db_worker.Worker):
    def shutdown(self, signum, frame):
        # A polite stop (SIGTERM, Ctrl+C) ends the running job's claims at once: its
        # keys in flight finish, and the job is queued again for the next worker.
        jobs.SHUTTING_DOWN.set()
        super().shutdown(signum, frame)


class Command(db_worker.Command):
    help = "Run warm-up and refresh jobs (a database task worker)"

    def handle(
        self, *, verbosity, queue_name, interval, backend_name, worker_id, **options
    ):
        self.configure_logging(verbosity)
        worker = JobWorker(
            queue_names=queue_name.split(","),
            interval=interval,
            batch=options["batch"],
            backend_name=backend_name,
            startup_delay=False,
            max_tasks=options["max_tasks"],
            worker_id=worker_id,
            excluded_queue_names=[],
        )
        jobs.recover_stalled_jobs()
        threading.Thread(
            target=_recover_forever, name="job-recovery", daemon=True
        ).start()
        worker.configure_signals()
        worker.run()


def _recover_forever():
    while True:
        time.sleep(max(1.0, settings.JOB_STALE_SECONDS / 3))
        try:
            jobs.recover_stalled_jobs()
        except Exception:  # noqa: BLE001 - try again next time round
            jobs.logger.exception("recovering stalled jobs failed")
        finally:
            connections.close_all()
