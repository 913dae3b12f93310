"""Two app servers on one PostgreSQL: concurrent misses of one key, split across
both, make one origin request (single flight by advisory locks, SPEC §12).

Each gunicorn has its own DATA_DIR; they share a database created for this module
on the cluster DATABASE_URL names. Run with
`.ci/with-postgres .ci/with-seaweedfs .venv/bin/pytest tests/test_two_servers.py`
(`make test-scale-out`); without .ci/with-seaweedfs each server keeps the bytes it
fetched on its own disk, and only the origin requests and the fetching server's
answers are checked.
"""

import base64
import contextlib
import os
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlsplit, urlunsplit

import boto3
import oss2
import psycopg
import pytest
import requests

from tests.origin_server import OriginServer
from tests.server_process import GunicornServer, wait_until
from tests.signing import KeyPair

DATABASE_URL = os.environ.get("DATABASE_URL", "")
# Under .ci/with-seaweedfs (OBJECT_STORAGE=s3 and its AWS_* settings, which the
# servers inherit) both servers read the bytes from one store.
SHARED_BYTES = os.environ.get("OBJECT_STORAGE") == "s3"

pytestmark = [
    pytest.mark.server,
    pytest.mark.skipif(
        not DATABASE_URL.startswith(("postgres://", "postgresql://")),
        reason="two servers share one PostgreSQL: run under .ci/with-postgres",
    ),
]

BUCKET = "shared-mirror"
CROWD = 20

SETUP_SCRIPT = """
from django.contrib.auth import get_user_model
from buckets.models import Bucket
from origin.models import BackToOriginRule

owner = get_user_model().objects.create_user("operator")
bucket = Bucket.objects.create(owner=owner, name={bucket!r}, acl=Bucket.Acl.PUBLIC_READ)
BackToOriginRule(bucket=bucket, mode="mirror", protocol="http", host={host!r}).save_in_order()
"""


class GatedOrigin(OriginServer):
    """Holds every answer until the test opens the gate, so the whole crowd is
    queued behind the first fetch before the origin says anything."""

    def __init__(self):
        super().__init__()
        self.gate = threading.Event()

    def _answer(self, handler, parts, received):
        self.gate.wait(60)
        super()._answer(handler, parts, received)


@pytest.fixture(scope="module")
def shared_database():
    """A fresh database on the cluster, as the servers' DATABASE_URL; dropped after."""
    name = f"two_servers_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(DATABASE_URL, autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE {name}")
    yield urlunsplit(urlsplit(DATABASE_URL)._replace(path=f"/{name}"))
    with psycopg.connect(DATABASE_URL, autocommit=True) as admin:
        admin.execute(f"DROP DATABASE {name} WITH (FORCE)")


@pytest.fixture(scope="module")
def origin():
    gated = GatedOrigin()
    yield gated
    gated.gate.set()
    gated.close()


@pytest.fixture(scope="module")
def servers(tmp_path_factory, shared_database, origin):
    """Two gunicorn servers, two workers each, on one database: migrated once."""
    shared = {
        "ORIGIN_ALLOW_PRIVATE": "1",
        "WEB_WORKERS": "2",
        "WEB_THREADS": str(CROWD),  # every request of the crowd finds a thread
        # The same keys on every server, as docs/deploy.md asks.
        "SECRET_KEY": "two-servers-test-secret-key",
        "OSS_MASTER_KEY": base64.b64encode(b"k" * 32).decode(),
    }
    pair = []
    for name in ("server-a", "server-b"):
        server = GunicornServer(tmp_path_factory.mktemp(name), **shared)
        # GunicornServer keeps each server on its own SQLite unless told otherwise.
        server.env["DATABASE_URL"] = shared_database
        pair.append(server)
    pair[0].manage("migrate", "--noinput")
    pair[0].manage(
        "shell", "-c", SETUP_SCRIPT.format(bucket=BUCKET, host=origin.netloc)
    )
    try:
        yield [server.start() for server in pair]
    finally:
        for server in pair:
            server.stop()


def waiting_on_advisory_locks(database_url):
    with psycopg.connect(database_url, autocommit=True) as session:
        return session.execute(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
            " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
        ).fetchone()[0]


def crowd_get(servers, origin, database_url, path):
    """CROWD concurrent GETs of `path`, alternating between the servers; the origin
    answers only once all but one wait on the first one's fetch. Returns
    [(server index, status, body)]."""
    origin.gate.clear()

    def get(number):
        server = servers[number % len(servers)]
        response = requests.get(f"{server.url}/{BUCKET}{path}", timeout=120)
        return number % len(servers), response.status_code, response.content

    with ThreadPoolExecutor(max_workers=CROWD) as pool:
        answers = [pool.submit(get, number) for number in range(CROWD)]
        try:
            wait_until(
                lambda: waiting_on_advisory_locks(database_url) == CROWD - 1,
                f"{CROWD - 1} requests wait on the first one's fetch",
                timeout=60,
            )
            assert len(origin.requests_to(path)) == 1
        finally:
            origin.gate.set()
        return [answer.result() for answer in answers]


def test_an_origin_404_reaches_the_waiters_on_both_servers_from_one_request(
    servers, origin, shared_database
):
    path = "/crowd/missing.txt"  # no route: the origin answers 404

    answers = crowd_get(servers, origin, shared_database, path)

    assert [status for _, status, _ in answers] == [404] * CROWD
    assert all(b"<Code>NoSuchKey</Code>" in body for _, _, body in answers)
    assert {server for server, _, _ in answers} == {0, 1}
    assert len(origin.requests_to(path)) == 1


def test_a_crowd_split_across_servers_makes_one_origin_request(
    servers, origin, shared_database
):
    body = os.urandom(200 * 1024)
    path = "/crowd/big.bin"
    origin.route(path, body=body)

    answers = crowd_get(servers, origin, shared_database, path)

    assert len(origin.requests_to(path)) == 1
    if SHARED_BYTES:
        assert [(status, content == body) for _, status, content in answers] == [
            (200, True)
        ] * CROWD
    else:
        # Bytes on local disk stay with the server that fetched them: only its own
        # clients can be served. The other finds the committed row, not the bytes.
        fetcher = next(server for server, status, _ in answers if status == 200)
        assert [
            (status, content == body)
            for server, status, content in answers
            if server == fetcher
        ] == [(200, True)] * (CROWD // 2)


def test_a_server_killed_mid_fetch_leaves_the_key_to_the_other(
    servers, origin, shared_database
):
    body = os.urandom(100 * 1024)
    path = "/crowd/orphaned.bin"
    origin.route(path, body=body)
    origin.gate.clear()
    killed, survivor = servers
    cut = []

    def get_from_the_doomed_server():
        try:
            requests.get(f"{killed.url}/{BUCKET}{path}", timeout=60)
        except requests.ConnectionError as error:
            cut.append(error)

    leader = threading.Thread(target=get_from_the_doomed_server, daemon=True)
    leader.start()
    wait_until(lambda: origin.requests_to(path), "the first server asks the origin")

    killed.kill()  # kill -9 master and workers: PostgreSQL ends their sessions
    origin.gate.set()
    response = requests.get(f"{survivor.url}/{BUCKET}{path}", timeout=60)

    assert (response.status_code, response.headers.get("x-oss-tag")) == (200, "MIRROR")
    assert response.content == body
    assert len(origin.requests_to(path)) == 2  # the survivor fetched it again
    leader.join(60)
    assert len(cut) == 1  # the killed server's client lost its connection
    killed.restart()


# -- the shared store: what one server writes, the other reads ----------------------

needs_shared_bytes = pytest.mark.skipif(
    not SHARED_BYTES,
    reason="the servers share bytes only under .ci/with-seaweedfs (OBJECT_STORAGE=s3)",
)


@pytest.fixture(scope="module")
def operator_buckets(servers):
    """The operator's oss2 Bucket on each server, signed with one access key."""
    key = KeyPair.from_command_output(
        servers[0].manage("create_access_key", "operator")
    )
    return [oss2.Bucket(oss2.Auth(*key), server.url, BUCKET) for server in servers]


def store_keys():
    """Every object in the store's bucket: blobs and parts of both servers."""
    client = boto3.client(
        "s3",
        endpoint_url=os.environ["AWS_S3_ENDPOINT_URL"],
        aws_access_key_id=os.environ["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=os.environ["AWS_SECRET_ACCESS_KEY"],
        region_name=os.environ.get("AWS_S3_REGION_NAME", "us-east-1"),
    )
    pages = client.get_paginator("list_objects_v2").paginate(
        Bucket=os.environ["AWS_STORAGE_BUCKET_NAME"]
    )
    return {item["Key"] for page in pages for item in page.get("Contents", ())}


@needs_shared_bytes
def test_an_object_written_through_one_server_is_read_through_the_other(
    origin, operator_buckets
):
    origin.gate.set()
    through_a, through_b = operator_buckets
    body = os.urandom(300 * 1024)

    written = through_a.put_object("shared/report.bin", body)
    read = through_b.get_object("shared/report.bin")

    assert read.read() == body
    assert read.etag == written.etag
    listed = [o.key for o in oss2.ObjectIterator(through_b, prefix="shared/")]
    assert listed == ["shared/report.bin"]

    through_a.delete_object("shared/report.bin")

    assert not through_b.object_exists("shared/report.bin")  # HEAD never mirrors
    assert list(oss2.ObjectIterator(through_b, prefix="shared/")) == []


@needs_shared_bytes
def test_a_multipart_upload_begun_on_one_server_completes_on_the_other(
    origin, operator_buckets
):
    origin.gate.set()
    through_a, through_b = operator_buckets
    parts = [os.urandom(100 * 1024 + 1), os.urandom(100 * 1024 + 2)]
    upload_id = through_a.init_multipart_upload("shared/movie.bin").upload_id

    infos = [
        oss2.models.PartInfo(
            number, bucket.upload_part("shared/movie.bin", upload_id, number, data).etag
        )
        for number, (bucket, data) in enumerate(
            zip((through_a, through_b), parts, strict=True), start=1
        )
    ]
    through_b.complete_multipart_upload("shared/movie.bin", upload_id, infos)

    assert through_a.get_object("shared/movie.bin").read() == b"".join(parts)
    through_b.delete_object("shared/movie.bin")


@needs_shared_bytes
def test_a_failed_mirror_leaves_nothing_in_the_store(servers, origin, operator_buckets):
    origin.gate.set()
    path = "/crowd/cut-short.bin"
    origin.route(path, body=os.urandom(2 * 1024 * 1024), truncate_after=1024 * 1024)
    before = store_keys()

    with contextlib.suppress(requests.RequestException):  # the body breaks off
        requests.get(f"{servers[1].url}/{BUCKET}{path}", timeout=60)  # reads it all

    assert len(origin.requests_to(path)) == 1
    assert store_keys() == before
    # No row either, on either server (the owner's HEAD never mirrors).
    assert [bucket.object_exists(path[1:]) for bucket in operator_buckets] == [
        False,
        False,
    ]
