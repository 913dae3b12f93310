"""Object versioning through the real oss2 SDK (V1 and V4) against gunicorn: the
bucket setting, what Enabled and Suspended keep, reading, copying, tagging and
deleting one version, delete markers, ListObjectVersions, and the bucket that
cannot go while versions remain."""

import datetime
import uuid

import oss2
import pytest
from django.utils import timezone
from oss2.models import (
    BatchDeleteObjectVersion,
    BatchDeleteObjectVersionList,
    BucketVersioningConfig,
)

from buckets.lifecycle_job import apply_lifecycle
from buckets.models import Bucket, LifecycleRule
from buckets.storage import delete_current


def unique_name(prefix="versions"):
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def versioning(status):
    config = BucketVersioningConfig()
    config.status = status
    return config


@pytest.fixture
def bucket(as_user):
    created = as_user("alice", unique_name())
    created.create_bucket()
    return created


@pytest.fixture
def versioned(bucket):
    bucket.put_bucket_versioning(versioning("Enabled"))
    return bucket


def refusal(call):
    with pytest.raises(oss2.exceptions.OssError) as raised:
        call()
    return raised.value


def listed(bucket, **kwargs):
    """[(key, version id, is_latest, is a delete marker)] of ListObjectVersions."""
    result = bucket.list_object_versions(**kwargs)
    entries = [(v.key, v.versionid, v.is_latest, False) for v in result.versions]
    entries += [(m.key, m.versionid, m.is_latest, True) for m in result.delete_marker]
    return sorted(entries, key=lambda entry: (entry[0], not entry[2]))


@pytest.mark.server
class TestTheSetting:
    def test_it_goes_from_never_to_enabled_to_suspended(self, bucket):
        assert bucket.get_bucket_versioning().status is None
        assert bucket.get_bucket_info().versioning_status is None

        bucket.put_bucket_versioning(versioning("Enabled"))
        assert bucket.get_bucket_versioning().status == "Enabled"
        assert bucket.get_bucket_info().versioning_status == "Enabled"

        bucket.put_bucket_versioning(versioning("Suspended"))
        assert bucket.get_bucket_versioning().status == "Suspended"

    @pytest.mark.parametrize("status", ["Disabled", "enabled", ""])
    def test_another_status_is_malformed_xml(self, bucket, status):
        error = refusal(lambda: bucket.put_bucket_versioning(versioning(status)))
        assert (error.status, error.code) == (400, "MalformedXML")
        assert bucket.get_bucket_versioning().status is None

    def test_only_the_owner_sets_or_lists(self, versioned, as_user):
        bobs_view = as_user("bob", versioned.bucket_name)
        assert (
            refusal(
                lambda: bobs_view.put_bucket_versioning(versioning("Suspended"))
            ).code
            == "AccessDenied"
        )
        assert refusal(bobs_view.list_object_versions).code == "AccessDenied"
        assert versioned.get_bucket_versioning().status == "Enabled"


@pytest.mark.server
class TestEnabled:
    def test_every_write_keeps_the_version_it_replaces(self, versioned):
        first = versioned.put_object("a.txt", b"one").versionid
        second = versioned.put_object("a.txt", b"two").versionid

        assert first != second
        assert versioned.get_object("a.txt").read() == b"two"
        old = versioned.get_object("a.txt", params={"versionId": first})
        assert (old.read(), old.versionid) == (b"one", first)
        head = versioned.head_object("a.txt", params={"versionId": first})
        assert (head.content_length, head.versionid) == (3, first)
        assert listed(versioned) == [
            ("a.txt", second, True, False),
            ("a.txt", first, False, False),
        ]

    def test_a_delete_leaves_a_marker_and_removing_it_brings_the_object_back(
        self, versioned
    ):
        kept = versioned.put_object("a.txt", b"kept").versionid

        deleted = versioned.delete_object("a.txt")

        assert deleted.delete_marker is True
        assert refusal(lambda: versioned.get_object("a.txt")).code == "NoSuchKey"
        assert (
            versioned.get_object("a.txt", params={"versionId": kept}).read() == b"kept"
        )
        assert listed(versioned) == [
            ("a.txt", deleted.versionid, True, True),
            ("a.txt", kept, False, False),
        ]
        marker = refusal(
            lambda: versioned.get_object(
                "a.txt", params={"versionId": deleted.versionid}
            )
        )
        assert marker.status == 405

        versioned.delete_object("a.txt", params={"versionId": deleted.versionid})

        assert versioned.get_object("a.txt").read() == b"kept"
        assert listed(versioned) == [("a.txt", kept, True, False)]

    def test_removing_the_current_version_makes_the_previous_one_current(
        self, versioned
    ):
        first = versioned.put_object("a.txt", b"one").versionid
        second = versioned.put_object("a.txt", b"two").versionid

        versioned.delete_object("a.txt", params={"versionId": second})

        assert versioned.get_object("a.txt").read() == b"one"
        assert (
            refusal(
                lambda: versioned.get_object("a.txt", params={"versionId": second})
            ).code
            == "NoSuchVersion"
        )
        assert listed(versioned) == [("a.txt", first, True, False)]

    def test_a_copy_and_a_part_copy_read_the_version_named(self, versioned):
        first = versioned.put_object("src", b"first bytes").versionid
        versioned.put_object("src", b"second bytes")

        copied = versioned.copy_object(
            versioned.bucket_name, "src", "copy", params={"versionId": first}
        )

        assert copied.versionid
        assert versioned.get_object("copy").read() == b"first bytes"
        upload_id = versioned.init_multipart_upload("assembled").upload_id
        part = versioned.upload_part_copy(
            versioned.bucket_name,
            "src",
            (0, 4),
            "assembled",
            upload_id,
            1,
            params={"versionId": first},
        )
        versioned.complete_multipart_upload(
            "assembled", upload_id, [oss2.models.PartInfo(1, part.etag)]
        )
        assert versioned.get_object("assembled").read() == b"first"

    def test_tags_and_acls_belong_to_one_version(self, versioned):
        first = versioned.put_object("a.txt", b"one").versionid
        versioned.put_object("a.txt", b"two")
        rule = oss2.models.TaggingRule()
        rule.add("v", "1")
        tagging = oss2.models.Tagging(rule)

        versioned.put_object_tagging("a.txt", tagging, params={"versionId": first})
        versioned.put_object_acl(
            "a.txt", oss2.OBJECT_ACL_PUBLIC_READ, params={"versionId": first}
        )

        old_tags = versioned.get_object_tagging("a.txt", params={"versionId": first})
        assert old_tags.tag_set.tagging_rule == {"v": "1"}
        assert versioned.get_object_tagging("a.txt").tag_set.tagging_rule == {}
        old_acl = versioned.get_object_acl("a.txt", params={"versionId": first})
        assert old_acl.acl == oss2.OBJECT_ACL_PUBLIC_READ
        assert versioned.get_object_acl("a.txt").acl == oss2.OBJECT_ACL_DEFAULT

    def test_a_batch_delete_names_versions_and_markers(self, versioned):
        first = versioned.put_object("a.txt", b"one").versionid
        versions = BatchDeleteObjectVersionList()
        versions.append(BatchDeleteObjectVersion("a.txt", first))

        removed = versioned.delete_object_versions(versions)
        marked = versioned.batch_delete_objects(["b.txt"])

        assert [(v.key, v.versionid) for v in removed.delete_versions] == [
            ("a.txt", first)
        ]
        assert marked.delete_versions[0].delete_marker is True
        assert listed(versioned) == [
            ("b.txt", marked.delete_versions[0].delete_marker_versionid, True, True)
        ]

    def test_the_bucket_cannot_go_while_versions_remain(self, versioned):
        only = versioned.put_object("a.txt", b"one").versionid
        marker = versioned.delete_object("a.txt").versionid
        assert refusal(versioned.delete_bucket).code == "BucketNotEmpty"

        versioned.delete_object("a.txt", params={"versionId": marker})
        versioned.delete_object("a.txt", params={"versionId": only})
        versioned.delete_bucket()

    def test_listing_pages_through_keys_and_versions(self, versioned):
        for i in range(5):
            versioned.put_object("dir/a", str(i).encode())
        versioned.put_object("dir/sub/b", b"b")
        versioned.put_object("top", b"t")

        seen, folders, pages = [], [], 0
        key_marker = version_marker = ""
        while True:
            page = versioned.list_object_versions(
                prefix="dir/",
                delimiter="/",
                max_keys=2,
                key_marker=key_marker,
                versionid_marker=version_marker,
            )
            seen += [(v.key, v.versionid) for v in page.versions]
            folders += page.common_prefix
            pages += 1
            if not page.is_truncated:
                break
            key_marker, version_marker = (
                page.next_key_marker,
                page.next_versionid_marker,
            )

        assert len(seen) == len(set(seen)) == 5
        assert {key for key, _version in seen} == {"dir/a"}
        assert folders == ["dir/sub/"]
        assert pages == 3


@pytest.mark.server
class TestSuspendedAndNever:
    def test_suspended_writes_replace_the_null_version_and_keep_the_others(
        self, versioned
    ):
        kept = versioned.put_object("a.txt", b"enabled").versionid
        versioned.put_bucket_versioning(versioning("Suspended"))

        first_null = versioned.put_object("a.txt", b"null one")
        versioned.put_object("a.txt", b"null two")

        assert first_null.versionid == "null"
        assert listed(versioned) == [
            ("a.txt", "null", True, False),
            ("a.txt", kept, False, False),
        ]
        assert versioned.get_object("a.txt", params={"versionId": "null"}).read() == (
            b"null two"
        )
        marker = versioned.delete_object("a.txt")
        assert (marker.delete_marker, marker.versionid) == (True, "null")
        assert listed(versioned) == [
            ("a.txt", "null", True, True),
            ("a.txt", kept, False, False),
        ]

    def test_without_versioning_nothing_is_kept_and_no_ids_are_given(self, bucket):
        written = bucket.put_object("a.txt", b"one")
        bucket.put_object("a.txt", b"two")

        assert written.versionid is None
        assert bucket.get_object("a.txt", params={"versionId": "null"}).read() == b"two"
        assert listed(bucket) == [("a.txt", "null", True, False)]
        bucket.delete_object("a.txt")
        assert listed(bucket) == []

    @pytest.mark.parametrize(
        ("version_id", "status", "code"),
        [
            ("CAEQ" + "x" * 40, 404, "NoSuchVersion"),
            ("234", 400, "InvalidArgument"),
            ("", 400, "InvalidArgument"),
        ],
    )
    def test_a_version_that_cannot_be_is_refused(
        self, versioned, version_id, status, code
    ):
        versioned.put_object("a.txt", b"one")
        error = refusal(
            lambda: versioned.get_object("a.txt", params={"versionId": version_id})
        )
        assert (error.status, error.code) == (status, code)


# -- lifecycle rules for older versions, the job run with a given `now` -------------------


@pytest.mark.django_db
class TestLifecycleOfOlderVersions:
    @pytest.fixture
    def row(self, alice):
        return Bucket.objects.create(
            owner=alice, name="alice-bucket", versioning=Bucket.Versioning.ENABLED
        )

    def rule(self, bucket, **fields):
        return LifecycleRule.objects.create(
            bucket=bucket, position=1, rule_id="r", status="Enabled", **fields
        )

    def age_older_versions(self, bucket, days):
        bucket.object_versions.update(
            noncurrent_since=timezone.now() - datetime.timedelta(days=days)
        )

    def test_older_versions_expire_after_their_noncurrent_days(self, row, put_object):
        put_object(row, "a.txt", b"one")
        put_object(row, "a.txt", b"two")
        self.rule(row, noncurrent_expiration_days=30)

        self.age_older_versions(row, 29)
        apply_lifecycle(timezone.now())
        assert row.object_versions.count() == 1

        self.age_older_versions(row, 31)
        apply_lifecycle(timezone.now())
        assert row.object_versions.count() == 0
        assert row.stored_objects.get(key="a.txt").size == 3  # the current one stays

    def test_older_versions_move_colder(self, row, put_object):
        put_object(row, "a.txt", b"one")
        put_object(row, "a.txt", b"two")
        self.rule(
            row,
            noncurrent_transitions=[
                {
                    "days": 10,
                    "created_before_date": None,
                    "storage_class": "IA",
                    "is_access_time": None,
                    "return_to_std_when_visit": None,
                    "allow_small_file": None,
                }
            ],
        )
        self.age_older_versions(row, 11)

        apply_lifecycle(timezone.now())

        assert row.object_versions.get().storage_class == "IA"
        assert row.stored_objects.get().storage_class == "Standard"

    def test_a_delete_marker_left_alone_goes(self, row, put_object):
        put_object(row, "a.txt", b"one")
        delete_current(row, "a.txt")  # the version is kept, a marker on top
        put_object(row, "b.txt", b"one")
        delete_current(row, "b.txt")
        row.object_versions.filter(key="b.txt", is_delete_marker=False).delete()
        self.rule(row, expired_object_delete_marker=True)

        apply_lifecycle(timezone.now())

        assert sorted(row.object_versions.values_list("key", "is_delete_marker")) == [
            ("a.txt", False),
            ("a.txt", True),
        ]
        assert not row.object_versions.filter(key="b.txt").exists()
