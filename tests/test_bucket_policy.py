"""Bucket policies, pay-by-requester and Block Public Access, through the real oss2
SDK (V1 and V4) against gunicorn with two users: alice owns the buckets, bob is the
other account a policy names (or does not)."""

import json
import uuid

import oss2
import pytest
import requests

from tests.conftest import REGION, oss2_auth

pytestmark = pytest.mark.server


def unique_name(prefix="policy"):
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def bucket_name(as_user):
    name = unique_name()
    as_user("alice", name).create_bucket(oss2.BUCKET_ACL_PRIVATE)
    return name


@pytest.fixture
def alice(as_user, bucket_name):
    return as_user("alice", bucket_name)


@pytest.fixture
def bob(as_user, bucket_name):
    return as_user("bob", bucket_name)


@pytest.fixture
def anonymous(as_user, bucket_name):
    return as_user(None, bucket_name)


def statement(effect, actions, resources, principals=None, condition=None):
    written = {"Effect": effect, "Action": actions, "Resource": resources}
    if principals is not None:
        written["Principal"] = principals
    if condition is not None:
        written["Condition"] = condition
    return written


def policy(*statements):
    return json.dumps({"Version": "1", "Statement": list(statements)})


def resource(bucket_name, path=""):
    return f"acs:oss:*:*:{bucket_name}{path}"


def refusal(call):
    with pytest.raises(oss2.exceptions.OssError) as raised:
        call()
    return raised.value


def assert_denied(call):
    error = refusal(call)
    assert (error.status, error.code) == (403, "AccessDenied")
    return error


# -- the document --------------------------------------------------------------------


class TestPolicyDocument:
    def test_a_policy_round_trips_as_sent_and_goes_again(self, alice, user_ids):
        assert refusal(alice.get_bucket_policy).code == "NoSuchBucketPolicy"
        sent = policy(
            statement(
                "Allow",
                ["oss:GetObject"],
                [resource(alice.bucket_name, "/*")],
                [user_ids["bob"]],
            )
        )

        alice.put_bucket_policy(sent)

        assert alice.get_bucket_policy().policy == sent
        assert alice.delete_bucket_policy().status == 204
        assert refusal(alice.get_bucket_policy).code == "NoSuchBucketPolicy"
        assert alice.delete_bucket_policy().status == 204  # nothing to delete: fine

    def test_only_the_owner_manages_the_policy(self, alice, bob, user_ids):
        alice.put_bucket_policy(
            policy(statement("Allow", ["oss:GetObject"], [resource(alice.bucket_name)]))
        )
        assert_denied(bob.get_bucket_policy)
        assert_denied(lambda: bob.put_bucket_policy(policy()))
        assert_denied(bob.delete_bucket_policy)
        assert alice.get_bucket_policy().policy

    @pytest.mark.parametrize(
        ("document", "reason"),
        [
            ("not json", "not a JSON document"),
            ('["a list"]', "JSON object"),
            ('{"Version": 1, "Statement": []}', "Version"),
            ('{"Version": "1", "Statement": []}', "Statement"),
            ('{"Version": "1", "Statement": [], "Extra": 1}', "unknown element"),
            ("maybe", "Effect"),
            ("action", "not an OSS action"),
            ("principal", "not a principal"),
            ("resource", "not a resource"),
            ("other-bucket", "not in this bucket"),
            ("condition", "conditions"),
            ("bad-ip", "acs:SourceIp"),
            ("no-action", "needs Action"),
            ("no-resource", "needs Resource"),
            ("not-principal", "does not support the statement element NotPrincipal"),
        ],
    )
    def test_a_bad_document_is_refused_and_the_stored_one_stays(
        self, alice, document, reason
    ):
        stored = policy(
            statement("Allow", ["oss:GetObject"], [resource(alice.bucket_name, "/*")])
        )
        alice.put_bucket_policy(stored)
        good = statement("Allow", ["oss:GetObject"], [resource(alice.bucket_name)])
        broken = {
            "maybe": {**good, "Effect": "Maybe"},
            "action": {**good, "Action": ["s3:GetObject"]},
            "principal": {**good, "Principal": ["bob"]},
            "resource": {**good, "Resource": ["arn:aws:s3:::x"]},
            "other-bucket": {**good, "Resource": [resource("another-bucket", "/*")]},
            "condition": {**good, "Condition": {"StringEquals": {"oss:Prefix": "a"}}},
            "bad-ip": {
                **good,
                "Condition": {"IpAddress": {"acs:SourceIp": ["not-an-address"]}},
            },
            "no-action": {key: v for key, v in good.items() if key != "Action"},
            "no-resource": {key: v for key, v in good.items() if key != "Resource"},
            "not-principal": {**good, "NotPrincipal": ["1"]},
        }
        if document in broken:
            document = policy(broken[document])

        error = refusal(lambda: alice.put_bucket_policy(document))

        assert (error.status, error.code) == (400, "InvalidPolicyDocument")
        assert reason in error.message
        assert alice.get_bucket_policy().policy == stored


# -- what a policy grants and denies ------------------------------------------------------


class TestPolicyEffect:
    def test_an_allow_lets_the_named_user_do_only_that_where_it_says(
        self, alice, bob, user_ids
    ):
        alice.put_object("shared/a.txt", b"shared")
        alice.put_object("private/b.txt", b"private")
        assert_denied(lambda: bob.get_object("shared/a.txt"))

        alice.put_bucket_policy(
            policy(
                statement(
                    "Allow",
                    ["oss:GetObject"],
                    [resource(alice.bucket_name, "/shared/*")],
                    [user_ids["bob"]],
                )
            )
        )

        assert bob.get_object("shared/a.txt").read() == b"shared"
        assert_denied(lambda: bob.get_object("private/b.txt"))
        assert_denied(lambda: bob.put_object("shared/new.txt", b"x"))
        assert_denied(lambda: bob.list_objects())
        assert_denied(bob.get_bucket_info)

    def test_a_grant_to_one_user_is_not_a_grant_to_another_or_to_anyone(
        self, alice, anonymous, user_ids
    ):
        alice.put_object("a.txt", b"a")
        alice.put_bucket_policy(
            policy(
                statement(
                    "Allow",
                    ["oss:*"],
                    [resource(alice.bucket_name, "/*")],
                    [user_ids["alice"]],
                )
            )
        )
        assert_denied(lambda: anonymous.get_object("a.txt"))

    def test_bucket_level_actions_are_granted_by_name(self, alice, bob, user_ids):
        alice.put_object("a.txt", b"a")
        alice.put_bucket_policy(
            policy(
                statement(
                    "Allow",
                    ["oss:ListObjects", "oss:GetBucket*"],
                    [resource(alice.bucket_name)],
                    [user_ids["bob"]],
                )
            )
        )

        assert [o.key for o in bob.list_objects().object_list] == ["a.txt"]
        assert bob.get_bucket_info().name == alice.bucket_name
        assert_denied(bob.delete_bucket)
        assert_denied(lambda: bob.put_bucket_acl(oss2.BUCKET_ACL_PUBLIC_READ))

    def test_an_explicit_deny_wins_over_a_public_acl_and_an_allow(
        self, alice, anonymous, bob, user_ids
    ):
        alice.put_bucket_acl(oss2.BUCKET_ACL_PUBLIC_READ)
        alice.put_object("open.txt", b"open")
        alice.put_object("secret/x.txt", b"secret")
        alice.put_bucket_policy(
            policy(
                statement(
                    "Allow", ["oss:*"], [resource(alice.bucket_name, "/*")], ["*"]
                ),
                statement(
                    "Deny",
                    ["oss:GetObject"],
                    [resource(alice.bucket_name, "/secret/*")],
                    ["*"],
                ),
            )
        )

        assert anonymous.get_object("open.txt").read() == b"open"
        error = assert_denied(lambda: anonymous.get_object("secret/x.txt"))
        assert "bucket policy" in error.message
        assert_denied(lambda: bob.get_object("secret/x.txt"))
        # The owner is never subject to the policy.
        assert alice.get_object("secret/x.txt").read() == b"secret"

    def test_a_source_ip_condition_decides(self, alice, bob, user_ids):
        alice.put_object("a.txt", b"a")

        def grant(operator, network):
            alice.put_bucket_policy(
                policy(
                    statement(
                        "Allow",
                        ["oss:GetObject"],
                        [resource(alice.bucket_name, "/*")],
                        [user_ids["bob"]],
                        {operator: {"acs:SourceIp": [network]}},
                    )
                )
            )

        grant("IpAddress", "127.0.0.0/8")  # the tests' requests come from loopback
        assert bob.get_object("a.txt").read() == b"a"
        grant("NotIpAddress", "127.0.0.0/8")
        assert_denied(lambda: bob.get_object("a.txt"))
        grant("IpAddress", "192.0.2.0/24")
        assert_denied(lambda: bob.get_object("a.txt"))

    def test_batch_delete_is_judged_per_key_and_refused_whole(
        self, alice, bob, user_ids
    ):
        for key in ("tmp/1", "tmp/2", "keep/3"):
            alice.put_object(key, b"x")
        alice.put_bucket_policy(
            policy(
                statement(
                    "Allow",
                    ["oss:DeleteObject"],
                    [resource(alice.bucket_name, "/tmp/*")],
                    [user_ids["bob"]],
                )
            )
        )

        assert_denied(lambda: bob.batch_delete_objects(["tmp/1", "keep/3"]))
        assert alice.object_exists("tmp/1")
        assert alice.object_exists("keep/3")

        bob.batch_delete_objects(["tmp/1", "tmp/2"])
        assert not alice.object_exists("tmp/1")
        assert not alice.object_exists("tmp/2")

    def test_a_copy_needs_get_object_on_its_source(self, as_user, alice, bob, user_ids):
        alice.put_object("source.txt", b"copied")
        bobs = as_user("bob", unique_name("bobs"))
        bobs.create_bucket()
        assert_denied(
            lambda: bobs.copy_object(alice.bucket_name, "source.txt", "copy.txt")
        )

        alice.put_bucket_policy(
            policy(
                statement(
                    "Allow",
                    ["oss:GetObject"],
                    [resource(alice.bucket_name, "/source.txt")],
                    [user_ids["bob"]],
                )
            )
        )

        bobs.copy_object(alice.bucket_name, "source.txt", "copy.txt")
        assert bobs.get_object("copy.txt").read() == b"copied"


# -- pay-by-requester -------------------------------------------------------------------------


class TestRequestPayment:
    @pytest.fixture
    def requester_pays(self, alice, user_ids):
        alice.put_object("a.txt", b"a")
        alice.put_bucket_policy(
            policy(
                statement(
                    "Allow",
                    ["oss:*"],
                    [resource(alice.bucket_name), resource(alice.bucket_name, "/*")],
                    [user_ids["bob"]],
                )
            )
        )
        alice.put_bucket_request_payment(oss2.models.PAYER_REQUESTER)

    def test_the_payer_round_trips(self, alice):
        assert alice.get_bucket_request_payment().payer == "BucketOwner"
        alice.put_bucket_request_payment(oss2.models.PAYER_REQUESTER)
        assert alice.get_bucket_request_payment().payer == "Requester"

    def test_a_bad_payer_is_refused_and_changes_nothing(self, alice, two_user_server):
        error = refusal(lambda: alice.put_bucket_request_payment("Everyone"))
        assert (error.status, error.code) == (400, "MalformedXML")
        assert alice.get_bucket_request_payment().payer == "BucketOwner"

    @pytest.mark.usefixtures("requester_pays")
    def test_others_must_say_they_pay(self, alice, bob):
        error = assert_denied(lambda: bob.get_object("a.txt"))
        assert error.ec == "0003-00000703"
        payer = {oss2.headers.OSS_REQUEST_PAYER: "requester"}
        assert bob.get_object("a.txt", headers=payer).read() == b"a"
        assert_denied(lambda: bob.put_object("b.txt", b"b"))
        bob.put_object("b.txt", b"b", headers=payer)
        assert alice.get_object("b.txt").read() == b"b"  # the owner needs nothing

    @pytest.mark.usefixtures("requester_pays")
    def test_a_refused_file_upload_leaves_the_connection_usable(self, bob, tmp_path):
        # Refused before its body is read: unless the server reads the rest, the
        # next request on that kept-alive connection meets those bytes.
        path = tmp_path / "upload.bin"
        path.write_bytes(b"x" * (150 * 1024))
        payer = {oss2.headers.OSS_REQUEST_PAYER: "requester"}
        assert_denied(lambda: oss2.resumable_upload(bob, "up.bin", str(path)))
        oss2.resumable_upload(bob, "up.bin", str(path), headers=payer)
        assert bob.get_object("up.bin", headers=payer).read() == path.read_bytes()

    @pytest.mark.usefixtures("requester_pays")
    def test_a_signed_url_says_so_in_its_parameters(self, bob):
        plain = bob.sign_url("GET", "a.txt", 60)
        paying = bob.sign_url(
            "GET", "a.txt", 60, params={oss2.headers.OSS_REQUEST_PAYER: "requester"}
        )
        refused = requests.get(plain, timeout=10)
        assert refused.status_code == 403
        assert refused.headers["x-oss-ec"] == "0003-00000702"
        assert requests.get(paying, timeout=10).content == b"a"

    def test_anonymous_requests_are_refused_even_on_a_public_bucket(
        self, alice, anonymous
    ):
        alice.put_bucket_acl(oss2.BUCKET_ACL_PUBLIC_READ)
        alice.put_object("a.txt", b"a")
        assert anonymous.get_object("a.txt").read() == b"a"
        alice.put_bucket_request_payment(oss2.models.PAYER_REQUESTER)

        error = assert_denied(
            lambda: anonymous.get_object(
                "a.txt", headers={oss2.headers.OSS_REQUEST_PAYER: "requester"}
            )
        )
        assert error.ec == "0003-00000701"


# -- Block Public Access ------------------------------------------------------------------------


class TestBlockPublicAccess:
    def test_a_bucket_block_hides_public_acls_and_grants_until_it_goes(
        self, alice, anonymous
    ):
        alice.put_bucket_acl(oss2.BUCKET_ACL_PUBLIC_READ)
        alice.put_object("a.txt", b"a")
        assert anonymous.get_object("a.txt").read() == b"a"
        assert alice.get_bucket_public_access_block().block_public_access is False

        alice.put_bucket_public_access_block(True)

        assert alice.get_bucket_public_access_block().block_public_access is True
        assert_denied(lambda: anonymous.get_object("a.txt"))
        assert_denied(lambda: alice.put_bucket_acl(oss2.BUCKET_ACL_PUBLIC_READ_WRITE))
        assert_denied(
            lambda: alice.put_object_acl("a.txt", oss2.OBJECT_ACL_PUBLIC_READ)
        )
        everyone = policy(
            statement("Allow", ["oss:GetObject"], [resource(alice.bucket_name, "/*")])
            | {"Principal": ["*"]}
        )
        assert_denied(lambda: alice.put_bucket_policy(everyone))

        assert alice.delete_bucket_public_access_block().status == 204
        assert anonymous.get_object("a.txt").read() == b"a"
        alice.put_bucket_policy(everyone)

    def test_a_public_grant_made_before_the_block_stops_counting(
        self, alice, anonymous
    ):
        alice.put_object("a.txt", b"a")
        alice.put_bucket_policy(
            policy(
                statement(
                    "Allow",
                    ["oss:GetObject"],
                    [resource(alice.bucket_name, "/*")],
                    ["*"],
                )
            )
        )
        assert anonymous.get_object("a.txt").read() == b"a"
        alice.put_bucket_public_access_block(True)
        assert_denied(lambda: anonymous.get_object("a.txt"))

    def test_an_account_block_covers_every_bucket_of_that_account_only(
        self, two_user_server, sdk_version, alice, anonymous, as_user
    ):
        gunicorn, keys = two_user_server
        service = oss2.Service(
            oss2_auth(keys["alice"], sdk_version), gunicorn.url, region=REGION
        )
        alice.put_bucket_acl(oss2.BUCKET_ACL_PUBLIC_READ)
        alice.put_object("a.txt", b"a")
        bobs = as_user("bob", unique_name("bobs"))
        bobs.create_bucket(oss2.BUCKET_ACL_PUBLIC_READ)
        bobs.put_object("b.txt", b"b")
        try:
            service.put_public_access_block(True)

            assert service.get_public_access_block().block_public_access is True
            assert_denied(lambda: anonymous.get_object("a.txt"))
            assert_denied(
                lambda: as_user("alice", unique_name()).create_bucket(
                    oss2.BUCKET_ACL_PUBLIC_READ
                )
            )
            assert as_user(None, bobs.bucket_name).get_object("b.txt").read() == b"b"
        finally:
            assert service.delete_public_access_block().status == 204
        assert service.get_public_access_block().block_public_access is False
        assert anonymous.get_object("a.txt").read() == b"a"

    def test_a_bad_setting_is_malformed_xml(self, alice):
        error = refusal(lambda: alice.put_bucket_public_access_block("maybe"))
        assert (error.status, error.code) == (400, "MalformedXML")
        assert alice.get_bucket_public_access_block().block_public_access is False

    def test_access_points_do_not_exist_here(self, alice):
        error = refusal(
            lambda: alice.get_access_point_public_access_block("some-access-point")
        )
        assert (error.status, error.code) == (404, "NoSuchAccessPoint")
        assert error.message == "Accesspoint not found"
