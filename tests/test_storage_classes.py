"""Per-object storage classes: x-oss-storage-class on PutObject, CopyObject,
InitiateMultipartUpload and the first AppendObject (else the bucket's class),
returned by HEAD/GET and every listing; bad values refused with nothing stored.

The SDK (V1 and V4) runs against the real gunicorn (two_user_server); writers that
choose no class (the console, mirroring) are checked in-process.
"""

import uuid
import xml.etree.ElementTree as ET

import oss2
import pytest

from buckets.models import Bucket, StoredObject

CLASS = "x-oss-storage-class"


@pytest.fixture
def alice_bucket(as_user):
    bucket = as_user("alice", f"sc-{uuid.uuid4().hex[:12]}")
    bucket.create_bucket()
    return bucket


def head_class(bucket, key):
    return bucket.head_object(key).headers[CLASS]


@pytest.mark.server
@pytest.mark.parametrize(
    "storage_class", ["Standard", "IA", "Archive", "ColdArchive", "DeepColdArchive"]
)
def test_a_put_class_is_headed_and_listed(alice_bucket, storage_class):
    alice_bucket.put_object("a.txt", b"x", headers={CLASS: storage_class})
    alice_bucket.put_object("b.txt", b"x")

    assert head_class(alice_bucket, "a.txt") == storage_class
    assert [o.storage_class for o in alice_bucket.list_objects().object_list] == [
        storage_class,
        "Standard",
    ]
    assert [o.storage_class for o in alice_bucket.list_objects_v2().object_list] == [
        storage_class,
        "Standard",
    ]


@pytest.mark.server
def test_objects_without_a_class_take_the_buckets(as_user):
    bucket = as_user("alice", f"sc-ia-{uuid.uuid4().hex[:8]}")
    bucket.create_bucket(oss2.BUCKET_ACL_PRIVATE, oss2.models.BucketCreateConfig("IA"))

    bucket.put_object("a.txt", b"x")
    bucket.put_object("b.txt", b"x", headers={CLASS: "Standard"})

    assert head_class(bucket, "a.txt") == "IA"
    assert head_class(bucket, "b.txt") == "Standard"
    assert bucket.get_object("a.txt").headers[CLASS] == "IA"


@pytest.mark.server
@pytest.mark.parametrize("value", ["Glacier", "standard", ""])
def test_a_class_oss_does_not_have_is_refused_and_nothing_stored(alice_bucket, value):
    with pytest.raises(oss2.exceptions.InvalidArgument) as refused:
        alice_bucket.put_object("a.txt", b"x", headers={CLASS: value})
    with pytest.raises(oss2.exceptions.InvalidArgument):
        alice_bucket.init_multipart_upload("m.txt", headers={CLASS: value})

    assert refused.value.details["ArgumentName"] == CLASS
    assert not alice_bucket.object_exists("a.txt")
    assert list(oss2.MultipartUploadIterator(alice_bucket)) == []


@pytest.mark.server
def test_a_copy_takes_its_own_header_or_the_buckets_class(alice_bucket):
    name = alice_bucket.bucket_name
    alice_bucket.put_object("src.txt", b"x", headers={CLASS: "IA"})

    alice_bucket.copy_object(name, "src.txt", "cold.txt", headers={CLASS: "Archive"})
    alice_bucket.copy_object(name, "src.txt", "plain.txt")

    assert head_class(alice_bucket, "cold.txt") == "Archive"
    assert head_class(alice_bucket, "plain.txt") == "Standard"
    # Copying an object onto itself is how OSS changes a readable object's class.
    alice_bucket.copy_object(name, "src.txt", "src.txt", headers={CLASS: "Standard"})
    assert head_class(alice_bucket, "src.txt") == "Standard"


@pytest.mark.server
def test_a_multipart_object_gets_the_class_its_upload_began_with(alice_bucket):
    upload_id = alice_bucket.init_multipart_upload(
        "m.txt", headers={CLASS: "ColdArchive"}
    ).upload_id
    part = alice_bucket.upload_part("m.txt", upload_id, 1, b"part")

    alice_bucket.complete_multipart_upload(
        "m.txt", upload_id, [oss2.models.PartInfo(1, part.etag)]
    )

    assert head_class(alice_bucket, "m.txt") == "ColdArchive"


@pytest.mark.server
def test_the_first_append_decides_the_class(alice_bucket):
    alice_bucket.append_object("log.txt", 0, b"one", headers={CLASS: "IA"})
    alice_bucket.append_object("log.txt", 3, b"two")

    assert head_class(alice_bucket, "log.txt") == "IA"
    with pytest.raises(oss2.exceptions.InvalidArgument):
        alice_bucket.append_object("cold.txt", 0, b"x", headers={CLASS: "ColdArchive"})
    assert not alice_bucket.object_exists("cold.txt")


@pytest.mark.server
def test_other_users_see_no_class_of_a_private_bucket(as_user, alice_bucket):
    alice_bucket.put_object("a.txt", b"x", headers={CLASS: "Archive"})
    bob = as_user("bob", alice_bucket.bucket_name)

    with pytest.raises(oss2.exceptions.AccessDenied):
        bob.restore_object("a.txt")
    with pytest.raises(oss2.exceptions.ServerError) as refused:
        bob.head_object("a.txt")
    assert refused.value.status == 403


# -- writers that choose no class -------------------------------------------------------


def test_a_writer_without_a_class_gives_the_buckets_and_resets_the_old(
    alice, put_object
):
    bucket = Bucket.objects.create(owner=alice, name="alice-ia", storage_class="IA")
    first = put_object(bucket, "a.txt", b"one")
    StoredObject.objects.filter(pk=first.pk).update(
        storage_class="Archive", last_access_time=first.last_modified
    )

    put_object(bucket, "a.txt", b"two")  # the console's and mirroring's path

    obj = StoredObject.objects.get(pk=first.pk)
    assert (first.storage_class, obj.storage_class) == ("IA", "IA")
    assert obj.last_access_time is None


def test_upload_listings_name_the_class_the_upload_began_with(
    alice_signed_client, bucket
):
    initiated = alice_signed_client(
        "POST",
        "alice-bucket",
        "m.txt",
        params={"uploads": ""},
        headers={CLASS: "ColdArchive"},
    )
    upload_id = ET.fromstring(initiated.content).findtext("UploadId")

    uploads = alice_signed_client("GET", "alice-bucket", params={"uploads": ""})
    parts = alice_signed_client(
        "GET", "alice-bucket", "m.txt", params={"uploadId": upload_id}
    )

    assert ET.fromstring(uploads.content).findtext("Upload/StorageClass") == (
        "ColdArchive"
    )
    assert ET.fromstring(parts.content).findtext("StorageClass") == "ColdArchive"


def test_changing_tags_keeps_the_class(bucket, put_object):
    obj = put_object(bucket, "a.txt", b"one")
    StoredObject.objects.filter(pk=obj.pk).update(storage_class="ColdArchive")
    obj = StoredObject.objects.get(pk=obj.pk)

    obj.tags = {"k": "v"}
    obj.save()

    assert StoredObject.objects.get(pk=obj.pk).storage_class == "ColdArchive"
