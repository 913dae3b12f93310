"""OSS features this server does not have never run as the plain operation (SPEC §9).

First the data-loss cases oss2's own integration suite found, through the real SDK
against gunicorn; then every sub-resource name oss2 knows x GET, PUT, POST, DELETE,
HEAD x bucket and object, signed as the owner, through Django's test client.
"""

import base64
import hashlib
import xml.etree.ElementTree as ET

import oss2
import pytest

from buckets import errors, unsupported
from buckets.models import Bucket, StoredObject
from buckets.sub_resources import V1_SUB_RESOURCES
from tests.oss_responses import body_of, error_code

ORIGINAL = b"the original bytes of photo.jpg"
TAGGING_XML = (
    b"<Tagging><TagSet><Tag><Key>a</Key><Value>b</Value></Tag></TagSet></Tagging>"
)

# What the routing implements at each level (config/oss_urls.py) ...
IMPLEMENTED_ON_BUCKET = {
    "accessPoint",
    "accessPointPolicy",
    "accessmonitor",
    "acl",
    "bucketArchiveDirectRead",
    "bucketInfo",
    "comp",
    "cors",
    "delete",
    "encryption",
    "httpsConfig",
    "inventory",
    "inventoryId",
    "lifecycle",
    "live",
    "location",
    "logging",
    "metaQuery",
    "policy",
    "publicAccessBlock",
    "qos",
    "qosInfo",
    "qosRequester",
    "referer",
    "requestPayment",
    "requesterQosInfo",
    "resourceGroup",
    "stat",
    "tagging",
    "uploads",
    "versioning",
    "versions",
    "website",
    "worm",
    "wormExtend",
    "wormId",
}
IMPLEMENTED_ON_OBJECT = {
    "acl",
    "append",
    # Live channels (buckets/live/operations.py): one switch for all of these.
    "comp",
    "endTime",
    "live",
    "startTime",
    "status",
    "vod",
    "objectMeta",
    "partNumber",
    "restore",
    "sequential",
    "symlink",
    "tagging",
    "uploadId",
    "uploads",
    "x-oss-process",
}
# ... and the sub-resource names that only modify an implemented operation.
PARAMETERS = {
    "callback",
    "callback-var",
    "continuation-token",
    "position",
    "response-cache-control",
    "response-content-disposition",
    "response-content-encoding",
    "response-content-language",
    "response-content-type",
    "response-expires",
    "security-token",
    "versionId",
    "x-oss-request-payer",
    "x-oss-traffic-limit",
}
OSS2_NAMES = sorted(oss2.Auth._subresource_key_set)
# A version id of the form this server gives, which no version has.
MISSING_VERSION = "CAEQ" + "A" * 40


def assert_not_implemented(raised):
    assert (raised.value.status, raised.value.code) == (501, "NotImplemented")


# -- the data-loss cases, with the real SDK against gunicorn ------------------------------


@pytest.mark.server
class TestWithTheRealSdk:
    def test_live_channels_are_listed_as_none(self, oss2_bucket):
        # oss2's own test suite lists them in every tearDown.
        listing = oss2_bucket.list_live_channel()

        assert (listing.channels, listing.is_truncated) == ([], False)

    @pytest.mark.parametrize(
        "delete_configuration", ["delete_bucket_lifecycle", "delete_bucket_cors"]
    )
    def test_deleting_a_configuration_does_not_delete_the_empty_bucket(
        self, oss2_bucket, delete_configuration
    ):
        assert getattr(oss2_bucket, delete_configuration)().status == 204

        assert oss2_bucket.get_bucket_info().name == oss2_bucket.bucket_name

    def test_get_policy_lifecycle_cors_encryption_are_oss_not_configured_errors(
        self, oss2_bucket
    ):
        oss2_bucket.put_object("photo.jpg", ORIGINAL)

        for get, missing in [
            (oss2_bucket.get_bucket_policy, oss2.exceptions.NoSuchBucketPolicy),
            (oss2_bucket.get_bucket_lifecycle, oss2.exceptions.NoSuchLifecycle),
            (oss2_bucket.get_bucket_cors, oss2.exceptions.NoSuchCors),
            (
                oss2_bucket.get_bucket_encryption,
                oss2.exceptions.NoSuchServerSideEncryptionRule,
            ),
        ]:
            with pytest.raises(missing):
                get()

    def test_objects_are_not_listed_as_multipart_uploads(self, oss2_bucket):
        oss2_bucket.put_object("photo.jpg", ORIGINAL)

        result = oss2_bucket.list_multipart_uploads(prefix="ph", delimiter="/")

        assert (result.status, result.upload_list, result.prefix_list) == (200, [], [])
        assert result.is_truncated is False
        assert list(oss2.MultipartUploadIterator(oss2_bucket)) == []

    def test_an_upload_id_that_never_was_is_no_such_upload(self, oss2_bucket):
        with pytest.raises(oss2.exceptions.NoSuchUpload):
            oss2_bucket.list_parts("big.bin", "0004B9894A22E5B1888A1E29F823****")
        with pytest.raises(oss2.exceptions.NoSuchUpload):
            oss2_bucket.abort_multipart_upload("big.bin", "0004B9894A22E5B1888A****")
        assert not oss2_bucket.object_exists("big.bin")

    def test_what_is_never_configured_reads_as_oss_defaults(self, oss2_bucket):
        oss2_bucket.put_object("photo.jpg", ORIGINAL)

        assert oss2_bucket.get_bucket_versioning().status is None

    def test_image_processing_is_not_the_unprocessed_object(self, oss2_bucket):
        oss2_bucket.put_object("photo.jpg", ORIGINAL)

        with pytest.raises(oss2.exceptions.ServerError) as raised:
            oss2_bucket.get_object("photo.jpg", process="image/resize,w_100")

        assert_not_implemented(raised)


# -- every sub-resource oss2 knows, signed as the owner ------------------------------


def test_the_classification_is_the_one_these_tests_assume():
    from config.oss_urls import BUCKET_OPERATIONS, OBJECT_OPERATIONS

    assert unsupported.PARAMETERS == PARAMETERS
    assert {sub for _m, sub in BUCKET_OPERATIONS if sub} == IMPLEMENTED_ON_BUCKET
    assert {sub for _m, sub in OBJECT_OPERATIONS if sub} == IMPLEMENTED_ON_OBJECT


@pytest.fixture
def reset_state(alice, put_object):
    """An empty bucket and a bucket holding photo.jpg, as they were before each request."""

    def reset():
        empty, _ = Bucket.objects.get_or_create(name="empty-bucket", owner=alice)
        full, _ = Bucket.objects.get_or_create(name="full-bucket", owner=alice)
        photo = full.stored_objects.filter(key="photo.jpg").first()
        if photo is None or photo.md5 != hashlib.md5(ORIGINAL).hexdigest():
            put_object(full, "photo.jpg", ORIGINAL)
        empty.stored_objects.all().delete()
        full.stored_objects.exclude(key="photo.jpg").delete()

    return reset


def state():
    """What a request must not change: which buckets exist, what they hold."""
    return sorted(
        (obj.bucket.name, obj.key, obj.md5, obj.size)
        for obj in StoredObject.objects.select_related("bucket")
    ) + sorted(Bucket.objects.values_list("name", flat=True))


def looks_plain(level, method, response):
    """The answer the plain operation gives (the state check catches the rest)."""
    if method in ("PUT", "POST"):
        # Setting anything unsupported is 501; on what does not exist here, 404
        # (an access point's settings).
        return response.status_code not in (501, 404)
    if level == "bucket" and method == "GET":
        return b"<ListBucketResult" in body_of(response)
    if level == "object" and method == "GET":
        return body_of(response) == ORIGINAL
    if level == "object" and method == "HEAD":
        return response.status_code == 200
    return False


@pytest.mark.django_db
@pytest.mark.parametrize("name", OSS2_NAMES)
def test_no_sub_resource_runs_as_the_plain_operation(
    name, alice_signed_client, reset_state
):
    for level, bucket_name, key, implemented in [
        ("bucket", "empty-bucket", "", IMPLEMENTED_ON_BUCKET),
        ("object", "full-bucket", "photo.jpg", IMPLEMENTED_ON_OBJECT),
    ]:
        for method in ("GET", "PUT", "POST", "DELETE", "HEAD"):
            reset_state()
            before = state()
            payload = TAGGING_XML if method in ("PUT", "POST") else b""

            response = alice_signed_client(
                method, bucket_name, key, params={name: ""}, body=payload
            )

            body = body_of(response)
            where = (level, method, name, response.status_code, body[:300])
            assert response.status_code < 500 or response.status_code == 501, where
            if name in implemented or name in PARAMETERS:
                continue
            assert state() == before, where
            assert not looks_plain(level, method, response), where
            if method == "HEAD":
                assert body == b"", where


@pytest.mark.django_db
@pytest.mark.parametrize("name", sorted(V1_SUB_RESOURCES - set(OSS2_NAMES)))
def test_names_only_the_server_signs_are_not_implemented_either(
    name, alice_client, bucket
):
    """`img` and `cloudboxes`: oss2 does not sign them, so a console session asks."""
    response = alice_client.get(f"/alice-bucket/?{name}")

    assert (response.status_code, error_code(response)) == (501, "NotImplemented")


def test_the_service_level_has_no_sub_resource_either(rf):
    """For service_view (GET /): ?regionList is DescribeRegions, not ListBuckets."""
    with pytest.raises(errors.OssError) as raised:
        unsupported.answer(rf.get("/?regionList"), frozenset())

    assert (raised.value.status, raised.value.code) == (501, "NotImplemented")
    assert unsupported.answer(rf.get("/?prefix=a&max-keys=2"), frozenset()) is None


# -- the answers, one by one -------------------------------------------------------------


@pytest.fixture
def photo(bucket, put_object):
    return put_object(bucket, "photo.jpg", ORIGINAL)


@pytest.mark.django_db
class TestAnswers:
    def test_head_with_an_unsupported_sub_resource_is_501_in_x_oss_err(
        self, alice_signed_client, photo
    ):
        response = alice_signed_client(
            "HEAD", "alice-bucket", "photo.jpg", params={"replication": ""}
        )

        assert (response.status_code, response.content) == (501, b"")
        assert error_code(base64.b64decode(response["x-oss-err"])) == "NotImplemented"

    def test_a_missing_bucket_is_no_such_bucket_before_not_implemented(
        self, alice_signed_client, alice
    ):
        response = alice_signed_client(
            "PUT",
            "no-such-bucket",
            "photo.jpg",
            params={"replication": ""},
            body=b"",
        )

        assert (response.status_code, error_code(response)) == (404, "NoSuchBucket")

    def test_not_configured_answers_are_the_bucket_owners_alone(
        self, bob_client, photo
    ):
        assert error_code(bob_client.get("/alice-bucket/?cors")) == "AccessDenied"
        assert error_code(bob_client.get("/alice-bucket/?uploads")) == "AccessDenied"
        assert error_code(bob_client.get("/alice-bucket/photo.jpg?tagging")) == (
            "AccessDenied"
        )

    def test_the_501_message_names_the_feature(self, alice_signed_client, photo):
        response = alice_signed_client(
            "PUT",
            "alice-bucket",
            params={"replication": ""},
            body=b"<ReplicationConfiguration/>",
        )

        assert response.status_code == 501
        message = ET.fromstring(response.content).findtext("Message")
        assert message == "The replication feature is not implemented by this server."

    def test_an_implemented_operation_with_an_unsupported_sub_resource_is_refused(
        self, alice_signed_client, bucket
    ):
        response = alice_signed_client(
            "POST",
            "alice-bucket",
            "log.txt",
            params={"append": "", "position": "0", "live": ""},
            body=b"abc",
        )

        assert response.status_code == 501
        assert not StoredObject.objects.filter(key="log.txt").exists()

    def test_a_query_naming_two_operations_runs_neither(
        self, alice_signed_client, photo
    ):
        response = alice_signed_client(
            "PUT",
            "alice-bucket",
            "photo.jpg",
            params={"acl": "", "tagging": ""},
            headers={"x-oss-object-acl": "public-read"},
            body=TAGGING_XML,
        )

        assert (response.status_code, error_code(response)) == (501, "NotImplemented")
        photo.refresh_from_db()
        assert photo.acl == "default"
        assert photo.tags == {}

    def test_an_ordinary_query_parameter_still_gets_the_object(
        self, alice_client, photo
    ):
        response = alice_client.get("/alice-bucket/photo.jpg?utm_source=mail")

        assert body_of(response) == ORIGINAL

    def test_version_null_is_the_object_itself(self, alice_signed_client, photo):
        got = alice_signed_client(
            "GET", "alice-bucket", "photo.jpg", params={"versionId": "null"}
        )
        assert body_of(got) == ORIGINAL

        deleted = alice_signed_client(
            "DELETE", "alice-bucket", "photo.jpg", params={"versionId": "null"}
        )
        assert deleted.status_code == 204
        assert not StoredObject.objects.filter(key="photo.jpg").exists()

    def test_any_other_version_does_not_exist(self, alice_signed_client, photo):
        for method in ("GET", "DELETE"):
            response = alice_signed_client(
                method,
                "alice-bucket",
                "photo.jpg",
                params={"versionId": MISSING_VERSION},
            )
            assert (response.status_code, error_code(response)) == (
                404,
                "NoSuchVersion",
            )
        head = alice_signed_client(
            "HEAD", "alice-bucket", "photo.jpg", params={"versionId": MISSING_VERSION}
        )
        assert (head.status_code, head.content) == (404, b"")
        assert StoredObject.objects.get(key="photo.jpg").size == len(ORIGINAL)

    def test_a_version_that_does_not_exist_wins_over_what_was_asked_of_it(
        self, alice_signed_client, photo
    ):
        response = alice_signed_client(
            "GET",
            "alice-bucket",
            "photo.jpg",
            params={"tagging": "", "versionId": MISSING_VERSION},
        )

        assert error_code(response) == "NoSuchVersion"

    def test_url_encoded_multipart_listing_echoes_its_parameters(
        self, alice_signed_client, bucket
    ):
        response = alice_signed_client(
            "GET",
            "alice-bucket",
            params={
                "uploads": "",
                "prefix": "a b/",
                "delimiter": "/",
                "max-uploads": "10",
                "encoding-type": "url",
            },
        )

        root = ET.fromstring(response.content)
        assert root.tag == "ListMultipartUploadsResult"
        assert {child.tag: child.text or "" for child in root} == {
            "EncodingType": "url",
            "Bucket": "alice-bucket",
            "KeyMarker": "",
            "UploadIdMarker": "",
            "NextKeyMarker": "",
            "NextUploadIdMarker": "",
            "Delimiter": "/",
            "Prefix": "a%20b/",
            "MaxUploads": "10",
            "IsTruncated": "false",
        }

    @pytest.mark.parametrize("max_uploads", ["0", "1001", "9" * 4301, "²", "-1"])
    def test_hostile_max_uploads_is_invalid_argument(
        self, alice_signed_client, bucket, max_uploads
    ):
        response = alice_signed_client(
            "GET", "alice-bucket", params={"uploads": "", "max-uploads": max_uploads}
        )

        assert (response.status_code, error_code(response)) == (400, "InvalidArgument")

    def test_tagging_of_a_missing_key_is_no_such_key_not_a_mirror(
        self, alice_signed_client, bucket
    ):
        response = alice_signed_client(
            "GET", "alice-bucket", "missing.jpg", params={"tagging": ""}
        )

        assert (response.status_code, error_code(response)) == (404, "NoSuchKey")
