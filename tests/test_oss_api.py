"""The real SDKs (oss2 V1 and V4, alibabacloud-oss-v2) against the real gunicorn server.

The server runs as deployed: each module run (each xdist worker) starts gunicorn on
its own DATA_DIR. Every test makes its own buckets (uuid names), so tests are
independent.
"""

import hashlib
import json
import uuid
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from urllib.parse import parse_qsl, quote, urlencode, urlsplit

import alibabacloud_oss_v2 as oss_v2
import oss2
import pytest
import requests
from oss2.models import (
    REDIRECT_TYPE_EXTERNAL,
    REDIRECT_TYPE_MIRROR,
    BucketWebsite,
    Condition,
    ConditionInlcudeHeader,
    MirrorHeadersSet,
    Redirect,
    RedirectMirrorHeaders,
    RoutingRule,
)

from tests.oss_responses import error_code
from tests.server_process import GunicornServer
from tests.signing import REGION, KeyPair, content_md5, oss2_auth, sign_request

pytestmark = pytest.mark.server

PASSWORD = "oss-api-test-password"
SPECIAL_PREFIX = "1~!@#$%^&*()-_=+|\\[]{}<>,./?`~"


@dataclass
class OssServer:
    gunicorn: GunicornServer
    alice: KeyPair
    bob: KeyPair

    @property
    def url(self):
        return self.gunicorn.url

    def new_key(self, username):
        output = self.gunicorn.manage("create_access_key", username)
        return KeyPair.from_command_output(output)

    def shell_json(self, script):
        """Run Python in `manage.py shell` on the server's DATA_DIR; it prints JSON=<value>."""
        output = self.gunicorn.manage("shell", "-c", script)
        line = next(line for line in output.splitlines() if line.startswith("JSON="))
        return json.loads(line.removeprefix("JSON="))


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    gunicorn = GunicornServer(
        tmp_path_factory.mktemp("oss-api-data"),
        ORIGIN_ALLOW_PRIVATE="1",  # the mirror test's origin is on loopback
        ORIGIN_TIMEOUT_SECONDS="5",
    )
    keys = gunicorn.add_users(("alice", "bob"), PASSWORD)
    gunicorn.start()
    try:
        yield OssServer(gunicorn, keys["alice"], keys["bob"])
    finally:
        gunicorn.stop()


def unique_name(prefix="b"):
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def oss_bucket(server, auth, name):
    # region only matters to V4; V1 ignores it.
    return oss2.Bucket(auth, server.url, name, region=REGION)


@pytest.fixture(params=["v1", "v4"])
def version(request):
    return request.param


@pytest.fixture
def alice_auth(server, version):
    return oss2_auth(server.alice, version)


@pytest.fixture
def new_bucket(server, alice_auth):
    """Create a fresh bucket of alice's; returns its oss2.Bucket."""

    def create(acl=oss2.BUCKET_ACL_PRIVATE, prefix="b"):
        bucket = oss_bucket(server, alice_auth, unique_name(prefix))
        bucket.create_bucket(acl)
        return bucket

    return create


@pytest.fixture
def bucket(new_bucket):
    return new_bucket()


def signed_request(
    server, account, method, bucket_name, key="", *, params=None, headers=None, data=b""
):
    """A request oss2 refuses to build client-side: signed by oss2's own V1 signer, sent by requests."""
    request = sign_request(
        oss2_auth(account),
        method,
        bucket_name,
        key,
        params=params,
        headers=headers,
        body=data,
        endpoint=server.url,
    )
    return requests.request(
        method,
        request.url,
        params=request.params,
        data=request.data,
        headers=request.headers,
        timeout=10,
    )


# -- buckets ------------------------------------------------------------------------


def test_create_bucket_with_acl_then_read_acl_info_and_location(
    server, alice_auth, version
):
    name = unique_name()
    bucket = oss_bucket(server, alice_auth, name)

    bucket.create_bucket(oss2.BUCKET_ACL_PUBLIC_READ)

    assert bucket.get_bucket_acl().acl == "public-read"
    info = bucket.get_bucket_info()
    assert (info.name, info.acl.grant, info.location) == (
        name,
        "public-read",
        f"oss-{REGION}",
    )
    assert bucket.get_bucket_location().location == f"oss-{REGION}"
    bucket.put_bucket_acl(oss2.BUCKET_ACL_PRIVATE)
    assert bucket.get_bucket_acl().acl == "private"


def test_delete_empty_bucket_then_it_is_gone(bucket):
    assert bucket.delete_bucket().status == 204

    with pytest.raises(oss2.exceptions.NoSuchBucket):
        bucket.get_bucket_info()


def test_deleting_a_non_empty_bucket_is_bucket_not_empty(bucket):
    bucket.put_object("keep.txt", b"x")

    with pytest.raises(oss2.exceptions.BucketNotEmpty) as raised:
        bucket.delete_bucket()

    assert raised.value.status == 409
    assert bucket.get_object("keep.txt").read() == b"x"


def test_list_buckets_with_prefix_marker_and_max_keys(server, alice_auth):
    prefix = unique_name("lb")
    for suffix in ("a", "b", "c"):
        oss_bucket(server, alice_auth, f"{prefix}-{suffix}").create_bucket()
    service = oss2.Service(alice_auth, server.url, region=REGION)

    first = service.list_buckets(prefix=prefix, max_keys=2)
    second = service.list_buckets(prefix=prefix, marker=first.next_marker, max_keys=2)

    assert [b.name for b in first.buckets] == [f"{prefix}-a", f"{prefix}-b"]
    assert (first.is_truncated, first.next_marker) == (True, f"{prefix}-b")
    assert [b.name for b in second.buckets] == [f"{prefix}-c"]
    assert second.is_truncated is False
    assert service.list_buckets(prefix=prefix.upper()).buckets == []  # case-sensitive
    assert [
        b.name for b in oss2.BucketIterator(service, prefix=prefix, max_keys=1)
    ] == [
        f"{prefix}-a",
        f"{prefix}-b",
        f"{prefix}-c",
    ]
    bob_service = oss2.Service(
        oss2.Auth(server.bob.key_id, server.bob.secret), server.url
    )
    assert bob_service.list_buckets(prefix=prefix).buckets == []


@pytest.mark.parametrize(
    "bad_name", ["ab", "Upper-Case", "under_score", "-leading", "x" * 64]
)
def test_bad_bucket_names_are_invalid_bucket_name(server, bad_name):
    # oss2 checks names client-side, so this request is signed and sent by hand.
    response = signed_request(server, server.alice, "PUT", bad_name)

    assert response.status_code == 400
    assert error_code(response) == "InvalidBucketName"
    assert response.headers["x-oss-request-id"]


def test_bucket_names_are_global_across_users(server, bucket):
    bob_bucket = oss_bucket(server, oss2_auth(server.bob, "v1"), bucket.bucket_name)

    with pytest.raises(oss2.exceptions.ServerError) as raised:
        bob_bucket.create_bucket()

    assert (raised.value.status, raised.value.code) == (409, "BucketAlreadyExists")


# -- objects -------------------------------------------------------------------------

TRICKY_KEYS = [
    "folder/sub folder/file name.txt",
    "ünïcødé/日本語 ファイル.txt",
    "odd/a+b=c&d?e#f%20 ~.txt",
]


@pytest.mark.parametrize("key", TRICKY_KEYS)
def test_put_get_head_delete_keys_with_slashes_unicode_and_spaces(bucket, key):
    data = f"contents of {key}".encode()

    put = bucket.put_object(key, data)
    got = bucket.get_object(key)
    head = bucket.head_object(key)

    assert put.etag == hashlib.md5(data).hexdigest().upper()
    assert got.read() == data
    assert head.content_length == len(data)
    assert head.etag == put.etag
    assert bucket.object_exists(key)
    assert [obj.key for obj in oss2.ObjectIterator(bucket)] == [key]
    assert bucket.delete_object(key).status == 204
    assert not bucket.object_exists(key)
    with pytest.raises(oss2.exceptions.NoSuchKey):
        bucket.get_object(key)


def test_put_object_from_a_generator_uploads_chunked(bucket):
    chunks = [b"a" * 70000, b"b" * 5, b"c" * 3]

    bucket.put_object(
        "chunked.bin", iter(chunks)
    )  # no length: Transfer-Encoding chunked

    assert bucket.get_object("chunked.bin").read() == b"".join(chunks)


def test_get_object_with_a_byte_range(bucket):
    bucket.put_object("range.bin", b"0123456789")

    result = bucket.get_object("range.bin", byte_range=(2, 5))

    assert result.status == 206
    assert result.read() == b"2345"
    assert result.content_range == "bytes 2-5/10"


def test_get_object_meta(bucket):
    data = b"meta please"
    bucket.put_object("meta.txt", data)

    meta = bucket.get_object_meta("meta.txt")

    assert meta.content_length == len(data)
    assert meta.etag == hashlib.md5(data).hexdigest().upper()
    assert meta.last_modified > 0


def test_user_metadata_and_content_type_round_trip(bucket):
    bucket.put_object(
        "doc.bin",
        b"{}",
        headers={
            "Content-Type": "application/json",
            "x-oss-meta-Color": "blue",
            "x-oss-meta-owner-name": "alice",
        },
    )

    head = bucket.head_object("doc.bin")

    assert head.content_type == "application/json"
    assert head.headers["x-oss-meta-color"] == "blue"
    assert head.headers["x-oss-meta-owner-name"] == "alice"


def test_response_content_disposition_override(bucket):
    bucket.put_object("report.csv", b"a,b\n")

    result = bucket.get_object(
        "report.csv",
        params={
            "response-content-disposition": 'attachment; filename="q3.csv"',
            "response-content-type": "text/csv",
        },
    )

    assert result.headers["Content-Disposition"] == 'attachment; filename="q3.csv"'
    assert result.headers["Content-Type"] == "text/csv"
    assert result.read() == b"a,b\n"


def test_put_object_with_correct_content_md5_is_stored(bucket):
    data = b"checked bytes"

    bucket.put_object("md5.txt", data, headers={"Content-MD5": content_md5(data)})

    assert bucket.get_object("md5.txt").read() == data


def test_put_object_with_wrong_content_md5_is_invalid_digest_and_stores_nothing(
    bucket,
):
    bucket.put_object("kept.txt", b"original")

    for key in ("new.txt", "kept.txt"):
        with pytest.raises(oss2.exceptions.InvalidDigest):
            bucket.put_object(
                key, b"tampered", headers={"Content-MD5": content_md5(b"other")}
            )

    assert not bucket.object_exists("new.txt")
    assert bucket.get_object("kept.txt").read() == b"original"


def test_oversize_key_is_refused(bucket):
    longest = "k" * 1023
    bucket.put_object(longest, b"ok")

    with pytest.raises(oss2.exceptions.InvalidObjectName):
        bucket.put_object("k" * 1024, b"too long")

    assert [obj.key for obj in oss2.ObjectIterator(bucket)] == [longest]


def test_copy_object_in_the_same_bucket_keeps_metadata(bucket):
    bucket.put_object(
        "src.txt",
        b"copy me",
        headers={"x-oss-meta-tag": "one", "Content-Type": "text/plain"},
    )

    bucket.copy_object(bucket.bucket_name, "src.txt", "dst.txt")

    head = bucket.head_object("dst.txt")
    assert bucket.get_object("dst.txt").read() == b"copy me"
    assert (head.content_type, head.headers["x-oss-meta-tag"]) == ("text/plain", "one")


def test_copy_object_across_buckets_with_metadata_directive_replace(bucket, new_bucket):
    target = new_bucket()
    bucket.put_object(
        "dir/src.txt",
        b"across",
        headers={"x-oss-meta-old": "1", "Content-Type": "text/plain"},
    )

    target.copy_object(
        bucket.bucket_name,
        "dir/src.txt",
        "copied/dst.txt",
        headers={
            "x-oss-metadata-directive": "REPLACE",
            "x-oss-meta-new": "2",
            "Content-Type": "text/x-replaced",
        },
    )

    head = target.head_object("copied/dst.txt")
    assert target.get_object("copied/dst.txt").read() == b"across"
    assert head.content_type == "text/x-replaced"
    assert head.headers["x-oss-meta-new"] == "2"
    assert "x-oss-meta-old" not in head.headers
    assert bucket.object_exists("dir/src.txt")


def test_batch_delete_with_an_empty_key_is_refused_and_deletes_nothing(server, bucket):
    bucket.put_object("a", b"x")
    body = (
        b"<Delete><Quiet>false</Quiet><Object><Key></Key></Object>"
        b"<Object><Key>a</Key></Object></Delete>"
    )

    response = signed_request(
        server,
        server.alice,
        "POST",
        bucket.bucket_name,
        params={"delete": ""},
        headers={"Content-MD5": content_md5(body)},
        data=body,
    )

    assert response.status_code == 400
    assert error_code(response) == "MalformedXML"
    assert bucket.object_exists("a")
    with pytest.raises(oss2.exceptions.OssError) as raised:
        bucket.batch_delete_objects(["", "a"])
    assert raised.value.status == 400
    assert bucket.object_exists("a")


def test_batch_delete_objects(bucket):
    keys = ["one.txt", "two/三.txt", "three four.txt"]
    for key in keys:
        bucket.put_object(key, b"x")
    bucket.put_object("survivor.txt", b"x")

    result = bucket.batch_delete_objects(keys)

    assert sorted(result.deleted_keys) == sorted(keys)
    assert [obj.key for obj in oss2.ObjectIterator(bucket)] == ["survivor.txt"]


# -- listing ---------------------------------------------------------------------------

LISTED_KEYS = ["a.txt", "dir/1.txt", "dir/2.txt", "dir/sub/3.txt", "other/x.txt"]


def test_list_objects_with_delimiter_and_prefix(bucket):
    for key in LISTED_KEYS:
        bucket.put_object(key, b"x")

    top = bucket.list_objects(delimiter="/")
    in_dir = bucket.list_objects(prefix="dir/", delimiter="/")
    top_v2 = bucket.list_objects_v2(delimiter="/")
    in_dir_v2 = bucket.list_objects_v2(prefix="dir/", delimiter="/")

    for listing in (top, top_v2):
        assert [obj.key for obj in listing.object_list] == ["a.txt"]
        assert listing.prefix_list == ["dir/", "other/"]
    for listing in (in_dir, in_dir_v2):
        assert [obj.key for obj in listing.object_list] == ["dir/1.txt", "dir/2.txt"]
        assert listing.prefix_list == ["dir/sub/"]


def test_object_iterators_page_through_25_keys_seven_at_a_time(bucket):
    keys = [f"page/{number:02d}" for number in range(25)]
    for key in keys:
        bucket.put_object(key, b"x")

    first = bucket.list_objects(prefix="page/", max_keys=7)
    second = bucket.list_objects(prefix="page/", marker=first.next_marker, max_keys=7)
    first_v2 = bucket.list_objects_v2(prefix="page/", max_keys=7)
    second_v2 = bucket.list_objects_v2(
        prefix="page/", continuation_token=first_v2.next_continuation_token, max_keys=7
    )
    after = bucket.list_objects_v2(prefix="page/", start_after="page/20")

    assert (first.is_truncated, first.next_marker) == (True, "page/06")
    assert [obj.key for obj in second.object_list] == keys[7:14]
    assert first_v2.is_truncated is True
    assert [obj.key for obj in second_v2.object_list] == keys[7:14]
    assert [obj.key for obj in after.object_list] == keys[21:]
    assert [obj.key for obj in oss2.ObjectIterator(bucket, max_keys=7)] == keys
    assert [obj.key for obj in oss2.ObjectIteratorV2(bucket, max_keys=7)] == keys


def test_listing_with_encoding_type_url_escapes_keys_and_oss2_decodes_them(
    server, bucket
):
    key = "enc/ü space&amp;.txt"
    bucket.put_object(key, b"x")

    raw = signed_request(
        server,
        server.alice,
        "GET",
        bucket.bucket_name,
        params={"encoding-type": "url", "prefix": "enc/"},
    )

    root = ET.fromstring(raw.content)
    assert root.findtext("EncodingType") == "url"
    assert root.findtext("Contents/Key") == quote(key, safe="/")
    assert [obj.key for obj in bucket.list_objects(prefix="enc/").object_list] == [key]
    assert [
        obj.key
        for obj in bucket.list_objects_v2(prefix="enc/", encoding_type="").object_list
    ] == [key]


# -- ACLs and other users -----------------------------------------------------------


def anonymous_get(server, bucket_name, key):
    return requests.get(f"{server.url}/{bucket_name}/{quote(key)}", timeout=10)


def test_public_read_bucket_is_readable_anonymously_but_not_writable(
    server, new_bucket
):
    bucket = new_bucket(oss2.BUCKET_ACL_PUBLIC_READ)
    bucket.put_object("hello.txt", b"public bytes")
    anonymous = oss_bucket(server, oss2.AnonymousAuth(), bucket.bucket_name)

    response = anonymous_get(server, bucket.bucket_name, "hello.txt")

    assert (response.status_code, response.content) == (200, b"public bytes")
    assert [obj.key for obj in anonymous.list_objects().object_list] == ["hello.txt"]
    with pytest.raises(oss2.exceptions.AccessDenied):
        anonymous.put_object("intruder.txt", b"x")
    with pytest.raises(oss2.exceptions.AccessDenied):
        anonymous.delete_object("hello.txt")
    with pytest.raises(oss2.exceptions.AccessDenied):
        anonymous.get_bucket_acl()  # bucket-level operations are the owner's alone


def test_private_bucket_denies_anonymous_reads(server, bucket):
    bucket.put_object("secret.txt", b"private bytes")

    response = anonymous_get(server, bucket.bucket_name, "secret.txt")
    listing = requests.get(f"{server.url}/{bucket.bucket_name}/", timeout=10)

    assert response.status_code == 403
    assert error_code(response) == "AccessDenied"
    assert b"private bytes" not in response.content
    assert listing.status_code == 403


def test_anonymous_put_into_public_read_write_bucket_works(server, new_bucket):
    bucket = new_bucket(oss2.BUCKET_ACL_PUBLIC_READ_WRITE)
    anonymous = oss_bucket(server, oss2.AnonymousAuth(), bucket.bucket_name)

    anonymous.put_object("dropbox/file.txt", b"from anyone")

    assert bucket.get_object("dropbox/file.txt").read() == b"from anyone"
    assert anonymous.delete_object("dropbox/file.txt").status == 204
    assert not bucket.object_exists("dropbox/file.txt")


def test_another_users_bucket_is_access_denied(server, bucket, version):
    bucket.put_object("mine.txt", b"alice's")
    as_bob = oss_bucket(server, oss2_auth(server.bob, version), bucket.bucket_name)

    for attempt in (
        as_bob.get_bucket_info,
        lambda: as_bob.get_object("mine.txt"),
        lambda: as_bob.put_object("bob.txt", b"x"),
        lambda: as_bob.delete_object("mine.txt"),
        as_bob.list_objects,
        as_bob.get_bucket_website,
        as_bob.delete_bucket,
    ):
        with pytest.raises(oss2.exceptions.AccessDenied):
            attempt()

    assert bucket.get_object("mine.txt").read() == b"alice's"
    assert not bucket.object_exists("bob.txt")


# -- credentials and presigned URLs --------------------------------------------------


def test_wrong_secret_is_signature_does_not_match_with_string_to_sign(
    server, bucket, version
):
    wrong = oss2_auth(KeyPair(server.alice.key_id, "not-the-secret"), version)

    with pytest.raises(oss2.exceptions.SignatureDoesNotMatch) as raised:
        oss_bucket(server, wrong, bucket.bucket_name).get_bucket_info()

    error = raised.value
    assert error.status == 403
    string_to_sign = error.details["StringToSign"]
    if version == "v1":
        assert string_to_sign.endswith(f"/{bucket.bucket_name}/?bucketInfo")
    else:
        assert string_to_sign.startswith("OSS4-HMAC-SHA256\n")
    assert error.details["StringToSignBytes"]
    assert server.alice.secret not in str(error.body)
    assert "not-the-secret" not in str(error.body)


def test_unknown_access_key_id_is_invalid_access_key_id(server, bucket, version):
    stranger = oss2_auth(KeyPair("LTAInobodyhasthiskey000", "whatever"), version)

    with pytest.raises(oss2.exceptions.ServerError) as raised:
        oss_bucket(server, stranger, bucket.bucket_name).get_bucket_info()

    assert (raised.value.status, raised.value.code) == (403, "InvalidAccessKeyId")


def test_a_disabled_key_is_invalid_access_key_id(server, bucket, version):
    account = server.new_key("alice")
    as_key = oss_bucket(server, oss2_auth(account, version), bucket.bucket_name)
    as_key.put_object("before.txt", b"works")

    server.shell_json(
        "from buckets.models import AccessKey\n"
        f"print('JSON=' + str(AccessKey.objects.filter(key_id={account.key_id!r}).update(is_active=False)))"
    )

    with pytest.raises(oss2.exceptions.ServerError) as raised:
        as_key.get_object("before.txt")
    assert (raised.value.status, raised.value.code) == (403, "InvalidAccessKeyId")
    assert bucket.get_object("before.txt").read() == b"works"


def test_presigned_url_valid_expired_and_tampered(bucket, version):
    bucket.put_object("shared/file.txt", b"presigned bytes")
    signature_param = "x-oss-signature" if version == "v4" else "Signature"

    valid = requests.get(bucket.sign_url("GET", "shared/file.txt", 60), timeout=10)
    expired = requests.get(bucket.sign_url("GET", "shared/file.txt", -1), timeout=10)
    url = bucket.sign_url("GET", "shared/file.txt", 60)
    parts = urlsplit(url)
    query = dict(parse_qsl(parts.query))
    query[signature_param] = query[signature_param][::-1]
    tampered = requests.get(parts._replace(query=urlencode(query)).geturl(), timeout=10)

    assert (valid.status_code, valid.content) == (200, b"presigned bytes")
    assert (expired.status_code, error_code(expired)) == (403, "AccessDenied")
    assert (tampered.status_code, error_code(tampered)) == (
        403,
        "SignatureDoesNotMatch",
    )
    assert b"presigned bytes" not in expired.content + tampered.content


def test_presigned_put_url_uploads(bucket):
    url = bucket.sign_url("PUT", "upload/by-url.txt", 60)

    response = requests.put(url, data=b"uploaded", timeout=10)

    assert response.status_code == 200
    assert bucket.get_object("upload/by-url.txt").read() == b"uploaded"


def test_secrets_and_signatures_stay_out_of_the_server_log(server, bucket):
    bucket.put_object("logged.txt", b"x")
    url = bucket.sign_url("GET", "logged.txt", 60)
    signature = dict(parse_qsl(urlsplit(url).query)).get("Signature") or dict(
        parse_qsl(urlsplit(url).query)
    ).get("x-oss-signature")
    assert requests.get(url, timeout=10).status_code == 200
    with pytest.raises(oss2.exceptions.SignatureDoesNotMatch):
        oss_bucket(
            server,
            oss2.Auth(server.alice.key_id, "wrong-secret"),
            bucket.bucket_name,
        ).get_object("logged.txt")

    log = server.gunicorn.log.read_text()
    assert f"/{bucket.bucket_name}/logged.txt" in log  # the access log is on
    assert server.alice.secret not in log
    assert signature not in log


# -- website configuration ---------------------------------------------------------


def mirror_rule(number=1, prefix="img/", url="http://origin.example.com/static/"):
    return RoutingRule(
        rule_num=number,
        condition=Condition(
            key_prefix_equals=prefix,
            http_err_code_return_equals=404,
            include_header_list=[ConditionInlcudeHeader("x-client", "mobile")],
        ),
        redirect=Redirect(
            redirect_type=REDIRECT_TYPE_MIRROR,
            mirror_url=url,
            mirror_url_slave="http://backup.example.com/static/",
            mirror_url_probe="http://origin.example.com/health.txt",
            mirror_pass_query_string=True,
            mirror_follow_redirect=False,
            mirror_check_md5=True,
            mirror_headers=RedirectMirrorHeaders(
                pass_all=False,
                pass_list=["aaa-header", "user-agent"],
                remove_list=["bbb-header"],
                set_list=[MirrorHeadersSet("ccc-header", "ccc")],
            ),
        ),
    )


def prefix_redirect_rule(number=2):
    return RoutingRule(
        rule_num=number,
        condition=Condition(key_prefix_equals="docs/", http_err_code_return_equals=404),
        redirect=Redirect(
            redirect_type=REDIRECT_TYPE_EXTERNAL,
            pass_query_string=True,
            proto="https",
            host_name="new.example.org",
            http_redirect_code=302,
            replace_key_prefix_with="manual/",
        ),
    )


def template_redirect_rule(number=3):
    return RoutingRule(
        rule_num=number,
        condition=Condition(
            key_prefix_equals=SPECIAL_PREFIX, http_err_code_return_equals=404
        ),
        redirect=Redirect(
            redirect_type=REDIRECT_TYPE_EXTERNAL,
            pass_query_string=False,
            proto="http",
            host_name="archive.example.org",
            http_redirect_code=307,
            replace_key_with="archive/${key}.html",
        ),
    )


def rule_fields(rule):
    """Everything oss2 parsed from one RoutingRule, as plain values."""
    redirect = dict(vars(rule.redirect))
    headers = redirect.pop("mirror_headers")
    return {
        "rule_num": rule.rule_num,
        "condition": {
            "key_prefix_equals": rule.condition.key_prefix_equals,
            "http_err_code_return_equals": rule.condition.http_err_code_return_equals,
            "include_headers": [
                (header.key, header.equals)
                for header in rule.condition.include_header_list
            ],
        },
        "redirect": redirect,
        "mirror_headers": None
        if headers is None
        else {
            "pass_all": headers.pass_all,
            "pass": headers.pass_list,
            "remove": headers.remove_list,
            "set": [(item.key, item.value) for item in headers.set_list],
        },
    }


def test_put_and_get_bucket_website_round_trips_every_field(bucket):
    bucket.put_bucket_website(
        BucketWebsite(
            "index.html",
            "error.html",
            [mirror_rule(), prefix_redirect_rule(), template_redirect_rule()],
        )
    )

    website = bucket.get_bucket_website()

    assert (website.index_file, website.error_file) == ("index.html", "error.html")
    assert [rule_fields(rule) for rule in website.rules] == [
        {
            "rule_num": 1,
            "condition": {
                "key_prefix_equals": "img/",
                "http_err_code_return_equals": 404,
                "include_headers": [("x-client", "mobile")],
            },
            "redirect": {
                "redirect_type": "Mirror",
                # Mirror rules report PassQueryString equal to MirrorPassQueryString, like OSS.
                "pass_query_string": True,
                "replace_key_with": None,
                "replace_key_prefix_with": None,
                "proto": None,
                "host_name": None,
                "http_redirect_code": None,
                "mirror_url": "http://origin.example.com/static/",
                "mirror_url_slave": "http://backup.example.com/static/",
                "mirror_url_probe": "http://origin.example.com/health.txt",
                "mirror_pass_query_string": True,
                "mirror_check_md5": True,
                "mirror_follow_redirect": False,
            },
            "mirror_headers": {
                "pass_all": False,
                "pass": ["aaa-header", "user-agent"],
                "remove": ["bbb-header"],
                "set": [("ccc-header", "ccc")],
            },
        },
        {
            "rule_num": 2,
            "condition": {
                "key_prefix_equals": "docs/",
                "http_err_code_return_equals": 404,
                "include_headers": [],
            },
            "redirect": {
                "redirect_type": "External",
                "pass_query_string": True,
                "replace_key_with": None,
                "replace_key_prefix_with": "manual/",
                "proto": "https",
                "host_name": "new.example.org",
                "http_redirect_code": 302,
                "mirror_url": None,
                "mirror_url_slave": None,
                "mirror_url_probe": None,
                "mirror_pass_query_string": None,
                "mirror_check_md5": None,
                "mirror_follow_redirect": None,
            },
            "mirror_headers": None,
        },
        {
            "rule_num": 3,
            "condition": {
                "key_prefix_equals": SPECIAL_PREFIX,
                "http_err_code_return_equals": 404,
                "include_headers": [],
            },
            "redirect": {
                "redirect_type": "External",
                "pass_query_string": False,
                "replace_key_with": "archive/${key}.html",
                "replace_key_prefix_with": None,
                "proto": "http",
                "host_name": "archive.example.org",
                "http_redirect_code": 307,
                "mirror_url": None,
                "mirror_url_slave": None,
                "mirror_url_probe": None,
                "mirror_pass_query_string": None,
                "mirror_check_md5": None,
                "mirror_follow_redirect": None,
            },
            "mirror_headers": None,
        },
    ]


def test_get_bucket_website_xml_is_namespace_free_with_lowercase_booleans(
    server, bucket
):
    bucket.put_bucket_website(BucketWebsite(None, None, [mirror_rule()]))

    response = signed_request(
        server, server.alice, "GET", bucket.bucket_name, params={"website": ""}
    )

    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/xml"
    root = ET.fromstring(response.content)
    assert root.tag == "WebsiteConfiguration"  # no {namespace}
    redirect = root.find("RoutingRules/RoutingRule/Redirect")
    assert redirect.findtext("PassQueryString") == "true"
    assert redirect.findtext("MirrorPassQueryString") == "true"
    assert redirect.findtext("MirrorFollowRedirect") == "false"
    assert redirect.findtext("MirrorHeaders/PassAll") == "false"
    assert b"True" not in response.content
    assert b"False" not in response.content


def test_delete_bucket_website_twice_then_get_is_no_such_website(bucket):
    bucket.put_bucket_website(BucketWebsite("index.html", None, [mirror_rule()]))

    assert bucket.delete_bucket_website().status == 204
    assert bucket.delete_bucket_website().status == 204
    with pytest.raises(oss2.exceptions.NoSuchWebsite) as raised:
        bucket.get_bucket_website()
    assert raised.value.status == 404


def test_rules_set_through_oss2_are_the_consoles_rule_rows(server, bucket):
    bucket.put_bucket_website(
        BucketWebsite(None, None, [mirror_rule(), prefix_redirect_rule()])
    )

    rows = server.shell_json(
        "import json\n"
        "from origin.models import BackToOriginRule\n"
        "rows = BackToOriginRule.objects.filter(bucket__name="
        f"{bucket.bucket_name!r}).order_by('position')\n"
        "print('JSON=' + json.dumps([dict(position=r.position, mode=r.mode, key_prefix=r.key_prefix, "
        "http_status=r.http_status, include_headers=r.include_headers, protocol=r.protocol, host=r.host, "
        "path=r.path, pass_query_string=r.pass_query_string, follow_redirects=r.follow_redirects, "
        "check_md5=r.check_md5, secondary_url=r.secondary_url, probe_url=r.probe_url, "
        "pass_headers=r.pass_headers, remove_headers=r.remove_headers, set_headers=r.set_headers, "
        "redirect_code=r.redirect_code, redirect_target=r.redirect_target, "
        "replace_prefix_with=r.replace_prefix_with) for r in rows]))"
    )

    assert rows == [
        {
            "position": 1,
            "mode": "mirror",
            "key_prefix": "img/",
            "http_status": 404,
            "include_headers": [["x-client", "mobile", "equals"]],
            "protocol": "http",
            "host": "origin.example.com",
            "path": "static",
            "pass_query_string": True,
            "follow_redirects": False,
            "check_md5": True,
            "secondary_url": "http://backup.example.com/static/",
            "probe_url": "http://origin.example.com/health.txt",
            "pass_headers": ["aaa-header", "user-agent"],
            "remove_headers": ["bbb-header"],
            "set_headers": [["ccc-header", "ccc"]],
            "redirect_code": 301,  # the model default; unused by a mirroring rule
            "redirect_target": "keep",
            "replace_prefix_with": "",
        },
        {
            "position": 2,
            "mode": "redirect",
            "key_prefix": "docs/",
            "http_status": 404,
            "include_headers": [],
            "protocol": "https",
            "host": "new.example.org",
            "path": "",
            "pass_query_string": True,
            "follow_redirects": True,
            "check_md5": False,
            "secondary_url": "",
            "probe_url": "",
            "pass_headers": [],
            "remove_headers": [],
            "set_headers": [],
            "redirect_code": 302,
            "redirect_target": "replace_prefix",
            "replace_prefix_with": "manual/",
        },
    ]


def console_session(server, username="alice"):
    session = requests.Session()
    login = f"{server.url}/accounts/login/"
    session.get(login, timeout=10)
    response = session.post(
        login,
        data={
            "username": username,
            "password": PASSWORD,
            "csrfmiddlewaretoken": session.cookies["csrftoken"],
        },
        headers={"Referer": login},
        timeout=10,
    )
    assert response.status_code == 200
    assert "/console/" in response.url
    return session


def test_the_console_lists_rules_set_through_oss2(server, bucket):
    bucket.put_bucket_website(
        BucketWebsite(None, None, [mirror_rule(), prefix_redirect_rule()])
    )

    page = console_session(server).get(
        f"{server.url}/console/buckets/{bucket.bucket_name}/settings/back-to-origin/",
        timeout=10,
    )

    assert page.status_code == 200
    text = page.text.replace("<wbr>", "")  # where a long URL may wrap
    assert '<code class="url">http://origin.example.com/static/</code>' in text
    assert '<code class="url">https://new.example.org/</code>' in text
    assert "prefix img/" in text
    assert "prefix docs/" in text
    mode = '<td data-label="Mode">{}</td>'
    assert text.index(mode.format("Mirroring")) < text.index(mode.format("Redirection"))


def test_a_rule_made_in_the_console_comes_back_through_get_bucket_website(
    server, bucket
):
    server.shell_json(
        "from buckets.models import Bucket\n"
        "from origin.models import BackToOriginRule\n"
        f"bucket = Bucket.objects.get(name={bucket.bucket_name!r})\n"
        "rule = BackToOriginRule(bucket=bucket, mode='redirect', key_prefix='old/', key_suffix='',"
        " http_status=404, protocol='https', host='www.example.net', redirect_code=307,"
        " redirect_target='affix', target_prefix='new/', target_suffix='.html', pass_query_string=True)\n"
        "rule.save_in_order()\n"
        "print('JSON=' + str(rule.position))"
    )

    (rule,) = bucket.get_bucket_website().rules

    assert rule.rule_num == 1
    assert (
        rule.condition.key_prefix_equals,
        rule.condition.http_err_code_return_equals,
    ) == ("old/", 404)
    assert (
        rule.redirect.redirect_type,
        rule.redirect.proto,
        rule.redirect.host_name,
        rule.redirect.http_redirect_code,
        rule.redirect.replace_key_with,
        rule.redirect.pass_query_string,
    ) == ("External", "https", "www.example.net", 307, "new/${key}.html", True)


# -- website: input oss2 refuses client-side, sent raw -----------------------------------


def raw_mirror_rule(number, prefix, url="http://origin.example.com/", headers=""):
    return (
        f"<RoutingRule><RuleNumber>{number}</RuleNumber>"
        f"<Condition><KeyPrefixEquals>{prefix}</KeyPrefixEquals>"
        "<HttpErrorCodeReturnedEquals>404</HttpErrorCodeReturnedEquals></Condition>"
        f"<Redirect><RedirectType>Mirror</RedirectType><MirrorURL>{url}</MirrorURL>{headers}"
        "</Redirect></RoutingRule>"
    )


def raw_website(*rules):
    return (
        f"<WebsiteConfiguration><RoutingRules>{''.join(rules)}</RoutingRules></WebsiteConfiguration>"
    ).encode()


def put_raw_website(server, bucket_name, body, md5_header=None):
    return signed_request(
        server,
        server.alice,
        "PUT",
        bucket_name,
        params={"website": ""},
        headers={"Content-MD5": md5_header or content_md5(body)},
        data=body,
    )


def get_raw_website(server, bucket_name):
    return signed_request(
        server, server.alice, "GET", bucket_name, params={"website": ""}
    ).content


@pytest.mark.parametrize(
    ("body", "content_md5", "code", "argument"),
    [
        pytest.param(
            b"<WebsiteConfiguration><RoutingRules>",
            None,
            "MalformedXML",
            None,
            id="malformed-xml",
        ),
        pytest.param(
            raw_website(*(raw_mirror_rule(n, f"p{n}/") for n in range(1, 7))),
            None,
            "InvalidArgument",
            "RoutingRule",
            id="sixth-rule",
        ),
        pytest.param(
            raw_website(
                raw_mirror_rule(
                    1,
                    "h/",
                    headers="<MirrorHeaders><Pass>X-OSS-Meta-A</Pass></MirrorHeaders>",
                )
            ),
            None,
            "InvalidArgument",
            "Pass",
            id="forbidden-header",
        ),
        pytest.param(
            raw_website(
                raw_mirror_rule(1, "u/", url="http://origin.example.com/dir?v=1")
            ),
            None,
            "InvalidArgument",
            "MirrorURL",
            id="mirror-url-with-a-query-string",
        ),
        pytest.param(
            raw_website(raw_mirror_rule(1, "u/", url="ftp://origin.example.com/")),
            None,
            "InvalidArgument",
            "MirrorURL",
            id="ftp-mirror-url",
        ),
        pytest.param(
            raw_website(raw_mirror_rule(1, "m/")),
            content_md5(b"something else"),
            "InvalidDigest",
            None,
            id="wrong-content-md5",
        ),
        pytest.param(
            raw_website(raw_mirror_rule("9" * 4400, "n/")),
            None,
            "InvalidArgument",
            "RuleNumber",
            id="4400-digit-rule-number",
        ),
        pytest.param(
            raw_website(raw_mirror_rule(1, "n/")).replace(
                b">404<", b">" + b"9" * 4400 + b"<"
            ),
            None,
            "InvalidArgument",
            "HttpErrorCodeReturnedEquals",
            id="4400-digit-status",
        ),
        pytest.param(
            raw_website(
                raw_mirror_rule(
                    1,
                    "s/",
                    headers="<MirrorHeaders><Set><Key>X-A</Key><Value> lead</Value></Set></MirrorHeaders>",
                )
            ),
            None,
            "InvalidArgument",
            "Set",
            id="set-header-leading-space",
        ),
        pytest.param(
            raw_website(raw_mirror_rule(1, "del\x7f/")).replace(b"\x7f", b"&#127;"),
            None,
            "InvalidArgument",
            "KeyPrefixEquals",
            id="prefix-with-a-control-character",
        ),
        pytest.param(
            raw_website(raw_mirror_rule(1, "p&#xFFFF;/")),
            None,
            "MalformedXML",
            None,
            id="prefix-with-uffff",
        ),
    ],
)
def test_bad_website_input_is_refused_and_the_old_configuration_stays(
    server, bucket, body, content_md5, code, argument
):
    good = raw_website(raw_mirror_rule(1, "keep/"))
    assert put_raw_website(server, bucket.bucket_name, good).status_code == 200
    before = get_raw_website(server, bucket.bucket_name)

    response = put_raw_website(server, bucket.bucket_name, body, content_md5)

    assert response.status_code == 400
    error = ET.fromstring(response.content)
    assert error.findtext("Code") == code
    if argument:
        assert error.findtext("ArgumentName") == argument
    assert response.headers["x-oss-request-id"] == error.findtext("RequestId")
    assert get_raw_website(server, bucket.bucket_name) == before


def test_unusual_values_set_through_oss2_come_back_through_oss2(bucket):
    prefix = "图片/&<> \"'é"
    rule = RoutingRule(
        rule_num=1,
        condition=Condition(
            key_prefix_equals=prefix,
            http_err_code_return_equals=404,
            include_header_list=[ConditionInlcudeHeader("x-tenant", "a&b<c>\"d'e 图")],
        ),
        redirect=Redirect(
            redirect_type=REDIRECT_TYPE_MIRROR,
            mirror_url="http://origin.example.com/dir/",
            mirror_headers=RedirectMirrorHeaders(
                pass_all=False,
                set_list=[MirrorHeadersSet("x-set", "v&<>\"'é x")],
            ),
        ),
    )
    bucket.put_bucket_website(BucketWebsite(None, None, [rule]))

    (got,) = bucket.get_bucket_website().rules

    assert got.condition.key_prefix_equals == prefix
    assert [(h.key, h.equals) for h in got.condition.include_header_list] == [
        ("x-tenant", "a&b<c>\"d'e 图")
    ]
    assert [
        (item.key, item.value) for item in got.redirect.mirror_headers.set_list
    ] == [("x-set", "v&<>\"'é x")]


def test_five_rules_are_accepted_through_raw_xml(server, bucket):
    body = raw_website(*(raw_mirror_rule(n, f"p{n}/") for n in range(1, 6)))

    assert put_raw_website(server, bucket.bucket_name, body).status_code == 200
    assert [rule.rule_num for rule in bucket.get_bucket_website().rules] == [
        1,
        2,
        3,
        4,
        5,
    ]


# -- end to end: a rule set through oss2 mirrors from a real origin ---------------------


def test_a_mirror_rule_set_through_oss2_fills_the_bucket_from_the_origin(
    server, bucket, origin_server
):
    payload = b"\x89PNG pretend image bytes" * 100
    origin_server.route(
        "/mirror-src/photos/cat.png",
        body=payload,
        headers={"Content-Type": "image/png"},
    )
    bucket.put_bucket_website(
        BucketWebsite(
            None,
            None,
            [
                RoutingRule(
                    rule_num=1,
                    condition=Condition(
                        key_prefix_equals="photos/", http_err_code_return_equals=404
                    ),
                    redirect=Redirect(
                        redirect_type=REDIRECT_TYPE_MIRROR,
                        mirror_url=origin_server.url("/mirror-src/"),
                    ),
                )
            ],
        )
    )

    first = bucket.get_object("photos/cat.png")
    first_body = first.read()
    second = bucket.get_object("photos/cat.png")

    assert first_body == payload
    assert first.headers["x-oss-tag"] == "MIRROR"
    assert second.read() == payload
    assert second.headers["x-oss-tag"] == "MIRROR"
    assert second.headers["Content-Type"] == "image/png"
    assert len(origin_server.requests_to("/mirror-src/photos/cat.png")) == 1
    with pytest.raises(oss2.exceptions.NoSuchKey):
        bucket.get_object("elsewhere/cat.png")  # no rule matches


# -- alibabacloud-oss-v2: fields oss2 cannot express ------------------------------------


@pytest.fixture
def v2_client(server):
    config = oss_v2.config.load_default()
    config.credentials_provider = oss_v2.credentials.StaticCredentialsProvider(
        server.alice.key_id, server.alice.secret
    )
    config.region = REGION
    config.endpoint = server.url
    config.use_path_style = True
    config.retry_max_attempts = 1
    return oss_v2.Client(config)


def new_v2_bucket(v2_client):
    name = unique_name("v2")
    v2_client.put_bucket(oss_v2.PutBucketRequest(bucket=name))
    return name


def put_v2_website(v2_client, name, *rules):
    """PUT ?website with these RoutingRules through the v2 SDK; its answer."""
    configuration = oss_v2.WebsiteConfiguration(
        routing_rules=oss_v2.RoutingRules(routing_rules=list(rules))
    )
    return v2_client.put_bucket_website(
        oss_v2.PutBucketWebsiteRequest(bucket=name, website_configuration=configuration)
    )


def test_v2_sdk_round_trips_key_suffix_and_enable_replace_prefix(server, v2_client):
    name = new_v2_bucket(v2_client)
    put = put_v2_website(
        v2_client,
        name,
        oss_v2.RoutingRule(
            rule_number=1,
            condition=oss_v2.RoutingRuleCondition(
                key_prefix_equals="img/",
                key_suffix_equals=".jpg",
                http_error_code_returned_equals=404,
            ),
            redirect=oss_v2.RoutingRuleRedirect(
                redirect_type="Mirror",
                mirror_url="https://origin.example.com/static/",
                enable_replace_prefix=True,
                replace_key_prefix_with="img-v2/",
            ),
        ),
        oss_v2.RoutingRule(
            rule_number=2,
            condition=oss_v2.RoutingRuleCondition(
                key_prefix_equals="docs/",
                key_suffix_equals=".md",
                http_error_code_returned_equals=404,
            ),
            redirect=oss_v2.RoutingRuleRedirect(
                redirect_type="External",
                protocol="https",
                host_name="docs.example.org",
                http_redirect_code=301,
                enable_replace_prefix=True,
                replace_key_prefix_with="manual/",
            ),
        ),
    )
    got = v2_client.get_bucket_website(oss_v2.GetBucketWebsiteRequest(bucket=name))

    assert put.status_code == 200
    mirror, redirect = got.website_configuration.routing_rules.routing_rules
    assert (mirror.condition.key_prefix_equals, mirror.condition.key_suffix_equals) == (
        "img/",
        ".jpg",
    )
    assert (
        mirror.redirect.enable_replace_prefix,
        mirror.redirect.replace_key_prefix_with,
        mirror.redirect.mirror_url,
    ) == (True, "img-v2/", "https://origin.example.com/static/")
    assert (
        redirect.condition.key_suffix_equals,
        redirect.redirect.http_redirect_code,
    ) == (
        ".md",
        301,
    )
    assert (
        redirect.redirect.enable_replace_prefix,
        redirect.redirect.replace_key_prefix_with,
    ) == (True, "manual/")
    # oss2 has no model for these fields but still reads the document.
    as_oss2 = oss_bucket(server, oss2_auth(server.alice, "v1"), name)
    assert [rule.rule_num for rule in as_oss2.get_bucket_website().rules] == [1, 2]


def test_v2_sdk_puts_and_gets_objects(v2_client):
    name = new_v2_bucket(v2_client)

    v2_client.put_object(
        oss_v2.PutObjectRequest(bucket=name, key="dir/ü file.txt", body=b"v2 bytes")
    )
    result = v2_client.get_object(
        oss_v2.GetObjectRequest(bucket=name, key="dir/ü file.txt")
    )

    assert result.body.content == b"v2 bytes"
    assert result.etag == f'"{hashlib.md5(b"v2 bytes").hexdigest().upper()}"'


def test_append_object_grows_an_appendable_object(bucket):
    first = bucket.append_object("log.txt", 0, b"hello ")
    second = bucket.append_object("log.txt", first.next_position, b"world")

    assert (first.next_position, second.next_position) == (6, 11)
    assert bucket.get_object("log.txt").read() == b"hello world"
    assert bucket.head_object("log.txt").object_type == "Appendable"
    with pytest.raises(oss2.exceptions.PositionNotEqualToLength) as wrong_position:
        bucket.append_object("log.txt", 3, b"!")
    assert wrong_position.value.headers["x-oss-next-append-position"] == "11"
    bucket.put_object("plain.txt", b"x")
    with pytest.raises(oss2.exceptions.ObjectNotAppendable):
        bucket.append_object("plain.txt", 1, b"y")
    assert bucket.get_object("log.txt").read() == b"hello world"


@pytest.mark.parametrize(
    ("redirect_fields", "element"),
    [
        ({"mirror_sni": False}, "MirrorSNI"),
        ({"mirror_async_status": 404}, "MirrorAsyncStatus"),
        ({"mirror_dst_region": "cn-hangzhou"}, "MirrorDstRegion"),
        ({"mirror_using_role": True}, "MirrorUsingRole"),
        ({"mirror_tunnel_id": "t-1"}, "MirrorTunnelId"),
        ({"mirror_allow_get_image_info": True}, "MirrorAllowGetImageInfo"),
    ],
)
def test_v2_sdk_elements_the_runtime_does_not_honour_are_refused_naming_them(
    server, v2_client, redirect_fields, element
):
    name = new_v2_bucket(v2_client)
    rule = oss_v2.RoutingRule(
        rule_number=1,
        condition=oss_v2.RoutingRuleCondition(http_error_code_returned_equals=404),
        redirect=oss_v2.RoutingRuleRedirect(
            redirect_type="Mirror",
            mirror_url="https://origin.example.com/",
            **redirect_fields,
        ),
    )

    with pytest.raises(oss_v2.exceptions.OperationError) as refused:
        put_v2_website(v2_client, name, rule)

    error = refused.value.unwrap()
    assert (error.status_code, error.code) == (400, "InvalidArgument")
    assert element in error.message
    with pytest.raises(oss_v2.exceptions.OperationError) as missing:
        v2_client.get_bucket_website(oss_v2.GetBucketWebsiteRequest(bucket=name))
    assert missing.value.unwrap().code == "NoSuchWebsiteConfiguration"


def test_v2_sdk_round_trips_every_supported_mirror_element(server, v2_client):
    name = new_v2_bucket(v2_client)
    rule = oss_v2.RoutingRule(
        rule_number=1,
        condition=oss_v2.RoutingRuleCondition(
            key_prefix_equals="img/",
            http_error_code_returned_equals=404,
            include_headers=[
                oss_v2.RoutingRuleIncludeHeader(key="x-tenant", starts_with="blue"),
                oss_v2.RoutingRuleIncludeHeader(key="x-tenant", ends_with="-eu"),
                oss_v2.RoutingRuleIncludeHeader(key="x-app", equals="web"),
            ],
        ),
        redirect=oss_v2.RoutingRuleRedirect(
            redirect_type="Mirror",
            mirror_url="https://origin.example.com/static/",
            mirror_url_probe="https://origin.example.com/health",
            mirror_multi_alternates=oss_v2.MirrorMultiAlternates(
                mirror_multi_alternates=[
                    oss_v2.MirrorMultiAlternate(
                        mirror_multi_alternate_number=2,
                        mirror_multi_alternate_url="https://c.example.com/",
                    ),
                    oss_v2.MirrorMultiAlternate(
                        mirror_multi_alternate_number=1,
                        mirror_multi_alternate_url="https://b.example.com/x/",
                    ),
                ]
            ),
            mirror_switch_all_errors=True,
            transparent_mirror_response_codes="429,403",
            mirror_allow_head_object=True,
            mirror_save_oss_meta=True,
            mirror_user_last_modified=True,
            mirror_pass_original_slashes=True,
            mirror_sni=True,
            mirror_return_headers=oss_v2.MirrorReturnHeaders(
                return_headers=[oss_v2.ReturnHeader(key="x-from", value="mirror")]
            ),
            mirror_taggings=oss_v2.MirrorTaggings(
                taggings=[oss_v2.MirrorTagging(key="team", value="web")]
            ),
            mirror_auth=oss_v2.MirrorAuth(
                auth_type="S3V4",
                access_key_id="AKID",
                access_key_secret="TOP-SECRET-VALUE",
                region="us-east-1",
            ),
        ),
    )
    put_v2_website(v2_client, name, rule)

    got = v2_client.get_bucket_website(oss_v2.GetBucketWebsiteRequest(bucket=name))
    read = got.website_configuration.routing_rules.routing_rules[0]
    headers = read.condition.include_headers
    assert [(h.key, h.equals, h.starts_with, h.ends_with) for h in headers] == [
        ("x-tenant", None, "blue", None),
        ("x-tenant", None, None, "-eu"),
        ("x-app", "web", None, None),
    ]
    redirect = read.redirect
    assert redirect.mirror_url_probe == "https://origin.example.com/health"
    assert redirect.mirror_url_slave is None
    assert [
        (a.mirror_multi_alternate_number, a.mirror_multi_alternate_url)
        for a in redirect.mirror_multi_alternates.mirror_multi_alternates
    ] == [(1, "https://b.example.com/x/"), (2, "https://c.example.com/")]
    assert (
        redirect.mirror_switch_all_errors,
        redirect.transparent_mirror_response_codes,
        redirect.mirror_allow_head_object,
        redirect.mirror_proxy_pass,
        redirect.mirror_save_oss_meta,
        redirect.mirror_user_last_modified,
        redirect.mirror_pass_original_slashes,
        redirect.mirror_sni,
    ) == (True, "403,429", True, False, True, True, True, True)
    assert [
        (h.key, h.value) for h in redirect.mirror_return_headers.return_headers
    ] == [("x-from", "mirror")]
    assert [(t.key, t.value) for t in redirect.mirror_taggings.taggings] == [
        ("team", "web")
    ]
    auth = redirect.mirror_auth
    assert (auth.auth_type, auth.access_key_id, auth.region) == (
        "S3V4",
        "AKID",
        "us-east-1",
    )
    assert auth.access_key_secret is None  # write-only

    # Sent back as read (no secret), the stored secret is kept.
    put_v2_website(v2_client, name, read)
    stored = server.shell_json(
        "import json\n"
        "from buckets.models import unseal_secret\n"
        "from origin.models import BackToOriginRule\n"
        f"rule = BackToOriginRule.objects.get(bucket__name={name!r})\n"
        "print('JSON=' + json.dumps([rule.auth_access_key_id, "
        "unseal_secret(rule.auth_sealed_secret)]))"
    )
    assert stored == ["AKID", "TOP-SECRET-VALUE"]


def test_v2_sdk_reads_back_enable_replace_prefix_false(server, v2_client):
    name = new_v2_bucket(v2_client)
    rule = oss_v2.RoutingRule(
        rule_number=1,
        condition=oss_v2.RoutingRuleCondition(
            key_prefix_equals="docs/", http_error_code_returned_equals=404
        ),
        redirect=oss_v2.RoutingRuleRedirect(
            redirect_type="External",
            protocol="https",
            host_name="docs.example.org",
            enable_replace_prefix=False,
        ),
    )
    put_v2_website(v2_client, name, rule)

    got = v2_client.get_bucket_website(oss_v2.GetBucketWebsiteRequest(bucket=name))

    (read,) = got.website_configuration.routing_rules.routing_rules
    assert read.redirect.enable_replace_prefix is False


def test_keys_with_control_characters_are_stored_and_listed_url_encoded(bucket):
    key = "ctl\x01\x07\x0c/name.txt"
    bucket.put_object(key, b"control")

    assert bucket.get_object(key).read() == b"control"
    listed = bucket.list_objects_v2(encoding_type="url")
    assert [entry.key for entry in listed.object_list] == [key]
    with pytest.raises(oss2.exceptions.ServerError) as refused:
        bucket.put_object("nul\x00.txt", b"x")
    assert refused.value.code == "InvalidObjectName"


def test_non_ascii_user_metadata_is_signed_stored_and_returned_as_sent(bucket):
    # oss2 sends the value as UTF-8 and signs it (V1 and V4, per `version`).
    bucket.put_object(
        "meta.txt", b"m", headers={"x-oss-meta-author": "Zoë 中文".encode()}
    )

    head = bucket.head_object("meta.txt")

    assert head.headers["x-oss-meta-author"].encode("latin-1").decode() == "Zoë 中文"


def test_a_put_without_content_type_is_stored_as_octet_stream(server, bucket):
    response = signed_request(
        server, server.alice, "PUT", bucket.bucket_name, "page.html", data=b"<p>"
    )
    assert response.status_code == 200, response.text

    assert bucket.head_object("page.html").content_type == "application/octet-stream"


@pytest.mark.parametrize("region", ["cn-beijing", "us-east-1"])
def test_a_v4_signature_for_another_region_is_refused(server, bucket, region):
    foreign = oss2.Bucket(
        oss2_auth(server.alice, "v4"), server.url, bucket.bucket_name, region=region
    )

    with pytest.raises(oss2.exceptions.ServerError) as refused:
        foreign.get_bucket_info()

    assert (refused.value.status, refused.value.code) == (400, "InvalidArgument")
    assert refused.value.message == "Invalid signing region in Authorization header."
    assert refused.value.ec == refused.value.headers["x-oss-ec"] == "0002-00000226"
    assert f"/{region}/oss/" in refused.value.details["ArgumentValue"]
    assert bucket.get_bucket_info().name == bucket.bucket_name  # its own region works


def test_a_missing_bucket_is_no_such_bucket_before_the_signature_is_judged(
    server, bucket, version
):
    stranger = oss2_auth(KeyPair("LTAIunknownkey000000", "not-a-secret"), version)
    missing = oss_bucket(server, stranger, unique_name("gone"))
    existing = oss_bucket(server, stranger, bucket.bucket_name)

    with pytest.raises(oss2.exceptions.NoSuchBucket):
        missing.get_object("a.txt")
    with pytest.raises(oss2.exceptions.ServerError) as denied:
        existing.get_object("a.txt")
    assert denied.value.code == "InvalidAccessKeyId"
    with pytest.raises(oss2.exceptions.ServerError) as creating:
        missing.create_bucket()
    assert creating.value.code == "InvalidAccessKeyId"


def test_crc64_is_returned_on_put_get_head_append_and_copy(bucket):
    data = b"crc64 " * 50_000

    put = bucket.put_object("c.bin", data)  # oss2 compares its own CRC with the answer
    expected = oss2_crc(data)

    assert put.crc == int(expected)
    assert bucket.get_object("c.bin").read() == data  # oss2 checks the CRC of the body
    assert bucket.head_object("c.bin").headers["x-oss-hash-crc64ecma"] == expected
    first = bucket.append_object("log.txt", 0, b"hello ")
    second = bucket.append_object(
        "log.txt", first.next_position, b"world", init_crc=first.crc
    )
    assert second.crc == int(oss2_crc(b"hello world"))
    bucket.copy_object(bucket.bucket_name, "c.bin", "copy.bin")
    assert bucket.head_object("copy.bin").headers["x-oss-hash-crc64ecma"] == expected


def oss2_crc(data):
    crc = oss2.utils.Crc64(0)
    crc.update(data)
    return str(crc.crc)


def test_crc64_uses_crcmods_c_extension():
    # A pure-Python CRC would loop per byte on every upload: install must build the extension.
    import crcmod.crcmod

    assert crcmod.crcmod._usingExtension


def test_a_bucket_keeps_its_storage_class_and_redundancy(server, alice_auth):
    bucket = oss_bucket(server, alice_auth, unique_name("ia"))
    bucket.create_bucket(
        oss2.BUCKET_ACL_PRIVATE,
        oss2.models.BucketCreateConfig(oss2.BUCKET_STORAGE_CLASS_IA, "ZRS"),
    )
    bucket.put_object("a.txt", b"a")

    info = bucket.get_bucket_info()

    assert (info.storage_class, info.data_redundancy_type) == ("IA", "ZRS")
    assert info.bucket_encryption_rule.sse_algorithm is None  # "None": not configured
    assert bucket.head_object("a.txt").headers["x-oss-storage-class"] == "IA"
    assert [o.storage_class for o in bucket.list_objects().object_list] == ["IA"]
    listed = {
        b.name: b.storage_class
        for b in oss2.BucketIterator(
            oss2.Service(alice_auth, server.url, region=REGION)
        )
    }
    assert listed[bucket.bucket_name] == "IA"


def test_a_storage_class_oss_does_not_have_is_refused(server, alice_auth):
    storage_class, message = "Glacier", "StorageClass must be one of"
    bucket = oss_bucket(server, alice_auth, unique_name("cold"))

    with pytest.raises(oss2.exceptions.ServerError) as refused:
        bucket.create_bucket(
            oss2.BUCKET_ACL_PRIVATE, oss2.models.BucketCreateConfig(storage_class)
        )

    assert (refused.value.status, refused.value.code) == (400, "InvalidArgument")
    assert message in refused.value.message
    with pytest.raises(oss2.exceptions.NoSuchBucket):
        bucket.get_bucket_info()


def test_list_buckets_with_a_tag_filter_lists_no_untagged_bucket(server, bucket):
    response = signed_request(
        server, server.alice, "GET", "", params={"tag-key": "team", "tag-value": "a"}
    )

    assert response.status_code == 200
    assert "<Bucket>" not in response.text
    unfiltered = signed_request(
        server, server.alice, "GET", "", params={"prefix": bucket.bucket_name}
    )
    assert f"<Name>{bucket.bucket_name}</Name>" in unfiltered.text
