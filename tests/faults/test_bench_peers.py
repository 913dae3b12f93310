"""The benchmark's peers (bench/peers.py) really serve what they are measured on:
nginx's static server and the bare Django project serve the test objects' bytes, and
nginx's classic mirror fetches a missing key from the loopback origin once and keeps
it. Then the cleanup stops them all. (Here because the fault suite installs nginx.)"""

import hashlib

import pytest
import requests

from bench.loopback_origin import Origin, body_pieces, object_key
from bench.peers import start_peers
from bench.run import Cleanup

pytestmark = [pytest.mark.faults, pytest.mark.server]
RELIABILITY_CATEGORY = "benchmark peers"

SERVED = object_key(4096, "peer-smoke")
MISSING = object_key(8192, "peer-smoke-miss")


def expected_md5(key, size):
    digest = hashlib.md5()
    for piece in body_pieces(key, size):
        digest.update(piece)
    return digest.hexdigest()


def test_the_peers_serve_the_bytes_and_stop_with_the_cleanup(tmp_path):
    origin = Origin()
    cleanup = Cleanup()
    cleanup.add(origin.stop)
    try:
        scratch = tmp_path / "peers"  # tmp_path is DATA_DIR here: objects/ is taken
        scratch.mkdir()
        nginx, bare = start_peers(scratch, [(SERVED, 4096)], origin, cleanup)
        for peer in (nginx.static, bare.peer):
            answer = requests.get(peer.url_for(SERVED), timeout=30)
            assert answer.status_code == 200, peer.url
            assert hashlib.md5(answer.content).hexdigest() == expected_md5(SERVED, 4096)

        for _ in range(2):  # the second is served from what nginx stored
            answer = requests.get(nginx.mirror.url_for(MISSING), timeout=30)
            assert answer.status_code == 200
            assert hashlib.md5(answer.content).hexdigest() == expected_md5(
                MISSING, 8192
            )
        stats = requests.get(f"http://{origin.netloc}/_stats", timeout=10).json()
        assert stats.get(MISSING) == 1
    finally:
        cleanup.run()

    assert nginx.process.poll() is not None
    assert bare.process.poll() is not None
