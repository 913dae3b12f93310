"""FLV (H.264/AVC + AAC) to MPEG-TS segments for HLS, pure Python.

Frames are buffered per segment and muxed when the segment is cut, so its PMT lists
exactly the streams it carries. A segment is cut at a video keyframe once at least
frag_duration seconds have passed (audio-only streams: on time). Segments are bounded
in size and duration, so an encoder that never sends a keyframe cannot grow memory.
"""

from __future__ import annotations

import struct
from collections import deque
from dataclasses import dataclass

TS_PACKET_SIZE = 188
PAT_PID, PMT_PID, VIDEO_PID, AUDIO_PID = 0x0000, 0x1000, 0x0100, 0x0101
STREAM_TYPE_H264, STREAM_TYPE_AAC = 0x1B, 0x0F
VIDEO_STREAM_ID, AUDIO_STREAM_ID = 0xE0, 0xC0
CLOCK_HZ = 90  # MPEG-TS 90 kHz clock, per millisecond
# PTS/DTS run this far ahead of the PCR, so every frame is fully delivered before it is
# due (the T-STD buffer model); nginx-rtmp uses the same 700 ms.
DECODE_DELAY_TICKS = 700 * CLOCK_HZ
PTS_MASK = (1 << 33) - 1
FLV_CODEC_AVC, FLV_SOUND_AAC = 7, 10
NAL_IDR, NAL_SPS, NAL_PPS, NAL_AUD = 5, 7, 8, 9
AUD_NAL = b"\x00\x00\x00\x01\x09\xf0"  # access unit delimiter: any slice type
START_CODE = b"\x00\x00\x00\x01"
AAC_SAMPLE_RATES = (
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
)
MAX_SEGMENT_BYTES = 64 * 1024 * 1024
MAX_SEGMENT_SECONDS = 60
RATE_WINDOW_MS = (
    5000  # bandwidth and frame rate are measured over the last 5 s of stream time
)


class UnsupportedStream(ValueError):
    """The stream carries a codec HLS here cannot hold (only H.264 video and AAC audio)."""


@dataclass(frozen=True)
class Segment:
    data: bytes  # a complete MPEG-TS file (PAT/PMT at its start, 188-byte packets)
    start_ms: int  # timestamp of its first frame
    duration: float  # seconds (EXTINF)


@dataclass
class StreamInfo:
    """What GetLiveChannelStat reports; None where not known yet."""

    video_codec: str | None = None
    width: int | None = None
    height: int | None = None
    frame_rate: int | None = None
    video_bandwidth: int | None = None
    audio_codec: str | None = None
    sample_rate: int | None = None
    audio_bandwidth: int | None = None


# -- H.264 -----------------------------------------------------------------------------


@dataclass(frozen=True)
class AvcConfig:
    nal_length_size: int
    sps: tuple[bytes, ...]
    pps: tuple[bytes, ...]


def parse_avc_config(record: bytes) -> AvcConfig:
    """AVCDecoderConfigurationRecord (ISO/IEC 14496-15) -> NAL length size, SPS and PPS."""
    try:
        length_size = (record[4] & 0x03) + 1
        pos, sps, pps = 6, [], []
        for _ in range(record[5] & 0x1F):
            size = struct.unpack_from(">H", record, pos)[0]
            sps.append(record[pos + 2 : pos + 2 + size])
            pos += 2 + size
        count, pos = record[pos], pos + 1
        for _ in range(count):
            size = struct.unpack_from(">H", record, pos)[0]
            pps.append(record[pos + 2 : pos + 2 + size])
            pos += 2 + size
    except (IndexError, struct.error) as exc:
        raise UnsupportedStream("truncated AVC decoder configuration") from exc
    if length_size == 3 or not sps:
        raise UnsupportedStream(
            "AVC decoder configuration without SPS or with 3-byte lengths"
        )
    return AvcConfig(length_size, tuple(sps), tuple(pps))


class _BitReader:
    def __init__(self, data: bytes):
        self.data, self.pos = data, 0

    def u(self, count: int) -> int:
        value = 0
        for _ in range(count):
            byte = self.data[self.pos >> 3]  # IndexError past the end: a truncated SPS
            value = (value << 1) | ((byte >> (7 - (self.pos & 7))) & 1)
            self.pos += 1
        return value

    def ue(self) -> int:
        zeros = 0
        while self.u(1) == 0:
            zeros += 1
            if zeros > 31:
                raise ValueError("exp-Golomb code too long")
        return (1 << zeros) - 1 + self.u(zeros)

    def se(self) -> int:
        code = self.ue()
        return (code + 1) // 2 if code & 1 else -(code // 2)


def _unescape_rbsp(nal: bytes) -> bytes:
    """Remove emulation prevention bytes (00 00 03 -> 00 00)."""
    return nal.replace(b"\x00\x00\x03", b"\x00\x00")


def sps_dimensions(sps: bytes) -> tuple[int, int]:
    """Width and height in pixels from an SPS NAL unit (H.264 §7.3.2.1.1), cropping applied."""
    try:
        return _sps_dimensions(_BitReader(_unescape_rbsp(sps[1:])))
    except (IndexError, ValueError) as exc:
        raise UnsupportedStream("unreadable SPS") from exc


def _sps_dimensions(bits: _BitReader) -> tuple[int, int]:
    profile = bits.u(8)
    bits.u(16)  # constraint flags, level
    bits.ue()  # seq_parameter_set_id
    chroma_format, separate_planes = 1, 0
    if profile in (100, 110, 122, 244, 44, 83, 86, 118, 128, 138, 139, 134, 135):
        chroma_format = bits.ue()
        if chroma_format == 3:
            separate_planes = bits.u(1)
        bits.ue()  # bit_depth_luma_minus8
        bits.ue()  # bit_depth_chroma_minus8
        bits.u(1)  # qpprime_y_zero_transform_bypass
        if bits.u(1):  # seq_scaling_matrix_present
            for index in range(8 if chroma_format != 3 else 12):
                if bits.u(1):
                    _skip_scaling_list(bits, 16 if index < 6 else 64)
    bits.ue()  # log2_max_frame_num_minus4
    poc_type = bits.ue()
    if poc_type == 0:
        bits.ue()
    elif poc_type == 1:
        bits.u(1)
        bits.se()
        bits.se()
        for _ in range(bits.ue()):
            bits.se()
    bits.ue()  # max_num_ref_frames
    bits.u(1)  # gaps_in_frame_num_value_allowed
    width_mbs, height_units = bits.ue() + 1, bits.ue() + 1
    frame_mbs_only = bits.u(1)
    if not frame_mbs_only:
        bits.u(1)  # mb_adaptive_frame_field
    bits.u(1)  # direct_8x8_inference
    crop = (bits.ue(), bits.ue(), bits.ue(), bits.ue()) if bits.u(1) else (0, 0, 0, 0)
    chroma_array_type = 0 if separate_planes else chroma_format
    sub_width, sub_height = {1: (2, 2), 2: (2, 1), 3: (1, 1)}.get(
        chroma_array_type, (1, 1)
    )
    crop_x = sub_width if chroma_array_type else 1
    crop_y = (sub_height if chroma_array_type else 1) * (2 - frame_mbs_only)
    width = width_mbs * 16 - crop_x * (crop[0] + crop[1])
    height = (2 - frame_mbs_only) * height_units * 16 - crop_y * (crop[2] + crop[3])
    return width, height


def _skip_scaling_list(bits: _BitReader, size: int) -> None:
    last = following = 8
    for _ in range(size):
        if following:
            following = (last + bits.se() + 256) % 256
        last = following or last


def _avcc_nal_units(data: bytes, length_size: int) -> list[bytes]:
    units, pos = [], 0
    while pos + length_size <= len(data):
        size = int.from_bytes(data[pos : pos + length_size], "big")
        pos += length_size
        if size == 0 or pos + size > len(data):
            raise UnsupportedStream("NAL unit length runs past the frame")
        units.append(data[pos : pos + size])
        pos += size
    return units


def annex_b_access_unit(data: bytes, config: AvcConfig, keyframe: bool) -> bytes:
    """AVCC frame -> Annex B: an AUD first, SPS/PPS before an IDR unless the frame has them."""
    units = [
        u
        for u in _avcc_nal_units(data, config.nal_length_size)
        if u[0] & 0x1F != NAL_AUD
    ]
    types = {u[0] & 0x1F for u in units}
    if (keyframe or NAL_IDR in types) and NAL_SPS not in types:
        units = [*config.sps, *config.pps, *units]
    return AUD_NAL + b"".join(START_CODE + u for u in units)


# -- AAC -------------------------------------------------------------------------------


@dataclass(frozen=True)
class AacConfig:
    object_type: int  # the core AAC object type (1 Main, 2 LC, 3 SSR, 4 LTP)
    sample_rate_index: int
    channels: int

    @property
    def sample_rate(self) -> int:
        return AAC_SAMPLE_RATES[self.sample_rate_index]

    def adts_header(self, payload_size: int) -> bytes:
        """A 7-byte ADTS header (no CRC) for one raw AAC frame of payload_size bytes."""
        length = payload_size + 7
        return bytes(
            [
                0xFF,
                0xF1,  # syncword, MPEG-4, layer 0, no CRC
                ((self.object_type - 1) << 6)
                | (self.sample_rate_index << 2)
                | (self.channels >> 2),
                ((self.channels & 3) << 6) | (length >> 11),
                (length >> 3) & 0xFF,
                ((length & 7) << 5) | 0x1F,  # buffer fullness 0x7FF (variable rate)
                0xFC,
            ]
        )


def parse_audio_specific_config(asc: bytes) -> AacConfig:
    """AudioSpecificConfig (ISO/IEC 14496-3) -> what an ADTS header needs."""
    try:
        bits = _BitReader(asc)
        object_type = _aac_object_type(bits)
        rate_index = _aac_rate_index(bits)
        channels = bits.u(4)
        if object_type in (5, 29):  # SBR/PS: the core follows the extension rate
            _aac_rate_index(bits)
            object_type = _aac_object_type(bits)
    except IndexError as exc:
        raise UnsupportedStream("truncated AudioSpecificConfig") from exc
    if (
        not 1 <= object_type <= 4
        or rate_index >= len(AAC_SAMPLE_RATES)
        or not 1 <= channels <= 7
    ):
        raise UnsupportedStream("AAC configuration that ADTS cannot carry")
    return AacConfig(object_type, rate_index, channels)


def _aac_object_type(bits: _BitReader) -> int:
    value = bits.u(5)
    return 32 + bits.u(6) if value == 31 else value


def _aac_rate_index(bits: _BitReader) -> int:
    index = bits.u(4)
    if index == 15:
        raise UnsupportedStream("AAC with an explicit sample rate")
    return index


# -- MPEG-TS ---------------------------------------------------------------------------


def _crc32_mpeg(data: bytes) -> int:
    crc = 0xFFFFFFFF
    for byte in data:
        crc ^= byte << 24
        for _ in range(8):
            crc = ((crc << 1) ^ 0x04C11DB7) if crc & 0x80000000 else crc << 1
            crc &= 0xFFFFFFFF
    return crc


def _encode_timestamp(prefix: int, ticks: int) -> bytes:
    """A 33-bit PTS/DTS in the PES header's 5-byte form with marker bits."""
    ticks &= PTS_MASK
    return bytes(
        [
            (prefix << 4) | (((ticks >> 30) & 0x07) << 1) | 1,
            (ticks >> 22) & 0xFF,
            (((ticks >> 15) & 0x7F) << 1) | 1,
            (ticks >> 7) & 0xFF,
            ((ticks & 0x7F) << 1) | 1,
        ]
    )


def _pcr_field(ticks: int) -> bytes:
    """PCR: a 33-bit 90 kHz base, 6 reserved bits, a 9-bit extension (0)."""
    base = ticks & PTS_MASK
    return bytes(
        [
            (base >> 25) & 0xFF,
            (base >> 17) & 0xFF,
            (base >> 9) & 0xFF,
            (base >> 1) & 0xFF,
            ((base & 1) << 7) | 0x7E,
            0x00,
        ]
    )


def pes_packet(stream_id: int, pts: int, dts: int, payload: bytes) -> bytes:
    """A PES packet; DTS is written only when it differs from PTS (90 kHz ticks)."""
    if pts != dts:
        flags, header = 0xC0, _encode_timestamp(0x3, pts) + _encode_timestamp(0x1, dts)
    else:
        flags, header = 0x80, _encode_timestamp(0x2, pts)
    length = 3 + len(header) + len(payload)
    # Video PES may leave the length 0 (unbounded), which large frames need.
    packet_length = length if stream_id != VIDEO_STREAM_ID and length <= 0xFFFF else 0
    return (
        b"\x00\x00\x01"
        + bytes([stream_id])
        + struct.pack(">H", packet_length)
        + bytes([0x80, flags, len(header)])
        + header
        + payload
    )


class TsWriter:
    """Packs sections and PES packets into 188-byte TS packets with continuity counters."""

    def __init__(self):
        self.counters: dict[int, int] = {}

    def packets(
        self,
        pid: int,
        payload: bytes,
        *,
        pcr: int | None = None,
        random_access: bool = False,
    ) -> bytes:
        """payload split over packets; pcr (90 kHz) and the random access flag go in the first."""
        out, pos, first = bytearray(), 0, True
        while pos < len(payload) or first:
            adaptation = (
                None  # the adaptation field after its length byte, when there is one
            )
            if first and (pcr is not None or random_access):
                flags = (0x40 if random_access else 0) | (
                    0x10 if pcr is not None else 0
                )
                adaptation = bytes([flags]) + (
                    _pcr_field(pcr) if pcr is not None else b""
                )
            space = (
                TS_PACKET_SIZE - 4 - (0 if adaptation is None else 1 + len(adaptation))
            )
            chunk = payload[pos : pos + space]
            stuffing = space - len(chunk)
            if stuffing and adaptation is None:  # the length byte alone takes one byte
                adaptation = (
                    b"" if stuffing == 1 else b"\x00" + b"\xff" * (stuffing - 2)
                )
            elif stuffing:
                adaptation += b"\xff" * stuffing
            out += self._header(pid, first, adaptation is not None)
            if adaptation is not None:
                out += bytes([len(adaptation)]) + adaptation
            out += chunk
            pos += len(chunk)
            first = False
        return bytes(out)

    def _header(self, pid: int, unit_start: bool, has_adaptation: bool) -> bytes:
        counter = self.counters.get(pid, -1) + 1 & 0x0F
        self.counters[pid] = counter
        control = 0x30 if has_adaptation else 0x10
        return bytes(
            [
                0x47,
                (0x40 if unit_start else 0) | (pid >> 8),
                pid & 0xFF,
                control | counter,
            ]
        )

    def psi(
        self, pid: int, table_id: int, table_id_extension: int, body: bytes
    ) -> bytes:
        """A PSI section (PAT/PMT) with pointer field and CRC, in one packet."""
        section_length = 5 + len(body) + 4
        section = bytes([table_id, 0xB0 | (section_length >> 8), section_length & 0xFF])
        section += struct.pack(">H", table_id_extension) + b"\xc1\x00\x00" + body
        section += struct.pack(">I", _crc32_mpeg(section))
        data = b"\x00" + section  # pointer field
        return (
            self._header(pid, True, False)
            + data
            + b"\xff" * (TS_PACKET_SIZE - 4 - len(data))
        )

    def pat(self) -> bytes:
        return self.psi(PAT_PID, 0x00, 1, struct.pack(">HH", 1, 0xE000 | PMT_PID))

    def pmt(self, video: bool, audio: bool) -> bytes:
        pcr_pid = VIDEO_PID if video else AUDIO_PID
        body = struct.pack(">HH", 0xE000 | pcr_pid, 0xF000)
        if video:
            body += bytes([STREAM_TYPE_H264]) + struct.pack(
                ">HH", 0xE000 | VIDEO_PID, 0xF000
            )
        if audio:
            body += bytes([STREAM_TYPE_AAC]) + struct.pack(
                ">HH", 0xE000 | AUDIO_PID, 0xF000
            )
        return self.psi(PMT_PID, 0x02, 1, body)


# -- segmenting ------------------------------------------------------------------------


@dataclass(frozen=True)
class _Frame:
    video: bool
    dts_ms: int
    pts_ms: int
    keyframe: bool
    payload: bytes  # Annex B access unit or ADTS frame


class _RateMeter:
    """Bytes and frames per second over a sliding window of stream time."""

    def __init__(self):
        self.samples: deque[tuple[int, int]] = deque()

    def add(self, timestamp_ms: int, size: int) -> None:
        self.samples.append((timestamp_ms, size))
        while self.samples and self.samples[0][0] < timestamp_ms - RATE_WINDOW_MS:
            self.samples.popleft()

    def _span_ms(self) -> int:
        return self.samples[-1][0] - self.samples[0][0] if len(self.samples) > 1 else 0

    def bytes_per_second(self) -> int | None:
        span = self._span_ms()
        if not span:
            return None
        return round(sum(size for _, size in list(self.samples)[:-1]) * 1000 / span)

    def frames_per_second(self) -> int | None:
        span = self._span_ms()
        return round((len(self.samples) - 1) * 1000 / span) if span else None


class HlsSegmenter:
    """Turns FLV video/audio payloads into MPEG-TS segments cut at keyframes."""

    def __init__(self, frag_duration: int):
        self.frag_ms = int(frag_duration) * 1000
        self.avc: AvcConfig | None = None
        self.aac: AacConfig | None = None
        self.frames: list[_Frame] = []
        self.segment_bytes = 0
        self.writer = TsWriter()
        self.video_meter, self.audio_meter = _RateMeter(), _RateMeter()
        self.metadata_frame_rate: int | None = None
        self.dimensions: tuple[int, int] | None = None
        self.last_video_ms: int | None = None
        self.video_frame_ms = 0
        self.last_audio_ms: int | None = None
        self.video_started = False  # a keyframe has been seen

    # input

    def set_metadata(self, metadata: dict) -> None:
        """onMetaData: its framerate is reported until one can be measured."""
        rate = metadata.get("framerate")
        if isinstance(rate, int | float) and 0 < rate < 1000:
            self.metadata_frame_rate = round(rate)

    def feed_video(self, timestamp_ms: int, body: bytes) -> list[Segment]:
        if not body:
            return []
        # 0x80 marks an Enhanced RTMP header (HEVC, AV1...): not H.264 either.
        if body[0] & 0x0F != FLV_CODEC_AVC or body[0] & 0x80:
            raise UnsupportedStream("only H.264 (AVC) video can be segmented")
        frame_type = body[0] >> 4
        if len(body) < 5 or frame_type == 5:  # 5: a command frame, no picture
            return []
        if body[1] == 0:
            self._configure_video(body[5:])
            return []
        if body[1] != 1 or self.avc is None:
            return []  # end of sequence, or a frame before its configuration
        keyframe = frame_type == 1
        payload = annex_b_access_unit(body[5:], self.avc, keyframe)
        self.video_meter.add(timestamp_ms, len(body))
        self._note_video_timing(timestamp_ms)
        if not self.video_started and not keyframe:
            return []  # nothing can be decoded before the first keyframe
        self.video_started = True
        cut = keyframe and self._keyframe_cuts(timestamp_ms)
        segments = (
            self._cut(timestamp_ms) if cut or self._over_limits(timestamp_ms) else []
        )
        cts = int.from_bytes(body[2:5], "big", signed=True)
        pts_ms = timestamp_ms + max(cts, 0)
        self._append(_Frame(True, timestamp_ms, pts_ms, keyframe, payload))
        return segments

    def _configure_video(self, record: bytes) -> None:
        self.avc = parse_avc_config(record)
        try:
            self.dimensions = sps_dimensions(self.avc.sps[0])
        except UnsupportedStream:
            self.dimensions = (
                None  # only the reported size is lost; the stream still plays
            )

    def feed_audio(self, timestamp_ms: int, body: bytes) -> list[Segment]:
        if len(body) < 2:
            return []
        if body[0] >> 4 != FLV_SOUND_AAC:
            raise UnsupportedStream("only AAC audio can be segmented")
        if body[1] == 0:
            self.aac = parse_audio_specific_config(body[2:])
            return []
        if self.aac is None or len(body) == 2:
            return []
        self.audio_meter.add(timestamp_ms, len(body))
        self.last_audio_ms = timestamp_ms
        segments = []
        if self.avc is None:  # audio only: cut on time
            if self._elapsed(timestamp_ms) >= self.frag_ms or self._over_limits(
                timestamp_ms
            ):
                segments = self._cut(timestamp_ms)
        elif not self.video_started:
            return []  # with video, the first segment starts at a keyframe
        raw = body[2:]
        self._append(
            _Frame(
                False,
                timestamp_ms,
                timestamp_ms,
                False,
                self.aac.adts_header(len(raw)) + raw,
            )
        )
        return segments

    def flush(self) -> list[Segment]:
        """The last partial segment, at stream end."""
        if not self.frames:
            return []
        return [self._segment(self._stream_end_ms())]

    @property
    def stream_info(self) -> StreamInfo:
        return StreamInfo(
            video_codec="H264" if self.avc else None,
            width=self.dimensions[0] if self.dimensions else None,
            height=self.dimensions[1] if self.dimensions else None,
            frame_rate=self.video_meter.frames_per_second() or self.metadata_frame_rate,
            video_bandwidth=self.video_meter.bytes_per_second(),
            audio_codec="AAC" if self.aac else None,
            sample_rate=self.aac.sample_rate if self.aac else None,
            audio_bandwidth=self.audio_meter.bytes_per_second(),
        )

    # segments

    def _note_video_timing(self, timestamp_ms: int) -> None:
        if self.last_video_ms is not None and timestamp_ms > self.last_video_ms:
            self.video_frame_ms = timestamp_ms - self.last_video_ms
        self.last_video_ms = timestamp_ms

    def _elapsed(self, timestamp_ms: int) -> int:
        return timestamp_ms - self.frames[0].dts_ms if self.frames else 0

    def _keyframe_cuts(self, timestamp_ms: int) -> bool:
        if not self.frames:
            return False
        if not any(frame.video for frame in self.frames):
            return True  # audio came before the first video: give video a segment of its own
        return self._elapsed(timestamp_ms) >= self.frag_ms

    def _over_limits(self, timestamp_ms: int) -> bool:
        if not self.frames:
            return False
        too_long = self._elapsed(timestamp_ms) >= max(
            MAX_SEGMENT_SECONDS * 1000, 4 * self.frag_ms
        )
        return too_long or self.segment_bytes >= MAX_SEGMENT_BYTES

    def _append(self, frame: _Frame) -> None:
        self.frames.append(frame)
        self.segment_bytes += len(frame.payload)

    def _cut(self, end_ms: int) -> list[Segment]:
        """End the current segment where the frame about to be added starts."""
        return [self._segment(end_ms)] if self.frames else []

    def _segment(self, end_ms: int) -> Segment:
        frames, self.frames, self.segment_bytes = self.frames, [], 0
        start = frames[0].dts_ms
        return Segment(
            data=self._mux(frames),
            start_ms=start,
            duration=max(0, end_ms - start) / 1000,
        )

    def _stream_end_ms(self) -> int:
        ends = []
        if self.last_video_ms is not None:
            ends.append(self.last_video_ms + self.video_frame_ms)
        if self.last_audio_ms is not None and self.aac is not None:
            ends.append(self.last_audio_ms + round(1024 * 1000 / self.aac.sample_rate))
        return max(ends)

    def _mux(self, frames: list[_Frame]) -> bytes:
        has_video = any(frame.video for frame in frames)
        has_audio = any(not frame.video for frame in frames)
        out = bytearray(self.writer.pat() + self.writer.pmt(has_video, has_audio))
        for frame in frames:
            pcr = frame.dts_ms * CLOCK_HZ
            dts = pcr + DECODE_DELAY_TICKS
            pts = frame.pts_ms * CLOCK_HZ + DECODE_DELAY_TICKS
            if frame.video:
                pes = pes_packet(VIDEO_STREAM_ID, pts, dts, frame.payload)
                out += self.writer.packets(
                    VIDEO_PID, pes, pcr=pcr, random_access=frame.keyframe
                )
            else:
                pes = pes_packet(AUDIO_STREAM_ID, pts, dts, frame.payload)
                pcr = None if has_video else pcr
                out += self.writer.packets(AUDIO_PID, pes, pcr=pcr)
        return bytes(out)
