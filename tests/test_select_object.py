"""SelectObject and CreateSelectObjectMeta end to end: the real oss2 SDK (V1 and V4)
against gunicorn, with CSV and JSON objects made here (laid out like the oss2
suite's sample data), then the error answers through Django's test client."""

import csv
import gzip
import io
import json
import re
import uuid

import oss2
import pytest
import requests
from oss2.exceptions import SelectOperationFailed
from oss2.select_response import SelectResponseAdapter

from buckets.models import Bucket, StoredObject
from tests.oss_responses import body_of, error_fields

HEADER = (
    "Year,StateAbbr,StateDesc,CityName,GeographicLevel,Category,Measure,"
    "Data_Value_Unit,Data_Value,High_Confidence_Limit,PopulationCount,GeoLocation,"
    "Short_Question_Text"
)
MEASURES = [
    ("Prevention", "Current lack of health insurance among adults aged 18–64 Years"),
    ("Health Outcomes", "High blood pressure among adults aged >=18 Years"),
    ("Unhealthy Behaviors", "Binge drinking among adults aged >=18 Years"),
]


def city_rows(count):
    """Rows like the suite's sample_data.csv: empty cities and values, quoted
    locations holding the field delimiter, a quote doubled, non-ASCII text."""
    for n in range(count):
        category, measure = MEASURES[n % 3]
        city = "" if n % 7 == 0 else f"City {n}"
        value = "" if n % 11 == 0 else f"{(n * 37) % 900 / 10:.1f}"
        high = "" if n % 13 == 0 else f"{(n * 53) % 1000 / 10:.1f}"
        location = "" if not city else f"({30 + n % 9}.5{n}, -86.{n})"
        question = 'Say "when"' if n % 17 == 0 else "Health Insurance"
        yield [
            str(2015 + n % 3),
            "AL" if n % 2 else "US",
            "Alabama",
            city,
            "City" if city else "US",
            category,
            measure,
            "%",
            value,
            high,
            str(1000 + n),
            location,
            question,
        ]


def csv_text(rows, header=HEADER):
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    out.write(header + "\n")
    writer.writerows(rows)
    return out.getvalue()


SAMPLE = csv_text(city_rows(300))
SAMPLE_ROWS = list(csv.DictReader(io.StringIO(SAMPLE)))
USE_HEADER = {"CsvHeaderInfo": "Use"}


def csv_lines(rows, *fields):
    return "".join(
        ",".join(row[field] for field in fields) + "\n" for row in rows
    ).encode()


def unique_name(prefix="select"):
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def bucket(as_user):
    created = as_user("alice", unique_name())
    created.create_bucket(oss2.BUCKET_ACL_PRIVATE)
    created.put_object("cities.csv", SAMPLE.encode())
    return created


def select(bucket, sql, params=None, key="cities.csv", **options):
    """The selected bytes, and the scan progress oss2 last reported."""
    progress = []
    result = bucket.select_object(
        key, sql, lambda done, total: progress.append(done), params, **options
    )
    content = b"".join(result)
    assert result.status == 206
    return content, progress[-1] if progress else None


def read_until_failure(result):
    """(bytes received, the exception that ended the reading, or None)."""
    received = bytearray()
    try:
        for chunk in result:
            received += chunk
    except Exception as error:  # noqa: BLE001 - the caller asserts which
        return bytes(received), error
    return bytes(received), None


@pytest.fixture(autouse=True)
def report_every_frame(monkeypatch):
    monkeypatch.setattr(SelectResponseAdapter, "_FRAMES_FOR_PROGRESS_UPDATE", 0)


@pytest.mark.server
class TestSelectCsv:
    def test_where_picks_rows_in_order_and_the_whole_object_is_scanned(self, bucket):
        content, scanned = select(
            bucket,
            "select Year, StateAbbr, CityName, PopulationCount from ossobject where CityName != ''",
            USE_HEADER,
        )

        expected = [row for row in SAMPLE_ROWS if row["CityName"] != ""]
        assert content == csv_lines(
            expected, "Year", "StateAbbr", "CityName", "PopulationCount"
        )
        assert scanned == len(SAMPLE.encode())

    def test_like_concat_and_and_or(self, bucket):
        like, _ = select(
            bucket,
            "select Year, CityName, Short_Question_Text from ossobject "
            "where Measure like '%blood pressure%Years'",
            USE_HEADER,
        )
        concat, _ = select(
            bucket,
            "select CityName from ossobject where (data_value || data_value_unit) = '14.8%'",
            USE_HEADER,
        )
        complicated, _ = select(
            bucket,
            "select Year, CityName, GeoLocation from ossobject where data_value > 14.8 and "
            "data_value_unit = '%' or Measure like '%18 Years' and Category = 'Unhealthy Behaviors' "
            "or high_confidence_limit > 70.0",
            USE_HEADER,
        )

        def number(text):
            return float(text) if text else None

        blood = re.compile(r"^.*blood pressure.*Years$")
        assert like == quoted_csv(
            [r["Year"], r["CityName"], r["Short_Question_Text"]]
            for r in SAMPLE_ROWS
            if blood.match(r["Measure"])
        )
        assert concat == csv_lines(
            [
                r
                for r in SAMPLE_ROWS
                if r["Data_Value"] + r["Data_Value_Unit"] == "14.8%"
            ],
            "CityName",
        )
        assert concat  # the sample has such rows
        assert complicated == quoted_csv(
            [r["Year"], r["CityName"], r["GeoLocation"]]
            for r in SAMPLE_ROWS
            if (number(r["Data_Value"]) or 0) > 14.8
            and r["Data_Value_Unit"] == "%"
            or r["Measure"].endswith("18 Years")
            and r["Category"] == "Unhealthy Behaviors"
            or (number(r["High_Confidence_Limit"]) or 0) > 70.0
        )

    def test_aggregates(self, bucket):
        ints, _ = select(
            bucket,
            "select avg(cast(year as int)), max(cast(year as int)), min(cast(year as int)), "
            "count(*) from ossobject where year = 2016",
            USE_HEADER,
        )
        floats, _ = select(
            bucket,
            "select avg(cast(data_value as double)), max(cast(data_value as double)), "
            "sum(cast(data_value as double)) from ossobject",
            USE_HEADER,
        )

        assert (
            ints
            == f"2016,2016,2016,{sum(r['Year'] == '2016' for r in SAMPLE_ROWS)}\n".encode()
        )
        values = [float(r["Data_Value"]) for r in SAMPLE_ROWS if r["Data_Value"]]
        total = 0.0
        for value in values:
            total += value
        avg, biggest, summed = (float(part) for part in floats.decode().split(","))
        assert (avg, biggest, summed) == (total / len(values), max(values), total)

    def test_select_star_gives_the_file_back(self, bucket):
        bucket.put_object("cities.csv.gz", gzip.compress(SAMPLE.encode()))
        params = {
            "CsvHeaderInfo": "None",
            "CommentCharacter": "#",
            "RecordDelimiter": "\n",
        }

        plain, _ = select(bucket, "select * from ossobject", params)
        inflated, _ = select(
            bucket,
            "select * from ossobject",
            {**params, "CompressionType": "GZIP"},
            key="cities.csv.gz",
        )

        assert plain == inflated == SAMPLE.encode()

    def test_meta_line_range_and_split_range(self, bucket):
        meta = bucket.create_select_object_meta("cities.csv")
        assert (meta.rows, meta.splits) == (301, 1)  # the header is a row to meta
        assert meta.headers["x-oss-select-csv-columns"] == "13"

        first, _ = select(
            bucket,
            "select CityName from ossobject",
            {**USE_HEADER, "LineRange": (0, 50)},
        )
        middle, _ = select(
            bucket, "select _4 from ossobject", {**USE_HEADER, "LineRange": (10, 20)}
        )
        everything, _ = select(
            bucket, "select * from ossobject", {"SplitRange": (0, None)}
        )
        nothing, _ = select(
            bucket, "select * from ossobject", {"SplitRange": (1, None)}
        )

        assert first == csv_lines(SAMPLE_ROWS[:50], "CityName")
        assert middle == csv_lines(SAMPLE_ROWS[10:20], "CityName")
        assert everything == SAMPLE.encode()
        assert nothing == b""

    def test_output_delimiters_columns_header_and_raw(self, bucket):
        bucket.put_object("two.csv", b"name,job\nabc,def\n")

        def of(sql, params):
            return select(bucket, sql, params, key="two.csv")[0]

        assert of(
            "select _1, _2 from ossobject",
            {"OutputRecordDelimiter": "\r\n", "OutputFieldDelimiter": "|"},
        ) == (b"name|job\r\nabc|def\r\n")
        assert (
            of("select _2 from ossobject", {"KeepAllColumns": "true"})
            == b",job\n,def\n"
        )
        assert (
            of("select job from ossobject", {"OutputHeader": "true", **USE_HEADER})
            == b"job\ndef\n"
        )
        assert (
            of("select * from ossobject where true", {"EnablePayloadCrc": True})
            == b"name,job\nabc,def\n"
        )
        raw = bucket.select_object(
            "two.csv", "select _1 from ossobject", None, {"OutputRawData": "true"}
        )
        assert raw.headers["x-oss-select-output-raw"] == "true"
        assert raw.read() == b"name\nabc\n"

    def test_a_byte_range_selects_the_records_starting_in_it(self, bucket):
        bucket.put_object("words.csv", b"test\nabc\nlast\n")

        content, _ = select(
            bucket,
            "select * from ossobject",
            {"AllowQuotedRecordDelimiter": False},
            key="words.csv",
            byte_range=(1, 5),
        )

        assert content == b"abc\n"

    def test_skipping_partial_records(self, bucket):
        bucket.put_object("partial.csv", b"abc,def\nefg\n")
        query = "select _1, _2 from ossobject"

        assert select(bucket, query, None, key="partial.csv")[0] == b"abc,def\nefg,\n"
        assert (
            select(
                bucket,
                query,
                {"SkipPartialDataRecord": "true", "MaxSkippedRecordsAllowed": 1},
                key="partial.csv",
            )[0]
            == b"abc,def\n"
        )
        result = bucket.select_object(
            "partial.csv", query, None, {"SkipPartialDataRecord": "true"}
        )
        received, failure = read_until_failure(result)
        assert isinstance(failure, SelectOperationFailed)
        assert received == b"abc,def\n"
        assert failure.code == b"InvalidArgument"
        assert b"MaxSkippedRecordsAllowed (0)" in failure.message

    def test_bad_data_after_the_first_rows_fails_in_the_end_frame(self, bucket):
        good = csv_text(city_rows(3000))
        bucket.put_object("invalid.csv", (good + '"2015,AL,"(1, 2)",x\n').encode())

        result = bucket.select_object(
            "invalid.csv", "select _1 from ossobject", None, USE_HEADER
        )
        received, failure = read_until_failure(result)
        assert isinstance(failure, SelectOperationFailed)

        assert received == csv_lines(list(csv.DictReader(io.StringIO(good))), "Year")
        assert b"quoted field is followed" in failure.message

    def test_bad_data_before_any_output_is_a_400(self, bucket):
        bucket.put_object("bad.csv", b'"a"b,c\n')

        with pytest.raises(oss2.exceptions.ServerError) as raised:
            bucket.select_object("bad.csv", "select _1 from ossobject")

        assert (raised.value.status, raised.value.code) == (400, "InvalidArgument")

    def test_raw_output_that_fails_midway_is_cut_not_ended(self, bucket):
        good = csv_text(city_rows(3000))
        bucket.put_object("invalid.csv", (good + 'x,"open\n').encode())

        result = bucket.select_object(
            "invalid.csv", "select * from ossobject", None, {"OutputRawData": "true"}
        )
        received, failure = read_until_failure(result)
        # The chunked body never ends: requests sees the connection cut.
        assert isinstance(failure, requests.exceptions.ChunkedEncodingError)
        assert received == good.encode()  # every good row, then no clean end

    def test_a_large_object_streams_through_many_frames_and_splits(self, bucket):
        rows = [[str(n), f"name {n}", f"{n % 100}.5"] for n in range(150_000)]
        data = csv_text(rows, header="id,name,value").encode()
        assert len(data) > 3 * 1024 * 1024
        bucket.put_object("big.csv", data)

        meta = bucket.create_select_object_meta("big.csv")
        count, scanned = select(
            bucket,
            "select count(*), sum(cast(value as double)) from ossobject where id >= 0",
            USE_HEADER,
            key="big.csv",
        )
        by_split = [
            select(
                bucket,
                "select _1 from ossobject",
                {"SplitRange": (n, n + 1)},
                key="big.csv",
            )[0]
            for n in range(meta.splits)
        ]

        assert meta.rows == 150_001
        assert meta.splits == 4
        # Halves: every partial sum is exact, so the order of additions does not matter.
        assert (
            count == f"150000,{sum(n % 100 + 0.5 for n in range(150_000))}\n".encode()
        )
        assert scanned == len(data)
        assert all(by_split)
        assert (
            b"".join(by_split)
            == b"id\n" + "".join(f"{n}\n" for n in range(150_000)).encode()
        )

    @pytest.mark.parametrize(
        "sql",
        [
            "select * from ossobject where avg(cast(year as int)) > 2016",
            "",
            "select year || CityName from ossobject",
            "select * from ossobject group by CityName",
            "select * from ossobject order by _1",
            "select * from ossobject oss join s3object s3 on oss.CityName = s3.CityName",
            "select Nope from ossobject",
        ],
    )
    def test_refused_sql_is_a_400_and_changes_nothing(self, bucket, sql):
        before = bucket.head_object("cities.csv").etag

        with pytest.raises(oss2.exceptions.ServerError) as raised:
            bucket.select_object("cities.csv", sql, None, USE_HEADER)

        assert (raised.value.status, raised.value.code) == (400, "InvalidArgument")
        assert bucket.head_object("cities.csv").etag == before
        assert [o.key for o in oss2.ObjectIterator(bucket)] == ["cities.csv"]

    def test_meta_of_a_compressed_object_is_refused(self, bucket):
        with pytest.raises(oss2.exceptions.ServerError) as raised:
            bucket.create_select_object_meta("cities.csv", {"CompressionType": "GZIP"})
        assert (raised.value.status, raised.value.code) == (400, "InvalidArgument")


def quoted_csv(rows):
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(rows)
    return out.getvalue().encode()


SENATORS = {
    "meta": {"limit": 4, "note": "a ]} in a string"},
    "objects": [
        {
            "party": "Democrat",
            "person": {
                "firstname": "John",
                "lastname": "Kennedy",
                "cspanid": 1011723,
                "birthday": "1959-01-01",
            },
            "state": "CA",
        },
        {
            "party": "Republican",
            "person": {
                "firstname": "Ann",
                "lastname": "Lee",
                "cspanid": 5,
                "birthday": "1960-02-02",
            },
            "state": "CA",
        },
        {
            "party": "Democrat",
            "person": {
                "firstname": "Zoë",
                "lastname": "Ng",
                "cspanid": 7,
                "birthday": "1959-03-03",
            },
            "state": "NY",
        },
    ],
}


@pytest.mark.server
class TestSelectJson:
    @pytest.fixture
    def bucket(self, as_user):
        created = as_user("alice", unique_name())
        created.create_bucket(oss2.BUCKET_ACL_PRIVATE)
        created.put_object("senators.json", json.dumps(SENATORS, indent=4).encode())
        lines = "\n".join(json.dumps(row) for row in SENATORS["objects"]) + "\n"
        created.put_object("senators.jsonl", lines.encode())
        return created

    def test_documents_and_lines(self, bucket):
        document, scanned = select(
            bucket,
            "select * from ossobject.objects[*] where party = 'Democrat'",
            {"Json_Type": "DOCUMENT", "OutputRecordDelimiter": ","},
            key="senators.json",
        )
        lines, _ = select(
            bucket,
            "select s.person.firstname, person.lastname from ossobject s where person.birthday like '1959%'",
            {"Json_Type": "LINES"},
            key="senators.jsonl",
        )

        democrats = [row for row in SENATORS["objects"] if row["party"] == "Democrat"]
        assert json.loads(b"[" + document[:-1] + b"]") == democrats
        assert scanned == bucket.head_object("senators.json").content_length
        assert lines.decode().splitlines() == [
            '{"firstname":"John","lastname":"Kennedy"}',
            '{"firstname":"Zoë","lastname":"Ng"}',
        ]

    def test_aggregates_and_line_range(self, bucket):
        aggregates, _ = select(
            bucket,
            "select avg(cast(person.cspanid as int)), max(cast(person.cspanid as int)), count(*) "
            "from ossobject.objects[*] where state = 'CA'",
            {"Json_Type": "DOCUMENT"},
            key="senators.json",
        )
        meta = bucket.create_select_object_meta(
            "senators.jsonl", {"Json_Type": "LINES"}
        )
        ranged, _ = select(
            bucket,
            "select state from ossobject",
            {"Json_Type": "LINES", "LineRange": (1, 3)},
            key="senators.jsonl",
        )

        assert aggregates == b'{"_1":505864,"_2":1011723,"_3":2}\n'
        assert (meta.rows, meta.splits) == (3, 1)
        assert ranged == b'{"state":"CA"}\n{"state":"NY"}\n'

    def test_numbers_as_text_and_missing_fields(self, bucket):
        bucket.put_object("n.json", b'{"a":123456789.123456789}')
        bucket.put_object("keys.json", b'{"key":"abc"},{"key2":"def"}')

        exact, _ = select(
            bucket,
            "select a from ossobject where cast(a as decimal) = 123456789.1234567890",
            {"ParseJsonNumberAsString": "true", "Json_Type": "DOCUMENT"},
            key="n.json",
        )
        missing, _ = select(
            bucket, "select key from ossobject", {"Json_Type": "LINES"}, key="keys.json"
        )

        assert exact == b'{"a":123456789.123456789}\n'
        assert missing == b'{"key":"abc"}\n{}\n'

    def test_a_document_of_another_shape_is_a_400(self, bucket):
        bucket.put_object("not.json", SAMPLE.encode())

        with pytest.raises(oss2.exceptions.ServerError) as raised:
            bucket.select_object(
                "not.json",
                "select _1 from ossobject.objects[*]",
                None,
                {"Json_Type": "DOCUMENT"},
            )

        assert (raised.value.status, raised.value.code) == (400, "InvalidArgument")


@pytest.mark.server
class TestSelectAccess:
    def test_select_needs_read_and_meta_write(self, as_user):
        name = unique_name()
        owner = as_user("alice", name)
        owner.create_bucket(oss2.BUCKET_ACL_PUBLIC_READ)
        owner.put_object("cities.csv", SAMPLE.encode())
        bob = as_user("bob", name)

        assert select(bob, "select count(*) from ossobject")[0] == b"301\n"
        with pytest.raises(oss2.exceptions.AccessDenied):
            bob.create_select_object_meta("cities.csv")

        owner.put_bucket_acl(oss2.BUCKET_ACL_PRIVATE)
        with pytest.raises(oss2.exceptions.AccessDenied):
            bob.select_object("cities.csv", "select * from ossobject")
        with pytest.raises(oss2.exceptions.NoSuchKey):
            owner.select_object("missing.csv", "select * from ossobject")
        with pytest.raises(oss2.exceptions.NoSuchBucket):
            as_user("alice", unique_name("missing")).select_object(
                "a.csv", "select * from ossobject"
            )


# -- error answers, signed as the owner, through Django's test client ------------------


def select_body(sql="select * from ossobject", inner=""):
    import base64

    expression = base64.b64encode(sql.encode()).decode()
    return f"<SelectRequest><Expression>{expression}</Expression>{inner}</SelectRequest>".encode()


class TestErrorAnswers:
    @pytest.fixture
    def photo(self, alice, put_object):
        bucket = Bucket.objects.create(owner=alice, name="alice-bucket")
        return put_object(bucket, "data.csv", b"a,b\n1,2\n")

    def post(self, client, process, body, headers=None):
        return client(
            "POST",
            "alice-bucket",
            "data.csv",
            params={"x-oss-process": process},
            headers=headers,
            body=body,
        )

    @pytest.mark.parametrize(
        ("process", "body", "headers", "status", "fields"),
        [
            ("csv/select", b"<SelectRequest>", None, 400, {"Code": "MalformedXML"}),
            (
                "csv/select",
                select_body(inner="<Options><Bogus>1</Bogus></Options>"),
                None,
                400,
                {"Code": "InvalidArgument", "ArgumentName": "Bogus"},
            ),
            (
                "csv/select",
                select_body("select * from ossobject order by _1"),
                None,
                400,
                {"Code": "InvalidArgument", "ArgumentName": "Expression"},
            ),
            (
                "csv/select",
                select_body(),
                {"Range": "bytes=0-1"},
                400,
                {"Code": "InvalidArgument", "ArgumentName": "Range"},
            ),
            (
                "csv/select",
                select_body(
                    "select _1, _2 from ossobject where _1 = '1'",
                    "<OutputSerialization><KeepAllColumns>true</KeepAllColumns></OutputSerialization>",
                ),
                None,
                206,
                {},
            ),
            (
                "csv/select",
                select_body(
                    "select count(*) from ossobject",
                    "<OutputSerialization><KeepAllColumns>true</KeepAllColumns></OutputSerialization>",
                ),
                None,
                400,
                {"Code": "InvalidArgument", "ArgumentName": "KeepAllColumns"},
            ),
            ("image/resize,w_100", b"", None, 501, {"Code": "NotImplemented"}),
            (
                "json/meta",
                b"<JsonMetaRequest/>",
                None,
                400,
                {"Code": "InvalidArgument", "ArgumentName": "Type"},
            ),
        ],
    )
    def test_answers(
        self, alice_signed_client, photo, process, body, headers, status, fields
    ):
        response = self.post(alice_signed_client, process, body, headers)

        assert response.status_code == status
        if fields:
            found = error_fields(response)
            assert {name: found.get(name) for name in fields} == fields
        else:
            assert body_of(response)  # the frames
        assert [(o.key, o.etag) for o in StoredObject.objects.all()] == [
            ("data.csv", photo.etag)
        ]

    @pytest.mark.parametrize("method", ["GET", "HEAD", "PUT", "DELETE"])
    def test_x_oss_process_on_other_methods_is_not_implemented(
        self, alice_signed_client, photo, method
    ):
        response = alice_signed_client(
            method,
            "alice-bucket",
            "data.csv",
            params={"x-oss-process": "csv/select"},
            body=b"new",
        )

        assert response.status_code == 501
        assert StoredObject.objects.get(key="data.csv").etag == photo.etag
