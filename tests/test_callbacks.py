"""Upload callbacks (x-oss-callback, the callback URL parameters, callback policies):
through oss2 against gunicorn with a real callback server on loopback (the server
allows private callback addresses, as origin tests allow private origins); the
refusals, and the SSRF guard at its default, in process."""

import base64
import json
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

import oss2
import pytest
import requests
from oss2.models import CallbackPolicyInfo, PartInfo

from buckets import callbacks
from buckets.models import StoredObject
from tests.origin_server import unused_port
from tests.oss_responses import error_fields
from tests.server_process import GunicornServer

BUCKET = "alice-bucket"  # conftest's `bucket`


def encoded(value):
    return base64.b64encode(json.dumps(value).encode()).decode()


class CallbackServer:
    """A loopback HTTP server that records each POST and answers as scripted."""

    def __init__(self):
        self.received = []
        self.status, self.body, self.headers = 200, b'{"Status":"OK"}', {}
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_POST(self):
                length = int(self.headers.get("Content-Length", "0"))
                server.received.append(
                    {
                        "path": self.path,
                        "headers": {k.lower(): v for k, v in self.headers.items()},
                        "body": self.rfile.read(length).decode(),
                    }
                )
                self.send_response(server.status)
                for name, value in server.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(server.body)))
                self.end_headers()
                self.wfile.write(server.body)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def callback_server():
    server = CallbackServer()
    yield server
    server.close()


@pytest.fixture(scope="module")
def callback_gunicorn(tmp_path_factory):
    """gunicorn allowing private callback addresses, with users alice and bob."""
    gunicorn = GunicornServer(
        tmp_path_factory.mktemp("callback-server"), ORIGIN_ALLOW_PRIVATE="1"
    )
    keys = gunicorn.add_users(("alice", "bob"), "callback-server-password")
    gunicorn.start()
    try:
        yield gunicorn, keys
    finally:
        gunicorn.stop()


@pytest.fixture(params=["v1", "v4"])
def sdk_bucket(request, callback_gunicorn):
    """A new bucket of alice's, through oss2 signed V1 or V4."""
    gunicorn, keys = callback_gunicorn
    auth = (oss2.AuthV4 if request.param == "v4" else oss2.Auth)(*keys["alice"])
    bucket = oss2.Bucket(
        auth, gunicorn.url, f"cb-{uuid.uuid4().hex[:12]}", region="cn-hangzhou"
    )
    bucket.create_bucket()
    return bucket


def callback_headers(url, body, **extra):
    spec = {"callbackUrl": url, "callbackBody": body, **extra}
    return {"x-oss-callback": encoded(spec)}


# -- a callback that works ------------------------------------------------------------------


def test_put_object_posts_the_callback_body_and_answers_with_the_servers_body(
    sdk_bucket, callback_server
):
    callback_server.body = b'{"accepted":true}'
    headers = callback_headers(
        callback_server.url + "/hook?source=oss",
        "bucket=${bucket}&object=${object}&etag=${etag}&size=${size}"
        "&mimeType=${mimeType}&who=${x:who}&op=${operation}",
    )
    headers["x-oss-callback-var"] = encoded({"x:who": "ann & bo"})
    headers["Content-Type"] = "text/plain"

    result = sdk_bucket.put_object("dir/ü.txt", b"hello callback", headers=headers)

    assert result.status == 200
    assert result.resp.read() == b'{"accepted":true}'
    (received,) = callback_server.received
    assert received["path"] == "/hook?source=oss"
    assert received["headers"]["content-type"] == callbacks.FORM
    form = parse_qs(received["body"])
    assert form == {
        "bucket": [sdk_bucket.bucket_name],
        "object": ["dir/ü.txt"],
        "etag": [result.etag],
        "size": ["14"],
        "mimeType": ["text/plain"],
        "who": ["ann & bo"],
        "op": ["PutObject"],
    }
    assert sdk_bucket.get_object("dir/ü.txt").read() == b"hello callback"


def test_a_json_callback_body_gets_json_escaped_values(sdk_bucket, callback_server):
    headers = callback_headers(
        callback_server.url,
        '{"object":"${object}","note":"${x:note}","size":${size}}',
        callbackBodyType="application/json",
    )
    headers["x-oss-callback-var"] = encoded({"x:note": 'say "hi"\n'})

    sdk_bucket.put_object('quote".txt', b"abc", headers=headers)

    (received,) = callback_server.received
    assert received["headers"]["content-type"] == "application/json"
    assert json.loads(received["body"]) == {
        "object": 'quote".txt',
        "note": 'say "hi"\n',
        "size": 3,
    }


def test_callback_host_is_sent_as_the_host_header(sdk_bucket, callback_server):
    headers = callback_headers(
        callback_server.url, "x=${size}", callbackHost="hooks.example.com"
    )

    sdk_bucket.put_object("host.txt", b"1", headers=headers)

    assert callback_server.received[0]["headers"]["host"] == "hooks.example.com"


def test_a_presigned_put_with_callback_parameters_runs_the_callback(
    sdk_bucket, callback_server
):
    params = {
        "callback": encoded(
            {"callbackUrl": callback_server.url, "callbackBody": "o=${object}"}
        ),
        "callback-var": encoded({"x:unused": "1"}),
    }
    url = sdk_bucket.sign_url("PUT", "signed.txt", 60, params=params)

    response = requests.put(url, data=b"via url", timeout=30)

    assert response.status_code == 200
    assert response.content == b'{"Status":"OK"}'
    assert callback_server.received[0]["body"] == "o=signed.txt"
    assert sdk_bucket.get_object("signed.txt").read() == b"via url"


def test_the_next_callback_url_is_tried_when_one_fails(sdk_bucket, callback_server):
    dead = f"http://127.0.0.1:{unused_port()}"
    headers = callback_headers(f"{dead};{callback_server.url}", "k=${object}")

    result = sdk_bucket.put_object("second.txt", b"x", headers=headers)

    assert result.status == 200
    assert len(callback_server.received) == 1


def test_complete_multipart_upload_runs_the_callback(sdk_bucket, callback_server):
    key = "big/parts.bin"
    upload_id = sdk_bucket.init_multipart_upload(key).upload_id
    part = sdk_bucket.upload_part(key, upload_id, 1, b"only part")
    headers = callback_headers(
        callback_server.url, "object=${object}&size=${size}&op=${operation}"
    )

    result = sdk_bucket.complete_multipart_upload(
        key, upload_id, [PartInfo(1, part.etag)], headers=headers
    )

    assert result.status == 200
    assert parse_qs(callback_server.received[0]["body"]) == {
        "object": [key],
        "size": ["9"],
        "op": ["CompleteMultipartUpload"],
    }
    assert sdk_bucket.get_object(key).read() == b"only part"


# -- a callback that fails: 203, the object kept ----------------------------------------------


@pytest.mark.parametrize(
    ("status", "body", "headers", "message"),
    [
        (500, b'{"error":1}', {}, "Error status : 500."),
        (200, b"not json", {}, "Response body is not valid json format."),
        (302, b"{}", {"Location": "http://127.0.0.1:1/"}, "Error status : 302."),
        (
            200,
            b'{"a":"' + b"x" * 1024 * 1024 + b'"}',
            {},
            "Response body is too large (more than 1 MB).",
        ),
    ],
    ids=["a 500", "not JSON", "a redirect", "more than 1 MB"],
)
def test_a_failed_callback_answers_203_callback_failed_and_keeps_the_object(
    sdk_bucket, callback_server, status, body, headers, message
):
    callback_server.status, callback_server.body = status, body
    callback_server.headers = headers

    result = sdk_bucket.put_object(
        "kept.txt", b"kept", headers=callback_headers(callback_server.url, "k=1")
    )

    assert result.status == 203
    error = oss2.exceptions.make_exception(result.resp)
    assert (error.code, error.message) == ("CallbackFailed", message)
    assert result.etag  # the stored object's ETag, as for any PutObject
    assert len(callback_server.received) == 1  # the redirect was not followed
    assert sdk_bucket.get_object("kept.txt").read() == b"kept"


def test_an_unreachable_callback_server_answers_203(sdk_bucket):
    url = f"http://127.0.0.1:{unused_port()}/hook"

    result = sdk_bucket.put_object(
        "alone.txt", b"a", headers=callback_headers(url, "k=1")
    )

    assert result.status == 203
    assert oss2.exceptions.make_exception(result.resp).code == "CallbackFailed"
    assert sdk_bucket.object_exists("alone.txt")


# -- bad callbacks: 400 InvalidArgument, nothing stored ----------------------------------------

BAD_CALLBACKS = {
    "not base64": "%%%not-base64%%%",
    "not JSON": base64.b64encode(b"{callbackUrl:").decode(),
    "not an object": encoded(["http://a.example"]),
    "no callbackUrl": encoded({"callbackBody": "a=1"}),
    "no callbackBody": encoded({"callbackUrl": "http://a.example"}),
    "an ftp URL": encoded({"callbackUrl": "ftp://a.example", "callbackBody": "a"}),
    "a bad port": encoded({"callbackUrl": "http://a.example:x", "callbackBody": "a"}),
    "six URLs": encoded(
        {"callbackUrl": ";".join(["http://a.example"] * 6), "callbackBody": "a"}
    ),
    "another body type": encoded(
        {
            "callbackUrl": "http://a.example",
            "callbackBody": "a",
            "callbackBodyType": "text/plain",
        }
    ),
    "an unknown field": encoded(
        {"callbackUrl": "http://a.example", "callbackBody": "a", "callbackAuth": "x"}
    ),
    "an unknown policy": encoded({"callbackPolicy": "nope"}),
}


def refusal(attempt):
    with pytest.raises(oss2.exceptions.ServerError) as refused:
        attempt()
    return refused.value.status, refused.value.code


@pytest.mark.parametrize("callback", BAD_CALLBACKS.values(), ids=BAD_CALLBACKS.keys())
def test_a_bad_callback_is_invalid_argument_and_stores_nothing(sdk_bucket, callback):
    def attempt():
        sdk_bucket.put_object(
            "refused.txt", b"never stored", headers={"x-oss-callback": callback}
        )

    assert refusal(attempt) == (400, "InvalidArgument")
    assert not sdk_bucket.object_exists("refused.txt")


def test_a_bad_callback_variable_is_invalid_argument(sdk_bucket):
    headers = callback_headers("http://a.example", "a")
    headers["x-oss-callback-var"] = encoded({"x:nested": {"a": 1}})

    def attempt():
        sdk_bucket.put_object("refused.txt", b"never stored", headers=headers)

    assert refusal(attempt) == (400, "InvalidArgument")
    assert not sdk_bucket.object_exists("refused.txt")


def test_a_bad_callback_on_complete_keeps_the_upload_open(sdk_bucket):
    key = "mp.bin"
    upload_id = sdk_bucket.init_multipart_upload(key).upload_id
    part = sdk_bucket.upload_part(key, upload_id, 1, b"part")

    def attempt():
        sdk_bucket.complete_multipart_upload(
            key,
            upload_id,
            [PartInfo(1, part.etag)],
            headers={"x-oss-callback": BAD_CALLBACKS["no callbackUrl"]},
        )

    assert refusal(attempt) == (400, "InvalidArgument")
    assert not sdk_bucket.object_exists(key)
    assert [u.upload_id for u in oss2.MultipartUploadIterator(sdk_bucket)] == [
        upload_id
    ]


# -- the SSRF guard, at its default --------------------------------------------------------------


@pytest.mark.django_db
def test_a_callback_to_a_private_address_is_refused_by_the_ssrf_guard(
    alice_signed_client, bucket, callback_server, settings, caplog
):
    settings.ORIGIN_ALLOW_PRIVATE = False
    url = callback_server.url + "/hook?token=s3cr3t-token"

    response = alice_signed_client(
        "PUT",
        BUCKET,
        "guarded.txt",
        headers=callback_headers(url, "k=${object}"),
        body=b"stored anyway",
    )

    assert response.status_code == 203
    fields = error_fields(response)
    assert fields["Code"] == "CallbackFailed"
    assert "loopback" in fields["Message"]
    assert callback_server.received == []
    assert StoredObject.objects.filter(key="guarded.txt").exists()
    assert "s3cr3t-token" not in caplog.text
    assert "s3cr3t-token" not in fields["Message"]


# -- callback policies (?policy&comp=callback) ---------------------------------------------------


def test_a_callback_policy_is_stored_returned_and_used_by_name(
    sdk_bucket, callback_server
):
    first = base64.b64encode(
        json.dumps(
            {"callbackUrl": callback_server.url + "/one", "callbackBody": "${object}"}
        ).encode()
    )
    second = base64.b64encode(
        json.dumps(
            {
                "callbackUrl": callback_server.url + "/two",
                "callbackBody": "v=${x:var1}&s=${size}",
            }
        ).encode()
    )
    variables = base64.b64encode(json.dumps({"x:var1": "value1"}).encode())
    sdk_bucket.put_bucket_callback_policy(
        [CallbackPolicyInfo("one", first), CallbackPolicyInfo("two", second, variables)]
    )

    got = sdk_bucket.get_bucket_callback_policy().callback_policies
    sdk_bucket.put_object(
        "named.txt",
        b"four",
        headers={"x-oss-callback": encoded({"callbackPolicy": "two"})},
    )

    assert [(p.policy_name, p.callback, p.callback_var) for p in got] == [
        ("one", first.decode(), ""),
        ("two", second.decode(), variables.decode()),
    ]
    (received,) = callback_server.received
    assert (received["path"], received["body"]) == ("/two", "v=value1&s=4")
    assert sdk_bucket.delete_bucket_callback_policy().status == 204
    with pytest.raises(oss2.exceptions.ServerError) as missing:
        sdk_bucket.get_bucket_callback_policy()
    assert (missing.value.status, missing.value.code) == (
        404,
        "BucketCallbackPolicyNotExist",
    )


def test_a_callback_policy_with_a_bad_callback_is_refused_and_changes_nothing(
    sdk_bucket, callback_server
):
    good = encoded({"callbackUrl": callback_server.url, "callbackBody": "a"})
    sdk_bucket.put_bucket_callback_policy([CallbackPolicyInfo("keep", good)])

    with pytest.raises(oss2.exceptions.ServerError) as refused:
        sdk_bucket.put_bucket_callback_policy(
            [CallbackPolicyInfo("new", encoded({"callbackBody": "no url"}))]
        )

    assert (refused.value.status, refused.value.code) == (400, "InvalidArgument")
    names = [
        p.policy_name for p in sdk_bucket.get_bucket_callback_policy().callback_policies
    ]
    assert names == ["keep"]


def test_an_empty_callback_policy_document_removes_every_policy(
    sdk_bucket, callback_server
):
    good = encoded({"callbackUrl": callback_server.url, "callbackBody": "a"})
    sdk_bucket.put_bucket_callback_policy([CallbackPolicyInfo("gone", good)])

    assert sdk_bucket.put_bucket_callback_policy(None).status == 200

    with pytest.raises(oss2.exceptions.ServerError) as missing:
        sdk_bucket.get_bucket_callback_policy()
    assert missing.value.code == "BucketCallbackPolicyNotExist"


def test_callback_policies_are_the_owners_alone(callback_gunicorn, sdk_bucket):
    gunicorn, keys = callback_gunicorn
    as_bob = oss2.Bucket(oss2.Auth(*keys["bob"]), gunicorn.url, sdk_bucket.bucket_name)
    good = encoded({"callbackUrl": "http://a.example", "callbackBody": "a"})

    for attempt in (
        lambda: as_bob.put_bucket_callback_policy([CallbackPolicyInfo("x", good)]),
        as_bob.get_bucket_callback_policy,
        as_bob.delete_bucket_callback_policy,
    ):
        with pytest.raises(oss2.exceptions.ServerError) as denied:
            attempt()
        assert (denied.value.status, denied.value.code) == (403, "AccessDenied")


def test_policy_and_comp_route_apart(sdk_bucket):
    service = sdk_bucket._Bucket__do_bucket

    def get(params):
        return lambda: service("GET", params=params)

    assert refusal(get({"policy": ""})) == (404, "NoSuchBucketPolicy")
    assert refusal(get({"policy": "", "comp": "other"})) == (501, "NotImplemented")
    assert refusal(get({"comp": "callback"})) == (501, "NotImplemented")
    assert refusal(get({"policy": "", "comp": "callback"})) == (
        404,
        "BucketCallbackPolicyNotExist",
    )


# -- the callback body, table-driven ------------------------------------------------------------


@pytest.mark.parametrize(
    ("body_type", "template", "expected"),
    [
        (callbacks.FORM, "o=${object}&v=${x:v}", "o=a%2Fb%20c&v=1%262"),
        (callbacks.JSON, '{"o":"${object}","v":"${x:v}"}', '{"o":"a/b c","v":"1&2"}'),
        (callbacks.FORM, "u=${x:undefined}&i=${imageInfo.width}", "u=&i="),
        (callbacks.FORM, "no variables", "no variables"),
    ],
)
def test_callback_body_substitution(body_type, template, expected):
    callback = callbacks.Callback(
        urls=("http://a.example",),
        host="",
        body=template,
        body_type=body_type,
        variables={"x:v": "1&2"},
    )

    assert callbacks.callback_body(callback, {"object": "a/b c"}) == expected


def test_a_callback_url_without_a_scheme_is_http():
    callback = callbacks.parse_callback(
        encoded({"callbackUrl": "www.abc.com/callback", "callbackBody": "${etag}"}),
        "",
    )

    assert callback.urls == ("http://www.abc.com/callback",)
