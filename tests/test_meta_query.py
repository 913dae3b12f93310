"""Data indexing (`?metaQuery`): OpenMetaQuery, GetMetaQueryStatus, DoMetaQuery,
CloseMetaQuery.

The Query JSON's translation into an ORM filter is tested against real rows
(a parametrized table: query -> keys found); the refusals through the signed
endpoint (error code, argument named, nothing changed); the SDK round trips
(V1 and V4) against the real gunicorn.
"""

import gc
import json
import uuid
import xml.etree.ElementTree as ET

import oss2
import pytest
from django.utils import timezone
from oss2.models import AggregationsRequest, MetaQuery

from buckets import meta_query
from buckets.errors import OssError
from buckets.models import Bucket
from tests.oss_responses import error_fields

# -- the translation, against real rows ------------------------------------------------


@pytest.fixture
def indexed(bucket, put_object):
    """alice-bucket with five objects of known sizes, tags, metadata and types."""
    put_object(bucket, "docs/a.txt", b"a" * 10, content_type="text/plain")
    put_object(
        bucket,
        "docs/b.txt",
        b"b" * 200,
        content_type="text/plain",
        tags={"owner": "john", "type": "doc"},
    )
    put_object(bucket, "Docs/C.txt", b"c" * 3000, user_meta={"location": "hangzhou"})
    put_object(bucket, "img/d.png", b"d" * 40, content_type="image/png", acl="private")
    put_object(
        bucket, "img/e.png", b"e" * 40, content_type="image/png", tags={"owner": "mary"}
    )
    return bucket


def keys_found(bucket, query):
    q = meta_query.parse_query(json.dumps(query))
    return sorted(meta_query.objects_of(bucket).filter(q).values_list("key", flat=True))


def leaf(field, operation, value=None):
    node = {"Field": field, "Operation": operation}
    if value is not None:
        node["Value"] = value
    return node


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("query", "expected"),
    [
        (leaf("Size", "lt", "100"), ["docs/a.txt", "img/d.png", "img/e.png"]),
        (leaf("Size", "gte", "200"), ["Docs/C.txt", "docs/b.txt"]),
        (leaf("Size", "eq", 40), ["img/d.png", "img/e.png"]),
        (leaf("Filename", "eq", "docs/a.txt"), ["docs/a.txt"]),
        # prefix is case-sensitive (a key range, not SQLite's case-blind LIKE)
        (leaf("Filename", "prefix", "docs/"), ["docs/a.txt", "docs/b.txt"]),
        (leaf("Filename", "match", "c.TXT"), ["Docs/C.txt"]),
        (leaf("ContentType", "eq", "image/png"), ["img/d.png", "img/e.png"]),
        (leaf("ObjectACL", "eq", "private"), ["img/d.png"]),
        (
            leaf("OSSObjectType", "eq", "Normal"),
            ["Docs/C.txt", "docs/a.txt", "docs/b.txt", "img/d.png", "img/e.png"],
        ),
        (leaf("OSSStorageClass", "eq", "Archive"), []),
        (leaf("OSSTagging.owner", "eq", "john"), ["docs/b.txt"]),
        (leaf("OSSTagging.owner", "exist"), ["docs/b.txt", "img/e.png"]),
        (leaf("OSSTagging.owner", "prefix", "ma"), ["img/e.png"]),
        (leaf("OSSUserMeta.location", "eq", "hangzhou"), ["Docs/C.txt"]),
        (leaf("OSSUserMeta.x-oss-meta-Location", "eq", "hangzhou"), ["Docs/C.txt"]),
        (leaf("OSSTaggingCount", "eq", "2"), ["docs/b.txt"]),
        (leaf("OSSTaggingCount", "gt", "0"), ["docs/b.txt", "img/e.png"]),
        (
            leaf("OSSCRC64", "exist"),
            ["Docs/C.txt", "docs/a.txt", "docs/b.txt", "img/d.png", "img/e.png"],
        ),
        (
            {
                "Operation": "and",
                "SubQueries": [
                    leaf("Filename", "prefix", "img/"),
                    leaf("OSSTagging.owner", "exist"),
                ],
            },
            ["img/e.png"],
        ),
        (
            {
                "Operation": "or",
                "SubQueries": [
                    leaf("Size", "gt", "1000"),
                    leaf("ObjectACL", "eq", "private"),
                ],
            },
            ["Docs/C.txt", "img/d.png"],
        ),
        (
            {"Operation": "not", "SubQueries": [leaf("Filename", "prefix", "img/")]},
            ["Docs/C.txt", "docs/a.txt", "docs/b.txt"],
        ),
        (
            {
                "Operation": "not",
                "SubQueries": [
                    {
                        "Operation": "or",
                        "SubQueries": [
                            leaf("Size", "lt", "100"),
                            leaf("OSSTagging.type", "eq", "doc"),
                        ],
                    }
                ],
            },
            ["Docs/C.txt"],
        ),
    ],
)
def test_a_query_finds_exactly_the_matching_objects(indexed, query, expected):
    assert keys_found(indexed, query) == expected


@pytest.mark.django_db
def test_etag_crc64_and_modified_time_match_what_the_object_shows(indexed):
    obj = indexed.stored_objects.get(key="docs/a.txt")
    crc_hex = format(int(obj.crc64), "X")
    assert keys_found(indexed, leaf("ETag", "eq", obj.etag)) == ["docs/a.txt"]
    assert keys_found(indexed, leaf("ETag", "eq", obj.md5)) == ["docs/a.txt"]
    assert keys_found(indexed, leaf("OSSCRC64", "eq", crc_hex)) == ["docs/a.txt"]
    later = (obj.last_modified + timezone.timedelta(seconds=1)).isoformat()
    assert "docs/a.txt" in keys_found(indexed, leaf("FileModifiedTime", "lt", later))
    assert keys_found(indexed, leaf("FileModifiedTime", "gt", later)) == []


@pytest.mark.parametrize(
    ("query", "named"),
    [
        (leaf("Colour", "eq", "red"), "Colour"),
        (leaf("Size", "like", "1"), "like"),
        (leaf("Size", "prefix", "1"), "prefix"),  # prefix is for text
        (leaf("ETag", "gt", "x"), "gt"),
        (leaf("Size", "lt", "ten"), "ten"),
        (leaf("FileModifiedTime", "lt", "yesterday"), "yesterday"),
        (leaf("FileModifiedTime", "lt", "2026-01-01T00:00:00"), "2026-01-01T00:00:00"),
        (leaf("OSSCRC64", "eq", "xyz"), "xyz"),
        (leaf("Size", "exist", "1"), ""),
        ({"Field": "Size", "Value": "1", "Operation": "lt", "Boost": 2}, "Boost"),
        ({"Operation": "and", "SubQueries": []}, ""),
        ({"Operation": "not", "SubQueries": [leaf("Size", "lt", "1")] * 2}, ""),
        ({"Field": "Size", "Value": ["1"], "Operation": "lt"}, ""),
        ([leaf("Size", "lt", "1")], ""),
    ],
)
def test_unknown_fields_operations_and_values_are_refused_naming_them(query, named):
    with pytest.raises(OssError) as refused:
        meta_query.parse_query(json.dumps(query))
    assert refused.value.code == "InvalidArgument"
    assert refused.value.details == {"ArgumentName": "Query", "ArgumentValue": named}


def test_queries_too_deep_or_too_large_are_refused():
    deep = leaf("Size", "lt", "1")
    for _ in range(meta_query.MAX_DEPTH + 1):
        deep = {"Operation": "not", "SubQueries": [deep]}
    wide = {
        "Operation": "or",
        "SubQueries": [leaf("Size", "eq", str(n)) for n in range(101)],
    }
    for query in (deep, wide):
        with pytest.raises(OssError) as refused:
            meta_query.parse_query(json.dumps(query))
        assert refused.value.code == "InvalidArgument"
    # Earlier tests' garbage is collected first: a finalizer the collector ran at the
    # parser's depth would itself hit the recursion limit (an "unraisable" error).
    gc.collect()
    with pytest.raises(OssError):
        meta_query.parse_query("[" * 100000)  # not even JSON Python can nest


def document(**members):
    root = ET.Element("MetaQuery")
    for tag, text in members.items():
        ET.SubElement(root, tag).text = text
    return root


@pytest.mark.django_db
def test_paging_by_next_token_visits_every_object_once_in_order(indexed, put_object):
    query = json.dumps(leaf("Size", "gte", "0"))
    seen, token = [], ""
    for page in range(5):
        answer = meta_query.run_meta_query(
            indexed,
            meta_query.parse_meta_query(
                document(
                    Query=query,
                    MaxResults="2",
                    Sort="Size",
                    Order="desc",
                    NextToken=token,
                )
            ),
        )
        seen += [file.findtext("Filename") for file in answer.iter("File")]
        token = answer.findtext("NextToken")
        if page == 0:  # an object written meanwhile is neither skipped nor repeated
            put_object(indexed, "aa-new", b"n" * 100)
        if not token:
            break
    assert seen == [
        "Docs/C.txt",
        "docs/b.txt",
        "aa-new",
        "img/e.png",
        "img/d.png",
        "docs/a.txt",
    ]  # equal sizes in key order, descending too


@pytest.mark.django_db
def test_a_file_carries_oss_field_names_and_values(indexed):
    answer = meta_query.run_meta_query(
        indexed,
        meta_query.parse_meta_query(
            document(Query=json.dumps(leaf("Filename", "eq", "docs/b.txt")))
        ),
    )
    (file,) = answer.iter("File")
    obj = indexed.stored_objects.get(key="docs/b.txt")
    assert file.findtext("Size") == "200"
    assert file.findtext("ETag") == obj.etag
    assert file.findtext("OSSCRC64") == format(int(obj.crc64), "X")
    assert file.findtext("OSSObjectType") == "Normal"
    assert file.findtext("ObjectACL") == "default"
    assert file.findtext("OSSTaggingCount") == "2"
    assert {(t.findtext("Key"), t.findtext("Value")) for t in file.iter("Tagging")} == {
        ("owner", "john"),
        ("type", "doc"),
    }
    assert answer.findtext("NextToken") == ""


@pytest.mark.django_db
def test_aggregations_cover_every_match_not_only_the_page(indexed):
    aggregations = ET.Element("Aggregations")
    for field, operation in [
        ("Size", "sum"),
        ("Size", "max"),
        ("Size", "min"),
        ("Size", "average"),
        ("Size", "count"),
        ("ContentType", "distinct"),
        ("ContentType", "group"),
        ("OSSTagging.owner", "group"),
        ("OSSTaggingCount", "sum"),
    ]:
        item = ET.SubElement(aggregations, "Aggregation")
        ET.SubElement(item, "Field").text = field
        ET.SubElement(item, "Operation").text = operation
    root = document(Query=json.dumps(leaf("Size", "gte", "0")), MaxResults="1")
    root.append(aggregations)
    answer = meta_query.run_meta_query(indexed, meta_query.parse_meta_query(root))
    results = {
        (a.findtext("Field"), a.findtext("Operation")): a
        for a in answer.iter("Aggregation")
    }
    assert len(list(answer.iter("File"))) == 1
    assert results[("Size", "sum")].findtext("Value") == "3290"
    assert results[("Size", "max")].findtext("Value") == "3000"
    assert results[("Size", "min")].findtext("Value") == "10"
    assert results[("Size", "average")].findtext("Value") == "658"
    assert results[("Size", "count")].findtext("Value") == "5"
    assert results[("ContentType", "distinct")].findtext("Value") == "3"
    assert results[("OSSTaggingCount", "sum")].findtext("Value") == "3"
    groups = [
        (g.findtext("Value"), g.findtext("Count"))
        for g in results[("ContentType", "group")].iter("Group")
    ]
    assert groups == [
        ("image/png", "2"),
        ("text/plain", "2"),
        ("application/octet-stream", "1"),
    ]
    owners = [
        (g.findtext("Value"), g.findtext("Count"))
        for g in results[("OSSTagging.owner", "group")].iter("Group")
    ]
    assert owners == [("john", "1"), ("mary", "1")]


@pytest.mark.django_db
def test_max_of_no_objects_has_no_value_rather_than_a_made_up_zero(bucket):
    root = document(Query=json.dumps(leaf("Size", "gt", "0")))
    aggregations = ET.SubElement(root, "Aggregations")
    item = ET.SubElement(aggregations, "Aggregation")
    ET.SubElement(item, "Field").text = "Size"
    ET.SubElement(item, "Operation").text = "max"
    answer = meta_query.run_meta_query(bucket, meta_query.parse_meta_query(root))
    (aggregation,) = answer.iter("Aggregation")
    assert aggregation.find("Value") is None


# -- refusals through the signed endpoint ---------------------------------------------


def send_query(send, body, params=None):
    return send(
        "POST",
        "alice-bucket",
        params={"metaQuery": "", "comp": "query", **(params or {})},
        body=body.encode(),
    )


def query_body(**members):
    return ET.tostring(document(**members), encoding="unicode")


@pytest.fixture
def opened(bucket):
    bucket.meta_query_opened_at = timezone.now()
    bucket.save()
    return bucket


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("members", "argument"),
    [
        ({"Query": json.dumps(leaf("Colour", "eq", "x"))}, "Query"),
        ({"Query": "not json"}, "Query"),
        ({"Query": ""}, "Query"),
        (
            {"Query": json.dumps(leaf("Size", "lt", "1")), "MaxResults": "101"},
            "MaxResults",
        ),
        (
            {"Query": json.dumps(leaf("Size", "lt", "1")), "MaxResults": "9" * 40},
            "MaxResults",
        ),
        (
            {"Query": json.dumps(leaf("Size", "lt", "1")), "MaxResults": "None"},
            "MaxResults",
        ),
        ({"Query": json.dumps(leaf("Size", "lt", "1")), "Sort": "ETag"}, "Sort"),
        ({"Query": json.dumps(leaf("Size", "lt", "1")), "Sort": "Colour"}, "Sort"),
        ({"Query": json.dumps(leaf("Size", "lt", "1")), "Order": "up"}, "Order"),
        (
            {"Query": json.dumps(leaf("Size", "lt", "1")), "NextToken": "bm9wZQ=="},
            "NextToken",
        ),
    ],
)
def test_a_bad_meta_query_gets_invalid_argument_naming_it(
    alice_signed_client, opened, members, argument
):
    response = send_query(alice_signed_client, query_body(**members))
    assert response.status_code == 400
    fields = error_fields(response)
    assert (fields["Code"], fields["ArgumentName"]) == ("InvalidArgument", argument)


@pytest.mark.django_db
def test_unknown_aggregation_field_or_operation_is_refused(alice_signed_client, opened):
    for field, operation, argument in [
        ("Colour", "sum", "Field"),
        ("ContentType", "sum", "Operation"),
        ("Size", "median", "Operation"),
    ]:
        body = (
            '<MetaQuery><Query>{"Field":"Size","Value":"1","Operation":"gt"}'
            f"</Query><Aggregations><Aggregation><Field>{field}</Field>"
            f"<Operation>{operation}</Operation></Aggregation></Aggregations></MetaQuery>"
        )
        response = send_query(alice_signed_client, body)
        assert response.status_code == 400
        assert error_fields(response)["ArgumentName"] == argument


@pytest.mark.django_db
def test_unknown_or_repeated_elements_are_malformed_xml(alice_signed_client, opened):
    for body in (
        "<MetaQuery><Query>{}</Query><Colour>red</Colour></MetaQuery>",
        "<MetaQuery><Query>{}</Query><Query>{}</Query></MetaQuery>",
        "<Other/>",
        "<MetaQuery>",
    ):
        response = send_query(alice_signed_client, body)
        assert (response.status_code, error_fields(response)["Code"]) == (
            400,
            "MalformedXML",
        )


@pytest.mark.django_db
def test_semantic_mode_is_not_implemented_and_other_modes_are_invalid(
    alice_signed_client, opened
):
    body = query_body(Query=json.dumps(leaf("Size", "lt", "1")))
    semantic = send_query(alice_signed_client, body, {"mode": "semantic"})
    assert semantic.status_code == 501
    other = send_query(alice_signed_client, body, {"mode": "fuzzy"})
    assert error_fields(other)["ArgumentName"] == "mode"
    basic = send_query(alice_signed_client, body, {"mode": "basic"})
    assert basic.status_code == 200


@pytest.mark.django_db
def test_unknown_comp_is_refused_and_changes_nothing(alice_signed_client, bucket):
    response = alice_signed_client(
        "POST", "alice-bucket", params={"metaQuery": "", "comp": "pause"}
    )
    assert (response.status_code, error_fields(response)["ArgumentName"]) == (
        400,
        "comp",
    )
    bucket.refresh_from_db()
    assert bucket.meta_query_opened_at is None


@pytest.mark.django_db
def test_opening_twice_is_a_conflict_and_keeps_the_first_create_time(
    alice_signed_client, opened
):
    first = opened.meta_query_opened_at
    response = alice_signed_client(
        "POST", "alice-bucket", params={"metaQuery": "", "comp": "add"}
    )
    assert (response.status_code, error_fields(response)["Code"]) == (
        409,
        "MetaQueryAlreadyExist",
    )
    opened.refresh_from_db()
    assert opened.meta_query_opened_at == first


# -- the SDK against the live server (V1 and V4) ---------------------------------------


@pytest.fixture
def alice_bucket(as_user):
    bucket = as_user("alice", f"mq-{uuid.uuid4().hex[:12]}")
    bucket.create_bucket()
    return bucket


SMALL = '{"Field": "Size","Value": "1048576","Operation": "lt"}'


@pytest.mark.server
def test_open_status_query_and_close_round_trip(alice_bucket):
    alice_bucket.put_object("a.txt", b"content")
    assert alice_bucket.open_bucket_meta_query().status == 200
    alice_bucket.put_object("b.txt", b"content bbbbbbb", headers={"x-oss-meta-k": "v"})

    status = alice_bucket.get_bucket_meta_query_status()
    assert (status.state, status.phase) == ("Running", "IncrementalScanning")
    assert status.create_time

    result = alice_bucket.do_bucket_meta_query(
        MetaQuery(
            "",
            2,
            SMALL,
            "Size",
            "asc",
            [AggregationsRequest("Size", "sum"), AggregationsRequest("Size", "max")],
        )
    )
    assert [f.file_name for f in result.files] == ["a.txt", "b.txt"]  # no index lag
    b = result.files[1]
    assert (b.size, b.oss_object_type, b.oss_storage_class, b.object_acl) == (
        15,
        "Normal",
        "Standard",
        "default",
    )
    head = alice_bucket.head_object("b.txt")
    assert b.etag == head.etag or b.etag.strip('"') == head.etag
    assert int(b.oss_crc64, 16) == int(head.headers["x-oss-hash-crc64ecma"])
    assert [(m.key, m.value) for m in b.oss_user_meta] == [("x-oss-meta-k", "v")]
    assert [(a.field, a.operation, a.value) for a in result.aggregations] == [
        ("Size", "sum", 22.0),
        ("Size", "max", 15.0),
    ]

    assert alice_bucket.close_bucket_meta_query().status == 200
    with pytest.raises(oss2.exceptions.OssError) as closed:
        alice_bucket.get_bucket_meta_query_status()
    assert (closed.value.status, closed.value.code) == (404, "MetaQueryNotExist")
    assert alice_bucket.close_bucket_meta_query().status == 200  # closing again: 200


@pytest.mark.server
def test_paging_through_the_sdk(alice_bucket):
    for n in range(5):
        alice_bucket.put_object(f"k{n}", b"x" * (n + 1))
    alice_bucket.open_bucket_meta_query()
    names, token = [], ""
    while True:
        result = alice_bucket.do_bucket_meta_query(
            MetaQuery(token, 2, SMALL, "Size", "desc")
        )
        names += [f.file_name for f in result.files]
        token = result.next_token
        if not token:
            break
    assert names == ["k4", "k3", "k2", "k1", "k0"]


@pytest.mark.server
def test_querying_a_bucket_not_opened_is_meta_query_not_exist(alice_bucket):
    with pytest.raises(oss2.exceptions.OssError) as refused:
        alice_bucket.do_bucket_meta_query(MetaQuery("", 2, SMALL))
    assert (refused.value.status, refused.value.code) == (404, "MetaQueryNotExist")


@pytest.mark.server
def test_only_the_owner_opens_queries_or_closes(alice_bucket, as_user):
    alice_bucket.put_object("secret.txt", b"s")
    alice_bucket.open_bucket_meta_query()
    bobs_view = as_user("bob", alice_bucket.bucket_name)
    for attempt in (
        lambda: bobs_view.get_bucket_meta_query_status(),
        lambda: bobs_view.do_bucket_meta_query(MetaQuery("", 2, SMALL)),
        lambda: bobs_view.close_bucket_meta_query(),
    ):
        with pytest.raises(oss2.exceptions.AccessDenied):
            attempt()
    assert alice_bucket.get_bucket_meta_query_status().state == "Running"


@pytest.mark.django_db
def test_a_new_bucket_has_indexing_closed(alice):
    assert Bucket.objects.create(owner=alice, name="fresh").meta_query_opened_at is None


@pytest.mark.django_db
@pytest.mark.parametrize("tag_key", ["a:b", "it's", "x__y", "a.b", "$[0]", "%_", "a b"])
def test_tag_keys_are_matched_literally_whatever_they_hold(bucket, put_object, tag_key):
    put_object(bucket, "tagged", b"t", tags={tag_key: "v"})
    put_object(bucket, "other", b"o", tags={"plain": "v"})
    field = f"OSSTagging.{tag_key}"
    assert keys_found(bucket, leaf(field, "eq", "v")) == ["tagged"]
    assert keys_found(bucket, leaf(field, "exist")) == ["tagged"]
    assert keys_found(bucket, leaf(field, "match", "V")) == ["tagged"]


@pytest.mark.django_db
def test_a_key_no_object_can_have_finds_nothing_and_breaks_nothing(bucket, put_object):
    put_object(bucket, "tagged", b"t", tags={"plain": "v"})
    # Tag keys and header names cannot hold a double quote; the query still runs.
    assert keys_found(bucket, leaf('OSSTagging.a"b', "eq", "v")) == []
    assert keys_found(bucket, leaf('OSSUserMeta.a"b', "exist")) == []


@pytest.mark.server
def test_a_bucket_policy_grants_meta_query_actions_by_their_oss_names(
    alice_bucket, as_user
):
    alice_bucket.put_object("shared.txt", b"s")
    alice_bucket.open_bucket_meta_query()
    grant = {
        "Effect": "Allow",
        "Action": ["oss:DoMetaQuery", "oss:GetMetaQueryStatus"],
        "Principal": ["*"],
        "Resource": [f"acs:oss:*:*:{alice_bucket.bucket_name}"],
    }
    alice_bucket.put_bucket_policy(json.dumps({"Version": "1", "Statement": [grant]}))
    bobs_view = as_user("bob", alice_bucket.bucket_name)

    result = bobs_view.do_bucket_meta_query(MetaQuery("", 2, SMALL))
    assert [f.file_name for f in result.files] == ["shared.txt"]
    assert bobs_view.get_bucket_meta_query_status().state == "Running"
    with pytest.raises(oss2.exceptions.AccessDenied):
        bobs_view.close_bucket_meta_query()
    assert alice_bucket.get_bucket_meta_query_status().state == "Running"
