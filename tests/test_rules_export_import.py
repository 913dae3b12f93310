"""Back-to-Origin Export / Import as OSS XML (console and JSON API) and the rule
lint warnings the console and the API show after saves and moves (SPEC §11)."""

import base64
import re

import pytest
from django.test import Client
from django.urls import reverse

from buckets.models import seal_secret, unseal_secret
from origin import rule_transfer, website_config
from origin.models import BackToOriginRule, WebsiteDocuments

HX = {"HX-Request": "true"}


def export_url(name="alice-bucket"):
    return reverse("console-rules-export", args=[name])


def import_url(name="alice-bucket"):
    return reverse("console-rules-import", args=[name])


def confirm_url(name="alice-bucket"):
    return reverse("console-rules-import-confirm", args=[name])


def xml_file(body, name="rules.xml"):
    from django.core.files.uploadedfile import SimpleUploadedFile

    return SimpleUploadedFile(name, body, content_type="application/xml")


def stored(bucket):
    """Every stored value of the bucket's rules and documents: what must not move."""
    rules = [
        {f.attname: getattr(rule, f.attname) for f in rule._meta.concrete_fields}
        for rule in BackToOriginRule.objects.filter(bucket=bucket).order_by("position")
    ]
    documents = list(WebsiteDocuments.objects.filter(bucket=bucket).values())
    return rules, documents


def routing_rule(number, condition, redirect):
    return (
        f"<RoutingRule><RuleNumber>{number}</RuleNumber>"
        f"<Condition>{condition}</Condition><Redirect>{redirect}</Redirect></RoutingRule>"
    )


def website(*rules, extra=""):
    return (
        f"<WebsiteConfiguration>{extra}<RoutingRules>{''.join(rules)}</RoutingRules>"
        "</WebsiteConfiguration>"
    ).encode()


def mirror_xml(number, prefix, url="https://www.example.com/", more=""):
    return routing_rule(
        number,
        f"<KeyPrefixEquals>{prefix}</KeyPrefixEquals>",
        f"<RedirectType>Mirror</RedirectType><MirrorURL>{url}</MirrorURL>{more}",
    )


def preview(client, body, name="rules.xml", **headers):
    return client.post(import_url(), {"file": xml_file(body, name)}, headers=headers)


def hidden(response, name):
    match = re.search(rf'name="{name}" value="([^"]*)"', response.content.decode())
    return match.group(1)


def confirm(client, response, **headers):
    """Press Replace rules on a preview: post back what the page carries."""
    return client.post(
        confirm_url(),
        {
            name: hidden(response, name)
            for name in ("configuration", "fingerprint", "name")
        },
        headers=headers,
    )


def changes(response):
    """(position, change) of each preview row."""
    html = response.content.decode()
    return [
        (int(position), kind)
        for position, kind in re.findall(
            r'<tr data-position="(\d+)" data-change="(\w+)">', html
        )
    ]


@pytest.fixture
def many_option_rules(bucket, make_rule):
    """Five rules using most of what a rule can say, and the website documents."""
    make_rule(
        bucket,
        key_prefix="images/",
        key_suffix=".jpg",
        include_headers=[
            ["X-Tenant", "acme", "equals"],
            ["User-Agent", "Mozilla", "starts_with"],
            ["X-Env", "prod", "ends_with"],
        ],
        protocol="http",
        path="static/img",
        pass_query_string=True,
        follow_redirects=False,
        check_md5=True,
        replace_prefix=True,
        replace_prefix_with="img/",
        secondary_url="https://backup.example.com/",
        probe_url="https://www.example.com/health",
        pass_headers=["aaa-header"],
        remove_headers=["bbb-header"],
        set_headers=[["ccc-header", "ccc"]],
        alternates=[
            [1, "https://alt1.example.com/"],
            [2, "https://alt2.example.com/a/"],
        ],
        switch_on_all_errors=True,
        transparent_codes=[403, 429],
        mirror_head=True,
        save_origin_meta=True,
        keep_origin_last_modified=True,
        pass_original_slashes=True,
        return_headers=[["X-From", "mirror"]],
        mirror_tags=[["source", "origin"]],
        auth_type="S3V4",
        auth_access_key_id="AKID",
        auth_sealed_secret=seal_secret("s3cr3t-value"),
        auth_region="us-east-1",
    )
    make_rule(
        bucket,
        key_prefix="live/",
        proxy_only=True,
        pass_all_headers=True,
        negative_cache_seconds=60,  # not in the XML: kept, as PUT ?website keeps it
    )
    make_rule(
        bucket,
        mode="redirect",
        key_prefix="old/",
        host="new.example.com",
        redirect_code=302,
        pass_query_string=True,
        redirect_target="affix",
        target_prefix="v2/",
        target_suffix=".html",
    )
    make_rule(
        bucket,
        mode="redirect",
        http_status=403,
        key_prefix="private/",
        host="login.example.com",
        redirect_type="AliCDN",
        redirect_code=307,
        redirect_target="replace_prefix",
        replace_prefix_with="public/",
    )
    make_rule(
        bucket,
        mode="redirect",
        redirect_type="Internal",
        host="",
        key_suffix="/",
        redirect_target="fixed",
        target_fixed_path="index.html",
    )
    WebsiteDocuments.objects.create(
        bucket=bucket, index_suffix="index.html", error_key="404.html"
    )
    return bucket


# -- Export ------------------------------------------------------------------------


def test_export_downloads_exactly_the_get_website_document(
    alice_client, many_option_rules
):
    response = alice_client.get(export_url())

    assert response.status_code == 200
    assert response["Content-Type"] == "application/xml"
    assert response["Content-Disposition"] == (
        'attachment; filename="alice-bucket-back-to-origin.xml"'
    )
    assert response.content == website_config.configuration_xml(many_option_rules)
    assert b"<AccessKeyId>AKID</AccessKeyId>" in response.content
    assert b"AccessKeySecret" not in response.content
    assert b"s3cr3t" not in response.content


def test_export_of_a_bucket_without_rules_is_an_empty_configuration(
    alice_client, bucket
):
    response = alice_client.get(export_url())

    assert response.content == rule_transfer.EMPTY_CONFIGURATION


def test_the_json_api_exports_the_same_document(api, many_option_rules):
    response = api.get("/api/v1/buckets/alice-bucket/rules/export")

    assert response.status_code == 200
    assert response["Content-Type"] == "application/xml"
    assert response.content == website_config.configuration_xml(many_option_rules)


def test_the_export_buttons_are_in_the_back_to_origin_section(alice_client, bucket):
    html = alice_client.get(reverse("console-rules", args=["alice-bucket"])).content

    assert f'href="{export_url()}" download>Export</a>'.encode() in html
    assert f'hx-get="{import_url()}"'.encode() in html
    assert b">Import</a>" in html


# -- round trip --------------------------------------------------------------------


def test_export_then_import_is_no_difference_and_the_round_trip_is_equal(
    alice_client, many_option_rules
):
    before = stored(many_option_rules)
    exported = alice_client.get(export_url()).content

    shown = preview(alice_client, exported, "alice-bucket-back-to-origin.xml")

    assert shown.status_code == 200
    assert b"No differences" in shown.content
    assert b"Replace rules</button>" not in shown.content
    assert changes(shown) == [(n, "unchanged") for n in range(1, 6)]
    assert stored(many_option_rules) == before

    replaced = confirm(alice_client, shown)

    assert replaced.status_code == 302
    after = stored(many_option_rules)
    ignored = {"id", "created_at", "updated_at"}
    assert [
        {k: v for k, v in rule.items() if k not in ignored} for rule in after[0]
    ] == [{k: v for k, v in rule.items() if k not in ignored} for rule in before[0]]
    assert [{**d, "id": None} for d in after[1]] == [
        {**d, "id": None} for d in before[1]
    ]
    assert alice_client.get(export_url()).content == exported
    first = BackToOriginRule.objects.get(bucket=many_option_rules, position=1)
    assert unseal_secret(first.auth_sealed_secret) == "s3cr3t-value"


# -- preview -----------------------------------------------------------------------


@pytest.fixture
def three_rules(bucket, make_rule):
    make_rule(bucket, key_prefix="images/")
    make_rule(bucket, mode="redirect", key_prefix="old/", host="new.example.com")
    make_rule(bucket, key_prefix="docs/")
    return bucket


def test_the_preview_shows_each_position_added_removed_changed_or_unchanged(
    alice_client, three_rules
):
    before = stored(three_rules)
    body = website(
        mirror_xml(1, "images/"),
        routing_rule(
            2,
            "<KeyPrefixEquals>old/</KeyPrefixEquals>",
            "<RedirectType>External</RedirectType><HostName>new.example.com</HostName>"
            "<HttpRedirectCode>302</HttpRedirectCode><PassQueryString>true</PassQueryString>",
        ),
        mirror_xml(4, "video/", "https://media.example.com/"),
    )

    response = preview(alice_client, body, **HX)

    assert response.status_code == 200
    assert b"<html" not in response.content
    assert changes(response) == [
        (1, "unchanged"),
        (2, "changed"),
        (3, "removed"),
        (4, "added"),
    ]
    html = response.content.decode()
    row = re.search(r'data-change="changed">(.*?)</tr>', html, re.S).group(1)
    assert "Transfer queryString, Redirection Code</td>" in row
    assert "Mirroring · HTTP 404 · prefix video/ · https://media.example.com/" in html
    assert "Replace rules</button>" in html
    assert stored(three_rules) == before  # a preview changes nothing


def test_replace_rules_replaces_them_all_at_once(alice_client, three_rules):
    body = website(mirror_xml(1, "video/", "https://media.example.com/"))
    shown = preview(alice_client, body, "video.xml", **HX)

    response = confirm(alice_client, shown, **HX)

    assert response.status_code == 200
    assert response["HX-Retarget"] == "#back-to-origin-section"
    assert b"Rules replaced from video.xml: 1 rules now." in response.content
    assert list(three_rules.origin_rules.values_list("position", "key_prefix")) == [
        (1, "video/")
    ]


def test_the_preview_lists_changes_to_the_index_and_error_documents(
    alice_client, bucket
):
    body = website(
        mirror_xml(1, "a/"),
        extra="<IndexDocument><Suffix>index.html</Suffix></IndexDocument>",
    )

    shown = preview(alice_client, body)
    confirm(alice_client, shown)

    assert b"Index and error documents change: Index document suffix." in shown.content
    assert WebsiteDocuments.objects.get(bucket=bucket).index_suffix == "index.html"


def test_the_preview_warns_about_what_the_imported_rules_would_do(alice_client, bucket):
    body = website(
        mirror_xml(1, ""),
        routing_rule(
            2,
            "<KeyPrefixEquals>go/</KeyPrefixEquals>",
            "<RedirectType>External</RedirectType><HostName>go.example.com</HostName>",
        ),
    )

    response = preview(alice_client, body)

    assert b"Rule 2 can never match: rule 1 comes first" in response.content


def test_a_full_page_import_works_without_htmx(alice_client, bucket):
    page = alice_client.get(import_url())

    assert b"<html" in page.content
    assert b'name="file"' in page.content
    assert b"Import rules" in page.content


# -- secrets -----------------------------------------------------------------------


def test_an_imported_rule_keeps_the_stored_secret_for_the_same_access_key_id(
    alice_client, bucket, make_rule
):
    make_rule(
        bucket,
        key_prefix="a/",
        auth_type="OSS",
        auth_access_key_id="AKID",
        auth_sealed_secret=seal_secret("kept-secret"),
    )
    auth = "<MirrorAuth><AuthType>OSS</AuthType><AccessKeyId>AKID</AccessKeyId></MirrorAuth>"
    body = website(
        mirror_xml(1, "a/", more=auth + "<MirrorCheckMd5>true</MirrorCheckMd5>")
    )

    shown = preview(alice_client, body)
    confirm(alice_client, shown)

    assert changes(shown) == [(1, "changed")]
    assert b"MD5 verification</td>" in shown.content
    rule = BackToOriginRule.objects.get(bucket=bucket)
    assert (rule.check_md5, unseal_secret(rule.auth_sealed_secret)) == (
        True,
        "kept-secret",
    )


def test_a_rule_needing_a_secret_it_lacks_is_refused_with_a_hint(
    alice_client, bucket, make_rule
):
    make_rule(
        bucket,
        key_prefix="a/",
        auth_type="OSS",
        auth_access_key_id="AKID",
        auth_sealed_secret=seal_secret("kept-secret"),
    )
    before = stored(bucket)
    auth = "<MirrorAuth><AuthType>OSS</AuthType><AccessKeyId>OTHER</AccessKeyId></MirrorAuth>"

    response = preview(alice_client, website(mirror_xml(1, "a/", more=auth)))

    assert b"Origin AccessKey secret is required." in response.content
    assert b"Exported files carry no secrets" in response.content
    assert b"Replace rules" not in response.content
    assert stored(bucket) == before


def test_a_secret_given_in_the_file_is_a_change(alice_client, bucket, make_rule):
    make_rule(
        bucket,
        key_prefix="a/",
        auth_type="OSS",
        auth_access_key_id="AKID",
        auth_sealed_secret=seal_secret("old-secret"),
    )
    auth = (
        "<MirrorAuth><AuthType>OSS</AuthType><AccessKeyId>AKID</AccessKeyId>"
        "<AccessKeySecret>new-secret</AccessKeySecret></MirrorAuth>"
    )

    shown = preview(alice_client, website(mirror_xml(1, "a/", more=auth)))
    confirm(alice_client, shown)

    assert b"Origin AccessKey secret</td>" in shown.content
    assert b"new-secret" not in shown.content.replace(
        hidden(shown, "configuration").encode(), b""
    )
    rule = BackToOriginRule.objects.get(bucket=bucket)
    assert unseal_secret(rule.auth_sealed_secret) == "new-secret"


# -- refusals: a clear message, nothing changed ------------------------------------

TOO_MANY = website(*(mirror_xml(n, f"p{n}/") for n in range(1, 7)))


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"this is not xml", "The XML is not well-formed"),
        (b"", "The XML is not well-formed"),
        (
            b"<CORSConfiguration><CORSRule/></CORSConfiguration>",
            "The root element must be WebsiteConfiguration.",
        ),
        (
            website(
                mirror_xml(
                    1, "a/", more="<MirrorHeaders><Pass>range</Pass></MirrorHeaders>"
                )
            ),
            "RuleNumber 1: Transmit these headers: range",
        ),
        (
            website(mirror_xml(1, "a/", more="<MirrorDstRegion>x</MirrorDstRegion>")),
            "RuleNumber 1: MirrorDstRegion is not supported by this server",
        ),
        (TOO_MANY, "RuleNumber 6: A bucket can have at most 5 Back-to-Origin rules."),
        (
            website(mirror_xml(1, "a/"), mirror_xml(2, "a/")),
            "RuleNumber 2: Another rule already has prefix",
        ),
        (
            b'<!DOCTYPE x [<!ENTITY a "b">]><WebsiteConfiguration/>',
            "The XML must not declare entities",
        ),
    ],
    ids=[
        "not-xml",
        "empty",
        "not-website",
        "forbidden-header",
        "unsupported-element",
        "six-rules",
        "duplicate",
        "entities",
    ],
)
def test_a_refused_file_says_why_and_changes_nothing(
    alice_client, three_rules, body, message
):
    before = stored(three_rules)

    response = preview(alice_client, body, **HX)

    assert response.status_code == 200
    html = response.content.decode()
    error = re.search(r'data-testid="import-error">(.*?)</div>', html, re.S).group(1)
    assert "The file was refused: " in error
    assert message in error.replace("&#x27;", "'")
    assert error.endswith("Nothing was changed.")
    assert "Replace rules" not in html
    assert stored(three_rules) == before


def test_a_file_over_one_mebibyte_is_refused(alice_client, three_rules):
    before = stored(three_rules)
    body = website(mirror_xml(1, "a/")) + b" " * rule_transfer.MAX_IMPORT_BYTES

    response = preview(alice_client, body)

    assert b"larger than 1 MiB" in response.content
    assert stored(three_rules) == before


def test_posting_without_a_file_asks_for_one(alice_client, three_rules):
    response = alice_client.post(import_url(), {})

    assert b"Choose a WebsiteConfiguration XML file to import." in response.content


def test_confirm_validates_the_file_again_and_never_trusts_the_form(
    alice_client, three_rules
):
    before = stored(three_rules)
    shown = preview(alice_client, website(mirror_xml(1, "video/")))
    forged = website(
        mirror_xml(
            1, "a/", more="<MirrorHeaders><Pass>authorization</Pass></MirrorHeaders>"
        )
    )

    response = alice_client.post(
        confirm_url(),
        {
            "configuration": base64.b64encode(forged).decode(),
            "fingerprint": hidden(shown, "fingerprint"),
            "name": "rules.xml",
        },
    )

    assert (
        b"The file was refused: RuleNumber 1: Transmit these headers"
        in response.content
    )
    assert stored(three_rules) == before


@pytest.mark.parametrize("payload", ["not base64!", ""])
def test_a_damaged_confirmation_changes_nothing(alice_client, three_rules, payload):
    before = stored(three_rules)

    response = alice_client.post(
        confirm_url(), {"configuration": payload, "fingerprint": "x", "name": "a.xml"}
    )

    assert b"The import form arrived incomplete." in response.content
    assert stored(three_rules) == before


def test_rules_changed_since_the_preview_show_the_preview_again(
    alice_client, three_rules, make_rule
):
    shown = preview(alice_client, website(mirror_xml(1, "video/")))
    make_rule(three_rules, key_prefix="late/")  # another tab saved a rule meanwhile
    before = stored(three_rules)

    response = confirm(alice_client, shown)

    assert b"The rules changed since this preview" in response.content
    assert changes(response) == [
        (1, "changed"),
        (2, "removed"),
        (3, "removed"),
        (4, "removed"),
    ]
    assert stored(three_rules) == before


# -- access -----------------------------------------------------------------------


def test_another_users_bucket_is_404_everywhere(bob_client, bob_api, three_rules):
    before = stored(three_rules)
    body = website(mirror_xml(1, "video/"))

    answers = [
        bob_client.get(export_url()),
        bob_client.get(import_url()),
        bob_client.post(import_url(), {"file": xml_file(body)}),
        bob_client.post(
            confirm_url(),
            {"configuration": base64.b64encode(body).decode(), "fingerprint": ""},
        ),
        bob_api.get("/api/v1/buckets/alice-bucket/rules/export"),
    ]

    assert [answer.status_code for answer in answers] == [404] * 5
    assert stored(three_rules) == before


def test_logged_out_visitors_are_sent_to_log_on(client, three_rules):
    assert client.get(export_url()).status_code == 302
    assert client.get("/api/v1/buckets/alice-bucket/rules/export").status_code in (
        401,
        403,
    )


def test_import_and_confirm_need_the_csrf_token(alice, three_rules):
    client = Client(enforce_csrf_checks=True)
    client.force_login(alice)
    before = stored(three_rules)
    body = website(mirror_xml(1, "video/"))

    refused_preview = client.post(import_url(), {"file": xml_file(body)})
    refused_confirm = client.post(
        confirm_url(),
        {
            "configuration": base64.b64encode(body).decode(),
            "fingerprint": rule_transfer.current_fingerprint(three_rules),
            "name": "a.xml",
        },
    )

    assert (refused_preview.status_code, refused_confirm.status_code) == (403, 403)
    assert stored(three_rules) == before


# -- lint warnings in the console and the API -------------------------------------


@pytest.fixture
def go_redirect_below_catch_all(bucket, make_rule):
    """The issue's example, before the move: the go/ redirect first, then a catch-all."""
    redirect = make_rule(
        bucket,
        mode="redirect",
        key_prefix="go/",
        host="go.example.com",
        redirect_code=302,
    )
    catch_all = make_rule(bucket)
    return redirect, catch_all


SHADOWED = (
    "Rule 2 can never match: rule 1 comes first and matches every request it would "
    "(no File Name Prefix, no File Name Suffix, HTTP 404, no header condition). "
    "Move rule 2 above rule 1 or narrow rule 1."
)


def test_moving_a_catch_all_above_a_redirect_warns_in_the_console(
    alice_client, bucket, go_redirect_below_catch_all
):
    _, catch_all = go_redirect_below_catch_all
    move = reverse("console-rule-move", args=["alice-bucket", catch_all.pk])

    calm = alice_client.get(reverse("console-rules", args=["alice-bucket"]))
    response = alice_client.post(move, {"direction": "up"}, headers=HX)

    assert b'data-testid="rule-warnings"' not in calm.content
    html = response.content.decode().replace("&#x27;", "'")
    assert "Rule 2 moved up: it is now rule 1." in html
    warnings = re.search(r'data-testid="rule-warnings">(.*?)</div>', html, re.S).group(
        1
    )
    assert f'<li data-rule="2" data-code="shadowed">{SHADOWED}</li>' in warnings


def test_the_api_returns_warnings_after_a_reorder_and_in_the_list(
    api, bucket, go_redirect_below_catch_all
):
    redirect, catch_all = go_redirect_below_catch_all
    expected = [{"rule": 2, "code": "shadowed", "message": SHADOWED}]

    calm = api.get("/api/v1/buckets/alice-bucket/rules")
    moved = api.post(
        "/api/v1/buckets/alice-bucket/rules/reorder",
        {"order": [catch_all.pk, redirect.pk]},
        format="json",
    )
    listed = api.get("/api/v1/buckets/alice-bucket/rules")

    assert calm.json()["warnings"] == []
    assert [rule.get("warnings") for rule in moved.json()] == [None, expected]
    assert listed.json()["warnings"] == expected


def test_the_api_returns_warnings_with_a_save_that_leaves_some(api, bucket, make_rule):
    make_rule(bucket)

    clean = api.post(
        "/api/v1/buckets/alice-bucket/rules",
        {"key_prefix": "a/", "host": "www.example.com", "mode": "mirror"},
        format="json",
    )
    rule_id = clean.json()["id"]
    first = bucket.origin_rules.get(position=1)
    updated = api.patch(
        f"/api/v1/buckets/alice-bucket/rules/{first.pk}",
        {"key_prefix": "b/"},
        format="json",
    )
    shadowing = api.patch(
        f"/api/v1/buckets/alice-bucket/rules/{first.pk}",
        {"key_prefix": ""},
        format="json",
    )

    assert clean.status_code == 201
    assert [w["code"] for w in clean.json()["warnings"]] == ["shadowed"]
    assert "warnings" not in updated.json()
    assert shadowing.json()["warnings"][0]["rule"] == 2
    assert shadowing.json()["id"] == first.pk != rule_id


def test_a_mirror_from_the_buckets_own_virtual_host_is_a_loop(
    api, settings, bucket, make_rule
):
    settings.OSS_DOMAIN = "oss.test"
    make_rule(bucket, host="alice-bucket.oss.test")
    make_rule(
        bucket, key_prefix="b/", host="files.example.com:8000", path="alice-bucket"
    )

    listed = api.get(
        "/api/v1/buckets/alice-bucket/rules", headers={"Host": "files.example.com:8000"}
    )

    assert [(w["rule"], w["code"]) for w in listed.json()["warnings"]] == [
        (1, "loop"),
        (2, "shadowed"),
        (2, "loop"),
    ]
