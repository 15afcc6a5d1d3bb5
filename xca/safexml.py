"""The one hardened XML parser: every inbound XML byte in hie-gateway goes through :func:`parse_xml`.

Refused, each with its own error code (see :mod:`xca.errors`):

* input over ``max_bytes`` (checked before any parsing);
* any DOCTYPE: SOAP 1.2 forbids DTDs in messages and C-CDA never needs one, so there is no "safe DTD".
  Entity declarations (billion laughs, quadratic blow-up), external entities (XXE via ``file:`` or URLs)
  and external DTDs get more specific codes so an operator can tell a probe from a sloppy peer;
* nesting deeper than libxml2's limit of 256 levels;
* anything not well-formed.

The parser never loads a DTD, never resolves an entity, never touches the network, and keeps libxml2's
per-node size limits unless a caller opts into ``large_text`` (used for inline base64 documents in ITI-39
responses; the DOCTYPE ban and the byte limit still apply then, and depth is checked by a tree walk).
"""

from __future__ import annotations

import threading
from typing import Final

from lxml import etree

from xca.errors import (
    XmlDtdForbiddenError,
    XmlEntityDeclarationError,
    XmlExternalDtdError,
    XmlExternalEntityError,
    XmlRefusedError,
    XmlSyntaxError,
    XmlTooDeepError,
    XmlTooLargeError,
)

__all__ = ["DEFAULT_MAX_BYTES", "MAX_DEPTH", "parse_xml"]

DEFAULT_MAX_BYTES: Final = 16 * 1024 * 1024
"""Default ceiling for one XML message; SOAP envelopes without inline documents are far smaller."""

MAX_DEPTH: Final = 256
"""libxml2's own nesting limit without XML_PARSE_HUGE; enforced by a walk when ``large_text`` is on."""

# libxml2 aborts some attacks itself; its messages are the only way to tell which limit it enforced.
_DEPTH_MESSAGE: Final = "Excessive depth in document"
_AMPLIFICATION_MESSAGE: Final = "entity amplification"
_NETWORK_MESSAGE: Final = "Attempt to load network entity"

_local = threading.local()


def _parser(*, large_text: bool, collect_ids: bool) -> etree.XMLParser:
    # lxml parser objects must not be shared between threads; keep one of each kind per thread.
    attr = ("large" if large_text else "normal") + ("" if collect_ids else "_no_ids")
    parser: etree.XMLParser | None = getattr(_local, attr, None)
    if parser is None:
        parser = etree.XMLParser(
            resolve_entities=False,
            no_network=True,
            load_dtd=False,
            dtd_validation=False,
            attribute_defaults=False,
            remove_blank_text=False,
            # Opt-in only: lifts libxml2's 10 MB text-node limit for inline base64 documents.
            # DTDs stay forbidden below, so entity amplification remains impossible.
            huge_tree=large_text,
            collect_ids=collect_ids,
        )
        setattr(_local, attr, parser)
    return parser


def parse_xml(
    data: bytes, *, max_bytes: int = DEFAULT_MAX_BYTES, large_text: bool = False, collect_ids: bool = True
) -> etree._Element:
    """Parse untrusted XML bytes and return the root element, or raise a specific ``XmlRefusedError``.

    ``collect_ids=False`` skips libxml2's hash of ``xml:id`` attributes (the XPath ``id()`` function), which
    a caller that never looks elements up by XML ID does not need; it changes nothing else.
    """
    if not isinstance(data, bytes | bytearray | memoryview):
        raise TypeError("parse_xml takes bytes; decode nothing before the parser sees it")
    size = len(data)
    if size > max_bytes:
        raise XmlTooLargeError(
            f"XML input of {size} bytes exceeds the limit of {max_bytes} bytes",
            detail={"size": size, "limit": max_bytes},
        )
    try:
        root = etree.fromstring(bytes(data), _parser(large_text=large_text, collect_ids=collect_ids))
    except etree.XMLSyntaxError as exc:
        raise _classify_failure(exc, bytes(data[:65536])) from None
    _refuse_doctype(root.getroottree().docinfo)
    if large_text:
        _check_depth(root)
    return root


def _classify_failure(exc: etree.XMLSyntaxError, head: bytes) -> XmlRefusedError:
    message = str(exc.msg)
    if _DEPTH_MESSAGE in message:
        return XmlTooDeepError(f"XML nesting exceeds {MAX_DEPTH} levels", detail={"limit": MAX_DEPTH})
    if _AMPLIFICATION_MESSAGE in message:
        return XmlEntityDeclarationError("XML entity expansion exceeds the amplification limit; refused")
    if _NETWORK_MESSAGE in message:
        if b"<!ENTITY" in head:
            return XmlExternalEntityError("XML declares an external entity; refused")
        return XmlExternalDtdError("XML references an external DTD; refused")
    return XmlSyntaxError(
        f"XML is not well-formed: {message}", detail={"line": exc.lineno, "column": exc.offset}
    )


def _refuse_doctype(docinfo: etree.DocInfo) -> None:
    if not docinfo.doctype and docinfo.internalDTD is None:
        return
    dtd = docinfo.internalDTD
    entities = list(dtd.iterentities()) if dtd is not None else []
    external = [e for e in entities if e.system_url]
    if external:
        raise XmlExternalEntityError(
            f"XML declares {len(external)} external entit{'y' if len(external) == 1 else 'ies'}; refused",
            detail={"entities": [e.name for e in external]},
        )
    if entities:
        raise XmlEntityDeclarationError(
            f"XML declares {len(entities)} entit{'y' if len(entities) == 1 else 'ies'}; refused",
            detail={"entities": [e.name for e in entities]},
        )
    if docinfo.system_url or docinfo.public_id:
        raise XmlExternalDtdError("XML references an external DTD; refused")
    raise XmlDtdForbiddenError("XML carries a DOCTYPE declaration; DTDs are not accepted")


def _check_depth(root: etree._Element) -> None:
    # Iterative walk: only used with large_text, where libxml2's own depth limit is raised to 2048.
    stack: list[tuple[etree._Element, int]] = [(root, 1)]
    while stack:
        element, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise XmlTooDeepError(f"XML nesting exceeds {MAX_DEPTH} levels", detail={"limit": MAX_DEPTH})
        stack.extend((child, depth + 1) for child in element)
