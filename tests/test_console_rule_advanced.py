"""The rule form's Advanced group (SPEC §10) and header comparisons, through Django's
test client: every option saved and shown again, errors inline, and the origin
AccessKey secret written once and never rendered back."""

import html as html_text
import re

import pytest
from django.urls import reverse

from buckets.models import unseal_secret
from origin.models import BackToOriginRule

pytestmark = pytest.mark.django_db

HTMX = {"HX-Request": "true"}
TYPED_SECRET = "Typed-S3cret/Value+9"
STORED_SECRET = "Stored-S3cret/Value+7"

ADVANCED_POST = {
    "mode": "mirror",
    "http_status": "404",
    "key_prefix": "private/",
    "protocol": "https",
    "host": "primary.example.com",
    "follow_redirects": "on",
    "include_headers_name": ["X-Tenant", "X-Tenant", "X-Env"],
    "include_headers_match": ["starts_with", "ends_with", "equals"],
    "include_headers_value": ["blue", "-eu", "prod"],
    "alternates_number": ["2", "1", ""],
    "alternates_url": [
        "https://second.example.com/files",
        "https://first.example.com/",
        "",
    ],
    "switch_on_all_errors": "on",
    "transparent_codes": "429, 403",
    "mirror_head": "on",
    "save_origin_meta": "on",
    "keep_origin_last_modified": "on",
    "pass_original_slashes": "on",
    "return_headers_name": ["X-Served-By", ""],
    "return_headers_value": ["mirror", ""],
    "auth_type": "S3V4",
    "auth_access_key_id": "AKIDTYPED",
    "auth_access_key_secret": TYPED_SECRET,
    "auth_region": "us-east-1",
}


def url(name, bucket, rule=None):
    args = [bucket.name] if rule is None else [bucket.name, rule.pk]
    return reverse(name, args=args)


def page_text(response):
    """The body, checked on the way: no secret is ever part of a page."""
    text = response.content.decode()
    assert TYPED_SECRET not in text
    assert STORED_SECRET not in text
    return text


def errors_at(text, name):
    """The error messages shown inside the field `name` (up to the next field)."""
    start = text.index(f'id="field-{name}"')
    end = text.find('id="field-', start + 1)
    block = text[start : end if end != -1 else None]
    return [
        html_text.unescape(message)
        for message in re.findall(r'<div class="field-error">(.*?)</div>', block)
    ]


@pytest.fixture
def signed_rule(bucket):
    """A mirroring rule for a private S3 origin, its secret stored sealed."""
    rule = BackToOriginRule(
        bucket=bucket,
        key_prefix="private/",
        host="primary.example.com",
        transparent_codes=[403],
        proxy_only=True,
        auth_type="S3V4",
        auth_access_key_id="AKIDSTORED",
        auth_region="eu-west-1",
    )
    rule.apply_auth_secret(STORED_SECRET)
    rule.save_in_order()
    return rule


def edit_post(**changes):
    """The Edit form's POST for signed_rule, the secret left blank unless given."""
    return {
        "mode": "mirror",
        "key_prefix": "private/",
        "protocol": "https",
        "host": "primary.example.com",
        "transparent_codes": "403",
        "proxy_only": "on",
        "auth_type": "S3V4",
        "auth_access_key_id": "AKIDSTORED",
        "auth_access_key_secret": "",
        "auth_region": "eu-west-1",
        **changes,
    }


# -- create ---------------------------------------------------------------------------


def test_create_a_mirroring_rule_with_every_advanced_option_and_s3v4_auth(
    alice_client, bucket
):
    response = alice_client.post(url("console-rule-create", bucket), ADVANCED_POST)
    page_text(response)

    assert response.status_code == 302
    rule = BackToOriginRule.objects.get(bucket=bucket)
    assert rule.include_headers == [
        ["X-Tenant", "blue", "starts_with"],
        ["X-Tenant", "-eu", "ends_with"],
        ["X-Env", "prod", "equals"],
    ]
    # Sorted by number; the row without a number goes last; base URLs end in /.
    assert rule.alternates == [
        [1, "https://first.example.com/"],
        [2, "https://second.example.com/files/"],
    ]
    assert rule.switch_on_all_errors is True
    assert rule.transparent_codes == [403, 429]
    assert (rule.mirror_head, rule.proxy_only) == (True, False)
    assert (rule.save_origin_meta, rule.keep_origin_last_modified) == (True, True)
    assert rule.pass_original_slashes is True
    assert rule.send_sni is True
    assert rule.return_headers == [["X-Served-By", "mirror"]]
    assert (rule.auth_type, rule.auth_access_key_id, rule.auth_region) == (
        "S3V4",
        "AKIDTYPED",
        "us-east-1",
    )
    assert TYPED_SECRET not in rule.auth_sealed_secret
    assert unseal_secret(rule.auth_sealed_secret) == TYPED_SECRET

    listing = page_text(alice_client.get(response.url))
    assert (
        "HTTP 404 · prefix private/ · header X-Tenant starts with blue · "
        "header X-Tenant ends with -eu · header X-Env=prod"
    ) in listing
    assert (
        "queryString ✗ · follow 3xx ✓ · alternate https://first.example.com/ · "
        "alternate https://second.example.com/files/ · switch on any error · "
        "pass through 403,429 · HEAD ✓ · keep origin metadata · "
        "keep origin Last-Modified · keep // · return X-Served-By: mirror · "
        "signed S3V4 as AKIDTYPED"
    ) in html_text.unescape(listing)


def test_create_with_htmx_shows_the_new_rule_and_no_secret(alice_client, bucket):
    response = alice_client.post(
        url("console-rule-create", bucket), ADVANCED_POST, headers=HTMX
    )
    text = page_text(response)
    assert response["HX-Retarget"] == "#back-to-origin-section"
    assert "signed S3V4 as AKIDTYPED" in text
    assert unseal_secret(bucket.origin_rules.get().auth_sealed_secret) == TYPED_SECRET


def test_the_create_form_has_advanced_closed_and_a_blank_password_input(
    alice_client, bucket
):
    text = page_text(alice_client.get(url("console-rule-create", bucket)))
    assert '<details class="advanced" id="rule-advanced">' in text
    assert "<summary>Advanced</summary>" in text
    assert (
        '<input type="password" name="auth_access_key_secret" '
        'autocomplete="new-password" id="id_auth_access_key_secret">'
    ) in text
    assert '<label for="id_auth_access_key_secret">Origin AccessKey secret</label>' in (
        text
    )
    for label in [
        "Switch origins on any error",
        "Transparent origin status codes",
        "Mirror HEAD requests",
        "Serve without saving (proxy only)",
        "Keep the origin&#x27;s user metadata",
        "Keep the origin&#x27;s Last-Modified",
        "Keep repeated slashes in the origin URL",
        "Add these response headers",
        "Origin authentication",
        "Origin AccessKey ID",
        "Origin region",
    ]:
        assert label in text
    assert 'name="send_sni"' not in text
    for option in [
        '<option value="" selected>None (public origin)</option>',
        '<option value="S3V4">S3 Signature V4</option>',
        '<option value="OSS">OSS signature</option>',
    ]:
        assert option in text
    assert "A secret is stored." not in text


def test_redirection_has_no_advanced_group(alice_client, bucket):
    response = alice_client.get(
        url("console-rule-mode-fields", bucket), {"mode": "redirect"}
    )
    assert "Advanced" not in response.text
    assert 'name="auth_access_key_secret"' not in response.text


# -- edit -----------------------------------------------------------------------------


def test_edit_form_shows_the_stored_values_but_not_the_secret(
    alice_client, bucket, signed_rule
):
    BackToOriginRule.objects.filter(pk=signed_rule.pk).update(
        alternates=[[1, "https://first.example.com/"]],
        include_headers=[["X-Tenant", "blue", "starts_with"]],
        return_headers=[["X-Served-By", "mirror"]],
    )
    text = page_text(
        alice_client.get(url("console-rule-edit", bucket, signed_rule), headers=HTMX)
    )

    assert '<details class="advanced" id="rule-advanced" open>' in text
    for shown in [
        'name="alternates_number" value="1"',
        'name="alternates_url" value="https://first.example.com/"',
        'name="transparent_codes" value="403"',
        'name="proxy_only" id="id_proxy_only" checked',
        'name="return_headers_name" value="X-Served-By"',
        'name="return_headers_value" value="mirror"',
        '<option value="S3V4" selected>S3 Signature V4</option>',
        'name="auth_access_key_id" value="AKIDSTORED"',
        'name="auth_region" value="eu-west-1"',
        'name="include_headers_name" value="X-Tenant"',
        '<option value="starts_with" selected>Starts with</option>',
        'name="include_headers_value" value="blue"',
    ]:
        assert shown in text
    # The password input has no value, not even the sealed form of the secret.
    assert (
        '<input type="password" name="auth_access_key_secret" '
        'autocomplete="new-password" id="id_auth_access_key_secret">'
    ) in text
    assert signed_rule.auth_sealed_secret not in text
    assert "A secret is stored. Leave blank to keep it." in text


def test_editing_without_typing_the_secret_keeps_it(alice_client, bucket, signed_rule):
    response = alice_client.post(
        url("console-rule-edit", bucket, signed_rule),
        edit_post(auth_region="eu-central-1", mirror_head="on"),
    )
    page_text(response)

    assert response.status_code == 302
    signed_rule.refresh_from_db()
    assert (signed_rule.auth_region, signed_rule.mirror_head) == ("eu-central-1", True)
    assert unseal_secret(signed_rule.auth_sealed_secret) == STORED_SECRET


def test_typing_a_secret_on_edit_replaces_the_stored_one(
    alice_client, bucket, signed_rule
):
    response = alice_client.post(
        url("console-rule-edit", bucket, signed_rule),
        edit_post(auth_access_key_id="AKIDNEW", auth_access_key_secret=TYPED_SECRET),
    )
    page_text(response)

    assert response.status_code == 302
    signed_rule.refresh_from_db()
    assert signed_rule.auth_access_key_id == "AKIDNEW"
    assert unseal_secret(signed_rule.auth_sealed_secret) == TYPED_SECRET


def test_changing_the_access_key_id_without_a_secret_is_an_inline_error(
    alice_client, bucket, signed_rule
):
    response = alice_client.post(
        url("console-rule-edit", bucket, signed_rule),
        edit_post(auth_access_key_id="AKIDOTHER"),
        headers=HTMX,
    )
    text = page_text(response)

    assert response.status_code == 200
    assert errors_at(text, "auth_access_key_secret") == [
        "Origin AccessKey secret is required."
    ]
    assert '<details class="advanced" id="rule-advanced" open>' in text
    assert 'name="auth_access_key_id" value="AKIDOTHER"' in text
    signed_rule.refresh_from_db()
    assert signed_rule.auth_access_key_id == "AKIDSTORED"
    assert unseal_secret(signed_rule.auth_sealed_secret) == STORED_SECRET


def test_choosing_no_authentication_forgets_the_stored_secret(
    alice_client, bucket, signed_rule
):
    response = alice_client.post(
        url("console-rule-edit", bucket, signed_rule),
        edit_post(auth_type="", auth_access_key_id="", auth_region=""),
    )
    assert response.status_code == 302
    signed_rule.refresh_from_db()
    assert (signed_rule.auth_type, signed_rule.auth_sealed_secret) == ("", "")


# -- refused values -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        pytest.param(
            {"transparent_codes": "403,abc"},
            "transparent_codes",
            "Transparent origin status codes: 'abc' is not an HTTP status code.",
            id="codes-not-numbers",
        ),
        pytest.param(
            {"transparent_codes": "200"},
            "transparent_codes",
            "Transparent origin status codes: 200 is not an error status (400 to 599); "
            "successful answers are mirrored and 3xx follow the redirect setting.",
            id="codes-not-errors",
        ),
        pytest.param(
            {
                "alternates_number": ["1"],
                "alternates_url": ["ftp://files.example.com/"],
            },
            "alternates",
            "Alternate origin 1 must be a full http:// or https:// URL.",
            id="alternate-url",
        ),
        pytest.param(
            {"alternates_number": ["first"], "alternates_url": ["https://a.example/"]},
            "alternates",
            "Alternate origin: 'first' is not a number from 1 to 10000.",
            id="alternate-number",
        ),
        pytest.param(
            {
                "include_headers_name": ["X-Tenant"],
                "include_headers_match": ["starts_with"],
                "include_headers_value": [""],
            },
            "include_headers",
            "Header condition: X-Tenant starts with needs a value.",
            id="starts-with-empty",
        ),
        pytest.param(
            {"auth_region": "US East"},
            "auth_region",
            "Origin region must be a region name such as us-east-1 or cn-hangzhou "
            "(lower-case letters, digits and -).",
            id="region",
        ),
    ],
)
def test_a_refused_value_is_shown_inline_and_nothing_is_stored(
    alice_client, bucket, changes, field, message
):
    response = alice_client.post(
        url("console-rule-create", bucket), {**ADVANCED_POST, **changes}, headers=HTMX
    )
    text = page_text(response)

    assert response.status_code == 200
    assert errors_at(text, field) == [message]
    assert '<details class="advanced" id="rule-advanced" open>' in text
    # The typed secret is not echoed: the person is told to type it again.
    assert (
        "The Origin AccessKey secret you typed was not saved and is not shown again: "
        "type it again."
    ) in text
    assert 'name="auth_access_key_id" value="AKIDTYPED"' in text
    assert not bucket.origin_rules.exists()


def test_a_refused_secret_is_reported_once(alice_client, bucket):
    response = alice_client.post(
        url("console-rule-create", bucket),
        {**ADVANCED_POST, "auth_access_key_secret": "has a space"},
    )
    text = page_text(response)
    assert "has a space" not in text
    assert errors_at(text, "auth_access_key_secret") == [
        "Origin AccessKey secret must be 1 to 256 printable ASCII characters without spaces."
    ]
    assert not bucket.origin_rules.exists()


def test_without_a_typed_secret_there_is_nothing_to_type_again(alice_client, bucket):
    response = alice_client.post(
        url("console-rule-create", bucket),
        {**ADVANCED_POST, "auth_access_key_secret": "", "transparent_codes": "abc"},
    )
    text = page_text(response)
    assert errors_at(text, "auth_access_key_secret") == [
        "Origin AccessKey secret is required."
    ]
    assert "type it again" not in text


# -- header conditions ----------------------------------------------------------------


def test_a_condition_stored_as_a_pair_shows_as_equals(alice_client, bucket, make_rule):
    rule = make_rule(bucket, key_prefix="a/")
    BackToOriginRule.objects.filter(pk=rule.pk).update(
        include_headers=[["X-Env", "prod"]]
    )
    text = alice_client.get(url("console-rule-edit", bucket, rule)).text
    assert 'name="include_headers_name" value="X-Env"' in text
    assert '<option value="equals">Equals</option>' in text  # the first: shown chosen
    assert (
        " selected>"
        not in text.split('name="include_headers_match"')[1].split("</select>")[0]
    )


def test_a_condition_row_without_a_comparison_means_equals(alice_client, bucket):
    response = alice_client.post(
        url("console-rule-create", bucket),
        {
            "mode": "mirror",
            "protocol": "https",
            "host": "www.example.com",
            "include_headers_name": ["X-Env"],
            "include_headers_value": ["prod"],
        },
    )
    assert response.status_code == 302
    assert bucket.origin_rules.get().include_headers == [["X-Env", "prod", "equals"]]


# -- the mode switch never carries the secret -----------------------------------------


def test_switching_modes_leaves_the_secret_out_of_the_query_string(
    alice_client, bucket, signed_rule
):
    form = alice_client.get(url("console-rule-edit", bucket, signed_rule)).text
    assert (
        'hx-include="#rule-form [name]:not([name=csrfmiddlewaretoken])'
        ':not([name=auth_access_key_secret])"'
    ) in form

    response = alice_client.get(
        url("console-rule-mode-fields", bucket),
        {
            "rule_id": signed_rule.pk,
            "mode": "mirror",
            "auth_access_key_secret": TYPED_SECRET,
            "alternates_number": ["1"],
            "alternates_url": ["https://first.example.com/"],
        },
    )
    text = page_text(response)
    assert 'name="alternates_url" value="https://first.example.com/"' in text
    assert "A secret is stored. Leave blank to keep it." in text
