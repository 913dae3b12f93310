"""A pure-Python RTMP publisher for tests (no ffmpeg here), with synthetic H.264 and AAC.

It shares no code with buckets/live/rtmp.py on purpose: its own AMF0, chunk writer and
reader, so a misreading of the spec in one is not mirrored in the other. The media is
synthetic but well-formed at the container level: a real SPS for the chosen size, PPS,
IDR and non-IDR NAL units in AVCC, an AAC AudioSpecificConfig and raw frames.
"""

from __future__ import annotations

import contextlib
import os
import socket
import struct
import threading
import time
from dataclasses import dataclass, field

HANDSHAKE_SIZE = 1536
VIDEO_CSID, AUDIO_CSID, COMMAND_CSID, STREAM_COMMAND_CSID = 6, 4, 3, 8
SAMPLE_RATES = [
    96000,
    88200,
    64000,
    48000,
    44100,
    32000,
    24000,
    22050,
    16000,
    12000,
    11025,
    8000,
    7350,
]


# -- AMF0 ------------------------------------------------------------------------------


def amf_encode(value) -> bytes:
    if value is None:
        return b"\x05"
    if isinstance(value, bool):
        return bytes([1, int(value)])
    if isinstance(value, int | float):
        return b"\x00" + struct.pack(">d", value)
    if isinstance(value, str):
        raw = value.encode()
        return b"\x02" + struct.pack(">H", len(raw)) + raw
    if isinstance(value, EcmaArray):
        return (
            b"\x08"
            + struct.pack(">I", len(value))
            + _amf_props(value)
            + b"\x00\x00\x09"
        )
    if isinstance(value, dict):
        return b"\x03" + _amf_props(value) + b"\x00\x00\x09"
    raise TypeError(type(value))


class EcmaArray(dict):
    """Encoded as an AMF0 ECMA array (as onMetaData usually is)."""


def _amf_props(mapping: dict) -> bytes:
    out = b""
    for key, val in mapping.items():
        out += struct.pack(">H", len(key.encode())) + key.encode() + amf_encode(val)
    return out


def amf_decode_all(data: bytes) -> list:
    values, pos = [], 0
    while pos < len(data):
        value, pos = _amf_value(data, pos)
        values.append(value)
    return values


def _amf_value(data: bytes, pos: int):
    marker, pos = data[pos], pos + 1
    if marker == 0:
        return struct.unpack_from(">d", data, pos)[0], pos + 8
    if marker == 1:
        return data[pos] != 0, pos + 1
    if marker == 2:
        length = struct.unpack_from(">H", data, pos)[0]
        return data[pos + 2 : pos + 2 + length].decode(), pos + 2 + length
    if marker in (3, 8):
        pos += 4 if marker == 8 else 0
        obj = {}
        while data[pos : pos + 3] != b"\x00\x00\x09":
            length = struct.unpack_from(">H", data, pos)[0]
            key = data[pos + 2 : pos + 2 + length].decode()
            obj[key], pos = _amf_value(data, pos + 2 + length)
        return obj, pos + 3
    if marker in (5, 6):
        return None, pos
    raise ValueError(f"publisher cannot decode AMF0 marker {marker}")


# -- H.264 and AAC (synthetic) ---------------------------------------------------------


class BitWriter:
    def __init__(self):
        self.bits: list[int] = []

    def u(self, count: int, value: int) -> None:
        self.bits += [(value >> (count - 1 - i)) & 1 for i in range(count)]

    def ue(self, value: int) -> None:
        code = value + 1
        self.u(2 * code.bit_length() - 1, code)

    def rbsp(self) -> bytes:
        bits = [*self.bits, 1]  # rbsp_stop_one_bit, then byte alignment
        bits += [0] * (-len(bits) % 8)
        return bytes(
            int("".join(map(str, bits[i : i + 8])), 2) for i in range(0, len(bits), 8)
        )


def emulation_prevention(rbsp: bytes) -> bytes:
    out, zeros = bytearray(), 0
    for byte in rbsp:
        if zeros >= 2 and byte <= 3:
            out.append(3)
            zeros = 0
        out.append(byte)
        zeros = zeros + 1 if byte == 0 else 0
    return bytes(out)


def make_sps(width: int, height: int, profile: int = 66, level: int = 30) -> bytes:
    """A real SPS NAL unit (4:2:0, progressive) describing width x height (both even)."""
    mbs_w, mbs_h = -(-width // 16), -(-height // 16)
    bits = BitWriter()
    bits.u(8, profile)
    bits.u(8, 0)  # constraint flags
    bits.u(8, level)
    bits.ue(0)  # seq_parameter_set_id
    if profile in (100, 110, 122, 244, 44, 83, 86, 118, 128):
        bits.ue(1)  # chroma_format_idc 4:2:0
        bits.ue(0)  # bit_depth_luma_minus8
        bits.ue(0)  # bit_depth_chroma_minus8
        bits.u(1, 0)  # qpprime_y_zero_transform_bypass
        bits.u(1, 0)  # seq_scaling_matrix_present
    bits.ue(0)  # log2_max_frame_num_minus4
    bits.ue(2)  # pic_order_cnt_type
    bits.ue(1)  # max_num_ref_frames
    bits.u(1, 0)  # gaps_in_frame_num_allowed
    bits.ue(mbs_w - 1)
    bits.ue(mbs_h - 1)
    bits.u(1, 1)  # frame_mbs_only
    bits.u(1, 1)  # direct_8x8_inference
    crop_right, crop_bottom = (mbs_w * 16 - width) // 2, (mbs_h * 16 - height) // 2
    bits.u(1, int(bool(crop_right or crop_bottom)))
    if crop_right or crop_bottom:
        for value in (0, crop_right, 0, crop_bottom):
            bits.ue(value)
    bits.u(1, 0)  # vui_parameters_present
    return b"\x67" + emulation_prevention(bits.rbsp())


PPS = b"\x68\xce\x38\x80"


def avc_decoder_config(sps: bytes, pps: bytes = PPS) -> bytes:
    return (
        bytes([1, sps[1], sps[2], sps[3], 0xFF, 0xE1])
        + struct.pack(">H", len(sps))
        + sps
        + b"\x01"
        + struct.pack(">H", len(pps))
        + pps
    )


def avc_sequence_header(width: int, height: int, profile: int = 66) -> bytes:
    """FLV VIDEODATA: keyframe, AVC, AVCPacketType 0, the decoder configuration record."""
    return b"\x17\x00\x00\x00\x00" + avc_decoder_config(
        make_sps(width, height, profile)
    )


def slice_nal(index: int, keyframe: bool) -> bytes:
    size = 1500 if keyframe else 200 + (index % 5) * 20
    payload = bytes((index * 7 + i) % 250 + 1 for i in range(size))  # no zero bytes
    return (b"\x65\x88\x84" if keyframe else b"\x41\x9a\x02") + payload


def avc_frame(nals: list[bytes], keyframe: bool, cts: int = 0) -> bytes:
    """FLV VIDEODATA: AVCPacketType 1 (NALU) with 4-byte lengths, composition time cts (ms)."""
    header = bytes([0x17 if keyframe else 0x27, 1]) + (cts & 0xFFFFFF).to_bytes(
        3, "big"
    )
    return header + b"".join(struct.pack(">I", len(n)) + n for n in nals)


def audio_specific_config(sample_rate: int = 44100, channels: int = 2) -> bytes:
    value = (
        (2 << 11) | (SAMPLE_RATES.index(sample_rate) << 7) | (channels << 3)
    )  # AAC LC
    return value.to_bytes(2, "big")


def aac_sequence_header(sample_rate: int = 44100, channels: int = 2) -> bytes:
    return b"\xaf\x00" + audio_specific_config(sample_rate, channels)


def aac_frame(index: int) -> bytes:
    raw = bytes([0x21, 0x10]) + bytes(
        (index + i) % 250 + 1 for i in range(180 + index % 7)
    )
    return b"\xaf\x01" + raw


@dataclass(frozen=True)
class Tag:
    kind: str  # "video" or "audio"
    timestamp: int  # ms
    body: bytes


def synthetic_stream(
    *,
    seconds: float = 6.0,
    fps: int = 25,
    width: int = 320,
    height: int = 240,
    keyframe_every: float = 1.0,
    audio: bool = True,
    video: bool = True,
    sample_rate: int = 44100,
    start_timestamp: int = 0,
    profile: int = 66,
    bframes: bool = False,
    inline_sps: bool = False,
) -> list[Tag]:
    """Sequence headers, then video and audio frames interleaved by timestamp."""
    tags = []
    if video:
        sps = make_sps(width, height, profile)
        tags.append(
            Tag("video", start_timestamp, avc_sequence_header(width, height, profile))
        )
    if audio:
        tags.append(Tag("audio", start_timestamp, aac_sequence_header(sample_rate)))
    frames = []
    gop = max(1, round(keyframe_every * fps))
    for i in range(round(seconds * fps)) if video else ():
        keyframe = i % gop == 0
        nals = (
            [sps, PPS, slice_nal(i, True)]
            if keyframe and inline_sps
            else [slice_nal(i, keyframe)]
        )
        cts = 80 if bframes and not keyframe and i % 2 else 0
        frames.append(
            Tag(
                "video",
                start_timestamp + round(i * 1000 / fps),
                avc_frame(nals, keyframe, cts),
            )
        )
    for i in range(int(seconds * sample_rate / 1024)) if audio else ():
        frames.append(
            Tag(
                "audio",
                start_timestamp + round(i * 1024 * 1000 / sample_rate),
                aac_frame(i),
            )
        )
    frames.sort(key=lambda tag: (tag.timestamp, tag.kind != "video"))
    return tags + frames


def metadata_for(
    width: int, height: int, fps: int, audio: bool, sample_rate: int
) -> dict:
    meta = EcmaArray(
        width=float(width), height=float(height), framerate=float(fps), videocodecid=7.0
    )
    if audio:
        meta.update(audiocodecid=10.0, audiosamplerate=float(sample_rate), stereo=True)
    meta["encoder"] = "tests.live_publisher"
    return meta


# -- RTMP client -----------------------------------------------------------------------


@dataclass
class _SentHeader:
    timestamp: int = 0
    last_field: int = 0
    length: int = -1
    type_id: int = -1
    stream_id: int = -1


@dataclass
class _ReadState:
    timestamp: int = 0
    last_field: int = 0
    length: int = 0
    type_id: int = 0
    stream_id: int = 0
    extended: bool = False
    buffer: bytearray = field(default_factory=bytearray)


class RtmpClient:
    """Handshake, chunked send with compressed headers, and reading the server's messages."""

    def __init__(self, host: str, port: int, *, timeout: float = 10.0):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.out_chunk_size = 128
        self.in_chunk_size = 128
        self.sent: dict[int, _SentHeader] = {}
        self.read_states: dict[int, _ReadState] = {}
        self.compress = True
        self.txid = 0

    def handshake(self, version: int = 3) -> None:
        c1 = struct.pack(">II", 0, 0) + os.urandom(HANDSHAKE_SIZE - 8)
        self.sock.sendall(bytes([version]) + c1)
        s0s1s2 = self.recv_exact(1 + 2 * HANDSHAKE_SIZE)
        assert s0s1s2[0] == 3, "server answered another RTMP version"
        assert s0s1s2[1 + HANDSHAKE_SIZE :] == c1, "S2 does not echo C1"
        self.sock.sendall(s0s1s2[1 : 1 + HANDSHAKE_SIZE])

    def recv_exact(self, n: int) -> bytes:
        data = b""
        while len(data) < n:
            chunk = self.sock.recv(n - len(data))
            if not chunk:
                raise ConnectionError("server closed the connection")
            data += chunk
        return data

    def close(self) -> None:
        self.sock.close()

    # sending

    def set_chunk_size(self, size: int) -> None:
        self.send(2, 1, 0, 0, struct.pack(">I", size))
        self.out_chunk_size = size

    def send(
        self, csid: int, type_id: int, stream_id: int, timestamp: int, body: bytes
    ) -> None:
        prev = self.sent.get(csid)
        delta = timestamp - prev.timestamp if prev else 0
        if (
            not self.compress
            or prev is None
            or prev.stream_id != stream_id
            or delta < 0
        ):
            fmt, value = 0, timestamp
        elif prev.length != len(body) or prev.type_id != type_id:
            fmt, value = 1, delta
        elif prev.last_field != delta:
            fmt, value = 2, delta
        else:
            fmt, value = 3, delta
        extended = value >= 0xFFFFFF
        header = self._basic_header(fmt, csid)
        if fmt <= 2:
            header += min(value, 0xFFFFFF).to_bytes(3, "big")
            if fmt <= 1:
                header += len(body).to_bytes(3, "big") + bytes([type_id])
            if fmt == 0:
                header += stream_id.to_bytes(4, "little")
        ext = value.to_bytes(4, "big") if extended else b""
        out = bytearray(header + ext)
        for offset in range(0, max(len(body), 1), self.out_chunk_size):
            if offset:
                out += self._basic_header(3, csid) + ext
            out += body[offset : offset + self.out_chunk_size]
        self.sock.sendall(out)
        self.sent[csid] = _SentHeader(timestamp, value, len(body), type_id, stream_id)

    @staticmethod
    def _basic_header(fmt: int, csid: int) -> bytes:
        if csid < 64:
            return bytes([fmt << 6 | csid])
        if csid < 320:
            return bytes([fmt << 6, csid - 64])
        return bytes([fmt << 6 | 1]) + (csid - 64).to_bytes(2, "little")

    def command(
        self, name: str, *args, stream_id: int = 0, txid: float | None = None
    ) -> float:
        if txid is None:
            self.txid += 1
            txid = self.txid
        body = b"".join(amf_encode(v) for v in (name, txid, *args))
        self.send(
            STREAM_COMMAND_CSID if stream_id else COMMAND_CSID, 20, stream_id, 0, body
        )
        return txid

    # reading

    def read_message(self) -> tuple[int, int, int, bytes]:
        """(type_id, stream_id, timestamp, body) of the server's next message."""
        while True:
            first = self.recv_exact(1)[0]
            fmt, csid = first >> 6, first & 0x3F
            if csid == 0:
                csid = 64 + self.recv_exact(1)[0]
            elif csid == 1:
                csid = 64 + int.from_bytes(self.recv_exact(2), "little")
            st = self.read_states.setdefault(csid, _ReadState())
            new = not st.buffer
            if fmt <= 2:
                value = int.from_bytes(self.recv_exact(3), "big")
                if fmt <= 1:
                    st.length = int.from_bytes(self.recv_exact(3), "big")
                    st.type_id = self.recv_exact(1)[0]
                if fmt == 0:
                    st.stream_id = int.from_bytes(self.recv_exact(4), "little")
                st.extended = value == 0xFFFFFF
                if st.extended:
                    value = int.from_bytes(self.recv_exact(4), "big")
                st.last_field = value
                st.timestamp = value if fmt == 0 else st.timestamp + value
            else:
                if st.extended:
                    self.recv_exact(4)
                if new:
                    st.timestamp += st.last_field
            st.buffer += self.recv_exact(
                min(self.in_chunk_size, st.length - len(st.buffer))
            )
            if len(st.buffer) == st.length:
                body, st.buffer = bytes(st.buffer), bytearray()
                if st.type_id == 1:
                    self.in_chunk_size = struct.unpack(">I", body)[0]
                return st.type_id, st.stream_id, st.timestamp, body

    def read_command(self, wanted: set[str]) -> list:
        """The next command message whose name is in wanted (others are skipped)."""
        while True:
            type_id, _, _, body = self.read_message()
            if type_id == 20:
                values = amf_decode_all(body)
                if values[0] in wanted:
                    return values


@dataclass(frozen=True)
class PublishOutcome:
    status_code: str  # the onStatus code the server answered to publish
    description: str
    level: str = "status"
    unpublish_code: str | None = (
        None  # the onStatus answered to FCUnpublish/deleteStream
    )
    tags_sent: int = 0
    server_closed: bool = False  # the server closed the connection after its answer


def publish(
    host: str,
    port: int,
    tc_url: str,
    stream_name_with_query: str,
    *,
    seconds: float = 6.0,
    fps: int = 25,
    width: int = 320,
    height: int = 240,
    keyframe_every: float = 1.0,
    audio: bool = True,
    video: bool = True,
    sample_rate: int = 44100,
    chunk_size: int | None = None,
    start_timestamp: int = 0,
    compress_headers: bool = True,
    realtime: bool = False,
    bframes: bool = False,
    inline_sps: bool = False,
    tags: list[Tag] | None = None,
) -> PublishOutcome:
    """Publish a synthetic stream like OBS/ffmpeg do, then unpublish and close."""
    client = RtmpClient(host, port)
    try:
        status = open_publish(client, tc_url, stream_name_with_query, chunk_size)
        if status.get("code") != "NetStream.Publish.Start":
            return PublishOutcome(
                status.get("code", ""),
                status.get("description", ""),
                status.get("level", ""),
                server_closed=_server_closed(client),
            )
        client.compress = compress_headers
        client.send(
            STREAM_COMMAND_CSID,
            18,
            1,
            0,
            b"".join(
                amf_encode(v)
                for v in (
                    "@setDataFrame",
                    "onMetaData",
                    metadata_for(width, height, fps, audio, sample_rate),
                )
            ),
        )
        if tags is None:
            tags = synthetic_stream(
                seconds=seconds,
                fps=fps,
                width=width,
                height=height,
                keyframe_every=keyframe_every,
                audio=audio,
                video=video,
                sample_rate=sample_rate,
                start_timestamp=start_timestamp,
                bframes=bframes,
                inline_sps=inline_sps,
            )
        send_tags(client, tags, realtime=realtime)
        unpublish = close_publish(client, stream_name_with_query)
        return PublishOutcome(
            status["code"],
            status.get("description", ""),
            status.get("level", ""),
            unpublish,
            len(tags),
        )
    finally:
        client.close()


def open_publish(
    client: RtmpClient, tc_url: str, name: str, chunk_size: int | None = None
) -> dict:
    """Handshake, connect, releaseStream, FCPublish, createStream, publish: the onStatus info."""
    client.handshake()
    if chunk_size:
        client.set_chunk_size(chunk_size)
    app = (
        tc_url.split("://", 1)[-1].split("/", 1)[1]
        if "/" in tc_url.split("://", 1)[-1]
        else ""
    )
    txid = client.command(
        "connect",
        {
            "app": app,
            "type": "nonprivate",
            "flashVer": "FMLE/3.0 (compatible; FMSc/1.0)",
            "tcUrl": tc_url,
        },
    )
    while (answer := client.read_command({"_result", "_error"}))[1] != txid:
        pass
    client.command("releaseStream", None, name)
    client.command("FCPublish", None, name)
    txid = client.command("createStream", None)
    while (answer := client.read_command({"_result", "_error"}))[1] != txid:
        pass
    stream_id = int(answer[3])
    client.command("publish", None, name, "live", stream_id=stream_id)
    return client.read_command({"onStatus"})[3]


def send_tags(client: RtmpClient, tags: list[Tag], *, realtime: bool = False) -> None:
    started = time.monotonic()
    first = tags[0].timestamp if tags else 0
    for tag in tags:
        if realtime:
            time.sleep(
                max(0.0, (tag.timestamp - first) / 1000 - (time.monotonic() - started))
            )
        if tag.kind == "video":
            client.send(VIDEO_CSID, 9, 1, tag.timestamp, tag.body)
        else:
            client.send(AUDIO_CSID, 8, 1, tag.timestamp, tag.body)


def close_publish(client: RtmpClient, name: str) -> str | None:
    """FCUnpublish and deleteStream; the onStatus code the server answered (or None)."""
    client.command("FCUnpublish", None, name)
    client.command("deleteStream", None, 1.0)
    try:
        return client.read_command({"onStatus"})[3].get("code")
    except (ConnectionError, OSError):
        return None


def _server_closed(client: RtmpClient) -> bool:
    try:
        while client.sock.recv(65536):
            pass
    except OSError:
        return False
    return True


# -- a server in a thread, recording what it receives -----------------------------------


class Recording:
    """A Publication that records every callback, in order, for one publish."""

    def __init__(self, request, *, fail_on_video: bool = False):
        self.request = request
        self.events: list[tuple] = []
        self.close_count = 0
        self.closed = threading.Event()
        self.fail_on_video = fail_on_video

    def on_metadata(self, metadata: dict) -> None:
        self.events.append(("metadata", metadata))

    def on_video(self, timestamp_ms: int, body: bytes) -> None:
        if self.fail_on_video:
            raise RuntimeError("the glue failed")
        self.events.append(("video", timestamp_ms, body))

    def on_audio(self, timestamp_ms: int, body: bytes) -> None:
        self.events.append(("audio", timestamp_ms, body))

    def close(self) -> None:
        self.close_count += 1
        self.closed.set()


class Recorder:
    """start_publish for tests: records requests, refuses or fails when told to."""

    def __init__(self):
        self.requests = []
        self.publications: list[Recording] = []
        self.refusal: Exception | None = None
        self.fail_on_video = False
        self.started = threading.Event()

    def __call__(self, request):
        self.requests.append(request)
        if self.refusal is not None:
            raise self.refusal
        publication = Recording(request, fail_on_video=self.fail_on_video)
        self.publications.append(publication)
        self.started.set()
        return publication


@contextlib.contextmanager
def running_server(start_publish, **options):
    """An RtmpServer on 127.0.0.1:0 serving in a thread; shut down on exit."""
    from buckets.live.rtmp import RtmpServer

    server = RtmpServer("127.0.0.1", 0, start_publish, **options)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        thread.join(timeout=10)
