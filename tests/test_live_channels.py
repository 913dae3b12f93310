"""The live channel API (PutLiveChannel ... GetVodPlaylist): first through the real oss2
SDK (V1 and V4) against gunicorn, then the refusals, signed as the owner, through
Django's test client, and the playlists and URLs they answer with."""

import time
import uuid
from datetime import timedelta

import oss2
import pytest
from django.utils import timezone
from oss2.models import LiveChannelInfo, LiveChannelInfoTarget

from buckets.live import channels
from buckets.models import LiveChannel, LivePublishRecord, LiveSegment
from tests.oss_responses import error_code


def unique_name(prefix="live"):
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def channel_info(playlist_name="test.m3u8", **target):
    return LiveChannelInfo(
        target=LiveChannelInfoTarget(playlist_name=playlist_name, **target)
    )


def assert_refused(call, code, status):
    with pytest.raises(oss2.exceptions.OssError) as raised:
        call()
    assert (raised.value.status, raised.value.code) == (status, code)


# -- the real SDK against gunicorn -------------------------------------------------------


@pytest.fixture
def sdk_bucket(as_user):
    """A new private bucket of alice's."""
    created = as_user("alice", unique_name())
    created.create_bucket(oss2.BUCKET_ACL_PRIVATE)
    return created


def test_a_created_channel_reads_back_as_configured(sdk_bucket):
    info = LiveChannelInfo(
        status="disabled",
        description="morning show",
        target=LiveChannelInfoTarget(
            frag_duration=7, frag_count=4, playlist_name="show.m3u8"
        ),
    )

    sdk_bucket.create_live_channel("show", info)
    got = sdk_bucket.get_live_channel("show")

    assert (got.status, got.description) == ("disabled", "morning show")
    target = got.target
    assert (target.type, target.frag_duration, target.frag_count) == ("HLS", "7", "4")
    assert target.playlist_name == "show.m3u8"


def test_defaults_are_oss_defaults(sdk_bucket):
    sdk_bucket.create_live_channel(
        "plain", LiveChannelInfo(target=LiveChannelInfoTarget())
    )

    got = sdk_bucket.get_live_channel("plain")

    assert (got.status, got.description) == ("enabled", "")
    assert (got.target.frag_duration, got.target.frag_count) == ("5", "3")
    assert got.target.playlist_name == "playlist.m3u8"


def test_create_answers_the_play_url_this_server_serves(sdk_bucket, two_user_server):
    gunicorn, _keys = two_user_server

    created = sdk_bucket.create_live_channel("cam", channel_info("cam.m3u8"))

    assert created.play_url == f"{gunicorn.url}/{sdk_bucket.bucket_name}/cam/cam.m3u8"
    # This server runs no RTMP ingest (LIVE_RTMP_PORT=0): no URL names one.
    assert created.publish_url == ""


def test_the_play_url_serves_the_playlist_once_written(sdk_bucket, two_user_server):
    created = sdk_bucket.create_live_channel("cam", channel_info("cam.m3u8"))
    public = {"x-oss-object-acl": "public-read"}  # players do not sign requests
    sdk_bucket.put_object("cam/cam.m3u8", b"#EXTM3U\n", headers=public)

    answer = oss2.http.Session().do_request(
        oss2.http.Request("GET", created.play_url), timeout=10
    )

    assert (answer.status, answer.read()) == (200, b"#EXTM3U\n")


def test_listing_pages_by_marker_with_a_prefix(sdk_bucket):
    names = [f"ch{index:03d}" for index in range(7)] + ["other"]
    for name in names:
        sdk_bucket.create_live_channel(name, channel_info())

    first = sdk_bucket.list_live_channel(prefix="ch", max_keys=3)
    second = sdk_bucket.list_live_channel(
        prefix="ch", marker=first.next_marker, max_keys=3
    )
    last = sdk_bucket.list_live_channel(
        prefix="ch", marker=second.next_marker, max_keys=3
    )

    assert [c.name for c in first.channels] == ["ch000", "ch001", "ch002"]
    assert (first.is_truncated, first.next_marker, first.max_keys) == (True, "ch002", 3)
    assert [c.name for c in second.channels] == ["ch003", "ch004", "ch005"]
    assert ([c.name for c in last.channels], last.is_truncated) == (["ch006"], False)
    assert (last.prefix, last.marker) == ("ch", "ch005")
    listed = [info.name for info in oss2.LiveChannelIterator(sdk_bucket, max_keys=2)]
    assert listed == sorted(names)


def test_a_listed_channel_carries_its_settings_and_urls(sdk_bucket):
    sdk_bucket.create_live_channel(
        "news", LiveChannelInfo(description="d", target=LiveChannelInfoTarget())
    )

    (listed,) = sdk_bucket.list_live_channel().channels

    assert (listed.name, listed.description, listed.status) == ("news", "d", "enabled")
    assert listed.play_url.endswith(f"/{sdk_bucket.bucket_name}/news/playlist.m3u8")
    assert abs(listed.last_modified - time.time()) < 600


def test_an_empty_listing_is_not_truncated(sdk_bucket):
    listing = sdk_bucket.list_live_channel()

    assert (listing.channels, listing.is_truncated, listing.max_keys) == (
        [],
        False,
        100,
    )


def test_status_turns_disabled_and_back(sdk_bucket):
    sdk_bucket.create_live_channel("switch", channel_info())

    sdk_bucket.put_live_channel_status("switch", "disabled")
    disabled = sdk_bucket.get_live_channel("switch").status
    stat_disabled = sdk_bucket.get_live_channel_stat("switch").status
    sdk_bucket.put_live_channel_status("switch", "enabled")

    assert (disabled, stat_disabled) == ("disabled", "Disabled")
    assert sdk_bucket.get_live_channel("switch").status == "enabled"
    assert sdk_bucket.get_live_channel_stat("switch").status == "Idle"


def test_a_new_channel_has_no_history_and_no_vod_segments(sdk_bucket):
    sdk_bucket.create_live_channel("fresh", channel_info())
    end = int(time.time())

    assert sdk_bucket.get_live_channel_history("fresh").records == []
    assert_refused(
        lambda: sdk_bucket.post_vod_playlist("fresh", "vod.m3u8", end - 3600, end),
        "InvalidArgument",
        400,
    )
    assert_refused(
        lambda: sdk_bucket.get_vod_playlist("fresh", end - 3600, end),
        "InvalidArgument",
        400,
    )
    assert not sdk_bucket.object_exists("fresh/vod.m3u8")


def test_a_deleted_channel_is_no_such_live_channel(sdk_bucket):
    sdk_bucket.create_live_channel("gone", channel_info())

    sdk_bucket.delete_live_channel("gone")

    for call in (
        sdk_bucket.get_live_channel,
        sdk_bucket.get_live_channel_stat,
        sdk_bucket.get_live_channel_history,
        sdk_bucket.delete_live_channel,
    ):
        assert_refused(lambda call=call: call("gone"), "NoSuchLiveChannel", 404)


def test_channels_are_the_bucket_owners_alone(sdk_bucket, as_user):
    sdk_bucket.create_live_channel("private", channel_info())
    name = sdk_bucket.bucket_name

    for intruder in (as_user("bob", name), as_user(None, name)):
        for call in (
            lambda b: b.get_live_channel("private"),
            lambda b: b.list_live_channel(),
            lambda b: b.get_live_channel_stat("private"),
            lambda b: b.put_live_channel_status("private", "disabled"),
            lambda b: b.create_live_channel("private", channel_info("x.m3u8")),
            lambda b: b.delete_live_channel("private"),
            lambda b, intruder=intruder: b.delete_live_channel("absent"),
        ):
            assert_refused(lambda call=call, b=intruder: call(b), "AccessDenied", 403)

    got = sdk_bucket.get_live_channel("private")
    assert (got.status, got.target.playlist_name) == ("enabled", "test.m3u8")


def test_a_bucket_that_does_not_exist_is_no_such_bucket(as_user):
    missing = as_user("alice", unique_name("missing"))

    assert_refused(
        lambda: missing.create_live_channel("c", channel_info()), "NoSuchBucket", 404
    )
    assert_refused(missing.list_live_channel, "NoSuchBucket", 404)


# -- refusals, through Django's test client ------------------------------------------------


def configuration(*, target=None, **top):
    """A LiveChannelConfiguration document; `target`/`top` map element -> text
    (None leaves it out)."""
    target = {"Type": "HLS"} if target is None else target
    inner = "".join(f"<{k}>{v}</{k}>" for k, v in target.items() if v is not None)
    outer = "".join(f"<{k}>{v}</{k}>" for k, v in top.items() if v is not None)
    return (
        f"<LiveChannelConfiguration>{outer}<Target>{inner}</Target>"
        "</LiveChannelConfiguration>"
    ).encode()


def put_channel(send, name="chan", body=None):
    return send(
        "PUT", "alice-bucket", name, params={"live": ""}, body=body or configuration()
    )


@pytest.mark.django_db
class TestRefusals:
    @pytest.mark.parametrize(
        ("body", "code"),
        [
            (configuration(target={"Type": "RTMP"}), "InvalidArgument"),
            (configuration(target={}), "InvalidArgument"),  # no Type
            (
                configuration(
                    target={"Type": "HLS", "FragDuration": "0", "FragCount": "3"}
                ),
                "InvalidArgument",
            ),
            (
                configuration(
                    target={"Type": "HLS", "FragDuration": "101", "FragCount": "3"}
                ),
                "InvalidArgument",
            ),
            (
                configuration(
                    target={"Type": "HLS", "FragDuration": "abc", "FragCount": "3"}
                ),
                "InvalidArgument",
            ),
            (
                configuration(
                    target={"Type": "HLS", "FragDuration": "5", "FragCount": "-1"}
                ),
                "InvalidArgument",
            ),
            (
                configuration(target={"Type": "HLS", "FragDuration": "5"}),
                "InvalidArgument",
            ),
            (
                configuration(target={"Type": "HLS", "FragCount": "5"}),
                "InvalidArgument",
            ),
            (
                configuration(target={"Type": "HLS", "PlaylistName": "abc.text"}),
                "InvalidArgument",
            ),
            (
                configuration(target={"Type": "HLS", "PlaylistName": "x.m3u"}),
                "InvalidArgument",
            ),
            (
                configuration(target={"Type": "HLS", "PlaylistName": "a/b.m3u8"}),
                "InvalidArgument",
            ),
            (
                configuration(
                    target={"Type": "HLS", "PlaylistName": "x" * 124 + ".m3u8"}
                ),
                "InvalidArgument",
            ),
            (configuration(Status="on"), "InvalidArgument"),
            (configuration(Description="é" * 65), "InvalidArgument"),  # 130 bytes
            (configuration(Snapshot="<RoleName>r</RoleName>"), "NotImplemented"),
            (configuration(Colour="blue"), "MalformedXML"),
            (b"<LiveChannelConfiguration/>", "MalformedXML"),  # no Target
            (b"<LiveChannel><Target/></LiveChannel>", "MalformedXML"),
            (b"not xml", "MalformedXML"),
        ],
    )
    def test_a_bad_configuration_is_refused_and_nothing_stored(
        self, alice_signed_client, bucket, body, code
    ):
        response = put_channel(alice_signed_client, body=body)

        assert error_code(response) == code
        assert response.status_code == (501 if code == "NotImplemented" else 400)
        assert not LiveChannel.objects.exists()

    def test_a_bad_configuration_leaves_the_old_one(self, alice_signed_client, bucket):
        put_channel(alice_signed_client, body=configuration(Description="kept"))

        response = put_channel(alice_signed_client, body=configuration(Status="on"))

        assert response.status_code == 400
        channel = LiveChannel.objects.get()
        assert (channel.description, channel.status) == ("kept", "enabled")

    def test_the_largest_values_are_accepted(self, alice_signed_client, bucket):
        body = configuration(
            Description="d" * 128,
            target={
                "Type": "HLS",
                "FragDuration": "100",
                "FragCount": "100",
                "PlaylistName": "p" * 123 + ".m3u8",
            },
        )

        assert put_channel(alice_signed_client, body=body).status_code == 200
        channel = LiveChannel.objects.get()
        assert (channel.frag_duration, channel.frag_count) == (100, 100)
        assert len(channel.playlist_name) == 128

    @pytest.mark.parametrize("name", ["a/b", "/lead"])
    def test_a_channel_name_with_a_slash_is_refused(
        self, alice_signed_client, bucket, name
    ):
        response = put_channel(alice_signed_client, name=name)

        assert response.status_code == 400
        assert error_code(response) in ("InvalidArgument", "InvalidObjectName")
        assert not LiveChannel.objects.exists()

    def test_a_bad_status_is_refused(self, alice_signed_client, bucket):
        put_channel(alice_signed_client)

        response = alice_signed_client(
            "PUT", "alice-bucket", "chan", params={"live": "", "status": "paused"}
        )

        assert (response.status_code, error_code(response)) == (400, "InvalidArgument")
        assert LiveChannel.objects.get().status == "enabled"

    @pytest.mark.parametrize(
        ("start", "end"),
        [
            ("100", "100"),
            ("200", "100"),
            ("0", str(24 * 3600 + 1)),
            ("x", "5"),
            ("1", ""),
            ("1" + "0" * 20, "1" + "0" * 19 + "1"),  # beyond any date
        ],
    )
    def test_a_bad_vod_range_is_refused(self, alice_signed_client, bucket, start, end):
        put_channel(alice_signed_client)
        params = {"vod": "", "startTime": start, "endTime": end}

        posted = alice_signed_client(
            "POST", "alice-bucket", "chan/v.m3u8", params=params
        )
        got = alice_signed_client("GET", "alice-bucket", "chan", params=params)

        for response in (posted, got):
            assert (response.status_code, error_code(response)) == (
                400,
                "InvalidArgument",
            )
        assert not bucket.stored_objects.exists()

    def test_a_vod_playlist_name_must_end_in_m3u8(self, alice_signed_client, bucket):
        put_channel(alice_signed_client)
        params = {"vod": "", "startTime": "0", "endTime": "100"}

        response = alice_signed_client(
            "POST", "alice-bucket", "chan/v.txt", params=params
        )

        assert (response.status_code, error_code(response)) == (400, "InvalidArgument")

    @pytest.mark.parametrize("max_keys", ["0", "1001", "ten"])
    def test_a_bad_max_keys_is_refused(self, alice_signed_client, bucket, max_keys):
        response = alice_signed_client(
            "GET", "alice-bucket", params={"live": "", "max-keys": max_keys}
        )

        assert (response.status_code, error_code(response)) == (400, "InvalidArgument")

    def test_an_unknown_comp_is_refused(self, alice_signed_client, bucket):
        put_channel(alice_signed_client)

        response = alice_signed_client(
            "GET", "alice-bucket", "chan", params={"live": "", "comp": "snapshot"}
        )

        assert (response.status_code, error_code(response)) == (400, "InvalidArgument")

    def test_comp_without_live_is_no_operation(self, alice_signed_client, bucket):
        for method in ("GET", "PUT", "DELETE"):
            response = alice_signed_client(
                method, "alice-bucket", "chan", params={"comp": "stat"}
            )

            assert (response.status_code, error_code(response)) == (
                501,
                "NotImplemented",
            )
        assert not bucket.stored_objects.exists()

    def test_a_live_channel_cannot_be_replaced_or_deleted(
        self, alice_signed_client, bucket
    ):
        put_channel(alice_signed_client, body=configuration(Description="on air"))
        publishing(LiveChannel.objects.get(), heartbeat_age=0)

        replaced = put_channel(alice_signed_client)
        deleted = alice_signed_client(
            "DELETE", "alice-bucket", "chan", params={"live": ""}
        )

        for response in (replaced, deleted):
            assert (response.status_code, error_code(response)) == (
                409,
                "ChannelStillLive",
            )
        assert LiveChannel.objects.get().description == "on air"

    def test_a_publisher_that_stopped_beating_is_gone(
        self, alice_signed_client, bucket, settings
    ):
        """An ingest that crashed left its claim: the stat reads Idle once its
        heartbeat is stale, and the channel can be deleted."""
        put_channel(alice_signed_client)
        publishing(
            LiveChannel.objects.get(), heartbeat_age=settings.LIVE_STALE_SECONDS + 1
        )

        stat = alice_signed_client(
            "GET", "alice-bucket", "chan", params={"live": "", "comp": "stat"}
        )
        deleted = alice_signed_client(
            "DELETE", "alice-bucket", "chan", params={"live": ""}
        )

        assert b"<Status>Idle</Status>" in stat.content
        assert deleted.status_code == 204
        assert not LiveChannel.objects.exists()

    def test_a_live_stat_names_the_stream(self, alice_signed_client, bucket):
        put_channel(alice_signed_client)
        channel = LiveChannel.objects.get()
        publishing(channel, heartbeat_age=0)
        channel.stream_info = {
            "video_codec": "H264",
            "width": 320,
            "height": 240,
            "frame_rate": 25,
            "video_bandwidth": 1000,
            "audio_codec": "AAC",
            "sample_rate": 44100,
            "audio_bandwidth": None,
        }
        channel.save()

        stat = alice_signed_client(
            "GET", "alice-bucket", "chan", params={"live": "", "comp": "stat"}
        )

        assert stat.status_code == 200
        body = stat.content.decode()
        for text in (
            "<Status>Live</Status>",
            "<RemoteAddr>192.0.2.7</RemoteAddr>",
            "<Video><Width>320</Width><Height>240</Height><FrameRate>25</FrameRate>"
            "<Bandwidth>1000</Bandwidth><Codec>H264</Codec></Video>",
            "<Audio><Bandwidth>0</Bandwidth><SampleRate>44100</SampleRate>"
            "<Codec>AAC</Codec></Audio>",
        ):
            assert text in body


def publishing(channel, *, heartbeat_age):
    """The channel as the ingest leaves it while a publisher is connected."""
    now = timezone.now()
    channel.publisher_token = "t" * 32
    channel.publisher_addr = "192.0.2.7"
    channel.connected_at = now - timedelta(seconds=heartbeat_age + 5)
    channel.heartbeat_at = now - timedelta(seconds=heartbeat_age)
    channel.save()


# -- what they answer with -------------------------------------------------------------------


@pytest.mark.django_db
class TestUrls:
    def urls(self, send):
        response = put_channel(send, body=configuration())
        assert response.status_code == 200
        body = response.content.decode()
        return body.split("<PublishUrls><Url>")[1].split("<")[0], body.split(
            "<PlayUrls><Url>"
        )[1].split("<")[0]

    def test_path_style_names_this_servers_host(
        self, alice_signed_client, bucket, settings
    ):
        settings.OSS_DOMAIN, settings.LIVE_RTMP_PORT = "", 19350

        assert self.urls(alice_signed_client) == (
            "rtmp://testserver:19350/alice-bucket/live/chan",
            "http://testserver/alice-bucket/chan/playlist.m3u8",
        )

    def test_the_default_rtmp_port_is_left_out(
        self, alice_signed_client, bucket, settings
    ):
        settings.OSS_DOMAIN, settings.LIVE_RTMP_PORT = "", 1935

        assert self.urls(alice_signed_client)[0] == (
            "rtmp://testserver/alice-bucket/live/chan"
        )

    def test_a_domain_gives_virtual_host_urls(
        self, alice_signed_client, bucket, settings
    ):
        settings.OSS_DOMAIN, settings.LIVE_RTMP_PORT = "oss.example", 1935

        assert self.urls(alice_signed_client) == (
            "rtmp://alice-bucket.oss.example/live/chan",
            "http://alice-bucket.oss.example/chan/playlist.m3u8",
        )


def test_the_live_playlist_lists_its_window_relatively():
    window = [
        LiveSegment(sequence=7, duration=5.0),
        LiveSegment(sequence=8, duration=4.5),
    ]

    assert channels.live_playlist_text(window) == (
        "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-MEDIA-SEQUENCE:7\n"
        "#EXT-X-TARGETDURATION:5\n#EXTINF:5.000,\n7.ts\n#EXTINF:4.500,\n8.ts\n"
    )
    assert channels.live_playlist_text(window, ended=True).endswith(
        "8.ts\n#EXT-X-ENDLIST\n"
    )


def test_a_vod_playlist_is_closed_and_may_lead_with_the_channel():
    segments = [LiveSegment(sequence=0, duration=2.2)]

    assert channels.vod_playlist_text(segments, prefix="cam/") == (
        "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-MEDIA-SEQUENCE:0\n#EXT-X-TARGETDURATION:3\n"
        "#EXT-X-PLAYLIST-TYPE:VOD\n#EXTINF:2.200,\ncam/0.ts\n#EXT-X-ENDLIST\n"
    )


@pytest.mark.django_db
def test_history_lists_the_last_ten_finished_publishes_oldest_first(bucket):
    channel = LiveChannel.objects.create(bucket=bucket, name="c")
    start = timezone.now() - timedelta(hours=1)
    for minute in range(12):
        LivePublishRecord.objects.create(
            channel=channel,
            started_at=start + timedelta(minutes=minute),
            ended_at=start + timedelta(minutes=minute, seconds=30),
            remote_addr=f"192.0.2.{minute}",
        )
    LivePublishRecord.objects.create(
        channel=channel, started_at=timezone.now(), remote_addr="192.0.2.99"
    )

    addresses = [record.remote_addr for record in channels.history(channel)]

    assert addresses == [f"192.0.2.{minute}" for minute in range(2, 12)]
