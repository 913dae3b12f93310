"""Bucket inventory: PutBucketInventory, GetBucketInventory, ListBucketInventory and
DeleteBucketInventory (`?inventory`, `?inventoryId=`, `continuation-token`), and
the job that writes each inventory into its destination bucket.

An inventory lists a bucket's objects (Filter: Prefix, LastModifyBeginTimeStamp /
LastModifyEndTimeStamp in Unix seconds, LowerSizeBound / UpperSizeBound in bytes,
both bounds inclusive, StorageClass) with the OptionalFields asked for, Daily or
Weekly. The job (run_if_due from the housekeeping sweep, checking at most every
INVENTORY_INTERVAL_SECONDS; `manage.py run_inventory` at once) writes OSS's layout
under the destination Prefix:
    <Prefix>/<source bucket>/<Id>/data/<uuid>.csv.gz        gzipped CSV, every
        field quoted, the key URL-encoded: Bucket, Key, [VersionId, IsLatest,
        IsDeleteMarker when IncludedObjectVersions is All], then OptionalFields
    <Prefix>/<source bucket>/<Id>/<YYYY-MM-DDTHH-MMZ>/manifest.json, manifest.checksum
There is no versioning here, so every object is its own latest version: with All,
VersionId is "null", IsLatest "true", IsDeleteMarker "false". The files are
encrypted as Encryption says (SSE-OSS: AES256; SSE-KMS: KMS with its KeyId, the
bucket's default KMS key when the KeyId is empty).

Who may write where: the destination bucket must be the source bucket's owner's
(anything else is refused the same way whether it exists or not). There is no RAM
here, so AccountId must be the owner's account id (the Owner ID ListBuckets shows)
and RoleArn a role of that account, acs:ram::<AccountId>:role/<name>: the owner's
own authority, which is what the job writes with. Both are required, as on OSS.
"""

import base64
import binascii
import datetime
import gzip
import hashlib
import itertools
import json
import logging
import re
import uuid
from urllib.parse import quote

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from buckets import encryption, errors, oss_xml
from buckets.envelope import Sse, for_objects_of
from buckets.models import Bucket, InventoryConfiguration, StoredObject
from buckets.names import key_range
from buckets.oss_access import empty_response, owned_bucket, parse_xml, read_xml_body
from buckets.scheduled_jobs import claim_turn
from buckets.storage import ObjectMetadata, ObjectWriter, commit_object

logger = logging.getLogger(__name__)

JOB_NAME = "inventory"
MAX_CONFIGURATIONS = 1000  # per bucket, as on OSS
PAGE_SIZE = 100  # ListBucketInventory's page, as on OSS
MAX_ID_LENGTH = 64
MAX_PREFIX_BYTES = 512
ROWS_PER_FILE = 1_000_000
BATCH_SIZE = 1000
BUCKET_ARN_PREFIX = "acs:oss:::"
FREQUENCIES = {"Daily": 1, "Weekly": 7}  # days between runs
VERSIONS = ("All", "Current")
FORMATS = ("CSV",)
STORAGE_CLASSES = ("Standard", "IA", "Archive", "ColdArchive", "DeepColdArchive")
OPTIONAL_FIELDS = (
    "Size",
    "LastModifiedDate",
    "ETag",
    "StorageClass",
    "IsMultipartUploaded",
    "EncryptionStatus",
)
MANIFEST_VERSION = "2019-09-01"
_ID_RE = re.compile(r"[A-Za-z0-9_.-]{1,64}")
_NUMBER_RE = re.compile(r"[0-9]{1,19}")
_ROLE_ARN_RE = re.compile(r"acs:ram::([0-9A-Za-z]+):role/([A-Za-z0-9._@-]{1,64})")
MAX_NUMBER = 2**63 - 1


def no_such_inventory(bucket_name):
    return errors.not_configured(
        "NoSuchInventory", "The inventory configuration does not exist.", bucket_name
    )


# -- the operations --------------------------------------------------------------------


def inventory_operation(request, bucket_name):
    """?inventory (with ?inventoryId for one configuration): PUT, GET (one or the
    list) or DELETE."""
    bucket = owned_bucket(request, bucket_name)
    if "inventory" not in request.GET:
        raise errors.invalid_argument(
            "inventoryId is a parameter of ?inventory.",
            "inventoryId",
            request.GET.get("inventoryId", ""),
        )
    if request.method == "GET" and "inventoryId" not in request.GET:
        return _list(request, bucket)
    inventory_id = _checked_id(request.GET.get("inventoryId", ""))
    if request.method == "PUT":
        return _put(request, bucket, inventory_id)
    config = bucket.inventory_configurations.filter(inventory_id=inventory_id)
    if request.method == "DELETE":
        config.delete()  # 204 whether or not it existed, as on OSS
        return empty_response(204)
    found = config.select_related("destination_bucket").first()
    if found is None:
        raise no_such_inventory(bucket.name)
    return oss_xml.xml_response(configuration_element(found))


def _put(request, bucket, inventory_id):
    config = parse_configuration(read_xml_body(request), bucket)
    if config.inventory_id != inventory_id:
        raise errors.invalid_argument(
            "The Id in the document must be the inventoryId of the request.",
            "Id",
            config.inventory_id,
        )
    with transaction.atomic():
        Bucket.objects.select_for_update().filter(pk=bucket.pk).first()
        existing = bucket.inventory_configurations.filter(inventory_id=inventory_id)
        if (
            not existing.exists()
            and bucket.inventory_configurations.count() >= MAX_CONFIGURATIONS
        ):
            raise errors.OssError(
                400,
                "TooManyInventory",
                f"A bucket can have at most {MAX_CONFIGURATIONS} inventory configurations.",
            )
        existing.delete()  # a PUT of an existing Id replaces it whole
        config.bucket = bucket
        try:
            config.save()
        except IntegrityError:
            raise errors.OssError(
                409, "InventoryAlreadyExist", "The inventory is being configured."
            ) from None
    return empty_response(200)


def _list(request, bucket):
    token = request.GET.get("continuation-token", "")
    after = _decoded_token(token) if token else ""
    configs = bucket.inventory_configurations.select_related("destination_bucket")
    if not configs.exists():
        raise no_such_inventory(bucket.name)
    page = list(
        configs.filter(inventory_id__gt=after).order_by("inventory_id")[: PAGE_SIZE + 1]
    )
    truncated = len(page) > PAGE_SIZE
    page = page[:PAGE_SIZE]
    children = [configuration_element(config) for config in page]
    if token:
        children.append(oss_xml.element("ContinuationToken", token))
    children.append(oss_xml.element("IsTruncated", "true" if truncated else "false"))
    if truncated:
        children.append(
            oss_xml.element("NextContinuationToken", _token(page[-1].inventory_id))
        )
    return oss_xml.xml_response(
        oss_xml.element("ListInventoryConfigurationsResult", children=children)
    )


def _token(inventory_id):
    return base64.urlsafe_b64encode(inventory_id.encode()).decode()


def _decoded_token(token):
    try:
        return base64.urlsafe_b64decode(token.encode()).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise errors.invalid_argument(
            "The continuation token is not valid.", "continuation-token", token[:64]
        ) from None


def _checked_id(text):
    if not _ID_RE.fullmatch(text):
        raise errors.invalid_argument(
            f"An inventory Id is 1 to {MAX_ID_LENGTH} letters, digits, '-', '_' or '.'.",
            "inventoryId",
            text[:64],
        )
    return text


# -- reading an InventoryConfiguration ----------------------------------------------------


def parse_configuration(body, bucket):
    """The unsaved InventoryConfiguration of the document; OssError for anything
    OSS refuses or this server cannot honour."""
    root = parse_xml(body, "InventoryConfiguration")
    found = _children(
        root,
        {
            "Id",
            "IsEnabled",
            "Filter",
            "Destination",
            "Schedule",
            "IncludedObjectVersions",
            "OptionalFields",
        },
    )
    config = InventoryConfiguration(
        inventory_id=_checked_id(_text(found, "Id", required=True)),
        is_enabled=_boolean(_text(found, "IsEnabled", required=True), "IsEnabled"),
        included_object_versions=_choice(found, "IncludedObjectVersions", VERSIONS),
        optional_fields=_optional_fields(found.get("OptionalFields")),
    )
    schedule = _children(_required(found, "Schedule"), {"Frequency"})
    config.frequency = _choice(schedule, "Frequency", tuple(FREQUENCIES))
    if "Filter" in found:
        _read_filter(found["Filter"], config)
    destination = _children(_required(found, "Destination"), {"OSSBucketDestination"})
    _read_destination(_required(destination, "OSSBucketDestination"), config, bucket)
    return config


def _read_filter(node, config):
    found = _children(
        node,
        {
            "Prefix",
            "LastModifyBeginTimeStamp",
            "LastModifyEndTimeStamp",
            "LowerSizeBound",
            "UpperSizeBound",
            "StorageClass",
        },
    )
    config.prefix = _text(found, "Prefix")
    _check_length(config.prefix, "Filter/Prefix")
    config.last_modify_begin = _number(found, "LastModifyBeginTimeStamp")
    config.last_modify_end = _number(found, "LastModifyEndTimeStamp")
    config.lower_size_bound = _number(found, "LowerSizeBound")
    config.upper_size_bound = _number(found, "UpperSizeBound")
    for low, high, name in (
        (config.last_modify_begin, config.last_modify_end, "LastModifyEndTimeStamp"),
        (config.lower_size_bound, config.upper_size_bound, "UpperSizeBound"),
    ):
        if low is not None and high is not None and high < low:
            raise errors.invalid_argument(
                f"Filter/{name} must not be below its lower bound.", name, str(high)
            )
    classes = _text(found, "StorageClass")
    if "StorageClass" in found:
        names = [name.strip() for name in classes.split(",")]
        unknown = [name for name in names if name not in STORAGE_CLASSES]
        if unknown or len(set(names)) != len(names):
            raise errors.invalid_argument(
                f"Filter/StorageClass is a comma-separated list of distinct "
                f"{', '.join(STORAGE_CLASSES)}.",
                "StorageClass",
                classes[:64],
            )
        config.storage_classes = sorted(names)


def _read_destination(node, config, bucket):
    found = _children(
        node, {"Format", "AccountId", "RoleArn", "Bucket", "Prefix", "Encryption"}
    )
    _choice(found, "Format", FORMATS)
    config.account_id = _text(found, "AccountId", required=True)
    if config.account_id != str(bucket.owner_id):
        raise errors.invalid_argument(
            "AccountId must be the bucket owner's account id: inventories are "
            "written with the owner's own authority.",
            "AccountId",
            config.account_id[:64],
        )
    config.role_arn = _text(found, "RoleArn", required=True)
    match = _ROLE_ARN_RE.fullmatch(config.role_arn)
    if match is None or match.group(1) != config.account_id:
        raise errors.invalid_argument(
            "RoleArn must be a role of the owner's account, acs:ram::<AccountId>:role/<name>.",
            "RoleArn",
            config.role_arn[:128],
        )
    arn = _text(found, "Bucket", required=True)
    name = arn[len(BUCKET_ARN_PREFIX) :] if arn.startswith(BUCKET_ARN_PREFIX) else ""
    destination = Bucket.objects.filter(name=name, owner_id=bucket.owner_id).first()
    if destination is None:
        raise errors.invalid_argument(
            "Destination Bucket must be acs:oss:::<name> of a bucket of the same owner.",
            "Bucket",
            arn[:128],
        )
    config.destination_bucket = destination
    config.destination_prefix = _text(found, "Prefix")
    _check_length(config.destination_prefix, "Destination/Prefix")
    if "Encryption" in found:
        _read_encryption(found["Encryption"], config)


def _read_encryption(node, config):
    found = _children(node, {"SSE-OSS", "SSE-KMS"})
    if len(found) != 1:
        raise errors.invalid_argument(
            "Encryption holds exactly one of SSE-OSS and SSE-KMS.", "Encryption", ""
        )
    if "SSE-OSS" in found:
        _children(found["SSE-OSS"], set())
        config.encryption = "SSE-OSS"
        return
    kms = _children(found["SSE-KMS"], {"KeyId"})
    key_id = _text(kms, "KeyId").strip()
    # The same key id rules as x-oss-server-side-encryption-key-id's.
    encryption.checked_setting("KMS", "", key_id, ("SSE-KMS", "", "KeyId"))
    config.encryption, config.kms_key_id = "SSE-KMS", key_id


def _optional_fields(node):
    if node is None:
        return []
    fields = [child.text or "" for child in _children_list(node, {"Field"})]
    for field in fields:
        if field not in OPTIONAL_FIELDS:
            raise errors.invalid_argument(
                f"OptionalFields/Field must be one of {', '.join(OPTIONAL_FIELDS)}.",
                "Field",
                field[:64],
            )
    if len(set(fields)) != len(fields):
        raise errors.invalid_argument(
            "An OptionalFields/Field may be named only once.", "Field", ""
        )
    return fields


def _children_list(node, allowed):
    for child in node:
        if child.tag not in allowed:
            raise errors.invalid_argument(
                f"{child.tag} is not an inventory element this server knows in {node.tag}.",
                child.tag,
                "",
            )
    return list(node)


def _children(node, allowed):
    """{tag: element}; an unknown element or a repeat is refused, naming it."""
    found = {}
    for child in _children_list(node, allowed):
        if child.tag in found:
            raise errors.malformed_xml(f"{child.tag} may appear only once.")
        found[child.tag] = child
    return found


def _required(found, tag):
    if tag not in found:
        raise errors.malformed_xml(f"{tag} is required.")
    return found[tag]


def _text(found, tag, *, required=False):
    node = found.get(tag)
    if node is None:
        if required:
            raise errors.malformed_xml(f"{tag} is required.")
        return ""
    if len(node):
        raise errors.malformed_xml(f"{tag} holds text, not elements.")
    return node.text or ""


def _choice(found, tag, choices):
    value = _text(found, tag, required=True).strip()
    if value not in choices:
        raise errors.invalid_argument(
            f"{tag} must be {' or '.join(choices)}.", tag, value[:64]
        )
    return value


def _boolean(text, tag):
    value = text.strip().lower()
    if value not in ("true", "false"):
        raise errors.invalid_argument(f"{tag} must be true or false.", tag, text[:16])
    return value == "true"


def _number(found, tag):
    if tag not in found:
        return None
    text = _text(found, tag).strip()
    if not _NUMBER_RE.fullmatch(text) or int(text) > MAX_NUMBER:
        raise errors.invalid_argument(
            f"Filter/{tag} must be a whole number from 0 to {MAX_NUMBER}.",
            tag,
            text[:32],
        )
    return int(text)


def _check_length(text, name):
    if len(text.encode("utf-8", "surrogatepass")) > MAX_PREFIX_BYTES:
        raise errors.invalid_argument(
            f"{name} must be at most {MAX_PREFIX_BYTES} bytes long.", name, text[:64]
        )


# -- writing it back -----------------------------------------------------------------------


def configuration_element(config):
    """The InventoryConfiguration element of a saved configuration, as it was PUT."""
    filter_children = [oss_xml.element("Prefix", config.prefix)]
    for tag, value in (
        ("LastModifyBeginTimeStamp", config.last_modify_begin),
        ("LastModifyEndTimeStamp", config.last_modify_end),
        ("LowerSizeBound", config.lower_size_bound),
        ("UpperSizeBound", config.upper_size_bound),
    ):
        if value is not None:
            filter_children.append(oss_xml.element(tag, value))
    if config.storage_classes:
        filter_children.append(
            oss_xml.element("StorageClass", ",".join(config.storage_classes))
        )
    destination = [
        oss_xml.element("Format", "CSV"),
        oss_xml.element("AccountId", config.account_id),
        oss_xml.element("RoleArn", config.role_arn),
        oss_xml.element("Bucket", BUCKET_ARN_PREFIX + config.destination_bucket.name),
        oss_xml.element("Prefix", config.destination_prefix),
    ]
    if config.encryption:
        destination.append(oss_xml.element("Encryption", children=[_sse(config)]))
    return oss_xml.element(
        "InventoryConfiguration",
        children=[
            oss_xml.element("Id", config.inventory_id),
            oss_xml.element("IsEnabled", "true" if config.is_enabled else "false"),
            oss_xml.element("Filter", children=filter_children),
            oss_xml.element(
                "Destination",
                children=[
                    oss_xml.element("OSSBucketDestination", children=destination)
                ],
            ),
            oss_xml.element(
                "Schedule", children=[oss_xml.element("Frequency", config.frequency)]
            ),
            oss_xml.element("IncludedObjectVersions", config.included_object_versions),
            oss_xml.element(
                "OptionalFields",
                children=[
                    oss_xml.element("Field", field) for field in config.optional_fields
                ],
            ),
        ],
    )


def _sse(config):
    if config.encryption == "SSE-OSS":
        return oss_xml.element("SSE-OSS")
    return oss_xml.element(
        "SSE-KMS", children=[oss_xml.element("KeyId", config.kms_key_id)]
    )


# -- the job ---------------------------------------------------------------------------------


def run_if_due(now=None):
    """run_due_inventories, if no worker or server has checked within
    INVENTORY_INTERVAL_SECONDS; None when it was not this caller's turn."""
    now = now or timezone.now()
    interval = datetime.timedelta(seconds=settings.INVENTORY_INTERVAL_SECONDS)
    if not claim_turn(JOB_NAME, now, interval):
        return None
    return run_due_inventories(now)


def run_due_inventories(now=None, *, every=False):
    """Write each enabled inventory whose Daily or Weekly turn has come (`every`:
    each enabled one); returns how many were written."""
    now = now or timezone.now()
    written = 0
    configs = InventoryConfiguration.objects.filter(is_enabled=True)
    for config in configs.select_related("bucket", "destination_bucket"):
        if (every or _is_due(config, now)) and _claim(config, now):
            try:
                write_inventory(config, now)
            except Exception:
                _unclaim(config, now)  # tried again at the next check
                raise
            written += 1
    return written


def _is_due(config, now):
    period = datetime.timedelta(days=FREQUENCIES[config.frequency])
    return config.last_run is None or config.last_run <= now - period


def _claim(config, now):
    """Exactly one of the callers racing for this run moves last_run on."""
    claimed = InventoryConfiguration.objects.filter(
        pk=config.pk, last_run=config.last_run
    ).update(last_run=now)
    return claimed == 1


def _unclaim(config, now):
    InventoryConfiguration.objects.filter(pk=config.pk, last_run=now).update(
        last_run=config.last_run
    )


def inventory_base(config):
    """<Prefix>/<source bucket>/<Id>/, OSS's folder of one inventory."""
    prefix = config.destination_prefix
    if prefix and not prefix.endswith("/"):
        prefix += "/"
    return f"{prefix}{config.bucket.name}/{config.inventory_id}/"


def write_inventory(config, now):
    """The data files, then the manifest that names them (a reader that finds the
    manifest finds every file). An inventory of nothing still has one empty file."""
    if config.destination_bucket.owner_id != config.bucket.owner_id:
        return  # cannot happen through the API; never write into someone else's
    base = inventory_base(config)
    rows = _rows(config)
    files = [_write_data_file(config, base, itertools.islice(rows, ROWS_PER_FILE))]
    while (first := next(rows, None)) is not None:
        more = itertools.chain([first], rows)
        files.append(
            _write_data_file(config, base, itertools.islice(more, ROWS_PER_FILE))
        )
    folder = f"{base}{now:%Y-%m-%dT%H-%MZ}/"
    manifest = json.dumps(
        {
            "creationTimestamp": str(int(now.timestamp())),
            "destinationBucket": config.destination_bucket.name,
            "fileFormat": "CSV",
            "fileSchema": ", ".join(columns(config)),
            "files": files,
            "sourceBucket": config.bucket.name,
            "version": MANIFEST_VERSION,
        },
        indent=1,
    ).encode()
    _write_object(config, f"{folder}manifest.json", manifest, "application/json")
    checksum = hashlib.md5(manifest).hexdigest().encode()
    _write_object(config, f"{folder}manifest.checksum", checksum, "text/plain")


def _write_object(config, key, data, content_type):
    with ObjectWriter(destination_encryption(config)) as writer:
        writer.write(data)
        return commit_object(
            config.destination_bucket,
            key,
            writer,
            ObjectMetadata(content_type=content_type),
        )


def destination_encryption(config):
    """What the inventory files are encrypted with (None: the destination
    bucket's default)."""
    if config.encryption == "SSE-OSS":
        return Sse("AES256")
    if config.encryption == "SSE-KMS":
        sse = Sse("KMS", key_id=config.kms_key_id)
        return for_objects_of(config.destination_bucket, sse)
    return None


def _write_data_file(config, base, rows):
    """One gzipped CSV of `rows`; its entry in the manifest's files."""
    key = f"{base}data/{uuid.uuid4()}.csv.gz"
    with ObjectWriter(destination_encryption(config)) as writer:
        with gzip.GzipFile(fileobj=writer, mode="wb", mtime=0) as compressed:
            for row in rows:
                compressed.write(row)
        obj = commit_object(
            config.destination_bucket,
            key,
            writer,
            ObjectMetadata(content_type="application/x-gzip"),
        )
    return {"MD5checksum": obj.md5.upper(), "key": key, "size": obj.size}


def _rows(config):
    """The CSV rows of an inventory, one object at a time (keyset pages: no cursor
    held open while files are written)."""
    after = None
    objects = selected_objects(config)
    while True:
        page = objects if after is None else objects.filter(key__gt=after)
        batch = list(page.order_by("key")[:BATCH_SIZE])
        for obj in batch:
            yield csv_row(config, obj)
        if len(batch) < BATCH_SIZE:
            return
        after = batch[-1].key


def selected_objects(config):
    """The source bucket's objects the configuration's Filter selects."""
    objects = StoredObject.objects.filter(bucket_id=config.bucket_id)
    if config.prefix:
        low, high = key_range(config.prefix)
        objects = objects.filter(key__gte=low)
        if high is not None:
            objects = objects.filter(key__lt=high)
    if config.last_modify_begin is not None:
        objects = objects.filter(last_modified__gte=_moment(config.last_modify_begin))
    if config.last_modify_end is not None:
        objects = objects.filter(last_modified__lte=_moment(config.last_modify_end))
    if config.lower_size_bound is not None:
        objects = objects.filter(size__gte=config.lower_size_bound)
    if config.upper_size_bound is not None:
        objects = objects.filter(size__lte=config.upper_size_bound)
    if config.storage_classes:
        objects = objects.filter(storage_class__in=config.storage_classes)
    return objects


def _moment(seconds):
    try:
        return datetime.datetime.fromtimestamp(seconds, tz=datetime.UTC)
    except (OverflowError, OSError, ValueError):
        return datetime.datetime.max.replace(tzinfo=datetime.UTC)


def columns(config):
    """The CSV's columns, OSS's fileSchema."""
    versions = ["VersionId", "IsLatest", "IsDeleteMarker"]
    return [
        "Bucket",
        "Key",
        *(versions if config.included_object_versions == "All" else []),
        *config.optional_fields,
    ]


def csv_row(config, obj):
    """One object's line: every field quoted, the key URL-encoded, as OSS writes it."""
    values = [config.bucket.name, quote(obj.key, safe="")]
    if config.included_object_versions == "All":
        values += ["null", "true", "false"]  # no versioning: each object is its latest
    values += [_field(obj, field) for field in config.optional_fields]
    return (",".join(f'"{value}"' for value in values) + "\n").encode()


def _field(obj, field):
    if field == "Size":
        return str(obj.size)
    if field == "LastModifiedDate":
        return obj.last_modified.strftime("%Y-%m-%dT%H-%M-%SZ")
    if field == "ETag":
        return obj.etag.strip('"')
    if field == "StorageClass":
        return obj.storage_class or "Standard"
    if field == "IsMultipartUploaded":
        return "true" if obj.object_type == "Multipart" else "false"
    return "true" if obj.encryption else "false"  # EncryptionStatus
