"""The OSS live channel operations and their XML.

Bucket level: ListLiveChannel (GET /<bucket>?live). Channel level, on the object
URL /<bucket>/<channel>: PutLiveChannel, GetLiveChannelInfo, DeleteLiveChannel
(?live), PutLiveChannelStatus (?live&status=), GetLiveChannelStat and
GetLiveChannelHistory (?live&comp=stat|history), GetVodPlaylist (GET ?vod) and
PostVodPlaylist (POST /<bucket>/<channel>/<playlist>?vod). Every one is the bucket
owner's, or what the bucket policy grants (the OSS action named below).
"""

from django.http import HttpResponse

from buckets import errors, oss_xml
from buckets.live import channels
from buckets.oss_access import (
    check_access,
    count_parameter,
    empty_response,
    get_bucket,
    xml_document,
)
from buckets.storage import ObjectMetadata, ObjectWriter, commit_object

PLAYLIST_CONTENT_TYPE = "application/x-mpegURL"
CONFIGURATION_ELEMENTS = {"Description", "Status", "Target"}
TARGET_ELEMENTS = {"Type", "FragDuration", "FragCount", "PlaylistName"}


def _bucket_for(request, bucket_name, action, channel_name=None):
    """The bucket, once the request may do `action` (its owner, or the policy)."""
    bucket = get_bucket(bucket_name)
    check_access(
        request,
        bucket,
        acl_grants=False,
        key=channel_name,
        action=action,
        denied=errors.access_denied("You have no right to access this bucket."),
    )
    return bucket


# -- routing ---------------------------------------------------------------------------


def live_channel_operation(request, bucket_name, key):
    """Every channel-level request routes here (config/oss_urls.py registers it
    for each of its query names, in whatever order a client sends them)."""
    query = request.GET
    if "live" in query:
        operation = LIVE_OPERATIONS.get(request.method)
    elif "vod" in query:
        operation = VOD_OPERATIONS.get(request.method)
    else:  # ?comp or ?status alone: no live channel operation, nor any other
        name = next(name for name in query if name in ROUTED_NAMES)
        raise errors.not_implemented(name)
    if operation is None:
        raise errors.method_not_allowed(request.method)
    return operation(request, bucket_name, key)


def _put(request, bucket_name, key):
    if "status" in request.GET:
        return put_live_channel_status(request, bucket_name, key)
    return put_live_channel(request, bucket_name, key)


def _get(request, bucket_name, key):
    comp = request.GET.get("comp")
    if comp is None:
        return get_live_channel_info(request, bucket_name, key)
    if comp == "stat":
        return get_live_channel_stat(request, bucket_name, key)
    if comp == "history":
        return get_live_channel_history(request, bucket_name, key)
    raise errors.invalid_argument("comp must be stat or history.", "comp", comp)


# -- PutLiveChannel --------------------------------------------------------------------


def put_live_channel(request, bucket_name, key):
    bucket = _bucket_for(request, bucket_name, "oss:PutLiveChannel", key)
    name = channels.check_channel_name(key)
    channel_settings = parse_configuration(
        xml_document(request, "LiveChannelConfiguration")
    )
    channel = channels.put_channel(bucket, name, channel_settings)
    return oss_xml.xml_response(
        oss_xml.element(
            "CreateLiveChannelResult",
            children=_url_elements(request, bucket.name, channel),
        )
    )


def parse_configuration(root):
    """LiveChannelConfiguration -> ChannelSettings; any bad value is refused."""
    _only_known(root, CONFIGURATION_ELEMENTS)
    target = root.find("Target")
    if target is None:
        raise errors.malformed_xml("LiveChannelConfiguration must hold a Target.")
    _only_known(target, TARGET_ELEMENTS)
    kind = target.findtext("Type")
    if kind != "HLS":
        raise errors.invalid_argument("Type must be HLS.", "Type", kind or "")
    fragments = {name: target.findtext(name) for name in ("FragDuration", "FragCount")}
    if (fragments["FragDuration"] is None) != (fragments["FragCount"] is None):
        missing = next(name for name, text in fragments.items() if text is None)
        raise errors.invalid_argument(
            "FragDuration and FragCount are set together, or neither.", missing, ""
        )
    defaults = channels.ChannelSettings()
    playlist_name = (target.findtext("PlaylistName") or "").strip()
    status = root.findtext("Status")
    return channels.ChannelSettings(
        description=channels.check_description(root.findtext("Description") or ""),
        status=defaults.status if status is None else channels.check_status(status),
        frag_duration=_fragment_number("FragDuration", fragments, defaults),
        frag_count=_fragment_number("FragCount", fragments, defaults),
        playlist_name=channels.check_playlist_name(playlist_name)
        if playlist_name
        else defaults.playlist_name,
    )


def _fragment_number(name, fragments, defaults):
    text = fragments[name]
    if text is None:
        return {
            "FragDuration": defaults.frag_duration,
            "FragCount": defaults.frag_count,
        }[name]
    return channels.check_fragment_number(name, text)


def _only_known(node, known):
    """Snapshot (frames sent to MNS) is a feature this server lacks: 501, never
    ignored; anything else unknown is not OSS's schema."""
    for child in node:
        if child.tag == "Snapshot" and node.tag == "LiveChannelConfiguration":
            raise errors.not_implemented("LiveChannel Snapshot")
        if child.tag not in known:
            raise errors.malformed_xml(f"Unknown element {child.tag} in {node.tag}.")


def _url_elements(request, bucket_name, channel):
    publish = channels.publish_url(request, bucket_name, channel.name)
    play = channels.play_url(request, bucket_name, channel.name, channel.playlist_name)
    return [
        oss_xml.element("PublishUrls", children=[oss_xml.element("Url", publish)]),
        oss_xml.element("PlayUrls", children=[oss_xml.element("Url", play)]),
    ]


# -- the others on one channel -----------------------------------------------------------


def get_live_channel_info(request, bucket_name, key):
    bucket = _bucket_for(request, bucket_name, "oss:GetLiveChannel", key)
    channel = channels.find_channel(bucket, key)
    target = [
        oss_xml.element("Type", "HLS"),
        oss_xml.element("FragDuration", channel.frag_duration),
        oss_xml.element("FragCount", channel.frag_count),
        oss_xml.element("PlaylistName", channel.playlist_name),
    ]
    return oss_xml.xml_response(
        oss_xml.element(
            "LiveChannelConfiguration",
            children=[
                oss_xml.element("Description", channel.description),
                oss_xml.element("Status", channel.status),
                oss_xml.element("Target", children=target),
            ],
        )
    )


def put_live_channel_status(request, bucket_name, key):
    bucket = _bucket_for(request, bucket_name, "oss:PutLiveChannelStatus", key)
    status = channels.check_status(request.GET["status"])
    channels.set_status(channels.find_channel(bucket, key), status)
    return empty_response()


def delete_live_channel(request, bucket_name, key):
    bucket = _bucket_for(request, bucket_name, "oss:DeleteLiveChannel", key)
    channels.delete_channel(bucket, key)
    return empty_response(204)


def get_live_channel_stat(request, bucket_name, key):
    bucket = _bucket_for(request, bucket_name, "oss:GetLiveChannelStat", key)
    channel = channels.find_channel(bucket, key)
    status = channels.stat_status(channel)
    children = [oss_xml.element("Status", status)]
    if status == "Live":
        children += [
            oss_xml.element("ConnectedTime", oss_xml.iso8601(channel.connected_at)),
            oss_xml.element("RemoteAddr", channel.publisher_addr),
            *_stream_elements(channel.stream_info),
        ]
    return oss_xml.xml_response(oss_xml.element("LiveChannelStat", children=children))


def _stream_elements(info):
    """Video and Audio as far as the stream has told them (unknown numbers: 0)."""
    elements = []
    if info.get("video_codec"):
        elements.append(
            _numbers_element(
                "Video",
                info,
                [
                    ("Width", "width"),
                    ("Height", "height"),
                    ("FrameRate", "frame_rate"),
                    ("Bandwidth", "video_bandwidth"),
                ],
                info["video_codec"],
            )
        )
    if info.get("audio_codec"):
        elements.append(
            _numbers_element(
                "Audio",
                info,
                [("Bandwidth", "audio_bandwidth"), ("SampleRate", "sample_rate")],
                info["audio_codec"],
            )
        )
    return elements


def _numbers_element(tag, info, fields, codec):
    children = [
        oss_xml.element(name, int(info.get(field) or 0)) for name, field in fields
    ]
    return oss_xml.element(tag, children=[*children, oss_xml.element("Codec", codec)])


def get_live_channel_history(request, bucket_name, key):
    bucket = _bucket_for(request, bucket_name, "oss:GetLiveChannelHistory", key)
    channel = channels.find_channel(bucket, key)
    records = [
        oss_xml.element(
            "LiveRecord",
            children=[
                oss_xml.element("StartTime", oss_xml.iso8601(record.started_at)),
                oss_xml.element("EndTime", oss_xml.iso8601(record.ended_at)),
                oss_xml.element("RemoteAddr", record.remote_addr),
            ],
        )
        for record in channels.history(channel)
    ]
    return oss_xml.xml_response(oss_xml.element("LiveChannelHistory", children=records))


# -- VOD playlists ------------------------------------------------------------------------


def post_vod_playlist(request, bucket_name, key):
    """Write <channel>/<playlist> listing the channel's segments in the range."""
    channel_name, _slash, playlist_name = key.partition("/")
    bucket = _bucket_for(request, bucket_name, "oss:PostVodPlaylist", channel_name)
    channels.check_playlist_name(playlist_name, "PlaylistName")
    channel = channels.find_channel(bucket, channel_name)
    segments = _segments_in_range(request, channel)
    text = channels.vod_playlist_text(segments)
    with ObjectWriter() as writer:
        writer.write(text.encode())
        commit_object(
            bucket,
            f"{channel_name}/{playlist_name}",
            writer,
            ObjectMetadata(content_type=PLAYLIST_CONTENT_TYPE),
        )
    return empty_response()


def get_vod_playlist(request, bucket_name, key):
    """The same playlist, as the answer; read from /<bucket>/<channel>, so its
    segment names lead with "<channel>/"."""
    bucket = _bucket_for(request, bucket_name, "oss:GetVodPlaylist", key)
    channel = channels.find_channel(bucket, key)
    segments = _segments_in_range(request, channel)
    body = channels.vod_playlist_text(segments, prefix=f"{key}/").encode()
    response = HttpResponse(body, content_type=PLAYLIST_CONTENT_TYPE)
    response["Content-Length"] = str(len(body))
    return response


def _segments_in_range(request, channel):
    start, end = channels.check_vod_range(
        request.GET.get("startTime"), request.GET.get("endTime")
    )
    segments = channels.segments_between(channel, start, end)
    if not segments:
        raise channels.no_segments_in_range()
    return segments


# -- ListLiveChannel ----------------------------------------------------------------------


def list_live_channels(request, bucket_name):
    bucket = _bucket_for(request, bucket_name, "oss:ListLiveChannel")
    prefix = request.GET.get("prefix", "")
    marker = request.GET.get("marker", "")
    max_keys = count_parameter(request, "max-keys", default=100, low=1)
    page, next_marker = channels.list_channels(
        bucket, prefix=prefix, marker=marker, max_keys=max_keys
    )
    return oss_xml.xml_response(
        oss_xml.element(
            "ListLiveChannelResult",
            children=[
                oss_xml.element("Prefix", prefix),
                oss_xml.element("Marker", marker),
                oss_xml.element("MaxKeys", max_keys),
                oss_xml.element("IsTruncated", str(next_marker is not None).lower()),
                oss_xml.element("NextMarker", next_marker or ""),
                *(_channel_element(request, bucket.name, channel) for channel in page),
            ],
        )
    )


def _channel_element(request, bucket_name, channel):
    return oss_xml.element(
        "LiveChannel",
        children=[
            oss_xml.element("Name", channel.name),
            oss_xml.element("Description", channel.description),
            oss_xml.element("Status", channel.status),
            oss_xml.element("LastModified", oss_xml.iso8601(channel.last_modified)),
            *_url_elements(request, bucket_name, channel),
        ],
    )


LIVE_OPERATIONS = {"PUT": _put, "GET": _get, "DELETE": delete_live_channel}
VOD_OPERATIONS = {"POST": post_vod_playlist, "GET": get_vod_playlist}
# The channel-level query names config/oss_urls.py routes here, for every method.
ROUTED_NAMES = ("live", "comp", "status", "vod", "startTime", "endTime")
ROUTED_METHODS = ("GET", "PUT", "POST", "DELETE")
