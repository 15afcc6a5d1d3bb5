"""HL7 v3 data type helpers for ITI-55 (IHE ITI TF-2b 3.55; HL7 V3 Data Types R1): II, TS, CE, text.

Writers are strict and raise :class:`~xca.errors.InvalidValueError`; readers go through :class:`Reader`,
which repairs what real peers send and records each repair as a short, PHI-free quirk.
"""

from __future__ import annotations

import functools
import re
from datetime import date, datetime, timedelta, timezone
from typing import Final

from lxml import etree

from xca import ids, ns
from xca.errors import InvalidValueError, MissingElementError
from xca.ids import is_oid, normalize_oid
from xca.iti55.models import Code, Ii
from xca.ns import q

_UUID: Final = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_TS: Final = re.compile(r"^(\d{4})(\d{2})?(\d{2})?(\d{2})?(\d{2})?(\d{2})?(\.\d+)?([+-]\d{4})?$")
# ISO 8601 / xs:dateTime, which some peers put in a TS: 2024-05-01T12:00:00Z, 2024-05-01T12:00:00.5+02:00.
_ISO: Final = re.compile(
    r"^\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,6})?)?)?(?:Z|[+-]\d{2}(?::?\d{2})?)?$"
)
XSI_TYPE: Final = q(ns.XSI, "type")


@functools.cache  # the few dozen HL7 v3 names this package uses, each formatted once
def hl7(local: str) -> str:
    return q(ns.HL7V3, local)


def sub(parent: etree._Element, local: str, attrs: dict[str, str] | None = None) -> etree._Element:
    """Append an HL7 v3 element with ``attrs`` (keys in document order) to ``parent``."""
    if attrs:
        return etree.SubElement(parent, hl7(local), attrs)
    return etree.SubElement(parent, hl7(local))


def sub_text(parent: etree._Element, local: str, text: str) -> etree._Element:
    element = sub(parent, local)
    element.text = text
    return element


def sub_ii(parent: etree._Element, local: str, ii: Ii) -> etree._Element:
    attrs = {"root": ii.root}
    if ii.extension is not None:
        attrs["extension"] = ii.extension
    return sub(parent, local, attrs)


# --- strict checks for building -------------------------------------------------------------------------


def require_oid(value: str | None, what: str) -> str:
    """:func:`xca.ids.require_oid` for values that may be absent (an absent OID is not an OID)."""
    return ids.require_oid(value or "", what=what)


def require_ii(ii: Ii, what: str, *, uuid_ok: bool = False, extension: bool = False) -> Ii:
    """Check an II: root an OID (or a UUID where HL7 allows it), extension present when required."""
    if not (is_oid(ii.root) or (uuid_ok and _UUID.match(ii.root))):
        kind = "an OID or a UUID" if uuid_ok else "a dotted OID"
        raise InvalidValueError(f"{what} root must be {kind}", detail={"what": what})
    if ii.extension is not None and not ii.extension.strip():
        raise InvalidValueError(f"{what} extension must not be blank", detail={"what": what})
    if extension and ii.extension is None:
        raise InvalidValueError(f"{what} needs an extension", detail={"what": what})
    return ii


def format_ts(value: datetime) -> str:
    """TS with seconds; aware datetimes carry their UTC offset (``+HHMM``)."""
    text = value.strftime("%Y%m%d%H%M%S")
    offset = value.utcoffset()
    if offset is not None:
        minutes = int(offset.total_seconds()) // 60
        sign = "-" if minutes < 0 else "+"
        text += f"{sign}{abs(minutes) // 60:02d}{abs(minutes) % 60:02d}"
    return text


def format_date(value: date) -> str:
    return value.strftime("%Y%m%d")


# --- tolerant reading -----------------------------------------------------------------------------------


# iterchildren filters by tag in C: half the cost of find/findall, which go through ElementPath (a Python
# layer), and these run about a hundred times per ITI-55 answer.
def children(parent: etree._Element, local: str) -> list[etree._Element]:
    return list(parent.iterchildren(hl7(local)))


def child(parent: etree._Element | None, local: str) -> etree._Element | None:
    return None if parent is None else next(parent.iterchildren(hl7(local)), None)


def path(parent: etree._Element | None, *locals_: str) -> etree._Element | None:
    for local in locals_:
        parent = child(parent, local)
    return parent


def text_of(element: etree._Element | None) -> str | None:
    if element is None:
        return None
    text = "".join(element.itertext()).strip()
    return text or None


def attr(element: etree._Element | None, name: str) -> str | None:
    if element is None:
        return None
    value = element.get(name)
    return value.strip() or None if value is not None else None


def require(parent: etree._Element | None, local: str, where: str) -> etree._Element:
    element = child(parent, local)
    if element is None:
        raise MissingElementError(f"{where} has no {local}", detail={"element": f"{where}/{local}"})
    return element


class Reader:
    """Collects quirks while reading one message; each quirk is recorded once, in order."""

    def __init__(self) -> None:
        self._quirks: list[str] = []

    @property
    def quirks(self) -> tuple[str, ...]:
        return tuple(self._quirks)

    def quirk(self, text: str) -> None:
        if text not in self._quirks:
            self._quirks.append(text)

    def absorb(self, other: Reader) -> None:
        """Record ``other``'s quirks here too (a part read with its own reader, to see what it hit)."""
        for text in other.quirks:
            self.quirk(text)

    def oid(self, value: str | None, where: str) -> str | None:
        """A tolerant OID: repairs stray characters and ``urn:oid:``; ``None`` when absent or unusable."""
        if value is None:
            return None
        try:
            normalized = normalize_oid(value)
        except InvalidValueError:
            self.quirk(f"unreadable OID in {where}")
            return None
        if normalized.repaired or normalized.value != value:
            self.quirk(f"repaired OID in {where}")
        return normalized.value

    def ii(self, element: etree._Element | None, where: str, *, uuid_ok: bool = False) -> Ii | None:
        """Read an II; a UUID root (bare or ``urn:uuid:``) is kept where HL7 allows one."""
        root = attr(element, "root")
        if element is None or root is None:
            return None
        extension = attr(element, "extension")
        if uuid_ok:
            bare = root[len("urn:uuid:") :] if root.lower().startswith("urn:uuid:") else root
            if _UUID.match(bare):
                if bare != root:
                    self.quirk(f"urn:uuid: prefix in {where} root")
                return Ii(bare, extension)
        oid = self.oid(root, where)
        return None if oid is None else Ii(oid, extension)

    def ts(self, value: str | None, where: str) -> datetime | None:
        """An HL7 TS; an ISO 8601 date/time is read too (with a quirk), anything else is ``None``."""
        if value is None:
            return None
        text = value.strip()
        match = _TS.match(text)
        if match is None:
            iso = _iso(text)
            self.quirk(f"ISO 8601 time in {where}" if iso else f"unreadable time in {where}")
            return iso
        year, month, day, hour, minute, second, fraction, offset = match.groups()
        try:
            tz = None
            if offset:
                sign = -1 if offset[0] == "-" else 1
                tz = timezone(sign * timedelta(hours=int(offset[1:3]), minutes=int(offset[3:5])))
            micro = round(float(fraction) * 1_000_000) if fraction else 0
            return datetime(
                int(year), int(month or 1), int(day or 1), int(hour or 0), int(minute or 0),
                int(second or 0), min(micro, 999_999), tzinfo=tz,
            )  # fmt: skip
        except ValueError:
            self.quirk(f"unreadable time in {where}")
            return None

    def code(self, element: etree._Element | None) -> Code | None:
        code = attr(element, "code")
        if element is None or code is None:
            return None
        system = attr(element, "codeSystem")
        if system is not None:
            system = self.oid(system, "codeSystem") or system
        return Code(code, system, attr(element, "displayName"))


def _iso(text: str) -> datetime | None:
    if not _ISO.match(text):
        return None
    try:
        # Python 3.11 reads "Z", "+hh:mm", "+hhmm", "+hh" and a space separator.
        return datetime.fromisoformat(text)
    except ValueError:
        return None
