"""gunicorn settings for `make run` and the server tests: threaded workers."""

import os

bind = f"{os.environ.get('HOST', '127.0.0.1')}:{os.environ.get('PORT', '8000')}"
wsgi_app = "config.wsgi:application"
worker_class = "gthread"
workers = int(os.environ.get("WEB_WORKERS", "2"))
# Requests waiting on another request's fetch of the same key hold a thread while
# they wait; threads are cheap, so keep plenty for everyone else (see bench/).
threads = int(os.environ.get("WEB_THREADS", "32"))
# Mirroring streams large objects; a long request is not a hung worker.
timeout = int(os.environ.get("WEB_TIMEOUT", "300"))
# Idle keep-alive connections wait in the poller, not in a thread, so they are cheap.
# gunicorn's 2 s default closes them while clients that paused a second or two
# (oss2's own suite does) send their next request on them: a PUT sent on a
# connection the server is closing fails and is not retried. nginx's default is 75 s.
keepalive = int(os.environ.get("WEB_KEEPALIVE", "75"))
graceful_timeout = 10
# Several servers (tests, benchmarks) may run at once; none needs the shared control socket.
control_socket_disable = True
accesslog = os.environ.get("ACCESS_LOG", "-")
# Request lines can carry presigned URLs; the default format logs only the path.
access_log_format = '%(h)s "%(m)s %(U)s" %(s)s %(B)s %(M)sms'


def post_fork(server, worker):
    """Answer with OSS's Server header (gunicorn has no setting for it)."""
    import gunicorn.http.wsgi

    gunicorn.http.wsgi.SERVER = "AliyunOSS"


def post_worker_init(worker):
    """Each worker sweeps what dead processes left (temp files, locks) while it runs."""
    from config.housekeeping import start_sweeper

    start_sweeper()


def on_starting(server):
    """Before any worker runs: sweep partial writes left by a crash."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()
    from django.db import connections

    from buckets.storage import remove_leftovers
    from origin.flight import sweep_unheld_locks

    try:
        tmp, blobs = remove_leftovers()
    except Exception:  # noqa: BLE001 - an unreachable object store must not stop the start
        # /healthz reports the store; the next start (or cleanup_storage) sweeps.
        server.log.exception("start-up sweep of object storage failed")
    else:
        server.log.info(
            "start-up sweep removed %d temporary and %d unreferenced object file(s)",
            tmp,
            blobs,
        )
    sweep_unheld_locks()
    # Workers are forked from here; they must not share this process's connection.
    connections.close_all()


# The RTMP ingest of live channels (`manage.py live_ingest`, unless LIVE_RTMP_PORT is
# 0) and JOB_WORKERS job workers (`manage.py run_jobs`) run and stop with gunicorn.
_companions = []


def when_ready(server):
    from django.conf import settings

    if settings.LIVE_RTMP_PORT:
        _start_companion("live_ingest")
        server.log.info("RTMP ingest started on port %s", settings.LIVE_RTMP_PORT)
    for _ in range(settings.JOB_WORKERS):
        _start_companion("run_jobs")
    if settings.JOB_WORKERS:
        server.log.info("%d job worker(s) started", settings.JOB_WORKERS)


def _start_companion(command):
    import subprocess
    import sys

    manage = os.path.join(os.path.dirname(os.path.dirname(__file__)), "manage.py")
    _companions.append(
        subprocess.Popen([sys.executable, manage, command], preexec_fn=_die_with_parent)
    )


def on_exit(server):
    for process in _companions:
        process.terminate()
    for process in _companions:
        try:
            process.wait(timeout=graceful_timeout + 5)
        except Exception:  # noqa: BLE001 - a stuck companion must not keep gunicorn up
            process.kill()


def _die_with_parent():
    """A companion gets SIGTERM if gunicorn's master dies, even by SIGKILL (Linux)."""
    import ctypes
    import signal

    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
