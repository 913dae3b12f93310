"""A bucket's storage capacity (PutBucketStorageCapacity, `?qos`): the setting through
the real oss2 SDK against gunicorn, and its enforcement on every kind of write through
Django's test client, with the bucket filled by a row that claims most of a GB."""

import uuid

import oss2
import pytest

from buckets.models import Bucket, StoredObject
from buckets.quota import GB
from tests.oss_responses import error_code

CAPACITY_XML = "<BucketUserQos><StorageCapacity>{}</StorageCapacity></BucketUserQos>"


@pytest.mark.server
class TestTheSetting:
    @pytest.fixture
    def bucket(self, as_user):
        created = as_user("alice", f"capacity-{uuid.uuid4().hex[:12]}")
        created.create_bucket()
        return created

    def test_it_round_trips_and_refuses_what_is_not_a_capacity(self, bucket, as_user):
        assert bucket.get_bucket_storage_capacity().storage_capacity == -1
        bucket.set_bucket_storage_capacity(oss2.models.BucketUserQos(100))
        assert bucket.get_bucket_storage_capacity().storage_capacity == 100

        for bad in (-2, "lots"):
            with pytest.raises(oss2.exceptions.InvalidArgument):
                bucket.set_bucket_storage_capacity(oss2.models.BucketUserQos(bad))
        assert bucket.get_bucket_storage_capacity().storage_capacity == 100

        bobs_view = as_user("bob", bucket.bucket_name)
        with pytest.raises(oss2.exceptions.AccessDenied):
            bobs_view.set_bucket_storage_capacity(oss2.models.BucketUserQos(-1))
        bucket.set_bucket_storage_capacity(oss2.models.BucketUserQos(-1))
        assert bucket.get_bucket_storage_capacity().storage_capacity == -1

    def test_a_full_bucket_refuses_uploads(self, bucket):
        bucket.set_bucket_storage_capacity(oss2.models.BucketUserQos(0))
        bucket.put_object("empty.txt", b"")  # nothing over nothing is not over
        with pytest.raises(oss2.exceptions.ServerError) as refused:
            bucket.put_object("a.txt", b"a")
        assert (refused.value.status, refused.value.code) == (
            403,
            "InsufficientStorageSpace",
        )
        assert not bucket.object_exists("a.txt")


@pytest.mark.django_db
class TestEnforcement:
    ROOM = 10  # bytes left in the bucket

    @pytest.fixture
    def bucket(self, alice):
        bucket = Bucket.objects.create(
            owner=alice, name="alice-bucket", storage_capacity_gb=1
        )
        # A row only (its bytes are never read): the bucket is nearly full.
        StoredObject.objects.create(
            bucket=bucket, key="filler", blob="filler-blob", size=GB - self.ROOM, md5=""
        )
        return bucket

    def put(self, client, key, body, **kwargs):
        return client("PUT", "alice-bucket", key, body=body, **kwargs)

    def assert_refused(self, response):
        assert (response.status_code, error_code(response)) == (
            403,
            "InsufficientStorageSpace",
        )

    def test_writes_fill_the_room_and_no_further(self, alice_signed_client, bucket):
        assert self.put(alice_signed_client, "a", b"x" * 6).status_code == 200
        self.assert_refused(self.put(alice_signed_client, "b", b"x" * 5))
        assert not bucket.stored_objects.filter(key="b").exists()
        # Replacing an object counts only what it adds.
        assert self.put(alice_signed_client, "a", b"y" * 10).status_code == 200
        self.assert_refused(self.put(alice_signed_client, "a", b"y" * 11))
        assert bucket.stored_objects.get(key="a").size == 10

    def test_deleting_makes_room_again(self, alice_signed_client, bucket):
        assert self.put(alice_signed_client, "a", b"x" * 10).status_code == 200
        self.assert_refused(self.put(alice_signed_client, "b", b"x"))
        alice_signed_client("DELETE", "alice-bucket", "a")
        assert self.put(alice_signed_client, "b", b"x").status_code == 200

    def test_appends_and_copies_count_too(self, alice_signed_client, bucket):
        params = {"append": "", "position": "0"}
        response = alice_signed_client(
            "POST", "alice-bucket", "log", params=params, body=b"x" * 8
        )
        assert response.status_code == 200
        params["position"] = "8"
        self.assert_refused(
            alice_signed_client(
                "POST", "alice-bucket", "log", params=params, body=b"x" * 3
            )
        )
        assert bucket.stored_objects.get(key="log").size == 8
        copy = {"x-oss-copy-source": "/alice-bucket/log"}
        self.assert_refused(self.put(alice_signed_client, "copy", b"", headers=copy))
        assert not bucket.stored_objects.filter(key="copy").exists()

    def test_a_completed_multipart_upload_counts_when_completed(
        self, alice_signed_client, bucket
    ):
        started = alice_signed_client(
            "POST", "alice-bucket", "big", params={"uploads": ""}
        )
        upload_id = started.content.split(b"<UploadId>")[1].split(b"<")[0].decode()
        part = alice_signed_client(
            "PUT",
            "alice-bucket",
            "big",
            params={"partNumber": "1", "uploadId": upload_id},
            body=b"x" * 20,
        )
        assert part.status_code == 200  # parts count for nothing until completed
        body = (
            "<CompleteMultipartUpload><Part><PartNumber>1</PartNumber>"
            f"<ETag>{part['ETag']}</ETag></Part></CompleteMultipartUpload>"
        ).encode()
        self.assert_refused(
            alice_signed_client(
                "POST", "alice-bucket", "big", params={"uploadId": upload_id}, body=body
            )
        )
        assert not bucket.stored_objects.filter(key="big").exists()

    def test_a_bad_document_is_refused(self, alice_signed_client, bucket):
        for body, code in [
            (b"<Other/>", "MalformedXML"),
            (CAPACITY_XML.format("-5").encode(), "InvalidArgument"),
            (CAPACITY_XML.format("").encode(), "InvalidArgument"),
        ]:
            response = alice_signed_client(
                "PUT", "alice-bucket", params={"qos": ""}, body=body
            )
            assert (response.status_code, error_code(response)) == (400, code)
        bucket.refresh_from_db()
        assert bucket.storage_capacity_gb == 1
