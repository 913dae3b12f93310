"""ObjectWriter(hash_in_background=True): a large object's MD5 and CRC-64 are computed
by a thread of its own, and come out as if computed inline; every way out (finish,
discard, a failed write) ends that thread and leaves no temporary file behind."""

import errno
import hashlib
import random
import subprocess

import pytest

from buckets import storage
from buckets.storage import ObjectWriter
from tests.digests import digest_threads, oss2_crc

MIB = 1024 * 1024


def body_in_pieces(size, seed=1):
    """`size` random bytes cut into uneven pieces, as reads from a socket come."""
    generator = random.Random(seed)
    body = generator.randbytes(size)
    pieces, start = [], 0
    while start < size:
        end = min(size, start + generator.randint(1, 300_000))
        pieces.append(body[start:end])
        start = end
    return body, pieces


def test_a_large_object_hashed_in_the_background_has_the_inline_digests(settings):
    body, pieces = body_in_pieces(5 * MIB)
    writer = ObjectWriter(hash_in_background=True)
    for piece in pieces:
        writer.write(piece)
    assert digest_threads()  # past BACKGROUND_AFTER_BYTES: hashed by its thread

    writer.finish()

    assert digest_threads() == []
    assert (writer.size, writer.md5_hex, writer.crc64) == (
        len(body),
        hashlib.md5(body).hexdigest(),
        oss2_crc(body),
    )
    with open(writer.path, "rb") as stored:
        assert stored.read() == body
    writer.discard()
    assert list(settings.OBJECT_TMP_DIR.iterdir()) == []


def test_a_small_object_starts_no_thread():
    writer = ObjectWriter(hash_in_background=True)
    writer.write(b"s" * storage.BACKGROUND_AFTER_BYTES)
    assert digest_threads() == []
    writer.discard()


def test_digests_read_midway_then_more_bytes_still_come_out_right():
    body, pieces = body_in_pieces(4 * MIB, seed=2)
    half = len(pieces) // 2
    with ObjectWriter(hash_in_background=True) as writer:
        for piece in pieces[:half]:
            writer.write(piece)
        assert writer.md5_hex == hashlib.md5(b"".join(pieces[:half])).hexdigest()
        for piece in pieces[half:]:
            writer.write(piece)
        writer.finish()
        assert (writer.md5_hex, writer.crc64) == (
            hashlib.md5(body).hexdigest(),
            oss2_crc(body),
        )
    assert digest_threads() == []


def test_a_writer_discarded_midway_ends_its_thread_and_leaves_no_file(settings):
    _body, pieces = body_in_pieces(6 * MIB, seed=3)
    writer = ObjectWriter(hash_in_background=True)
    for piece in pieces[: len(pieces) // 2]:
        writer.write(piece)
    assert digest_threads()

    writer.discard()

    assert digest_threads() == []
    assert list(settings.OBJECT_TMP_DIR.iterdir()) == []


@pytest.fixture
def small_tmpfs(tmp_path):
    """A 3 MiB tmpfs as the writers' temporary folder: a disk that fills up."""
    mount_point = tmp_path / "small-disk"
    mount_point.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", str(mount_point)],
        capture_output=True,
        check=False,
    )
    if mounted.returncode != 0:
        pytest.skip(f"mounting tmpfs is not allowed here: {mounted.stderr!r}")
    yield mount_point
    subprocess.run(["umount", "-l", str(mount_point)], check=False)


def test_a_full_disk_while_hashing_in_the_background_leaves_no_file_and_no_thread(
    settings, small_tmpfs
):
    settings.OBJECT_TMP_DIR = small_tmpfs
    _body, pieces = body_in_pieces(8 * MIB, seed=4)
    writer = ObjectWriter(hash_in_background=True)

    with pytest.raises(OSError, match="No space left") as raised:  # noqa: PT012 - the failing write is in the loop
        for piece in pieces:
            writer.write(piece)

    assert raised.value.errno == errno.ENOSPC
    assert writer.size > storage.BACKGROUND_AFTER_BYTES  # the thread had started
    assert digest_threads() == []
    assert list(small_tmpfs.iterdir()) == []
