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

    tmp, blobs = remove_leftovers()
    sweep_unheld_locks()
    server.log.info(
        "start-up sweep removed %d temporary and %d unreferenced object file(s)",
        tmp,
        blobs,
    )
    # Workers are forked from here; they must not share this process's connection.
    connections.close_all()
