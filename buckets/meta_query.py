"""Data indexing (OSS MetaQuery): OpenMetaQuery, GetMetaQueryStatus, DoMetaQuery and
CloseMetaQuery, all `?metaQuery` (POST with `comp` = add / query / delete, or GET).

OSS builds a separate index when data indexing is opened and keeps it up to date
some time after each write. Here the "index" is the object table itself: a query
sees every object as it is at that moment (no lag, nothing to build), so the
status is Running as soon as indexing is open. DoMetaQuery's Query JSON becomes a
Django ORM filter (never SQL text), its Sort an ORDER BY with the key as the tie
breaker (NextToken is a keyset position, so paging neither skips nor repeats an
object when others are written meanwhile), its Aggregations database aggregates.

Only scalar retrieval (`mode=basic`, the default) exists; vector retrieval
(`mode=semantic`) answers 501.
"""

import base64
import binascii
import datetime
import json
from dataclasses import dataclass

from django.db import transaction
from django.db.models import (
    Avg,
    BigIntegerField,
    Count,
    F,
    Func,
    Max,
    Min,
    Q,
    Sum,
)
from django.db.models.fields.json import KeyTextTransform
from django.utils import timezone

from buckets import errors, oss_xml
from buckets.models import Bucket
from buckets.names import key_range
from buckets.oss_access import check_access, empty_response, get_bucket, xml_document

DEFAULT_MAX_RESULTS = 100
MAX_RESULTS = 100  # OSS's own limit: a page stays one cheap query
MAX_CONDITIONS = 100  # leaf conditions in one Query
MAX_DEPTH = 10  # nesting of and / or / not
MAX_AGGREGATIONS = 10
MAX_GROUPS = 100  # a group aggregation answers its 100 largest groups
TAG_COUNT = "meta_query_tag_count"  # the annotation OSSTaggingCount reads


# -- the operations ------------------------------------------------------------


def meta_query_status(request, bucket_name):
    """GetMetaQueryStatus (GET ?metaQuery)."""
    bucket = _owned_bucket(request, bucket_name, "oss:GetMetaQueryStatus")
    _check_mode(request)
    opened_at = _opened_at(bucket)
    return oss_xml.xml_response(status_document(opened_at, timezone.now()))


def meta_query_operation(request, bucket_name):
    """POST ?metaQuery: `comp` names the operation (OSS's own parameter)."""
    comp = request.GET.get("comp")
    if comp not in POST_OPERATIONS:
        get_bucket(bucket_name)  # a missing bucket is still NoSuchBucket
        raise errors.invalid_argument(
            "comp must be add, query or delete for ?metaQuery.", "comp", comp or ""
        )
    operation, action = POST_OPERATIONS[comp]
    bucket = _owned_bucket(request, bucket_name, action)
    _check_mode(request)
    return operation(request, bucket)


def _owned_bucket(request, bucket_name, action):
    """The owner's, or whoever the bucket policy grants `action` (OSS's RAM action
    names: oss:OpenMetaQuery... rather than ones derived from the route)."""
    bucket = get_bucket(bucket_name)
    check_access(
        request,
        bucket,
        acl_grants=False,
        action=action,
        denied=errors.access_denied("You have no right to access this bucket."),
    )
    return bucket


def _open(request, bucket):
    """OpenMetaQuery: the index exists at once (it is the object table)."""
    with transaction.atomic():
        bucket = Bucket.objects.select_for_update().get(pk=bucket.pk)
        if bucket.meta_query_opened_at is not None:
            raise errors.OssError(
                409,
                "MetaQueryAlreadyExist",
                "Data indexing is already open for this bucket.",
                BucketName=bucket.name,
            )
        bucket.meta_query_opened_at = timezone.now()
        bucket.save(update_fields=["meta_query_opened_at"])
    return empty_response(200)


def _close(request, bucket):
    """CloseMetaQuery: 200 whether or not indexing was open (as OSS answers)."""
    Bucket.objects.filter(pk=bucket.pk).update(meta_query_opened_at=None)
    return empty_response(200)


def _query(request, bucket):
    """DoMetaQuery."""
    _opened_at(bucket)
    meta_query = parse_meta_query(xml_document(request, "MetaQuery"))
    return oss_xml.xml_response(run_meta_query(bucket, meta_query))


POST_OPERATIONS = {
    "add": (_open, "oss:OpenMetaQuery"),
    "query": (_query, "oss:DoMetaQuery"),
    "delete": (_close, "oss:CloseMetaQuery"),
}


def _opened_at(bucket):
    if bucket.meta_query_opened_at is None:
        raise errors.OssError(
            404,
            "MetaQueryNotExist",
            "Data indexing is not open for this bucket (OpenMetaQuery opens it).",
            BucketName=bucket.name,
        )
    return bucket.meta_query_opened_at


def _check_mode(request):
    """Scalar retrieval only: vector retrieval needs models this server lacks."""
    mode = request.GET.get("mode")
    if mode in (None, "", "basic"):
        return
    if mode == "semantic":
        raise errors.not_implemented("MetaQuery mode=semantic (vector retrieval)")
    raise errors.invalid_argument("mode must be basic or semantic.", "mode", mode)


def status_document(opened_at, now):
    """<MetaQueryStatus>: Running from the start, since nothing needs building."""
    return oss_xml.element(
        "MetaQueryStatus",
        children=[
            oss_xml.element("State", "Running"),
            oss_xml.element("Phase", "IncrementalScanning"),
            oss_xml.element("CreateTime", rfc3339(opened_at)),
            oss_xml.element("UpdateTime", rfc3339(now)),
            oss_xml.element("MetaQueryMode", "basic"),
        ],
    )


def rfc3339(moment):
    return moment.astimezone(datetime.UTC).isoformat()


# -- fields ------------------------------------------------------------------------


class Kind:
    TEXT = "text"
    INTEGER = "integer"
    TIME = "time"
    ETAG = "etag"
    CRC64 = "crc64"


COMPARISONS = ("eq", "gt", "gte", "lt", "lte")
OPERATIONS_BY_KIND = {
    Kind.TEXT: (*COMPARISONS, "prefix", "match", "exist"),
    Kind.INTEGER: (*COMPARISONS, "exist"),
    Kind.TIME: (*COMPARISONS, "exist"),
    Kind.ETAG: ("eq", "exist"),
    Kind.CRC64: ("eq", "exist"),
}
LOGICAL_OPERATIONS = ("and", "or", "not")


@dataclass(frozen=True)
class MetaField:
    """One OSS field name and what it reads: a column, a JSON key, or the tag count."""

    name: str
    kind: str
    column: str = ""  # a StoredObject column, or the JSON column of json_key
    json_key: str | None = None

    @property
    def expression(self):
        if self.json_key is not None:
            return KeyTextTransform(self.json_key, self.column)
        return F(self.column)

    @property
    def sortable(self):
        return self.json_key is None and self.kind in (
            Kind.TEXT,
            Kind.INTEGER,
            Kind.TIME,
        )


COLUMN_FIELDS = {
    field.name: field
    for field in (
        MetaField("Filename", Kind.TEXT, "key"),
        MetaField("Size", Kind.INTEGER, "size"),
        MetaField("FileModifiedTime", Kind.TIME, "last_modified"),
        MetaField("OSSObjectType", Kind.TEXT, "object_type"),
        MetaField("OSSStorageClass", Kind.TEXT, "storage_class"),
        MetaField("ObjectACL", Kind.TEXT, "acl"),
        MetaField("ContentType", Kind.TEXT, "content_type"),
        MetaField("ETag", Kind.ETAG, "md5"),
        MetaField("OSSCRC64", Kind.CRC64, "crc64"),
        MetaField("OSSTaggingCount", Kind.INTEGER, TAG_COUNT),
    )
}
JSON_FIELD_PREFIXES = {"OSSTagging.": "tags", "OSSUserMeta.": "user_meta"}


def meta_field(name):
    """The MetaField an OSS field name means; InvalidArgument naming it if none."""
    if not isinstance(name, str):
        raise _bad_query(f"Field must be a string, not {json.dumps(name)}.")
    if name in COLUMN_FIELDS:
        return COLUMN_FIELDS[name]
    for prefix, column in JSON_FIELD_PREFIXES.items():
        if name.startswith(prefix) and len(name) > len(prefix):
            key = name[len(prefix) :]
            if column == "user_meta":
                # Stored lower-case without the header prefix (x-oss-meta-*).
                key = key.lower().removeprefix("x-oss-meta-")
            return MetaField(name, Kind.TEXT, column, key)
    raise _bad_query(f"Unknown field {name}.", name)


class TagCount(Func):
    """How many tags an object has: the number of keys of its `tags` JSON object."""

    output_field = BigIntegerField()

    def as_sqlite(self, compiler, connection, **extra):
        return self.as_sql(
            compiler,
            connection,
            template="(SELECT COUNT(*) FROM json_each(%(expressions)s))",
            **extra,
        )

    def as_postgresql(self, compiler, connection, **extra):
        return self.as_sql(
            compiler,
            connection,
            template="(SELECT COUNT(*) FROM jsonb_object_keys(%(expressions)s))",
            **extra,
        )


def objects_of(bucket):
    """The bucket's objects, with the tag count OSSTaggingCount filters and sorts on."""
    return bucket.stored_objects.annotate(**{TAG_COUNT: TagCount("tags")})


# -- Query JSON -> Q ------------------------------------------------------------------


def _bad_query(message, value=""):
    return errors.invalid_argument(message, "Query", value)


def parse_query(text):
    """The Query element's JSON as a Q over StoredObject (with objects_of's tag count)."""
    try:
        node = json.loads(text)
    except (ValueError, RecursionError):
        raise _bad_query("Query is not valid JSON.") from None
    counter = [0]
    return _node_to_q(node, 0, counter)


def _node_to_q(node, depth, counter):
    if not isinstance(node, dict):
        raise _bad_query("Each query must be a JSON object.")
    operation = node.get("Operation")
    if operation in LOGICAL_OPERATIONS:
        return _logical_q(node, operation, depth, counter)
    counter[0] += 1
    if counter[0] > MAX_CONDITIONS:
        raise _bad_query(f"A Query holds at most {MAX_CONDITIONS} conditions.")
    return condition_q(node)


def _logical_q(node, operation, depth, counter):
    _check_keys(node, {"Operation", "SubQueries"})
    if depth >= MAX_DEPTH:
        raise _bad_query(f"Queries nest at most {MAX_DEPTH} levels deep.")
    subqueries = node.get("SubQueries")
    if not isinstance(subqueries, list) or not subqueries:
        raise _bad_query(f"Operation {operation} needs a list of SubQueries.")
    if operation == "not" and len(subqueries) != 1:
        raise _bad_query("Operation not takes exactly one SubQuery.")
    parts = [_node_to_q(sub, depth + 1, counter) for sub in subqueries]
    if operation == "not":
        return ~parts[0]
    combined = parts[0]
    for part in parts[1:]:
        combined = combined & part if operation == "and" else combined | part
    return combined


def _check_keys(node, allowed):
    for name in node:
        if name not in allowed:
            raise _bad_query(f"Unknown query member {name}.", str(name))


def condition_q(node):
    """One {"Field", "Value", "Operation"} condition."""
    _check_keys(node, {"Field", "Value", "Operation"})
    field = meta_field(node.get("Field"))
    operation = node.get("Operation")
    if operation not in OPERATIONS_BY_KIND[field.kind]:
        raise _bad_query(
            f"Operation {operation} does not apply to field {field.name}.",
            str(operation),
        )
    if operation == "exist":
        if node.get("Value") not in (None, ""):
            raise _bad_query("Operation exist takes no Value.")
        return _exists_q(field)
    value = _condition_value(field, node.get("Value"))
    return _compare_q(field, operation, value)


def _condition_value(field, raw):
    if isinstance(raw, bool) or not isinstance(raw, str | int | float):
        raise _bad_query(f"Value for {field.name} must be a string.")
    text = str(raw)
    if field.kind == Kind.INTEGER:
        if not text.isdecimal() or len(text) > 19:
            raise _bad_query(f"Value for {field.name} must be an integer.", text)
        return int(text)
    if field.kind == Kind.TIME:
        return _parse_time(field, text)
    if field.kind == Kind.CRC64:
        return _crc64_decimal(text)
    if field.kind == Kind.ETAG:
        return text.strip('"')
    return text


def _parse_time(field, text):
    try:
        moment = datetime.datetime.fromisoformat(text)
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None:
        raise _bad_query(
            f"Value for {field.name} must be an RFC 3339 time with a time zone.", text
        )
    return moment


def _crc64_decimal(text):
    """OSSCRC64 is shown in hex (as OSS shows it); the column holds it in decimal."""
    if not 0 < len(text) <= 16:
        raise _bad_query("Value for OSSCRC64 must be hexadecimal.", text)
    try:
        return str(int(text, 16))
    except ValueError:
        raise _bad_query("Value for OSSCRC64 must be hexadecimal.", text) from None


def _exists_q(field):
    if field.json_key is not None:
        return Q(**{f"{field.column}__has_key": field.json_key})
    if field.kind == Kind.CRC64:
        return ~Q(crc64="")
    return Q(pk__isnull=False)  # every object has the other fields


LOOKUPS = {"eq": "exact", "gt": "gt", "gte": "gte", "lt": "lt", "lte": "lte"}


def _compare_q(field, operation, value):
    if field.kind == Kind.ETAG:
        # A multipart object's ETag is its own; any other's is its MD5.
        return Q(multipart_etag__in={value, value.upper()}) | Q(
            multipart_etag="", md5=value.lower()
        )
    condition = _value_q(field, operation, value)
    if field.json_key is not None:
        # Never NULL: `not` of a condition on a missing tag must hold (SQL's NOT NULL
        # is NULL), so an object without the key plainly fails the condition.
        return _exists_q(field) & condition
    return condition


def _value_q(field, operation, value):
    if operation == "prefix":
        low, high = key_range(value)  # a range, not LIKE (case-blind on SQLite)
        q = _lookup_q(field, "gte", low)
        return q & _lookup_q(field, "lt", high) if high is not None else q
    if operation == "match":
        # A substring, ASCII case-insensitive, wherever it occurs.
        return _lookup_q(field, "icontains", value)
    return _lookup_q(field, LOOKUPS[operation], value)


def _lookup_q(field, lookup_name, value):
    """`field <lookup> value`; the value is always a query parameter, and a JSON key
    is a parameter too (KeyTextTransform), so no user text reaches the SQL."""
    if field.json_key is None:
        return Q(**{f"{field.column}__{lookup_name}": value})
    expression = field.expression
    return Q(expression.output_field.get_lookup(lookup_name)(expression, value))


# -- the MetaQuery document ---------------------------------------------------------


@dataclass(frozen=True)
class Aggregation:
    field: MetaField
    operation: str


@dataclass(frozen=True)
class MetaQuery:
    query: Q
    max_results: int
    sort: MetaField
    descending: bool
    next_token: tuple | None
    aggregations: tuple


MEMBERS = ("NextToken", "MaxResults", "Query", "Sort", "Order", "Aggregations")


def parse_meta_query(root):
    """A <MetaQuery> request document as a MetaQuery; InvalidArgument or
    MalformedXML naming what is wrong."""
    texts = _member_texts(root)
    if not texts.get("Query"):
        raise errors.invalid_argument("Query is required.", "Query", "")
    sort = _sort_field(texts.get("Sort"))
    descending = _descending(texts.get("Order"))
    return MetaQuery(
        query=parse_query(texts["Query"]),
        max_results=_max_results(texts.get("MaxResults")),
        sort=sort,
        descending=descending,
        next_token=decode_next_token(texts.get("NextToken"), sort, descending),
        aggregations=_aggregations(root.find("Aggregations")),
    )


def _member_texts(root):
    texts = {}
    for child in root:
        if child.tag not in MEMBERS or child.tag in texts:
            raise errors.malformed_xml(
                f"A MetaQuery holds each of {', '.join(MEMBERS)} at most once; "
                f"{child.tag} is not expected here."
            )
        texts[child.tag] = (child.text or "").strip()
    return texts


def _max_results(text):
    if not text or text == "0":
        return DEFAULT_MAX_RESULTS
    if not text.isdecimal() or int(text) > MAX_RESULTS:
        raise errors.invalid_argument(
            f"MaxResults must be an integer from 0 to {MAX_RESULTS}.",
            "MaxResults",
            text[:64],
        )
    return int(text)


def _sort_field(name):
    if not name:
        return COLUMN_FIELDS["Filename"]
    field = COLUMN_FIELDS.get(name)
    if field is None or not field.sortable:
        raise errors.invalid_argument(f"Cannot sort by {name}.", "Sort", name[:256])
    return field


def _descending(order):
    if order not in (None, "", "asc", "desc"):
        raise errors.invalid_argument("Order must be asc or desc.", "Order", order)
    return order == "desc"


AGGREGATIONS_BY_KIND = {
    Kind.INTEGER: ("sum", "average", "max", "min", "count", "distinct", "group"),
    Kind.TEXT: ("count", "distinct", "group"),
    Kind.TIME: ("count", "distinct"),
    Kind.ETAG: ("count", "distinct"),
    Kind.CRC64: ("count", "distinct"),
}


def _aggregations(node):
    if node is None:
        return ()
    items = list(node)
    if len(items) > MAX_AGGREGATIONS:
        raise errors.invalid_argument(
            f"At most {MAX_AGGREGATIONS} aggregations per query.", "Aggregations", ""
        )
    return tuple(_aggregation(item) for item in items)


def _aggregation(item):
    if item.tag != "Aggregation" or {child.tag for child in item} - {
        "Field",
        "Operation",
    }:
        raise errors.malformed_xml("Aggregations holds Aggregation elements only.")
    name = (item.findtext("Field") or "").strip()
    operation = (item.findtext("Operation") or "").strip()
    try:
        field = meta_field(name)
    except errors.OssError:
        raise errors.invalid_argument(
            f"Unknown aggregation field {name}.", "Field", name[:256]
        ) from None
    if operation not in AGGREGATIONS_BY_KIND[field.kind]:
        raise errors.invalid_argument(
            f"Aggregation {operation} does not apply to field {name}.",
            "Operation",
            operation[:64],
        )
    return Aggregation(field, operation)


# -- NextToken: the last row's (sort value, key) --------------------------------------


def encode_next_token(sort, descending, value, key):
    if isinstance(value, datetime.datetime):
        value = value.isoformat()
    payload = json.dumps([sort.name, descending, value, key], separators=(",", ":"))
    return base64.urlsafe_b64encode(payload.encode()).decode("ascii")


def decode_next_token(token, sort, descending):
    """(sort value, key) after which the page starts, None for the first page. A
    token from another Sort or Order is refused: it names a position in another order."""
    if not token:
        return None
    try:
        name, token_descending, value, key = json.loads(
            base64.urlsafe_b64decode(token.encode("ascii"))
        )
        if name != sort.name or token_descending != descending:
            raise ValueError("a token of another order")
        if not isinstance(key, str):
            raise ValueError("a key is a string")
        return _token_value(sort, value), key
    except (ValueError, TypeError, UnicodeError, binascii.Error):
        raise errors.invalid_argument(
            "NextToken is not one this query returned.", "NextToken", token[:256]
        ) from None


def _token_value(sort, value):
    """The sort value as the column holds it; ValueError if it cannot be one."""
    if sort.kind == Kind.TIME:
        return datetime.datetime.fromisoformat(value)
    expected = int if sort.kind == Kind.INTEGER else str
    if isinstance(value, bool) or not isinstance(value, expected):
        raise ValueError("not a value of the sort field")
    return value


def _after_token(sort, descending, token):
    value, key = token
    beyond = "lt" if descending else "gt"
    return Q(**{f"{sort.column}__{beyond}": value}) | Q(
        **{sort.column: value, f"key__{beyond}": key}
    )


# -- running it ------------------------------------------------------------------------


def run_meta_query(bucket, meta_query):
    """The <MetaQuery> answer: one page of files, NextToken, and the aggregations
    over every object the query matches (not only this page)."""
    matching = objects_of(bucket).filter(meta_query.query)
    page_rows = _page(matching, meta_query)
    more = len(page_rows) > meta_query.max_results
    page_rows = page_rows[: meta_query.max_results]
    next_token = ""
    if more:
        last = page_rows[-1]
        next_token = encode_next_token(
            meta_query.sort,
            meta_query.descending,
            getattr(last, meta_query.sort.column),
            last.key,
        )
    return oss_xml.element(
        "MetaQuery",
        children=[
            oss_xml.element("NextToken", next_token),
            oss_xml.element("Files", children=[file_element(row) for row in page_rows]),
            _aggregations_element(matching, meta_query.aggregations),
        ],
    )


def _page(matching, meta_query):
    rows = matching
    if meta_query.next_token is not None:
        rows = rows.filter(
            _after_token(meta_query.sort, meta_query.descending, meta_query.next_token)
        )
    sign = "-" if meta_query.descending else ""
    ordered = rows.order_by(f"{sign}{meta_query.sort.column}", f"{sign}key")
    return list(ordered[: meta_query.max_results + 1])


def file_element(obj):
    """One <File>, with OSS's field names."""
    children = [
        oss_xml.element("Filename", obj.key),
        oss_xml.element("Size", obj.size),
        oss_xml.element("FileModifiedTime", rfc3339(obj.last_modified)),
        oss_xml.element("OSSObjectType", obj.object_type),
        oss_xml.element("OSSStorageClass", obj.storage_class),
        oss_xml.element("ObjectACL", obj.acl),
        oss_xml.element("ETag", obj.etag),
        oss_xml.element("ContentType", obj.content_type),
    ]
    if obj.crc64:
        children.append(oss_xml.element("OSSCRC64", format(int(obj.crc64), "X")))
    children.append(oss_xml.element("OSSTaggingCount", len(obj.tags)))
    if obj.tags:
        children.append(_pairs_element("OSSTagging", "Tagging", obj.tags.items()))
    if obj.user_meta:
        user_meta = ((f"x-oss-meta-{k}", v) for k, v in obj.user_meta.items())
        children.append(_pairs_element("OSSUserMeta", "UserMeta", user_meta))
    return oss_xml.element("File", children=children)


def _pairs_element(tag, item_tag, pairs):
    return oss_xml.element(
        tag,
        children=[
            oss_xml.element(
                item_tag,
                children=[oss_xml.element("Key", k), oss_xml.element("Value", v)],
            )
            for k, v in pairs
        ],
    )


# -- aggregations -------------------------------------------------------------------

AGGREGATES = {
    "sum": Sum,
    "average": Avg,
    "max": Max,
    "min": Min,
    "count": Count,
    "distinct": lambda expression: Count(expression, distinct=True),
}


def _aggregations_element(matching, aggregations):
    if not aggregations:
        return None
    return oss_xml.element(
        "Aggregations",
        children=[_aggregation_element(matching, item) for item in aggregations],
    )


def _aggregation_element(matching, aggregation):
    children = [
        oss_xml.element("Field", aggregation.field.name),
        oss_xml.element("Operation", aggregation.operation),
    ]
    if aggregation.operation == "group":
        children.append(_groups_element(matching, aggregation.field))
    else:
        value = aggregate_value(matching, aggregation)
        if value is not None:  # max / min / average of no objects: no value
            children.append(oss_xml.element("Value", _number_text(value)))
    return oss_xml.element("Aggregation", children=children)


def aggregate_value(matching, aggregation):
    aggregate = AGGREGATES[aggregation.operation]
    return matching.aggregate(result=aggregate(aggregation.field.expression))["result"]


def group_counts(matching, field):
    """[(value, count)], the largest groups first, at most MAX_GROUPS."""
    rows = (
        matching.annotate(meta_query_group=field.expression)
        .exclude(meta_query_group__isnull=True)
        .values("meta_query_group")
        .annotate(meta_query_count=Count("pk"))
        .order_by("-meta_query_count", "meta_query_group")[:MAX_GROUPS]
    )
    return [(row["meta_query_group"], row["meta_query_count"]) for row in rows]


def _groups_element(matching, field):
    return oss_xml.element(
        "Groups",
        children=[
            oss_xml.element(
                "Group",
                children=[
                    oss_xml.element("Value", value),
                    oss_xml.element("Count", count),
                ],
            )
            for value, count in group_counts(matching, field)
        ],
    )


def _number_text(value):
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)
