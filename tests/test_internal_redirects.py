"""RedirectType Internal: a redirection rule that serves another key of the same bucket."""

import pytest
from django.core.exceptions import ValidationError
from oss2 import xml_utils
from oss2.models import (
    BucketWebsite,
    Condition,
    GetBucketWebsiteResult,
    Redirect,
    RoutingRule,
)

from origin import engine, website_config, website_xml
from origin.models import BackToOriginRule

pytestmark = pytest.mark.django_db


def internal_rule(bucket, **fields):
    rule = BackToOriginRule(
        bucket=bucket,
        mode="redirect",
        redirect_type="Internal",
        key_prefix="old/",
        redirect_target="replace_prefix",
        replace_prefix_with="new/",
        **fields,
    )
    rule.save_in_order()
    return rule


def test_an_internal_rule_refuses_a_host_it_would_ignore(bucket):
    with pytest.raises(ValidationError) as error:
        internal_rule(bucket, host="ignored.example.com")

    assert error.value.message_dict["host"] == [
        "An Internal rule serves the target file from this bucket: it takes no Domain or IP."
    ]


def test_an_internal_rule_needs_no_host_and_keeps_none(bucket):
    rule = internal_rule(bucket)

    rule.refresh_from_db()
    assert (rule.host, rule.origin_url) == ("", "/alice-bucket/")


def test_an_external_rule_still_needs_a_host(bucket):
    rule = BackToOriginRule(
        bucket=bucket, mode="redirect", redirect_type="External", key_prefix="old/"
    )

    with pytest.raises(ValidationError) as error:
        rule.save_in_order()

    # OSS documents HostName for External redirects: a same-host redirect is refused,
    # pointing at the Internal type, which serves another key without a round trip.
    (message,) = error.value.message_dict["host"]
    assert message.startswith("Domain or IP is required for a redirect.")
    assert "use the Internal redirect type" in message


def test_a_missing_key_is_served_from_the_rewritten_key(
    client, public_bucket, put_object, origin_server
):
    internal_rule(public_bucket)
    put_object(
        public_bucket, "new/page.html", b"<p>moved</p>", content_type="text/html"
    )

    response = client.get("/alice-public/old/page.html")

    assert response.status_code == 200
    assert b"".join(response.streaming_content) == b"<p>moved</p>"
    assert response["Content-Type"] == "text/html"
    assert len(response["x-oss-request-id"]) == 24
    assert "Location" not in response


def test_a_missing_target_is_no_such_key_for_the_requested_key(client, public_bucket):
    internal_rule(public_bucket)

    response = client.get("/alice-public/old/none.html")

    assert response.status_code == 404
    assert b"<Code>NoSuchKey</Code>" in response.content
    assert b"<Key>old/none.html</Key>" in response.content


def test_the_engine_and_the_dry_run_name_the_target_key(alice_client, bucket):
    rule = internal_rule(bucket)

    decision = engine.decide([rule.to_engine()], "old/a.txt", 404, {})
    answer = alice_client.post(
        "/api/v1/buckets/alice-bucket/rules/dry-run",
        {"key": "old/a.txt"},
        content_type="application/json",
    ).json()

    assert (decision.internal_key, decision.redirection) == ("new/a.txt", None)
    assert answer["internal"] == {"key": "new/a.txt", "exists": False}
    assert "redirect" not in answer


def test_oss2_internal_rules_round_trip(bucket):
    rule = RoutingRule(
        rule_num=1,
        condition=Condition(key_prefix_equals="old/", http_err_code_return_equals=404),
        redirect=Redirect(
            redirect_type="Internal", replace_key_with="archive/${key}.html"
        ),
    )
    website_config.replace_configuration(
        bucket, xml_utils.to_put_bucket_website(BucketWebsite("", "", [rule]))
    )

    result = GetBucketWebsiteResult.__new__(GetBucketWebsiteResult)
    result.rules = []
    parsed = xml_utils.parse_get_bucket_website(
        result, website_config.configuration_xml(bucket)
    )

    (back,) = parsed.rules
    assert (back.redirect.redirect_type, back.redirect.replace_key_with) == (
        "Internal",
        "archive/${key}.html",
    )
    assert (
        back.redirect.host_name,
        back.redirect.proto,
        back.redirect.http_redirect_code,
    ) == (None, None, None)
    stored = BackToOriginRule.objects.get(bucket=bucket)
    assert (stored.redirect_type, stored.target_prefix, stored.target_suffix) == (
        "Internal",
        "archive/",
        ".html",
    )


@pytest.mark.parametrize(
    "element",
    [
        "<HostName>x.example.com</HostName>",
        "<Protocol>http</Protocol>",
        "<HttpRedirectCode>302</HttpRedirectCode>",
    ],
)
def test_an_internal_rule_cannot_carry_external_redirect_fields(bucket, element):
    body = (
        "<WebsiteConfiguration><RoutingRules><RoutingRule><RuleNumber>1</RuleNumber>"
        "<Condition><HttpErrorCodeReturnedEquals>404</HttpErrorCodeReturnedEquals></Condition>"
        f"<Redirect><RedirectType>Internal</RedirectType>{element}</Redirect>"
        "</RoutingRule></RoutingRules></WebsiteConfiguration>"
    ).encode()

    with pytest.raises(website_xml.WebsiteError) as error:
        website_config.replace_configuration(bucket, body)

    assert error.value.code == "InvalidArgument"
    assert not BackToOriginRule.objects.exists()


def test_the_console_form_offers_the_redirect_type(alice_client, bucket):
    response = alice_client.post(
        "/console/buckets/alice-bucket/settings/back-to-origin/create",
        {
            "mode": "redirect",
            "redirect_type": "Internal",
            "key_prefix": "old/",
            "redirect_target": "replace_prefix",
            "replace_prefix_with": "new/",
            "http_status": "404",
            "protocol": "https",
        },
    )

    assert response.status_code == 302
    assert BackToOriginRule.objects.get(bucket=bucket).redirect_type == "Internal"
