"""The RTMP ingest's decisions and storage: which channel a publish goes to, whether
it may, and what it leaves in the bucket.

rtmp.RtmpServer calls start_publish() for each publish; it answers a
ChannelPublication (or raises rtmp.PublishRefused). The publication feeds the stream
to hls.HlsSegmenter and stores each segment as the object "<channel>/<n>.ts" through
the same write path as PutObject, rewrites the live playlist "<channel>/<PlaylistName>"
(the last FragCount segments) after each, and keeps the channel's heartbeat, stat
and history (channels.py).
"""

import base64
import hashlib
import hmac
import logging
import time
from collections import deque
from dataclasses import asdict
from datetime import timedelta
from urllib.parse import urlsplit

from django.conf import settings
from django.db import connection
from django.utils import timezone

from buckets import bucket_policy, errors, public_access
from buckets.live import channels
from buckets.live.hls import HlsSegmenter
from buckets.live.rtmp import PublishRefused
from buckets.models import AccessKey, Bucket, LiveChannel, LiveSegment
from buckets.storage import ObjectMetadata, ObjectWriter, commit_object

logger = logging.getLogger(__name__)

BAD_NAME = "NetStream.Publish.BadName"
UNAUTHORIZED = "NetStream.Publish.Unauthorized"
SEGMENT_CONTENT_TYPE = "video/MP2T"
PLAYLIST_CONTENT_TYPE = "application/x-mpegURL"
PUBLISH_ACTION = "oss:PublishRtmpStream"
# Query names a signature does not cover (oss2's _sign_rtmp_url leaves them out).
UNSIGNED_PARAMETERS = {"OSSAccessKeyId", "Signature", "Expires", "SecurityToken"}


def start_publish(request):
    """The publication for `request` (an rtmp.PublishRequest), or PublishRefused."""
    try:
        bucket = _bucket_of(request)
        channel = LiveChannel.objects.filter(bucket=bucket, name=request.stream).first()
        if channel is None:
            raise PublishRefused(f"No live channel {request.stream!r}.", BAD_NAME)
        if channel.status != LiveChannel.Status.ENABLED:
            raise PublishRefused("The live channel is disabled.", BAD_NAME)
        check_publish_allowed(bucket, channel.name, request)
        playlist_name = _playlist_name(channel, request.query)
        token = channels.claim_publisher(channel, request.remote_addr)
        if token is None:
            raise PublishRefused("Another publisher is live on this channel.", BAD_NAME)
    except PublishRefused as refused:
        logger.info("publish to %r refused: %s", request.stream, refused)
        connection.close()  # this connection's thread ends here
        raise
    except BaseException:
        connection.close()
        raise
    logger.info(
        "publish to %s/%s from %s", bucket.name, channel.name, request.remote_addr
    )
    return ChannelPublication(bucket, channel, token, playlist_name)


def _bucket_of(request):
    """The bucket the publish URL names: <bucket>.<OSS_DOMAIN>/live, or path-style
    <host>/<bucket>/live."""
    host = (urlsplit(request.tc_url).hostname or "").lower()
    app = request.app.strip("/")
    suffix = f".{settings.OSS_DOMAIN}" if settings.OSS_DOMAIN else None
    if suffix and host.endswith(suffix) and app == "live":
        name = host[: -len(suffix)]
    elif app.endswith("/live") and app.count("/") == 1:
        name = app.split("/")[0]
    else:
        raise PublishRefused(
            "Publish to rtmp://<bucket>.<domain>/live/<channel> or "
            "rtmp://<host>/<bucket>/live/<channel>.",
            BAD_NAME,
        )
    bucket = (
        Bucket.objects.select_related("owner__oss_account").filter(name=name).first()
    )
    if bucket is None:
        raise PublishRefused(f"No bucket {name!r}.", BAD_NAME)
    return bucket


def _playlist_name(channel, query):
    """The publish URL's playlistName replaces the channel's, as on OSS."""
    name = query.get("playlistName")
    if not name:
        return channel.playlist_name
    try:
        return channels.check_playlist_name(name, "playlistName")
    except errors.OssError as error:
        raise PublishRefused(error.message, BAD_NAME) from None


# -- may it publish -------------------------------------------------------------------------


def check_publish_allowed(bucket, channel_name, request):
    """A public-read-write bucket takes unsigned publishes; anything else needs a
    valid sign_rtmp_url signature by a user who may publish (the owner, or one
    the bucket policy grants oss:PublishRtmpStream)."""
    query = request.query
    if "Signature" not in query and _is_open_for_writes(bucket):
        return
    user = signed_user(bucket.name, channel_name, query)
    if bucket.is_owned_by(user):
        return
    verdict = bucket_policy.verdict(
        bucket,
        user,
        PUBLISH_ACTION,
        bucket_policy.resource_name(bucket, channel_name),
        request.remote_addr,
    )
    if verdict is not bucket_policy.Verdict.ALLOW:
        raise PublishRefused("You may not publish to this live channel.", UNAUTHORIZED)


def _is_open_for_writes(bucket):
    return bucket.acl == Bucket.Acl.PUBLIC_READ_WRITE and not public_access.is_blocked(
        bucket
    )


def signed_user(bucket_name, channel_name, query, now=None):
    """The user whose key signed the publish URL; PublishRefused otherwise."""
    for name in ("Expires", "OSSAccessKeyId", "Signature"):
        if not query.get(name):
            raise PublishRefused(f"The publish URL lacks {name}.", UNAUTHORIZED)
    if "security-token" in query:  # STS credentials: there is no STS here
        raise PublishRefused("Security tokens are not supported.", UNAUTHORIZED)
    expires = query["Expires"]
    if not expires.isascii() or not expires.isdigit():
        raise PublishRefused("Expires must be a Unix time.", UNAUTHORIZED)
    if int(expires) < (time.time() if now is None else now):
        raise PublishRefused("The publish URL has expired.", UNAUTHORIZED)
    key = AccessKey.objects.find_active(query["OSSAccessKeyId"])
    expected = key and rtmp_signature(key.secret, bucket_name, channel_name, query)
    if not expected or not hmac.compare_digest(expected, query["Signature"]):
        raise PublishRefused("The signature does not match.", UNAUTHORIZED)
    return key.user


def rtmp_signature(secret, bucket_name, channel_name, query):
    """oss2's sign_rtmp_url: HMAC-SHA1 over Expires, the other parameters sorted as
    "name:value" lines, and "/<bucket>/<channel>"."""
    parameters = "".join(
        f"{name}:{value}\n"
        for name, value in sorted(query.items())
        if name not in UNSIGNED_PARAMETERS
    )
    text = f"{query['Expires']}\n{parameters}/{bucket_name}/{channel_name}"
    digest = hmac.new(secret.encode(), text.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


# -- what a publish stores ------------------------------------------------------------------


class PublishEnded(Exception):
    """The channel was disabled or deleted, or another publisher took it over."""


class ChannelPublication:
    """One publish to one channel, on its connection's thread."""

    def __init__(self, bucket, channel, token, playlist_name):
        self.bucket = bucket
        self.channel = channel
        self.token = token
        self.playlist_key = f"{channel.name}/{playlist_name}"
        self.segmenter = HlsSegmenter(channel.frag_duration)
        self.window = deque(maxlen=channel.frag_count)  # the live playlist's segments
        self.next_segment = channel.next_segment
        self.connected_at = timezone.now()  # as claim_publisher recorded, near enough
        self.first_ms = None
        self.last_beat = time.monotonic()
        self.closed = False

    def on_metadata(self, metadata):
        self.segmenter.set_metadata(metadata)  # its framerate, until one is measured

    def on_video(self, timestamp_ms, body):
        self._started(timestamp_ms)
        self._store(self.segmenter.feed_video(timestamp_ms, body))

    def on_audio(self, timestamp_ms, body):
        self._started(timestamp_ms)
        self._store(self.segmenter.feed_audio(timestamp_ms, body))

    def close(self):
        """Store the last segment, end the playlist, free the channel."""
        if self.closed:
            return
        self.closed = True
        try:
            self._store(self.segmenter.flush(), beat=False)
            if self.window:
                self._write_playlist(ended=True)
        except Exception:  # noqa: BLE001 - the channel is freed whatever happened
            logger.exception("ending the publish to %s failed", self.playlist_key)
        finally:
            channels.release_publisher(self.channel, self.token, self.next_segment)
            connection.close()

    def _started(self, timestamp_ms):
        if self.first_ms is None:
            self.first_ms = timestamp_ms
        if time.monotonic() - self.last_beat >= settings.LIVE_HEARTBEAT_SECONDS:
            self._beat()

    def _beat(self):
        self.last_beat = time.monotonic()
        info = asdict(self.segmenter.stream_info)
        if not channels.heartbeat(self.channel, self.token, info, self.next_segment):
            raise PublishEnded(self.playlist_key)

    def _store(self, segments, *, beat=True):
        for segment in segments:
            self._store_segment(segment)
        if segments:
            self._write_playlist()
            if beat:
                self._beat()

    def _store_segment(self, segment):
        sequence = self.next_segment
        key = channels.segment_key(self.channel.name, sequence)
        _write_object(self.bucket, key, segment.data, SEGMENT_CONTENT_TYPE)
        offset = (segment.start_ms - (self.first_ms or segment.start_ms)) / 1000
        self.window.append(
            LiveSegment.objects.create(
                channel=self.channel,
                sequence=sequence,
                key=key,
                started_at=self.connected_at + timedelta(seconds=offset),
                duration=segment.duration,
            )
        )
        self.next_segment = sequence + 1

    def _write_playlist(self, *, ended=False):
        text = channels.live_playlist_text(list(self.window), ended=ended)
        _write_object(
            self.bucket, self.playlist_key, text.encode(), PLAYLIST_CONTENT_TYPE
        )


def _write_object(bucket, key, data, content_type):
    """Atomically and durably, as PutObject writes (the bucket's encryption too)."""
    with ObjectWriter() as writer:
        writer.write(data)
        commit_object(bucket, key, writer, ObjectMetadata(content_type=content_type))
