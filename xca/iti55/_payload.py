"""The one "bytes or element" entry point of the ITI-55 and ITI-38 parsers.

Both parse modules take a SOAP body payload either as an element (already unwrapped by
:func:`xca.soap.parse_envelope`) or as raw bytes, which go through the hardened :func:`xca.safexml.parse_xml`.
"""

from __future__ import annotations

from lxml import etree

from xca.safexml import parse_xml

__all__ = ["payload_root"]


def payload_root(data: bytes | etree._Element) -> etree._Element:
    """The root element of ``data``: bytes are parsed by the hardened parser, elements pass through."""
    if isinstance(data, bytes | bytearray | memoryview):
        return parse_xml(bytes(data))
    return data
