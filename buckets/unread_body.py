"""Keep-alive connections stay in step when a body-less request declares a body.

oss2's presigned GETs can carry the PUT's `Content-Length: 9` with no body at all
(the suite's test_sign_v*_additional_headers). gunicorn drains a declared body
before it reads the next request on the connection, so it would swallow the first
9 bytes of the client's next request and answer it 400. GET, HEAD, DELETE and
OPTIONS never read a body here; when one declares a body, the answer goes out with
`Connection: close` and the connection ends with it, which HTTP allows a server to
do instead of reading an unread body.

Wiring (config/wsgi.py): `application = close_if_body_unread(application)`.
"""

BODYLESS_METHODS = frozenset({"GET", "HEAD", "DELETE", "OPTIONS"})


def declares_a_body(environ):
    """Whether a body-less method came with a body: a length above 0, or chunks."""
    if environ.get("REQUEST_METHOD") not in BODYLESS_METHODS:
        return False
    length = environ.get("CONTENT_LENGTH") or "0"
    chunked = "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower()
    return chunked or not (length.isascii() and length.isdigit() and int(length) == 0)


# Set in the WSGI environ by the application when the connection must end with its
# answer (an upload refused and not read to its end, see buckets.body.drain).
CLOSE_CONNECTION = "oss.close_connection"


def close_if_body_unread(application):
    """WSGI middleware: ask the server to close the connection after such an answer,
    or after any answer the application marked with CLOSE_CONNECTION (gunicorn drops
    a `Connection: close` header set by an application; its start_response belongs
    to its Response, which has force_close())."""

    def wrapped(environ, start_response):
        if declares_a_body(environ):
            environ[CLOSE_CONNECTION] = True

        def start_and_maybe_close(status, headers, exc_info=None):
            if environ.get(CLOSE_CONNECTION):
                force_close = getattr(
                    getattr(start_response, "__self__", None), "force_close", None
                )
                if force_close is not None:
                    force_close()
            return start_response(status, headers, exc_info)

        return application(environ, start_and_maybe_close)

    return wrapped
