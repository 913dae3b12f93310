"""The real server, started the way `make run` starts it, answering real HTTP requests."""

import hashlib
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from tests.server_process import GunicornServer

pytestmark = pytest.mark.server

USERNAME, PASSWORD = "operator", "server-test-password"
PUBLIC_BODY = b"Hello, world! Served by gunicorn.\n"
PRIVATE_BODY = b"top secret"
STRAY_BLOB = "ab/cd/abcd" + "0" * 28

SETUP_SCRIPT = f"""
from django.contrib.auth import get_user_model
from buckets.models import Bucket
from buckets.storage import ObjectMetadata, ObjectWriter, commit_object

owner = get_user_model().objects.get(username={USERNAME!r})
public = Bucket.objects.create(owner=owner, name="srv-public", acl=Bucket.Acl.PUBLIC_READ)
private = Bucket.objects.create(owner=owner, name="srv-private")
for bucket, key, data in [(public, "greetings/hello.txt", {PUBLIC_BODY!r}), (private, "secret.txt", {PRIVATE_BODY!r})]:
    with ObjectWriter() as writer:
        writer.write(data)
        print("blob=" + commit_object(bucket, key, writer, ObjectMetadata(content_type="text/plain")).blob)
"""


@dataclass
class Server:
    url: str
    port: int
    data_dir: Path
    first_user_output: str
    blobs: list
    log: Path


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("server-data")
    gunicorn = GunicornServer(
        data_dir,
        DJANGO_SUPERUSER_USERNAME=USERNAME,
        DJANGO_SUPERUSER_PASSWORD=PASSWORD,
    )
    gunicorn.manage("migrate", "--noinput")
    first_user_output = gunicorn.manage("ensure_first_user")
    # `shell` may print its own notes (auto-imports); keep only our lines.
    blobs = [
        line.removeprefix("blob=")
        for line in gunicorn.manage("shell", "-c", SETUP_SCRIPT).splitlines()
        if line.startswith("blob=")
    ]

    # What a crash leaves behind: a partial write and a blob no row points at.
    (data_dir / "tmp" / "obj-x.part").write_bytes(b"half an upload")
    stray = data_dir / "objects" / STRAY_BLOB
    stray.parent.mkdir(parents=True)
    stray.write_bytes(b"orphan")

    gunicorn.start()
    try:
        yield Server(
            gunicorn.url,
            gunicorn.port,
            data_dir,
            first_user_output,
            blobs,
            gunicorn.log,
        )
    finally:
        gunicorn.stop()


def test_first_user_command_prints_console_url_and_login(server):
    assert server.first_user_output == (
        f"Console: http://127.0.0.1:{server.port}/console/\n"
        f"Login:   {USERNAME} / (from DJANGO_SUPERUSER_PASSWORD)\n"
    )


def test_healthz_reports_database_and_storage(server):
    response = requests.get(f"{server.url}/healthz", timeout=5)
    assert response.json() == {"status": "ok", "database": "ok", "storage": "ok"}


def test_public_object_is_served_with_its_headers(server):
    response = requests.get(f"{server.url}/srv-public/greetings/hello.txt", timeout=5)

    assert response.status_code == 200
    assert response.content == PUBLIC_BODY
    assert (
        response.headers["ETag"] == f'"{hashlib.md5(PUBLIC_BODY).hexdigest().upper()}"'
    )
    assert response.headers["Content-Length"] == str(len(PUBLIC_BODY))
    assert response.headers["Content-Type"] == "text/plain"
    assert response.headers["x-oss-request-id"]


def test_range_request_answers_206_with_the_slice(server):
    response = requests.get(
        f"{server.url}/srv-public/greetings/hello.txt",
        headers={"Range": "bytes=7-11"},
        timeout=5,
    )

    assert response.status_code == 206
    assert response.content == b"world"
    assert response.headers["Content-Range"] == f"bytes 7-11/{len(PUBLIC_BODY)}"
    assert response.headers["Content-Length"] == "5"


def test_private_object_is_refused_to_anonymous_readers(server):
    response = requests.get(f"{server.url}/srv-private/secret.txt", timeout=5)

    assert response.status_code == 403
    assert response.headers["Content-Type"] == "application/xml"
    assert b"<Code>AccessDenied</Code>" in response.content
    assert PRIVATE_BODY not in response.content


def test_browser_visiting_root_is_sent_to_the_console(server):
    response = requests.get(
        f"{server.url}/",
        headers={"Accept": "text/html,application/xhtml+xml"},
        allow_redirects=False,
        timeout=5,
    )

    assert response.status_code == 302
    assert response.headers["Location"] == "/console/"


def test_console_asks_for_log_on(server):
    response = requests.get(f"{server.url}/console/", timeout=5)

    assert response.status_code == 200
    assert response.url == f"{server.url}/accounts/login/?next=/console/"
    assert "<h1>Log on</h1>" in response.text
    assert 'name="csrfmiddlewaretoken"' in response.text


@pytest.mark.parametrize(
    ("path", "content_type"),
    [
        ("/static/console/console.css", "text/css"),
        ("/static/django_htmx/htmx-2.min.js", "text/javascript"),
    ],
)
def test_static_files_are_served(server, path, content_type):
    response = requests.get(f"{server.url}{path}", timeout=5)

    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith(content_type)
    assert response.content


def test_start_up_sweep_removes_leftovers_and_keeps_referenced_blobs(server):
    assert not (server.data_dir / "tmp" / "obj-x.part").exists()
    assert not (server.data_dir / "objects" / STRAY_BLOB).exists()
    assert len(server.blobs) == 2
    for blob in server.blobs:
        assert (server.data_dir / "objects" / blob).is_file()
    assert (
        "start-up sweep removed 1 temporary and 1 unreferenced object file(s)"
        in server.log.read_text()
    )


def test_responses_carry_the_oss_server_header(server):
    response = requests.get(f"{server.url}/healthz", timeout=10)

    assert response.headers["Server"] == "AliyunOSS"
