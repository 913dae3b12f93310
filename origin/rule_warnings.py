"""Rule lint for a bucket as a request sees it: the endpoint is where this request
reached the server (path style) and OSS_DOMAIN (virtual-host style)."""

from django.conf import settings

from origin import rule_lint
from origin.models import BackToOriginRule


def bucket_endpoint(request, bucket):
    """This server's addresses for `bucket`, as origin/rule_lint.py compares them."""
    host, port = rule_lint.host_and_port(f"{request.scheme}://{request.get_host()}/")
    hosts = ((host, port),) if host else ()
    return rule_lint.BucketEndpoint(bucket.name, hosts, settings.OSS_DOMAIN)


def bucket_warnings(request, bucket, rules=None):
    """The lint warnings of the bucket's rules as they are stored now; pass the
    rule rows when the caller already holds them all (saves a query)."""
    engine_rules = (
        [rule.to_engine() for rule in rules]
        if rules is not None
        else BackToOriginRule.objects.engine_rules(bucket)
    )
    return rule_lint.lint_rules(engine_rules, bucket_endpoint(request, bucket))
