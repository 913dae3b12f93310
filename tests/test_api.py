"""The JSON API under /api/v1/: buckets, rules, the fetch log, authentication, schema and docs."""

import json
import re

import pytest
from django.core.management import call_command
from django.test import Client
from django.utils.datastructures import MultiValueDict
from rest_framework import serializers
from rest_framework.test import APIClient

from buckets.models import AccessKey, Bucket, unseal_secret
from console.forms import BucketCreateForm
from console.rule_forms import RuleForm
from origin.models import BackToOriginRule, OriginFetch
from tests.signing import KeyPair, content_md5, v1_headers, v4_headers

pytestmark = pytest.mark.django_db

drf_time = serializers.DateTimeField().to_representation


@pytest.fixture
def bob_bucket(bob):
    return Bucket.objects.create(owner=bob, name="bob-bucket")


def rules_url(bucket_name, *rest):
    return "/".join([f"/api/v1/buckets/{bucket_name}/rules", *map(str, rest)])


def prefixes_in_order(bucket):
    return list(
        bucket.origin_rules.order_by("position").values_list("key_prefix", flat=True)
    )


# -- buckets ------------------------------------------------------------------


def test_bucket_list_shows_only_my_buckets_with_usage(
    api, bucket, photos, bob_bucket, put_object, make_rule
):
    put_object(bucket, "a.txt", b"hello")
    put_object(bucket, "b/c.txt", b"world!")
    make_rule(bucket, key_prefix="a/")
    put_object(bob_bucket, "secret.txt", b"bob's")

    response = api.get("/api/v1/buckets")

    assert response.status_code == 200
    assert response.json() == {
        "count": 2,
        "next": None,
        "previous": None,
        "results": [
            {
                "name": "alice-bucket",
                "acl": "private",
                "created_at": drf_time(bucket.created_at),
                "object_count": 2,
                "total_size": 11,
                "rule_count": 1,
            },
            {
                "name": "alice-photos",
                "acl": "private",
                "created_at": drf_time(photos.created_at),
                "object_count": 0,
                "total_size": 0,
                "rule_count": 0,
            },
        ],
    }


def test_create_bucket_belongs_to_the_caller(api, alice):
    response = api.post(
        "/api/v1/buckets", {"name": "new-bucket", "acl": "public-read"}, format="json"
    )

    assert response.status_code == 201
    created = Bucket.objects.get(name="new-bucket")
    assert response.json() == {
        "name": "new-bucket",
        "acl": "public-read",
        "created_at": drf_time(created.created_at),
        "object_count": 0,
        "total_size": 0,
        "rule_count": 0,
    }
    assert (created.owner, created.acl) == (alice, "public-read")


def test_create_bucket_defaults_to_private(api):
    response = api.post("/api/v1/buckets", {"name": "plain-bucket"}, format="json")

    assert response.status_code == 201
    assert response.json()["acl"] == "private"


@pytest.mark.parametrize(
    ("name", "message"),
    [
        (
            "Bad_Name",
            "A bucket name may contain only lowercase letters, digits and hyphens (-), "
            "and must start and end with a letter or digit.",
        ),
        ("ab", "A bucket name must be 3 to 63 characters long."),
        (
            "-abc",
            "A bucket name may contain only lowercase letters, digits and hyphens (-), and must start and end with a letter or digit.",
        ),
        ("api", "'api' is reserved and cannot be a bucket name."),
        (
            "bob-bucket",
            "A bucket with this name already exists. Bucket names are unique across all users.",
        ),
    ],
    ids=["characters", "too-short", "leading-hyphen", "reserved", "taken"],
)
def test_create_bucket_refuses_what_the_console_refuses(
    api, alice, bob_bucket, name, message
):
    response = api.post("/api/v1/buckets", {"name": name}, format="json")

    assert response.status_code == 400
    assert response.json() == {"name": [message]}
    console_form = BucketCreateForm({"name": name, "acl": "private"}, owner=alice)
    assert console_form.errors == {"name": [message]}
    assert not Bucket.objects.filter(owner=alice).exists()


def test_retrieve_bucket(api, bucket, put_object):
    put_object(bucket, "x.bin", b"12345678")

    response = api.get("/api/v1/buckets/alice-bucket")

    assert response.status_code == 200
    assert response.json() == {
        "name": "alice-bucket",
        "acl": "private",
        "created_at": drf_time(bucket.created_at),
        "object_count": 1,
        "total_size": 8,
        "rule_count": 0,
    }


def test_patch_changes_the_acl(api, bucket):
    response = api.patch(
        "/api/v1/buckets/alice-bucket", {"acl": "public-read-write"}, format="json"
    )

    assert response.status_code == 200
    assert response.json()["acl"] == "public-read-write"
    bucket.refresh_from_db()
    assert bucket.acl == "public-read-write"


def test_put_with_only_the_acl_changes_the_acl(api, bucket):
    response = api.put(
        "/api/v1/buckets/alice-bucket", {"acl": "public-read"}, format="json"
    )

    assert response.status_code == 200
    bucket.refresh_from_db()
    assert bucket.acl == "public-read"


@pytest.mark.parametrize(
    ("payload", "errors"),
    [
        ({"acl": "everyone"}, {"acl": ['"everyone" is not a valid choice.']}),
        ({"name": "renamed-bucket"}, {"name": ["A bucket cannot be renamed."]}),
    ],
    ids=["bad-acl", "rename"],
)
def test_patch_refuses_a_bad_acl_and_a_rename(api, bucket, payload, errors):
    response = api.patch("/api/v1/buckets/alice-bucket", payload, format="json")

    assert response.status_code == 400
    assert response.json() == errors
    bucket.refresh_from_db()
    assert (bucket.name, bucket.acl) == ("alice-bucket", "private")


def test_delete_empty_bucket_with_its_rules(api, bucket, make_rule):
    make_rule(bucket, key_prefix="a/")

    response = api.delete("/api/v1/buckets/alice-bucket")

    assert response.status_code == 204
    assert not Bucket.objects.filter(name="alice-bucket").exists()
    assert not BackToOriginRule.objects.exists()


def test_delete_bucket_with_objects_is_refused(api, bucket, put_object):
    put_object(bucket, "keep.txt", b"keep")

    response = api.delete("/api/v1/buckets/alice-bucket")

    assert response.status_code == 409
    assert response.json() == {
        "detail": "Bucket alice-bucket still holds objects. Delete them first."
    }
    assert Bucket.objects.filter(name="alice-bucket").exists()


# -- rules --------------------------------------------------------------------

MIRROR_RULE = {
    "mode": "mirror",
    "key_prefix": "images/",
    "protocol": "http",
    "host": "www.example.com",
    "path": "static",
    "pass_query_string": True,
    "replace_prefix": True,
    "replace_prefix_with": "img/",
    "pass_headers": ["aaa-header"],
    "remove_headers": ["bbb-header"],
    "set_headers": [["ccc-header", "ccc"]],
}


def test_create_mirroring_rule(api, bucket):
    response = api.post(rules_url("alice-bucket"), MIRROR_RULE, format="json")

    assert response.status_code == 201
    rule = BackToOriginRule.objects.get(bucket=bucket)
    assert response.json() == {
        "id": rule.pk,
        "include_headers": [],
        "pass_headers": ["aaa-header"],
        "remove_headers": ["bbb-header"],
        "set_headers": [["ccc-header", "ccc"]],
        "origin_url": "http://www.example.com/static/",
        "position": 1,
        "mode": "mirror",
        "http_status": 404,
        "key_prefix": "images/",
        "key_suffix": "",
        "protocol": "http",
        "host": "www.example.com",
        "path": "static",
        "pass_query_string": True,
        "follow_redirects": True,
        "check_md5": False,
        "replace_prefix": True,
        "replace_prefix_with": "img/",
        "secondary_url": "",
        "probe_url": "",
        "pass_all_headers": False,
        "redirect_type": "External",
        "redirect_code": 301,
        "redirect_target": "keep",
        "target_prefix": "",
        "target_suffix": "",
        "target_fixed_path": "",
        "alternates": [],
        "switch_on_all_errors": False,
        "transparent_codes": [],
        "mirror_head": False,
        "proxy_only": False,
        "save_origin_meta": False,
        "keep_origin_last_modified": False,
        "pass_original_slashes": False,
        "send_sni": True,
        "return_headers": [],
        "mirror_tags": [],
        "auth_type": "",
        "auth_access_key_id": "",
        "auth_region": "",
        "negative_cache_seconds": 0,
        "max_concurrent_fetches": 0,
        "breaker_failures": 0,
        "breaker_open_seconds": 0,
        "breaker_state": {"state": "closed", "failures": 0, "open_until": None},
        "created_at": drf_time(rule.created_at),
        "updated_at": drf_time(rule.updated_at),
    }
    assert (rule.pass_headers, rule.set_headers) == (
        ["aaa-header"],
        [["ccc-header", "ccc"]],
    )


@pytest.mark.parametrize("field", ["mirror_auth", "mirror_sni", "api_extras"])
def test_a_field_this_server_does_not_have_is_refused_not_ignored(api, bucket, field):
    response = api.post(
        rules_url("alice-bucket"), {**MIRROR_RULE, field: True}, format="json"
    )

    assert response.status_code == 400
    assert response.json() == {field: ["This server does not support this field."]}
    assert not BackToOriginRule.objects.filter(bucket=bucket).exists()


def test_created_rules_go_last_and_position_is_read_only(api, bucket, make_rule):
    make_rule(bucket, key_prefix="a/")

    response = api.post(
        rules_url("alice-bucket"),
        {
            "mode": "redirect",
            "position": 1,
            "key_prefix": "old/",
            "host": "new.example.com",
            "http_status": 403,
            "redirect_code": 302,
            "redirect_target": "affix",
            "target_prefix": "v2/",
            # Mirroring options are dropped from a redirection rule.
            "path": "ignored",
            "pass_headers": ["aaa-header"],
        },
        format="json",
    )

    assert response.status_code == 201
    body = response.json()
    assert {
        name: body[name]
        for name in (
            "position",
            "mode",
            "http_status",
            "origin_url",
            "redirect_code",
            "redirect_target",
            "target_prefix",
            "path",
            "pass_headers",
        )
    } == {
        "position": 2,
        "mode": "redirect",
        "http_status": 403,
        "origin_url": "https://new.example.com/",
        "redirect_code": 302,
        "redirect_target": "affix",
        "target_prefix": "v2/",
        "path": "",
        "pass_headers": [],
    }
    assert prefixes_in_order(bucket) == ["a/", "old/"]


def test_rule_list_is_in_evaluation_order(api, bucket, make_rule):
    first = make_rule(bucket, key_prefix="a/")
    second = make_rule(bucket, key_prefix="b/")
    third = make_rule(bucket, key_prefix="c/")
    third.move(-1)

    response = api.get(rules_url("alice-bucket"))

    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 3
    assert [
        (rule["id"], rule["position"], rule["key_prefix"]) for rule in body["results"]
    ] == [
        (first.pk, 1, "a/"),
        (third.pk, 2, "c/"),
        (second.pk, 3, "b/"),
    ]


def test_retrieve_rule(api, bucket, make_rule):
    rule = make_rule(
        bucket, key_prefix="a/", include_headers=[["X-Env", "beta", "starts_with"]]
    )

    response = api.get(rules_url("alice-bucket", rule.pk))

    assert response.status_code == 200
    body = response.json()
    assert (
        body["id"],
        body["position"],
        body["key_prefix"],
        body["include_headers"],
    ) == (
        rule.pk,
        1,
        "a/",
        [["X-Env", "beta", "starts_with"]],
    )


def test_put_replaces_the_rule_in_place(api, bucket, make_rule):
    make_rule(bucket, key_prefix="a/")
    rule = make_rule(bucket, key_prefix="b/", pass_headers=["aaa-header"])

    response = api.put(
        rules_url("alice-bucket", rule.pk),
        {
            "mode": "mirror",
            "key_prefix": "b/",
            "key_suffix": ".jpg",
            "protocol": "https",
            "host": "img.example.com:8443",
            "path": "photos",
            "pass_headers": [],
            "set_headers": [["x-from", "bucket"]],
        },
        format="json",
    )

    assert response.status_code == 200
    rule.refresh_from_db()
    assert (
        rule.position,
        rule.key_suffix,
        rule.host,
        rule.path,
        rule.pass_headers,
        rule.set_headers,
    ) == (2, ".jpg", "img.example.com:8443", "photos", [], [["x-from", "bucket"]])
    assert response.json()["origin_url"] == "https://img.example.com:8443/photos/"


def test_patch_switches_mode_and_drops_the_other_modes_options(api, bucket, make_rule):
    rule = make_rule(
        bucket, key_prefix="a/", path="static", pass_headers=["aaa-header"]
    )

    response = api.patch(
        rules_url("alice-bucket", rule.pk),
        {"mode": "redirect", "redirect_code": 307},
        format="json",
    )

    assert response.status_code == 200
    rule.refresh_from_db()
    assert (rule.mode, rule.redirect_code, rule.path, rule.pass_headers) == (
        "redirect",
        307,
        "",
        [],
    )
    assert (rule.key_prefix, rule.host, rule.position) == ("a/", "www.example.com", 1)


def test_a_refused_update_changes_nothing(api, bucket, make_rule):
    rule = make_rule(bucket, key_prefix="a/")

    response = api.patch(
        rules_url("alice-bucket", rule.pk),
        {"host": "new.example.com", "pass_headers": ["Range"]},
        format="json",
    )

    assert response.status_code == 400
    rule.refresh_from_db()
    assert (rule.host, rule.pass_headers) == ("www.example.com", [])


def test_delete_rule_renumbers_the_rest(api, bucket, make_rule):
    first = make_rule(bucket, key_prefix="a/")
    second = make_rule(bucket, key_prefix="b/")
    third = make_rule(bucket, key_prefix="c/")

    response = api.delete(rules_url("alice-bucket", first.pk))

    assert response.status_code == 204
    assert list(
        bucket.origin_rules.order_by("position").values_list("pk", "position")
    ) == [(second.pk, 1), (third.pk, 2)]


def test_reorder_sets_the_whole_order(api, bucket, make_rule):
    first, second, third = (make_rule(bucket, key_prefix=p) for p in ("a/", "b/", "c/"))

    response = api.post(
        rules_url("alice-bucket", "reorder"),
        {"order": [third.pk, first.pk, second.pk]},
        format="json",
    )

    assert response.status_code == 200
    assert [
        (rule["id"], rule["position"], rule["key_prefix"]) for rule in response.json()
    ] == [(third.pk, 1, "c/"), (first.pk, 2, "a/"), (second.pk, 3, "b/")]
    assert prefixes_in_order(bucket) == ["c/", "a/", "b/"]


@pytest.mark.parametrize(
    "order",
    [
        lambda ids, foreign: ids[:2],
        lambda ids, foreign: [ids[0], ids[0], ids[1]],
        lambda ids, foreign: [*ids, foreign],
        lambda ids, foreign: [ids[0], ids[1], foreign],
        lambda ids, foreign: [],
    ],
    ids=["missing", "duplicate", "extra", "another-buckets-rule", "empty"],
)
def test_reorder_must_list_every_rule_id_exactly_once(
    api, bucket, photos, order, make_rule
):
    ids = [make_rule(bucket, key_prefix=p).pk for p in ("a/", "b/", "c/")]
    foreign = make_rule(photos, key_prefix="z/").pk

    response = api.post(
        rules_url("alice-bucket", "reorder"),
        {"order": order(ids, foreign)},
        format="json",
    )

    assert response.status_code == 400
    assert response.json() == {
        "order": [f"List every rule id of the bucket exactly once: {sorted(ids)}."]
    }
    assert prefixes_in_order(bucket) == ["a/", "b/", "c/"]


@pytest.mark.parametrize(
    ("payload", "errors"),
    [
        ({}, {"order": ["This field is required."]}),
        ({"order": "1,2"}, {"order": ['Expected a list of items but got type "str".']}),
        ({"order": ["one"]}, {"order": {"0": ["A valid integer is required."]}}),
    ],
    ids=["absent", "not-a-list", "not-ids"],
)
def test_reorder_refuses_a_malformed_order(api, bucket, payload, errors, make_rule):
    make_rule(bucket, key_prefix="a/")

    response = api.post(rules_url("alice-bucket", "reorder"), payload, format="json")

    assert response.status_code == 400
    assert response.json() == errors


# -- validation: the API refuses what the console refuses ----------------------


def console_form(bucket, payload):
    """The console's Create Rule form, filled in with what the API was sent."""
    data = MultiValueDict({"mode": ["mirror"], "protocol": ["https"]})
    for name, value in payload.items():
        if name in ("include_headers", "set_headers"):
            data.setlist(f"{name}_name", [pair[0] for pair in value])
            data.setlist(f"{name}_value", [pair[1] for pair in value])
        elif isinstance(value, list):
            data.setlist(name, value)
        elif value is True:
            data[name] = "on"
        else:
            data[name] = str(value)
    return RuleForm(data, instance=BackToOriginRule(bucket=bucket))


def _five_rules(bucket, make_rule):
    for prefix in ("a/", "b/", "c/", "d/", "e/"):
        make_rule(bucket, key_prefix=prefix)


def _rule_with_prefix_and_suffix(bucket, make_rule):
    make_rule(bucket, key_prefix="img/", key_suffix=".jpg")


# (given, payload, field, messages): the messages come from the model's clean(), so the
# console form shows the same words (`__all__` there is `non_field_errors` in the API).
REFUSED = [
    pytest.param(
        _five_rules,
        {"key_prefix": "f/", "host": "www.example.com"},
        "__all__",
        ["A bucket can have at most 5 Back-to-Origin rules."],
        id="sixth-rule",
    ),
    pytest.param(
        _rule_with_prefix_and_suffix,
        {
            "mode": "redirect",
            "key_prefix": "img/",
            "key_suffix": ".jpg",
            "host": "cdn.example.com",
        },
        "key_prefix",
        [
            "Another rule already has prefix 'img/' and suffix '.jpg'. "
            "Each rule needs a different File Name Prefix or Suffix."
        ],
        id="duplicate-prefix-and-suffix",
    ),
    pytest.param(
        None,
        {"host": "www.example.com", "pass_headers": ["X-OSS-Meta-A", "Range"]},
        "pass_headers",
        [
            "Transmit these headers: X-OSS-Meta-A cannot be transmitted: headers starting with x-oss- are reserved by OSS.",
            "Transmit these headers: Range cannot be transmitted: mirroring always fetches the whole object.",
        ],
        id="forbidden-pass-headers",
    ),
    pytest.param(
        None,
        {"host": "www.example.com", "set_headers": [["Range", "bytes=0-1"]]},
        "set_headers",
        [
            "Set these headers: Range cannot be transmitted: mirroring always fetches the whole object."
        ],
        id="forbidden-set-header",
    ),
    pytest.param(
        None,
        {"host": "www.example.com", "remove_headers": ["x-oss-meta-a"]},
        "remove_headers",
        [
            "Do not transmit these headers: x-oss-meta-a cannot be transmitted: headers starting with x-oss- are reserved by OSS."
        ],
        id="forbidden-remove-header",
    ),
    pytest.param(
        None,
        {"host": "www.example.com", "set_headers": [["ccc-header", "a\r\nb"]]},
        "set_headers",
        [
            "Set these headers: the value of ccc-header must not contain line breaks (CR/LF)."
        ],
        id="crlf-value",
    ),
    pytest.param(
        None,
        {"host": "10.0.0.1"},
        "host",
        [
            "10.0.0.1 is a private-network address; origins on internal networks are not allowed."
        ],
        id="private-origin",
    ),
    pytest.param(
        None,
        {"host": "www.example.com/path"},
        "host",
        [
            "Domain or IP must be a domain name or IP address with an optional port, without spaces or a path."
        ],
        id="host-with-path",
    ),
    pytest.param(
        None,
        {"mode": "redirect", "http_status": 302, "host": "www.example.com"},
        "http_status",
        ["The HTTP status code must be between 400 and 599."],
        id="redirect-status-outside-4xx-5xx",
    ),
    pytest.param(
        None,
        {"host": "www.example.com", "replace_prefix": True},
        "replace_prefix_with",
        ["Replacing the file prefix needs a File Name Prefix."],
        id="replace-prefix-without-prefix",
    ),
    # Everything saved can be read back (SPEC §9): one clean(), so the same words.
    pytest.param(
        None,
        {"host": "www.example.com", "set_headers": [["X-Set", " lead"]]},
        "set_headers",
        [
            "Set these headers: the value of X-Set must not start or end with a space "
            "or tab (HTTP drops them, so the rule could never work as typed)."
        ],
        id="set-header-leading-space",
    ),
    pytest.param(
        None,
        {"host": "www.example.com", "set_headers": [["X-Set", "a\x1fb"]]},
        "set_headers",
        [
            "Set these headers: the value of X-Set must not contain control characters (tabs included)."
        ],
        id="set-header-control-character",
    ),
    pytest.param(
        None,
        {"host": "www.example.com", "include_headers": [["X-Tenant", "a\x01"]]},
        "include_headers",
        [
            "Header condition: the value of X-Tenant must not contain control characters (tabs included)."
        ],
        id="header-condition-control-character",
    ),
    pytest.param(
        None,
        {"host": "www.example.com", "key_prefix": "a\uffff"},
        "key_prefix",
        [
            "File Name Prefix must not contain control characters, U+FFFE, U+FFFF or "
            "unpaired surrogates (found U+FFFF)."
        ],
        id="prefix-uffff",
    ),
    pytest.param(
        None,
        {"host": "www.example.com", "key_suffix": "\ufffe"},
        "key_suffix",
        [
            "File Name Suffix must not contain control characters, U+FFFE, U+FFFF or "
            "unpaired surrogates (found U+FFFE)."
        ],
        id="suffix-ufffe",
    ),
    pytest.param(
        None,
        {"host": "www.example.com:" + "9" * 200},
        "host",
        ["The port in Domain or IP must be a number from 1 to 65535."],
        id="port-of-200-digits",
    ),
]


@pytest.mark.parametrize(("given", "payload", "field", "messages"), REFUSED)
def test_api_refuses_what_the_console_refuses(
    api, settings, bucket, make_rule, given, payload, field, messages
):
    settings.ORIGIN_ALLOW_PRIVATE = False
    if given:
        given(bucket, make_rule)
    before = list(bucket.origin_rules.values_list("pk", flat=True))

    response = api.post(rules_url("alice-bucket"), payload, format="json")

    assert response.status_code == 400
    api_field = "non_field_errors" if field == "__all__" else field
    assert response.json() == {api_field: messages}
    assert console_form(bucket, payload).errors == {field: messages}
    assert list(bucket.origin_rules.values_list("pk", flat=True)) == before


def test_a_redirection_code_other_than_301_302_307_is_refused_by_both(api, bucket):
    payload = {"mode": "redirect", "host": "www.example.com", "redirect_code": 308}

    response = api.post(rules_url("alice-bucket"), payload, format="json")

    # A choice field in both, so each framework words the refusal its own way.
    assert response.status_code == 400
    assert response.json() == {"redirect_code": ['"308" is not a valid choice.']}
    assert console_form(bucket, payload).errors == {
        "redirect_code": [
            "Select a valid choice. 308 is not one of the available choices."
        ]
    }
    assert not bucket.origin_rules.exists()


@pytest.mark.parametrize("field", ["http_status", "redirect_code"])
def test_a_5000_digit_number_is_refused_by_both(api, bucket, field):
    payload = {"mode": "redirect", "host": "www.example.com", field: "9" * 5000}

    response = api.post(rules_url("alice-bucket"), payload, format="json")

    assert response.status_code == 400
    assert field in response.json()
    assert field in console_form(bucket, payload).errors
    assert not bucket.origin_rules.exists()


def test_a_5000_digit_json_number_is_a_parse_error(api, bucket):
    body = '{"mode": "redirect", "host": "www.example.com", "http_status": %s}' % (
        "9" * 5000
    )

    response = api.post(
        rules_url("alice-bucket"), body, content_type="application/json"
    )

    assert response.status_code == 400
    assert not bucket.origin_rules.exists()


def test_sixth_rule_limit_follows_the_setting(api, settings, bucket, make_rule):
    settings.BACK_TO_ORIGIN_MAX_RULES = 2
    make_rule(bucket, key_prefix="a/")
    make_rule(bucket, key_prefix="b/")

    response = api.post(
        rules_url("alice-bucket"),
        {"key_prefix": "c/", "host": "www.example.com"},
        format="json",
    )

    assert response.status_code == 400
    assert response.json() == {
        "non_field_errors": ["A bucket can have at most 2 Back-to-Origin rules."]
    }


def test_updating_a_rule_to_its_own_prefix_is_not_a_duplicate(api, bucket, make_rule):
    rule = make_rule(bucket, key_prefix="a/")

    response = api.patch(
        rules_url("alice-bucket", rule.pk),
        {"key_prefix": "a/", "path": "new"},
        format="json",
    )

    assert response.status_code == 200
    rule.refresh_from_db()
    assert rule.path == "new"


def test_rules_of_a_full_bucket_can_still_be_edited(api, bucket, make_rule):
    _five_rules(bucket, make_rule)
    rule = bucket.origin_rules.get(position=5)

    response = api.patch(
        rules_url("alice-bucket", rule.pk), {"path": "edited"}, format="json"
    )

    assert response.status_code == 200


# -- permissions --------------------------------------------------------------


def _endpoints(rule_id):
    rules = rules_url("alice-bucket")
    return [
        ("get", "/api/v1/buckets/alice-bucket", None),
        ("patch", "/api/v1/buckets/alice-bucket", {"acl": "public-read-write"}),
        ("put", "/api/v1/buckets/alice-bucket", {"acl": "public-read-write"}),
        ("delete", "/api/v1/buckets/alice-bucket", None),
        ("get", rules, None),
        ("post", rules, {"key_prefix": "evil/", "host": "evil.example.com"}),
        ("get", f"{rules}/{rule_id}", None),
        ("put", f"{rules}/{rule_id}", {"host": "evil.example.com"}),
        ("patch", f"{rules}/{rule_id}", {"host": "evil.example.com"}),
        ("delete", f"{rules}/{rule_id}", None),
        ("post", f"{rules}/reorder", {"order": [rule_id]}),
        ("post", f"{rules}/dry-run", {"key": "a/x"}),
        ("get", "/api/v1/buckets/alice-bucket/fetches", None),
    ]


def _unchanged(bucket, rule):
    bucket.refresh_from_db()
    rule.refresh_from_db()
    return (bucket.acl, rule.host, bucket.origin_rules.count()) == (
        "private",
        "www.example.com",
        1,
    )


def test_anonymous_callers_are_refused_everywhere(bucket, make_rule):
    rule = make_rule(bucket, key_prefix="a/")
    client = APIClient()
    for method, url, data in [
        ("get", "/api/v1/buckets", None),
        ("post", "/api/v1/buckets", {"name": "anon-bucket"}),
        *_endpoints(rule.pk),
    ]:
        response = getattr(client, method)(url, data, format="json")
        assert response.status_code in (401, 403), (method, url)
        assert response.json() == {
            "detail": "Authentication credentials were not provided."
        }
    assert _unchanged(bucket, rule)
    assert not Bucket.objects.filter(name="anon-bucket").exists()


def test_other_users_buckets_rules_and_fetch_logs_are_404(
    bob_api, bob_bucket, bucket, make_rule
):
    rule = make_rule(bucket, key_prefix="a/")
    for method, url, data in _endpoints(rule.pk):
        response = getattr(bob_api, method)(url, data, format="json")
        assert response.status_code == 404, (method, url)
        assert response.json() == {"detail": "No Bucket matches the given query."}
    assert _unchanged(bucket, rule)
    assert [
        row["name"] for row in bob_api.get("/api/v1/buckets").json()["results"]
    ] == ["bob-bucket"]


def test_a_rule_id_under_another_bucket_name_is_404(api, bucket, photos, make_rule):
    rule = make_rule(photos, key_prefix="a/")
    wrong = rules_url("alice-bucket", rule.pk)

    response = api.get(wrong)
    assert response.status_code == 404
    assert response.json() == {"detail": "No BackToOriginRule matches the given query."}
    assert (
        api.put(wrong, {"host": "moved.example.com"}, format="json").status_code == 404
    )
    assert (
        api.patch(wrong, {"host": "moved.example.com"}, format="json").status_code
        == 404
    )
    assert api.delete(wrong).status_code == 404
    rule.refresh_from_db()
    assert (rule.bucket, rule.host) == (photos, "www.example.com")
    assert api.get(rules_url("alice-photos", rule.pk)).status_code == 200


def test_session_auth_needs_the_csrf_token(alice):
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(alice)

    assert (
        client.get("/api/v1/buckets").status_code == 200
    )  # safe methods need no token
    refused = client.post("/api/v1/buckets", {"name": "csrf-bucket"}, format="json")
    assert refused.status_code == 403
    assert refused.json() == {"detail": "CSRF Failed: CSRF cookie not set."}
    assert not Bucket.objects.filter(name="csrf-bucket").exists()

    client.get("/console/")  # any console page hands out the token cookie
    token = client.cookies["csrftoken"].value
    wrong = client.post(
        "/api/v1/buckets",
        {"name": "csrf-bucket"},
        format="json",
        headers={"X-CSRFToken": "x" * 32},
    )
    assert wrong.status_code == 403
    accepted = client.post(
        "/api/v1/buckets",
        {"name": "csrf-bucket"},
        format="json",
        headers={"X-CSRFToken": token},
    )
    assert accepted.status_code == 201
    assert Bucket.objects.get(name="csrf-bucket").owner == alice


# -- OSS signature authentication ---------------------------------------------


def test_v1_signed_requests_act_as_the_keys_user(alice, alice_key, bucket, bob_bucket):
    # Django's plain client: like oss2, it sends no Content-Type on a GET (APIClient would).
    client = Client(enforce_csrf_checks=True)  # signed requests need no CSRF token

    listed = client.get(
        "/api/v1/buckets",
        headers=v1_headers(alice_key, "GET", "/api/v1/buckets"),
    )
    assert listed.status_code == 200
    assert [row["name"] for row in listed.json()["results"]] == ["alice-bucket"]

    body = json.dumps({"name": "signed-bucket"}).encode()
    md5 = content_md5(body)
    created = client.post(
        "/api/v1/buckets",
        body,
        content_type="application/json",
        headers=v1_headers(
            alice_key,
            "POST",
            "/api/v1/buckets",
            headers={"Content-Type": "application/json", "Content-MD5": md5},
        ),
    )
    assert created.status_code == 201
    assert Bucket.objects.get(name="signed-bucket").owner == alice

    path = rules_url("alice-bucket")
    rule = client.post(
        path,
        {"key_prefix": "a/", "host": "www.example.com"},
        content_type="application/json",
        headers=v1_headers(
            alice_key, "POST", path, headers={"Content-Type": "application/json"}
        ),
    )
    assert rule.status_code == 201
    assert bucket.origin_rules.count() == 1


def test_v4_signed_request_acts_as_the_keys_user(alice_key, bucket):
    response = Client().get(
        "/api/v1/buckets/alice-bucket",
        headers=v4_headers(alice_key, "GET", "/api/v1/buckets/alice-bucket"),
    )

    assert response.status_code == 200
    assert response.json()["name"] == "alice-bucket"


def test_a_signed_request_for_another_users_bucket_is_404(bob, bucket):
    key, secret = AccessKey.create_for(bob)
    path = "/api/v1/buckets/alice-bucket"

    response = Client().get(
        path, headers=v1_headers(KeyPair(key.key_id, secret), "GET", path)
    )

    assert response.status_code == 404


def test_a_wrong_secret_is_refused(alice_key, bucket):
    wrong_secret = alice_key._replace(secret="not-the-secret")

    response = Client().get(
        "/api/v1/buckets",
        headers=v1_headers(wrong_secret, "GET", "/api/v1/buckets"),
    )

    assert response.status_code in (401, 403)
    assert response.json()["detail"].startswith("SignatureDoesNotMatch: ")


def test_a_signature_over_another_path_is_refused(alice_key, bucket):
    response = Client().delete(
        "/api/v1/buckets/alice-bucket",
        headers=v1_headers(alice_key, "GET", "/api/v1/buckets"),
    )

    assert response.status_code in (401, 403)
    assert Bucket.objects.filter(name="alice-bucket").exists()


@pytest.mark.parametrize("disable", ["key", "user"])
def test_a_disabled_key_or_user_is_refused(alice, alice_key, bucket, disable):
    if disable == "key":
        AccessKey.objects.filter(key_id=alice_key.key_id).update(is_active=False)
    else:
        alice.is_active = False
        alice.save()

    response = Client().get(
        "/api/v1/buckets",
        headers=v1_headers(alice_key, "GET", "/api/v1/buckets"),
    )

    assert response.status_code in (401, 403)
    assert response.json()["detail"].startswith("InvalidAccessKeyId: ")


def test_a_non_oss_authorization_header_is_refused(bucket):
    response = Client().get(
        "/api/v1/buckets", headers={"Authorization": "Basic YWxpY2U6cGFzcw=="}
    )

    assert response.status_code in (401, 403)


# -- fetch log ----------------------------------------------------------------


def log_fetch(bucket, rule, key, outcome="saved", **fields):
    return OriginFetch.objects.create(
        bucket=bucket,
        rule=rule,
        rule_position=rule.position if rule else 1,
        key=key,
        origin_url=f"https://www.example.com/{key}",
        status_code=fields.pop("status_code", 200),
        outcome=outcome,
        **fields,
    )


def test_fetch_log_lists_newest_first(api, bucket, photos, make_rule):
    rule = make_rule(bucket, key_prefix="a/")
    older = log_fetch(bucket, rule, "a/1.txt", bytes_received=5, duration_ms=12)
    newer = log_fetch(
        bucket,
        rule,
        "a/2.txt",
        "failed",
        status_code=500,
        message="The origin answered HTTP 500.",
    )
    log_fetch(photos, None, "a/elsewhere.txt")

    response = api.get("/api/v1/buckets/alice-bucket/fetches")

    assert response.status_code == 200
    assert response.json() == {
        "count": 2,
        "next": None,
        "previous": None,
        "results": [
            {
                "id": newer.pk,
                "rule": rule.pk,
                "rule_position": 1,
                "key": "a/2.txt",
                "origin_url": "https://www.example.com/a/2.txt",
                "status_code": 500,
                "bytes_received": 0,
                "duration_ms": 0,
                "outcome": "failed",
                "message": "The origin answered HTTP 500.",
                "created_at": drf_time(newer.created_at),
            },
            {
                "id": older.pk,
                "rule": rule.pk,
                "rule_position": 1,
                "key": "a/1.txt",
                "origin_url": "https://www.example.com/a/1.txt",
                "status_code": 200,
                "bytes_received": 5,
                "duration_ms": 12,
                "outcome": "saved",
                "message": "",
                "created_at": drf_time(older.created_at),
            },
        ],
    }


def test_fetch_log_filters_by_rule_outcome_and_key_prefix(api, bucket, make_rule):
    images = make_rule(bucket, key_prefix="images/")
    docs = make_rule(bucket, key_prefix="docs/")
    log_fetch(bucket, images, "images/a.jpg")
    log_fetch(bucket, images, "images/b.jpg", "not_found", status_code=404)
    log_fetch(bucket, docs, "docs/a.pdf", "failed", status_code=503)
    log_fetch(bucket, docs, "docs/old/b.pdf")

    def keys(query):
        response = api.get(f"/api/v1/buckets/alice-bucket/fetches?{query}")
        assert response.status_code == 200
        return [row["key"] for row in response.json()["results"]]

    assert keys("") == ["docs/old/b.pdf", "docs/a.pdf", "images/b.jpg", "images/a.jpg"]
    assert keys(f"rule={images.pk}") == ["images/b.jpg", "images/a.jpg"]
    assert keys("outcome=saved") == ["docs/old/b.pdf", "images/a.jpg"]
    assert keys("key_prefix=docs/o") == ["docs/old/b.pdf"]
    assert keys(f"rule={docs.pk}&outcome=saved") == ["docs/old/b.pdf"]
    assert keys("outcome=refused") == []
    assert keys("rule=not-a-number") == keys("")


@pytest.mark.parametrize(
    "rule_id",
    [
        pytest.param("9" * 5000, id="5000-nines"),
        pytest.param("99999999999999999999", id="beyond-64-bits"),
        "\u00b2",
        "\u0661",
    ],
)
def test_a_hostile_rule_filter_of_the_fetch_log_is_not_a_server_error(
    api, bucket, rule_id, make_rule
):
    rule = make_rule(bucket, key_prefix="a/")
    log_fetch(bucket, rule, "a/1.txt")

    response = api.get("/api/v1/buckets/alice-bucket/fetches", {"rule": rule_id})

    assert response.status_code == 200
    # A number no rule id can be matches nothing; anything else is no filter, as before.
    expected = [] if rule_id.isascii() else ["a/1.txt"]
    assert [row["key"] for row in response.json()["results"]] == expected


def test_fetches_of_a_cleared_rule_stay_in_the_log(api, bucket, make_rule):
    rule = make_rule(bucket, key_prefix="a/")
    log_fetch(bucket, rule, "a/1.txt")
    rule.clear()

    response = api.get("/api/v1/buckets/alice-bucket/fetches")

    assert [
        (row["rule"], row["rule_position"]) for row in response.json()["results"]
    ] == [(None, 1)]


def test_fetch_log_is_paginated(api, bucket, make_rule):
    rule = make_rule(bucket, key_prefix="a/")
    for number in range(55):
        log_fetch(bucket, rule, f"a/{number:02}.txt")

    first = api.get("/api/v1/buckets/alice-bucket/fetches?outcome=saved").json()
    second = api.get(first["next"]).json()

    assert first["count"] == 55
    assert first["previous"] is None
    assert first["next"] == (
        "http://testserver/api/v1/buckets/alice-bucket/fetches?outcome=saved&page=2"
    )
    assert [row["key"] for row in first["results"]] == [
        f"a/{number:02}.txt" for number in range(54, 4, -1)
    ]
    assert [row["key"] for row in second["results"]] == [
        f"a/{number:02}.txt" for number in range(4, -1, -1)
    ]
    assert second["next"] is None
    assert api.get("/api/v1/buckets/alice-bucket/fetches?page=3").status_code == 404


# -- query counts ---------------------------------------------------------------


def test_bucket_list_takes_a_fixed_number_of_queries(
    api, alice, put_object, django_assert_max_num_queries, make_rule
):
    for number in range(6):
        created = Bucket.objects.create(owner=alice, name=f"bucket-{number}")
        put_object(created, "a.txt", b"abc")
        put_object(created, "b.txt", b"defg")
        make_rule(created, key_prefix="a/")
        make_rule(created, key_prefix="b/")

    # session, user, count, page (with the per-bucket sums as subqueries)
    with django_assert_max_num_queries(4):
        response = api.get("/api/v1/buckets")

    assert [
        (row["object_count"], row["total_size"], row["rule_count"])
        for row in response.json()["results"]
    ] == [(2, 7, 2)] * 6


def test_rule_list_takes_a_fixed_number_of_queries(
    api, bucket, django_assert_max_num_queries, make_rule
):
    for prefix in ("a/", "b/", "c/", "d/", "e/"):
        make_rule(bucket, key_prefix=prefix, pass_headers=["aaa-header"])

    # session, user, bucket, count, page
    with django_assert_max_num_queries(5):
        response = api.get(rules_url("alice-bucket"))

    assert response.json()["count"] == 5


# -- schema and docs --------------------------------------------------------------


def test_openapi_schema_generates_without_warnings(tmp_path):
    schema_file = tmp_path / "schema.yml"

    call_command(
        "spectacular", "--validate", "--fail-on-warn", "--file", str(schema_file)
    )

    schema = schema_file.read_text()
    for path in (
        "/api/v1/buckets:",
        "/api/v1/buckets/{name}:",
        "/api/v1/buckets/{bucket_name}/rules:",
        "/api/v1/buckets/{bucket_name}/rules/{id}:",
        "/api/v1/buckets/{bucket_name}/rules/reorder:",
        "/api/v1/buckets/{bucket_name}/rules/dry-run:",
        "/api/v1/buckets/{bucket_name}/fetches:",
    ):
        assert f"\n  {path}\n" in schema, path
    assert "ossSignature" in schema


def test_schema_endpoint_serves_the_schema(client):
    response = client.get("/api/v1/schema", headers={"Accept": "application/json"})

    assert response.status_code == 200
    assert response.json()["info"]["title"] == "OSS Back-to-Origin API"


def test_docs_page_is_served_entirely_from_this_server(client):
    response = client.get("/api/v1/docs")

    assert response.status_code == 200
    html = response.content.decode()
    assert not re.search(r"https?://", html)
    local = re.findall(r'(?:src|href)="(/[^"]+)"', html)
    assert len(local) >= 3
    assert '"/api/v1/schema"' in html
    for url in [*local, "/api/v1/schema"]:
        assert client.get(url).status_code == 200, url


def test_console_top_bar_links_to_the_api_docs(alice_client):
    response = alice_client.get("/console/")

    assert response.status_code == 200
    assert '<a class="link" href="/api/v1/docs">API</a>' in response.content.decode()


def test_browsable_api_pages_render_with_local_assets(alice_client, bucket, make_rule):
    rule = make_rule(bucket, key_prefix="a/")
    for url in (
        "/api/v1/buckets",
        "/api/v1/buckets/alice-bucket",
        rules_url("alice-bucket"),
        rules_url("alice-bucket", rule.pk),
        "/api/v1/buckets/alice-bucket/fetches",
    ):
        response = alice_client.get(url, headers={"Accept": "text/html"})
        assert response.status_code == 200, url
        # Links in the rendered JSON may be absolute; scripts and styles never leave the server.
        assets = re.findall(
            r'<(?:script|link)\b[^>]*(?:src|href)="([^"]+)"', response.content.decode()
        )
        assert assets, url
        assert all(asset.startswith("/static/") for asset in assets), (url, assets)


# -- MirrorAuth through the JSON API (the secret is write-only) -------------------------

SIGNED_RULE = {
    **MIRROR_RULE,
    "auth_type": "S3V4",
    "auth_access_key_id": "AKID",
    "auth_access_key_secret": "s3cr3t-value",
    "auth_region": "us-east-1",
}


def test_the_origin_secret_is_sealed_and_never_returned(api, bucket):
    created = api.post(rules_url("alice-bucket"), SIGNED_RULE, format="json")

    assert created.status_code == 201, created.content
    assert "s3cr3t-value" not in created.content.decode()
    assert "auth_access_key_secret" not in created.json()
    rule = BackToOriginRule.objects.get(bucket=bucket)
    assert "s3cr3t-value" not in rule.auth_sealed_secret
    assert unseal_secret(rule.auth_sealed_secret) == "s3cr3t-value"


def test_an_edit_without_the_secret_keeps_it_while_the_key_id_is_the_same(api, bucket):
    rule_id = api.post(rules_url("alice-bucket"), SIGNED_RULE, format="json").json()[
        "id"
    ]

    kept = api.patch(
        rules_url("alice-bucket", rule_id), {"auth_region": "eu-west-1"}, format="json"
    )
    changed = api.patch(
        rules_url("alice-bucket", rule_id),
        {"auth_access_key_id": "OTHER"},
        format="json",
    )

    assert kept.status_code == 200, kept.content
    assert changed.status_code == 400
    assert changed.json() == {
        "auth_access_key_secret": ["Origin AccessKey secret is required."]
    }
    rule = BackToOriginRule.objects.get(pk=rule_id)
    assert (rule.auth_access_key_id, rule.auth_region) == ("AKID", "eu-west-1")
    assert unseal_secret(rule.auth_sealed_secret) == "s3cr3t-value"


@pytest.mark.parametrize(
    ("fields", "errors"),
    [
        (
            {"auth_type": "S3V4", "auth_access_key_id": "AK", "auth_access_key_secret": "s"},
            {"auth_region": ["Origin region must be a region name such as us-east-1 or cn-hangzhou (lower-case letters, digits and -)."]},
        ),
        (
            {"auth_type": "", "auth_access_key_id": "AK"},
            {"auth_type": ["Choose how origin requests are signed, or leave the AccessKey ID, secret and region empty."]},
        ),
        (
            {"auth_type": "OSS", "auth_access_key_id": "A K", "auth_access_key_secret": "s"},
            {"auth_access_key_id": ["Origin AccessKey ID must be 1 to 128 printable ASCII characters without spaces."]},
        ),
        (
            {"auth_type": "OSS", "auth_access_key_id": "AK", "auth_access_key_secret": "bad secret"},
            {"auth_access_key_secret": ["Origin AccessKey secret must be 1 to 256 printable ASCII characters without spaces."]},
        ),
        (
            {"auth_type": "HMAC", "auth_access_key_id": "AK", "auth_access_key_secret": "s"},
            {"auth_type": ['"HMAC" is not a valid choice.']},
        ),
    ],
)  # fmt: skip
def test_mirror_auth_values_are_checked(api, bucket, fields, errors):
    response = api.post(
        rules_url("alice-bucket"), {**MIRROR_RULE, **fields}, format="json"
    )

    assert response.status_code == 400
    assert response.json() == errors
    assert not BackToOriginRule.objects.exists()


def test_every_advanced_mirror_field_round_trips(api, bucket):
    advanced = {
        "include_headers": [
            ["X-Tenant", "blue", "starts_with"],
            ["X-Tenant", "-eu", "ends_with"],
        ],
        "alternates": [[5, "https://c.example.com/"], [1, "https://b.example.com/x"]],
        "switch_on_all_errors": True,
        "transparent_codes": [429, 403],
        "mirror_head": True,
        "proxy_only": False,
        "save_origin_meta": True,
        "keep_origin_last_modified": True,
        "pass_original_slashes": True,
        "return_headers": [["X-From", "mirror"]],
    }
    created = api.post(
        rules_url("alice-bucket"), {**MIRROR_RULE, **advanced}, format="json"
    )
    assert created.status_code == 201, created.content

    body = api.get(rules_url("alice-bucket", created.json()["id"])).json()

    assert {name: body[name] for name in advanced} == {
        **advanced,
        # Stored in number order, each base URL ending in "/"; codes sorted.
        "alternates": [[1, "https://b.example.com/x/"], [5, "https://c.example.com/"]],
        "transparent_codes": [403, 429],
    }


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"alternates": [[0, "https://b.example.com/"]]}, "alternates", "must be from 1 to 10000"),
        ({"alternates": [[1, "ftp://b.example.com/"]]}, "alternates", "full http:// or https:// URL"),
        ({"alternates": [[1, "https://10.0.0.1/"]]}, "alternates", "internal networks are not allowed"),
        ({"alternates": [[1, "https://b.example.com/"]] * 2}, "alternates", "used more than once"),
        ({"transparent_codes": [200]}, "transparent_codes", "not an error status"),
        ({"return_headers": [["Content-Length", "1"]]}, "return_headers", "cannot be transmitted"),
        ({"return_headers": [["X-Accel-Redirect", "/_protected_objects/x"]]}, "return_headers", "instructions to the front server"),
        ({"send_sni": False}, "send_sni", "MirrorSNI false"),
        ({"proxy_only": True, "save_origin_meta": True}, "proxy_only", "saves nothing"),
    ],
)  # fmt: skip
def test_advanced_mirror_values_are_checked(api, bucket, fields, field, message):
    response = api.post(
        rules_url("alice-bucket"), {**MIRROR_RULE, **fields}, format="json"
    )

    assert response.status_code == 400
    assert message in " ".join(response.json()[field])
    assert not BackToOriginRule.objects.exists()
