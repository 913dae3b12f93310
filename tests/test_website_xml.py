"""The OSS WebsiteConfiguration document <-> rule rows, and IndexDocument / ErrorDocument.

In process: `origin.website_xml` parses and writes the XML, `origin.website_config`
stores it through the models' validation; the object endpoint serves the documents
after the rules (reference §2.2-2.5, §3.1).
"""

import functools
import xml.etree.ElementTree as ET

import pytest
from oss2 import xml_utils
from oss2.models import (
    REDIRECT_TYPE_EXTERNAL,
    REDIRECT_TYPE_MIRROR,
    BucketWebsite,
    Condition,
    GetBucketWebsiteResult,
    Redirect,
    RoutingRule,
)

from origin import website_config, website_xml
from origin.models import BackToOriginRule, WebsiteDocuments
from tests.oss_responses import body_of

pytestmark = pytest.mark.django_db

SPECIAL_PREFIX = "1~!@#$%^&*()-_=+|\\[]{}<>,./?`~"
MIRROR = "<RedirectType>Mirror</RedirectType><MirrorURL>http://origin.example.com/</MirrorURL>"
STATUS_404 = "<HttpErrorCodeReturnedEquals>404</HttpErrorCodeReturnedEquals>"


def rule_xml(number=1, condition=STATUS_404, redirect=MIRROR):
    return (
        f"<RoutingRule><RuleNumber>{number}</RuleNumber>"
        f"<Condition>{condition}</Condition><Redirect>{redirect}</Redirect></RoutingRule>"
    )


def config(*rules, documents=""):
    routing = f"<RoutingRules>{''.join(rules)}</RoutingRules>" if rules else ""
    return f"<WebsiteConfiguration>{documents}{routing}</WebsiteConfiguration>".encode()


def parse_one(redirect=MIRROR, condition=STATUS_404):
    (rule,), _documents = website_xml.parse_website(
        config(rule_xml(1, condition, redirect))
    )
    return rule


def refused(body, bucket=None):
    """The WebsiteError a body is refused with (by parsing, or by saving when a bucket is given)."""
    attempt = (
        functools.partial(website_xml.parse_website, body)
        if bucket is None
        else functools.partial(website_config.replace_configuration, bucket, body)
    )
    with pytest.raises(website_xml.WebsiteError) as raised:
        attempt()
    return raised.value


def as_oss2(bucket):
    """The GET document, read by oss2's own parser (it raises on what it cannot read)."""
    result = GetBucketWebsiteResult.__new__(GetBucketWebsiteResult)
    result.rules = []
    return xml_utils.parse_get_bucket_website(
        result, website_config.configuration_xml(bucket)
    )


def stored_rules(bucket):
    return list(
        BackToOriginRule.objects.filter(bucket=bucket)
        .order_by("position")
        .values(
            "position",
            "mode",
            "key_prefix",
            "host",
            "path",
            "redirect_code",
        )
    )


# -- lenient reading ---------------------------------------------------------------------


def test_oss2_capitalised_booleans_are_accepted():
    rule = parse_one(
        MIRROR
        + "<PassQueryString>True</PassQueryString><MirrorFollowRedirect>False</MirrorFollowRedirect>"
        "<MirrorCheckMd5>True</MirrorCheckMd5><MirrorHeaders><PassAll>True</PassAll></MirrorHeaders>"
    )

    assert (
        rule["pass_query_string"],
        rule["follow_redirects"],
        rule["check_md5"],
        rule["pass_all_headers"],
    ) == (True, False, True, True)


@pytest.mark.parametrize(
    ("text", "value"), [("true", True), ("FALSE", False), (" True ", True)]
)
def test_booleans_are_read_in_any_case(text, value):
    rule = parse_one(MIRROR + f"<MirrorCheckMd5>{text}</MirrorCheckMd5>")

    assert rule["check_md5"] is value


def test_a_boolean_that_is_not_true_or_false_is_invalid_argument():
    error = refused(
        config(rule_xml(redirect=MIRROR + "<MirrorCheckMd5>yes</MirrorCheckMd5>"))
    )

    assert (error.code, error.name, error.value) == (
        "InvalidArgument",
        "MirrorCheckMd5",
        "yes",
    )


def test_oss2_bodies_with_empty_suffix_and_key_are_accepted(bucket):
    # oss2 always writes IndexDocument and ErrorDocument, empty when not set.
    body = xml_utils.to_put_bucket_website(
        BucketWebsite(
            None,
            None,
            [
                RoutingRule(
                    rule_num=1,
                    condition=Condition(
                        key_prefix_equals="a/", http_err_code_return_equals=404
                    ),
                    redirect=Redirect(
                        redirect_type=REDIRECT_TYPE_MIRROR,
                        mirror_url="http://origin.example.com/",
                        mirror_pass_query_string=True,
                    ),
                )
            ],
        )
    )
    assert b"<Suffix />" in body
    assert b"<Key />" in body

    website_config.replace_configuration(bucket, body)

    root = ET.fromstring(website_config.configuration_xml(bucket))
    assert root.find("IndexDocument") is None
    assert root.find("ErrorDocument") is None
    assert root.findtext("RoutingRules/RoutingRule/Condition/KeyPrefixEquals") == "a/"


REFUSED_ELEMENTS = {
    # id: (condition, redirect, rule_extra, element named in the error)
    "condition": ("<KeyContains>abc</KeyContains>", "", "", "KeyContains"),
    "include-header-contains": (
        "<IncludeHeader><Key>x-a</Key><Contains>v</Contains></IncludeHeader>",
        "",
        "",
        "Contains",
    ),
    "mirror-auth-child": (
        "",
        "<MirrorAuth><AuthType>S3V4</AuthType><AccessKeyId>AK</AccessKeyId>"
        "<AccessKeySecret>SECRET</AccessKeySecret><SessionToken>t</SessionToken></MirrorAuth>",
        "",
        "SessionToken",
    ),
    "mirror-headers-child": (
        "",
        "<MirrorHeaders><PassAll>true</PassAll><Rename>x</Rename></MirrorHeaders>",
        "",
        "Rename",
    ),
    "alternate-vpc": (
        "",
        "<MirrorMultiAlternates><MirrorMultiAlternate><MirrorMultiAlternateNumber>1"
        "</MirrorMultiAlternateNumber><MirrorMultiAlternateURL>https://b.example.com/"
        "</MirrorMultiAlternateURL><MirrorMultiAlternateVpcId>vpc-1</MirrorMultiAlternateVpcId>"
        "</MirrorMultiAlternate></MirrorMultiAlternates>",
        "",
        "MirrorMultiAlternateVpcId",
    ),
    "return-header-child": (
        "",
        "<MirrorReturnHeaders><ReturnHeader><Key>a</Key><Value>b</Value><Mode>x</Mode>"
        "</ReturnHeader></MirrorReturnHeaders>",
        "",
        "Mode",
    ),
    "async-status": ("", "<MirrorAsyncStatus>404</MirrorAsyncStatus>", "", "MirrorAsyncStatus"),
    "dst-region": ("", "<MirrorDstRegion>cn-hangzhou</MirrorDstRegion>", "", "MirrorDstRegion"),
    "dst-vpc": ("", "<MirrorDstVpcId>vpc-1</MirrorDstVpcId>", "", "MirrorDstVpcId"),
    "dst-slave-vpc": ("", "<MirrorDstSlaveVpcId>v</MirrorDstSlaveVpcId>", "", "MirrorDstSlaveVpcId"),
    "tunnel": ("", "<MirrorTunnelId>t-1</MirrorTunnelId>", "", "MirrorTunnelId"),
    "express-tunnel": (
        "",
        "<MirrorIsExpressTunnel>true</MirrorIsExpressTunnel>",
        "",
        "MirrorIsExpressTunnel",
    ),
    "using-role": ("", "<MirrorUsingRole>true</MirrorUsingRole>", "", "MirrorUsingRole"),
    "role": ("", "<MirrorRole>r</MirrorRole>", "", "MirrorRole"),
    "image-info": (
        "",
        "<MirrorAllowGetImageInfo>true</MirrorAllowGetImageInfo>",
        "",
        "MirrorAllowGetImageInfo",
    ),
    "video-snapshot": (
        "",
        "<MirrorAllowVideoSnapshot>true</MirrorAllowVideoSnapshot>",
        "",
        "MirrorAllowVideoSnapshot",
    ),
    "lua-config": ("", "", "<LuaConfig><Script>x</Script></LuaConfig>", "LuaConfig"),
}  # fmt: skip


@pytest.mark.parametrize(
    ("condition", "redirect", "rule_extra", "element"),
    REFUSED_ELEMENTS.values(),
    ids=REFUSED_ELEMENTS.keys(),
)
def test_elements_the_runtime_does_not_honour_are_refused_naming_them(
    bucket, condition, redirect, rule_extra, element
):
    website_config.replace_configuration(bucket, config(rule_xml(1)))
    before = website_config.configuration_xml(bucket)
    rule = rule_xml(1, condition=STATUS_404 + condition, redirect=MIRROR + redirect)
    rule = rule.replace("</RoutingRule>", rule_extra + "</RoutingRule>")

    error = refused(config(rule), bucket)

    assert (error.code, error.name) == ("InvalidArgument", element)
    assert "not supported" in error.message
    assert website_config.configuration_xml(bucket) == before
    assert b"SECRET" not in before


def test_a_mirror_rule_without_a_status_condition_is_stored_as_404(bucket):
    website_config.replace_configuration(
        bucket, config(rule_xml(condition="<KeyPrefixEquals>m/</KeyPrefixEquals>"))
    )

    assert BackToOriginRule.objects.get(bucket=bucket).http_status == 404
    root = ET.fromstring(website_config.configuration_xml(bucket))
    assert root.findtext(".//HttpErrorCodeReturnedEquals") == "404"


def test_a_mirror_rule_passes_the_query_string_from_pass_query_string_alone():
    rule = parse_one(MIRROR + "<PassQueryString>true</PassQueryString>")

    assert rule["pass_query_string"] is True


@pytest.mark.parametrize(
    ("url", "host", "path", "written"),
    [
        (
            "http://origin.example.com",
            "origin.example.com",
            "",
            "http://origin.example.com/",
        ),
        (
            "https://origin.example.com/dir",
            "origin.example.com",
            "dir",
            "https://origin.example.com/dir/",
        ),
        (
            "https://origin.example.com:8443/a/b/",
            "origin.example.com:8443",
            "a/b",
            "https://origin.example.com:8443/a/b/",
        ),
    ],
)
def test_a_mirror_url_without_its_trailing_slash_is_read_as_if_it_had_one(
    bucket, url, host, path, written
):
    # The console and the JSON API take the path without slashes: the / is where the key goes.
    website_config.replace_configuration(
        bucket,
        config(
            rule_xml(
                redirect=f"<RedirectType>Mirror</RedirectType><MirrorURL>{url}</MirrorURL>"
            )
        ),
    )

    rule = BackToOriginRule.objects.get(bucket=bucket)
    assert (rule.host, rule.path) == (host, path)
    assert as_oss2(bucket).rules[0].redirect.mirror_url == written


@pytest.mark.parametrize(
    ("url", "message"),
    [
        (
            "ftp://origin.example.com/",
            "MirrorURL must be a full http:// or https:// URL.",
        ),
        ("origin.example.com/", "MirrorURL must be a full http:// or https:// URL."),
        (
            "https://origin.example.com/dir?v=1",
            "MirrorURL must not have a query string: the file name is added after it.",
        ),
        (
            "https://origin.example.com:0/",
            "The port in MirrorURL must be a number from 1 to 65535.",
        ),
    ],
)
def test_a_mirror_url_is_checked_like_the_secondary_origin_url(bucket, url, message):
    error = refused(
        config(
            rule_xml(
                redirect=f"<RedirectType>Mirror</RedirectType><MirrorURL>{url}</MirrorURL>"
            )
        ),
        bucket,
    )

    assert (error.code, error.name, error.value, error.message) == (
        "InvalidArgument",
        "MirrorURL",
        url,
        f"RuleNumber 1: {message}",
    )


# -- refusing ----------------------------------------------------------------------------------


def test_a_mirror_rule_with_status_403_is_refused(bucket):
    error = refused(
        config(
            rule_xml(
                condition="<HttpErrorCodeReturnedEquals>403</HttpErrorCodeReturnedEquals>"
            )
        ),
        bucket,
    )

    assert (error.code, error.name, error.value) == (
        "InvalidArgument",
        "HttpErrorCodeReturnedEquals",
        "403",
    )


@pytest.mark.parametrize(
    ("numbers", "value"),
    [((1, 1), "1"), ((0,), "0"), ((-1,), "-1"), (("abc",), "abc"), (("",), "")],
)
def test_rule_numbers_must_be_positive_and_unique(numbers, value):
    rules = [
        rule_xml(number, condition=f"<KeyPrefixEquals>p{index}/</KeyPrefixEquals>")
        for index, number in enumerate(numbers)
    ]

    error = refused(config(*rules))

    assert (error.code, error.name, error.value) == (
        "InvalidArgument",
        "RuleNumber",
        value,
    )


def test_a_rule_without_rule_number_is_malformed_xml():
    body = config(
        f"<RoutingRule><Condition>{STATUS_404}</Condition><Redirect>{MIRROR}</Redirect></RoutingRule>"
    )

    assert refused(body).code == "MalformedXML"


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"not xml",
        b"<WebsiteConfiguration><RoutingRules>",
        b"<Other/>",
        b"<WebsiteConfiguration/>",
        config(
            f"<RoutingRule><RuleNumber>1</RuleNumber><Redirect>{MIRROR}</Redirect></RoutingRule>"
        ),
        config(rule_xml(redirect="<MirrorURL>http://origin.example.com/</MirrorURL>")),
        config(rule_xml(redirect="<RedirectType>Mirror</RedirectType>")),
    ],
    ids=[
        "empty",
        "not-xml",
        "unclosed",
        "other-root",
        "nothing-configured",
        "no-condition",
        "no-redirect-type",
        "mirror-without-url",
    ],
)
def test_malformed_documents_are_malformed_xml(body):
    assert refused(body).code == "MalformedXML"


@pytest.mark.parametrize("redirect_type", ["Teleport", "mirror", ""])
def test_an_unknown_redirect_type_is_refused(redirect_type):
    error = refused(
        config(rule_xml(redirect=f"<RedirectType>{redirect_type}</RedirectType>"))
    )

    assert (error.code, error.name) == ("InvalidArgument", "RedirectType")


EXTERNAL = "<RedirectType>External</RedirectType><Protocol>https</Protocol><HostName>example.org</HostName>"


@pytest.mark.parametrize(
    "replacement",
    [
        "<ReplaceKeyWith>new/${key}</ReplaceKeyWith><ReplaceKeyPrefixWith>x/</ReplaceKeyPrefixWith>",
        "<ReplaceKeyWith>new/${key}</ReplaceKeyWith><EnableReplacePrefix>true</EnableReplacePrefix>",
    ],
)
def test_replace_key_with_and_prefix_replacement_together_are_refused(replacement):
    error = refused(config(rule_xml(redirect=EXTERNAL + replacement)))

    assert (error.code, error.name) == ("InvalidArgument", "ReplaceKeyWith")


@pytest.mark.parametrize("code", [308, 300, 200])
def test_redirect_codes_other_than_301_302_307_are_refused(bucket, code):
    body = config(
        rule_xml(redirect=EXTERNAL + f"<HttpRedirectCode>{code}</HttpRedirectCode>")
    )

    error = refused(body, bucket)

    assert (error.code, error.name, error.value) == (
        "InvalidArgument",
        "HttpRedirectCode",
        str(code),
    )


@pytest.mark.parametrize(
    ("element", "url"),
    [
        ("MirrorURL", "http://10.0.0.1/"),
        ("MirrorURL", "http://127.0.0.1:8080/files/"),
        ("MirrorURL", "https://localhost/"),
        ("MirrorURL", "http://169.254.169.254/latest/"),
        ("MirrorURL", "http://[::1]/"),
        ("MirrorURL", "http://192.168.1.10/"),
        ("MirrorURLSlave", "http://10.1.2.3/"),
    ],
)
def test_private_origins_are_refused_unless_the_operator_allows_them(
    bucket, settings, element, url
):
    settings.ORIGIN_ALLOW_PRIVATE = False
    redirect = (
        f"<RedirectType>Mirror</RedirectType><MirrorURL>{url}</MirrorURL>"
        if element == "MirrorURL"
        else MIRROR
        + f"<MirrorURLSlave>{url}</MirrorURLSlave><MirrorURLProbe>http://origin.example.com/p</MirrorURLProbe>"
    )
    body = config(rule_xml(redirect=redirect))

    error = refused(body, bucket)

    assert (error.code, error.name) == ("InvalidArgument", element)
    assert "internal networks are not allowed" in error.message
    assert not BackToOriginRule.objects.exists()

    settings.ORIGIN_ALLOW_PRIVATE = True
    website_config.replace_configuration(bucket, body)
    assert BackToOriginRule.objects.filter(bucket=bucket).count() == 1


def test_more_rules_than_the_limit_are_refused(bucket, settings):
    settings.BACK_TO_ORIGIN_MAX_RULES = 2
    rules = [
        rule_xml(n, condition=f"<KeyPrefixEquals>p{n}/</KeyPrefixEquals>")
        for n in (1, 2, 3)
    ]

    error = refused(config(*rules), bucket)

    # The model's limit, as from the console and the JSON API.
    assert (error.code, error.name, error.value, error.message) == (
        "InvalidArgument",
        "RoutingRule",
        "3",
        "RuleNumber 3: A bucket can have at most 2 Back-to-Origin rules.",
    )
    assert not BackToOriginRule.objects.exists()


ENTITIES = b"""<?xml version="1.0"?>
<!DOCTYPE WebsiteConfiguration [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;">]>
<WebsiteConfiguration><IndexDocument><Suffix>&b;</Suffix></IndexDocument></WebsiteConfiguration>"""
EXTERNAL_ENTITY = b"""<?xml version="1.0"?>
<!DOCTYPE WebsiteConfiguration [<!ENTITY x SYSTEM "file:///etc/passwd">]>
<WebsiteConfiguration><IndexDocument><Suffix>&x;</Suffix></IndexDocument></WebsiteConfiguration>"""


@pytest.mark.parametrize(
    "body", [ENTITIES, EXTERNAL_ENTITY], ids=["nested", "external"]
)
def test_entity_declarations_are_malformed_xml(bucket, body):
    error = refused(body, bucket)

    assert (error.code, error.message) == (
        "MalformedXML",
        "The XML must not declare entities or refer to external resources.",
    )
    assert not WebsiteDocuments.objects.exists()


@pytest.mark.parametrize(
    ("documents", "element", "value"),
    [
        (
            "<IndexDocument><Suffix>i.html</Suffix><Type>3</Type></IndexDocument>",
            "Type",
            "3",
        ),
        (
            "<ErrorDocument><Key>e.html</Key><HttpStatus>500</HttpStatus></ErrorDocument>",
            "HttpStatus",
            "500",
        ),
        (
            f"<IndexDocument><Suffix>{'i' * 1024}</Suffix></IndexDocument>",
            "Suffix",
            "i" * 256,
        ),
    ],
    ids=["index-type-3", "error-status-500", "suffix-over-1023"],
)
def test_document_values_the_model_refuses_name_their_element(
    bucket, documents, element, value
):
    error = refused(config(rule_xml(), documents=documents), bucket)

    assert (error.code, error.name, error.value) == ("InvalidArgument", element, value)
    assert not BackToOriginRule.objects.exists()


# -- writing -------------------------------------------------------------------------------


def test_special_characters_in_the_prefix_round_trip(bucket):
    website_config.replace_configuration(
        bucket,
        xml_utils.to_put_bucket_website(
            BucketWebsite(
                None,
                None,
                [
                    RoutingRule(
                        rule_num=1,
                        condition=Condition(
                            key_prefix_equals=SPECIAL_PREFIX,
                            http_err_code_return_equals=404,
                        ),
                        redirect=Redirect(
                            redirect_type=REDIRECT_TYPE_MIRROR,
                            mirror_url="http://origin.example.com/",
                        ),
                    )
                ],
            )
        ),
    )

    assert BackToOriginRule.objects.get(bucket=bucket).key_prefix == SPECIAL_PREFIX
    assert as_oss2(bucket).rules[0].condition.key_prefix_equals == SPECIAL_PREFIX


def test_get_output_has_no_namespace_and_complete_conditions(bucket):
    body = config(
        rule_xml(1, condition="", redirect=MIRROR),
        rule_xml(
            2,
            condition="<KeySuffixEquals>.jpg</KeySuffixEquals>",
            redirect=EXTERNAL + "<HttpRedirectCode>302</HttpRedirectCode>",
        ),
        rule_xml(
            3,
            condition="<KeyPrefixEquals>x/</KeyPrefixEquals>"
            "<HttpErrorCodeReturnedEquals>403</HttpErrorCodeReturnedEquals>",
            redirect=EXTERNAL,
        ),
        documents="<IndexDocument><Suffix>index.html</Suffix></IndexDocument>",
    )
    website_config.replace_configuration(bucket, body)

    output = website_config.configuration_xml(bucket)

    root = ET.fromstring(output)
    assert root.tag == "WebsiteConfiguration"
    assert b"xmlns" not in output
    conditions = root.findall("RoutingRules/RoutingRule/Condition")
    assert [
        (c.findtext("KeyPrefixEquals"), c.findtext("HttpErrorCodeReturnedEquals"))
        for c in conditions
    ] == [("", "404"), ("", "404"), ("x/", "403")]
    booleans = [
        node.text
        for node in root.iter()
        if node.tag
        in {
            "PassQueryString",
            "MirrorPassQueryString",
            "MirrorFollowRedirect",
            "MirrorCheckMd5",
            "PassAll",
            "SupportSubDir",
        }
    ]
    assert booleans
    assert set(booleans) <= {"true", "false"}
    parsed = as_oss2(bucket)  # oss2's parser accepts it
    assert [rule.rule_num for rule in parsed.rules] == [1, 2, 3]
    assert parsed.index_file == "index.html"


def test_rules_come_back_in_rule_number_order_with_their_numbers(bucket):
    body = config(
        rule_xml(20, condition="<KeyPrefixEquals>b/</KeyPrefixEquals>"),
        rule_xml(5, condition="<KeyPrefixEquals>a/</KeyPrefixEquals>"),
    )

    website_config.replace_configuration(bucket, body)

    assert [
        (rule.rule_num, rule.condition.key_prefix_equals)
        for rule in as_oss2(bucket).rules
    ] == [
        (5, "a/"),
        (20, "b/"),
    ]


def test_an_empty_configuration_reads_as_none(bucket):
    assert website_config.configuration_xml(bucket) is None

    website_config.replace_configuration(
        bucket,
        config(documents="<IndexDocument><Suffix>i.html</Suffix></IndexDocument>"),
    )
    website_config.delete_configuration(bucket)

    assert website_config.configuration_xml(bucket) is None


def test_a_failed_put_leaves_the_previous_configuration_untouched(bucket):
    website_config.replace_configuration(
        bucket,
        config(
            rule_xml(1, condition="<KeyPrefixEquals>one/</KeyPrefixEquals>"),
            rule_xml(
                2,
                condition="<KeyPrefixEquals>two/</KeyPrefixEquals>",
                redirect=MIRROR + "<MirrorCheckMd5>true</MirrorCheckMd5>",
            ),
            documents="<IndexDocument><Suffix>index.html</Suffix></IndexDocument>"
            "<ErrorDocument><Key>404.html</Key></ErrorDocument>",
        ),
    )
    rules_before, xml_before = (
        stored_rules(bucket),
        website_config.configuration_xml(bucket),
    )

    # Rule 1 is valid and saved first; rule 2 fails model validation after it.
    error = refused(
        config(
            rule_xml(1, condition="<KeyPrefixEquals>new/</KeyPrefixEquals>"),
            rule_xml(
                2,
                condition="<KeyPrefixEquals>bad/</KeyPrefixEquals>",
                redirect=EXTERNAL + "<HttpRedirectCode>308</HttpRedirectCode>",
            ),
            documents="<IndexDocument><Suffix>other.html</Suffix></IndexDocument>",
        ),
        bucket,
    )

    assert error.name == "HttpRedirectCode"
    assert stored_rules(bucket) == rules_before
    assert website_config.configuration_xml(bucket) == xml_before
    assert WebsiteDocuments.objects.get(bucket=bucket).index_suffix == "index.html"


def test_two_rules_with_the_same_prefix_and_suffix_are_refused(bucket):
    body = config(
        rule_xml(1, condition="<KeyPrefixEquals>same/</KeyPrefixEquals>"),
        rule_xml(2, condition="<KeyPrefixEquals>same/</KeyPrefixEquals>"),
    )

    error = refused(body, bucket)

    assert (error.code, error.name) == ("InvalidArgument", "KeyPrefixEquals")
    assert not BackToOriginRule.objects.exists()


# -- IndexDocument and ErrorDocument after the rules ----------------------------------------


@pytest.fixture
def documents(bucket, put_object):
    put_object(
        bucket, "docs/index.html", b"<h1>docs index</h1>", content_type="text/html"
    )
    put_object(bucket, "index.html", b"<h1>home</h1>", content_type="text/html")
    put_object(bucket, "404.html", b"<h1>not here</h1>", content_type="text/html")

    def configure(error_status=404, rules=(), sub_dir="false"):
        website_config.replace_configuration(
            bucket,
            config(
                *rules,
                documents="<IndexDocument><Suffix>index.html</Suffix>"
                f"<SupportSubDir>{sub_dir}</SupportSubDir></IndexDocument>"
                f"<ErrorDocument><Key>404.html</Key><HttpStatus>{error_status}</HttpStatus></ErrorDocument>",
            ),
        )

    return configure


@pytest.mark.parametrize(
    ("sub_dir", "page"),
    [("true", b"<h1>docs index</h1>"), ("false", b"<h1>home</h1>")],
)
def test_the_index_document_is_served_for_keys_ending_in_a_slash(
    alice_client, documents, sub_dir, page
):
    # With SupportSubDir the folder's own index page, without it the root's (OSS).
    documents(sub_dir=sub_dir)

    response = alice_client.get("/alice-bucket/docs/")

    assert response.status_code == 200
    assert body_of(response) == page
    assert response["Content-Type"] == "text/html"
    assert response["x-oss-request-id"]


def test_without_support_sub_dir_a_folder_name_without_slash_gets_the_error_document(
    alice_client, documents
):
    documents()

    response = alice_client.get("/alice-bucket/docs")

    assert response.status_code == 404
    assert body_of(response) == b"<h1>not here</h1>"


@pytest.mark.parametrize("status", [404, 200])
def test_the_error_document_is_served_with_its_http_status(
    alice_client, documents, status
):
    documents(error_status=status)

    response = alice_client.get("/alice-bucket/missing/page.html")

    assert response.status_code == status
    assert body_of(response) == b"<h1>not here</h1>"


def test_a_missing_error_document_leaves_the_plain_no_such_key(alice_client, bucket):
    website_config.replace_configuration(
        bucket, config(documents="<ErrorDocument><Key>gone.html</Key></ErrorDocument>")
    )

    response = alice_client.get("/alice-bucket/missing.txt")

    assert response.status_code == 404
    assert ET.fromstring(response.content).findtext("Code") == "NoSuchKey"


def test_rules_take_precedence_over_the_documents(alice_client, documents):
    documents(
        rules=[
            rule_xml(
                1,
                condition=f"<KeyPrefixEquals>docs/</KeyPrefixEquals>{STATUS_404}",
                redirect=EXTERNAL + "<HttpRedirectCode>302</HttpRedirectCode>",
            )
        ]
    )

    folder = alice_client.get("/alice-bucket/docs/")
    missing = alice_client.get("/alice-bucket/docs/missing.html")
    unmatched = alice_client.get("/alice-bucket/other/missing.html")

    assert (folder.status_code, folder["Location"]) == (
        302,
        "https://example.org/docs/",
    )
    assert (missing.status_code, missing["Location"]) == (
        302,
        "https://example.org/docs/missing.html",
    )
    assert (unmatched.status_code, body_of(unmatched)) == (404, b"<h1>not here</h1>")


def test_existing_objects_are_served_before_documents(
    alice_client, documents, put_object, bucket
):
    documents()
    put_object(
        bucket, "docs/", b""
    )  # an existing folder object wins over its index page

    response = alice_client.get("/alice-bucket/docs/")

    assert (response.status_code, body_of(response)) == (200, b"")


def test_oss2_external_rule_builder_output_is_accepted(bucket):
    body = xml_utils.to_put_bucket_website(
        BucketWebsite(
            "index.html",
            "error.html",
            [
                RoutingRule(
                    rule_num=1,
                    condition=Condition(
                        key_prefix_equals="r/", http_err_code_return_equals=404
                    ),
                    redirect=Redirect(
                        redirect_type=REDIRECT_TYPE_EXTERNAL,
                        pass_query_string=False,
                        proto="https",
                        host_name="example.org",
                        http_redirect_code=301,
                        replace_key_with="${key}.html",
                    ),
                )
            ],
        )
    )

    website_config.replace_configuration(bucket, body)

    (rule,) = as_oss2(bucket).rules
    assert rule.redirect.replace_key_with == "${key}.html"
    assert (as_oss2(bucket).index_file, as_oss2(bucket).error_file) == (
        "index.html",
        "error.html",
    )


# -- hostile numbers: a 4xx naming the element, never a 500 -----------------------------

NINES = "9" * 4400  # Python refuses int() of more than 4300 digits
NUMBERS = [
    pytest.param(NINES, id="4400-nines"),
    pytest.param("\u00b2", id="superscript-two"),
    pytest.param("\u0664\u0660\u0664", id="arabic-indic-404"),
    pytest.param("-404", id="negative"),
    pytest.param("4e2", id="exponent"),
]
EXTERNAL_RULE = "<RedirectType>External</RedirectType><HostName>example.org</HostName>"


def with_number(element, text):
    """A configuration with `text` as the number in `element`, everything else valid."""
    if element == "RuleNumber":
        return config(rule_xml(text))
    if element == "HttpErrorCodeReturnedEquals":
        return config(rule_xml(condition=f"<{element}>{text}</{element}>"))
    if element == "HttpRedirectCode":
        return config(
            rule_xml(redirect=EXTERNAL_RULE + f"<{element}>{text}</{element}>")
        )
    if element == "HttpStatus":
        return config(
            documents=f"<ErrorDocument><Key>e.html</Key><HttpStatus>{text}</HttpStatus></ErrorDocument>"
        )
    return config(
        documents=f"<IndexDocument><Suffix>index.html</Suffix><Type>{text}</Type></IndexDocument>"
    )


@pytest.mark.parametrize("text", NUMBERS)
@pytest.mark.parametrize(
    "element",
    [
        "RuleNumber",
        "HttpErrorCodeReturnedEquals",
        "HttpRedirectCode",
        "HttpStatus",
        "Type",
    ],
)
def test_a_hostile_number_is_invalid_argument_naming_its_element(bucket, element, text):
    error = refused(with_number(element, text), bucket)

    assert (error.code, error.name) == ("InvalidArgument", element)
    assert error.value == text[:256]
    assert not BackToOriginRule.objects.filter(bucket=bucket).exists()


@pytest.mark.parametrize(
    ("element", "text", "stored"),
    [
        ("HttpErrorCodeReturnedEquals", " 0404 ", 404),
        ("HttpRedirectCode", "0302", 302),
        ("HttpStatus", "00200", 200),
        ("Type", "0" * 5000 + "2", 2),
    ],
)
def test_numbers_with_spaces_or_leading_zeros_are_read_as_decimals(
    bucket, element, text, stored
):
    website_config.replace_configuration(bucket, with_number(element, text))

    if element in ("HttpStatus", "Type"):
        documents = WebsiteDocuments.objects.get(bucket=bucket)
        value = {
            "HttpStatus": documents.error_http_status,
            "Type": documents.index_type,
        }
        assert value[element] == stored
    else:
        rule = BackToOriginRule.objects.get(bucket=bucket)
        assert {
            "HttpErrorCodeReturnedEquals": rule.http_status,
            "HttpRedirectCode": rule.redirect_code,
        }[element] == stored


# -- validation messages name the RuleNumber sent --------------------------------------


def test_a_rule_refused_by_validation_is_named_by_its_rule_number(bucket):
    body = config(
        rule_xml(7, condition="<KeyPrefixEquals>a/</KeyPrefixEquals>"),
        rule_xml(
            9,
            condition="<KeyPrefixEquals>b/\x7f</KeyPrefixEquals>",
        ),
    )

    error = refused(body, bucket)

    assert error.message == (
        "RuleNumber 9: File Name Prefix must not contain control characters."
    )
    assert (error.code, error.name) == ("InvalidArgument", "KeyPrefixEquals")


@pytest.mark.parametrize(
    "element",
    [
        "<MirrorCheckMd5>true</MirrorCheckMd5>",
        "<MirrorAllowHeadObject>true</MirrorAllowHeadObject>",
    ],
)
def test_mirror_elements_on_an_external_rule_are_refused_not_ignored(element):
    error = refused(config(rule_xml(1, redirect=EXTERNAL + element)))

    assert error.code == "InvalidArgument"
    assert error.name in element


def test_include_header_takes_one_comparison():
    condition = STATUS_404 + (
        "<IncludeHeader><Key>x-a</Key><Equals>a</Equals><StartsWith>b</StartsWith></IncludeHeader>"
    )
    error = refused(config(rule_xml(1, condition=condition)))

    assert (error.code, error.name) == ("InvalidArgument", "IncludeHeader")


@pytest.mark.parametrize(
    ("codes", "stored"),
    [("403,429", [403, 429]), (" 429 , 403 ", [403, 429]), ("", [])],
)
def test_transparent_codes_are_read_from_the_comma_separated_list(
    codes, stored, bucket
):
    redirect = (
        MIRROR
        + f"<TransparentMirrorResponseCodes>{codes}</TransparentMirrorResponseCodes>"
    )
    website_config.replace_configuration(bucket, config(rule_xml(1, redirect=redirect)))

    assert BackToOriginRule.objects.get(bucket=bucket).transparent_codes == stored


@pytest.mark.parametrize(
    ("codes", "message"),
    [
        ("abc", "'abc' is not an HTTP status code"),
        ("200", "200 is not an error status"),
    ],
)
def test_bad_transparent_codes_are_refused_naming_the_element(codes, message, bucket):
    redirect = (
        MIRROR
        + f"<TransparentMirrorResponseCodes>{codes}</TransparentMirrorResponseCodes>"
    )
    error = refused(config(rule_xml(1, redirect=redirect)), bucket)

    assert (error.code, error.name) == (
        "InvalidArgument",
        "TransparentMirrorResponseCodes",
    )
    assert message in error.message


def test_a_mirror_auth_secret_is_never_in_the_document_nor_in_an_error(bucket):
    auth = (
        "<MirrorAuth><AuthType>OSS</AuthType><AccessKeyId>AKID</AccessKeyId>"
        "<AccessKeySecret>the secret</AccessKeySecret></MirrorAuth>"
    )
    error = refused(config(rule_xml(1, redirect=MIRROR + auth)), bucket)
    assert (error.name, error.value) == ("AccessKeySecret", "")
    assert "the secret" not in error.message

    website_config.replace_configuration(
        bucket,
        config(rule_xml(1, redirect=MIRROR + auth.replace("the secret", "s3cret"))),
    )
    document = website_config.configuration_xml(bucket)
    assert b"s3cret" not in document
    assert b"<AccessKeyId>AKID</AccessKeyId>" in document


@pytest.mark.parametrize(
    "element",
    ["<HostName>example.org</HostName>", "<HttpRedirectCode>302</HttpRedirectCode>"],
)
def test_redirect_elements_on_a_mirror_rule_are_refused_not_ignored(element):
    error = refused(config(rule_xml(1, redirect=MIRROR + element)))

    assert error.code == "InvalidArgument"
    assert error.name in element


# -- every supported element round-trips: XML -> rule row -> XML (SPEC §10) -----------

ALTERNATES_XML = (
    "<MirrorMultiAlternates>"
    "<MirrorMultiAlternate><MirrorMultiAlternateNumber>1</MirrorMultiAlternateNumber>"
    "<MirrorMultiAlternateURL>https://b.example.com/x/</MirrorMultiAlternateURL></MirrorMultiAlternate>"
    "<MirrorMultiAlternate><MirrorMultiAlternateNumber>7</MirrorMultiAlternateNumber>"
    "<MirrorMultiAlternateURL>http://c.example.com/</MirrorMultiAlternateURL></MirrorMultiAlternate>"
    "</MirrorMultiAlternates>"
)
ROUND_TRIPS = {
    # id: (condition extra, redirect extra, path read back, expected texts)
    "include-header-equals": (
        "<IncludeHeader><Key>x-a</Key><Equals>v</Equals></IncludeHeader>",
        "", "Condition/IncludeHeader/Equals", ["v"],
    ),
    "include-header-starts-with": (
        "<IncludeHeader><Key>x-a</Key><StartsWith>pre</StartsWith></IncludeHeader>",
        "", "Condition/IncludeHeader/StartsWith", ["pre"],
    ),
    "include-header-ends-with": (
        "<IncludeHeader><Key>x-a</Key><EndsWith>.eu</EndsWith></IncludeHeader>"
        "<IncludeHeader><Key>X-A</Key><StartsWith>b</StartsWith></IncludeHeader>",
        "", "Condition/IncludeHeader/Key", ["x-a", "X-A"],
    ),
    "alternate-numbers": (
        "", ALTERNATES_XML, "Redirect/MirrorMultiAlternates/MirrorMultiAlternate/MirrorMultiAlternateNumber",
        ["1", "7"],
    ),
    "alternate-urls": (
        "", ALTERNATES_XML, "Redirect/MirrorMultiAlternates/MirrorMultiAlternate/MirrorMultiAlternateURL",
        ["https://b.example.com/x/", "http://c.example.com/"],
    ),
    "switch-all-errors": (
        "", "<MirrorSwitchAllErrors>true</MirrorSwitchAllErrors>", "Redirect/MirrorSwitchAllErrors", ["true"],
    ),
    "transparent-codes": (
        "", "<TransparentMirrorResponseCodes>429,403</TransparentMirrorResponseCodes>",
        "Redirect/TransparentMirrorResponseCodes", ["403,429"],
    ),
    "allow-head": (
        "", "<MirrorAllowHeadObject>true</MirrorAllowHeadObject>", "Redirect/MirrorAllowHeadObject", ["true"],
    ),
    "proxy-pass": ("", "<MirrorProxyPass>true</MirrorProxyPass>", "Redirect/MirrorProxyPass", ["true"]),
    "save-oss-meta": ("", "<MirrorSaveOssMeta>true</MirrorSaveOssMeta>", "Redirect/MirrorSaveOssMeta", ["true"]),
    "user-last-modified": (
        "", "<MirrorUserLastModified>true</MirrorUserLastModified>", "Redirect/MirrorUserLastModified", ["true"],
    ),
    "original-slashes": (
        "", "<MirrorPassOriginalSlashes>true</MirrorPassOriginalSlashes>",
        "Redirect/MirrorPassOriginalSlashes", ["true"],
    ),
    "sni": ("", "<MirrorSNI>true</MirrorSNI>", "Redirect/MirrorSNI", ["true"]),
    "return-headers": (
        "", "<MirrorReturnHeaders><ReturnHeader><Key>X-From</Key><Value>m</Value></ReturnHeader>"
        "</MirrorReturnHeaders>", "Redirect/MirrorReturnHeaders/ReturnHeader/Value", ["m"],
    ),
    "probe-without-secondary": (
        "", "<MirrorURLProbe>https://origin.example.com/health</MirrorURLProbe>",
        "Redirect/MirrorURLProbe", ["https://origin.example.com/health"],
    ),
    "mirror-taggings": (
        "", "<MirrorTaggings><Taggings><Key>team</Key><Value>web</Value></Taggings>"
        "<Taggings><Key>src</Key><Value>old site</Value></Taggings></MirrorTaggings>",
        "Redirect/MirrorTaggings/Taggings/Value", ["web", "old site"],
    ),
    "auth-oss": (
        "", "<MirrorAuth><AuthType>OSS</AuthType><AccessKeyId>AKID</AccessKeyId>"
        "<AccessKeySecret>s</AccessKeySecret><Region>cn-hangzhou</Region></MirrorAuth>",
        "Redirect/MirrorAuth/*", ["OSS", "AKID", "cn-hangzhou"],
    ),
}  # fmt: skip


@pytest.mark.parametrize(
    ("condition", "redirect", "path", "expected"),
    ROUND_TRIPS.values(),
    ids=ROUND_TRIPS.keys(),
)
def test_every_supported_element_round_trips(
    bucket, condition, redirect, path, expected
):
    body = config(
        rule_xml(1, condition=STATUS_404 + condition, redirect=MIRROR + redirect)
    )
    website_config.replace_configuration(bucket, body)

    rule = ET.fromstring(website_config.configuration_xml(bucket)).find(
        "RoutingRules/RoutingRule"
    )
    assert [node.text for node in rule.findall(path)] == expected
    # What GET returns can be PUT back unchanged.
    again = website_config.configuration_xml(bucket)
    website_config.replace_configuration(bucket, again)
    assert website_config.configuration_xml(bucket) == again
