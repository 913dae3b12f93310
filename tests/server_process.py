"""The real gunicorn server in a subprocess, on its own DATA_DIR, as `make run` starts it.

The tests and the benchmark (bench/) both start it from here, so this module stays
free of pytest: it raises plain exceptions, which pytest reports as the failure.
"""

import contextlib
import ctypes
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import requests

from tests.origin_server import unused_port
from tests.signing import KeyPair

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
PR_SET_PDEATHSIG = 1  # linux/prctl.h


def wait_until(condition, message, timeout=30):
    """Poll `condition` until it holds; raise TimeoutError after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"gave up after {timeout} s waiting until {message}")
        time.sleep(0.02)


def sigterm_when_parent_dies():
    """A Popen preexec_fn: the child gets SIGTERM when its parent dies, even by SIGKILL.

    Linux counts the thread that started the child as its parent: start it from a
    thread that lives as long as the child should.
    """
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


class GunicornServer:
    """A gunicorn master and its workers in their own process group, so a test can
    stop them politely or kill them all at once the way a crash would.

    `environment` holds the server's settings (ORIGIN_ALLOW_PRIVATE="1", ...);
    `die_with_parent` makes the master go when this process does, as the benchmark
    wants when it is killed mid-run.
    """

    def __init__(self, data_dir, log=None, *, die_with_parent=False, **environment):
        self.data_dir = Path(data_dir)
        self.env = {
            **os.environ,
            "DATA_DIR": str(self.data_dir),
            "HOST": "127.0.0.1",
            "PORT": str(unused_port()),
            # Many servers run at once: no RTMP ingest unless a test asks for one.
            "LIVE_RTMP_PORT": "0",
            # Nor a job worker (warm-up and refresh jobs) unless a test asks for one.
            "JOB_WORKERS": "0",
            **environment,
        }
        # The server keeps its database in its own DATA_DIR, whatever the suite runs on.
        self.env.pop("DATABASE_URL", None)
        # A test that fills DATA_DIR's disk keeps the log elsewhere.
        self.log = Path(log) if log else self.data_dir / "gunicorn.log"
        self.die_with_parent = die_with_parent
        self.process = None

    @property
    def port(self):
        return int(self.env["PORT"])

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    def manage(self, *args):
        """Run a management command on this server's DATA_DIR; returns its output."""
        result = subprocess.run(
            [BIN / "python", "manage.py", *args],
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        if result.returncode:
            raise RuntimeError(f"manage.py {args[0]} failed:\n{result.stderr}")
        return result.stdout

    def add_users(self, names, password):
        """Migrate, then create these users with an access key each: {name: KeyPair}."""
        self.manage("migrate", "--noinput")
        self.manage(
            "shell",
            "-c",
            "from django.contrib.auth import get_user_model\n"
            f"for name in {tuple(names)!r}: "
            f"get_user_model().objects.create_user(name, password={password!r})",
        )
        return {
            name: KeyPair.from_command_output(self.manage("create_access_key", name))
            for name in names
        }

    def start(self):
        with self.log.open("ab") as log_file:
            self.process = subprocess.Popen(
                [BIN / "gunicorn", "-c", "config/gunicorn.conf.py"],
                cwd=ROOT,
                env=self.env,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=sigterm_when_parent_dies if self.die_with_parent else None,
            )
        try:
            self._wait_until_healthy()
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_until_healthy(self):
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"gunicorn exited with {self.process.returncode}:\n{self.log.read_text()}"
                )
            try:
                if requests.get(f"{self.url}/healthz", timeout=5).status_code == 200:
                    return
            # Not listening yet, or a worker still booting on a busy machine.
            except (requests.ConnectionError, requests.Timeout):
                pass
            time.sleep(0.1)
        raise RuntimeError(f"gunicorn did not become healthy:\n{self.log.read_text()}")

    def worker_pids(self):
        """The pids of the master's workers, read from /proc (not its companions)."""
        return [pid for pid in self._child_pids() if not _is_companion(pid)]

    def companion_pids(self, command):
        """The pids of `manage.py <command>` processes the master started (run_jobs...)."""
        return [pid for pid in self._child_pids() if _is_companion(pid, command)]

    def _child_pids(self):
        if self.process is None or self.process.poll() is not None:
            return []
        pids = []
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                # The command may hold spaces and parentheses: fields follow the last ")".
                fields = stat.read_text().rpartition(")")[2].split()
            except OSError:
                continue  # the process ended while we looked
            if int(fields[1]) == self.process.pid:
                pids.append(int(stat.parent.name))
        return sorted(pids)

    def restart(self):
        """Start again on the same DATA_DIR (on a fresh port: the old one may linger)."""
        self.env["PORT"] = str(unused_port())
        return self.start()

    def stop(self):
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=15)
        self.kill()  # whatever is left of the group, e.g. a worker stuck past its timeout

    def kill(self):
        """SIGKILL the master and every worker at once: nothing gets to clean up."""
        if self.process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()


def _is_companion(pid, command=""):
    """Whether `pid` runs manage.py (`command` when given): the RTMP ingest or a job worker."""
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    named = any(arg.endswith(b"manage.py") for arg in argv)
    return named and (not command or command.encode() in argv)
