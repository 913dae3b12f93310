"""The rule list shows each rule's fetch counts and the bucket's recent origin fetches."""

import pytest

from origin.models import BackToOriginRule, OriginFetch

pytestmark = pytest.mark.django_db


def log(bucket, rule, outcome, key="a.txt"):
    return OriginFetch.objects.create(
        bucket=bucket,
        rule=rule,
        rule_position=rule.position,
        key=key,
        origin_url=f"https://example.com/{key}",
        status_code=200,
        outcome=outcome,
    )


@pytest.fixture
def rules(bucket):
    first = BackToOriginRule(
        bucket=bucket, mode="mirror", host="example.com", key_prefix="a/"
    )
    first.save_in_order()
    second = BackToOriginRule(
        bucket=bucket, mode="mirror", host="example.org", key_prefix="b/"
    )
    second.save_in_order()
    return first, second


def test_counts_by_rule_in_one_query(bucket, rules, django_assert_num_queries):
    first, second = rules
    for outcome in ("saved", "saved", "failed", "refused", "not_found"):
        log(bucket, first, outcome)
    log(bucket, second, "saved")

    with django_assert_num_queries(1):
        counts = OriginFetch.objects.counts_by_rule(bucket)

    assert counts == {
        first.pk: {"saved": 2, "failed": 2, "total": 5},
        second.pk: {"saved": 1, "failed": 0, "total": 1},
    }


def test_the_rule_list_shows_counts_and_recent_fetches(alice_client, bucket, rules):
    first, _second = rules
    log(bucket, first, "saved", key="a/photo.jpg")
    log(bucket, first, "failed", key="a/broken.jpg")

    html = alice_client.get(
        "/console/buckets/alice-bucket/settings/back-to-origin/"
    ).content.decode()

    assert "Fetches: 1 saved · 1 failed · 2 in all" in html
    assert "Recent origin fetches" in html
    assert "a/photo.jpg" in html
    assert "a/broken.jpg" in html


def test_other_buckets_fetches_are_not_shown(alice_client, bob, bucket, rules):
    from buckets.models import Bucket

    bobs = Bucket.objects.create(owner=bob, name="bob-bucket")
    bobs_rule = BackToOriginRule(bucket=bobs, mode="mirror", host="example.com")
    bobs_rule.save_in_order()
    log(bobs, bobs_rule, "saved", key="secret/plan.pdf")

    html = alice_client.get(
        "/console/buckets/alice-bucket/settings/back-to-origin/"
    ).content.decode()

    assert "secret/plan.pdf" not in html
    assert "Recent origin fetches" not in html
