"""PutBucketLifecycle, GetBucketLifecycle and DeleteBucketLifecycle (`?lifecycle`).

A configuration is stored rule by rule (LifecycleRule rows, one field per element)
and written back element by element as it was sent; the lifecycle job
(buckets/lifecycle_job.py) applies it. Only what that job honours is accepted:
Expiration (Days, Date, CreatedBeforeDate), Transition (Days or CreatedBeforeDate to
IA, Archive, ColdArchive or DeepColdArchive; IsAccessTime with the bucket's access
monitor on, ReturnToStdWhenVisit, AllowSmallFile), AbortMultipartUpload (Days,
CreatedBeforeDate), Prefix, Status, Tag, and Filter (ObjectSizeGreaterThan,
ObjectSizeLessThan, one Not with Prefix and an optional Tag). What OSS has and this
server cannot honour is refused with 400 InvalidArgument naming the element, never
stored and ignored. For versioned buckets: NoncurrentVersionExpiration,
NoncurrentVersionTransition (NoncurrentDays, StorageClass) and
ExpiredObjectDeleteMarker.
"""

import datetime
import re
import uuid

from django.db import transaction

from buckets import errors, oss_xml
from buckets.access_monitor import uses_access_time
from buckets.models import Bucket, LifecycleRule
from buckets.oss_access import empty_response, owned_bucket, parse_xml, read_xml_body
from buckets.storage_classes import COLDNESS, StorageClass
from buckets.tagging import check_tag_characters

MAX_RULES = 1000
MAX_ID_BYTES = 255
MAX_PREFIX_BYTES = 1023
MAX_DAYS = 2**31 - 1
MAX_SIZE = 2**63 - 1
ALLOW_OVERLAP_HEADER = "x-oss-allow-same-action-overlap"

# Elements OSS knows that this server cannot honour: refused, naming them.
CANNOT_HONOUR = {
    "AtimeBase": "AtimeBase is OSS's record of when access tracking began, not a setting",
}
TRANSITION_CLASSES = (
    StorageClass.IA,
    StorageClass.ARCHIVE,
    StorageClass.COLD_ARCHIVE,
    StorageClass.DEEP_COLD_ARCHIVE,
)
_BOOLEANS = {"true": True, "false": False}
_MIDNIGHT_RE = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})T00:00:00(?:\.000)?Z")
_DAYS_RE = re.compile(r"[0-9]{1,10}")
_SIZE_RE = re.compile(r"[0-9]{1,19}")


# -- the operations --------------------------------------------------------------------


def put_bucket_lifecycle(request, bucket_name):
    bucket = owned_bucket(request, bucket_name)
    allow_overlap = request.headers.get(ALLOW_OVERLAP_HEADER, "").lower() == "true"
    rules = parse_configuration(read_xml_body(request), allow_overlap=allow_overlap)
    with transaction.atomic():
        # Two PUTs at once: the second waits here and replaces the first's rules whole
        # (PutBucketAccessMonitor takes the same lock).
        bucket = Bucket.objects.select_for_update().get(pk=bucket.pk)
        _check_access_monitor(bucket, rules)
        bucket.lifecycle_rules.all().delete()
        for position, rule in enumerate(rules, start=1):
            rule.bucket, rule.position = bucket, position
        LifecycleRule.objects.bulk_create(rules)
    return empty_response(200)


def get_bucket_lifecycle(request, bucket_name):
    bucket = owned_bucket(request, bucket_name)
    rules = list(bucket.lifecycle_rules.all())
    if not rules:
        raise errors.not_configured(
            "NoSuchLifecycle",
            "The lifecycle configuration does not exist.",
            bucket_name,
        )
    return oss_xml.xml_response(configuration_element(rules))


def delete_bucket_lifecycle(request, bucket_name):
    """204 whether or not there was a configuration, as on OSS."""
    bucket = owned_bucket(request, bucket_name)
    bucket.lifecycle_rules.all().delete()
    return empty_response(204)


# -- reading a LifecycleConfiguration ------------------------------------------------------


def parse_configuration(body, *, allow_overlap=False):
    """The unsaved LifecycleRule rows of a LifecycleConfiguration document, in
    order; OssError for anything OSS refuses or this server cannot honour."""
    root = parse_xml(body, "LifecycleConfiguration")
    nodes = _children(root, {"Rule"}, "LifecycleConfiguration").get("Rule", [])
    if not nodes:
        raise errors.malformed_xml("A LifecycleConfiguration needs at least one Rule.")
    if len(nodes) > MAX_RULES:
        raise errors.invalid_argument(
            f"A lifecycle configuration holds at most {MAX_RULES} rules.",
            "Rule",
            str(len(nodes)),
        )
    rules = [_rule(node) for node in nodes]
    _check_unique_ids(rules)
    if not allow_overlap:
        _check_overlaps(rules)
    return rules


def _rule(node):
    found = _children(
        node,
        {
            "ID",
            "Prefix",
            "Status",
            "Expiration",
            "AbortMultipartUpload",
            "Tag",
            "Filter",
            "Transition",
            "NoncurrentVersionExpiration",
            "NoncurrentVersionTransition",
        },
        "Rule",
    )
    rule = LifecycleRule(
        rule_id=_single_text(found, "ID") or _generated_id(),
        prefix=_single_text(found, "Prefix"),
        status=_single_text(found, "Status", required=True),
    )
    _check_length(rule.rule_id, MAX_ID_BYTES, "ID")
    _check_length(rule.prefix, MAX_PREFIX_BYTES, "Prefix")
    if rule.status not in LifecycleRule.Status.values:
        raise errors.invalid_argument(
            "Status must be Enabled or Disabled.", "Status", rule.status
        )
    expiration = _single(found, "Expiration")
    if (
        expiration is not None
        and expiration.find("ExpiredObjectDeleteMarker") is not None
    ):
        rule.expired_object_delete_marker = _delete_marker_expiry(expiration)
    elif expiration is not None:
        kind, value = _one_of(expiration, ("Days", "Date", "CreatedBeforeDate"))
        field = {
            "Days": "expiration_days",
            "Date": "expiration_date",
            "CreatedBeforeDate": "expiration_created_before_date",
        }[kind]
        setattr(rule, field, value)
    if "Transition" in found:
        _check_not_mixed(rule, found["Transition"])
        rule.transitions = [_transition(node) for node in found["Transition"]]
        _check_transitions(rule)
    abort = _single(found, "AbortMultipartUpload")
    if abort is not None:
        kind, value = _one_of(abort, ("Days", "CreatedBeforeDate"))
        field = "abort_days" if kind == "Days" else "abort_created_before_date"
        setattr(rule, field, value)
    noncurrent = _single(found, "NoncurrentVersionExpiration")
    if noncurrent is not None:
        rule.noncurrent_expiration_days = _noncurrent_days(noncurrent)
    rule.noncurrent_transitions = [
        _noncurrent_transition(node)
        for node in found.get("NoncurrentVersionTransition", [])
    ]
    _check_noncurrent_transitions(rule)
    if not (
        rule.expires_objects
        or rule.aborts_uploads
        or rule.transitions
        or rule.acts_on_older_versions
    ):
        raise errors.invalid_argument(
            "A rule needs an action: Expiration, Transition, AbortMultipartUpload or "
            "a noncurrent-version action.",
            "Rule",
            rule.rule_id,
        )
    rule.tags = _tags(found.get("Tag", []))
    filter_node = _single(found, "Filter")
    if filter_node is not None:
        _read_filter(filter_node, rule)
    _check_abort_conditions(rule)
    return rule


def _read_filter(node, rule):
    found = _children(
        node, {"ObjectSizeGreaterThan", "ObjectSizeLessThan", "Not"}, "Filter"
    )
    rule.has_filter = True
    greater = _single(found, "ObjectSizeGreaterThan")
    if greater is not None:
        rule.object_size_greater_than = _size(greater, low=0)
    less = _single(found, "ObjectSizeLessThan")
    if less is not None:
        rule.object_size_less_than = _size(less, low=1)
    if (
        rule.object_size_greater_than is not None
        and rule.object_size_less_than is not None
        and rule.object_size_greater_than + 1 >= rule.object_size_less_than
    ):
        raise errors.invalid_argument(
            "ObjectSizeLessThan must be more than ObjectSizeGreaterThan + 1, or no object matches.",
            "ObjectSizeLessThan",
            str(rule.object_size_less_than),
        )
    nots = found.get("Not", [])
    if len(nots) > 1:
        raise errors.invalid_argument(
            "A Filter holds at most one Not.", "Not", str(len(nots))
        )
    rule.filter_not = [_not(not_node, rule.prefix) for not_node in nots]


def _not(node, rule_prefix):
    found = _children(node, {"Prefix", "Tag"}, "Not")
    prefix = _single_text(found, "Prefix")
    _check_length(prefix, MAX_PREFIX_BYTES, "Not/Prefix")
    tags = _tags(found.get("Tag", []))
    if len(tags) > 1:
        raise errors.invalid_argument("A Not holds at most one Tag.", "Not/Tag", "")
    tag = tags[0] if tags else None
    if not prefix.startswith(rule_prefix) or (prefix == rule_prefix and tag is None):
        raise errors.invalid_argument(
            "Not/Prefix must start with the rule's Prefix and, without a Tag, be longer "
            "than it (otherwise the rule matches nothing).",
            "Not/Prefix",
            prefix,
        )
    return {"prefix": prefix, "tag": tag}


def _tags(nodes):
    """[[key, value], ...] of Tag elements. As on OSS, tags that no object can carry
    (more than 10, a key over 128 or a value over 256 characters) are accepted: the
    rule is applied and matches no object. Characters no tag may hold are refused
    (InvalidTag)."""
    pairs = []
    for node in nodes:
        found = _children(node, {"Key", "Value"}, "Tag")
        key = _single_text(found, "Key", required=True)
        value = _single_text(found, "Value")
        check_tag_characters(key, value)
        pairs.append([key, value])
    if len({key for key, _value in pairs}) != len(pairs):
        raise errors.invalid_argument("Tag keys in a rule must be unique.", "Tag", "")
    return pairs


def _check_not_mixed(rule, transitions):
    """OSS's own check (InvalidRequest): a rule's Expiration and Transitions count
    either Days or dates, not both."""
    kinds = set()
    if rule.expires_objects:
        kinds.add("days" if rule.expiration_days is not None else "date")
    for transition in transitions:
        if transition.find("Days") is not None:
            kinds.add("days")
        if transition.find("CreatedBeforeDate") is not None:
            kinds.add("date")
    if len(kinds) > 1:
        raise errors.OssError(
            400,
            "InvalidRequest",
            "Expiration and Transition in one rule must both use Days or both use dates.",
        )


def _transition(node):
    """One Transition element as stored: what was sent, None for what was not."""
    found = _children(
        node,
        {
            "Days",
            "CreatedBeforeDate",
            "StorageClass",
            "IsAccessTime",
            "ReturnToStdWhenVisit",
            "AllowSmallFile",
        },
        "Transition",
    )
    days_node, date_node = _single(found, "Days"), _single(found, "CreatedBeforeDate")
    if (days_node is None) == (date_node is None):
        raise errors.invalid_argument(
            "Transition needs exactly one of Days, CreatedBeforeDate.", "Transition", ""
        )
    storage_class = _single_text(found, "StorageClass", required=True)
    if storage_class not in TRANSITION_CLASSES:
        raise errors.invalid_argument(
            f"Transition/StorageClass must be one of {', '.join(TRANSITION_CLASSES)}.",
            "StorageClass",
            storage_class,
        )
    transition = {
        "days": None if days_node is None else _days(days_node, "Transition/Days"),
        "created_before_date": None
        if date_node is None
        else _midnight_date(date_node, "Transition/CreatedBeforeDate").isoformat(),
        "storage_class": storage_class,
        **{
            field: _boolean(found, tag)
            for field, tag in (
                ("is_access_time", "IsAccessTime"),
                ("return_to_std_when_visit", "ReturnToStdWhenVisit"),
                ("allow_small_file", "AllowSmallFile"),
            )
        },
    }
    _check_access_time_options(transition)
    return transition


def _boolean(found, tag):
    if tag not in found:
        return None
    text = _single_text(found, tag).strip()
    if text not in _BOOLEANS:
        raise errors.invalid_argument(f"{tag} must be true or false.", tag, text)
    return _BOOLEANS[text]


def _check_access_time_options(transition):
    """ReturnToStdWhenVisit and AllowSmallFile only mean something for a transition
    counted from last access; one counted from a date cannot be."""
    if transition["is_access_time"]:
        if transition["days"] is None:
            raise errors.invalid_argument(
                "A transition by last access time counts Days, not a date.",
                "IsAccessTime",
                "true",
            )
        if (
            transition["return_to_std_when_visit"]
            and transition["storage_class"] != StorageClass.IA
        ):
            raise errors.invalid_argument(
                "ReturnToStdWhenVisit is for transitions to IA: a read of an archived "
                "object needs a restore.",
                "ReturnToStdWhenVisit",
                "true",
            )
        return
    for field, tag in (
        ("return_to_std_when_visit", "ReturnToStdWhenVisit"),
        ("allow_small_file", "AllowSmallFile"),
    ):
        if transition[field]:
            raise errors.invalid_argument(
                f"{tag} needs IsAccessTime true.", tag, "true"
            )


def _age(days, date):
    """How old an object must be, as one comparable number: Days, or a date as
    its negative day number (an earlier date means older objects)."""
    return days if days is not None else -date.toordinal()


def _transition_age(transition):
    date = transition["created_before_date"]
    return _age(transition["days"], date and datetime.date.fromisoformat(date))


def _check_transitions(rule):
    """OSS's checks: each class once, colder classes for older objects, all of them
    before the objects expire."""
    expiry = None
    if rule.expiration_days is not None or rule.expiration_created_before_date:
        # (With a Date, every object goes that day: nothing to compare.)
        expiry = _age(rule.expiration_days, rule.expiration_created_before_date)
    _check_ordered(rule.transitions, "Transition", _transition_age, expiry)


def _check_ordered(transitions, element, age, expiry):
    """Each class once; colder classes for older objects (`age` of a transition);
    every one before `expiry` (None: no expiry to compare with)."""
    classes = [transition["storage_class"] for transition in transitions]
    if len(set(classes)) != len(classes):
        raise errors.invalid_argument(
            f"A rule has at most one {element} to each storage class.",
            "StorageClass",
            ",".join(classes),
        )
    ordered = sorted(transitions, key=lambda t: COLDNESS[t["storage_class"]])
    for warmer, colder in zip(ordered, ordered[1:], strict=False):
        if age(colder) <= age(warmer):
            raise errors.invalid_argument(
                f"The {element} to {colder['storage_class']} must be for older "
                f"objects than the one to {warmer['storage_class']}.",
                element,
                colder["storage_class"],
            )
    for transition in transitions:
        if expiry is not None and age(transition) >= expiry:
            raise errors.invalid_argument(
                f"A {element} must happen before the objects expire.",
                element,
                transition["storage_class"],
            )


def _check_access_monitor(bucket, rules):
    """OSS refuses access-time rules on a bucket whose access monitor is off."""
    if bucket.access_monitor_since is None and any(
        uses_access_time(rule) for rule in rules
    ):
        error = errors.invalid_argument(
            "Lifecycle rules by last access time need the bucket's access monitor "
            "Enabled (PutBucketAccessMonitor).",
            "IsAccessTime",
            "true",
        )
        error.details["EC"] = "0014-00000016"  # OSS's, for this refusal
        raise error


def _check_abort_conditions(rule):
    """Multipart uploads have neither tags nor a size: a rule that would need them
    to decide which uploads to abort is refused rather than guessed at."""
    if not rule.aborts_uploads:
        return
    if rule.tags or any(not_["tag"] for not_ in rule.filter_not):
        raise errors.invalid_argument(
            "AbortMultipartUpload cannot be combined with Tag conditions: uploads have no tags.",
            "AbortMultipartUpload",
            "",
        )
    if (
        rule.object_size_greater_than is not None
        or rule.object_size_less_than is not None
    ):
        raise errors.invalid_argument(
            "AbortMultipartUpload cannot be combined with object size conditions: uploads "
            "have no size yet.",
            "AbortMultipartUpload",
            "",
        )


def _check_unique_ids(rules):
    seen = set()
    for rule in rules:
        if rule.rule_id in seen:
            raise errors.invalid_argument(
                "Rule IDs must be unique.", "ID", rule.rule_id
            )
        seen.add(rule.rule_id)


def _check_overlaps(rules):
    """OSS refuses two rules with the same action whose prefixes overlap (one starts
    with the other) unless the request allows it (x-oss-allow-same-action-overlap)."""
    for action, has_action in (
        ("Expiration", lambda rule: rule.expires_objects),
        ("Transition", lambda rule: bool(rule.transitions)),
        ("AbortMultipartUpload", lambda rule: rule.aborts_uploads),
    ):
        # Sorted, a prefix that starts another is directly followed by one that starts with it.
        prefixes = sorted(rule.prefix for rule in rules if has_action(rule))
        for shorter, longer in zip(prefixes, prefixes[1:], strict=False):
            if longer.startswith(shorter):
                raise errors.invalid_argument(
                    f"Overlap for same action type {action}", "Prefix", longer
                )


def _delete_marker_expiry(expiration):
    found = _children(expiration, {"ExpiredObjectDeleteMarker"}, "Expiration")
    # oss2 writes Python's str(True).
    value = (_single_text(found, "ExpiredObjectDeleteMarker") or "").strip().lower()
    if value not in _BOOLEANS:
        raise errors.invalid_argument(
            "ExpiredObjectDeleteMarker must be true or false.",
            "ExpiredObjectDeleteMarker",
            value,
        )
    return _BOOLEANS[value]


def _noncurrent_days(node):
    found = _children(node, {"NoncurrentDays"}, node.tag)
    days = _single(found, "NoncurrentDays")
    if days is None:
        raise errors.malformed_xml(f"{node.tag} needs NoncurrentDays.")
    return _days(days, f"{node.tag}/NoncurrentDays")


def _noncurrent_transition(node):
    """One NoncurrentVersionTransition as stored (the Transition form, with
    NoncurrentDays as its days)."""
    found = _children(
        node,
        {
            "NoncurrentDays",
            "StorageClass",
            "IsAccessTime",
            "ReturnToStdWhenVisit",
            "AllowSmallFile",
        },
        node.tag,
    )
    days = _single(found, "NoncurrentDays")
    if days is None:
        raise errors.malformed_xml(f"{node.tag} needs NoncurrentDays.")
    storage_class = _single_text(found, "StorageClass", required=True).strip()
    if storage_class not in TRANSITION_CLASSES:
        raise errors.invalid_argument(
            f"{node.tag}/StorageClass must be one of {', '.join(TRANSITION_CLASSES)}.",
            "StorageClass",
            storage_class,
        )
    transition = {
        "days": _days(days, f"{node.tag}/NoncurrentDays"),
        "created_before_date": None,
        "storage_class": storage_class,
        **{
            field: _boolean(found, tag)
            for field, tag in (
                ("is_access_time", "IsAccessTime"),
                ("return_to_std_when_visit", "ReturnToStdWhenVisit"),
                ("allow_small_file", "AllowSmallFile"),
            )
        },
    }
    if transition["return_to_std_when_visit"]:
        raise errors.invalid_argument(
            "ReturnToStdWhenVisit is refused for older versions: reading an older "
            "version does not move it back to Standard here.",
            "ReturnToStdWhenVisit",
            "true",
        )
    _check_access_time_options(transition)
    return transition


def _check_noncurrent_transitions(rule):
    """As for Transitions, counted in NoncurrentDays."""
    _check_ordered(
        rule.noncurrent_transitions,
        "NoncurrentVersionTransition",
        lambda transition: transition["days"],
        rule.noncurrent_expiration_days,
    )


def _children(node, allowed, parent):
    """{tag: [child, ...]} of node's elements; any element not in `allowed` is
    refused, naming it: never accepted and ignored."""
    found = {}
    for child in node:
        if child.tag not in allowed:
            raise _not_accepted(child.tag, parent)
        found.setdefault(child.tag, []).append(child)
    return found


def _not_accepted(tag, parent):
    reason = CANNOT_HONOUR.get(tag)
    if reason is not None:
        return errors.invalid_argument(f"{tag} is refused: {reason}.", tag, "")
    return errors.invalid_argument(
        f"{tag} is not a lifecycle element this server knows in {parent}.", tag, ""
    )


def _single(found, tag):
    nodes = found.get(tag, [])
    if len(nodes) > 1:
        raise errors.malformed_xml(f"{tag} may appear only once here.")
    return nodes[0] if nodes else None


def _single_text(found, tag, *, required=False):
    node = _single(found, tag)
    if node is None:
        if required:
            raise errors.malformed_xml(f"{tag} is required.")
        return ""
    if len(node):
        raise errors.malformed_xml(f"{tag} holds text, not elements.")
    return node.text or ""


def _one_of(node, kinds):
    """(tag, value) of the action's only child: Days or a date."""
    found = _children(node, set(kinds) | set(CANNOT_HONOUR), node.tag)
    if len(found) != 1 or len(next(iter(found.values()))) != 1:
        raise errors.invalid_argument(
            f"{node.tag} needs exactly one of {', '.join(kinds)}.", node.tag, ""
        )
    ((kind, (child,)),) = found.items()
    if kind in CANNOT_HONOUR:
        raise _not_accepted(kind, node.tag)
    name = f"{node.tag}/{kind}"
    return kind, _days(child, name) if kind == "Days" else _midnight_date(child, name)


def _days(node, name):
    text = (node.text or "").strip()
    if not _DAYS_RE.fullmatch(text) or not 0 < int(text) <= MAX_DAYS:
        raise errors.invalid_argument(
            f"{name} must be a whole number of days from 1 to {MAX_DAYS}.", name, text
        )
    return int(text)


def _midnight_date(node, name):
    text = (node.text or "").strip()
    match = _MIDNIGHT_RE.fullmatch(text)
    if match:
        try:
            return datetime.date(*(int(part) for part in match.groups()))
        except ValueError:
            pass
    raise errors.invalid_argument(
        f"{name} must be a midnight UTC in ISO 8601, such as 2016-12-25T00:00:00.000Z.",
        name,
        text,
    )


def _size(node, *, low):
    text = (node.text or "").strip()
    if not _SIZE_RE.fullmatch(text) or not low <= int(text) <= MAX_SIZE:
        raise errors.invalid_argument(
            f"{node.tag} must be a whole number of bytes from {low} to {MAX_SIZE}.",
            node.tag,
            text,
        )
    return int(text)


def _check_length(text, limit, name):
    if len(text.encode()) > limit:
        raise errors.invalid_argument(
            f"{name} must be at most {limit} bytes long.", name, text[:64]
        )


def _generated_id():
    """OSS names a rule sent without an ID."""
    return uuid.uuid4().hex


# -- writing it back -----------------------------------------------------------------------


def configuration_element(rules):
    """The LifecycleConfiguration element of `rules`: what was PUT, element by element."""
    return oss_xml.element(
        "LifecycleConfiguration", children=[_rule_element(rule) for rule in rules]
    )


def _rule_element(rule):
    element = oss_xml.element
    expiration = abort = filter_ = None
    if rule.expires_objects:
        expiration = element(
            "Expiration",
            children=[
                _days_or_date("Days", rule.expiration_days),
                _days_or_date("Date", rule.expiration_date),
                _days_or_date("CreatedBeforeDate", rule.expiration_created_before_date),
            ],
        )
    if rule.aborts_uploads:
        abort = element(
            "AbortMultipartUpload",
            children=[
                _days_or_date("Days", rule.abort_days),
                _days_or_date("CreatedBeforeDate", rule.abort_created_before_date),
            ],
        )
    if rule.has_filter:
        filter_ = element(
            "Filter",
            children=[
                _number("ObjectSizeGreaterThan", rule.object_size_greater_than),
                _number("ObjectSizeLessThan", rule.object_size_less_than),
                *(_not_element(not_) for not_ in rule.filter_not),
            ],
        )
    if rule.expired_object_delete_marker:
        expiration = element(
            "Expiration", children=[element("ExpiredObjectDeleteMarker", "true")]
        )
    noncurrent = None
    if rule.noncurrent_expiration_days is not None:
        noncurrent = element(
            "NoncurrentVersionExpiration",
            children=[element("NoncurrentDays", rule.noncurrent_expiration_days)],
        )
    return element(
        "Rule",
        children=[
            element("ID", rule.rule_id),
            element("Prefix", rule.prefix),
            element("Status", rule.status),
            expiration,
            *(_transition_element(transition) for transition in rule.transitions),
            abort,
            noncurrent,
            *(
                _noncurrent_transition_element(transition)
                for transition in rule.noncurrent_transitions
            ),
            *(_tag_element(tag) for tag in rule.tags),
            filter_,
        ],
    )


def _days_or_date(tag, value):
    if value is None:
        return None
    if isinstance(value, datetime.date):
        value = value.strftime("%Y-%m-%dT00:00:00.000Z")
    return oss_xml.element(tag, value)


def _transition_element(transition):
    date = transition["created_before_date"]
    return oss_xml.element(
        "Transition",
        children=[
            _days_or_date("Days", transition["days"]),
            _days_or_date(
                "CreatedBeforeDate",
                None if date is None else datetime.date.fromisoformat(date),
            ),
            oss_xml.element("StorageClass", transition["storage_class"]),
            *(
                oss_xml.element(tag, "true" if transition[field] else "false")
                for field, tag in (
                    ("is_access_time", "IsAccessTime"),
                    ("return_to_std_when_visit", "ReturnToStdWhenVisit"),
                    ("allow_small_file", "AllowSmallFile"),
                )
                if transition[field] is not None
            ),
        ],
    )


def _noncurrent_transition_element(transition):
    element = _transition_element(transition)
    element.tag = "NoncurrentVersionTransition"
    days = element.find("Days")
    days.tag = "NoncurrentDays"
    return element


def _number(tag, value):
    return None if value is None else oss_xml.element(tag, value)


def _tag_element(tag):
    key, value = tag
    return oss_xml.element(
        "Tag", children=[oss_xml.element("Key", key), oss_xml.element("Value", value)]
    )


def _not_element(not_):
    return oss_xml.element(
        "Not",
        children=[
            oss_xml.element("Prefix", not_["prefix"]),
            _tag_element(not_["tag"]) if not_["tag"] else None,
        ],
    )
