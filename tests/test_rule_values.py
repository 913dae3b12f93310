"""One validation for the three ways a rule is saved (console, JSON API, PUT ?website).

Everything saved can be read back (SPEC §9): rule values XML cannot carry, or that
HTTP would change, are refused on every path, and what is accepted comes back
through GET ?website as XML oss2 reads. A setting the rule would ignore is refused
with the same words on every path; a harmless difference is normalised on every path.
"""

import json
import xml.etree.ElementTree as ET
from xml.sax.saxutils import escape

import pytest
from django.urls import reverse
from oss2 import xml_utils
from oss2.models import GetBucketWebsiteResult

from origin import website_config, website_xml
from origin.models import BackToOriginRule

pytestmark = pytest.mark.django_db

HOST = "www.example.com"
AFFIX = BackToOriginRule.RedirectTarget.AFFIX
FIXED = BackToOriginRule.RedirectTarget.FIXED
REPLACE_PREFIX = BackToOriginRule.RedirectTarget.REPLACE_PREFIX


# -- one rule, sent three ways ----------------------------------------------------------


def console_post(fields):
    """The Create Rule form's POST data for a rule with these model fields."""
    data = {"mode": "mirror", "protocol": "https", "host": HOST}
    for name, value in fields.items():
        if name in ("include_headers", "set_headers"):
            data[f"{name}_name"] = [pair[0] for pair in value]
            data[f"{name}_value"] = [pair[1] for pair in value]
        elif value is True:
            data[name] = "on"
        else:
            data[name] = value
    return data


def api_body(fields):
    # ensure_ascii: a lone surrogate travels as "\ud800", the way a JSON client sends it
    return json.dumps({"host": HOST, **fields})


def _element(tag, text):
    return f"<{tag}>{escape(text)}</{tag}>"


def _condition_xml(fields):
    parts = [
        _element("KeyPrefixEquals", fields.get("key_prefix", "")),
        _element("KeySuffixEquals", fields.get("key_suffix", "")),
        _element("HttpErrorCodeReturnedEquals", str(fields.get("http_status", 404))),
    ]
    parts += [
        f"<IncludeHeader>{_element('Key', name)}{_element('Equals', value)}</IncludeHeader>"
        for name, value in fields.get("include_headers", [])
    ]
    return "".join(parts)


def _mirror_xml(fields):
    path = fields.get("path", "")
    parts = [
        _element("RedirectType", "Mirror"),
        _element(
            "MirrorURL", f"https://{HOST}/{path}/" if path else f"https://{HOST}/"
        ),
    ]
    if fields.get("replace_prefix"):
        parts.append(_element("EnableReplacePrefix", "true"))
        parts.append(_element("ReplaceKeyPrefixWith", fields["replace_prefix_with"]))
    if fields.get("secondary_url"):
        parts.append(_element("MirrorURLSlave", fields["secondary_url"]))
        parts.append(_element("MirrorURLProbe", fields["probe_url"]))
    headers = [_element("Pass", name) for name in fields.get("pass_headers", [])]
    headers += [_element("Remove", name) for name in fields.get("remove_headers", [])]
    headers += [
        f"<Set>{_element('Key', name)}{_element('Value', value)}</Set>"
        for name, value in fields.get("set_headers", [])
    ]
    return "".join(parts) + f"<MirrorHeaders>{''.join(headers)}</MirrorHeaders>"


def _redirect_xml(fields):
    parts = [_element("RedirectType", fields.get("redirect_type", "External"))]
    host = fields.get(
        "host", HOST
    )  # "" sends no HostName, as the other paths send none
    if host:
        parts.append(_element("HostName", host))
    if "protocol" in fields:
        parts.append(_element("Protocol", fields["protocol"]))
    if "redirect_code" in fields:
        parts.append(_element("HttpRedirectCode", str(fields["redirect_code"])))
    target = fields.get("redirect_target")
    if target == AFFIX:
        prefix, suffix = (
            fields.get("target_prefix", ""),
            fields.get("target_suffix", ""),
        )
        parts.append(_element("ReplaceKeyWith", f"{prefix}${{key}}{suffix}"))
    elif target == FIXED:
        parts.append(_element("ReplaceKeyWith", fields.get("target_fixed_path", "")))
    elif target == REPLACE_PREFIX:
        parts.append(_element("EnableReplacePrefix", "true"))
        parts.append(_element("ReplaceKeyPrefixWith", fields["replace_prefix_with"]))
    return "".join(parts)


def website_body(fields):
    """A PUT ?website document with the rule, characters written as they are."""
    redirect = (
        _redirect_xml(fields)
        if fields.get("mode") == "redirect"
        else _mirror_xml(fields)
    )
    rule = (
        "<RoutingRule><RuleNumber>1</RuleNumber>"
        f"<Condition>{_condition_xml(fields)}</Condition><Redirect>{redirect}</Redirect>"
        "</RoutingRule>"
    )
    document = f"<WebsiteConfiguration><RoutingRules>{rule}</RoutingRules></WebsiteConfiguration>"
    return document.encode("utf-8")


# -- refused on every path -----------------------------------------------------------------


def _set(value):
    return {"set_headers": [["X-Set", value]]}


def _condition(value):
    return {"include_headers": [["X-Tenant", value]]}


REDIRECT = {"mode": "redirect", "http_status": 404}
BAD_VALUES = [
    pytest.param({"key_prefix": "a\x00"}, "key_prefix", id="prefix-nul"),
    pytest.param({"key_prefix": "a\x1b"}, "key_prefix", id="prefix-escape"),
    pytest.param({"key_prefix": "a\uffff"}, "key_prefix", id="prefix-uffff"),
    pytest.param({"key_suffix": ".jpg\ufffe"}, "key_suffix", id="suffix-ufffe"),
    pytest.param({"key_suffix": ".jpg\x7f"}, "key_suffix", id="suffix-del"),
    pytest.param(_condition("\x01"), "include_headers", id="condition-x01"),
    pytest.param(_condition("blue\uffff"), "include_headers", id="condition-uffff"),
    pytest.param(_condition(" blue"), "include_headers", id="condition-leading-space"),
    pytest.param(_condition("blue "), "include_headers", id="condition-trailing-space"),
    pytest.param(_condition("\tblue"), "include_headers", id="condition-leading-tab"),
    pytest.param(_condition("bl\x7fue"), "include_headers", id="condition-del"),
    pytest.param(_set("a\x00b"), "set_headers", id="set-nul"),
    pytest.param(_set("a\x0bb"), "set_headers", id="set-vertical-tab"),
    pytest.param(_set("a\x1bb"), "set_headers", id="set-escape"),
    pytest.param(_set("a\x1f"), "set_headers", id="set-x1f"),
    pytest.param(_set("a\x7fb"), "set_headers", id="set-del"),
    pytest.param(_set("a\tb"), "set_headers", id="set-inner-tab"),
    pytest.param(_set(" lead"), "set_headers", id="set-leading-space"),
    pytest.param(_set("trail "), "set_headers", id="set-trailing-space"),
    pytest.param(_set("trail\t"), "set_headers", id="set-trailing-tab"),
    pytest.param(_set("a\ufffe"), "set_headers", id="set-ufffe"),
    pytest.param({"pass_headers": ["X-\uffff"]}, "pass_headers", id="pass-uffff"),
    pytest.param({"remove_headers": ["X-\x01"]}, "remove_headers", id="remove-x01"),
    pytest.param({"path": "dir\ufffe"}, "path", id="path-ufffe"),
    pytest.param(
        {
            "key_prefix": "old/",
            "replace_prefix": True,
            "replace_prefix_with": "new\uffff/",
        },
        "replace_prefix_with",
        id="replacement-uffff",
    ),
    pytest.param(
        {
            "secondary_url": "https://backup.example.com/",
            "probe_url": "https://www.example.com/health?x=\x01",
        },
        "probe_url",
        id="probe-query-x01",
    ),
    pytest.param(
        {
            "secondary_url": "https://backup.example.com/",
            "probe_url": "https://www.example.com/health?x=a\tb",
        },
        "probe_url",
        id="probe-query-tab",
    ),
    pytest.param(
        {**REDIRECT, "redirect_target": AFFIX, "target_prefix": "v\uffff/"},
        "target_prefix",
        id="redirect-prefix-uffff",
    ),
    pytest.param(
        {**REDIRECT, "redirect_target": FIXED, "target_fixed_path": "a\x7fb"},
        "redirect_target",  # the target's inputs are checked together
        id="redirect-fixed-path-del",
    ),
]


@pytest.mark.parametrize(("fields", "field"), BAD_VALUES)
def test_the_console_refuses_the_value(alice_client, bucket, fields, field):
    response = alice_client.post(
        reverse("console-rule-create", args=[bucket.name]), console_post(fields)
    )

    assert response.status_code == 200  # the form again, with its errors
    assert field in response.context["form"].errors
    assert not bucket.origin_rules.exists()


@pytest.mark.parametrize(("fields", "field"), BAD_VALUES)
def test_the_json_api_refuses_the_value(api, bucket, fields, field):
    response = api.post(
        f"/api/v1/buckets/{bucket.name}/rules",
        api_body(fields),
        content_type="application/json",
    )

    assert response.status_code == 400
    assert field in response.json()
    assert not bucket.origin_rules.exists()


@pytest.mark.parametrize(("fields", "field"), BAD_VALUES)
def test_put_website_refuses_the_value(bucket, fields, field):
    with pytest.raises(website_xml.WebsiteError) as refused:
        website_config.replace_configuration(bucket, website_body(fields))

    # Characters XML cannot carry fail in the parser; the rest in the rule's clean().
    assert refused.value.code in ("MalformedXML", "InvalidArgument")
    if refused.value.code == "InvalidArgument":
        assert refused.value.message.startswith("RuleNumber 1: ")
    assert not bucket.origin_rules.exists()


# -- a setting the rule would ignore is refused, with the same words on every path ---------

INTERNAL_RULE = {
    **REDIRECT,
    "redirect_type": "Internal",
    "key_prefix": "old/",
    "redirect_target": REPLACE_PREFIX,
    "replace_prefix_with": "new/",
}
MIRROR_STATUS = (
    "Mirroring applies to missing objects only: the HTTP Status Code must be 404."
)
IGNORED_SETTINGS = [
    pytest.param(
        {"http_status": 403},
        ("http_status", "HttpErrorCodeReturnedEquals"),
        MIRROR_STATUS,
        id="mirroring-with-status-403",
    ),
    pytest.param(
        {"http_status": 410},
        ("http_status", "HttpErrorCodeReturnedEquals"),
        MIRROR_STATUS,
        id="mirroring-with-status-410",
    ),
    pytest.param(
        INTERNAL_RULE,  # with the host every path sends by default
        ("host", "HostName"),
        "An Internal rule serves the target file from this bucket: it takes no Domain or IP.",
        id="internal-with-host",
    ),
    pytest.param(
        {**INTERNAL_RULE, "host": "", "redirect_code": 302},
        ("redirect_code", "HttpRedirectCode"),
        "An Internal rule serves the target file instead of redirecting: "
        "it takes no Redirection Code other than the default 301.",
        id="internal-with-redirection-code-302",
    ),
    pytest.param(
        {**INTERNAL_RULE, "host": "", "protocol": "http"},
        ("protocol", "Protocol"),
        "An Internal rule serves the target file from this bucket: "
        "it takes no protocol other than the default https.",
        id="internal-with-protocol-http",
    ),
]


@pytest.mark.parametrize(("fields", "names", "message"), IGNORED_SETTINGS)
def test_the_console_refuses_an_ignored_setting(
    alice_client, bucket, fields, names, message
):
    response = alice_client.post(
        reverse("console-rule-create", args=[bucket.name]), console_post(fields)
    )

    assert response.status_code == 200
    assert response.context["form"].errors == {names[0]: [message]}
    assert not bucket.origin_rules.exists()


@pytest.mark.parametrize(("fields", "names", "message"), IGNORED_SETTINGS)
def test_the_json_api_refuses_an_ignored_setting(api, bucket, fields, names, message):
    response = api.post(
        f"/api/v1/buckets/{bucket.name}/rules",
        api_body(fields),
        content_type="application/json",
    )

    assert response.status_code == 400
    assert response.json() == {names[0]: [message]}
    assert not bucket.origin_rules.exists()


@pytest.mark.parametrize(("fields", "names", "message"), IGNORED_SETTINGS)
def test_put_website_refuses_an_ignored_setting(bucket, fields, names, message):
    with pytest.raises(website_xml.WebsiteError) as refused:
        website_config.replace_configuration(bucket, website_body(fields))

    assert (refused.value.code, refused.value.name, refused.value.message) == (
        "InvalidArgument",
        names[1],
        f"RuleNumber 1: {message}",
    )
    assert not bucket.origin_rules.exists()


# -- a harmless difference is accepted and normalised on every path -----------------------

NORMALISED = [
    pytest.param(
        {
            "secondary_url": "https://backup.example.com/dir",
            "probe_url": "https://www.example.com/health",
        },
        {"secondary_url": "https://backup.example.com/dir/"},
        id="secondary-url-without-trailing-slash",
    ),
    pytest.param(
        {**INTERNAL_RULE, "host": ""},
        {"redirect_type": "Internal", "host": "", "replace_prefix_with": "new/"},
        id="internal-without-an-origin",
    ),
    # Redirection fires for any status from 400 to 599 (SPEC §10), so it is kept.
    pytest.param(
        {**REDIRECT, "http_status": 403},
        {"mode": "redirect", "http_status": 403},
        id="redirection-with-status-403",
    ),
]


def stored(bucket, expected):
    rule = bucket.origin_rules.get()
    return {name: getattr(rule, name) for name in expected}


@pytest.mark.parametrize(("fields", "expected"), NORMALISED)
def test_the_console_accepts_and_normalises(alice_client, bucket, fields, expected):
    response = alice_client.post(
        reverse("console-rule-create", args=[bucket.name]), console_post(fields)
    )

    assert response.status_code == 302
    assert stored(bucket, expected) == expected


@pytest.mark.parametrize(("fields", "expected"), NORMALISED)
def test_the_json_api_accepts_and_normalises(api, bucket, fields, expected):
    response = api.post(
        f"/api/v1/buckets/{bucket.name}/rules",
        api_body(fields),
        content_type="application/json",
    )

    assert response.status_code == 201, response.json()
    assert stored(bucket, expected) == expected


@pytest.mark.parametrize(("fields", "expected"), NORMALISED)
def test_put_website_accepts_and_normalises(bucket, fields, expected):
    website_config.replace_configuration(bucket, website_body(fields))

    assert stored(bucket, expected) == expected


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"key_prefix": "a\ud800"}, "key_prefix"),
        (_condition("\udfff"), "include_headers"),
        (_set("a\ud800"), "set_headers"),
        ({"pass_headers": ["X-\ud800"]}, "pass_headers"),
    ],
)
def test_the_json_api_refuses_lone_surrogates(api, bucket, fields, field):
    response = api.post(
        f"/api/v1/buckets/{bucket.name}/rules",
        api_body(fields),
        content_type="application/json",
    )

    assert response.status_code == 400
    assert field in response.json()
    assert not bucket.origin_rules.exists()


def test_a_set_header_with_a_leading_space_is_refused_with_a_clear_message(api, bucket):
    response = api.post(
        f"/api/v1/buckets/{bucket.name}/rules",
        api_body(_set(" lead")),
        content_type="application/json",
    )

    assert response.json() == {
        "set_headers": [
            "Set these headers: the value of X-Set must not start or end with a space "
            "or tab (HTTP drops them, so the rule could never work as typed)."
        ]
    }


# -- accepted values come back ------------------------------------------------------------

UNUSUAL = {
    "key_prefix": "图片/&<> \"'é",
    "key_suffix": ".jpg&amp;",
    "include_headers": [["X-Tenant", "a&b<c>\"d'e 图"], ["X-Empty", ""]],
    "set_headers": [["X-Set", "v&<>\"'é x"], ["Referer", "https://a.example/?q=1&r=2"]],
    "pass_headers": ["X-Pass"],
    "path": "dir/ünïcode&x",
}


def as_oss2(bucket):
    """GET ?website's document as oss2 reads it (its parser raises on what it cannot)."""
    body = website_config.configuration_xml(bucket)
    result = GetBucketWebsiteResult.__new__(GetBucketWebsiteResult)
    result.rules = []
    xml_utils.parse_get_bucket_website(result, body)
    return result


def test_unusual_values_saved_through_the_api_read_back_through_get_website(
    api, bucket
):
    response = api.post(
        f"/api/v1/buckets/{bucket.name}/rules",
        api_body(UNUSUAL),
        content_type="application/json",
    )
    assert response.status_code == 201, response.json()

    (rule,) = as_oss2(bucket).rules

    condition, headers = rule.condition, rule.redirect.mirror_headers
    assert condition.key_prefix_equals == UNUSUAL["key_prefix"]
    document = ET.fromstring(
        website_config.configuration_xml(bucket)
    )  # oss2 skips KeySuffixEquals
    assert document.findtext(".//KeySuffixEquals") == UNUSUAL["key_suffix"]
    assert [(h.key, h.equals) for h in condition.include_header_list] == [
        ("X-Tenant", "a&b<c>\"d'e 图"),
        ("X-Empty", ""),
    ]
    assert [(item.key, item.value) for item in headers.set_list] == [
        ("X-Set", "v&<>\"'é x"),
        ("Referer", "https://a.example/?q=1&r=2"),
    ]
    assert rule.redirect.mirror_url == f"https://{HOST}/dir/%C3%BCn%C3%AFcode%26x/"


def test_unusual_values_survive_a_get_then_put_of_the_website_document(api, bucket):
    api.post(
        f"/api/v1/buckets/{bucket.name}/rules",
        api_body(UNUSUAL),
        content_type="application/json",
    )
    first = website_config.configuration_xml(bucket)

    website_config.replace_configuration(bucket, first)

    assert website_config.configuration_xml(bucket) == first


def test_get_website_stays_well_formed_for_a_rule_stored_before_this_validation(
    bucket,
):
    # Rows written without clean(), as older versions let through (PostgreSQL
    # cannot store NUL at all, so the value carries another control character).
    BackToOriginRule.objects.create(
        bucket=bucket,
        position=1,
        host=HOST,
        key_prefix="old\x01\uffff/",
        set_headers=[["X-Set", "a\x1bb"]],
    )

    (rule,) = as_oss2(bucket).rules

    assert rule.condition.key_prefix_equals == "old\ufffd\ufffd/"
    assert rule.redirect.mirror_headers.set_list[0].value == "a\ufffdb"
