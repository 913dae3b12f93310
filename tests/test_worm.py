"""Retention policies (WORM): the policy's life through the real oss2 SDK (V1 and V4)
against gunicorn, then what it protects on every write and delete path, and the
refusals, signed as the owner through Django's test client."""

import datetime
import uuid

import oss2
import pytest
from django.test import Client
from django.utils import timezone

from buckets import storage, worm
from buckets.lifecycle_job import apply_lifecycle
from buckets.models import AccessKey, LifecycleRule, StoredObject, WormConfiguration
from tests.oss_responses import error_fields
from tests.signing import send_signed, sign_request

DAY = datetime.timedelta(days=1)


def unique_name(prefix="worm"):
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def assert_refused(call, code, status):
    with pytest.raises(oss2.exceptions.OssError) as raised:
        call()
    assert (raised.value.status, raised.value.code) == (status, code)


# -- the real SDK against gunicorn -------------------------------------------------------


@pytest.fixture
def sdk_bucket(as_user):
    created = as_user("alice", unique_name())
    created.create_bucket(oss2.BUCKET_ACL_PRIVATE)
    return created


@pytest.mark.server
class TestThroughTheSdk:
    def test_a_policy_is_initiated_locked_and_extended(self, sdk_bucket):
        worm_id = sdk_bucket.init_bucket_worm(1).worm_id

        got = sdk_bucket.get_bucket_worm()
        assert (got.worm_id, got.state, got.retention_period_days) == (
            worm_id,
            "InProgress",
            1,
        )
        sdk_bucket.complete_bucket_worm(worm_id)
        sdk_bucket.extend_bucket_worm(worm_id, 30)

        got = sdk_bucket.get_bucket_worm()
        assert (got.state, got.retention_period_days) == ("Locked", 30)

    def test_a_protected_object_cannot_be_overwritten_or_deleted_but_new_keys_can_be_written(
        self, sdk_bucket
    ):
        sdk_bucket.put_object("kept.txt", b"original")
        sdk_bucket.init_bucket_worm(1)

        assert_refused(
            lambda: sdk_bucket.put_object("kept.txt", b"new"), "FileImmutable", 403
        )
        assert_refused(
            lambda: sdk_bucket.delete_object("kept.txt"), "FileImmutable", 403
        )
        assert_refused(
            lambda: sdk_bucket.batch_delete_objects(["new.txt", "kept.txt"]),
            "FileImmutable",
            403,
        )
        assert_refused(
            lambda: sdk_bucket.copy_object(
                sdk_bucket.bucket_name, "new.txt", "kept.txt"
            ),
            "FileImmutable",
            403,
        )
        sdk_bucket.put_object("new.txt", b"allowed")

        assert sdk_bucket.get_object("kept.txt").read() == b"original"
        assert sdk_bucket.get_object("new.txt").read() == b"allowed"

    def test_an_aborted_policy_protects_nothing(self, sdk_bucket):
        sdk_bucket.put_object("a.txt", b"a")
        sdk_bucket.init_bucket_worm(1)

        sdk_bucket.abort_bucket_worm()

        sdk_bucket.delete_object("a.txt")
        assert_refused(sdk_bucket.get_bucket_worm, "NoSuchWORMConfiguration", 404)

    def test_a_locked_policy_cannot_be_aborted_and_its_bucket_keeps_its_objects(
        self, sdk_bucket
    ):
        sdk_bucket.put_object("a.txt", b"a")
        sdk_bucket.complete_bucket_worm(sdk_bucket.init_bucket_worm(1).worm_id)

        assert_refused(sdk_bucket.abort_bucket_worm, "WORMConfigurationLocked", 403)
        assert_refused(sdk_bucket.delete_bucket, "BucketNotEmpty", 409)
        assert sdk_bucket.get_bucket_worm().state == "Locked"


# -- the rule on every path, through Django's test client --------------------------------


@pytest.fixture
def send(alice_signed_client):
    return alice_signed_client


@pytest.fixture
def policy(bucket):
    """A Locked one-day policy on alice-bucket."""
    return WormConfiguration.objects.create(
        bucket=bucket, worm_id="W1", state="Locked", retention_days=1
    )


def stored(bucket, key):
    return StoredObject.objects.filter(bucket=bucket, key=key).first()


def assert_immutable(response, key):
    fields = error_fields(response)
    assert response.status_code == 403
    assert (fields["Code"], fields["Message"], fields["Key"]) == (
        "FileImmutable",
        "The object you specified is immutable.",
        key,
    )
    assert fields["EC"] == "0026-00000202"


def test_an_append_to_a_protected_object_is_refused_and_nothing_moves(
    send, bucket, policy
):
    send(
        "POST",
        "alice-bucket",
        "log",
        params={"append": "", "position": "0"},
        body=b"one",
    )
    before = stored(bucket, "log")

    response = send(
        "POST",
        "alice-bucket",
        "log",
        params={"append": "", "position": "3"},
        body=b"two",
    )

    assert_immutable(response, "log")
    assert (stored(bucket, "log").blob, stored(bucket, "log").size) == (before.blob, 3)


def test_completing_a_multipart_upload_onto_a_protected_object_is_refused(
    send, bucket, policy, put_object
):
    original = put_object(bucket, "big", b"original")
    initiated = send("POST", "alice-bucket", "big", params={"uploads": ""})
    upload_id = initiated.content.split(b"<UploadId>")[1].split(b"<")[0].decode()
    send(
        "PUT",
        "alice-bucket",
        "big",
        params={"partNumber": "1", "uploadId": upload_id},
        body=b"part",
    )

    response = send(
        "POST",
        "alice-bucket",
        "big",
        params={"uploadId": upload_id},
        headers={"x-oss-complete-all": "yes"},
    )

    assert_immutable(response, "big")
    assert stored(bucket, "big").blob == original.blob
    assert bucket.multipart_uploads.filter(upload_id=upload_id).exists()


def test_a_symlink_cannot_replace_a_protected_object(send, bucket, policy, put_object):
    original = put_object(bucket, "kept", b"x")

    response = send(
        "PUT",
        "alice-bucket",
        "kept",
        params={"symlink": ""},
        headers={"x-oss-symlink-target": "elsewhere"},
    )

    assert_immutable(response, "kept")
    assert stored(bucket, "kept").blob == original.blob


def test_the_console_cannot_delete_a_protected_object(
    alice_client, bucket, policy, put_object
):
    put_object(bucket, "kept", b"x")

    response = alice_client.post(
        "/console/buckets/alice-bucket/files/delete", {"key": "kept"}, follow=True
    )

    assert response.status_code == 200
    assert "immutable" in response.content.decode()
    assert stored(bucket, "kept") is not None


def test_the_lifecycle_job_leaves_protected_objects_alone(bucket, put_object):
    WormConfiguration.objects.create(
        bucket=bucket, worm_id="W5", state="Locked", retention_days=5
    )
    for key, age_days in (("logs/retained", 3), ("logs/free", 6)):
        obj = put_object(bucket, key, b"x")
        StoredObject.objects.filter(pk=obj.pk).update(
            last_modified=timezone.now() - age_days * DAY
        )
    LifecycleRule.objects.create(
        bucket=bucket,
        position=1,
        rule_id="r",
        prefix="logs/",
        status="Enabled",
        expiration_days=1,
    )

    outcome = apply_lifecycle(timezone.now())

    assert outcome.deleted_objects == 1
    assert stored(bucket, "logs/free") is None
    assert stored(bucket, "logs/retained") is not None


def test_an_object_older_than_the_retention_period_can_be_deleted(
    send, bucket, policy, put_object
):
    old = put_object(bucket, "old", b"x")
    StoredObject.objects.filter(pk=old.pk).update(
        last_modified=timezone.now() - DAY - datetime.timedelta(seconds=5)
    )

    assert send("DELETE", "alice-bucket", "old").status_code == 204
    assert stored(bucket, "old") is None


def test_an_in_progress_policy_protects_for_24_hours_then_expires(
    send, bucket, put_object
):
    put_object(bucket, "a", b"x")
    config = WormConfiguration.objects.create(
        bucket=bucket, worm_id="W2", state="InProgress", retention_days=5
    )
    assert_immutable(send("DELETE", "alice-bucket", "a"), "a")

    WormConfiguration.objects.filter(pk=config.pk).update(
        created_at=timezone.now() - 24 * datetime.timedelta(hours=1)
    )

    assert send("GET", "alice-bucket", params={"worm": ""}).status_code == 404
    assert send("POST", "alice-bucket", params={"wormId": "W2"}).status_code == 404
    assert send("DELETE", "alice-bucket", "a").status_code == 204
    # A new policy replaces the expired one.
    response = send(
        "POST",
        "alice-bucket",
        params={"worm": ""},
        body=b"<InitiateWormConfiguration><RetentionPeriodInDays>2</RetentionPeriodInDays></InitiateWormConfiguration>",
    )
    assert response.status_code == 200
    assert WormConfiguration.objects.get(bucket=bucket).retention_days == 2


def test_the_rule_is_enforced_where_bytes_are_committed(bucket, policy, put_object):
    original = put_object(bucket, "a", b"x")

    with pytest.raises(worm.ObjectImmutable):
        put_object(bucket, "a", b"y")
    with pytest.raises(worm.ObjectImmutable):
        storage.delete_key(bucket, "a")

    assert stored(bucket, "a").blob == original.blob
    assert not bucket.deleted_keys.exists()


# -- refusals ------------------------------------------------------------------------------


def initiate(send, days, root="InitiateWormConfiguration"):
    return send(
        "POST",
        "alice-bucket",
        params={"worm": ""},
        body=f"<{root}><RetentionPeriodInDays>{days}</RetentionPeriodInDays></{root}>".encode(),
    )


@pytest.mark.parametrize("days", ["0", "25551", "-1", "1.5", "", "9" * 40])
def test_a_retention_period_outside_1_to_25550_days_is_refused(send, bucket, days):
    response = initiate(send, days)

    fields = error_fields(response)
    assert (response.status_code, fields["Code"], fields["ArgumentName"]) == (
        400,
        "InvalidArgument",
        "RetentionPeriodInDays",
    )
    assert not WormConfiguration.objects.exists()


def test_25550_days_is_accepted(send, bucket):
    response = initiate(send, "25550")

    assert response.status_code == 200
    assert WormConfiguration.objects.get().worm_id == response["x-oss-worm-id"]


@pytest.mark.parametrize(
    "body",
    [b"not xml", b"<Other><RetentionPeriodInDays>1</RetentionPeriodInDays></Other>"],
)
def test_a_malformed_document_is_refused(send, bucket, body):
    response = send("POST", "alice-bucket", params={"worm": ""}, body=body)

    assert error_fields(response)["Code"] == "MalformedXML"
    assert not WormConfiguration.objects.exists()


def test_a_second_policy_is_refused_while_one_is_in_progress(send, bucket):
    first = initiate(send, "1")["x-oss-worm-id"]

    response = initiate(send, "3")

    assert error_fields(response)["Code"] == "InvalidWORMConfiguration"
    assert WormConfiguration.objects.get().worm_id == first


def test_a_locked_policy_cannot_be_replaced_shortened_or_completed_again(
    send, bucket, policy
):
    shorter = send(
        "POST",
        "alice-bucket",
        params={"wormId": "W1", "wormExtend": ""},
        body=b"<ExtendWormConfiguration><RetentionPeriodInDays>1</RetentionPeriodInDays></ExtendWormConfiguration>",
    )
    policy.retention_days = 5
    policy.save()
    shorten = send(
        "POST",
        "alice-bucket",
        params={"wormId": "W1", "wormExtend": ""},
        body=b"<ExtendWormConfiguration><RetentionPeriodInDays>4</RetentionPeriodInDays></ExtendWormConfiguration>",
    )

    assert shorter.status_code == 200  # the same period: nothing shorter
    assert error_fields(shorten)["Code"] == "InvalidWORMConfiguration"
    assert error_fields(initiate(send, "9"))["Code"] == "WORMConfigurationLocked"
    complete = send("POST", "alice-bucket", params={"wormId": "W1"})
    assert error_fields(complete)["Code"] == "WORMConfigurationLocked"
    assert WormConfiguration.objects.get().retention_days == 5


def test_a_wrong_worm_id_is_no_such_configuration(send, bucket, policy):
    response = send(
        "POST",
        "alice-bucket",
        params={"wormId": "OTHER", "wormExtend": ""},
        body=b"<ExtendWormConfiguration><RetentionPeriodInDays>9</RetentionPeriodInDays></ExtendWormConfiguration>",
    )

    assert (response.status_code, error_fields(response)["Code"]) == (
        404,
        "NoSuchWORMConfiguration",
    )
    assert WormConfiguration.objects.get().retention_days == 1


def test_only_the_owner_manages_a_policy(bob, bucket):
    key, secret = AccessKey.create_for(bob)
    request = sign_request(
        oss2.Auth(key.key_id, secret),
        "POST",
        "alice-bucket",
        "",
        params={"worm": ""},
        headers={"Content-Type": "application/xml"},
        body=b"<InitiateWormConfiguration><RetentionPeriodInDays>1</RetentionPeriodInDays></InitiateWormConfiguration>",
    )

    response = send_signed(Client(), request)

    assert error_fields(response)["Code"] == "AccessDenied"
    assert not WormConfiguration.objects.exists()
