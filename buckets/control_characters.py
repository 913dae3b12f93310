"""Request XML whose text holds control characters, read as OSS reads it.

Object names may hold control characters (`\\x0c`, ...), and SDKs write them raw
into request XML: oss2's DeleteMultipleObjects body for such a key is not XML 1.0,
so a conforming parser refuses it (MalformedXML) although OSS deletes the object.
Here each such character is swapped for a private-use stand-in, the document is
parsed as usual (defusedxml: entity tricks are still refused), and the stand-ins
are swapped back in every text, tail and attribute value.
"""

import re

# C0 controls XML 1.0 cannot carry (tab, newline and carriage return it can).
_CONTROL_BYTES_RE = re.compile(rb"[\x00-\x08\x0b\x0c\x0e-\x1f]")
# Stand-ins from Supplementary Private Use Area-A: U+F0000 + the control's code.
_STAND_IN_BASE = 0xF0000
_STAND_INS_RE = re.compile(f"[{chr(_STAND_IN_BASE)}-{chr(_STAND_IN_BASE + 0x1F)}]")


def _to_stand_in(match):
    return chr(_STAND_IN_BASE + match.group()[0]).encode("utf-8")


def _from_stand_ins(text):
    if not text:
        return text
    return _STAND_INS_RE.sub(
        lambda match: chr(ord(match.group()) - _STAND_IN_BASE), text
    )


def parse_keeping_control_characters(body, parse):
    """`parse(body)`, with raw control characters in texts kept as they were sent.

    A body that already holds a stand-in character is parsed as it is: its own
    characters must not turn into controls.
    """
    if not _CONTROL_BYTES_RE.search(body) or _STAND_INS_RE.search(
        body.decode("utf-8", "replace")
    ):
        return parse(body)
    root = parse(_CONTROL_BYTES_RE.sub(_to_stand_in, body))
    for node in root.iter():
        node.text = _from_stand_ins(node.text)
        node.tail = _from_stand_ins(node.tail)
        for name, value in node.attrib.items():
            node.attrib[name] = _from_stand_ins(value)
    return root
