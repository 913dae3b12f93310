"""Running a parsed query over an object's records, as a stream of events.

`select_events` yields Output (bytes of result rows), Progress (nothing matched
for a while) and, last, End (how far the scan got, and the error that stopped
it, if any). The view turns them into frames, or raw bytes. `object_meta`
counts what CreateSelectObjectMeta reports. Plain Python: no Django here.
"""

import re
import zlib
from dataclasses import dataclass

from buckets.select import sql
from buckets.select.evaluate import (
    MISSING,
    Aggregator,
    as_truth,
    evaluate,
    json_text,
    text_of,
)
from buckets.select.records import (
    DataError,
    RecordError,
    csv_records,
    json_document_records,
    json_lines_records,
)

OUTPUT_FLUSH_BYTES = 64 * 1024
PROGRESS_BYTES = (
    1024 * 1024
)  # a continuous frame after this much scanned without output


@dataclass(frozen=True)
class Output:
    data: bytes
    scanned: int


@dataclass(frozen=True)
class Progress:
    scanned: int


@dataclass(frozen=True)
class End:
    scanned: int
    error: str | None = None  # what stopped the query, if anything


@dataclass(frozen=True)
class ByteRange:
    """A Range header on a select: the records that start within first..last."""

    first: int
    last: int


class ObjectBytes:
    """The object's bytes as chunks (gunzipped if asked); `scanned` counts the
    stored bytes read so far, which is what the frames report."""

    def __init__(self, handle, *, gzip=False, chunk_size=64 * 1024):
        self.handle = handle
        self.gzip = gzip
        self.chunk_size = chunk_size
        self.scanned = 0

    def chunks(self):
        inflater = zlib.decompressobj(wbits=31) if self.gzip else None
        while True:
            chunk = self.handle.read(self.chunk_size)
            if not chunk:
                break
            self.scanned += len(chunk)
            if inflater is None:
                yield chunk
                continue
            try:
                yield inflater.decompress(chunk)
                while inflater.eof and inflater.unused_data:  # concatenated members
                    rest = inflater.unused_data
                    inflater = zlib.decompressobj(wbits=31)
                    yield inflater.decompress(rest)
            except zlib.error:
                raise DataError("The object is not valid GZIP data.") from None
        if inflater is not None and not inflater.eof:
            raise DataError("The object's GZIP data is truncated.")


# -- columns ---------------------------------------------------------------------------


def _strip_alias(column, alias):
    if alias is not None and len(column.path) > 1 and column.path[0] == alias:
        return sql.Column(column.path[1:])
    return column


def csv_accessor(column, header_index):
    """A function reading `column` from a CSV record's fields."""
    position = column.position
    if position is None:
        if len(column.path) != 1:
            raise DataError(f"CSV columns have no nested fields: {_written(column)}.")
        if header_index is None:
            raise DataError(
                f"The column {column.path[0]!r} needs FileHeaderInfo Use; without a header, columns are _1, _2, ..."
            )
        index = header_index.get(column.path[0].lower())
        if index is None:
            raise DataError(f"The CSV header has no column {column.path[0]!r}.")
    else:
        index = position - 1
    return lambda fields: fields[index] if index < len(fields) else MISSING


def json_accessor(column):
    path = column.path

    def read(value):
        for part in path:
            if isinstance(part, int):
                if not isinstance(value, list) or part >= len(value):
                    return MISSING
            elif not isinstance(value, dict) or part not in value:
                return MISSING
            value = value[part]
        return value

    return read


def _written(column):
    return ".".join(str(part) for part in column.path)


# -- the query -------------------------------------------------------------------------


class SelectRun:
    """One query over one object's records."""

    def __init__(self, settings, query, byte_range=None):
        self.settings = settings
        self.query = query
        self.byte_range = byte_range
        self.skipped = 0
        self.matched = 0
        self.header_fields = None  # the CSV header, with FileHeaderInfo Use
        self.aggregators = (
            [Aggregator(item.expr) for item in query.items]
            if query.is_aggregate
            else []
        )
        self.header_written = False
        self.line_index = 0  # data records seen, for line-range
        specials = {
            '"',
            "\n",
            "\r",
            settings.output_field_delimiter,
            settings.output_record_delimiter,
        }
        self.needs_quotes = re.compile("|".join(map(re.escape, specials))).search

    # records
    def records(self, chunks):
        settings = self.settings
        if settings.kind == "json":
            if settings.json_type == "LINES":
                if self.query.source_path:
                    raise DataError(
                        "JSON LINES records are read FROM ossobject, with no path."
                    )
                return json_lines_records(chunks, settings.numbers_as_text)
            return json_document_records(
                chunks, self.query.source_path, settings.numbers_as_text
            )
        if self.query.source_path:
            raise DataError("A CSV object is read FROM ossobject, with no path.")
        return self._csv_data_records(csv_records(chunks, settings.csv))

    def _csv_data_records(self, records):
        records = iter(records)
        if self.settings.header in ("use", "ignore"):
            header = next(records, None)
            if header is not None and header.error is not None:
                raise DataError(f"The CSV header cannot be read: {header.error}")
            if header is not None and self.settings.header == "use":
                self.header_fields = header.value
        return records

    def bind(self):
        """Accessors for every column the query reads (after the header is known)."""
        alias = self.query.alias
        # Keyed by the columns as written (`s.a`), each reading its column (`a`).
        written = {
            column: _strip_alias(column, alias) for column in sql.columns_in(self.query)
        }
        header_index = None
        if self.settings.kind == "json":
            accessors = {
                column: json_accessor(read) for column, read in written.items()
            }
        else:
            if self.header_fields is not None:
                header_index = {}
                for index, name in enumerate(self.header_fields):
                    header_index.setdefault(name.strip().lower(), index)
            accessors = {
                column: csv_accessor(read, header_index)
                for column, read in written.items()
            }
        self.accessors = accessors
        self.alias = alias
        if self.settings.keep_all_columns:
            self.keep_positions = [
                self._position_of(item.expr, header_index) for item in self.query.items
            ]

    def _position_of(self, expr, header_index):
        if not isinstance(expr, sql.Column):
            raise DataError(
                "KeepAllColumns needs every select item to be a plain column."
            )
        column = _strip_alias(expr, self.alias)
        if column.position is not None:
            return column.position - 1
        return header_index[column.path[0].lower()]

    def value_of(self, record_value):
        accessors = self.accessors
        return lambda column: accessors[column](record_value)

    # the scan
    def events(self, source):
        """Output, Progress and, last, End events of the query over `source`."""
        pending = bytearray()
        reported = 0
        try:
            records = self.records(source.chunks())
            self.bind()
            for record in records:
                if not self._in_range_so_far(record):
                    break
                if self._selected_by_range(record):
                    row = self._process(record)
                    if row is not None:
                        pending += self._header_once(record.value) + row
                if self.query.limit is not None and self.matched >= self.query.limit:
                    break
                if (
                    len(pending) >= OUTPUT_FLUSH_BYTES
                    or source.scanned - reported >= PROGRESS_BYTES
                ):
                    reported = source.scanned
                    yield (
                        Output(bytes(pending), reported)
                        if pending
                        else Progress(reported)
                    )
                    pending.clear()
            if self.aggregators:
                pending += self._header_once(None) + self._aggregate_row()
            elif (
                not self.header_written
                and self.settings.output_header
                and self._header_names(None) is not None
            ):
                pending += self._header_once(None)
        except DataError as error:
            if pending:
                yield Output(bytes(pending), source.scanned)
            yield End(source.scanned, str(error))
            return
        if pending:
            yield Output(bytes(pending), source.scanned)
        yield End(source.scanned)

    def _in_range_so_far(self, record):
        """False once records are past the requested range: the scan can stop."""
        if self.byte_range is not None and record.start > self.byte_range.last:
            return False
        record_range = self.settings.record_range
        if record_range is None or record_range.end is None:
            return True
        if record_range.unit == "split":
            return record.split < record_range.end
        return self.line_index < record_range.end

    def _selected_by_range(self, record):
        index = self.line_index
        self.line_index += 1
        if self.byte_range is not None and record.start < self.byte_range.first:
            return False
        record_range = self.settings.record_range
        if record_range is None:
            return True
        if record_range.unit == "split":
            return record.split >= record_range.start
        return index >= record_range.start

    def _process(self, record):
        """The output row for `record` (None if it does not match, or is skipped)."""
        try:
            if record.error is not None:
                raise record.error
            value_of = self.value_of(record.value)
            if self.settings.skip_partial_records and self._is_partial(record.value):
                raise RecordError("The record lacks a column the query reads.")
            where = self.query.where
            if where is not None and as_truth(evaluate(where, value_of)) is not True:
                return None
            self.matched += 1
            if self.aggregators:
                for aggregator in self.aggregators:
                    aggregator.add(value_of)
                return None
            return self._row(record.value, value_of)
        except RecordError as error:
            self.skipped += 1
            if self.skipped > self.settings.max_skipped_records:
                raise DataError(
                    f"{self.skipped} record(s) could not be used, more than MaxSkippedRecordsAllowed "
                    f"({self.settings.max_skipped_records}); the last, at byte {record.start}: {error}"
                ) from None
            return None

    def _is_partial(self, record_value):
        return any(read(record_value) is MISSING for read in self.accessors.values())

    # output
    def _row(self, record_value, value_of):
        if self.settings.kind == "json":
            if self.query.is_star:
                return self._record_end(json_text(record_value))
            members = {}
            for index, item in enumerate(self.query.items):
                value = self._item_value(item, value_of)
                if value is not MISSING:
                    members[self._name(index, item)] = value
            return self._record_end(json_text(members))
        if self.query.is_star:
            return self._csv_line(record_value)
        values = [self._item_value(item, value_of) for item in self.query.items]
        values = [None if value is MISSING else value for value in values]
        if self.settings.keep_all_columns:
            wide = [None] * max(len(record_value), max(self.keep_positions) + 1)
            for position, value in zip(self.keep_positions, values, strict=True):
                wide[position] = value
            values = wide
        return self._csv_line([text_of(value) for value in values])

    def _item_value(self, item, value_of):
        if isinstance(item.expr, sql.Column):
            return value_of(item.expr)  # MISSING stays MISSING: JSON leaves it out
        return evaluate(item.expr, value_of)

    def _aggregate_row(self):
        results = [aggregator.result() for aggregator in self.aggregators]
        if self.settings.kind == "json":
            members = {
                self._name(index, item): value
                for index, (item, value) in enumerate(
                    zip(self.query.items, results, strict=True)
                )
            }
            return self._record_end(json_text(members))
        return self._csv_line([text_of(value) for value in results])

    def _name(self, index, item):
        """An output column's name: its alias, a column's last name, else _N."""
        if item.alias:
            return item.alias
        if isinstance(item.expr, sql.Column):
            names = [part for part in item.expr.path if isinstance(part, str)]
            if names and (
                self.settings.kind == "csv"
                or len(item.expr.path) == 1
                or isinstance(item.expr.path[-1], str)
            ):
                return names[-1]
        return f"_{index + 1}"

    def _header_names(self, record_value):
        if not self.query.is_star:
            return [
                self._name(index, item) for index, item in enumerate(self.query.items)
            ]
        if self.header_fields is not None:
            return self.header_fields
        if record_value is not None:
            return [f"_{index + 1}" for index in range(len(record_value))]
        return None

    def _header_once(self, record_value):
        if self.header_written or not self.settings.output_header:
            return b""
        names = self._header_names(record_value)
        self.header_written = True
        return self._csv_line(names) if names is not None else b""

    def _csv_line(self, fields):
        delimiter = self.settings.output_field_delimiter
        return self._record_end(
            delimiter.join(self._csv_field(field) for field in fields)
        )

    def _csv_field(self, text):
        """Quoted when it holds a delimiter, a quote or a line break (RFC 4180)."""
        if self.needs_quotes(text):
            return '"' + text.replace('"', '""') + '"'
        return text

    def _record_end(self, text):
        return (text + self.settings.output_record_delimiter).encode("utf-8")


# -- CreateSelectObjectMeta ------------------------------------------------------------


@dataclass(frozen=True)
class ObjectMeta:
    rows: int
    splits: int
    columns: int  # CSV: the first record's column count; 0 for JSON


def object_meta(source, settings):
    """Rows, splits and (CSV) columns of the whole object, by the rules selects use.
    A record that cannot be read is a DataError: the object is not valid CSV/JSON."""
    if settings.kind == "csv":
        records = csv_records(source.chunks(), settings.csv)
    else:
        records = json_lines_records(source.chunks(), False)
    rows = splits = columns = 0
    for record in records:
        if record.error is not None:
            raise DataError(
                f"The record at byte {record.start} cannot be read: {record.error}"
            )
        if rows == 0 and settings.kind == "csv":
            columns = len(record.value)
        rows += 1
        splits = record.split + 1
    return ObjectMeta(rows=rows, splits=splits, columns=columns)
