"""Lifecycle Transitions: stored and returned as sent, refused as OSS refuses them,
and applied by the lifecycle job, which moves objects to a colder storage class
(the bytes stay; the class decides how they may be read).

The SDK round trip runs on the real gunicorn (V1 and V4); refusals go through
Django's test client; the job is called with a `now`.
"""

import datetime
import uuid

import oss2
import pytest
from django.utils import timezone
from oss2.models import (
    BucketLifecycle,
    FilterNot,
    FilterNotTag,
    LifecycleExpiration,
    LifecycleFilter,
    LifecycleRule,
    StorageTransition,
    Tagging,
    TaggingRule,
)

from buckets import lifecycle_job
from buckets.models import LifecycleRule as StoredRule
from buckets.models import StoredObject
from tests.oss_responses import error_fields

DAY = datetime.timedelta(days=1)
KIB = 1024


def unique_name(prefix):
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


# -- the real SDK ------------------------------------------------------------------------


@pytest.mark.server
def test_transitions_with_tags_and_filters_come_back_as_put(as_user, sdk_version):
    bucket = as_user("alice", unique_name("lct"))
    bucket.create_bucket()
    bucket.put_bucket_access_monitor("Enabled")
    tagging = TaggingRule()
    tagging.add("kind", "log")
    rule = LifecycleRule(
        "cold",
        "logs/",
        status=LifecycleRule.ENABLED,
        expiration=LifecycleExpiration(days=400),
        tagging=Tagging(tagging),
        filter=LifecycleFilter(
            [FilterNot("logs/keep/", FilterNotTag("keep", "yes"))],
            object_size_greater_than=10,
            object_size_less_than=10 * KIB,
        ),
        storage_transitions=[
            StorageTransition(
                days=30,
                storage_class=oss2.BUCKET_STORAGE_CLASS_IA,
                is_access_time=True,
                return_to_std_when_visit=True,
                allow_small_file=False,
            ),
            StorageTransition(days=90, storage_class=oss2.BUCKET_STORAGE_CLASS_ARCHIVE),
            StorageTransition(
                days=180, storage_class=oss2.BUCKET_STORAGE_CLASS_COLD_ARCHIVE
            ),
        ],
    )
    by_date = LifecycleRule(
        "by-date",
        "old/",
        storage_transitions=[
            StorageTransition(
                created_before_date=datetime.date(2016, 12, 25),
                storage_class=oss2.BUCKET_STORAGE_CLASS_DEEP_COLD_ARCHIVE,
            )
        ],
    )

    bucket.put_bucket_lifecycle(BucketLifecycle([rule, by_date]))
    got = bucket.get_bucket_lifecycle().rules

    first = [
        (t.days, t.storage_class, t.is_access_time, t.return_to_std_when_visit)
        for t in got[0].storage_transitions
    ]
    assert first == [
        (30, "IA", True, True),
        (90, "Archive", None, None),
        (180, "ColdArchive", None, None),
    ]
    assert got[0].storage_transitions[0].allow_small_file is False
    assert got[0].tagging.tag_set.tagging_rule == {"kind": "log"}
    assert got[0].filter.object_size_less_than == 10 * KIB
    assert got[1].storage_transitions[0].created_before_date == datetime.date(
        2016, 12, 25
    )
    assert got[1].expiration is None


@pytest.mark.server
def test_an_access_time_rule_needs_the_access_monitor(as_user):
    bucket = as_user("alice", unique_name("lca"))
    bucket.create_bucket()
    rule = LifecycleRule(
        "r",
        "logs/",
        storage_transitions=[
            StorageTransition(days=30, storage_class="IA", is_access_time=True)
        ],
    )

    with pytest.raises(oss2.exceptions.InvalidArgument) as raised:
        bucket.put_bucket_lifecycle(BucketLifecycle([rule]))

    assert raised.value.details["ArgumentName"] == "IsAccessTime"
    with pytest.raises(oss2.exceptions.NoSuchLifecycle):
        bucket.get_bucket_lifecycle()


# -- refusals, through Django's test client ---------------------------------------------


def lifecycle_xml(*rules):
    return (
        "<LifecycleConfiguration>"
        + "".join(f"<Rule>{r}</Rule>" for r in rules)
        + "</LifecycleConfiguration>"
    ).encode()


HEAD = "<ID>r</ID><Prefix>logs/</Prefix><Status>Enabled</Status>"
EXPIRE_10 = "<Expiration><Days>10</Days></Expiration>"


def transition(body):
    return f"<Transition>{body}</Transition>"


def tag(key, value):
    return f"<Tag><Key>{key}</Key><Value>{value}</Value></Tag>"


@pytest.fixture
def put_lifecycle(alice_signed_client, bucket):
    def put(body):
        return alice_signed_client(
            "PUT", "alice-bucket", params={"lifecycle": ""}, body=body
        )

    return put


@pytest.mark.parametrize(
    ("rule", "code", "argument"),
    [
        (
            HEAD + transition("<Days>5</Days><StorageClass>Standard</StorageClass>"),
            "InvalidArgument",
            "StorageClass",
        ),
        (
            HEAD + transition("<Days>5</Days><StorageClass>Glacier</StorageClass>"),
            "InvalidArgument",
            "StorageClass",
        ),
        (HEAD + transition("<Days>5</Days>"), "MalformedXML", None),
        (
            HEAD + transition("<StorageClass>IA</StorageClass>"),
            "InvalidArgument",
            "Transition",
        ),
        (
            HEAD
            + transition(
                "<Days>5</Days><CreatedBeforeDate>2016-12-25T00:00:00.000Z"
                "</CreatedBeforeDate><StorageClass>IA</StorageClass>"
            ),
            "InvalidRequest",
            None,
        ),
        (
            HEAD
            + transition("<Days>5</Days><StorageClass>IA</StorageClass>")
            + transition("<Days>6</Days><StorageClass>IA</StorageClass>"),
            "InvalidArgument",
            "StorageClass",
        ),
        # Colder classes must be for older objects.
        (
            HEAD
            + transition("<Days>5</Days><StorageClass>IA</StorageClass>")
            + transition("<Days>2</Days><StorageClass>Archive</StorageClass>"),
            "InvalidArgument",
            "Transition",
        ),
        (
            HEAD
            + transition(
                "<CreatedBeforeDate>2016-12-25T00:00:00.000Z</CreatedBeforeDate>"
                "<StorageClass>IA</StorageClass>"
            )
            + transition(
                "<CreatedBeforeDate>2016-12-26T00:00:00.000Z</CreatedBeforeDate>"
                "<StorageClass>Archive</StorageClass>"
            ),
            "InvalidArgument",
            "Transition",
        ),
        # Transitions come before expiry.
        (
            HEAD
            + EXPIRE_10
            + transition("<Days>10</Days><StorageClass>IA</StorageClass>"),
            "InvalidArgument",
            "Transition",
        ),
        (
            HEAD
            + transition(
                "<Days>5</Days><StorageClass>IA</StorageClass><IsAccessTime>yes</IsAccessTime>"
            ),
            "InvalidArgument",
            "IsAccessTime",
        ),
        (
            HEAD
            + transition(
                "<Days>5</Days><StorageClass>IA</StorageClass>"
                "<ReturnToStdWhenVisit>true</ReturnToStdWhenVisit>"
            ),
            "InvalidArgument",
            "ReturnToStdWhenVisit",
        ),
        (
            HEAD
            + transition(
                "<Days>5</Days><StorageClass>IA</StorageClass>"
                "<AllowSmallFile>true</AllowSmallFile>"
            ),
            "InvalidArgument",
            "AllowSmallFile",
        ),
        (
            HEAD
            + transition(
                "<CreatedBeforeDate>2016-12-25T00:00:00.000Z</CreatedBeforeDate>"
                "<StorageClass>IA</StorageClass><IsAccessTime>true</IsAccessTime>"
            ),
            "InvalidArgument",
            "IsAccessTime",
        ),
        (
            HEAD
            + transition(
                "<Days>5</Days><StorageClass>IA</StorageClass><IsAccessTime>true</IsAccessTime>"
            ),
            "InvalidArgument",
            "IsAccessTime",  # the bucket's access monitor is off
        ),
        # A character no tag may hold.
        (HEAD + EXPIRE_10 + tag("k", ")%"), "InvalidTag", None),
        (HEAD + EXPIRE_10 + tag("k%", "v"), "InvalidTag", None),
        (
            HEAD + EXPIRE_10 + "<AtimeBase>1</AtimeBase>",
            "InvalidArgument",
            "AtimeBase",
        ),
    ],
)
def test_a_refused_transition_names_what_is_wrong_and_stores_nothing(
    put_lifecycle, bucket, rule, code, argument
):
    response = put_lifecycle(lifecycle_xml(rule))

    fields = error_fields(response)
    assert (response.status_code, fields["Code"]) == (400, code)
    assert fields.get("ArgumentName") == argument
    assert not bucket.lifecycle_rules.exists()


@pytest.mark.parametrize(
    "tags",
    [
        [(f"k{i}", "v") for i in range(11)],  # more tags than an object can have
        [("k" * 129, "v"), ("k0", "v")],  # a key longer than an object tag's
        [("k0", "v" * 257)],  # a value longer than an object tag's
    ],
    ids=["eleven-tags", "long-key", "long-value"],
)
def test_a_rule_with_tags_no_object_can_carry_is_kept_and_matches_nothing(
    put_lifecycle, bucket, objects, tags
):
    # As on OSS: accepted, stored and applied; it can select no object.
    rule = HEAD + EXPIRE_10 + "".join(tag(key, value) for key, value in tags)
    assert put_lifecycle(lifecycle_xml(rule)).status_code == 200
    assert bucket.lifecycle_rules.get().tags == [list(pair) for pair in tags]
    objects(30, "logs/a.txt", "logs/b.txt")
    # The nearest tags an object can carry: 10 of them, each within the limits.
    nearest = {key[:128]: value[:256] for key, value in tags[:10]}
    bucket.stored_objects.filter(key="logs/a.txt").update(tags=nearest)
    bucket.stored_objects.filter(key="logs/b.txt").update(tags={"k0": "v"})

    apply()

    assert bucket.stored_objects.count() == 2


def test_overlapping_transition_rules_need_the_overlap_header(
    alice_signed_client, bucket
):
    body = lifecycle_xml(
        "<ID>a</ID><Prefix>logs/</Prefix><Status>Enabled</Status>"
        + transition("<Days>5</Days><StorageClass>IA</StorageClass>"),
        "<ID>b</ID><Prefix>logs/x</Prefix><Status>Enabled</Status>"
        + transition("<Days>9</Days><StorageClass>IA</StorageClass>"),
    )

    refused = alice_signed_client(
        "PUT", "alice-bucket", params={"lifecycle": ""}, body=body
    )
    allowed = alice_signed_client(
        "PUT",
        "alice-bucket",
        params={"lifecycle": ""},
        body=body,
        headers={"x-oss-allow-same-action-overlap": "true"},
    )

    assert error_fields(refused)["Message"] == "Overlap for same action type Transition"
    assert allowed.status_code == 200
    assert bucket.lifecycle_rules.count() == 2


# -- the job -----------------------------------------------------------------------------


@pytest.fixture
def rule(bucket):
    def make(prefix="", *, transitions, status=StoredRule.Status.ENABLED, **fields):
        position = bucket.lifecycle_rules.count() + 1
        return StoredRule.objects.create(
            bucket=bucket,
            position=position,
            rule_id=f"rule-{position}",
            prefix=prefix,
            status=status,
            transitions=[_transition(**t) for t in transitions],
            **fields,
        )

    return make


def _transition(
    storage_class,
    days=None,
    created_before_date=None,
    is_access_time=None,
    return_to_std_when_visit=None,
    allow_small_file=None,
):
    return {
        "days": days,
        "created_before_date": created_before_date,
        "storage_class": storage_class,
        "is_access_time": is_access_time,
        "return_to_std_when_visit": return_to_std_when_visit,
        "allow_small_file": allow_small_file,
    }


@pytest.fixture
def objects(bucket, put_object):
    """objects(days_old, *keys, size=...): put each key, last modified that long ago."""

    def make(days_old, *keys, size=None):
        for key in keys:
            put_object(bucket, key, b"x" * size if size else key.encode())
        StoredObject.objects.filter(bucket=bucket, key__in=keys).update(
            last_modified=timezone.now() - days_old * DAY
        )

    return make


def classes(bucket):
    return dict(bucket.stored_objects.values_list("key", "storage_class"))


def apply(now=None):
    return lifecycle_job.apply_lifecycle(now or timezone.now())


def test_old_objects_move_to_the_coldest_class_they_are_old_enough_for(
    bucket, rule, objects
):
    objects(200, "logs/ancient")
    objects(60, "logs/old")
    objects(10, "logs/young")
    objects(200, "other/ancient")
    rule(
        "logs/",
        transitions=[
            {"storage_class": "IA", "days": 30},
            {"storage_class": "Archive", "days": 90},
        ],
    )

    outcome = apply()

    assert outcome == lifecycle_job.LifecycleOutcome(transitioned_objects=2)
    assert classes(bucket) == {
        "logs/ancient": "Archive",
        "logs/old": "IA",
        "logs/young": "Standard",
        "other/ancient": "Standard",
    }
    # Applied again, nothing is left to move; and a class never gets warmer.
    assert apply().transitioned_objects == 0


def test_an_object_already_colder_than_the_target_stays(bucket, rule, objects):
    objects(60, "logs/cold")
    StoredObject.objects.filter(key="logs/cold").update(storage_class="ColdArchive")
    rule("logs/", transitions=[{"storage_class": "IA", "days": 30}])

    apply()

    assert classes(bucket) == {"logs/cold": "ColdArchive"}


def test_a_date_transition_moves_what_was_written_before_the_date(
    bucket, rule, objects
):
    objects(400, "logs/ancient")
    objects(0, "logs/new")
    rule(
        "logs/",
        transitions=[
            {
                "storage_class": "DeepColdArchive",
                "created_before_date": (timezone.now().date() - 30 * DAY).isoformat(),
            }
        ],
    )

    apply()

    assert classes(bucket) == {
        "logs/ancient": "DeepColdArchive",
        "logs/new": "Standard",
    }


def test_tags_not_and_size_filters_narrow_what_moves(bucket, rule, objects):
    objects(60, "r/tagged-big", "r/keep/tagged-big", "r/untagged-big", size=100)
    objects(60, "r/tagged-small", size=5)
    StoredObject.objects.exclude(key="r/untagged-big").update(tags={"kind": "log"})
    StoredObject.objects.filter(key="r/keep/tagged-big").update(
        tags={"kind": "log", "keep": "yes"}
    )
    rule(
        "r/",
        transitions=[{"storage_class": "IA", "days": 30}],
        tags=[["kind", "log"]],
        has_filter=True,
        object_size_greater_than=10,
        filter_not=[{"prefix": "r/keep/", "tag": ["keep", "yes"]}],
    )

    apply()

    assert classes(bucket) == {
        "r/keep/tagged-big": "Standard",
        "r/tagged-big": "IA",
        "r/tagged-small": "Standard",
        "r/untagged-big": "Standard",
    }


def test_disabled_rules_move_nothing(bucket, rule, objects):
    objects(60, "logs/old")
    rule(
        "logs/",
        status=StoredRule.Status.DISABLED,
        transitions=[{"storage_class": "IA", "days": 1}],
    )

    assert apply().transitioned_objects == 0
    assert classes(bucket) == {"logs/old": "Standard"}


def test_an_access_time_transition_counts_from_the_last_read(bucket, rule, objects):
    now = timezone.now()
    bucket.access_monitor_since = now - 100 * DAY
    bucket.save()
    objects(90, "a/unread", "a/read-lately", "a/small", size=None)
    StoredObject.objects.filter(key__in=["a/unread", "a/read-lately"]).update(
        size=64 * KIB
    )
    StoredObject.objects.filter(key="a/read-lately").update(
        last_access_time=now - 2 * DAY
    )
    rule(
        "a/",
        transitions=[
            {
                "storage_class": "IA",
                "days": 30,
                "is_access_time": True,
                "return_to_std_when_visit": True,
            }
        ],
    )

    apply(now)

    # Smaller than 64 KiB stays without AllowSmallFile, as on OSS.
    assert classes(bucket) == {
        "a/read-lately": "Standard",
        "a/small": "Standard",
        "a/unread": "IA",
    }
    assert StoredObject.objects.get(key="a/unread").return_to_standard_on_read


def test_allow_small_file_moves_small_objects_too(bucket, rule, objects):
    bucket.access_monitor_since = timezone.now() - 100 * DAY
    bucket.save()
    objects(90, "a/small")
    rule(
        "a/",
        transitions=[
            {
                "storage_class": "IA",
                "days": 30,
                "is_access_time": True,
                "allow_small_file": True,
            }
        ],
    )

    apply()

    assert classes(bucket) == {"a/small": "IA"}


def test_tracking_younger_than_the_days_moves_nothing(bucket, rule, objects):
    """Tracking enabled 5 days ago cannot tell what was unread for 30."""
    bucket.access_monitor_since = timezone.now() - 5 * DAY
    bucket.save()
    objects(90, "a/big", size=64 * KIB)
    rule(
        "a/", transitions=[{"storage_class": "IA", "days": 30, "is_access_time": True}]
    )

    assert apply().transitioned_objects == 0


def test_an_object_rewritten_since_it_was_judged_keeps_its_new_class(
    bucket, rule, objects, put_object, monkeypatch
):
    objects(60, "logs/old")
    rule("logs/", transitions=[{"storage_class": "Archive", "days": 30}])
    real_selects = StoredRule.selects

    def rewrite_first(self, obj):
        put_object(bucket, obj.key, b"new bytes")  # lands after the page was read
        return real_selects(self, obj)

    monkeypatch.setattr(StoredRule, "selects", rewrite_first)

    assert apply().transitioned_objects == 0
    assert classes(bucket) == {"logs/old": "Standard"}
