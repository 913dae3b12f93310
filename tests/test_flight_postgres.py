"""Single flight on PostgreSQL: advisory locks and outcomes shared by every server.

Each PostgresKeyFlight holds its lock on a database session of its own, so two
flights in this process exclude each other exactly as two servers would. Run with
`.ci/with-postgres .venv/bin/pytest tests/test_flight_postgres.py`.
"""

import subprocess
import sys
import threading
import time
from datetime import timedelta

import pytest
from django.db import connection
from django.db.models import F

from origin.flight import key_flight, sweep_flight_outcomes
from origin.flight_postgres import PostgresKeyFlight, lock_connections
from origin.models import FlightOutcome
from tests.server_process import wait_until

pytestmark = [
    pytest.mark.skipif(
        connection.vendor != "postgresql",
        reason="advisory locks need PostgreSQL (DATABASE_URL); SQLite uses the lock "
        "files of tests/test_flight.py",
    ),
    # The flights commit on their own connections: the test database is emptied after.
    pytest.mark.django_db(transaction=True),
]

FAILURE = {
    "status": 424,
    "code": "MirrorFailed",
    "message": "origin 500",
    "headers": {},
}


def advisory_locks():
    """(granted, waiting) advisory locks in the whole database, any session."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FILTER (WHERE granted), count(*) FILTER (WHERE NOT granted)"
            " FROM pg_locks WHERE locktype = 'advisory' AND database ="
            " (SELECT oid FROM pg_database WHERE datname = current_database())"
        )
        return cursor.fetchone()


def start_waiting(flight, timeout=30):
    """flight.acquire in a thread; returns once PostgreSQL shows it queued on the lock."""
    acquired = []
    waiting_before = advisory_locks()[1]
    thread = threading.Thread(target=lambda: acquired.append(flight.acquire(timeout)))
    thread.start()
    wait_until(
        lambda: advisory_locks()[1] > waiting_before, "the waiter queues on the lock"
    )
    return thread, acquired


def outcome_rows():
    return list(FlightOutcome.objects.values_list("bucket_id", "outcome"))


def test_the_engine_chooses_advisory_locks():
    assert isinstance(key_flight(1, "a.txt"), PostgresKeyFlight)


def test_two_flights_on_separate_sessions_exclude_each_other():
    leader, other = PostgresKeyFlight(1, "a.txt"), PostgresKeyFlight(1, "a.txt")
    assert leader.acquire(timeout=5)

    assert other.acquire(timeout=0.2) is False
    assert advisory_locks() == (1, 0)  # the timed-out wait left nothing queued
    leader.release()
    assert other.acquire(timeout=5)
    other.release()
    assert advisory_locks() == (0, 0)


def test_a_timeout_of_zero_only_tries():
    holder = PostgresKeyFlight(2, "slow.bin")
    holder.acquire(timeout=5)

    assert PostgresKeyFlight(2, "slow.bin").acquire(timeout=0) is False
    holder.release()
    assert PostgresKeyFlight(2, "slow.bin").acquire(timeout=0) is True


def test_distinct_keys_do_not_block_each_other():
    first, second = PostgresKeyFlight(1, "a.txt"), PostgresKeyFlight(1, "b.txt")
    other_bucket = PostgresKeyFlight(2, "a.txt")

    assert first.acquire(timeout=1)
    assert second.acquire(timeout=0.2)
    assert other_bucket.acquire(timeout=0.2)
    for flight in (first, second, other_bucket):
        flight.release()


def test_a_waiter_gets_the_leaders_failure_from_the_table():
    leader = PostgresKeyFlight(1, "a.txt")
    assert leader.acquire(timeout=5)
    waiter = PostgresKeyFlight(1, "a.txt")
    waiting_since = time.time()
    thread, acquired = start_waiting(waiter)
    assert acquired == []

    leader.record_outcome(FAILURE)
    leader.release()
    thread.join(30)

    assert acquired == [True]
    assert waiter.outcome_since(waiting_since) == {
        **FAILURE,
        "at": pytest.approx(time.time(), abs=5),
    }
    waiter.release()
    assert outcome_rows() == [(1, FAILURE)]
    assert advisory_locks() == (0, 0)


def test_a_redirect_outcome_reaches_the_waiter_too():
    leader = PostgresKeyFlight(1, "moved.txt")
    leader.acquire(timeout=5)
    waiter = PostgresKeyFlight(1, "moved.txt")
    since = time.time()
    thread, _ = start_waiting(waiter)
    leader.record_outcome({"status": 302, "location": "https://example.com/x"})
    leader.release()
    thread.join(30)

    assert waiter.outcome_since(since)["location"] == "https://example.com/x"
    waiter.release()


def test_a_request_that_arrives_after_the_failure_does_not_replay_it():
    leader = PostgresKeyFlight(1, "a.txt")
    leader.acquire(timeout=5)
    leader.record_outcome(FAILURE)
    leader.release()

    later = PostgresKeyFlight(1, "a.txt")
    arrived = time.time()
    assert later.acquire(timeout=5)
    assert later.outcome_since(arrived) is None  # it leads a fresh fetch
    later.release()


def test_success_leaves_no_outcome_for_waiters():
    leader = PostgresKeyFlight(1, "a.txt")
    leader.acquire(timeout=5)
    waiter = PostgresKeyFlight(1, "a.txt")
    since = time.time()
    thread, _ = start_waiting(waiter)
    leader.record_outcome(FAILURE)
    leader.clear_outcome()  # the object was saved after all
    leader.release()
    thread.join(30)

    assert waiter.held
    assert waiter.outcome_since(since) is None
    waiter.release()
    assert outcome_rows() == []


def test_a_terminated_session_releases_the_lock():
    leader = PostgresKeyFlight(3, "crash.bin")
    leader.acquire(timeout=5)
    waiter = PostgresKeyFlight(3, "crash.bin")
    thread, acquired = start_waiting(waiter)

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_terminate_backend(%s, 10000)",
            [leader._connection.info.backend_pid],
        )
    thread.join(30)

    assert acquired == [True]
    assert waiter.outcome_since(0) is None  # the leader left nothing: fetch again
    leader.release()  # its session is gone: nothing to write, nothing raised
    waiter.release()
    assert advisory_locks() == (0, 0)
    assert outcome_rows() == []


def test_a_killed_process_releases_its_lock():
    flight = PostgresKeyFlight(4, "killed.bin")
    params = {
        name: value
        for name, value in connection.get_connection_params().items()
        if name in ("dbname", "user", "password", "host", "port")
    }
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time, psycopg\n"
            f"session = psycopg.connect(**{params!r}, autocommit=True)\n"
            f"session.execute('SELECT pg_advisory_lock({flight.lock_id})')\n"
            "print('locked', flush=True)\n"
            "time.sleep(120)\n",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        assert flight.acquire(timeout=0.2) is False
        holder.kill()
        holder.wait()
        assert flight.acquire(timeout=30)
        flight.release()
    finally:
        holder.kill()
        holder.wait()


def test_a_dead_idle_connection_is_replaced():
    flight = PostgresKeyFlight(5, "a.txt")
    flight.acquire(timeout=5)
    pid = flight._connection.info.backend_pid
    flight.release()  # the connection goes back to the idle ones
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_terminate_backend(%s, 10000)", [pid])

    again = PostgresKeyFlight(5, "a.txt")
    assert again.acquire(timeout=5)
    assert again._connection.info.backend_pid != pid
    again.release()


def database_time():
    with connection.cursor() as cursor:
        cursor.execute("SELECT clock_timestamp()")
        return cursor.fetchone()[0]


def sessions_started_since(moment):
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity"
            " WHERE datname = current_database() AND backend_start >= %s",
            [moment],
        )
        return cursor.fetchone()[0]


def test_timed_out_waits_give_their_session_back():
    lock_connections.close_all()
    started = database_time()
    holder = PostgresKeyFlight(6, "a.txt")
    holder.acquire(timeout=5)
    for _ in range(10):
        assert PostgresKeyFlight(6, "a.txt").acquire(timeout=0.05) is False

    # The holder's session, and one more taken and given back by each try in turn.
    assert sessions_started_since(started) == 2
    holder.release()
    assert advisory_locks() == (0, 0)


def test_old_outcomes_are_swept(settings):
    settings.MIRROR_WAIT_SECONDS = 300
    leader = PostgresKeyFlight(7, "old.txt")
    leader.acquire(timeout=5)
    leader.record_outcome(FAILURE)
    leader.release()
    FlightOutcome.objects.update(finished_at=F("finished_at") - timedelta(seconds=400))
    fresh = PostgresKeyFlight(7, "fresh.txt")
    fresh.acquire(timeout=5)
    fresh.record_outcome(FAILURE)
    fresh.release()

    assert sweep_flight_outcomes() == 1
    assert FlightOutcome.objects.count() == 1
    assert FlightOutcome.objects.get().key_digest == fresh.key_digest
