"""Housekeeping sweeps the outcome rows of single flight on PostgreSQL. The table
exists on either engine, so this runs on SQLite too."""

from datetime import timedelta

import pytest
from django.utils import timezone

from config.housekeeping import sweep_once
from origin.models import FlightOutcome

pytestmark = pytest.mark.django_db

FAILURE = {"status": 424, "code": "MirrorFailed", "message": "origin 500"}
# On PostgreSQL leaders write outcomes on a connection of their own, outside any
# test's transaction: other tests' rows may be there too. This test's bucket id is
# one no test bucket has.
BUCKET_ID = 2**31 - 1


def outcome(key_digest, age_seconds):
    return FlightOutcome.objects.create(
        bucket_id=BUCKET_ID,
        key_digest=key_digest,
        outcome=FAILURE,
        finished_at=timezone.now() - timedelta(seconds=age_seconds),
    )


def test_a_housekeeping_pass_removes_outcomes_no_waiter_can_need(settings):
    settings.MIRROR_WAIT_SECONDS = 300
    outcome("a" * 64, age_seconds=300 + 61)
    fresh = outcome("b" * 64, age_seconds=300)

    sweep_once()

    assert list(FlightOutcome.objects.filter(bucket_id=BUCKET_ID)) == [fresh]
