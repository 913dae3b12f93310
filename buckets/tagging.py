"""Object tagging and bucket tagging (`?tagging`), and the `x-oss-tagging` header.

Tags are a {key: value} dict stored with what they tag (StoredObject.tags,
Bucket.tags). Changing an object's tags changes neither its bytes nor its
Last-Modified; writing the object (PutObject, CopyObject, AppendObject's first
append, CompleteMultipartUpload) sets them from the request, so an overwrite
without tags clears them, as on OSS.

OSS's limits, checked here and nowhere else:
  objects: at most 10 tags; key 1-128 characters, value 0-256; letters, digits,
           space and + - = . _ : / only (letters and digits of any script: OSS
           accepts `中文`); keys unique and case-sensitive.
  buckets: at most 20 tags; key 1-64 characters, not starting with http://,
           https://, Aliyun or acs (case-insensitive); value 0-128; any UTF-8.
"""

from urllib.parse import unquote

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import ParseError, fromstring
from django.db import transaction

from buckets import errors, oss_xml, versioning
from buckets.header_text import from_wire
from buckets.models import Bucket
from buckets.oss_access import (
    checked_key,
    empty_response,
    get_bucket,
    owned_bucket,
    read_xml_body,
    readable_object,
    writable_object,
)

MAX_OBJECT_TAGS = 10
MAX_OBJECT_TAG_KEY = 128
MAX_OBJECT_TAG_VALUE = 256
OBJECT_TAG_PUNCTUATION = frozenset(" +-=._:/")

MAX_BUCKET_TAGS = 20
MAX_BUCKET_TAG_KEY = 64
MAX_BUCKET_TAG_VALUE = 128
RESERVED_BUCKET_TAG_PREFIXES = ("http://", "https://", "aliyun", "acs")

TAGGING_HEADER = "x-oss-tagging"
TAGGING_DIRECTIVE_HEADER = "x-oss-tagging-directive"


def invalid_tag(message):
    return errors.OssError(400, "InvalidTag", message)


# -- the rules -------------------------------------------------------------------------


def _has_only_allowed_characters(text):
    return all(char.isalnum() or char in OBJECT_TAG_PUNCTUATION for char in text)


def object_tags(pairs):
    """{key: value} of (key, value) pairs that obey OSS's object-tag rules, else InvalidTag."""
    pairs = list(pairs)
    if len(pairs) > MAX_OBJECT_TAGS:
        raise invalid_tag(f"An object can have at most {MAX_OBJECT_TAGS} tags.")
    for key, value in pairs:
        if not 1 <= len(key) <= MAX_OBJECT_TAG_KEY:
            raise invalid_tag(
                f"A tag key must be 1 to {MAX_OBJECT_TAG_KEY} characters long."
            )
        if len(value) > MAX_OBJECT_TAG_VALUE:
            raise invalid_tag(
                f"A tag value must be at most {MAX_OBJECT_TAG_VALUE} characters long."
            )
        check_tag_characters(key, value)
    return _unique(pairs)


def check_tag_characters(key, value):
    if not key or not (
        _has_only_allowed_characters(key) and _has_only_allowed_characters(value)
    ):
        raise invalid_tag(
            "Tag keys and values may hold only letters, digits, spaces and + - = . _ : /"
        )


def bucket_tags(pairs):
    """{key: value} of (key, value) pairs that obey OSS's bucket-tag rules, else InvalidTag."""
    pairs = list(pairs)
    if len(pairs) > MAX_BUCKET_TAGS:
        raise invalid_tag(f"A bucket can have at most {MAX_BUCKET_TAGS} tags.")
    for key, value in pairs:
        if not 1 <= len(key) <= MAX_BUCKET_TAG_KEY:
            raise invalid_tag(
                f"A bucket tag key must be 1 to {MAX_BUCKET_TAG_KEY} characters long."
            )
        if key.lower().startswith(RESERVED_BUCKET_TAG_PREFIXES):
            raise invalid_tag(
                "A bucket tag key must not start with http://, https://, Aliyun or acs."
            )
        if len(value) > MAX_BUCKET_TAG_VALUE:
            raise invalid_tag(
                f"A bucket tag value must be at most {MAX_BUCKET_TAG_VALUE} characters long."
            )
    return _unique(pairs)


def _unique(pairs):
    tags = dict(pairs)
    if len(tags) != len(pairs):
        raise invalid_tag("Tag keys must be unique.")
    return tags


# -- reading tags from a request -------------------------------------------------------


def tags_from_header(request):
    """The object tags of `x-oss-tagging: k1=v1&k2=v2` (URL-encoded; a bare `k`
    has an empty value), {} without the header."""
    header = from_wire(request.headers.get(TAGGING_HEADER, ""))
    pairs = []
    for item in header.split("&"):
        if not item:
            continue
        key, _, value = item.partition("=")
        if "=" in value:
            raise errors.invalid_argument(
                "x-oss-tagging must be key=value pairs joined by &.",
                TAGGING_HEADER,
                header,
            )
        try:
            pairs.append(
                (unquote(key, errors="strict"), unquote(value, errors="strict"))
            )
        except UnicodeDecodeError:
            raise errors.invalid_argument(
                "x-oss-tagging must be URL-encoded UTF-8.", TAGGING_HEADER, header
            ) from None
    return object_tags(pairs)


def tags_for_copy(request, source):
    """CopyObject's tags: the source's (x-oss-tagging-directive: Copy, the
    default) or x-oss-tagging's (Replace)."""
    directive = request.headers.get(TAGGING_DIRECTIVE_HEADER, "Copy")
    if directive.upper() == "COPY":
        return dict(source.tags)
    if directive.upper() == "REPLACE":
        return tags_from_header(request)
    raise errors.invalid_argument(
        "x-oss-tagging-directive must be Copy or Replace.",
        TAGGING_DIRECTIVE_HEADER,
        directive,
    )


def _pairs_from_body(request):
    """The (key, value) pairs of a <Tagging><TagSet><Tag>... body, in order."""
    try:
        # defusedxml: entity declarations (billion laughs, external files) are refused.
        root = fromstring(read_xml_body(request))
    except (ParseError, DefusedXmlException):
        raise errors.malformed_xml() from None
    tag_set = root.find("TagSet")
    if root.tag != "Tagging" or tag_set is None:
        raise errors.malformed_xml(
            "The body must be <Tagging><TagSet>...</TagSet></Tagging>."
        )
    pairs = []
    for tag in tag_set:
        if tag.tag != "Tag" or tag.find("Key") is None:
            raise errors.malformed_xml("Each TagSet entry must be a Tag with a Key.")
        pairs.append((tag.findtext("Key") or "", tag.findtext("Value") or ""))
    return pairs


def buckets_with_tag(buckets, request):
    """ListBuckets's tag-key / tag-value filter (tag-value only with tag-key)."""
    key, value = request.GET.get("tag-key"), request.GET.get("tag-value")
    if key is None:
        if value is not None:
            raise errors.invalid_argument(
                "tag-value needs tag-key.", "tag-value", value
            )
        return buckets
    # Matched here, not in SQL: SQLite's JSON paths cannot name every key (one with
    # a `"` in it), and one user's buckets are few (OSS allows 100 by default).
    matching = [
        pk
        for pk, tags in buckets.values_list("pk", "tags")
        if key in tags and (value is None or tags[key] == value)
    ]
    return buckets.filter(pk__in=matching)


# -- object tagging ----------------------------------------------------------------------


def put_object_tagging(request, bucket_name, key):
    bucket = get_bucket(bucket_name)
    version = writable_object(request, bucket, key)
    checked_key(key)
    tags = object_tags(_pairs_from_body(request))
    # One UPDATE of the tags alone: bytes and Last-Modified stay as they are.
    if not versioning.update_version(bucket, key, version, tags=tags):
        raise errors.no_such_key(key)
    return versioning.with_version_headers(empty_response(), bucket, version)


def get_object_tagging(request, bucket_name, key):
    bucket = get_bucket(bucket_name)
    obj = readable_object(request, bucket, key)
    checked_key(key)
    if obj is None or getattr(obj, "is_delete_marker", False):
        raise errors.no_such_key(key)
    return versioning.with_version_headers(
        oss_xml.xml_response(oss_xml.tagging(obj.tags)), bucket, obj
    )


def delete_object_tagging(request, bucket_name, key):
    bucket = get_bucket(bucket_name)
    version = writable_object(request, bucket, key)
    if not versioning.update_version(bucket, checked_key(key), version, tags={}):
        raise errors.no_such_key(key)
    return versioning.with_version_headers(empty_response(204), bucket, version)


# -- bucket tagging ----------------------------------------------------------------------


def put_bucket_tagging(request, bucket_name):
    """The body's tags replace the bucket's."""
    bucket = owned_bucket(request, bucket_name)
    tags = bucket_tags(_pairs_from_body(request))
    Bucket.objects.filter(pk=bucket.pk).update(tags=tags)
    return empty_response()


def get_bucket_tagging(request, bucket_name):
    bucket = owned_bucket(request, bucket_name)
    return oss_xml.xml_response(oss_xml.tagging(bucket.tags))


def delete_bucket_tagging(request, bucket_name):
    """`?tagging` deletes every tag, `?tagging=k1,k2` those keys; keys that are not
    there are no error (204 either way, as on OSS)."""
    bucket = owned_bucket(request, bucket_name)
    named = {key for key in request.GET.get("tagging", "").split(",") if key}
    with transaction.atomic():
        # Locked: a concurrent PutBucketTagging is not undone by a stale read.
        current = Bucket.objects.select_for_update().filter(pk=bucket.pk).first()
        if current is None:  # deleted meanwhile
            raise errors.no_such_bucket(bucket_name)
        current.tags = (
            {key: value for key, value in current.tags.items() if key not in named}
            if named
            else {}
        )
        current.save(update_fields=["tags"])
    return empty_response(204)
