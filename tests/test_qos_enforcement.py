"""QoS caps enforced on a real server (gunicorn, its worker processes sharing the
state): beyond a QPS cap requests get 503 SlowDown; a bandwidth cap slows a
transfer to it. Only lower bounds on time: a slow machine never fails these."""

import threading
import time
import uuid

import oss2
import pytest
from oss2.models import BucketQosInfo, QoSConfiguration

from tests.signing import REGION, oss2_auth

MB = 1_000_000
GBIT_BYTES_PER_SECOND = 125 * MB  # 1 Gbit/s, the smallest cap above 0
BIG = 160 * MB  # 1.28 s at 1 Gbit/s


@pytest.fixture
def alice_bucket(as_user):
    bucket = as_user("alice", f"qos-{uuid.uuid4().hex[:12]}")
    bucket.create_bucket(oss2.BUCKET_ACL_PUBLIC_READ)
    bucket.put_object("small.txt", b"hello")
    return bucket


def outcomes(call, times):
    """What each of `times` calls in a row got: 200, or (status, code, message)."""
    found = []
    for _ in range(times):
        try:
            call()
            found.append(200)
        except oss2.exceptions.ServerError as error:
            found.append((error.status, error.code, error.message))
    return found


THROTTLED = (503, "SlowDown", "Please reduce your request rate.")


def test_a_bucket_qps_cap_refuses_the_requests_beyond_it(alice_bucket):
    alice_bucket.put_bucket_qos_info(BucketQosInfo(total_qps=2))

    seen = outcomes(lambda: alice_bucket.get_object("small.txt").read(), 8)

    assert seen[:2] == [200, 200]
    assert THROTTLED in seen  # 8 requests would need 3 s to fit a cap of 2 a second
    assert set(seen) == {200, THROTTLED}


def test_the_caps_stay_reachable_under_a_cap_of_zero(alice_bucket):
    alice_bucket.put_bucket_qos_info(BucketQosInfo(total_qps=0))
    with pytest.raises(oss2.exceptions.AccessDenied):
        alice_bucket.get_object("small.txt")

    assert alice_bucket.get_bucket_qos_info().total_qps == 0
    alice_bucket.delete_bucket_qos_info()

    assert outcomes(lambda: alice_bucket.get_object("small.txt").read(), 5) == [200] * 5


def test_a_requester_cap_limits_that_requester_only(alice_bucket, as_user, sdk_version):
    bob = as_user("bob", alice_bucket.bucket_name)
    bob_uid = (
        oss2.Service(bob.auth, bob.endpoint, region=REGION).list_buckets().owner.id
    )
    alice_bucket.put_bucket_requester_qos_info(bob_uid, QoSConfiguration(total_qps=1))

    bob_seen = outcomes(lambda: bob.get_object("small.txt").read(), 6)
    alice_seen = outcomes(lambda: alice_bucket.get_object("small.txt").read(), 6)

    assert bob_seen[0] == 200
    assert set(bob_seen) == {200, THROTTLED}
    assert alice_seen == [200] * 6


@pytest.fixture
def alice_oss2(two_user_server):
    server, keys = two_user_server
    bucket = oss2.Bucket(
        oss2_auth(keys["alice"]), server.url, f"qos-bw-{uuid.uuid4().hex[:10]}"
    )
    bucket.create_bucket()
    return bucket


def test_bandwidth_caps_slow_uploads_and_downloads_to_them(alice_oss2):
    data = b"q" * BIG
    alice_oss2.put_bucket_qos_info(
        BucketQosInfo(total_upload_bw=1, total_download_bw=1)
    )
    # Pieces of a tenth of a second's worth: the first two may go before any wait.
    least = BIG / GBIT_BYTES_PER_SECOND - 0.2

    started = time.monotonic()
    alice_oss2.put_object("big.bin", data)
    upload_took = time.monotonic() - started
    started = time.monotonic()
    downloaded = alice_oss2.get_object("big.bin").read()
    download_took = time.monotonic() - started

    assert downloaded == data
    assert upload_took >= least
    assert download_took >= least


def test_a_download_cap_is_shared_by_concurrent_downloads(alice_oss2):
    alice_oss2.put_object("half.bin", b"h" * (BIG // 2))
    alice_oss2.put_bucket_qos_info(BucketQosInfo(total_download_bw=1))
    sizes = []

    def download():
        sizes.append(len(alice_oss2.get_object("half.bin").read()))

    threads = [threading.Thread(target=download) for _ in range(2)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    took = time.monotonic() - started

    assert sizes == [BIG // 2] * 2
    assert took >= BIG / GBIT_BYTES_PER_SECOND - 0.3  # both halves through one cap


def test_a_zero_download_cap_refuses_downloads_but_not_uploads(alice_oss2):
    alice_oss2.put_bucket_qos_info(BucketQosInfo(intranet_download_bw=0))

    alice_oss2.put_object("x.txt", b"x")
    with pytest.raises(oss2.exceptions.AccessDenied):
        alice_oss2.get_object("x.txt")
    assert alice_oss2.head_object("x.txt").content_length == 1
