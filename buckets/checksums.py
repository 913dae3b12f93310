"""CRC-64/ECMA as OSS computes it (x-oss-hash-crc64ecma), by fastcrc.

OSS's crc64ecma is the reflected ECMA-182 CRC with all-ones init and final XOR, the
catalogue's CRC-64/XZ; oss2 checks it with crcmod, whose table loop runs at ~400 MiB/s
holding the GIL and bounded a 256 MiB mirror. fastcrc (carry-less multiply, Rust)
runs at several GiB/s and releases the GIL. Its `initial` is the CRC of the bytes
before, so a running value continues across chunks.
"""

from fastcrc import crc64


class Crc64Ecma:
    """An incremental CRC-64/ECMA: `.update(bytes)`, `.value` (an int)."""

    __slots__ = ("value",)

    def __init__(self, data=b""):
        self.value = 0  # the CRC of no bytes
        self.update(data)

    def update(self, data):
        if data:
            self.value = crc64.xz(data, self.value)


def crc64_ecma(data=b""):
    """An incremental CRC-64/ECMA of `data` so far."""
    return Crc64Ecma(data)
