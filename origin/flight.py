"""Single flight: one origin fetch per bucket+key at a time, across threads and processes.

On PostgreSQL the lock is an advisory lock, shared by every server on the database
(origin/flight_postgres.py); on SQLite (one server) it is the lock file below.

A lock file per key is held with flock while a fetch runs; waiters block on it.
When the holder is done it writes its outcome (a failure, or nothing) into the
file, unlinks it and only then unlocks. A waiter that gets the lock on an
unlinked file reads that outcome from it and starts over on a fresh file, so:
- waiters find the saved object, or replay the leader's failure, without a
  second origin request;
- no lock or outcome file outlives its requests (millions of keys leave nothing);
- flock is released by the kernel if a process dies (the start-up sweep removes
  the files a crash left).
"""

import fcntl
import functools
import hashlib
import json
import os
import threading
import time

from django.conf import settings

POLL_SECONDS = (0.005, 0.02)  # first and longest wait between lock attempts


def key_flight(bucket_id, key):
    """The single flight for one bucket+key: across servers on PostgreSQL (an
    advisory lock, origin/flight_postgres.py), across this host's processes on
    SQLite (a lock file, KeyFlight)."""
    return _flight_class()(bucket_id, key)


@functools.cache
def _flight_class():
    """Chosen once from the database engine: one PostgreSQL may serve many hosts."""
    if settings.DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
        from origin.flight_postgres import PostgresKeyFlight

        return PostgresKeyFlight
    return KeyFlight


def sweep_flight_outcomes():
    """Outcome rows of PostgreSQL single flight that no waiter can still need: a
    waiter reads the row as soon as it gets the lock, within MIRROR_WAIT_SECONDS
    of starting to wait."""
    from origin.models import FlightOutcome  # not at import: the app registry loads us

    stale = FlightOutcome.objects.finished_before(settings.MIRROR_WAIT_SECONDS + 60)
    return stale.delete()[0]


class FlightOutcomes:
    """The outcome half of a key flight, the same for the lock file and PostgreSQL
    versions: the leader's failure it leaves (`_outcome`), and what an earlier
    holder left for this one (`_seen_outcome`)."""

    _outcome = None
    _seen_outcome = None

    def record_outcome(self, outcome):
        """Leave the leader's failure for the requests waiting behind it."""
        self._outcome = outcome

    def clear_outcome(self):
        self._outcome = None

    def outcome_since(self, since):
        """The failure a holder that finished after `since` left for us, if any."""
        outcome = self._seen_outcome
        return outcome if outcome and outcome.get("at", 0) >= since else None


_made_dirs = set()


def _locks_dir():
    """DATA_DIR/locks, created once per process (a mkdir per miss cost a syscall and
    an exception; the sweep never removes the directory)."""
    path = settings.DATA_DIR / "locks"
    if path not in _made_dirs:
        path.mkdir(parents=True, exist_ok=True)
        _made_dirs.add(path)
    return path


class KeyFlight(FlightOutcomes):
    """Single flight through a lock file (one host); see the module docstring."""

    def __init__(self, bucket_id, key):
        digest = hashlib.sha256(f"{bucket_id}\0{key}".encode()).hexdigest()
        self.lock_path = _locks_dir() / f"{digest}.lock"
        self._fd = None
        self._outcome = None  # what this holder leaves for its waiters
        self._seen_outcome = None  # what an earlier holder left for us

    def acquire(self, timeout):
        """Block until this request holds the key; False if `timeout` seconds pass first."""
        deadline = time.monotonic() + timeout
        while True:
            fd = self._open()
            if not self._lock(fd, deadline):
                os.close(fd)
                return False
            if self._is_live(fd):
                self._fd = fd
                return True
            # The previous holder retired this file: take its outcome, try a fresh one.
            self._seen_outcome = _read_outcome(fd) or self._seen_outcome
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)

    def _open(self):
        try:
            return os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        except FileNotFoundError:  # DATA_DIR/locks removed by hand: make it again
            _made_dirs.discard(self.lock_path.parent)
            _locks_dir()
            return os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o600)

    def _lock(self, fd, deadline):
        pause = POLL_SECONDS[0]
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return True
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    return False
                time.sleep(pause)
                pause = min(pause * 2, POLL_SECONDS[1])

    def _is_live(self, fd):
        return _is_live(self.lock_path, fd)

    def release(self):
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        os.ftruncate(fd, 0)
        if self._outcome is not None:
            os.pwrite(fd, json.dumps({**self._outcome, "at": time.time()}).encode(), 0)
        if self._is_live(fd):
            os.unlink(self.lock_path)
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)

    @property
    def held(self):
        return self._fd is not None


def _read_outcome(fd):
    try:
        return json.loads(os.pread(fd, 64 * 1024, 0) or b"null")
    except ValueError:
        return None


def sweep_unheld_locks():
    """Lock files nobody holds (a crashed leader's), at start-up and while the
    server runs. Removing
    one is safe even while a waiter has it open: it finds the file retired and
    starts over on a fresh one."""
    removed = 0
    for path in _locks_dir().iterdir():
        try:
            fd = os.open(path, os.O_RDWR)
        except FileNotFoundError:
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            continue  # a fetch holds it
        try:
            if _is_live(path, fd):
                os.unlink(path)
                removed += 1
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)
    return removed


def _is_live(path, fd):
    """Whether `fd` is still the file at `path` (a retired lock file is unlinked)."""
    try:
        return os.stat(path).st_ino == os.fstat(fd).st_ino
    except FileNotFoundError:
        return False


_semaphores_by_size = {}
_semaphores_lock = threading.Lock()


def _slot_semaphores():
    """(fetch slots, waiting room) of this process for the current settings. At most
    half as many misses as there are slots wait for one; the rest are refused at
    once, so waiting misses cannot take every thread from hits either."""
    size = settings.MIRROR_MAX_CONCURRENT
    with _semaphores_lock:
        if size not in _semaphores_by_size:
            _semaphores_by_size[size] = (
                threading.BoundedSemaphore(size),
                threading.BoundedSemaphore(max(1, size // 2)),
            )
        return _semaphores_by_size[size]


class FetchSlot:
    """One of this process's MIRROR_MAX_CONCURRENT origin fetches. Only the request
    that fetches takes one; requests waiting behind it on the same key do not."""

    def __init__(self):
        self._semaphore = None

    def acquire(self, timeout):
        slots, waiting_room = _slot_semaphores()
        if not slots.acquire(blocking=False):
            if not waiting_room.acquire(blocking=False):
                return False
            try:
                if not slots.acquire(timeout=timeout):
                    return False
            finally:
                waiting_room.release()
        self._semaphore = slots
        return True

    def release(self):
        semaphore, self._semaphore = self._semaphore, None
        if semaphore is not None:
            semaphore.release()
