"""buckets/bucket_lookup.py builds, in one SELECT, the same instances the ORM's
select_related would: every field converted alike (JSON, dates, booleans), the
related rows cached, a missing one-to-one row raising DoesNotExist without a query."""

import datetime

import pytest
from django.core.exceptions import ObjectDoesNotExist

from buckets import bucket_lookup
from buckets.models import (
    AccountSettings,
    Bucket,
    LoggingConfiguration,
    RefererConfiguration,
    StoredObject,
)


def field_values(instance):
    return {
        field.attname: getattr(instance, field.attname)
        for field in type(instance)._meta.concrete_fields
    }


def orm_bucket(name):
    return Bucket.objects.select_related(
        "owner__oss_account", "referer_configuration", "logging_configuration"
    ).get(name=name)


@pytest.fixture
def configured_bucket(alice, photos, put_object):
    """A bucket with every related row the lookup joins, and an object whose
    fields are far from their defaults."""
    AccountSettings.objects.create(user=alice, block_public_access=True)
    bucket = Bucket.objects.create(owner=alice, name="alice-configured")
    RefererConfiguration.objects.create(
        bucket=bucket, allow_empty=False, referers=["*.example.com"], blacklist=["x"]
    )
    LoggingConfiguration.objects.create(
        bucket=bucket, target_bucket=photos, target_prefix="log/"
    )
    put_object(
        bucket,
        "dir/ünïcode key.txt",
        b"data",
        content_type="text/plain",
        user_meta={"colour": "blue"},
    )
    StoredObject.objects.filter(bucket=bucket).update(
        tags={"a": "b"},
        restore_ready_at=datetime.datetime(2026, 1, 2, 3, 4, 5, tzinfo=datetime.UTC),
        return_to_standard_on_read=True,
    )
    return bucket


def test_the_bucket_its_owner_and_its_configurations_equal_the_orms(
    configured_bucket, django_assert_num_queries
):
    expected = orm_bucket("alice-configured")

    with django_assert_num_queries(1):
        bucket, current = bucket_lookup.load("alice-configured")
        owner = bucket.owner
        account = owner.oss_account
        referer = bucket.referer_configuration
        logging = bucket.logging_configuration

    assert current is None
    assert field_values(bucket) == field_values(expected)
    assert field_values(owner) == field_values(expected.owner)
    assert field_values(account) == field_values(expected.owner.oss_account)
    assert account.block_public_access is True
    assert field_values(referer) == field_values(expected.referer_configuration)
    assert referer.referers == ["*.example.com"]
    assert field_values(logging) == field_values(expected.logging_configuration)
    assert bucket._state.adding is False
    assert bucket._state.db == "default"


def test_the_current_version_equals_the_orms_and_knows_its_bucket(
    configured_bucket, django_assert_num_queries
):
    key = "dir/ünïcode key.txt"
    expected = StoredObject.objects.get(bucket=configured_bucket, key=key)

    with django_assert_num_queries(1):
        bucket, current = bucket_lookup.load("alice-configured", key)
        assert current.bucket is bucket

    assert field_values(current) == field_values(expected)
    assert current.user_meta == {"colour": "blue"}
    assert current.tags == {"a": "b"}
    assert current.restore_ready_at == datetime.datetime(
        2026, 1, 2, 3, 4, 5, tzinfo=datetime.UTC
    )
    assert current.return_to_standard_on_read is True
    assert current.last_modified == expected.last_modified


def test_missing_related_rows_raise_does_not_exist_without_a_query(
    bucket, django_assert_num_queries
):
    with django_assert_num_queries(1):
        found, current = bucket_lookup.load("alice-bucket", "no-such-key")
        for relation in (
            lambda: found.owner.oss_account,
            lambda: found.referer_configuration,
            lambda: found.logging_configuration,
        ):
            with pytest.raises(ObjectDoesNotExist):
                relation()

    assert current is None
    assert found.pk == bucket.pk


def test_a_key_of_another_bucket_is_not_found(bucket, photos, put_object):
    put_object(photos, "only-in-photos", b"x")

    found, current = bucket_lookup.load("alice-bucket", "only-in-photos")

    assert found.pk == bucket.pk
    assert current is None


def test_no_bucket_by_that_name(bucket):
    assert bucket_lookup.load("no-such-bucket", "k") == (None, None)
    assert bucket_lookup.load("no-such-bucket") == (None, None)


def test_a_name_is_matched_exactly_not_as_a_pattern(bucket):
    assert bucket_lookup.load("alice-%") == (None, None)
    assert bucket_lookup.load("ALICE-BUCKET") == (None, None)


def test_the_current_version_alone_equals_the_orms(
    configured_bucket, photos, put_object, django_assert_num_queries
):
    key = "dir/ünïcode key.txt"
    put_object(photos, key, b"other bucket")
    expected = StoredObject.objects.get(bucket=configured_bucket, key=key)

    with django_assert_num_queries(1):
        current = bucket_lookup.current_version(configured_bucket, key)
        assert current.bucket is configured_bucket

    assert field_values(current) == field_values(expected)
    assert bucket_lookup.current_version(configured_bucket, "no-such-key") is None
