"""Access tracking (`?accessmonitor`): the setting, GetBucketInfo's AccessMonitor,
x-oss-last-access-time, a GET recording itself at most daily, the refusal to
disable it under an access-time lifecycle rule, and ReturnToStdWhenVisit.

The SDK (V1 and V4) runs against the real gunicorn (two_user_server); the daily
write and the read-back to Standard go through Django's test client.
"""

import datetime
import uuid

import oss2
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from django.utils.http import parse_http_date
from oss2.models import BucketLifecycle, LifecycleRule, StorageTransition

from buckets.models import Bucket, StoredObject
from tests.oss_responses import body_of, error_fields

DAY = datetime.timedelta(days=1)


@pytest.fixture
def alice_bucket(as_user):
    bucket = as_user("alice", f"am-{uuid.uuid4().hex[:12]}")
    bucket.create_bucket()
    return bucket


def access_time_rule():
    return LifecycleRule(
        "cold",
        "logs/",
        storage_transitions=[
            StorageTransition(days=30, storage_class="IA", is_access_time=True)
        ],
    )


@pytest.mark.server
def test_enabling_shows_in_its_setting_and_in_bucket_info(alice_bucket):
    assert alice_bucket.get_bucket_access_monitor().access_monitor.status == "Disabled"
    assert alice_bucket.get_bucket_info().access_monitor == "Disabled"

    alice_bucket.put_bucket_access_monitor("Enabled")

    assert alice_bucket.get_bucket_access_monitor().access_monitor.status == "Enabled"
    assert alice_bucket.get_bucket_info().access_monitor == "Enabled"

    alice_bucket.put_bucket_access_monitor("Disabled")

    assert alice_bucket.get_bucket_access_monitor().access_monitor.status == "Disabled"


@pytest.mark.server
def test_object_meta_and_head_carry_the_last_access_time_while_enabled(alice_bucket):
    alice_bucket.put_object("a.txt", b"content")
    assert "x-oss-last-access-time" not in alice_bucket.get_object_meta("a.txt").headers

    alice_bucket.put_bucket_access_monitor("Enabled")

    meta = alice_bucket.get_object_meta("a.txt").headers["x-oss-last-access-time"]
    head = alice_bucket.head_object("a.txt").headers["x-oss-last-access-time"]
    # An object older than the tracking starts from the moment it was enabled.
    assert meta == head
    assert parse_http_date(meta) >= parse_http_date(
        alice_bucket.head_object("a.txt").headers["Last-Modified"]
    )


@pytest.mark.server
def test_it_cannot_be_disabled_while_a_rule_counts_last_access(alice_bucket):
    alice_bucket.put_bucket_access_monitor("Enabled")
    alice_bucket.put_bucket_lifecycle(BucketLifecycle([access_time_rule()]))

    with pytest.raises(oss2.exceptions.InvalidArgument) as refused:
        alice_bucket.put_bucket_access_monitor("Disabled")

    assert refused.value.details["EC"] == "0036-00000005"
    assert alice_bucket.get_bucket_access_monitor().access_monitor.status == "Enabled"
    alice_bucket.delete_bucket_lifecycle()
    alice_bucket.put_bucket_access_monitor("Disabled")
    assert alice_bucket.get_bucket_access_monitor().access_monitor.status == "Disabled"


@pytest.mark.server
def test_a_bad_status_is_malformed_and_only_the_owner_may_touch_it(
    as_user, alice_bucket
):
    bob = as_user("bob", alice_bucket.bucket_name)

    with pytest.raises(oss2.exceptions.MalformedXml):
        alice_bucket.put_bucket_access_monitor("aa")
    with pytest.raises(oss2.exceptions.AccessDenied):
        bob.put_bucket_access_monitor("Enabled")
    with pytest.raises(oss2.exceptions.AccessDenied):
        bob.get_bucket_access_monitor()
    assert alice_bucket.get_bucket_access_monitor().access_monitor.status == "Disabled"


# -- reads, through Django's test client ---------------------------------------------------


@pytest.fixture
def send(alice_signed_client, bucket):
    def request(method, key="a.txt", **kwargs):
        return alice_signed_client(method, "alice-bucket", key, **kwargs)

    return request


@pytest.fixture
def tracked(bucket, send):
    """alice-bucket, tracked for ten days, holding a.txt."""
    Bucket.objects.filter(pk=bucket.pk).update(
        access_monitor_since=timezone.now() - 10 * DAY
    )
    assert send("PUT", body=b"content").status_code == 200


def recorded():
    return StoredObject.objects.get(key="a.txt").last_access_time


def test_a_get_records_itself_at_most_once_a_day(tracked, send):
    send("GET")
    first = recorded()
    with CaptureQueriesContext(connection) as queries:
        send("GET")
        send("HEAD")

    assert first is not None
    assert recorded() == first  # the same day: no second write
    assert not [q for q in queries if q["sql"].startswith("UPDATE")]

    StoredObject.objects.filter(key="a.txt").update(last_access_time=first - 2 * DAY)
    send("GET")

    assert recorded() > first - 2 * DAY
    assert parse_http_date(send("HEAD")["x-oss-last-access-time"]) == int(
        recorded().timestamp()
    )


def test_no_access_is_recorded_while_tracking_is_off(bucket, send):
    send("PUT", body=b"content")

    send("GET")

    assert recorded() is None
    assert "x-oss-last-access-time" not in send("HEAD")


def test_a_read_brings_an_object_moved_by_access_time_back_to_standard(tracked, send):
    StoredObject.objects.filter(key="a.txt").update(
        storage_class="IA", return_to_standard_on_read=True
    )
    send("HEAD")  # a HEAD is not a read of the bytes
    assert StoredObject.objects.get(key="a.txt").storage_class == "IA"

    got = send("GET")

    obj = StoredObject.objects.get(key="a.txt")
    assert body_of(got) == b"content"
    assert (obj.storage_class, obj.return_to_standard_on_read) == ("Standard", False)


def test_an_ia_object_moved_by_age_stays_ia_when_read(tracked, send):
    StoredObject.objects.filter(key="a.txt").update(storage_class="IA")

    send("GET")

    assert StoredObject.objects.get(key="a.txt").storage_class == "IA"


@pytest.mark.parametrize(
    "body",
    [
        b"<AccessMonitorConfiguration><Status>On</Status></AccessMonitorConfiguration>",
        b"<AccessMonitorConfiguration/>",
        b"<AccessMonitor><Status>Enabled</Status></AccessMonitor>",
        b"<AccessMonitorConfiguration><Status>Enabled</Status><X/></AccessMonitorConfiguration>",
        b"<AccessMonitorConfiguration>",
    ],
)
def test_bad_documents_are_malformed_and_change_nothing(send, bucket, body):
    response = send("PUT", key="", params={"accessmonitor": ""}, body=body)

    assert (response.status_code, error_fields(response)["Code"]) == (
        400,
        "MalformedXML",
    )
    assert Bucket.objects.get(pk=bucket.pk).access_monitor_since is None
