"""The SeaweedFS fixture is a real private S3 bucket: what the MirrorAuth (S3V4)
tests rely on when they fetch missing objects from it.

Signed GETs here are signed the way the server signs origin requests: botocore's
SigV4 signers on a plain `requests` GET. Both pass on SeaweedFS; only S3SigV4Auth
(what origin/origin_auth.py uses) is right for AWS S3 itself: SigV4Auth quotes the
already-encoded path again ("a%20b" is signed as "a%2520b"), the double encoding
other AWS services want, which SeaweedFS tolerates and S3 does not.
"""

import uuid
from urllib.parse import quote
from xml.etree import ElementTree

import pytest
import requests
from botocore.auth import S3SigV4Auth, SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from tests.signing import KeyPair


def signed_get(s3, bucket, key, key_pair, signer=SigV4Auth):
    """GET an object with a SigV4 Authorization header from botocore's `signer`.

    The key goes into the path percent-encoded once, "/" kept (S3's UriEncode);
    requests sends those escapes as they are.
    """
    url = f"{s3.endpoint}/{bucket}/{quote(key, safe='/~')}"
    request = AWSRequest(
        method="GET", url=url, headers={"x-amz-content-sha256": "UNSIGNED-PAYLOAD"}
    )
    credentials = Credentials(key_pair.key_id, key_pair.secret)
    signer(credentials, "s3", s3.region).add_auth(request)
    return requests.get(url, headers=dict(request.headers), timeout=10)


def error_code(response):
    """The <Code> of an S3 XML error body."""
    return ElementTree.fromstring(response.content).findtext("Code")


SIGNERS = pytest.mark.parametrize("signer", [SigV4Auth, S3SigV4Auth])


@pytest.fixture(scope="module")
def bucket(seaweed_s3):
    name = f"origin-{uuid.uuid4().hex[:12]}"
    seaweed_s3.create_bucket(name)
    return name


@pytest.fixture
def stored(seaweed_s3, bucket):
    """An object the admin put: (key, bytes)."""
    key, body = f"{uuid.uuid4().hex}/photo.jpg", b"\xff\xd8 real bytes \x00\x01"
    seaweed_s3.put(bucket, key, body, ContentType="image/jpeg")
    return key, body


def test_an_object_put_by_the_admin_reads_back_with_its_type_and_metadata(
    seaweed_s3, bucket
):
    seaweed_s3.put(
        bucket,
        "docs/report.csv",
        b"a,b\n1,2\n",
        ContentType="text/csv",
        Metadata={"origin-owner": "alice"},
    )

    answer = seaweed_s3.client().get_object(Bucket=bucket, Key="docs/report.csv")

    assert answer["Body"].read() == b"a,b\n1,2\n"
    assert answer["ContentType"] == "text/csv"
    assert answer["Metadata"] == {"origin-owner": "alice"}


def test_an_anonymous_get_is_refused(seaweed_s3, bucket, stored):
    key, _ = stored

    answer = requests.get(f"{seaweed_s3.endpoint}/{bucket}/{key}", timeout=10)

    assert answer.status_code == 403
    assert error_code(answer) == "AccessDenied"


def test_an_anonymous_get_of_a_missing_key_is_refused_not_answered_404(
    seaweed_s3, bucket
):
    answer = requests.get(f"{seaweed_s3.endpoint}/{bucket}/no-such-key", timeout=10)

    assert answer.status_code == 403


def test_a_get_signed_with_a_wrong_secret_is_refused(seaweed_s3, bucket, stored):
    key, _ = stored
    wrong = KeyPair(seaweed_s3.admin_key.key_id, "not-the-secret")

    answer = signed_get(seaweed_s3, bucket, key, wrong)

    assert answer.status_code == 403
    assert error_code(answer) == "SignatureDoesNotMatch"


@SIGNERS
def test_a_get_signed_by_botocore_returns_the_object(
    seaweed_s3, bucket, stored, signer
):
    key, body = stored

    answer = signed_get(seaweed_s3, bucket, key, seaweed_s3.admin_key, signer)

    assert answer.status_code == 200
    assert answer.content == body
    assert answer.headers["Content-Type"] == "image/jpeg"


def test_a_signed_get_of_a_missing_key_is_404_no_such_key(seaweed_s3, bucket):
    answer = signed_get(seaweed_s3, bucket, "no-such-key", seaweed_s3.admin_key)

    assert answer.status_code == 404
    assert error_code(answer) == "NoSuchKey"


@SIGNERS
def test_a_key_with_spaces_and_non_ascii_reads_back_through_a_signed_get(
    seaweed_s3, bucket, signer
):
    key = f"{uuid.uuid4().hex}/a b/ü+ß (1).txt"
    seaweed_s3.put(bucket, key, "grüße".encode())

    answer = signed_get(seaweed_s3, bucket, key, seaweed_s3.admin_key, signer)

    assert answer.status_code == 200
    assert answer.content == "grüße".encode()


def test_the_read_only_key_can_read(seaweed_s3, bucket, stored):
    key, body = stored

    answer = signed_get(seaweed_s3, bucket, key, seaweed_s3.reader_key)

    assert answer.status_code == 200
    assert answer.content == body


def test_the_read_only_key_cannot_put(seaweed_s3, bucket):
    reader = seaweed_s3.client(seaweed_s3.reader_key)

    with pytest.raises(reader.exceptions.ClientError) as refused:
        reader.put_object(Bucket=bucket, Key="written-by-reader", Body=b"x")

    assert refused.value.response["Error"]["Code"] == "AccessDenied"
    assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
