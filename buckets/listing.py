"""Listing a bucket the OSS way: prefix, delimiter, marker, max-keys."""

from dataclasses import dataclass, field

# Greater than every character, so "<folder>" + this sorts after the folder's keys.
_AFTER_ALL = "\U0010ffff"


@dataclass
class ObjectListing:
    prefix: str
    delimiter: str
    marker: str
    max_keys: int
    objects: list = field(default_factory=list)
    common_prefixes: list = field(default_factory=list)
    is_truncated: bool = False
    next_marker: str = ""


def _common_prefix(key, prefix, delimiter):
    if not delimiter:
        return None
    position = key.find(delimiter, len(prefix))
    return key[: position + len(delimiter)] if position >= 0 else None


def list_objects(bucket, *, prefix="", delimiter="", marker="", max_keys=1000):
    """One page of objects and common prefixes ("folders"), in key order.

    A folder is skipped with one range query instead of reading its keys, so a
    page costs at most one query per folder it shows.
    """
    listing = ObjectListing(prefix, delimiter, marker, max_keys)
    cursor = marker
    folder_of_marker = (
        _common_prefix(marker, prefix, delimiter) if marker.startswith(prefix) else None
    )
    if folder_of_marker:
        cursor = folder_of_marker + _AFTER_ALL
    # Keys after the cursor can still be inside this folder ("a/" + _AFTER_ALL + "x");
    # it was listed already, on this page or (marker's folder) on the last one.
    skipped_folder = folder_of_marker
    candidates = bucket.objects_with_prefix(prefix).order_by("key")
    while True:
        room = max_keys - len(listing.objects) - len(listing.common_prefixes)
        batch = list(candidates.filter(key__gt=cursor)[: room + 1])
        if not batch:
            return listing
        for obj in batch:
            if skipped_folder and obj.key.startswith(skipped_folder):
                cursor = obj.key
                continue
            if len(listing.objects) + len(listing.common_prefixes) >= max_keys:
                listing.is_truncated = True
                return listing
            folder = _common_prefix(obj.key, prefix, delimiter)
            if folder:
                listing.common_prefixes.append(folder)
                skipped_folder = folder
                listing.next_marker = folder
                cursor = folder + _AFTER_ALL
                break
            listing.objects.append(obj)
            listing.next_marker = cursor = obj.key
        else:
            if len(batch) <= room:
                return listing
