"""The rule dry run: what a GET for a missing key would do, from the same decision
the runtime executes, plus an optional guarded HEAD probe. The console's
Test a request box and the JSON API both call it."""

import time

from origin import decisions, fetch


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
        answer["mirror"] = {
            "origin_url": decision.origin_url,
            "secondary_origin_url": decision.secondary_origin_url,
            "probe_url": decision.rule.probe_url,
            "headers": decision.origin_headers,
        }
        if data["probe"]:
            answer["probe"] = probe_origin(decision.origin_url, decision.origin_headers)
    return answer


def probe_origin(url, headers):
    """A HEAD through the same SSRF guard as mirroring; reports status and timing."""
    started = time.monotonic()
    try:
        status_code = fetch.head_origin(url, headers)
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
