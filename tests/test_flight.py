"""Single flight: the per-key lock and the hand-over of the leader's outcome."""

import threading
import time

from origin.flight import KeyFlight


def locks_left(settings):
    return sorted(path.name for path in (settings.DATA_DIR / "locks").iterdir())


def start_waiting(flight, timeout=10):
    """Run flight.acquire in a thread; return once it is blocked on the current file."""
    blocked, acquired = threading.Event(), []
    real_lock = flight._lock

    def lock(fd, deadline):
        blocked.set()
        return real_lock(fd, deadline)

    flight._lock = lock
    thread = threading.Thread(
        target=lambda: acquired.append(flight.acquire(timeout=timeout))
    )
    thread.start()
    assert blocked.wait(10)
    return thread, acquired


def test_a_waiter_gets_the_leaders_failure_and_no_file_is_left(settings):
    leader = KeyFlight(1, "a.txt")
    assert leader.acquire(timeout=5)
    waiter = KeyFlight(1, "a.txt")
    waiting_since = time.time()
    acquired = []
    thread = threading.Thread(
        target=lambda: acquired.append(waiter.acquire(timeout=10))
    )
    thread.start()
    time.sleep(0.05)  # let the waiter block on the leader's file
    assert acquired == []

    leader.record_outcome(
        {"status": 424, "code": "MirrorFailed", "message": "origin 500"}
    )
    leader.release()
    thread.join(10)

    assert acquired == [True]
    assert waiter.outcome_since(waiting_since)["message"] == "origin 500"
    waiter.release()
    assert locks_left(settings) == []


def test_a_request_that_arrives_after_the_failure_does_not_replay_it(settings):
    leader = KeyFlight(1, "a.txt")
    leader.acquire(timeout=5)
    leader.record_outcome(
        {"status": 424, "code": "MirrorFailed", "message": "origin 500"}
    )
    leader.release()

    later = KeyFlight(1, "a.txt")
    assert later.acquire(timeout=5)
    assert later.outcome_since(time.time() - 60) is None  # it leads a fresh fetch
    later.release()


def test_success_leaves_no_outcome_for_waiters(settings):
    leader = KeyFlight(1, "a.txt")
    leader.acquire(timeout=5)
    waiter = KeyFlight(1, "a.txt")
    since = time.time()
    thread, _acquired = start_waiting(waiter)
    leader.record_outcome({"status": 424, "code": "MirrorFailed", "message": "x"})
    leader.clear_outcome()  # the object was saved after all
    leader.release()
    thread.join(10)

    assert waiter.held
    assert waiter.outcome_since(since) is None
    waiter.release()


def test_distinct_keys_do_not_block_each_other(settings):
    first, second = KeyFlight(1, "a.txt"), KeyFlight(1, "b.txt")

    assert first.acquire(timeout=1)
    assert second.acquire(timeout=0.2)
    first.release()
    second.release()


def test_a_waiter_gives_up_after_its_timeout(settings):
    holder = KeyFlight(2, "slow.bin")
    holder.acquire(timeout=1)

    assert KeyFlight(2, "slow.bin").acquire(timeout=0.1) is False
    holder.release()
