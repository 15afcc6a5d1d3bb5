"""FHIR code system and identifier system URIs to the HL7 OIDs a CDA document carries.

The rows are the converter's (``datatypes/codesystems.py``), the one table of OID ↔ URI pairs, read backwards:
where several OIDs share a URI, the row marked ``preferred`` gives the OID written. ``urn:oid:`` URIs map to
their OID without a row.
"""

from __future__ import annotations

import re
from typing import Final

from fhir_facade.ccda.datatypes.codesystems import CODE_SYSTEMS, IDENTIFIER_ROWS, CodeSystem

__all__ = [
    "CodeSystem",
    "by_oid",
    "lookup",
    "oid_for",
]

_OID = re.compile(r"^[0-2](\.(0|[1-9][0-9]*))+$")
_ROWS: Final[tuple[CodeSystem, ...]] = (*CODE_SYSTEMS, *IDENTIFIER_ROWS)

_BY_URI: Final[dict[str, CodeSystem]] = {row.uri: row for row in _ROWS if row.preferred}
_BY_OID: Final[dict[str, CodeSystem]] = {row.oid: row for row in _ROWS}


def lookup(uri: str) -> CodeSystem | None:
    """The row for a FHIR system URI (``urn:oid:`` URIs always resolve), or ``None`` when unknown."""
    row = _BY_URI.get(uri)
    if row is not None:
        return row
    if uri.startswith("urn:oid:"):
        oid = uri.removeprefix("urn:oid:")
        if _OID.match(oid):
            known = _BY_OID.get(oid)
            return known or CodeSystem(oid, uri, "")
    return None


def oid_for(uri: str) -> str | None:
    """The OID for a FHIR system URI, or ``None`` when the table does not know it."""
    row = lookup(uri)
    return row.oid if row else None


def by_oid(oid: str) -> CodeSystem | None:
    """The row for an OID (the reverse direction, for tests and the converter)."""
    return _BY_OID.get(oid)
