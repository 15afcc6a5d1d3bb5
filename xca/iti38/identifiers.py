"""Identifier checks for ITI-38 (IHE ITI TF-2b 3.38.4.1.2.1, TF-3 4.2.3.2): entryUUIDs, homeCommunityIds,
repositoryUniqueIds and stored-query patient ids.

``require_*`` functions are for building and for the responding side (strict, raise ``InvalidValueError``);
``read_*`` functions are for responses from peers (tolerant, report :class:`Quirk` values).
"""

from __future__ import annotations

import re
import uuid
from typing import Final

from xca.errors import InvalidValueError
from xca.ids import Cx, is_oid, normalize_oid, parse_cx
from xca.iti38.constants import Quirk

__all__ = [
    "read_cx",
    "read_entry_uuid",
    "read_home",
    "read_oid",
    "require_entry_uuid",
    "require_query_cx",
    "strip_urn_oid",
]

_UUID_PREFIX: Final = "urn:uuid:"
_OID_PREFIX: Final = "urn:oid:"
# Stored-query patient id: CX with components 1 and 4 only (TF-2a 3.18.4.1.2.3.7.1). No repair here.
_QUERY_CX: Final = re.compile(r"^(?P<id>[^\^&~\\|'\s]+)\^\^\^&(?P<root>[^&^]+)&ISO$")


def require_entry_uuid(value: str) -> str:
    """``value`` if it is ``urn:uuid:`` + a lower-case canonical UUID, else ``InvalidValueError``."""
    text = value[len(_UUID_PREFIX) :] if value.startswith(_UUID_PREFIX) else None
    try:
        canonical = str(uuid.UUID(text)) if text is not None else None
    except ValueError:
        canonical = None
    if canonical is None or canonical != text:
        raise InvalidValueError("entryUUID must be urn:uuid: followed by a lower-case UUID")
    return value


def read_entry_uuid(value: str) -> tuple[str, Quirk | None]:
    """Canonical form of an object id as sent; non-UUID ids are kept as sent and reported."""
    raw = value.strip()
    body = raw[len(_UUID_PREFIX) :] if raw.lower().startswith(_UUID_PREFIX) else raw
    try:
        canonical = _UUID_PREFIX + str(uuid.UUID(body))
    except ValueError:
        return raw, Quirk.ID_NOT_A_UUID
    return canonical, None if canonical == raw else Quirk.UUID_NOT_CANONICAL


def strip_urn_oid(value: str) -> tuple[str, bool]:
    """``value`` without a (case-insensitive) ``urn:oid:`` prefix, and whether it had one."""
    text = value.strip()
    if text.lower().startswith(_OID_PREFIX):
        return text[len(_OID_PREFIX) :], True
    return text, False


def read_oid(value: str) -> tuple[str | None, list[Quirk]]:
    """Tolerant bare-OID read (prefix and stray characters removed) with the quirks met on the way."""
    try:
        normalized = normalize_oid(value)
    except InvalidValueError:
        return None, []
    return normalized.value, [Quirk.OID_REPAIRED] if normalized.repaired else []


def read_home(value: str | None) -> tuple[str | None, list[Quirk]]:
    """A ``home`` attribute as a bare OID; ``None`` when absent or not an OID."""
    if value is None or not value.strip():
        return None, []
    _, had_prefix = strip_urn_oid(value)
    oid, quirks = read_oid(value)
    if oid is None:
        return None, [Quirk.HOME_NOT_AN_OID]
    return oid, quirks if had_prefix else [Quirk.HOME_WITHOUT_URN_OID, *quirks]


def require_query_cx(value: str) -> Cx:
    """Strict read of a ``$XDSDocumentEntryPatientId`` value ``ID^^^&OID&ISO`` (``urn:oid:`` tolerated)."""
    match = _QUERY_CX.match(value)
    if match is None:
        raise InvalidValueError("patient id is not in the form ID^^^&OID&ISO")
    root, _ = strip_urn_oid(match["root"])
    if not is_oid(root):
        raise InvalidValueError("patient id assigning authority is not an OID")
    return Cx(id=match["id"], root=root)


def read_cx(value: str | None) -> tuple[Cx | None, Quirk | None]:
    """Tolerant CX read for response metadata; unusable values give ``None`` and a quirk."""
    if value is None or not value.strip():
        return None, None
    try:
        return parse_cx(value), None
    except InvalidValueError:
        return None, Quirk.PATIENT_ID_NOT_CX
