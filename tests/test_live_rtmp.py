"""RTMP ingest: the real server on 127.0.0.1:0 in a thread, driven by a pure-Python publisher."""

import datetime
import socket
import struct
import time

import pytest

from buckets.live.rtmp import (
    UNDEFINED,
    AmfError,
    PublishRefused,
    amf0_decode_all,
    amf0_encode,
    parse_query,
)
from tests.live_publisher import (
    Recorder,
    RtmpClient,
    amf_encode,
    open_publish,
    publish,
    running_server,
    synthetic_stream,
)

TC_URL = "rtmp://bkt.oss-cn-hangzhou.example.com/live"


@pytest.fixture
def recorder():
    return Recorder()


@pytest.fixture
def rtmp(recorder):
    with running_server(recorder, idle_timeout=5.0) as server:
        yield server


def media_events(publication):
    return [event for event in publication.events if event[0] in ("video", "audio")]


def expected_media(tags):
    return [(tag.kind, tag.timestamp, tag.body) for tag in tags]


def wait_closed(publication):
    assert publication.closed.wait(10), "close() was never called"
    return publication


def assert_connection_closed_by_server(client: RtmpClient):
    client.sock.settimeout(10)
    try:
        while client.sock.recv(65536):
            pass
    except ConnectionResetError:
        pass  # a reset is a close too


def assert_server_still_publishes(server, recorder):
    outcome = publish("127.0.0.1", server.port, TC_URL, "after", seconds=0.2)
    assert outcome.status_code == "NetStream.Publish.Start"
    assert wait_closed(recorder.publications[-1]).close_count == 1


# -- publishing ------------------------------------------------------------------------


def test_publish_delivers_metadata_then_media_in_order_and_closes_once(rtmp, recorder):
    tags = synthetic_stream(seconds=2.0, fps=25, width=640, height=360)

    outcome = publish(
        "127.0.0.1",
        rtmp.port,
        TC_URL,
        "chan1?playlistName=play%20list.m3u8&Signature=a%2Bb+c%3D",
        tags=tags,
        width=640,
        height=360,
    )

    assert outcome.status_code == "NetStream.Publish.Start"
    assert outcome.level == "status"
    assert outcome.unpublish_code == "NetStream.Unpublish.Success"
    [publication] = recorder.publications
    wait_closed(publication)
    request = publication.request
    assert (request.tc_url, request.app, request.stream) == (TC_URL, "live", "chan1")
    assert request.query == {"playlistName": "play list.m3u8", "Signature": "a+b+c="}
    assert request.remote_addr == "127.0.0.1"
    kind, metadata = publication.events[0]
    assert kind == "metadata"
    assert metadata["width"] == 640.0
    assert metadata["framerate"] == 25.0
    assert metadata["encoder"] == "tests.live_publisher"
    assert media_events(publication) == expected_media(tags)
    assert publication.close_count == 1


@pytest.mark.parametrize("chunk_size", [1, 60, 4096, 1 << 20])
def test_chunk_size_changes_keep_every_body_intact(rtmp, recorder, chunk_size):
    tags = synthetic_stream(seconds=0.5, fps=10)

    outcome = publish(
        "127.0.0.1", rtmp.port, TC_URL, "chan", tags=tags, chunk_size=chunk_size
    )

    assert outcome.status_code == "NetStream.Publish.Start"
    assert media_events(wait_closed(recorder.publications[0])) == expected_media(tags)


@pytest.mark.parametrize("compress", [True, False])
def test_timestamps_are_absolute_whatever_the_header_type(rtmp, recorder, compress):
    tags = synthetic_stream(seconds=1.0, fps=30, start_timestamp=5000)

    publish(
        "127.0.0.1", rtmp.port, TC_URL, "chan", tags=tags, compress_headers=compress
    )

    received = media_events(wait_closed(recorder.publications[0]))
    assert [(kind, ts) for kind, ts, _ in received] == [
        (t.kind, t.timestamp) for t in tags
    ]


def test_extended_timestamps_across_the_24_bit_boundary(rtmp, recorder):
    tags = synthetic_stream(seconds=1.0, fps=25, start_timestamp=0xFFFFFF - 500)
    assert tags[0].timestamp < 0xFFFFFF < tags[-1].timestamp

    publish("127.0.0.1", rtmp.port, TC_URL, "chan", tags=tags, chunk_size=64)

    assert media_events(wait_closed(recorder.publications[0])) == expected_media(tags)


def test_fmt3_header_after_a_full_header_reuses_its_timestamp_as_delta(rtmp, recorder):
    client = RtmpClient("127.0.0.1", rtmp.port)
    assert open_publish(client, TC_URL, "chan")["code"] == "NetStream.Publish.Start"
    body = b"\xaf\x01" + b"\x11" * 10
    # fmt 0 at 40 ms, then a type 3 header for a new message: delta = 40 (RTMP 1.0 §5.3.1.2.4).
    client.sock.sendall(
        b"\x04"
        + (40).to_bytes(3, "big")
        + len(body).to_bytes(3, "big")
        + b"\x08"
        + b"\x01\x00\x00\x00"
        + body
    )
    client.sock.sendall(b"\xc4" + body)
    client.command("deleteStream", None, 1.0)
    client.read_command({"onStatus"})
    client.close()

    publication = wait_closed(recorder.publications[0])
    assert [(kind, ts) for kind, ts, _ in media_events(publication)] == [
        ("audio", 40),
        ("audio", 80),
    ]


def test_two_publishers_at_once_each_get_their_own_publication(rtmp, recorder):
    first = RtmpClient("127.0.0.1", rtmp.port)
    second = RtmpClient("127.0.0.1", rtmp.port)
    assert open_publish(first, TC_URL, "one")["code"] == "NetStream.Publish.Start"
    assert open_publish(second, TC_URL, "two")["code"] == "NetStream.Publish.Start"
    first.close()
    second.close()

    assert sorted(p.request.stream for p in recorder.publications) == ["one", "two"]
    assert all(wait_closed(p).close_count == 1 for p in recorder.publications)


def test_ping_request_is_answered(rtmp):
    client = RtmpClient("127.0.0.1", rtmp.port)
    open_publish(client, TC_URL, "chan")
    client.send(2, 4, 0, 0, struct.pack(">HI", 6, 1234))

    while True:
        type_id, _, _, body = client.read_message()
        if type_id == 4 and body[:2] == b"\x00\x07":
            break
    assert body == struct.pack(">HI", 7, 1234)


def test_acknowledgement_sent_after_the_window_the_client_asked_for(rtmp):
    client = RtmpClient("127.0.0.1", rtmp.port)
    open_publish(client, TC_URL, "chan")
    client.send(2, 5, 0, 0, struct.pack(">I", 2000))
    for i in range(5):
        client.send(4, 8, 1, i * 23, b"\xaf\x01" + b"\x22" * 1000)

    while True:
        type_id, _, _, body = client.read_message()
        if type_id == 3:
            break
    assert struct.unpack(">I", body)[0] >= 2000


# -- refusal and failure ---------------------------------------------------------------


def test_refused_publish_gets_error_onstatus_and_the_connection_closes(rtmp, recorder):
    recorder.refusal = PublishRefused(
        "LiveChannel chan is disabled.", "NetStream.Publish.Unauthorized"
    )

    outcome = publish("127.0.0.1", rtmp.port, TC_URL, "chan?Expires=1")

    assert (outcome.level, outcome.status_code) == (
        "error",
        "NetStream.Publish.Unauthorized",
    )
    assert outcome.description == "LiveChannel chan is disabled."
    assert outcome.server_closed
    assert recorder.publications == []
    recorder.refusal = None
    assert_server_still_publishes(rtmp, recorder)


def test_start_publish_crashing_is_an_error_onstatus_not_a_server_crash(rtmp, recorder):
    recorder.refusal = RuntimeError("database down: secret detail")

    outcome = publish("127.0.0.1", rtmp.port, TC_URL, "chan")

    assert (outcome.level, outcome.status_code) == ("error", "NetStream.Publish.Failed")
    assert "secret" not in outcome.description
    recorder.refusal = None
    assert_server_still_publishes(rtmp, recorder)


def test_publishing_twice_on_one_connection_is_refused(rtmp, recorder):
    client = RtmpClient("127.0.0.1", rtmp.port)
    assert open_publish(client, TC_URL, "chan")["code"] == "NetStream.Publish.Start"
    client.command("publish", None, "chan", "live", stream_id=1)

    assert client.read_command({"onStatus"})[3]["level"] == "error"
    assert_connection_closed_by_server(client)
    assert wait_closed(recorder.publications[0]).close_count == 1


def test_callback_that_raises_ends_the_connection_and_close_runs_once(rtmp, recorder):
    recorder.fail_on_video = True
    client = RtmpClient("127.0.0.1", rtmp.port)
    open_publish(client, TC_URL, "chan")
    client.send(6, 9, 1, 0, synthetic_stream(seconds=0.1, audio=False)[0].body)

    assert_connection_closed_by_server(client)
    assert wait_closed(recorder.publications[0]).close_count == 1
    assert_server_still_publishes(rtmp, recorder)


def test_client_vanishing_mid_stream_closes_the_publication_once(rtmp, recorder):
    client = RtmpClient("127.0.0.1", rtmp.port)
    open_publish(client, TC_URL, "chan")
    client.send(6, 9, 1, 0, synthetic_stream(seconds=0.1, audio=False)[0].body)
    client.sock.sendall(b"\x06\x00\x00\x28\x00\x10\x00\x09")  # half a header, then gone
    client.close()

    assert wait_closed(recorder.publications[0]).close_count == 1


def test_shutdown_closes_live_publications(recorder):
    with running_server(recorder) as server:
        client = RtmpClient("127.0.0.1", server.port)
        open_publish(client, TC_URL, "chan")
        assert recorder.started.wait(10)
    # shutdown() has returned: every connection has ended and closed its publication.
    assert recorder.publications[0].close_count == 1
    client.close()


# -- malformed and hostile input -------------------------------------------------------


def raw_client(server, *, handshake=True):
    client = RtmpClient("127.0.0.1", server.port)
    if handshake:
        client.handshake()
    return client


def test_bad_handshake_version_ends_only_that_connection(rtmp, recorder):
    client = RtmpClient("127.0.0.1", rtmp.port)
    client.sock.sendall(b"\x06" + b"\x00" * 1536)

    assert_connection_closed_by_server(client)
    assert_server_still_publishes(rtmp, recorder)


def test_oversize_message_ends_the_connection_and_closes_the_publication(recorder):
    with running_server(recorder, max_message_size=64 * 1024) as server:
        client = RtmpClient("127.0.0.1", server.port)
        open_publish(client, TC_URL, "chan")
        header = (
            b"\x06"
            + b"\x00\x00\x00"
            + (65 * 1024).to_bytes(3, "big")
            + b"\x09"
            + b"\x01\x00\x00\x00"
        )
        client.sock.sendall(header + b"\x17" * 128)

        assert_connection_closed_by_server(client)
        assert wait_closed(recorder.publications[0]).close_count == 1
        assert media_events(recorder.publications[0]) == []
        assert_server_still_publishes(server, recorder)


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b"\x02\x00\x07connect\x00\x3f", id="truncated number"),
        pytest.param(b"\x02\xff\xffconnect", id="string longer than the message"),
        pytest.param(
            b"\x02\x00\x07connect\x00"
            + b"\x00" * 8
            + b"\x0a\x00\x00\x00\x01" * 100
            + b"\x05",
            id="nested too deep",
        ),
        pytest.param(b"\x11\x02\x00", id="AMF3 switch"),
        pytest.param(b"\x02\x00\x02\xff\xfe\x00" + b"\x00" * 8, id="not UTF-8"),
        pytest.param(b"\x00" + b"\x00" * 8, id="no command name"),
    ],
)
def test_garbage_amf_command_ends_only_that_connection(rtmp, recorder, body):
    client = raw_client(rtmp)
    client.send(3, 20, 0, 0, body)

    assert_connection_closed_by_server(client)
    assert recorder.requests == []
    assert_server_still_publishes(rtmp, recorder)


def test_garbage_metadata_while_publishing_ends_the_connection_and_closes_once(
    rtmp, recorder
):
    client = RtmpClient("127.0.0.1", rtmp.port)
    open_publish(client, TC_URL, "chan")
    client.send(
        8,
        18,
        1,
        0,
        b"\x02\x00\x0d@setDataFrame\x02\x00\x0aonMetaData\x08\x00\x00\x00\x01\x00\x05width\x0c\xff\xff\xff\xff",
    )

    assert_connection_closed_by_server(client)
    publication = wait_closed(recorder.publications[0])
    assert publication.close_count == 1
    assert publication.events == []


@pytest.mark.parametrize(
    "chunk",
    [
        pytest.param(b"\x42\x00\x00\x00\x00\x00\x04\x08", id="compressed header first"),
        pytest.param(
            b"\x02\x00\x00\x00\x00\x00\x04\x01\x00\x00\x00\x00\x00\x00\x00\x00",
            id="chunk size 0",
        ),
        pytest.param(
            b"\x02\x00\x00\x00\x00\x00\x01\x01\x00\x00\x00\x00\x00",
            id="short control message",
        ),
    ],
)
def test_malformed_chunks_end_only_that_connection(rtmp, recorder, chunk):
    client = raw_client(rtmp)
    client.sock.sendall(chunk)

    assert_connection_closed_by_server(client)
    assert_server_still_publishes(rtmp, recorder)


def send_until_closed(client: RtmpClient, chunks: list[bytes]) -> None:
    """Send each chunk; the server may hang up part way, which is what the test wants."""
    try:
        for chunk in chunks:
            client.sock.sendall(chunk)
    except OSError:
        pass


def test_too_many_chunk_streams_end_the_connection(rtmp, recorder):
    client = raw_client(rtmp)
    # Each leaves a 256-byte message half sent on its own chunk stream.
    header = b"\x00\x00\x00\x00\x01\x00\x08\x01\x00\x00\x00"
    send_until_closed(
        client,
        [
            client._basic_header(0, csid) + header + b"\x00" * 128
            for csid in range(3, 200)
        ],
    )

    assert_connection_closed_by_server(client)
    assert_server_still_publishes(rtmp, recorder)


def test_many_half_sent_messages_cannot_add_up_past_the_limit(recorder):
    with running_server(recorder, max_message_size=64 * 1024) as server:
        client = raw_client(server)
        client.set_chunk_size(60 * 1024)
        # Each message is within the limit; together they are not.
        header = (
            b"\x00\x00\x00" + (64 * 1024).to_bytes(3, "big") + b"\x08\x01\x00\x00\x00"
        )
        send_until_closed(
            client,
            [
                client._basic_header(0, csid) + header + b"\x00" * 60 * 1024
                for csid in range(3, 60)
            ],
        )

        assert_connection_closed_by_server(client)
        assert_server_still_publishes(server, recorder)


def test_idle_client_is_disconnected_and_others_are_served(recorder):
    with running_server(recorder, idle_timeout=0.3) as server:
        idle = socket.create_connection(("127.0.0.1", server.port))
        idle.settimeout(10)

        assert idle.recv(1) == b""  # closed by the server, not by our 10 s guard
        assert_server_still_publishes(server, recorder)
        idle.close()


def test_client_that_never_publishes_is_cut_at_the_setup_deadline(recorder):
    with running_server(recorder, idle_timeout=30, setup_timeout=0.5) as server:
        client = RtmpClient("127.0.0.1", server.port)
        client.handshake()
        client.command("connect", {"app": "live", "tcUrl": TC_URL})
        # It keeps talking (so the idle timeout never fires) but never publishes.
        closed = False
        for _ in range(200):
            try:
                client.send(2, 5, 0, 0, struct.pack(">I", 5_000_000))
            except OSError:
                closed = True
                break
            time.sleep(0.05)
        assert closed


def test_connections_beyond_the_limit_are_refused(recorder):
    with running_server(recorder, max_connections=1) as server:
        first = RtmpClient("127.0.0.1", server.port)
        first.handshake()
        second = socket.create_connection(("127.0.0.1", server.port))
        second.settimeout(10)

        assert second.recv(1) == b""
        first.close()
        second.close()


# -- AMF0 and the publish query --------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        0.0,
        -1.5,
        True,
        False,
        "",
        "héllo",
        "x" * 70000,  # long string
        None,
        {"a": 1.0, "nested": {"b": [1.0, "two", None]}},
        [1.0, True, "s", {"k": "v"}],
        datetime.datetime(2026, 11, 30, 12, 0, tzinfo=datetime.UTC),
    ],
)
def test_amf0_values_round_trip(value):
    assert amf0_decode_all(amf0_encode(value)) == [value]


def test_amf0_undefined_ecma_array_and_publisher_encoding_decode():
    data = (
        b"\x06"
        + amf_encode({"x": 2})
        + b"\x08\x00\x00\x00\x01\x00\x01k\x02\x00\x01v\x00\x00\x09"
    )
    assert amf0_decode_all(data) == [None, {"x": 2.0}, {"k": "v"}]
    assert amf0_encode(UNDEFINED) == b"\x06"


@pytest.mark.parametrize(
    "data",
    [
        b"\x00\x01",
        b"\x03\x00\x01k",
        b"\x0a\xff\xff\xff\xff\x05",
        b"\x07\x00\x01",
        b"\x0b\x00",
    ],
    ids=[
        "short number",
        "unterminated object",
        "strict array count too big",
        "reference",
        "short date",
    ],
)
def test_amf0_malformed_raises(data):
    with pytest.raises(AmfError):
        amf0_decode_all(data)


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("", {}),
        ("a=1&b=", {"a": "1", "b": ""}),
        (
            "Signature=ab%2Bc%3D&Expires=1700000000",
            {"Signature": "ab+c=", "Expires": "1700000000"},
        ),
        ("Signature=ab+c", {"Signature": "ab+c"}),
        ("playlistName=my%20list.m3u8", {"playlistName": "my list.m3u8"}),
    ],
)
def test_publish_query_is_percent_decoded(query, expected):
    assert parse_query(query) == expected
