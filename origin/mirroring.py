"""The executor of mirroring decisions: what a GET for a missing object does once a
Mirroring rule matched (SPEC §4, §9)."""

import base64
import errno
import logging
import time

from django.conf import settings
from django.http import StreamingHttpResponse
from django.utils import timezone
from django.utils.http import http_date

from buckets import errors
from buckets.models import StoredObject
from buckets.serving import parse_range, serve_object
from buckets.storage import (
    ObjectChanged,
    ObjectMetadata,
    ObjectWriter,
    commit_object,
    ensure_room_for,
)
from origin import fetch
from origin.flight import FetchSlot, KeyFlight
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


def _saved_metadata(headers):
    values = {
        field: headers.get(header, "")[:1024]
        for field, header in StoredObject.METADATA_HEADERS.items()
    }
    values["content_type"] = values["content_type"] or "application/octet-stream"
    return ObjectMetadata(**values)


class MirrorFetch:
    """One request's mirroring: single flight, origin request, answer, fetch log."""

    def __init__(self, request, bucket, key, decision):
        self.request = request
        self.bucket = bucket
        self.key = key
        self.decision = decision
        self.rule = decision.rule
        self.flight = KeyFlight(bucket.pk, key)
        self.slot = FetchSlot()
        self.origin_url = ""
        self.status = None
        self.started = time.monotonic()
        # A delete of the key after this point wins over what this fetch brings.
        self.missing_since = timezone.now()
        self.fetched_at = None  # the saved object's Last-Modified (whole seconds)
        self.deadline = None

    def respond(self):
        waiting_since = time.time()
        if not self.flight.acquire(settings.MIRROR_WAIT_SECONDS):
            return mirror_failed(
                "Another fetch of this object is still running; try again later."
            ).response(self.request)
        handed_over = False
        try:
            existing = StoredObject.objects.filter(
                bucket=self.bucket, key=self.key
            ).first()
            if existing is not None:  # a fetch we waited for saved it
                return serve_object(self.request, existing)
            earlier = self.flight.outcome_since(waiting_since)
            if earlier is not None:
                # The fetch we waited for failed: the same answer, no second request.
                return self._replay(earlier)
            if not self.slot.acquire(settings.MIRROR_QUEUE_SECONDS):
                # Every fetch slot of this process is busy: hits must keep their threads.
                return self._fail(None, errors.slow_down(1))
            response = self._fetch()
            handed_over = isinstance(response, StreamingHttpResponse)
            return response
        finally:
            if not handed_over:
                self.release()

    def release(self):
        self.slot.release()
        self.flight.release()

    # -- the origin request -------------------------------------------------

    def _fetch(self):
        rule, decision = self.rule, self.decision
        self.deadline = fetch.Deadline()  # probe, redirects and body included
        self.fetched_at = timezone.now().replace(microsecond=0)
        self.origin_url = decision.origin_url
        if (
            decision.secondary_origin_url
            and rule.probe_url
            and not fetch.probe_ok(rule.probe_url, self.deadline)
        ):
            self.origin_url = decision.secondary_origin_url
        try:
            origin = fetch.open_origin(
                self.origin_url,
                decision.origin_headers,
                follow_redirects=rule.follow_redirects,
                deadline=self.deadline,
            )
        except fetch.OriginError as error:
            outcome = (
                OriginFetch.Outcome.REFUSED
                if error.reason == "refused"
                else OriginFetch.Outcome.FAILED
            )
            return self._fail(outcome, mirror_failed(error.message))
        self.status = origin.status
        if origin.status != 200:
            origin.close()
            return self._non_200(origin)
        length = origin.content_length
        if length is not None and length > settings.ORIGIN_MAX_BYTES:
            origin.close()
            return self._fail(
                OriginFetch.Outcome.FAILED,
                mirror_failed(
                    f"The origin object is {length} bytes, more than ORIGIN_MAX_BYTES ({settings.ORIGIN_MAX_BYTES})."
                ),
            )
        try:
            ensure_room_for(length)
        except OSError:
            origin.close()
            return self._fail(OriginFetch.Outcome.FAILED, errors.insufficient_storage())
        answerable, byte_range = True, None
        if "Range" in self.request.headers:
            answerable, byte_range = _range_on_the_stream(
                self.request.headers["Range"], length
            )
            if not answerable:
                # Unknown length or an unsatisfiable range: fetch it whole, save it,
                # then answer from the saved copy (416 included).
                transfer = MirrorTransfer(self, origin)
                saved = transfer.run_to_end()
                if saved is None:
                    raise transfer.failure
                return serve_object(self.request, saved)
        transfer = MirrorTransfer(self, origin, byte_range)
        return self._streaming_response(origin, transfer, byte_range)

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
                f"The origin answered HTTP {origin.status}. Mirroring failed, please check your mirror configuration."
            ),
        )

    def _streaming_response(self, origin, transfer, byte_range=None):
        response = StreamingHttpResponse(transfer, status=206 if byte_range else 200)
        metadata = _saved_metadata(origin.headers)
        for field, header in StoredObject.METADATA_HEADERS.items():
            if getattr(metadata, field):
                response[header] = getattr(metadata, field)
        if byte_range:
            start, end = byte_range
            response["Content-Range"] = f"bytes {start}-{end}/{origin.content_length}"
            response["Content-Length"] = str(end - start + 1)
        elif origin.content_length is not None:
            response["Content-Length"] = str(origin.content_length)
        # The saved object's Last-Modified, known before its first byte is sent.
        response["Last-Modified"] = http_date(self.fetched_at.timestamp())
        response["x-oss-tag"] = "MIRROR"
        return response

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
        if failed:
            # One line an operator can grep; the client got the same reason.
            logger.warning(
                "mirror failed bucket=%s key=%s url=%s reason=%s",
                self.bucket.name,
                self.key,
                self.origin_url,
                message,
            )
        try:
            OriginFetch.objects.create(
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
        except Exception:
            logger.exception("could not record the origin fetch of %s", self.origin_url)


class MirrorTransfer:
    """Origin bytes go to the client as they arrive and to a temporary file; the
    object is committed only when the body is complete (and its MD5 matches)."""

    def __init__(self, mirror, origin, byte_range=None):
        self.mirror = mirror
        self.origin = origin
        self.writer = ObjectWriter()
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
                ready, held = (held + chunk)[:-1], chunk[-1:]
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
        try:
            saved = commit_object(
                mirror.bucket,
                mirror.key,
                self.writer,
                _saved_metadata(origin.headers),
                mirrored=True,
                replace=False,
                unless_deleted_since=mirror.missing_since,
                last_modified=mirror.fetched_at,
            )
        except ObjectChanged:  # commit_object already removed the bytes
            self.failure = errors.no_such_key(mirror.key)  # the delete wins
            self._finish(
                OriginFetch.Outcome.NOT_SAVED,
                "The object was deleted while it was being fetched; the delete was kept.",
            )
            return None
        except Exception as error:  # noqa: BLE001 - see _abandon_after
            self._abandon_after(error)
            return None
        mirror.flight.clear_outcome()  # waiters will find the object
        if saved.mirrored:
            self._finish(OriginFetch.Outcome.SAVED, "")
        else:  # commit_object kept an object uploaded while we fetched
            self._finish(
                OriginFetch.Outcome.NOT_SAVED,
                "The object was uploaded while it was being fetched; the upload was kept.",
            )
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
