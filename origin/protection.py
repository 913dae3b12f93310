"""Origin protection per Mirroring rule (SPEC §11): a negative cache of origin 404s,
a cap on concurrent fetches per origin host, and a circuit breaker. All off (0) by
default; origin/mirroring.py asks an OriginGuard before each fetch and tells it
what the origin answered.

Where the state lives, and why:
- remembered 404s and the breaker are rows (NegativeCacheEntry, OriginBreaker),
  so every worker and every server on the database sees the same ones; each
  change is one conditional UPDATE, atomic on SQLite and PostgreSQL alike;
- the concurrency cap is N lock files per rule and origin host under DATA_DIR,
  held with flock like single flight's (origin/flight.py): every worker process
  of a server shares them, the kernel frees a place when a process dies (a
  killed worker never keeps one), and no database connection is held for the
  length of a fetch. Servers that share a database each allow their own N.
"""

import fcntl
import hashlib
import logging
import os
import time
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import urlsplit

from django.conf import settings
from django.db import IntegrityError
from django.db.models import F, Q
from django.utils import timezone

from buckets import errors
from origin.models import (
    PROTECTION_LIMITS,
    BackToOriginRule,
    NegativeCacheEntry,
    OriginBreaker,
    OriginFetch,
)

logger = logging.getLogger(__name__)

POLL_SECONDS = (0.005, 0.05)  # first and longest wait between tries for a place
# Outcomes that show the origin answering: they close the circuit. A refused
# (internal) address says nothing about the origin, so it counts neither way.
ANSWERED = {
    OriginFetch.Outcome.SAVED,
    OriginFetch.Outcome.NOT_SAVED,
    OriginFetch.Outcome.NOT_FOUND,
    OriginFetch.Outcome.REDIRECT_PASSED,
}


@dataclass(frozen=True)
class Protection:
    """A rule's protection settings (0 = off)."""

    rule_id: int | None = None
    negative_cache_seconds: int = 0
    max_concurrent_fetches: int = 0
    breaker_failures: int = 0
    breaker_open_seconds: int = 0

    @classmethod
    def of_rule(cls, rule):
        """The settings an engine Rule carries (BackToOriginRule.to_engine)."""
        return cls(rule_id=rule.rule_id, **dict(rule.protection))

    @property
    def is_on(self):
        return any(getattr(self, name) for name in PROTECTION_LIMITS)


def key_digest(key):
    """Keys are stored and named only by digest."""
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()


# -- negative cache ----------------------------------------------------------------


def remembered_404_until(rule_id, key):
    """Until when the rule remembers an origin 404 for `key`, or None."""
    return (
        NegativeCacheEntry.objects.filter(
            rule_id=rule_id, key_digest=key_digest(key), expires_at__gt=timezone.now()
        )
        .values_list("expires_at", flat=True)
        .first()
    )


def remember_404(rule_id, key, seconds):
    expires_at = timezone.now() + timedelta(seconds=seconds)
    entries = NegativeCacheEntry.objects.filter(
        rule_id=rule_id, key_digest=key_digest(key)
    )
    if entries.update(expires_at=expires_at):
        return
    try:
        NegativeCacheEntry.objects.create(
            rule_id=rule_id, key_digest=key_digest(key), expires_at=expires_at
        )
    except IntegrityError:  # another worker remembered it first: refresh that row
        entries.update(expires_at=expires_at)


def sweep_negative_cache():
    """Expired remembered 404s (the housekeeping sweep); returns how many went."""
    return NegativeCacheEntry.objects.filter(expires_at__lte=timezone.now()).delete()[0]


# -- circuit breaker ---------------------------------------------------------------

CLOSED, OPEN, HALF_OPEN = "closed", "open", "half-open"


def _breaker_row(rule):
    """(state, row) of a rule's circuit; no query while its breaker is off."""
    row = None
    if rule.breaker_failures and rule.pk:
        row = OriginBreaker.objects.filter(rule_id=rule.pk).first()
    if row is None or row.open_until is None:
        return CLOSED, row
    return (OPEN if row.open_until > timezone.now() else HALF_OPEN), row


def breaker_state(rule):
    """{"state", "failures", "open_until"} of a rule's circuit, for the API and dry run."""
    state, row = _breaker_row(rule)
    open_until = row.open_until if row is not None else None
    return {
        "state": state,
        "failures": row.failures if row is not None else 0,
        "open_until": open_until.isoformat() if open_until else None,
    }


def circuit_notice(rule):
    """The rule row's line about its circuit: empty while closed."""
    state, row = _breaker_row(rule)
    if state == OPEN:
        until = timezone.localtime(row.open_until)
        return f"Origin circuit open until {until:%H:%M:%S} ({row.failures} failures)"
    if state == HALF_OPEN:
        return f"Origin circuit half-open: the next miss is a trial ({row.failures} failures)"
    return ""


def _trial_lease():
    """How long a half-open trial may take before another request may try instead."""
    return timedelta(
        seconds=settings.ORIGIN_DEADLINE_SECONDS + settings.MIRROR_QUEUE_SECONDS + 5
    )


def circuit_open_error(breaker):
    until = timezone.localtime(breaker.open_until)
    return errors.OssError(
        424,
        "MirrorFailed",
        f"The origin circuit is open until {until:%Y-%m-%d %H:%M:%S %Z} after "
        f"{breaker.failures} consecutive failed fetches; the origin was not asked.",
    )


def _trial_taken_error():
    return errors.OssError(
        424,
        "MirrorFailed",
        "The origin circuit is half-open: one trial request is asking the origin; "
        "the origin was not asked again.",
    )


def _count_failure(protection):
    rule_id = protection.rule_id
    OriginBreaker.objects.get_or_create(rule_id=rule_id)  # a race is handled inside
    now = timezone.now()
    breakers = OriginBreaker.objects.filter(rule_id=rule_id)
    breakers.update(failures=F("failures") + 1)
    # Opens a closed circuit at K failures, reopens a half-open one; an open one
    # is not extended by fetches that started before it opened.
    breakers.filter(failures__gte=protection.breaker_failures).exclude(
        open_until__gt=now
    ).update(
        open_until=now + timedelta(seconds=protection.breaker_open_seconds),
        trial_until=None,
    )


def _close_circuit(rule_id):
    OriginBreaker.objects.filter(rule_id=rule_id).exclude(
        failures=0, open_until=None, trial_until=None
    ).update(failures=0, open_until=None, trial_until=None)


# -- concurrency cap ---------------------------------------------------------------


def _places_dir():
    path = settings.DATA_DIR / "origin-places"
    path.mkdir(parents=True, exist_ok=True)
    return path


class HostPlaces:
    """At most `size` fetches at once through a rule to one origin host, across this
    server's worker processes: place i is an flock on file i of the rule+host."""

    def __init__(self, rule_id, host, size):
        digest = hashlib.sha256(f"{rule_id}\0{host.lower()}".encode()).hexdigest()
        self.paths = [_places_dir() / f"{digest}.{index}" for index in range(size)]
        self._fd = None

    def acquire(self, timeout):
        """Take a free place, waiting up to `timeout` s; False if none came free."""
        deadline = time.monotonic() + timeout
        pause = POLL_SECONDS[0]
        while True:
            for path in self.paths:
                if self._try(path):
                    return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(min(pause, max(deadline - time.monotonic(), 0)))
            pause = min(pause * 2, POLL_SECONDS[1])

    def _try(self, path):
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        self._fd = fd
        return True

    def release(self):
        fd, self._fd = self._fd, None
        if fd is not None:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)


# -- one fetch's guard -------------------------------------------------------------


class OriginGuard:
    """One mirror fetch's protection: `refusal()` before the origin is asked, a
    place under the host cap, and `record()` of what the origin answered. Until
    `refusal()` admits the fetch it does nothing (a HEAD mirror is not guarded)."""

    def __init__(self, rule, key, origin_url):
        self.rule = rule
        self.rule_id = rule.rule_id
        self.key = key
        self.host = urlsplit(origin_url).netloc
        self.protection = Protection()  # loaded by refusal()
        self.places = None
        self.trial = False  # this fetch is the half-open circuit's one trial
        self.recorded = False
        self.settled = False  # the origin's answer closed or (re)opened the circuit

    def refusal(self):
        """The answer given without asking the origin (a remembered 404, an open
        circuit), or None: then this fetch is admitted."""
        if self.rule_id is None:
            return None
        self.protection = protection = Protection.of_rule(self.rule)
        if protection.negative_cache_seconds and remembered_404_until(
            self.rule_id, self.key
        ):
            return errors.no_such_key(self.key)
        if protection.breaker_failures:
            return self._breaker_refusal()
        return None

    def _breaker_refusal(self):
        breaker = OriginBreaker.objects.filter(rule_id=self.rule_id).first()
        if breaker is None or breaker.open_until is None:
            return None
        now = timezone.now()
        if breaker.open_until > now:
            return circuit_open_error(breaker)
        claimed = (
            OriginBreaker.objects.filter(pk=breaker.pk, open_until__lte=now)
            .filter(Q(trial_until__isnull=True) | Q(trial_until__lt=now))
            .update(trial_until=now + _trial_lease())
        )
        if not claimed:
            return _trial_taken_error()
        self.trial = True
        return None

    def acquire_place(self, timeout):
        """A place under the rule's cap for its origin host; False after `timeout` s."""
        size = self.protection.max_concurrent_fetches
        if not size:
            return True
        self.places = HostPlaces(self.rule_id, self.host, size)
        return self.places.acquire(timeout)

    def record(self, outcome):
        """What the origin answered (an OriginFetch outcome) feeds the negative
        cache and the breaker; the fetch log must not fail because of it."""
        protection = self.protection
        if not protection.is_on or self.recorded:
            return
        self.recorded = True
        try:
            self._record(outcome)
        except Exception:  # e.g. the rule was cleared while its fetch ran
            logger.exception("could not record the origin's answer for protection")

    def _record(self, outcome):
        protection = self.protection
        if (
            outcome == OriginFetch.Outcome.NOT_FOUND
            and protection.negative_cache_seconds
        ):
            remember_404(self.rule_id, self.key, protection.negative_cache_seconds)
        if not protection.breaker_failures:
            return
        if outcome == OriginFetch.Outcome.FAILED:
            _count_failure(protection)
            self.settled = True
        elif outcome in ANSWERED:
            _close_circuit(self.rule_id)
            self.settled = True

    def release(self):
        if self.places is not None:
            self.places.release()
            self.places = None
        if self.trial and not self.settled:
            # The trial never reached the origin (refused address, no slot): the
            # next request may try instead.
            OriginBreaker.objects.filter(rule_id=self.rule_id).update(trial_until=None)
        self.trial = False


def dry_run_view(rule_id, key):
    """The dry run's view of a matching rule's protection for `key`; None while
    the rule has none (the answer then stays as it was)."""
    rule = BackToOriginRule.objects.filter(pk=rule_id).first()
    if rule is None or not rule.has_protection:
        return None
    return describe(rule, key)


def describe(rule, key):
    """A rule's protection settings and state for `key`."""
    until = remembered_404_until(rule.pk, key) if rule.negative_cache_seconds else None
    return {
        **{name: getattr(rule, name) for name in PROTECTION_LIMITS},
        "remembered_404_until": until.isoformat() if until else None,
        "breaker_state": breaker_state(rule),
    }
