"""Issue 9, the soak: 100 concurrent clients for 20 s doing PUT, GET (hits and mirror
misses), HEAD, DELETE, Range GET and listing on a small key space, so writes race
each other, deletes and mirrors. No answer may be a server error, every body read
must be one that was uploaded or served by the origin, and so must every object
stored at the end (SPEC §9, "Never lose, never lie")."""

import hashlib
import random
import threading
import time
from collections import Counter
from urllib.parse import quote

import oss2
import pytest
import requests

from tests.faults.conftest import Tally

pytestmark = [pytest.mark.faults, pytest.mark.server]
RELIABILITY_CATEGORY = "mixed load"

CLIENTS, SECONDS = 100, 20
UPLOAD_KEYS = [f"up/k{number:02}" for number in range(20)]
MIRROR_KEYS = [f"mir/k{number:02}" for number in range(30)]
# Operation -> (weight, statuses a correct server may answer).
OPERATIONS = {
    "put": (25, {200}),
    "get": (25, {200, 404}),
    "head": (10, {200, 404}),
    "delete": (10, {204}),
    "range": (20, {206, 404, 416}),
    "list": (10, {200}),
}


def md5_hex(data):
    return hashlib.md5(data).hexdigest()


def random_body(rng):
    return rng.randbytes(rng.randint(0, 256 * 1024))


class KnownBodies:
    """Every body that may be stored under each key: what was uploaded (recorded before
    the PUT is sent) and what the origin serves."""

    def __init__(self, origin_bodies):
        self._lock = threading.Lock()
        self._by_md5 = {md5_hex(body): body for body in origin_bodies.values()}
        self._md5s = {key: {md5_hex(body)} for key, body in origin_bodies.items()}

    def add(self, key, body):
        with self._lock:
            self._by_md5[md5_hex(body)] = body
            self._md5s.setdefault(key, set()).add(md5_hex(body))

    def md5s(self, key):
        with self._lock:
            return set(self._md5s.get(key, ()))

    def bodies(self, key):
        with self._lock:
            return [self._by_md5[md5] for md5 in self._md5s.get(key, ())]


@pytest.fixture(scope="module")
def server(start_server):
    # A fast origin needs no queueing for a mirror slot; give the wait room anyway so
    # that a busy 2-core machine does not turn a short wait into 503 SlowDown.
    return start_server(MIRROR_QUEUE_SECONDS=5)


@pytest.fixture(scope="module")
def mirror_bodies(origin):
    rng = random.Random(9)
    bodies = {key: random_body(rng) for key in MIRROR_KEYS}
    for key, body in bodies.items():
        origin.route(f"/{key}", body=body)
    return bodies


@pytest.fixture(scope="module")
def bucket(server, origin, mirror_bodies):
    return server.new_mirror_bucket(
        origin.url("/"), oss2.BUCKET_ACL_PUBLIC_READ_WRITE, key_prefix="mir/"
    )


class Client:
    """One of the hundred: a keep-alive session making random requests until the end."""

    def __init__(self, number, base_url, known, tally, counts):
        self.rng = random.Random(number)
        self.session = requests.Session()
        self.base_url = base_url
        self.known = known
        self.tally = tally
        self.counts = counts

    def run(self, until):
        names = list(OPERATIONS)
        weights = [OPERATIONS[name][0] for name in names]
        while time.monotonic() < until:
            name = self.rng.choices(names, weights)[0]
            key = self.rng.choice(UPLOAD_KEYS + MIRROR_KEYS)
            try:
                ok, what = getattr(self, name)(key)
            except requests.RequestException as error:
                ok, what = False, f"{name} {key}: {error!r}"
            self.tally.add(ok, what)
            self.counts[name] += 1

    def url(self, key=""):
        return f"{self.base_url}/{quote(key)}"

    def _status(self, name, key, response):
        ok = response.status_code in OPERATIONS[name][1]
        return ok, f"{name} {key}: {response.status_code} {response.text[:200]!r}"

    def put(self, key):
        if key in MIRROR_KEYS:
            return self.get(key)  # mirror keys hold only what the origin serves
        body = random_body(self.rng)
        self.known.add(key, body)
        return self._status("put", key, self.session.put(self.url(key), data=body))

    def get(self, key):
        response = self.session.get(self.url(key))
        ok, what = self._status("get", key, response)
        if ok and response.status_code == 200:
            ok = md5_hex(response.content) in self.known.md5s(key)
            what = f"get {key}: {len(response.content)} bytes nobody uploaded"
        return ok, what

    def head(self, key):
        response = self.session.head(self.url(key))
        ok, what = self._status("head", key, response)
        if ok and response.status_code == 200:
            etag = response.headers.get("ETag", "").strip('"').lower()
            ok = etag in self.known.md5s(key)
            what = f"head {key}: ETag {etag} of no known body"
        return ok, what

    def delete(self, key):
        return self._status("delete", key, self.session.delete(self.url(key)))

    def range(self, key):
        first = self.rng.randint(0, 128 * 1024)
        last = first + self.rng.randint(0, 4096)
        response = self.session.get(
            self.url(key), headers={"Range": f"bytes={first}-{last}"}
        )
        ok, what = self._status("range", key, response)
        if ok and response.status_code == 206:
            ok = any(
                body[first : last + 1] == response.content
                for body in self.known.bodies(key)
                if len(body) > first
            )
            what = f"range {key} {first}-{last}: a slice of no known body"
        return ok, what

    def list(self, key):
        prefix = key.split("/")[0] + "/"
        return self._status(
            "list", key, self.session.get(self.url(), params={"prefix": prefix})
        )


def test_100_clients_for_20_seconds_get_no_server_error_and_only_known_bytes(
    server, bucket, mirror_bodies, reliability
):
    known = KnownBodies(mirror_bodies)
    requests_tally, counts = Tally(), Counter()
    base_url = f"{server.url}/{bucket.bucket_name}"
    until = time.monotonic() + SECONDS
    clients = [
        Client(number, base_url, known, requests_tally, counts)
        for number in range(CLIENTS)
    ]
    threads = [threading.Thread(target=client.run, args=(until,)) for client in clients]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=SECONDS + 120)

    stored_tally = Tally()
    for item in oss2.ObjectIterator(bucket):
        data = bucket.get_object(item.key).read()
        stored_tally.add(
            md5_hex(data) in known.md5s(item.key),
            f"{item.key}: {len(data)} stored bytes nobody uploaded",
        )

    reliability.record(
        "mixed load: requests", requests_tally.tried, requests_tally.held
    )
    reliability.record(
        "mixed load: stored objects", stored_tally.tried, stored_tally.held
    )
    reliability.note(
        RELIABILITY_CATEGORY,
        f"{requests_tally.tried} requests from {CLIENTS} clients in {SECONDS} s "
        f"({requests_tally.tried / SECONDS:.0f}/s): "
        + ", ".join(f"{name} {counts[name]}" for name in OPERATIONS)
        + f"; {stored_tally.tried} objects stored at the end",
    )
    assert not any(thread.is_alive() for thread in threads)
    assert requests_tally.broken == []
    assert stored_tally.broken == []
    assert requests_tally.tried > CLIENTS  # the load really ran
