"""The XML bodies of SelectObject and CreateSelectObjectMeta, read into settings.

Every element is either honoured or refused: an unknown element, or a value
this server cannot act on, is a SettingError naming it (400 InvalidArgument).
"""

import base64
import binascii
from dataclasses import dataclass, field

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import ParseError, fromstring

from buckets.numbers import parse_decimal
from buckets.select.records import CsvFormat

MAX_SKIPPED_RECORDS = 10**12
MAX_RANGE_VALUE = 10**15


class SettingError(ValueError):
    def __init__(self, name, value, message):
        super().__init__(message)
        self.name, self.value = name, value


class MalformedRequest(ValueError):
    pass


@dataclass(frozen=True)
class RecordRange:
    """line-range / split-range: records (or splits) numbered from 0; `end` is not
    included (oss2's own suite reads line-range=0-50 as the first 50 lines); None
    means up to the last."""

    unit: str  # "line" or "split"
    start: int
    end: int | None


@dataclass(frozen=True)
class SelectSettings:
    kind: str  # "csv" or "json"
    sql: str = ""
    gzip: bool = False
    csv: CsvFormat = field(default_factory=CsvFormat)
    header: str = "none"  # csv: use, ignore or none
    json_type: str = "DOCUMENT"
    numbers_as_text: bool = False
    record_range: RecordRange | None = None
    output_record_delimiter: str = "\n"
    output_field_delimiter: str = ","
    keep_all_columns: bool = False
    output_raw: bool = False
    payload_crc: bool = False
    output_header: bool = False
    skip_partial_records: bool = False
    max_skipped_records: int = 0


def _root(body, expected_tags):
    try:
        root = fromstring(body)
    except (ParseError, DefusedXmlException, ValueError):
        raise MalformedRequest("The request body is not well-formed XML.") from None
    if root.tag not in expected_tags:
        raise MalformedRequest(f"The root element must be {expected_tags[0]}.")
    return root


def _children(node, allowed, where):
    """{tag: text or element} of `node`'s children; unknown or repeated ones refused."""
    found = {}
    for child in node:
        if child.tag not in allowed:
            raise SettingError(
                child.tag,
                (child.text or "").strip(),
                f"{where} has no element {child.tag}.",
            )
        if child.tag in found:
            raise SettingError(child.tag, "", f"{child.tag} appears twice in {where}.")
        found[child.tag] = child
    return found


def _text(children, tag):
    """The element's text; None when it is absent or empty (oss2 sends <Range/> for none)."""
    node = children.get(tag)
    if node is None:
        return None
    text = (node.text or "").strip()
    return text or None


def _boolean(children, tag, default=False):
    text = _text(children, tag)
    if text is None:
        return default
    if text.lower() not in ("true", "false"):
        raise SettingError(tag, text, f"{tag} must be true or false.")
    return text.lower() == "true"


def _base64_character(children, tag, default, *, max_chars=1):
    text = _text(children, tag)
    if text is None:
        return default
    try:
        value = base64.b64decode(text, validate=True).decode("ascii")
    except (binascii.Error, UnicodeDecodeError):
        raise SettingError(
            tag, text, f"{tag} must be Base64 of ASCII characters."
        ) from None
    if not 1 <= len(value) <= max_chars:
        raise SettingError(
            tag, text, f"{tag} must be {max_chars} character(s) or fewer, not empty."
        )
    return value


def _compression(children, *, meta=False):
    text = _text(children, "CompressionType")
    if text is None or text == "None":
        return False
    # oss2 sends the meta request's CompressionType Base64-encoded.
    if meta and text == base64.b64encode(b"None").decode():
        return False
    if text == "GZIP" and not meta:
        return True
    raise SettingError(
        "CompressionType",
        text,
        "CompressionType must be None" + ("." if meta else " or GZIP."),
    )


def _record_range(text):
    if text is None:
        return None
    unit, _, span = text.partition("=")
    if unit not in ("line-range", "split-range"):
        raise SettingError(
            "Range",
            text,
            "Range must be line-range=start-end or split-range=start-end.",
        )
    first, dash, last = span.partition("-")
    try:
        if not dash or first == "":
            raise ValueError
        start = parse_decimal(first, max_value=MAX_RANGE_VALUE)
        end = parse_decimal(last, max_value=MAX_RANGE_VALUE) if last else None
    except ValueError:
        raise SettingError(
            "Range",
            text,
            "Range must be line-range=start-end or split-range=start-end with whole numbers.",
        ) from None
    if end is not None and end < start:
        raise SettingError("Range", text, "The Range's end is before its start.")
    return RecordRange(unit.removesuffix("-range"), start, end)


# -- SelectRequest -------------------------------------------------------------------

_INPUT_CSV = (
    "FileHeaderInfo",
    "RecordDelimiter",
    "FieldDelimiter",
    "QuoteCharacter",
    "CommentCharacter",
    "Range",
    "AllowQuotedRecordDelimiter",
)
_INPUT_JSON = ("Type", "Range", "ParseJsonNumberAsString")
_OUTPUT = (
    "CSV",
    "JSON",
    "KeepAllColumns",
    "OutputRawData",
    "EnablePayloadCrc",
    "OutputHeader",
)


def select_settings(body, kind):
    """SelectSettings of a SelectRequest for `kind` ("csv" or "json")."""
    root = _root(body, ("SelectRequest",))
    top = _children(
        root,
        ("Expression", "InputSerialization", "OutputSerialization", "Options"),
        "SelectRequest",
    )
    values = {"kind": kind, "sql": _expression(_text(top, "Expression"))}
    if "InputSerialization" in top:
        values.update(_input(top["InputSerialization"], kind))
    elif kind == "json":
        raise SettingError(
            "Type", "", "A JSON select needs InputSerialization/JSON/Type."
        )
    if "OutputSerialization" in top:
        values.update(_output(top["OutputSerialization"], kind))
    if "Options" in top:
        options = _children(
            top["Options"],
            ("SkipPartialDataRecord", "MaxSkippedRecordsAllowed"),
            "Options",
        )
        values["skip_partial_records"] = _boolean(options, "SkipPartialDataRecord")
        values["max_skipped_records"] = _count(options, "MaxSkippedRecordsAllowed")
    return SelectSettings(**values)


def _expression(text):
    if text is None:
        raise SettingError("Expression", "", "The SQL expression is empty.")
    try:
        return base64.b64decode(text, validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        raise SettingError(
            "Expression", text[:100], "Expression must be Base64 of UTF-8 SQL."
        ) from None


def _count(children, tag):
    text = _text(children, tag)
    if text is None:
        return 0
    try:
        return parse_decimal(text, max_value=MAX_SKIPPED_RECORDS)
    except ValueError:
        raise SettingError(
            tag, text, f"{tag} must be a whole number from 0 to {MAX_SKIPPED_RECORDS}."
        ) from None


def _input(node, kind):
    children = _children(node, ("CompressionType", "CSV", "JSON"), "InputSerialization")
    values = {"gzip": _compression(children)}
    wrong = "JSON" if kind == "csv" else "CSV"
    if wrong in children:
        raise SettingError(
            wrong, "", f"A {kind}/select request cannot carry {wrong} input settings."
        )
    if kind == "json":
        if "JSON" not in children:
            raise SettingError(
                "Type", "", "A JSON select needs InputSerialization/JSON/Type."
            )
        return values | _json_input(children["JSON"])
    if "CSV" in children:
        values |= _csv_input(children["CSV"])
    return values


def _csv_input(node):
    children = _children(node, _INPUT_CSV, "InputSerialization/CSV")
    header = (_text(children, "FileHeaderInfo") or "None").lower()
    if header not in ("use", "ignore", "none"):
        raise SettingError(
            "FileHeaderInfo", header, "FileHeaderInfo must be Use, Ignore or None."
        )
    fmt = _csv_format(children, comment=True)
    fmt = CsvFormat(
        **{
            **vars(fmt),
            "allow_quoted_record_delimiter": _boolean(
                children, "AllowQuotedRecordDelimiter", True
            ),
        }
    )
    return {
        "header": header,
        "csv": fmt,
        "record_range": _record_range(_text(children, "Range")),
    }


def _csv_format(children, *, comment):
    record = _base64_character(children, "RecordDelimiter", "\n", max_chars=2)
    fields = _base64_character(children, "FieldDelimiter", ",")
    quote = _base64_character(children, "QuoteCharacter", '"')
    comment_char = (
        _base64_character(children, "CommentCharacter", "#") if comment else "#"
    )
    if len({fields, quote} | {record[:1]}) < 3:
        raise SettingError(
            "FieldDelimiter",
            fields,
            "The record delimiter, field delimiter and quote character must differ.",
        )
    return CsvFormat(
        record_delimiter=record.encode(),
        field_delimiter=fields.encode(),
        quote=quote.encode(),
        comment=comment_char.encode(),
    )


def _json_input(node):
    children = _children(node, _INPUT_JSON, "InputSerialization/JSON")
    json_type = _text(children, "Type")
    if json_type not in ("DOCUMENT", "LINES"):
        raise SettingError(
            "Type", json_type or "", "JSON Type must be DOCUMENT or LINES."
        )
    record_range = _record_range(_text(children, "Range"))
    if record_range is not None and json_type == "DOCUMENT":
        raise SettingError(
            "Range", _text(children, "Range"), "Range applies to JSON LINES only."
        )
    return {
        "json_type": json_type,
        "record_range": record_range,
        "numbers_as_text": _boolean(children, "ParseJsonNumberAsString"),
    }


def _output(node, kind):
    children = _children(node, _OUTPUT, "OutputSerialization")
    values = {
        "output_raw": _boolean(children, "OutputRawData"),
        "payload_crc": _boolean(children, "EnablePayloadCrc"),
    }
    csv_only = ("KeepAllColumns", "OutputHeader")
    if kind == "json":
        for tag in (*csv_only, "CSV"):
            if tag in children:
                raise SettingError(
                    tag,
                    _text(children, tag) or "",
                    f"{tag} applies to CSV output only.",
                )
        if "JSON" in children:
            json_children = _children(
                children["JSON"], ("RecordDelimiter",), "OutputSerialization/JSON"
            )
            values["output_record_delimiter"] = _base64_character(
                json_children, "RecordDelimiter", "\n", max_chars=2
            )
        return values
    if "JSON" in children:
        raise SettingError(
            "JSON", "", "A csv/select request cannot carry JSON output settings."
        )
    values["keep_all_columns"] = _boolean(children, "KeepAllColumns")
    values["output_header"] = _boolean(children, "OutputHeader")
    if "CSV" in children:
        csv_children = _children(
            children["CSV"],
            ("RecordDelimiter", "FieldDelimiter"),
            "OutputSerialization/CSV",
        )
        values["output_record_delimiter"] = _base64_character(
            csv_children, "RecordDelimiter", "\n", max_chars=2
        )
        values["output_field_delimiter"] = _base64_character(
            csv_children, "FieldDelimiter", ","
        )
    return values


# -- CreateSelectObjectMeta ------------------------------------------------------------


@dataclass(frozen=True)
class MetaSettings:
    kind: str
    csv: CsvFormat = field(default_factory=CsvFormat)


def meta_settings(body, kind):
    """The settings of a CsvMetaRequest / JsonMetaRequest. OverwriteIfExists is
    accepted and always holds: nothing is cached, every call scans the object."""
    tag = "CsvMetaRequest" if kind == "csv" else "JsonMetaRequest"
    root = _root(body, (tag, "SelectMetaRequest"))
    top = _children(root, ("InputSerialization", "OverwriteIfExists"), tag)
    _boolean(top, "OverwriteIfExists")
    if "InputSerialization" not in top:
        if kind == "json":
            raise SettingError(
                "Type", "", "A JSON meta request needs InputSerialization/JSON/Type."
            )
        return MetaSettings(kind)
    children = _children(
        top["InputSerialization"],
        ("CompressionType", "CSV", "JSON"),
        "InputSerialization",
    )
    _compression(children, meta=True)
    wrong = "JSON" if kind == "csv" else "CSV"
    if wrong in children:
        raise SettingError(
            wrong, "", f"A {kind}/meta request cannot carry {wrong} settings."
        )
    if kind == "json":
        json_children = _children(
            children.get("JSON", []), ("Type",), "InputSerialization/JSON"
        )
        if _text(json_children, "Type") != "LINES":
            raise SettingError(
                "Type",
                _text(json_children, "Type") or "",
                "CreateSelectObjectMeta supports JSON Type LINES only.",
            )
        return MetaSettings(kind)
    if "CSV" not in children:
        return MetaSettings(kind)
    csv_children = _children(
        children["CSV"],
        ("RecordDelimiter", "FieldDelimiter", "QuoteCharacter"),
        "InputSerialization/CSV",
    )
    return MetaSettings(kind, _csv_format(csv_children, comment=False))
