"""Bucket policies (PutBucketPolicy, GetBucketPolicy, DeleteBucketPolicy): JSON
statements that let other users, or everyone, do chosen operations on a bucket or
some of its objects, or that forbid them.

A document is checked whole when it is put and kept twice: as sent (GetBucketPolicy
returns it) and as normalised statements (what access checks read, see
buckets.oss_access). Only what is enforced is accepted: a statement names OSS
actions, principals that are user ids of this server (or `*`), resources of this
bucket, and at most the `acs:SourceIp` condition; anything else is refused with
InvalidPolicyDocument, and the stored policy stays as it was.

How a statement decides (as on OSS): the owner is never subject to the policy; for
anyone else an explicit Deny that matches wins, then a matching Allow grants the
operation even where the ACL would not; with neither, the ACL decides.
"""

import enum
import ipaddress
import json

from django.conf import settings

from buckets import errors, public_access
from buckets.wildcards import wildcard_match

MAX_POLICY_BYTES = 16 * 1024
INVALID_POLICY_EC = "0030-00000005"
# The condition operators enforced, each on the one key `acs:SourceIp`.
IP_OPERATORS = ("IpAddress", "NotIpAddress")


class Verdict(enum.Enum):
    ALLOW = "Allow"
    DENY = "Deny"


# -- which action a request is ----------------------------------------------------

# (method, sub-resource) -> OSS action, for the routes whose name is not the rule below.
OBJECT_ACTIONS = {
    ("GET", None): "oss:GetObject",
    ("HEAD", None): "oss:GetObject",
    ("PUT", None): "oss:PutObject",
    ("DELETE", None): "oss:DeleteObject",
    ("POST", "append"): "oss:PutObject",
    ("GET", "objectMeta"): "oss:GetObject",
    ("HEAD", "objectMeta"): "oss:GetObject",
    ("POST", "uploads"): "oss:PutObject",
    ("POST", "sequential"): "oss:PutObject",
    ("PUT", "uploadId"): "oss:PutObject",
    ("PUT", "partNumber"): "oss:PutObject",
    ("POST", "uploadId"): "oss:PutObject",
    ("DELETE", "uploadId"): "oss:AbortMultipartUpload",
    ("GET", "uploadId"): "oss:ListParts",
    ("PUT", "symlink"): "oss:PutObject",
    ("GET", "symlink"): "oss:GetObject",
    ("POST", "restore"): "oss:RestoreObject",
}
BUCKET_ACTIONS = {
    ("GET", None): "oss:ListObjects",
    ("PUT", None): "oss:PutBucket",
    ("DELETE", None): "oss:DeleteBucket",
    ("POST", "delete"): "oss:DeleteObject",
    ("GET", "uploads"): "oss:ListMultipartUploads",
    ("GET", "bucketInfo"): "oss:GetBucketInfo",
    ("GET", "versions"): "oss:ListObjectVersions",
}
VERBS = {"GET": "Get", "HEAD": "Get", "PUT": "Put", "DELETE": "Delete", "POST": "Post"}


def request_action(request):
    """The OSS action of the operation the request was routed to (see
    views.route_to_operation, which records the route): GetObject, PutBucketCors...
    Other object sub-resources are Verb + Object + Name (GetObjectTagging), other
    bucket ones Verb + Bucket + Name (PutBucketLifecycle)."""
    level, method, sub_resource = getattr(request, "oss_route", ("", "", None))
    table, noun = (
        (OBJECT_ACTIONS, "Object") if level == "object" else (BUCKET_ACTIONS, "Bucket")
    )
    action = table.get((method, sub_resource))
    if action is None:
        name = (sub_resource or "")[:1].upper() + (sub_resource or "")[1:]
        action = f"oss:{VERBS.get(method, method.title())}{noun}{name}"
    return action


def resource_name(bucket, key=None):
    """The resource a request touches, as policies name it."""
    path = bucket.name if key is None else f"{bucket.name}/{key}"
    return f"acs:oss:{settings.OSS_REGION}:{bucket.owner_id}:{path}"


# -- deciding -------------------------------------------------------------------


def verdict(bucket, user, action, resource, source_ip):
    """Verdict.DENY or ALLOW if a statement of the bucket's policy decides the
    request, else None (the ACL decides). `user` is None for anonymous requests;
    grants to everyone (`*`) do not count while public access is blocked."""
    principal = str(user.pk) if user is not None else None
    public_counts = not public_access.is_blocked(bucket)
    allowed = False
    for statement in bucket.policy_statements:
        if not _statement_matches(statement, principal, action, resource, source_ip):
            continue
        if statement["effect"] == Verdict.DENY.value:
            return Verdict.DENY
        named = principal is not None and principal in statement["principals"]
        allowed = allowed or named or public_counts
    return Verdict.ALLOW if allowed else None


def _statement_matches(statement, principal, action, resource, source_ip):
    principals = statement["principals"]
    return (
        ("*" in principals or (principal is not None and principal in principals))
        and any(_matches(pattern, action, False) for pattern in statement["actions"])
        and any(_matches(pattern, resource, True) for pattern in statement["resources"])
        and all(_ip_condition_holds(c, source_ip) for c in statement["conditions"])
    )


def _matches(pattern, text, case_sensitive):
    return wildcard_match(
        pattern, text, question_mark=True, fold_case=not case_sensitive
    )


def _ip_condition_holds(condition, source_ip):
    try:
        address = ipaddress.ip_address(source_ip)
    except ValueError:
        return False
    inside = any(
        address in ipaddress.ip_network(network) for network in condition["networks"]
    )
    return inside if condition["operator"] == "IpAddress" else not inside


def grants_public_access(statements):
    """Whether a policy lets everyone (`*`) do something."""
    return any(
        statement["effect"] == Verdict.ALLOW.value and "*" in statement["principals"]
        for statement in statements
    )


# -- checking a document ---------------------------------------------------------


def _invalid(message):
    return errors.OssError(400, "InvalidPolicyDocument", message, EC=INVALID_POLICY_EC)


def parse_policy(text, bucket):
    """The normalised statements of a policy document, or InvalidPolicyDocument."""
    try:
        document = json.loads(text)
    except (ValueError, UnicodeDecodeError):
        raise _invalid("The policy is not a JSON document.") from None
    if not isinstance(document, dict):
        raise _invalid("The policy must be a JSON object.")
    unknown = set(document) - {"Version", "Statement"}
    if unknown:
        raise _invalid(f"The policy has an unknown element: {sorted(unknown)[0]}.")
    if document.get("Version") != "1":
        raise _invalid('The policy Version must be the string "1".')
    statements = document.get("Statement")
    if not isinstance(statements, list) or not statements:
        raise _invalid("The policy needs a non-empty list of Statement.")
    return [_parse_statement(statement, bucket) for statement in statements]


def _parse_statement(statement, bucket):
    if not isinstance(statement, dict):
        raise _invalid("Each Statement must be a JSON object.")
    unknown = set(statement) - {
        "Sid",
        "Effect",
        "Action",
        "Principal",
        "Resource",
        "Condition",
    }
    if unknown:
        raise _invalid(
            f"This server does not support the statement element {sorted(unknown)[0]}."
        )
    effect = statement.get("Effect")
    if effect not in (Verdict.ALLOW.value, Verdict.DENY.value):
        raise _invalid("Effect must be Allow or Deny.")
    return {
        "effect": effect,
        "actions": [_action(a) for a in _strings(statement, "Action", required=True)],
        # A statement without Principal names nobody: OSS's RAM-style statements
        # apply to a principal, and this server has no other kind of identity.
        "principals": [_principal(p) for p in _strings(statement, "Principal")],
        "resources": [
            _resource(r, bucket) for r in _strings(statement, "Resource", required=True)
        ],
        "conditions": _conditions(statement.get("Condition", {})),
    }


def _strings(statement, name, *, required=False):
    value = statement.get(name, [])
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise _invalid(f"{name} must be a string or a list of strings.")
    if required and not value:
        raise _invalid(f"Each Statement needs {name}.")
    return value


def _action(action):
    name = action.removeprefix("oss:")
    if (
        action == name
        or not name
        or not name.replace("*", "").isalnum()
        and name != "*"
    ):
        raise _invalid(f"{action!r} is not an OSS action (oss:Name, * allowed).")
    return action


def _principal(principal):
    if principal != "*" and not principal.isdigit():
        raise _invalid(
            f"{principal!r} is not a principal: use * or a user id of this server."
        )
    return principal


def _resource(resource, bucket):
    """acs:oss:{region}:{account}:{bucket}[/{object}], where region and account may be
    `*`, and the bucket part must be able to name this bucket."""
    parts = resource.split(":", 4)
    if len(parts) != 5 or parts[:2] != ["acs", "oss"]:
        raise _invalid(f"{resource!r} is not a resource (acs:oss:*:*:bucket/object).")
    region, account, path = parts[2], parts[3], parts[4]
    bucket_part = path.partition("/")[0]
    if (
        not wildcard_match(region, settings.OSS_REGION)
        or not wildcard_match(account, str(bucket.owner_id))
        or not wildcard_match(bucket_part, bucket.name, question_mark=True)
    ):
        raise _invalid(f"The resource {resource!r} is not in this bucket.")
    return resource


def _conditions(condition):
    if not isinstance(condition, dict):
        raise _invalid("Condition must be a JSON object.")
    parsed = []
    for operator, tests in condition.items():
        if operator not in IP_OPERATORS:
            raise _invalid(
                f"This server supports the conditions {', '.join(IP_OPERATORS)}; "
                f"not {operator}."
            )
        if not isinstance(tests, dict) or set(tests) != {"acs:SourceIp"}:
            raise _invalid(f"{operator} supports the key acs:SourceIp only.")
        networks = tests["acs:SourceIp"]
        networks = [networks] if isinstance(networks, str) else networks
        try:
            networks = [str(ipaddress.ip_network(n, strict=False)) for n in networks]
        except (TypeError, ValueError):
            raise _invalid("acs:SourceIp takes IP addresses or CIDR blocks.") from None
        parsed.append({"operator": operator, "networks": networks})
    return parsed
