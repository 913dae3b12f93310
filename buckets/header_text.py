"""Header values as text: HTTP carries bytes, WSGI and http.client hand them over as
Latin-1 strings, and SDKs send x-oss-meta-* values as UTF-8. Signatures, stored
metadata and answers use the text the client meant."""


def from_wire(value):
    """The text a client sent: UTF-8 when the bytes are UTF-8, else as received."""
    try:
        return value.encode("latin-1").decode("utf-8")
    except (UnicodeEncodeError, UnicodeDecodeError):
        return value


def to_wire(value):
    """The Latin-1 string whose bytes are `value` in UTF-8, as a header value is sent."""
    return value.encode("utf-8").decode("latin-1")
