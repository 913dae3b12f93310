"""The loopback origin the benchmark mirrors from, and the bodies it serves.

`Origin()` starts this module as its own process (`python -m bench.loopback_origin`),
so the origin never shares a GIL with the measuring client: a threaded http.server
on 127.0.0.1 serving generated bodies from memory with a real Content-Length, and
counting requests per path (`/_stats`).
"""

import functools
import hashlib
import json
import random
import signal
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import requests

from tests.server_process import ROOT, sigterm_when_parent_dies

MIB = 1024 * 1024

# -- generated bodies ----------------------------------------------------------------
#
# Origin and client derive an object's bytes from its key: a fixed random MiB, cycled
# from a key-dependent offset. The origin serves it from memory without ever holding a
# whole large body; the client computes the MD5 it must receive.

PATTERN = random.Random(4).randbytes(MIB)
DOUBLED = memoryview(PATTERN + PATTERN)


def object_key(size, name, delay_ms=0):
    """A bucket key that is also the origin path: o/<bytes>/<delay ms>/<name>."""
    return f"o/{size}/{delay_ms}/{name}"


def body_pieces(key, size, piece=MIB):
    offset = int.from_bytes(hashlib.sha256(key.encode()).digest()[:4], "big") % MIB
    sent = 0
    while sent < size:
        start = (offset + sent) % MIB
        length = min(piece, size - sent)
        yield DOUBLED[start : start + length]
        sent += length


@functools.lru_cache(maxsize=4096)
def expected_md5(key, size):
    digest = hashlib.md5()
    for piece in body_pieces(key, size):
        digest.update(piece)
    return digest.hexdigest()


# -- the origin process --------------------------------------------------------------


class OriginHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out in separate writes
    counts = {}
    counts_lock = threading.Lock()

    def log_message(self, *args):
        pass

    def do_GET(self):
        if self.path == "/_stats":
            with self.counts_lock:
                self._send_json(dict(self.counts))
            return
        key = self.path.lstrip("/")
        try:
            prefix, size, delay_ms, _name = key.split("/", 3)
            size, delay_ms = int(size), int(delay_ms)
        except ValueError:
            prefix = ""
        if prefix != "o":
            self.send_error(404)
            return
        with self.counts_lock:
            self.counts[key] = self.counts.get(key, 0) + 1
        if delay_ms:
            time.sleep(delay_ms / 1000)
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(size))
        self.end_headers()
        try:
            for piece in body_pieces(key, size):
                self.wfile.write(piece)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def _send_json(self, payload):
        data = json.dumps(payload).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


def serve():
    """Serve until SIGTERM; the first line on stdout is the port."""
    ThreadingHTTPServer.request_queue_size = 128
    server = ThreadingHTTPServer(("127.0.0.1", 0), OriginHandler)
    server.daemon_threads = True
    print(server.server_address[1], flush=True)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    server.serve_forever(poll_interval=0.1)


# -- the benchmark's handle on it ----------------------------------------------------


class Origin:
    """The origin process, started from the benchmark; a target to fetch from."""

    mirrored = False  # what the origin sends carries no x-oss-tag

    def __init__(self):
        self.process = subprocess.Popen(
            [sys.executable, "-m", "bench.loopback_origin"],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            text=True,
            preexec_fn=sigterm_when_parent_dies,
        )
        line = self.process.stdout.readline().strip()
        if not line.isdigit():
            self.stop()
            raise RuntimeError("the origin server did not start")
        self.url = f"http://127.0.0.1:{line}"
        self.netloc = f"127.0.0.1:{line}"

    def url_for(self, key):
        return f"{self.url}/{key}"

    def request_counts(self):
        """How many requests reached the origin, by key."""
        return requests.get(f"{self.url}/_stats", timeout=10).json()

    def requests_for(self, key):
        return self.request_counts().get(key, 0)

    def stop(self):
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
        self.process.wait()


if __name__ == "__main__":
    serve()
