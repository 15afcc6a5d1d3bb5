"""Observation values shared by the Vital Signs, Results and Social History sections."""

from __future__ import annotations

from typing import Any

from lxml import etree

from fhir_facade.ccda.writer.datatypes import (
    Unexpressible,
    concept_text,
    decimal_text,
    el,
    hl7_ts,
    put_cd,
    put_pq,
)
from xca.errors import CcdaWriteError

__all__ = [
    "LOINC",
    "SNOMED",
    "effective",
    "members",
    "put_interpretation",
    "put_reference_ranges",
    "put_value",
    "value_text",
]

LOINC = "http://loinc.org"
SNOMED = "http://snomed.info/sct"
INTERPRETATION = "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation"


def effective(res: dict[str, Any], *, required: bool) -> tuple[str | None, str]:
    """The effective time as (HL7 TS, FHIR date for the narrative); a required but absent time raises."""
    raw = (
        res.get("effectiveDateTime")
        or res.get("effectiveInstant")
        or (res.get("effectivePeriod") or {}).get("start")
    )
    if raw is None:
        if required:
            raise CcdaWriteError(
                f"a {res.get('resourceType')} has no effective time", detail={"id": res.get("id")}
            )
        return None, ""
    return hl7_ts(raw, what="effective[x]"), str(raw)[:10]


def members(res: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """The measured parts of an Observation: itself, or its components (blood pressure) keyed by code."""
    if res.get("component"):
        parts: list[tuple[str, dict[str, Any]]] = []
        for i, component in enumerate(res["component"]):
            if not concept_text(component.get("code")):
                raise CcdaWriteError("an Observation component has no code", detail={"id": res.get("id")})
            parts.append((f"component-{i + 1}", component))
        return parts
    if not concept_text(res.get("code")):
        raise CcdaWriteError(f"a {res.get('resourceType')} has no code", detail={"id": res.get("id")})
    return [("", res)]


def value_text(part: dict[str, Any]) -> str:
    """The value as narrative text (``120 mm[Hg]``, a concept's text, a string)."""
    if isinstance(part.get("valueQuantity"), dict):
        quantity = part["valueQuantity"]
        number = decimal_text(quantity.get("value"), what="valueQuantity.value")
        unit = quantity.get("unit") or quantity.get("code") or ""
        return f"{quantity.get('comparator') or ''}{number} {unit}".strip()
    if "valueCodeableConcept" in part:
        return concept_text(part["valueCodeableConcept"])
    if "valueRange" in part:
        low, high = (part["valueRange"].get(k) or {} for k in ("low", "high"))
        unit = low.get("unit") or high.get("unit") or ""
        return f"{low.get('value', '')}-{high.get('value', '')} {unit}".strip()
    for key in ("valueString", "valueInteger", "valueBoolean", "valueDateTime", "valueTime"):
        if key in part:
            return str(part[key]).lower() if key == "valueBoolean" else str(part[key])
    absent = concept_text(part.get("dataAbsentReason"))
    return f"({absent})" if absent else ""


def put_value(
    parent: etree._Element, part: dict[str, Any], *, what: str, quantity_only: bool = False
) -> None:
    """``value`` with the matching xsi:type (PQ, CD, ST, INT, BL, IVL_PQ); anything else is unexpressible."""
    if "valueQuantity" in part:
        put_pq(parent, "value", part["valueQuantity"], what=what, xsi_type="PQ")
        return
    if quantity_only:
        raise Unexpressible(f"{what} is not a Quantity")
    if "valueCodeableConcept" in part:
        put_cd(
            parent, "value", part["valueCodeableConcept"], prefer=(SNOMED, LOINC), what=what, xsi_type="CD"
        )
    elif isinstance(part.get("valueString"), str):
        el(parent, "value", part["valueString"], xsi_type="ST")
    elif isinstance(part.get("valueInteger"), int) and not isinstance(part["valueInteger"], bool):
        el(parent, "value", value=str(part["valueInteger"]), xsi_type="INT")
    elif isinstance(part.get("valueBoolean"), bool):
        el(parent, "value", value=str(part["valueBoolean"]).lower(), xsi_type="BL")
    elif isinstance(part.get("valueRange"), dict):
        ivl = el(parent, "value", xsi_type="IVL_PQ")
        for bound in ("low", "high"):
            if bound in part["valueRange"]:
                put_pq(ivl, bound, part["valueRange"][bound], what=f"{what} {bound}")
    else:
        raise Unexpressible(f"{what} has no value the writer can express")


def put_interpretation(parent: etree._Element, part: dict[str, Any]) -> None:
    for concept in part.get("interpretation") or []:
        put_cd(parent, "interpretationCode", concept, prefer=(INTERPRETATION,), what="interpretation")


def reference_range_text(part: dict[str, Any]) -> str:
    texts = []
    for reference in part.get("referenceRange") or []:
        if reference.get("text"):
            texts.append(str(reference["text"]))
            continue
        low, high = reference.get("low") or {}, reference.get("high") or {}
        unit = low.get("unit") or high.get("unit") or ""
        texts.append(f"{low.get('value', '')}-{high.get('value', '')} {unit}".strip())
    return "; ".join(texts)


def put_reference_ranges(parent: etree._Element, part: dict[str, Any]) -> None:
    """``referenceRange/observationRange`` with the range text and an IVL_PQ of its low/high."""
    for reference in part.get("referenceRange") or []:
        if not isinstance(reference, dict):
            continue
        if reference.get("type") or reference.get("appliesTo") or reference.get("age"):
            raise Unexpressible("a reference range with type, appliesTo or age is not written")
        observation_range = el(el(parent, "referenceRange"), "observationRange")
        if reference.get("text"):
            el(observation_range, "text", str(reference["text"]))
        if reference.get("low") or reference.get("high"):
            ivl = el(observation_range, "value", xsi_type="IVL_PQ")
            for bound in ("low", "high"):
                if reference.get(bound):
                    put_pq(ivl, bound, reference[bound], what=f"referenceRange.{bound}")
