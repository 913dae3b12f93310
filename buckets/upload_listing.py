"""Listing a bucket's multipart uploads the OSS way: prefix, delimiter, key-marker,
upload-id-marker, max-uploads; in (key, upload id) order."""

from dataclasses import dataclass, field

from django.db.models import Q

from buckets.names import key_range

# Greater than every character, so "<folder>" + this sorts after the folder's keys.
_AFTER_ALL = "\U0010ffff"


@dataclass
class UploadListing:
    uploads: list = field(default_factory=list)
    common_prefixes: list = field(default_factory=list)
    is_truncated: bool = False
    next_key_marker: str = ""
    next_upload_id_marker: str = ""


def _common_prefix(key, prefix, delimiter):
    if not delimiter:
        return None
    position = key.find(delimiter, len(prefix))
    return key[: position + len(delimiter)] if position >= 0 else None


def list_uploads(
    bucket, *, prefix="", delimiter="", key_marker="", upload_id_marker="", max_uploads
):
    """One page of uploads and common prefixes. As in OSS, upload-id-marker only
    counts with a key-marker: then the uploads of that key after it come first.
    A folder is skipped with one range query instead of reading its uploads."""
    listing = UploadListing()
    low, high = key_range(prefix)
    candidates = bucket.multipart_uploads.filter(key__gte=low).order_by(
        "key", "upload_id"
    )
    if high is not None:
        candidates = candidates.filter(key__lt=high)
    cursor = (key_marker, upload_id_marker if key_marker else "")
    folder_of_marker = (
        _common_prefix(key_marker, prefix, delimiter)
        if key_marker.startswith(prefix)
        else None
    )
    if folder_of_marker:
        cursor = (folder_of_marker + _AFTER_ALL, "")
    skipped_folder = folder_of_marker
    while True:
        room = max_uploads - len(listing.uploads) - len(listing.common_prefixes)
        key, upload_id = cursor
        after = Q(key__gt=key)
        if upload_id:
            after |= Q(key=key, upload_id__gt=upload_id)
        batch = list(candidates.filter(after)[: room + 1])
        if not batch:
            return listing
        for upload in batch:
            if skipped_folder and upload.key.startswith(skipped_folder):
                cursor = (upload.key, upload.upload_id)
                continue
            if len(listing.uploads) + len(listing.common_prefixes) >= max_uploads:
                listing.is_truncated = True
                return listing
            folder = _common_prefix(upload.key, prefix, delimiter)
            if folder:
                listing.common_prefixes.append(folder)
                skipped_folder = folder
                listing.next_key_marker, listing.next_upload_id_marker = folder, ""
                cursor = (folder + _AFTER_ALL, "")
                break
            listing.uploads.append(upload)
            listing.next_key_marker = upload.key
            listing.next_upload_id_marker = upload.upload_id
            cursor = (upload.key, upload.upload_id)
        else:
            if len(batch) <= room:
                return listing
