"""Bucket access logging: the configuration through the real oss2 SDK (V1 and V4)
against gunicorn, the log objects the flush job writes there, then the line format,
redaction and refusals through Django's test client."""

import re
import uuid

import oss2
import pytest
from django.utils import timezone

from buckets import access_logging, access_points
from buckets.models import AccessLogRecord, Bucket, LoggingConfiguration, StoredObject
from buckets.storage import open_blob
from tests.oss_responses import error_fields
from tests.signing import presigned_path

LOG_NAME_RE = r"{prefix}{source}\d{{4}}-\d\d-\d\d-\d\d-\d\d-\d\d-[0-9A-F]{{16}}"


def unique_name(prefix="log"):
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


# -- the real SDK against gunicorn -------------------------------------------------------


@pytest.mark.server
def test_logging_is_configured_and_the_flush_writes_the_requests(
    two_user_server, as_user
):
    gunicorn, _keys = two_user_server
    source = as_user("alice", unique_name())
    target = as_user("alice", unique_name())
    source.create_bucket()
    target.create_bucket()

    source.put_bucket_logging(oss2.models.BucketLogging(target.bucket_name, "日志+/"))
    got = source.get_bucket_logging()
    assert (got.target_bucket, got.target_prefix) == (target.bucket_name, "日志+/")
    source.put_object("hello.txt", b"hello")
    source.get_object("hello.txt").read()
    gunicorn.manage("flush_access_logs")

    names = [obj.key for obj in oss2.ObjectIterator(target, prefix="日志+/")]
    assert len(names) == 1
    assert re.fullmatch(
        LOG_NAME_RE.format(prefix="日志\\+/", source=source.bucket_name), names[0]
    )
    lines = target.get_object(names[0]).read().decode().splitlines()
    assert any('"GET /' in line and '"GetObject"' in line for line in lines)
    assert any('"PUT /' in line and '"PutObject"' in line for line in lines)

    source.delete_bucket_logging()
    source.delete_bucket_logging()  # deleting nothing succeeds too
    got = source.get_bucket_logging()
    assert (got.target_bucket, got.target_prefix) == ("", "")


@pytest.mark.server
def test_another_users_bucket_cannot_be_a_target(as_user):
    source = as_user("alice", unique_name())
    source.create_bucket()
    bobs = as_user("bob", unique_name())
    bobs.create_bucket()

    for target in (bobs.bucket_name, unique_name("missing")):
        with pytest.raises(oss2.exceptions.OssError) as raised:
            source.put_bucket_logging(oss2.models.BucketLogging(target, "x/"))
        assert (raised.value.status, raised.value.code) == (
            400,
            "InvalidTargetBucketForLogging",
        )
    assert source.get_bucket_logging().target_bucket == ""


# -- through Django's test client ------------------------------------------------------------


def put_logging(send, target="alice-photos", prefix="logs/", source="alice-bucket"):
    body = (
        "<BucketLoggingStatus><LoggingEnabled>"
        f"<TargetBucket>{target}</TargetBucket><TargetPrefix>{prefix}</TargetPrefix>"
        "</LoggingEnabled></BucketLoggingStatus>"
    ).encode()
    return send("PUT", source, params={"logging": ""}, body=body)


@pytest.fixture
def logged(alice_signed_client, bucket, photos):
    """alice-bucket logs into alice-photos under logs/."""
    assert put_logging(alice_signed_client).status_code == 200
    AccessLogRecord.objects.all().delete()  # the PUT ?logging's own line
    return alice_signed_client


def log_objects(bucket):
    return list(StoredObject.objects.filter(bucket=bucket).order_by("key"))


def log_lines(obj):
    with open_blob(obj) as handle:
        return handle.read().decode().splitlines()


def fields_of(line):
    """The fields of a log line: bare words, [time] and "quoted" ones."""
    return [
        next(part for part in match if part)
        for match in re.findall(r'"((?:[^"\\]|\\.)*)"|\[([^\]]*)\]|(\S+)', line)
    ]


def test_each_request_is_one_line_in_oss_format(logged, bucket, photos):
    put = logged("PUT", "alice-bucket", "a b.txt", body=b"hello")
    missing = logged("GET", "alice-bucket", "nothing", headers={"User-Agent": 'ua "x"'})

    assert access_logging.flush_access_logs() == 1

    (obj,) = log_objects(photos)
    assert re.fullmatch(
        LOG_NAME_RE.format(prefix="logs/", source="alice-bucket"), obj.key
    )
    first, second = (fields_of(line) for line in log_lines(obj))
    assert first[0] == "127.0.0.1"
    assert first[4] == "PUT /alice-bucket/a%20b.txt HTTP/1.1"
    assert (first[5], first[11], first[14], first[15], first[16]) == (
        "200",
        put["x-oss-request-id"],
        "PutObject",
        "alice-bucket",
        "a%20b.txt",
    )
    assert (second[5], second[14], second[19]) == ("404", "GetObject", "NoSuchKey")
    assert second[11] == missing["x-oss-request-id"]
    assert second[9] == "ua \\x22x\\x22"  # quotes escaped: one request, one line
    assert second[21] == str(bucket.owner_id)
    assert not AccessLogRecord.objects.exists()


def test_signatures_and_tokens_never_reach_the_log(
    logged, alice_key, bucket, photos, put_object
):
    put_object(bucket, "a.txt", b"a")
    from django.test import Client

    client = Client()
    for version in ("v1", "v4"):
        path = presigned_path(alice_key, "alice-bucket", "a.txt", version=version)
        assert client.get(path + "&security-token=SECRET-TOKEN").status_code in (
            200,
            403,
        )
    access_logging.flush_access_logs()

    text = "\n".join(log_lines(log_objects(photos)[0]))
    assert "Signature=REDACTED" in text
    assert "x-oss-signature=REDACTED" in text
    assert "security-token=REDACTED" in text
    assert "SECRET-TOKEN" not in text
    for line in text.splitlines():
        query = fields_of(line)[4].split("?", 1)[1]
        for item in query.split(" ")[0].split("&"):
            name, _, value = item.partition("=")
            if name.lower() in ("signature", "x-oss-signature"):
                assert value == "REDACTED"
    assert alice_key.secret not in text


def test_requests_through_an_access_point_are_in_the_bucket_s_log(logged, bucket):
    access_point = access_points.create(bucket, "camera", "internet")

    logged("PUT", access_point.alias, "via-alias.txt", body=b"hello")

    (record,) = AccessLogRecord.objects.all()
    assert record.bucket == bucket
    assert f"PUT /{access_point.alias}/via-alias.txt" in record.line


def test_requests_to_a_bucket_without_logging_are_not_recorded(
    alice_signed_client, bucket
):
    alice_signed_client("PUT", "alice-bucket", "a", body=b"a")

    assert not AccessLogRecord.objects.exists()


def test_lines_recorded_before_logging_was_turned_off_are_dropped(logged, photos):
    logged("GET", "alice-bucket", "x")
    logged("DELETE", "alice-bucket", params={"logging": ""})

    assert access_logging.flush_access_logs() == 0
    assert log_objects(photos) == []
    assert not AccessLogRecord.objects.exists()


def test_the_flush_runs_at_most_once_per_interval(logged, settings, photos):
    settings.LOGGING_INTERVAL_SECONDS = 300
    logged("GET", "alice-bucket", "x")
    now = timezone.now()

    assert access_logging.run_if_due(now) == 1
    logged("GET", "alice-bucket", "y")
    assert access_logging.run_if_due(now + timezone.timedelta(seconds=10)) is None
    assert access_logging.run_if_due(now + timezone.timedelta(seconds=301)) == 1
    assert len(log_objects(photos)) == 2


def test_a_bucket_may_log_into_itself(alice_signed_client, bucket):
    assert (
        put_logging(alice_signed_client, target="alice-bucket", prefix="").status_code
        == 200
    )
    alice_signed_client("GET", "alice-bucket", "x")

    access_logging.flush_access_logs()

    (obj,) = log_objects(bucket)
    assert obj.key.startswith("alice-bucket2")


@pytest.mark.parametrize(
    ("body", "code", "argument"),
    [
        (b"not xml", "MalformedXML", None),
        (b"<Other/>", "MalformedXML", None),
        (
            b"<BucketLoggingStatus><LoggingEnabled><TargetPrefix>x</TargetPrefix></LoggingEnabled></BucketLoggingStatus>",
            "MalformedXML",
            None,
        ),
        (
            b"<BucketLoggingStatus><LoggingEnabled><TargetBucket>alice-photos</TargetBucket><TargetPrefix>/x</TargetPrefix></LoggingEnabled></BucketLoggingStatus>",
            "InvalidArgument",
            "TargetPrefix",
        ),
        (
            b"<BucketLoggingStatus><LoggingEnabled><TargetBucket>alice-photos</TargetBucket><TargetPrefix>"
            + b"p" * 513
            + b"</TargetPrefix></LoggingEnabled></BucketLoggingStatus>",
            "InvalidArgument",
            "TargetPrefix",
        ),
        (
            b"<BucketLoggingStatus><LoggingEnabled><TargetBucket>alice-photos</TargetBucket><Format>json</Format></LoggingEnabled></BucketLoggingStatus>",
            "InvalidArgument",
            "Format",
        ),
    ],
    ids=[
        "not-xml",
        "wrong-root",
        "no-target",
        "leading-slash",
        "too-long",
        "unknown-element",
    ],
)
def test_bad_configurations_are_refused_and_nothing_is_stored(
    alice_signed_client, bucket, photos, body, code, argument
):
    response = alice_signed_client(
        "PUT", "alice-bucket", params={"logging": ""}, body=body
    )

    fields = error_fields(response)
    assert (response.status_code, fields["Code"]) == (400, code)
    assert fields.get("ArgumentName") == argument
    assert not LoggingConfiguration.objects.exists()


def test_another_users_bucket_is_refused_like_a_missing_one(
    alice_signed_client, bucket, bob
):
    Bucket.objects.create(owner=bob, name="bob-bucket")

    answers = [
        error_fields(put_logging(alice_signed_client, target=name))
        for name in ("bob-bucket", "no-such-bucket")
    ]

    assert [a["Code"] for a in answers] == ["InvalidTargetBucketForLogging"] * 2
    assert answers[0]["Message"] == answers[1]["Message"]
    assert not LoggingConfiguration.objects.exists()
