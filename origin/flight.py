"""Single flight: one origin fetch per bucket+key at a time, across threads and processes.

A lock file per key is held with flock while a fetch runs. Waiters block on it,
then find the saved object or the leader's recorded failure, so they never make
a second origin request. flock is released by the kernel if a process dies.
"""

import contextlib
import fcntl
import hashlib
import json
import os
import time

from django.conf import settings

POLL_SECONDS = (0.005, 0.02)  # first and longest wait between lock attempts


def _locks_dir():
    path = settings.DATA_DIR / "locks"
    path.mkdir(parents=True, exist_ok=True)
    return path


class KeyFlight:
    def __init__(self, bucket_id, key):
        digest = hashlib.sha256(f"{bucket_id}\0{key}".encode()).hexdigest()
        directory = _locks_dir()
        self.lock_path = directory / f"{digest}.lock"
        self.outcome_path = directory / f"{digest}.outcome"
        self._fd = None

    def acquire(self, timeout):
        """Block until this request holds the key; False if `timeout` seconds pass first."""
        fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        deadline = time.monotonic() + timeout
        pause = POLL_SECONDS[0]
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                self._fd = fd
                return True
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    os.close(fd)
                    return False
                time.sleep(pause)
                pause = min(pause * 2, POLL_SECONDS[1])

    def release(self):
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    @property
    def held(self):
        return self._fd is not None

    def record_outcome(self, outcome):
        """Leave the leader's failure for the requests waiting behind it."""
        temporary = self.outcome_path.with_suffix(".tmp")
        temporary.write_text(json.dumps({**outcome, "at": time.time()}))
        os.replace(temporary, self.outcome_path)

    def clear_outcome(self):
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.outcome_path)

    def outcome_since(self, since):
        """The failure recorded by a leader that finished after `since`, if any."""
        try:
            outcome = json.loads(self.outcome_path.read_text())
        except (FileNotFoundError, ValueError):
            return None
        return outcome if outcome.get("at", 0) >= since else None


def remove_stale_locks():
    """Start-up sweep (no server running): lock and outcome files of past fetches."""
    removed = 0
    for path in _locks_dir().iterdir():
        path.unlink(missing_ok=True)
        removed += 1
    return removed
