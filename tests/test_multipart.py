"""Multipart upload with OSS's semantics: first through the real oss2 SDK against
gunicorn (its resumable upload and download included), then the error answers and
what is kept on disk, signed as the owner, through Django's test client."""

import datetime
import hashlib
import os
import xml.etree.ElementTree as ET

import oss2
import pytest
from django.utils import timezone
from oss2.models import PartInfo

from buckets import parts
from buckets.models import Bucket, MultipartUpload, StoredObject, UploadedPart
from buckets.storage import ObjectWriter
from config.housekeeping import sweep_once
from tests.oss_responses import body_of, error_code
from tests.signing import REGION, content_md5

KIB, MIB = 1024, 1024 * 1024
PART = 100 * KIB  # OSS's smallest part but the last


def crc64(data):
    """x-oss-hash-crc64ecma of `data`, by oss2's own implementation."""
    crc = oss2.utils.Crc64(0)
    crc.update(data)
    return crc.crc


def multipart_etag(*datas):
    digests = b"".join(hashlib.md5(data).digest() for data in datas)
    return f"{hashlib.md5(digests).hexdigest().upper()}-{len(datas)}"


def sdk_initiate(bucket, key):
    return bucket.init_multipart_upload(key).upload_id


def upload_parts(bucket, key, upload_id, *datas):
    """Upload each of `datas` as parts 1, 2, ...; their PartInfos for complete."""
    infos = []
    for number, data in enumerate(datas, start=1):
        result = bucket.upload_part(key, upload_id, number, data)
        infos.append(PartInfo(number, result.etag, size=len(data), part_crc=result.crc))
    return infos


# -- the real SDK against gunicorn ---------------------------------------------------------


@pytest.fixture(params=["v1", "v4"])
def sdk_bucket(request, oss2_bucket):
    """alice's new bucket through oss2, signed V1 or V4."""
    if request.param == "v1":
        return oss2_bucket
    key = oss2_bucket.auth.credentials_provider.get_credentials()
    auth = oss2.AuthV4(key.get_access_key_id(), key.get_access_key_secret())
    return oss2.Bucket(
        auth, oss2_bucket.endpoint, oss2_bucket.bucket_name, region=REGION
    )


@pytest.mark.server
class TestWithTheRealSdk:
    def test_initiate_upload_list_and_complete_make_one_object(self, sdk_bucket):
        datas = [os.urandom(PART), os.urandom(PART + 7), b"the last part is small"]
        upload_id = sdk_bucket.init_multipart_upload(
            "big/file.bin", headers={"Content-Type": "video/mp4", "x-oss-meta-a": "b"}
        ).upload_id
        infos = upload_parts(sdk_bucket, "big/file.bin", upload_id, *datas)

        listed = sdk_bucket.list_parts("big/file.bin", upload_id)
        assert [(p.part_number, p.etag, p.size) for p in listed.parts] == [
            (n, hashlib.md5(d).hexdigest().upper(), len(d))
            for n, d in enumerate(datas, start=1)
        ]
        result = sdk_bucket.complete_multipart_upload("big/file.bin", upload_id, infos)

        whole = b"".join(datas)
        assert result.etag == multipart_etag(*datas)
        assert result.crc == crc64(whole)  # oss2 also checked it against the parts'
        got = sdk_bucket.get_object("big/file.bin")
        assert got.read() == whole
        assert got.etag == multipart_etag(*datas)
        assert got.headers["Content-Type"] == "video/mp4"
        assert got.headers["x-oss-meta-a"] == "b"
        assert got.headers["x-oss-object-type"] == "Multipart"
        assert [o.etag for o in oss2.ObjectIterator(sdk_bucket)] == [result.etag]
        assert list(oss2.MultipartUploadIterator(sdk_bucket)) == []

    def test_resumable_upload_and_download_of_25_mib_round_trip(
        self, sdk_bucket, tmp_path
    ):
        data = os.urandom(25 * MIB)
        source, copy = tmp_path / "source.bin", tmp_path / "copy.bin"
        source.write_bytes(data)

        oss2.resumable_upload(
            sdk_bucket,
            "movie.bin",
            str(source),
            store=oss2.ResumableStore(root=str(tmp_path)),
            multipart_threshold=10 * MIB,
            part_size=10 * MIB,
            num_threads=2,
        )
        oss2.resumable_download(
            sdk_bucket,
            "movie.bin",
            str(copy),
            store=oss2.ResumableDownloadStore(root=str(tmp_path)),
            multiget_threshold=10 * MIB,
            part_size=10 * MIB,
            num_threads=2,
        )

        head = sdk_bucket.head_object("movie.bin")
        assert head.etag.endswith("-3")  # three parts: 10 + 10 + 5 MiB
        assert head.server_crc == crc64(data)
        assert copy.read_bytes() == data

    def test_abort_ends_the_upload_and_nothing_is_stored(self, sdk_bucket):
        upload_id = sdk_bucket.init_multipart_upload("gone.bin").upload_id
        upload_parts(sdk_bucket, "gone.bin", upload_id, os.urandom(PART))

        assert sdk_bucket.abort_multipart_upload("gone.bin", upload_id).status == 204

        with pytest.raises(oss2.exceptions.NoSuchUpload):
            sdk_bucket.list_parts("gone.bin", upload_id)
        with pytest.raises(oss2.exceptions.NoSuchUpload):
            sdk_bucket.abort_multipart_upload("gone.bin", upload_id)
        assert list(oss2.MultipartUploadIterator(sdk_bucket)) == []
        assert not sdk_bucket.object_exists("gone.bin")

    def test_parts_are_invisible_until_complete_and_the_old_object_stays_whole(
        self, sdk_bucket
    ):
        sdk_bucket.put_object("report.pdf", b"the old report")
        upload_id = sdk_bucket.init_multipart_upload("report.pdf").upload_id
        infos = upload_parts(
            sdk_bucket, "report.pdf", upload_id, os.urandom(PART), b"new"
        )
        upload_parts(
            sdk_bucket, "draft.pdf", sdk_initiate(sdk_bucket, "draft.pdf"), b"x"
        )

        assert sdk_bucket.get_object("report.pdf").read() == b"the old report"
        assert [o.key for o in oss2.ObjectIterator(sdk_bucket)] == ["report.pdf"]
        assert not sdk_bucket.object_exists("draft.pdf")
        assert sdk_bucket.head_object("report.pdf").content_length == 14

        sdk_bucket.complete_multipart_upload("report.pdf", upload_id, infos)

        assert sdk_bucket.head_object("report.pdf").content_length == PART + 3

    @pytest.mark.parametrize(
        ("change", "code"),
        [
            ("wrong etag", "InvalidPart"),
            ("missing part", "InvalidPart"),
            ("small middle part", "EntityTooSmall"),
        ],
    )
    def test_a_refused_complete_stores_nothing_and_the_upload_goes_on(
        self, sdk_bucket, change, code
    ):
        sdk_bucket.put_object("video.mp4", b"previous")
        upload_id = sdk_bucket.init_multipart_upload("video.mp4").upload_id
        first, middle = os.urandom(PART), os.urandom(PART)
        if change == "small middle part":
            middle = b"too small to be followed"
        infos = upload_parts(sdk_bucket, "video.mp4", upload_id, first, middle, b"end")
        sent = list(infos)
        if change == "wrong etag":
            sent[1] = PartInfo(2, hashlib.md5(b"other").hexdigest().upper())
        elif change == "missing part":
            sent.append(PartInfo(4, hashlib.md5(b"never sent").hexdigest().upper()))

        with pytest.raises(oss2.exceptions.ServerError) as raised:
            sdk_bucket.complete_multipart_upload("video.mp4", upload_id, sent)

        assert (raised.value.status, raised.value.code) == (400, code)

        assert sdk_bucket.get_object("video.mp4").read() == b"previous"
        assert len(sdk_bucket.list_parts("video.mp4", upload_id).parts) == 3

    def test_a_part_uploaded_again_replaces_the_first(self, sdk_bucket):
        upload_id = sdk_bucket.init_multipart_upload("again.bin").upload_id
        upload_parts(sdk_bucket, "again.bin", upload_id, b"first try")
        infos = upload_parts(sdk_bucket, "again.bin", upload_id, b"second try")

        listed = sdk_bucket.list_parts("again.bin", upload_id).parts
        assert [(p.part_number, p.size) for p in listed] == [(1, 10)]
        sdk_bucket.complete_multipart_upload("again.bin", upload_id, infos)
        assert sdk_bucket.get_object("again.bin").read() == b"second try"

    def test_upload_part_copy_takes_a_range_of_an_object(self, sdk_bucket):
        content = os.urandom(200 * KIB)
        sdk_bucket.put_object("source.bin", content)
        upload_id = sdk_bucket.init_multipart_upload("copy.bin").upload_id
        name = sdk_bucket.bucket_name

        first = sdk_bucket.upload_part_copy(
            name, "source.bin", (0, PART - 1), "copy.bin", upload_id, 1
        )
        rest = sdk_bucket.upload_part_copy(
            name, "source.bin", (PART, None), "copy.bin", upload_id, 2
        )

        assert first.etag == hashlib.md5(content[:PART]).hexdigest().upper()
        sdk_bucket.complete_multipart_upload(
            "copy.bin", upload_id, [PartInfo(1, first.etag), PartInfo(2, rest.etag)]
        )
        assert sdk_bucket.get_object("copy.bin").read() == content

    def test_complete_all_takes_every_part_in_order(self, sdk_bucket):
        upload_id = sdk_bucket.init_multipart_upload("all.bin").upload_id
        datas = [os.urandom(PART), b"tail"]
        # Uploaded out of order: the object is still in part-number order.
        sdk_bucket.upload_part("all.bin", upload_id, 2, datas[1])
        sdk_bucket.upload_part("all.bin", upload_id, 1, datas[0])

        result = sdk_bucket.complete_multipart_upload(
            "all.bin", upload_id, None, headers={"x-oss-complete-all": "yes"}
        )

        assert result.etag == multipart_etag(*datas)
        assert sdk_bucket.get_object("all.bin").read() == b"".join(datas)

    def test_list_multipart_uploads_by_prefix_delimiter_and_markers(self, sdk_bucket):
        ids = {key: sdk_initiate(sdk_bucket, key) for key in ("a/1", "a/2", "b", "c d")}
        twice = sdk_initiate(sdk_bucket, "b")

        listed = list(
            oss2.MultipartUploadIterator(sdk_bucket, delimiter="/", max_uploads=2)
        )
        assert [(u.key, u.upload_id if not u.is_prefix() else "") for u in listed] == [
            ("a/", ""),
            *sorted([("b", ids["b"]), ("b", twice)]),
            ("c d", ids["c d"]),
        ]
        under_a = sdk_bucket.list_multipart_uploads(prefix="a/")
        assert [u.key for u in under_a.upload_list] == ["a/1", "a/2"]
        first_b = min(ids["b"], twice)
        after = sdk_bucket.list_multipart_uploads(
            key_marker="b", upload_id_marker=first_b
        )
        assert [(u.key, u.upload_id) for u in after.upload_list] == [
            ("b", max(ids["b"], twice)),
            ("c d", ids["c d"]),
        ]
        assert [
            u.key for u in sdk_bucket.list_multipart_uploads(key_marker="b").upload_list
        ] == ["c d"]

    def test_keys_with_control_characters_list_url_encoded(self, sdk_bucket):
        key = "odd\x01 name/ü.bin"
        upload_id = sdk_initiate(sdk_bucket, key)

        listed = sdk_bucket.list_multipart_uploads()  # oss2 asks encoding-type=url

        assert [(u.key, u.upload_id) for u in listed.upload_list] == [(key, upload_id)]

    def test_a_bucket_with_an_upload_in_progress_is_not_empty(self, sdk_bucket):
        upload_id = sdk_initiate(sdk_bucket, "pending.bin")

        with pytest.raises(oss2.exceptions.BucketNotEmpty):
            sdk_bucket.delete_bucket()

        sdk_bucket.abort_multipart_upload("pending.bin", upload_id)
        assert sdk_bucket.delete_bucket().status == 204


# -- the answers, through Django's test client ---------------------------------------------


@pytest.fixture
def send(alice_signed_client, bucket):
    """alice's signed requests on alice-bucket: send(method, key, params=, ...)."""

    def request(method, key="", **kwargs):
        return alice_signed_client(method, "alice-bucket", key, **kwargs)

    return request


def initiate(send, key="big.bin", params=None, headers=None):
    response = send(
        "POST", key, params={"uploads": "", **(params or {})}, headers=headers
    )
    assert response.status_code == 200, response.content
    return ET.fromstring(response.content).findtext("UploadId")


def put_part(send, key, upload_id, number, data, headers=None):
    return send(
        "PUT",
        key,
        params={"uploadId": upload_id, "partNumber": str(number)},
        body=data,
        headers={"Content-Type": "application/octet-stream", **(headers or {})},
    )


def complete_document(*parts):
    """CompleteMultipartUpload XML listing (number, data-or-etag) as given."""
    rows = "".join(
        f"<Part><PartNumber>{number}</PartNumber><ETag>"
        f'"{data if isinstance(data, str) else hashlib.md5(data).hexdigest().upper()}"'
        "</ETag></Part>"
        for number, data in parts
    )
    return f"<CompleteMultipartUpload>{rows}</CompleteMultipartUpload>".encode()


def complete(send, key, upload_id, body=b"", params=None, headers=None):
    return send(
        "POST",
        key,
        params={"uploadId": upload_id, **(params or {})},
        body=body,
        headers=headers,
    )


def part_files(settings):
    root = settings.DATA_DIR / "parts"
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


@pytest.mark.django_db
class TestAnswers:
    def test_an_upload_id_is_32_upper_case_hex_digits_and_unguessable(self, send):
        ids = {initiate(send) for _ in range(3)}

        assert len(ids) == 3
        assert all(len(i) == 32 and i == i.upper() and int(i, 16) for i in ids)

    def test_initiate_answers_bucket_key_and_upload_id_url_encoded_if_asked(self, send):
        response = send(
            "POST", "a b/ü.bin", params={"uploads": "", "encoding-type": "url"}
        )

        root = ET.fromstring(response.content)
        assert root.tag == "InitiateMultipartUploadResult"
        assert [child.tag for child in root] == [
            "EncodingType",
            "Bucket",
            "Key",
            "UploadId",
        ]
        assert root.findtext("Key") == "a%20b/%C3%BC.bin"
        assert root.findtext("Bucket") == "alice-bucket"

    def test_part_answer_has_etag_crc_and_content_md5(self, send):
        upload_id = initiate(send)

        response = put_part(send, "big.bin", upload_id, 1, b"part one")

        assert response.status_code == 200
        assert response["ETag"] == f'"{hashlib.md5(b"part one").hexdigest().upper()}"'
        assert response["x-oss-hash-crc64ecma"] == str(crc64(b"part one"))
        assert response["Content-MD5"] == content_md5(b"part one")

    @pytest.mark.parametrize("number", ["0", "10001", "9" * 5000, "-1", "1.5", "", "٣"])
    def test_a_part_number_outside_1_to_10000_is_invalid_argument(self, send, number):
        upload_id = initiate(send)

        response = put_part(send, "big.bin", upload_id, number, b"data")

        assert (response.status_code, error_code(response)) == (400, "InvalidArgument")
        assert not UploadedPart.objects.exists()

    def test_a_part_with_a_wrong_content_md5_is_not_kept(self, send, settings):
        upload_id = initiate(send)

        response = put_part(
            send, "big.bin", upload_id, 1, b"data", {"Content-MD5": content_md5(b"x")}
        )

        assert error_code(response) == "InvalidDigest"
        assert not UploadedPart.objects.exists()
        assert part_files(settings) == []
        assert list(settings.OBJECT_TMP_DIR.iterdir()) == []

    def test_an_upload_is_its_buckets_and_keys_alone(
        self, send, alice_signed_client, bob, photos
    ):
        theirs = Bucket.objects.create(owner=bob, name="bob-bucket")
        bobs_upload = MultipartUpload.objects.create(
            bucket=theirs, key="big.bin", upload_id=MultipartUpload.new_upload_id()
        )
        mine = initiate(send)

        for bucket_name, key, upload_id in [
            ("alice-bucket", "big.bin", bobs_upload.upload_id),  # another user's
            ("alice-photos", "big.bin", mine),  # another bucket of alice's
            ("alice-bucket", "other.bin", mine),  # another key
            ("alice-bucket", "big.bin", mine.lower()),  # not the id
        ]:
            for method, body in [
                ("PUT", b"data"),
                ("GET", b""),
                ("POST", b""),
                ("DELETE", b""),
            ]:
                params = {"uploadId": upload_id}
                if method == "PUT":
                    params["partNumber"] = "1"
                response = alice_signed_client(
                    method, bucket_name, key, params=params, body=body
                )
                assert (response.status_code, error_code(response)) == (
                    404,
                    "NoSuchUpload",
                ), (bucket_name, key, method)
        assert not UploadedPart.objects.exists()
        assert MultipartUpload.objects.count() == 2

    def test_only_the_bucket_owner_uses_multipart(self, bob_client, send):
        upload_id = initiate(send)

        for response in [
            bob_client.post("/alice-bucket/big.bin?uploads"),
            bob_client.get(f"/alice-bucket/big.bin?uploadId={upload_id}"),
            bob_client.get("/alice-bucket/?uploads"),
            bob_client.delete(f"/alice-bucket/big.bin?uploadId={upload_id}"),
        ]:
            assert error_code(response) == "AccessDenied"

    @pytest.mark.parametrize(
        ("listed", "code"),
        [
            ([(2, "P2"), (1, "P1")], "InvalidPartOrder"),
            ([(1, "P1"), (1, "P1")], "InvalidPartOrder"),
            ([(1, "P1"), (3, "P2")], "InvalidPart"),
            ([(1, "P1"), (2, "0" * 32)], "InvalidPart"),
            ([(1, "P1"), (2, "P2"), (3, "P3")], "EntityTooSmall"),
        ],
    )
    def test_complete_refusals_store_nothing(self, send, put_object, listed, code):
        put_object(Bucket.objects.get(name="alice-bucket"), "big.bin", b"previous")
        upload_id = initiate(send)
        datas = {"P1": os.urandom(PART), "P2": b"small", "P3": b"end"}
        for number, name in enumerate(datas, start=1):
            put_part(send, "big.bin", upload_id, number, datas[name])
        document = complete_document(*((n, datas.get(ref, ref)) for n, ref in listed))

        response = complete(send, "big.bin", upload_id, document)

        assert (response.status_code, error_code(response)) == (400, code)
        assert StoredObject.objects.get(key="big.bin").size == len(b"previous")
        assert UploadedPart.objects.count() == 3

    @pytest.mark.parametrize(
        "document",
        [
            b"not xml",
            b"<CompleteMultipartUpload/>",
            b"<Other><Part><PartNumber>1</PartNumber><ETag>x</ETag></Part></Other>",
            b"<CompleteMultipartUpload><Part><PartNumber>one</PartNumber>"
            b"<ETag>x</ETag></Part></CompleteMultipartUpload>",
            b"<CompleteMultipartUpload><Part><PartNumber>"
            + b"9" * 5000
            + b"</PartNumber><ETag>x</ETag></Part></CompleteMultipartUpload>",
            b"<CompleteMultipartUpload><Part><PartNumber>1</PartNumber></Part>"
            b"</CompleteMultipartUpload>",
        ],
    )
    def test_a_malformed_complete_document_is_malformed_xml(self, send, document):
        upload_id = initiate(send)
        put_part(send, "big.bin", upload_id, 1, b"data")

        response = complete(send, "big.bin", upload_id, document)

        assert (response.status_code, error_code(response)) == (400, "MalformedXML")
        assert not StoredObject.objects.exists()

    def test_complete_answers_location_bucket_key_etag_and_removes_the_parts(
        self, send, settings, django_capture_on_commit_callbacks
    ):
        key = "dir/a b+ü.bin"
        upload_id = initiate(send, key)
        first, last = os.urandom(PART), b"last"
        put_part(send, key, upload_id, 1, first)
        put_part(send, key, upload_id, 2, last)
        assert len(part_files(settings)) == 2

        with django_capture_on_commit_callbacks(execute=True):
            response = complete(
                send,
                key,
                upload_id,
                complete_document((1, first), (2, last)),
                params={"encoding-type": "url"},
            )

        assert response.status_code == 200, response.content
        root = ET.fromstring(response.content)
        assert {child.tag: child.text for child in root} == {
            "EncodingType": "url",
            "Location": "http://testserver/alice-bucket/dir/a%20b%2B%C3%BC.bin",
            "Bucket": "alice-bucket",
            "Key": "dir/a%20b%2B%C3%BC.bin",
            "ETag": f'"{multipart_etag(first, last)}"',
        }
        assert response["ETag"] == f'"{multipart_etag(first, last)}"'
        assert response["x-oss-hash-crc64ecma"] == str(crc64(first + last))
        obj = StoredObject.objects.get(key=key)
        assert (obj.object_type, obj.size, obj.md5) == (
            "Multipart",
            PART + 4,
            hashlib.md5(first + last).hexdigest(),
        )
        assert not MultipartUpload.objects.exists()
        assert part_files(settings) == []

    def test_a_plain_put_over_a_multipart_object_has_a_plain_etag_again(self, send):
        upload_id = initiate(send)
        put_part(send, "big.bin", upload_id, 1, b"one part")
        complete(send, "big.bin", upload_id, complete_document((1, b"one part")))
        assert StoredObject.objects.get(key="big.bin").etag.endswith('-1"')

        send("PUT", "big.bin", body=b"plain")

        obj = StoredObject.objects.get(key="big.bin")
        assert obj.etag == f'"{hashlib.md5(b"plain").hexdigest().upper()}"'
        assert obj.object_type == "Normal"

    def test_complete_all_with_a_body_is_invalid_argument(self, send):
        upload_id = initiate(send)
        put_part(send, "big.bin", upload_id, 1, b"data")

        response = complete(
            send,
            "big.bin",
            upload_id,
            complete_document((1, b"data")),
            headers={"x-oss-complete-all": "yes"},
        )

        assert (response.status_code, error_code(response)) == (400, "InvalidArgument")
        assert not StoredObject.objects.exists()

    def test_list_parts_pages_by_max_parts_and_part_number_marker(self, send):
        upload_id = initiate(send, "k")
        for number in (1, 3, 6, 7):
            put_part(send, "k", upload_id, number, f"part {number}".encode())

        def page(**params):
            response = send("GET", "k", params={"uploadId": upload_id, **params})
            root = ET.fromstring(response.content)
            numbers = [int(p.findtext("PartNumber")) for p in root.findall("Part")]
            return (
                numbers,
                root.findtext("NextPartNumberMarker"),
                root.findtext("IsTruncated"),
            )

        assert page(**{"max-parts": "2"}) == ([1, 3], "3", "true")
        assert page(**{"max-parts": "2", "part-number-marker": "3"}) == (
            [6, 7],
            "7",
            "false",
        )
        assert page(**{"part-number-marker": "7"}) == ([], "", "false")

    @pytest.mark.parametrize(
        ("name", "value"),
        [("max-parts", "0"), ("max-parts", "1001"), ("part-number-marker", "9" * 5000)],
    )
    def test_hostile_list_parts_numbers_are_invalid_argument(self, send, name, value):
        upload_id = initiate(send)

        response = send("GET", "big.bin", params={"uploadId": upload_id, name: value})

        assert (response.status_code, error_code(response)) == (400, "InvalidArgument")

    def test_list_parts_has_every_field_oss2_reads(self, send):
        upload_id = initiate(send, "a b")
        put_part(send, "a b", upload_id, 1, b"data")

        response = send(
            "GET", "a b", params={"uploadId": upload_id, "encoding-type": "url"}
        )

        root = ET.fromstring(response.content)
        assert root.tag == "ListPartsResult"
        assert root.findtext("Key") == "a%20b"
        assert root.findtext("UploadId") == upload_id
        part = {child.tag: child.text for child in root.find("Part")}
        assert part.keys() == {
            "PartNumber",
            "LastModified",
            "ETag",
            "HashCrc64ecma",
            "Size",
        }
        assert (part["ETag"], part["Size"]) == (
            f'"{hashlib.md5(b"data").hexdigest().upper()}"',
            "4",
        )

    def test_sequential_is_a_parameter_of_initiate_only(self, send):
        assert initiate(send, params={"sequential": ""})

        response = send("POST", "big.bin", params={"sequential": ""})

        assert (response.status_code, error_code(response)) == (400, "InvalidArgument")

    def test_upload_part_copy_of_a_range_past_the_end_is_invalid_range(
        self, send, put_object, bucket
    ):
        put_object(bucket, "source.bin", b"0123456789")
        upload_id = initiate(send)

        response = send(
            "PUT",
            "big.bin",
            params={"uploadId": upload_id, "partNumber": "1"},
            headers={
                "x-oss-copy-source": "/alice-bucket/source.bin",
                "x-oss-copy-source-range": "bytes=10-20",
            },
        )

        assert (response.status_code, error_code(response)) == (416, "InvalidRange")
        assert not UploadedPart.objects.exists()

    def test_upload_part_copy_answers_copy_part_result(self, send, put_object, bucket):
        put_object(bucket, "source.bin", b"0123456789")
        upload_id = initiate(send)

        response = send(
            "PUT",
            "big.bin",
            params={"uploadId": upload_id, "partNumber": "2"},
            headers={
                "x-oss-copy-source": "/alice-bucket/source.bin",
                "x-oss-copy-source-range": "bytes=2-5",
            },
        )

        root = ET.fromstring(response.content)
        assert root.tag == "CopyPartResult"
        assert root.findtext("ETag") == f'"{hashlib.md5(b"2345").hexdigest().upper()}"'
        assert root.findtext("LastModified").endswith(".000Z")
        part = UploadedPart.objects.get()
        assert (part.part_number, part.size) == (2, 4)

    def test_the_sweep_aborts_old_uploads_and_removes_their_parts(
        self, send, settings, django_capture_on_commit_callbacks
    ):
        old, fresh = initiate(send, "old.bin"), initiate(send, "fresh.bin")
        put_part(send, "old.bin", old, 1, b"old part")
        put_part(send, "fresh.bin", fresh, 1, b"fresh part")
        MultipartUpload.objects.filter(upload_id=old).update(
            initiated=timezone.now() - datetime.timedelta(days=8)
        )

        with django_capture_on_commit_callbacks(execute=True):
            removed = sweep_once()

        assert removed[3:] == (1, 0)
        assert list(MultipartUpload.objects.values_list("upload_id", flat=True)) == [
            fresh
        ]
        assert [p.parent.name for p in part_files(settings)] == [fresh]
        assert body_of(send("GET", "fresh.bin", params={"uploadId": fresh}))

    def test_max_age_is_a_setting(
        self, send, settings, django_capture_on_commit_callbacks
    ):
        initiate(send)
        settings.MULTIPART_MAX_AGE_SECONDS = 0

        with django_capture_on_commit_callbacks(execute=True):
            assert sweep_once()[3] == 1

        assert not MultipartUpload.objects.exists()

    def test_part_files_no_row_names_are_swept_once_old(self, send, settings):
        upload_id = initiate(send)
        put_part(send, "big.bin", upload_id, 1, b"kept")
        # A crash between a part's rename and its row; an upload that ended meanwhile.
        stray = settings.DATA_DIR / "parts" / upload_id / "2-crashed"
        stray.write_bytes(b"no row")
        ended = settings.DATA_DIR / "parts" / ("F" * 32)
        ended.mkdir()
        (ended / "1-left").write_bytes(b"no upload")
        young = settings.DATA_DIR / "parts" / upload_id / "3-being-recorded"
        young.write_bytes(b"its row is on the way")
        long_ago = 2 * parts.ORPHAN_GRACE_SECONDS
        for path in (stray, ended, ended / "1-left"):
            os.utime(path, (os.path.getmtime(path) - long_ago,) * 2)

        assert parts.sweep_orphan_part_files() == 2

        assert not stray.exists()
        assert not ended.exists()
        kept = UploadedPart.objects.get()
        left = {str(p.relative_to(parts.parts_root())) for p in part_files(settings)}
        assert left == {kept.file, f"{upload_id}/3-being-recorded"}

    def test_a_part_whose_upload_ended_meanwhile_is_no_such_upload(
        self, send, settings
    ):
        upload = MultipartUpload.objects.get(upload_id=initiate(send))
        MultipartUpload.objects.filter(pk=upload.pk).delete()
        with ObjectWriter() as writer:
            writer.write(b"late part")

            with pytest.raises(parts.UploadGone):
                parts.save_part(upload, 1, writer)

        assert part_files(settings) == []

    def test_the_multipart_etag_is_the_md5_of_the_part_md5s(self):
        rows = [UploadedPart(md5=hashlib.md5(d).hexdigest()) for d in (b"a", b"b")]

        assert parts.multipart_etag(rows) == multipart_etag(b"a", b"b")
