"""Single flight across servers on PostgreSQL: a session-level advisory lock per bucket+key.

The leader holds pg_advisory_lock(64-bit hash of bucket id + key) for its whole
fetch, on a connection of its own: the request's connection commits, closes and
reconnects as it likes, and a lock taken there would go with it. Waiters on any
server block on the same lock (lock_timeout bounds the wait). A leader whose fetch
failed writes its outcome to FlightOutcome on the lock's connection (autocommit)
before it unlocks, so the waiter that gets the lock next reads it, whichever
server it runs on. If a server dies, PostgreSQL ends its sessions, and the locks
with them.
"""

import hashlib
import json
import logging
import os
import threading
import time

import psycopg
from django.db import DEFAULT_DB_ALIAS, connections

from origin.flight import FlightOutcomes

logger = logging.getLogger(__name__)

IDLE_CONNECTIONS = 4  # lock connections a process keeps open between fetches
NOW = "extract(epoch from statement_timestamp())"
LOCK = f"SELECT pg_advisory_lock(%s)::text, {NOW}"
TRY_LOCK = f"SELECT pg_try_advisory_lock(%s), {NOW}"


class PostgresKeyFlight(FlightOutcomes):
    """KeyFlight's API (acquire, release, record_outcome, clear_outcome,
    outcome_since) on an advisory lock."""

    def __init__(self, bucket_id, key):
        digest = hashlib.sha256(f"{bucket_id}\0{key}".encode())
        self.bucket_id = bucket_id
        self.key_digest = digest.hexdigest()
        self.lock_id = int.from_bytes(digest.digest()[:8], "big", signed=True)
        self._connection = None
        self._outcome = None  # what this holder leaves for its waiters
        self._seen_outcome = None  # what an earlier holder left for us

    def acquire(self, timeout):
        """Block until this request holds the key; False if `timeout` seconds pass first."""
        connection = lock_connections.take()
        try:
            clock_offset = _lock(connection, self.lock_id, timeout)
            if clock_offset is not None:
                self._seen_outcome = _read_outcome(connection, self, clock_offset)
        except BaseException:
            connection.close()  # PostgreSQL drops whatever the session held
            raise
        if clock_offset is None:
            lock_connections.give_back(connection)
            return False
        self._connection = connection
        return True

    def release(self):
        if self._connection is None:
            return
        connection, self._connection = self._connection, None
        try:
            if self._outcome is not None:
                _write_outcome(connection, self, self._outcome)
            connection.execute("SELECT pg_advisory_unlock(%s)", [self.lock_id])
        except psycopg.Error as error:
            # The session is gone or unusable: closing it releases the lock; the
            # waiters, finding no outcome, fetch for themselves.
            logger.warning(
                "single flight: lock session lost (%s); waiters fetch again",
                type(error).__name__,
            )
            connection.close()
            return
        lock_connections.give_back(connection)

    @property
    def held(self):
        return self._connection is not None


def _lock(connection, lock_id, timeout):
    """Wait up to `timeout` s for the lock. Returns the database clock minus ours
    (outcome times are the database's), or None if the wait timed out."""
    asked_at = time.time()
    # Uncontended (most keys), one round trip takes it; the timed wait below costs three.
    locked, database_time = connection.execute(TRY_LOCK, [lock_id]).fetchone()
    if locked:
        return float(database_time) - asked_at
    if timeout <= 0:  # lock_timeout 0 would mean "wait forever": trying was all
        return None
    try:
        with connection.transaction():  # SET LOCAL: the next wait sets its own
            connection.execute(
                "SELECT set_config('lock_timeout', %s, true)",
                [f"{min(max(1, round(timeout * 1000)), 2**31 - 1)}ms"],
            )
            _, database_time = connection.execute(LOCK, [lock_id]).fetchone()
    except psycopg.errors.LockNotAvailable:
        return None
    # A session-level lock outlives the transaction that took it.
    return float(database_time) - asked_at


def _table():
    from origin.models import FlightOutcome  # not at import: the app registry loads us

    return FlightOutcome._meta.db_table


def _write_outcome(connection, flight, outcome):
    connection.execute(
        f"INSERT INTO {_table()} (bucket_id, key_digest, outcome, finished_at)"
        " VALUES (%s, %s, %s::jsonb, clock_timestamp())"
        " ON CONFLICT (bucket_id, key_digest) DO UPDATE"
        " SET outcome = EXCLUDED.outcome, finished_at = EXCLUDED.finished_at",
        [flight.bucket_id, flight.key_digest, json.dumps(outcome)],
    )


def _read_outcome(connection, flight, clock_offset):
    """The outcome row for the key, its finishing time ("at") on our clock."""
    row = connection.execute(
        f"SELECT outcome::text, extract(epoch from finished_at) FROM {_table()}"
        " WHERE bucket_id = %s AND key_digest = %s",
        [flight.bucket_id, flight.key_digest],
    ).fetchone()
    if row is None:
        return None
    return {**json.loads(row[0]), "at": float(row[1]) - clock_offset}


class LockConnections:
    """This process's connections for advisory locks: one per held lock, at most
    IDLE_CONNECTIONS kept open between fetches, none shared with Django's own."""

    def __init__(self):
        self._lock = threading.Lock()
        self._idle = []
        self._pid = os.getpid()

    def take(self):
        with self._lock:
            if self._pid != os.getpid():
                # A forked worker: those sockets are the parent's, not ours to close.
                self._idle, self._pid = [], os.getpid()
            connection = self._idle.pop() if self._idle else None
        if connection is not None and _usable(connection):
            return connection
        return _connect()

    def give_back(self, connection):
        with self._lock:
            if len(self._idle) < IDLE_CONNECTIONS and not connection.closed:
                self._idle.append(connection)
                return
        connection.close()

    def close_all(self):
        with self._lock:
            idle, self._idle = self._idle, []
        for connection in idle:
            connection.close()


lock_connections = LockConnections()


def _connect():
    """A new autocommit connection with the default database's settings."""
    params = connections[DEFAULT_DB_ALIAS].get_connection_params()
    return psycopg.connect(**params, autocommit=True)


def _usable(connection):
    try:
        connection.execute("SELECT 1")
    except psycopg.Error:
        connection.close()
        return False
    return True
