"""A real HTTP origin on loopback with scripted routes and a log of what it received."""

import base64
import hashlib
import select
import socket
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit


def unused_port():
    """A loopback port nobody listens on now: free for a server to bind, and an
    origin there refuses connections at once."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Received:
    method: str
    path: str
    query: str
    headers: dict  # lower-case name -> value
    started: float = field(default_factory=time.monotonic)
    ended: float | None = None  # when the answer was done (sent whole or given up)
    cut_by_client: bool = False  # the requester closed the connection mid-body


@dataclass
class Route:
    status: int = 200
    body: bytes = b""
    headers: dict = field(default_factory=dict)
    chunked: bool = False
    delay: float = 0.0  # seconds before answering
    truncate_after: int | None = None  # send only this many body bytes, then hang up
    content_md5: str | None = None  # "auto" for the body's real MD5
    pause_after: int | None = None  # bytes sent before waiting on `gate`
    gate: threading.Event | None = None
    drip_seconds: float | None = None  # send the body one byte per this many seconds


class OriginServer:
    def __init__(self, host="127.0.0.1"):
        self.routes = {}
        self.received = []
        self._lock = threading.Lock()
        self._closing = threading.Event()  # ends dripping answers when the test is done
        origin = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_GET(self):
                origin._handle(self)

            do_HEAD = do_GET

        self.httpd = ThreadingHTTPServer((host, 0), Handler)
        self.httpd.daemon_threads = True
        self.host, self.port = self.httpd.server_address[:2]
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self.thread.start()

    @property
    def netloc(self):
        return f"{self.host}:{self.port}"

    def url(self, path="/"):
        return f"http://{self.netloc}{path}"

    def route(self, path, **kwargs):
        self.routes[path] = Route(**kwargs)
        return self.routes[path]

    def requests_to(self, path):
        return [request for request in self.received if request.path == path]

    def _handle(self, handler):
        parts = urlsplit(handler.path)
        received = Received(
            handler.command,
            parts.path,
            parts.query,
            {k.lower(): v for k, v in handler.headers.items()},
        )
        with self._lock:
            self.received.append(received)
        try:
            self._answer(handler, parts, received)
        finally:
            received.ended = time.monotonic()

    def _answer(self, handler, parts, received):
        route = self.routes.get(parts.path) or Route(status=404, body=b"not here")
        if route.delay:
            time.sleep(route.delay)
        handler.send_response(route.status)
        for name, value in route.headers.items():
            handler.send_header(name, value)
        if route.content_md5 == "auto":
            handler.send_header(
                "Content-MD5",
                base64.b64encode(hashlib.md5(route.body).digest()).decode(),
            )
        elif route.content_md5:
            handler.send_header("Content-MD5", route.content_md5)
        if route.chunked:
            handler.send_header("Transfer-Encoding", "chunked")
        else:
            handler.send_header("Content-Length", str(len(route.body)))
        handler.end_headers()
        if handler.command == "HEAD":
            return
        body = (
            route.body
            if route.truncate_after is None
            else route.body[: route.truncate_after]
        )
        try:
            if route.drip_seconds is not None:
                self._drip_body(handler, route, body, received)
            else:
                self._send_body(handler, route, body)
        except (BrokenPipeError, ConnectionResetError):
            received.cut_by_client = True
            handler.close_connection = True
            return
        if route.truncate_after is not None:
            handler.close_connection = True

    def _send_body(self, handler, route, body):
        pieces = [body[i : i + 65536] for i in range(0, len(body), 65536)] or [b""]
        sent = 0
        for piece in pieces:
            if (
                route.pause_after is not None
                and sent >= route.pause_after
                and route.gate is not None
            ):
                route.gate.wait(10)
            if route.chunked and piece:
                handler.wfile.write(f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
            elif piece:
                handler.wfile.write(piece)
            handler.wfile.flush()
            sent += len(piece)
        if route.chunked and route.truncate_after is None:
            handler.wfile.write(b"0\r\n\r\n")

    def _drip_body(self, handler, route, body, received):
        """One byte per `drip_seconds`, watching for the requester hanging up meanwhile."""
        handler.wfile.flush()
        for offset in range(len(body)):
            if self._wait_unless_closed(handler.connection, route.drip_seconds):
                received.cut_by_client = not self._closing.is_set()
                handler.close_connection = True
                return
            handler.wfile.write(body[offset : offset + 1])
            handler.wfile.flush()

    def _wait_unless_closed(self, connection, seconds):
        """Sleep `seconds`; True as soon as the peer closed the connection (or the test ended)."""
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            if self._closing.is_set():
                return True
            readable, _, _ = select.select([connection], [], [], min(left, 0.05))
            if readable:
                try:
                    if connection.recv(1, socket.MSG_PEEK) == b"":
                        return True
                except OSError:
                    return True
                time.sleep(
                    min(left, 0.05)
                )  # bytes to read, not a hang-up: keep waiting
        return False

    def close(self):
        self._closing.set()
        self.httpd.shutdown()
        self.httpd.server_close()
