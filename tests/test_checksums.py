"""CRC-64/ECMA (x-oss-hash-crc64ecma) by fastcrc gives what oss2 checks with crcmod,
whole or in any pieces."""

import random

import oss2
import pytest

from buckets.checksums import crc64_ecma

MIB = 1024 * 1024


def oss2_crc(pieces):
    """The value oss2 (crcmod underneath) computes for these bytes."""
    crc = oss2.utils.Crc64(0)
    for piece in pieces:
        crc.update(piece)
    return crc.crc


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"", 0),
        # The catalogue's check value of CRC-64/XZ, which OSS calls crc64ecma.
        (b"123456789", 0x995DC9BBDF1939FA),
        (b"a", oss2_crc([b"a"])),
        (bytes(range(256)) * 64, oss2_crc([bytes(range(256)) * 64])),
    ],
)
def test_known_values(data, expected):
    assert crc64_ecma(data).value == expected


def test_any_split_of_a_body_gives_oss2s_value():
    generator = random.Random(14)
    body = generator.randbytes(300_000)
    for _ in range(50):
        cuts = sorted(generator.sample(range(len(body)), generator.randint(0, 8)))
        pieces = [
            body[a:b] for a, b in zip([0, *cuts], [*cuts, len(body)], strict=True)
        ]
        crc = crc64_ecma()
        for piece in [b"", *pieces, b""]:
            crc.update(piece)
        assert crc.value == oss2_crc([body])


def test_a_big_body_in_mib_pieces_gives_oss2s_value():
    generator = random.Random(64)
    pieces = [generator.randbytes(MIB) for _ in range(24)] + [b"tail"]
    crc = crc64_ecma()
    for piece in pieces:
        crc.update(memoryview(piece))  # any bytes-like object
    assert crc.value == oss2_crc(pieces)
