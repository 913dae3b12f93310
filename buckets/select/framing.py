"""SelectObject's binary response frames (what oss2's SelectResponseAdapter reads).

Every frame: version (1 byte) and type (3 bytes), payload length (4), header
checksum (4, always 0 as OSS sends it), payload, payload checksum (4: the CRC32
of the payload when the request set EnablePayloadCrc, else 0). Big-endian.
"""

import struct
import zlib

VERSION = 1
DATA = 8388609
CONTINUOUS = 8388612
END = 8388613
CSV_META_END = 8388614
JSON_META_END = 8388615


def frame(frame_type, payload, *, with_crc):
    header = struct.pack(">III", (VERSION << 24) | frame_type, len(payload), 0)
    checksum = zlib.crc32(payload) if with_crc else 0
    return header + payload + struct.pack(">I", checksum)


def data_frame(scanned, data, *, with_crc):
    """Query output, with how far the scan has got."""
    return frame(DATA, struct.pack(">Q", scanned) + data, with_crc=with_crc)


def continuous_frame(scanned, *, with_crc):
    """Progress while nothing matched: it keeps the connection alive."""
    return frame(CONTINUOUS, struct.pack(">Q", scanned), with_crc=with_crc)


def end_frame(scanned, status, error=None, *, with_crc):
    """The final status: 206, or the error ("Code.Message") that stopped the query
    after the response's headers (and perhaps some data) had been sent."""
    payload = struct.pack(">QQI", scanned, scanned, status) + _error_text(error)
    return frame(END, payload, with_crc=with_crc)


def csv_meta_end_frame(scanned, *, splits, rows, columns, status=200, error=None):
    payload = struct.pack(">QQIIQI", scanned, scanned, status, splits, rows, columns)
    return frame(CSV_META_END, payload + _error_text(error), with_crc=False)


def json_meta_end_frame(scanned, *, splits, rows, status=200, error=None):
    payload = struct.pack(">QQIIQ", scanned, scanned, status, splits, rows)
    return frame(JSON_META_END, payload + _error_text(error), with_crc=False)


def _error_text(error):
    if error is None:
        return b""
    code, message = error
    return f"{code}.{message}".encode()
