"""PN → HumanName and ON → organization name string.

Parts map one to one (``family``, ``given`` (several), ``prefix``, ``suffix``); a name given as plain text
(``<name>Jane Doe</name>``) becomes ``text``. Qualifiers such as ``CL`` (callme) or ``BR`` (birth) on given or
family parts are kept as the name's ``use`` where FHIR has one (``nickname``, ``maiden``).
"""

from __future__ import annotations

from typing import Final

from lxml import etree

from fhir_facade.ccda.cda import V3, child, text_of
from fhir_facade.ccda.context import ConversionContext, Json
from fhir_facade.ccda.datatypes.time import period

__all__ = ["human_name", "organization_name"]

_NAME_USE: Final[dict[str, str]] = {
    "L": "official",
    "OR": "official",
    "C": "official",
    "P": "nickname",
    "A": "nickname",
    "ASGN": "usual",
    "I": "usual",
    "SRCH": "temp",
    "PHON": "usual",
    "M": "maiden",
}
_PART_USE: Final[dict[str, str]] = {"CL": "nickname", "BR": "maiden"}
_PARTS: Final = {V3 + "family", V3 + "given", V3 + "prefix", V3 + "suffix"}


def _clean(text: str | None) -> str | None:
    if text is None:
        return None
    value = " ".join(text.split())
    return value or None


def human_name(element: etree._Element | None, ctx: ConversionContext) -> Json | None:
    """HumanName of a PN, or ``None`` for a nullFlavor or empty name."""
    if element is None or element.get("nullFlavor") is not None:
        return None
    name: Json = {}
    family: list[str] = []
    part_use: str | None = None
    for part in element:
        if part.tag not in _PARTS:
            continue
        value = _clean("".join(part.itertext()))
        if value is None:
            continue
        local = part.tag[len(V3) :]
        if local == "family":
            family.append(value)
        else:
            name.setdefault(local, []).append(value)
        part_use = part_use or _PART_USE.get((part.get("qualifier") or "").split(" ")[0])
    if family:
        name["family"] = " ".join(family)
    if not name:
        text = text_of(element)
        if text is None:
            return None
        name["text"] = text
    use = _NAME_USE.get((element.get("use") or "").split(" ")[0]) or part_use
    if use:
        name = {"use": use, **name}
    valid = period(child(element, "validTime"), ctx)
    if valid:
        name["period"] = valid
    return name


def organization_name(element: etree._Element | None) -> str | None:
    """The text of an ON (organization name), whitespace collapsed."""
    if element is None or element.get("nullFlavor") is not None:
        return None
    return text_of(element)
