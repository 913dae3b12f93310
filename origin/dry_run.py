"""The rule dry run: what a GET for a missing key would do, from the same decision
the runtime executes, plus an optional guarded HEAD probe. The console's
Test a request box and the JSON API both call it."""

import time

from origin import decisions, fetch, origin_auth, protection


def dry_run(bucket, data):
    """The dry run's answer: pure engine work, plus an optional guarded HEAD probe."""
    decision = decisions.decide(
        bucket, data["key"], data["status"], data["headers"], data["query"]
    )
    answer = {
        "matched": decision.rule is not None,
        "rule_id": decision.rule.rule_id if decision.rule else None,
        "position": decision.rule.position if decision.rule else None,
        "mode": decision.rule.mode if decision.rule else None,
        "not_matched": [
            {"position": position, "reason": reason}
            for position, reason in decision.mismatches
        ],
    }
    if decision.internal_key:
        answer["internal"] = {
            "key": decision.internal_key,
            "exists": bucket.stored_objects.filter(key=decision.internal_key).exists(),
        }
    elif decision.redirection is not None:
        answer["redirect"] = {
            "status": decision.redirection.status,
            "location": decision.redirection.location,
        }
    elif decision.rule is not None:
        answer["mirror"] = _mirror_answer(decision)
        guarded = protection.dry_run_view(decision.rule.rule_id, data["key"])
        if guarded is not None:
            answer["protection"] = guarded
        if data["probe"]:
            answer["probe"] = probe_origin(
                decision.origin_url, decision.origin_headers, decision.rule.auth
            )
    return answer


def _mirror_answer(decision):
    """What the mirror fetch would do; never the signature or the secret."""
    rule = decision.rule
    switch_on = (
        "any answer other than 200"
        if rule.switch_on_all_errors
        else "a connection error, a timeout or a 5xx"
    )
    return {
        "origin_url": decision.origin_url,
        "secondary_origin_url": decision.secondary_origin_url,
        "probe_url": rule.probe_url,
        "alternate_origin_urls": list(decision.alternate_origin_urls),
        "switch_on": switch_on if decision.alternate_origin_urls else "",
        "transparent_codes": sorted(rule.transparent_codes),
        "headers": decision.origin_headers,
        "signed": rule.auth.describe() if rule.auth else "",
        "saved": not rule.proxy_only,
        "keeps_origin_metadata": rule.save_origin_meta,
        "last_modified": "the origin's Last-Modified"
        if rule.keep_origin_last_modified
        else "the time of the fetch",
        "return_headers": dict(rule.return_headers),
        "tags": dict(rule.tags),
        "head_mirrored": rule.mirror_head,
    }


def probe_origin(url, headers, auth=None):
    """A HEAD through the same SSRF guard (and MirrorAuth signing) as mirroring;
    reports status and timing."""
    started = time.monotonic()
    try:
        status_code = fetch.head_origin(url, headers, origin_auth.signer_for(auth))
        result = {"status": status_code, "error": "", "contacted_origin": True}
    except fetch.OriginError as error:
        # The SSRF guard refuses before connecting: saying "contacted" would be untrue.
        result = {
            "status": None,
            "error": error.message,
            "contacted_origin": error.reason != "refused",
        }
    return {
        **result,
        "elapsed_ms": int((time.monotonic() - started) * 1000),
    }
