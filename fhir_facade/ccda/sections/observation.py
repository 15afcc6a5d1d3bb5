"""A CDA ``observation`` → FHIR Observation, shared by vital signs, results and procedure observations.

``value`` becomes ``value[x]`` by its ``xsi:type`` (C-CDA on FHIR, Results): PQ → Quantity, IVL_PQ → Range
(a single ``@value`` → Quantity), INT → integer, REAL → Quantity without unit, CD/CE/CV/CO/CS →
CodeableConcept, ST/SC/ED → string (ED through its narrative reference), BL → boolean, TS → dateTime, IVL_TS →
Period, RTO → Ratio. Without ``xsi:type`` the shape decides (unit or number → PQ, code → CD, text → ST). A
value with a nullFlavor, or of a type FHIR cannot hold, becomes ``dataAbsentReason`` (the latter reported).
``interpretationCode`` → interpretation, ``referenceRange/observationRange`` → referenceRange, ``methodCode``
→ method, ``targetSiteCode`` → bodySite, performers and the author → performer.
"""

from __future__ import annotations

from typing import Any, Final

from lxml import etree

from fhir_facade.ccda.cda import attr, child, children, text_of, xsi_type
from fhir_facade.ccda.context import ConversionContext, Json
from fhir_facade.ccda.datatypes import absent_reason, concept, effective, original_text, period, ts
from fhir_facade.ccda.datatypes.quantity import number, quantity, range_, ratio
from fhir_facade.ccda.sections.shared import PERFORMER_TYPES, identify, performers

__all__ = ["DATA_ABSENT", "OBSERVATION_STATUS", "absent", "code_or_absent", "observation", "value_x"]

DATA_ABSENT: Final = "http://terminology.hl7.org/CodeSystem/data-absent-reason"
OBSERVATION_STATUS: Final[dict[str, str]] = {
    "completed": "final",
    "active": "preliminary",
    "aborted": "cancelled",
    "cancelled": "cancelled",
    "held": "registered",
    "new": "registered",
    "suspended": "registered",
    "nullified": "entered-in-error",
    "obsolete": "amended",
}
"""CDA ``statusCode`` → Observation.status (C-CDA on FHIR ConceptMap CF-ResultStatus)."""

_CODED: Final = frozenset({"CD", "CE", "CV", "CO", "CS", "PQR"})
_TEXT: Final = frozenset({"ST", "SC", "ED"})
_RANGES: Final = frozenset({"IVL_PQ", "IVL_REAL", "IVL_INT"})
_RATIOS: Final = frozenset({"RTO", "RTO_PQ_PQ", "RTO_INT_INT", "RTO_MO_PQ"})
_INT32: Final = 2**31


def absent(code: str) -> Json:
    """A dataAbsentReason CodeableConcept."""
    return {"coding": [{"system": DATA_ABSENT, "code": code}]}


def code_or_absent(element: etree._Element | None, ctx: ConversionContext) -> Json:
    """The concept of a code element, or a CodeableConcept carrying only a data-absent-reason extension."""
    found = concept(element, ctx)
    if found is not None:
        return found
    return {
        "extension": [
            {
                "url": "http://hl7.org/fhir/StructureDefinition/data-absent-reason",
                "valueCode": absent_reason(element),
            }
        ]
    }


def value_x(value: etree._Element, ctx: ConversionContext) -> tuple[str, Any] | None:
    """``(suffix, value)`` for ``value[x]``; ``None`` when the element holds nothing FHIR can carry."""
    kind = xsi_type(value) or _guess(value)
    if kind == "PQ":
        found: Any = quantity(value, ctx)
        return ("Quantity", found) if found else None
    if kind in _CODED:
        found = concept(value, ctx)
        return ("CodeableConcept", found) if found else None
    if kind in _TEXT:
        text = original_text(value, ctx) if kind == "ED" else text_of(value)
        return ("String", text) if text else None
    if kind in _RANGES:
        if value.get("value") is not None:
            found = quantity(value, ctx)
            return ("Quantity", found) if found else None
        found = range_(value, ctx)
        return ("Range", found) if found else None
    if kind == "INT":
        whole = number(value.get("value"))
        if isinstance(whole, int) and -_INT32 <= whole < _INT32:
            return ("Integer", whole)
        found = quantity(value, ctx)
        return ("Quantity", found) if found else None
    if kind in ("REAL", "MO"):
        found = quantity(value, ctx)
        return ("Quantity", found) if found else None
    if kind == "BL":
        flag = attr(value, "value")
        return ("Boolean", flag == "true") if flag in ("true", "false") else None
    if kind == "TS":
        when = ts(value, ctx)
        return ("DateTime", when) if when else None
    if kind == "IVL_TS":
        found = period(value, ctx)
        return ("Period", found) if found else None
    if kind in _RATIOS:
        found = ratio(value, ctx)
        return ("Ratio", found) if found else None
    return ("unsupported", kind)


def _guess(value: etree._Element) -> str:
    if value.get("unit") is not None or number(value.get("value")) is not None:
        return "PQ"
    if value.get("code") is not None or child(value, "originalText") is not None:
        return "CD"
    if child(value, "low") is not None or child(value, "high") is not None:
        return "IVL_PQ"
    return "ST"


def set_value(resource: Json, value: etree._Element | None, ctx: ConversionContext) -> None:
    """``value[x]`` or ``dataAbsentReason`` on an Observation (or an Observation component)."""
    if value is None:
        resource["dataAbsentReason"] = absent("unknown")
        return
    if value.get("nullFlavor") is not None and not len(value) and value.get("code") is None:
        resource["dataAbsentReason"] = absent(absent_reason(value))
        return
    found = value_x(value, ctx)
    if found is None:
        resource["dataAbsentReason"] = absent(absent_reason(value))
    elif found[0] == "unsupported":
        ctx.report(
            "warning", "not-supported", f"an observation value of type {found[1]} has no FHIR form", value
        )
        resource["dataAbsentReason"] = absent("unsupported")
    else:
        resource["value" + found[0]] = found[1]


def interpretation(element: etree._Element, ctx: ConversionContext) -> list[Json]:
    return [c for c in (concept(i, ctx) for i in children(element, "interpretationCode")) if c]


def reference_ranges(element: etree._Element, ctx: ConversionContext) -> list[Json]:
    """``referenceRange/observationRange`` → referenceRange (low/high from IVL values, else text)."""
    found: list[Json] = []
    for holder in children(element, "referenceRange"):
        observed = child(holder, "observationRange")
        if observed is None:
            continue
        result: Json = {}
        value = child(observed, "value")
        if value is not None and xsi_type(value) not in _TEXT and value.get("nullFlavor") is None:
            bounds = range_(value, ctx)
            if bounds:
                result.update(bounds)
        text = original_text(child(observed, "text"), ctx)
        if text is None and value is not None and xsi_type(value) in _TEXT:
            text = text_of(value)
        if text:
            result["text"] = text
        if result:
            found.append(result)
    return found


def observation(element: etree._Element, ctx: ConversionContext, categories: list[Json]) -> Json:
    """Observation with the given categories for an observation element; value, ranges and performers
    included."""
    resource: Json = {"resourceType": "Observation", "id": ctx.id_for("Observation", element)}
    identify(resource, element)
    status = attr(child(element, "statusCode"), "code") or ""
    resource["status"] = OBSERVATION_STATUS.get(status, "unknown")
    resource["category"] = categories
    resource["code"] = code_or_absent(child(element, "code"), ctx)
    if ctx.patient:
        resource["subject"] = ctx.patient
    when = effective(child(element, "effectiveTime"), ctx)
    if when:
        resource["effective" + when[0]] = when[1]
    who = [p.who for p in performers(element, ctx) if ctx.type_of(p.who) in PERFORMER_TYPES]
    if who:
        resource["performer"] = who
    set_value(resource, child(element, "value"), ctx)
    found = interpretation(element, ctx)
    if found:
        resource["interpretation"] = found
    site = concept(child(element, "targetSiteCode"), ctx)
    if site:
        resource["bodySite"] = site
    method = concept(child(element, "methodCode"), ctx)
    if method:
        resource["method"] = method
    ranges = reference_ranges(element, ctx)
    if ranges:
        resource["referenceRange"] = ranges
    return resource
