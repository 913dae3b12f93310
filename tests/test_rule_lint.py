"""Rule lint (origin/rule_lint.py): shadowed rules, loops back to this bucket,
301s that look temporary. Pure engine rules, table-driven, non-warnings included."""

import pytest

from origin import engine
from origin.engine import HeaderCondition, Rule
from origin.rule_lint import BucketEndpoint, lint_rules

STARTS, ENDS = engine.MATCH_STARTS_WITH, engine.MATCH_ENDS_WITH
ENDPOINT = BucketEndpoint(
    "alice-bucket", server_hosts=(("127.0.0.1", 8000),), domain="oss.test"
)


def mirror(position, **fields):
    return Rule(position, engine.MIRROR, **{"host": "origin.example.com", **fields})


def redirect(position, **fields):
    return Rule(position, engine.REDIRECT, **{"host": "new.example.com", **fields})


def internal(position, **fields):
    return Rule(
        position, engine.REDIRECT, **{"host": "", "redirect_type": "Internal", **fields}
    )


def codes(rules, endpoint=ENDPOINT):
    return [(w.rule, w.code) for w in lint_rules(rules, endpoint)]


def header(name, value, match=engine.MATCH_EQUALS):
    return HeaderCondition(name, value, match)


@pytest.mark.parametrize(
    ("earlier", "later", "shadowed"),
    [
        # The example: a catch-all mirror above a go/ redirect.
        (mirror(1), redirect(2, key_prefix="go/"), True),
        (mirror(1, key_prefix="go"), redirect(2, key_prefix="go/"), True),
        (mirror(1, key_prefix="go/"), redirect(2, key_prefix="go/x/"), True),
        (mirror(1, key_prefix="go/x/"), redirect(2, key_prefix="go/"), False),
        (mirror(1, key_prefix="a/"), mirror(2, key_prefix="b/"), False),
        (mirror(1, key_suffix=".jpg"), mirror(2, key_suffix="big.jpg"), True),
        (mirror(1, key_suffix="big.jpg"), mirror(2, key_suffix=".jpg"), False),
        (
            mirror(1, key_prefix="a/"),
            mirror(2, key_prefix="a/b/", key_suffix=".png"),
            True,
        ),
        (mirror(1, key_suffix=".png"), mirror(2, key_prefix="a/"), False),
        # Status: a 404 rule never answers a 403, and the reverse.
        (mirror(1), redirect(2, key_prefix="a/", http_status=403), False),
        (
            redirect(1, http_status=403),
            redirect(2, key_prefix="a/", http_status=403),
            True,
        ),
        # An earlier header condition: only when the later rule's conditions imply it.
        (
            mirror(1, include_headers=(header("X-A", "1"),)),
            mirror(2, key_prefix="a/"),
            False,
        ),
        (
            mirror(1, include_headers=(header("X-A", "1"),)),
            mirror(2, key_prefix="a/", include_headers=(header("x-a", "1"),)),
            True,
        ),
        (
            mirror(1, include_headers=(header("X-A", "1"),)),
            mirror(2, key_prefix="a/", include_headers=(header("X-A", "2"),)),
            False,
        ),
        (
            mirror(1, include_headers=(header("X-A", "ab", STARTS),)),
            mirror(2, key_prefix="a/", include_headers=(header("X-A", "abc"),)),
            True,
        ),
        (
            mirror(1, include_headers=(header("X-A", "ab", STARTS),)),
            mirror(2, key_prefix="a/", include_headers=(header("X-A", "abc", STARTS),)),
            True,
        ),
        (
            mirror(1, include_headers=(header("X-A", "abc", STARTS),)),
            mirror(2, key_prefix="a/", include_headers=(header("X-A", "ab", STARTS),)),
            False,
        ),
        (
            mirror(1, include_headers=(header("X-A", "bc", ENDS),)),
            mirror(2, key_prefix="a/", include_headers=(header("X-A", "abc", ENDS),)),
            True,
        ),
        (
            mirror(1, include_headers=(header("X-A", "c", ENDS),)),
            mirror(2, key_prefix="a/", include_headers=(header("X-A", "abc", STARTS),)),
            False,
        ),
        (
            mirror(1, include_headers=(header("X-A", "", STARTS),)),
            mirror(2, key_prefix="a/", include_headers=(header("X-A", "z", ENDS),)),
            True,
        ),
        (
            mirror(1, include_headers=(header("X-A", "abc"),)),
            mirror(2, key_prefix="a/", include_headers=(header("X-A", "abc", STARTS),)),
            False,
        ),
        # A later rule with header conditions is still covered by a catch-all.
        (
            mirror(1),
            mirror(2, key_prefix="a/", include_headers=(header("X-A", "1"),)),
            True,
        ),
        # Internal rules fire only on 404; one with another status matches nothing.
        (
            internal(1, target_fixed_path="index.html", redirect_target="fixed"),
            mirror(2, key_prefix="a/"),
            True,
        ),
        (
            redirect(1, http_status=403),
            internal(2, http_status=403, key_prefix="a/"),
            False,
        ),
    ],
)
def test_a_rule_is_shadowed_only_when_an_earlier_rule_provably_matches_first(
    earlier, later, shadowed
):
    expected = [(2, "shadowed")] if shadowed else []
    assert [c for c in codes([earlier, later]) if c[1] == "shadowed"] == expected


def test_the_first_covering_rule_is_named_and_only_later_rules_are_warned():
    warnings = lint_rules(
        [
            mirror(3, key_prefix="go/x"),
            redirect(2, key_prefix="go/"),
            mirror(1, key_prefix="go"),
        ],
        ENDPOINT,
    )

    assert [(w.rule, w.code) for w in warnings] == [(2, "shadowed"), (3, "shadowed")]
    assert warnings[0].message == (
        "Rule 2 can never match: rule 1 comes first and matches every request it would "
        "(File Name Prefix 'go', no File Name Suffix, HTTP 404, no header condition). "
        "Move rule 2 above rule 1 or narrow rule 1."
    )


@pytest.mark.parametrize(
    ("rule", "loop"),
    [
        # Path style on the server's own host and port: /alice-bucket/...
        (mirror(1, protocol="http", host="127.0.0.1:8000", path="alice-bucket"), True),
        (
            mirror(1, protocol="http", host="127.0.0.1:8000", path="alice-bucket/old"),
            True,
        ),
        (
            mirror(
                1, protocol="http", host="127.0.0.1:8000", key_prefix="alice-bucket/"
            ),
            True,
        ),
        (
            mirror(1, protocol="http", host="127.0.0.1:8000", path="alice-bucket-2"),
            False,
        ),
        (mirror(1, protocol="http", host="127.0.0.1:8000", path="other-bucket"), False),
        (mirror(1, protocol="http", host="127.0.0.1:9000", path="alice-bucket"), False),
        (mirror(1, protocol="http", host="127.0.0.1", path="alice-bucket"), False),
        (
            mirror(
                1,
                protocol="http",
                host="127.0.0.1:8000",
                path="x",
                key_prefix="a/",
                replace_prefix=True,
                replace_prefix_with="",
            ),
            False,
        ),
        # Virtual host: the bucket's own name under OSS_DOMAIN, any port and path.
        (mirror(1, host="alice-bucket.oss.test"), True),
        (mirror(1, host="alice-bucket.oss.test:8443", path="any"), True),
        (mirror(1, host="bob-bucket.oss.test"), False),
        (mirror(1, host="oss.test", path="alice-bucket"), True),
        (mirror(1, host="oss.test", path="bob-bucket"), False),
        # Secondary and alternate origins count too.
        (
            mirror(
                1,
                secondary_url="https://alice-bucket.oss.test/",
                probe_url="https://origin.example.com/ok",
            ),
            True,
        ),
        (mirror(1, alternate_urls=("http://127.0.0.1:8000/alice-bucket/",)), True),
        (mirror(1, alternate_urls=("http://127.0.0.1:8000/elsewhere/",)), False),
        # Redirections: the target key's known start decides path style.
        (redirect(1, host="alice-bucket.oss.test"), True),
        (
            redirect(
                1, protocol="http", host="127.0.0.1:8000", key_prefix="alice-bucket/"
            ),
            True,
        ),
        (redirect(1, protocol="http", host="127.0.0.1:8000", key_prefix="go/"), False),
        (
            redirect(
                1,
                protocol="http",
                host="127.0.0.1:8000",
                redirect_target="affix",
                target_prefix="alice-bucket/new/",
            ),
            True,
        ),
        (
            redirect(
                1,
                protocol="http",
                host="127.0.0.1:8000",
                redirect_target="fixed",
                target_fixed_path="/alice-bucket/index.html",
            ),
            True,
        ),
        (
            redirect(
                1,
                protocol="http",
                host="127.0.0.1:8000",
                key_prefix="old/",
                redirect_target="replace_prefix",
                replace_prefix_with="alice-bucket/new/",
            ),
            True,
        ),
        (redirect(1, host="new.example.com"), False),
        # An Internal rule serves this bucket's keys by design.
        (internal(1, redirect_target="fixed", target_fixed_path="index.html"), False),
    ],
)
def test_a_loop_back_to_this_bucket_is_warned(rule, loop):
    assert codes([rule]) == ([(1, "loop")] if loop else [])


def test_without_an_endpoint_no_loop_is_looked_for():
    assert codes([mirror(1, host="alice-bucket.oss.test")], endpoint=None) == []


def test_a_server_host_without_a_port_matches_every_port():
    endpoint = BucketEndpoint(
        "alice-bucket", server_hosts=(("files.example.com", None),)
    )
    rule = mirror(1, host="files.example.com:8080", path="alice-bucket")

    assert codes([rule], endpoint) == [(1, "loop")]


def test_the_loop_messages_say_what_to_do():
    mirror_loop, redirect_loop = (
        lint_rules([rule], ENDPOINT)[0]
        for rule in (
            mirror(1, host="alice-bucket.oss.test"),
            redirect(1, host="alice-bucket.oss.test"),
        )
    )

    assert mirror_loop.message == (
        "Rule 1 mirrors from this bucket's own endpoint (origin "
        "https://alice-bucket.oss.test/): a missing key would be fetched from this "
        "bucket itself, a loop."
    )
    assert "use the Internal redirect type" in redirect_loop.message


@pytest.mark.parametrize(
    ("rule", "warned"),
    [
        (redirect(1, host="maintenance.example.com"), True),
        (redirect(1, host="temp.example.com"), True),
        (redirect(1, host="staging-cdn.example.com"), True),
        (
            redirect(
                1,
                host="www.example.com",
                redirect_target="fixed",
                target_fixed_path="maintenance.html",
            ),
            True,
        ),
        (
            redirect(
                1, host="www.example.com", redirect_target="affix", target_prefix="tmp/"
            ),
            True,
        ),
        (
            redirect(
                1,
                host="www.example.com",
                redirect_target="affix",
                target_suffix="-beta",
            ),
            True,
        ),
        (redirect(1, host="www.example.com", key_prefix="preview/"), True),
        # Not whole words, another code, another mode: no warning.
        (redirect(1, host="templates.example.com"), False),
        (redirect(1, host="attempt.example.com"), False),
        (redirect(1, host="www.example.com"), False),
        (redirect(1, host="maintenance.example.com", redirect_code=302), False),
        (redirect(1, host="maintenance.example.com", redirect_code=307), False),
        (mirror(1, host="maintenance.example.com"), False),
        (
            internal(1, redirect_target="fixed", target_fixed_path="maintenance.html"),
            False,
        ),
    ],
)
def test_a_301_that_looks_temporary_is_warned(rule, warned):
    assert codes([rule]) == ([(1, "temporary_301")] if warned else [])


def test_warnings_come_by_position_then_code_as_dicts():
    rules = [mirror(1), redirect(2, key_prefix="go/", host="alice-bucket.oss.test")]

    assert [w.as_dict()["code"] for w in lint_rules(rules, ENDPOINT)] == [
        "shadowed",
        "loop",
    ]
    assert set(lint_rules(rules, ENDPOINT)[0].as_dict()) == {"rule", "code", "message"}


def test_distinct_rules_give_no_warning():
    rules = [
        mirror(1, key_prefix="images/"),
        redirect(2, key_prefix="go/", redirect_code=302),
        mirror(3, key_suffix=".css"),
    ]

    assert lint_rules(rules, ENDPOINT) == []
