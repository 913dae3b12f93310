"""HLS segmenting: FLV H.264/AAC in, MPEG-TS out, checked by a small TS parser written here."""

import struct
from dataclasses import dataclass, field

import pytest

from buckets.live.hls import (
    MAX_SEGMENT_SECONDS,
    HlsSegmenter,
    StreamInfo,
    UnsupportedStream,
    parse_audio_specific_config,
    sps_dimensions,
)
from tests.live_publisher import (
    PPS,
    Recorder,
    aac_sequence_header,
    avc_decoder_config,
    avc_frame,
    make_sps,
    publish,
    running_server,
    slice_nal,
    synthetic_stream,
)

VIDEO_PID, AUDIO_PID = 0x100, 0x101
DELAY = 63000  # PTS/DTS lead the PCR by 700 ms (90 kHz ticks)

# -- a small MPEG-TS parser (independent of buckets/live/hls.py) -----------------------


def crc32_mpeg(data: bytes) -> int:
    crc = 0xFFFFFFFF
    for byte in data:
        for bit in range(7, -1, -1):
            top = (crc >> 31) ^ ((byte >> bit) & 1)
            crc = ((crc << 1) & 0xFFFFFFFF) ^ (0x04C11DB7 if top else 0)
    return crc


@dataclass
class Pes:
    pid: int
    stream_id: int
    pts: int
    dts: int
    payload: bytes
    random_access: bool
    pcr: int | None
    offset: int  # where its first packet is in the file


@dataclass
class TsFile:
    pmt_pid: int = 0
    pcr_pid: int = 0
    streams: dict[int, int] = field(default_factory=dict)  # pid -> stream type
    pes: list[Pes] = field(default_factory=list)
    first_pids: list[int] = field(default_factory=list)

    def of(self, pid: int) -> list[Pes]:
        return [p for p in self.pes if p.pid == pid]


def read_timestamp(data: bytes) -> int:
    return (
        ((data[0] >> 1) & 0x07) << 30
        | data[1] << 22
        | (data[2] >> 1) << 15
        | data[3] << 7
        | data[4] >> 1
    )


def parse_section(payload: bytes) -> bytes:
    pointer = payload[0]
    section = payload[1 + pointer :]
    length = ((section[1] & 0x0F) << 8) | section[2]
    section = section[: 3 + length]
    assert crc32_mpeg(section) == 0, (
        "PSI CRC mismatch"
    )  # CRC over the section with its CRC is 0
    return section


def parse_ts(data: bytes, counters: dict[int, int] | None = None) -> TsFile:
    """Checks sync bytes, continuity and CRCs; returns PAT/PMT facts and every PES."""
    assert data
    assert len(data) % 188 == 0
    counters = {} if counters is None else counters
    ts, open_pes = TsFile(), {}
    for offset in range(0, len(data), 188):
        packet = data[offset : offset + 188]
        assert packet[0] == 0x47, f"sync byte missing at {offset}"
        start = bool(packet[1] & 0x40)
        pid = ((packet[1] & 0x1F) << 8) | packet[2]
        control, counter = (packet[3] >> 4) & 3, packet[3] & 0x0F
        ts.first_pids.append(pid)
        if control & 1:  # continuity counts packets with payload
            if pid in counters:
                assert counter == (counters[pid] + 1) % 16, (
                    f"continuity broken on PID {pid:#x}"
                )
            counters[pid] = counter
        pos, random_access, pcr = 4, False, None
        if control & 2:
            length = packet[4]
            if length:
                flags = packet[5]
                random_access = bool(flags & 0x40)
                if flags & 0x10:
                    b = packet[6:12]
                    pcr = (
                        b[0] << 25 | b[1] << 17 | b[2] << 9 | b[3] << 1 | b[4] >> 7
                    ) * 300 + ((b[4] & 1) << 8 | b[5])
                assert all(
                    x == 0xFF
                    for x in packet[6 + (6 if flags & 0x10 else 0) : 5 + length]
                )
            pos = 5 + length
        payload = packet[pos:]
        if pid == 0:
            section = parse_section(payload)
            assert section[0] == 0x00
            ts.pmt_pid = ((section[10] & 0x1F) << 8) | section[11]
        elif pid == ts.pmt_pid:
            section = parse_section(payload)
            assert section[0] == 0x02
            ts.pcr_pid = ((section[8] & 0x1F) << 8) | section[9]
            pos = 12 + (((section[10] & 0x0F) << 8) | section[11])
            while pos < len(section) - 4:
                ts.streams[((section[pos + 1] & 0x1F) << 8) | section[pos + 2]] = (
                    section[pos]
                )
                pos += 5 + (((section[pos + 3] & 0x0F) << 8) | section[pos + 4])
        else:
            if start:
                if pid in open_pes:
                    ts.pes.append(finish_pes(pid, *open_pes.pop(pid)))
                open_pes[pid] = (bytearray(payload), random_access, pcr, offset)
            else:
                open_pes[pid][0].extend(payload)
    for pid, pending in open_pes.items():
        ts.pes.append(finish_pes(pid, *pending))
    ts.pes.sort(key=lambda p: p.offset)
    return ts


def finish_pes(
    pid: int, raw: bytearray, random_access: bool, pcr: int | None, offset: int
) -> Pes:
    assert raw[:3] == b"\x00\x00\x01"
    stream_id, length = raw[3], struct.unpack(">H", raw[4:6])[0]
    flags, header_length = raw[7], raw[8]
    pts = read_timestamp(raw[9:14])
    dts = read_timestamp(raw[14:19]) if flags & 0x40 else pts
    payload = bytes(raw[9 + header_length :])
    if length:
        assert length == len(raw) - 6, "PES length does not match"
    return Pes(pid, stream_id, pts, dts, payload, random_access, pcr, offset)


def nal_units(annex_b: bytes) -> list[bytes]:
    parts = annex_b.split(b"\x00\x00\x01")
    assert parts[0] in (b"", b"\x00")
    return [
        p.rstrip(b"\x00") if i < len(parts) - 1 else p for i, p in enumerate(parts[1:])
    ]


def adts_frame(payload: bytes) -> dict:
    assert payload[0] == 0xFF, "no ADTS syncword"
    assert payload[1] & 0xF6 == 0xF0, "no ADTS syncword"
    return {
        "profile": (payload[2] >> 6) + 1,
        "rate_index": (payload[2] >> 2) & 0x0F,
        "channels": ((payload[2] & 1) << 2) | (payload[3] >> 6),
        "length": ((payload[3] & 3) << 11) | (payload[4] << 3) | (payload[5] >> 5),
        "raw": payload[7:],
    }


# -- helpers ---------------------------------------------------------------------------


def segment_stream(tags, frag_duration=2):
    segmenter = HlsSegmenter(frag_duration)
    segments = []
    for tag in tags:
        feed = segmenter.feed_video if tag.kind == "video" else segmenter.feed_audio
        segments += feed(tag.timestamp, tag.body)
    return segmenter, segments + segmenter.flush()


def parse_all(segments):
    counters: dict[int, int] = {}
    return [parse_ts(s.data, counters) for s in segments]


# -- the TS itself ---------------------------------------------------------------------


def test_each_segment_is_a_valid_ts_with_pat_and_pmt_first():
    _, segments = segment_stream(synthetic_stream(seconds=5.0))

    assert len(segments) == 3
    for ts in parse_all(segments):  # continuity also holds across segments
        assert ts.first_pids[:2] == [0x0000, ts.pmt_pid]
        assert ts.streams == {VIDEO_PID: 0x1B, AUDIO_PID: 0x0F}
        assert ts.pcr_pid == VIDEO_PID
        assert {p.stream_id for p in ts.of(VIDEO_PID)} == {0xE0}
        assert {p.stream_id for p in ts.of(AUDIO_PID)} == {0xC0}


def test_video_is_annex_b_with_sps_and_pps_before_each_idr():
    tags = synthetic_stream(seconds=3.0, audio=False, width=640, height=480)
    _, segments = segment_stream(tags)

    video = [p for ts in parse_all(segments) for p in ts.of(VIDEO_PID)]
    assert len(video) == 75
    for index, pes in enumerate(video):
        types = [unit[0] & 0x1F for unit in nal_units(pes.payload)]
        keyframe = index % 25 == 0
        assert types == ([9, 7, 8, 5] if keyframe else [9, 1])
        assert pes.random_access == keyframe
        assert pes.pcr is not None
        assert (
            pes.pcr == (pes.dts - DELAY) * 300
        )  # the frame is due 700 ms after it arrives
    units = nal_units(video[0].payload)
    assert units[1] == make_sps(640, 480)
    assert units[2] == PPS
    assert units[3] == slice_nal(0, True)
    assert nal_units(video[1].payload)[1] == slice_nal(1, False)


def test_sps_already_in_the_keyframe_is_not_repeated():
    _, segments = segment_stream(
        synthetic_stream(seconds=1.0, audio=False, inline_sps=True)
    )

    first = parse_all(segments)[0].of(VIDEO_PID)[0]
    assert [unit[0] & 0x1F for unit in nal_units(first.payload)] == [9, 7, 8, 5]


def test_audio_frames_get_adts_headers():
    tags = synthetic_stream(seconds=2.0, sample_rate=48000)
    _, segments = segment_stream(tags)

    audio = [p for ts in parse_all(segments) for p in ts.of(AUDIO_PID)]
    sent = [t.body[2:] for t in tags if t.kind == "audio" and t.body[1] == 1]
    assert [adts_frame(p.payload)["raw"] for p in audio] == sent
    for pes in audio:
        header = adts_frame(pes.payload)
        assert (header["profile"], header["rate_index"], header["channels"]) == (
            2,
            3,
            2,
        )
        assert header["length"] == len(pes.payload)


def test_pts_follow_the_flv_timestamps_and_increase():
    tags = synthetic_stream(seconds=3.0, start_timestamp=1000)
    _, segments = segment_stream(tags)

    parsed = parse_all(segments)
    for pid, kind in ((VIDEO_PID, "video"), (AUDIO_PID, "audio")):
        pts = [p.pts for ts in parsed for p in ts.of(pid)]
        expected = [t.timestamp * 90 + DELAY for t in tags if t.kind == kind][
            1:
        ]  # not the sequence header
        assert pts == expected
        assert pts == sorted(pts)
        assert len(set(pts)) == len(pts)


def test_composition_time_offsets_become_pts_after_dts():
    tags = synthetic_stream(seconds=1.0, audio=False, bframes=True)
    _, segments = segment_stream(tags)

    video = parse_all(segments)[0].of(VIDEO_PID)
    assert [p.dts for p in video] == [t.timestamp * 90 + DELAY for t in tags[1:]]
    assert [p.pts - p.dts for p in video[:4]] == [0, 80 * 90, 0, 80 * 90]


# -- cut points and durations ----------------------------------------------------------


@pytest.mark.parametrize(
    ("frag", "keyframe_every", "seconds", "starts", "durations"),
    [
        (2, 1.0, 7.0, [0, 2000, 4000, 6000], [2.0, 2.0, 2.0, 1.0]),
        (
            3,
            2.0,
            9.0,
            [0, 4000, 8000],
            [4.0, 4.0, 1.0],
        ),  # cut only at keyframes, once >= 3 s
        (5, 1.0, 4.0, [0], [4.0]),  # shorter than one fragment: only the flush
    ],
)
def test_segments_cut_at_keyframes_once_frag_duration_passed(
    frag, keyframe_every, seconds, starts, durations
):
    tags = synthetic_stream(seconds=seconds, keyframe_every=keyframe_every)
    _, segments = segment_stream(tags, frag)

    assert [s.start_ms for s in segments] == starts
    assert [s.duration for s in segments] == pytest.approx(durations, abs=0.03)
    for ts in parse_all(segments):
        assert ts.of(VIDEO_PID)[0].random_access


@pytest.mark.parametrize(("fps", "seconds"), [(25, 6.0), (30, 10.0), (24, 7.5)])
def test_durations_add_up_to_the_stream_time(fps, seconds):
    _, segments = segment_stream(
        synthetic_stream(seconds=seconds, fps=fps, audio=False), 2
    )

    assert sum(s.duration for s in segments) == pytest.approx(seconds, abs=0.002)


def test_audio_only_streams_cut_on_time():
    tags = synthetic_stream(seconds=7.0, video=False)
    _, segments = segment_stream(tags, 2)

    assert len(segments) == 4
    assert [s.duration for s in segments[:3]] == pytest.approx([2.0] * 3, abs=0.03)
    assert sum(s.duration for s in segments) == pytest.approx(7.0, abs=0.03)
    for ts in parse_all(segments):
        assert ts.streams == {AUDIO_PID: 0x0F}
        assert ts.pcr_pid == AUDIO_PID
        assert ts.of(AUDIO_PID)[0].pcr is not None


def test_frames_before_the_first_keyframe_are_dropped():
    tags = synthetic_stream(seconds=2.0, keyframe_every=1.0)
    header, audio_header = tags[0], tags[1]
    body = avc_frame([slice_nal(99, False)], keyframe=False)
    segmenter = HlsSegmenter(2)
    segmenter.feed_video(0, header.body)
    segmenter.feed_audio(0, audio_header.body)
    assert segmenter.feed_video(0, body) == []
    segmenter.feed_audio(10, b"\xaf\x01" + b"\x01" * 10)
    segmenter.feed_video(40, avc_frame([slice_nal(0, True)], keyframe=True))

    [segment] = segmenter.flush()
    ts = parse_ts(segment.data)
    assert segment.start_ms == 40
    assert len(ts.of(VIDEO_PID)) == 1
    assert ts.of(AUDIO_PID) == []


def test_a_stream_without_keyframes_is_still_cut_at_the_safety_limit():
    tags = synthetic_stream(
        seconds=MAX_SEGMENT_SECONDS + 5, fps=5, keyframe_every=1000, audio=False
    )
    _, segments = segment_stream(tags, 1)

    assert [s.start_ms for s in segments] == [0, MAX_SEGMENT_SECONDS * 1000]


def test_flush_without_frames_gives_nothing():
    segmenter = HlsSegmenter(5)
    segmenter.feed_video(0, synthetic_stream(seconds=1)[0].body)
    assert segmenter.flush() == []


# -- stream info -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("width", "height", "profile"),
    [
        (320, 240, 66),
        (640, 360, 66),
        (854, 480, 77),
        (1280, 720, 100),
        (1920, 1080, 100),
        (3840, 2160, 100),
    ],
)
def test_stream_info_reads_the_size_from_the_sps(width, height, profile):
    segmenter, _ = segment_stream(
        synthetic_stream(seconds=2.0, width=width, height=height, audio=False)
    )

    info = segmenter.stream_info
    assert (info.video_codec, info.width, info.height) == ("H264", width, height)
    assert info.frame_rate == 25


@pytest.mark.parametrize(
    ("sps_hex", "size"),
    [
        # Baseline with VUI and emulation prevention bytes (the SPS videojs/mux.js tests with).
        ("6742c01ed900b435f9e10000030001000003003c0f162e48", (720, 404)),
        # High profile from an IP camera, with VUI and HRD (the SPS ouro's parser tests with).
        (
            "6764001fac34c805005bff016e020202800001f400003a987430004e2a000138a85de5c68600"
            "09c5400027150bbcb85000",
            (1280, 720),
        ),
    ],
)
def test_sps_from_real_encoders(sps_hex, size):
    assert sps_dimensions(bytes.fromhex(sps_hex)) == size


def test_stream_info_sample_rate_and_bandwidths():
    tags = synthetic_stream(seconds=4.0, fps=30, sample_rate=48000)
    segmenter, _ = segment_stream(tags)

    info = segmenter.stream_info
    assert (info.audio_codec, info.sample_rate) == ("AAC", 48000)
    assert info.frame_rate == 30
    window = [t for t in tags if t.timestamp >= 4000 - 5000 and t.body[1] == 1]
    video = [t for t in window if t.kind == "video"]
    expected_video = (
        sum(len(t.body) for t in video[:-1])
        * 1000
        / (video[-1].timestamp - video[0].timestamp)
    )
    assert info.video_bandwidth == round(expected_video)
    assert 180 * 48000 / 1024 < info.audio_bandwidth < 190 * 48000 / 1024


def test_stream_info_is_unknown_before_any_data():
    assert HlsSegmenter(5).stream_info == StreamInfo()


def test_metadata_frame_rate_is_used_until_one_is_measured():
    segmenter = HlsSegmenter(5)
    segmenter.set_metadata({"framerate": 29.97, "width": 1.0})
    assert segmenter.stream_info.frame_rate == 30


@pytest.mark.parametrize(
    ("asc", "rate", "object_type", "channels"),
    [
        (bytes([0x12, 0x10]), 44100, 2, 2),
        (bytes([0x11, 0x90]), 48000, 2, 2),
        (bytes([0x13, 0x88]), 22050, 2, 1),
        (
            bytes([0x2B, 0x92, 0x08, 0x00]),
            22050,
            2,
            2,
        ),  # HE-AAC: SBR (5) over an AAC LC core
    ],
)
def test_audio_specific_config(asc, rate, object_type, channels):
    config = parse_audio_specific_config(asc)
    assert (config.sample_rate, config.object_type, config.channels) == (
        rate,
        object_type,
        channels,
    )


# -- what cannot be segmented ----------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "body"),
    [
        ("video", b"\x12\x00\x00\x00\x00"),  # Sorenson H.263
        ("video", b"\x90hvc1\x00\x00\x00"),  # Enhanced RTMP (HEVC)
        ("video", b"\x17\x00\x00\x00\x00\x01"),  # truncated AVC configuration
        ("audio", b"\x2f\x00\x00"),  # MP3
        ("audio", b"\xaf\x00\x17\x80"),  # AAC with an explicit (escape) sample rate
        ("audio", b"\xaf\x00"),  # empty AudioSpecificConfig
    ],
)
def test_unsupported_media_is_refused(kind, body):
    segmenter = HlsSegmenter(5)
    feed = segmenter.feed_video if kind == "video" else segmenter.feed_audio
    with pytest.raises(UnsupportedStream):
        feed(0, body)


def test_nal_length_running_past_the_frame_is_refused():
    segmenter = HlsSegmenter(5)
    segmenter.feed_video(
        0, b"\x17\x00\x00\x00\x00" + avc_decoder_config(make_sps(320, 240))
    )
    with pytest.raises(UnsupportedStream):
        segmenter.feed_video(0, b"\x17\x01\x00\x00\x00\x00\x00\x10\x00\x65\x88")


# -- end to end: RTMP in, TS out -------------------------------------------------------


class SegmentingPublication:
    def __init__(self, frag_duration):
        self.segmenter = HlsSegmenter(frag_duration)
        self.segments = []
        self.closed = False

    def on_metadata(self, metadata):
        self.segmenter.set_metadata(metadata)

    def on_video(self, timestamp_ms, body):
        self.segments += self.segmenter.feed_video(timestamp_ms, body)

    def on_audio(self, timestamp_ms, body):
        self.segments += self.segmenter.feed_audio(timestamp_ms, body)

    def close(self):
        self.segments += self.segmenter.flush()
        self.closed = True


def test_published_stream_becomes_playable_segments():
    publications = []

    def start_publish(request):
        publications.append(SegmentingPublication(2))
        return publications[-1]

    with running_server(start_publish) as server:
        outcome = publish(
            "127.0.0.1",
            server.port,
            "rtmp://b.example.com/live",
            "chan",
            seconds=6.0,
            width=1280,
            height=720,
            chunk_size=4096,
        )
    assert outcome.status_code == "NetStream.Publish.Start"

    [publication] = publications
    assert publication.closed
    assert [s.start_ms for s in publication.segments] == [0, 2000, 4000]
    assert sum(s.duration for s in publication.segments) == pytest.approx(6.0, abs=0.03)
    parsed = parse_all(publication.segments)
    assert sum(len(ts.of(VIDEO_PID)) for ts in parsed) == 150
    info = publication.segmenter.stream_info
    assert (info.width, info.height, info.frame_rate, info.sample_rate) == (
        1280,
        720,
        25,
        44100,
    )


def test_recorder_is_importable_for_other_live_tests():
    assert Recorder().publications == []
    assert aac_sequence_header()[:2] == b"\xaf\x00"


def test_an_unreadable_sps_loses_only_the_reported_size():
    segmenter = HlsSegmenter(5)
    segmenter.feed_video(
        0, b"\x17\x00\x00\x00\x00" + avc_decoder_config(b"\x67\x64\x00\x1f")
    )
    segmenter.feed_video(0, avc_frame([slice_nal(0, True)], keyframe=True))

    [segment] = segmenter.flush()
    assert len(parse_ts(segment.data).of(VIDEO_PID)) == 1
    info = segmenter.stream_info
    assert (info.video_codec, info.width, info.height) == ("H264", None, None)
