from buckets import errors
from origin import decisions, engine, mirroring, redirection, website

# One executor per kind of decision; each reads everything it does from the Decision.
EXECUTORS = {
    engine.MIRROR: mirroring.mirror,
    engine.REDIRECT: redirection.redirect,
    engine.INTERNAL: redirection.serve_internal,
}


class BackToOriginMiddleware:
    """Like RedirectFallbackMiddleware: when a GetObject would be answered with an
    error, apply the bucket's first matching Back-to-Origin rule. The OSS envelope
    of what it answers (request id, errors as OSS XML) is stamped here, once."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        target = getattr(
            request, "oss_get_object", None
        )  # set by GetObject (GET, HEAD)
        if target is None or response.status_code < 400:
            return response
        try:
            answer = self._apply(request, target, response.status_code)
        except Exception as error:  # noqa: BLE001 - every failure is an OSS error document
            answer = errors.from_exception(error).response(request)
        if answer is None:
            return response
        answer["x-oss-request-id"] = request.oss_request_id
        return answer

    def _apply(self, request, target, status):
        decision = decisions.decide(
            target.bucket,
            target.key,
            status,
            request.headers,
            request.META.get("QUERY_STRING", ""),
        )
        if request.method == "HEAD":
            # Only a rule that allows it mirrors a HEAD (MirrorAllowHeadObject).
            if decision.action == engine.MIRROR and decision.rule.mirror_head:
                return mirroring.mirror_head(request, target, decision)
            return None
        if decision.action is not None:
            return EXECUTORS[decision.action](request, target, decision)
        if status == 404:  # IndexDocument and ErrorDocument come after the rules
            return website.serve_fallback(request, target)
        return None
