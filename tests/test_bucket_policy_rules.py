"""buckets.bucket_policy as plain Python: which action a route is, and how the
statements of a policy decide."""

import json
from types import SimpleNamespace

import pytest

from buckets.bucket_policy import Verdict, parse_policy, request_action, verdict


def routed(level, method, sub_resource):
    return SimpleNamespace(oss_route=(level, method, sub_resource))


@pytest.mark.parametrize(
    ("route", "action"),
    [
        (("object", "GET", None), "oss:GetObject"),
        (("object", "HEAD", "objectMeta"), "oss:GetObject"),
        (("object", "POST", "uploads"), "oss:PutObject"),
        (("object", "DELETE", "uploadId"), "oss:AbortMultipartUpload"),
        (("object", "GET", "tagging"), "oss:GetObjectTagging"),
        (("object", "PUT", "acl"), "oss:PutObjectAcl"),
        (("bucket", "GET", None), "oss:ListObjects"),
        (("bucket", "POST", "delete"), "oss:DeleteObject"),
        (("bucket", "PUT", "lifecycle"), "oss:PutBucketLifecycle"),
        (("bucket", "DELETE", "cors"), "oss:DeleteBucketCors"),
        (("bucket", "GET", "bucketInfo"), "oss:GetBucketInfo"),
    ],
)
def test_each_route_is_an_oss_action(route, action):
    assert request_action(routed(*route)) == action


def bucket(statements, *, blocked=False):
    owner = SimpleNamespace(oss_account=SimpleNamespace(block_public_access=False))
    return SimpleNamespace(
        name="photos",
        owner_id=1,
        owner=owner,
        block_public_access=blocked,
        policy_statements=statements,
    )


def statements(*written):
    document = {"Version": "1", "Statement": list(written)}
    return parse_policy(json.dumps(document), bucket([]))


BOB = SimpleNamespace(pk=2)
OBJECT = "acs:oss:cn-hangzhou:1:photos/a.jpg"


def test_a_statement_without_principal_names_nobody():
    parsed = statements(
        {"Effect": "Allow", "Action": "oss:*", "Resource": "acs:oss:*:*:photos/*"}
    )
    assert verdict(bucket(parsed), BOB, "oss:GetObject", OBJECT, "127.0.0.1") is None
    assert verdict(bucket(parsed), None, "oss:GetObject", OBJECT, "127.0.0.1") is None


def test_deny_wins_whatever_the_order():
    allow = {
        "Effect": "Allow",
        "Principal": "2",
        "Action": "oss:Get*",
        "Resource": "acs:oss:*:*:photos/*",
    }
    deny = {**allow, "Effect": "Deny", "Action": "oss:GetObject"}
    for order in ((allow, deny), (deny, allow)):
        decided = verdict(
            bucket(statements(*order)), BOB, "oss:GetObject", OBJECT, "10.0.0.1"
        )
        assert decided is Verdict.DENY


def test_resources_match_keys_case_sensitively_and_actions_not():
    parsed = statements(
        {
            "Effect": "Allow",
            "Principal": ["2"],
            "Action": "oss:getobject",
            "Resource": "acs:oss:*:*:photos/A*",
        }
    )
    assert verdict(bucket(parsed), BOB, "oss:GetObject", OBJECT, "1.2.3.4") is None
    upper = "acs:oss:cn-hangzhou:1:photos/A.jpg"
    assert (
        verdict(bucket(parsed), BOB, "oss:GetObject", upper, "1.2.3.4") is Verdict.ALLOW
    )


def test_a_grant_to_everyone_stops_counting_while_public_access_is_blocked():
    parsed = statements(
        {
            "Effect": "Allow",
            "Principal": "*",
            "Action": "oss:GetObject",
            "Resource": "acs:oss:*:*:photos/*",
        }
    )
    assert (
        verdict(bucket(parsed), None, "oss:GetObject", OBJECT, "::1") is Verdict.ALLOW
    )
    blocked = bucket(parsed, blocked=True)
    assert verdict(blocked, None, "oss:GetObject", OBJECT, "::1") is None
