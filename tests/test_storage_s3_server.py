"""The real gunicorn with OBJECT_STORAGE=s3 on a real SeaweedFS: a large object goes
up and comes back through oss2 byte for byte while the worker's memory stays flat
(its bytes pass through the store one block at a time, never whole), and the
server's DATA_DIR keeps no copy of them."""

import contextlib
import hashlib
import os
import uuid

import oss2
import pytest
import requests

from bench.measure import RssSampler
from tests.conftest import PASSWORD
from tests.origin_server import unused_port
from tests.seaweedfs import BLOB_BUCKET
from tests.server_process import GunicornServer, wait_until

pytestmark = pytest.mark.server

MIB = 1024 * 1024
SIZE = 64 * MIB
# Half the object: a worker that held it whole (or a spooled copy in memory) fails.
RSS_GROWTH_LIMIT = 32 * MIB


@pytest.fixture(scope="module")
def store_environment(request):
    """The store's settings: .ci/with-seaweedfs's, else a weed the session starts."""
    if os.environ.get("OBJECT_STORAGE") == "s3":
        environment = {}
    else:
        weed = request.getfixturevalue("seaweed_s3")
        client = weed.client()
        with contextlib.suppress(client.exceptions.BucketAlreadyOwnedByYou):
            client.create_bucket(Bucket=BLOB_BUCKET)
        environment = weed.storage_environment(BLOB_BUCKET)
    return {**environment, "AWS_LOCATION": f"server-{uuid.uuid4().hex}"}


@pytest.fixture(scope="module")
def server(store_environment, tmp_path_factory):
    """One gunicorn worker, its object bytes in the store; alice's oss2 bucket on it."""
    gunicorn = GunicornServer(
        tmp_path_factory.mktemp("s3-server"), WEB_WORKERS="1", **store_environment
    )
    keys = gunicorn.add_users(["alice"], PASSWORD)
    gunicorn.start()
    bucket = oss2.Bucket(oss2.Auth(*keys["alice"]), gunicorn.url, "big-files")
    bucket.create_bucket()
    yield gunicorn, bucket
    gunicorn.stop()


@pytest.fixture(scope="module")
def big_file(tmp_path_factory):
    """SIZE random bytes on disk, written in pieces (the test holds no copy)."""
    path = tmp_path_factory.mktemp("large") / "source.bin"
    digest = hashlib.sha256()
    with path.open("wb") as out:
        for _ in range(SIZE // MIB):
            piece = os.urandom(MIB)
            digest.update(piece)
            out.write(piece)
    return path, digest.hexdigest()


def files_under(path):
    return [p for p in path.rglob("*") if p.is_file()] if path.exists() else []


def test_a_large_object_goes_through_the_store_with_flat_worker_memory(
    server, big_file, tmp_path
):
    gunicorn, bucket = server
    source, source_sha256 = big_file
    digest = hashlib.sha256()

    # Warm: boto3's modules and connections are loaded once per worker, not per object.
    bucket.put_object("warm-up.bin", os.urandom(MIB))
    assert len(bucket.get_object("warm-up.bin").read()) == MIB

    with RssSampler(gunicorn.worker_pids()) as upload_memory:
        bucket.put_object_from_file("films/big.bin", str(source))
    with (
        RssSampler(gunicorn.worker_pids()) as download_memory,
        bucket.get_object("films/big.bin") as answer,
    ):
        while piece := answer.read(MIB):
            digest.update(piece)

    assert digest.hexdigest() == source_sha256
    for memory in (upload_memory, download_memory):
        assert memory.growth <= RSS_GROWTH_LIMIT, f"{memory.growth / MIB:.1f} MiB"
    # With S3, DATA_DIR holds temporary files only, and none is left.
    assert files_under(gunicorn.data_dir / "objects") == []
    assert files_under(gunicorn.data_dir / "tmp") == []


def test_a_range_of_the_large_object_comes_from_the_store(server, big_file):
    gunicorn, bucket = server
    source, _ = big_file
    with source.open("rb") as handle:
        handle.seek(40 * MIB + 7)
        expected = handle.read(1000)
    # Its own upload: tests run in any order, and xdist may give this one a server
    # of its own.
    bucket.put_object_from_file("films/ranged.bin", str(source))

    answer = bucket.get_object(
        "films/ranged.bin", byte_range=(40 * MIB + 7, 40 * MIB + 1006)
    )

    assert answer.status == 206
    assert answer.read() == expected


def test_healthz_reports_the_object_store(server):
    gunicorn, _bucket = server

    answer = requests.get(f"{gunicorn.url}/healthz", timeout=10)

    assert (answer.status_code, answer.json()["object_store"]) == (200, "ok")


def test_a_server_whose_store_is_unreachable_starts_and_reports_it(
    store_environment, tmp_path
):
    """The start-up sweep cannot reach the store: the server still starts (it would
    sweep on the next start), and /healthz says what is wrong."""
    unreachable = {
        **store_environment,
        "AWS_S3_ENDPOINT_URL": f"http://127.0.0.1:{unused_port()}",
        "AWS_STORAGE_BUCKET_NAME": BLOB_BUCKET,
        "OBJECT_STORAGE": "s3",
    }
    gunicorn = AnsweringServer(tmp_path, WEB_WORKERS="1", **unreachable)
    gunicorn.start()
    try:
        answer = requests.get(f"{gunicorn.url}/healthz", timeout=30)
    finally:
        gunicorn.stop()

    assert answer.status_code == 503
    assert answer.json()["object_store"].startswith("error: ")


class AnsweringServer(GunicornServer):
    """Started once it answers /healthz at all: healthy or not."""

    def _wait_until_healthy(self):
        def answers():
            try:
                return requests.get(f"{self.url}/healthz", timeout=5).status_code
            except (requests.ConnectionError, requests.Timeout):
                return None

        wait_until(answers, "gunicorn answers /healthz", timeout=60)
