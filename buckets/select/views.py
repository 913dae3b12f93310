"""POST /bucket/key?x-oss-process=csv/select | json/select | csv/meta | json/meta.

SelectObject answers 206 and streams frames (or raw rows with OutputRawData).
Anything wrong that shows before the first frame is an ordinary OSS error (400);
after it, the end frame carries the error (raw output: the connection is cut, so
a client never takes a short answer for a whole one).
"""

import errno
import re

from django.http import HttpResponse, StreamingHttpResponse

from buckets import errors
from buckets.oss_access import (
    check_object_readable,
    checked_key,
    get_bucket,
    read_xml_body,
    readable_object,
    writable_object,
)
from buckets.referer import check_referer
from buckets.restore import check_readable_now
from buckets.select import framing, sql
from buckets.select import request as select_request
from buckets.select.records import DataError
from buckets.select.run import (
    ByteRange,
    End,
    ObjectBytes,
    Output,
    SelectRun,
    object_meta,
)
from buckets.serving import follow_symlink
from buckets.storage import open_current_version

PROCESSES = ("csv/select", "json/select", "csv/meta", "json/meta")
_BYTE_RANGE = re.compile(r"bytes=([0-9]{1,18})-([0-9]{1,18})")


class SelectInterrupted(ConnectionResetError):
    """Raised mid-body of a raw-output select that fails: the server cuts the
    connection (no traceback), so the client sees an incomplete response."""

    def __init__(self, message):
        super().__init__(errno.ECONNRESET, message)


def process_object(request, bucket_name, key):
    """POST ?x-oss-process=...: SelectObject and CreateSelectObjectMeta; any other
    processing (image/..., sys/saveas, ...) is not implemented here."""
    process = request.GET.get("x-oss-process", "")
    if process not in PROCESSES:
        get_bucket(bucket_name)
        raise errors.not_implemented(f"x-oss-process={process[:64]}")
    kind, action = process.split("/")
    if action == "meta":
        return create_select_object_meta(request, bucket_name, key, kind)
    return select_object(request, bucket_name, key, kind)


def processing_not_implemented(request, bucket_name, key):
    """x-oss-process on GET (image processing) and other methods: 501, never the plain
    GetObject."""
    get_bucket(bucket_name)
    raise errors.not_implemented("x-oss-process")


def select_object(request, bucket_name, key, kind):
    obj = _target(request, bucket_name, key, readable_object)
    settings = _settings(select_request.select_settings, read_xml_body(request), kind)
    query = _query(settings)
    byte_range = _byte_range(request, settings)
    events = _opened_events(obj, key, settings, query, byte_range)
    # Run until the first event: an error found before anything is sent is a plain 400.
    first = next(events)
    if isinstance(first, End) and first.error is not None:
        events.close()
        raise _select_failed(first.error)
    body = (
        _raw_body(first, events)
        if settings.output_raw
        else _framed_body(first, events, settings)
    )
    response = StreamingHttpResponse(
        body, status=206, content_type="application/octet-stream"
    )
    response._resource_closers.append(events.close)  # closes the object's file
    response["x-oss-select-output-raw"] = "true" if settings.output_raw else "false"
    return response


def create_select_object_meta(request, bucket_name, key, kind):
    """OSS asks write access for it (it records the meta there); nothing is
    recorded here: every call scans the object, so the answer is always current."""
    obj = _target(request, bucket_name, key, writable_object)
    settings = _settings(select_request.meta_settings, read_xml_body(request), kind)
    obj, handle = open_current_version(obj)
    if obj is None:
        raise errors.no_such_key(key)
    with handle:
        source = ObjectBytes(handle)
        try:
            meta = object_meta(source, settings)
        except DataError as error:
            raise _select_failed(str(error)) from None
    if kind == "csv":
        frame = framing.csv_meta_end_frame(
            source.scanned, splits=meta.splits, rows=meta.rows, columns=meta.columns
        )
    else:
        frame = framing.json_meta_end_frame(
            source.scanned, splits=meta.splits, rows=meta.rows
        )
    response = HttpResponse(frame, content_type="application/octet-stream")
    if kind == "csv":
        response["x-oss-select-csv-rows"] = str(meta.rows)
        response["x-oss-select-csv-columns"] = str(meta.columns)
        response["x-oss-select-csv-splits"] = str(meta.splits)
    return response


# -- the steps ---------------------------------------------------------------------------


def _target(request, bucket_name, key, access_check):
    """The object to read, once the request may (as GetObject: its symlink's target,
    and an archived object only once restored)."""
    bucket = get_bucket(bucket_name)
    obj = access_check(request, bucket, key)
    check_referer(request, bucket)
    checked_key(key)
    if obj is None:
        raise errors.no_such_key(key)
    if obj.object_type == "Symlink":
        obj = check_object_readable(request, bucket, follow_symlink(obj))
    check_readable_now(obj, bucket)  # an archived object's bytes wait for a restore
    return obj


def _settings(parse, body, kind):
    try:
        return parse(body, kind)
    except select_request.MalformedRequest as error:
        raise errors.malformed_xml(str(error)) from None
    except select_request.SettingError as error:
        raise errors.invalid_argument(str(error), error.name, error.value) from None


def _query(settings):
    try:
        query = sql.parse(settings.sql)
    except sql.SqlError as error:
        raise errors.invalid_argument(
            str(error), "Expression", settings.sql[:200]
        ) from None
    if settings.keep_all_columns and (
        query.is_aggregate
        or any(not isinstance(item.expr, sql.Column) for item in query.items)
    ):
        raise errors.invalid_argument(
            "KeepAllColumns needs every select item to be a plain column.",
            "KeepAllColumns",
            "true",
        )
    return query


def _byte_range(request, settings):
    """A Range header: records starting in it. OSS allows it for CSV whose quoted
    fields hold no record delimiter (AllowQuotedRecordDelimiter false), uncompressed."""
    header = request.headers.get("Range")
    if not header:
        return None
    match = _BYTE_RANGE.fullmatch(header.strip())
    if match is None or int(match.group(2)) < int(match.group(1)):
        raise errors.invalid_argument(
            "A select's Range must be bytes=first-last.", "Range", header
        )
    if (
        settings.kind != "csv"
        or settings.csv.allow_quoted_record_delimiter
        or settings.gzip
    ):
        raise errors.invalid_argument(
            "A Range header needs CSV input with AllowQuotedRecordDelimiter false, uncompressed.",
            "Range",
            header,
        )
    if settings.record_range is not None:
        raise errors.invalid_argument(
            "A Range header and a line/split range cannot be combined.", "Range", header
        )
    return ByteRange(int(match.group(1)), int(match.group(2)))


def _opened_events(obj, key, settings, query, byte_range):
    if (
        settings.gzip
        and settings.record_range is not None
        and settings.record_range.unit == "split"
    ):
        raise errors.invalid_argument(
            "split-range is not available for GZIP objects.", "Range", "split-range"
        )
    obj, handle = open_current_version(obj)
    if obj is None:
        raise errors.no_such_key(key)
    run = SelectRun(settings, query, byte_range)

    def events():
        with handle:
            yield from run.events(ObjectBytes(handle, gzip=settings.gzip))

    return events()


def _select_failed(message):
    return errors.OssError(400, "InvalidArgument", message)


def _framed_body(first, events, settings):
    crc = settings.payload_crc
    for event in _chain(first, events):
        if isinstance(event, Output):
            yield framing.data_frame(event.scanned, event.data, with_crc=crc)
        elif isinstance(event, End):
            status, error = (
                (206, None)
                if event.error is None
                else (400, ("InvalidArgument", event.error))
            )
            yield framing.end_frame(event.scanned, status, error, with_crc=crc)
        else:
            yield framing.continuous_frame(event.scanned, with_crc=crc)


def _raw_body(first, events):
    for event in _chain(first, events):
        if isinstance(event, Output):
            yield event.data
        elif isinstance(event, End) and event.error is not None:
            raise SelectInterrupted(event.error)


def _chain(first, events):
    yield first
    yield from events
