import base64
import datetime
import hashlib
import secrets
import string
import uuid

from cryptography.fernet import Fernet
from django.conf import settings
from django.db import models
from django.db.models import Count, Sum
from django.utils import timezone

from buckets.names import key_db_collation, key_range, validate_bucket_name


class Bucket(models.Model):
    class Acl(models.TextChoices):
        PRIVATE = "private", "Private"
        PUBLIC_READ = "public-read", "Public Read"
        PUBLIC_READ_WRITE = "public-read-write", "Public Read/Write"

    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="buckets"
    )
    name = models.CharField(
        max_length=63,
        unique=True,
        validators=[validate_bucket_name],
        error_messages={
            "unique": "A bucket with this name already exists. Bucket names are unique across all users."
        },
    )

    class StorageClass(models.TextChoices):
        # Also each object's (StoredObject.storage_class); the archive classes need a
        # restore before a read (buckets/restore.py).
        STANDARD = "Standard", "Standard"
        IA = "IA", "Infrequent Access"
        ARCHIVE = "Archive", "Archive"
        COLD_ARCHIVE = "ColdArchive", "Cold Archive"
        DEEP_COLD_ARCHIVE = "DeepColdArchive", "Deep Cold Archive"

    class Redundancy(models.TextChoices):
        LRS = "LRS", "Locally redundant"
        ZRS = "ZRS", "Zone-redundant"

    acl = models.CharField(
        "ACL", max_length=20, choices=Acl.choices, default=Acl.PRIVATE
    )
    storage_class = models.CharField(
        max_length=16, choices=StorageClass.choices, default=StorageClass.STANDARD
    )
    data_redundancy = models.CharField(
        max_length=3, choices=Redundancy.choices, default=Redundancy.LRS
    )
    created_at = models.DateTimeField(default=timezone.now)
    # PutBucketTagging's tags, {key: value} (checked by buckets.tagging).
    tags = models.JSONField(default=dict, blank=True)
    # PutBucketEncryption's default rule, {"algorithm", "data_algorithm", "key_id"};
    # {} for none (buckets/encryption.py).
    encryption = models.JSONField(default=dict, blank=True)
    # PutBucketAccessMonitor: since when last access times are kept (None: Disabled).
    access_monitor_since = models.DateTimeField(null=True, blank=True)
    # PutBucketArchiveDirectRead: Archive objects read without a restore.
    archive_direct_read = models.BooleanField(default=False)
    # PutBucketPolicy's document as sent, and its statements as buckets.bucket_policy
    # checked and normalised them (what access checks read).
    policy = models.TextField(blank=True)
    policy_statements = models.JSONField(default=list, blank=True)

    class Payer(models.TextChoices):
        BUCKET_OWNER = "BucketOwner"
        REQUESTER = "Requester"

    # PutBucketRequestPayment: with Requester, other users must say they pay.
    request_payer = models.CharField(
        max_length=16, choices=Payer.choices, default=Payer.BUCKET_OWNER
    )
    # PutBucketPublicAccessBlock: public ACLs and public policy grants stop counting.
    block_public_access = models.BooleanField(default=False)
    # PutBucketStorageCapacity (BucketUserQos), in GB; -1: no limit (buckets/quota.py).
    storage_capacity_gb = models.BigIntegerField(default=-1)

    class Versioning(models.TextChoices):
        NEVER = "", "Never enabled"
        ENABLED = "Enabled"
        SUSPENDED = "Suspended"

    # PutBucketVersioning (buckets/versioning.py); never back to "" once set.
    versioning = models.CharField(
        max_length=10, choices=Versioning.choices, default=Versioning.NEVER, blank=True
    )
    # PutBucketHttpsConfig: which TLS versions HTTPS requests may use (buckets/tls.py).
    tls_enabled = models.BooleanField(default=False)
    tls_versions = models.JSONField(default=list, blank=True)
    # OpenMetaQuery: since when data indexing is open (None: closed); the index is
    # the object table itself (buckets/meta_query.py).
    meta_query_opened_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name

    def is_owned_by(self, user):
        return user is not None and user.is_authenticated and user.pk == self.owner_id

    def readable_by(self, user, object_acl="default"):
        """GET/HEAD of objects: public buckets to anyone, private ones to the owner.
        An object's own ACL (StoredObject.acl), unless "default", replaces the
        bucket's for that object."""
        acl = self.acl if object_acl in ("", "default") else object_acl
        return acl in (
            self.Acl.PUBLIC_READ,
            self.Acl.PUBLIC_READ_WRITE,
        ) or self.is_owned_by(user)

    def writable_by(self, user, object_acl="default"):
        """PUT/DELETE of objects: public-read-write buckets to anyone, others to the
        owner; an object's own ACL, unless "default", replaces the bucket's."""
        acl = self.acl if object_acl in ("", "default") else object_acl
        return acl == self.Acl.PUBLIC_READ_WRITE or self.is_owned_by(user)

    def usage(self):
        """Object count and total bytes, in one query."""
        totals = self.stored_objects.aggregate(count=Count("id"), size=Sum("size"))
        return totals["count"], totals["size"] or 0

    def is_empty(self):
        """No objects, no older versions or delete markers, and no multipart upload in
        progress (OSS refuses to delete a bucket with any of them)."""
        return not (
            self.stored_objects.exists()
            or self.object_versions.exists()
            or self.multipart_uploads.exists()
        )

    def objects_with_prefix(self, prefix):
        low, high = key_range(prefix)
        queryset = self.stored_objects.filter(key__gte=low)
        return queryset.filter(key__lt=high) if high is not None else queryset


class ObjectData(models.Model):
    """What one version of an object is, beyond its bucket, key and bytes' file: the
    current version (StoredObject) and older ones (ObjectVersion) alike."""

    size = models.BigIntegerField()
    md5 = models.CharField(max_length=32)
    crc64 = models.CharField(max_length=20, blank=True)  # x-oss-hash-crc64ecma, decimal
    content_type = models.CharField(max_length=1024, default="application/octet-stream")
    content_encoding = models.CharField(max_length=1024, blank=True)
    content_disposition = models.CharField(max_length=1024, blank=True)
    content_language = models.CharField(max_length=1024, blank=True)
    cache_control = models.CharField(max_length=1024, blank=True)
    expires = models.CharField(max_length=1024, blank=True)
    user_meta = models.JSONField(default=dict, blank=True)
    mirrored = models.BooleanField(default=False)
    last_modified = models.DateTimeField(default=timezone.now)
    object_type = models.CharField(
        max_length=10, default="Normal"
    )  # Normal | Appendable | Multipart | Symlink
    # A multipart object's ETag is not its MD5 but "<MD5 of the parts' MD5s>-<parts>".
    multipart_etag = models.CharField(max_length=40, blank=True)
    # Object tags, {key: value} (checked by buckets.tagging); changing them changes
    # neither the bytes nor last_modified.
    tags = models.JSONField(default=dict, blank=True)

    class Acl(models.TextChoices):
        # "default" follows the bucket's ACL; the others replace it for this object.
        DEFAULT = "default", "Inherited from bucket"
        PRIVATE = "private", "Private"
        PUBLIC_READ = "public-read", "Public Read"
        PUBLIC_READ_WRITE = "public-read-write", "Public Read/Write"

    acl = models.CharField(
        "ACL", max_length=20, choices=Acl.choices, default=Acl.DEFAULT
    )
    # A Symlink object's target key (PutSymlink); its own bytes are an empty blob,
    # so that every write, delete and sweep treats it as any other object.
    symlink_target = models.CharField(max_length=1023, blank=True)
    # How the blob is encrypted at rest (buckets/envelope.py: algorithm, key id,
    # wrapped data key, IV); {} for plain bytes.
    encryption = models.JSONField(default=dict, blank=True)
    # Its storage class (buckets/storage_classes.py); a restore of an archive class
    # is ready at restore_ready_at and readable until restore_expires_at
    # (buckets/restore.py). New bytes reset all of these.
    storage_class = models.CharField(
        max_length=16,
        choices=Bucket.StorageClass.choices,
        default=Bucket.StorageClass.STANDARD,
    )
    restore_ready_at = models.DateTimeField(null=True, blank=True)
    restore_expires_at = models.DateTimeField(null=True, blank=True)
    restore_tier = models.CharField(max_length=10, blank=True)
    # OSS's version id: "null" for a version written without versioning Enabled.
    version_id = models.CharField(max_length=64, default="null")
    # A read recorded while the bucket's access monitor is on (at most daily).
    last_access_time = models.DateTimeField(null=True, blank=True)
    # Moved to IA by an access-time rule with ReturnToStdWhenVisit: a read moves it back.
    return_to_standard_on_read = models.BooleanField(default=False)

    # Saved metadata fields and the response headers they become (SPEC §4).
    METADATA_HEADERS = {
        "content_type": "Content-Type",
        "content_encoding": "Content-Encoding",
        "content_disposition": "Content-Disposition",
        "content_language": "Content-Language",
        "cache_control": "Cache-Control",
        "expires": "Expires",
    }

    class Meta:
        abstract = True

    @property
    def etag(self):
        """OSS quotes the upper-case hex MD5 (a multipart object's own form)."""
        return f'"{self.multipart_etag or self.md5.upper()}"'

    @property
    def name(self):
        """The last path segment, as the Files tab shows it."""
        return self.key.rstrip("/").rsplit("/", 1)[-1] + (
            "/" if self.key.endswith("/") else ""
        )

    def symlink_target_object(self):
        """The object a Symlink points at, None while there is none."""
        return StoredObject.objects.filter(
            bucket_id=self.bucket_id, key=self.symlink_target
        ).first()

    def data_fields(self):
        """{field: value} of everything ObjectData holds, and the blob."""
        names = [f.name for f in ObjectData._meta.get_fields()] + ["blob"]
        return {name: getattr(self, name) for name in names}

    def metadata_headers(self):
        return {
            header: getattr(self, field)
            for field, header in self.METADATA_HEADERS.items()
            if getattr(self, field)
        }


class StoredObject(ObjectData):
    """The current version of one object: what GET, listings and every bucket-wide job
    see. Its bytes are the storage file named by `blob`."""

    bucket = models.ForeignKey(
        Bucket, on_delete=models.PROTECT, related_name="stored_objects"
    )
    key = models.CharField(max_length=1023, db_collation=key_db_collation())
    blob = models.CharField(max_length=100, unique=True)

    class Meta:
        ordering = ["bucket", "key"]
        constraints = [
            models.UniqueConstraint(
                fields=["bucket", "key"], name="unique_key_per_bucket"
            )
        ]

    def __str__(self):
        return f"{self.bucket_id}/{self.key}"


class ObjectVersion(ObjectData):
    """A noncurrent version of an object, or a delete marker, in a bucket whose
    versioning is or was Enabled (buckets/versioning.py). Newer rows have larger ids;
    a delete marker has no bytes (blob "")."""

    bucket = models.ForeignKey(
        Bucket, on_delete=models.PROTECT, related_name="object_versions"
    )
    key = models.CharField(max_length=1023, db_collation=key_db_collation())
    blob = models.CharField(max_length=100, blank=True)
    is_delete_marker = models.BooleanField(default=False)
    # When a newer version replaced it (lifecycle's NoncurrentDays count from here).
    noncurrent_since = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["bucket", "key", "-id"]
        indexes = [models.Index(fields=["bucket", "key"], name="version_by_key")]
        constraints = [
            models.UniqueConstraint(
                fields=["bucket", "version_id"],
                condition=~models.Q(version_id="null"),
                name="unique_version_id_per_bucket",
            )
        ]

    def __str__(self):
        return f"{self.bucket_id}/{self.key}@{self.version_id}"


def _secret_box():
    """Secrets must be readable to verify HMACs; at rest they are sealed with a key from SECRET_KEY."""
    digest = hashlib.sha256(
        b"oss-access-key-secrets\0" + settings.SECRET_KEY.encode()
    ).digest()
    return Fernet(base64.urlsafe_b64encode(digest))


def seal_secret(secret):
    """A secret as stored at rest (access-key secrets, origin credentials)."""
    return _secret_box().encrypt(secret.encode()).decode()


def unseal_secret(sealed):
    return _secret_box().decrypt(sealed.encode()).decode()


class AccessKeyQuerySet(models.QuerySet):
    def find_active(self, key_id):
        return (
            self.select_related("user")
            .filter(key_id=key_id, is_active=True, user__is_active=True)
            .first()
        )


class AccessKey(models.Model):
    """An AccessKeyId / AccessKeySecret pair that signs OSS API requests as its user."""

    ID_ALPHABET = string.ascii_letters + string.digits

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="access_keys"
    )
    key_id = models.CharField("AccessKey ID", max_length=64, unique=True)
    sealed_secret = models.TextField()
    is_active = models.BooleanField("Enabled", default=True)
    created_at = models.DateTimeField(default=timezone.now)

    objects = AccessKeyQuerySet.as_manager()

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self):
        return self.key_id

    @classmethod
    def create_for(cls, user):
        """A new key and its secret; the secret is returned here and never shown again."""
        key_id = "LTAI" + "".join(secrets.choice(cls.ID_ALPHABET) for _ in range(20))
        secret = "".join(secrets.choice(cls.ID_ALPHABET) for _ in range(30))
        key = cls.objects.create(
            user=user,
            key_id=key_id,
            sealed_secret=seal_secret(secret),
        )
        return key, secret

    @property
    def secret(self):
        return unseal_secret(self.sealed_secret)


class DeletedKey(models.Model):
    """When a key was last deleted: a mirror fetch that began before then must not
    bring the object back. Rows older than any fetch can run are swept."""

    bucket = models.ForeignKey(
        Bucket, on_delete=models.CASCADE, related_name="deleted_keys"
    )
    key = models.CharField(max_length=1023, db_collation=key_db_collation())
    deleted_at = models.DateTimeField(db_index=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["bucket", "key"], name="unique_deleted_key_per_bucket"
            )
        ]

    def __str__(self):
        return f"{self.key} deleted at {self.deleted_at}"


class MultipartUpload(models.Model):
    """A multipart upload in progress. Its parts are files in the parts area
    (buckets/parts.py) that nothing lists or serves; CompleteMultipartUpload makes
    them one object, AbortMultipartUpload or the age sweep removes them."""

    bucket = models.ForeignKey(
        Bucket, on_delete=models.CASCADE, related_name="multipart_uploads"
    )
    key = models.CharField(max_length=1023, db_collation=key_db_collation())
    upload_id = models.CharField(max_length=32, unique=True)
    initiated = models.DateTimeField(default=timezone.now, db_index=True)
    # The final object's ObjectMetadata fields, as sent to InitiateMultipartUpload.
    metadata = models.JSONField(default=dict, blank=True)
    # The final object's server-side encryption, decided at initiation; {} for none.
    encryption = models.JSONField(default=dict, blank=True)
    # The final object's storage class (x-oss-storage-class, else the bucket's).
    storage_class = models.CharField(max_length=16, blank=True)

    class Meta:
        ordering = ["bucket", "key", "upload_id"]
        indexes = [
            models.Index(
                fields=["bucket", "key", "upload_id"], name="upload_listing_order"
            )
        ]

    def __str__(self):
        return f"{self.upload_id} for {self.key}"

    @classmethod
    def new_upload_id(cls):
        """32 upper-case hex digits, as OSS's, and unguessable: the id is the capability."""
        return uuid.uuid4().hex.upper()


class UploadedPart(models.Model):
    """One part of a multipart upload; `file` names its bytes in the parts area."""

    upload = models.ForeignKey(
        MultipartUpload, on_delete=models.CASCADE, related_name="parts"
    )
    part_number = models.PositiveIntegerField()
    file = models.CharField(max_length=100, unique=True)
    size = models.BigIntegerField()
    md5 = models.CharField(max_length=32)
    crc64 = models.CharField(max_length=20)
    last_modified = models.DateTimeField(default=timezone.now)
    # The part file's envelope (buckets/envelope.py), the upload's encryption; {} for plain.
    encryption = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["upload", "part_number"]
        constraints = [
            models.UniqueConstraint(
                fields=["upload", "part_number"], name="unique_part_number_per_upload"
            )
        ]

    def __str__(self):
        return f"part {self.part_number} of {self.upload_id}"

    @property
    def etag(self):
        return f'"{self.md5.upper()}"'


class LifecycleRule(models.Model):
    """One rule of a bucket's lifecycle configuration (PutBucketLifecycle), in the
    order sent; each field is one element of it. The lifecycle job applies them
    (buckets/lifecycle_job.py); buckets/lifecycle.py parses and writes the XML."""

    class Status(models.TextChoices):
        ENABLED = "Enabled", "Enabled"
        DISABLED = "Disabled", "Disabled"

    bucket = models.ForeignKey(
        Bucket, on_delete=models.CASCADE, related_name="lifecycle_rules"
    )
    position = models.PositiveIntegerField()
    rule_id = models.CharField("ID", max_length=255)
    prefix = models.CharField(max_length=1023, blank=True)
    status = models.CharField(max_length=8, choices=Status.choices)
    # Expiration: at most one of the three is set.
    expiration_days = models.PositiveIntegerField(null=True, blank=True)
    # <Date>: from that day on, every matching object, whatever its age.
    expiration_date = models.DateField(null=True, blank=True)
    expiration_created_before_date = models.DateField(null=True, blank=True)
    # AbortMultipartUpload: at most one of the two is set.
    abort_days = models.PositiveIntegerField(null=True, blank=True)
    abort_created_before_date = models.DateField(null=True, blank=True)
    # <Filter> as sent (oss2 sends an empty one whenever it has a filter object).
    has_filter = models.BooleanField(default=False)
    object_size_greater_than = models.BigIntegerField(null=True, blank=True)
    object_size_less_than = models.BigIntegerField(null=True, blank=True)
    # <Not> elements, [{"prefix": ..., "tag": [key, value] or None}]: objects under
    # the prefix (and with the tag, when one is given) are left alone.
    filter_not = models.JSONField(default=list, blank=True)
    # <Tag> elements, [[key, value], ...]: only objects with all these tags expire.
    tags = models.JSONField(default=list, blank=True)
    # <Transition> elements as sent, [{"days" | "created_before_date", "storage_class",
    # "is_access_time", "return_to_std_when_visit", "allow_small_file"}, ...].
    transitions = models.JSONField(default=list, blank=True)
    # Versioning (buckets/versioning.py): older versions expire this many days after
    # they stopped being current, or move to colder classes ([{days, storage_class}]);
    # a delete marker left with no version behind it goes.
    noncurrent_expiration_days = models.PositiveIntegerField(null=True, blank=True)
    noncurrent_transitions = models.JSONField(default=list, blank=True)
    expired_object_delete_marker = models.BooleanField(default=False)

    class Meta:
        ordering = ["bucket", "position"]
        constraints = [
            models.UniqueConstraint(
                fields=["bucket", "rule_id"], name="unique_lifecycle_rule_id"
            ),
            models.UniqueConstraint(
                fields=["bucket", "position"], name="unique_lifecycle_rule_position"
            ),
        ]

    def __str__(self):
        return f"{self.rule_id} on {self.bucket_id}"

    @property
    def expires_objects(self):
        return any(
            value is not None
            for value in (
                self.expiration_days,
                self.expiration_date,
                self.expiration_created_before_date,
            )
        )

    @property
    def acts_on_older_versions(self):
        return bool(
            self.noncurrent_expiration_days is not None
            or self.noncurrent_transitions
            or self.expired_object_delete_marker
        )

    @property
    def aborts_uploads(self):
        return self.abort_days is not None or self.abort_created_before_date is not None

    def expiry_cutoff(self, now):
        """Objects last modified before this expire at `now` (None: none do yet)."""
        if self.expiration_date is not None:
            # From that day on every matching object goes, whatever its age.
            return now if now >= _midnight_utc(self.expiration_date) else None
        return _cutoff(now, self.expiration_days, self.expiration_created_before_date)

    def abort_cutoff(self, now):
        """Uploads untouched since before this are aborted at `now` (None: none are)."""
        return _cutoff(now, self.abort_days, self.abort_created_before_date)

    def selects(self, obj):
        """The conditions a query cannot easily ask: tags, and the Not exclusions."""
        tags = obj.tags or {}
        if any(tags.get(key) != value for key, value in self.tags):
            return False
        for not_ in self.filter_not:
            tag = not_["tag"]
            if obj.key.startswith(not_["prefix"]) and (
                tag is None or tags.get(tag[0]) == tag[1]
            ):
                return False
        return True


def _midnight_utc(date):
    return datetime.datetime.combine(date, datetime.time(), tzinfo=datetime.UTC)


def _cutoff(now, days, before_date):
    if before_date is not None:
        return _midnight_utc(before_date)
    if days is None:
        return None
    try:
        return now - datetime.timedelta(days=days)
    except OverflowError:
        return None  # more days than the calendar has had: nothing is that old


class AccountSettings(models.Model):
    """Settings of a user's whole account (OSS's service-level operations)."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="oss_account",
    )
    # PutPublicAccessBlock: as the bucket setting, for every bucket of the account.
    block_public_access = models.BooleanField(default=False)

    def __str__(self):
        return f"account settings of {self.user_id}"


class ScheduledJob(models.Model):
    """When a periodic job last started, shared by every worker and server: the
    one whose conditional update moves it on runs the job (buckets/lifecycle_job.py)."""

    name = models.CharField(max_length=64, unique=True)
    last_started = models.DateTimeField()

    def __str__(self):
        return f"{self.name} last started {self.last_started}"


class CorsConfiguration(models.Model):
    """A bucket's CORS rules (PutBucketCors), matched in order (buckets/cors.py)."""

    bucket = models.OneToOneField(
        Bucket, on_delete=models.CASCADE, related_name="cors_configuration"
    )
    # One dict of cors.CorsRule's fields per rule.
    rules = models.JSONField(default=list)
    response_vary = models.BooleanField(default=False)

    def __str__(self):
        return f"CORS of {self.bucket_id}"


class RefererConfiguration(models.Model):
    """A bucket's hotlink protection (PutBucketReferer): the fields of
    referer.RefererPolicy. No row means OSS's default, which allows everything."""

    bucket = models.OneToOneField(
        Bucket, on_delete=models.CASCADE, related_name="referer_configuration"
    )
    allow_empty = models.BooleanField(default=True)
    allow_truncate_query_string = models.BooleanField(default=True)
    truncate_path = models.BooleanField(default=False)
    referers = models.JSONField(default=list)
    blacklist = models.JSONField(default=list)

    def __str__(self):
        return f"Referer configuration of {self.bucket_id}"


class WormConfiguration(models.Model):
    """A bucket's retention policy (InitiateBucketWorm): while it is InProgress (for
    24 hours) or Locked, no object may be overwritten or deleted until it is
    retention_days old (buckets/worm.py)."""

    class State(models.TextChoices):
        IN_PROGRESS = "InProgress", "In progress"
        LOCKED = "Locked", "Locked"

    bucket = models.OneToOneField(
        Bucket, on_delete=models.CASCADE, related_name="worm_configuration"
    )
    worm_id = models.CharField(max_length=32, unique=True)
    state = models.CharField(max_length=10, choices=State.choices)
    retention_days = models.PositiveIntegerField()
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self):
        return f"WORM {self.worm_id} ({self.state}) of {self.bucket_id}"


class LoggingConfiguration(models.Model):
    """A bucket's access logging (PutBucketLogging): its requests are written as
    log objects into target_bucket, which the same owner owns (buckets/access_logging.py)."""

    bucket = models.OneToOneField(
        Bucket, on_delete=models.CASCADE, related_name="logging_configuration"
    )
    target_bucket = models.ForeignKey(
        Bucket, on_delete=models.CASCADE, related_name="+"
    )
    target_prefix = models.CharField(max_length=1023, blank=True)

    def __str__(self):
        return f"logging of {self.bucket_id} into {self.target_bucket_id}"


class AccessLogRecord(models.Model):
    """One access-log line waiting for the flush job to write it into the target
    bucket: a row, not a per-worker file, so any worker or server can flush it."""

    bucket = models.ForeignKey(Bucket, on_delete=models.CASCADE, related_name="+")
    line = models.TextField()
    recorded_at = models.DateTimeField(default=timezone.now)

    def __str__(self):
        return f"log line of {self.bucket_id}"


class InventoryConfiguration(models.Model):
    """One inventory of a bucket (PutBucketInventory): the inventory job writes the
    list of its objects into destination_bucket (buckets/inventory.py)."""

    bucket = models.ForeignKey(
        Bucket, on_delete=models.CASCADE, related_name="inventory_configurations"
    )
    inventory_id = models.CharField(max_length=64, db_collation=key_db_collation())
    is_enabled = models.BooleanField()
    # Filter; None: not sent.
    prefix = models.CharField(max_length=1023, blank=True)
    last_modify_begin = models.BigIntegerField(null=True, blank=True)
    last_modify_end = models.BigIntegerField(null=True, blank=True)
    lower_size_bound = models.BigIntegerField(null=True, blank=True)
    upper_size_bound = models.BigIntegerField(null=True, blank=True)
    storage_classes = models.JSONField(default=list, blank=True)
    frequency = models.CharField(max_length=8)  # Daily | Weekly
    included_object_versions = models.CharField(max_length=8)  # All | Current
    optional_fields = models.JSONField(default=list, blank=True)
    destination_bucket = models.ForeignKey(
        Bucket, on_delete=models.CASCADE, related_name="+"
    )
    destination_prefix = models.CharField(max_length=1023, blank=True)
    account_id = models.CharField(max_length=64)
    role_arn = models.CharField(max_length=255)
    encryption = models.CharField(max_length=8, blank=True)  # "", SSE-OSS, SSE-KMS
    kms_key_id = models.CharField(max_length=255, blank=True)
    last_run = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["bucket", "inventory_id"]
        constraints = [
            models.UniqueConstraint(
                fields=["bucket", "inventory_id"], name="unique_inventory_id"
            )
        ]

    def __str__(self):
        return f"inventory {self.inventory_id} of {self.bucket_id}"


class CallbackPolicy(models.Model):
    """A named upload callback of a bucket (PutBucketCallbackPolicy): an upload's
    x-oss-callback may name it instead of spelling the callback out (buckets/callbacks.py)."""

    bucket = models.ForeignKey(
        Bucket, on_delete=models.CASCADE, related_name="callback_policies"
    )
    position = models.PositiveIntegerField()
    name = models.CharField(max_length=255)
    callback = models.TextField()  # base64 of the callback's JSON, as sent
    callback_var = models.TextField(blank=True)  # base64 of the variables' JSON, or ""

    class Meta:
        ordering = ["bucket", "position"]
        constraints = [
            models.UniqueConstraint(
                fields=["bucket", "name"], name="unique_callback_policy_name"
            )
        ]

    def __str__(self):
        return f"callback policy {self.name} of {self.bucket_id}"


# -- RTMP live channels (buckets/live/) ------------------------------------------------


class LiveChannel(models.Model):
    """A bucket's RTMP ingest point (PutLiveChannel): what an RTMP publish to it is
    stored as (HLS .ts segments and a playlist), and who is publishing right now.
    The publisher fields are live only while `heartbeat_at` is fresh, so a crashed
    ingest process never leaves a channel "Live" (buckets/live/channels.py)."""

    class Status(models.TextChoices):
        ENABLED = "enabled"
        DISABLED = "disabled"

    bucket = models.ForeignKey(
        Bucket, on_delete=models.CASCADE, related_name="live_channels"
    )
    name = models.CharField(max_length=1023, db_collation=key_db_collation())
    description = models.CharField(max_length=128, blank=True)
    status = models.CharField(
        max_length=8, choices=Status.choices, default=Status.ENABLED
    )
    frag_duration = models.PositiveSmallIntegerField(default=5)  # seconds
    frag_count = models.PositiveSmallIntegerField(default=3)
    playlist_name = models.CharField(max_length=128, default="playlist.m3u8")
    last_modified = models.DateTimeField(default=timezone.now)
    # The next .ts segment's number: segments of every publish stay apart.
    next_segment = models.PositiveBigIntegerField(default=0)
    publisher_token = models.CharField(max_length=32, blank=True)
    publisher_addr = models.CharField(max_length=64, blank=True)
    connected_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    stream_info = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["bucket", "name"]
        constraints = [
            models.UniqueConstraint(
                fields=["bucket", "name"], name="unique_live_channel_name"
            )
        ]

    def __str__(self):
        return f"live channel {self.name} of {self.bucket_id}"


class LivePublishRecord(models.Model):
    """One publish to a channel (GetLiveChannelHistory); `ended_at` None while on."""

    channel = models.ForeignKey(
        LiveChannel, on_delete=models.CASCADE, related_name="publish_records"
    )
    started_at = models.DateTimeField()
    ended_at = models.DateTimeField(null=True, blank=True)
    remote_addr = models.CharField(max_length=64)

    class Meta:
        ordering = ["-started_at", "-pk"]

    def __str__(self):
        return f"publish to {self.channel_id} at {self.started_at}"


class LiveSegment(models.Model):
    """A .ts object a publish wrote, for PostVodPlaylist / GetVodPlaylist."""

    channel = models.ForeignKey(
        LiveChannel, on_delete=models.CASCADE, related_name="segments"
    )
    sequence = models.PositiveBigIntegerField()
    key = models.CharField(max_length=1023)
    started_at = models.DateTimeField()  # wall clock of its first frame
    duration = models.FloatField()  # seconds

    class Meta:
        ordering = ["channel", "sequence"]
        indexes = [models.Index(fields=["channel", "started_at"])]

    def __str__(self):
        return f"segment {self.key} of {self.channel_id}"


class AccessPoint(models.Model):
    """An access point of a bucket (CreateAccessPoint): another name for the bucket,
    its alias, with its own policy (buckets/access_points.py enforces both)."""

    bucket = models.ForeignKey(
        Bucket, on_delete=models.CASCADE, related_name="access_points"
    )
    # Names are unique per account (as on OSS, per region: this server is one).
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+"
    )
    name = models.CharField(max_length=19)
    alias = models.CharField(max_length=63, unique=True)
    network_origin = models.CharField(max_length=16, default="internet")
    created_at = models.DateTimeField(auto_now_add=True)
    # PutAccessPointPolicy's document as sent, and its normalised statements.
    policy = models.TextField(blank=True)
    policy_statements = models.JSONField(default=list, blank=True)
    # PutAccessPointPublicAccessBlock: grants to everyone in its policy stop counting.
    block_public_access = models.BooleanField(default=False)

    class Meta:
        ordering = ["owner", "name"]
        constraints = [
            models.UniqueConstraint(
                fields=["owner", "name"], name="unique_access_point_name"
            )
        ]

    def __str__(self):
        return f"access point {self.name} of {self.bucket_id}"


class QosConfiguration(models.Model):
    """A bucket's own QoS caps (requester "") or one requesting account's on it
    (requester: that user's UID), as PutBucketQoSInfo / PutBucketRequesterQoSInfo
    set them: bandwidth in Gbit/s, requests per second; -1 is no cap of its own.
    Enforced by buckets/qos.py."""

    bucket = models.ForeignKey(
        Bucket, on_delete=models.CASCADE, related_name="qos_configurations"
    )
    requester = models.CharField(max_length=64, blank=True)
    total_upload_bw = models.IntegerField(default=-1)
    intranet_upload_bw = models.IntegerField(default=-1)
    extranet_upload_bw = models.IntegerField(default=-1)
    total_download_bw = models.IntegerField(default=-1)
    intranet_download_bw = models.IntegerField(default=-1)
    extranet_download_bw = models.IntegerField(default=-1)
    total_qps = models.IntegerField(default=-1)
    intranet_qps = models.IntegerField(default=-1)
    extranet_qps = models.IntegerField(default=-1)

    class Meta:
        ordering = ["bucket", "requester"]
        constraints = [
            models.UniqueConstraint(
                fields=["bucket", "requester"], name="one_qos_per_bucket_requester"
            )
        ]

    def __str__(self):
        return f"QoS of {self.bucket_id} for {self.requester or 'the bucket'}"
