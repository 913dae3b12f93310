"""SelectObject's plain-Python parts as tables: the SQL parser (what it accepts and
what it refuses, naming it), the evaluator, the CSV and JSON readers, the query run
over them, the request XML and the frames (read back by oss2's own reader)."""

import base64
import gzip
import io
from decimal import Decimal

import pytest
from oss2.exceptions import SelectOperationFailed
from oss2.select_response import SelectResponseAdapter

from buckets.select import framing, records, sql
from buckets.select.evaluate import MISSING, Aggregator, as_truth, cast, evaluate
from buckets.select.records import CsvFormat, RecordError
from buckets.select.request import (
    MalformedRequest,
    RecordRange,
    SelectSettings,
    SettingError,
    meta_settings,
    select_settings,
)
from buckets.select.run import ObjectBytes, SelectRun, object_meta

# -- the parser -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("select * from ossobject", sql.Query((), (), None, None, None)),
        (
            "SELECT _1, name AS n FROM OSSObject WHERE _2 > 3 LIMIT 5;",
            sql.Query(
                (
                    sql.SelectItem(sql.Column(("_1",)), None),
                    sql.SelectItem(sql.Column(("name",)), "n"),
                ),
                (),
                None,
                sql.Binary(">", sql.Column(("_2",)), sql.Literal(3)),
                5,
            ),
        ),
        (
            "select s.a.b[2] from s3object.objects[*] s",
            sql.Query(
                (sql.SelectItem(sql.Column(("s", "a", "b", 2)), None),),
                ("objects", "*"),
                "s",
                None,
                None,
            ),
        ),
        (
            "select count(*), avg(cast(x as double)) from ossobject where x like 'a%'",
            sql.Query(
                (
                    sql.SelectItem(sql.Aggregate("count", None), None),
                    sql.SelectItem(
                        sql.Aggregate("avg", sql.Cast(sql.Column(("x",)), "double")),
                        None,
                    ),
                ),
                (),
                None,
                sql.Like(sql.Column(("x",)), "a%", False),
                None,
            ),
        ),
    ],
)
def test_the_parser_reads_the_subset(text, expected):
    assert sql.parse(text) == expected


def test_precedence_and_the_predicates():
    where = sql.parse(
        "select * from ossobject where not a = 1 or b in (1, 'x', -2) and c is not null "
        "and d not between 1 + 2 * 3 and 10 and (e || f) <> 'g'"
    ).where
    a_equals, rest = where.left, where.right
    assert a_equals == sql.Unary(
        "not", sql.Binary("=", sql.Column(("a",)), sql.Literal(1))
    )
    assert rest.right == sql.Binary(
        "!=",
        sql.Binary("||", sql.Column(("e",)), sql.Column(("f",))),
        sql.Literal("g"),
    )
    between = rest.left.right
    assert between.negated
    assert between.low == sql.Binary(
        "+", sql.Literal(1), sql.Binary("*", sql.Literal(2), sql.Literal(3))
    )
    assert rest.left.left.left == sql.In(
        sql.Column(("b",)), (sql.Literal(1), sql.Literal("x"), sql.Literal(-2)), False
    )


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("", "empty"),
        ("   ", "empty"),
        ("select * from ossobject where avg(cast(year as int)) > 2016", "WHERE"),
        ("select year || CityName from ossobject", "WHERE only"),
        ("select _1 + _2 from ossobject", "WHERE only"),
        ("select * from ossobject group by CityName", "GROUP BY"),
        ("select * from ossobject order by _1", "ORDER BY"),
        ("select distinct _1 from ossobject", "DISTINCT"),
        ("select * from ossobject oss join s3object s3 on oss.a = s3.a", "JOIN"),
        ("select _1, count(*) from ossobject", "mixed"),
        ("select max(min(_1)) from ossobject", "nested"),
        ("select lower(_1) from ossobject", "function lower"),
        ("select sum(*) from ossobject", "COUNT(*)"),
        ("select cast(_1 as timestamp) from ossobject", "CAST to timestamp"),
        ("select * from users", "ossobject"),
        ("select * from ossobject'", "character"),
        ("select * from ossobject where a like 'x' escape '!'", "ESCAPE"),
        ("select * from ossobject limit 1.5", "whole number"),
        ("select * from ossobject where a in (b)", "literal"),
        ("select * from ossobject where a = 1e999999999999", "too large"),
        ("select * from ossobject where a = 1" + "0" * 30, "too large"),
        ("select * from ossobject.a[*].b", "[*]"),
        ("select *, _1 from ossobject", "combined"),
        ("select _1 from ossobject where", "a value"),
        ("select * from ossobject where " + "(" * 2000 + "1" + ")" * 2000, "nested"),
        ("select * from ossobject where " + "not " * 3000 + "true", "nested"),
    ],
)
def test_what_the_parser_refuses_it_names(text, named):
    with pytest.raises(sql.SqlError) as raised:
        sql.parse(text)
    assert named.lower() in str(raised.value).lower()


# -- the evaluator ----------------------------------------------------------------------


def where_of(condition):
    return sql.parse(f"select * from ossobject where {condition}").where


def matches(condition, values):
    """What WHERE makes of `condition` for a record of `values`: True, False or None."""
    return as_truth(evaluate(where_of(condition), row(**values)))


def row(**values):
    return lambda column: values.get(column.path[0], MISSING)


@pytest.mark.parametrize(
    ("condition", "values", "expected"),
    [
        ("year = 2015", {"year": "2015"}, True),
        ("year = 2015", {"year": "2016"}, False),
        ("v > 14.8", {"v": "14.9"}, True),
        ("v > 14.8", {"v": ""}, None),  # an empty CSV field is NULL
        ("v > 14.8", {}, None),  # so is a missing column
        ("name != ''", {"name": "Boston"}, True),
        ("name < 'b'", {"name": "a"}, True),
        ("(a || b) = '14.8%'", {"a": "14.8", "b": "%"}, True),
        ("a + b * 2 = 7", {"a": "1", "b": "3"}, True),
        ("a / b = 2.5", {"a": "5", "b": "2"}, True),
        ("a % 3 = -1", {"a": "-7"}, True),
        (
            "m like '%blood pressure%Years'",
            {"m": "High blood pressure >=18 Years"},
            True,
        ),
        ("m like 'a_c'", {"m": "abc"}, True),
        ("m like 'a*'", {"m": "abc"}, True),
        ("m not like 'a%'", {"m": "abc"}, False),
        ("m like 'a.c'", {"m": "abc"}, False),
        ("x is null", {"x": None}, True),
        ("x is not null", {"x": "1"}, True),
        ("x in (1, 2)", {"x": "2"}, True),
        ("x not in ('a', 'b')", {"x": "a"}, False),
        ("x between 1 and 3", {"x": "3"}, True),
        ("x not between 1 and 3", {"x": "4"}, True),
        ("a = 1 or b = 1", {"a": None, "b": "1"}, True),
        ("a = 1 and b = 1", {"a": None, "b": "2"}, False),
        ("not (a = 1)", {"a": None}, None),
        ("true", {}, True),
        (
            "cast(a as decimal) = 123456789.1234567890",
            {"a": "123456789.123456789"},
            True,
        ),
        ("cast(a as int) = 3", {"a": " 3 "}, True),
        ("cast(a as double) > 1", {"a": ""}, None),
        ("flag", {"flag": "TRUE"}, True),
        ("- a = -2", {"a": 2}, True),
    ],
)
def test_where_conditions(condition, values, expected):
    assert matches(condition, values) is expected


@pytest.mark.parametrize(
    ("condition", "values"),
    [
        ("v > 14.8", {"v": "abc"}),
        ("cast(v as int) = 1", {"v": "1.5"}),
        ("a / b = 1", {"a": "1", "b": "0"}),
        ("flag", {"flag": "maybe"}),
        ("o = 1", {"o": {"k": 1}}),
        ("a * a * a = 1", {"a": "999999999"}),  # beyond 64 bits
        ("cast(a as int) = 1", {"a": "1e300"}),
    ],
)
def test_values_that_cannot_be_used_are_record_errors(condition, values):
    with pytest.raises(RecordError):
        matches(condition, values)


@pytest.mark.parametrize(
    ("value", "type_name", "expected"),
    [
        ("42", "int", 42),
        (2.9, "int", 2),
        ("1e3", "double", 1000.0),
        ("0.1", "decimal", Decimal("0.1")),
        (12, "string", "12"),
        (True, "string", "true"),
        ("false", "bool", False),
        (0, "bool", False),
        (None, "int", None),
    ],
)
def test_casts(value, type_name, expected):
    assert cast(value, type_name) == expected


def aggregate(expression, values):
    item = sql.parse(f"select {expression} from ossobject").items[0].expr
    aggregator = Aggregator(item)
    for value in values:
        aggregator.add(row(x=value))
    return aggregator.result()


@pytest.mark.parametrize(
    ("expression", "values", "expected"),
    [
        ("count(*)", ["1", None, ""], 3),
        ("count(x)", ["1", None, ""], 2),
        ("sum(cast(x as int))", ["1", "2", ""], 3),
        ("avg(cast(x as int))", ["2015", "2015"], 2015),
        ("avg(cast(x as int))", ["1", "2"], 1.5),
        ("avg(cast(x as double))", ["0.1", "0.2"], (0.1 + 0.2) / 2),
        ("max(cast(x as double))", ["1.5", "", "9.25"], 9.25),
        ("min(x)", ["b", "a", "c"], "a"),
        ("max(x)", ["9", "10"], "9"),  # text compares as text
        ("max(cast(x as int))", ["9", "10"], 10),
        ("sum(x)", [], None),
    ],
)
def test_aggregates(expression, values, expected):
    assert aggregate(expression, values) == expected


# -- the readers ------------------------------------------------------------------------


def in_chunks(data, size):
    return [data[i : i + size] for i in range(0, len(data), size)]


CSV = b'a,b\n"x\ny",2\n#comment\n\n"q""t",""\n"bad"x,1\nab"c,2\nlast,1'


@pytest.mark.parametrize("size", [1, 2, 7, 1000])
def test_csv_records_are_the_same_in_any_chunking(size):
    found = [
        (r.start, r.value, str(r.error) if r.error else None)
        for r in records.csv_records(in_chunks(CSV, size), CsvFormat())
    ]
    assert found == [
        (0, ["a", "b"], None),
        (4, ["x\ny", "2"], None),
        (22, ['q"t', ""], None),
        (32, None, "A quoted field is followed by more than a delimiter."),
        (41, None, "A quote appears inside an unquoted field."),
        (48, ["last", "1"], None),
    ]


def test_csv_delimiters_quote_and_comment_are_the_requests():
    fmt = CsvFormat(
        record_delimiter=b"\r\n",
        field_delimiter=b"|",
        quote=b"'",
        comment=b";",
        allow_quoted_record_delimiter=False,
    )
    data = b"a|'b|c'\r\n;skip\r\n'x\r\ny'|z\r\n"
    found = [
        r.value or str(r.error) for r in records.csv_records(in_chunks(data, 3), fmt)
    ]
    assert found == [
        ["a", "b|c"],
        "The record ends inside a quoted field.",  # its record delimiter ends it
        "A quote appears inside an unquoted field.",
    ]


def test_a_record_beyond_the_limit_stops_the_read(monkeypatch):
    monkeypatch.setattr(records, "MAX_RECORD_BYTES", 10)
    with pytest.raises(records.DataError):
        list(records.csv_records([b"short\n", b"x" * 11 + b"\n"], CsvFormat()))


def test_bad_utf8_is_a_record_error():
    (found,) = records.csv_records([b"\xff,a\n"], CsvFormat())
    assert str(found.error) == "The record is not valid UTF-8."


DOCUMENT = b'{"meta":{"x":[1,"]\\"}"]},"objects":[{"a":1},{"a":2.5,"b":"s"}, 3]}'


@pytest.mark.parametrize("size", [1, 5, 1000])
def test_json_documents_are_read_by_their_from_path(size):
    found = records.json_document_records(
        in_chunks(DOCUMENT, size), ("objects", "*"), False
    )
    assert [(r.start, r.value) for r in found] == [
        (36, {"a": 1}),
        (44, {"a": 2.5, "b": "s"}),
        (62, 3),
    ]


def test_a_document_without_the_path_has_no_records():
    assert (
        list(records.json_document_records([DOCUMENT], ("nothing", "*"), False)) == []
    )
    (whole,) = records.json_document_records([DOCUMENT], ("meta",), False)
    assert whole.value == {"x": [1, ']"}']}


@pytest.mark.parametrize(
    ("data", "path"),
    [
        (b"Year,a\n1,2\n", ("objects", "*")),
        (b'{"objects":{"a":1}}', ("objects", "*")),
        (b'{"objects":[{"a":1}', ("objects", "*")),
        (b'{"objects":["open', ("objects", "*")),
    ],
)
def test_a_document_of_another_shape_stops_the_read(data, path):
    with pytest.raises(records.DataError):
        list(records.json_document_records([data], path, False))


def test_json_lines_and_numbers_as_text():
    found = list(
        records.json_lines_records(
            [b'{"key":"abc"},{"key2":1.50}\n{bad}\n', b"12"], numbers_as_text=True
        )
    )
    assert [r.value for r in found] == [{"key": "abc"}, {"key2": "1.50"}, None, "12"]
    assert isinstance(found[1].value["key2"], records.JsonNumber)
    assert str(found[2].error) == "The record is not valid JSON."


# -- a query over records ---------------------------------------------------------------


def run(data, query, chunk_size=5, **options):
    options.setdefault("kind", "csv")
    select = SelectRun(SelectSettings(**options), sql.parse(query))
    source = ObjectBytes(
        io.BytesIO(data), gzip=options.get("gzip", False), chunk_size=chunk_size
    )
    events = list(select.events(source))
    output = b"".join(getattr(event, "data", b"") for event in events)
    return output, events[-1].error


CITIES = (
    b"Year,City,Value,Unit\n"
    b"2015,Boston,14.8,%\n"
    b'2015,"Salt Lake City, UT",9.5,%\n'
    b"2016,,70.5,%\n"
)


@pytest.mark.parametrize(
    ("query", "options", "expected"),
    [
        (
            "select Year, city from ossobject where City != ''",
            {"header": "use"},
            b'2015,Boston\n2015,"Salt Lake City, UT"\n',
        ),
        (
            "select _2 from ossobject where _1 = 2015 limit 1",
            {"header": "ignore"},
            b"Boston\n",
        ),
        (
            "select count(*), max(cast(value as double)), sum(cast(_3 as double)) from ossobject",
            {"header": "use"},
            b"3,70.5,94.8\n",
        ),
        (
            "select _1, _2 from ossobject",
            {
                "header": "use",
                "output_field_delimiter": "|",
                "output_record_delimiter": "\r\n",
            },
            b"2015|Boston\r\n2015|Salt Lake City, UT\r\n2016|\r\n",
        ),
        (
            "select city as c, unit from ossobject where value > 10",
            {"header": "use", "output_header": True},
            b"c,unit\nBoston,%\n,%\n",
        ),
        (
            "select _3, _1 from ossobject where _2 = 'Boston'",
            {"header": "use", "keep_all_columns": True},
            b"2015,,14.8,\n",
        ),
        (
            "select * from ossobject",
            {"header": "use", "record_range": RecordRange("line", 1, 2)},
            b'2015,"Salt Lake City, UT",9.5,%\n',
        ),
        (
            "select * from ossobject",
            {
                "header": "none",
                "output_header": True,
                "record_range": RecordRange("line", 3, None),
            },
            b"_1,_2,_3,_4\n2016,,70.5,%\n",
        ),
    ],
)
def test_queries_over_csv(query, options, expected):
    assert run(CITIES, query, **options) == (expected, None)


def test_partial_records_are_null_or_skipped_as_asked():
    data = b"abc,def\nefg\n"
    query = "select _1, _2 from ossobject"
    assert run(data, query) == (b"abc,def\nefg,\n", None)
    output, error = run(data, query, skip_partial_records=True)
    assert output == b"abc,def\n"
    assert "more than MaxSkippedRecordsAllowed (0)" in error
    assert run(data, query, skip_partial_records=True, max_skipped_records=1) == (
        b"abc,def\n",
        None,
    )


def test_a_value_that_cannot_be_cast_stops_the_query_unless_skipping_is_allowed():
    data = b"1\nx\n3\n"
    query = "select _1 from ossobject where cast(_1 as int) > 0"
    output, error = run(data, query)
    assert output == b"1\n"
    assert error.endswith("'x' cannot be cast to int.")
    assert run(data, query, max_skipped_records=5) == (b"1\n3\n", None)


def test_an_unknown_column_name_stops_the_query_before_any_output():
    output, error = run(CITIES, "select Nope from ossobject", header="use")
    assert (output, error) == (b"", "The CSV header has no column 'Nope'.")
    _, error = run(CITIES, "select City from ossobject")
    assert "needs FileHeaderInfo Use" in error


def test_gzip_objects_are_read_inflated():
    output, error = run(
        gzip.compress(CITIES),
        "select City from ossobject where Year = 2016",
        header="use",
        gzip=True,
    )
    assert (output, error) == (b"\n", None)
    _, error = run(b"not gzip", "select * from ossobject", gzip=True)
    assert error == "The object is not valid GZIP data."


@pytest.mark.parametrize(
    ("data", "query", "options", "expected"),
    [
        (
            b'{"objects":[{"p":{"n":"A","c":1}},{"p":{"n":"B","c":2}},{"q":1}]}',
            "select s.p.n, p.c as count from ossobject.objects[*] s where p.c >= 1",
            {},
            b'{"n":"A","count":1}\n{"n":"B","count":2}\n',
        ),
        (
            b'{"objects":[{"p":{"c":5}},{"p":{"c":7}}]}',
            "select avg(cast(p.c as int)), max(p.c), count(*) from ossobject.objects[*]",
            {},
            b'{"_1":6,"_2":7,"_3":2}\n',
        ),
        (
            b'{"key":"abc"},{"key2":"def"}',
            "select key from ossobject",
            {"json_type": "LINES"},
            b'{"key":"abc"}\n{}\n',
        ),
        (
            b'{"a":[1,{"b":null}]}\n{"a":[2]}\n',
            "select a[1].b, a[0] from ossobject where a[0] = 1",
            {"json_type": "LINES", "output_record_delimiter": ","},
            b'{"b":null,"_2":1},',
        ),
        (
            b'{"a":123456789.123456789}',
            "select * from ossobject where cast(a as decimal) = 123456789.1234567890",
            {"numbers_as_text": True},
            b'{"a":123456789.123456789}\n',
        ),
    ],
)
def test_queries_over_json(data, query, options, expected):
    assert run(data, query, kind="json", **options) == (expected, None)


def test_a_csv_object_has_no_from_path():
    assert run(CITIES, "select * from ossobject.a")[1] == (
        "A CSV object is read FROM ossobject, with no path."
    )


def test_meta_counts_rows_columns_and_splits(monkeypatch):
    monkeypatch.setattr(records, "SPLIT_BYTES", 20)
    meta = object_meta(
        ObjectBytes(io.BytesIO(CITIES), chunk_size=7),
        meta_settings(b"<CsvMetaRequest/>", "csv"),
    )
    assert (meta.rows, meta.columns, meta.splits) == (4, 4, 3)
    lines = b'{"a":1}\n{"a":2}\n'
    settings = meta_settings(
        b"<JsonMetaRequest><InputSerialization><JSON><Type>LINES</Type></JSON>"
        b"</InputSerialization></JsonMetaRequest>",
        "json",
    )
    meta = object_meta(ObjectBytes(io.BytesIO(lines)), settings)
    assert (meta.rows, meta.columns, meta.splits) == (2, 0, 1)


def test_split_range_picks_the_splits_meta_counts(monkeypatch):
    monkeypatch.setattr(records, "SPLIT_BYTES", 20)
    # Splits of 20 bytes or more: [header], [Boston, Salt Lake City], [2016 row].
    everything = [
        run(
            CITIES,
            "select _1, _3 from ossobject",
            record_range=RecordRange("split", n, n + 1),
        )[0]
        for n in range(3)
    ]
    assert b"".join(everything) == run(CITIES, "select _1, _3 from ossobject")[0]
    assert all(everything)


# -- the request XML --------------------------------------------------------------------


def b64(text):
    return base64.b64encode(text.encode()).decode()


def select_xml(inner, sql_text="select * from ossobject"):
    return f"<SelectRequest><Expression>{b64(sql_text)}</Expression>{inner}</SelectRequest>".encode()


def test_select_settings_read_every_element():
    body = select_xml(
        "<InputSerialization><CompressionType>GZIP</CompressionType><CSV>"
        f"<FileHeaderInfo>Use</FileHeaderInfo><RecordDelimiter>{b64(chr(13) + chr(10))}</RecordDelimiter>"
        f"<FieldDelimiter>{b64('|')}</FieldDelimiter><QuoteCharacter>{b64(chr(39))}</QuoteCharacter>"
        f"<CommentCharacter>{b64(';')}</CommentCharacter><Range>line-range=2-</Range>"
        "<AllowQuotedRecordDelimiter>False</AllowQuotedRecordDelimiter></CSV></InputSerialization>"
        f"<OutputSerialization><CSV><RecordDelimiter>{b64(',')}</RecordDelimiter>"
        f"<FieldDelimiter>{b64(chr(9))}</FieldDelimiter></CSV><KeepAllColumns>true</KeepAllColumns>"
        "<OutputRawData>true</OutputRawData><EnablePayloadCrc>true</EnablePayloadCrc>"
        "<OutputHeader>true</OutputHeader></OutputSerialization>"
        "<Options><SkipPartialDataRecord>true</SkipPartialDataRecord>"
        "<MaxSkippedRecordsAllowed>7</MaxSkippedRecordsAllowed></Options>"
    )
    assert select_settings(body, "csv") == SelectSettings(
        kind="csv",
        sql="select * from ossobject",
        gzip=True,
        csv=CsvFormat(b"\r\n", b"|", b"'", b";", False),
        header="use",
        record_range=RecordRange("line", 2, None),
        output_record_delimiter=",",
        output_field_delimiter="\t",
        keep_all_columns=True,
        output_raw=True,
        payload_crc=True,
        output_header=True,
        skip_partial_records=True,
        max_skipped_records=7,
    )


@pytest.mark.parametrize(
    ("kind", "inner", "name"),
    [
        (
            "csv",
            "<OutputSerialization><OutputHeader123>true</OutputHeader123></OutputSerialization>",
            "OutputHeader123",
        ),
        ("csv", "<Unknown/>", "Unknown"),
        (
            "csv",
            "<InputSerialization><CompressionType>BZIP2</CompressionType></InputSerialization>",
            "CompressionType",
        ),
        (
            "csv",
            "<InputSerialization><CSV><FileHeaderInfo>Maybe</FileHeaderInfo></CSV></InputSerialization>",
            "FileHeaderInfo",
        ),
        (
            "csv",
            f"<InputSerialization><CSV><FieldDelimiter>{b64(',,')}</FieldDelimiter></CSV></InputSerialization>",
            "FieldDelimiter",
        ),
        (
            "csv",
            "<InputSerialization><CSV><QuoteCharacter>!!</QuoteCharacter></CSV></InputSerialization>",
            "QuoteCharacter",
        ),
        (
            "csv",
            f"<InputSerialization><CSV><QuoteCharacter>{b64(',')}</QuoteCharacter></CSV></InputSerialization>",
            "FieldDelimiter",
        ),
        (
            "csv",
            "<InputSerialization><CSV><Range>bytes=1-2</Range></CSV></InputSerialization>",
            "Range",
        ),
        (
            "csv",
            "<InputSerialization><CSV><Range>line-range=5-2</Range></CSV></InputSerialization>",
            "Range",
        ),
        (
            "csv",
            "<InputSerialization><CSV><Range>line-range=-2</Range></CSV></InputSerialization>",
            "Range",
        ),
        (
            "csv",
            "<InputSerialization><CSV><Range>line-range=1-"
            + "9" * 40
            + "</Range></CSV></InputSerialization>",
            "Range",
        ),
        (
            "csv",
            "<Options><MaxSkippedRecordsAllowed>-1</MaxSkippedRecordsAllowed></Options>",
            "MaxSkippedRecordsAllowed",
        ),
        (
            "csv",
            "<Options><SkipPartialDataRecord>yes</SkipPartialDataRecord></Options>",
            "SkipPartialDataRecord",
        ),
        (
            "csv",
            "<InputSerialization><JSON><Type>LINES</Type></JSON></InputSerialization>",
            "JSON",
        ),
        (
            "json",
            "<InputSerialization><JSON><Type>lines</Type></JSON></InputSerialization>",
            "Type",
        ),
        ("json", "", "Type"),
        (
            "json",
            "<InputSerialization><JSON><Type>DOCUMENT</Type><Range>line-range=1-2</Range></JSON></InputSerialization>",
            "Range",
        ),
        (
            "json",
            "<InputSerialization><JSON><Type>LINES</Type></JSON></InputSerialization><OutputSerialization><KeepAllColumns>true</KeepAllColumns></OutputSerialization>",
            "KeepAllColumns",
        ),
    ],
)
def test_select_settings_refuse_what_they_cannot_honour(kind, inner, name):
    with pytest.raises(SettingError) as raised:
        select_settings(select_xml(inner), kind)
    assert raised.value.name == name


@pytest.mark.parametrize(
    "body",
    [
        b"<SelectRequest>",
        b"<Other/>",
        b'<!DOCTYPE t [<!ENTITY e "x">]><SelectRequest/>',
    ],
)
def test_malformed_bodies(body):
    with pytest.raises(MalformedRequest):
        select_settings(body, "csv")


def test_an_expression_must_be_base64_sql():
    for expression in ("", "%%%", base64.b64encode(b"\xff").decode()):
        body = f"<SelectRequest><Expression>{expression}</Expression></SelectRequest>"
        with pytest.raises(SettingError):
            select_settings(body.encode(), "csv")


@pytest.mark.parametrize(
    ("kind", "body"),
    [
        (
            "csv",
            "<CsvMetaRequest><InputSerialization><CompressionType>R1pJUA==</CompressionType></InputSerialization></CsvMetaRequest>",
        ),
        (
            "csv",
            "<CsvMetaRequest><InputSerialization><CSV><FileHeaderInfo>Use</FileHeaderInfo></CSV></InputSerialization></CsvMetaRequest>",
        ),
        (
            "json",
            "<JsonMetaRequest><InputSerialization><JSON><Type>DOCUMENT</Type></JSON></InputSerialization></JsonMetaRequest>",
        ),
        ("json", "<JsonMetaRequest/>"),
        (
            "csv",
            "<CsvMetaRequest><OverwriteIfExists>perhaps</OverwriteIfExists></CsvMetaRequest>",
        ),
    ],
)
def test_meta_settings_refusals(kind, body):
    with pytest.raises(SettingError):
        meta_settings(body.encode(), kind)


def test_meta_accepts_oss2s_base64_compression_none():
    body = b"<CsvMetaRequest><InputSerialization><CompressionType>Tm9uZQ==</CompressionType></InputSerialization><OverwriteIfExists>True</OverwriteIfExists></CsvMetaRequest>"
    assert meta_settings(body, "csv").kind == "csv"


# -- the frames, read back by oss2 ------------------------------------------------------


class _Response:
    def __init__(self, body, headers=None):
        self.headers = headers or {}
        self.chunks = iter(in_chunks(body, 3))

    def __iter__(self):
        return self.chunks


def read_frames(body, *, crc, callback=None):
    return SelectResponseAdapter(_Response(body), callback, None, enable_crc=crc).read()


def test_oss2_reads_the_frames_and_checks_their_crc():
    body = (
        framing.data_frame(10, b"abc,", with_crc=True)
        + framing.continuous_frame(20, with_crc=True)
        + framing.data_frame(30, b"def\n", with_crc=True)
        + framing.end_frame(40, 206, with_crc=True)
    )
    progress = []
    assert (
        read_frames(body, crc=True, callback=lambda done, total: progress.append(done))
        == b"abc,def\n"
    )
    assert progress[-1] == 40


def test_a_failed_end_frame_is_oss2s_select_operation_failed():
    body = framing.data_frame(1, b"x\n", with_crc=False) + framing.end_frame(
        2, 400, ("InvalidArgument", "bad record. it says"), with_crc=False
    )
    with pytest.raises(SelectOperationFailed) as raised:
        read_frames(body, crc=False)
    assert raised.value.code == b"InvalidArgument"
    assert raised.value.message == b"bad record. it says"


def test_meta_end_frames_carry_the_counts():
    adapter = SelectResponseAdapter(
        _Response(framing.csv_meta_end_frame(99, splits=3, rows=1000, columns=7)),
        None,
        None,
    )
    adapter.read()
    assert (adapter.splits, adapter.rows, adapter.columns) == (3, 1000, 7)
    adapter = SelectResponseAdapter(
        _Response(framing.json_meta_end_frame(99, splits=2, rows=5)), None, None
    )
    adapter.read()
    assert (adapter.splits, adapter.rows) == (2, 5)
