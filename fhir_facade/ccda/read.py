"""C-CDA bytes → lxml tree, through the project's one hardened parser, tolerant of what real senders do.

Every attempt goes through :func:`xca.safexml.parse_xml` (DTDs refused, no entities, no network). When the
bytes are not well-formed for a reason real documents commonly have, they are repaired and parsed again, and
each repair is reported:

* Windows-1252 (or Latin-1) text without an encoding declaration, or declared as UTF-8: decoded as
  Windows-1252 and re-encoded as UTF-8 before the second parse;
* namespace prefixes used but never declared (``xsi:type``, ``sdtc:raceCode`` in hand-edited files), and
  ``xmlns:schemaLocation`` written where ``xsi:schemaLocation`` was meant: declared on the root element.

Byte-order marks and ``<?xml-stylesheet?>`` instructions need no repair: libxml2 reads the first and the
second sits outside the root element, where conversion never looks.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

from lxml import etree

from fhir_facade.ccda.cda import SDTC, V3
from xca.errors import NotClinicalDocumentError, XmlSyntaxError
from xca.ns import HL7V3, XSI
from xca.safexml import DEFAULT_MAX_BYTES, parse_xml

__all__ = ["ReadDocument", "read_ccda"]

# Prefixes hand-edited C-CDA files use without declaring them, and the namespaces they always mean.
_KNOWN_PREFIXES: Final = {"xsi": XSI, "sdtc": SDTC, "cda": HL7V3, "voc": "urn:hl7-org:v3/voc"}
_UNDECLARED: Final = re.compile(r"Namespace prefix (\w+)(?: for \S+)? on \S+ is not defined")
_BAD_SCHEMA_LOCATION: Final = b"xmlns:schemaLocation="
_ENCODING_HINTS: Final = ("not proper UTF-8", "Invalid bytes in character encoding", "invalid character")
_DECLARATION: Final = re.compile(rb"^(\xef\xbb\xbf)?<\?xml[^>]*\?>")
_ROOT_TAG_END: Final = re.compile(rb"<(?![?!])[^>]*?(/?)>")
_MAX_REPAIRS: Final = 3
# libxml2 refuses text nodes over 10 MB unless asked; only inputs that large can hold one (a base64 PDF body),
# and only for them is the parser's slower large-text mode (with its depth walk) worth it.
_LARGE_TEXT: Final = 10_000_000


@dataclass(frozen=True)
class ReadDocument:
    """The root ``ClinicalDocument`` and the repairs needed to read it (empty when none)."""

    root: etree._Element
    repairs: tuple[str, ...]


def read_ccda(data: bytes, *, max_bytes: int = DEFAULT_MAX_BYTES) -> ReadDocument:
    """Parse C-CDA bytes; ``XmlRefusedError`` when unreadable, ``NotClinicalDocumentError`` when not CDA."""
    repairs: list[str] = []
    current = bytes(data)
    for _ in range(_MAX_REPAIRS):
        try:
            root = _parse(current, max_bytes)
            break
        except XmlSyntaxError as exc:
            repaired = _repair(current, exc.message, repairs)
            if repaired is None:
                raise  # the problem left after any repairs, which is the one worth reporting
            current = repaired
    else:
        root = _parse(current, max_bytes)
    if root.tag != V3 + "ClinicalDocument":
        name = etree.QName(root).localname if isinstance(root.tag, str) else "?"
        where = (
            "outside the HL7 v3 namespace" if name == "ClinicalDocument" else "not an HL7 v3 ClinicalDocument"
        )
        raise NotClinicalDocumentError(f"the XML root is {name!r}, {where}", detail={"root": name})
    return ReadDocument(root, tuple(repairs))


def _parse(data: bytes, max_bytes: int) -> etree._Element:
    # No XML ID hash: narrative references resolve through the converter's own index of ``ID`` attributes.
    return parse_xml(data, max_bytes=max_bytes, large_text=len(data) > _LARGE_TEXT, collect_ids=False)


def _repair(data: bytes, message: str, repairs: list[str]) -> bytes | None:
    """Bytes with the reported problem mended, or ``None`` when it is not one we know how to mend."""
    if any(hint in message for hint in _ENCODING_HINTS) and "windows-1252" not in repairs:
        repairs.append("windows-1252")
        return _as_utf8(data)
    if _BAD_SCHEMA_LOCATION in data:
        repairs.append("schemaLocation")
        return _declare(data.replace(_BAD_SCHEMA_LOCATION, b"xsi:schemaLocation="), {"xsi"})
    undeclared = set(_UNDECLARED.findall(message))
    if undeclared and undeclared <= _KNOWN_PREFIXES.keys():
        # Declare every known prefix the text uses without a declaration, not only the first one reported.
        used = {
            p for p in _KNOWN_PREFIXES if (p + ":").encode() in data and b"xmlns:" + p.encode() not in data
        }
        repairs.append("namespaces:" + ",".join(sorted(used | undeclared)))
        return _declare(data, used | undeclared)
    return None


def _as_utf8(data: bytes) -> bytes:
    text = data.decode("cp1252", errors="replace") if _cp1252_ok(data) else data.decode("latin-1")
    match = _DECLARATION.match(data)
    if match:
        text = text[len(match.group(0).decode("latin-1")) :]
        text = '<?xml version="1.0" encoding="UTF-8"?>' + text
    return text.encode("utf-8")


def _cp1252_ok(data: bytes) -> bool:
    # Five byte values are undefined in Windows-1252; Latin-1 maps every byte, so it is the fallback.
    return not any(b in data for b in (b"\x81", b"\x8d", b"\x8f", b"\x90", b"\x9d"))


def _declare(data: bytes, prefixes: set[str]) -> bytes:
    match = _ROOT_TAG_END.search(data)
    if match is None:
        return data
    declarations = b"".join(
        b' xmlns:%s="%s"' % (p.encode(), _KNOWN_PREFIXES[p].encode())
        for p in sorted(prefixes)
        if b"xmlns:" + p.encode() + b"=" not in data[: match.end()]
    )
    at = match.start(1)
    return data[:at] + declarations + data[at:]
