"""Bucket CORS (PutBucketCors, the OPTIONS preflight, the headers of actual requests)
and hotlink protection (PutBucketReferer and the Referer check), as OSS has them.

The matching rules first, as tables; then the OSS API through Django's test client;
then round trips with the real oss2 SDK and a browser-like upload against gunicorn.
"""

import xml.etree.ElementTree as ET

import oss2
import pytest
import requests
from django.test import Client

from buckets import cors, referer
from buckets.models import Bucket, CorsConfiguration
from buckets.wildcards import wildcard_match
from tests.origin_server import OriginServer
from tests.oss_responses import body_of, error_fields
from tests.signing import presigned_path

PAGE = b"<h1>hello</h1>"

RULES_XML = b"""<?xml version="1.0" encoding="UTF-8"?>
<CORSConfiguration>
  <CORSRule>
    <AllowedOrigin>http://*.example.com</AllowedOrigin>
    <AllowedMethod>GET</AllowedMethod>
    <AllowedMethod>PUT</AllowedMethod>
    <AllowedHeader>x-oss-*</AllowedHeader>
    <AllowedHeader>Content-Type</AllowedHeader>
    <ExposeHeader>ETag</ExposeHeader>
    <ExposeHeader>x-oss-request-id</ExposeHeader>
    <MaxAgeSeconds>600</MaxAgeSeconds>
  </CORSRule>
  <CORSRule>
    <AllowedOrigin>*</AllowedOrigin>
    <AllowedMethod>GET</AllowedMethod>
  </CORSRule>
  <ResponseVary>true</ResponseVary>
</CORSConfiguration>"""


def cors_xml(*rules, vary=None):
    """A CORSConfiguration of rule bodies (the inside of each CORSRule)."""
    inner = "".join(f"<CORSRule>{rule}</CORSRule>" for rule in rules)
    if vary is not None:
        inner += f"<ResponseVary>{vary}</ResponseVary>"
    return f"<CORSConfiguration>{inner}</CORSConfiguration>".encode()


GET_FROM_ANYWHERE = "<AllowedOrigin>*</AllowedOrigin><AllowedMethod>GET</AllowedMethod>"


def referer_xml(
    allow_empty="false",
    referers=(),
    blacklist=(),
    truncate=None,
):
    parts = [f"<AllowEmptyReferer>{allow_empty}</AllowEmptyReferer>"]
    if truncate is not None:
        parts.append(f"<AllowTruncateQueryString>{truncate}</AllowTruncateQueryString>")
    parts.append(
        "<RefererList>"
        + "".join(f"<Referer>{value}</Referer>" for value in referers)
        + "</RefererList>"
    )
    if blacklist:
        parts.append(
            "<RefererBlacklist>"
            + "".join(f"<Referer>{value}</Referer>" for value in blacklist)
            + "</RefererBlacklist>"
        )
    return f"<RefererConfiguration>{''.join(parts)}</RefererConfiguration>".encode()


# -- the matching rules -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pattern", "text", "question_mark", "matches"),
    [
        ("*", "", False, True),
        ("*", "http://anything", False, True),
        ("http://*.example.com", "http://app.example.com", False, True),
        ("http://*.example.com", "HTTP://App.Example.COM", False, True),
        ("http://*.example.com", "http://example.com", False, False),
        ("http://*.example.com", "http://app.example.com.evil.test", False, False),
        ("x-oss-*", "x-oss-meta-a", False, True),
        ("https://www.?.test", "https://www.a.test", True, True),
        ("https://www.?.test", "https://www.ab.test", True, False),
        ("https://www.?.test", "https://www.a.test", False, False),  # `?` is literal
        ("a*b*c", "aXXbYYc", False, True),
        ("a*b*c", "aXXbYY", False, False),
        ("*a*a*a*a*a*b", "a" * 2000, False, False),  # no catastrophic backtracking
    ],
)
def test_wildcard_patterns(pattern, text, question_mark, matches):
    assert wildcard_match(pattern, text, question_mark=question_mark) is matches


@pytest.mark.parametrize(
    ("origin", "method", "headers", "rule_index"),
    [
        ("http://app.example.com", "PUT", ("x-oss-meta-a", "content-type"), 0),
        ("http://app.example.com", "GET", (), 0),
        ("http://evil.test", "GET", (), 1),  # the `*` rule, GET only
        ("http://evil.test", "PUT", (), None),
        ("http://app.example.com", "PUT", ("authorization",), None),
        ("http://app.example.com", "DELETE", (), None),
        (
            "http://evil.test",
            "GET",
            ("x-oss-meta-a",),
            None,
        ),  # rule 2 allows no headers
    ],
)
def test_the_first_matching_rule_answers(origin, method, headers, rule_index):
    rules, _vary = cors.parse_configuration(RULES_XML)

    selected = cors.select_rule(rules, origin, method, headers)

    assert selected is (None if rule_index is None else rules[rule_index])


@pytest.mark.parametrize(
    ("policy", "sent", "allowed"),
    [
        (referer.RefererPolicy(), "", True),
        (referer.RefererPolicy(), "http://anything.test/", True),
        (referer.RefererPolicy(allow_empty=False), "", False),
        (
            referer.RefererPolicy(referers=("http://*.example.com",)),
            "http://a.example.com",
            True,
        ),
        (
            referer.RefererPolicy(referers=("http://*.example.com",)),
            "http://a.test",
            False,
        ),
        (referer.RefererPolicy(referers=("http://*.example.com",)), "", True),
        (
            referer.RefererPolicy(
                referers=("http://*.example.com",), allow_empty=False
            ),
            "",
            False,
        ),
        (
            referer.RefererPolicy(
                referers=("http://*.example.com*",),
                blacklist=("http://bad.example.com*",),
            ),
            "http://bad.example.com/page",
            False,
        ),
        (
            referer.RefererPolicy(blacklist=("*.bad.test*",)),
            "http://www.bad.test/",
            False,
        ),
        (
            referer.RefererPolicy(blacklist=("*.bad.test*",)),
            "http://www.ok.test/",
            True,
        ),
        (
            referer.RefererPolicy(referers=("http://a.test/page",)),
            "http://a.test/page?from=mail",
            True,
        ),
        (
            referer.RefererPolicy(
                referers=("http://a.test/page",), allow_truncate_query_string=False
            ),
            "http://a.test/page?from=mail",
            False,
        ),
        (
            referer.RefererPolicy(referers=("http://a.test",), truncate_path=True),
            "http://a.test/deep/page?x=1",
            True,
        ),
    ],
)
def test_referer_policies(policy, sent, allowed):
    assert policy.allows(sent) is allowed


# -- PutBucketCors / GetBucketCors / DeleteBucketCors --------------------------------------


@pytest.fixture
def site(alice, put_object):
    """alice's public-read bucket holding index.html."""
    bucket = Bucket.objects.create(
        owner=alice, name="alice-site", acl=Bucket.Acl.PUBLIC_READ
    )
    put_object(bucket, "index.html", PAGE, content_type="text/html")
    return bucket


@pytest.fixture
def site_cors(site, alice_signed_client):
    response = alice_signed_client(
        "PUT", "alice-site", params={"cors": ""}, body=RULES_XML
    )
    assert response.status_code == 200, response.content
    return site


def put_cors(alice_signed_client, body):
    return alice_signed_client("PUT", "alice-site", params={"cors": ""}, body=body)


@pytest.mark.django_db
class TestCorsConfiguration:
    def test_get_answers_the_rules_that_were_put(self, site_cors, alice_signed_client):
        response = alice_signed_client("GET", "alice-site", params={"cors": ""})

        assert response.status_code == 200
        root = ET.fromstring(response.content)
        first, second = root.findall("CORSRule")
        assert [node.text for node in first] == [
            "http://*.example.com",
            "GET",
            "PUT",
            "x-oss-*",
            "Content-Type",
            "ETag",
            "x-oss-request-id",
            "600",
        ]
        assert [node.tag for node in second] == ["AllowedOrigin", "AllowedMethod"]
        assert root.findtext("ResponseVary") == "true"

    def test_a_put_replaces_every_rule(self, site_cors, alice_signed_client):
        assert (
            put_cors(alice_signed_client, cors_xml(GET_FROM_ANYWHERE)).status_code
            == 200
        )

        (configuration,) = CorsConfiguration.objects.filter(bucket=site_cors)
        assert configuration.rules == [
            {
                "allowed_origins": ["*"],
                "allowed_methods": ["GET"],
                "allowed_headers": [],
                "expose_headers": [],
                "max_age_seconds": None,
            }
        ]
        assert configuration.response_vary is False

    def test_delete_removes_them_and_get_is_no_such_cors_configuration(
        self, site_cors, alice_signed_client
    ):
        assert (
            alice_signed_client("DELETE", "alice-site", params={"cors": ""}).status_code
            == 204
        )
        response = alice_signed_client("GET", "alice-site", params={"cors": ""})

        assert response.status_code == 404
        assert error_fields(response)["Code"] == "NoSuchCORSConfiguration"
        # Deleting again still succeeds, as on OSS.
        assert (
            alice_signed_client("DELETE", "alice-site", params={"cors": ""}).status_code
            == 204
        )

    @pytest.mark.parametrize(
        ("body", "code", "argument"),
        [
            (b"<CORSConfiguration><CORSRule>", "MalformedXML", None),
            (b"<Tagging/>", "MalformedXML", None),
            (cors_xml(), "MalformedXML", None),
            (cors_xml("<AllowedMethod>GET</AllowedMethod>"), "MalformedXML", None),
            (cors_xml(*[GET_FROM_ANYWHERE] * 11), "InvalidArgument", "CORSRule"),
            (
                cors_xml(
                    "<AllowedOrigin>*</AllowedOrigin><AllowedMethod>PATCH</AllowedMethod>"
                ),
                "InvalidArgument",
                "AllowedMethod",
            ),
            (
                cors_xml(
                    "<AllowedOrigin>http://*.*.test</AllowedOrigin><AllowedMethod>GET</AllowedMethod>"
                ),
                "InvalidArgument",
                "AllowedOrigin",
            ),
            (
                cors_xml(GET_FROM_ANYWHERE + "<AllowedHeader>**</AllowedHeader>"),
                "InvalidArgument",
                "AllowedHeader",
            ),
            (
                cors_xml(GET_FROM_ANYWHERE + "<ExposeHeader>*</ExposeHeader>"),
                "InvalidArgument",
                "ExposeHeader",
            ),
            (
                cors_xml(GET_FROM_ANYWHERE + "<MaxAgeSeconds>-1</MaxAgeSeconds>"),
                "InvalidArgument",
                "MaxAgeSeconds",
            ),
            (
                cors_xml(
                    GET_FROM_ANYWHERE + f"<MaxAgeSeconds>{'9' * 5000}</MaxAgeSeconds>"
                ),
                "InvalidArgument",
                "MaxAgeSeconds",
            ),
            (
                cors_xml(GET_FROM_ANYWHERE + "<ExposeHeader>a&#10;b</ExposeHeader>"),
                "InvalidArgument",
                "ExposeHeader",
            ),
            (
                cors_xml(GET_FROM_ANYWHERE, vary="maybe"),
                "InvalidArgument",
                "ResponseVary",
            ),
        ],
    )
    def test_a_refused_document_names_what_is_wrong_and_changes_nothing(
        self, site_cors, alice_signed_client, body, code, argument
    ):
        before = list(CorsConfiguration.objects.values_list("rules", "response_vary"))

        response = put_cors(alice_signed_client, body)

        assert response.status_code == 400
        fields = error_fields(response)
        assert fields["Code"] == code
        assert fields.get("ArgumentName") == argument
        assert (
            list(CorsConfiguration.objects.values_list("rules", "response_vary"))
            == before
        )

    def test_the_configuration_is_the_owners_alone(self, site_cors, bob_client):
        assert (
            error_fields(bob_client.get("/alice-site/?cors"))["Code"] == "AccessDenied"
        )
        anonymous = Client().generic(
            "PUT", "/alice-site/?cors", data=cors_xml(GET_FROM_ANYWHERE)
        )
        assert error_fields(anonymous)["Code"] == "AccessDenied"
        assert Client().delete("/alice-site/?cors").status_code == 403
        assert CorsConfiguration.objects.filter(bucket=site_cors).exists()


# -- the preflight ---------------------------------------------------------------------


def preflight(
    path, origin="http://app.example.com", method="PUT", request_headers=None
):
    headers = {"Origin": origin, "Access-Control-Request-Method": method}
    if request_headers is not None:
        headers["Access-Control-Request-Headers"] = request_headers
    return Client().options(path, headers=headers)


def cors_headers(response):
    return {
        name: value
        for name, value in response.headers.items()
        if name.lower().startswith("access-control-")
    }


def varies_by_origin(response):
    return "Origin" in [value.strip() for value in response.get("Vary", "").split(",")]


@pytest.mark.django_db
class TestPreflight:
    def test_an_allowed_upload_gets_the_rules_headers(self, site_cors):
        response = preflight(
            "/alice-site/photo.jpg",
            request_headers="Content-Type, X-OSS-Meta-Author",
        )

        assert response.status_code == 200
        assert cors_headers(response) == {
            "Access-Control-Allow-Origin": "http://app.example.com",
            "Access-Control-Allow-Methods": "GET, PUT",
            "Access-Control-Allow-Headers": "content-type, x-oss-meta-author",
            "Access-Control-Expose-Headers": "ETag, x-oss-request-id",
            "Access-Control-Max-Age": "600",
        }
        assert varies_by_origin(response)
        assert response["x-oss-request-id"]

    def test_the_wildcard_rule_answers_what_the_first_does_not(self, site_cors):
        response = preflight(
            "/alice-site/photo.jpg", origin="http://other.test", method="GET"
        )

        assert response.status_code == 200
        assert response["Access-Control-Allow-Origin"] == "http://other.test"
        assert response["Access-Control-Allow-Methods"] == "GET"
        assert "Access-Control-Max-Age" not in response

    @pytest.mark.parametrize(
        ("origin", "method", "request_headers"),
        [
            ("http://other.test", "PUT", None),  # `*` allows GET only
            ("http://app.example.com", "DELETE", None),
            ("http://app.example.com", "PUT", "Authorization"),
            ("http://other.test", "GET", "x-oss-meta-a"),
        ],
    )
    def test_a_request_no_rule_allows_is_access_forbidden(
        self, site_cors, origin, method, request_headers
    ):
        response = preflight("/alice-site/photo.jpg", origin, method, request_headers)

        assert response.status_code == 403
        fields = error_fields(response)
        assert fields["Code"] == "AccessForbidden"
        assert fields["Message"].startswith(
            "CORSResponse: This CORS request is not allowed."
        )
        assert "Access-Control-Allow-Origin" not in response

    def test_a_bucket_without_cors_refuses_every_preflight(self, site):
        response = preflight("/alice-site/index.html", method="GET")

        assert response.status_code == 403
        assert error_fields(response)["Message"] == (
            "CORSResponse: CORS is not enabled for this bucket."
        )

    def test_a_preflight_needs_origin_and_method(self, site_cors):
        response = Client().options(
            "/alice-site/photo.jpg", headers={"Origin": "http://a.test"}
        )

        assert response.status_code == 403
        assert error_fields(response)["Code"] == "AccessForbidden"

    def test_a_missing_bucket_is_no_such_bucket(self, db):
        response = preflight("/no-such-bucket/photo.jpg")

        assert response.status_code == 404
        assert error_fields(response)["Code"] == "NoSuchBucket"

    @pytest.mark.parametrize(
        "path",
        [
            "/alice-site/",
            "/alice-site/big.bin?uploads",
            "/alice-site/big.bin?partNumber=1&uploadId=ABC",
            "/alice-site/photo.jpg?tagging",
            "/alice-site/photo.jpg?symlink",  # not built here, still a preflight
        ],
    )
    def test_every_url_a_browser_calls_has_its_preflight(self, site_cors, path):
        response = preflight(path)

        assert response.status_code == 200
        assert response["Access-Control-Allow-Origin"] == "http://app.example.com"


# -- the headers of actual requests -------------------------------------------------


@pytest.mark.django_db
class TestActualRequests:
    def test_a_get_with_an_allowed_origin_gets_the_rules_headers(self, site_cors):
        response = Client().get(
            "/alice-site/index.html", headers={"Origin": "http://app.example.com"}
        )

        assert body_of(response) == PAGE
        assert cors_headers(response) == {
            "Access-Control-Allow-Origin": "http://app.example.com",
            "Access-Control-Allow-Methods": "GET, PUT",
            "Access-Control-Expose-Headers": "ETag, x-oss-request-id",
            "Access-Control-Max-Age": "600",
        }
        assert varies_by_origin(response)

    def test_an_error_answer_gets_them_too(self, site_cors):
        response = Client().get(
            "/alice-site/missing.html", headers={"Origin": "http://other.test"}
        )

        assert response.status_code == 404
        assert error_fields(response)["Code"] == "NoSuchKey"
        assert response["Access-Control-Allow-Origin"] == "http://other.test"
        assert response["Access-Control-Allow-Methods"] == "GET"

    def test_a_method_no_rule_allows_gets_no_cors_headers(self, site_cors):
        response = Client().delete(
            "/alice-site/index.html", headers={"Origin": "http://app.example.com"}
        )

        assert response.status_code == 403
        assert "Access-Control-Allow-Origin" not in response
        assert varies_by_origin(response)  # ResponseVary is on

    def test_a_bucket_without_cors_adds_nothing(self, site):
        response = Client().get(
            "/alice-site/index.html", headers={"Origin": "http://app.example.com"}
        )

        assert body_of(response) == PAGE
        assert cors_headers(response) == {}
        assert not varies_by_origin(response)

    def test_only_a_request_with_an_origin_costs_a_query(
        self, site_cors, django_assert_num_queries
    ):
        client = Client()
        with django_assert_num_queries(1):  # the bucket and the object
            body_of(client.get("/alice-site/index.html"))
        with django_assert_num_queries(2):  # and the CORS rules
            body_of(
                client.get(
                    "/alice-site/index.html", headers={"Origin": "http://a.example.com"}
                )
            )


# -- PutBucketReferer / GetBucketReferer and the check ----------------------------------


def get_referer_config(alice_signed_client):
    response = alice_signed_client("GET", "alice-site", params={"referer": ""})
    assert response.status_code == 200
    root = ET.fromstring(response.content)
    return {
        "allow_empty": root.findtext("AllowEmptyReferer"),
        "truncate": root.findtext("AllowTruncateQueryString"),
        "referers": [node.text for node in root.findall("RefererList/Referer")],
        "blacklist": [node.text for node in root.findall("RefererBlacklist/Referer")],
    }


def put_referer(alice_signed_client, body):
    return alice_signed_client("PUT", "alice-site", params={"referer": ""}, body=body)


@pytest.fixture
def protected_site(site, alice_signed_client):
    """alice-site readable only from *.example.com pages, never from bad.example.com."""
    response = put_referer(
        alice_signed_client,
        referer_xml(
            allow_empty="false",
            referers=["http://*.example.com/*", "https://www.?.test/*"],
            blacklist=["http://bad.example.com/*"],
        ),
    )
    assert response.status_code == 200, response.content
    return site


def anonymous_get(referer_header=None, path="/alice-site/index.html"):
    headers = {"Referer": referer_header} if referer_header is not None else {}
    return Client().get(path, headers=headers)


@pytest.mark.django_db
class TestReferer:
    def test_with_nothing_set_get_answers_the_default(self, site, alice_signed_client):
        assert get_referer_config(alice_signed_client) == {
            "allow_empty": "true",
            "truncate": "true",
            "referers": [],
            "blacklist": [],
        }

    def test_get_answers_what_was_put(self, protected_site, alice_signed_client):
        assert get_referer_config(alice_signed_client) == {
            "allow_empty": "false",
            "truncate": "true",
            "referers": ["http://*.example.com/*", "https://www.?.test/*"],
            "blacklist": ["http://bad.example.com/*"],
        }

    @pytest.mark.parametrize(
        ("sent", "allowed"),
        [
            ("http://app.example.com/page.html", True),
            ("https://www.a.test/", True),
            ("https://www.ab.test/", False),
            ("http://elsewhere.test/page.html", False),
            ("http://bad.example.com/page.html", False),  # the blacklist wins
            (None, False),  # AllowEmptyReferer is false
        ],
    )
    def test_anonymous_reads_are_checked(self, protected_site, sent, allowed):
        response = anonymous_get(sent)

        if allowed:
            assert body_of(response) == PAGE
        else:
            assert response.status_code == 403
            assert error_fields(response)["Code"] == "AccessDenied"
            assert error_fields(response)["Message"] == (
                "You are denied by bucket referer policy."
            )

    def test_a_head_is_checked_too(self, protected_site):
        response = Client().head(
            "/alice-site/index.html", headers={"Referer": "http://elsewhere.test/"}
        )

        assert response.status_code == 403
        assert error_fields(response)["Code"] == "AccessDenied"

    def test_an_empty_referer_passes_with_allow_empty_referer(
        self, site, alice_signed_client
    ):
        put_referer(
            alice_signed_client,
            referer_xml(allow_empty="true", referers=["http://*.example.com/*"]),
        )

        assert body_of(anonymous_get()) == PAGE
        assert anonymous_get("http://elsewhere.test/").status_code == 403

    def test_a_request_signed_in_its_header_is_not_checked(
        self, protected_site, alice_signed_client
    ):
        response = alice_signed_client(
            "GET",
            "alice-site",
            "index.html",
            headers={"Referer": "http://elsewhere.test/"},
        )

        assert body_of(response) == PAGE

    def test_a_signed_url_is_checked_as_oss_checks_it(self, protected_site, alice_key):
        path = presigned_path(alice_key, "alice-site", "index.html")

        denied = Client().get(path, headers={"Referer": "http://elsewhere.test/"})
        allowed = Client().get(path, headers={"Referer": "http://app.example.com/"})

        assert error_fields(denied)["Code"] == "AccessDenied"
        assert body_of(allowed) == PAGE

    def test_a_query_string_is_ignored_unless_asked_not_to(
        self, site, alice_signed_client
    ):
        put_referer(
            alice_signed_client,
            referer_xml(referers=["http://app.example.com/page.html"]),
        )
        assert (
            body_of(anonymous_get("http://app.example.com/page.html?from=mail")) == PAGE
        )

        put_referer(
            alice_signed_client,
            referer_xml(
                referers=["http://app.example.com/page.html"], truncate="false"
            ),
        )
        assert (
            anonymous_get("http://app.example.com/page.html?from=mail").status_code
            == 403
        )

    @pytest.mark.parametrize(
        ("body", "code"),
        [
            (b"<RefererConfiguration>", "MalformedXML"),
            (
                b"<RefererConfiguration><RefererList/></RefererConfiguration>",
                "MalformedXML",
            ),
            (referer_xml(allow_empty="maybe"), "InvalidArgument"),
            (referer_xml(referers=["http://a.test", ""]), "InvalidArgument"),
            (referer_xml(referers=["http://a.test/" + "x" * 21000]), "InvalidArgument"),
        ],
    )
    def test_a_refused_document_changes_nothing(
        self, protected_site, alice_signed_client, body, code
    ):
        before = get_referer_config(alice_signed_client)

        response = put_referer(alice_signed_client, body)

        assert response.status_code == 400
        assert error_fields(response)["Code"] == code
        assert get_referer_config(alice_signed_client) == before

    def test_the_configuration_is_the_owners_alone(self, protected_site, bob_client):
        assert (
            error_fields(bob_client.get("/alice-site/?referer"))["Code"]
            == "AccessDenied"
        )
        anonymous = Client().generic(
            "PUT", "/alice-site/?referer", data=referer_xml(allow_empty="true")
        )
        assert error_fields(anonymous)["Code"] == "AccessDenied"
        assert anonymous_get("http://elsewhere.test/").status_code == 403


# -- the real SDK, and a browser-like upload, against gunicorn ---------------------------


@pytest.mark.server
class TestWithTheRealSdk:
    def test_cors_round_trip(self, oss2_bucket):
        rule = oss2.models.CorsRule(
            allowed_origins=["*"],
            allowed_methods=["HEAD", "GET"],
            allowed_headers=["*"],
            expose_headers=["ETag"],
            max_age_seconds=1000,
        )
        oss2_bucket.put_bucket_cors(oss2.models.BucketCors([rule], response_vary=True))

        got = oss2_bucket.get_bucket_cors()

        (got_rule,) = got.rules
        assert got_rule.allowed_origins == ["*"]
        assert got_rule.allowed_methods == ["HEAD", "GET"]
        assert got_rule.allowed_headers == ["*"]
        assert got_rule.expose_headers == ["ETag"]
        assert got_rule.max_age_seconds == 1000
        assert got.response_vary is True

        oss2_bucket.put_bucket_cors(oss2.models.BucketCors([rule]))
        assert oss2_bucket.get_bucket_cors().response_vary is False

        oss2_bucket.delete_bucket_cors()
        oss2_bucket.delete_bucket_cors()
        with pytest.raises(oss2.exceptions.NoSuchCors):
            oss2_bucket.get_bucket_cors()

    def test_a_negative_max_age_is_invalid_argument(self, oss2_bucket):
        rule = oss2.models.CorsRule(
            allowed_origins=["*"], allowed_methods=["GET"], max_age_seconds=-1
        )

        with pytest.raises(oss2.exceptions.InvalidArgument) as raised:
            oss2_bucket.put_bucket_cors(oss2.models.BucketCors([rule]))

        assert (raised.value.name, raised.value.value) == ("MaxAgeSeconds", "-1")

    def test_referer_round_trip(self, oss2_bucket):
        referers = ["http://hello.com", "mibrowser:home", "中文+referer"]
        blacklist = ["http://hello2.com", "中文2+referer"]

        oss2_bucket.put_bucket_referer(
            oss2.models.BucketReferer(False, referers, False, blacklist)
        )
        got = oss2_bucket.get_bucket_referer()

        assert got.allow_empty_referer is False
        assert got.allow_truncate_query_string is False
        assert sorted(got.referers) == sorted(referers)
        assert sorted(got.black_referers) == sorted(blacklist)

        # A PUT replaces everything: what it leaves out takes OSS's defaults.
        oss2_bucket.put_bucket_referer(oss2.models.BucketReferer(True, []))
        got = oss2_bucket.get_bucket_referer()
        assert (got.allow_empty_referer, got.allow_truncate_query_string) == (
            True,
            True,
        )
        assert (got.referers, got.black_referers) == ([], [])

    def test_a_browser_can_upload_with_a_signed_url(self, oss2_bucket):
        """What a page on app.example.com does: preflight, then PUT to a URL its
        server signed, then read the ETag the rule exposes."""
        oss2_bucket.put_bucket_cors(
            oss2.models.BucketCors(
                [
                    oss2.models.CorsRule(
                        allowed_origins=["http://app.example.com"],
                        allowed_methods=["PUT", "GET"],
                        allowed_headers=["content-type"],
                        expose_headers=["ETag"],
                    )
                ]
            )
        )
        url = oss2_bucket.sign_url(
            "PUT", "upload.txt", 300, headers={"Content-Type": "text/plain"}
        )
        origin = {"Origin": "http://app.example.com"}

        check = requests.options(
            url,
            headers={
                **origin,
                "Access-Control-Request-Method": "PUT",
                "Access-Control-Request-Headers": "content-type",
            },
            timeout=10,
        )
        upload = requests.put(
            url,
            data=b"from the browser",
            headers={**origin, "Content-Type": "text/plain"},
            timeout=10,
        )

        assert check.status_code == 200
        assert check.headers["Access-Control-Allow-Origin"] == "http://app.example.com"
        assert check.headers["Access-Control-Allow-Headers"] == "content-type"
        assert upload.status_code == 200, upload.text
        assert upload.headers["Access-Control-Allow-Origin"] == "http://app.example.com"
        assert upload.headers["Access-Control-Expose-Headers"] == "ETag"
        assert oss2_bucket.get_object("upload.txt").read() == b"from the browser"


# -- a real browser ----------------------------------------------------------------

UPLOAD_SCRIPT = """async url => {
    try {
        const response = await fetch(url, {
            method: "PUT", body: "from chromium", headers: {"Content-Type": "text/plain"},
        });
        return {status: response.status, etag: response.headers.get("ETag")};
    } catch (error) {
        return {blocked: String(error)};
    }
}"""


@pytest.mark.browser
def test_a_page_on_another_origin_uploads_straight_to_the_bucket(
    page, live_server, origin_server, alice_key, site
):
    """Chromium on a page served from another origin (another port) PUTs to a URL
    signed by its server: the preflight and the upload pass only for the origin a
    rule names, and the page reads the ETag the rule exposes."""
    allowed, other = origin_server, OriginServer()
    bucket = oss2.Bucket(oss2.Auth(*alice_key), live_server.url, "alice-site")
    bucket.put_bucket_cors(
        oss2.models.BucketCors(
            [
                oss2.models.CorsRule(
                    allowed_origins=[allowed.url("")],
                    allowed_methods=["PUT"],
                    allowed_headers=["content-type"],
                    expose_headers=["ETag"],
                )
            ]
        )
    )
    try:
        for server in (allowed, other):
            server.route("/app.html", body=b"<!doctype html><title>app</title>")

        page.goto(other.url("/app.html"))
        refused = page.evaluate(
            UPLOAD_SCRIPT,
            bucket.sign_url(
                "PUT", "refused.txt", 300, headers={"Content-Type": "text/plain"}
            ),
        )
        page.goto(allowed.url("/app.html"))
        uploaded = page.evaluate(
            UPLOAD_SCRIPT,
            bucket.sign_url(
                "PUT", "upload.txt", 300, headers={"Content-Type": "text/plain"}
            ),
        )
    finally:
        other.close()

    assert "blocked" in refused
    assert not bucket.object_exists("refused.txt")
    assert uploaded["status"] == 200, uploaded
    assert bucket.get_object("upload.txt").read() == b"from chromium"
    assert uploaded["etag"] == f'"{bucket.head_object("upload.txt").etag}"'
