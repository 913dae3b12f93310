"""Mirroring under concurrency and failure, against the real gunicorn server.

The origin runs in the test process; gunicorn runs in a subprocess with its own
DATA_DIR, so single flight is exercised across threads and worker processes.
"""

import os
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from tests.server_process import GunicornServer, wait_until

pytestmark = pytest.mark.server

BUCKET = "mirror-public"
MIB = 1024 * 1024

SETUP_SCRIPT = """
from django.contrib.auth import get_user_model
from buckets.models import Bucket
from origin.models import BackToOriginRule

owner = get_user_model().objects.create_user("operator")
bucket = Bucket.objects.create(owner=owner, name={bucket!r}, acl=Bucket.Acl.PUBLIC_READ)
BackToOriginRule(bucket=bucket, mode="mirror", protocol="http", host={host!r}).save_in_order()
"""

UPLOAD_SCRIPT = """
from buckets.models import Bucket
from buckets.storage import ObjectMetadata, ObjectWriter, commit_object

with ObjectWriter() as writer:
    writer.write({data!r})
    commit_object(Bucket.objects.get(name={bucket!r}), {key!r}, writer, ObjectMetadata(content_type="text/plain"))
"""

COUNT_SCRIPT = """
from buckets.models import StoredObject

print("objects=%d" % StoredObject.objects.filter(bucket__name={bucket!r}, key={key!r}).count())
"""


def start_mirror_server(data_dir, origin, **environment):
    """gunicorn on a fresh DATA_DIR with a public-read bucket mirroring from `origin`."""
    server = GunicornServer(data_dir, ORIGIN_ALLOW_PRIVATE="1", **environment)
    server.manage("migrate", "--noinput")
    server.manage("shell", "-c", SETUP_SCRIPT.format(bucket=BUCKET, host=origin.netloc))
    return server.start()


def stored_count(server, key):
    output = server.manage("shell", "-c", COUNT_SCRIPT.format(bucket=BUCKET, key=key))
    # `shell` may print its own notes (auto-imports); keep only our line.
    return next(
        int(line.removeprefix("objects="))
        for line in output.splitlines()
        if line.startswith("objects=")
    )


def assert_saved(server, path, body):
    """A later GET is a hit. It may wait for the fetch still in flight (the client
    gets its last bytes before the commit), so it also settles the server."""
    response = requests.get(f"{server.url}/{BUCKET}{path}", timeout=60)
    assert (response.status_code, response.headers.get("x-oss-tag")) == (200, "MIRROR")
    assert response.content == body


def files_under(directory):
    return sorted(path for path in directory.rglob("*") if path.is_file())


class BackgroundGet:
    """A GET whose body is read in a thread, so the test can act while it is in flight."""

    def __init__(self, url):
        self.url = url
        self.status = None
        self.headers = {}
        self.chunks = []
        self.error = None
        self.done = threading.Event()
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self):
        try:
            with requests.get(self.url, stream=True, timeout=60) as response:
                self.status, self.headers = response.status_code, response.headers
                for chunk in response.iter_content(16 * 1024):
                    self.chunks.append(chunk)
        except requests.RequestException as error:
            self.error = error
        finally:
            self.done.set()

    @property
    def body(self):
        return b"".join(self.chunks)

    def wait_for_first_bytes(self, timeout=30):
        wait_until(
            lambda: self.chunks or self.done.is_set(),
            "the first body bytes arrive",
            timeout=timeout,
        )
        assert self.chunks, (self.status, self.error)

    def wait(self):
        wait_until(self.done.is_set, f"GET {self.url} finishes", timeout=60)
        return self


@pytest.fixture(scope="module")
def server(tmp_path_factory, origin):
    """Two worker processes with 16 threads each: waiters sit in both processes."""
    gunicorn = start_mirror_server(
        tmp_path_factory.mktemp("mirror-data"),
        origin,
        WEB_WORKERS="2",
        WEB_THREADS="16",
    )
    yield gunicorn
    gunicorn.stop()


def test_thirty_concurrent_misses_make_one_origin_request_and_get_the_same_body(
    server, origin
):
    body = os.urandom(300 * 1024)
    origin.route("/crowd/big.bin", body=body, delay=0.5)
    url = f"{server.url}/{BUCKET}/crowd/big.bin"

    def get(_):
        response = requests.get(url, timeout=60)
        return response.status_code, response.headers.get("x-oss-tag"), response.content

    with ThreadPoolExecutor(max_workers=30) as pool:
        results = list(pool.map(get, range(30)))

    assert [(status, tag) for status, tag, _ in results] == [(200, "MIRROR")] * 30
    assert all(content == body for _, _, content in results)
    assert len(origin.requests_to("/crowd/big.bin")) == 1


def test_mirrored_bytes_reach_the_client_while_the_origin_still_sends(
    server, origin, gate
):
    held = gate()
    body = os.urandom(MIB)
    path = "/trickle/slow.bin"
    origin.route(path, body=body, pause_after=64 * 1024, gate=held)

    in_flight = BackgroundGet(f"{server.url}/{BUCKET}{path}")
    # The origin sent its first 64 KiB and holds the rest: those bytes must reach the
    # client now, not after a buffer fills. (The origin gives up on a closed gate
    # after 10 s; stay below that.)
    in_flight.wait_for_first_bytes(timeout=8)
    assert not in_flight.done.is_set()
    held.set()

    assert (in_flight.wait().status, in_flight.body) == (200, body)
    assert_saved(server, path, body)


def test_misses_on_distinct_keys_are_fetched_side_by_side(server, origin, gate):
    first, second = gate(), gate()
    origin.route("/side/a.bin", body=b"a" * 100_000, pause_after=0, gate=first)
    origin.route("/side/b.bin", body=b"b" * 100_000, pause_after=0, gate=second)

    gets = [
        BackgroundGet(f"{server.url}/{BUCKET}/side/a.bin"),
        BackgroundGet(f"{server.url}/{BUCKET}/side/b.bin"),
    ]
    # Both origin requests arrive while both bodies are held: neither key waits for
    # the other. (The origin gives up on a closed gate after 10 s; stay below that.)
    wait_until(
        lambda: origin.requests_to("/side/a.bin") and origin.requests_to("/side/b.bin"),
        "both origin requests arrive",
        timeout=8,
    )
    assert not any(get.done.is_set() for get in gets)
    first.set()
    second.set()

    assert [(get.wait().status, get.body) for get in gets] == [
        (200, b"a" * 100_000),
        (200, b"b" * 100_000),
    ]
    assert_saved(server, "/side/a.bin", b"a" * 100_000)
    assert_saved(server, "/side/b.bin", b"b" * 100_000)
    assert len(origin.requests_to("/side/a.bin")) == 1
    assert len(origin.requests_to("/side/b.bin")) == 1


def test_waiters_get_the_leaders_failure_without_a_second_origin_request(
    server, origin
):
    # The delay keeps the leader's origin request open while the others queue behind it.
    origin.route("/busy/x.bin", status=503, body=b"busy", delay=2)
    url = f"{server.url}/{BUCKET}/busy/x.bin"

    with ThreadPoolExecutor(max_workers=10) as pool:
        responses = list(pool.map(lambda _: requests.get(url, timeout=60), range(10)))

    assert [response.status_code for response in responses] == [424] * 10
    for response in responses:
        assert "<Code>MirrorFailed</Code>" in response.text
        assert "The origin answered HTTP 503." in response.text
    assert len(origin.requests_to("/busy/x.bin")) == 1


def test_object_uploaded_during_a_mirror_is_not_overwritten(server, origin, gate):
    held = gate()
    mirrored = os.urandom(MIB)
    path = "/race/upload.txt"
    origin.route(path, body=mirrored, pause_after=MIB // 2, gate=held)

    in_flight = BackgroundGet(f"{server.url}/{BUCKET}{path}")
    in_flight.wait_for_first_bytes()
    server.manage(
        "shell",
        "-c",
        UPLOAD_SCRIPT.format(
            data=b"uploaded while mirroring", bucket=BUCKET, key=path[1:]
        ),
    )
    held.set()

    # The in-flight client still gets the whole mirrored body...
    assert (in_flight.wait().status, in_flight.body) == (200, mirrored)
    # ...and gunicorn logs the request only after the mirror tried to commit it.
    wait_until(
        lambda: f'"GET /{BUCKET}{path}" 200 {MIB} ' in server.log.read_text(),
        "the mirrored response is logged",
    )
    response = requests.get(f"{server.url}/{BUCKET}{path}", timeout=30)
    assert (response.status_code, response.content) == (
        200,
        b"uploaded while mirroring",
    )
    assert "x-oss-tag" not in response.headers
    # The mirror's copy was thrown away, not left behind as an orphan blob.
    stored = files_under(server.data_dir / "objects")
    assert not any(blob.read_bytes() == mirrored for blob in stored)
    assert files_under(server.data_dir / "tmp") == []
    assert len(origin.requests_to(path)) == 1


def test_client_that_disconnects_mid_mirror_still_gets_the_object_saved(
    server, origin, gate
):
    held = gate()
    body = os.urandom(MIB)
    path = "/gone/away.bin"
    origin.route(path, body=body, pause_after=MIB // 2, gate=held)
    url = f"{server.url}/{BUCKET}{path}"

    response = requests.get(url, stream=True, timeout=30)
    assert response.status_code == 200
    assert response.raw.read(1024)
    response.close()  # hangs up with most of the body unread
    held.set()

    def saved():
        again = requests.get(url, timeout=60)
        return again.headers.get("x-oss-tag") == "MIRROR" and again.content == body

    wait_until(saved, "the mirrored object is saved", timeout=60)
    assert len(origin.requests_to(path)) == 1


@pytest.fixture
def crash_server(tmp_path, origin):
    gunicorn = start_mirror_server(
        tmp_path / "crash-data", origin, WEB_WORKERS="1", WEB_THREADS="4"
    )
    yield gunicorn
    gunicorn.stop()


def test_sigkill_mid_mirror_leaves_no_object_and_no_leftovers_after_restart(
    crash_server, origin, gate
):
    server, data_dir = crash_server, crash_server.data_dir
    held = gate()
    body = os.urandom(MIB)
    path = "/crash/big.bin"
    origin.route(path, body=body, pause_after=MIB // 2, gate=held)

    in_flight = BackgroundGet(f"{server.url}/{BUCKET}{path}")
    in_flight.wait_for_first_bytes()
    assert len(origin.requests_to(path)) == 1
    server.kill()

    assert in_flight.wait().error is not None  # the client saw the body break off
    assert len(in_flight.body) < MIB
    # What the crash left: a partial write and the key's lock file, but no object.
    assert len(files_under(data_dir / "tmp")) == 1
    assert files_under(data_dir / "locks") != []
    assert stored_count(server, path[1:]) == 0

    held.set()
    server.restart()
    assert files_under(data_dir / "tmp") == []
    assert files_under(data_dir / "objects") == []
    assert files_under(data_dir / "locks") == []

    response = requests.get(f"{server.url}/{BUCKET}{path}", timeout=60)
    assert (response.status_code, response.headers["x-oss-tag"]) == (200, "MIRROR")
    assert response.content == body
    assert len(origin.requests_to(path)) == 2
