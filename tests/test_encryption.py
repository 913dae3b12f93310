"""Server-side encryption through the API: first the real oss2 SDK (V1 and V4)
against gunicorn, with the bytes on its disk inspected; then the refusals, signed as
the owner through Django's test client, each showing that nothing was stored."""

import hashlib
import os
import uuid
from pathlib import Path

import oss2
import pytest
from oss2.headers import (
    OSS_SERVER_SIDE_DATA_ENCRYPTION,
    OSS_SERVER_SIDE_ENCRYPTION,
    OSS_SERVER_SIDE_ENCRYPTION_KEY_ID,
)
from oss2.models import PartInfo, ServerSideEncryptionRule

from buckets import envelope
from buckets.models import Bucket, MultipartUpload, StoredObject, UploadedPart
from buckets.storage import ObjectWriter, commit_object, open_blob
from tests.oss_responses import body_of, error_code
from tests.signing import content_md5

AES256, KMS, SM4 = "AES256", "KMS", "SM4"
KIB = 1024
SSE_HEADERS = (
    OSS_SERVER_SIDE_ENCRYPTION,
    OSS_SERVER_SIDE_DATA_ENCRYPTION,
    OSS_SERVER_SIDE_ENCRYPTION_KEY_ID,
)


def unique_name(prefix="sse"):
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def secret_bytes(size=64 * KIB):
    """Bytes that cannot appear anywhere by chance."""
    return os.urandom(size)


def sse_headers(algorithm=None, data=None, key_id=None):
    values = (algorithm, data, key_id)
    return {
        name: value for name, value in zip(SSE_HEADERS, values, strict=True) if value
    }


def sse_of(result):
    """(algorithm, data algorithm, key id) an answer's headers name (None where absent)."""
    return tuple(result.headers.get(name) for name in SSE_HEADERS)


def rule_of(algorithm, key_id=None, data=None):
    rule = ServerSideEncryptionRule()
    rule.sse_algorithm, rule.kms_master_keyid, rule.kms_data_encryption = (
        algorithm,
        key_id,
        data,
    )
    return rule


def assert_refused(call, code, status=400):
    with pytest.raises(oss2.exceptions.OssError) as raised:
        call()
    assert (raised.value.status, raised.value.code) == (status, code)


# -- the real SDK against gunicorn ---------------------------------------------------


@pytest.fixture
def data_dir(two_user_server):
    return Path(two_user_server[0].data_dir)


@pytest.fixture
def on_disk(data_dir):
    """on_disk(data) -> whether any file of the server (objects, parts, temporary
    files, the database) holds `data`."""

    def holds(data):
        return any(data in contents for contents in map(_bytes_of, data_dir.rglob("*")))

    return holds


def _bytes_of(path):
    """A file's bytes; b"" for one that is gone (SQLite's -shm and -wal files come
    and go while the server runs)."""
    try:
        return path.read_bytes() if path.is_file() else b""
    except FileNotFoundError:
        return b""


@pytest.fixture
def oss_bucket(as_user):
    created = as_user("alice", unique_name())
    created.create_bucket(oss2.BUCKET_ACL_PRIVATE)
    return created


@pytest.mark.server
class TestBucketRule:
    def test_the_rule_is_put_read_listed_in_bucket_info_and_deleted(self, oss_bucket):
        assert_refused(
            oss_bucket.get_bucket_encryption, "NoSuchServerSideEncryptionRule", 404
        )
        assert oss_bucket.get_bucket_info().bucket_encryption_rule.sse_algorithm is None

        oss_bucket.put_bucket_encryption(rule_of(KMS, "key-7", SM4))

        got = oss_bucket.get_bucket_encryption()
        assert (got.sse_algorithm, got.kms_master_keyid, got.kms_data_encryption) == (
            KMS,
            "key-7",
            SM4,
        )
        info = oss_bucket.get_bucket_info().bucket_encryption_rule
        assert (
            info.sse_algorithm,
            info.kms_master_keyid,
            info.kms_data_encryption,
        ) == (
            KMS,
            "key-7",
            SM4,
        )
        assert oss_bucket.delete_bucket_encryption().status == 204
        assert_refused(
            oss_bucket.get_bucket_encryption, "NoSuchServerSideEncryptionRule", 404
        )
        assert (
            oss_bucket.delete_bucket_encryption().status == 204
        )  # nothing to delete: fine

    def test_a_data_encryption_without_kms_is_dropped_as_oss_does(self, oss_bucket):
        oss_bucket.put_bucket_encryption(rule_of(AES256, data=SM4))
        got = oss_bucket.get_bucket_encryption()
        assert (got.sse_algorithm, got.kms_data_encryption) == (AES256, None)

    @pytest.mark.parametrize(
        ("rule", "code"),
        [
            (rule_of("random"), "InvalidEncryptionAlgorithmError"),
            (rule_of(AES256, key_id="key-1"), "InvalidArgument"),
            (rule_of(SM4, key_id="key-1"), "InvalidArgument"),
            (rule_of(KMS, data="AES256"), "InvalidArgument"),
            (rule_of(KMS, key_id="spaces in id"), "InvalidArgument"),
        ],
        ids=["unknown-algorithm", "aes-key-id", "sm4-key-id", "bad-data", "bad-key-id"],
    )
    def test_a_bad_rule_is_refused_and_the_old_one_stays(self, oss_bucket, rule, code):
        oss_bucket.put_bucket_encryption(rule_of(SM4))
        assert_refused(lambda: oss_bucket.put_bucket_encryption(rule), code)
        assert oss_bucket.get_bucket_encryption().sse_algorithm == SM4

    def test_the_rule_is_the_owners_alone(self, oss_bucket, as_user):
        oss_bucket.put_bucket_encryption(rule_of(SM4))
        bobs_view = as_user("bob", oss_bucket.bucket_name)
        assert_refused(bobs_view.get_bucket_encryption, "AccessDenied", 403)
        assert_refused(
            lambda: bobs_view.put_bucket_encryption(rule_of(AES256)),
            "AccessDenied",
            403,
        )
        assert_refused(bobs_view.delete_bucket_encryption, "AccessDenied", 403)
        assert oss_bucket.get_bucket_encryption().sse_algorithm == SM4


@pytest.mark.server
class TestObjects:
    @pytest.mark.parametrize(
        ("sent", "answered"),
        [
            ((AES256, None, None), (AES256, None, None)),
            ((SM4, None, None), (SM4, None, None)),
            ((KMS, None, "my-key"), (KMS, None, "my-key")),
            ((KMS, SM4, "my-key"), (KMS, SM4, "my-key")),
        ],
        ids=["AES256", "SM4", "KMS", "KMS-SM4"],
    )
    def test_bytes_are_encrypted_on_disk_and_read_back_whole_and_in_ranges(
        self, oss_bucket, on_disk, sent, answered
    ):
        data = secret_bytes(200 * KIB + 5)
        put = oss_bucket.put_object("secret.bin", data, headers=sse_headers(*sent))
        assert sse_of(put) == answered
        assert not on_disk(data[:4096])
        assert not on_disk(data[-4096:])

        got = oss_bucket.get_object(
            "secret.bin"
        )  # oss2 checks the CRC-64 of what it reads
        assert got.read() == data
        assert sse_of(got) == answered
        head = oss_bucket.head_object("secret.bin")
        assert sse_of(head) == answered
        assert head.etag == put.etag == content_md5_hex(data)
        assert head.content_length == len(data)
        assert sse_of(oss_bucket.get_object_meta("secret.bin")) == answered
        for start, end in [
            (0, 0),
            (15, 16),
            (17, 100_000),
            (len(data) - 3, len(data) - 1),
        ]:
            part = oss_bucket.get_object("secret.bin", byte_range=(start, end))
            assert part.read() == data[start : end + 1]

    def test_a_plain_object_is_plain_on_disk(self, oss_bucket, on_disk):
        data = secret_bytes()
        put = oss_bucket.put_object("plain.bin", data)
        assert sse_of(put) == (None, None, None)
        assert on_disk(data)  # the disk search above finds what is there

    def test_kms_without_a_key_id_uses_the_buckets_own_key_id(self, oss_bucket):
        first = oss_bucket.put_object("a", b"a", headers=sse_headers(KMS))
        second = oss_bucket.put_object("b", b"b", headers=sse_headers(KMS))
        key_id = first.headers[OSS_SERVER_SIDE_ENCRYPTION_KEY_ID]
        assert key_id
        assert second.headers[OSS_SERVER_SIDE_ENCRYPTION_KEY_ID] == key_id
        assert (
            oss_bucket.head_object("a").headers[OSS_SERVER_SIDE_ENCRYPTION_KEY_ID]
            == key_id
        )

    def test_the_bucket_default_applies_when_a_write_names_none(
        self, oss_bucket, on_disk
    ):
        oss_bucket.put_bucket_encryption(rule_of(SM4))
        data = secret_bytes()
        assert sse_of(oss_bucket.put_object("default.bin", data)) == (SM4, None, None)
        own = oss_bucket.put_object("own.bin", data, headers=sse_headers(AES256))
        assert sse_of(own) == (AES256, None, None)
        assert not on_disk(data[:4096])

        oss_bucket.delete_bucket_encryption()
        assert sse_of(oss_bucket.put_object("after.bin", b"x")) == (None, None, None)
        assert (
            oss_bucket.get_object("default.bin").read() == data
        )  # old objects keep theirs
        assert sse_of(oss_bucket.head_object("default.bin")) == (SM4, None, None)

    @pytest.mark.parametrize(
        ("headers", "code"),
        [
            (sse_headers("aes"), "InvalidEncryptionAlgorithmError"),
            (sse_headers(AES256, key_id="k"), "InvalidArgument"),
            (sse_headers(KMS, data="AES256"), "InvalidArgument"),
            ({OSS_SERVER_SIDE_ENCRYPTION_KEY_ID: "k"}, "InvalidArgument"),
        ],
        ids=["unknown-algorithm", "aes-key-id", "bad-data", "key-id-alone"],
    )
    def test_bad_headers_store_nothing(self, oss_bucket, headers, code):
        assert_refused(
            lambda: oss_bucket.put_object("k", b"data", headers=headers), code
        )
        assert_refused(
            lambda: oss_bucket.append_object("k", 0, b"data", headers=headers), code
        )
        assert_refused(
            lambda: oss_bucket.init_multipart_upload("k", headers=headers), code
        )
        assert not oss_bucket.object_exists("k")
        assert list(oss2.MultipartUploadIterator(oss_bucket)) == []

    def test_different_key_ids_give_different_ciphertexts(self, oss_bucket, data_dir):
        data = secret_bytes(4096)
        for key_id in ("key-a", "key-b"):
            oss_bucket.put_object(key_id, data, headers=sse_headers(KMS, key_id=key_id))
            assert oss_bucket.get_object(key_id).read() == data
        blobs = [
            path.read_bytes()
            for path in (data_dir / "objects").rglob("*")
            if path.is_file()
        ]
        assert data not in blobs
        ciphertexts = [blob for blob in blobs if len(blob) == len(data)]
        assert len(set(ciphertexts)) == len(ciphertexts) >= 2

    def test_appends_keep_the_first_appends_encryption(self, oss_bucket, on_disk):
        first = oss_bucket.append_object(
            "log", 0, b"one-", headers=sse_headers(KMS, SM4)
        )
        key_id = first.headers[OSS_SERVER_SIDE_ENCRYPTION_KEY_ID]
        second = oss_bucket.append_object(
            "log", 4, b"two-", headers=sse_headers(AES256)
        )
        third = oss_bucket.append_object("log", 8, b"three")
        for answer in (first, second, third):
            assert sse_of(answer) == (KMS, SM4, key_id)
        got = oss_bucket.get_object("log")
        assert got.read() == b"one-two-three"
        assert third.crc == got.server_crc
        assert not on_disk(b"one-two-three")

    def test_copies_take_their_own_headers_or_the_destinations_default(
        self, oss_bucket, as_user, on_disk
    ):
        data = secret_bytes()
        oss_bucket.put_object("src", data, headers=sse_headers(KMS, SM4, "src-key"))
        plain_bucket = as_user("alice", unique_name())
        plain_bucket.create_bucket()
        sm4_bucket = as_user("alice", unique_name())
        sm4_bucket.create_bucket()
        sm4_bucket.put_bucket_encryption(rule_of(SM4))

        plain_bucket.copy_object(oss_bucket.bucket_name, "src", "plain-copy")
        assert sse_of(plain_bucket.head_object("plain-copy")) == (None, None, None)
        assert plain_bucket.get_object("plain-copy").read() == data
        assert on_disk(data)  # decrypted for the plain copy, as asked

        copied = oss_bucket.copy_object(
            oss_bucket.bucket_name, "src", "aes-copy", headers=sse_headers(AES256)
        )
        assert sse_of(copied) == (AES256, None, None)
        sm4_bucket.copy_object(plain_bucket.bucket_name, "plain-copy", "default-copy")
        assert sse_of(sm4_bucket.head_object("default-copy")) == (SM4, None, None)
        for each, key in [(oss_bucket, "aes-copy"), (sm4_bucket, "default-copy")]:
            head = each.head_object(key)
            assert each.get_object(key).read() == data
            assert head.etag == content_md5_hex(data)

    def test_a_symlink_serves_its_encrypted_targets_plaintext(self, oss_bucket):
        oss_bucket.put_object("target", b"linked bytes", headers=sse_headers(SM4))
        oss_bucket.put_symlink("target", "link")
        got = oss_bucket.get_object("link")
        assert got.read() == b"linked bytes"
        assert sse_of(got) == (SM4, None, None)


@pytest.mark.server
class TestMultipart:
    def test_parts_and_the_object_are_encrypted_and_read_back(
        self, oss_bucket, on_disk
    ):
        parts_data = [secret_bytes(100 * KIB), secret_bytes(100 * KIB), secret_bytes(7)]
        init = oss_bucket.init_multipart_upload("big", headers=sse_headers(KMS, SM4))
        answered = sse_of(init)
        assert answered[:2] == (KMS, SM4)
        assert answered[2]
        parts = []
        for number, data in enumerate(parts_data, start=1):
            result = oss_bucket.upload_part("big", init.upload_id, number, data)
            assert sse_of(result) == answered
            parts.append(PartInfo(number, result.etag))
        assert not on_disk(parts_data[0][:4096])  # the parts, before completion

        done = oss_bucket.complete_multipart_upload("big", init.upload_id, parts)
        assert sse_of(done) == answered
        whole = b"".join(parts_data)
        got = oss_bucket.get_object("big")
        assert got.read() == whole
        assert sse_of(got) == answered
        assert got.etag.endswith("-3")
        assert not on_disk(whole[:4096])

    def test_part_and_complete_requests_cannot_name_an_encryption(self, oss_bucket):
        init = oss_bucket.init_multipart_upload("k", headers=sse_headers(AES256))
        # Larger than the 64 KiB gunicorn drains: the connection must stay usable.
        assert_refused(
            lambda: oss_bucket.upload_part(
                "k",
                init.upload_id,
                1,
                secret_bytes(100 * KIB),
                headers=sse_headers(AES256),
            ),
            "InvalidArgument",
        )
        part = oss_bucket.upload_part("k", init.upload_id, 1, b"data")
        assert oss_bucket.list_parts("k", init.upload_id).parts[0].etag == part.etag
        assert_refused(
            lambda: oss_bucket.complete_multipart_upload(
                "k",
                init.upload_id,
                [PartInfo(1, part.etag)],
                headers=sse_headers(AES256),
            ),
            "InvalidArgument",
        )
        assert not oss_bucket.object_exists("k")
        oss_bucket.complete_multipart_upload(
            "k", init.upload_id, [PartInfo(1, part.etag)]
        )
        assert sse_of(oss_bucket.head_object("k")) == (AES256, None, None)

    def test_upload_part_copy_reads_an_encrypted_source_into_a_plain_upload(
        self, oss_bucket
    ):
        data = secret_bytes(300 * KIB)
        oss_bucket.put_object("src", data, headers=sse_headers(SM4))
        init = oss_bucket.init_multipart_upload("dst")
        assert sse_of(init) == (None, None, None)
        first = oss_bucket.upload_part_copy(
            oss_bucket.bucket_name, "src", (0, 100 * KIB - 1), "dst", init.upload_id, 1
        )
        second = oss_bucket.upload_part_copy(
            oss_bucket.bucket_name,
            "src",
            (100 * KIB, len(data) - 1),
            "dst",
            init.upload_id,
            2,
        )
        oss_bucket.complete_multipart_upload(
            "dst", init.upload_id, [PartInfo(1, first.etag), PartInfo(2, second.etag)]
        )
        assert oss_bucket.get_object("dst").read() == data
        assert sse_of(oss_bucket.head_object("dst")) == (None, None, None)

    def test_resumable_upload_and_download_of_an_encrypted_object(
        self, oss_bucket, tmp_path
    ):
        source, copy = tmp_path / "source.bin", tmp_path / "copy.bin"
        source.write_bytes(secret_bytes(1024 * KIB + 3))
        result = oss2.resumable_upload(
            oss_bucket,
            "resumable",
            str(source),
            multipart_threshold=200 * KIB,
            part_size=100 * KIB,
            num_threads=2,
            headers=sse_headers(KMS, SM4),
            store=oss2.ResumableStore(root=str(tmp_path)),
        )
        assert sse_of(result)[:2] == (KMS, SM4)
        oss2.resumable_download(
            oss_bucket,
            "resumable",
            str(copy),
            multiget_threshold=200 * KIB,
            part_size=100 * KIB,
            num_threads=2,
            store=oss2.ResumableDownloadStore(root=str(tmp_path)),
        )
        assert copy.read_bytes() == source.read_bytes()


def content_md5_hex(data):
    return hashlib.md5(data).hexdigest().upper()


# -- in-process: refusals store nothing; writes that never ask get the default ---------


@pytest.fixture
def rule_xml():
    def document(algorithm, key_id=None, data=None, root="ServerSideEncryptionRule"):
        inner = (
            f"<SSEAlgorithm>{algorithm}</SSEAlgorithm>" if algorithm is not None else ""
        )
        inner += (
            f"<KMSMasterKeyID>{key_id}</KMSMasterKeyID>" if key_id is not None else ""
        )
        inner += (
            f"<KMSDataEncryption>{data}</KMSDataEncryption>" if data is not None else ""
        )
        return (
            f"<{root}><ApplyServerSideEncryptionByDefault>{inner}"
            f"</ApplyServerSideEncryptionByDefault></{root}>"
        ).encode()

    return document


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("body", "code"),
    [
        (b"<ServerSideEncryptionRule>", "MalformedXML"),
        (b"<Other/>", "MalformedXML"),
        (b"<ServerSideEncryptionRule/>", "MalformedXML"),
        ("no-algorithm", "MalformedXML"),
        ("empty-algorithm", "InvalidEncryptionAlgorithmError"),
        ("lower-case", "InvalidEncryptionAlgorithmError"),
        ("aes-key-id", "InvalidArgument"),
        ("kms-data-aes", "InvalidArgument"),
        ("key-id-with-space", "InvalidArgument"),
        ("key-id-too-long", "InvalidArgument"),
    ],
)
def test_put_bucket_encryption_refusals_store_nothing(
    alice_signed_client, bucket, rule_xml, body, code
):
    documents = {
        "no-algorithm": rule_xml(None),
        "empty-algorithm": rule_xml(""),
        "lower-case": rule_xml("aes256"),
        "aes-key-id": rule_xml(AES256, key_id="k"),
        "kms-data-aes": rule_xml(KMS, data="AES256"),
        "key-id-with-space": rule_xml(KMS, key_id="a b"),
        "key-id-too-long": rule_xml(KMS, key_id="k" * 257),
    }
    body = documents.get(body, body)
    response = alice_signed_client(
        "PUT", bucket.name, params={"encryption": ""}, body=body
    )
    assert (response.status_code, error_code(response)) == (400, code)
    bucket.refresh_from_db()
    assert bucket.encryption == {}


@pytest.mark.django_db
def test_put_bucket_encryption_is_checked_against_content_md5(
    alice_signed_client, bucket, rule_xml
):
    body = rule_xml(AES256)
    response = alice_signed_client(
        "PUT",
        bucket.name,
        params={"encryption": ""},
        body=body,
        headers={"Content-MD5": content_md5(b"other")},
    )
    assert (response.status_code, error_code(response)) == (400, "InvalidDigest")
    bucket.refresh_from_db()
    assert bucket.encryption == {}


@pytest.mark.django_db
def test_a_refused_put_leaves_no_object_and_no_file(
    alice_signed_client, bucket, settings
):
    response = alice_signed_client(
        "PUT", bucket.name, "k", body=b"data", headers=sse_headers("random")
    )
    assert (response.status_code, error_code(response)) == (
        400,
        "InvalidEncryptionAlgorithmError",
    )
    assert not StoredObject.objects.exists()
    assert [p for p in settings.OBJECT_STORAGE_DIR.rglob("*") if p.is_file()] == []
    assert list(settings.OBJECT_TMP_DIR.iterdir()) == []


@pytest.mark.django_db
def test_a_refused_part_is_not_stored(alice_signed_client, bucket):
    upload = MultipartUpload.objects.create(
        bucket=bucket, key="k", upload_id=MultipartUpload.new_upload_id()
    )
    response = alice_signed_client(
        "PUT",
        bucket.name,
        "k",
        params={"partNumber": "1", "uploadId": upload.upload_id},
        body=b"data",
        headers=sse_headers(SM4),
    )
    assert (response.status_code, error_code(response)) == (400, "InvalidArgument")
    assert not UploadedPart.objects.exists()


@pytest.mark.django_db
def test_a_write_that_leaves_encryption_to_the_bucket_gets_its_default(
    bucket, settings
):
    """The path of mirror writes and console uploads: ObjectWriter() decides nothing."""
    Bucket.objects.filter(pk=bucket.pk).update(
        encryption={"algorithm": KMS, "data_algorithm": SM4}
    )
    bucket.refresh_from_db()
    data = secret_bytes()
    with ObjectWriter() as writer:
        writer.write(data)
        obj = commit_object(bucket, "k", writer)
    assert envelope.Sse.from_dict(obj.encryption) == envelope.Sse(
        KMS, SM4, envelope.default_key_id(bucket)
    )
    assert data not in (settings.OBJECT_STORAGE_DIR / obj.blob).read_bytes()
    assert list(settings.OBJECT_TMP_DIR.iterdir()) == []  # the plaintext file is gone
    with open_blob(obj) as handle:
        assert handle.read() == data
    assert obj.md5 == content_md5_hex(data).lower()


@pytest.mark.django_db
def test_a_mirror_write_into_an_encrypted_bucket_is_encrypted(
    alice_client, bucket, origin_server, mirror_rule, settings
):
    Bucket.objects.filter(pk=bucket.pk).update(encryption={"algorithm": AES256})
    data = secret_bytes()
    origin_server.route("/a.bin", body=data)
    mirror_rule()
    assert body_of(alice_client.get(f"/{bucket.name}/a.bin")) == data
    saved = StoredObject.objects.get(bucket=bucket, key="a.bin")
    assert saved.encryption["algorithm"] == AES256
    assert data not in (settings.OBJECT_STORAGE_DIR / saved.blob).read_bytes()
    again = alice_client.get(f"/{bucket.name}/a.bin", headers={"Range": "bytes=10-19"})
    assert (again.status_code, body_of(again)) == (206, data[10:20])
    assert again["x-oss-server-side-encryption"] == AES256
