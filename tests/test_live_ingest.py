"""RTMP publishes end to end: gunicorn starts the ingest (`manage.py live_ingest`) beside
itself, tests/live_publisher.py publishes a synthetic H.264 + AAC stream to it, and
oss2 reads back what it left: the .ts segments, the playlist, the stat, the history
and VOD playlists. Publishes that may not happen are refused and store nothing."""

import socket
import time
import uuid

import oss2
import pytest
from oss2.models import LiveChannelInfo, LiveChannelInfoTarget

from tests import live_publisher
from tests.origin_server import unused_port
from tests.server_process import GunicornServer, wait_until
from tests.signing import REGION, oss2_auth

STARTED = "NetStream.Publish.Start"
UNAUTHORIZED = "NetStream.Publish.Unauthorized"
BAD_NAME = "NetStream.Publish.BadName"
TS_PACKET = 188


@pytest.fixture(scope="module")
def ingest_server(tmp_path_factory):
    """gunicorn with its RTMP ingest on a port of its own; users alice and bob."""
    rtmp_port = unused_port()
    gunicorn = GunicornServer(
        tmp_path_factory.mktemp("live-server"), LIVE_RTMP_PORT=str(rtmp_port)
    )
    keys = gunicorn.add_users(("alice", "bob"), "live-server-password")
    gunicorn.start()
    wait_until(lambda: _accepts(rtmp_port), "the RTMP ingest listens")
    try:
        yield gunicorn, keys, rtmp_port
    finally:
        gunicorn.stop()
    # gunicorn took its ingest down with it.
    assert not _accepts(rtmp_port)


def _accepts(port):
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except OSError:
        return False
    return True


@pytest.fixture
def as_user(ingest_server):
    gunicorn, keys, _port = ingest_server

    def bucket_for(name, bucket_name):
        return oss2.Bucket(
            oss2_auth(keys[name], "v1"), gunicorn.url, bucket_name, region=REGION
        )

    return bucket_for


@pytest.fixture
def bucket(as_user):
    """alice's new private bucket, with a channel "cam" (1 s segments, 3 listed)."""
    created = as_user("alice", f"live-{uuid.uuid4().hex[:12]}")
    created.create_bucket(oss2.BUCKET_ACL_PRIVATE)
    created.create_live_channel(
        "cam",
        LiveChannelInfo(
            target=LiveChannelInfoTarget(
                frag_duration=1, frag_count=3, playlist_name="cam.m3u8"
            )
        ),
    )
    return created


@pytest.fixture
def publish(ingest_server):
    """publish(bucket, name_with_query, **stream) -> PublishOutcome, path-style."""
    _gunicorn, _keys, port = ingest_server

    def send(bucket, name_with_query, **stream):
        tc_url = f"rtmp://127.0.0.1:{port}/{bucket.bucket_name}/live"
        return live_publisher.publish(
            "127.0.0.1", port, tc_url, name_with_query, **stream
        )

    return send


def signed_name(bucket, channel="cam", playlist="", expires=600):
    """The "<channel>?<query>" of oss2's sign_rtmp_url."""
    url = bucket.sign_rtmp_url(channel, playlist, expires)
    return url.split("/live/", 1)[1]


def wait_until_idle(bucket, channel="cam"):
    wait_until(
        lambda: bucket.get_live_channel_stat(channel).status == "Idle",
        "the publish has ended",
    )


def stored_keys(bucket):
    return sorted(obj.key for obj in oss2.ObjectIterator(bucket))


def assert_is_mpeg_ts(data):
    assert data
    assert len(data) % TS_PACKET == 0
    assert all(data[i] == 0x47 for i in range(0, len(data), TS_PACKET))


# -- a publish and what it leaves ----------------------------------------------------------


def test_a_signed_publish_stores_segments_and_an_ended_playlist(bucket, publish):
    outcome = publish(bucket, signed_name(bucket), seconds=6.0, keyframe_every=1.0)
    wait_until_idle(bucket)

    assert outcome.status_code == STARTED
    keys = stored_keys(bucket)
    segments = [key for key in keys if key.endswith(".ts")]
    assert len(segments) >= 5
    assert "cam/cam.m3u8" in keys
    for key in segments:
        assert_is_mpeg_ts(bucket.get_object(key).read())
    playlist = bucket.get_object("cam/cam.m3u8").read().decode()
    listed = [line for line in playlist.splitlines() if line.endswith(".ts")]
    assert len(listed) == 3  # FragCount
    assert [f"cam/{name}" for name in listed] == sorted(segments, key=_number)[-3:]
    assert playlist.startswith("#EXTM3U\n")
    assert playlist.endswith("#EXT-X-ENDLIST\n")


def _number(key):
    return int(key.rsplit("/", 1)[1].removesuffix(".ts"))


def test_history_and_vod_playlists_cover_the_publish(bucket, publish):
    before = int(time.time()) - 1
    publish(bucket, signed_name(bucket), seconds=4.0)
    wait_until_idle(bucket)
    after = int(time.time()) + 60
    segments = [key for key in stored_keys(bucket) if key.endswith(".ts")]

    (record,) = bucket.get_live_channel_history("cam").records
    bucket.post_vod_playlist("cam", "vod.m3u8", start_time=before, end_time=after)
    got = bucket.get_vod_playlist("cam", start_time=before, end_time=after).playlist

    assert record.remote_addr == "127.0.0.1"
    assert before <= record.start_time <= record.end_time <= after
    posted = bucket.get_object("cam/vod.m3u8").read().decode()
    assert [line for line in posted.splitlines() if line.endswith(".ts")] == [
        key.removeprefix("cam/") for key in sorted(segments, key=_number)
    ]
    assert posted.endswith("#EXT-X-ENDLIST\n")
    assert [line for line in got.splitlines() if line.endswith(".ts")] == sorted(
        segments, key=_number
    )
    assert_refused(
        lambda: bucket.get_vod_playlist(
            "cam", start_time=before - 7200, end_time=before - 3600
        ),
        "InvalidArgument",
    )


def test_a_second_publish_keeps_the_first_ones_segments(bucket, publish):
    publish(bucket, signed_name(bucket), seconds=3.0)
    wait_until_idle(bucket)
    first = set(stored_keys(bucket))
    publish(bucket, signed_name(bucket), seconds=3.0)
    wait_until_idle(bucket)

    assert first < set(stored_keys(bucket))
    assert len(bucket.get_live_channel_history("cam").records) == 2


def test_the_publish_urls_playlist_name_replaces_the_channels(bucket, publish):
    outcome = publish(bucket, signed_name(bucket, playlist="other.m3u8"), seconds=2.0)
    wait_until_idle(bucket)

    assert outcome.status_code == STARTED
    assert bucket.object_exists("cam/other.m3u8")
    assert not bucket.object_exists("cam/cam.m3u8")


def test_the_stat_is_live_while_publishing(bucket, ingest_server):
    _gunicorn, _keys, port = ingest_server
    name = signed_name(bucket)
    client = live_publisher.RtmpClient("127.0.0.1", port)
    try:
        tc_url = f"rtmp://127.0.0.1:{port}/{bucket.bucket_name}/live"
        status = live_publisher.open_publish(client, tc_url, name)
        tags = live_publisher.synthetic_stream(seconds=3.0, width=320, height=240)
        live_publisher.send_tags(client, tags)
        wait_until(
            lambda: bucket.get_live_channel_stat("cam").video is not None,
            "the stat names the video",
        )
        stat = bucket.get_live_channel_stat("cam")
        assert_refused(lambda: bucket.delete_live_channel("cam"), "ChannelStillLive")
        live_publisher.close_publish(client, name)
    finally:
        client.close()
    wait_until_idle(bucket)

    assert status["code"] == STARTED
    assert (stat.status, stat.remote_addr) == ("Live", "127.0.0.1")
    assert (stat.video.codec, stat.video.width, stat.video.height) == ("H264", 320, 240)
    assert (stat.audio.codec, stat.audio.sample_rate) == ("AAC", 44100)
    bucket.delete_live_channel("cam")  # Idle again: it may go, its segments stay
    assert any(key.endswith(".ts") for key in stored_keys(bucket))


def test_one_publisher_at_a_time(bucket, ingest_server, publish):
    _gunicorn, _keys, port = ingest_server
    client = live_publisher.RtmpClient("127.0.0.1", port)
    try:
        tc_url = f"rtmp://127.0.0.1:{port}/{bucket.bucket_name}/live"
        first = live_publisher.open_publish(client, tc_url, signed_name(bucket))
        second = publish(bucket, signed_name(bucket), seconds=1.0)
    finally:
        client.close()
    wait_until_idle(bucket)

    assert (first["code"], second.status_code) == (STARTED, BAD_NAME)


def test_disabling_a_channel_ends_its_publish(bucket, ingest_server):
    _gunicorn, _keys, port = ingest_server
    client = live_publisher.RtmpClient("127.0.0.1", port)
    try:
        tc_url = f"rtmp://127.0.0.1:{port}/{bucket.bucket_name}/live"
        live_publisher.open_publish(client, tc_url, signed_name(bucket))
        bucket.put_live_channel_status("cam", "disabled")
        tags = live_publisher.synthetic_stream(seconds=30.0)
        assert _server_ended_it(client, tags)
    finally:
        client.close()

    wait_until(
        lambda: len(bucket.get_live_channel_history("cam").records) == 1,
        "the publish is over",
    )
    bucket.put_live_channel_status("cam", "enabled")
    assert bucket.get_live_channel_stat("cam").status == "Idle"


def _server_ended_it(client, tags):
    """Send `tags` in batches until the server closes the connection (True) or
    all are sent (False)."""
    client.sock.settimeout(0.05)
    try:
        for start in range(0, len(tags), 50):
            live_publisher.send_tags(client, tags[start : start + 50])
            if _peer_closed(client.sock):
                return True
    except OSError:  # reset while sending
        return True
    return False


def _peer_closed(sock):
    try:
        return sock.recv(65536, socket.MSG_PEEK) == b""
    except TimeoutError:
        return False


# -- publishes that may not happen ---------------------------------------------------------


def tampered(name):
    return name.replace("Signature=", "Signature=AAAA")


@pytest.mark.parametrize(
    ("name_of", "code"),
    [
        (lambda b: "cam", UNAUTHORIZED),  # unsigned, to a private bucket
        (lambda b: signed_name(b, expires=-10), UNAUTHORIZED),
        (lambda b: tampered(signed_name(b)), UNAUTHORIZED),
        (
            lambda b: signed_name(b).replace("cam?", "cam?playlistName=x.m3u8&", 1),
            UNAUTHORIZED,
        ),
        (lambda b: signed_name(b, channel="absent"), BAD_NAME),
        (lambda b: signed_name(b, playlist="bad.txt"), BAD_NAME),
    ],
)
def test_a_refused_publish_stores_nothing(bucket, publish, name_of, code):
    outcome = publish(bucket, name_of(bucket), seconds=2.0)

    assert outcome.status_code == code
    assert stored_keys(bucket) == []
    assert bucket.get_live_channel_history("cam").records == []


def test_another_users_key_may_not_publish(bucket, as_user, publish):
    bobs = as_user("bob", bucket.bucket_name)

    outcome = publish(bucket, signed_name(bobs), seconds=2.0)

    assert outcome.status_code == UNAUTHORIZED
    assert stored_keys(bucket) == []


def test_a_disabled_channel_refuses(bucket, publish):
    bucket.put_live_channel_status("cam", "disabled")

    outcome = publish(bucket, signed_name(bucket), seconds=2.0)

    assert outcome.status_code == BAD_NAME
    assert stored_keys(bucket) == []


def test_a_public_read_write_bucket_takes_unsigned_publishes(bucket, publish):
    bucket.put_bucket_acl(oss2.BUCKET_ACL_PUBLIC_READ_WRITE)

    outcome = publish(bucket, "cam", seconds=2.0)
    wait_until_idle(bucket)

    assert outcome.status_code == STARTED
    assert bucket.object_exists("cam/cam.m3u8")


def assert_refused(call, code):
    with pytest.raises(oss2.exceptions.OssError) as raised:
        call()
    assert raised.value.code == code
