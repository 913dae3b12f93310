"""What each worker sweeps while the server runs (config/housekeeping.py): temporary
files of dead processes, lock files nobody holds, deletion times no fetch needs."""

import fcntl
import os

import pytest

from buckets.storage import ObjectWriter, delete_key, sweep_temp_files
from config.housekeeping import sweep_once
from origin.flight import KeyFlight, sweep_unheld_locks


def dead_pid():
    pid = os.fork()
    if pid == 0:
        os._exit(0)
    os.waitpid(pid, 0)
    return pid


def test_the_sweep_removes_temp_files_of_dead_processes_only(settings):
    tmp = settings.OBJECT_TMP_DIR
    orphan = tmp / f"obj-{dead_pid()}-abc.part"
    orphan.write_bytes(b"left by a killed worker")
    writer = ObjectWriter()  # this live process's file
    writer.write(b"in progress")

    assert sweep_temp_files() == 1

    assert not orphan.exists()
    assert os.path.exists(writer.path)
    writer.discard()


def test_the_sweep_removes_unheld_lock_files_and_keeps_held_ones(settings, bucket):
    held = KeyFlight(bucket.pk, "held")
    assert held.acquire(1)
    abandoned = KeyFlight(bucket.pk, "abandoned").lock_path
    abandoned.write_text("")

    assert sweep_unheld_locks() == 1

    assert not abandoned.exists()
    assert held.lock_path.exists()
    with open(held.lock_path) as handle, pytest.raises(BlockingIOError):
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    held.release()


def test_a_sweep_forgets_deletion_times_older_than_any_fetch(settings, bucket):
    delete_key(bucket, "old")
    settings.ORIGIN_DEADLINE_SECONDS = settings.MIRROR_WAIT_SECONDS = 0
    settings.MIRROR_QUEUE_SECONDS = -61  # everything is older than the longest fetch

    assert sweep_once()[2] == 1
