"""Object versioning (PutBucketVersioning, GetBucketVersioning, `versionId`,
ListObjectVersions).

StoredObject stays "the current version": every listing, lifecycle, quota, stat,
inventory and meta-query path sees exactly what it saw before. Older versions and
delete markers live in ObjectVersion. The two places bytes change hands call in
here, inside their transaction: storage._point_row_at_blob (a write replaces the
current version) and storage.delete_current (a delete without versionId).

- Never enabled: nothing is kept; every version is "null", as before.
- Enabled: a write archives the current version and gets a new version id; a delete
  archives it and puts a delete marker (a new version id) on top.
- Suspended: new versions and markers are "null", replacing the null version there
  was; versions with ids stay.

Removing a version (DELETE ?versionId) is permanent; removing the current one makes
the newest older version current again (unless the newest is a delete marker).
"""

import re
import secrets
from urllib.parse import unquote

from buckets import errors
from buckets.models import Bucket, ObjectVersion, StoredObject

NULL = "null"
VERSION_HEADER = "x-oss-version-id"
MARKER_HEADER = "x-oss-delete-marker"


def is_versioned(bucket):
    """Whether versioning was ever turned on (then answers carry version ids)."""
    return bucket.versioning != Bucket.Versioning.NEVER


def version_id_for_new(bucket):
    if bucket.versioning == Bucket.Versioning.ENABLED:
        # Opaque and URL-safe; order comes from the rows, not from the ids.
        return "CAEQ" + secrets.token_urlsafe(30)
    return NULL


# -- inside the writing transaction -------------------------------------------------------


def archive(obj):
    """Keep the current version `obj` as an older one (its blob stays)."""
    fields = obj.data_fields()
    return ObjectVersion.objects.create(bucket_id=obj.bucket_id, key=obj.key, **fields)


def retire_current(bucket, existing, new_version_id):
    """`existing` is being replaced by a write whose version is `new_version_id`:
    the blobs to delete once the write commits (none when it is kept)."""
    stale = (
        _drop_null_versions(bucket, existing.key)
        if _replaces_null(bucket, new_version_id)
        else []
    )
    if bucket.versioning == Bucket.Versioning.ENABLED or (
        bucket.versioning == Bucket.Versioning.SUSPENDED and existing.version_id != NULL
    ):
        archive(existing)
        return stale
    return [*stale, existing.blob]


def before_first_current(bucket, key, new_version_id):
    """A write creates the key's current version: a null one replaces an older null
    version (or null delete marker). The blobs to delete after commit."""
    if _replaces_null(bucket, new_version_id):
        return _drop_null_versions(bucket, key)
    return []


def after_current_deleted(bucket, key, obj):
    """The current version `obj` (None: there was none) was deleted by a DELETE
    without versionId: (blobs to delete after commit, the delete marker or None)."""
    if not is_versioned(bucket):
        return ([obj.blob] if obj is not None else []), None
    marker_id = version_id_for_new(bucket)
    blobs = _drop_null_versions(bucket, key) if marker_id == NULL else []
    if obj is not None:
        if marker_id == NULL and obj.version_id == NULL:
            blobs.append(obj.blob)
        else:
            archive(obj)
    marker = ObjectVersion.objects.create(
        bucket=bucket,
        key=key,
        blob="",
        size=0,
        md5="",
        is_delete_marker=True,
        version_id=marker_id,
        storage_class=bucket.storage_class,
    )
    return blobs, marker


def _replaces_null(bucket, new_version_id):
    return new_version_id == NULL and bucket.versioning == Bucket.Versioning.SUSPENDED


def _drop_null_versions(bucket, key):
    nulls = ObjectVersion.objects.filter(bucket=bucket, key=key, version_id=NULL)
    blobs = [blob for blob in nulls.values_list("blob", flat=True) if blob]
    nulls.delete()
    return blobs


# -- finding and removing one version ---------------------------------------------------------


def find_version(bucket, key, version_id):
    """The version `version_id` of `key`: the current StoredObject, an ObjectVersion
    (perhaps a delete marker), or None."""
    current = bucket.stored_objects.filter(key=key, version_id=version_id).first()
    if current is not None:
        return current
    return (
        ObjectVersion.objects.filter(bucket=bucket, key=key, version_id=version_id)
        .order_by("-id")
        .first()
    )


VERSION_ID_RE = re.compile(r"null|CAEQ[A-Za-z0-9_-]{40}")


def check_version_id(version_id):
    """400 InvalidArgument for a versionId no version here can have (empty, or not
    of the form this server gives), as OSS answers "Invalid version id"."""
    if version_id == "":
        raise errors.invalid_argument(
            "versionId must not be empty.", "versionId", version_id
        )
    if not VERSION_ID_RE.fullmatch(version_id):
        raise errors.invalid_argument(
            "Invalid version id specified.", "versionId", version_id[:64]
        )


def remove_version(bucket, key, version):
    """Delete one version for good, inside a transaction: the blobs to delete after
    commit. Removing the current version (or the delete marker on top) makes the
    newest older object version current."""
    blobs = [version.blob] if version.blob else []
    was_current = isinstance(version, StoredObject)
    version.delete()
    if was_current or not bucket.stored_objects.filter(key=key).exists():
        _promote_newest(bucket, key)
    return blobs


def _promote_newest(bucket, key):
    newest = (
        ObjectVersion.objects.filter(bucket=bucket, key=key).order_by("-id").first()
    )
    if newest is None or newest.is_delete_marker:
        return
    if bucket.stored_objects.filter(key=key).exists():
        return
    promoted = StoredObject.objects.create(
        bucket=bucket, key=key, **newest.data_fields()
    )
    # As it was: a new row would otherwise get the bucket's class (storage_classes).
    kept = ("storage_class", "restore_ready_at", "restore_expires_at", "restore_tier")
    StoredObject.objects.filter(pk=promoted.pk).update(
        **{name: getattr(newest, name) for name in kept}
    )
    newest.delete()


def update_version(bucket, key, version, **fields):
    """One UPDATE of `fields` on `version` (what writable_object found: the current
    object, an older version or None): how many rows changed (0: no such object)."""
    if version is None or getattr(version, "is_delete_marker", False):
        return 0
    if isinstance(version, ObjectVersion):
        return ObjectVersion.objects.filter(pk=version.pk).update(**fields)
    return bucket.stored_objects.filter(key=key).update(**fields)


# -- answers ---------------------------------------------------------------------------------


def version_headers(bucket, version):
    """x-oss-version-id (and x-oss-delete-marker) for an answer about `version`."""
    if version is None or not is_versioned(bucket):
        return {}
    headers = {VERSION_HEADER: version.version_id}
    if getattr(version, "is_delete_marker", False):
        headers[MARKER_HEADER] = "true"
    return headers


def parse_copy_source(header):
    """(bucket, key, version id or None) of x-oss-copy-source,
    "/bucket/url-quoted-key[?versionId=...]"."""
    path, _, query = header.partition("?")
    bucket_name, _, key = unquote(path).lstrip("/").partition("/")
    if not query:
        return bucket_name, key, None
    if not query.startswith("versionId="):
        raise errors.invalid_argument(
            "x-oss-copy-source may name a versionId only.", "x-oss-copy-source", header
        )
    version_id = unquote(query.removeprefix("versionId="))
    check_version_id(version_id)
    return bucket_name, key, version_id


def with_version_headers(response, bucket, version):
    """`response` with version_headers added."""
    for name, value in version_headers(bucket, version).items():
        response[name] = value
    return response
