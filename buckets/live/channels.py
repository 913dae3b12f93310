"""Live channels as data: the rules for their settings, who is publishing to one
right now, their publish history, their segments, and the playlists and URLs they
answer with. The OSS operations (operations.py) and the ingest (ingest.py) both
come here, so both refuse the same things and agree on what "Live" means.
"""

import math
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from urllib.parse import quote

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from buckets import errors
from buckets.models import LiveChannel, LivePublishRecord, LiveSegment
from buckets.names import validate_object_key

DEFAULT_PLAYLIST_NAME = "playlist.m3u8"
MAX_DESCRIPTION_BYTES = 128
FRAG_RANGE = (1, 100)  # FragDuration (seconds) and FragCount, as OSS
PLAYLIST_NAME_LENGTHS = (6, 128)
HISTORY_RECORDS = 10  # GetLiveChannelHistory: the last ten publishes
MAX_VOD_SPAN_SECONDS = 24 * 3600  # PostVodPlaylist's range: under a day
RTMP_DEFAULT_PORT = 1935


# -- settings and their rules ----------------------------------------------------------


@dataclass(frozen=True)
class ChannelSettings:
    """What PutLiveChannel sets, once valid."""

    description: str = ""
    status: str = LiveChannel.Status.ENABLED
    frag_duration: int = 5
    frag_count: int = 3
    playlist_name: str = DEFAULT_PLAYLIST_NAME


def check_channel_name(name):
    """A channel name is an object name without "/"."""
    try:
        validate_object_key(name)
    except Exception as error:  # ValidationError: its message says why
        raise errors.invalid_object_name(name, " ".join(error.messages)) from None
    if "/" in name:
        raise errors.invalid_argument(
            "A live channel name must not contain '/'.", "ChannelName", name
        )
    return name


def check_status(value):
    if value not in LiveChannel.Status.values:
        raise errors.invalid_argument(
            "Status must be enabled or disabled.", "Status", value
        )
    return value


def check_description(value):
    if len(value.encode("utf-8")) > MAX_DESCRIPTION_BYTES:
        raise errors.invalid_argument(
            f"Description must be at most {MAX_DESCRIPTION_BYTES} bytes.",
            "Description",
            value,
        )
    return value


def check_fragment_number(name, text):
    """FragDuration or FragCount: a whole number from 1 to 100."""
    low, high = FRAG_RANGE
    value = text.strip()
    if not value.isascii() or not value.isdigit() or not low <= int(value) <= high:
        raise errors.invalid_argument(
            f"{name} must be an integer from {low} to {high}.", name, text
        )
    return int(value)


def check_playlist_name(value, argument="PlaylistName"):
    """6 to 128 characters, ending in .m3u8, without "/"."""
    low, high = PLAYLIST_NAME_LENGTHS
    if (
        not low <= len(value) <= high
        or not value.endswith(".m3u8")
        or "/" in value
        or any(ord(c) < 0x20 for c in value)
    ):
        raise errors.invalid_argument(
            f"{argument} must be {low} to {high} characters, end with .m3u8 and hold no '/'.",
            argument,
            value,
        )
    return value


def check_vod_range(start_text, end_text):
    """PostVodPlaylist's / GetVodPlaylist's startTime and endTime (Unix seconds):
    the end after the start, less than a day apart. Returns aware datetimes."""
    bounds = []
    for name, text in (("startTime", start_text), ("endTime", end_text)):
        # Unix seconds up to 11 digits (year 5138): a datetime can hold them.
        if text is None or not text.isascii() or not text.isdigit() or len(text) > 11:
            raise errors.invalid_argument(
                f"{name} must be a Unix time in seconds.", name, text or ""
            )
        bounds.append(int(text))
    start, end = bounds
    if end <= start or end - start > MAX_VOD_SPAN_SECONDS:
        raise errors.invalid_argument(
            "endTime must be after startTime, and less than a day after it.",
            "endTime",
            end_text,
        )
    return datetime.fromtimestamp(start, UTC), datetime.fromtimestamp(end, UTC)


# -- channels -------------------------------------------------------------------------


def find_channel(bucket, name):
    channel = LiveChannel.objects.filter(bucket=bucket, name=name).first()
    if channel is None:
        raise no_such_live_channel(name)
    return channel


def no_such_live_channel(name):
    return errors.OssError(
        404,
        "NoSuchLiveChannel",
        "The specified live channel does not exist.",
        ChannelName=name,
        EC="0026-00000021",
    )


def channel_still_live(name):
    return errors.OssError(
        409,
        "ChannelStillLive",
        "The live channel is being published to; it cannot be updated or deleted.",
        ChannelName=name,
        EC="0044-00000201",
    )


def put_channel(bucket, name, channel_settings):
    """Create the channel, or replace the settings of one that is not live."""
    with transaction.atomic():
        channel = (
            LiveChannel.objects.select_for_update()
            .filter(bucket=bucket, name=name)
            .first()
        )
        if channel is not None and is_live(channel):
            raise channel_still_live(name)
        channel = channel or LiveChannel(bucket=bucket, name=name)
        for field, value in vars(channel_settings).items():
            setattr(channel, field, value)
        channel.last_modified = timezone.now()
        channel.save()
    return channel


def set_status(channel, status):
    """Disabling a live channel ends its publish at the ingest's next heartbeat."""
    LiveChannel.objects.filter(pk=channel.pk).update(
        status=status, last_modified=timezone.now()
    )


def delete_channel(bucket, name):
    """Its .ts objects and playlists stay, as on OSS."""
    with transaction.atomic():
        channel = find_channel_for_update(bucket, name)
        if is_live(channel):
            raise channel_still_live(name)
        channel.delete()


def find_channel_for_update(bucket, name):
    channel = (
        LiveChannel.objects.select_for_update().filter(bucket=bucket, name=name).first()
    )
    if channel is None:
        raise no_such_live_channel(name)
    return channel


def list_channels(bucket, *, prefix, marker, max_keys):
    """One page of ListLiveChannel: (channels, next_marker or None)."""
    channels = LiveChannel.objects.filter(bucket=bucket, name__gt=marker)
    if prefix:
        channels = channels.filter(name__startswith=prefix)
    page = list(channels.order_by("name")[: max_keys + 1])
    if len(page) > max_keys:
        return page[:max_keys], page[max_keys - 1].name
    return page, None


# -- who is publishing -------------------------------------------------------------------


def stale_before():
    """A publisher whose last heartbeat is older than this has gone (a crash)."""
    return timezone.now() - timedelta(seconds=settings.LIVE_STALE_SECONDS)


def is_live(channel):
    return bool(
        channel.publisher_token
        and channel.heartbeat_at is not None
        and channel.heartbeat_at >= stale_before()
    )


def stat_status(channel):
    """GetLiveChannelStat's Status: Disabled, Live or Idle."""
    if channel.status == LiveChannel.Status.DISABLED:
        return "Disabled"
    return "Live" if is_live(channel) else "Idle"


def claim_publisher(channel, remote_addr):
    """Make this publish the channel's one publisher: its token, or None when
    another publisher is live. A stale claim (a crashed ingest) is taken over,
    and its unfinished record ends at that publisher's last heartbeat."""
    token = secrets.token_hex(16)
    now = timezone.now()
    with transaction.atomic():
        stale = LiveChannel.objects.select_for_update().get(pk=channel.pk)
        claimed = (
            LiveChannel.objects.filter(pk=channel.pk)
            .filter(
                Q(publisher_token="")
                | Q(heartbeat_at__isnull=True)
                | Q(heartbeat_at__lt=stale_before())
            )
            .update(
                publisher_token=token,
                publisher_addr=remote_addr,
                connected_at=now,
                heartbeat_at=now,
                stream_info={},
            )
        )
        if not claimed:
            return None
        LivePublishRecord.objects.filter(channel=channel, ended_at=None).update(
            ended_at=stale.heartbeat_at or now
        )
        LivePublishRecord.objects.create(
            channel=channel, started_at=now, remote_addr=remote_addr
        )
    return token


def heartbeat(channel, token, stream_info, next_segment):
    """Say the publish is still on. False when it must end: the channel was
    disabled or deleted, or another publisher took it over."""
    return bool(
        LiveChannel.objects.filter(
            pk=channel.pk,
            publisher_token=token,
            status=LiveChannel.Status.ENABLED,
        ).update(
            heartbeat_at=timezone.now(),
            stream_info=stream_info,
            next_segment=next_segment,
        )
    )


def release_publisher(channel, token, next_segment):
    """The publish ended: the channel is Idle at once, its record ends now."""
    now = timezone.now()
    with transaction.atomic():
        released = LiveChannel.objects.filter(
            pk=channel.pk, publisher_token=token
        ).update(
            publisher_token="",
            publisher_addr="",
            heartbeat_at=None,
            next_segment=next_segment,
        )
        if released:
            LivePublishRecord.objects.filter(channel=channel, ended_at=None).update(
                ended_at=now
            )


def release_all_publishers():
    """At ingest start-up: no publish of an earlier run is still on."""
    now = timezone.now()
    with transaction.atomic():
        LiveChannel.objects.exclude(publisher_token="").update(
            publisher_token="", publisher_addr="", heartbeat_at=None
        )
        LivePublishRecord.objects.filter(ended_at=None).update(ended_at=now)


def history(channel):
    """The last publishes that ended, oldest first."""
    records = channel.publish_records.exclude(ended_at=None)[:HISTORY_RECORDS]
    return list(reversed(records))


# -- segments and playlists ----------------------------------------------------------------


def segments_between(channel, start, end):
    return list(
        LiveSegment.objects.filter(
            channel=channel, started_at__gte=start, started_at__lte=end
        ).order_by("sequence")
    )


def no_segments_in_range():
    return errors.invalid_argument(
        "No ts file found in the specified time span.", "startTime", ""
    )


def playlist_text(entries, *, media_sequence=0, vod=False, ended=False):
    """An HLS media playlist of (uri, duration seconds) entries. A VOD playlist,
    or the live one of a stream that ended, is closed with #EXT-X-ENDLIST."""
    longest = max((duration for _uri, duration in entries), default=1)
    lines = [
        "#EXTM3U",
        "#EXT-X-VERSION:3",
        f"#EXT-X-MEDIA-SEQUENCE:{media_sequence}",
        f"#EXT-X-TARGETDURATION:{max(1, math.ceil(longest))}",
    ]
    if vod:
        lines.append("#EXT-X-PLAYLIST-TYPE:VOD")
    for uri, duration in entries:
        lines += [f"#EXTINF:{duration:.3f},", uri]
    if vod or ended:
        lines.append("#EXT-X-ENDLIST")
    return "\n".join(lines) + "\n"


def live_playlist_text(window, *, ended=False):
    """The live playlist of the window's segments (in order). It sits beside them
    under "<channel>/", so it names them relatively."""
    return playlist_text(
        [(segment_file_name(s.sequence), s.duration) for s in window],
        media_sequence=window[0].sequence if window else 0,
        ended=ended,
    )


def vod_playlist_text(segments, *, prefix=""):
    """A VOD playlist of `segments`; `prefix` leads each name to where the
    playlist is read from ("<channel>/" when served from "/<bucket>/<channel>")."""
    return playlist_text(
        [(prefix + segment_file_name(s.sequence), s.duration) for s in segments],
        media_sequence=segments[0].sequence if segments else 0,
        vod=True,
    )


def segment_file_name(sequence):
    return f"{sequence}.ts"


def segment_key(channel_name, sequence):
    return f"{channel_name}/{segment_file_name(sequence)}"


# -- URLs -----------------------------------------------------------------------------------


_HOST_RE = re.compile(r"^(?P<name>\[[^\]]*\]|[^:]*)(?::(?P<port>\d+))?$")


def _host_and_port(request):
    """The host name (an IPv6 one in brackets) and port (or None) the request was
    sent to."""
    match = _HOST_RE.match(request.get_host())
    return (match["name"], match["port"]) if match else (request.get_host(), None)


def publish_url(request, bucket_name, channel_name):
    """The RTMP URL to publish to, on this server's ingest; "" when the ingest is
    off (LIVE_RTMP_PORT=0): nothing would answer there."""
    port = settings.LIVE_RTMP_PORT
    if not port:
        return ""
    suffix = "" if port == RTMP_DEFAULT_PORT else f":{port}"
    channel = quote(channel_name, safe="")
    if settings.OSS_DOMAIN:
        return f"rtmp://{bucket_name}.{settings.OSS_DOMAIN}{suffix}/live/{channel}"
    host, _port = _host_and_port(request)
    return f"rtmp://{host}{suffix}/{bucket_name}/live/{channel}"


def play_url(request, bucket_name, channel_name, playlist_name):
    """The playlist's URL on this server, in the form its requests take."""
    path = f"{quote(channel_name, safe='')}/{quote(playlist_name, safe='')}"
    if settings.OSS_DOMAIN:
        _host, port = _host_and_port(request)
        suffix = f":{port}" if port else ""
        return f"{request.scheme}://{bucket_name}.{settings.OSS_DOMAIN}{suffix}/{path}"
    return f"{request.scheme}://{request.get_host()}/{bucket_name}/{path}"
