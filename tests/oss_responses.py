"""Reading what the OSS endpoint answered: the body, and the fields of an error document."""

import base64
import xml.etree.ElementTree as ET


def body_of(response):
    """The whole body of a Django test response, streamed (objects) or not (errors)."""
    if response.streaming:
        return b"".join(response.streaming_content)
    return response.content


def oss_error(response):
    """(Code, Message) of the OSS error document in the body."""
    root = ET.fromstring(response.content)
    return root.findtext("Code"), root.findtext("Message")


def error_code(response_or_body):
    """The <Code> of an error document, from a response (Django's or requests') or bytes."""
    body = getattr(response_or_body, "content", response_or_body)
    return ET.fromstring(body).findtext("Code")


def error_fields(response):
    """The OSS error document as {tag: text}, from the body or, for HEAD, x-oss-err."""
    if "x-oss-err" in response.headers:
        document = base64.b64decode(response["x-oss-err"])
    else:
        document = body_of(response)
    assert document.startswith(b'<?xml version="1.0" encoding="UTF-8"?>\n<Error>')
    return {child.tag: child.text or "" for child in ET.fromstring(document)}
