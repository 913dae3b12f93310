"""Back-to-Origin rule pages through Django's test client: access, HTMX fragments, forms."""

import re

import pytest
from django.test import Client
from django.urls import reverse

from buckets.models import Bucket
from origin import engine
from origin.models import BackToOriginRule

HTMX = {"HX-Request": "true"}


def url(name, bucket, rule=None):
    args = [bucket.name] if rule is None else [bucket.name, rule.pk]
    return reverse(name, args=args)


def positions(bucket):
    return list(bucket.origin_rules.values_list("key_prefix", "position"))


MIRROR_POST = {
    "mode": "mirror",
    "http_status": "404",
    "key_prefix": "images/",
    "protocol": "http",
    "host": "www.example.com",
    "path": "static",
    "pass_query_string": "on",
    "follow_redirects": "on",
    "pass_headers": ["aaa-header", ""],
    "remove_headers": ["bbb-header"],
    "set_headers_name": ["ccc-header"],
    "set_headers_value": ["ccc"],
}


@pytest.fixture
def rule(bucket, make_rule):
    return make_rule(bucket, key_prefix="a/")


# -- access -----------------------------------------------------------------

RULE_URLS = [
    ("get", "console-rules", False),
    ("get", "console-rule-create", False),
    ("post", "console-rule-create", False),
    ("get", "console-rule-mode-fields", False),
    ("get", "console-rule-header-row", False),
    ("get", "console-rule-edit", True),
    ("post", "console-rule-edit", True),
    ("get", "console-rule-clear", True),
    ("post", "console-rule-clear", True),
    ("post", "console-rule-move", True),
]


@pytest.mark.django_db
@pytest.mark.parametrize(("method", "name", "per_rule"), RULE_URLS)
def test_every_rule_url_needs_log_on(client, bucket, rule, method, name, per_rule):
    target = url(name, bucket, rule if per_rule else None)
    response = getattr(client, method)(target)
    assert response.status_code == 302
    assert response.url == f"{reverse('login')}?next={target}"
    assert positions(bucket) == [("a/", 1)]


@pytest.mark.django_db
@pytest.mark.parametrize(("method", "name", "per_rule"), RULE_URLS)
def test_another_users_rule_urls_are_404(
    bob_client, bucket, rule, method, name, per_rule
):
    target = url(name, bucket, rule if per_rule else None)
    data = {"mode": "mirror", "host": "evil.example.com", "direction": "down"}
    response = getattr(bob_client, method)(target, data if method == "post" else None)
    assert response.status_code == 404
    rule.refresh_from_db()
    assert (rule.host, rule.position) == ("www.example.com", 1)


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("method", "name"),
    [
        ("get", "console-rule-edit"),
        ("post", "console-rule-edit"),
        ("get", "console-rule-clear"),
        ("post", "console-rule-clear"),
        ("post", "console-rule-move"),
    ],
)
def test_a_rule_through_another_bucket_of_the_same_user_is_404(
    alice_client, alice, bucket, rule, method, name
):
    other = Bucket.objects.create(owner=alice, name="alice-other")
    response = getattr(alice_client, method)(url(name, other, rule))
    assert response.status_code == 404
    assert positions(bucket) == [("a/", 1)]


@pytest.mark.django_db
def test_mode_fields_for_a_rule_of_another_bucket_is_404(alice_client, alice, rule):
    other = Bucket.objects.create(owner=alice, name="alice-other")
    response = alice_client.get(
        url("console-rule-mode-fields", other), {"rule_id": rule.pk}
    )
    assert response.status_code == 404


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("name", "per_rule", "data"),
    [
        ("console-rule-create", False, MIRROR_POST),
        ("console-rule-edit", True, {**MIRROR_POST, "host": "other.example.com"}),
        ("console-rule-move", True, {"direction": "down"}),
        ("console-rule-clear", True, {}),
    ],
)
def test_posts_without_a_csrf_token_are_403(
    alice, bucket, rule, name, per_rule, data, make_rule
):
    make_rule(bucket, key_prefix="b/")
    client = Client(enforce_csrf_checks=True)
    client.force_login(alice)
    response = client.post(url(name, bucket, rule if per_rule else None), data)
    assert response.status_code == 403
    assert positions(bucket) == [("a/", 1), ("b/", 2)]
    rule.refresh_from_db()
    assert rule.host == "www.example.com"


@pytest.mark.django_db
def test_a_post_with_the_csrf_token_is_accepted(alice, bucket):
    client = Client(enforce_csrf_checks=True)
    client.force_login(alice)
    page = client.get(url("console-rule-create", bucket))
    token = page.context["csrf_token"]
    response = client.post(
        url("console-rule-create", bucket),
        {**MIRROR_POST, "csrfmiddlewaretoken": token},
    )
    assert response.status_code == 302
    assert positions(bucket) == [("images/", 1)]


# -- fragments and full pages -----------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("name", "per_rule", "fragment_id"),
    [
        ("console-rules", False, 'id="back-to-origin-section"'),
        ("console-rule-create", False, 'id="rule-form-panel"'),
        ("console-rule-edit", True, 'id="rule-form-panel"'),
        ("console-rule-clear", True, 'id="rule-form-panel"'),
    ],
)
def test_htmx_gets_a_fragment_and_a_plain_request_the_full_page(
    alice_client, bucket, rule, name, per_rule, fragment_id
):
    target = url(name, bucket, rule if per_rule else None)

    fragment = alice_client.get(target, headers=HTMX)
    page = alice_client.get(target)

    assert fragment.status_code == page.status_code == 200
    assert "<html" not in fragment.text
    assert fragment_id in fragment.text
    assert "<html" in page.text
    assert fragment_id in page.text
    assert "Basic Settings" in page.text
    assert 'id="rule-list"' in page.text  # the full page shows the rule list too


@pytest.mark.django_db
def test_rule_list_fragment_is_the_section_that_targets_itself(
    alice_client, bucket, rule
):
    # The summary's Edit swaps the section it sits in: the template says so, not the server.
    summary = alice_client.get(reverse("console-settings", args=[bucket.name]))
    response = alice_client.get(url("console-rules", bucket), headers=HTMX)

    section = '<section class="card settings-section" id="back-to-origin-section" hx-target="this" hx-swap="outerHTML">'
    assert section in summary.text
    assert response.text.startswith(section)
    assert "HX-Retarget" not in response
    assert "HX-Reswap" not in response
    assert f'id="rule-{rule.pk}"' in response.text


@pytest.mark.django_db
def test_edit_form_shows_the_rule_as_stored(alice_client, bucket, make_rule):
    rule = make_rule(
        bucket,
        key_prefix="a/",
        host="old.example.com",
        pass_headers=["aaa-header"],
        set_headers=[["ccc-header", "ccc"]],
    )
    response = alice_client.get(url("console-rule-edit", bucket, rule), headers=HTMX)
    assert "Edit Rule 1" in response.text
    assert 'value="old.example.com"' in response.text
    assert 'name="pass_headers" value="aaa-header"' in response.text
    assert 'name="set_headers_name" value="ccc-header"' in response.text
    assert 'name="set_headers_value" value="ccc"' in response.text


@pytest.mark.django_db
def test_clear_asks_for_confirmation_before_anything_happens(
    alice_client, bucket, rule
):
    response = alice_client.get(url("console-rule-clear", bucket, rule), headers=HTMX)
    assert "Clear rule 1 (Mirroring, HTTP 404 · prefix a/)? This cannot be undone." in (
        response.text
    )
    assert positions(bucket) == [("a/", 1)]


# -- create and edit --------------------------------------------------------


@pytest.mark.django_db
def test_create_a_mirroring_rule_with_a_plain_form_redirects_to_the_list(
    alice_client, bucket
):
    # The mirroring form has no Redirection Code or target inputs: they are not required.
    response = alice_client.post(url("console-rule-create", bucket), MIRROR_POST)

    rule = BackToOriginRule.objects.get(bucket=bucket)
    assert response.status_code == 302
    assert response.url == url("console-rules", bucket) + f"#rule-{rule.pk}"
    assert (rule.position, rule.mode, rule.http_status) == (1, "mirror", 404)
    assert (rule.key_prefix, rule.protocol, rule.host, rule.path) == (
        "images/",
        "http",
        "www.example.com",
        "static",
    )
    assert (rule.pass_query_string, rule.follow_redirects, rule.check_md5) == (
        True,
        True,
        False,
    )
    assert rule.pass_headers == ["aaa-header"]  # the blank row is ignored
    assert rule.remove_headers == ["bbb-header"]
    assert rule.set_headers == [["ccc-header", "ccc"]]
    assert (rule.redirect_code, rule.redirect_target) == (301, "keep")

    page = alice_client.get(response.url)
    assert "Rule 1 saved." in page.text
    assert (
        "queryString ✓ · follow 3xx ✓ · pass aaa-header · remove bbb-header · set ccc-header=ccc"
        in page.text
    )


@pytest.mark.django_db
def test_create_with_htmx_returns_the_editor_and_the_message(alice_client, bucket):
    response = alice_client.post(
        url("console-rule-create", bucket), MIRROR_POST, headers=HTMX
    )

    assert response.status_code == 200
    assert response["HX-Retarget"] == "#back-to-origin-section"
    assert response["HX-Reswap"] == "outerHTML"
    assert "<html" not in response.text
    assert 'id="rule-list"' in response.text
    assert "pass aaa-header · remove bbb-header · set ccc-header=ccc" in response.text
    assert '<div id="messages" hx-swap-oob="true">' in response.text
    assert "Rule 1 saved." in response.text
    # Shown once: a later full page does not repeat it.
    assert "Rule 1 saved." not in alice_client.get(url("console-rules", bucket)).text


@pytest.mark.django_db
def test_create_a_redirection_rule(alice_client, bucket):
    response = alice_client.post(
        url("console-rule-create", bucket),
        {
            "mode": "redirect",
            "http_status": "410",
            "key_prefix": "old/",
            "protocol": "https",
            "host": "new.example.com",
            "redirect_code": "302",
            "redirect_target": "affix",
            "target_prefix": "v2/",
            "target_suffix": "",
            "pass_query_string": "on",
        },
    )
    assert response.status_code == 302
    rule = BackToOriginRule.objects.get(bucket=bucket)
    assert (rule.mode, rule.http_status, rule.redirect_code) == ("redirect", 410, 302)
    assert (rule.redirect_target, rule.target_prefix) == ("affix", "v2/")
    assert rule.options_summary() == "302 · queryString ✓ · key → v2/${key}"


@pytest.mark.django_db
def test_edit_saves_in_place_and_keeps_the_position(
    alice_client, bucket, rule, make_rule
):
    make_rule(bucket, key_prefix="b/")
    response = alice_client.post(
        url("console-rule-edit", bucket, rule),
        {**MIRROR_POST, "key_prefix": "a/", "host": "new.example.com:8080"},
    )
    assert response.status_code == 302
    rule.refresh_from_db()
    assert (rule.position, rule.host, rule.pass_headers) == (
        1,
        "new.example.com:8080",
        ["aaa-header"],
    )
    assert positions(bucket) == [("a/", 1), ("b/", 2)]


@pytest.mark.django_db
@pytest.mark.parametrize("headers", [{}, HTMX], ids=["plain", "htmx"])
def test_invalid_post_rerenders_the_form_with_errors_and_everything_typed(
    alice_client, settings, bucket, headers
):
    settings.ORIGIN_ALLOW_PRIVATE = False
    response = alice_client.post(
        url("console-rule-create", bucket),
        {
            **MIRROR_POST,
            "key_suffix": ".jpg",
            "host": "10.0.0.1",
            "pass_headers": ["X-OSS-Meta-A", "Range", "aaa-header"],
            "set_headers_name": ["ccc-header"],
            "set_headers_value": ["a\r\nb"],
        },
        headers=headers,
    )

    assert response.status_code == 200
    assert ("<html" in response.text) is not bool(headers)
    assert "HX-Retarget" not in response
    html = response.text
    for message in [
        "10.0.0.1 is a private-network address; origins on internal networks are not allowed.",
        "Transmit these headers: X-OSS-Meta-A cannot be transmitted: headers starting with x-oss- are reserved by OSS.",
        "Transmit these headers: Range cannot be transmitted: mirroring always fetches the whole object.",
        "Set these headers: the value of ccc-header must not contain line breaks (CR/LF).",
    ]:
        assert message in html
    for typed in [
        'name="key_prefix" value="images/"',
        'name="key_suffix" value=".jpg"',
        'name="host" value="10.0.0.1"',
        'name="path" value="static"',
        'name="pass_headers" value="X-OSS-Meta-A"',
        'name="pass_headers" value="Range"',
        'name="pass_headers" value="aaa-header"',
        'name="remove_headers" value="bbb-header"',
        'name="set_headers_name" value="ccc-header"',
        'name="set_headers_value" value="a\r\nb"',
        'name="pass_query_string" id="id_pass_query_string" checked',
        '<option value="http" selected>',
    ]:
        assert typed in html
    assert not bucket.origin_rules.exists()


@pytest.mark.django_db
def test_duplicate_prefix_and_suffix_is_an_error_on_the_prefix(
    alice_client, bucket, rule
):
    response = alice_client.post(
        url("console-rule-create", bucket),
        {**MIRROR_POST, "key_prefix": "a/"},
        headers=HTMX,
    )
    form = response.context["form"]
    assert form.errors["key_prefix"] == [
        "Another rule already has prefix 'a/' and suffix ''. "
        "Each rule needs a different File Name Prefix or Suffix."
    ]
    assert positions(bucket) == [("a/", 1)]


@pytest.mark.django_db
def test_a_sixth_rule_is_refused(alice_client, bucket, make_rule):
    for prefix in ("a/", "b/", "c/", "d/", "e/"):
        make_rule(bucket, key_prefix=prefix)

    editor = alice_client.get(url("console-rules", bucket))
    assert "This bucket has the maximum of 5 Back-to-Origin rules." in editor.text
    assert 'id="create-rule"' not in editor.text

    response = alice_client.post(
        url("console-rule-create", bucket), {**MIRROR_POST, "key_prefix": "f/"}
    )
    assert response.status_code == 200
    assert "A bucket can have at most 5 Back-to-Origin rules." in response.text
    assert bucket.origin_rules.count() == 5


@pytest.mark.django_db
def test_below_the_limit_create_rule_is_offered(alice_client, bucket, rule):
    editor = alice_client.get(url("console-rules", bucket))
    assert 'id="create-rule"' in editor.text
    assert "maximum of 5" not in editor.text


# -- move and clear ---------------------------------------------------------


@pytest.fixture
def three_rules(bucket, make_rule):
    return [make_rule(bucket, key_prefix=prefix) for prefix in ("a/", "b/", "c/")]


@pytest.mark.django_db
def test_move_down_and_up(alice_client, bucket, three_rules):
    first, _, third = three_rules
    move = "console-rule-move"

    response = alice_client.post(url(move, bucket, first), {"direction": "down"})
    assert response.status_code == 302
    assert response.url == url("console-rules", bucket) + f"#rule-{first.pk}"
    assert positions(bucket) == [("b/", 1), ("a/", 2), ("c/", 3)]

    response = alice_client.post(
        url(move, bucket, third), {"direction": "up"}, headers=HTMX
    )
    assert response.status_code == 200
    assert "HX-Retarget" not in response  # the move form inherits the section's target
    assert response.text.startswith(
        '<section class="card settings-section" id="back-to-origin-section"'
    )
    assert positions(bucket) == [("b/", 1), ("c/", 2), ("a/", 3)]
    rows = response.text.index("prefix b/"), response.text.index("prefix c/")
    assert rows[0] < rows[1] < response.text.index("prefix a/")


@pytest.mark.django_db
def test_moving_past_either_end_changes_nothing(alice_client, bucket, three_rules):
    first, _, third = three_rules
    alice_client.post(url("console-rule-move", bucket, first), {"direction": "up"})
    alice_client.post(url("console-rule-move", bucket, third), {"direction": "down"})
    assert positions(bucket) == [("a/", 1), ("b/", 2), ("c/", 3)]


@pytest.mark.django_db
def test_move_needs_post(alice_client, bucket, rule):
    assert alice_client.get(url("console-rule-move", bucket, rule)).status_code == 405


@pytest.mark.django_db
def test_clear_deletes_and_renumbers(alice_client, bucket, three_rules):
    response = alice_client.post(url("console-rule-clear", bucket, three_rules[0]))
    assert response.status_code == 302
    assert positions(bucket) == [("b/", 1), ("c/", 2)]

    response = alice_client.post(
        url("console-rule-clear", bucket, three_rules[2]), headers=HTMX
    )
    assert response.status_code == 200
    assert "Rule 2 cleared." in response.text
    assert (
        "HX-Retarget" not in response
    )  # the confirmation inherits the section's target
    assert positions(bucket) == [("b/", 1)]


# -- mode fields and header rows --------------------------------------------


@pytest.mark.django_db
def test_mode_fields_for_redirection_keep_what_was_typed(alice_client, bucket):
    response = alice_client.get(
        url("console-rule-mode-fields", bucket),
        {
            "mode": "redirect",
            "key_prefix": "docs/",
            "host": "docs.example.com",
            "http_status": "404",
            "pass_query_string": "on",
            "target_prefix": "v2/",
        },
        headers=HTMX,
    )
    html = response.text
    assert response.status_code == 200
    assert html.startswith('<div id="rule-mode-fields" data-mode="redirect">')
    assert "Redirection Code" in html
    assert 'name="http_status" value="404" min="400" max="599"' in html
    assert 'name="target_prefix" value="v2/"' in html
    assert 'name="pass_query_string" id="id_pass_query_string" checked' in html
    assert 'name="path"' not in html
    assert 'name="pass_headers"' not in html


@pytest.mark.django_db
@pytest.mark.parametrize("mode", ["mirror", "", "nonsense"])
def test_mode_fields_for_mirroring_otherwise(alice_client, bucket, mode):
    response = alice_client.get(
        url("console-rule-mode-fields", bucket),
        {
            "mode": mode,
            "key_prefix": "docs/",
            "path": "files",
            "pass_headers": ["aaa-header"],
            "set_headers_name": ["ccc-header"],
            "set_headers_value": ["ccc"],
        },
    )
    html = response.text
    assert html.startswith('<div id="rule-mode-fields" data-mode="mirror">')
    assert "Redirection Code" not in html
    assert 'name="path" value="files"' in html
    assert 'name="pass_headers" value="aaa-header"' in html
    assert 'name="set_headers_name" value="ccc-header"' in html
    assert 'name="set_headers_value" value="ccc"' in html
    assert "<div data-requires-prefix >" in html  # a prefix is typed: not hidden
    assert 'name="follow_redirects" id="id_follow_redirects" checked' in html


@pytest.mark.django_db
def test_mode_fields_hide_the_replace_prefix_option_without_a_prefix(
    alice_client, bucket
):
    response = alice_client.get(url("console-rule-mode-fields", bucket), {"mode": ""})
    assert "<div data-requires-prefix hidden>" in response.text


@pytest.mark.django_db
def test_mode_fields_for_an_existing_rule_start_from_it(
    alice_client, bucket, make_rule
):
    rule = make_rule(
        bucket,
        mode="redirect",
        key_prefix="r/",
        redirect_code=307,
        redirect_target="fixed",
        target_fixed_path="landing.html",
    )
    response = alice_client.get(
        url("console-rule-mode-fields", bucket),
        {"rule_id": rule.pk, "mode": "redirect"},
    )
    assert '<option value="307" selected>' in response.text
    assert 'name="target_fixed_path" value="landing.html"' in response.text


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("query", "checked"),
    [({"pass_query_string": "on"}, True), ({}, False)],
    ids=["ticked", "unticked"],
)
def test_mode_fields_keep_transfer_query_string_as_ticked_on_the_page(
    alice_client, bucket, query, checked, make_rule
):
    rule = make_rule(bucket, key_prefix="q/", pass_query_string=True)
    response = alice_client.get(
        url("console-rule-mode-fields", bucket),
        {"rule_id": rule.pk, "mode": "redirect", "host": rule.host, **query},
    )
    checkbox = 'name="pass_query_string" id="id_pass_query_string" checked'
    assert (checkbox in response.text) is checked


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("list_name", "inputs", "selects"),
    [
        (
            "include_headers",
            ["include_headers_name", "include_headers_value"],
            ["include_headers_match"],
        ),
        ("set_headers", ["set_headers_name", "set_headers_value"], []),
        ("return_headers", ["return_headers_name", "return_headers_value"], []),
        ("alternates", ["alternates_number", "alternates_url"], []),
        ("pass_headers", ["pass_headers"], []),
        ("remove_headers", ["remove_headers"], []),
        ("host", ["pass_headers"], []),  # not a header list: a harmless default
        ("<script>", ["pass_headers"], []),
        ("", ["pass_headers"], []),
    ],
)
def test_header_row_is_one_empty_row(alice_client, bucket, list_name, inputs, selects):
    response = alice_client.get(
        url("console-rule-header-row", bucket), {"list": list_name}, headers=HTMX
    )
    html = response.text
    assert response.status_code == 200
    assert html.count('class="header-row"') == 1
    assert html.count("<input") == len(inputs)
    for name in inputs:
        assert f'name="{name}" value=""' in html
    assert html.count("<select") == len(selects)
    for name in selects:
        assert f'<select name="{name}" aria-label="Comparison">' in html
    assert "<script>" not in html
    assert "data-remove-row" in html


@pytest.mark.django_db
def test_a_header_condition_row_offers_the_engines_comparisons(alice_client, bucket):
    response = alice_client.get(
        url("console-rule-header-row", bucket), {"list": "include_headers"}
    )
    options = re.findall(r'<option value="([^"]*)">([^<]*)</option>', response.text)
    assert options == [
        ("equals", "Equals"),
        ("starts_with", "Starts with"),
        ("ends_with", "Ends with"),
    ]
    assert [value for value, _ in options] == list(engine.HEADER_MATCHES)


# -- Basic Settings ---------------------------------------------------------


@pytest.mark.django_db
def test_basic_settings_shows_the_rule_count_and_summary(
    alice_client, bucket, make_rule
):
    make_rule(bucket, key_prefix="images/", protocol="http", path="static")
    make_rule(bucket, mode="redirect", key_suffix=".pdf", host="docs.example.com")

    response = alice_client.get(reverse("console-settings", args=[bucket.name]))

    html = response.text
    assert '<p data-testid="rule-count">2 rules configured.</p>' in html
    assert (
        "<li>Mirroring: HTTP 404 · prefix images/ → <code>http://www.example.com/static/</code></li>"
        in html
    )
    assert (
        "<li>Redirection: HTTP 404 · suffix .pdf → <code>https://docs.example.com/</code></li>"
        in html
    )
    assert reverse("console-rules", args=[bucket.name]) in html


@pytest.mark.django_db
def test_basic_settings_without_rules(alice_client, bucket):
    response = alice_client.get(reverse("console-settings", args=[bucket.name]))
    assert '<p data-testid="rule-count">0 rules configured.</p>' in response.text
    assert "Back-to-Origin" in response.text
