"""x-oss-traffic-limit: a bandwidth cap (bit/s) on one GetObject, PutObject,
AppendObject or UploadPart, as OSS applies it: the same bytes, only slower.

Given as a header or, on a signed URL, as a query parameter; OSS accepts
245,760 to 838,860,800 bit/s (30 KiB/s to 100 MiB/s).
"""

import time

from buckets import errors
from buckets.numbers import parse_decimal

NAME = "x-oss-traffic-limit"
MIN_BITS_PER_SECOND = 245_760
MAX_BITS_PER_SECOND = 838_860_800
MIN_PIECE_BYTES = 8 * 1024


def bytes_per_second(request):
    """The cap a request asks for, in bytes per second; None without one."""
    value = request.headers.get(NAME, request.GET.get(NAME))
    if value is None:
        return None
    try:
        bits = parse_decimal(value.strip(), max_value=MAX_BITS_PER_SECOND)
    except ValueError:
        bits = 0
    if bits < MIN_BITS_PER_SECOND:
        raise errors.invalid_argument(
            f"{NAME} must be a number of bits per second from "
            f"{MIN_BITS_PER_SECOND} to {MAX_BITS_PER_SECOND}.",
            NAME,
            value,
        )
    return bits / 8


class Pacer:
    """Holds a transfer back so that, from its first byte on, it never runs faster
    than `rate` bytes per second. The clock and sleep are the caller's to replace."""

    def __init__(self, rate, clock=None, sleep=None):
        self.rate = rate
        self.clock, self.sleep = clock or time.monotonic, sleep or time.sleep
        self.started = None
        self.sent = 0

    def passed(self, count):
        """`count` more bytes went through: wait until they are within the cap."""
        if self.started is None:
            self.started = self.clock()
        self.sent += count
        ahead = self.sent / self.rate - (self.clock() - self.started)
        if ahead > 0:
            self.sleep(ahead)


def paced(chunks, rate):
    """The chunks, no faster than `rate` bytes per second (None: as they come).

    Each piece waits *before* it goes out, so the receiver never holds more than the
    cap allows; pieces are a tenth of a second's worth, so the first byte is not held."""
    if rate is None:
        yield from chunks
        return
    pacer = Pacer(rate)
    piece = max(MIN_PIECE_BYTES, int(rate / 10))
    for chunk in chunks:
        for offset in range(0, len(chunk), piece):
            part = chunk[offset : offset + piece]
            pacer.passed(len(part))
            yield part
