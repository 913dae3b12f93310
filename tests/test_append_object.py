"""AppendObject (POST ?append&position=N) in process, on a public-read-write bucket."""

import hashlib

import pytest

from buckets.models import StoredObject
from buckets.storage import ObjectChanged, ObjectWriter, commit_object
from tests.signing import content_md5

pytestmark = pytest.mark.django_db


def append(client, position, data, **headers):
    return client.post(
        f"/open-bucket/log.txt?append&position={position}",
        data=data,
        content_type="text/plain",
        headers=headers,
    )


def test_appends_build_the_object_and_report_the_next_position(client, open_bucket):
    assert append(client, 0, b"abc")["x-oss-next-append-position"] == "3"
    response = append(client, 3, b"def")

    assert response.status_code == 200
    assert response["x-oss-next-append-position"] == "6"
    obj = StoredObject.objects.get(bucket=open_bucket, key="log.txt")
    assert (obj.size, obj.md5, obj.object_type, obj.content_type) == (
        6,
        hashlib.md5(b"abcdef").hexdigest(),
        "Appendable",
        "text/plain",
    )


def test_a_wrong_position_is_refused_and_changes_nothing(client, open_bucket):
    append(client, 0, b"abc")

    response = append(client, 1, b"zzz")

    assert response.status_code == 409
    assert b"<Code>PositionNotEqualToLength</Code>" in response.content
    assert response["x-oss-next-append-position"] == "3"
    assert StoredObject.objects.get(key="log.txt").size == 3


def test_a_normal_object_is_not_appendable(client, open_bucket, put_object):
    put_object(open_bucket, "log.txt", b"normal")

    response = append(client, 6, b"more")

    assert response.status_code == 409
    assert b"<Code>ObjectNotAppendable</Code>" in response.content


def test_a_wrong_content_md5_for_the_appended_part_is_invalid_digest(
    client, open_bucket
):
    append(client, 0, b"abc")

    response = append(
        client,
        3,
        b"def",
        **{"Content-MD5": content_md5(b"xyz")},
    )

    assert response.status_code == 400
    assert b"<Code>InvalidDigest</Code>" in response.content
    assert StoredObject.objects.get(key="log.txt").size == 3


def test_a_position_that_is_not_a_number_is_invalid_argument(client, open_bucket):
    response = client.post(
        "/open-bucket/log.txt?append&position=x", data=b"a", content_type="text/plain"
    )

    assert response.status_code == 400
    assert b"<ArgumentName>position</ArgumentName>" in response.content


def test_a_write_based_on_an_outdated_object_does_not_land(open_bucket, put_object):
    # Two appends at the same position: the second must not erase the first.
    first = put_object(open_bucket, "log.txt", b"v1")
    put_object(open_bucket, "log.txt", b"v2")

    with ObjectWriter() as writer:
        writer.write(b"v1+late")
        with pytest.raises(ObjectChanged):
            commit_object(open_bucket, "log.txt", writer, expect_blob=first.blob)

    assert StoredObject.objects.get(key="log.txt").size == 2
