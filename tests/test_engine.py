"""The Back-to-Origin engine (origin/engine.py) and address checks: pure Python, no database."""

import pytest

from origin import engine
from origin.addresses import internal_address_reason, internal_host_reason
from origin.engine import HeaderCondition, HeaderTransmission, Redirection, Rule

STARTS, ENDS = engine.MATCH_STARTS_WITH, engine.MATCH_ENDS_WITH


def mirror(position=1, **fields):
    return Rule(position, engine.MIRROR, **{"host": "origin.example.com", **fields})


def redirect(position=1, **fields):
    return Rule(position, engine.REDIRECT, **{"host": "new.example.com", **fields})


# -- select_rule / mismatch_reason ------------------------------------------


@pytest.mark.parametrize(
    ("rule", "key", "status", "headers", "reason"),
    [
        (mirror(), "any/key.txt", 404, {}, None),
        (mirror(key_prefix="img/"), "img/a.jpg", 404, {}, None),
        (
            mirror(key_prefix="img/"),
            "doc/a.jpg",
            404,
            {},
            "key does not start with 'img/'",
        ),
        (
            mirror(key_prefix="img/"),
            "IMG/a.jpg",
            404,
            {},
            "key does not start with 'img/'",
        ),
        (mirror(key_suffix=".jpg"), "img/a.jpg", 404, {}, None),
        (
            mirror(key_suffix=".jpg"),
            "img/a.png",
            404,
            {},
            "key does not end with '.jpg'",
        ),
        (mirror(key_prefix="img/", key_suffix=".jpg"), "img/a.jpg", 404, {}, None),
        (
            mirror(key_prefix="img/", key_suffix=".jpg"),
            "img/a.png",
            404,
            {},
            "key does not end with '.jpg'",
        ),
        (
            mirror(key_prefix="img/", key_suffix=".jpg"),
            "doc/a.jpg",
            404,
            {},
            "key does not start with 'img/'",
        ),
        (mirror(), "a", 403, {}, "status would be 403, rule wants 404"),
        (mirror(), "a", 200, {}, "status would be 200, rule wants 404"),
        (redirect(http_status=None), "a", 200, {}, None),
        (redirect(http_status=None), "a", 404, {}, None),
        (redirect(http_status=None), "a", 403, {}, None),
        (redirect(http_status=403), "a", 403, {}, None),
        (
            redirect(http_status=403),
            "a",
            404,
            {},
            "status would be 404, rule wants 403",
        ),
        (
            mirror(include_headers=(HeaderCondition("X-Tenant", "blue"),)),
            "a",
            404,
            {"x-tenant": "blue"},
            None,
        ),
        (
            mirror(include_headers=(HeaderCondition("x-tenant", "blue"),)),
            "a",
            404,
            {"X-TENANT": "blue"},
            None,
        ),
        (
            mirror(include_headers=(HeaderCondition("X-Tenant", "blue"),)),
            "a",
            404,
            [("X-Tenant", "blue")],
            None,
        ),
        (
            mirror(include_headers=(HeaderCondition("X-Tenant", "blue"),)),
            "a",
            404,
            {"X-Tenant": "Blue"},
            "X-Tenant is 'Blue', rule wants 'blue'",
        ),
        (
            mirror(include_headers=(HeaderCondition("X-Tenant", "blue"),)),
            "a",
            404,
            {"X-Other": "blue"},
            "request has no X-Tenant header",
        ),
        (
            mirror(include_headers=(HeaderCondition("X-Tenant", ""),)),
            "a",
            404,
            {"X-Tenant": ""},
            None,
        ),
        (
            mirror(
                include_headers=(
                    HeaderCondition("X-Tenant", "blue"),
                    HeaderCondition("X-Region", "eu"),
                )
            ),
            "a",
            404,
            {"X-Tenant": "blue", "X-Region": "us"},
            "X-Region is 'us', rule wants 'eu'",
        ),
        (
            mirror(include_headers=(HeaderCondition("X-Tenant", "blue", STARTS),)),
            "a",
            404,
            {"X-Tenant": "blue-eu"},
            None,
        ),
        (
            mirror(include_headers=(HeaderCondition("X-Tenant", "blue", STARTS),)),
            "a",
            404,
            {"X-Tenant": "Blue-eu"},
            "X-Tenant is 'Blue-eu', rule wants a value starting with 'blue'",
        ),
        (
            mirror(include_headers=(HeaderCondition("X-Tenant", "-eu", ENDS),)),
            "a",
            404,
            {"X-Tenant": "blue-eu"},
            None,
        ),
        (
            mirror(include_headers=(HeaderCondition("X-Tenant", "-eu", ENDS),)),
            "a",
            404,
            {"X-Tenant": "blue-us"},
            "X-Tenant is 'blue-us', rule wants a value ending with '-eu'",
        ),
        (  # one header named twice: both must hold
            mirror(
                include_headers=(
                    HeaderCondition("X-Tenant", "blue", STARTS),
                    HeaderCondition("x-tenant", "-eu", ENDS),
                )
            ),
            "a",
            404,
            {"X-Tenant": "blue-us"},
            "x-tenant is 'blue-us', rule wants a value ending with '-eu'",
        ),
    ],
)
def test_mismatch_reason_explains_why_a_rule_does_not_apply(
    rule, key, status, headers, reason
):
    assert engine.mismatch_reason(rule, key, status, headers) == reason


RULES = (
    redirect(position=3, key_prefix="img/", http_status=None),
    mirror(position=1, key_prefix="img/", key_suffix=".jpg"),
    mirror(position=2, key_prefix="img/"),
    mirror(position=4, key_suffix=".txt"),
    mirror(position=5, include_headers=(HeaderCondition("X-Tenant", "blue"),)),
)


@pytest.mark.parametrize(
    ("key", "status", "headers", "position"),
    [
        ("img/a.jpg", 404, {}, 1),
        ("img/a.png", 404, {}, 2),
        (
            "img/a.png",
            200,
            {},
            3,
        ),  # only the status-less redirect matches an existing key
        ("doc/a.txt", 404, {}, 4),
        ("img/a.txt", 404, {}, 2),  # 2 comes before 4
        ("doc/a.pdf", 404, {"X-Tenant": "blue"}, 5),
        ("doc/a.pdf", 404, {"X-Tenant": "red"}, None),
        ("doc/a.pdf", 404, {}, None),
        ("doc/a.txt", 403, {}, None),
    ],
)
def test_select_rule_returns_the_first_match_by_position_whatever_the_list_order(
    key, status, headers, position
):
    for rules in (RULES, tuple(reversed(RULES))):
        chosen = engine.select_rule(rules, key, status, headers)
        assert (chosen.position if chosen else None) == position


def test_select_rule_returns_none_without_rules():
    assert engine.select_rule((), "a", 404, {}) is None


def test_select_rule_does_not_fall_through_to_a_rule_with_a_working_origin():
    broken = mirror(position=1, host="down.example.com")
    working = mirror(position=2, host="up.example.com")
    assert engine.select_rule([working, broken], "a", 404, {}) is broken


# -- origin_base_url / build_origin_url ----------------------------------------


@pytest.mark.parametrize(
    ("fields", "base"),
    [
        ({}, "https://origin.example.com/"),
        ({"protocol": "http"}, "http://origin.example.com/"),
        ({"host": "origin.example.com:8080"}, "https://origin.example.com:8080/"),
        ({"host": "[2001:db8::1]:8443"}, "https://[2001:db8::1]:8443/"),
        ({"path": "dir1"}, "https://origin.example.com/dir1/"),
        ({"path": "/dir1/dir2/"}, "https://origin.example.com/dir1/dir2/"),
        ({"path": "abc/123"}, "https://origin.example.com/abc/123/"),
        ({"path": "/"}, "https://origin.example.com/"),
        ({"path": "dossier/é"}, "https://origin.example.com/dossier/%C3%A9/"),
    ],
)
def test_origin_base_url_is_protocol_host_and_path_ending_in_a_slash(fields, base):
    assert engine.origin_base_url(mirror(**fields)) == base


@pytest.mark.parametrize(
    ("fields", "key", "url"),
    [
        ({}, "myobject", "https://origin.example.com/myobject"),
        ({"path": "dir1"}, "a/b/c.txt", "https://origin.example.com/dir1/a/b/c.txt"),
        ({"path": "/dir1/"}, "a.txt", "https://origin.example.com/dir1/a.txt"),
        ({}, "/leading.txt", "https://origin.example.com/leading.txt"),
        (
            {"path": "dir1"},
            "/leading.txt",
            "https://origin.example.com/dir1/leading.txt",
        ),
        ({}, "folder/", "https://origin.example.com/folder/"),
        # Reference §1.3 worked example: prefix mirror/, replaced with test/, path "path".
        (
            {
                "path": "path",
                "key_prefix": "mirror/",
                "replace_prefix": True,
                "replace_prefix_with": "test/",
            },
            "mirror/photo.jpg",
            "https://origin.example.com/path/test/photo.jpg",
        ),
        (
            {"key_prefix": "mirror/", "replace_prefix": True},
            "mirror/photo.jpg",
            "https://origin.example.com/photo.jpg",
        ),
        (
            {"key_prefix": "mirror/", "replace_prefix": True},
            "other/photo.jpg",
            "https://origin.example.com/other/photo.jpg",
        ),
        (
            {"key_prefix": "mirror/", "replace_prefix_with": "test/"},
            "mirror/photo.jpg",
            "https://origin.example.com/mirror/photo.jpg",
        ),
        (
            {"replace_prefix": True, "replace_prefix_with": "test/"},
            "mirror/photo.jpg",
            "https://origin.example.com/mirror/photo.jpg",
        ),
        (
            {
                "key_prefix": "mirror/",
                "replace_prefix": True,
                "replace_prefix_with": "/",
            },
            "mirror/photo.jpg",
            "https://origin.example.com/photo.jpg",
        ),
    ],
)
def test_build_origin_url_appends_the_key_after_prefix_replace_or_delete(
    fields, key, url
):
    assert engine.build_origin_url(mirror(**fields), key) == url


@pytest.mark.parametrize(
    ("key", "url"),
    [
        ("with space.txt", "https://origin.example.com/with%20space.txt"),
        (
            "文件/ünï.txt",
            "https://origin.example.com/%E6%96%87%E4%BB%B6/%C3%BCn%C3%AF.txt",
        ),
        ("a#b", "https://origin.example.com/a%23b"),
        ("a?b=1", "https://origin.example.com/a%3Fb%3D1"),
        ("100%.txt", "https://origin.example.com/100%25.txt"),
        ("a%20b", "https://origin.example.com/a%2520b"),
        ("a+b", "https://origin.example.com/a%2Bb"),
        ("a&b;c", "https://origin.example.com/a%26b%3Bc"),
        ("keep-_.~/x", "https://origin.example.com/keep-_.~/x"),
        ("emoji-😀.png", "https://origin.example.com/emoji-%F0%9F%98%80.png"),
    ],
)
def test_build_origin_url_percent_encodes_the_key_but_keeps_slashes(key, url):
    assert engine.build_origin_url(mirror(), key) == url


@pytest.mark.parametrize(
    ("query", "url"),
    [
        ("", "https://origin.example.com/a"),
        ("a=1&b=2", "https://origin.example.com/a?a=1&b=2"),
        ("b=2&a=1", "https://origin.example.com/a?b=2&a=1"),
        ("q=a+b&r=%2F%20x", "https://origin.example.com/a?q=a+b&r=%2F%20x"),
        ("blank=&flag&x=1", "https://origin.example.com/a?blank=&flag&x=1"),
        (
            "OSSAccessKeyId=AK&Expires=1700000000&Signature=abc%3D&x=1",
            "https://origin.example.com/a?x=1",
        ),
        ("ossaccesskeyid=AK&EXPIRES=1&signature=s", "https://origin.example.com/a"),
        (
            "security-token=t&Security-Token=t&keep=1",
            "https://origin.example.com/a?keep=1",
        ),
        (
            "x-oss-signature-version=OSS4-HMAC-SHA256&x-oss-credential=AK%2F20240101"
            "&x-oss-date=20240101T000000Z&x-oss-expires=60&x-oss-signature=abc&size=large",
            "https://origin.example.com/a?size=large",
        ),
        ("X-OSS-Signature=abc&v=2", "https://origin.example.com/a?v=2"),
        ("x-oss-process=image/resize", "https://origin.example.com/a"),
        ("%4FSSAccessKeyId=AK&v=1", "https://origin.example.com/a?v=1"),  # encoded name
        (
            "expiresAt=5&signatures=2",
            "https://origin.example.com/a?expiresAt=5&signatures=2",
        ),
        ("oss-thing=1", "https://origin.example.com/a?oss-thing=1"),
    ],
)
def test_build_origin_url_passes_the_query_without_auth_parameters(query, url):
    rule = mirror(pass_query_string=True)
    assert engine.build_origin_url(rule, "a", query) == url


def test_build_origin_url_drops_the_query_unless_transfer_query_string_is_on():
    rule = mirror(pass_query_string=False)
    assert (
        engine.build_origin_url(rule, "a", "x=1&y=2") == "https://origin.example.com/a"
    )


@pytest.mark.parametrize(
    ("base_url", "url"),
    [
        ("https://backup.example.com/", "https://backup.example.com/k%20ey"),
        ("https://backup.example.com/dir/", "https://backup.example.com/dir/k%20ey"),
        ("http://backup.example.com/dir", "http://backup.example.com/dir/k%20ey"),
        (None, "https://origin.example.com/primary/k%20ey"),
        ("", "https://origin.example.com/primary/k%20ey"),
    ],
)
def test_build_origin_url_uses_the_secondary_base_url_when_given(base_url, url):
    rule = mirror(path="primary", secondary_url="https://backup.example.com/")
    assert engine.build_origin_url(rule, "k ey", base_url=base_url) == url


def test_build_origin_url_applies_the_prefix_replacement_on_the_secondary_too():
    rule = mirror(key_prefix="m/", replace_prefix=True, replace_prefix_with="n/")
    assert (
        engine.build_origin_url(rule, "m/a.txt", "x=1", "https://b.example.com/")
        == "https://b.example.com/n/a.txt"
    )


@pytest.mark.parametrize(
    ("query", "kept"),
    [
        ("", ""),
        (None, ""),
        ("a=1", "a=1"),
        ("a=1&&b=2", "a=1&b=2"),
        ("Signature=x", ""),
        ("OSSAccessKeyId=a&Expires=1&Signature=s&security-token=t", ""),
        ("x-oss-credential=a&X-Oss-Date=b&x-oss-signature=c", ""),
        ("a=%E6%96%87&b=c+d&OSSAccessKeyId=z", "a=%E6%96%87&b=c+d"),
        ("z=9&a=1&Expires=3&m=", "z=9&a=1&m="),
    ],
)
def test_strip_auth_parameters_keeps_the_rest_byte_for_byte(query, kept):
    assert engine.strip_auth_parameters(query) == kept


# -- transmit_headers -----------------------------------------------------------


def test_the_spec_example_transmits_aaa_sets_ccc_and_drops_bbb():
    transmission = HeaderTransmission(
        pass_names=("aaa-header",),
        remove_names=("bbb-header",),
        set_headers=(("ccc-header", "ccc"),),
    )
    client = {"aaa-header": "aaa", "bbb-header": "bbb", "ccc-header": "111"}
    assert engine.transmit_headers(transmission, client) == {
        "aaa-header": "aaa",
        "ccc-header": "ccc",
    }


def test_the_spec_example_gives_the_same_result_with_transmit_all():
    transmission = HeaderTransmission(
        pass_all=True,
        remove_names=("bbb-header",),
        set_headers=(("ccc-header", "ccc"),),
    )
    client = {"aaa-header": "aaa", "bbb-header": "bbb", "ccc-header": "111"}
    assert engine.transmit_headers(transmission, client) == {
        "aaa-header": "aaa",
        "ccc-header": "ccc",
    }


CLIENT_HEADERS = {
    "Accept": "image/*",
    "Cookie": "session=1",
    "User-Agent": "curl/8",
    "X-Custom": "yes",
    "Referer": "https://site.example/",
}


@pytest.mark.parametrize(
    ("transmission", "sent"),
    [
        (HeaderTransmission(), {}),
        (HeaderTransmission(pass_all=True), CLIENT_HEADERS),
        (
            HeaderTransmission(pass_all=True, remove_names=("cookie", "USER-AGENT")),
            {
                "Accept": "image/*",
                "X-Custom": "yes",
                "Referer": "https://site.example/",
            },
        ),
        (HeaderTransmission(pass_names=("x-custom",)), {"X-Custom": "yes"}),
        (
            HeaderTransmission(pass_names=("X-CUSTOM", "accept")),
            {"Accept": "image/*", "X-Custom": "yes"},
        ),
        (HeaderTransmission(pass_names=("x-missing",)), {}),
        (
            HeaderTransmission(pass_names=("x-custom",), remove_names=("X-Custom",)),
            {},
        ),
        (
            HeaderTransmission(
                pass_names=("x-custom",), set_headers=(("X-CUSTOM", "no"),)
            ),
            {"X-CUSTOM": "no"},
        ),
        (
            HeaderTransmission(set_headers=(("X-Added", "1"),)),
            {"X-Added": "1"},
        ),
        (
            # Set comes after remove, so a removed header can still be set.
            HeaderTransmission(
                pass_all=True,
                remove_names=("accept", "cookie", "user-agent", "x-custom", "referer"),
                set_headers=(("Accept", "text/plain"),),
            ),
            {"Accept": "text/plain"},
        ),
    ],
)
def test_transmit_headers_applies_all_then_these_then_remove_then_set(
    transmission, sent
):
    assert engine.transmit_headers(transmission, CLIENT_HEADERS) == sent


def test_transmit_headers_keeps_the_clients_spelling_of_a_passed_name():
    transmission = HeaderTransmission(pass_names=("x-custom",))
    assert engine.transmit_headers(transmission, [("X-cUsToM", "v")]) == {
        "X-cUsToM": "v"
    }


FORBIDDEN_NAMES = [
    "If-None-Match",
    "if-modified-since",
    "If-Match",
    "If-Unmodified-Since",
    "If-Range",
    "x-oss-meta-a",
    "X-OSS-Meta-A",
    "x-oss-security-token",
    "oss-foo",
    "OSS-Foo",
    "x-drs-bar",
    "X-DRS-Bar",
    "proxy-authorization",
    "Proxy-Connection",
    "content-length",
    "Content-Length",
    "authorization",
    "Authorization",
    "authorization2",
    "AUTHORIZATION2",
    "range",
    "Range",
    "date",
    "Date",
    "host",
    "HOST",
    "connection",
    "Connection",
    "keep-alive",
    "Keep-Alive",
    "te",
    "TE",
    "trailer",
    "Trailer",
    "transfer-encoding",
    "Transfer-Encoding",
    "upgrade",
    "Upgrade",
    "expect",
    "Expect",
]


@pytest.mark.parametrize("name", FORBIDDEN_NAMES)
@pytest.mark.parametrize(
    ("pass_all", "listed"), [(True, False), (False, True), (True, True)]
)
def test_a_forbidden_header_is_never_transmitted(name, pass_all, listed):
    transmission = HeaderTransmission(
        pass_all=pass_all, pass_names=(name, name.lower()) if listed else ()
    )
    client = {name: "client-value", "X-Allowed": "ok"}
    assert engine.transmit_headers(transmission, client) == (
        {"X-Allowed": "ok"} if pass_all else {}
    )


@pytest.mark.parametrize("name", FORBIDDEN_NAMES)
def test_a_forbidden_header_is_never_set_either(name):
    transmission = HeaderTransmission(set_headers=((name, "rule-value"),))
    assert engine.transmit_headers(transmission, {name: "client-value"}) == {}


@pytest.mark.parametrize(
    "name",
    [
        "Cookie",
        "User-Agent",
        "Referer",
        "Accept",
        "Accept-Encoding",
        "X-Oss",
        "Ossified",
        "Hostname",
        "Dates",
        "Proxy",
        "X-Range",
    ],
)
def test_ordinary_headers_are_allowed(name):
    assert engine.forbidden_header_reason(name) is None
    assert engine.transmit_headers(HeaderTransmission(pass_all=True), {name: "v"}) == {
        name: "v"
    }


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("X-OSS-Meta-A", "headers starting with x-oss- are reserved by OSS"),
        ("oss-foo", "headers starting with oss- are reserved by OSS"),
        ("x-drs-bar", "headers starting with x-drs- are reserved by OSS"),
        ("Proxy-Authorization", "proxy-* headers are hop-by-hop"),
        ("X-Accel-Redirect", "X-Accel-* headers are instructions to the front server"),
        ("Content-Length", "the origin's body sets its own length"),
        ("Authorization", "credentials are never forwarded"),
        ("authorization2", "credentials are never forwarded"),
        ("Range", "mirroring always fetches the whole object"),
        ("Date", "the request date is the fetcher's own"),
        ("HOST", "the Host is always the origin's"),
        ("Connection", "it is a hop-by-hop header"),
        ("keep-alive", "it is a hop-by-hop header"),
        ("TE", "it is a hop-by-hop header"),
        ("Trailer", "it is a hop-by-hop header"),
        ("Transfer-Encoding", "it is a hop-by-hop header"),
        ("Upgrade", "it is a hop-by-hop header"),
        ("Expect", "it is a hop-by-hop header"),
        (
            "If-None-Match",
            "conditional requests are evaluated here, against the fetched object",
        ),
        ("X-Custom", None),
    ],
)
def test_forbidden_header_reason_says_why(name, reason):
    assert engine.forbidden_header_reason(name) == reason


@pytest.mark.parametrize(
    ("transmission", "client", "sent"),
    [
        (
            HeaderTransmission(),
            {"User-Agent": "curl/8"},
            {"User-Agent": engine.FIXED_USER_AGENT},
        ),
        (
            HeaderTransmission(pass_names=("x-a",)),
            {"X-A": "1", "User-Agent": "curl/8"},
            {"X-A": "1", "User-Agent": "OSS-Back-to-Origin/1.0"},
        ),
        (
            HeaderTransmission(pass_names=("user-agent",)),
            {"user-agent": "curl/8"},
            {"user-agent": "curl/8"},
        ),
        (
            HeaderTransmission(pass_all=True),
            {"User-Agent": "curl/8"},
            {"User-Agent": "curl/8"},
        ),
        (
            HeaderTransmission(set_headers=(("USER-AGENT", "mine"),)),
            {},
            {"USER-AGENT": "mine"},
        ),
    ],
)
def test_origin_request_headers_add_the_fixed_user_agent_unless_one_is_transmitted(
    transmission, client, sent
):
    rule = mirror(headers=transmission)
    assert engine.origin_request_headers(rule, client) == sent


# -- redirect_location --------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "key", "query", "expected"),
    [
        ({}, "a/b.jpg", "", Redirection(301, "https://new.example.com/a/b.jpg")),
        (
            {"redirect_code": 302},
            "a",
            "",
            Redirection(302, "https://new.example.com/a"),
        ),
        (
            {"redirect_code": 307},
            "a",
            "",
            Redirection(307, "https://new.example.com/a"),
        ),
        (
            {"protocol": "http", "host": "new.example.com:8080"},
            "a",
            "",
            Redirection(301, "http://new.example.com:8080/a"),
        ),
        (
            {
                "redirect_target": engine.TARGET_AFFIX,
                "target_prefix": "123/",
                "target_suffix": ".jpg",
            },
            "image",
            "",
            Redirection(301, "https://new.example.com/123/image.jpg"),
        ),
        (
            {"redirect_target": engine.TARGET_AFFIX, "target_prefix": "123/"},
            "image",
            "",
            Redirection(301, "https://new.example.com/123/image"),
        ),
        (
            {"redirect_target": engine.TARGET_AFFIX, "target_suffix": ".jpg"},
            "image",
            "",
            Redirection(301, "https://new.example.com/image.jpg"),
        ),
        (
            {
                "redirect_target": engine.TARGET_FIXED,
                "target_fixed_path": "abc/myphoto.jpg",
            },
            "anything/else.png",
            "",
            Redirection(301, "https://new.example.com/abc/myphoto.jpg"),
        ),
        (
            {
                "redirect_target": engine.TARGET_FIXED,
                "target_fixed_path": "/abc/myphoto.jpg",
            },
            "anything",
            "",
            Redirection(301, "https://new.example.com/abc/myphoto.jpg"),
        ),
        (
            {
                "redirect_target": engine.TARGET_REPLACE_PREFIX,
                "key_prefix": "old/",
                "replace_prefix_with": "new/",
            },
            "old/a.jpg",
            "",
            Redirection(301, "https://new.example.com/new/a.jpg"),
        ),
        (
            {
                "redirect_target": engine.TARGET_REPLACE_PREFIX,
                "key_prefix": "old/",
                "replace_prefix_with": "",
            },
            "old/a.jpg",
            "",
            Redirection(301, "https://new.example.com/a.jpg"),
        ),
        (
            {
                "redirect_target": engine.TARGET_REPLACE_PREFIX,
                "replace_prefix_with": "new/",
            },
            "old/a.jpg",
            "",
            Redirection(301, "https://new.example.com/new/old/a.jpg"),
        ),
        ({}, "/leading", "", Redirection(301, "https://new.example.com/leading")),
        (
            {},
            "dir/with space#?+%é.txt",
            "",
            Redirection(
                301, "https://new.example.com/dir/with%20space%23%3F%2B%25%C3%A9.txt"
            ),
        ),
        ({}, "a", "x=1&y=2", Redirection(301, "https://new.example.com/a")),
        (
            {"pass_query_string": True},
            "a",
            "x=1&y=a+b%20c",
            Redirection(301, "https://new.example.com/a?x=1&y=a+b%20c"),
        ),
        (
            {"pass_query_string": True},
            "a",
            "OSSAccessKeyId=AK&Expires=1&Signature=s&x-oss-date=d&keep=1",
            Redirection(301, "https://new.example.com/a?keep=1"),
        ),
        (
            {"pass_query_string": True},
            "a",
            "Signature=s",
            Redirection(301, "https://new.example.com/a"),
        ),
    ],
)
def test_redirect_location_builds_the_code_and_target(fields, key, query, expected):
    assert engine.redirect_location(redirect(**fields), key, query) == expected


# -- origin/addresses.py ---------------------------------------------------------


@pytest.mark.parametrize(
    ("host", "reason"),
    [
        ("127.0.0.1", "a loopback address"),
        ("127.8.9.10", "a loopback address"),
        ("10.1.2.3", "a private-network address"),
        ("172.16.0.1", "a private-network address"),
        ("172.31.255.255", "a private-network address"),
        ("192.168.1.1", "a private-network address"),
        ("169.254.169.254", "a link-local address"),
        ("100.64.0.1", "an internal-use address"),
        ("100.127.255.254", "an internal-use address"),
        ("198.18.0.1", "a private-network address"),
        ("0.0.0.0", "an unspecified address"),
        ("224.0.0.1", "a multicast address"),
        ("240.0.0.1", "a private-network address"),
        ("::1", "a loopback address"),
        ("[::1]", "a loopback address"),
        ("::", "an unspecified address"),
        ("fe80::1", "a link-local address"),
        ("fc00::1", "a private-network address"),
        ("fd12:3456::1", "a private-network address"),
        ("::ffff:127.0.0.1", "a loopback address"),
        ("[::ffff:10.0.0.1]", "a private-network address"),
        ("127.1", "a loopback address"),  # inet_aton shorthands resolve like literals
        ("0x7f.0.0.1", "a loopback address"),
        ("0177.0.0.1", "a loopback address"),
        ("2130706433", "a loopback address"),
        ("0xa.1", "a private-network address"),
        ("ff02::1", "a multicast address"),
        ("localhost", "a local host name"),
        ("LOCALHOST", "a local host name"),
        ("localhost.", "a local host name"),
        ("foo.localhost", "a local host name"),
        ("Foo.LocalHost", "a local host name"),
        ("localhost.localdomain", "a local host name"),
        ("ip6-localhost", "a local host name"),
        ("8.8.8.8", None),
        ("172.32.0.1", None),
        ("100.128.0.1", None),
        ("2001:4860:4860::8888", None),
        ("[2001:4860:4860::8888]", None),
        ("example.com", None),
        ("8.8", None),  # 8.0.0.8
        ("cafe.be", None),
        ("123.com", None),
        ("localhost.example.com", None),
        ("mylocalhost", None),
    ],
)
def test_internal_host_reason_flags_hosts_that_are_not_public(host, reason):
    assert internal_host_reason(host) == reason


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("127.0.0.1", "a loopback address"),
        ("10.0.0.1", "a private-network address"),
        ("172.16.5.4", "a private-network address"),
        ("192.168.0.10", "a private-network address"),
        ("169.254.1.1", "a link-local address"),
        ("100.64.1.1", "an internal-use address"),
        ("0.0.0.0", "an unspecified address"),
        ("224.0.0.1", "a multicast address"),
        ("240.0.0.1", "a private-network address"),
        ("::1", "a loopback address"),
        ("fe80::1", "a link-local address"),
        ("fc00::1", "a private-network address"),
        ("::ffff:127.0.0.1", "a loopback address"),
        ("::ffff:169.254.169.254", "a link-local address"),
        ("8.8.8.8", None),
        ("1.1.1.1", None),
        ("2001:4860:4860::8888", None),
        ("::ffff:8.8.8.8", None),
    ],
)
def test_internal_address_reason_flags_resolved_addresses(address, reason):
    assert internal_address_reason(address) == reason


@pytest.mark.parametrize(
    ("cookie", "expected"),
    [
        ("sessionid=abc; theme=dark", [("Cookie", "theme=dark")]),
        ("csrftoken=x; sessionid=abc", []),
        ("theme=dark", [("Cookie", "theme=dark")]),
        ("a=1;sessionid=s;b=2", [("Cookie", "a=1; b=2")]),
    ],
)
def test_the_servers_own_cookies_never_reach_an_origin(cookie, expected):
    headers = [("Cookie", cookie), ("Accept", "text/html")]

    kept = engine.without_cookies(headers, ("sessionid", "csrftoken"))

    assert kept == [*expected, ("Accept", "text/html")]


def test_transmit_all_sends_other_cookies_but_not_the_session():
    rule = engine.Rule(
        position=1, mode=engine.MIRROR, headers=engine.HeaderTransmission(pass_all=True)
    )

    sent = engine.origin_request_headers(
        rule, {"Cookie": "sessionid=secret; lang=en"}, ("sessionid", "csrftoken")
    )

    assert sent["Cookie"] == "lang=en"


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("2002:7f00:1::", "a loopback address"),  # 6to4 of 127.0.0.1
        ("2002:a00:1::", "a private-network address"),  # 6to4 of 10.0.0.1
        (
            "2001:0:4136:e378:8000:63bf:80ff:fffe",
            "a loopback address",
        ),  # Teredo client 127.0.0.1
    ],
)
def test_ipv6_forms_that_carry_an_internal_ipv4_address_are_internal(address, reason):
    assert internal_address_reason(address) == reason
