"""CRC-64/ECMA as OSS computes it (x-oss-hash-crc64ecma), by crcmod's C extension:
the same implementation oss2 checks it with."""

import crcmod

# ECMA-182 polynomial, reflected, all-ones final XOR (what OSS and oss2 call crc64ecma).
_CRC64_ECMA = crcmod.Crc(
    0x142F0E1EBA9EA3693, initCrc=0, rev=True, xorOut=0xFFFFFFFFFFFFFFFF
)


def crc64_ecma(data=b""):
    """An incremental CRC-64/ECMA: `.update(bytes)`, `.crcValue`."""
    crc = _CRC64_ECMA.new()
    crc.update(data)
    return crc
