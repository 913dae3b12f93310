"""Symlinks, bucket stat and object ACLs with OSS's semantics: first through the real
oss2 SDK (V1 and V4) against gunicorn, then error shapes and anonymous access
through Django's test client."""

import uuid

import oss2
import pytest
from oss2.headers import OSS_OBJECT_ACL, OSS_OBJECT_TAGGING

from buckets.models import Bucket, StoredObject
from buckets.storage import remove_leftovers
from tests.oss_responses import error_code

HELLO_ETAG = "5D41402ABC4B2A76B9719D911017C592"  # MD5 of b"hello"


def unique_name(prefix="link"):
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


# -- the real SDK against gunicorn -------------------------------------------------------


@pytest.fixture
def bucket(as_user):
    """A new private bucket of alice's."""
    created = as_user("alice", unique_name("bucket"))
    created.create_bucket(oss2.BUCKET_ACL_PRIVATE)
    return created


def assert_refused(call, code, status):
    with pytest.raises(oss2.exceptions.OssError) as raised:
        call()
    assert (raised.value.status, raised.value.code) == (status, code)


@pytest.mark.server
class TestSymlinks:
    def test_a_symlink_serves_its_targets_bytes_with_its_own_metadata(self, bucket):
        bucket.put_object("target.txt", b"hello")

        bucket.put_symlink(
            "target.txt",
            "link.txt",
            headers={"x-oss-meta-key1": "value1", "Content-Type": "text/plain"},
        )

        head = bucket.head_object("link.txt")
        assert (head.content_length, head.etag) == (5, HELLO_ETAG)
        assert head.headers["x-oss-meta-key1"] == "value1"
        assert head.headers["x-oss-object-type"] == "Symlink"
        got = bucket.get_object("link.txt")
        assert (got.read(), got.content_type) == (b"hello", "text/plain")
        assert bucket.get_symlink("link.txt").target_key == "target.txt"

    def test_a_symlink_follows_its_target_as_it_changes(self, bucket):
        bucket.put_symlink("later.txt", "link.txt")
        assert_refused(lambda: bucket.get_object("link.txt"), "NoSuchKey", 404)

        bucket.put_object("later.txt", b"first")
        assert bucket.get_object("link.txt").read() == b"first"
        bucket.put_object("later.txt", b"second version")
        assert bucket.get_object("link.txt").read() == b"second version"

    def test_deleting_a_symlink_deletes_only_the_link(self, bucket):
        bucket.put_object("target.txt", b"hello")
        bucket.put_symlink("target.txt", "link.txt")

        assert bucket.delete_object("link.txt").status == 204

        assert not bucket.object_exists("link.txt")
        assert bucket.get_object("target.txt").read() == b"hello"

    def test_a_symlink_is_listed_as_an_object_of_its_own(self, bucket):
        bucket.put_object("target.txt", b"hello")
        bucket.put_symlink("target.txt", "link.txt")

        listed = {o.key: o.type for o in oss2.ObjectIterator(bucket)}

        assert listed == {"link.txt": "Symlink", "target.txt": "Normal"}

    def test_symlink_with_tags_and_odd_names(self, bucket):
        target = "中文!@#$%^&*()-=文件\x0c-1.txt"
        link = "中文!@#$%^&*()-=文件\x0c-2.txt"
        bucket.put_object(target, "中文内容")

        bucket.put_symlink(target, link, headers={OSS_OBJECT_TAGGING: "k1=v1&k2=v2"})

        assert bucket.get_symlink(link).target_key == target
        assert bucket.get_object_tagging(link).tag_set.tagging_rule == {
            "k1": "v1",
            "k2": "v2",
        }
        assert bucket.get_object(link).read() == "中文内容".encode()

    def test_too_many_tags_refuse_the_symlink(self, bucket):
        bucket.put_object("target.txt", b"hello")
        tags = "&".join(f"k{i}=v{i}" for i in range(15))

        assert_refused(
            lambda: bucket.put_symlink(
                "target.txt", "link.txt", headers={OSS_OBJECT_TAGGING: tags}
            ),
            "InvalidTag",
            400,
        )
        assert not bucket.object_exists("link.txt")

    def test_get_symlink_errors(self, bucket, as_user):
        missing_bucket = as_user("alice", unique_name("missing"))
        assert_refused(lambda: missing_bucket.get_symlink("x"), "NoSuchBucket", 404)
        assert_refused(lambda: bucket.get_symlink("link.txt"), "NoSuchKey", 404)
        bucket.put_object("plain.txt", b"hello")
        assert_refused(lambda: bucket.get_symlink("plain.txt"), "NotSymlink", 400)

    def test_copying_a_symlink_copies_the_link(self, bucket):
        bucket.put_object("target.txt", b"hello")
        bucket.put_symlink("target.txt", "link.txt")

        bucket.copy_object(bucket.bucket_name, "link.txt", "copy.txt")

        assert bucket.get_symlink("copy.txt").target_key == "target.txt"
        assert bucket.get_object("copy.txt").read() == b"hello"


@pytest.mark.server
class TestBucketStat:
    def test_stat_counts_objects_bytes_and_uploads(self, bucket):
        bucket.put_object("a.txt", b"content")
        bucket.put_object("b.txt", b"12345")
        upload_id = bucket.init_multipart_upload("big.bin").upload_id
        bucket.upload_part("big.bin", upload_id, 1, b"x" * 100)
        bucket.create_live_channel(
            "camera",
            oss2.models.LiveChannelInfo(target=oss2.models.LiveChannelInfoTarget()),
        )

        stat = bucket.get_bucket_stat()

        assert (stat.object_count, stat.multi_part_upload_count) == (2, 1)
        assert stat.storage_size_in_bytes == 12 + 100
        assert (stat.standard_storage, stat.standard_object_count) == (112, 2)
        assert stat.multipart_part_count == 1
        assert stat.live_channel_count == 1
        assert stat.last_modified_time > 0
        assert (
            stat.infrequent_access_storage,
            stat.infrequent_access_object_count,
            stat.archive_storage,
            stat.cold_archive_object_count,
            stat.deep_cold_archive_storage,
        ) == (0, 0, 0, 0, 0)

    def test_stat_counts_each_object_in_its_class_and_older_versions_too(self, bucket):
        bucket.put_object("ia.txt", b"12345", headers={"x-oss-storage-class": "IA"})
        bucket.put_object(
            "cold.txt", b"123", headers={"x-oss-storage-class": "Archive"}
        )
        config = oss2.models.BucketVersioningConfig()
        config.status = "Enabled"
        bucket.put_bucket_versioning(config)
        bucket.put_object("v.txt", b"1")
        bucket.put_object("v.txt", b"22")  # the first stays as an older version
        bucket.delete_object("gone.txt")  # a delete marker

        stat = bucket.get_bucket_stat()

        assert (stat.object_count, stat.storage_size_in_bytes) == (3, 5 + 3 + 1 + 2)
        assert (stat.standard_storage, stat.standard_object_count) == (3, 1)
        assert (
            stat.infrequent_access_storage,
            stat.infrequent_access_object_count,
        ) == (5, 1)
        assert (stat.archive_storage, stat.archive_object_count) == (3, 1)
        assert stat.delete_marker_count == 1

    def test_stat_is_the_owners_alone(self, bucket, as_user):
        bob = as_user("bob", bucket.bucket_name)

        assert_refused(bob.get_bucket_stat, "AccessDenied", 403)
        assert_refused(
            as_user(None, bucket.bucket_name).get_bucket_stat, "AccessDenied", 403
        )


@pytest.mark.server
class TestObjectAcl:
    def test_put_and_get_every_object_acl(self, bucket):
        bucket.put_object("photo.jpg", b"hello")
        assert bucket.get_object_acl("photo.jpg").acl == oss2.OBJECT_ACL_DEFAULT

        for permission in (
            oss2.OBJECT_ACL_PRIVATE,
            oss2.OBJECT_ACL_PUBLIC_READ,
            oss2.OBJECT_ACL_PUBLIC_READ_WRITE,
            oss2.OBJECT_ACL_DEFAULT,
        ):
            bucket.put_object_acl("photo.jpg", permission)
            assert bucket.get_object_acl("photo.jpg").acl == permission

    def test_a_public_read_object_in_a_private_bucket_is_readable_by_anyone(
        self, bucket, as_user
    ):
        bucket.put_object(
            "public.jpg", b"hello", headers={OSS_OBJECT_ACL: "public-read"}
        )
        bucket.put_object("private.jpg", b"secret")
        anonymous = as_user(None, bucket.bucket_name)

        assert anonymous.get_object("public.jpg").read() == b"hello"
        assert_refused(lambda: anonymous.get_object("private.jpg"), "AccessDenied", 403)
        # Reading is not writing.
        assert_refused(
            lambda: anonymous.put_object("public.jpg", b"x"), "AccessDenied", 403
        )
        assert_refused(
            lambda: anonymous.delete_object("public.jpg"), "AccessDenied", 403
        )

    def test_a_private_object_in_a_public_bucket_is_the_owners(self, bucket, as_user):
        bucket.put_bucket_acl(oss2.BUCKET_ACL_PUBLIC_READ_WRITE)
        bucket.put_object("mine.jpg", b"hello")
        bucket.put_object_acl("mine.jpg", oss2.OBJECT_ACL_PRIVATE)
        bob = as_user("bob", bucket.bucket_name)

        assert_refused(lambda: bob.get_object("mine.jpg"), "AccessDenied", 403)
        assert_refused(lambda: bob.put_object("mine.jpg", b"x"), "AccessDenied", 403)
        assert_refused(lambda: bob.delete_object("mine.jpg"), "AccessDenied", 403)
        assert_refused(
            lambda: bob.batch_delete_objects(["mine.jpg"]), "AccessDenied", 403
        )
        assert bucket.get_object("mine.jpg").read() == b"hello"
        # Other objects still follow the bucket.
        bob.put_object("bobs.jpg", b"bob")
        assert bob.get_object("bobs.jpg").read() == b"bob"

    def test_an_overwrite_resets_the_acl_and_copies_take_the_headers(self, bucket):
        bucket.put_object("a.jpg", b"hello", headers={OSS_OBJECT_ACL: "public-read"})
        bucket.copy_object(bucket.bucket_name, "a.jpg", "copy.jpg")
        bucket.copy_object(
            bucket.bucket_name,
            "a.jpg",
            "private-copy.jpg",
            headers={OSS_OBJECT_ACL: "private"},
        )

        assert bucket.get_object_acl("copy.jpg").acl == "default"
        assert bucket.get_object_acl("private-copy.jpg").acl == "private"
        bucket.put_object("a.jpg", b"again")
        assert bucket.get_object_acl("a.jpg").acl == "default"

    def test_a_multipart_object_gets_the_initiate_acl(self, bucket):
        upload_id = bucket.init_multipart_upload(
            "big.bin", headers={OSS_OBJECT_ACL: "public-read"}
        ).upload_id
        part = bucket.upload_part("big.bin", upload_id, 1, b"x" * 10)
        bucket.complete_multipart_upload(
            "big.bin", upload_id, [oss2.models.PartInfo(1, part.etag)]
        )

        assert bucket.get_object_acl("big.bin").acl == "public-read"

    def test_an_acl_change_keeps_bytes_and_last_modified(self, bucket):
        bucket.put_object("a.jpg", b"hello")
        before = bucket.head_object("a.jpg").headers["Last-Modified"]

        bucket.put_object_acl("a.jpg", oss2.OBJECT_ACL_PUBLIC_READ)

        head = bucket.head_object("a.jpg")
        assert (head.headers["Last-Modified"], head.etag) == (before, HELLO_ETAG)

    def test_object_acl_errors(self, bucket):
        assert_refused(lambda: bucket.get_object_acl("none.jpg"), "NoSuchKey", 404)
        assert_refused(
            lambda: bucket.put_object_acl("none.jpg", "private"), "NoSuchKey", 404
        )
        bucket.put_object("a.jpg", b"hello")
        assert_refused(
            lambda: bucket.put_object_acl("a.jpg", "world-writable"),
            "InvalidArgument",
            400,
        )
        assert_refused(
            lambda: bucket.put_object("b.jpg", b"x", headers={OSS_OBJECT_ACL: "nope"}),
            "InvalidArgument",
            400,
        )
        assert not bucket.object_exists("b.jpg")

    def test_a_symlink_to_a_private_target_does_not_leak_it(self, bucket, as_user):
        bucket.put_object("secret.txt", b"secret")
        bucket.put_symlink(
            "secret.txt", "link.txt", headers={OSS_OBJECT_ACL: "public-read"}
        )

        anonymous = as_user(None, bucket.bucket_name)

        assert_refused(lambda: anonymous.get_object("link.txt"), "AccessDenied", 403)
        bucket.put_object_acl("secret.txt", oss2.OBJECT_ACL_PUBLIC_READ)
        assert anonymous.get_object("link.txt").read() == b"secret"


# -- Django's test client ----------------------------------------------------------------


@pytest.fixture
def db_bucket(alice):
    """alice's private bucket (the SDK tests' `bucket` above is a live one)."""
    return Bucket.objects.create(owner=alice, name="alice-bucket")


@pytest.mark.django_db
class TestErrorShapes:
    def test_put_symlink_without_a_target_is_invalid_argument(
        self, alice_signed_client, db_bucket
    ):
        response = alice_signed_client(
            "PUT", "alice-bucket", "link.txt", params={"symlink": ""}
        )

        assert (response.status_code, error_code(response)) == (400, "InvalidArgument")
        assert not StoredObject.objects.filter(key="link.txt").exists()

    def test_a_symlink_to_a_symlink_is_invalid_target_type(
        self, alice_signed_client, db_bucket, put_object
    ):
        put_object(db_bucket, "target.txt", b"hello")
        for link, target in (("one", "target.txt"), ("two", "one")):
            response = alice_signed_client(
                "PUT",
                "alice-bucket",
                link,
                params={"symlink": ""},
                headers={"x-oss-symlink-target": target},
            )
            assert response.status_code == 200

        response = alice_signed_client("GET", "alice-bucket", "two")

        assert (response.status_code, error_code(response)) == (
            400,
            "InvalidTargetType",
        )

    def test_anonymous_get_of_a_private_object_acl_is_denied(
        self, client, public_bucket, put_object
    ):
        put_object(public_bucket, "a.jpg", b"hello", acl="private")
        put_object(public_bucket, "b.jpg", b"hello")

        assert error_code(client.get("/alice-public/a.jpg")) == "AccessDenied"
        assert client.get("/alice-public/b.jpg").status_code == 200
        assert error_code(client.get("/alice-public/a.jpg?acl")) == "AccessDenied"
        assert error_code(client.get("/alice-public/missing.jpg?acl")) == "NoSuchKey"

    def test_bucket_stat_is_not_for_anonymous(self, client, public_bucket):
        response = client.get("/alice-public/?stat")

        assert (response.status_code, error_code(response)) == (403, "AccessDenied")

    def test_a_symlinks_empty_blob_survives_the_sweep(
        self, alice_signed_client, db_bucket, put_object
    ):
        put_object(db_bucket, "target.txt", b"hello")
        alice_signed_client(
            "PUT",
            "alice-bucket",
            "link.txt",
            params={"symlink": ""},
            headers={"x-oss-symlink-target": "target.txt"},
        )

        assert remove_leftovers() == (0, 0)
        response = alice_signed_client("GET", "alice-bucket", "link.txt")
        assert b"".join(response.streaming_content) == b"hello"
