"""Archive-class objects: GET refused until a restore is ready, RestoreObject's
answers (202, 409, 200), its refusals, x-oss-restore and RestoreInfo, and
PutBucketArchiveDirectRead.

The SDK (V1 and V4) runs against the real gunicorn, whose restores take an hour
(RESTORE_SECONDS), so "in progress" is what it sees; the states after that (ready,
expired) go through Django's test client with the restore times moved.
"""

import datetime
import uuid

import oss2
import pytest
from django.utils import timezone
from oss2.models import RestoreConfiguration, RestoreJobParameters

from buckets.models import Bucket, StoredObject
from tests.oss_responses import body_of, error_fields
from tests.server_process import GunicornServer
from tests.signing import REGION

PASSWORD = "restore-test-password"
DAY = datetime.timedelta(days=1)


# -- the real SDK ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    gunicorn = GunicornServer(
        tmp_path_factory.mktemp("restore-server"), RESTORE_SECONDS="3600"
    )
    gunicorn.keys = gunicorn.add_users(("alice", "bob"), PASSWORD)
    gunicorn.start()
    try:
        yield gunicorn
    finally:
        gunicorn.stop()


def sdk_bucket(server, version, user="alice", name=None):
    key = server.keys[user]
    auth = oss2.AuthV4(*key) if version == "v4" else oss2.Auth(*key)
    return oss2.Bucket(
        auth, server.url, name or f"rs-{uuid.uuid4().hex[:12]}", region=REGION
    )


@pytest.fixture
def alice_bucket(server, sdk_version):
    bucket = sdk_bucket(server, sdk_version)
    bucket.create_bucket()
    return bucket


@pytest.mark.server
def test_an_archive_object_is_read_only_after_a_restore(alice_bucket):
    alice_bucket.put_object(
        "a.txt", b"cold", headers={"x-oss-storage-class": "Archive"}
    )

    with pytest.raises(oss2.exceptions.ServerError) as refused:
        alice_bucket.get_object("a.txt")
    head = alice_bucket.head_object("a.txt")
    first = alice_bucket.restore_object("a.txt")
    with pytest.raises(oss2.exceptions.ServerError) as again:
        alice_bucket.restore_object("a.txt")

    assert (refused.value.status, refused.value.code) == (403, "InvalidObjectState")
    assert head.headers["x-oss-storage-class"] == "Archive"
    assert "x-oss-restore" not in head.headers
    assert first.status == 202
    assert (again.value.status, again.value.code) == (409, "RestoreAlreadyInProgress")
    assert (
        alice_bucket.head_object("a.txt").headers["x-oss-restore"]
        == 'ongoing-request="true"'
    )
    listed = alice_bucket.list_objects().object_list[0]
    assert (listed.storage_class, listed.restore_info) == (
        "Archive",
        'ongoing-request="true"',
    )
    assert alice_bucket.list_objects_v2().object_list[0].restore_info == (
        'ongoing-request="true"'
    )


@pytest.mark.server
def test_a_bucket_of_an_archive_class_stores_its_objects_in_it(server, sdk_version):
    bucket = sdk_bucket(server, sdk_version)
    bucket.create_bucket(
        oss2.BUCKET_ACL_PRIVATE,
        oss2.models.BucketCreateConfig(oss2.BUCKET_STORAGE_CLASS_ARCHIVE),
    )

    bucket.put_object("a.txt", b"cold")

    assert bucket.get_bucket_info().storage_class == "Archive"
    assert bucket.head_object("a.txt").headers["x-oss-storage-class"] == "Archive"
    assert bucket.restore_object("a.txt").status == 202
    assert bucket.delete_object("a.txt").status == 204


@pytest.mark.server
def test_cold_archive_restores_name_their_tier(alice_bucket):
    for tier in ("Expedited", "Standard", "Bulk"):
        key = f"cold-{tier}.txt"
        alice_bucket.put_object(
            key, b"cold", headers={"x-oss-storage-class": "ColdArchive"}
        )
        config = RestoreConfiguration(days=5, job_parameters=RestoreJobParameters(tier))

        result = alice_bucket.restore_object(key, input=config)

        assert result.status == 202
        assert result.headers["x-oss-object-restore-priority"] == tier


@pytest.mark.server
@pytest.mark.parametrize(
    ("storage_class", "config", "error"),
    [
        (
            "Archive",
            RestoreConfiguration(days=5, job_parameters=RestoreJobParameters("Bulk")),
            oss2.exceptions.MalformedXml,
        ),
        (
            "ColdArchive",
            RestoreConfiguration(
                days=5, job_parameters=RestoreJobParameters("wrong-tier")
            ),
            oss2.exceptions.InvalidArgument,
        ),
        (
            "DeepColdArchive",
            RestoreConfiguration(days=5, job_parameters=RestoreJobParameters("Bulk")),
            oss2.exceptions.InvalidArgument,
        ),
        ("Archive", RestoreConfiguration(days=8), oss2.exceptions.InvalidArgument),
        (
            "ColdArchive",
            RestoreConfiguration(days=366),
            oss2.exceptions.InvalidArgument,
        ),
    ],
)
def test_a_refused_restore_leaves_the_object_unrestored(
    alice_bucket, storage_class, config, error
):
    alice_bucket.put_object(
        "a.txt", b"cold", headers={"x-oss-storage-class": storage_class}
    )

    with pytest.raises(error):
        alice_bucket.restore_object("a.txt", input=config)

    assert "x-oss-restore" not in alice_bucket.head_object("a.txt").headers


@pytest.mark.server
def test_standard_and_ia_objects_have_nothing_to_restore(alice_bucket):
    alice_bucket.put_object("s.txt", b"warm")
    alice_bucket.put_object("ia.txt", b"warm", headers={"x-oss-storage-class": "IA"})

    for key in ("s.txt", "ia.txt"):
        with pytest.raises(oss2.exceptions.ServerError) as refused:
            alice_bucket.restore_object(key)
        assert (refused.value.status, refused.value.code) == (
            400,
            "OperationNotSupported",
        )
        assert alice_bucket.get_object(key).read() == b"warm"


@pytest.mark.server
def test_only_writers_restore_and_a_missing_key_is_no_such_key(
    server, alice_bucket, sdk_version
):
    alice_bucket.put_object(
        "a.txt", b"cold", headers={"x-oss-storage-class": "Archive"}
    )
    bob = sdk_bucket(server, sdk_version, "bob", alice_bucket.bucket_name)

    with pytest.raises(oss2.exceptions.AccessDenied):
        bob.restore_object("a.txt")
    with pytest.raises(oss2.exceptions.NoSuchKey):
        alice_bucket.restore_object("missing.txt")
    assert "x-oss-restore" not in alice_bucket.head_object("a.txt").headers


@pytest.mark.server
def test_an_unrestored_archive_source_cannot_be_copied(alice_bucket):
    alice_bucket.put_object(
        "a.txt", b"cold", headers={"x-oss-storage-class": "Archive"}
    )

    with pytest.raises(oss2.exceptions.ServerError) as refused:
        alice_bucket.copy_object(alice_bucket.bucket_name, "a.txt", "copy.txt")
    upload_id = alice_bucket.init_multipart_upload("parts.txt").upload_id
    with pytest.raises(oss2.exceptions.ServerError) as part_refused:
        alice_bucket.upload_part_copy(
            alice_bucket.bucket_name, "a.txt", (0, 3), "parts.txt", upload_id, 1
        )

    assert refused.value.code == part_refused.value.code == "InvalidObjectState"
    assert not alice_bucket.object_exists("copy.txt")
    assert alice_bucket.list_parts("parts.txt", upload_id).parts == []


@pytest.mark.server
def test_archive_direct_read_opens_archive_objects_but_not_cold_ones(alice_bucket):
    alice_bucket.put_object(
        "a.txt", b"cold", headers={"x-oss-storage-class": "Archive"}
    )
    alice_bucket.put_object(
        "c.txt", b"colder", headers={"x-oss-storage-class": "ColdArchive"}
    )
    assert alice_bucket.get_bucket_archive_direct_read().enabled is False

    alice_bucket.put_bucket_archive_direct_read(True)

    assert alice_bucket.get_bucket_archive_direct_read().enabled is True
    assert alice_bucket.get_object("a.txt").read() == b"cold"
    with pytest.raises(oss2.exceptions.ServerError) as refused:
        alice_bucket.get_object("c.txt")
    assert refused.value.code == "InvalidObjectState"

    alice_bucket.put_bucket_archive_direct_read(False)

    with pytest.raises(oss2.exceptions.ServerError):
        alice_bucket.get_object("a.txt")


@pytest.mark.server
def test_archive_direct_read_refuses_a_bad_value_and_other_users(
    server, alice_bucket, sdk_version
):
    bob = sdk_bucket(server, sdk_version, "bob", alice_bucket.bucket_name)

    with pytest.raises(oss2.exceptions.MalformedXml):
        alice_bucket.put_bucket_archive_direct_read("aa")
    with pytest.raises(oss2.exceptions.AccessDenied):
        bob.put_bucket_archive_direct_read(True)
    with pytest.raises(oss2.exceptions.AccessDenied):
        bob.get_bucket_archive_direct_read()
    assert alice_bucket.get_bucket_archive_direct_read().enabled is False


# -- the states after "in progress", through Django's test client -------------------------


@pytest.fixture
def send(alice_signed_client, bucket):
    def request(method, key="a.txt", **kwargs):
        return alice_signed_client(method, "alice-bucket", key, **kwargs)

    return request


@pytest.fixture
def archived(send):
    """a.txt, an Archive object."""
    response = send(
        "PUT", headers={"x-oss-storage-class": "Archive"}, body=b"cold bytes"
    )
    assert response.status_code == 200
    return StoredObject.objects.get(key="a.txt")


def restore(send, body=b""):
    return send("POST", params={"restore": ""}, body=body)


def move_restore(**times):
    StoredObject.objects.filter(key="a.txt").update(**times)


def test_a_ready_restore_serves_the_bytes_until_it_expires(send, archived, settings):
    settings.RESTORE_SECONDS = 3600
    assert (
        restore(send, b"<RestoreRequest><Days>2</Days></RestoreRequest>").status_code
        == 202
    )
    obj = StoredObject.objects.get(key="a.txt")
    assert obj.restore_expires_at - obj.restore_ready_at == 2 * DAY

    now = timezone.now()
    move_restore(restore_ready_at=now - DAY, restore_expires_at=now + DAY)
    got = send("GET")

    assert (got.status_code, body_of(got)) == (200, b"cold bytes")
    assert got["x-oss-restore"].startswith('ongoing-request="false", expiry-date="')

    move_restore(restore_ready_at=now - 3 * DAY, restore_expires_at=now - DAY)
    expired = send("GET")

    assert (expired.status_code, error_fields(expired)["Code"]) == (
        403,
        "InvalidObjectState",
    )
    assert "x-oss-restore" not in send("HEAD")


def test_restoring_a_restored_object_extends_it_from_now(send, archived):
    now = timezone.now()
    move_restore(restore_ready_at=now - DAY, restore_expires_at=now + DAY)

    response = restore(send, b"<RestoreRequest><Days>5</Days></RestoreRequest>")

    obj = StoredObject.objects.get(key="a.txt")
    assert response.status_code == 200
    assert obj.restore_expires_at >= now + 5 * DAY
    assert obj.restore_ready_at == now - DAY


def test_an_expired_restore_can_be_asked_again(send, archived, settings):
    settings.RESTORE_SECONDS = 3600
    now = timezone.now()
    move_restore(restore_ready_at=now - 3 * DAY, restore_expires_at=now - DAY)

    assert restore(send).status_code == 202
    assert send("HEAD")["x-oss-restore"] == 'ongoing-request="true"'


def test_an_overwrite_is_a_new_object_in_a_new_class(send, archived):
    now = timezone.now()
    move_restore(restore_ready_at=now - DAY, restore_expires_at=now + DAY)

    send("PUT", body=b"warm bytes")

    head = send("HEAD")
    assert head["x-oss-storage-class"] == "Standard"
    assert "x-oss-restore" not in head
    assert StoredObject.objects.get(key="a.txt").restore_ready_at is None


@pytest.mark.parametrize(
    "body",
    [
        b"<RestoreRequest><Days>2</Days>",
        b"<Restore><Days>2</Days></Restore>",
        b"<RestoreRequest><Days>2</Days><OutputLocation/></RestoreRequest>",
        b"<RestoreRequest><Days>1</Days><Days>2</Days></RestoreRequest>",
        b'<!DOCTYPE x [<!ENTITY a "1">]><RestoreRequest><Days>&a;</Days></RestoreRequest>',
    ],
)
def test_malformed_restore_requests_are_malformed_xml(send, archived, body):
    response = restore(send, body)

    assert (response.status_code, error_fields(response)["Code"]) == (
        400,
        "MalformedXML",
    )
    assert StoredObject.objects.get(key="a.txt").restore_ready_at is None


@pytest.mark.parametrize("days", ["0", "-1", "two", "8", "9" * 30])
def test_days_outside_what_the_class_allows_are_invalid(send, archived, days):
    response = restore(
        send, f"<RestoreRequest><Days>{days}</Days></RestoreRequest>".encode()
    )

    fields = error_fields(response)
    assert (response.status_code, fields["Code"], fields["ArgumentName"]) == (
        400,
        "InvalidArgument",
        "Days",
    )
    assert StoredObject.objects.get(key="a.txt").restore_ready_at is None


def test_a_bad_storage_class_header_stores_nothing(send, bucket):
    response = send("PUT", headers={"x-oss-storage-class": "Glacier"}, body=b"x")

    fields = error_fields(response)
    assert (response.status_code, fields["Code"], fields["ArgumentName"]) == (
        400,
        "InvalidArgument",
        "x-oss-storage-class",
    )
    assert not bucket.stored_objects.exists()


def test_a_console_download_of_an_archived_object_is_refused_not_a_crash(
    archived, alice_client
):
    response = alice_client.get(
        "/console/buckets/alice-bucket/files/download?key=a.txt"
    )

    assert response.status_code == 403
    assert Bucket.objects.get(name="alice-bucket").stored_objects.count() == 1
