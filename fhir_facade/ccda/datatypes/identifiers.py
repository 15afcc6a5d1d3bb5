"""II → FHIR Identifier.

``root`` + ``extension``: the root names the namespace (``system``), the extension is the value. A root
alone is itself the identifier: ``system`` ``urn:ietf:rfc:3986`` with the ``urn:oid:``/``urn:uuid:`` form as
value. Well-known roots (NPI, SSN, Medicare) map to their FHIR ``sid`` URIs. A nullFlavor identifier is no
identifier.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable

from lxml import etree

from fhir_facade.ccda.cda import attr
from fhir_facade.ccda.datatypes.codesystems import IDENTIFIER_SYSTEMS, system_uri
from xca.ids import is_oid

__all__ = ["identifier", "identifiers"]

_RFC3986 = "urn:ietf:rfc:3986"


@functools.lru_cache(maxsize=1024)
def _root_uri(root: str) -> str:
    # Memoized: a document repeats a handful of roots on every id, and the OID check is a regex.
    known = IDENTIFIER_SYSTEMS.get(root)
    if known is not None:
        return known
    if is_oid(root):
        return "urn:oid:" + root
    return system_uri(root)


def identifier(element: etree._Element | None) -> dict[str, str] | None:
    """One Identifier, or ``None`` when the II has a nullFlavor or no root."""
    if element is None or element.get("nullFlavor") is not None:
        return None
    root = attr(element, "root")
    extension = attr(element, "extension")
    if root is None:
        return {"value": extension} if extension else None
    if extension is None:
        if root.startswith("urn:"):
            return {"system": _RFC3986, "value": root}
        uri = _root_uri(root)
        if uri.startswith("urn:"):
            return {"system": _RFC3986, "value": uri}
        return None  # a bare well-known namespace (e.g. the NPI root) without a value identifies nothing
    return {"system": _root_uri(root), "value": extension}


def identifiers(elements: Iterable[etree._Element]) -> list[dict[str, str]]:
    """Every usable Identifier of the given ``id`` elements, duplicates removed, order kept."""
    result: list[dict[str, str]] = []
    for element in elements:
        found = identifier(element)
        if found is not None and found not in result:
            result.append(found)
    return result
