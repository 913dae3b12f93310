"""Protocol details oss2's suite relies on, through oss2 against gunicorn:
DeleteMultipleObjects with keys holding control characters, ListBuckets ?regionList,
and resource groups (one default group holding every bucket)."""

import uuid

import oss2
import pytest
from defusedxml.ElementTree import ParseError, fromstring

from buckets import control_characters
from buckets.resource_groups import DEFAULT_RESOURCE_GROUP_ID
from tests.signing import REGION


@pytest.fixture
def keys_auth(two_user_server, sdk_version):
    gunicorn, keys = two_user_server
    auth = (oss2.AuthV4 if sdk_version == "v4" else oss2.Auth)(*keys["alice"])
    return gunicorn, auth


@pytest.fixture
def sdk_bucket(keys_auth):
    gunicorn, auth = keys_auth
    bucket = oss2.Bucket(
        auth, gunicorn.url, f"pd-{uuid.uuid4().hex[:12]}", region=REGION
    )
    bucket.create_bucket()
    return bucket


@pytest.fixture
def service(keys_auth):
    gunicorn, auth = keys_auth
    return oss2.Service(auth, gunicorn.url, region=REGION)


def refusal(attempt):
    with pytest.raises(oss2.exceptions.ServerError) as refused:
        attempt()
    return refused.value.status, refused.value.code


# -- DeleteMultipleObjects ---------------------------------------------------------------


@pytest.mark.parametrize(
    "key",
    ["中文!@#$%^&*()-=文件\x0c-2.txt", "bell\x07 and \x01.txt", "<hello>", "tab\tkey"],
)
def test_batch_delete_removes_keys_with_control_characters(sdk_bucket, key):
    sdk_bucket.put_object(key, "中文内容")

    result = sdk_bucket.batch_delete_objects([key, "kept.txt"])

    assert result.deleted_keys == [key, "kept.txt"]
    assert not sdk_bucket.object_exists(key)


def test_batch_delete_still_refuses_a_document_that_is_not_xml(sdk_bucket):
    sdk_bucket.put_object("stays.txt", b"x")
    body = b"<Delete><Object><Key>stays.txt\x0c</Key></Object>"  # never closed

    def attempt():
        sdk_bucket._Bucket__do_bucket("POST", data=body, params={"delete": ""})

    assert refusal(attempt) == (400, "MalformedXML")
    assert sdk_bucket.object_exists("stays.txt")


def test_stand_in_characters_sent_by_the_client_stay_as_sent():
    stand_in = chr(0xF000C)  # what \x0c is swapped for while parsing
    clean = f"<Delete><Object><Key>{stand_in}</Key></Object></Delete>".encode()
    mixed = f"<Delete><Object><Key>{stand_in}\x0c</Key></Object></Delete>".encode()

    root = control_characters.parse_keeping_control_characters(clean, fromstring)

    assert root.findtext("Object/Key") == stand_in
    # With a stand-in of its own, a body is parsed as sent: \x0c is then not XML.
    with pytest.raises(ParseError):
        control_characters.parse_keeping_control_characters(mixed, fromstring)


# -- ListBuckets ?regionList and resource groups ----------------------------------------------


def test_list_buckets_with_region_list_lists_every_bucket(service, sdk_bucket):
    listed = service.list_buckets(params={"regionList": ""})

    assert listed.status == 200
    assert sdk_bucket.bucket_name in [bucket.name for bucket in listed.buckets]
    assert {bucket.region for bucket in listed.buckets} == {REGION}


def test_every_bucket_is_in_the_default_resource_group(service, sdk_bucket):
    info = sdk_bucket.get_bucket_info()
    grouped = service.list_buckets(
        prefix=sdk_bucket.bucket_name,
        headers={"x-oss-resource-group-id": info.resource_group_id},
    )
    elsewhere = service.list_buckets(
        prefix=sdk_bucket.bucket_name, headers={"x-oss-resource-group-id": "rg-other"}
    )

    assert info.resource_group_id == DEFAULT_RESOURCE_GROUP_ID
    assert [b.resource_group_id for b in grouped.buckets] == [DEFAULT_RESOURCE_GROUP_ID]
    assert elsewhere.buckets == []
    assert sdk_bucket.get_bucket_resource_group().resource_group_id == (
        DEFAULT_RESOURCE_GROUP_ID
    )
    assert sdk_bucket.put_bucket_resource_group(DEFAULT_RESOURCE_GROUP_ID).status == 200


def test_another_resource_group_is_refused(keys_auth, sdk_bucket):
    gunicorn, auth = keys_auth
    name = f"pd-{uuid.uuid4().hex[:12]}"
    new_bucket = oss2.Bucket(auth, gunicorn.url, name, region=REGION)

    assert refusal(lambda: sdk_bucket.put_bucket_resource_group("rg-xxxxxx")) == (
        400,
        "ResourceGroupIdPreCheckError",
    )
    assert refusal(
        lambda: new_bucket.create_bucket(
            headers={"x-oss-resource-group-id": "rg-xxxxxx"}
        )
    ) == (400, "ResourceGroupIdPreCheckError")
    assert refusal(new_bucket.get_bucket_info) == (404, "NoSuchBucket")
