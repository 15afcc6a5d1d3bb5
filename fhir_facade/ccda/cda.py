"""Navigating a CDA tree: namespaces, element lookup by local name, templateIds, readable XPaths.

Lookups use lxml's ``iterchildren(tag)`` with Clark names: twice as fast as ``find`` and faster than
compiled XPath for the one-step navigation conversion needs. Names below are local names in the HL7 v3
namespace unless a helper says otherwise.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Final

from lxml import etree

from xca.ns import HL7V3, XSI

__all__ = [
    "HL7V3",
    "SDTC",
    "V3",
    "XSI_TYPE",
    "attr",
    "child",
    "children",
    "has_template",
    "path_of",
    "sdtc",
    "template_ids",
    "text_of",
    "v3",
    "xsi_type",
]

SDTC: Final = "urn:hl7-org:sdtc"
V3: Final = "{" + HL7V3 + "}"
_SDTC: Final = "{" + SDTC + "}"
XSI_TYPE: Final = "{" + XSI + "}type"


def v3(name: str) -> str:
    """Clark name of an element in the HL7 v3 namespace."""
    return V3 + name


def sdtc(name: str) -> str:
    """Clark name of an SDTC extension element (``sdtc:raceCode``, ``sdtc:deceasedInd``)."""
    return _SDTC + name


def child(element: etree._Element | None, *names: str) -> etree._Element | None:
    """The first element down the chain of local names, or ``None`` as soon as one step is missing."""
    for name in names:
        if element is None:
            return None
        element = next(element.iterchildren(V3 + name), None)
    return element


def children(element: etree._Element | None, name: str) -> Iterator[etree._Element]:
    if element is None:
        return iter(())
    return element.iterchildren(V3 + name)


def attr(element: etree._Element | None, name: str) -> str | None:
    """An attribute with surrounding whitespace removed; empty values count as absent."""
    if element is None:
        return None
    value = element.get(name)
    if value is None:
        return None
    value = value.strip()
    return value or None


def text_of(element: etree._Element | None) -> str | None:
    """All text inside an element (mixed content included), whitespace collapsed; ``None`` when empty."""
    if element is None:
        return None
    raw = "".join(element.itertext()) if len(element) else element.text or ""
    text = " ".join(raw.split())
    return text or None


def xsi_type(element: etree._Element) -> str | None:
    """The local part of ``xsi:type`` (``PQ``, ``CD``, ``IVL_TS``), whatever prefix the document used."""
    value = element.get(XSI_TYPE)
    if not value:
        return None
    return value.rpartition(":")[2].strip()


def template_ids(element: etree._Element) -> tuple[str, ...]:
    """The roots of the element's ``templateId`` children in document order (extensions only version them)."""
    return tuple(t.get("root", "") for t in element.iterchildren(V3 + "templateId"))


def has_template(element: etree._Element, *roots: str) -> bool:
    return any(t.get("root") in roots for t in element.iterchildren(V3 + "templateId"))


def path_of(element: etree._Element) -> str:
    """A readable XPath such as ``/ClinicalDocument/component/structuredBody/component[3]/section/entry[2]``.

    Positions are among siblings with the same name and are given only where a name repeats.
    """
    node: etree._Element | None = element
    while node is not None and not isinstance(node.tag, str):  # a comment or processing instruction
        node = node.getparent()
    if node is None:
        return "/"
    tree = node.getroottree()
    root = tree.getroot()
    steps = _local_path(str(root.tag))
    if node is not root:
        # libxml2 builds the path (``{ns}name[n]`` steps, positions as above); only the names need rewriting.
        steps += "/" + _local_path(tree.getelementpath(node))
    return "/" + steps


def _local_path(path: str) -> str:
    """Clark names in ``path`` as local names (HL7 v3 or no namespace), ``sdtc:name``, or ``ns:name``."""
    return _NAMESPACE.sub(_prefix, path) if "{" in path else path


_NAMESPACE: Final = re.compile(r"\{([^}]*)\}")


def _prefix(match: re.Match[str]) -> str:
    namespace = match[1]
    if namespace == HL7V3:
        return ""
    return "sdtc:" if namespace == SDTC else "ns:"
