"""x-oss-traffic-limit: honoured (the transfer is paced), never ignored, bad values refused."""

import pytest

from buckets.models import StoredObject
from buckets.storage import open_blob
from buckets.traffic_limit import MAX_BITS_PER_SECOND, Pacer, paced
from tests.oss_responses import body_of, error_code

BODY = b"x" * 300_000


class FakeClock:
    def __init__(self):
        self.now = 100.0
        self.slept = []

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.slept.append(seconds)
        self.now += seconds


def test_the_pacer_waits_until_the_bytes_fit_the_rate():
    clock = FakeClock()
    pacer = Pacer(1000, clock=clock, sleep=clock.sleep)

    pacer.passed(500)  # 0.5 s worth, sent at once
    clock.now += 0.2  # the network took 0.2 s for the next 500 bytes
    pacer.passed(500)

    assert clock.slept == pytest.approx([0.5, 0.3])
    assert clock.now - 100.0 == pytest.approx(1.0)  # 1000 bytes took one second


def test_a_slow_transfer_is_not_held_back_further():
    clock = FakeClock()
    pacer = Pacer(1000, clock=clock, sleep=clock.sleep)

    pacer.passed(0)
    clock.now += 5  # slower than the cap already
    pacer.passed(1000)

    assert clock.slept == []


def test_without_a_limit_chunks_pass_untouched():
    assert list(paced(iter([b"a", b"b"]), None)) == [b"a", b"b"]


@pytest.fixture
def stored(public_bucket, put_object):
    return put_object(public_bucket, "big.bin", BODY)


@pytest.mark.parametrize("where", ["header", "query"])
def test_a_limited_get_sends_every_byte(client, stored, where):
    limit = str(MAX_BITS_PER_SECOND)
    if where == "header":
        response = client.get(
            "/alice-public/big.bin", headers={"x-oss-traffic-limit": limit}
        )
    else:
        response = client.get(f"/alice-public/big.bin?x-oss-traffic-limit={limit}")

    assert response.status_code == 200
    assert response.streaming  # paced chunk by chunk, not handed to sendfile
    assert body_of(response) == BODY
    assert response["Content-Length"] == str(len(BODY))


@pytest.mark.parametrize("value", ["1000", "838860801", "fast", ""])
def test_a_limit_out_of_osss_range_is_refused(client, stored, value):
    response = client.get(
        "/alice-public/big.bin", headers={"x-oss-traffic-limit": value}
    )

    assert response.status_code == 400
    assert error_code(response) == "InvalidArgument"


def test_a_limited_put_stores_every_byte(alice_signed_client, bucket):
    response = alice_signed_client(
        "PUT",
        "alice-bucket",
        "up.bin",
        headers={"x-oss-traffic-limit": str(MAX_BITS_PER_SECOND)},
        body=BODY,
    )

    assert response.status_code == 200
    with open_blob(StoredObject.objects.get(key="up.bin")) as handle:
        assert handle.read() == BODY


def test_a_bad_limit_on_a_put_stores_nothing(alice_signed_client, bucket):
    response = alice_signed_client(
        "PUT",
        "alice-bucket",
        "up.bin",
        headers={"x-oss-traffic-limit": "10"},
        body=BODY,
    )

    assert (response.status_code, error_code(response)) == (400, "InvalidArgument")
    assert not StoredObject.objects.filter(key="up.bin").exists()


def test_paced_pieces_wait_before_they_go_out(monkeypatch):
    clock = FakeClock()
    monkeypatch.setattr("buckets.traffic_limit.time.monotonic", clock)
    monkeypatch.setattr("buckets.traffic_limit.time.sleep", clock.sleep)
    seen = []

    for piece in paced(iter([b"a" * 30_000]), 100_000):
        seen.append((len(piece), clock.now - 100.0))

    # 10,000-byte pieces (a tenth of a second at 100,000 B/s), each sent once it fits.
    assert seen == [
        (10_000, pytest.approx(0.1)),
        (10_000, pytest.approx(0.2)),
        (10_000, pytest.approx(0.3)),
    ]
