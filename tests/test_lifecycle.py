"""Bucket lifecycle rules (`?lifecycle`): stored and returned as sent, refused when
they ask for what this server cannot honour, and applied by the lifecycle job.

First the real oss2 SDK (V1 and V4) against gunicorn, whose own workers run the job;
then error shapes and access through Django's test client; then the job itself.
"""

import datetime
import io
import subprocess
import uuid
import xml.etree.ElementTree as ET

import oss2
import pytest
import requests
from django.core.management import call_command
from django.utils import timezone
from oss2 import xml_utils
from oss2.models import (
    AbortMultipartUpload,
    BucketLifecycle,
    FilterNot,
    FilterNotTag,
    LifecycleExpiration,
    LifecycleFilter,
    LifecycleRule,
    NoncurrentVersionExpiration,
    NoncurrentVersionStorageTransition,
    StorageTransition,
    Tagging,
    TaggingRule,
)

from buckets import lifecycle_job, parts
from buckets.models import (
    DeletedKey,
    MultipartUpload,
    ScheduledJob,
    StoredObject,
    UploadedPart,
)
from buckets.models import LifecycleRule as StoredRule
from buckets.storage import ObjectWriter, delete_key, open_blob
from config.housekeeping import lifecycle_if_due
from tests.oss_responses import error_fields
from tests.server_process import BIN, ROOT, GunicornServer, wait_until
from tests.signing import REGION

PASSWORD = "lifecycle-test-password"
DAY = datetime.timedelta(days=1)
CHRISTMAS_2016 = datetime.date(2016, 12, 25)


def tags(**pairs):
    rule = TaggingRule()
    for key, value in pairs.items():
        rule.add(key, value)
    return Tagging(rule)


def canonical(xml):
    return ET.canonicalize(xml, strip_text=False)


# -- the real SDK against gunicorn -------------------------------------------------------


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """gunicorn with two workers whose sweep looks often, applying lifecycle rules
    at most hourly: a test makes the job due by moving its last start back."""
    gunicorn = GunicornServer(
        tmp_path_factory.mktemp("lifecycle-server"),
        WEB_WORKERS="2",
        TMP_SWEEP_SECONDS="0.2",
        LIFECYCLE_INTERVAL_SECONDS="3600",
    )
    gunicorn.keys = gunicorn.add_users(("alice", "bob"), PASSWORD)
    gunicorn.start()
    try:
        yield gunicorn
    finally:
        gunicorn.stop()


def sdk_bucket(server, user="alice", version="v1", name=None):
    key = server.keys[user]
    auth = oss2.AuthV4(*key) if version == "v4" else oss2.Auth(*key)
    return oss2.Bucket(
        auth, server.url, name or f"lc-{uuid.uuid4().hex[:12]}", region=REGION
    )


@pytest.fixture(params=["v1", "v4"])
def alice_bucket(request, server):
    bucket = sdk_bucket(server, version=request.param)
    bucket.create_bucket()
    return bucket


def every_supported_element():
    expire_days = LifecycleRule(
        "days",
        "中文前缀+/",
        status=LifecycleRule.ENABLED,
        expiration=LifecycleExpiration(days=356),
        abort_multipart_upload=AbortMultipartUpload(days=3),
        filter=LifecycleFilter([FilterNot("中文前缀+/keep/")]),
    )
    expire_on_a_date = LifecycleRule(
        "date",
        "logs/",
        status=LifecycleRule.DISABLED,
        expiration=LifecycleExpiration(date=CHRISTMAS_2016),
    )
    created_before = LifecycleRule(
        "created-before",
        "tmp/",
        expiration=LifecycleExpiration(created_before_date=CHRISTMAS_2016),
        abort_multipart_upload=AbortMultipartUpload(
            created_before_date=datetime.date(2016, 12, 20)
        ),
    )
    tagged = LifecycleRule(
        "tagged",
        "reports/",
        expiration=LifecycleExpiration(days=30),
        tagging=tags(kind="draft", owner="alice"),
        filter=LifecycleFilter(
            [FilterNot("reports/final", FilterNotTag("keep", "yes"))],
            object_size_greater_than=203,
            object_size_less_than=311,
        ),
    )
    uploads_only = LifecycleRule(
        "uploads-only", "big/", abort_multipart_upload=AbortMultipartUpload(days=7)
    )
    return BucketLifecycle(
        [expire_days, expire_on_a_date, created_before, tagged, uploads_only]
    )


@pytest.mark.server
class TestWithTheRealSdk:
    def test_every_supported_element_is_returned_as_put(self, alice_bucket):
        lifecycle = every_supported_element()

        assert alice_bucket.put_bucket_lifecycle(lifecycle).status == 200

        sent = xml_utils.to_put_bucket_lifecycle(lifecycle)
        got = alice_bucket._get_bucket_config(oss2.Bucket.LIFECYCLE).read()
        assert canonical(got) == canonical(sent)
        rules = alice_bucket.get_bucket_lifecycle().rules
        assert [(r.id, r.prefix, r.status) for r in rules] == [
            ("days", "中文前缀+/", "Enabled"),
            ("date", "logs/", "Disabled"),
            ("created-before", "tmp/", "Enabled"),
            ("tagged", "reports/", "Enabled"),
            ("uploads-only", "big/", "Enabled"),
        ]
        assert rules[0].expiration.days == 356
        assert rules[0].abort_multipart_upload.days == 3
        assert rules[0].filter.filter_not[0].prefix == "中文前缀+/keep/"
        assert rules[1].expiration.date == CHRISTMAS_2016
        assert rules[2].expiration.created_before_date == CHRISTMAS_2016
        assert rules[2].abort_multipart_upload.created_before_date == datetime.date(
            2016, 12, 20
        )
        assert rules[3].tagging.tag_set.tagging_rule == {
            "kind": "draft",
            "owner": "alice",
        }
        assert (
            rules[3].filter.object_size_greater_than,
            rules[3].filter.object_size_less_than,
            rules[3].filter.filter_not[0].tag.key,
            rules[3].filter.filter_not[0].tag.value,
        ) == (203, 311, "keep", "yes")
        assert rules[4].expiration is None
        assert rules[0].tagging is None

    def test_a_put_replaces_the_whole_configuration(self, alice_bucket):
        alice_bucket.put_bucket_lifecycle(every_supported_element())
        only = LifecycleRule("only", "", expiration=LifecycleExpiration(days=1))

        alice_bucket.put_bucket_lifecycle(BucketLifecycle([only]))

        rules = alice_bucket.get_bucket_lifecycle().rules
        assert [(r.id, r.prefix, r.expiration.days) for r in rules] == [("only", "", 1)]

    def test_delete_removes_it_twice_over_then_get_is_no_such_lifecycle(
        self, alice_bucket
    ):
        with pytest.raises(oss2.exceptions.NoSuchLifecycle):
            alice_bucket.get_bucket_lifecycle()
        alice_bucket.put_bucket_lifecycle(every_supported_element())

        assert alice_bucket.delete_bucket_lifecycle().status == 204
        assert alice_bucket.delete_bucket_lifecycle().status == 204

        with pytest.raises(oss2.exceptions.NoSuchLifecycle):
            alice_bucket.get_bucket_lifecycle()

    def test_overlapping_prefixes_need_the_overlap_header(self, alice_bucket):
        lifecycle = BucketLifecycle(
            [
                LifecycleRule(
                    "a", "前缀/", expiration=LifecycleExpiration(date=CHRISTMAS_2016)
                ),
                LifecycleRule(
                    "b", "前缀/2", expiration=LifecycleExpiration(date=CHRISTMAS_2016)
                ),
            ]
        )
        with pytest.raises(oss2.exceptions.InvalidArgument) as raised:
            alice_bucket.put_bucket_lifecycle(lifecycle)
        assert raised.value.message == "Overlap for same action type Expiration"

        alice_bucket.put_bucket_lifecycle(
            lifecycle, headers={"x-oss-allow-same-action-overlap": "true"}
        )

        assert len(alice_bucket.get_bucket_lifecycle().rules) == 2

    def test_older_version_rules_round_trip(self, alice_bucket):
        rule = LifecycleRule(
            "r",
            "logs/",
            expiration=LifecycleExpiration(expired_detete_marker=True),
            noncurrent_version_expiration=NoncurrentVersionExpiration(30),
            noncurrent_version_sotrage_transitions=[
                NoncurrentVersionStorageTransition(12, oss2.BUCKET_STORAGE_CLASS_IA),
                NoncurrentVersionStorageTransition(
                    20, oss2.BUCKET_STORAGE_CLASS_ARCHIVE
                ),
            ],
        )

        alice_bucket.put_bucket_lifecycle(BucketLifecycle([rule]))

        (got,) = alice_bucket.get_bucket_lifecycle().rules
        assert got.expiration.expired_detete_marker is True
        assert got.noncurrent_version_expiration.noncurrent_days == 30
        assert [
            (t.noncurrent_days, t.storage_class)
            for t in got.noncurrent_version_sotrage_transitions
        ] == [(12, "IA"), (20, "Archive")]

    @pytest.mark.parametrize(
        ("transitions", "element"),
        [
            ([(20, "IA", {}), (12, "Archive", {})], "NoncurrentVersionTransition"),
            ([(40, "IA", {})], "NoncurrentVersionTransition"),  # after they expire
            (
                [
                    (
                        12,
                        "IA",
                        {"is_access_time": True, "return_to_std_when_visit": True},
                    )
                ],
                "ReturnToStdWhenVisit",
            ),
        ],
        ids=["colder-sooner", "after-expiry", "return-to-standard"],
    )
    def test_older_version_rules_that_cannot_hold_are_refused(
        self, alice_bucket, transitions, element
    ):
        rule = LifecycleRule(
            "r",
            "logs/",
            noncurrent_version_expiration=NoncurrentVersionExpiration(30),
            noncurrent_version_sotrage_transitions=[
                NoncurrentVersionStorageTransition(days, storage_class, **options)
                for days, storage_class, options in transitions
            ],
        )

        with pytest.raises(oss2.exceptions.InvalidArgument) as raised:
            alice_bucket.put_bucket_lifecycle(BucketLifecycle([rule]))

        assert raised.value.details["ArgumentName"] == element
        with pytest.raises(oss2.exceptions.NoSuchLifecycle):
            alice_bucket.get_bucket_lifecycle()

    def test_days_and_dates_mixed_in_one_rule_are_an_invalid_request(
        self, alice_bucket
    ):
        rule = LifecycleRule(
            "r",
            "logs/",
            expiration=LifecycleExpiration(created_before_date=CHRISTMAS_2016),
            storage_transitions=[
                StorageTransition(days=356, storage_class=oss2.BUCKET_STORAGE_CLASS_IA)
            ],
        )

        with pytest.raises(oss2.exceptions.InvalidRequest):
            alice_bucket.put_bucket_lifecycle(BucketLifecycle([rule]))

    def test_only_the_owner_reads_writes_or_deletes_it(self, server, alice_bucket):
        alice_bucket.put_bucket_lifecycle(every_supported_element())
        bob = sdk_bucket(server, "bob", name=alice_bucket.bucket_name)
        anonymous = oss2.Bucket(
            oss2.AnonymousAuth(), server.url, alice_bucket.bucket_name
        )
        only = BucketLifecycle(
            [LifecycleRule("x", "", expiration=LifecycleExpiration(days=1))]
        )

        for stranger in (bob, anonymous):
            with pytest.raises(oss2.exceptions.AccessDenied):
                stranger.get_bucket_lifecycle()
            with pytest.raises(oss2.exceptions.AccessDenied):
                stranger.put_bucket_lifecycle(only)
            with pytest.raises(oss2.exceptions.AccessDenied):
                stranger.delete_bucket_lifecycle()

        assert len(alice_bucket.get_bucket_lifecycle().rules) == 5

    def test_the_servers_own_sweep_applies_the_rules(self, server, alice_bucket):
        alice_bucket.put_object("logs/old.txt", b"old")
        alice_bucket.put_object("logs/new.txt", b"new")
        alice_bucket.put_object("other/old.txt", b"old elsewhere")
        age(
            server, alice_bucket.bucket_name, ["logs/old.txt", "other/old.txt"], days=10
        )
        alice_bucket.put_bucket_lifecycle(
            BucketLifecycle(
                [LifecycleRule("logs", "logs/", expiration=LifecycleExpiration(days=5))]
            )
        )

        # Due now: a worker's next sweep (every 0.2 s) claims the run.
        run_python(
            server,
            "from buckets.models import ScheduledJob\n"
            "ScheduledJob.objects.update(last_started='2000-01-01T00:00:00Z')",
        )

        wait_until_gone(alice_bucket, "logs/old.txt")
        assert keys(alice_bucket) == ["logs/new.txt", "other/old.txt"]

    def test_two_runs_at_once_delete_each_object_once_and_never_fail(
        self, server, alice_bucket
    ):
        names = [f"old/{n:03}" for n in range(120)]
        for name in names:
            alice_bucket.put_object(name, name.encode())
        alice_bucket.put_object("old/young", b"young")
        age(server, alice_bucket.bucket_name, names, days=10)
        alice_bucket.put_bucket_lifecycle(
            BucketLifecycle(
                [LifecycleRule("old", "old/", expiration=LifecycleExpiration(days=5))]
            )
        )

        runs = [
            subprocess.Popen(
                [BIN / "python", "manage.py", "apply_lifecycle"],
                cwd=ROOT,
                env=server.env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for _ in range(2)
        ]
        statuses = set()
        while any(run.poll() is None for run in runs):
            statuses.add(listing_status(server, alice_bucket))
        outputs = [run.communicate(timeout=120) for run in runs]

        assert [run.returncode for run in runs] == [0, 0], outputs
        deleted = [int(out.split()[1]) for out, _err in outputs]
        assert sum(deleted) == len(names)
        assert statuses <= {200}
        assert keys(alice_bucket) == ["old/young"]


def run_python(server, script):
    return server.manage("shell", "-c", script)


def age(server, bucket_name, names, *, days):
    """Move the objects' Last-Modified `days` into the past, on the server's database."""
    run_python(
        server,
        "import datetime\n"
        "from django.utils import timezone\n"
        "from buckets.models import StoredObject\n"
        f"StoredObject.objects.filter(bucket__name={bucket_name!r}, key__in={names!r})"
        f".update(last_modified=timezone.now() - datetime.timedelta(days={days}))",
    )


def keys(bucket):
    return [obj.key for obj in oss2.ObjectIterator(bucket)]


def listing_status(server, bucket):
    try:
        return bucket.list_objects(prefix="old/", max_keys=5).status
    except oss2.exceptions.OssError as error:
        return error.status
    except requests.RequestException:
        return "no answer"


def wait_until_gone(bucket, key, timeout=30):
    wait_until(lambda: not bucket.object_exists(key), f"{key} expires", timeout)


# -- error shapes and access, through Django's test client --------------------------------


def lifecycle_xml(*rules):
    return (
        "<LifecycleConfiguration>"
        + "".join(f"<Rule>{r}</Rule>" for r in rules)
        + "</LifecycleConfiguration>"
    ).encode()


DAYS_RULE = "<ID>r</ID><Prefix>logs/</Prefix><Status>Enabled</Status><Expiration><Days>3</Days></Expiration>"


@pytest.fixture
def put_lifecycle(alice_signed_client, bucket):
    def put(body, headers=None):
        return alice_signed_client(
            "PUT", "alice-bucket", params={"lifecycle": ""}, body=body, headers=headers
        )

    return put


@pytest.mark.parametrize(
    ("rule", "code", "argument"),
    [
        (DAYS_RULE.replace("3", "0"), "InvalidArgument", "Expiration/Days"),
        (DAYS_RULE.replace("3", "-1"), "InvalidArgument", "Expiration/Days"),
        (DAYS_RULE.replace("3", "9" * 40), "InvalidArgument", "Expiration/Days"),
        (DAYS_RULE.replace("3", "three"), "InvalidArgument", "Expiration/Days"),
        (
            DAYS_RULE.replace(
                "<Days>3</Days>", "<Date>2016-12-25T08:00:00.000Z</Date>"
            ),
            "InvalidArgument",
            "Expiration/Date",
        ),
        (
            DAYS_RULE.replace(
                "<Days>3</Days>", "<Date>2016-02-30T00:00:00.000Z</Date>"
            ),
            "InvalidArgument",
            "Expiration/Date",
        ),
        (
            DAYS_RULE.replace(
                "<Days>3</Days>",
                "<Days>3</Days><CreatedBeforeDate>2016-12-25T00:00:00.000Z</CreatedBeforeDate>",
            ),
            "InvalidArgument",
            "Expiration",
        ),
        (DAYS_RULE.replace("Enabled", "On"), "InvalidArgument", "Status"),
        (DAYS_RULE + "<Owner>x</Owner>", "InvalidArgument", "Owner"),
        # Transitions (tests/test_lifecycle_transitions.py has the rest).
        (
            DAYS_RULE
            + "<Transition><Days>3</Days><StorageClass>IA</StorageClass></Transition>",
            "InvalidArgument",
            "Transition",  # not before the objects expire
        ),
        (
            "<ID>r</ID><Prefix>a/</Prefix><Status>Enabled</Status>",
            "InvalidArgument",
            "Rule",
        ),
        (
            "<ID>r</ID><Prefix>a/</Prefix><Status>Enabled</Status>"
            "<AbortMultipartUpload><Days>1</Days></AbortMultipartUpload>"
            "<Tag><Key>k</Key><Value>v</Value></Tag>",
            "InvalidArgument",
            "AbortMultipartUpload",
        ),
        (
            DAYS_RULE + "<Filter><Not><Prefix>other/</Prefix></Not></Filter>",
            "InvalidArgument",
            "Not/Prefix",
        ),
        (
            DAYS_RULE
            + "<Filter><ObjectSizeGreaterThan>10</ObjectSizeGreaterThan>"
            + "<ObjectSizeLessThan>5</ObjectSizeLessThan></Filter>",
            "InvalidArgument",
            "ObjectSizeLessThan",
        ),
        (
            DAYS_RULE + "<Tag><Key>%&amp;</Key><Value>v</Value></Tag>",
            "InvalidTag",
            None,
        ),
    ],
)
def test_a_refused_rule_names_what_is_wrong_and_stores_nothing(
    put_lifecycle, bucket, rule, code, argument
):
    response = put_lifecycle(lifecycle_xml(rule))

    fields = error_fields(response)
    assert (response.status_code, fields["Code"]) == (400, code)
    assert fields.get("ArgumentName") == argument
    assert not bucket.lifecycle_rules.exists()


@pytest.mark.parametrize(
    "body",
    [
        b"<LifecycleConfiguration>",
        b"<Lifecycle/>",
        b"<LifecycleConfiguration/>",
        b'<!DOCTYPE x [<!ENTITY a "aaaa">]><LifecycleConfiguration>&a;</LifecycleConfiguration>',
        lifecycle_xml(
            "<ID>r</ID><Prefix>a/</Prefix><Expiration><Days>1</Days></Expiration>"
        ),
    ],
)
def test_malformed_documents_are_malformed_xml(put_lifecycle, bucket, body):
    response = put_lifecycle(body)

    assert (response.status_code, error_fields(response)["Code"]) == (
        400,
        "MalformedXML",
    )
    assert not bucket.lifecycle_rules.exists()


def test_rule_ids_must_be_unique_and_a_missing_one_is_generated(put_lifecycle, bucket):
    other = DAYS_RULE.replace("logs/", "tmp/")
    duplicate = put_lifecycle(lifecycle_xml(DAYS_RULE, other))
    assert error_fields(duplicate)["ArgumentName"] == "ID"

    response = put_lifecycle(lifecycle_xml(DAYS_RULE.replace("<ID>r</ID>", ""), other))

    assert response.status_code == 200
    generated, given = bucket.lifecycle_rules.values_list("rule_id", flat=True)
    assert (len(generated), given) == (32, "r")


def test_a_thousand_rules_are_accepted_and_one_more_is_refused(put_lifecycle, bucket):
    rules = [
        DAYS_RULE.replace("<ID>r</ID>", f"<ID>r{n}</ID>").replace("logs/", f"{n}/")
        for n in range(1001)
    ]
    # "1/" and "10/" do not overlap; every prefix ends with "/".

    refused = put_lifecycle(lifecycle_xml(*rules))
    accepted = put_lifecycle(lifecycle_xml(*rules[:1000]))

    assert error_fields(refused)["ArgumentName"] == "Rule"
    assert accepted.status_code == 200
    assert bucket.lifecycle_rules.count() == 1000


def test_a_refused_put_keeps_the_previous_configuration(put_lifecycle, bucket):
    put_lifecycle(lifecycle_xml(DAYS_RULE))

    put_lifecycle(lifecycle_xml(DAYS_RULE.replace("3", "0")))

    assert list(bucket.lifecycle_rules.values_list("expiration_days", flat=True)) == [3]


def test_only_the_owner_may_touch_it(put_lifecycle, bucket, bob_client):
    put_lifecycle(lifecycle_xml(DAYS_RULE))

    for method in ("get", "put", "delete"):
        response = getattr(bob_client, method)("/alice-bucket/?lifecycle")
        assert error_fields(response)["Code"] == "AccessDenied"
    assert bucket.lifecycle_rules.count() == 1


# -- the job -----------------------------------------------------------------------------


@pytest.fixture
def rule(bucket):
    def make(prefix="", status=StoredRule.Status.ENABLED, **fields):
        position = bucket.lifecycle_rules.count() + 1
        return StoredRule.objects.create(
            bucket=bucket,
            position=position,
            rule_id=f"rule-{position}",
            prefix=prefix,
            status=status,
            **fields,
        )

    return make


@pytest.fixture
def objects(bucket, put_object):
    """objects(days_old, *keys): put each key, last modified that many days ago."""

    def make(days_old, *keys):
        for key in keys:
            put_object(bucket, key, key.encode())
        StoredObject.objects.filter(bucket=bucket, key__in=keys).update(
            last_modified=timezone.now() - days_old * DAY
        )

    return make


def apply(now=None):
    return lifecycle_job.apply_lifecycle(now or timezone.now())


def remaining(bucket):
    return list(bucket.stored_objects.values_list("key", flat=True))


def test_objects_older_than_days_go_younger_ones_and_other_prefixes_stay(
    bucket, rule, objects, django_capture_on_commit_callbacks, settings
):
    objects(10, "logs/old", "logs/a/old", "other/old", "logsx")
    objects(2, "logs/young")
    rule("logs/", expiration_days=5)
    old_blob = StoredObject.objects.get(key="logs/old").blob

    with django_capture_on_commit_callbacks(execute=True):
        outcome = apply()

    assert outcome == lifecycle_job.LifecycleOutcome(deleted_objects=2)
    assert remaining(bucket) == ["logs/young", "logsx", "other/old"]
    assert not (settings.OBJECT_STORAGE_DIR / old_blob).exists()
    # As any delete: a mirror fetch of the key still in flight does not bring it back.
    assert DeletedKey.objects.filter(key="logs/old").exists()


def test_disabled_rules_do_nothing(bucket, rule, objects):
    objects(10, "logs/old")
    rule("logs/", status=StoredRule.Status.DISABLED, expiration_days=1)

    assert apply().deleted_objects == 0
    assert remaining(bucket) == ["logs/old"]


def test_a_date_rule_takes_everything_from_that_day_on(bucket, rule, objects):
    objects(0, "logs/new")
    objects(400, "logs/ancient")
    rule("logs/", expiration_date=datetime.date(2030, 1, 1))
    new_years_eve = datetime.datetime(2029, 12, 31, 23, 59, tzinfo=datetime.UTC)

    assert apply(new_years_eve).deleted_objects == 0
    assert apply(new_years_eve + datetime.timedelta(minutes=1)).deleted_objects == 2


def test_a_created_before_date_rule_takes_what_was_last_modified_before_it(
    bucket, rule, objects
):
    objects(0, "logs/new")
    objects(400, "logs/ancient")
    rule("logs/", expiration_created_before_date=timezone.now().date() - 30 * DAY)

    assert apply().deleted_objects == 1
    assert remaining(bucket) == ["logs/new"]


def test_size_not_and_tag_conditions_narrow_what_expires(bucket, rule, objects):
    objects(10, "r/small", "r/big-enough", "r/keep/big-enough", "r/untagged-big")
    StoredObject.objects.filter(
        key__in=["r/small", "r/big-enough", "r/keep/big-enough"]
    ).update(tags={"kind": "draft"})
    rule(
        "r/",
        expiration_days=1,
        tags=[["kind", "draft"]],
        has_filter=True,
        object_size_greater_than=len("r/small"),
        filter_not=[{"prefix": "r/keep/", "tag": None}],
    )

    assert apply().deleted_objects == 1
    assert remaining(bucket) == ["r/keep/big-enough", "r/small", "r/untagged-big"]


def test_a_not_with_a_tag_spares_only_tagged_objects_under_its_prefix(
    bucket, rule, objects
):
    objects(10, "r/keep/tagged", "r/keep/plain")
    StoredObject.objects.filter(key="r/keep/tagged").update(tags={"keep": "yes"})
    rule(
        "r/",
        expiration_days=1,
        has_filter=True,
        filter_not=[{"prefix": "r/keep/", "tag": ["keep", "yes"]}],
    )

    apply()

    assert remaining(bucket) == ["r/keep/tagged"]


def test_an_object_rewritten_since_it_was_judged_is_not_deleted(
    bucket, objects, put_object
):
    objects(10, "logs/old")
    judged = StoredObject.objects.get(key="logs/old").blob
    put_object(bucket, "logs/old", b"written again just now")

    assert delete_key(bucket, "logs/old", expect_blob=judged) is False

    assert body(bucket, "logs/old") == b"written again just now"


def body(bucket, key):
    with open_blob(bucket.stored_objects.get(key=key)) as handle:
        return handle.read()


def start_upload(bucket, key, *, days_old, part_days_old=None):
    upload = MultipartUpload.objects.create(
        bucket=bucket, key=key, upload_id=MultipartUpload.new_upload_id()
    )
    with ObjectWriter() as writer:
        writer.write(b"a part")
        parts.save_part(upload, 1, writer)
    MultipartUpload.objects.filter(pk=upload.pk).update(
        initiated=timezone.now() - days_old * DAY
    )
    UploadedPart.objects.filter(upload=upload).update(
        last_modified=timezone.now()
        - (part_days_old if part_days_old is not None else days_old) * DAY
    )
    return upload


def test_abort_multipart_upload_removes_old_uploads_and_their_part_files(
    bucket, rule, django_capture_on_commit_callbacks
):
    old = start_upload(bucket, "big/old.bin", days_old=10)
    young = start_upload(bucket, "big/young.bin", days_old=1)
    busy = start_upload(bucket, "big/busy.bin", days_old=10, part_days_old=0)
    elsewhere = start_upload(bucket, "other/old.bin", days_old=10)
    rule("big/", abort_days=5)

    with django_capture_on_commit_callbacks(execute=True):
        outcome = apply()

    assert outcome == lifecycle_job.LifecycleOutcome(aborted_uploads=1)
    left = set(MultipartUpload.objects.values_list("upload_id", flat=True))
    assert left == {young.upload_id, busy.upload_id, elsewhere.upload_id}
    assert not (parts.parts_root() / old.upload_id).exists()
    assert (parts.parts_root() / young.upload_id).exists()


def test_abort_multipart_upload_by_date(
    bucket, rule, django_capture_on_commit_callbacks
):
    old = start_upload(bucket, "big/old.bin", days_old=400)
    start_upload(bucket, "big/young.bin", days_old=1)
    rule("big/", abort_created_before_date=timezone.now().date() - 30 * DAY)

    with django_capture_on_commit_callbacks(execute=True):
        assert apply().aborted_uploads == 1

    assert not MultipartUpload.objects.filter(pk=old.pk).exists()


def test_the_command_applies_the_rules(bucket, rule, objects):
    objects(10, "logs/old")
    rule("logs/", expiration_days=5)
    out = io.StringIO()

    call_command("apply_lifecycle", stdout=out)

    assert out.getvalue() == (
        "Deleted 1 expired object(s), moved 0 to a colder class and aborted 0 "
        "expired multipart upload(s).\n"
    )
    assert remaining(bucket) == []


def test_the_job_runs_once_per_interval_whichever_worker_asks(
    bucket, rule, objects, settings
):
    settings.LIFECYCLE_INTERVAL_SECONDS = 3600
    objects(10, "logs/first")
    rule("logs/", expiration_days=5)

    assert lifecycle_job.run_if_due().deleted_objects == 1
    objects(10, "logs/second")
    assert lifecycle_job.run_if_due() is None  # another worker's run, within the hour
    ScheduledJob.objects.update(
        last_started=timezone.now() - datetime.timedelta(seconds=3601)
    )
    assert lifecycle_job.run_if_due().deleted_objects == 1


def test_the_housekeeping_sweep_runs_the_job_when_due(bucket, rule, objects):
    objects(10, "logs/old")
    rule("logs/", expiration_days=5)

    # Last: like the sweep thread, it closes this thread's database connection.
    assert lifecycle_if_due().deleted_objects == 1
