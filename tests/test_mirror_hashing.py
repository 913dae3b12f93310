"""A large mirror is hashed by a thread of its own while it streams (ObjectWriter's
hash_in_background): the saved object carries the right MD5 and CRC-64, and every
failure (a truncated origin, a wrong Content-MD5, a client that leaves on a broken
fetch) leaves no row, no blob, no temporary file and no hashing thread."""

import hashlib
import random

import pytest

from buckets.models import StoredObject
from buckets.storage import BACKGROUND_AFTER_BYTES, open_blob
from origin.mirroring import MirrorInterrupted
from origin.models import OriginFetch
from tests.digests import digest_threads, oss2_crc
from tests.oss_responses import body_of
from tests.signing import content_md5

pytestmark = pytest.mark.django_db

MIB = 1024 * 1024
# Big enough that the writer hands its hashing to a thread.
BODY = random.Random(14).randbytes(3 * MIB + 5)
assert len(BODY) > BACKGROUND_AFTER_BYTES


def assert_saved_whole(settings):
    """BODY is the one object, with its digests, and nothing is left behind."""
    saved = StoredObject.objects.get()
    assert (saved.size, saved.md5, saved.crc64) == (
        len(BODY),
        hashlib.md5(BODY).hexdigest(),
        oss2_crc(BODY),
    )
    assert saved_bytes(saved) == BODY
    assert list(settings.OBJECT_TMP_DIR.iterdir()) == []
    assert digest_threads() == []


def assert_nothing_saved(settings):
    assert not StoredObject.objects.exists()
    assert list(settings.OBJECT_TMP_DIR.iterdir()) == []
    assert [p for p in settings.OBJECT_STORAGE_DIR.rglob("*") if p.is_file()] == []
    assert digest_threads() == []


def saved_bytes(obj):
    with open_blob(obj) as handle:
        return handle.read()


def test_a_large_mirror_is_saved_with_its_md5_and_crc64(
    alice_client, bucket, origin_server, mirror_rule, settings
):
    origin_server.route("/big.bin", body=BODY)
    mirror_rule()

    response = alice_client.get("/alice-bucket/big.bin")

    assert body_of(response) == BODY
    assert_saved_whole(settings)


def test_the_last_byte_goes_out_after_the_commit_and_the_rest_as_it_came(
    alice_client, bucket, origin_server, mirror_rule
):
    origin_server.route("/big.bin", body=BODY)
    mirror_rule()
    pieces = []
    saved_before_last_piece = None

    for piece in alice_client.get("/alice-bucket/big.bin").streaming_content:
        if sum(map(len, pieces)) == len(BODY) - 1:
            saved_before_last_piece = StoredObject.objects.exists()
        pieces.append(piece)

    assert b"".join(pieces) == BODY
    assert len(pieces[-1]) == 1  # only the very last byte waited for the commit
    assert saved_before_last_piece is True


def test_a_large_chunked_mirror_is_saved_whole(
    alice_client, bucket, origin_server, mirror_rule, settings
):
    origin_server.route("/chunked.bin", body=BODY, chunked=True)
    mirror_rule()

    response = alice_client.get("/alice-bucket/chunked.bin")

    assert "Content-Length" not in response
    assert body_of(response) == BODY
    assert_saved_whole(settings)


def test_a_large_truncated_origin_cuts_the_client_and_saves_nothing(
    alice_client, bucket, origin_server, mirror_rule, settings
):
    origin_server.route("/big.bin", body=BODY, truncate_after=2 * MIB)
    mirror_rule()

    response = alice_client.get("/alice-bucket/big.bin")

    assert response.status_code == 200
    with pytest.raises(MirrorInterrupted):
        body_of(response)
    assert_nothing_saved(settings)
    assert OriginFetch.objects.get().outcome == "failed"


def test_a_large_mirror_with_a_wrong_content_md5_serves_the_bytes_and_saves_nothing(
    alice_client, bucket, origin_server, mirror_rule, settings
):
    origin_server.route("/big.bin", body=BODY, content_md5=content_md5(b"other"))
    mirror_rule(check_md5=True)

    response = alice_client.get("/alice-bucket/big.bin")

    assert body_of(response) == BODY
    assert_nothing_saved(settings)
    log = OriginFetch.objects.get()
    assert (log.outcome, log.bytes_received) == ("not_saved", len(BODY))
    assert log.message.startswith("MD5 in header")


# Real transactions: closing the response ends the "request" (see test_mirroring.py).
@pytest.mark.django_db(transaction=True)
def test_a_client_that_leaves_a_large_mirror_still_gets_it_saved_whole(
    alice_client, bucket, origin_server, mirror_rule, settings
):
    origin_server.route("/big.bin", body=BODY)
    mirror_rule()
    response = alice_client.get("/alice-bucket/big.bin")
    first = next(iter(response.streaming_content))
    assert 0 < len(first) < len(BODY)

    response.close()  # what the server does when the client goes away

    assert_saved_whole(settings)


@pytest.mark.django_db(transaction=True)
def test_a_client_that_leaves_a_large_mirror_that_then_breaks_off_leaves_nothing(
    alice_client, bucket, origin_server, mirror_rule, settings
):
    origin_server.route("/big.bin", body=BODY, truncate_after=2 * MIB)
    mirror_rule()
    response = alice_client.get("/alice-bucket/big.bin")
    next(iter(response.streaming_content))

    response.close()

    assert_nothing_saved(settings)
    assert OriginFetch.objects.get().outcome == "failed"
