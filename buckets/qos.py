"""QoS: the account's, a bucket's and a requester's bandwidth and QPS caps, enforced.

Caps are OSS's: bandwidth in Gbit/s and requests per second, each total, intranet
and extranet; -1 is no cap of its own, 0 forbids that kind of traffic. The account's
are server settings (QOS_ACCOUNT_LIMITS); a bucket's and its requesters' are
QosConfiguration rows (buckets/qos_operations.py sets them).

A request to a bucket meets every cap that applies to it: the account's (the bucket
owner's), the bucket's, and the requester's on that bucket, each in its total and
in its network's field (intranet: the client address is loopback or private;
extranet: any other). Beyond a QPS cap a request gets 503 SlowDown; a transfer
beyond a bandwidth cap is slowed, never cut.

The state is shared by all worker processes of one server: one small file per
account under DATA_DIR/qos, read and rewritten under an exclusive lock. Both kinds
of cap are "virtual clocks" (GCRA): each key holds the moment its capacity is used
up to. The caps of a bucket are cached by name in each process; a change (or a
bucket created or deleted) touches DATA_DIR/qos/generation, which every request
stats, so no request reads the database for them.
"""

import fcntl
import functools
import ipaddress
import json
import os
import threading
import time
from dataclasses import dataclass, field, fields

from django.conf import settings
from django.db import transaction
from django.db.models.signals import post_delete, post_save

from buckets import errors
from buckets.models import Bucket

KINDS = ("upload_bw", "download_bw", "qps")
SCOPES = ("total", "intranet", "extranet")
NO_CAP = -1
BYTES_PER_SECOND_PER_GBIT = 1_000_000_000 / 8
# A QPS cap lets a burst of one second's worth of requests in, then one per 1/cap s.
QPS_WINDOW_SECONDS = 1.0
# Bandwidth is charged in pieces of a tenth of a second's worth at the tightest cap.
PIECE_SECONDS = 0.1
# A transfer the tightest cap passes within this long is charged whole before it
# starts, then sent at full speed (by sendfile, for a local file): the cap's clock
# still moves on by all of it, so the next transfers wait their turn; the burst is
# at most this long at the cap. (At the 10 Gbit/s default: objects up to ~312 MB.)
UPFRONT_SECONDS = 0.25
# A transfer the tightest cap passes within this long (1.25 MB at the default) is
# added to a tally of the process, and the ledger is charged once the tally reaches
# that much: a 1 KiB GET does not read and rewrite the account's file under its lock
# (with every other worker waiting for it). The ledger still gets every byte, late
# by at most this much per process; the request that fills the tally sleeps the
# wait, so many small transfers still meet the cap.
TALLY_SECONDS = 0.001
MIN_PIECE_BYTES = 256 * 1024
# A virtual clock further ahead than this is a clock jump, not traffic: reset.
MAX_BACKLOG_SECONDS = 3600.0
CACHE_SECONDS = 10.0
CACHE_MAX_BUCKETS = 10_000
# The operations that set or show the caps are never throttled by them, so an owner
# can always lift a cap (a QPS of 0 included).
CONFIGURATION_SUB_RESOURCES = frozenset({"qosInfo", "requesterQosInfo", "qosRequester"})


@dataclass(frozen=True)
class Caps:
    """One QoSConfiguration: nine caps, NO_CAP where there is none."""

    total_upload_bw: int = NO_CAP
    intranet_upload_bw: int = NO_CAP
    extranet_upload_bw: int = NO_CAP
    total_download_bw: int = NO_CAP
    intranet_download_bw: int = NO_CAP
    extranet_download_bw: int = NO_CAP
    total_qps: int = NO_CAP
    intranet_qps: int = NO_CAP
    extranet_qps: int = NO_CAP

    @classmethod
    def names(cls):
        return [f.name for f in fields(cls)]

    @classmethod
    def of(cls, row):
        return cls(**{name: getattr(row, name) for name in cls.names()})

    def as_dict(self):
        return {name: getattr(self, name) for name in self.names()}

    def applying(self, kind, network):
        """[(scope, cap)] of `kind` that apply to traffic over `network`."""
        found = [
            (scope, getattr(self, f"{scope}_{kind}")) for scope in ("total", network)
        ]
        return [(scope, cap) for scope, cap in found if cap != NO_CAP]


def account_caps():
    return _account_caps(tuple(settings.QOS_ACCOUNT_LIMITS.items()))


@functools.lru_cache(maxsize=8)
def _account_caps(limits):
    return Caps(**dict(limits))


# -- validation: one place for every path that sets caps ----------------------------


def check_caps(caps, ceilings):
    """InvalidArgument unless every cap is -1 or more, no intranet/extranet cap
    exceeds its kind's total, and none exceeds a cap of `ceilings` (the Caps it must
    stay within: the account's for a bucket, the bucket's for a requester)."""
    for name, value in caps.as_dict().items():
        if value < NO_CAP:
            raise _invalid(name, value, "must be -1 (no cap) or a number from 0 up")
    for kind in KINDS:
        for scope in ("intranet", "extranet"):
            name = f"{scope}_{kind}"
            value = getattr(caps, name)
            for limit_name, limit in _limits_for(caps, ceilings, kind, scope):
                if value != NO_CAP and limit != NO_CAP and value > limit:
                    raise _invalid(name, value, f"exceeds {limit_name} ({limit})")
        name = f"total_{kind}"
        value, limit = getattr(caps, name), getattr(ceilings, name)
        if value != NO_CAP and limit != NO_CAP and value > limit:
            raise _invalid(name, value, f"exceeds the limit above it ({limit})")


def _limits_for(caps, ceilings, kind, scope):
    """What an intranet/extranet cap must stay within: its own total, and the
    ceilings' total and same-network caps."""
    yield f"total_{kind}", getattr(caps, f"total_{kind}")
    yield f"the limit above it, total_{kind}", getattr(ceilings, f"total_{kind}")
    yield f"the limit above it, {scope}_{kind}", getattr(ceilings, f"{scope}_{kind}")


def _invalid(name, value, reason):
    element = XML_NAMES[name]
    return errors.invalid_argument(f"{element} {reason}.", element, str(value))


XML_NAMES = {
    "total_upload_bw": "TotalUploadBandwidth",
    "intranet_upload_bw": "IntranetUploadBandwidth",
    "extranet_upload_bw": "ExtranetUploadBandwidth",
    "total_download_bw": "TotalDownloadBandwidth",
    "intranet_download_bw": "IntranetDownloadBandwidth",
    "extranet_download_bw": "ExtranetDownloadBandwidth",
    "total_qps": "TotalQps",
    "intranet_qps": "IntranetQps",
    "extranet_qps": "ExtranetQps",
}


# -- the caps of a bucket, cached by name ------------------------------------------


@dataclass(frozen=True)
class BucketCaps:
    bucket_id: int
    owner_id: int
    own: Caps | None
    requesters: dict = field(default_factory=dict)  # UID -> Caps


_cache = {}  # bucket name -> (generation, loaded at, BucketCaps or None)
_cache_lock = threading.Lock()


def _qos_dir():
    return settings.DATA_DIR / "qos"


def _generation_path():
    """DATA_DIR/qos/generation, as a string built once per DATA_DIR: every request
    stats it."""
    return _generation_file(str(settings.DATA_DIR))


@functools.lru_cache(maxsize=8)
def _generation_file(data_dir):
    return os.path.join(data_dir, "qos", "generation")


def _generation():
    """The generation file's path and time: a DATA_DIR of its own starts afresh."""
    path = _generation_path()
    try:
        return path, os.stat(path).st_mtime_ns
    except FileNotFoundError:
        return path, 0


def caps_changed():
    """Every process drops its cached caps (after the change commits)."""
    transaction.on_commit(_touch_generation)


def _touch_generation():
    path = _generation_path()
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "a"):
        pass
    os.utime(path, ns=(time.time_ns(), time.time_ns()))


def bucket_caps(bucket_name):
    """The BucketCaps of the bucket so named (None: no such bucket), from the
    process's cache while the generation file is unchanged."""
    generation, now = _generation(), time.monotonic()
    cached = _cache.get(bucket_name)
    if cached and cached[0] == generation and now - cached[1] < CACHE_SECONDS:
        return cached[2]
    loaded = _load(bucket_name)
    with _cache_lock:
        if len(_cache) >= CACHE_MAX_BUCKETS:
            _cache.clear()
        _cache[bucket_name] = (generation, now, loaded)
    return loaded


def _load(bucket_name):
    """One query: the bucket's id and owner, joined with its configurations."""
    columns = ["requester", *Caps.names()]
    rows = Bucket.objects.filter(name=bucket_name).values(
        "id", "owner_id", *(f"qos_configurations__{column}" for column in columns)
    )
    own, requesters, found = None, {}, None
    for row in rows:
        found = row
        values = {column: row[f"qos_configurations__{column}"] for column in columns}
        requester = values.pop("requester")
        if requester is not None:
            if requester:
                requesters[requester] = Caps(**values)
            else:
                own = Caps(**values)
    if found is None:
        return None
    return BucketCaps(found["id"], found["owner_id"], own, requesters)


def _bucket_saved(sender, instance, created, **kwargs):
    """A new bucket has no caps of its own: known without asking the database."""
    if created:
        caps = BucketCaps(instance.pk, instance.owner_id, None)
        _cache[instance.name] = (_generation(), time.monotonic(), caps)
        caps_changed()


def _bucket_deleted(sender, instance, **kwargs):
    caps_changed()


post_save.connect(_bucket_saved, sender=Bucket)
post_delete.connect(_bucket_deleted, sender=Bucket)


# -- the shared state: virtual clocks (pure functions, then the file) --------------


def admit(state, limits, now):
    """One more request under every [(key, qps)] of `limits`? If so the clocks move
    on and True; else nothing changes. Each cap lets in one second's worth at once,
    then one per 1/qps seconds."""
    starts = {key: max(state.get(key, now), now) for key, _ in limits}
    if any(
        starts[key] + 1 / qps - now > QPS_WINDOW_SECONDS + 1e-9 for key, qps in limits
    ):
        return False
    for key, qps in limits:
        state[key] = starts[key] + 1 / qps
    return True


def reserve(state, limits, count, now):
    """`count` bytes under every [(key, bytes per second)] of `limits`: how long they
    wait until the bytes charged before them had their time at every cap."""
    start = max([now, *(state.get(key, now) for key, _ in limits)])
    for key, rate in limits:
        state[key] = max(state.get(key, now), now) + count / rate
    return start - now


def retry_after(state, limits, now):
    """Seconds until `admit` would let a request in."""
    return max(
        state.get(key, now) + 1 / qps - now - QPS_WINDOW_SECONDS for key, qps in limits
    )


def _tidy(state, now):
    """Clocks in the past mean "free now": dropped. A clock far ahead is a clock jump."""
    for key, moment in list(state.items()):
        if not isinstance(moment, (int, float)) or moment <= now:
            del state[key]
        elif moment > now + MAX_BACKLOG_SECONDS:
            state[key] = now


class Ledger:
    """An account's clocks, shared by the worker processes through one file."""

    def __init__(self, owner_id):
        self.path = _qos_dir() / f"account-{int(owner_id)}.json"

    def update(self, change):
        """change(state, now) under the file's lock; the state is written back."""
        fd = self._open()
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            state = _parse(os.pread(fd, 1 << 20, 0))
            now = time.time()
            _tidy(state, now)
            result = change(state, now)
            data = json.dumps(state, separators=(",", ":")).encode()
            os.pwrite(fd, data, 0)
            os.ftruncate(fd, len(data))
            return result
        finally:
            os.close(fd)  # and the lock with it

    def _open(self):
        try:
            return os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        except FileNotFoundError:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            return os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)


def _parse(raw):
    try:
        state = json.loads(raw) if raw else {}
    except ValueError:
        return {}
    return state if isinstance(state, dict) else {}


# -- one request's caps --------------------------------------------------------------


def network_of(request):
    """intranet for a loopback or private client address, else extranet."""
    return _network_of_address(request.META.get("REMOTE_ADDR", ""))


@functools.lru_cache(maxsize=4096)
def _network_of_address(text):
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return "extranet"
    return "intranet" if address.is_loopback or address.is_private else "extranet"


@dataclass(frozen=True)
class RequestLimits:
    """The caps a request meets, as ledger keys: [(key, cap)] per kind."""

    owner_id: int
    network: str
    by_kind: dict

    def of(self, kind):
        return self.by_kind.get(kind, [])


def request_limits(request, caps):
    """The RequestLimits of a request to the bucket of `caps`; None if none apply."""
    from buckets.oss_access import request_user  # oss_access imports much of buckets

    network = network_of(request)
    user = request_user(request)
    sources = [("account", account_caps())]
    if caps.own is not None:
        sources.append((f"bucket{caps.bucket_id}", caps.own))
    requester = caps.requesters.get(str(user.pk)) if user is not None else None
    if requester is not None:
        sources.append((f"bucket{caps.bucket_id}/requester{user.pk}", requester))
    by_kind = {}
    for kind in KINDS:
        found = [
            (f"{kind}:{source}:{scope}", cap)
            for source, source_caps in sources
            for scope, cap in source_caps.applying(kind, network)
        ]
        if found:
            by_kind[kind] = found
    return RequestLimits(caps.owner_id, network, by_kind) if by_kind else None


def _forbidden(kind, network):
    what = {"qps": "Requests", "upload_bw": "Uploads", "download_bw": "Downloads"}[kind]
    return errors.access_denied(
        f"{what} over the {network} are not allowed by this bucket's QoS (a cap of 0)."
    )


def throttled(seconds):
    error = errors.OssError(503, "SlowDown", "Please reduce your request rate.")
    error.headers["Retry-After"] = str(max(1, int(seconds + 0.999)))
    return error


# -- the hooks: every request to a bucket, and its transfers -------------------------


def admit_request(request, bucket_name):
    """Let a request to the bucket in under its QPS caps, or raise SlowDown (503).
    Keeps the request's caps for its transfer (`request.oss_qos`)."""
    request.oss_qos = None
    if CONFIGURATION_SUB_RESOURCES.intersection(request.GET):
        return
    caps = bucket_caps(bucket_name)
    limits = request_limits(request, caps) if caps is not None else None
    if limits is None:
        return
    request.oss_qos = limits
    qps = limits.of("qps")
    if not qps:
        return
    if any(cap == 0 for _key, cap in qps):
        raise _forbidden("qps", limits.network)
    waited = Ledger(limits.owner_id).update(
        lambda state, now: (
            None if admit(state, qps, now) else retry_after(state, qps, now)
        )
    )
    if waited is not None:
        raise throttled(waited)


MIN_SLEEP_SECONDS = 0.001


class Shaper:
    """Charges a transfer's bytes to its bandwidth caps a piece at a time; a piece
    waits until the bytes charged before it had their time at every cap."""

    def __init__(self, owner_id, limits, sleep=time.sleep):
        self.ledger = Ledger(owner_id)
        self.limits = [(key, cap * BYTES_PER_SECOND_PER_GBIT) for key, cap in limits]
        slowest = min(rate for _key, rate in self.limits)
        self.piece = max(MIN_PIECE_BYTES, int(slowest * PIECE_SECONDS))
        self.upfront = max(self.piece, int(slowest * UPFRONT_SECONDS))
        self._sleep = sleep
        self.pending = 0

    def sleep(self, seconds):
        # A wait under a millisecond is not slept: time.sleep of a microsecond still
        # gives up the thread (about 0.4 ms per 1 KiB GET under load). The ledger
        # keeps what it reserved, so waits add up and are slept once they count.
        if seconds >= MIN_SLEEP_SECONDS:
            self._sleep(seconds)

    def passed(self, count):
        self.pending += count
        if self.pending >= self.piece:
            self.sleep(self.charge())

    def charge(self):
        """Charge what is pending; how long it has to wait."""
        count, self.pending = self.pending, 0
        if not count:
            return 0.0
        return self.ledger.update(
            lambda state, now: reserve(state, self.limits, count, now)
        )


def shaper_for(request, kind, length):
    """The Shaper of a transfer (`kind`: upload_bw or download_bw) of `length` bytes
    (None: unknown), or None when no cap applies or when the whole transfer was
    charged here at once (the tightest cap passes it within UPFRONT_SECONDS: the
    sendfile path stays) or added to the process's tally (TALLY_SECONDS)."""
    limits = getattr(request, "oss_qos", None)
    caps = limits.of(kind) if limits is not None else []
    if not caps:
        return None
    if any(cap == 0 for _key, cap in caps):
        raise _forbidden(kind, limits.network)
    if length is not None:
        tally_bytes = min(cap for _key, cap in caps) * (
            BYTES_PER_SECOND_PER_GBIT * TALLY_SECONDS
        )
        if length < tally_bytes:
            length = _tallied(limits.owner_id, caps, length, tally_bytes)
            if length is None:
                return None
    shaper = Shaper(limits.owner_id, caps)
    if length is not None and length <= shaper.upfront:
        shaper.pending = length
        shaper.sleep(shaper.charge())
        return None
    return shaper


_tallies = {}  # (owner id, caps) -> bytes not charged to the ledger yet
_tallies_lock = threading.Lock()


def _tallied(owner_id, caps, length, tally_bytes):
    """Add `length` to the process's tally for these caps: None while the tally stays
    under `tally_bytes`, else the whole tally, to be charged now."""
    key = (owner_id, tuple(caps))
    with _tallies_lock:
        total = _tallies.pop(key, 0) + length
        if total < tally_bytes:
            _tallies[key] = total
            return None
    return total


def shaped(chunks, shaper):
    """The chunks, each charged to `shaper` before it goes (None: as they come)."""
    if shaper is None:
        yield from chunks
        return
    try:
        for chunk in chunks:
            shaper.passed(len(chunk))
            yield chunk
    finally:
        shaper.charge()  # the rest counts against the transfers after it
