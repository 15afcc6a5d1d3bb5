"""Reading FHIR datatypes from plain dicts and writing the matching HL7 v3 datatypes (TS, IVL_TS, CD, PQ).

Two failure modes: :class:`~xca.errors.CcdaWriteError` when input is invalid (a bad date, a missing element
the section needs), and :class:`Unexpressible` when valid data has no faithful C-CDA form (a code system
the table does not know, a non-UCUM unit); the caller keeps the narrative row and skips the entry.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import Any

from lxml import etree

from fhir_facade.ccda.writer import codesystems
from xca.errors import CcdaWriteError

__all__ = [
    "SDTC",
    "V3",
    "XSI",
    "Unexpressible",
    "codings",
    "concept_text",
    "decimal_text",
    "el",
    "hl7_ts",
    "put_cd",
    "put_ivl_ts",
    "put_pq",
    "put_ts",
    "ref_key",
    "template",
]

V3 = "urn:hl7-org:v3"
SDTC = "urn:hl7-org:sdtc"
XSI = "http://www.w3.org/2001/XMLSchema-instance"
UCUM = "http://unitsofmeasure.org"

_DATE = re.compile(
    r"^(?P<y>\d{4})(?:-(?P<m>\d{2})(?:-(?P<d>\d{2})"
    r"(?:T(?P<hh>\d{2}):(?P<mi>\d{2})(?::(?P<ss>\d{2})(?P<frac>\.\d+)?)?(?P<tz>Z|[+-]\d{2}:\d{2})?)?)?)?$"
)


class Unexpressible(Exception):  # noqa: N818 - a control-flow signal, never leaves the writer
    """Valid FHIR data with no faithful C-CDA entry form; the message becomes a :class:`WriteWarning`."""


# --- FHIR side ---------------------------------------------------------------------------------------


def hl7_ts(value: Any, *, what: str) -> str:
    """A FHIR date/dateTime/instant as an HL7 TS (``2020-01-15T10:30-05:00`` → ``202001151030-0500``)."""
    match = _DATE.match(value) if isinstance(value, str) else None
    if match is None:
        raise CcdaWriteError(f"{what} is not a FHIR date or dateTime", detail={"value": str(value)[:40]})
    g = match.groupdict()
    out = g["y"] + (g["m"] or "") + (g["d"] or "")
    if g["hh"]:
        out += g["hh"] + g["mi"] + (g["ss"] or "") + ((g["frac"] or "") if g["ss"] else "")
        tz = g["tz"]
        if tz == "Z":
            out += "+0000"
        elif tz:
            out += tz.replace(":", "")
    return out


def codings(concept: Any) -> list[dict[str, Any]]:
    """The codings of a CodeableConcept that carry both a system and a code."""
    if not isinstance(concept, dict):
        return []
    found = concept.get("coding") or []
    return [c for c in found if isinstance(c, dict) and c.get("system") and c.get("code")]


def concept_text(concept: Any) -> str:
    """Human text of a CodeableConcept: its text, else the first display, else the first code; '' if none."""
    if not isinstance(concept, dict):
        return ""
    if isinstance(concept.get("text"), str) and concept["text"].strip():
        return str(concept["text"]).strip()
    for coding in concept.get("coding") or []:
        if isinstance(coding, dict) and coding.get("display"):
            return str(coding["display"])
    for coding in concept.get("coding") or []:
        if isinstance(coding, dict) and coding.get("code"):
            return str(coding["code"])
    return ""


def ref_key(reference: Any) -> str | None:
    """``Type/id`` from a Reference dict (relative or absolute URL), or ``None`` when it has no reference."""
    if not isinstance(reference, dict) or not isinstance(reference.get("reference"), str):
        return None
    parts = reference["reference"].rstrip("/").split("/")
    if "_history" in parts:
        parts = parts[: parts.index("_history")]
    return "/".join(parts[-2:]) if len(parts) >= 2 else None


def decimal_text(value: Any, *, what: str) -> str:
    """A JSON number as a plain decimal literal (no exponent)."""
    if isinstance(value, bool) or not isinstance(value, int | float | str | Decimal):
        raise CcdaWriteError(f"{what} is not a number")
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        raise CcdaWriteError(f"{what} is not a number") from None
    if not number.is_finite():
        raise CcdaWriteError(f"{what} is not a finite number")
    return format(number, "f")


# --- CDA side ----------------------------------------------------------------------------------------


def el(parent: etree._Element, tag: str, text: str | None = None, **attrs: str | None) -> etree._Element:
    """Append ``tag`` (``sdtc:`` prefix for the SDTC namespace) with the attributes that are not ``None``.

    ``xsi_type`` becomes ``xsi:type``.
    """
    name = f"{{{SDTC}}}{tag[5:]}" if tag.startswith("sdtc:") else f"{{{V3}}}{tag}"
    child = etree.SubElement(parent, name)
    for key, value in attrs.items():
        if value is None:
            continue
        child.set(f"{{{XSI}}}type" if key == "xsi_type" else key, value)
    if text is not None:
        child.text = text
    return child


def template(parent: etree._Element, root: str, extension: str | None = None) -> None:
    el(parent, "templateId", root=root, extension=extension)


def put_ts(parent: etree._Element, tag: str, value: str | None, **attrs: str | None) -> etree._Element:
    """A TS element: ``value`` (already HL7) or ``nullFlavor="UNK"``."""
    if value is None:
        return el(parent, tag, nullFlavor="UNK", **attrs)
    return el(parent, tag, value=value, **attrs)


def put_ivl_ts(
    parent: etree._Element,
    low: str | None,
    high: str | None,
    *,
    tag: str = "effectiveTime",
    **attrs: str | None,
) -> etree._Element:
    """An IVL_TS with ``low`` (``nullFlavor="UNK"`` when unknown) and ``high`` when known."""
    ivl = el(parent, tag, **attrs)
    put_ts(ivl, "low", low)
    if high is not None:
        put_ts(ivl, "high", high)
    return ivl


def put_cd(
    parent: etree._Element,
    tag: str,
    concept: Any,
    *,
    prefer: tuple[str, ...] = (),
    ref: str | None = None,
    what: str,
    **attrs: str | None,
) -> etree._Element:
    """A CD from a CodeableConcept: the first coding in a ``prefer`` system (else in any known system) as
    the code, the other known codings as translations, and ``originalText`` pointing at narrative ``ref``.
    """
    known = [c for c in codings(concept) if codesystems.lookup(str(c["system"])) is not None]
    if not known:
        raise Unexpressible(f"{what} has no coding in a code system the writer knows")
    rank = {system: i for i, system in enumerate(prefer)}
    primary = min(known, key=lambda c: rank.get(str(c["system"]), len(prefer)))
    cd = _coded(parent, tag, primary, **attrs)
    if ref is not None:
        el(el(cd, "originalText"), "reference", value=f"#{ref}")
    for coding in known:
        if coding is not primary:
            _coded(cd, "translation", coding)
    return cd


def _coded(parent: etree._Element, tag: str, coding: dict[str, Any], **attrs: str | None) -> etree._Element:
    row = codesystems.lookup(str(coding["system"]))
    assert row is not None
    display = coding.get("display")
    return el(
        parent,
        tag,
        code=str(coding["code"]),
        codeSystem=row.oid,
        codeSystemName=row.name or None,
        displayName=str(display) if display else None,
        **attrs,
    )


def put_pq(
    parent: etree._Element, tag: str, quantity: Any, *, what: str, **attrs: str | None
) -> etree._Element:
    """A PQ from a FHIR Quantity with a UCUM unit (or no unit at all, which CDA reads as ``1``)."""
    if not isinstance(quantity, dict) or "value" not in quantity:
        raise CcdaWriteError(f"{what} has no value")
    if quantity.get("comparator"):
        raise Unexpressible(f"{what} has a comparator, which a PQ cannot carry")
    value = decimal_text(quantity["value"], what=what)
    system, code, unit = quantity.get("system"), quantity.get("code"), quantity.get("unit")
    if system is None and code is None and unit is None:
        return el(parent, tag, value=value, **attrs)
    if system != UCUM or not isinstance(code, str) or not code:
        raise Unexpressible(f"{what} has a unit that is not UCUM")
    return el(parent, tag, value=value, unit=code, **attrs)
