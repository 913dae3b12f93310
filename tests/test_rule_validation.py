"""BackToOriginRule validation, ordering and the engine adapter (origin/models.py)."""

import pytest
from django.core.exceptions import ValidationError

from origin import engine
from origin.models import BackToOriginRule

pytestmark = pytest.mark.django_db

MIRROR = BackToOriginRule.Mode.MIRROR
REDIRECT = BackToOriginRule.Mode.REDIRECT
TARGET = BackToOriginRule.RedirectTarget
INTERNAL = "origins on internal networks are not allowed."


@pytest.fixture(autouse=True)
def strict_origins(settings):
    """The production defaults, whatever the test environment says."""
    settings.ORIGIN_ALLOW_PRIVATE = False
    settings.BACK_TO_ORIGIN_MAX_RULES = 5


def save_rule(bucket, **fields):
    rule = BackToOriginRule(
        bucket=bucket, **{"mode": MIRROR, "host": "origin.example.com", **fields}
    )
    rule.save_in_order()
    return rule


def errors_of(bucket, **fields):
    with pytest.raises(ValidationError) as excinfo:
        save_rule(bucket, **fields)
    return excinfo.value.message_dict


# -- rule count ---------------------------------------------------------------


def test_a_sixth_rule_is_refused_with_a_clear_message(bucket):
    for number in range(5):
        save_rule(bucket, key_prefix=f"p{number}/")
    assert errors_of(bucket, key_prefix="p5/") == {
        "__all__": ["A bucket can have at most 5 Back-to-Origin rules."]
    }
    assert bucket.origin_rules.count() == 5


def test_the_rule_limit_follows_the_setting(bucket, settings):
    settings.BACK_TO_ORIGIN_MAX_RULES = 2
    save_rule(bucket, key_prefix="a/")
    save_rule(bucket, key_prefix="b/")
    assert errors_of(bucket, key_prefix="c/") == {
        "__all__": ["A bucket can have at most 2 Back-to-Origin rules."]
    }


def test_a_rule_can_be_edited_when_the_bucket_is_at_the_limit(bucket):
    rules = [save_rule(bucket, key_prefix=f"p{number}/") for number in range(5)]
    rules[2].host = "other.example.com"
    rules[2].key_suffix = ".jpg"
    rules[2].save_in_order()
    rules[2].refresh_from_db()
    assert (rules[2].host, rules[2].key_suffix, rules[2].position) == (
        "other.example.com",
        ".jpg",
        3,
    )


def test_the_limit_counts_per_bucket(bucket, public_bucket):
    for number in range(5):
        save_rule(bucket, key_prefix=f"p{number}/")
    assert save_rule(public_bucket, key_prefix="p0/").position == 1


# -- unique prefix + suffix ------------------------------------------------------


@pytest.mark.parametrize(
    ("first", "second", "message"),
    [
        (
            {},
            {},
            "Another rule already has no prefix and no suffix. Each rule needs a different File Name Prefix or Suffix.",
        ),
        (
            {"key_prefix": "img/"},
            {"key_prefix": "img/", "host": "other.example.com"},
            "Another rule already has prefix 'img/' and suffix ''. Each rule needs a different File Name Prefix or Suffix.",
        ),
        (
            {"key_prefix": "img/", "key_suffix": ".jpg"},
            {"key_prefix": "img/", "key_suffix": ".jpg", "mode": REDIRECT},
            "Another rule already has prefix 'img/' and suffix '.jpg'. Each rule needs a different File Name Prefix or Suffix.",
        ),
        (
            {"key_suffix": ".jpg"},
            {"key_suffix": ".jpg"},
            "Another rule already has prefix '' and suffix '.jpg'. Each rule needs a different File Name Prefix or Suffix.",
        ),
    ],
)
def test_two_rules_with_the_same_prefix_and_suffix_are_refused(
    bucket, first, second, message
):
    save_rule(bucket, **first)
    assert errors_of(bucket, **second) == {"key_prefix": [message]}


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ({"key_prefix": "img/"}, {"key_prefix": "img/", "key_suffix": ".jpg"}),
        ({"key_prefix": "img/"}, {"key_prefix": "IMG/"}),
        ({"key_suffix": ".jpg"}, {"key_prefix": ".jpg"}),
        ({}, {"key_prefix": "a"}),
    ],
)
def test_rules_that_differ_in_prefix_or_suffix_are_accepted(bucket, first, second):
    save_rule(bucket, **first)
    assert save_rule(bucket, **second).position == 2


def test_editing_a_rule_keeps_its_own_prefix(bucket):
    rule = save_rule(bucket, key_prefix="img/")
    rule.host = "other.example.com"
    rule.save_in_order()
    assert BackToOriginRule.objects.get().host == "other.example.com"


def test_the_same_prefix_in_another_bucket_is_accepted(bucket, public_bucket):
    save_rule(bucket, key_prefix="img/")
    save_rule(public_bucket, key_prefix="img/")


# -- header lists -----------------------------------------------------------------

FORBIDDEN = [
    (
        "X-OSS-Meta-A",
        "X-OSS-Meta-A cannot be transmitted: headers starting with x-oss- are reserved by OSS.",
    ),
    (
        "Range",
        "Range cannot be transmitted: mirroring always fetches the whole object.",
    ),
    (
        "oss-foo",
        "oss-foo cannot be transmitted: headers starting with oss- are reserved by OSS.",
    ),
    (
        "x-drs-bar",
        "x-drs-bar cannot be transmitted: headers starting with x-drs- are reserved by OSS.",
    ),
    (
        "X-Accel-Redirect",
        "X-Accel-Redirect cannot be transmitted: X-Accel-* headers are instructions to the front server.",
    ),
    ("Host", "Host cannot be transmitted: the Host is always the origin's."),
    ("Connection", "Connection cannot be transmitted: it is a hop-by-hop header."),
    (
        "Transfer-Encoding",
        "Transfer-Encoding cannot be transmitted: it is a hop-by-hop header.",
    ),
    (
        "Proxy-Authorization",
        "Proxy-Authorization cannot be transmitted: proxy-* headers are hop-by-hop.",
    ),
    (
        "Authorization",
        "Authorization cannot be transmitted: credentials are never forwarded.",
    ),
    ("Date", "Date cannot be transmitted: the request date is the fetcher's own."),
    (
        "Content-Length",
        "Content-Length cannot be transmitted: the origin's body sets its own length.",
    ),
]


@pytest.mark.parametrize(("name", "message"), FORBIDDEN)
def test_a_forbidden_header_is_refused_in_the_transmit_list(bucket, name, message):
    assert errors_of(bucket, pass_headers=[name]) == {
        "pass_headers": [f"Transmit these headers: {message}"]
    }


@pytest.mark.parametrize(("name", "message"), FORBIDDEN)
def test_a_forbidden_header_is_refused_in_the_do_not_transmit_list(
    bucket, name, message
):
    assert errors_of(bucket, pass_all_headers=True, remove_headers=[name]) == {
        "remove_headers": [f"Do not transmit these headers: {message}"]
    }


@pytest.mark.parametrize(("name", "message"), FORBIDDEN)
def test_a_forbidden_header_is_refused_in_the_set_list(bucket, name, message):
    assert errors_of(bucket, set_headers=[[name, "value"]]) == {
        "set_headers": [f"Set these headers: {message}"]
    }


def test_all_forbidden_names_of_one_list_are_reported_together(bucket):
    errors = errors_of(
        bucket,
        pass_headers=["X-Ok", "Range", "x-oss-meta-a", "Accept", "Host"],
        set_headers=[["Date", "today"], ["X-Set", "1"], ["TE", "trailers"]],
    )
    assert errors == {
        "pass_headers": [
            "Transmit these headers: Range cannot be transmitted: mirroring always fetches the whole object.",
            "Transmit these headers: x-oss-meta-a cannot be transmitted: headers starting with x-oss- are reserved by OSS.",
            "Transmit these headers: Host cannot be transmitted: the Host is always the origin's.",
        ],
        "set_headers": [
            "Set these headers: Date cannot be transmitted: the request date is the fetcher's own.",
            "Set these headers: TE cannot be transmitted: it is a hop-by-hop header.",
        ],
    }


LONG_NAME = "X" * 1025


@pytest.mark.parametrize(
    ("names", "message"),
    [
        (
            ["bad name"],
            "'bad name' is not a valid header name (letters, digits and - only).",
        ),
        (
            ["bad_name"],
            "'bad_name' is not a valid header name (letters, digits and - only).",
        ),
        (
            ["bad:name"],
            "'bad:name' is not a valid header name (letters, digits and - only).",
        ),
        (
            ["hé-ader"],
            "'hé-ader' is not a valid header name (letters, digits and - only).",
        ),
        (
            ["X-Name\n"],
            "'X-Name\\n' is not a valid header name (letters, digits and - only).",
        ),
        (
            ["X-A\r\nX-B"],
            "'X-A\\r\\nX-B' is not a valid header name (letters, digits and - only).",
        ),
        ([""], "a header name is empty."),
        ([LONG_NAME], f"header name {'X' * 40!r}… is longer than 1024 bytes."),
        ([f"X-{n}" for n in range(11)], "at most 10 headers."),
        (["X-A", "x-a"], "x-a is listed more than once."),
        (["X-A", "X-B", "x-b", "x-a"], "x-a, x-b is listed more than once."),
    ],
)
@pytest.mark.parametrize(
    ("field", "label"),
    [
        ("pass_headers", "Transmit these headers"),
        ("remove_headers", "Do not transmit these headers"),
    ],
)
def test_bad_header_names_are_refused(bucket, field, label, names, message):
    assert errors_of(bucket, **{field: names}) == {field: [f"{label}: {message}"]}


@pytest.mark.parametrize(
    ("pairs", "message"),
    [
        (
            [["bad name", "v"]],
            "'bad name' is not a valid header name (letters, digits and - only).",
        ),
        (
            [["X-A", "a\r\nX-Injected: 1"]],
            "the value of X-A must not contain line breaks (CR/LF).",
        ),
        ([["X-A", "a\nb"]], "the value of X-A must not contain line breaks (CR/LF)."),
        ([["X-A", "a\rb"]], "the value of X-A must not contain line breaks (CR/LF)."),
        ([["X-A", "v" * 1025]], "the value of X-A is longer than 1024 bytes."),
        ([["X-A", "é" * 513]], "the value of X-A is longer than 1024 bytes."),
        ([["X-A", ""]], "X-A needs a value."),
        ([[f"X-{n}", "v"] for n in range(11)], "at most 10 headers."),
        ([["X-A", "1"], ["x-a", "2"]], "x-a is listed more than once."),
        ([["X-A"]], "expected a list of name and value pairs."),
        ("X-A: 1", "expected a list of name and value pairs."),
    ],
)
def test_bad_set_headers_are_refused(bucket, pairs, message):
    assert errors_of(bucket, set_headers=pairs) == {
        "set_headers": [f"Set these headers: {message}"]
    }


def test_valid_header_lists_are_saved(bucket):
    rule = save_rule(
        bucket,
        pass_all_headers=True,
        pass_headers=[f"X-{n}" for n in range(10)],
        remove_headers=["Cookie", "User-Agent"],
        set_headers=[["X-Set", "v" * 1024], ["Referer", "https://site.example/"]],
    )
    rule.refresh_from_db()
    assert rule.pass_headers == [f"X-{n}" for n in range(10)]
    assert rule.set_headers == [
        ["X-Set", "v" * 1024],
        ["Referer", "https://site.example/"],
    ]


@pytest.mark.parametrize(
    "conditions",
    [
        [["X-Tenant", "blue"]],
        [["Range", "bytes=0-1"]],  # a condition only reads the request header
        [["X-OSS-Meta-A", "1"]],
        [["Host", "cdn.example.com"], ["X-Empty", ""]],
    ],
)
def test_header_conditions_accept_any_valid_name(bucket, conditions):
    rule = save_rule(bucket, include_headers=conditions)
    rule.refresh_from_db()
    # A [name, value] pair is stored as an equals condition.
    assert rule.include_headers == [[*pair, "equals"] for pair in conditions]


def test_one_header_may_carry_several_conditions(bucket):
    conditions = [
        ["X-Tenant", "blue", "starts_with"],
        ["x-tenant", "-eu", "ends_with"],
        ["X-Tenant", "blue-eu", "equals"],
    ]
    rule = save_rule(bucket, include_headers=conditions)
    rule.refresh_from_db()
    assert rule.include_headers == conditions


@pytest.mark.parametrize(
    ("conditions", "message"),
    [
        ([["X-A", "v", "contains"]], "'contains' is not a comparison"),
        ([["X-A", "", "starts_with"]], "X-A starts with needs a value"),
        ([["X-A", "v", "equals", "x"]], "expected a list of [name, value]"),
    ],
)
def test_header_condition_comparisons_are_checked(bucket, conditions, message):
    with pytest.raises(ValidationError) as refused:
        save_rule(bucket, include_headers=conditions)
    assert message in str(refused.value.message_dict["include_headers"])


@pytest.mark.parametrize(
    ("conditions", "message"),
    [
        (
            [["X-Tenant", "a\r\nb"]],
            "Header condition: the value of X-Tenant must not contain line breaks (CR/LF).",
        ),
        (
            [["X-Tenant", "a\n"]],
            "Header condition: the value of X-Tenant must not contain line breaks (CR/LF).",
        ),
        (
            [["X Tenant", "blue"]],
            "Header condition: 'X Tenant' is not a valid header name (letters, digits and - only).",
        ),
        ([[f"X-{n}", "v"] for n in range(11)], "Header condition: at most 10 headers."),
    ],
)
def test_header_conditions_refuse_line_breaks_and_bad_names(
    bucket, conditions, message
):
    assert errors_of(bucket, include_headers=conditions) == {
        "include_headers": [message]
    }


# -- origin host and path -----------------------------------------------------------


@pytest.mark.parametrize(
    ("host", "message"),
    [
        ("localhost", f"localhost is a local host name; {INTERNAL}"),
        ("LOCALHOST:8080", f"LOCALHOST is a local host name; {INTERNAL}"),
        ("app.localhost", f"app.localhost is a local host name; {INTERNAL}"),
        ("127.0.0.1", f"127.0.0.1 is a loopback address; {INTERNAL}"),
        ("127.0.0.1:9000", f"127.0.0.1 is a loopback address; {INTERNAL}"),
        ("127.1", f"127.1 is a loopback address; {INTERNAL}"),
        ("10.1.2.3", f"10.1.2.3 is a private-network address; {INTERNAL}"),
        ("172.16.0.1", f"172.16.0.1 is a private-network address; {INTERNAL}"),
        ("192.168.1.1", f"192.168.1.1 is a private-network address; {INTERNAL}"),
        ("169.254.169.254", f"169.254.169.254 is a link-local address; {INTERNAL}"),
        ("100.64.0.1", f"100.64.0.1 is an internal-use address; {INTERNAL}"),
        ("[::1]", f"[::1] is a loopback address; {INTERNAL}"),
        ("[::1]:8080", f"[::1] is a loopback address; {INTERNAL}"),
        ("[fe80::1]", f"[fe80::1] is a link-local address; {INTERNAL}"),
        ("[::ffff:127.0.0.1]", f"[::ffff:127.0.0.1] is a loopback address; {INTERNAL}"),
        ("0.0.0.0", f"0.0.0.0 is an unspecified address; {INTERNAL}"),
    ],
)
def test_an_internal_origin_host_is_refused(bucket, host, message):
    assert errors_of(bucket, host=host) == {"host": [message]}


@pytest.mark.parametrize(
    "host",
    [
        "localhost",
        "127.0.0.1:9000",
        "10.1.2.3",
        "192.168.1.1",
        "169.254.169.254",
        "[::1]",
        "0.0.0.0",
    ],
)
def test_an_internal_origin_host_is_accepted_when_the_operator_allows_it(
    bucket, settings, host
):
    settings.ORIGIN_ALLOW_PRIVATE = True
    assert save_rule(bucket, host=host).host == host


PORT = "The port in Domain or IP must be a number from 1 to 65535."
NO_PATH = "Domain or IP must be a domain name or IP address with an optional port, without spaces or a path."


@pytest.mark.parametrize(
    ("host", "message"),
    [
        ("user@example.com", "Domain or IP must not contain user information (@)."),
        ("user:pw@example.com", "Domain or IP must not contain user information (@)."),
        ("exa mple.com", NO_PATH),
        ("example.com/path", NO_PATH),
        ("example.com?x=1", NO_PATH),
        ("example.com#top", NO_PATH),
        ("example.com\\x", NO_PATH),
        ("example.com:0", PORT),
        ("example.com:65536", PORT),
        ("example.com:abc", PORT),
        ("example.com:", PORT),
        ("[2001:4860:4860::8888]:99999", PORT),
        ("example.com:\u00b2", PORT),  # isdigit() says yes, int() says no
        ("example.com:\u0668\u0660", PORT),  # Arabic-Indic 80
        ("[2001:4860:4860::8888]x", "Domain or IP is not a valid address."),
        ("-bad.com", "'-bad.com' is not a valid domain name or IP address."),
        ("bad-.com", "'bad-.com' is not a valid domain name or IP address."),
        ("a..b", "'a..b' is not a valid domain name or IP address."),
        ("bad_name.com", "'bad_name.com' is not a valid domain name or IP address."),
        ("exämple.com", "'exämple.com' is not a valid domain name or IP address."),
        ("a:b:c", "'a:b:c' is not a valid domain name or IP address."),
        (
            "2001:4860:4860::8888",
            "'2001:4860:4860::8888' is not a valid domain name or IP address.",
        ),
        ("[1:2:3]", "'[1:2:3]' is not a valid domain name or IP address."),
        ("[8.8.8.8]", "'[8.8.8.8]' is not a valid domain name or IP address."),
        ("[example.com]", "'[example.com]' is not a valid domain name or IP address."),
        (
            "a" * 64 + ".com",
            f"'{'a' * 64}.com' is not a valid domain name or IP address.",
        ),
    ],
)
def test_a_malformed_origin_host_is_refused(bucket, host, message):
    assert errors_of(bucket, host=host) == {"host": [message]}


def test_a_port_with_more_digits_than_int_reads_is_refused(bucket):
    errors = errors_of(bucket, host="example.com:" + "9" * 5000)

    assert PORT in errors["host"]


def test_an_empty_origin_host_is_refused(bucket):
    assert "Domain or IP is required." in errors_of(bucket, host="")["host"]


@pytest.mark.parametrize(
    ("host", "stored"),
    [
        ("example.com", "example.com"),
        ("Example.COM", "Example.COM"),
        ("cdn.example.com:8080", "cdn.example.com:8080"),
        ("example.com:1", "example.com:1"),
        ("example.com:65535", "example.com:65535"),
        ("example.com.", "example.com."),
        (" example.com/ ", "example.com"),
        ("8.8.8.8", "8.8.8.8"),
        ("8.8.8.8:80", "8.8.8.8:80"),
        ("[2001:4860:4860::8888]", "[2001:4860:4860::8888]"),
        ("[2001:4860:4860::8888]:8443", "[2001:4860:4860::8888]:8443"),
        ("xn--bcher-kva.example", "xn--bcher-kva.example"),
    ],
)
def test_a_valid_origin_host_is_accepted(bucket, host, stored):
    assert save_rule(bucket, host=host).host == stored


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("my dir", "Path must not contain spaces, control characters, ?, # or \\."),
        ("dir?x=1", "Path must not contain spaces, control characters, ?, # or \\."),
        ("dir#top", "Path must not contain spaces, control characters, ?, # or \\."),
        ("dir\\sub", "Path must not contain spaces, control characters, ?, # or \\."),
        ("dir\nsub", "Path must not contain spaces, control characters, ?, # or \\."),
        ("../etc", "Path must not contain . or .. segments."),
        ("a/../b", "Path must not contain . or .. segments."),
        ("a/..", "Path must not contain . or .. segments."),
        ("a/./b", "Path must not contain . or .. segments."),
    ],
)
def test_a_bad_origin_path_is_refused(bucket, path, message):
    assert errors_of(bucket, path=path) == {"path": [message]}


@pytest.mark.parametrize("path", ["", "abc/123", "/dir/", "a..b/c.d", "文件/é", "%20"])
def test_a_valid_origin_path_is_accepted(bucket, path):
    assert save_rule(bucket, path=path).path == path


# -- prerequisite status and redirection options ---------------------------------------


def test_mirroring_stores_http_status_404(bucket):
    rule = save_rule(bucket, http_status=404)
    rule.refresh_from_db()
    assert rule.http_status == 404


@pytest.mark.parametrize("status", [500, 403, 200])
def test_mirroring_refuses_any_other_http_status(bucket, status):
    # Not rewritten to 404: the rule would fire where it was not meant to.
    assert errors_of(bucket, http_status=status) == {
        "http_status": [
            "Mirroring applies to missing objects only: the HTTP Status Code must be 404."
        ]
    }


@pytest.mark.parametrize("status", [400, 403, 404, 451, 599])
def test_redirection_accepts_a_status_from_400_to_599(bucket, status):
    rule = save_rule(bucket, mode=REDIRECT, http_status=status)
    rule.refresh_from_db()
    assert rule.http_status == status


@pytest.mark.parametrize("status", [0, 200, 302, 399, 600, 999])
def test_redirection_refuses_a_status_outside_400_to_599(bucket, status):
    assert errors_of(bucket, mode=REDIRECT, http_status=status) == {
        "http_status": ["The HTTP status code must be between 400 and 599."]
    }


@pytest.mark.parametrize("code", [301, 302, 307])
def test_redirection_codes_301_302_and_307_are_accepted(bucket, code):
    assert save_rule(bucket, mode=REDIRECT, redirect_code=code).redirect_code == code


@pytest.mark.parametrize("code", [300, 303, 308, 200])
def test_other_redirection_codes_are_refused(bucket, code):
    errors = errors_of(bucket, mode=REDIRECT, redirect_code=code)
    assert list(errors) == ["redirect_code"]
    assert "The Redirection Code must be 301, 302 or 307." in errors["redirect_code"]


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        (
            {"redirect_target": TARGET.AFFIX},
            "Enter a prefix, a suffix or both to add to the file name.",
        ),
        (
            {"redirect_target": TARGET.FIXED},
            "Enter the fixed URL path to redirect to.",
        ),
        (
            {"redirect_target": TARGET.FIXED, "target_fixed_path": "/"},
            "Enter the fixed URL path to redirect to.",
        ),
        (
            {"redirect_target": TARGET.REPLACE_PREFIX, "replace_prefix_with": "new/*"},
            "The replacement prefix must not contain *.",
        ),
        (
            {"redirect_target": TARGET.FIXED, "target_fixed_path": "a/../b"},
            "Fixed URL path must not contain . or .. segments.",
        ),
        (
            {"redirect_target": TARGET.AFFIX, "target_prefix": "a b/"},
            "Prefix must not contain spaces, control characters, ?, # or \\.",
        ),
        (
            {"redirect_target": TARGET.AFFIX, "target_suffix": ".jpg?x"},
            "Suffix must not contain spaces, control characters, ?, # or \\.",
        ),
    ],
)
def test_redirection_target_options_need_their_inputs(bucket, fields, message):
    assert errors_of(bucket, mode=REDIRECT, **fields) == {"redirect_target": [message]}


@pytest.mark.parametrize(
    ("fields", "stored"),
    [
        (
            {
                "redirect_target": TARGET.KEEP,
                "target_prefix": "x/",
                "target_fixed_path": "f",
            },
            ("keep", "", "", "", ""),
        ),
        (
            {
                "redirect_target": TARGET.AFFIX,
                "target_prefix": "123/",
                "target_fixed_path": "f",
            },
            ("affix", "123/", "", "", ""),
        ),
        (
            {"redirect_target": TARGET.AFFIX, "target_suffix": ".jpg"},
            ("affix", "", ".jpg", "", ""),
        ),
        (
            {
                "redirect_target": TARGET.FIXED,
                "target_fixed_path": "/abc/myphoto.jpg",
                "target_suffix": ".x",
            },
            ("fixed", "", "", "/abc/myphoto.jpg", ""),
        ),
        (
            {
                "redirect_target": TARGET.REPLACE_PREFIX,
                "key_prefix": "old/",
                "replace_prefix_with": "new/",
            },
            ("replace_prefix", "", "", "", "new/"),
        ),
        (
            {"redirect_target": TARGET.REPLACE_PREFIX, "replace_prefix_with": ""},
            ("replace_prefix", "", "", "", ""),
        ),
    ],
)
def test_redirection_keeps_only_the_chosen_target_options_inputs(
    bucket, fields, stored
):
    rule = save_rule(bucket, mode=REDIRECT, **fields)
    rule.refresh_from_db()
    assert (
        rule.redirect_target,
        rule.target_prefix,
        rule.target_suffix,
        rule.target_fixed_path,
        rule.replace_prefix_with,
    ) == stored


def test_a_redirection_rule_drops_the_mirroring_options(bucket):
    rule = save_rule(
        bucket,
        mode=REDIRECT,
        path="dir",
        follow_redirects=False,
        check_md5=True,
        replace_prefix=True,
        secondary_url="https://backup.example.com/",
        probe_url="https://origin.example.com/probe",
        pass_all_headers=True,
        pass_headers=["X-A"],
        remove_headers=["X-B"],
        set_headers=[["X-C", "c"]],
    )
    rule.refresh_from_db()
    assert (
        rule.path,
        rule.follow_redirects,
        rule.check_md5,
        rule.replace_prefix,
        rule.secondary_url,
        rule.probe_url,
        rule.pass_all_headers,
        rule.pass_headers,
        rule.remove_headers,
        rule.set_headers,
    ) == ("", True, False, False, "", "", False, [], [], [])


def test_a_redirection_rule_drops_forbidden_mirroring_headers_instead_of_refusing(
    bucket,
):
    rule = save_rule(bucket, mode=REDIRECT, pass_headers=["Range"])
    assert rule.pass_headers == []


def test_a_mirroring_rule_drops_the_redirection_options(bucket):
    rule = save_rule(
        bucket,
        redirect_code=302,
        redirect_target=TARGET.FIXED,
        target_prefix="p/",
        target_suffix=".s",
        target_fixed_path="fixed.jpg",
    )
    rule.refresh_from_db()
    assert (
        rule.redirect_code,
        rule.redirect_target,
        rule.target_prefix,
        rule.target_suffix,
        rule.target_fixed_path,
    ) == (301, "keep", "", "", "")


# -- mirroring options ------------------------------------------------------------------


def test_mirroring_replace_prefix_needs_a_file_name_prefix(bucket):
    assert errors_of(bucket, replace_prefix=True, replace_prefix_with="new/") == {
        "replace_prefix_with": ["Replacing the file prefix needs a File Name Prefix."]
    }


@pytest.mark.parametrize(
    ("fields", "stored"),
    [
        (
            {
                "key_prefix": "old/",
                "replace_prefix": True,
                "replace_prefix_with": "new/",
            },
            (True, "new/"),
        ),
        ({"key_prefix": "old/", "replace_prefix": True}, (True, "")),
        (
            {
                "key_prefix": "old/",
                "replace_prefix": False,
                "replace_prefix_with": "new/",
            },
            (False, ""),
        ),
    ],
)
def test_mirroring_replace_prefix_is_stored_only_when_enabled(bucket, fields, stored):
    rule = save_rule(bucket, **fields)
    rule.refresh_from_db()
    assert (rule.replace_prefix, rule.replace_prefix_with) == stored


@pytest.mark.parametrize(
    ("fields", "errors"),
    [
        (
            {"secondary_url": "https://backup.example.com/"},
            {
                "probe_url": [
                    "A secondary origin needs a probe URL: the secondary is used while the probe does not answer 200."
                ]
            },
        ),
        (
            {
                "secondary_url": "backup.example.com/",
                "probe_url": "https://origin.example.com/health",
            },
            {
                "secondary_url": [
                    "Secondary origin URL must be a full http:// or https:// URL."
                ]
            },
        ),
        (
            {
                "secondary_url": "ftp://backup.example.com/",
                "probe_url": "https://origin.example.com/health",
            },
            {
                "secondary_url": [
                    "Secondary origin URL must be a full http:// or https:// URL."
                ]
            },
        ),
        (
            {"secondary_url": "https://backup.example.com/", "probe_url": "/health"},
            {"probe_url": ["Probe URL must be a full http:// or https:// URL."]},
        ),
        (
            {
                "secondary_url": "https://backup.example.com/#frag",
                "probe_url": "https://origin.example.com/health",
            },
            {
                "secondary_url": [
                    "Secondary origin URL must be a full http:// or https:// URL."
                ]
            },
        ),
        (
            {
                "secondary_url": "http://127.0.0.1:8000/",
                "probe_url": "https://origin.example.com/health",
            },
            {"secondary_url": [f"127.0.0.1 is a loopback address; {INTERNAL}"]},
        ),
        (
            {
                "secondary_url": "https://backup.example.com/",
                "probe_url": "http://169.254.169.254/latest/meta-data",
            },
            {"probe_url": [f"169.254.169.254 is a link-local address; {INTERNAL}"]},
        ),
        (
            {
                "secondary_url": "https://user@backup.example.com/",
                "probe_url": "https://origin.example.com/health",
            },
            {
                "secondary_url": [
                    "Secondary origin URL must not contain user information (@)."
                ]
            },
        ),
        (
            {
                "secondary_url": "https://backup.example.com/a/../b/",
                "probe_url": "https://origin.example.com/health",
            },
            {
                "secondary_url": [
                    "Secondary origin URL must not contain . or .. segments."
                ]
            },
        ),
        (
            {
                "secondary_url": "https://backup.example.com/?a=1",
                "probe_url": "https://origin.example.com/health",
            },
            {
                "secondary_url": [
                    "Secondary origin URL must not have a query string: the file name is added after it."
                ]
            },
        ),
    ],
)
def test_the_secondary_origin_and_probe_url_go_together_and_must_be_public(
    bucket, fields, errors
):
    assert errors_of(bucket, **fields) == errors


@pytest.mark.parametrize(
    ("secondary", "stored"),
    [
        ("https://backup.example.com", "https://backup.example.com/"),
        ("https://backup.example.com/", "https://backup.example.com/"),
        ("http://backup.example.com:8080/dir", "http://backup.example.com:8080/dir/"),
        (" https://backup.example.com/dir/ ", "https://backup.example.com/dir/"),
    ],
)
def test_the_secondary_origin_url_gets_a_trailing_slash(bucket, secondary, stored):
    rule = save_rule(
        bucket,
        secondary_url=secondary,
        probe_url="https://origin.example.com/health?x=1",
    )
    rule.refresh_from_db()
    assert (rule.secondary_url, rule.probe_url) == (
        stored,
        "https://origin.example.com/health?x=1",
    )


def test_private_secondary_and_probe_urls_are_accepted_when_the_operator_allows_it(
    bucket, settings
):
    settings.ORIGIN_ALLOW_PRIVATE = True
    rule = save_rule(
        bucket,
        host="127.0.0.1:9000",
        secondary_url="http://127.0.0.1:9001",
        probe_url="http://127.0.0.1:9000/health",
    )
    assert rule.secondary_url == "http://127.0.0.1:9001/"


# -- positions ----------------------------------------------------------------------------


def positions(bucket):
    return list(
        BackToOriginRule.objects.filter(bucket=bucket)
        .order_by("position")
        .values_list("key_prefix", "position")
    )


@pytest.fixture
def three_rules(bucket):
    return [save_rule(bucket, key_prefix=prefix) for prefix in ("a/", "b/", "c/")]


def test_new_rules_are_numbered_one_to_n(bucket, three_rules):
    assert [rule.position for rule in three_rules] == [1, 2, 3]
    assert positions(bucket) == [("a/", 1), ("b/", 2), ("c/", 3)]


@pytest.mark.parametrize(
    ("index", "offset", "moved", "order"),
    [
        (1, -1, True, ["b/", "a/", "c/"]),
        (1, 1, True, ["a/", "c/", "b/"]),
        (2, -1, True, ["a/", "c/", "b/"]),
        (0, 1, True, ["b/", "a/", "c/"]),
        (0, -1, False, ["a/", "b/", "c/"]),
        (2, 1, False, ["a/", "b/", "c/"]),
    ],
)
def test_move_swaps_with_a_neighbour_and_refuses_at_the_ends(
    bucket, three_rules, index, offset, moved, order
):
    rule = three_rules[index]
    assert rule.move(offset) is moved
    assert positions(bucket) == [(prefix, n) for n, prefix in enumerate(order, 1)]
    assert rule.position == order.index(rule.key_prefix) + 1


@pytest.mark.parametrize(
    ("index", "left"),
    [(0, ["b/", "c/"]), (1, ["a/", "c/"]), (2, ["a/", "b/"])],
)
def test_clear_deletes_the_rule_and_renumbers_the_rest(
    bucket, three_rules, index, left
):
    three_rules[index].clear()
    assert positions(bucket) == [(prefix, n) for n, prefix in enumerate(left, 1)]


def test_a_rule_created_after_a_clear_goes_last(bucket, three_rules):
    three_rules[0].clear()
    assert save_rule(bucket, key_prefix="d/").position == 3
    assert positions(bucket) == [("b/", 1), ("c/", 2), ("d/", 3)]


# -- engine adapter --------------------------------------------------------------------------


def test_engine_rules_come_in_position_order_in_one_query(
    bucket, three_rules, django_assert_num_queries
):
    three_rules[2].move(-1)
    with django_assert_num_queries(1):
        rules = BackToOriginRule.objects.engine_rules(bucket)
    assert [(rule.position, rule.key_prefix) for rule in rules] == [
        (1, "a/"),
        (2, "c/"),
        (3, "b/"),
    ]
    assert [rule.rule_id for rule in rules] == [
        three_rules[0].pk,
        three_rules[2].pk,
        three_rules[1].pk,
    ]


def test_engine_rules_are_reused_while_their_rows_are_unchanged(bucket, three_rules):
    first = BackToOriginRule.objects.engine_rules(bucket)

    assert BackToOriginRule.objects.engine_rules(bucket) is first


@pytest.mark.parametrize(
    "change",
    [
        pytest.param(lambda rules: rules[2].move(-1), id="moved"),
        pytest.param(lambda rules: rules[0].clear(), id="cleared"),
        pytest.param(
            lambda rules: BackToOriginRule.objects.filter(pk=rules[1].pk).update(
                host="changed.example.com"
            ),
            id="edited without save()",
        ),
        pytest.param(
            lambda rules: BackToOriginRule.objects.filter(pk=rules[1].pk).update(
                set_headers=[["X-New", "1"]]
            ),
            id="a JSON field edited",
        ),
        pytest.param(
            lambda rules: save_rule(rules[0].bucket, key_prefix="d/"), id="added"
        ),
    ],
)
def test_any_change_to_the_rows_rebuilds_the_engine_rules(bucket, three_rules, change):
    before = BackToOriginRule.objects.engine_rules(bucket)

    change(three_rules)

    after = BackToOriginRule.objects.engine_rules(bucket)
    expected = tuple(
        rule.to_engine()
        for rule in BackToOriginRule.objects.filter(bucket=bucket).order_by("position")
    )
    assert after == expected
    assert after != before


def test_the_engine_rules_of_two_buckets_are_kept_apart(bucket, public_bucket):
    save_rule(bucket, key_prefix="mine/")
    save_rule(public_bucket, key_prefix="theirs/")

    for _ in range(2):
        assert [
            r.key_prefix for r in BackToOriginRule.objects.engine_rules(bucket)
        ] == ["mine/"]
        assert [
            r.key_prefix for r in BackToOriginRule.objects.engine_rules(public_bucket)
        ] == ["theirs/"]


def test_engine_rules_only_hold_the_buckets_own_rules(bucket, public_bucket):
    save_rule(public_bucket, key_prefix="other/")
    assert BackToOriginRule.objects.engine_rules(bucket) == ()


def test_a_mirroring_rule_maps_onto_the_engine_rule(bucket):
    rule = save_rule(
        bucket,
        key_prefix="img/",
        key_suffix=".jpg",
        include_headers=[["X-Tenant", "blue"], ["X-Empty", ""]],
        protocol="http",
        host="origin.example.com:8080",
        path="dir",
        pass_query_string=True,
        follow_redirects=False,
        check_md5=True,
        replace_prefix=True,
        replace_prefix_with="pics/",
        secondary_url="https://backup.example.com",
        probe_url="https://origin.example.com/health",
        pass_all_headers=True,
        pass_headers=["X-A"],
        remove_headers=["X-B", "Cookie"],
        set_headers=[["X-C", "c"]],
    )
    (engine_rule,) = BackToOriginRule.objects.engine_rules(bucket)
    assert engine_rule == engine.Rule(
        position=1,
        mode="mirror",
        rule_id=rule.pk,
        key_prefix="img/",
        key_suffix=".jpg",
        http_status=404,
        include_headers=(
            engine.HeaderCondition("X-Tenant", "blue"),
            engine.HeaderCondition("X-Empty", ""),
        ),
        protocol="http",
        host="origin.example.com:8080",
        path="dir",
        pass_query_string=True,
        follow_redirects=False,
        check_md5=True,
        replace_prefix=True,
        replace_prefix_with="pics/",
        secondary_url="https://backup.example.com/",
        probe_url="https://origin.example.com/health",
        headers=engine.HeaderTransmission(
            pass_all=True,
            pass_names=("X-A",),
            remove_names=("X-B", "Cookie"),
            set_headers=(("X-C", "c"),),
        ),
        redirect_code=301,
        redirect_target="keep",
    )
    assert (
        engine.build_origin_url(engine_rule, "img/cat.jpg")
        == "http://origin.example.com:8080/dir/pics/cat.jpg"
    )


def test_a_redirection_rule_maps_onto_the_engine_rule(bucket):
    rule = save_rule(
        bucket,
        mode=REDIRECT,
        http_status=403,
        key_prefix="old/",
        host="new.example.com",
        pass_query_string=True,
        redirect_code=307,
        redirect_target=TARGET.REPLACE_PREFIX,
        replace_prefix_with="new/",
    )
    (engine_rule,) = BackToOriginRule.objects.engine_rules(bucket)
    assert engine_rule == engine.Rule(
        position=1,
        mode="redirect",
        rule_id=rule.pk,
        key_prefix="old/",
        http_status=403,
        protocol="https",
        host="new.example.com",
        pass_query_string=True,
        replace_prefix=True,
        replace_prefix_with="new/",
        redirect_code=307,
        redirect_target="replace_prefix",
    )
    assert engine.redirect_location(engine_rule, "old/a.jpg", "x=1") == (
        engine.Redirection(307, "https://new.example.com/new/a.jpg?x=1")
    )


def test_a_set_header_value_must_be_latin1(bucket):
    rule = BackToOriginRule(
        bucket=bucket,
        mode="mirror",
        host="example.com",
        set_headers=[["X-Price", "5 €"]],
    )

    with pytest.raises(ValidationError) as error:
        rule.save_in_order()

    assert error.value.message_dict["set_headers"] == [
        "Set these headers: the value of X-Price must use Latin-1 characters only (HTTP header values cannot carry others)."
    ]


# -- everything saved can be read back (SPEC §9) -------------------------------------------

UNSTORABLE = (
    "must not contain control characters, U+FFFE, U+FFFF or unpaired surrogates"
)


@pytest.mark.parametrize(
    ("fields", "errors"),
    [
        (
            {"key_prefix": "a\uffff"},
            {"key_prefix": [f"File Name Prefix {UNSTORABLE} (found U+FFFF)."]},
        ),
        (
            {"key_suffix": "\ud800.jpg"},
            {"key_suffix": [f"File Name Suffix {UNSTORABLE} (found U+D800)."]},
        ),
        (
            {"include_headers": [["X-Tenant", "blue\ufffe"]]},
            {"include_headers": [f"Header condition {UNSTORABLE} (found U+FFFE)."]},
        ),
        (
            {"include_headers": [["X-Tenant", "\udfff"]]},
            {"include_headers": [f"Header condition {UNSTORABLE} (found U+DFFF)."]},
        ),
        (
            {"path": "dir\ufffe"},
            {"path": [f"Path {UNSTORABLE} (found U+FFFE)."]},
        ),
        (
            {
                "key_prefix": "old/",
                "replace_prefix": True,
                "replace_prefix_with": "\uffff",
            },
            {
                "replace_prefix_with": [
                    f"Replace prefix with {UNSTORABLE} (found U+FFFF)."
                ]
            },
        ),
        (
            {
                "mode": REDIRECT,
                "redirect_target": TARGET.AFFIX,
                "target_suffix": "\uffff",
            },
            {"target_suffix": [f"Suffix {UNSTORABLE} (found U+FFFF)."]},
        ),
    ],
)
def test_characters_xml_cannot_carry_are_refused_in_every_text_field(
    bucket, fields, errors
):
    assert errors_of(bucket, **fields) == errors


SPACE = "must not start or end with a space or tab (HTTP drops them, so the rule could never work as typed)."
CONTROL = "must not contain control characters (tabs included)."


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (" lead", SPACE),
        ("trail ", SPACE),
        ("\tlead", SPACE),
        ("trail\t", SPACE),
        ("in\tside", CONTROL),
        ("a\x00b", CONTROL),
        ("a\x0bb", CONTROL),
        ("a\x1bb", CONTROL),
        ("a\x1f", CONTROL),
        ("a\x7fb", CONTROL),
    ],
)
@pytest.mark.parametrize(
    ("field", "label"),
    [("set_headers", "Set these headers"), ("include_headers", "Header condition")],
)
def test_header_values_http_would_change_are_refused(
    bucket, field, label, value, message
):
    assert errors_of(bucket, **{field: [["X-A", value]]}) == {
        field: [f"{label}: the value of X-A {message}"]
    }


@pytest.mark.parametrize("value", ["in side", "a&b<c>\"d'e", "é", "v" * 1024])
def test_header_values_with_inner_spaces_and_markup_characters_are_accepted(
    bucket, value
):
    rule = save_rule(bucket, set_headers=[["X-A", value]])
    rule.refresh_from_db()
    assert rule.set_headers == [["X-A", value]]


@pytest.mark.parametrize(
    "probe",
    ["https://origin.example.com/health?x=\x01", "https://origin.example.com/h?x=a\tb"],
)
def test_a_probe_url_with_a_control_character_is_refused(bucket, probe):
    assert errors_of(
        bucket, secondary_url="https://backup.example.com/", probe_url=probe
    ) == {"probe_url": ["Probe URL must not contain control characters or tabs."]}
