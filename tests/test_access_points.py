"""Access points: create/get/list/delete and their policies through the real oss2 SDK
(V1 and V4) against gunicorn with two users, requests through an alias reaching the
bucket's objects, the access point policy joining the decision, and the refusals
(through Django's test client, where the database shows that nothing was stored)."""

import json
import re
import uuid

import oss2
import pytest
from oss2.models import AccessPointVpcConfiguration, CreateAccessPointRequest

from buckets.models import AccessPoint
from tests.conftest import REGION
from tests.signing import KeyPair, oss2_auth

# -- through oss2 against the live server ------------------------------------------


def unique_name(prefix="ap"):
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def bucket_name(as_user):
    name = unique_name("apb")
    as_user("alice", name).create_bucket(oss2.BUCKET_ACL_PRIVATE)
    return name


@pytest.fixture
def owner(as_user, bucket_name):
    return as_user("alice", bucket_name)


@pytest.fixture
def other(as_user, bucket_name):
    return as_user("bob", bucket_name)


@pytest.fixture
def access_point(owner):
    """(name, alias) of a new access point of owner's bucket."""
    name = unique_name()
    result = owner.create_access_point(CreateAccessPointRequest(name, "internet"))
    return name, result.alias


def ap_policy(effect, actions, principal, name, paths=("", "/object/*")):
    return json.dumps(
        {
            "Version": "1",
            "Statement": [
                {
                    "Effect": effect,
                    "Action": actions,
                    "Principal": [principal],
                    "Resource": [f"acs:oss:*:*:accesspoint/{name}{p}" for p in paths],
                }
            ],
        }
    )


def refusal(call):
    with pytest.raises(oss2.exceptions.OssError) as raised:
        call()
    return raised.value


def assert_denied(call):
    error = refusal(call)
    assert (error.status, error.code) == (403, "AccessDenied")
    return error


def listed_names(result):
    return [ap.access_point_name for ap in result.access_points]


@pytest.mark.server
class TestThroughOss2:
    def test_create_get_list_delete(
        self, owner, as_user, two_user_server, user_ids, sdk_version
    ):
        name = unique_name()
        created = owner.create_access_point(CreateAccessPointRequest(name, "internet"))
        uid = user_ids["alice"]
        assert created.access_point_arn == f"acs:oss:{REGION}:{uid}:accesspoint/{name}"
        assert created.alias.startswith(f"{name}-")
        assert created.alias.endswith("-ossalias")

        got = owner.get_access_point(name)
        assert (got.access_point_name, got.bucket, got.account_id) == (
            name,
            owner.bucket_name,
            uid,
        )
        assert (got.network_origin, got.access_point_status) == ("internet", "enable")
        assert (got.alias, got.access_point_arn) == (
            created.alias,
            created.access_point_arn,
        )
        assert got.creation_date.isdigit()
        server_host = two_user_server[0].url.split("://", 1)[1]
        assert got.endpoints.public_endpoint == server_host
        assert got.public_access_block_configuration.block_public_access is False

        listed = owner.list_bucket_access_points(max_keys=10)
        assert (listed.max_keys, listed.is_truncated) == (10, False)
        assert listed_names(listed) == [name]
        assert listed.access_points[0].alias == created.alias
        assert listed.access_points[0].status == "enable"
        service = oss2.Service(owner.auth, owner.endpoint, region=REGION)
        everywhere = service.list_access_points(max_keys=1000)
        assert name in listed_names(everywhere)

        assert owner.delete_access_point(name).status == 204
        error = refusal(lambda: owner.get_access_point(name))
        assert (error.status, error.code) == (404, "NoSuchAccessPoint")
        assert listed_names(owner.list_bucket_access_points()) == []

    def test_the_alias_reads_and_writes_the_bucket_objects(
        self, owner, as_user, access_point
    ):
        _name, alias = access_point
        through = as_user("alice", alias)
        through.put_object("via-alias.txt", b"written through the alias")
        owner.put_object("via-name.txt", b"written by name")

        assert owner.get_object("via-alias.txt").read() == b"written through the alias"
        assert through.get_object("via-name.txt").read() == b"written by name"
        keys = [o.key for o in oss2.ObjectIterator(through)]
        assert keys == ["via-alias.txt", "via-name.txt"]
        through.delete_object("via-name.txt")
        assert not owner.object_exists("via-name.txt")

    def test_a_bad_signature_through_the_alias_is_a_signature_error(
        self, two_user_server, access_point, sdk_version
    ):
        """Not NoSuchBucket: the alias names a bucket that exists."""
        gunicorn, keys = two_user_server
        _name, alias = access_point
        wrong = oss2_auth(KeyPair(keys["alice"].key_id, "not-the-secret"), sdk_version)
        through = oss2.Bucket(wrong, gunicorn.url, alias, region=REGION)

        error = refusal(lambda: through.get_object("anything.txt"))

        assert (error.status, error.code) == (403, "SignatureDoesNotMatch")

    def test_a_deny_in_the_policy_denies_through_the_alias_only(
        self, owner, as_user, access_point, user_ids
    ):
        name, alias = access_point
        owner.put_object("k", b"data")
        denied = ap_policy("Deny", ["oss:GetObject"], user_ids["alice"], name)
        assert owner.put_access_point_policy(name, denied).status == 200
        assert owner.get_access_point_policy(name).policy == denied

        through = as_user("alice", alias)
        assert_denied(lambda: through.get_object("k"))
        assert owner.get_object("k").read() == b"data"  # by name: no access point
        through.put_object("k2", b"PutObject is not denied")

        assert owner.delete_access_point_policy(name).status == 204
        assert through.get_object("k").read() == b"data"
        error = refusal(lambda: owner.get_access_point_policy(name))
        assert (error.status, error.code) == (404, "NoSuchAccessPointPolicy")

    def test_another_user_cannot_see_or_use_them(
        self, owner, other, as_user, access_point
    ):
        name, alias = access_point
        owner.put_object("k", b"data")
        assert_denied(lambda: other.get_access_point(name))
        assert_denied(other.list_bucket_access_points)
        assert_denied(lambda: other.delete_access_point(name))
        assert_denied(
            lambda: other.create_access_point(
                CreateAccessPointRequest("bobs", "internet")
            )
        )
        other_service = oss2.Service(other.auth, other.endpoint, region=REGION)
        assert name not in listed_names(other_service.list_access_points())
        assert_denied(lambda: as_user("bob", alias).get_object("k"))
        assert_denied(lambda: as_user(None, alias).get_object("k"))
        assert listed_names(owner.list_bucket_access_points()) == [name]

    def test_another_user_needs_both_policies_to_allow(
        self, owner, as_user, access_point, user_ids
    ):
        name, alias = access_point
        owner.put_object("k", b"data")
        other_through = as_user("bob", alias)
        owner.put_access_point_policy(
            name, ap_policy("Allow", ["oss:GetObject"], user_ids["bob"], name)
        )
        assert_denied(lambda: other_through.get_object("k"))  # the bucket says no

        owner.put_bucket_policy(
            json.dumps(
                {
                    "Version": "1",
                    "Statement": [
                        {
                            "Effect": "Allow",
                            "Action": ["oss:GetObject"],
                            "Principal": [user_ids["bob"]],
                            "Resource": [f"acs:oss:*:*:{owner.bucket_name}/*"],
                        }
                    ],
                }
            )
        )
        assert other_through.get_object("k").read() == b"data"
        assert_denied(lambda: other_through.put_object("k", b"not allowed"))
        owner.delete_access_point_policy(name)
        assert_denied(lambda: other_through.get_object("k"))  # the access point says no
        assert as_user("bob", owner.bucket_name).get_object("k").read() == b"data"

    def test_bucket_configuration_is_not_reachable_through_the_alias(
        self, owner, as_user, access_point
    ):
        _name, alias = access_point
        through = as_user("alice", alias)
        assert_denied(through.get_bucket_acl)
        assert_denied(lambda: through.put_bucket_acl(oss2.BUCKET_ACL_PUBLIC_READ))
        assert_denied(
            lambda: through.create_access_point(
                CreateAccessPointRequest("other", "internet")
            )
        )
        assert_denied(through.delete_bucket)
        assert owner.get_bucket_acl().acl == oss2.BUCKET_ACL_PRIVATE
        assert len(owner.list_bucket_access_points().access_points) == 1

    def test_a_bucket_with_access_points_is_not_deleted(self, owner, access_point):
        name, _alias = access_point
        error = refusal(owner.delete_bucket)
        assert (error.status, error.code) == (409, "BucketNotEmpty")
        owner.delete_access_point(name)
        assert owner.delete_bucket().status == 204

    def test_the_access_point_public_access_block(self, owner, access_point, user_ids):
        name, _alias = access_point
        owner.put_access_point_public_access_block(name, True)
        assert owner.get_access_point_public_access_block(name).block_public_access
        assert owner.get_access_point(
            name
        ).public_access_block_configuration.block_public_access
        assert_denied(
            lambda: owner.put_access_point_policy(
                name, ap_policy("Allow", ["oss:GetObject"], "*", name)
            )
        )
        assert owner.get_bucket_public_access_block().block_public_access is False
        owner.delete_access_point_public_access_block(name)
        assert not owner.get_access_point_public_access_block(name).block_public_access
        owner.put_access_point_policy(
            name, ap_policy("Allow", ["oss:GetObject"], "*", name)
        )
        error = refusal(lambda: owner.get_access_point_public_access_block("nope"))
        assert (error.status, error.code, error.message) == (
            404,
            "NoSuchAccessPoint",
            "Accesspoint not found",
        )


# -- refusals, through Django's test client ----------------------------------------


def create_body(name, origin="internet", extra=""):
    return (
        "<CreateAccessPointConfiguration>"
        f"<AccessPointName>{name}</AccessPointName>"
        f"<NetworkOrigin>{origin}</NetworkOrigin>{extra}"
        "</CreateAccessPointConfiguration>"
    ).encode()


def error_code(response):
    assert b"<Code>" in response.content, response.content
    return response.content.split(b"<Code>")[1].split(b"</Code>")[0].decode()


@pytest.fixture
def create(alice_signed_client, bucket):
    def send(body):
        return alice_signed_client(
            "PUT", bucket.name, params={"accessPoint": ""}, body=body
        )

    return send


@pytest.mark.django_db
class TestRefusals:
    @pytest.mark.parametrize(
        "name",
        ["ab", "a" * 20, "Upper", "-start", "end-", "under_score", "x-ossalias", ""],
    )
    def test_a_bad_name_is_refused(self, create, name):
        response = create(create_body(name))
        assert (response.status_code, error_code(response)) == (400, "InvalidArgument")
        assert not AccessPoint.objects.exists()

    def test_a_duplicate_name_is_refused_in_the_whole_account(
        self, create, alice_signed_client, photos
    ):
        assert create(create_body("ap-one")).status_code == 200
        again = create(create_body("ap-one"))
        on_another_bucket = alice_signed_client(
            "PUT", photos.name, params={"accessPoint": ""}, body=create_body("ap-one")
        )
        for response in (again, on_another_bucket):
            assert (response.status_code, error_code(response)) == (
                409,
                "AccessPointAlreadyExists",
            )
        assert AccessPoint.objects.count() == 1

    def test_a_bucket_has_at_most_100_access_points(self, create, bucket, alice):
        AccessPoint.objects.bulk_create(
            AccessPoint(bucket=bucket, owner=alice, name=f"ap-{n}", alias=f"a{n}")
            for n in range(100)
        )
        response = create(create_body("ap-101"))
        assert (response.status_code, error_code(response)) == (
            400,
            "TooManyAccessPoints",
        )
        assert AccessPoint.objects.count() == 100

    def test_anonymous_requests_list_no_access_points(self, client, create):
        assert create(create_body("ap-one")).status_code == 200
        response = client.get("/?accessPoint")
        assert (response.status_code, error_code(response)) == (403, "AccessDenied")

    def test_vpc_is_refused_by_name(self, create):
        vpc = AccessPointVpcConfiguration("vpc-1")
        body = create_body(
            "ap-vpc",
            "vpc",
            f"<VpcConfiguration><VpcId>{vpc.vpc_id}</VpcId></VpcConfiguration>",
        )
        response = create(body)
        assert (response.status_code, error_code(response)) == (400, "InvalidArgument")
        assert b"NetworkOrigin" in response.content
        assert not AccessPoint.objects.exists()

    @pytest.mark.parametrize(
        ("body", "named"),
        [
            (create_body("ap-x", "intranet"), b"NetworkOrigin"),
            (create_body("ap-x", ""), b"NetworkOrigin"),
            (create_body("ap-x", extra="<Tier>gold</Tier>"), b"Tier"),
            (
                create_body("ap-x", extra="<VpcConfiguration/>"),
                b"VpcConfiguration",
            ),
        ],
    )
    def test_a_setting_it_would_not_honour_is_refused(self, create, body, named):
        response = create(body)
        assert (response.status_code, error_code(response)) == (400, "InvalidArgument")
        assert named in response.content
        assert not AccessPoint.objects.exists()

    def test_malformed_xml_is_refused(self, create):
        response = create(b"<CreateAccessPointConfiguration>")
        assert (response.status_code, error_code(response)) == (400, "MalformedXML")
        assert not AccessPoint.objects.exists()

    def test_an_unknown_access_point_is_404(self, alice_signed_client, bucket):
        for method, sub in [
            ("GET", "accessPoint"),
            ("DELETE", "accessPoint"),
            ("GET", "accessPointPolicy"),
            ("PUT", "accessPointPolicy"),
        ]:
            response = alice_signed_client(
                method,
                bucket.name,
                params={sub: ""},
                headers={"x-oss-access-point-name": "nope"},
                body=b"{}",
            )
            assert (response.status_code, error_code(response)) == (
                404,
                "NoSuchAccessPoint",
            )

    def test_the_name_header_is_required(self, alice_signed_client, bucket):
        response = alice_signed_client(
            "DELETE", bucket.name, params={"accessPoint": ""}
        )
        assert (response.status_code, error_code(response)) == (400, "InvalidArgument")

    @pytest.mark.parametrize(
        ("document", "reason"),
        [
            ("not json", b"not a JSON document"),
            (
                ap_policy("Deny", ["oss:GetObject"], "1", "other-ap"),
                b"is not this access point",
            ),
            (
                json.dumps(
                    {
                        "Version": "1",
                        "Statement": [
                            {
                                "Effect": "Deny",
                                "Action": ["oss:GetObject"],
                                "Principal": ["*"],
                                "Resource": ["acs:oss:*:*:some-bucket/*"],
                            }
                        ],
                    }
                ),
                b"not in this bucket",
            ),
            (ap_policy("Deny", ["GetObject"], "1", "ap-pol"), b"not an OSS action"),
        ],
    )
    def test_a_bad_policy_is_refused_and_nothing_stored(
        self, create, alice_signed_client, bucket, document, reason
    ):
        assert create(create_body("ap-pol")).status_code == 200
        response = alice_signed_client(
            "PUT",
            bucket.name,
            params={"accessPointPolicy": ""},
            headers={"x-oss-access-point-name": "ap-pol"},
            body=document.encode(),
        )
        assert (response.status_code, error_code(response)) == (
            400,
            "InvalidPolicyDocument",
        )
        assert reason in response.content
        assert AccessPoint.objects.get().policy == ""

    def test_listing_pages_by_name(self, create, alice_signed_client, bucket):
        for name in ("ap-c", "ap-a", "ap-b"):
            assert create(create_body(name)).status_code == 200

        def page(token=""):
            response = alice_signed_client(
                "GET",
                bucket.name,
                params={
                    "accessPoint": "",
                    "max-keys": "2",
                    "continuation-token": token,
                },
            )
            assert response.status_code == 200
            return response.content.decode()

        first = page()
        assert "<IsTruncated>true</IsTruncated>" in first
        assert "<NextContinuationToken>ap-b</NextContinuationToken>" in first
        assert re.findall("<AccessPointName>(.*?)<", first) == ["ap-a", "ap-b"]
        second = page("ap-b")
        assert "<IsTruncated>false</IsTruncated>" in second
        assert "NextContinuationToken" not in second
        assert re.findall("<AccessPointName>(.*?)<", second) == ["ap-c"]

    @pytest.mark.parametrize("max_keys", ["0", "1001", "x", "9" * 40])
    def test_a_bad_max_keys_is_refused(self, alice_signed_client, bucket, max_keys):
        response = alice_signed_client(
            "GET", bucket.name, params={"accessPoint": "", "max-keys": max_keys}
        )
        assert (response.status_code, error_code(response)) == (400, "InvalidArgument")

    def test_a_bucket_name_of_the_alias_form_is_refused(self, alice_signed_client):
        response = alice_signed_client("PUT", "mine-0123-ossalias")
        assert (response.status_code, error_code(response)) == (
            400,
            "InvalidBucketName",
        )

    def test_virtual_host_requests_through_the_alias(
        self, settings, create, alice_signed_client, bucket, put_object, client
    ):
        settings.OSS_DOMAIN = "oss.test"
        settings.ALLOWED_HOSTS = ["*"]
        assert create(create_body("ap-vh")).status_code == 200
        access_point = AccessPoint.objects.get()
        put_object(bucket, "hello.txt", b"hello")
        alice_signed_client(
            "PUT", bucket.name, params={"acl": ""}, headers={"x-oss-acl": "public-read"}
        )
        alice_signed_client(
            "PUT",
            bucket.name,
            params={"accessPointPolicy": ""},
            headers={"x-oss-access-point-name": "ap-vh"},
            body=ap_policy("Allow", ["oss:GetObject"], "*", "ap-vh").encode(),
        )
        host = f"{access_point.alias}.oss.test"
        response = client.get("/hello.txt", HTTP_HOST=host)
        assert response.status_code == 200
        assert b"".join(response.streaming_content) == b"hello"
        # The endpoints GetAccessPoint gives are that host.
        got = alice_signed_client(
            "GET",
            bucket.name,
            params={"accessPoint": ""},
            headers={"x-oss-access-point-name": "ap-vh"},
        )
        assert f"<PublicEndpoint>{host}</PublicEndpoint>".encode() in got.content
