"""Bucket inventory: configurations through the real oss2 SDK (V1 and V4) against
gunicorn and the files the job writes there, then the refusals, paging and the
job's selection, schedule and encryption through Django's test client."""

import datetime
import gzip
import json
import uuid

import oss2
import pytest
from django.utils import timezone
from oss2.models import (
    InventoryBucketDestination,
    InventoryConfiguration,
    InventoryDestination,
    InventoryFilter,
    InventorySchedule,
    InventoryServerSideEncryptionOSS,
)

from buckets import inventory
from buckets.envelope import Sse
from buckets.models import Bucket, StoredObject
from buckets.models import InventoryConfiguration as Config
from buckets.storage import open_blob
from tests.oss_responses import error_fields

DAY = datetime.timedelta(days=1)


def unique_name(prefix="inv"):
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


# -- the real SDK against gunicorn -------------------------------------------------------


@pytest.mark.server
def test_an_inventory_is_configured_and_written_as_oss_lays_it_out(
    two_user_server, as_user
):
    gunicorn, _keys = two_user_server
    source = as_user("alice", unique_name())
    destination = as_user("alice", unique_name())
    source.create_bucket()
    destination.create_bucket()
    account = source.get_bucket_info().owner.id
    source.put_object("obj-prefix/a b.txt", b"hello")
    source.put_object("other/c.txt", b"not listed")
    config = InventoryConfiguration(
        inventory_id="weekly-1",
        is_enabled=True,
        inventory_schedule=InventorySchedule(frequency="Weekly"),
        included_object_versions="Current",
        inventory_filter=InventoryFilter(prefix="obj-prefix"),
        optional_fields=["Size", "ETag"],
        inventory_destination=InventoryDestination(
            bucket_destination=InventoryBucketDestination(
                account_id=account,
                role_arn=f"acs:ram::{account}:role/AliyunOSSRole",
                bucket=destination.bucket_name,
                inventory_format="CSV",
                prefix="inventories",
                sse_oss_encryption=InventoryServerSideEncryptionOSS(),
            )
        ),
    )

    source.put_bucket_inventory_configuration(config)
    got = source.get_bucket_inventory_configuration("weekly-1")
    listed = source.list_bucket_inventory_configurations()
    gunicorn.manage("run_inventory", "--all")

    assert got.inventory_filter.prefix == "obj-prefix"
    assert got.optional_fields == ["Size", "ETag"]
    assert (
        got.inventory_destination.bucket_destination.bucket == destination.bucket_name
    )
    assert [c.inventory_id for c in listed.inventory_configurations] == ["weekly-1"]
    base = f"inventories/{source.bucket_name}/weekly-1/"
    keys = [obj.key for obj in oss2.ObjectIterator(destination, prefix=base)]
    (manifest_key,) = [key for key in keys if key.endswith("/manifest.json")]
    manifest = json.loads(destination.get_object(manifest_key).read())
    assert manifest["fileSchema"] == "Bucket, Key, Size, ETag"
    assert (manifest["sourceBucket"], manifest["destinationBucket"]) == (
        source.bucket_name,
        destination.bucket_name,
    )
    (data,) = manifest["files"]
    assert data["key"].startswith(f"{base}data/")
    assert data["key"] in keys
    rows = gzip.decompress(destination.get_object(data["key"]).read()).decode()
    etag = source.head_object("obj-prefix/a b.txt").etag
    assert rows == f'"{source.bucket_name}","obj-prefix%2Fa%20b.txt","5","{etag}"\n'
    head = destination.head_object(data["key"])
    assert head.headers["x-oss-server-side-encryption"] == "AES256"

    source.delete_bucket_inventory_configuration("weekly-1")
    with pytest.raises(oss2.exceptions.NoSuchInventory):
        source.list_bucket_inventory_configurations()


# -- through Django's test client ------------------------------------------------------------


def document(alice, **overrides):
    """An InventoryConfiguration document of alice-bucket into alice-photos; each
    keyword replaces one element's text (None leaves it out)."""
    values = {
        "Id": "report1",
        "IsEnabled": "true",
        "Prefix": "logs/",
        "Format": "CSV",
        "AccountId": str(alice.pk),
        "RoleArn": f"acs:ram::{alice.pk}:role/AliyunOSSRole",
        "Bucket": "acs:oss:::alice-photos",
        "DestPrefix": "inv",
        "Frequency": "Daily",
        "IncludedObjectVersions": "Current",
        "Fields": "<Field>Size</Field><Field>LastModifiedDate</Field>",
        "Filter": "",
        "Encryption": "",
        **overrides,
    }

    def tag(name, text_key=None):
        value = values[text_key or name]
        return "" if value is None else f"<{name}>{value}</{name}>"

    return (
        "<InventoryConfiguration>"
        + tag("Id")
        + tag("IsEnabled")
        + f"<Filter>{tag('Prefix')}{values['Filter']}</Filter>"
        + "<Destination><OSSBucketDestination>"
        + tag("Format")
        + tag("AccountId")
        + tag("RoleArn")
        + tag("Bucket")
        + tag("Prefix", "DestPrefix")
        + values["Encryption"]
        + "</OSSBucketDestination></Destination>"
        + f"<Schedule>{tag('Frequency')}</Schedule>"
        + tag("IncludedObjectVersions")
        + f"<OptionalFields>{values['Fields']}</OptionalFields>"
        + "</InventoryConfiguration>"
    ).encode()


@pytest.fixture
def put_inventory(alice_signed_client, bucket, photos):
    def put(body, inventory_id="report1"):
        return alice_signed_client(
            "PUT",
            "alice-bucket",
            params={"inventory": "", "inventoryId": inventory_id},
            body=body,
        )

    return put


def test_a_configuration_is_returned_as_it_was_put(
    alice, put_inventory, alice_signed_client
):
    body = document(
        alice,
        Filter="<LastModifyBeginTimeStamp>1637883649</LastModifyBeginTimeStamp>"
        "<UpperSizeBound>1048576</UpperSizeBound><StorageClass>Standard,IA</StorageClass>",
        Encryption="<Encryption><SSE-KMS><KeyId>key-1</KeyId></SSE-KMS></Encryption>",
    )

    assert put_inventory(body).status_code == 200
    got = alice_signed_client(
        "GET", "alice-bucket", params={"inventory": "", "inventoryId": "report1"}
    )

    text = got.content.decode()
    for part in (
        "<Id>report1</Id>",
        "<IsEnabled>true</IsEnabled>",
        "<Prefix>logs/</Prefix><LastModifyBeginTimeStamp>1637883649</LastModifyBeginTimeStamp>"
        "<UpperSizeBound>1048576</UpperSizeBound><StorageClass>IA,Standard</StorageClass>",
        "<Bucket>acs:oss:::alice-photos</Bucket><Prefix>inv</Prefix>",
        "<Encryption><SSE-KMS><KeyId>key-1</KeyId></SSE-KMS></Encryption>",
        "<Frequency>Daily</Frequency>",
        "<OptionalFields><Field>Size</Field><Field>LastModifiedDate</Field></OptionalFields>",
    ):
        assert part in text


@pytest.mark.parametrize(
    ("overrides", "code", "argument"),
    [
        ({"AccountId": "999999"}, "InvalidArgument", "AccountId"),
        ({"AccountId": None}, "MalformedXML", None),
        ({"RoleArn": "acs:ram::999999:role/x"}, "InvalidArgument", "RoleArn"),
        ({"RoleArn": "arn:aws:iam::1:role/x"}, "InvalidArgument", "RoleArn"),
        ({"Bucket": "acs:oss:::bob-bucket"}, "InvalidArgument", "Bucket"),
        ({"Bucket": "acs:oss:::no-such-bucket"}, "InvalidArgument", "Bucket"),
        ({"Bucket": "alice-photos"}, "InvalidArgument", "Bucket"),
        ({"Format": "ORC"}, "InvalidArgument", "Format"),
        ({"Frequency": "Monthly"}, "InvalidArgument", "Frequency"),
        (
            {"IncludedObjectVersions": "Some"},
            "InvalidArgument",
            "IncludedObjectVersions",
        ),
        ({"IsEnabled": "yes"}, "InvalidArgument", "IsEnabled"),
        ({"Fields": "<Field>Owner</Field>"}, "InvalidArgument", "Field"),
        (
            {"Fields": "<Field>Size</Field><Field>Size</Field>"},
            "InvalidArgument",
            "Field",
        ),
        ({"Id": "other"}, "InvalidArgument", "Id"),
        (
            {"Filter": "<LastModifyBeginTimeStamp>-5</LastModifyBeginTimeStamp>"},
            "InvalidArgument",
            "LastModifyBeginTimeStamp",
        ),
        (
            {
                "Filter": "<LowerSizeBound>10</LowerSizeBound><UpperSizeBound>5</UpperSizeBound>"
            },
            "InvalidArgument",
            "UpperSizeBound",
        ),
        (
            {"Filter": "<UpperSizeBound>" + "9" * 40 + "</UpperSizeBound>"},
            "InvalidArgument",
            "UpperSizeBound",
        ),
        (
            {"Filter": "<StorageClass>Gold</StorageClass>"},
            "InvalidArgument",
            "StorageClass",
        ),
        (
            {
                "Encryption": "<Encryption><SSE-OSS/><SSE-KMS><KeyId>k</KeyId></SSE-KMS></Encryption>"
            },
            "InvalidArgument",
            "Encryption",
        ),
        ({"Filter": "<Tag>x</Tag>"}, "InvalidArgument", "Tag"),
    ],
)
def test_a_configuration_it_cannot_honour_is_refused_and_nothing_is_stored(
    alice, bob, put_inventory, overrides, code, argument
):
    Bucket.objects.create(owner=bob, name="bob-bucket")

    response = put_inventory(document(alice, **overrides))

    fields = error_fields(response)
    assert (response.status_code, fields["Code"]) == (400, code)
    assert fields.get("ArgumentName") == argument
    assert not Config.objects.exists()


@pytest.mark.parametrize("inventory_id", ["", "a" * 65, "bad id", "日本"])
def test_an_invalid_inventory_id_is_refused(alice, put_inventory, inventory_id):
    response = put_inventory(document(alice, Id=inventory_id), inventory_id)

    assert error_fields(response)["Code"] == "InvalidArgument"
    assert not Config.objects.exists()


def test_the_list_pages_by_100_with_a_continuation_token(
    alice, put_inventory, alice_signed_client
):
    for n in range(120):
        assert (
            put_inventory(document(alice, Id=f"id-{n:03}"), f"id-{n:03}").status_code
            == 200
        )

    first = alice_signed_client("GET", "alice-bucket", params={"inventory": ""})
    token = first.content.split(b"<NextContinuationToken>")[1].split(b"<")[0].decode()
    second = alice_signed_client(
        "GET", "alice-bucket", params={"inventory": "", "continuation-token": token}
    )

    assert first.content.count(b"<InventoryConfiguration>") == 100
    assert b"<IsTruncated>true</IsTruncated>" in first.content
    assert b"<ContinuationToken>" not in first.content
    assert second.content.count(b"<InventoryConfiguration>") == 20
    assert b"<IsTruncated>false</IsTruncated>" in second.content
    assert f"<ContinuationToken>{token}</ContinuationToken>".encode() in second.content
    assert b"<NextContinuationToken>" not in second.content


def test_no_configurations_is_no_such_inventory(alice_signed_client, bucket):
    listed = alice_signed_client("GET", "alice-bucket", params={"inventory": ""})
    one = alice_signed_client(
        "GET", "alice-bucket", params={"inventory": "", "inventoryId": "x"}
    )
    deleted = alice_signed_client(
        "DELETE", "alice-bucket", params={"inventory": "", "inventoryId": "x"}
    )

    assert (listed.status_code, error_fields(listed)["Code"]) == (
        404,
        "NoSuchInventory",
    )
    assert error_fields(one)["Code"] == "NoSuchInventory"
    assert deleted.status_code == 204


def test_inventory_id_alone_never_runs_as_a_plain_bucket_operation(
    alice_signed_client, bucket
):
    response = alice_signed_client(
        "DELETE", "alice-bucket", params={"inventoryId": "x"}
    )

    assert error_fields(response)["Code"] == "InvalidArgument"
    assert Bucket.objects.filter(name="alice-bucket").exists()


# -- the job -----------------------------------------------------------------------------------


def make_config(bucket, destination, **fields):
    values = {
        "inventory_id": "r1",
        "is_enabled": True,
        "frequency": "Weekly",
        "included_object_versions": "Current",
        "optional_fields": ["Size", "StorageClass", "IsMultipartUploaded"],
        "destination_prefix": "inv",
        "account_id": str(bucket.owner_id),
        "role_arn": f"acs:ram::{bucket.owner_id}:role/r",
        **fields,
    }
    return Config.objects.create(
        bucket=bucket, destination_bucket=destination, **values
    )


def written_rows(destination):
    manifest_row = StoredObject.objects.get(
        bucket=destination, key__endswith="manifest.json"
    )
    with open_blob(manifest_row) as handle:
        manifest = json.loads(handle.read())
    rows = []
    for entry in manifest["files"]:
        data = StoredObject.objects.get(bucket=destination, key=entry["key"])
        assert (data.size, data.md5.upper()) == (entry["size"], entry["MD5checksum"])
        with open_blob(data) as handle:
            rows += gzip.decompress(handle.read()).decode().splitlines()
    return manifest, rows


def test_the_job_lists_what_the_filter_selects(bucket, photos, put_object):
    put_object(bucket, "logs/small", b"x")
    put_object(bucket, "logs/big", b"x" * 100)
    put_object(bucket, "logs/old", b"x" * 10)
    put_object(bucket, "other/big", b"x" * 100)
    StoredObject.objects.filter(key="logs/old").update(
        last_modified=datetime.datetime(2020, 1, 1, tzinfo=datetime.UTC)
    )
    config = make_config(
        bucket,
        photos,
        prefix="logs/",
        lower_size_bound=5,
        last_modify_begin=int(
            datetime.datetime(2021, 1, 1, tzinfo=datetime.UTC).timestamp()
        ),
        included_object_versions="All",
    )

    assert inventory.run_due_inventories() == 1

    manifest, rows = written_rows(photos)
    assert manifest["fileSchema"] == (
        "Bucket, Key, VersionId, IsLatest, IsDeleteMarker, Size, StorageClass, "
        "IsMultipartUploaded"
    )
    assert rows == [
        '"alice-bucket","logs%2Fbig","null","true","false","100","Standard","false"'
    ]
    assert manifest["creationTimestamp"].isdigit()
    config.refresh_from_db()
    assert config.last_run is not None


def test_an_inventory_of_nothing_has_one_empty_file(bucket, photos):
    make_config(bucket, photos)

    inventory.run_due_inventories()

    manifest, rows = written_rows(photos)
    assert (len(manifest["files"]), rows) == (1, [])


def test_weekly_inventories_run_once_a_week_and_disabled_ones_never(bucket, photos):
    make_config(bucket, photos)
    make_config(bucket, photos, inventory_id="off", is_enabled=False)
    now = timezone.now()

    assert inventory.run_due_inventories(now) == 1
    assert inventory.run_due_inventories(now + 6 * DAY) == 0
    assert inventory.run_due_inventories(now + 7 * DAY) == 1


def test_the_job_checks_at_most_once_per_interval(bucket, photos, settings):
    settings.INVENTORY_INTERVAL_SECONDS = 3600
    make_config(bucket, photos, frequency="Daily")
    now = timezone.now()

    assert inventory.run_if_due(now) == 1
    assert inventory.run_if_due(now + datetime.timedelta(minutes=30)) is None
    assert inventory.run_if_due(now + 2 * DAY) == 1


@pytest.mark.parametrize(
    ("encryption", "key_id", "algorithm"),
    [("SSE-OSS", "", "AES256"), ("SSE-KMS", "key-1", "KMS"), ("SSE-KMS", "", "KMS")],
)
def test_the_files_are_encrypted_as_the_destination_says(
    bucket, photos, encryption, key_id, algorithm
):
    make_config(bucket, photos, encryption=encryption, kms_key_id=key_id)

    inventory.run_due_inventories()

    for obj in StoredObject.objects.filter(bucket=photos):
        sse = Sse.from_dict(obj.encryption)
        assert sse.algorithm == algorithm
        if key_id:
            assert sse.key_id == key_id
