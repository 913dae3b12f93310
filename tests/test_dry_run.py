"""The rule dry run: what a GET for a missing key would do, through the API and the console's
Test a request box, and proof that it agrees with what the runtime really does."""

from dataclasses import dataclass, field
from urllib.parse import quote, urlsplit

import pytest
from django.test import Client
from django.urls import reverse

from buckets.models import StoredObject
from origin.engine import FIXED_USER_AGENT
from origin.models import BackToOriginRule, OriginFetch
from tests.oss_responses import body_of
from tests.signing import presigned_path

pytestmark = pytest.mark.django_db

HTMX = {"HX-Request": "true"}
DRY_RUN_URL = "/api/v1/buckets/alice-bucket/rules/dry-run"
# Added by the HTTP client itself, not by the transmission rule.
TRANSPORT_HEADERS = {"host", "accept-encoding", "connection", "content-length"}


# What the dry run says about a rule without any of the newer Mirror elements.
PLAIN_MIRROR = {
    "alternate_origin_urls": [],
    "switch_on": "",
    "transparent_codes": [],
    "signed": "",
    "saved": True,
    "keeps_origin_metadata": False,
    "last_modified": "the time of the fetch",
    "return_headers": {},
    "tags": {},
    "head_mirrored": False,
}


def ask(api, **data):
    response = api.post(DRY_RUN_URL, data, format="json")
    assert response.status_code == 200, response.content
    return response.json()


# -- which rule matches, and why the others do not --------------------------------


@pytest.fixture
def five_rules(bucket, make_rule):
    return [
        make_rule(bucket, key_prefix="images/"),
        make_rule(bucket, key_suffix=".pdf"),
        make_rule(bucket, include_headers=[["X-Env", "beta"]], path="beta"),
        make_rule(
            bucket,
            mode="redirect",
            key_prefix="old/",
            http_status=403,
            host="new.example.com",
        ),
        make_rule(bucket, key_prefix="app/", path="stable"),
    ]


def test_the_first_matching_rule_wins_and_earlier_rules_say_why_not(api, five_rules):
    answer = ask(api, key="app/main.js", headers={"X-Env": "alpha"})

    assert answer == {
        "matched": True,
        "rule_id": five_rules[4].pk,
        "position": 5,
        "mode": "mirror",
        "not_matched": [
            {"position": 1, "reason": "key does not start with 'images/'"},
            {"position": 2, "reason": "key does not end with '.pdf'"},
            {"position": 3, "reason": "X-Env is 'alpha', rule wants 'beta'"},
            {"position": 4, "reason": "key does not start with 'old/'"},
        ],
        "mirror": {
            "origin_url": "https://www.example.com/stable/app/main.js",
            "secondary_origin_url": "",
            "probe_url": "",
            "headers": {"User-Agent": FIXED_USER_AGENT},
            **PLAIN_MIRROR,
        },
    }


def test_a_header_condition_is_matched_case_insensitively(api, five_rules):
    answer = ask(api, key="app/main.js", headers={"x-env": "beta"})

    assert (answer["position"], answer["mirror"]["origin_url"]) == (
        3,
        "https://www.example.com/beta/app/main.js",
    )


def test_no_rule_matches_and_each_rule_says_why(api, five_rules):
    answer = ask(api, key="misc/readme.txt")

    assert answer == {
        "matched": False,
        "rule_id": None,
        "position": None,
        "mode": None,
        "not_matched": [
            {"position": 1, "reason": "key does not start with 'images/'"},
            {"position": 2, "reason": "key does not end with '.pdf'"},
            {"position": 3, "reason": "request has no X-Env header"},
            {"position": 4, "reason": "key does not start with 'old/'"},
            {"position": 5, "reason": "key does not start with 'app/'"},
        ],
    }


def test_a_bucket_without_rules_matches_nothing(api, bucket):
    assert ask(api, key="a.txt") == {
        "matched": False,
        "rule_id": None,
        "position": None,
        "mode": None,
        "not_matched": [],
    }


def test_a_status_other_than_404(api, five_rules):
    answer = ask(api, key="old/page.html", status=403)

    assert answer["not_matched"][:3] == [
        {"position": 1, "reason": "key does not start with 'images/'"},
        {"position": 2, "reason": "key does not end with '.pdf'"},
        {"position": 3, "reason": "status would be 403, rule wants 404"},
    ]
    assert (answer["position"], answer["mode"], answer["redirect"]) == (
        4,
        "redirect",
        {"status": 301, "location": "https://new.example.com/old/page.html"},
    )

    at_404 = ask(api, key="old/page.html")
    assert at_404["matched"] is False
    assert at_404["not_matched"][3] == {
        "position": 4,
        "reason": "status would be 404, rule wants 403",
    }


def test_the_dry_run_contacts_nothing_and_saves_nothing(
    api, bucket, origin_server, mirror_rule
):
    mirror_rule(path="files")
    origin_server.route("/files/a.txt", body=b"would be mirrored")

    answer = ask(api, key="a.txt")

    assert answer["mirror"]["origin_url"] == origin_server.url("/files/a.txt")
    assert "probe" not in answer
    assert origin_server.received == []
    assert not StoredObject.objects.exists()
    assert not OriginFetch.objects.exists()


# -- mirroring: the origin URL ----------------------------------------------------

ORIGIN_URLS = [
    pytest.param(
        {"path": "static/img"},
        "a/b.txt",
        "",
        "https://www.example.com/static/img/a/b.txt",
        id="path",
    ),
    pytest.param(
        {"key_prefix": "images/"},
        "images/cat.jpg",
        "",
        "https://www.example.com/images/cat.jpg",
        id="prefix-kept",
    ),
    pytest.param(
        {
            "key_prefix": "images/",
            "replace_prefix": True,
            "replace_prefix_with": "img/v2/",
        },
        "images/cat.jpg",
        "",
        "https://www.example.com/img/v2/cat.jpg",
        id="prefix-replaced",
    ),
    pytest.param(
        {"key_prefix": "images/", "replace_prefix": True, "path": "assets"},
        "images/cat.jpg",
        "",
        "https://www.example.com/assets/cat.jpg",
        id="prefix-deleted",
    ),
    pytest.param(
        {},
        "dir/a b+ü#?%.txt",
        "",
        "https://www.example.com/dir/a%20b%2B%C3%BC%23%3F%25.txt",
        id="percent-encoded",
    ),
    pytest.param(
        {
            "protocol": "http",
            "host": "origin.example.com:8080",
            "path": "/deep/folder/",
        },
        "k",
        "",
        "http://origin.example.com:8080/deep/folder/k",
        id="http-port-and-slashes",
    ),
    pytest.param(
        {},
        "a.txt",
        "x=1",
        "https://www.example.com/a.txt",
        id="query-off",
    ),
    pytest.param(
        {"pass_query_string": True},
        "a.txt",
        "x=1&OSSAccessKeyId=LTAI&Expires=1700000000&Signature=abc%3D"
        "&x-oss-process=image%2Fresize&security-token=t&y=a%20b",
        "https://www.example.com/a.txt?x=1&y=a%20b",
        id="query-on-v1-auth-stripped",
    ),
    pytest.param(
        {"pass_query_string": True},
        "a.txt",
        "x-oss-signature-version=OSS4-HMAC-SHA256&x-oss-credential=LTAI%2F20250101"
        "&x-oss-date=20250101T000000Z&x-oss-expires=60&x-oss-signature=ff&v=2",
        "https://www.example.com/a.txt?v=2",
        id="query-on-v4-auth-stripped",
    ),
    pytest.param(
        {"pass_query_string": True},
        "a.txt",
        "OSSAccessKeyId=LTAI&Expires=1&Signature=s",
        "https://www.example.com/a.txt",
        id="query-only-auth-params",
    ),
]


@pytest.mark.parametrize(("rule_fields", "key", "query", "origin_url"), ORIGIN_URLS)
def test_the_exact_origin_url(
    api, bucket, rule_fields, key, query, origin_url, make_rule
):
    make_rule(bucket, **rule_fields)

    answer = ask(api, key=key, query=query)

    assert answer["mirror"]["origin_url"] == origin_url


def test_secondary_origin_and_probe_url_are_shown(api, bucket, make_rule):
    make_rule(
        bucket,
        path="files",
        secondary_url="https://backup.example.com/mirror",
        probe_url="https://www.example.com/health.txt",
    )

    answer = ask(api, key="a b.txt")

    assert answer["mirror"] == {
        "origin_url": "https://www.example.com/files/a%20b.txt",
        "secondary_origin_url": "https://backup.example.com/mirror/a%20b.txt",
        "probe_url": "https://www.example.com/health.txt",
        "headers": {"User-Agent": FIXED_USER_AGENT},
        **PLAIN_MIRROR,
    }


# -- mirroring: the headers sent ---------------------------------------------------

SEED_REQUEST_HEADERS = {"aaa-header": "aaa", "bbb-header": "bbb", "ccc-header": "111"}


def test_the_seed_header_example(api, bucket, make_rule):
    make_rule(
        bucket,
        pass_headers=["aaa-header"],
        remove_headers=["bbb-header"],
        set_headers=[["ccc-header", "ccc"]],
    )

    answer = ask(api, key="a.txt", headers=SEED_REQUEST_HEADERS)

    assert answer["mirror"]["headers"] == {
        "aaa-header": "aaa",
        "ccc-header": "ccc",
        "User-Agent": FIXED_USER_AGENT,
    }


def test_no_client_header_is_sent_by_default(api, bucket, make_rule):
    make_rule(bucket)

    answer = ask(api, key="a.txt", headers=SEED_REQUEST_HEADERS)

    assert answer["mirror"]["headers"] == {"User-Agent": FIXED_USER_AGENT}


def test_forbidden_headers_are_never_sent_even_with_transmit_all(
    api, bucket, make_rule
):
    make_rule(bucket, pass_all_headers=True)

    answer = ask(
        api,
        key="a.txt",
        headers={
            "Accept": "image/*",
            "User-Agent": "curl/8.0",
            "Authorization": "OSS a:b",
            "Range": "bytes=0-9",
            "X-OSS-Meta-A": "1",
            "oss-thing": "1",
            "X-Drs-Thing": "1",
            "Host": "evil.example.com",
            "Connection": "close",
            "Date": "Mon, 01 Jan 2024 00:00:00 GMT",
            "Content-Length": "5",
            "Proxy-Authorization": "Basic eA==",
            "Transfer-Encoding": "chunked",
            "Expect": "100-continue",
        },
    )

    assert answer["mirror"]["headers"] == {
        "Accept": "image/*",
        "User-Agent": "curl/8.0",
    }


# -- redirection: status and Location -----------------------------------------------

REDIRECTS = [
    pytest.param(
        {},
        "a/b c.txt",
        "q=1",
        301,
        "https://www.example.com/a/b%20c.txt",
        id="keep-query-off",
    ),
    pytest.param(
        {"pass_query_string": True, "redirect_code": 302},
        "a/b.txt",
        "q=1&Signature=x&OSSAccessKeyId=y&Expires=1",
        302,
        "https://www.example.com/a/b.txt?q=1",
        id="keep-query-on-auth-stripped",
    ),
    pytest.param(
        {
            "redirect_target": "affix",
            "target_prefix": "v2/",
            "target_suffix": ".bak",
            "redirect_code": 307,
        },
        "a/b.txt",
        "",
        307,
        "https://www.example.com/v2/a/b.txt.bak",
        id="affix",
    ),
    pytest.param(
        {
            "redirect_target": "fixed",
            "target_fixed_path": "/landing/index.html",
            "pass_query_string": True,
        },
        "anything/at/all",
        "from=old",
        301,
        "https://www.example.com/landing/index.html?from=old",
        id="fixed",
    ),
    pytest.param(
        {
            "key_prefix": "old/",
            "redirect_target": "replace_prefix",
            "replace_prefix_with": "new/",
            "protocol": "http",
            "host": "new.example.com",
        },
        "old/dir/f.txt",
        "",
        301,
        "http://new.example.com/new/dir/f.txt",
        id="replace-prefix",
    ),
    pytest.param(
        {"redirect_target": "replace_prefix", "replace_prefix_with": "archive/"},
        "f.txt",
        "",
        301,
        "https://www.example.com/archive/f.txt",
        id="replace-without-prefix-prepends",
    ),
]


@pytest.mark.parametrize(
    ("rule_fields", "key", "query", "status", "location"), REDIRECTS
)
def test_redirection_status_and_location(
    api, bucket, rule_fields, key, query, status, location, make_rule
):
    rule = make_rule(bucket, mode="redirect", **rule_fields)

    answer = ask(api, key=key, query=query, headers={"aaa-header": "aaa"})

    assert answer == {
        "matched": True,
        "rule_id": rule.pk,
        "position": 1,
        "mode": "redirect",
        "not_matched": [],
        "redirect": {"status": status, "location": location},
    }


# -- refused questions ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "errors"),
    [
        ({}, {"key": ["This field is required."]}),
        ({"key": ""}, {"key": ["This field may not be blank."]}),
        (
            {"key": "a", "status": 399},
            {"status": ["Ensure this value is greater than or equal to 400."]},
        ),
        (
            {"key": "a", "status": 600},
            {"status": ["Ensure this value is less than or equal to 599."]},
        ),
        ({"key": "a", "status": "gone"}, {"status": ["A valid integer is required."]}),
        (
            {"key": "a", "headers": ["aaa-header: aaa"]},
            {"headers": ['Expected a dictionary of items but got type "list".']},
        ),
    ],
    ids=[
        "no-key",
        "blank-key",
        "status-399",
        "status-600",
        "status-text",
        "headers-list",
    ],
)
def test_a_malformed_question_is_refused(api, bucket, data, errors, make_rule):
    make_rule(bucket)

    response = api.post(DRY_RUN_URL, data, format="json")

    assert response.status_code == 400
    assert response.json() == errors


# -- the dry run agrees with the runtime -----------------------------------------------


@dataclass
class Case:
    rules: list  # fields of each rule; all point at the loopback origin
    key: str
    expect: (
        str  # origin path and query (mirroring), or "<status> <Location>" (redirection)
    )
    query: str = ""
    headers: dict = field(default_factory=dict)
    presign: dict | None = (
        None  # instead of `query`: parameters of an oss2-presigned URL
    )


MIRRORING_CASES = [
    pytest.param(
        Case(
            [
                {
                    "key_prefix": "images/",
                    "path": "static",
                    "replace_prefix": True,
                    "replace_prefix_with": "img/v2/",
                }
            ],
            "images/cat 1.jpg",
            "/static/img/v2/cat%201.jpg",
        ),
        id="prefix-replaced",
    ),
    pytest.param(
        Case(
            [{"key_prefix": "cdn/", "replace_prefix": True}],
            "cdn/a/b+c.txt",
            "/a/b%2Bc.txt",
        ),
        id="prefix-deleted",
    ),
    pytest.param(
        Case(
            [{"path": "files"}], "dir/ü é#?.txt", "/files/dir/%C3%BC%20%C3%A9%23%3F.txt"
        ),
        id="percent-encoded",
    ),
    pytest.param(
        Case([{}], "q.txt", "/q.txt", query="v=2&w=3"),
        id="query-off",
    ),
    pytest.param(
        Case(
            [{"pass_query_string": True}],
            "q.txt",
            "/q.txt?v=2&empty=&v=3",
            query="v=2&x-oss-traffic-limit=819200&empty=&v=3",
        ),
        id="query-on-x-oss-stripped",
    ),
    pytest.param(
        Case(
            [{"pass_query_string": True}],
            "docs/read me.txt",
            "/docs/read%20me.txt?a=1&b=x%20y",
            presign={"a": "1", "b": "x y"},
        ),
        id="query-on-presigned-auth-stripped",
    ),
    pytest.param(
        Case(
            [
                {
                    "pass_headers": ["aaa-header"],
                    "remove_headers": ["bbb-header"],
                    "set_headers": [["ccc-header", "ccc"]],
                }
            ],
            "seed.txt",
            "/seed.txt",
            headers=SEED_REQUEST_HEADERS,
        ),
        id="seed-headers",
    ),
    pytest.param(
        Case(
            [
                {
                    "pass_all_headers": True,
                    # The test client sends its session cookie; a careful rule drops cookies.
                    "remove_headers": ["bbb-header", "Cookie"],
                    "set_headers": [["ccc-header", "ccc"], ["X-From", "bucket"]],
                }
            ],
            "all.txt",
            "/all.txt",
            headers={
                **SEED_REQUEST_HEADERS,
                "Accept-Language": "de",
                "X-OSS-Meta-A": "never",
                "Range": "bytes=0-3",
            },
        ),
        id="transmit-all-remove-set",
    ),
    pytest.param(
        Case(
            [{"pass_headers": ["user-agent"]}],
            "ua.txt",
            "/ua.txt",
            headers={"User-Agent": "curl/8.0"},
        ),
        id="client-user-agent",
    ),
    pytest.param(
        Case(
            [
                {"key_suffix": ".png", "path": "png"},
                {"key_suffix": ".jpg", "path": "jpg"},
            ],
            "x/y.jpg",
            "/jpg/x/y.jpg",
        ),
        id="suffix-second-rule",
    ),
    pytest.param(
        Case(
            [
                {"key_prefix": "a/", "path": "first"},
                {"key_prefix": "b/", "path": "second"},
            ],
            "b/c.txt",
            "/second/b/c.txt",
        ),
        id="prefix-second-rule",
    ),
    pytest.param(
        Case(
            [
                {"include_headers": [["X-Env", "beta"]], "path": "beta"},
                {"key_prefix": "app/", "path": "stable"},
            ],
            "app/main.js",
            "/beta/app/main.js",
            headers={"X-Env": "beta"},
        ),
        id="header-condition-met",
    ),
    pytest.param(
        Case(
            [
                {"include_headers": [["X-Env", "beta"]], "path": "beta"},
                {"key_prefix": "app/", "path": "stable"},
            ],
            "app/main.js",
            "/stable/app/main.js",
            headers={"X-Env": "alpha"},
        ),
        id="header-condition-not-met",
    ),
    pytest.param(
        Case(
            [
                {"key_prefix": "img/", "path": "images"},
                {"mode": "redirect", "key_suffix": ".html", "redirect_code": 302},
            ],
            "img/page.html",
            "/images/img/page.html",
        ),
        id="first-match-wins-over-a-later-redirect",
    ),
]

REDIRECTION_CASES = [
    pytest.param(
        Case(
            [{"mode": "redirect", "redirect_code": 302}],
            "k 1.txt",
            "302 http://{origin}/k%201.txt",
            query="v=1",
        ),
        id="keep-query-off",
    ),
    pytest.param(
        Case(
            [
                {
                    "mode": "redirect",
                    "redirect_target": "affix",
                    "target_prefix": "v2/",
                    "target_suffix": ".bak",
                    "pass_query_string": True,
                    "redirect_code": 307,
                }
            ],
            "a/b.txt",
            "307 http://{origin}/v2/a/b.txt.bak?x=1&y=2",
            query="x=1&y=2",
        ),
        id="affix-with-query",
    ),
    pytest.param(
        Case(
            [
                {
                    "mode": "redirect",
                    "redirect_target": "fixed",
                    "target_fixed_path": "landing/index.html",
                    "pass_query_string": True,
                }
            ],
            "gone.html",
            "301 http://{origin}/landing/index.html?from=old",
            query="from=old",
        ),
        id="fixed-with-query",
    ),
    pytest.param(
        Case(
            [
                {
                    "mode": "redirect",
                    "key_prefix": "old/",
                    "redirect_target": "replace_prefix",
                    "replace_prefix_with": "new/",
                    "pass_query_string": True,
                }
            ],
            "old/f.txt",
            "301 http://{origin}/new/f.txt?v=1",
            presign={"v": "1"},
        ),
        id="replace-prefix-presigned-query",
    ),
    pytest.param(
        Case(
            [
                {"key_prefix": "img/", "path": "images"},
                {
                    "mode": "redirect",
                    "include_headers": [["X-Env", "beta"]],
                    "redirect_code": 307,
                },
            ],
            "page.html",
            "307 http://{origin}/page.html",
            headers={"X-Env": "beta"},
        ),
        id="header-condition-second-rule",
    ),
]


def client_headers(client, headers):
    """The request headers Django will see: these plus the Cookie header the test client always sends."""
    cookie = "; ".join(
        sorted(
            f"{morsel.key}={morsel.coded_value}" for morsel in client.cookies.values()
        )
    )
    return {**headers, "Cookie": cookie}


@pytest.fixture
def ask_then_get(
    api,
    alice_client,
    alice_key,
    bucket,
    make_rule,
    origin_server,
    allow_private_origins,
):
    """Make the case's rules, ask the dry run, then GET the same missing key for real.

    The origin answers 200 at the path the dry run names, so a mirror completes.
    """

    def run(case):
        for fields in case.rules:
            make_rule(
                bucket,
                **{
                    "mode": "mirror",
                    "protocol": "http",
                    "host": origin_server.netloc,
                    **fields,
                },
            )
        if case.presign is None:
            path, query = "/alice-bucket/" + quote(case.key), case.query
            client = alice_client
        else:
            signed = presigned_path(
                alice_key, "alice-bucket", case.key, params=case.presign
            )
            path, query = signed.split("?", 1)
            client = Client()  # signed, not logged on

        answer = ask(
            api, key=case.key, query=query, headers=client_headers(client, case.headers)
        )
        if "mirror" in answer:
            origin_url = urlsplit(answer["mirror"]["origin_url"])
            origin_server.route(origin_url.path, body=b"from the origin")
        response = client.get(
            f"{path}?{query}" if query else path, headers=case.headers
        )
        return answer, response, body_of(response)

    return run


@pytest.mark.parametrize("case", MIRRORING_CASES)
def test_mirroring_dry_run_agrees_with_a_live_get(ask_then_get, origin_server, case):
    answer, response, body = ask_then_get(case)

    origin_url = urlsplit(answer["mirror"]["origin_url"])
    assert origin_url._replace(scheme="", netloc="").geturl() == case.expect
    ranged = "Range" in case.headers
    assert (response.status_code, body) == (
        (206, b"from") if ranged else (200, b"from the origin")
    )
    assert response["x-oss-tag"] == "MIRROR"
    [received] = origin_server.received
    assert (received.method, received.path, received.query) == (
        "GET",
        origin_url.path,
        origin_url.query,
    )
    sent = {
        name: value
        for name, value in received.headers.items()
        if name not in TRANSPORT_HEADERS
    }
    assert sent == {
        name.lower(): value for name, value in answer["mirror"]["headers"].items()
    }


@pytest.mark.parametrize("case", REDIRECTION_CASES)
def test_redirection_dry_run_agrees_with_a_live_get(ask_then_get, origin_server, case):
    answer, response, body = ask_then_get(case)

    status, location = case.expect.format(origin=origin_server.netloc).split(" ")
    assert answer["redirect"] == {"status": int(status), "location": location}
    assert (response.status_code, response["Location"], body) == (
        answer["redirect"]["status"],
        answer["redirect"]["location"],
        b"",
    )
    assert origin_server.received == []


def test_expected_headers_of_the_agreement_cases(api, bucket, make_rule):
    """The header sets compared live above, spelled out for the two header-rule cases."""
    make_rule(
        bucket,
        key_prefix="seed/",
        pass_headers=["aaa-header"],
        remove_headers=["bbb-header"],
        set_headers=[["ccc-header", "ccc"]],
    )
    make_rule(
        bucket,
        key_prefix="all/",
        pass_all_headers=True,
        remove_headers=["bbb-header", "Cookie"],
        set_headers=[["ccc-header", "ccc"], ["X-From", "bucket"]],
    )
    request_headers = {
        **SEED_REQUEST_HEADERS,
        "Accept-Language": "de",
        "X-OSS-Meta-A": "never",
        "Range": "bytes=0-3",
        "Cookie": "sessionid=abc",
    }

    assert ask(api, key="seed/a", headers=request_headers)["mirror"]["headers"] == {
        "aaa-header": "aaa",
        "ccc-header": "ccc",
        "User-Agent": FIXED_USER_AGENT,
    }
    assert ask(api, key="all/a", headers=request_headers)["mirror"]["headers"] == {
        "aaa-header": "aaa",
        "ccc-header": "ccc",
        "Accept-Language": "de",
        "X-From": "bucket",
        "User-Agent": FIXED_USER_AGENT,
    }


def test_the_secondary_origin_agrees_when_the_probe_fails(
    api, alice_client, bucket, origin_server, mirror_rule, fresh_probe_cache
):
    mirror_rule(
        path="primary",
        secondary_url=origin_server.url("/backup"),
        probe_url=origin_server.url("/health"),
    )  # /health is not routed: the probe gets 404, so the secondary is used
    answer = ask(api, key="s.txt")
    secondary = urlsplit(answer["mirror"]["secondary_origin_url"])
    origin_server.route(secondary.path, body=b"from the backup")

    response = alice_client.get("/alice-bucket/s.txt")

    assert body_of(response) == b"from the backup"
    assert [(r.method, r.path) for r in origin_server.received] == [
        ("GET", "/health"),
        ("GET", "/backup/s.txt"),
    ]
    assert secondary.path == "/backup/s.txt"


# -- probing the origin ------------------------------------------------------------------


@pytest.mark.parametrize(("routed", "status"), [(True, 200), (False, 404)])
def test_the_probe_sends_one_head_to_the_origin_url(
    api, bucket, origin_server, mirror_rule, routed, status
):
    mirror_rule(path="files", set_headers=[["x-from", "bucket"]])
    if routed:
        origin_server.route("/files/a.txt", body=b"there")

    answer = ask(api, key="a.txt", probe=True)

    probe = answer["probe"]
    assert {name: probe[name] for name in ("status", "error", "contacted_origin")} == {
        "status": status,
        "error": "",
        "contacted_origin": True,
    }
    assert isinstance(probe["elapsed_ms"], int)
    [received] = origin_server.received
    assert (received.method, received.path, received.query) == (
        "HEAD",
        "/files/a.txt",
        "",
    )
    assert received.headers["x-from"] == "bucket"
    assert received.headers["user-agent"] == FIXED_USER_AGENT
    assert not StoredObject.objects.exists()
    assert not OriginFetch.objects.exists()


def test_the_probe_goes_through_the_ssrf_guard(
    api, settings, bucket, origin_server, mirror_rule
):
    mirror_rule(path="files")
    origin_server.route("/files/a.txt", body=b"there")
    settings.ORIGIN_ALLOW_PRIVATE = (
        False  # the operator changed it after the rule was saved
    )

    answer = ask(api, key="a.txt", probe=True)

    assert {
        name: answer["probe"][name] for name in ("status", "error", "contacted_origin")
    } == {
        "status": None,
        "error": "Origin refused: 127.0.0.1 is a loopback address; origins on internal networks are not allowed.",
        "contacted_origin": False,
    }
    assert origin_server.received == []


def test_the_probe_reports_an_origin_that_does_not_answer(
    api, bucket, allow_private_origins, make_rule
):
    make_rule(
        bucket, protocol="http", host="127.0.0.1:9"
    )  # discard port: nothing listens

    answer = ask(api, key="a.txt", probe=True)

    assert answer["probe"]["status"] is None
    assert answer["probe"]["error"].startswith("Could not connect to the origin: ")
    assert answer["probe"]["contacted_origin"] is True


def test_a_header_value_that_cannot_be_sent_fails_alike_in_probe_and_runtime(
    api, alice_client, bucket, origin_server, mirror_rule
):
    # HTTP header values are Latin-1. Validation now refuses "€", but a row saved
    # before that rule (or written around it) must still fail cleanly, not with a 500.
    rule = mirror_rule(path="files", set_headers=[["X-Price", "5"]])
    BackToOriginRule.objects.filter(pk=rule.pk).update(set_headers=[["X-Price", "5 €"]])
    origin_server.route("/files/a.txt", body=b"there")

    answer = ask(api, key="a.txt", probe=True)
    response = alice_client.get("/alice-bucket/a.txt")

    assert answer["mirror"]["headers"] == {
        "X-Price": "5 €",
        "User-Agent": FIXED_USER_AGENT,
    }
    assert answer["probe"]["status"] is None
    assert answer["probe"]["error"].startswith(
        "The origin request failed: a header value is not Latin-1 "
    )
    assert response.status_code == 424
    assert b"<Code>MirrorFailed</Code>" in response.content
    assert origin_server.received == []
    assert not StoredObject.objects.exists()


def test_redirection_is_never_probed(
    api, bucket, origin_server, allow_private_origins, make_rule
):
    make_rule(bucket, mode="redirect", protocol="http", host=origin_server.netloc)

    answer = ask(api, key="a.txt", probe=True)

    assert "probe" not in answer
    assert origin_server.received == []


# -- the console's Test a request box ------------------------------------------------------


def console_url(bucket):
    return reverse("console-rule-dry-run", args=[bucket.name])


def test_console_box_answers_with_origin_url_and_headers(
    alice_client, bucket, seed_rules
):
    mirror, _redirect = seed_rules

    response = alice_client.post(
        console_url(bucket),
        {
            "key": "images/cat 1.jpg",
            "query": "?v=1",
            "headers": "aaa-header: aaa\r\nbbb-header: bbb\r\n\r\nccc-header: 111",
        },
        headers=HTMX,
    )

    assert response.status_code == 200
    html = response.content.decode()
    assert "<html" not in html
    assert html.startswith('<div id="dry-run"')
    assert f'data-matched-rule="rule-{mirror.pk}"' in html
    assert "<p><strong>Rule 1</strong> matches (Mirroring).</p>" in html
    assert (
        '<code data-testid="dry-run-origin-url">http://www.example.com/static/images/cat%201.jpg?v=1</code>'
        in html
    )
    assert (
        "<dd><code>aaa-header: aaa</code><br><code>ccc-header: ccc</code><br>"
        f"<code>User-Agent: {FIXED_USER_AGENT}</code><br></dd>" in html
    )
    assert "bbb" not in html.split("dry-run-answer")[1]
    assert 'value="images/cat 1.jpg"' in html  # what was typed stays
    assert "the origin is not contacted" in html


def test_console_box_shows_the_redirection_location(alice_client, bucket, seed_rules):
    _mirror, redirect = seed_rules

    response = alice_client.post(
        console_url(bucket), {"key": "old/a.html"}, headers=HTMX
    )

    html = response.content.decode()
    assert f'data-matched-rule="rule-{redirect.pk}"' in html
    assert "<p><strong>Rule 2</strong> matches (Redirection).</p>" in html
    assert "<dt>Status</dt><dd>302</dd>" in html
    assert (
        "<dt>Location</dt><dd><code>https://new.example.com/old/a.html</code></dd>"
        in html
    )
    assert "<li>Rule 1: key does not start with &#x27;images/&#x27;</li>" in html


def test_console_box_says_when_no_rule_matches(alice_client, bucket, seed_rules):
    response = alice_client.post(console_url(bucket), {"key": "misc.txt"}, headers=HTMX)

    html = response.content.decode()
    assert 'data-matched-rule=""' in html
    assert (
        "<p><strong>No rule matches</strong>: the request gets 404 NoSuchKey.</p>"
        in html
    )
    assert "<li>Rule 1: key does not start with &#x27;images/&#x27;</li>" in html
    assert "<li>Rule 2: key does not start with &#x27;old/&#x27;</li>" in html


@pytest.mark.parametrize(
    ("data", "field", "message"),
    [
        (
            {"key": "images/a", "headers": "aaa-header: aaa\nno separator here"},
            "headers",
            "Line 2: write headers as &#x27;Name: value&#x27;.",
        ),
        (
            {"key": "images/a", "headers": ": value without a name"},
            "headers",
            "Line 1: write headers as &#x27;Name: value&#x27;.",
        ),
        ({"key": ""}, "key", "This field is required."),
    ],
    ids=["no-colon", "no-name", "no-key"],
)
def test_console_box_shows_input_errors_inline(
    alice_client, bucket, seed_rules, data, field, message
):
    response = alice_client.post(console_url(bucket), data, headers=HTMX)

    assert response.status_code == 200
    html = response.content.decode()
    assert "<html" not in html
    assert f'<div class="field has-error" id="field-{field}">' in html
    assert f'<div class="field-error">{message}</div>' in html
    assert "dry-run-answer" not in html
    if "headers" in data:
        assert "no separator here" in html or "value without a name" in html


def test_console_box_probe_is_marked_as_contacting_the_origin(
    alice_client, bucket, origin_server, mirror_rule
):
    mirror_rule(path="files")
    origin_server.route("/files/a.txt", body=b"there")

    response = alice_client.post(
        console_url(bucket), {"key": "a.txt", "probe": "on"}, headers=HTMX
    )

    html = response.content.decode()
    assert '<dd class="probe">HEAD contacted the origin: HTTP 200 in ' in html
    assert "the origin is not contacted" not in html
    assert [(r.method, r.path) for r in origin_server.received] == [
        ("HEAD", "/files/a.txt")
    ]


def test_console_box_says_a_refused_probe_was_not_sent(
    alice_client, settings, bucket, origin_server, mirror_rule
):
    mirror_rule(path="files")
    settings.ORIGIN_ALLOW_PRIVATE = False

    response = alice_client.post(
        console_url(bucket), {"key": "a.txt", "probe": "on"}, headers=HTMX
    )

    assert (
        '<dd class="probe">HEAD not sent: Origin refused: 127.0.0.1 is a loopback address; '
        "origins on internal networks are not allowed.</dd>"
    ) in response.content.decode()
    assert origin_server.received == []


def test_console_box_without_htmx_renders_the_whole_page(
    alice_client, bucket, seed_rules
):
    response = alice_client.post(console_url(bucket), {"key": "images/a.png"})

    assert response.status_code == 200
    html = response.content.decode()
    assert "<html" in html
    assert 'id="rule-list"' in html
    assert "http://www.example.com/static/images/a.png" in html


def test_the_rule_list_shows_the_box_once_there_are_rules(
    alice_client, bucket, make_rule
):
    rules_page = reverse("console-rules", args=[bucket.name])
    assert "Test a request" not in alice_client.get(rules_page).content.decode()

    make_rule(bucket, key_prefix="a/")

    html = alice_client.get(rules_page).content.decode()
    assert "<h3>Test a request</h3>" in html
    assert f'hx-post="{console_url(bucket)}"' in html


def test_console_box_is_404_for_other_users_and_needs_log_on(
    bob_client, client, bucket, seed_rules
):
    assert bob_client.post(console_url(bucket), {"key": "images/a"}).status_code == 404
    response = client.post(console_url(bucket), {"key": "images/a"})
    assert response.status_code == 302
    assert response.url.startswith(reverse("login"))


def test_console_box_answers_only_posts(alice_client, bucket, seed_rules):
    assert alice_client.get(console_url(bucket)).status_code == 405


def test_console_box_needs_the_csrf_token(alice, bucket, seed_rules):
    client = Client(enforce_csrf_checks=True)
    client.force_login(alice)

    assert (
        client.post(console_url(bucket), {"key": "images/a"}, headers=HTMX).status_code
        == 403
    )

    client.get(reverse("console-rules", args=[bucket.name]))
    token = client.cookies["csrftoken"].value
    response = client.post(
        console_url(bucket), {"key": "images/a"}, headers={**HTMX, "X-CSRFToken": token}
    )
    assert response.status_code == 200
    assert "dry-run-answer" in response.content.decode()


# -- the newer Mirror elements (SPEC §10) ---------------------------------------------


def test_the_dry_run_explains_alternates_signing_and_what_is_saved(
    api, bucket, make_rule
):
    rule = BackToOriginRule(
        bucket=bucket,
        host="www.example.com",
        include_headers=[["X-Tenant", "blue", "starts_with"]],
        alternates=[[2, "https://c.example.com/"], [1, "https://b.example.com/x/"]],
        switch_on_all_errors=True,
        transparent_codes=[403],
        proxy_only=True,
        return_headers=[["X-From", "mirror"]],
        mirror_head=True,
        auth_type="S3V4",
        auth_access_key_id="AKID",
        auth_region="us-east-1",
    )
    rule.apply_auth_secret("SECRET-NEVER-SHOWN")
    rule.save_in_order()

    answer = ask(api, key="a.txt", headers={"X-Tenant": "blue-eu"})
    mirror = answer["mirror"]

    assert mirror["alternate_origin_urls"] == [
        "https://b.example.com/x/a.txt",
        "https://c.example.com/a.txt",
    ]
    assert mirror["switch_on"] == "any answer other than 200"
    assert mirror["transparent_codes"] == [403]
    assert mirror["saved"] is False
    assert mirror["return_headers"] == {"X-From": "mirror"}
    assert mirror["head_mirrored"] is True
    assert (
        mirror["signed"] == "S3 Signature V4 with AccessKey ID AKID, region us-east-1"
    )
    assert "SECRET-NEVER-SHOWN" not in str(answer)
    assert rule.auth_sealed_secret not in str(answer)

    missed = ask(api, key="a.txt", headers={"X-Tenant": "red"})
    assert missed["not_matched"] == [
        {
            "position": 1,
            "reason": "X-Tenant is 'red', rule wants a value starting with 'blue'",
        }
    ]


def test_the_console_dry_run_shows_the_newer_elements(alice_client, bucket, make_rule):
    make_rule(
        bucket,
        alternates=[[1, "https://b.example.com/"]],
        keep_origin_last_modified=True,
        save_origin_meta=True,
    )

    response = alice_client.post(
        reverse("console-rule-dry-run", args=["alice-bucket"]),
        {"key": "a.txt", "query": "", "headers": ""},
        headers=HTMX,
    )

    page = response.content.decode()
    assert "https://b.example.com/a.txt" in page
    assert "a connection error, a timeout or a 5xx" in page
    assert "the origin&#x27;s Last-Modified" in page
    assert "x-amz-meta-*" in page
