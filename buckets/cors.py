"""Bucket CORS, as OSS has it: PutBucketCors / GetBucketCors / DeleteBucketCors
(`?cors`), the preflight (`OPTIONS` on a bucket or object URL, no signature
needed) and the Access-Control-* headers of actual requests that carry an Origin.

A request matches a rule when its Origin matches one AllowedOrigin, its method
(or the preflight's Access-Control-Request-Method) is one AllowedMethod, and, for
a preflight, every header in Access-Control-Request-Headers matches one
AllowedHeader. The first matching rule answers; `*` is a wildcard in origins and
allowed headers.
"""

import logging
from dataclasses import asdict, dataclass

from django.db import DatabaseError
from django.utils.cache import patch_vary_headers

from buckets import errors, oss_xml
from buckets.bucket_operations import _parse_xml
from buckets.models import CorsConfiguration
from buckets.numbers import parse_decimal
from buckets.oss_access import (
    empty_response,
    get_bucket,
    owned_bucket,
    read_xml_body,
    xml_bool,
)
from buckets.wildcards import wildcard_match

logger = logging.getLogger(__name__)

ALLOWED_METHODS = ("GET", "PUT", "DELETE", "POST", "HEAD")
MAX_RULES = 10
MAX_AGE_SECONDS = 2**31 - 1
# The URL names of config/oss_urls.py whose answers get the headers of a matching rule.
BUCKET_URL_NAMES = frozenset({"oss-bucket", "oss-object"})

NOT_ALLOWED = (
    "CORSResponse: This CORS request is not allowed. This is usually because the "
    "evaluation of Origin, request method / Access-Control-Request-Method or "
    "Access-Control-Request-Headers are not whitelisted by the resource's CORS spec."
)


@dataclass(frozen=True)
class CorsRule:
    allowed_origins: tuple[str, ...]
    allowed_methods: tuple[str, ...]
    allowed_headers: tuple[str, ...] = ()
    expose_headers: tuple[str, ...] = ()
    max_age_seconds: int | None = None

    @classmethod
    def from_dict(cls, fields):
        """A rule as CorsConfiguration.rules stores it (lists for tuples)."""
        return cls(
            **{
                name: tuple(value) if isinstance(value, list) else value
                for name, value in fields.items()
            }
        )

    def matches(self, origin, method, request_headers=()):
        """Whether a request from `origin` using `method` and sending
        `request_headers` (lower-case names) is one this rule allows."""
        return (
            method in self.allowed_methods
            and any(wildcard_match(allowed, origin) for allowed in self.allowed_origins)
            and all(
                any(wildcard_match(allowed, name) for allowed in self.allowed_headers)
                for name in request_headers
            )
        )

    def response_headers(self, origin):
        """The Access-Control-* headers this rule gives a request from `origin`."""
        headers = {
            "Access-Control-Allow-Origin": origin,
            "Access-Control-Allow-Methods": ", ".join(self.allowed_methods),
        }
        if self.expose_headers:
            headers["Access-Control-Expose-Headers"] = ", ".join(self.expose_headers)
        if self.max_age_seconds is not None:
            headers["Access-Control-Max-Age"] = str(self.max_age_seconds)
        return headers


def stored_rules(configuration):
    """The CorsRules a CorsConfiguration row holds, in match order."""
    return [CorsRule.from_dict(fields) for fields in configuration.rules]


def select_rule(rules, origin, method, request_headers=()):
    """The first rule that allows the request, or None."""
    return next(
        (rule for rule in rules if rule.matches(origin, method, request_headers)),
        None,
    )


def requested_headers(value):
    """The lower-case header names of an Access-Control-Request-Headers value."""
    return tuple(name.strip().lower() for name in value.split(",") if name.strip())


# -- the XML document ----------------------------------------------------------------


def parse_configuration(body):
    """(rules, response_vary) of a CORSConfiguration document; every refusal is an
    OssError naming what is wrong."""
    root = _parse_xml(body, "CORSConfiguration")
    rule_nodes = root.findall("CORSRule")
    if not rule_nodes:
        raise errors.malformed_xml("CORSConfiguration needs at least one CORSRule.")
    if len(rule_nodes) > MAX_RULES:
        raise errors.invalid_argument(
            f"A bucket has at most {MAX_RULES} CORS rules; this document has {len(rule_nodes)}.",
            "CORSRule",
            str(len(rule_nodes)),
        )
    rules = [_parse_rule(node) for node in rule_nodes]
    return rules, xml_bool(root, "ResponseVary", default=False)


def _parse_rule(node):
    origins = _values(node, "AllowedOrigin", wildcards=1)
    methods = _values(node, "AllowedMethod", wildcards=0)
    if not origins or not methods:
        raise errors.malformed_xml(
            "Every CORSRule needs at least one AllowedOrigin and one AllowedMethod."
        )
    for method in methods:
        if method not in ALLOWED_METHODS:
            raise errors.invalid_argument(
                f"AllowedMethod must be one of {', '.join(ALLOWED_METHODS)}.",
                "AllowedMethod",
                method,
            )
    return CorsRule(
        allowed_origins=origins,
        allowed_methods=methods,
        allowed_headers=_values(node, "AllowedHeader", wildcards=1),
        expose_headers=_values(node, "ExposeHeader", wildcards=0),
        max_age_seconds=_parse_max_age(node),
    )


def _values(node, tag, *, wildcards):
    """The texts of `tag` children: non-empty, printable ASCII (they become response
    headers), holding at most `wildcards` `*`."""
    values = tuple((child.text or "").strip() for child in node.findall(tag))
    for value in values:
        if not value or not value.isascii() or not value.isprintable():
            raise errors.invalid_argument(
                f"{tag} must be non-empty printable ASCII text.", tag, value
            )
        if value.count("*") > wildcards:
            allowed = "may hold one" if wildcards else "must not hold a"
            raise errors.invalid_argument(f"{tag} {allowed} '*' wildcard.", tag, value)
    return values


def _parse_max_age(node):
    text = node.findtext("MaxAgeSeconds")
    if text is None:
        return None
    try:
        return parse_decimal(text.strip(), max_value=MAX_AGE_SECONDS)
    except ValueError:
        raise errors.invalid_argument(
            f"MaxAgeSeconds must be an integer from 0 to {MAX_AGE_SECONDS}.",
            "MaxAgeSeconds",
            text,
        ) from None


def configuration_xml(rules, response_vary):
    return oss_xml.element(
        "CORSConfiguration",
        children=[
            *(_rule_element(rule) for rule in rules),
            oss_xml.element("ResponseVary", str(response_vary).lower()),
        ],
    )


def _rule_element(rule):
    children = [
        *(oss_xml.element("AllowedOrigin", value) for value in rule.allowed_origins),
        *(oss_xml.element("AllowedMethod", value) for value in rule.allowed_methods),
        *(oss_xml.element("AllowedHeader", value) for value in rule.allowed_headers),
        *(oss_xml.element("ExposeHeader", value) for value in rule.expose_headers),
    ]
    if rule.max_age_seconds is not None:
        children.append(oss_xml.element("MaxAgeSeconds", rule.max_age_seconds))
    return oss_xml.element("CORSRule", children=children)


# -- the operations -------------------------------------------------------------------


def put_bucket_cors(request, bucket_name):
    bucket = owned_bucket(request, bucket_name)
    rules, response_vary = parse_configuration(read_xml_body(request))
    CorsConfiguration.objects.update_or_create(
        bucket=bucket,
        defaults={
            "rules": [asdict(rule) for rule in rules],
            "response_vary": response_vary,
        },
    )
    return empty_response(200)


def get_bucket_cors(request, bucket_name):
    bucket = owned_bucket(request, bucket_name)
    configuration = CorsConfiguration.objects.filter(bucket=bucket).first()
    if configuration is None:
        raise errors.not_configured(
            "NoSuchCORSConfiguration",
            "The CORS configuration does not exist.",
            bucket_name,
        )
    return oss_xml.xml_response(
        configuration_xml(stored_rules(configuration), configuration.response_vary)
    )


def delete_bucket_cors(request, bucket_name):
    """Deleting a configuration that does not exist succeeds too, as on OSS."""
    bucket = owned_bucket(request, bucket_name)
    CorsConfiguration.objects.filter(bucket=bucket).delete()
    return empty_response(204)


def _forbidden(message):
    return errors.OssError(403, "AccessForbidden", message)


def preflight(request, bucket_name, key=None):
    """OPTIONS: what the first matching rule allows, or 403 AccessForbidden.
    Browsers send it unsigned, for any URL they are about to call (?uploads too)."""
    bucket = get_bucket(bucket_name)
    origin = request.headers.get("Origin", "")
    method = request.headers.get("Access-Control-Request-Method", "")
    if not origin or not method:
        raise _forbidden(
            "CORSResponse: a preflight needs the Origin and "
            "Access-Control-Request-Method headers."
        )
    configuration = CorsConfiguration.objects.filter(bucket=bucket).first()
    if configuration is None:
        raise _forbidden("CORSResponse: CORS is not enabled for this bucket.")
    headers = requested_headers(
        request.headers.get("Access-Control-Request-Headers", "")
    )
    rule = select_rule(stored_rules(configuration), origin, method, headers)
    if rule is None:
        raise _forbidden(NOT_ALLOWED)
    response = empty_response(200)
    for name, value in rule.response_headers(origin).items():
        response[name] = value
    if headers:
        response["Access-Control-Allow-Headers"] = ", ".join(headers)
    if configuration.response_vary:
        patch_vary_headers(response, ["Origin"])
    return response


class CorsHeadersMiddleware:
    """Gives the answer of a bucket or object URL that carries an Origin the
    Access-Control-* headers of the first matching rule: errors too, and what
    Back-to-Origin answers (it sits outside that middleware). One query, and only
    for requests with an Origin; the preflight sets its own headers."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        origin = request.headers.get("Origin")
        match = getattr(request, "resolver_match", None)
        if (
            not origin
            or request.method == "OPTIONS"
            or match is None
            or match.url_name not in BUCKET_URL_NAMES
        ):
            return response
        try:
            configuration = CorsConfiguration.objects.filter(
                bucket__name=match.kwargs["bucket_name"]
            ).first()
        except DatabaseError as error:
            # The answer itself is complete; only its CORS headers are missing.
            logger.warning("CORS headers left out: %s", error)
            return response
        if configuration is None:
            return response
        if configuration.response_vary:
            patch_vary_headers(response, ["Origin"])
        rule = select_rule(stored_rules(configuration), origin, request.method)
        if rule is not None:
            for name, value in rule.response_headers(origin).items():
                response[name] = value
        return response
