"""RTMP ingest (publish only): handshake, chunk stream, AMF0 commands, one thread per client.

Pure stdlib. Each connection runs on its own thread with blocking sockets, so the
Publication callbacks may do blocking I/O and ORM work directly. Every read is bounded
(idle timeout, setup deadline, message size, number of chunk streams), so a hostile
client can end only its own connection and never grow memory without bound.
"""

from __future__ import annotations

import contextlib
import datetime
import logging
import os
import socket
import socketserver
import struct
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol
from urllib.parse import unquote

logger = logging.getLogger(__name__)

RTMP_VERSION = 3
HANDSHAKE_SIZE = 1536
DEFAULT_CHUNK_SIZE = 128
SERVER_CHUNK_SIZE = 4096
SERVER_WINDOW_ACK_SIZE = 5_000_000
MAX_CHUNK_SIZE = (
    0x7FFFFFFF  # 31 bits, as the spec allows; memory is bounded by message size
)
MAX_CHUNK_STREAMS = 64  # chunk stream ids a client may keep state for at once
MAX_PENDING_SLACK = 1024 * 1024  # unfinished small messages beside one of the largest
MAX_AMF_DEPTH = 32
PUBLISH_STREAM_ID = 1  # the only message stream createStream hands out

# Message type ids (RTMP 1.0 §5.4, §7.1)
SET_CHUNK_SIZE, ABORT, ACKNOWLEDGEMENT, USER_CONTROL = 1, 2, 3, 4
WINDOW_ACK_SIZE, SET_PEER_BANDWIDTH = 5, 6
AUDIO, VIDEO = 8, 9
DATA_AMF3, COMMAND_AMF3 = 15, 17
DATA_AMF0, COMMAND_AMF0 = 18, 20
AGGREGATE = 22

# User control events
STREAM_BEGIN, PING_REQUEST, PING_RESPONSE = 0, 6, 7


class ProtocolError(Exception):
    """The client broke the protocol (or a limit); its connection ends."""


class PublishRefused(Exception):
    """Raised by start_publish: the server answers onStatus error
    (NetStream.Publish.BadName / .Unauthorized... with the message) and closes."""

    def __init__(self, message: str, code: str = "NetStream.Publish.BadName"):
        super().__init__(message)
        self.code = code
        self.description = message


@dataclass(frozen=True)
class PublishRequest:
    tc_url: str  # from the connect command, e.g. "rtmp://bkt.example.com:1935/live"
    app: str  # from connect, e.g. "live" (or "bkt/live" for path-style URLs)
    stream: str  # the publish name without its query, e.g. "chan1"
    query: dict[str, str]  # the publish name's query, URL-decoded
    remote_addr: str  # client IP


class Publication(Protocol):
    """Returned by start_publish; called on the connection's thread."""

    def on_metadata(self, metadata: dict) -> None: ...

    def on_video(self, timestamp_ms: int, body: bytes) -> None: ...

    def on_audio(self, timestamp_ms: int, body: bytes) -> None: ...

    def close(self) -> None: ...


StartPublish = Callable[[PublishRequest], Publication]


# -- AMF0 ------------------------------------------------------------------------------


class _Undefined:
    """AMF0 undefined (distinct from null on the wire; decoded as None)."""

    def __repr__(self) -> str:
        return "UNDEFINED"


UNDEFINED = _Undefined()


class AmfError(ProtocolError):
    """Malformed AMF0."""


class _AmfReader:
    def __init__(self, data: bytes):
        self.data = data
        self.pos = 0

    def at_end(self) -> bool:
        return self.pos >= len(self.data)

    def take(self, n: int) -> bytes:
        if n < 0 or self.pos + n > len(self.data):
            raise AmfError("AMF0 value runs past the end of the message")
        chunk = self.data[self.pos : self.pos + n]
        self.pos += n
        return chunk

    def unpack(self, fmt: str):
        return struct.unpack(fmt, self.take(struct.calcsize(fmt)))[0]

    def utf8(self, length: int) -> str:
        try:
            return self.take(length).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise AmfError("AMF0 string is not UTF-8") from exc

    def value(self, depth: int = 0):
        if depth > MAX_AMF_DEPTH:
            raise AmfError("AMF0 nesting too deep")
        marker = self.unpack(">B")
        if marker == 0x00:
            return self.unpack(">d")
        if marker == 0x01:
            return self.unpack(">B") != 0
        if marker == 0x02:
            return self.utf8(self.unpack(">H"))
        if marker == 0x03:
            return self.properties(depth)
        if marker in (0x05, 0x06):  # null, undefined
            return None
        if (
            marker == 0x08
        ):  # ECMA array: a count (advisory), then properties like an object
            self.unpack(">I")
            return self.properties(depth)
        if marker == 0x0A:
            count = self.unpack(">I")
            if count > len(self.data) - self.pos:  # every value takes at least one byte
                raise AmfError("AMF0 strict array longer than the message")
            return [self.value(depth + 1) for _ in range(count)]
        if marker == 0x0B:
            millis = self.unpack(">d")
            self.take(2)  # time zone: reserved, should be 0
            return _amf_date(millis)
        if marker == 0x0C:
            return self.utf8(self.unpack(">I"))
        raise AmfError(f"unsupported AMF0 marker 0x{marker:02x}")

    def properties(self, depth: int) -> dict:
        result = {}
        while True:
            key = self.utf8(self.unpack(">H"))
            if key == "" and self.data[self.pos : self.pos + 1] == b"\x09":
                self.pos += 1
                return result
            result[key] = self.value(depth + 1)


def _amf_date(millis: float) -> datetime.datetime:
    try:
        return datetime.datetime.fromtimestamp(millis / 1000, tz=datetime.UTC)
    except (OverflowError, OSError, ValueError) as exc:
        raise AmfError("AMF0 date out of range") from exc


def amf0_decode_all(data: bytes) -> list:
    """Every AMF0 value in data, in order."""
    reader = _AmfReader(data)
    values = []
    while not reader.at_end():
        values.append(reader.value())
    return values


def amf0_encode(value) -> bytes:
    """One value as AMF0: None, UNDEFINED, bool, int/float, str, dict (object), list, datetime."""
    if value is None:
        return b"\x05"
    if value is UNDEFINED:
        return b"\x06"
    if isinstance(value, bool):
        return b"\x01" + (b"\x01" if value else b"\x00")
    if isinstance(value, int | float):
        return b"\x00" + struct.pack(">d", float(value))
    if isinstance(value, str):
        raw = value.encode("utf-8")
        if len(raw) > 0xFFFF:
            return b"\x0c" + struct.pack(">I", len(raw)) + raw
        return b"\x02" + struct.pack(">H", len(raw)) + raw
    if isinstance(value, dict):
        return b"\x03" + _amf0_properties(value) + b"\x00\x00\x09"
    if isinstance(value, list | tuple):
        return (
            b"\x0a"
            + struct.pack(">I", len(value))
            + b"".join(amf0_encode(v) for v in value)
        )
    if isinstance(value, datetime.datetime):
        return b"\x0b" + struct.pack(">dh", value.timestamp() * 1000, 0)
    raise TypeError(f"cannot encode {type(value).__name__} as AMF0")


def _amf0_properties(mapping: dict) -> bytes:
    parts = []
    for key, val in mapping.items():
        raw = str(key).encode("utf-8")
        parts.append(struct.pack(">H", len(raw)) + raw + amf0_encode(val))
    return b"".join(parts)


# -- chunk stream ----------------------------------------------------------------------


@dataclass
class Message:
    type_id: int
    stream_id: int
    timestamp: int
    body: bytes


@dataclass
class _ChunkStreamState:
    """What the previous chunk on one chunk stream id said, for headers that omit it."""

    timestamp: int = 0
    delta: int = 0
    length: int = 0
    type_id: int = 0
    stream_id: int = 0
    extended: bool = False
    buffer: bytearray = field(default_factory=bytearray)
    started: bool = False  # a fmt 0 header has been seen


class _SocketReader:
    """Exact reads from a socket with an idle timeout and an optional overall deadline."""

    def __init__(self, sock: socket.socket, idle_timeout: float):
        self.sock = sock
        self.idle_timeout = idle_timeout
        self.deadline: float | None = None
        self.buffer = bytearray()
        self.bytes_received = 0

    def read(self, n: int) -> bytes:
        while len(self.buffer) < n:
            self._fill()
        data = bytes(self.buffer[:n])
        del self.buffer[:n]
        return data

    def _fill(self) -> None:
        timeout = self.idle_timeout
        if self.deadline is not None:
            timeout = min(timeout, self.deadline - time.monotonic())
            if timeout <= 0:
                raise ProtocolError("client did not publish in time")
        self.sock.settimeout(timeout)
        try:
            data = self.sock.recv(65536)
        except TimeoutError as exc:
            if self.deadline is not None and time.monotonic() >= self.deadline:
                raise ProtocolError("client did not publish in time") from exc
            raise ProtocolError("client idle") from exc
        if not data:
            raise ConnectionError("client closed the connection")
        self.bytes_received += len(data)
        self.buffer += data


class ChunkReader:
    """Reassembles RTMP messages from chunks, resolving compressed headers."""

    def __init__(self, reader: _SocketReader, max_message_size: int):
        self.reader = reader
        self.max_message_size = max_message_size
        self.chunk_size = DEFAULT_CHUNK_SIZE
        self.streams: dict[int, _ChunkStreamState] = {}
        # Bytes of unfinished messages over all chunk streams: interleaving many half-sent
        # messages must not multiply the per-message limit.
        self.pending_bytes = 0

    def read_message(self) -> Message:
        while True:
            message = self._read_chunk()
            if message is not None:
                return message

    def abort(self, csid: int) -> None:
        state = self.streams.get(csid)
        if state is not None:
            self.pending_bytes -= len(state.buffer)
            state.buffer = bytearray()

    def _basic_header(self) -> tuple[int, int]:
        first = self.reader.read(1)[0]
        fmt, csid = first >> 6, first & 0x3F
        if csid == 0:
            csid = 64 + self.reader.read(1)[0]
        elif csid == 1:
            low, high = self.reader.read(2)
            csid = 64 + low + high * 256
        return fmt, csid

    def _state_for(self, csid: int) -> _ChunkStreamState:
        state = self.streams.get(csid)
        if state is None:
            if len(self.streams) >= MAX_CHUNK_STREAMS:
                raise ProtocolError("too many chunk streams")
            state = self.streams[csid] = _ChunkStreamState()
        return state

    def _read_chunk(self) -> Message | None:
        fmt, csid = self._basic_header()
        state = self._state_for(csid)
        if fmt != 0 and not state.started:
            raise ProtocolError("compressed chunk header before a full one")
        new_message = not state.buffer
        read = self.reader.read
        if fmt <= 2:
            stamp = int.from_bytes(read(3), "big")
            if fmt <= 1:
                state.length = int.from_bytes(read(3), "big")
                state.type_id = read(1)[0]
                if fmt == 0:
                    state.stream_id = int.from_bytes(read(4), "little")
            state.extended = stamp == 0xFFFFFF
            if state.extended:
                stamp = int.from_bytes(read(4), "big")
            if not new_message:
                raise ProtocolError("new chunk header in the middle of a message")
            # A later type 3 header repeats this field as its delta, even after type 0 (§5.3.1.2.4).
            state.delta = stamp
            if fmt == 0:
                state.timestamp, state.started = stamp, True
            else:
                state.timestamp = (state.timestamp + stamp) & 0xFFFFFFFF
        else:
            if state.extended:
                # Type 3 chunks repeat the extended field when the header they reuse had one.
                read(4)
            if new_message:
                state.timestamp = (state.timestamp + state.delta) & 0xFFFFFFFF
        if state.length > self.max_message_size:
            raise ProtocolError(f"message of {state.length} bytes exceeds the limit")
        wanted = min(self.chunk_size, state.length - len(state.buffer))
        if self.pending_bytes + wanted > self.max_message_size + MAX_PENDING_SLACK:
            raise ProtocolError("too many unfinished messages")
        state.buffer += read(wanted)
        self.pending_bytes += wanted
        if len(state.buffer) < state.length:
            return None
        self.pending_bytes -= len(state.buffer)
        body, state.buffer = bytes(state.buffer), bytearray()
        return Message(state.type_id, state.stream_id, state.timestamp, body)


class ChunkWriter:
    """Writes messages as chunks (full headers only: simple and always valid)."""

    def __init__(self, sock: socket.socket):
        self.sock = sock
        self.chunk_size = DEFAULT_CHUNK_SIZE
        self.lock = threading.Lock()

    def send(
        self, csid: int, type_id: int, stream_id: int, body: bytes, timestamp: int = 0
    ) -> None:
        stamp = min(timestamp, 0xFFFFFF)
        header = bytes([csid]) + stamp.to_bytes(3, "big") + len(body).to_bytes(3, "big")
        header += bytes([type_id]) + stream_id.to_bytes(4, "little")
        extended = timestamp.to_bytes(4, "big") if stamp == 0xFFFFFF else b""
        out = bytearray(header + extended)
        for offset in range(0, max(len(body), 1), self.chunk_size):
            if offset:
                out += bytes([0xC0 | csid]) + extended
            out += body[offset : offset + self.chunk_size]
        with self.lock:
            self.sock.sendall(out)


# -- one connection --------------------------------------------------------------------


class RtmpConnection:
    """One client: handshake, then messages until it leaves, errs or the server stops."""

    CONTROL_CSID, COMMAND_CSID, STATUS_CSID = 2, 3, 5

    def __init__(self, sock: socket.socket, remote_addr: str, server: RtmpServer):
        self.sock = sock
        self.remote_addr = remote_addr
        self.start_publish = server.start_publish
        self.reader = _SocketReader(sock, server.idle_timeout)
        self.reader.deadline = time.monotonic() + server.setup_timeout
        self.chunks = ChunkReader(self.reader, server.max_message_size)
        self.writer = ChunkWriter(sock)
        self.connect_info: dict | None = None
        self.publication: Publication | None = None
        self.ack_window = 0
        self.acked_bytes = 0

    def run(self) -> None:
        try:
            self._handshake()
            while True:
                self._dispatch(self.chunks.read_message())
                self._acknowledge()
        except PublishRefused as refused:
            self._refuse(refused)
        except (ProtocolError, ConnectionError, OSError) as exc:
            logger.info("rtmp connection from %s ended: %s", self.remote_addr, exc)
        except Exception:
            logger.exception("rtmp connection from %s failed", self.remote_addr)
        finally:
            self._close_publication_quietly()
            _close_quietly(self.sock)

    def _close_publication_quietly(self) -> None:
        try:
            self._end_publication(notify=False)
        except Exception:
            logger.exception("closing the publication from %s failed", self.remote_addr)

    # handshake (simple: version 3, S2 echoes C1)

    def _handshake(self) -> None:
        version = self.reader.read(1)[0]
        if version != RTMP_VERSION:
            raise ProtocolError(f"unsupported RTMP version {version}")
        c1 = self.reader.read(HANDSHAKE_SIZE)
        s1 = struct.pack(">II", int(time.time()) & 0xFFFFFFFF, 0) + os.urandom(
            HANDSHAKE_SIZE - 8
        )
        self.sock.sendall(bytes([RTMP_VERSION]) + s1 + c1)
        self.reader.read(HANDSHAKE_SIZE)  # C2: an echo of S1 we need not check

    # messages

    def _dispatch(self, message: Message) -> None:
        kind = message.type_id
        if kind == SET_CHUNK_SIZE:
            self._set_chunk_size(message.body)
        elif kind == ABORT:
            self.chunks.abort(_uint32(message.body))
        elif kind == WINDOW_ACK_SIZE:
            self.ack_window = _uint32(message.body)
        elif kind == USER_CONTROL:
            self._user_control(message.body)
        elif kind in (COMMAND_AMF0, COMMAND_AMF3):
            self._command(message.body[1:] if kind == COMMAND_AMF3 else message.body)
        elif kind in (DATA_AMF0, DATA_AMF3):
            self._data(message.body[1:] if kind == DATA_AMF3 else message.body)
        elif kind in (AUDIO, VIDEO):
            self._media(kind, message.timestamp, message.body)
        elif kind == AGGREGATE:
            for sub in _split_aggregate(message):
                self._media(sub.type_id, sub.timestamp, sub.body)
        # ACKNOWLEDGEMENT, SET_PEER_BANDWIDTH and other types need no answer from an ingest.

    def _set_chunk_size(self, body: bytes) -> None:
        size = _uint32(body) & 0x7FFFFFFF
        if not 1 <= size <= MAX_CHUNK_SIZE:
            raise ProtocolError(f"invalid chunk size {size}")
        self.chunks.chunk_size = size

    def _user_control(self, body: bytes) -> None:
        if len(body) >= 6 and struct.unpack(">H", body[:2])[0] == PING_REQUEST:
            self._send_control(
                USER_CONTROL, struct.pack(">H", PING_RESPONSE) + body[2:6]
            )

    def _acknowledge(self) -> None:
        received = self.reader.bytes_received
        if self.ack_window and received - self.acked_bytes >= self.ack_window:
            self.acked_bytes = received
            self._send_control(
                ACKNOWLEDGEMENT, struct.pack(">I", received & 0xFFFFFFFF)
            )

    def _media(self, kind: int, timestamp: int, body: bytes) -> None:
        if self.publication is None:
            return  # media before publish (or after unpublish) has no destination
        if kind == VIDEO:
            self.publication.on_video(timestamp, body)
        elif kind == AUDIO:
            self.publication.on_audio(timestamp, body)

    def _data(self, body: bytes) -> None:
        values = amf0_decode_all(body)
        if values and values[0] == "@setDataFrame":
            values = values[1:]
        if (
            len(values) >= 2
            and values[0] == "onMetaData"
            and self.publication is not None
        ):
            metadata = values[1] if isinstance(values[1], dict) else {}
            self.publication.on_metadata(metadata)

    # commands

    def _command(self, body: bytes) -> None:
        values = amf0_decode_all(body)
        if (
            len(values) < 2
            or not isinstance(values[0], str)
            or not isinstance(values[1], float)
        ):
            raise ProtocolError("malformed command message")
        name, txid, args = values[0], values[1], values[2:]
        handler = {
            "connect": self._on_connect,
            "releaseStream": self._on_plain_result,
            "FCPublish": self._on_plain_result,
            "createStream": self._on_create_stream,
            "publish": self._on_publish,
            "FCUnpublish": self._on_unpublish,
            "deleteStream": self._on_unpublish,
            "closeStream": self._on_unpublish,
        }.get(name)
        if handler is not None:
            handler(txid, args)
        elif txid:  # play, getStreamLength, ...: this server only ingests
            self._send_command(
                "_error",
                txid,
                None,
                _status(
                    "error", "NetConnection.Call.Failed", f"{name} is not supported"
                ),
            )

    def _on_connect(self, txid: float, args: list) -> None:
        if self.connect_info is not None:
            raise ProtocolError("connect sent twice")
        info = args[0] if args and isinstance(args[0], dict) else {}
        self.connect_info = info
        self._send_control(WINDOW_ACK_SIZE, struct.pack(">I", SERVER_WINDOW_ACK_SIZE))
        self._send_control(
            SET_PEER_BANDWIDTH, struct.pack(">IB", SERVER_WINDOW_ACK_SIZE, 2)
        )
        self._send_control(SET_CHUNK_SIZE, struct.pack(">I", SERVER_CHUNK_SIZE))
        self.writer.chunk_size = SERVER_CHUNK_SIZE
        properties = {"fmsVer": "FMS/3,0,1,123", "capabilities": 31.0}
        status = _status(
            "status", "NetConnection.Connect.Success", "Connection succeeded."
        )
        status["objectEncoding"] = float(info.get("objectEncoding") or 0)
        self._send_command("_result", txid, properties, status)

    def _on_plain_result(self, txid: float, args: list) -> None:
        if txid:
            self._send_command("_result", txid, None, UNDEFINED)

    def _on_create_stream(self, txid: float, args: list) -> None:
        self._require_connected()
        self._send_command("_result", txid, None, float(PUBLISH_STREAM_ID))

    def _on_publish(self, txid: float, args: list) -> None:
        self._require_connected()
        if self.publication is not None:
            raise PublishRefused(
                "This stream is already being published.", "NetStream.Publish.BadName"
            )
        if len(args) < 2 or not isinstance(args[1], str) or not args[1]:
            raise PublishRefused("No stream name given.", "NetStream.Publish.BadName")
        request = self._publish_request(args[1])
        try:
            self.publication = self.start_publish(request)
        except PublishRefused:
            raise
        except Exception as exc:
            logger.exception("start_publish failed for stream %r", request.stream)
            raise PublishRefused(
                "The stream could not be published.", "NetStream.Publish.Failed"
            ) from exc
        self.reader.deadline = (
            None  # publishing: from now on only the idle timeout applies
        )
        self._send_control(
            USER_CONTROL, struct.pack(">HI", STREAM_BEGIN, PUBLISH_STREAM_ID)
        )
        self._send_status(
            "status", "NetStream.Publish.Start", f"{request.stream} is now published."
        )

    def _on_unpublish(self, txid: float, args: list) -> None:
        self._end_publication(notify=True)

    def _publish_request(self, publish_name: str) -> PublishRequest:
        stream, _, query = publish_name.partition("?")
        info = self.connect_info or {}
        return PublishRequest(
            tc_url=_text(info.get("tcUrl")),
            app=_text(info.get("app")),
            stream=stream,
            query=parse_query(query),
            remote_addr=self.remote_addr,
        )

    def _require_connected(self) -> None:
        if self.connect_info is None:
            raise ProtocolError("command before connect")

    def _end_publication(self, *, notify: bool) -> None:
        publication, self.publication = self.publication, None
        if publication is None:
            return
        try:
            publication.close()
        finally:
            if notify:
                self._send_status(
                    "status",
                    "NetStream.Unpublish.Success",
                    "Stream is now unpublished.",
                )

    def _refuse(self, refused: PublishRefused) -> None:
        """Answer the error, then close gently: closing with unread input would send a
        reset that can destroy the answer before the client reads it."""
        try:
            self._send_status("error", refused.code, refused.description)
            self.sock.shutdown(socket.SHUT_WR)
            _drain(self.sock, seconds=1.0)
        except OSError:
            pass

    # sending

    def _send_control(self, type_id: int, body: bytes) -> None:
        self.writer.send(self.CONTROL_CSID, type_id, 0, body)

    def _send_command(self, name: str, txid: float, *values) -> None:
        body = b"".join(amf0_encode(v) for v in (name, txid, *values))
        self.writer.send(self.COMMAND_CSID, COMMAND_AMF0, 0, body)

    def _send_status(self, level: str, code: str, description: str) -> None:
        body = b"".join(
            amf0_encode(v)
            for v in ("onStatus", 0.0, None, _status(level, code, description))
        )
        self.writer.send(self.STATUS_CSID, COMMAND_AMF0, PUBLISH_STREAM_ID, body)


def _status(level: str, code: str, description: str) -> dict:
    return {"level": level, "code": code, "description": description}


def _text(value) -> str:
    return value if isinstance(value, str) else ""


def _uint32(body: bytes) -> int:
    if len(body) < 4:
        raise ProtocolError("control message too short")
    return struct.unpack(">I", body[:4])[0]


def parse_query(query: str) -> dict[str, str]:
    """The publish name's query, percent-decoded; '+' stays '+' (signatures are base64)."""
    result = {}
    for pair in query.split("&"):
        if pair:
            key, _, value = pair.partition("=")
            result[unquote(key)] = unquote(value)
    return result


def _split_aggregate(message: Message) -> list[Message]:
    """Sub-messages of an aggregate message (FLV tags), timestamps rebased on the message's."""
    body, pos, subs, base = message.body, 0, [], None
    while pos + 11 <= len(body):
        kind = body[pos]
        size = int.from_bytes(body[pos + 1 : pos + 4], "big")
        stamp = int.from_bytes(body[pos + 4 : pos + 7], "big") | (body[pos + 7] << 24)
        end = pos + 11 + size
        if end + 4 > len(body):
            raise ProtocolError("truncated aggregate message")
        base = stamp if base is None else base
        timestamp = (message.timestamp + stamp - base) & 0xFFFFFFFF
        subs.append(Message(kind, message.stream_id, timestamp, body[pos + 11 : end]))
        pos = end + 4  # back pointer
    return subs


def _drain(sock: socket.socket, seconds: float) -> None:
    """Read and discard until the peer closes or the time is up."""
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        sock.settimeout(left)
        if not sock.recv(65536):
            return


def _close_quietly(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    sock.close()


# -- server ----------------------------------------------------------------------------


class _ThreadingServer(socketserver.ThreadingTCPServer):
    allow_reuse_address = True
    daemon_threads = True

    def __init__(self, address, rtmp: RtmpServer):
        self.rtmp = rtmp
        super().__init__(address, _Handler)

    def verify_request(self, request, client_address) -> bool:
        return self.rtmp._admit(request)


class _Handler(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        rtmp: RtmpServer = self.server.rtmp
        try:
            RtmpConnection(self.request, self.client_address[0], rtmp).run()
        finally:
            rtmp._leave(self.request)


class RtmpServer:
    """Accepts RTMP publishers; start_publish decides, per publish, where the stream goes."""

    def __init__(
        self,
        host: str,
        port: int,
        start_publish: StartPublish,
        *,
        idle_timeout: float = 30.0,
        setup_timeout: float = 30.0,
        max_message_size: int = 8 * 1024 * 1024,
        max_connections: int = 64,
    ):
        self.start_publish = start_publish
        self.idle_timeout = idle_timeout
        self.setup_timeout = setup_timeout
        self.max_message_size = max_message_size
        self.max_connections = max_connections
        self._lock = threading.Lock()
        self._sockets: set[socket.socket] = set()
        self._idle = threading.Condition(self._lock)
        self._running = self._stopped = False
        self._server = _ThreadingServer((host, port), self)
        self.port: int = self._server.server_address[1]

    def serve_forever(self) -> None:
        with self._lock:
            if self._stopped:
                return
            self._running = True
        self._server.serve_forever(poll_interval=0.1)

    def shutdown(self) -> None:
        """Stop accepting, end every connection (each publication's close() runs), then return."""
        with self._lock:
            self._stopped = True
            running = self._running
        if running:
            self._server.shutdown()
        self._server.server_close()
        with self._lock:
            for sock in self._sockets:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
            self._idle.wait_for(lambda: not self._sockets, timeout=30)

    def _admit(self, sock: socket.socket) -> bool:
        with self._lock:
            if self._stopped or len(self._sockets) >= self.max_connections:
                return False
            self._sockets.add(sock)
            return True

    def _leave(self, sock: socket.socket) -> None:
        with self._lock:
            self._sockets.discard(sock)
            self._idle.notify_all()
