"""GetObject answered gzip-compressed, as OSS answers it.

OSS compresses a whole-object GET when the request accepts gzip, the object's
Content-Type is one of a few text types and it holds at least 1 KB. The answer then
has `Content-Encoding: gzip` and no Content-Length (it is sent chunked: its length
is only known at the end). Its ETag and x-oss-hash-crc64ecma still describe the
object's own bytes, which is what a client that decodes the answer gets (oss2
checks the CRC of the decoded bytes).
"""

import zlib

# OSS's list of the Content-Types it compresses.
COMPRESSIBLE_TYPES = frozenset(
    {
        "text/cache-manifest",
        "text/xml",
        "text/plain",
        "text/css",
        "application/javascript",
        "application/x-javascript",
        "application/rss+xml",
        "application/json",
        "text/json",
    }
)
MIN_COMPRESSED_SIZE = 1024
GZIP_WINDOW_BITS = 16 + zlib.MAX_WBITS  # zlib's way of asking for a gzip wrapper


def accepts_gzip(accept_encoding):
    """Whether an Accept-Encoding value accepts gzip (`gzip;q=0` refuses it)."""
    for coding in accept_encoding.split(","):
        name, _, parameters = coding.partition(";")
        if name.strip().lower() not in ("gzip", "x-gzip"):
            continue
        quality = parameters.strip().lower().removeprefix("q=").strip()
        try:
            return not quality or float(quality) > 0
        except ValueError:
            return False
    return False


def should_compress(request, obj, whole_object):
    """OSS's rule: a whole-object GET that accepts gzip, of a text type, of 1 KB or
    more, that is not already content-encoded by its uploader."""
    media_type = (obj.content_type or "").split(";", 1)[0].strip().lower()
    return (
        request.method == "GET"
        and whole_object
        and obj.size >= MIN_COMPRESSED_SIZE
        and media_type in COMPRESSIBLE_TYPES
        and not obj.content_encoding
        and accepts_gzip(request.headers.get("Accept-Encoding", ""))
    )


def gzipped(chunks):
    """The gzip stream of `chunks`, compressed as they come (memory stays flat)."""
    compressor = zlib.compressobj(6, zlib.DEFLATED, GZIP_WINDOW_BITS)
    for chunk in chunks:
        compressed = compressor.compress(chunk)
        if compressed:
            yield compressed
    yield compressor.flush()
