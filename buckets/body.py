"""Request bodies that cannot end early without saying so.

A WSGI server hands the application `b""` when the client disconnects, exactly
as it does at the real end of the body; a loop that reads until `b""` would
then save a cut upload as if it were whole. Wrapped in `CompleteBodyInput`,
an early end raises `IncompleteBody` instead, for every reader alike: the OSS
PutObject/AppendObject loops, Django's multipart parser (console uploads) and
`request.body`.
"""

# Set in the WSGI environ when the raw request path is not valid UTF-8.
PATH_NOT_UTF8 = "oss.path_not_utf8"


def mark_path_encoding(environ):
    """WSGI gives PATH_INFO as Latin-1-decoded bytes; note whether they are UTF-8
    before Django replaces it with a decoded, re-percent-encoded form."""
    try:
        environ.get("PATH_INFO", "").encode("iso-8859-1").decode("utf-8")
    except UnicodeError:
        environ[PATH_NOT_UTF8] = True


class IncompleteBody(OSError):
    """The client sent fewer body bytes than it declared, or broke a chunked body off."""


class CompleteBodyInput:
    """`wsgi.input` that raises IncompleteBody where the body stops short.

    `declared` is the Content-Length, or None for a chunked body, whose reader
    (the server's) raises on its own when the terminating chunk never comes.
    """

    def __init__(self, stream, declared):
        self._stream = stream
        self._remaining = declared

    @classmethod
    def wrap(cls, environ):
        length = environ.get("CONTENT_LENGTH") or ""
        declared = int(length) if length.isascii() and length.isdigit() else None
        return cls(environ["wsgi.input"], declared)

    def read(self, size=-1):
        return self._checked(self._stream.read, size)

    def readline(self, size=-1):
        return self._checked(self._stream.readline, size)

    def _checked(self, read, size):
        try:
            data = read(size) if size is not None and size >= 0 else read()
        except IncompleteBody:
            raise
        except Exception as error:  # the server's parse or socket errors
            raise IncompleteBody(f"the request body broke off: {error}") from error
        if self._remaining is not None:
            if not data and size != 0 and self._remaining > 0:
                raise IncompleteBody(
                    f"the request body ended {self._remaining} bytes before its Content-Length"
                )
            self._remaining -= len(data)
        return data

    def __iter__(self):
        return iter(self.readline, b"")


# A refused upload larger than this is not read to its end: the connection closes.
DRAIN_LIMIT_BYTES = 64 * 1024 * 1024
DRAIN_CHUNK_BYTES = 256 * 1024


def drain(stream, limit=DRAIN_LIMIT_BYTES):
    """Read and drop what is left of a request body answered without being read (an
    error such as AccessDenied before an upload is taken): otherwise the next request
    on the kept-alive connection would meet those bytes, or a client still sending
    would have the connection closed under it. `stream`: the request (which knows
    its Content-Length) or, for a chunked body, wsgi.input. False when more than
    `limit` was left, or reading failed: the connection must then close."""
    left = limit
    try:
        while chunk := stream.read(DRAIN_CHUNK_BYTES):
            left -= len(chunk)
            if left < 0:
                return False
    except Exception:  # noqa: BLE001 - IncompleteBody, the client went, a test payload
        return False
    return True
