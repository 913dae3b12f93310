"""One key of a warm-up or refresh job: the same engine decision and the same mirror
fetch as a GET of the missing key (single flight, size cap, SSRF guard, checks),
without a client at the other end."""

import html
import re
from dataclasses import dataclass

from django.http import HttpRequest

from buckets.errors import new_request_id
from origin import decisions, engine
from origin.mirroring import MirrorFetch, MirrorInterrupted
from origin.models import OriginFetch

SAVED, SKIPPED, FAILED, RETRY = "saved", "skipped", "failed", "retry"
_MESSAGE_RE = re.compile(rb"<Message>(.*?)</Message>", re.S)


@dataclass(frozen=True)
class KeyOutcome:
    state: str  # SAVED, SKIPPED, FAILED, or RETRY (every fetch slot was busy)
    reason: str = ""
    bytes: int = 0


class _JobRequest(HttpRequest):
    """The GET a job makes for a key: no headers, no query, no client."""

    def __init__(self, bucket, key):
        super().__init__()
        self.method = "GET"
        self.path = f"/{bucket.name}/{key}"
        self.META = {"REQUEST_METHOD": "GET", "QUERY_STRING": ""}
        self.oss_request_id = new_request_id()

    def get_host(self):
        return "back-to-origin-job"


def copy_key(bucket, key, *, refresh=False, skip_existing=True):
    """Bring `key` from the origin into `bucket` through the rule that matches now.

    A warm-up skips a key already present (no origin request) unless skip_existing
    is off; a refresh (or a warm-up told not to skip) fetches it again and replaces
    it only when the new copy is complete and the old one is still unchanged."""
    existing = bucket.stored_objects.filter(key=key).first()
    if existing is not None and skip_existing and not refresh:
        return KeyOutcome(SKIPPED, "Already in the bucket; the origin was not asked.")
    decision = decisions.decide(bucket, key, 404, {}, "")
    refusal = _not_copyable(decision)
    if refusal:
        return KeyOutcome(FAILED, refusal)
    fetch = MirrorFetch(
        _JobRequest(bucket, key), bucket, key, decision, replacing=existing
    )
    response = fetch.respond()
    received, interrupted = _drain(response)
    return _outcome(fetch, response, received, interrupted)


def _not_copyable(decision):
    if decision.action is None:
        return "No Back-to-Origin rule matches this key."
    position = decision.rule.position
    if decision.action != engine.MIRROR:
        return f"Rule {position} is a redirection: there is nothing to copy."
    if decision.rule.proxy_only:
        return f"Rule {position} only passes objects through (MirrorProxyPass): nothing is saved."
    return ""


def _drain(response):
    """Read the answer as a client would (that is what runs the save); returns
    (bytes read, the message of a mirror cut short or "")."""
    received = 0
    try:
        if response.streaming:
            for chunk in response.streaming_content:
                received += len(chunk)
        else:
            received = len(response.content)
    except MirrorInterrupted as error:
        return received, error.strerror or str(error)
    finally:
        response.close()
    return received, ""


def _outcome(fetch, response, received, interrupted):
    logged = fetch.logged
    if logged is not None:
        outcome, message, failed = logged
        if outcome == OriginFetch.Outcome.SAVED:
            return KeyOutcome(SAVED, bytes=received)
        if failed or interrupted or outcome == OriginFetch.Outcome.NOT_FOUND:
            return KeyOutcome(FAILED, message or interrupted)
        # Not saved, and rightly: an upload or delete of the key meanwhile won.
        return KeyOutcome(SKIPPED, message)
    if response.status_code == 503:
        return KeyOutcome(RETRY, "Every origin fetch slot was busy.")
    if response.status_code == 200:
        # A request we waited for (single flight) saved it.
        return KeyOutcome(SKIPPED, "Saved meanwhile by another request for it.")
    return KeyOutcome(FAILED, _error_message(response))


def _error_message(response):
    body = b"" if response.streaming else response.content
    match = _MESSAGE_RE.search(body)
    if match:
        return html.unescape(match.group(1).decode("utf-8", "replace"))
    return f"HTTP {response.status_code}."
