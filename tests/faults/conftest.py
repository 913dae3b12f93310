"""The fault suite's harness: a live gunicorn server per module on its own DATA_DIR,
scripted loopback origins, raw sockets for bodies no client library sends, a tmpfs
DATA_DIR for a full disk, and the reliability recorder behind bench/RELIABILITY.md.

Plain helpers (RawRequest, BackgroundGet, ...) are imported by the test modules
from here; fixtures hand out what needs setting up and tearing down.
"""

import contextlib
import datetime
import fcntl
import hashlib
import http.client
import json
import os
import platform
import socket
import subprocess
import tempfile
import threading
import time
import uuid
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote, urlsplit

import oss2
import pytest
import requests
import urllib3
from oss2.models import (
    REDIRECT_TYPE_MIRROR,
    BucketWebsite,
    Condition,
    Redirect,
    RoutingRule,
)

from tests.origin_server import unused_port
from tests.server_process import GunicornServer, wait_until
from tests.signing import KeyPair, oss2_auth, sent_headers, sign_request

USER, PASSWORD = "faults", "fault-suite-password"
MIB = 1024 * 1024

# What every fault server runs with unless a module says otherwise.
DEFAULT_SETTINGS = {
    "ORIGIN_ALLOW_PRIVATE": "1",  # the origins are on loopback
    "WEB_WORKERS": "2",
    "TMP_SWEEP_SECONDS": "1",
}

CREATE_USER = (
    "from django.contrib.auth import get_user_model\n"
    f"get_user_model().objects.create_user({USER!r}, password={PASSWORD!r})"
)


# -- the server -----------------------------------------------------------------------


class FaultServer:
    """A running gunicorn with one user and access key, and the ways a test looks at it."""

    def __init__(self, gunicorn, account, settings):
        self.gunicorn = gunicorn
        self.account = account  # a tests.signing.KeyPair
        self.settings = settings

    @property
    def url(self):
        return self.gunicorn.url  # changes on restart

    @property
    def data_dir(self):
        return self.gunicorn.data_dir

    @property
    def tmp_dir(self):
        return self.gunicorn.data_dir / "tmp"

    # -- buckets through oss2 --------------------------------------------------------

    def bucket(self, name):
        return oss2.Bucket(oss2_auth(self.account), self.url, name)

    def anonymous_bucket(self, name):
        return oss2.Bucket(oss2.AnonymousAuth(), self.url, name)

    def new_bucket(self, acl=oss2.BUCKET_ACL_PRIVATE, prefix="f"):
        bucket = self.bucket(f"{prefix}-{uuid.uuid4().hex[:12]}")
        bucket.create_bucket(acl)
        return bucket

    def new_mirror_bucket(
        self, origin_url, acl=oss2.BUCKET_ACL_PUBLIC_READ, key_prefix=None
    ):
        """A bucket whose misses (under `key_prefix`, if given) mirror from `origin_url`
        (a folder URL ending in /)."""
        bucket = self.new_bucket(acl, prefix="m")
        bucket.put_bucket_website(
            BucketWebsite(
                None,
                None,
                [
                    RoutingRule(
                        rule_num=1,
                        condition=Condition(
                            key_prefix_equals=key_prefix,
                            http_err_code_return_equals=404,
                        ),
                        redirect=Redirect(
                            redirect_type=REDIRECT_TYPE_MIRROR, mirror_url=origin_url
                        ),
                    )
                ],
            )
        )
        return bucket

    def object_url(self, bucket_name, key):
        return f"{self.url}/{bucket_name}/{quote(key)}"

    def exists(self, bucket_name, key):
        """HEAD as the owner: never mirrors, so it shows what is really stored."""
        return self.bucket(bucket_name).object_exists(key)

    def signed_headers(self, method, bucket_name, key="", params=None, headers=None):
        """Headers that sign a request oss2 would never send (V1, oss2's own signer).
        Content-Length is not signed, so a raw request may declare any length."""
        request = sign_request(
            oss2_auth(self.account),
            method,
            bucket_name,
            key,
            params=params,
            headers=headers,
            endpoint=self.url,
        )
        return sent_headers(request)

    # -- the console -----------------------------------------------------------------

    def console_session(self):
        session = requests.Session()
        login = f"{self.url}/accounts/login/"
        session.get(login, timeout=10)
        response = session.post(
            login,
            data={
                "username": USER,
                "password": PASSWORD,
                "csrfmiddlewaretoken": session.cookies["csrftoken"],
            },
            headers={"Referer": login},
            timeout=10,
        )
        assert response.status_code == 200, response.text[:500]
        assert "/console/" in response.url, response.url
        return session

    # -- what is left on disk and in the log ------------------------------------------

    def temp_files(self):
        return sorted(path.name for path in self.tmp_dir.iterdir() if path.is_file())

    def leftover_temp_files(self, timeout=8):
        """Temp files still in DATA_DIR/tmp after waiting up to `timeout` s for them to go."""
        deadline = time.monotonic() + timeout
        while (left := self.temp_files()) and time.monotonic() < deadline:
            time.sleep(0.1)
        return left

    def log_mark(self):
        return self.gunicorn.log.stat().st_size

    def log_since(self, mark):
        with self.gunicorn.log.open("rb") as log:
            log.seek(mark)
            return log.read().decode("utf-8", "replace")

    def wait_for_log(self, mark, text, timeout=30):
        wait_until(
            lambda: text in self.log_since(mark), f"the log shows {text!r}", timeout
        )

    def worker_pids(self):
        return self.gunicorn.worker_pids()

    def stop(self):
        self.gunicorn.stop()


@pytest.fixture(scope="module")
def start_server(request, tmp_path_factory, reliability):
    """Start gunicorn on a fresh (or given) DATA_DIR with the module's settings;
    every server started is stopped when the module ends."""
    started = []
    category = getattr(request.module, "RELIABILITY_CATEGORY", request.module.__name__)

    def start(data_dir=None, log=None, **settings):
        settings = {**DEFAULT_SETTINGS, **{k: str(v) for k, v in settings.items()}}
        gunicorn = GunicornServer(
            data_dir or tmp_path_factory.mktemp("faults-data"), log=log, **settings
        )
        started.append(gunicorn)
        gunicorn.manage("migrate", "--noinput")
        gunicorn.manage("shell", "-c", CREATE_USER)
        account = KeyPair.from_command_output(
            gunicorn.manage("create_access_key", USER)
        )
        gunicorn.start()
        reliability.settings(category, settings)
        return FaultServer(gunicorn, account, settings)

    yield start
    for gunicorn in started:
        gunicorn.stop()


# -- origins --------------------------------------------------------------------------


# `origin` (one loopback origin per module) and `gate` come from tests/conftest.py.


def closed_port_url():
    """An origin URL nobody listens on: connecting is refused at once."""
    return f"http://127.0.0.1:{unused_port()}/"


def unique_key(name):
    return f"{uuid.uuid4().hex[:8]}-{name}"


# -- clients --------------------------------------------------------------------------


@dataclass
class RawAnswer:
    status: int
    headers: dict  # lower-case name -> value
    body: bytes

    @property
    def code(self):
        return oss_error_code(self.body)


class RawRequest:
    """An HTTP/1.1 request written by hand on a socket, for what no client library
    sends: a body shorter than its Content-Length, a chunked body without its last
    chunk, headers whose body never follows."""

    def __init__(self, url, method, target, headers, timeout=30):
        parts = urlsplit(url)
        self.method = method
        self.sock = socket.create_connection(
            (parts.hostname, parts.port), timeout=timeout
        )
        lines = [f"{method} {target} HTTP/1.1", f"Host: {parts.netloc}"]
        lines += [f"{name}: {value}" for name, value in headers.items()]
        self.sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
        self.broken = False  # the server closed or reset the connection under us

    def send(self, data):
        if not self.broken:
            try:
                self.sock.sendall(data)
            except OSError:  # reset, broken pipe, or closed by the test meanwhile
                self.broken = True
        return not self.broken

    def send_chunk(self, data):
        return self.send(f"{len(data):x}\r\n".encode() + data + b"\r\n")

    def stop_sending(self):
        """Half-close: the server reads end-of-body, as when a client goes away, and
        can still answer."""
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_WR)

    def answer(self, timeout=15):
        """The server's answer; None when it closed the connection without one."""
        self.sock.settimeout(timeout)
        response = http.client.HTTPResponse(self.sock, method=self.method)
        try:
            response.begin()  # skips a "100 Continue"
            try:
                body = response.read()
            except http.client.IncompleteRead as error:
                body = error.partial
        except (http.client.RemoteDisconnected, ConnectionError):
            return None
        except TimeoutError:
            pytest.fail(f"no answer within {timeout} s")
        return RawAnswer(
            response.status,
            {name.lower(): value for name, value in response.getheaders()},
            body,
        )

    def close(self):
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def send_cut_short(url, method, target, headers, declared, body, piece=MIB):
    """Declare `declared` bytes, send only `body`, stop sending; return the answer."""
    with RawRequest(
        url, method, target, {**headers, "Content-Length": str(declared)}
    ) as raw:
        for start in range(0, len(body), piece):
            if not raw.send(body[start : start + piece]):
                break
        raw.stop_sending()
        return raw.answer()


@dataclass
class FullGet:
    status: int | None  # None: the connection closed before any answer
    headers: dict
    body: bytes
    cut: bool  # the connection ended before the declared Content-Length


def get_to_the_end(url, timeout=60, **kwargs):
    """GET, reading whatever arrives; a connection that breaks off is a result, not an error."""
    try:
        response = requests.get(url, stream=True, timeout=timeout, **kwargs)
    except requests.ConnectionError:
        return FullGet(None, {}, b"", cut=True)
    with response:
        chunks, cut = [], False
        try:
            while chunk := response.raw.read1(64 * 1024, decode_content=False):
                chunks.append(chunk)
        except (urllib3.exceptions.HTTPError, requests.RequestException, OSError):
            cut = True
        body = b"".join(chunks)
        declared = response.headers.get("Content-Length")
        if declared is not None and len(body) < int(declared):
            cut = True
        return FullGet(response.status_code, dict(response.headers), body, cut)


class BackgroundGet:
    """A GET whose body is read in a thread, so the test can act while it is in flight."""

    def __init__(self, url, read_first_only=False):
        self.url = url
        self.read_first_only = read_first_only  # hang up after the first bytes
        self.status = None
        self.headers = {}
        self.chunks = []
        self.error = None
        self.started = time.monotonic()
        self.ended = None
        self.done = threading.Event()
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self):
        try:
            with requests.get(self.url, stream=True, timeout=120) as response:
                self.status, self.headers = response.status_code, response.headers
                # read1 hands on what has arrived (an origin may drip a byte at a time).
                while chunk := response.raw.read1(64 * 1024, decode_content=False):
                    self.chunks.append(chunk)
                    if self.read_first_only:
                        break
        except Exception as error:  # a cut body is one of the outcomes under test
            self.error = error
        finally:
            self.ended = time.monotonic()
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

    def wait(self, timeout=60):
        wait_until(self.done.is_set, f"GET {self.url} finishes", timeout=timeout)
        return self


# -- answers --------------------------------------------------------------------------


def oss_error_code(body):
    """The <Code> of an OSS error document; None when the body is not one."""
    try:
        root = ET.fromstring(body)
    except ET.ParseError:
        return None
    return root.findtext("Code") if root.tag == "Error" else None


def oss_error_message(body):
    return ET.fromstring(body).findtext("Message") or ""


def md5_of(data):
    return hashlib.md5(data).hexdigest()


def free_bytes(path):
    stats = os.statvfs(path)
    return stats.f_bavail * stats.f_frsize


# -- a small disk ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def tmpfs_data_dir(tmp_path_factory):
    """A 40 MiB tmpfs as DATA_DIR, so a test can fill the disk. Stop the server on it
    before this fixture ends (the module's server fixture does)."""
    mount_point = tmp_path_factory.mktemp("tmpfs-data")
    try:
        result = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "size=40m", "tmpfs", str(mount_point)],
            capture_output=True,
            text=True,
        )
        error = (result.stderr or result.stdout).strip() if result.returncode else ""
    except OSError as raised:  # no mount command at all
        error = str(raised)
    if error:
        pytest.skip(f"mounting tmpfs is not allowed here: {error}")
    yield mount_point
    unmounted = subprocess.run(["umount", str(mount_point)], capture_output=True)
    if unmounted.returncode != 0:  # a straggler still holds a file: detach it anyway
        subprocess.run(["umount", "-l", str(mount_point)], check=False)


# -- the reliability report -----------------------------------------------------------


class ReliabilityRecorder:
    """(category, tried, held) figures, the settings each category ran with, and notes.

    Each test process writes its figures as JSON next to the others of the same run;
    the last one to finish renders them all as Markdown (see pytest_sessionfinish)."""

    def __init__(self):
        self.rows = {}
        self.notes = []
        self.used_settings = {}

    def record(self, category, tried, held):
        row = self.rows.setdefault(category, {"tried": 0, "held": 0})
        row["tried"] += tried
        row["held"] += held

    def note(self, category, text):
        self.notes.append(f"{category}: {text}")

    def settings(self, category, settings):
        self.used_settings.setdefault(category, settings)

    def as_json(self):
        return {
            "rows": self.rows,
            "notes": self.notes,
            "settings": self.used_settings,
        }


_recorder = ReliabilityRecorder()
_RUN_ID = uuid.uuid4().hex  # without xdist; under xdist the workers share testrunuid
_CALL_REPORT = pytest.StashKey()


@pytest.fixture(scope="session")
def reliability():
    return _recorder


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    report = yield
    if report.when == "call":
        item.stash[_CALL_REPORT] = report
    return report


@pytest.fixture(autouse=True)
def _count_the_test_in_its_category(request):
    """Each test is one try of its module's RELIABILITY_CATEGORY; it held if it passed."""
    yield
    category = getattr(request.module, "RELIABILITY_CATEGORY", None)
    report = request.node.stash.get(_CALL_REPORT, None)
    if category and report is not None and not report.skipped:
        _recorder.record(category, 1, 1 if report.passed else 0)


def pytest_sessionfinish(session):
    target = os.environ.get("RELIABILITY_REPORT")
    if not target or not _recorder.rows:
        return
    target = Path(target).resolve()
    parts = (
        Path(tempfile.gettempdir())
        / f"reliability-{hashlib.sha1(str(target).encode()).hexdigest()[:12]}"
    )
    parts.mkdir(exist_ok=True)
    workerinput = getattr(session.config, "workerinput", {})
    run_id = workerinput.get("testrunuid", _RUN_ID)
    worker = workerinput.get("workerid", "main")
    with (parts / ".lock").open("w") as lock:
        # Write our part and render from every part of this run under one lock: the
        # last process to get here sees them all.
        fcntl.flock(lock, fcntl.LOCK_EX)
        (parts / f"{run_id}-{worker}.json").write_text(json.dumps(_recorder.as_json()))
        merged = _merge_parts(parts, run_id)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(render_report(merged))


def _merge_parts(parts, run_id):
    merged = ReliabilityRecorder()
    for path in sorted(parts.glob("*.json")):
        if not path.name.startswith(run_id):
            if time.time() - path.stat().st_mtime > 3600:
                path.unlink(missing_ok=True)  # an old run's leftovers
            continue
        data = json.loads(path.read_text())
        for category, row in data["rows"].items():
            merged.record(category, row["tried"], row["held"])
        merged.notes += data["notes"]
        for category, settings in data["settings"].items():
            merged.settings(category, settings)
    return merged


def _version(package):
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(package)
    except PackageNotFoundError:
        return "?"


def render_report(recorder):
    now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    rows = sorted(recorder.rows.items())
    tried = sum(row["tried"] for _, row in rows)
    held = sum(row["held"] for _, row in rows)
    lines = [
        "# Reliability: what the fault suite tried and what held",
        "",
        "Written by `make reliability` (tests/faults/, RELIABILITY_REPORT=this file). It drives",
        "a live gunicorn server with cut uploads, slow and broken loopback origins, a full",
        "tmpfs disk, kill -9 of a worker and of the server, and 100 concurrent mixed clients.",
        "A try *held* when the server kept SPEC §9 (a test passed, a request was answered",
        "below 500 with the right bytes, a stored object's MD5 matched what was sent).",
        "",
        f"Run {now} · Python {platform.python_version()} · gunicorn {_version('gunicorn')}"
        f" · Django {_version('django')} · {platform.system()} {platform.machine()},"
        f" {os.cpu_count()} CPUs",
        "",
        "| category | tried | held | broke |",
        "|---|---:|---:|---:|",
    ]
    lines += [
        f"| {category} | {row['tried']} | {row['held']} | {row['tried'] - row['held']} |"
        for category, row in rows
    ]
    lines += [f"| **total** | {tried} | {held} | {tried - held} |", ""]
    if recorder.notes:
        lines += ["## Figures", ""]
        lines += [f"- {note}" for note in recorder.notes]
        lines.append("")
    lines += ["## Settings", "", "| category | server settings |", "|---|---|"]
    lines += [
        f"| {category} | "
        + " ".join(f"`{name}={value}`" for name, value in sorted(settings.items()))
        + " |"
        for category, settings in sorted(recorder.used_settings.items())
    ]
    lines.append("")
    return "\n".join(lines)


@dataclass
class Tally:
    """Counts of one category's tries, kept by a test that makes many."""

    tried: int = 0
    held: int = 0
    broken: list = field(default_factory=list)  # the first few breaks, for the message
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, ok, what=""):
        with self.lock:
            self.tried += 1
            if ok:
                self.held += 1
            elif len(self.broken) < 20:
                self.broken.append(what)
