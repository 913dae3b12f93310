"""The server under test: gunicorn as `make run` starts it, on a throwaway DATA_DIR,
with a public-read bucket whose mirroring rule points at the loopback origin."""

import contextlib
import json

from tests.server_process import GunicornServer, wait_until

BUCKET = "bench-mirror"
WEB_WORKERS, WEB_THREADS = 2, 32  # as `make run` serves (config/gunicorn.conf.py)
BENCH_ACCOUNT_GBIT = 100  # QOS_TOTAL_DOWNLOAD_BW and QOS_TOTAL_UPLOAD_BW
# deploy/nginx.conf's internal location for X-Accel-Redirect mode.
ACCEL_REDIRECT_LOCATION = "/_protected_objects/"

SETUP_SCRIPT = """
from django.contrib.auth import get_user_model
from buckets.models import Bucket
from origin.models import BackToOriginRule

owner = get_user_model().objects.create_user("bench")
bucket = Bucket.objects.create(owner=owner, name={bucket!r}, acl=Bucket.Acl.PUBLIC_READ)
BackToOriginRule(bucket=bucket, mode="mirror", protocol="http", host={host!r}).save_in_order()
"""

BLOB_NAMES_SCRIPT = """
import json
from buckets.models import StoredObject

stored = StoredObject.objects.filter(bucket__name={bucket!r}, key__in={keys!r})
print(json.dumps(dict(stored.values_list("key", "blob"))))
"""


def bench_server(data_dir, **storage_environment):
    """gunicorn configured for the benchmark, not started yet. Its object bytes go to
    local disk unless `storage_environment` names a store (even when the benchmark
    itself runs under .ci/with-seaweedfs, whose AWS_* variables it inherits)."""
    return GunicornServer(
        data_dir,
        # If the benchmark is killed, gunicorn goes with it.
        die_with_parent=True,
        ORIGIN_ALLOW_PRIVATE="1",
        WEB_WORKERS=str(WEB_WORKERS),
        WEB_THREADS=str(WEB_THREADS),
        ACCESS_LOG="/dev/null",
        # The account's bandwidth caps stay on (every transfer is charged), but above
        # what loopback carries: the default 10 Gbit/s (OSS's) is ~1,190 MiB/s, below
        # nginx's sendfile here, and a row would measure the cap, not the serving path.
        QOS_TOTAL_DOWNLOAD_BW=str(BENCH_ACCOUNT_GBIT),
        QOS_TOTAL_UPLOAD_BW=str(BENCH_ACCOUNT_GBIT),
        # The warm-up row's jobs run on a job worker beside gunicorn, as `make run` has.
        JOB_WORKERS="1",
        **{"OBJECT_STORAGE": "local", **storage_environment},
    )


def accel_server(data_dir, port):
    """Our server in X-Accel-Redirect mode on `port`, not started yet: nginx's front
    server (bench/nginx-peers.conf.template) sends the files its hits name."""
    return bench_server(
        data_dir, PORT=str(port), ACCEL_REDIRECT_LOCATION=ACCEL_REDIRECT_LOCATION
    )


def start_with_bucket(server, origin):
    """Migrate, create the mirroring bucket, start, and wait for every worker."""
    server.manage("migrate", "--noinput")
    server.manage("shell", "-c", SETUP_SCRIPT.format(bucket=BUCKET, host=origin.netloc))
    server.start()
    # Healthy means one worker answers; the RSS rows sample all of them. Fewer
    # workers is reported by those rows' check, so waiting longer is no use.
    with contextlib.suppress(TimeoutError):
        wait_until(
            lambda: len(server.worker_pids()) >= WEB_WORKERS,
            f"{WEB_WORKERS} gunicorn workers run",
            timeout=10,
        )


class Bucket:
    """The benchmark bucket on the server: every answer must carry x-oss-tag: MIRROR."""

    mirrored = True

    def __init__(self, server):
        self.server = server

    def url_for(self, key):
        return f"{self.server.url}/{BUCKET}/{key}"

    def blob_names(self, keys):
        """{key: blob name} of these stored objects, read from the server's database."""
        output = self.server.manage(
            "shell", "-c", BLOB_NAMES_SCRIPT.format(bucket=BUCKET, keys=list(keys))
        )
        return json.loads(output.strip().splitlines()[-1])
