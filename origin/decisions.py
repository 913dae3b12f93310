"""The engine's decision for a request on a bucket: what the runtime executes
(origin/middleware.py) and the dry run shows (origin/dry_run.py), made in one place."""

from django.conf import settings

from origin import engine
from origin.models import BackToOriginRule


def private_cookies():
    """Cookies of this server (console session, CSRF) that no origin may receive."""
    return (settings.SESSION_COOKIE_NAME, settings.CSRF_COOKIE_NAME)


def decide(bucket, key, status, request_headers, query=""):
    """The bucket's rules applied to a GET of `key` that would be answered `status`."""
    return engine.decide(
        BackToOriginRule.objects.engine_rules(bucket),
        key,
        status,
        request_headers,
        query,
        private_cookies(),
    )
