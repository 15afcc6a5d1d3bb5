"""Navigating a CDA tree: namespaces, element lookup by local name, templateIds, readable XPaths.

Lookups by name happen hundreds of times per document, several on the same element (an observation's
``code``, ``statusCode``, ``effectiveTime``, ``value``, ``id``...). Creating an lxml ``iterchildren(tag)``
iterator costs more than walking a typical CDA element's few children once, so inside
:func:`indexed_lookups` (one per conversion) each element's children are grouped by tag on first use and
every later lookup on it is a dictionary access. Outside it, lookups use ``iterchildren(tag)`` (twice as fast
as ``find``). The index assumes the tree does not change while it is active. Names below are local names in
the HL7 v3 namespace unless a helper says otherwise.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
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
    "indexed_lookups",
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


_Index = dict[etree._Element, dict[object, list[etree._Element]]]
# Element → its children by tag (comments and processing instructions under their factory functions).
_INDEX: Final[ContextVar[_Index | None]] = ContextVar("ccda_child_index", default=None)


@contextmanager
def indexed_lookups() -> Iterator[None]:
    """Serve :func:`child`, :func:`children` and the templateId helpers from a per-element index for the
    duration (one document's conversion; the tree must not change meanwhile)."""
    token = _INDEX.set({})
    try:
        yield
    finally:
        _INDEX.reset(token)


def _by_tag(element: etree._Element, index: _Index) -> dict[object, list[etree._Element]]:
    found: dict[object, list[etree._Element]] = {}
    for node in element:
        tag = node.tag  # lxml builds a new string on every access: once per child
        same = found.get(tag)
        if same is None:
            found[tag] = [node]
        else:
            same.append(node)
    index[element] = found
    return found


# Local name → Clark name, for the names the converters use (a fixed set from the code, never document data).
# Reusing one string object per name keeps its hash cached for the index lookups.
_CLARK: Final[dict[str, str]] = {}


def _clark(name: str) -> str:
    """The Clark name of ``name`` when first met (callers try ``_CLARK.get`` inline)."""
    tag = _CLARK[name] = V3 + name
    return tag


def child(element: etree._Element | None, *names: str) -> etree._Element | None:
    """The first element down the chain of local names, or ``None`` as soon as one step is missing."""
    index = _INDEX.get()
    for name in names:
        if element is None:
            return None
        if index is None:
            element = next(element.iterchildren(V3 + name), None)
            continue
        # Inlined index access: this runs a few hundred times per document.
        found = (index.get(element) or _by_tag(element, index)).get(_CLARK.get(name) or _clark(name))
        element = found[0] if found else None
    return element


def children(element: etree._Element | None, name: str) -> Iterator[etree._Element]:
    if element is None:
        return iter(())
    index = _INDEX.get()
    if index is None:
        return element.iterchildren(V3 + name)
    return iter((index.get(element) or _by_tag(element, index)).get(_CLARK.get(name) or _clark(name), ()))


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
    return tuple(t.get("root", "") for t in children(element, "templateId"))


def has_template(element: etree._Element, *roots: str) -> bool:
    return any(t.get("root") in roots for t in children(element, "templateId"))


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
    if "{" not in path:
        return path
    if path.count("{") == path.count(V3):  # the usual case, every step in HL7 v3: no callback per step
        return path.replace(V3, "")
    return _NAMESPACE.sub(_prefix, path)


_NAMESPACE: Final = re.compile(r"\{([^}]*)\}")


def _prefix(match: re.Match[str]) -> str:
    namespace = match[1]
    if namespace == HL7V3:
        return ""
    return "sdtc:" if namespace == SDTC else "ns:"
