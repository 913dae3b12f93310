"""Reading an object's records as a stream: CSV rows and JSON values.

Both readers take an iterator of byte chunks and hold at most one record (plus
one chunk) in memory. Each record says where it starts (its first byte in the
uncompressed data), which split it belongs to and which data line it is, so
that line-range, split-range and a byte Range can pick records.

A record's own problems (bad UTF-8, an unclosed quote, JSON that does not
parse) are RecordError: the query skips it if the request allows skipping,
else stops. Problems that end the whole read (a record beyond the size limit,
a JSON document whose shape does not fit the FROM path) are DataError.
"""

import codecs
import functools
import json
import re
from dataclasses import dataclass
from decimal import Decimal

MAX_RECORD_BYTES = 256 * 1024  # OSS's limit on a row (and on a column)
# A split is a run of whole records of about this many bytes; CreateSelectObjectMeta
# counts them and split-range picks them, both by this one rule.
SPLIT_BYTES = 1024 * 1024


class DataError(ValueError):
    """The object cannot be read as the request says; nothing after it is read."""


class RecordError(ValueError):
    """One record cannot be used; it may be skipped (MaxSkippedRecordsAllowed)."""


@dataclass(frozen=True)
class CsvFormat:
    record_delimiter: bytes = b"\n"
    field_delimiter: bytes = b","
    quote: bytes = b'"'
    comment: bytes = b"#"
    allow_quoted_record_delimiter: bool = True


@dataclass
class Record:
    start: int  # where it starts in the (uncompressed) data: bytes; characters for JSON
    split: int
    value: object  # list of str for CSV, a parsed JSON value for JSON
    error: RecordError | None = None


class _Splits:
    """Numbers splits: a new one begins at the first record starting SPLIT_BYTES or
    more after the current split's first record."""

    def __init__(self):
        self.index = 0
        self.start = 0

    def of(self, offset):
        if offset - self.start >= SPLIT_BYTES:
            self.index += 1
            self.start = offset
        return self.index


# -- CSV -------------------------------------------------------------------------------


def csv_records(chunks, fmt):
    """Every CSV record of the byte chunks (comment lines and empty lines left out)."""
    splits = _Splits()
    for start, raw, fields in _raw_csv_records(chunks, fmt):
        if _is_skipped_line(raw, fmt):
            continue
        split = splits.of(start)
        if fields is None:
            fields = _parsed(raw, fmt)
        if isinstance(fields, RecordError):
            yield Record(start, split, None, fields)
        else:
            yield Record(start, split, fields)


def _is_skipped_line(raw, fmt):
    return raw == b"" or bool(fmt.comment and raw.startswith(fmt.comment))


def _raw_csv_records(chunks, fmt):
    """(start offset, bytes, fields if already parsed) of each record, split on the
    record delimiter; one that opens a quote runs on past delimiters when the format
    allows it."""
    delimiter = fmt.record_delimiter
    buffer = bytearray()
    base = 0  # offset of buffer[0] in the data
    record_start = search_from = 0  # indexes in buffer
    chunks = iter(chunks)
    exhausted = False
    while True:
        found = buffer.find(delimiter, search_from)
        if found >= 0:
            raw = bytes(buffer[record_start:found])
            _check_length(raw, base + record_start)
            search_from = found + len(delimiter)
            fields = None
            if (
                fmt.allow_quoted_record_delimiter
                and fmt.quote in raw
                and not _is_skipped_line(raw, fmt)
            ):
                fields = _parsed(raw, fmt)
                if isinstance(fields, _UnclosedQuote):
                    continue  # the delimiter is inside a quoted field
            yield base + record_start, raw, fields
            record_start = search_from
            continue
        if exhausted:
            if record_start < len(buffer):
                raw = bytes(buffer[record_start:])
                _check_length(raw, base + record_start)
                yield base + record_start, raw, None
            return
        _check_length(buffer[record_start:], base + record_start)
        del buffer[:record_start]
        base += record_start
        # A delimiter may straddle the end of what is read so far.
        search_from = max(
            search_from - record_start, len(buffer) - len(delimiter) + 1, 0
        )
        record_start = 0
        chunk = next(chunks, None)
        if chunk is None:
            exhausted = True
        else:
            buffer += chunk


def _check_length(raw, start):
    if len(raw) > MAX_RECORD_BYTES:
        raise DataError(
            f"The record at byte {start} is longer than {MAX_RECORD_BYTES} bytes."
        )


class _UnclosedQuote(RecordError):
    pass


def _parsed(raw, fmt):
    """The record's fields, or the RecordError that says why it has none."""
    try:
        return _csv_fields(raw, fmt)
    except RecordError as error:
        return error


def _csv_fields(raw, fmt):
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise RecordError("The record is not valid UTF-8.") from None
    syntax = _csv_syntax(fmt.quote, fmt.field_delimiter)
    if syntax.quote not in text:
        return text.split(syntax.delimiter)
    return _quoted_fields(text, syntax)


@dataclass(frozen=True)
class _CsvSyntax:
    quote: str
    delimiter: str
    quoted: re.Pattern  # a whole quoted field, its content in group 1
    plain: re.Pattern  # an unquoted field


@functools.lru_cache(maxsize=32)
def _csv_syntax(quote, delimiter):
    quote, delimiter = quote.decode(), delimiter.decode()
    q, d = re.escape(quote), re.escape(delimiter)
    return _CsvSyntax(
        quote=quote,
        delimiter=delimiter,
        quoted=re.compile(f"{q}((?:[^{q}]|{q}{q})*){q}"),
        plain=re.compile(f"[^{q}{d}]*"),
    )


def _quoted_fields(text, syntax):
    """RFC 4180 fields: a quoted field is quoted from its first to its last character
    ("" in it is one quote); a quote anywhere else makes the record invalid, as on OSS."""
    fields, position, length = [], 0, len(text)
    doubled = syntax.quote * 2
    while True:
        if text.startswith(syntax.quote, position):
            match = syntax.quoted.match(text, position)
            if match is None:
                raise _UnclosedQuote("The record ends inside a quoted field.")
            fields.append(match.group(1).replace(doubled, syntax.quote))
            position = match.end()
            if position < length and text[position] != syntax.delimiter:
                raise RecordError(
                    "A quoted field is followed by more than a delimiter."
                )
        else:
            match = syntax.plain.match(text, position)
            fields.append(match.group())
            position = match.end()
            if position < length and text[position] == syntax.quote:
                raise RecordError("A quote appears inside an unquoted field.")
        if position >= length:
            return fields
        position += 1  # past the field delimiter


# -- JSON ------------------------------------------------------------------------------


class JsonNumber(str):
    """A JSON number kept as its text (ParseJsonNumberAsString): written back as a
    number, exactly as it was."""


def json_loader(numbers_as_text):
    if numbers_as_text:
        return lambda text: json.loads(
            text, parse_float=JsonNumber, parse_int=JsonNumber
        )
    return json.loads


_WHITESPACE = re.compile(r"[ \t\r\n]*")
_CONTAINER_TOKEN = re.compile(r'["\[\]{}]')
_STRING_TOKEN = re.compile(r'["\\]')
_SCALAR_END = re.compile(r"[ \t\r\n,\]}]")


class _JsonText:
    """UTF-8 text of the byte chunks with a movable window: everything before `pos`
    (or before `keep`, while a value is captured) may be dropped."""

    def __init__(self, chunks):
        self.chunks = iter(chunks)
        self.decoder = codecs.getincrementaldecoder("utf-8")()
        self.buffer = ""
        self.pos = 0
        self.keep = None
        self.base = 0  # characters dropped so far
        self.exhausted = False

    def fill(self):
        """Read one more chunk; False at the end of the data."""
        if self.exhausted:
            return False
        cut = self.pos if self.keep is None else self.keep
        self.buffer = self.buffer[cut:]
        self.base += cut
        self.pos -= cut
        if self.keep is not None:
            self.keep = 0
            if len(self.buffer) > MAX_RECORD_BYTES:
                raise DataError(
                    f"A JSON record is longer than {MAX_RECORD_BYTES} bytes."
                )
        chunk = next(self.chunks, None)
        try:
            if chunk is None:
                self.exhausted = True
                self.buffer += self.decoder.decode(b"", final=True)
            else:
                self.buffer += self.decoder.decode(chunk)
        except UnicodeDecodeError:
            raise DataError("The JSON data is not valid UTF-8.") from None
        return True

    def peek(self):
        """The next character that is not whitespace ("" at the end)."""
        while True:
            self.pos = _WHITESPACE.match(self.buffer, self.pos).end()
            if self.pos < len(self.buffer):
                return self.buffer[self.pos]
            if not self.fill():
                return ""

    def expect(self, characters):
        found = self.peek()
        if found == "" or found not in characters:
            shown = "the end" if found == "" else repr(found)
            raise DataError(
                f"The JSON data has {shown} where one of {characters!r} belongs."
            )
        self.pos += 1
        return found

    def offset(self):
        return self.base + self.pos

    def capture(self):
        """The text of the value at the current position, which is consumed."""
        self.peek()
        self.keep = self.pos
        try:
            self.skip_value()
            return self.buffer[self.keep : self.pos]
        finally:
            self.keep = None

    def skip_value(self):
        first = self.peek()
        if first == "":
            raise DataError("The JSON data ends where a value belongs.")
        if first == '"':
            self._skip_string()
        elif first in "[{":
            self._skip_container()
        else:
            self._skip_scalar()

    def _search(self, pattern):
        while True:
            match = pattern.search(self.buffer, self.pos)
            if match is not None:
                return match
            if not self.fill():
                return None

    def _skip_string(self):
        self.pos += 1
        while True:
            match = self._search(_STRING_TOKEN)
            if match is None:
                raise DataError("The JSON data ends inside a string.")
            if match.group() == '"':
                self.pos = match.end()
                return
            if match.end() >= len(self.buffer):
                self.pos = match.start()  # keep the backslash; read what it escapes
                if not self.fill():
                    raise DataError("The JSON data ends inside a string.")
                continue
            self.pos = match.end() + 1

    def _skip_container(self):
        depth = 0
        while True:
            match = self._search(_CONTAINER_TOKEN)
            if match is None:
                raise DataError("The JSON data ends inside an object or array.")
            token = match.group()
            if token == '"':
                self.pos = match.start()
                self._skip_string()
                continue
            self.pos = match.end()
            depth += 1 if token in "[{" else -1
            if depth == 0:
                return

    def _skip_scalar(self):
        match = self._search(_SCALAR_END)
        self.pos = match.start() if match is not None else len(self.buffer)


def json_lines_records(chunks, numbers_as_text):
    """JSON LINES: one value after another (newlines, or commas, between them)."""
    text, load, splits = _JsonText(chunks), json_loader(numbers_as_text), _Splits()
    while True:
        following = text.peek()
        if following == ",":
            text.pos += 1
            continue
        if following == "":
            return
        start = text.offset()
        yield _json_record(text.capture(), load, start, splits.of(start))


def json_document_records(chunks, path, numbers_as_text):
    """JSON DOCUMENT: the values `path` (names, then an optional trailing "*" for each
    element of an array) reaches in the one document; its root with an empty path."""
    text, load = _JsonText(chunks), json_loader(numbers_as_text)
    names = [part for part in path if part != "*"]
    if any(not isinstance(name, str) for name in names):
        raise DataError("Array indexes are not supported in the FROM path.")
    if not _descend(text, names):
        return
    if path and path[-1] == "*":
        yield from _array_elements(text, load)
    else:
        start = text.offset()
        yield _json_record(text.capture(), load, start, 0)
    while text.fill():  # read the rest, so the scanned size is the object's
        text.pos = len(text.buffer)


def _descend(text, names):
    """Move to the value under `names`; False if the document has none there."""
    for name in names:
        text.expect("{")
        while True:
            if text.peek() == "}":
                return False
            key = json.loads(text.capture()) if text.peek() == '"' else None
            if key is None:
                raise DataError("The JSON data has an object key that is not a string.")
            text.expect(":")
            if key == name:
                break
            text.skip_value()
            if text.expect(",}") == "}":
                return False
    return True


def _array_elements(text, load):
    splits = _Splits()
    text.expect("[")
    if text.peek() == "]":
        text.pos += 1
        return
    while True:
        start = text.offset()
        yield _json_record(text.capture(), load, start, splits.of(start))
        if text.expect(",]") == "]":
            return


def _json_record(raw, load, start, split):
    try:
        return Record(start, split, load(raw))
    except (ValueError, RecursionError):
        return Record(start, split, None, RecordError("The record is not valid JSON."))


def is_number(value):
    return isinstance(value, int | float | Decimal) and not isinstance(value, bool)
