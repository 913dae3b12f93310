"""The executor of mirroring decisions: what a GET for a missing object does once a
Mirroring rule matched (SPEC §4, §9)."""

import base64
import errno
import logging
import re
import time
from email.utils import parsedate_to_datetime

from django.conf import settings
from django.http import HttpResponse, StreamingHttpResponse
from django.utils import timezone
from django.utils.http import http_date

from buckets import bucket_lookup, errors
from buckets.header_text import from_wire, to_wire
from buckets.models import StoredObject
from buckets.serving import parse_range, serve_object
from buckets.storage import (
    ObjectChanged,
    ObjectMetadata,
    ObjectWriter,
    commit_object,
    ensure_room_for,
)
from origin import fetch, origin_auth, protection
from origin.flight import FetchSlot, key_flight
from origin.models import OriginFetch
from origin.redirection import redirect_response

logger = logging.getLogger(__name__)


class MirrorInterrupted(ConnectionResetError):
    """Raised mid-body so the server cuts the client's connection: the client must
    see an incomplete response, never a short one that looks whole. A connection
    reset is what gunicorn expects here: it closes the socket without a traceback
    (the failure is already logged on one line)."""

    def __init__(self, message):
        super().__init__(errno.ECONNRESET, message)


def mirror_failed(message):
    return errors.OssError(424, "MirrorFailed", message)


def mirror(request, target, decision):
    """Execute a mirroring decision for `target` (a GetObject of a missing key)."""
    return MirrorFetch(request, target.bucket, target.key, decision).respond()


def mirror_head(request, target, decision):
    """MirrorAllowHeadObject: a HEAD on a missing key is answered from the origin's HEAD."""
    return MirrorFetch(request, target.bucket, target.key, decision).respond_to_head()


def _range_on_the_stream(range_header, length):
    """(answerable, byte range): whether a Range can be answered while the object
    streams in (its length is known and the range satisfiable), and which bytes
    (None: malformed, so the whole body is the answer)."""
    if length is None:
        return False, None
    try:
        return True, parse_range(range_header, length)
    except errors.OssError:
        return False, None


_CONTROL_CHARS_RE = re.compile(r"[\x00-\x1f\x7f]")
UPLOAD_KEPT = "The object was uploaded while it was being fetched; the upload was kept."
TRANSPARENT_BODY_BYTES = 64 * 1024
MAX_USER_META_BYTES = 8 * 1024  # as PutObject allows
USER_META_PREFIXES = ("x-amz-meta-", "x-oss-meta-")  # later wins: x-oss-meta-*
# What a HEAD answered from the origin (MirrorAllowHeadObject) passes on.
HEAD_HEADERS = (
    *StoredObject.METADATA_HEADERS.values(),
    "Content-Length",
    "ETag",
    "Last-Modified",
)


def _origin_user_meta(headers):
    """The origin's x-oss-meta-* and x-amz-meta-* headers as user metadata (MirrorSaveOssMeta)."""
    meta = {}
    for prefix in USER_META_PREFIXES:
        for name, value in headers.items():
            if name.lower().startswith(prefix) and len(name) > len(prefix):
                meta[name.lower()[len(prefix) :]] = from_wire(value)
    if (
        sum(len(name) + len(value) for name, value in meta.items())
        > MAX_USER_META_BYTES
    ):
        return {}  # more than an object may carry: none rather than a cut set
    return meta


def _saved_metadata(headers, rule):
    values = {
        field: headers.get(header, "")[:1024]
        for field, header in StoredObject.METADATA_HEADERS.items()
    }
    values["content_type"] = values["content_type"] or "application/octet-stream"
    if rule.save_origin_meta:
        values["user_meta"] = _origin_user_meta(headers)
    values["tags"] = dict(rule.tags)  # MirrorTaggings
    return ObjectMetadata(**values)


def _loggable(text):
    """Keys may hold control characters (as in OSS): escaped, a key cannot forge a log line."""
    return _CONTROL_CHARS_RE.sub(lambda found: f"\\x{ord(found.group()):02x}", text)


def _origin_last_modified(headers):
    """The origin's Last-Modified as an aware datetime, None when absent or unreadable."""
    try:
        parsed = parsedate_to_datetime(headers.get("Last-Modified", ""))
    except (TypeError, ValueError, IndexError):
        return None
    if parsed is None or parsed.tzinfo is None:
        return None
    return parsed.replace(microsecond=0)


class MirrorFetch:
    """One request's mirroring: single flight, origin request, answer, fetch log."""

    def __init__(self, request, bucket, key, decision, *, replacing=None):
        self.request = request
        # A refresh (origin/jobs.py) fetches over the object it was given and replaces
        # it only if it still has the same bytes when the new ones are complete.
        self.replacing = replacing
        self.logged = None  # (outcome, message, failed) of this fetch, once logged
        self.logged_with_object = False  # its entry committed with the object's row
        self.bucket = bucket
        self.key = key
        self.decision = decision
        self.rule = decision.rule
        self.flight = key_flight(bucket.pk, key)
        self.slot = FetchSlot()
        # Origin protection (SPEC §11); it acts only once refusal() admitted the fetch.
        self.guard = protection.OriginGuard(self.rule, key, decision.origin_url)
        self.origin_url = ""
        self.status = None
        self.started = time.monotonic()
        # A delete of the key after this point wins over what this fetch brings.
        self.missing_since = timezone.now()
        self.fetched_at = None  # the saved object's Last-Modified (whole seconds)
        self.deadline = None
        self.tried = []  # (url, reason) of origins that failed before the one answering

    def respond(self):
        waiting_since = time.time()
        if not self.flight.acquire(settings.MIRROR_WAIT_SECONDS):
            return mirror_failed(
                "Another fetch of this object is still running; try again later."
            ).response(self.request)
        handed_over = False
        try:
            existing = self._saved_meanwhile()
            if existing is not None:  # a fetch we waited for saved it
                return serve_object(self.request, existing)
            earlier = self.flight.outcome_since(waiting_since)
            if earlier is not None:
                # The fetch we waited for failed: the same answer, no second request.
                return self._replay(earlier)
            refusal = self.guard.refusal()  # a remembered 404, an open circuit
            if refusal is not None:
                return self._fail(None, refusal)
            if not self.slot.acquire(settings.MIRROR_QUEUE_SECONDS):
                # Every fetch slot of this process is busy: hits must keep their threads.
                return self._fail(None, errors.slow_down(1))
            if not self.guard.acquire_place(settings.MIRROR_QUEUE_SECONDS):
                # The rule's cap on concurrent fetches to this origin host.
                return self._fail(None, errors.slow_down(1))
            response = self._fetch()
            handed_over = isinstance(response, StreamingHttpResponse)
            return response
        finally:
            if not handed_over:
                self.release()

    def _saved_meanwhile(self):
        """The object a fetch we waited for saved, if any (a refresh fetches anyway),
        in one plain SELECT: no ORM query to compile on every miss."""
        if self.replacing is not None:
            return None
        return bucket_lookup.current_version(self.bucket, self.key)

    def release(self):
        self.guard.release()
        self.slot.release()
        self.flight.release()

    def respond_to_head(self):
        """Ask the origins with HEAD and answer their status and headers; nothing is
        saved or remembered, so the next HEAD asks again."""
        if not self.slot.acquire(settings.MIRROR_QUEUE_SECONDS):
            return errors.slow_down(1).response(self.request)
        try:
            self.deadline = fetch.Deadline()
            try:
                origin = self._open_origins("HEAD")
            except fetch.OriginError as error:
                failure = mirror_failed(self._with_tried(error.message))
                self._log(
                    OriginFetch.Outcome.FAILED, message=failure.message, failed=True
                )
                return failure.response(self.request)
            origin.close()
            self.status = origin.status
            if origin.status == 404 and 404 not in self.rule.transparent_codes:
                self._log(
                    OriginFetch.Outcome.NOT_FOUND,
                    message="The origin answered 404 to HEAD.",
                )
                return errors.no_such_key(self.key).response(self.request)
            response = HttpResponse(status=origin.status)
            for header in HEAD_HEADERS:
                if header in origin.headers:
                    response[header] = origin.headers[header]
            if self.rule.save_origin_meta:
                for name, value in _origin_user_meta(origin.headers).items():
                    response[f"x-oss-meta-{name}"] = to_wire(value)
            self._log(
                OriginFetch.Outcome.NOT_SAVED,
                message=f"HEAD answered from the origin (HTTP {origin.status}); nothing saved.",
            )
            return self._with_return_headers(response)
        finally:
            self.slot.release()

    # -- the origin request -------------------------------------------------

    def _fetch(self):
        self.deadline = (
            fetch.Deadline()
        )  # probe, alternates, redirects and body included
        self.fetched_at = timezone.now().replace(microsecond=0)
        try:
            origin = self._open_origins("GET")
        except fetch.OriginError as error:
            outcome = (
                OriginFetch.Outcome.REFUSED
                if error.reason == "refused"
                else OriginFetch.Outcome.FAILED
            )
            return self._fail(outcome, mirror_failed(self._with_tried(error.message)))
        self.status = origin.status
        if origin.status in self.rule.transparent_codes:
            return self._transparent(origin)
        if origin.status != 200:
            origin.close()
            return self._non_200(origin)
        if self.rule.keep_origin_last_modified:
            self.fetched_at = _origin_last_modified(origin.headers) or self.fetched_at
        length = origin.content_length
        if length is not None and length > settings.ORIGIN_MAX_BYTES:
            origin.close()
            return self._fail(
                OriginFetch.Outcome.FAILED,
                mirror_failed(
                    f"The origin object is {length} bytes, more than ORIGIN_MAX_BYTES ({settings.ORIGIN_MAX_BYTES})."
                ),
            )
        if not self.rule.proxy_only:
            try:
                ensure_room_for(length)
            except OSError:
                origin.close()
                return self._fail(
                    OriginFetch.Outcome.FAILED, errors.insufficient_storage()
                )
        answerable, byte_range = True, None
        if "Range" in self.request.headers:
            answerable, byte_range = _range_on_the_stream(
                self.request.headers["Range"], length
            )
            if not answerable and not self.rule.proxy_only:
                # Unknown length or an unsatisfiable range: fetch it whole, save it,
                # then answer from the saved copy (416 included).
                transfer = MirrorTransfer(self, origin)
                saved = transfer.run_to_end()
                if saved is None:
                    raise transfer.failure
                return self._with_return_headers(serve_object(self.request, saved))
        transfer = MirrorTransfer(self, origin, byte_range)
        return self._streaming_response(origin, transfer, byte_range)

    # -- which origin answers -------------------------------------------------

    def _origin_urls(self):
        """The origins in the order they are tried: the primary (the secondary instead
        while the probe URL does not answer 200), then the alternates by number."""
        decision, rule = self.decision, self.rule
        first = [decision.origin_url]
        fallback = (
            [decision.secondary_origin_url] if decision.secondary_origin_url else []
        )
        if (
            rule.probe_url
            and (fallback or decision.alternate_origin_urls)
            and not fetch.probe_ok(rule.probe_url, self.deadline)
        ):
            first = fallback
        return [*first, *decision.alternate_origin_urls]

    def _switches_on(self, status):
        """Whether an origin's answer sends the fetch on to the next origin."""
        if status == 200 or status in self.rule.transparent_codes:
            return False
        return status >= 500 or self.rule.switch_on_all_errors

    def _open_origins(self, method):
        """The first usable answer of the origins in order (MirrorMultiAlternates): a
        connection error, timeout or 5xx moves on to the next, with
        MirrorSwitchAllErrors any other non-200 too; the last origin's answer stands."""
        *earlier, last = self._origin_urls()
        sign = origin_auth.signer_for(self.rule.auth)
        self.tried = []
        for url in earlier:
            self.origin_url = url
            try:
                origin = self._open(url, sign, method)
            except fetch.OriginError as error:
                if error.reason in ("refused", "deadline"):
                    raise
                self.tried.append((url, error.message))
                continue
            if not self._switches_on(origin.status):
                return origin
            origin.close()
            self.tried.append((url, f"The origin answered HTTP {origin.status}."))
        self.origin_url = last
        return self._open(last, sign, method)  # the last origin's answer stands

    def _open(self, url, sign, method):
        return fetch.open_origin(
            url,
            self.decision.origin_headers,
            follow_redirects=self.rule.follow_redirects,
            deadline=self.deadline,
            sign=sign,
            method=method,
        )

    def _with_tried(self, message):
        """A failure message that also says which earlier origins failed, and how."""
        earlier = " ".join(f"({url}: {reason})" for url, reason in self.tried)
        return f"{message} Earlier origins failed: {earlier}" if earlier else message

    def _transparent(self, origin):
        """TransparentMirrorResponseCodes: the origin's status and body (up to 64 KiB)
        reach the client as they are; nothing is saved."""
        body = b""
        try:
            for chunk in origin.chunks():
                body += chunk
                if len(body) >= TRANSPARENT_BODY_BYTES:
                    break
        except fetch.OriginError:
            pass  # the status is the answer; a broken body is cut where it broke
        finally:
            origin.close()
        response = HttpResponse(
            body[:TRANSPARENT_BODY_BYTES],
            status=origin.status,
            content_type=origin.headers.get("Content-Type", "application/octet-stream"),
        )
        self._log(
            OriginFetch.Outcome.NOT_SAVED,
            message=f"The origin's HTTP {origin.status} was passed through (TransparentMirrorResponseCodes).",
        )
        return response

    def _with_return_headers(self, response):
        for name, value in self.rule.return_headers:
            response[name] = value
        return response

    def _non_200(self, origin):
        if origin.status == 404:
            return self._fail(
                OriginFetch.Outcome.NOT_FOUND,
                errors.no_such_key(self.key),
                message="The origin answered 404.",
            )
        location = origin.headers.get("Location")
        if 300 <= origin.status < 400 and not self.rule.follow_redirects and location:
            self._log(
                OriginFetch.Outcome.REDIRECT_PASSED,
                message=f"Location: {location}"[:1024],
            )
            self.flight.record_outcome({"status": origin.status, "location": location})
            return redirect_response(origin.status, location)
        return self._fail(
            OriginFetch.Outcome.FAILED,
            mirror_failed(
                self._with_tried(
                    f"The origin answered HTTP {origin.status}. Mirroring failed, please check your mirror configuration."
                )
            ),
        )

    def _streaming_response(self, origin, transfer, byte_range=None):
        response = StreamingHttpResponse(transfer, status=206 if byte_range else 200)
        metadata = _saved_metadata(origin.headers, self.rule)
        for field, header in StoredObject.METADATA_HEADERS.items():
            if getattr(metadata, field):
                response[header] = getattr(metadata, field)
        for name, value in metadata.user_meta.items():
            response[f"x-oss-meta-{name}"] = to_wire(value)
        if byte_range:
            start, end = byte_range
            response["Content-Range"] = f"bytes {start}-{end}/{origin.content_length}"
            response["Content-Length"] = str(end - start + 1)
        elif origin.content_length is not None:
            response["Content-Length"] = str(origin.content_length)
        # The saved object's Last-Modified, known before its first byte is sent.
        response["Last-Modified"] = http_date(self.fetched_at.timestamp())
        response["x-oss-tag"] = "MIRROR"
        return self._with_return_headers(response)

    # -- outcomes -----------------------------------------------------------

    def _fail(self, outcome, error, message=None):
        """Answer `error`, leave it for the waiters, and log the fetch (outcome None:
        no fetch was made)."""
        if outcome is not None:
            failed = outcome != OriginFetch.Outcome.NOT_FOUND
            self._log(outcome, message=message or error.message, failed=failed)
        self.leave_for_waiters(error)
        return error.response(self.request)

    def leave_for_waiters(self, error):
        """The answer requests waiting on this fetch replay (no second origin request)."""
        self.flight.record_outcome(
            {
                "status": error.status,
                "code": error.code,
                "message": error.message,
                "headers": error.headers,
            }
        )

    def _replay(self, earlier):
        if "location" in earlier:
            return redirect_response(earlier["status"], earlier["location"])
        if earlier.get("code") == "NoSuchKey":
            return errors.no_such_key(self.key).response(self.request)
        error = errors.OssError(earlier["status"], earlier["code"], earlier["message"])
        error.headers.update(earlier.get("headers", {}))
        return error.response(self.request)

    def _log(self, outcome, *, bytes_received=0, message="", failed=False):
        """Record the fetch; the log must never break or hold up the answer."""
        if self.logged_with_object:
            return  # its entry committed with the saved object's row
        self._note(outcome, message, failed)
        try:
            self._fetch_log_entry(outcome, bytes_received, message).save()
        except Exception:
            logger.exception("could not record the origin fetch of %s", self.origin_url)

    def log_with_object(self, row, bytes_received):
        """commit_object's on_row: the entry of a fetch that saved `row` (or found an
        upload there), written in the object's own transaction, so a saved mirror
        costs one write transaction and its entry commits with the row or not at
        all. Returns (outcome, message) for note_logged_with_object."""
        if row.mirrored:
            outcome, message = OriginFetch.Outcome.SAVED, ""
        else:  # commit_object kept an object uploaded while we fetched
            outcome, message = OriginFetch.Outcome.NOT_SAVED, UPLOAD_KEPT
        self._fetch_log_entry(outcome, bytes_received, message).save()
        return outcome, message

    def note_logged_with_object(self, outcome, message):
        """The object and its entry have committed: note the outcome, write nothing more."""
        self._note(outcome, message, failed=False)
        self.logged_with_object = True

    def _note(self, outcome, message, failed):
        self.guard.record(outcome)
        self.logged = (outcome, message, failed)
        if failed:
            # One line an operator can grep; the client got the same reason.
            logger.warning(
                "mirror failed bucket=%s key=%s url=%s reason=%s",
                self.bucket.name,
                _loggable(self.key),
                self.origin_url,
                message,
            )

    def _fetch_log_entry(self, outcome, bytes_received, message):
        return OriginFetch(
            bucket=self.bucket,
            rule_id=self.rule.rule_id,
            rule_position=self.rule.position,
            key=self.key,
            origin_url=self.origin_url[:4096],
            status_code=self.status,
            bytes_received=bytes_received,
            duration_ms=int((time.monotonic() - self.started) * 1000),
            outcome=outcome,
            message=message[:1024],
        )


class MirrorTransfer:
    """Origin bytes go to the client as they arrive and to a temporary file; the
    object is committed only when the body is complete (and its MD5 matches)."""

    def __init__(self, mirror, origin, byte_range=None):
        self.mirror = mirror
        self.origin = origin
        # MirrorProxyPass: the bytes only pass through, nothing is written.
        self.proxy_only = mirror.rule.proxy_only
        self.writer = (
            _PassThrough()
            if self.proxy_only
            # Hashed by a thread of its own while this one streams.
            else ObjectWriter(hash_in_background=True)
        )
        self.expected_size = origin.content_length  # None: the origin did not say
        self.finished = False
        self.truncated = False  # the origin sent less than its Content-Length
        self.failure = None  # the OssError for a client still waiting for an answer
        self._iterator = (
            self._stream_range(*byte_range) if byte_range else self._stream_to_client()
        )

    def __iter__(self):
        return self._iterator

    def _read(self):
        for chunk in self.origin.chunks():
            self.writer.write(chunk)
            if self.writer.size > settings.ORIGIN_MAX_BYTES:
                raise fetch.OriginError(
                    f"The origin object is larger than ORIGIN_MAX_BYTES ({settings.ORIGIN_MAX_BYTES})."
                )
            yield chunk

    def _stream_to_client(self):
        # Bytes go out as they arrive, except the very last one, which goes only after
        # the commit: a request sent once this response has ended finds the object.
        held = b""
        try:
            for chunk in self._read():
                ready, held = self._all_but_last_byte(held, chunk)
                if not ready:
                    continue
                try:
                    yield ready
                except GeneratorExit:
                    # The client went away: finish the fetch anyway so the next request is a hit.
                    self.run_to_end()
                    raise
        except Exception as error:  # noqa: BLE001 - the client connection is cut either way
            self._abandon_after(error)
            raise MirrorInterrupted(self.failure.message) from error
        self._complete()
        if self.truncated:
            raise MirrorInterrupted(self.failure.message)
        if held:
            yield held

    def _all_but_last_byte(self, held, chunk):
        """(bytes to send now, byte held back) after `chunk`. A chunk that cannot hold
        the body's last byte (the origin's Content-Length says more follow) goes out as
        it is, uncopied; otherwise its last byte waits for the commit."""
        expected = self.expected_size
        if not held and expected is not None and self.writer.size < expected:
            return chunk, b""
        return b"".join((held, memoryview(chunk)[:-1])), chunk[-1:]

    def _stream_range(self, start, end):
        """A Range on a cold miss: bytes start..end go out as soon as they arrive and the
        answer ends there; close() then fetches and saves the rest."""
        offset = 0
        try:
            for chunk in self._read():
                piece = chunk[max(start - offset, 0) : max(end + 1 - offset, 0)]
                offset += len(chunk)
                if piece:
                    yield piece
                if offset > end:
                    return
        except Exception as error:  # noqa: BLE001 - the client connection is cut either way
            self._abandon_after(error)
            raise MirrorInterrupted(self.failure.message) from error

    def run_to_end(self):
        """Read the rest of the body without a client; returns the saved object or None."""
        if self.proxy_only:  # nothing will be saved: the rest is not worth fetching
            self._finish(
                OriginFetch.Outcome.NOT_SAVED,
                "Proxy only (MirrorProxyPass): the client left before the end; nothing saved.",
            )
            return None
        try:
            for _chunk in self._read():
                pass
        except Exception as error:  # noqa: BLE001 - see _abandon_after
            self._abandon_after(error)
            return None
        return self._complete()

    def close(self):
        # Called by the server when the response ends, also when iteration never began.
        if not self.finished:
            self._iterator.close()
        if not self.finished:
            self.run_to_end()

    def _abandon_after(self, error):
        """The origin failed (424), or our side did (a full disk: 507, else 500)."""
        if isinstance(error, fetch.OriginError):
            self._abandon(mirror_failed(error.message))
        else:
            failure = errors.from_exception(error)
            self._abandon(
                failure, message=f"The object could not be stored: {failure.message}"
            )

    def _complete(self):
        mirror, origin = self.mirror, self.origin
        expected = origin.content_length
        if expected is not None and self.writer.size != expected:
            self.truncated = True
            return self._abandon(
                mirror_failed(
                    f"Bytes read is not equal to expected: {self.writer.size} of {expected}."
                )
            )
        if self.proxy_only:
            self._finish(
                OriginFetch.Outcome.NOT_SAVED,
                "Proxy only (MirrorProxyPass): served, not saved.",
            )
            return None
        sent_md5 = origin.headers.get("Content-MD5", "")
        if mirror.rule.check_md5 and sent_md5:
            ours = base64.b64encode(bytes.fromhex(self.writer.md5_hex)).decode()
            if ours != sent_md5.strip():
                return self._abandon(
                    mirror_failed(
                        f"MD5 in header({sent_md5}) is not equal to MD5 calculated({ours})."
                    ),
                    outcome=OriginFetch.Outcome.NOT_SAVED,
                )
        logged = []  # (outcome, message) of each try; the last one committed
        try:
            saved = commit_object(
                mirror.bucket,
                mirror.key,
                self.writer,
                _saved_metadata(origin.headers, mirror.rule),
                mirrored=True,
                replace=mirror.replacing is not None,
                expect_blob=mirror.replacing.blob if mirror.replacing else None,
                unless_deleted_since=mirror.missing_since,
                last_modified=mirror.fetched_at,
                on_row=lambda row: logged.append(
                    mirror.log_with_object(row, self.writer.size)
                ),
            )
        except ObjectChanged:  # commit_object already removed the bytes
            self.failure = errors.no_such_key(mirror.key)  # the delete wins
            self._finish(
                OriginFetch.Outcome.NOT_SAVED,
                "The object changed while it was being refreshed; the change was kept."
                if mirror.replacing
                else "The object was deleted while it was being fetched; the delete was kept.",
            )
            return None
        except Exception as error:  # noqa: BLE001 - see _abandon_after
            self._abandon_after(error)
            return None
        mirror.flight.clear_outcome()  # waiters will find the object
        mirror.note_logged_with_object(*logged[-1])
        self._finish(*logged[-1])
        return saved

    def _abandon(self, failure, outcome=OriginFetch.Outcome.FAILED, message=None):
        self.failure = failure
        self.writer.discard()
        self.mirror.leave_for_waiters(failure)
        self._finish(outcome, message or failure.message, failed=True)
        return None

    def _finish(self, outcome, message, failed=False):
        if self.finished:
            return
        self.finished = True
        self.origin.close()
        self.mirror._log(
            outcome, bytes_received=self.writer.size, message=message, failed=failed
        )
        self.mirror.release()


class _PassThrough:
    """The ObjectWriter of a proxy-only fetch: counts the bytes, keeps none."""

    def __init__(self):
        self.size = 0

    def write(self, chunk):
        self.size += len(chunk)

    def discard(self):
        pass
