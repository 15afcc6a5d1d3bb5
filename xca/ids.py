"""Identifiers on the wire: OIDs, ``urn:oid:`` / ``urn:uuid:`` forms and HL7 v2 CX patient ids.

Building is strict (a malformed OID raises); the ``normalize_*`` functions are tolerant of what real peers
send (``urn:oid:`` where a bare OID belongs, stray characters such as ``...9621}``, upper-case UUIDs) and
say whether they had to repair anything, so callers can record the oddity.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

from xca.errors import InvalidValueError

__all__ = ["Cx", "format_cx", "is_oid", "normalize_oid", "oid_urn", "parse_cx", "require_oid"]

_OID: Final = re.compile(r"^[0-2](\.(0|[1-9][0-9]*))+$")
_OID_PREFIX: Final = "urn:oid:"
# Junk real peers leave around an OID ("...9621}", quotes, brackets); junk inside one is never repaired.
_EDGE_JUNK: Final = re.compile(r"^[^0-9]+|[^0-9]+$")


def is_oid(value: str) -> bool:
    return bool(_OID.match(value))


def require_oid(value: str, *, what: str) -> str:
    """Return ``value`` if it is a bare dotted OID, else raise naming ``what`` it was meant to be."""
    if not is_oid(value):
        raise InvalidValueError(
            f"{what} must be a dotted OID such as 2.16.840.1.113883.3.1", detail={"what": what}
        )
    return value


def oid_urn(oid: str) -> str:
    """``urn:oid:`` form of a bare OID (homeCommunityId in XCA, SAML organization-id)."""
    return _OID_PREFIX + require_oid(oid, what="OID")


@dataclass(frozen=True)
class Normalized:
    value: str
    repaired: bool


def normalize_oid(value: str) -> Normalized:
    """Tolerant OID read: strips ``urn:oid:`` and junk at either end; ``repaired`` tells if it had to.

    Junk in the middle (``1.2.3x4``) is refused: removing it would silently produce a different OID.
    """
    raw = value.strip()
    stripped = raw[len(_OID_PREFIX) :] if raw.lower().startswith(_OID_PREFIX) else raw
    cleaned = _EDGE_JUNK.sub("", stripped)
    if not is_oid(cleaned):
        raise InvalidValueError("value is not an OID, even after repair", detail={"length": len(value)})
    return Normalized(cleaned, repaired=cleaned != stripped)


@dataclass(frozen=True)
class Cx:
    """A patient identifier: ``id`` assigned by the authority ``root`` (an OID)."""

    id: str
    root: str


def format_cx(cx: Cx) -> str:
    """``EXT^^^&ROOT&ISO`` as used in ``$XDSDocumentEntryPatientId`` and SAML resource-id."""
    if not cx.id or any(ch in cx.id for ch in "^&~\\|'"):
        raise InvalidValueError("patient id is empty or contains CX delimiter characters")
    return f"{cx.id}^^^&{require_oid(cx.root, what='assigning authority')}&ISO"


def parse_cx(value: str) -> Cx:
    """Read a CX value tolerantly (surrounding quotes, ``urn:oid:`` in the authority, missing ``ISO``)."""
    text = value.strip().strip("'\"")
    parts = text.split("^")
    if len(parts) < 4 or not parts[0]:
        raise InvalidValueError("patient id is not in CX form ID^^^&OID&ISO")
    authority = parts[3].split("&")
    if len(authority) < 2 or not authority[1]:
        raise InvalidValueError("patient id has no assigning authority OID")
    return Cx(id=parts[0], root=normalize_oid(authority[1]).value)
