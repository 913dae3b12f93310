"""Object tagging and bucket tagging with OSS's semantics: first through the real oss2
SDK (V1 and V4) against gunicorn, then the error answers, signed as the owner,
through Django's test client, and the tag rules as a table."""

import os
import uuid
from urllib.parse import quote

import oss2
import pytest
from oss2.headers import OSS_OBJECT_TAGGING, OSS_OBJECT_TAGGING_COPY_DIRECTIVE
from oss2.models import Tagging, TaggingRule

from buckets import errors, tagging
from buckets.models import Bucket, StoredObject
from tests.oss_responses import error_code
from tests.signing import REGION, oss2_auth

KIB = 1024


def tags_of(**pairs):
    rule = TaggingRule()
    for key, value in pairs.items():
        rule.add(key, value)
    return Tagging(rule)


def tagging_of(mapping):
    """A Tagging of any {key: value}, unchecked by oss2 (as its own suite builds them)."""
    result = Tagging()
    result.tag_set.tagging_rule.update(mapping)
    return result


def unique_name(prefix="tag"):
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


# -- the real SDK against gunicorn -------------------------------------------------------


@pytest.fixture
def service(two_user_server, sdk_version):
    """service(name) -> that user's oss2.Service."""
    gunicorn, keys = two_user_server
    return lambda name: oss2.Service(
        oss2_auth(keys[name], sdk_version), gunicorn.url, region=REGION
    )


@pytest.fixture
def bucket(as_user):
    """A new private bucket of alice's."""
    created = as_user("alice", unique_name())
    created.create_bucket(oss2.BUCKET_ACL_PRIVATE)
    return created


def assert_refused(call, code, status=400):
    with pytest.raises(oss2.exceptions.OssError) as raised:
        call()
    assert (raised.value.status, raised.value.code) == (status, code)


def last_modified_and_etag(bucket, key):
    head = bucket.head_object(key)
    return head.headers["Last-Modified"], head.etag


@pytest.mark.server
class TestObjectTagging:
    def test_tags_are_put_read_and_deleted_without_touching_the_object(self, bucket):
        bucket.put_object("photo.jpg", b"the bytes")
        before = last_modified_and_etag(bucket, "photo.jpg")
        assert bucket.get_object_tagging("photo.jpg").tag_set.tagging_rule == {}

        bucket.put_object_tagging(
            "photo.jpg", tags_of(**{"a" * 128: "b" * 256, "+-.:": "_/", "empty": ""})
        )

        assert bucket.get_object_tagging("photo.jpg").tag_set.tagging_rule == {
            "a" * 128: "b" * 256,
            "+-.:": "_/",
            "empty": "",
        }
        assert last_modified_and_etag(bucket, "photo.jpg") == before
        assert bucket.get_object("photo.jpg").read() == b"the bytes"
        assert bucket.head_object("photo.jpg").headers["x-oss-tagging-count"] == "3"
        got = bucket.get_object("photo.jpg")
        assert got.headers["x-oss-tagging-count"] == "3"

        assert bucket.delete_object_tagging("photo.jpg").status == 204

        assert bucket.get_object_tagging("photo.jpg").tag_set.tagging_rule == {}
        assert "x-oss-tagging-count" not in bucket.head_object("photo.jpg").headers
        assert last_modified_and_etag(bucket, "photo.jpg") == before

    def test_a_new_tag_set_replaces_the_old_one(self, bucket):
        bucket.put_object("a.txt", b"a")
        bucket.put_object_tagging("a.txt", tags_of(k1="v1", k2="v2"))

        bucket.put_object_tagging("a.txt", tags_of(K1="other"))

        assert bucket.get_object_tagging("a.txt").tag_set.tagging_rule == {
            "K1": "other"
        }

    @pytest.mark.parametrize(
        "tags",
        [
            {"a" * 129: "test"},
            {"%@abc": "abc"},
            {"": "abc"},
            {"test": "a" * 257},
            {"test": "%abc"},
            {f"test_{n}": f"test_{n}" for n in range(11)},
        ],
        ids=[
            "key-too-long",
            "key-characters",
            "key-empty",
            "value-too-long",
            "value-characters",
            "eleven-tags",
        ],
    )
    def test_tags_outside_oss_limits_are_invalid_tag(self, bucket, tags):
        bucket.put_object("a.txt", b"a")
        bucket.put_object_tagging("a.txt", tags_of(kept="yes"))

        assert_refused(
            lambda: bucket.put_object_tagging("a.txt", tagging_of(tags)), "InvalidTag"
        )

        assert bucket.get_object_tagging("a.txt").tag_set.tagging_rule == {
            "kept": "yes"
        }

    def test_ten_tags_of_any_script_are_allowed(self, bucket):
        bucket.put_object("a.txt", b"a")
        tags = {f"键{n}": f"值 {n}" for n in range(10)}

        bucket.put_object_tagging("a.txt", tagging_of(tags))

        assert bucket.get_object_tagging("a.txt").tag_set.tagging_rule == tags

    def test_tagging_a_missing_object_is_no_such_key(self, bucket):
        for call in (
            lambda: bucket.put_object_tagging("missing", tags_of(a="b")),
            lambda: bucket.get_object_tagging("missing"),
            lambda: bucket.delete_object_tagging("missing"),
        ):
            assert_refused(call, "NoSuchKey", 404)
        assert not bucket.object_exists("missing")

    def test_the_tagging_header_sets_tags_and_an_overwrite_without_it_clears_them(
        self, bucket
    ):
        bucket.put_object(
            "a.txt", b"one", headers={OSS_OBJECT_TAGGING: "k1=v1&k2=v2&bare"}
        )
        assert bucket.get_object_tagging("a.txt").tag_set.tagging_rule == {
            "k1": "v1",
            "k2": "v2",
            "bare": "",
        }

        bucket.put_object("a.txt", b"two")

        assert bucket.get_object_tagging("a.txt").tag_set.tagging_rule == {}
        assert "x-oss-tagging-count" not in bucket.head_object("a.txt").headers

    def test_a_put_with_bad_tags_stores_nothing(self, bucket):
        bucket.put_object("a.txt", b"old", headers={OSS_OBJECT_TAGGING: "k=v"})
        eleven = "&".join(f"k{n}=v{n}" for n in range(11))

        assert_refused(
            lambda: bucket.put_object(
                "a.txt", b"new", headers={OSS_OBJECT_TAGGING: eleven}
            ),
            "InvalidTag",
        )
        assert_refused(
            lambda: bucket.put_object(
                "a.txt", b"new", headers={OSS_OBJECT_TAGGING: "aa=bb=cc"}
            ),
            "InvalidArgument",
        )

        assert bucket.get_object("a.txt").read() == b"old"
        assert bucket.get_object_tagging("a.txt").tag_set.tagging_rule == {"k": "v"}

    def test_copy_keeps_the_source_tags_or_replaces_them(self, bucket):
        bucket.put_object("src", b"data", headers={OSS_OBJECT_TAGGING: "k1=v1&k2=v2"})
        name = bucket.bucket_name

        bucket.copy_object(name, "src", "default-copy")
        bucket.copy_object(
            name, "src", "copy", headers={OSS_OBJECT_TAGGING_COPY_DIRECTIVE: "COPY"}
        )
        replaced = (
            f"{quote(' +/ ', safe='')}={quote('中文')}&{quote('中文')}=test%2B%2B/"
        )
        bucket.copy_object(
            name,
            "src",
            "replace",
            headers={
                OSS_OBJECT_TAGGING: replaced,
                OSS_OBJECT_TAGGING_COPY_DIRECTIVE: "Replace",
            },
        )
        bucket.copy_object(
            name,
            "src",
            "replace-none",
            headers={OSS_OBJECT_TAGGING_COPY_DIRECTIVE: "REPLACE"},
        )

        def tags(key):
            return bucket.get_object_tagging(key).tag_set.tagging_rule

        assert tags("default-copy") == tags("copy") == {"k1": "v1", "k2": "v2"}
        assert tags("replace") == {" +/ ": "中文", "中文": "test++/"}
        assert tags("replace-none") == {}
        assert tags("src") == {"k1": "v1", "k2": "v2"}

    def test_copy_with_metadata_replaced_still_copies_the_tags(self, bucket):
        bucket.put_object("src", b"data", headers={OSS_OBJECT_TAGGING: "k=v"})

        bucket.copy_object(
            bucket.bucket_name,
            "src",
            "dst",
            headers={"x-oss-metadata-directive": "REPLACE", "x-oss-meta-a": "b"},
        )

        assert bucket.get_object_tagging("dst").tag_set.tagging_rule == {"k": "v"}
        assert bucket.head_object("dst").headers["x-oss-meta-a"] == "b"

    def test_an_unknown_tagging_directive_is_refused(self, bucket):
        bucket.put_object("src", b"data")

        assert_refused(
            lambda: bucket.copy_object(
                bucket.bucket_name,
                "src",
                "dst",
                headers={OSS_OBJECT_TAGGING_COPY_DIRECTIVE: "MERGE"},
            ),
            "InvalidArgument",
        )
        assert not bucket.object_exists("dst")

    def test_append_takes_tags_from_the_first_append_only(self, bucket):
        first = {OSS_OBJECT_TAGGING: "key1=value1&%2B-/=%3A%2B%3A"}
        result = bucket.append_object("log", 0, b"a" * 512, headers=first)
        fifteen = "&".join(f"key{n}=value{n}" for n in range(15))

        bucket.append_object(
            "log", result.next_position, b"b", headers={OSS_OBJECT_TAGGING: fifteen}
        )

        assert bucket.get_object_tagging("log").tag_set.tagging_rule == {
            "key1": "value1",
            "+-/": ":+:",
        }
        assert bucket.get_object("log").read() == b"a" * 512 + b"b"

    def test_a_first_append_with_bad_tags_creates_nothing(self, bucket):
        fifteen = "&".join(f"key{n}=value{n}" for n in range(15))

        assert_refused(
            lambda: bucket.append_object(
                "log", 0, b"a", headers={OSS_OBJECT_TAGGING: fifteen}
            ),
            "InvalidTag",
        )

        assert not bucket.object_exists("log")

    def test_multipart_upload_keeps_the_initiate_tags(self, bucket):
        tag_header = f"{quote('+:/', safe='')}={quote('.-')}&{quote(' + ', safe='')}={quote('中文')}"
        upload_id = bucket.init_multipart_upload(
            "big", headers={OSS_OBJECT_TAGGING: tag_header}
        ).upload_id
        data = os.urandom(128 * KIB)
        part = bucket.upload_part("big", upload_id, 1, data)

        bucket.complete_multipart_upload(
            "big", upload_id, [oss2.models.PartInfo(1, part.etag, size=len(data))]
        )

        assert bucket.get_object_tagging("big").tag_set.tagging_rule == {
            "+:/": ".-",
            " + ": "中文",
        }
        assert bucket.get_object("big").headers["x-oss-tagging-count"] == "2"

    @pytest.mark.parametrize(
        "header",
        ["=a&b=a", "a" * 129 + "=b&b=a", "a=" + "b" * 257, "a=b&a=b", "a=b=c"],
    )
    def test_initiate_with_bad_tags_starts_no_upload(self, bucket, header):
        with pytest.raises(oss2.exceptions.OssError) as raised:
            bucket.init_multipart_upload("big", headers={OSS_OBJECT_TAGGING: header})

        assert raised.value.status == 400
        assert list(oss2.MultipartUploadIterator(bucket)) == []

    def test_resumable_upload_keeps_the_tags(self, bucket, tmp_path):
        path = tmp_path / "upload.bin"
        data = os.urandom(500 * KIB)
        path.write_bytes(data)
        header = f"{'a' * 128}={'b' * 256}&{quote('+-:/', safe='')}={quote(':+:')}"

        oss2.resumable_upload(
            bucket,
            "big",
            str(path),
            store=oss2.ResumableStore(root=str(tmp_path)),
            multipart_threshold=200 * KIB,
            part_size=100 * KIB,
            num_threads=2,
            headers={OSS_OBJECT_TAGGING: header},
        )

        got = bucket.get_object("big")
        assert (got.read(), got.headers["x-oss-object-type"]) == (data, "Multipart")
        assert bucket.get_object_tagging("big").tag_set.tagging_rule == {
            "a" * 128: "b" * 256,
            "+-:/": ":+:",
        }


@pytest.mark.server
class TestBucketTagging:
    def test_tags_are_put_read_and_deleted(self, bucket):
        assert bucket.get_bucket_tagging().tag_set.tagging_rule == {}

        bucket.put_bucket_tagging(
            tagging_of({"%@abc": "abc", "123++": "++123%", "t": ""})
        )

        assert bucket.get_bucket_tagging().tag_set.tagging_rule == {
            "%@abc": "abc",
            "123++": "++123%",
            "t": "",
        }
        assert bucket.delete_bucket_tagging().status == 204
        assert bucket.get_bucket_tagging().tag_set.tagging_rule == {}

    def test_named_tags_are_deleted_alone(self, bucket):
        bucket.put_bucket_tagging(
            tagging_of({"%@abc": "abc", "123++": "1", "test": "abc"})
        )

        bucket.delete_bucket_tagging(params={"tagging": "%@abc"})
        bucket.delete_bucket_tagging(params={"aa": "%@abc", "tagging": "test,absent"})

        assert bucket.get_bucket_tagging().tag_set.tagging_rule == {"123++": "1"}

    def test_a_new_tag_set_replaces_the_old_one(self, bucket):
        bucket.put_bucket_tagging(tags_of(a="1", b="2"))

        bucket.put_bucket_tagging(tags_of(c="3"))

        assert bucket.get_bucket_tagging().tag_set.tagging_rule == {"c": "3"}

    @pytest.mark.parametrize(
        "tags",
        [
            {f"k{n}": "v" for n in range(21)},
            {"k" * 65: "v"},
            {"k": "v" * 129},
            {"Aliyun-abc": "v"},
            {"acs:abc": "v"},
            {"HTTPS://x": "v"},
            {"": "v"},
        ],
        ids=[
            "21-tags",
            "key-too-long",
            "value-too-long",
            "aliyun",
            "acs",
            "https",
            "empty-key",
        ],
    )
    def test_tags_outside_oss_limits_are_invalid_tag(self, bucket, tags):
        bucket.put_bucket_tagging(tags_of(kept="yes"))

        assert_refused(
            lambda: bucket.put_bucket_tagging(tagging_of(tags)), "InvalidTag"
        )

        assert bucket.get_bucket_tagging().tag_set.tagging_rule == {"kept": "yes"}

    def test_twenty_tags_are_allowed(self, bucket):
        tags = {f"k{n}": "v" * 128 for n in range(20)}

        bucket.put_bucket_tagging(tagging_of(tags))

        assert bucket.get_bucket_tagging().tag_set.tagging_rule == tags

    def test_list_buckets_filters_by_tag_key_and_value(self, as_user, service):
        prefix = unique_name("lb")
        made = {}
        for suffix, tags in [
            ("1", {"tagging_key_test_test1": "value1", "tagging_key_test1": "value1"}),
            ("2", {"tagging_key_test_test1": "value2"}),
            ("3", {"other": "value1"}),
            ("4", {}),
        ]:
            made[suffix] = as_user("alice", f"{prefix}-{suffix}")
            made[suffix].create_bucket()
            if tags:
                made[suffix].put_bucket_tagging(tagging_of(tags))
        bobs = as_user("bob", f"{prefix}-bob")
        bobs.create_bucket()
        bobs.put_bucket_tagging(tags_of(tagging_key_test_test1="value1"))

        def listed(**params):
            result = service("alice").list_buckets(prefix=prefix, params=params)
            return [b.name for b in result.buckets]

        assert listed() == [f"{prefix}-{n}" for n in "1234"]
        assert listed(**{"tag-key": "tagging_key_test_test1"}) == [
            f"{prefix}-1",
            f"{prefix}-2",
        ]
        assert listed(
            **{"tag-key": "tagging_key_test_test1", "tag-value": "value1"}
        ) == [f"{prefix}-1"]
        assert listed(**{"tag-key": "missing"}) == []

    def test_a_tag_value_filter_without_a_key_is_refused(self, service):
        assert_refused(
            lambda: service("alice").list_buckets(params={"tag-value": "v"}),
            "InvalidArgument",
        )


@pytest.mark.server
class TestAnotherUser:
    def test_bob_can_neither_read_nor_change_alices_object_tags(self, bucket, as_user):
        bucket.put_object("a.txt", b"a", headers={OSS_OBJECT_TAGGING: "k=v"})
        bobs_view = as_user("bob", bucket.bucket_name)

        for call in (
            lambda: bobs_view.get_object_tagging("a.txt"),
            lambda: bobs_view.put_object_tagging("a.txt", tags_of(k="bob")),
            lambda: bobs_view.delete_object_tagging("a.txt"),
        ):
            assert_refused(call, "AccessDenied", 403)

        assert bucket.get_object_tagging("a.txt").tag_set.tagging_rule == {"k": "v"}

    def test_bucket_tags_are_the_owners_alone_even_on_a_public_bucket(self, as_user):
        public = as_user("alice", unique_name())
        public.create_bucket(oss2.BUCKET_ACL_PUBLIC_READ_WRITE)
        public.put_bucket_tagging(tags_of(k="v"))
        bobs_view = as_user("bob", public.bucket_name)

        for call in (
            bobs_view.get_bucket_tagging,
            lambda: bobs_view.put_bucket_tagging(tags_of(k="bob")),
            bobs_view.delete_bucket_tagging,
        ):
            assert_refused(call, "AccessDenied", 403)

        assert public.get_bucket_tagging().tag_set.tagging_rule == {"k": "v"}


# -- error answers, through Django's test client -----------------------------------------


TAGGING_XML = "<Tagging><TagSet>{}</TagSet></Tagging>"


def tag_xml(*pairs):
    return TAGGING_XML.format(
        "".join(f"<Tag><Key>{k}</Key><Value>{v}</Value></Tag>" for k, v in pairs)
    ).encode()


@pytest.mark.django_db
class TestErrorAnswers:
    @pytest.fixture
    def bucket(self, alice):
        """alice-bucket's row (this module's `bucket` is an SDK bucket on gunicorn)."""
        return Bucket.objects.create(owner=alice, name="alice-bucket")

    @pytest.fixture
    def photo(self, bucket, put_object):
        return put_object(bucket, "photo.jpg", b"photo bytes")

    @pytest.mark.parametrize(
        "body",
        [
            b"<Tagging><TagSet><Tag><Key>a</Key>",
            b"<Other><TagSet/></Other>",
            b"<Tagging/>",
            b"<Tagging><TagSet><Item><Key>a</Key></Item></TagSet></Tagging>",
            b"<Tagging><TagSet><Tag><Value>a</Value></Tag></TagSet></Tagging>",
            b'<!DOCTYPE t [<!ENTITY e "x">]><Tagging><TagSet/></Tagging>',
        ],
        ids=["truncated", "root", "no-tagset", "not-a-tag", "no-key", "entity"],
    )
    def test_malformed_bodies_are_malformed_xml(self, alice_signed_client, photo, body):
        for key in ("photo.jpg", ""):
            response = alice_signed_client(
                "PUT", "alice-bucket", key, params={"tagging": ""}, body=body
            )

            assert (response.status_code, error_code(response)) == (400, "MalformedXML")
        assert StoredObject.objects.get(key="photo.jpg").tags == {}

    def test_duplicate_keys_are_invalid_tag(self, alice_signed_client, photo):
        for key in ("photo.jpg", ""):
            response = alice_signed_client(
                "PUT",
                "alice-bucket",
                key,
                params={"tagging": ""},
                body=tag_xml(("a", "1"), ("a", "2")),
            )

            assert (response.status_code, error_code(response)) == (400, "InvalidTag")

    def test_an_empty_tag_set_clears_the_tags(self, alice_signed_client, photo):
        photo.tags = {"a": "b"}
        photo.save()

        response = alice_signed_client(
            "PUT", "alice-bucket", "photo.jpg", params={"tagging": ""}, body=tag_xml()
        )

        assert response.status_code == 200
        assert StoredObject.objects.get(key="photo.jpg").tags == {}

    @pytest.mark.parametrize("header", ["a=%FF", "%C3=b", "a=b=c"])
    def test_a_tagging_header_that_is_not_url_encoded_utf8_pairs_is_invalid_argument(
        self, alice_signed_client, bucket, header
    ):
        response = alice_signed_client(
            "PUT",
            "alice-bucket",
            "new.txt",
            headers={"x-oss-tagging": header},
            body=b"data",
        )

        assert (response.status_code, error_code(response)) == (400, "InvalidArgument")
        assert not StoredObject.objects.filter(key="new.txt").exists()

    def test_tag_changes_leave_bytes_and_last_modified_as_they_were(
        self, alice_signed_client, photo
    ):
        before = StoredObject.objects.values().get(pk=photo.pk)

        alice_signed_client(
            "PUT",
            "alice-bucket",
            "photo.jpg",
            params={"tagging": ""},
            body=tag_xml(("a", "b")),
        )

        after = StoredObject.objects.values().get(pk=photo.pk)
        assert after.pop("tags") == {"a": "b"}
        before.pop("tags")
        assert after == before

    def test_post_on_tagging_is_method_not_allowed(self, alice_signed_client, photo):
        response = alice_signed_client(
            "POST", "alice-bucket", "photo.jpg", params={"tagging": ""}
        )

        assert (response.status_code, error_code(response)) == (
            405,
            "MethodNotAllowed",
        )

    def test_a_tag_key_that_looks_like_a_json_path_is_one_key(
        self, alice_signed_client, alice, bucket
    ):
        bucket.tags = {'a."b': "1"}
        bucket.save()
        Bucket.objects.create(owner=alice, name="alice-other", tags={"a": {"b": "1"}})

        response = alice_signed_client(
            "GET", "", params={"tag-key": 'a."b', "tag-value": "1"}
        )

        assert b"<Name>alice-bucket</Name>" in response.content
        assert b"alice-other" not in response.content


# -- the rules, as a table ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("pairs", "allowed"),
    [
        ([("a" * 128, "b" * 256)], True),
        ([("k", "")], True),
        ([("+-=._:/ ", "+-=._:/ ")], True),
        ([("中文", "Ünïcödé")], True),
        ([(f"k{n}", "v") for n in range(10)], True),
        ([(f"k{n}", "v") for n in range(11)], False),
        ([("a" * 129, "b")], False),
        ([("a", "b" * 257)], False),
        ([("", "b")], False),
        ([("a@b", "c")], False),
        ([("a", "c%")], False),
        ([("a", "1"), ("a", "2")], False),
        ([("a", "1"), ("A", "2")], True),  # case-sensitive
    ],
)
def test_object_tag_rules(pairs, allowed):
    if allowed:
        assert tagging.object_tags(pairs) == dict(pairs)
    else:
        with pytest.raises(errors.OssError) as raised:
            tagging.object_tags(pairs)
        assert raised.value.code == "InvalidTag"


@pytest.mark.parametrize(
    ("pairs", "allowed"),
    [
        ([("%@abc", "++123%")], True),
        ([("k" * 64, "v" * 128)], True),
        ([(f"k{n}", "v") for n in range(20)], True),
        ([(f"k{n}", "v") for n in range(21)], False),
        ([("k" * 65, "v")], False),
        ([("k", "v" * 129)], False),
        ([("aliyun:x", "v")], False),
        ([("ACS-x", "v")], False),
        ([("http://x", "v")], False),
        ([("", "v")], False),
    ],
)
def test_bucket_tag_rules(pairs, allowed):
    if allowed:
        assert tagging.bucket_tags(pairs) == dict(pairs)
    else:
        with pytest.raises(errors.OssError) as raised:
            tagging.bucket_tags(pairs)
        assert raised.value.code == "InvalidTag"
