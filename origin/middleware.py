from origin import engine, website
from origin.mirroring import apply_rule
from origin.models import BackToOriginRule


class BackToOriginMiddleware:
    """Like RedirectFallbackMiddleware: on a would-be NoSuchKey for a GET, apply the
    bucket's first matching Back-to-Origin rule. The object endpoint has already
    checked access, so a denied request never gets here."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if (
            request.method != "GET"
            or getattr(response, "oss_error_code", None) != "NoSuchKey"
            or getattr(request, "oss_key", None) is None  # not a GetObject
        ):
            return response
        bucket, key = request.oss_bucket, request.oss_key
        rules = BackToOriginRule.objects.engine_rules(bucket)
        rule = engine.select_rule(rules, key, response.status_code, request.headers)
        if rule is None:
            return website.fallback_response(request, bucket, key) or response
        return apply_rule(request, bucket, key, rule)
