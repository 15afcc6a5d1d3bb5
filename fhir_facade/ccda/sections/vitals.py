"""Vital Signs section (2.16.840.1.113883.10.20.22.2.4[.1], LOINC 8716-3) → Observation (vital-signs).

After C-CDA on FHIR (Vitals): each Vital Sign Observation (4.27) becomes an Observation in category
``vital-signs``; its Vital Signs Organizer (4.26) becomes one more Observation, the panel (LOINC 85353-1),
whose ``hasMember`` lists them. A systolic (8480-6) and a diastolic (8462-4) reading of one organizer become a
single blood-pressure Observation (85354-9) with the two readings as components, as US Core requires.

Codes US Core names differently from what senders use (3141-9 measured weight, 8306-3 lying height...) keep
the sender's coding and gain the US Core one (:data:`US_CORE_CODES`). Units go through the shared UCUM
mapping; a reading whose unit is not UCUM keeps the unit text and is reported.
"""

from __future__ import annotations

from typing import Final

from lxml import etree

from fhir_facade.ccda.cda import V3, attr, child, children
from fhir_facade.ccda.context import ConversionContext, Json, reference
from fhir_facade.ccda.datatypes import effective
from fhir_facade.ccda.sections.base import Section, SectionSpec, convert_entries
from fhir_facade.ccda.sections.observation import OBSERVATION_STATUS, observation
from fhir_facade.ccda.sections.shared import VITAL_SIGNS_SECTION, category, identify, span, statements

__all__ = ["SPEC", "US_CORE_CODES", "convert_vital_signs"]

LOINC: Final = "http://loinc.org"
SYSTOLIC: Final = "8480-6"
DIASTOLIC: Final = "8462-4"
US_CORE_CODES: Final[dict[str, tuple[str, str]]] = {
    "3141-9": ("29463-7", "Body weight"),
    "8335-2": ("29463-7", "Body weight"),
    "8306-3": ("8302-2", "Body height"),
    "8308-9": ("8302-2", "Body height"),
    "8331-1": ("8310-5", "Body temperature"),
    "8287-5": ("9843-4", "Head Occipital-frontal circumference"),
    "8893-0": ("8867-4", "Heart rate"),
    "2710-2": ("59408-5", "Oxygen saturation in Arterial blood by Pulse oximetry"),
    "59408-5": ("2708-6", "Oxygen saturation in Arterial blood"),
}
"""Sender's LOINC code → the US Core vital-sign code added next to it."""
_COMPONENT_KEYS: Final = ("dataAbsentReason", "interpretation", "referenceRange")


def convert_vital_signs(section: Section, ctx: ConversionContext) -> list[Json]:
    return convert_entries(section, ctx, "vital-signs", _entry)


SPEC: Final = SectionSpec("vital-signs", VITAL_SIGNS_SECTION, ("8716-3",), convert_vital_signs)


def _entry(statement: etree._Element, section: Section, ctx: ConversionContext) -> list[Json]:
    if statement.tag == V3 + "organizer":
        return _organizer(statement, ctx)
    if statement.tag == V3 + "observation":
        return _readings([statement], ctx)
    found: list[Json] = []
    for organizer in statements(statement, "organizer"):
        found.extend(_organizer(organizer, ctx))
    return found + _readings(list(statements(statement, "observation")), ctx)


def _organizer(organizer: etree._Element, ctx: ConversionContext) -> list[Json]:
    members = _readings(list(statements(organizer, "observation")), ctx)
    if not members:
        ctx.report("warning", "incomplete", "a vital signs organizer holds no observation", organizer)
        return []
    panel: Json = {"resourceType": "Observation", "id": ctx.id_for("Observation", organizer)}
    identify(panel, organizer)
    status = attr(child(organizer, "statusCode"), "code") or "completed"
    panel["status"] = OBSERVATION_STATUS.get(status, "final")
    panel["category"] = [_vital_signs()]
    panel["code"] = {
        "coding": [
            {
                "system": LOINC,
                "code": "85353-1",
                "display": "Vital signs, weight, height, head circumference, oxygen saturation and BMI panel",
            }
        ],
        "text": "Vital signs",
    }
    if ctx.patient:
        panel["subject"] = ctx.patient
    when = effective(child(organizer, "effectiveTime"), ctx) or span(members)
    if when:
        panel["effective" + when[0]] = when[1]
    panel["hasMember"] = [reference(m["id"]) for m in members]
    return [panel, *members]


def _vital_signs() -> Json:
    return category("vital-signs", "Vital Signs")


def _loinc(element: etree._Element) -> str | None:
    code = child(element, "code")
    if code is None:
        return None
    for candidate in (code, *children(code, "translation")):
        value = attr(candidate, "code")
        if value in (SYSTOLIC, DIASTOLIC):
            return value
    return attr(code, "code")


def _readings(elements: list[etree._Element], ctx: ConversionContext) -> list[Json]:
    """Observations for the readings; the first systolic pairs with the first diastolic, and so on."""
    codes = [_loinc(e) for e in elements]
    systolic = [e for e, c in zip(elements, codes, strict=True) if c == SYSTOLIC]
    diastolic = [e for e, c in zip(elements, codes, strict=True) if c == DIASTOLIC]
    pairs = dict(zip(systolic, diastolic, strict=False))
    paired = set(pairs.values())
    found: list[Json] = []
    for element in elements:
        if element in paired:
            continue
        reading = _reading(element, ctx)
        partner = pairs.get(element)
        if partner is not None:
            reading = _blood_pressure(reading, _reading(partner, ctx))
        found.append(reading)
    return found


def _reading(element: etree._Element, ctx: ConversionContext) -> Json:
    resource = observation(element, ctx, [_vital_signs()])
    _add_us_core_code(resource["code"])
    amount = resource.get("valueQuantity")
    if amount is not None and "code" not in amount and "unit" in amount:
        ctx.report(
            "warning", "value", "a vital sign unit is not UCUM; kept as text only", child(element, "value")
        )
    return resource


def _add_us_core_code(code: Json) -> None:
    codings = code.get("coding")
    if not codings:
        return
    present = {c.get("code") for c in codings if c.get("system") == LOINC}
    for source in list(present):
        target = US_CORE_CODES.get(source or "")
        while target is not None and target[0] not in present:
            codings.append({"system": LOINC, "code": target[0], "display": target[1]})
            present.add(target[0])
            target = US_CORE_CODES.get(target[0])


def _blood_pressure(systolic: Json, diastolic: Json) -> Json:
    """One 85354-9 Observation holding both readings as components (systolic's id, both identifiers)."""
    panel = {k: v for k, v in systolic.items() if not k.startswith("value") and k not in _COMPONENT_KEYS}
    panel["code"] = {
        "coding": [
            {"system": LOINC, "code": "85354-9", "display": "Blood pressure panel with all children optional"}
        ],
        "text": "Blood pressure",
    }
    extra = [i for i in diastolic.get("identifier", ()) if i not in panel.get("identifier", ())]
    if extra:
        panel["identifier"] = [*panel.get("identifier", ()), *extra]
    if "effectiveDateTime" not in panel and "effectivePeriod" not in panel:
        for key in ("effectiveDateTime", "effectivePeriod"):
            if key in diastolic:
                panel[key] = diastolic[key]
    panel["component"] = [_component(systolic), _component(diastolic)]
    return panel


def _component(reading: Json) -> Json:
    component: Json = {"code": reading["code"]}
    for key, value in reading.items():
        if key.startswith("value") or key in _COMPONENT_KEYS:
            component[key] = value
    return component
