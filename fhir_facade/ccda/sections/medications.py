"""Medications section (2.16.840.1.113883.10.20.22.2.1[.1], LOINC 10160-0) → MedicationStatement / Request.

A Medication Activity (4.16) with ``moodCode="EVN"`` (taken, being taken) becomes a MedicationStatement; any
other mood (``INT`` intended, ``RQO`` requested, ``PRMS``/``PRP`` proposed) a MedicationRequest whose intent
follows :data:`_INTENT`. The drug (Medication Information 4.23: RxNorm code with NDC and other translations,
manufacturer, lot) becomes a Medication resource, made once per product within a document. Dosage comes from
the
``effectiveTime`` (the interval, then PIVL_TS / EIVL_TS timing), dose, rate, route, site and max dose; the
Instruction (4.20) is the patient instruction and the Indication (4.19) the reason.
"""

from __future__ import annotations

from typing import Final

import orjson
from lxml import etree

from fhir_facade.ccda.cda import V3, attr, child, children, text_of, xsi_type
from fhir_facade.ccda.context import ConversionContext, Json, identity_key
from fhir_facade.ccda.datatypes import (
    concept,
    data_absent,
    effective,
    identifiers,
    original_text,
    period,
)
from fhir_facade.ccda.datatypes.quantity import number, quantity, range_, ratio
from fhir_facade.ccda.participants import author_of, author_time, organization
from fhir_facade.ccda.sections.base import Section, SectionSpec, convert_entries, related
from fhir_facade.ccda.templates import (
    INDICATION,
    INSTRUCTION,
    MEDICATION_SUPPLY_ORDER,
    MEDICATIONS_SECTION,
    MEDICATIONS_SECTION_ENTRIES,
)

__all__ = ["SPEC", "convert_medications", "medication_activity"]

_STATEMENT_STATUS: Final[dict[str, str]] = {
    "active": "active",
    "completed": "completed",
    "aborted": "stopped",
    "suspended": "on-hold",
    "held": "on-hold",
    "cancelled": "not-taken",
    "nullified": "entered-in-error",
    "new": "intended",
}
_REQUEST_STATUS: Final[dict[str, str]] = {
    "active": "active",
    "completed": "completed",
    "aborted": "stopped",
    "suspended": "on-hold",
    "held": "on-hold",
    "cancelled": "cancelled",
    "nullified": "entered-in-error",
    "new": "draft",
}
# C-CDA on FHIR ConceptMap CF-MedActivityMood: an intended medication is a plan; requests are orders.
_INTENT: Final[dict[str, str]] = {"INT": "plan", "RQO": "order", "PRMS": "proposal", "PRP": "proposal"}
_PERIOD_UNITS: Final = frozenset({"s", "min", "h", "d", "wk", "mo", "a"})
_STATEMENT_SOURCES: Final = frozenset(
    {"Practitioner", "PractitionerRole", "Organization", "Patient", "RelatedPerson"}
)


def convert_medications(section: Section, ctx: ConversionContext) -> list[Json]:
    return convert_entries(section, ctx, "medications", _entry)


SPEC: Final = SectionSpec(
    "medications", (MEDICATIONS_SECTION, MEDICATIONS_SECTION_ENTRIES), ("10160-0",), convert_medications
)


def _entry(statement: etree._Element, section: Section, ctx: ConversionContext) -> list[Json]:
    if statement.tag == V3 + "substanceAdministration":
        return [medication_activity(statement, ctx)]
    return [
        medication_activity(inner, ctx)
        for inner in related(statement)
        if inner.tag == V3 + "substanceAdministration"
    ]


def medication_activity(activity: etree._Element, ctx: ConversionContext) -> Json:
    """MedicationStatement (mood EVN) or MedicationRequest (other moods) for a Medication Activity."""
    mood = attr(activity, "moodCode") or "EVN"
    is_statement = mood == "EVN"
    kind = "MedicationStatement" if is_statement else "MedicationRequest"
    resource: Json = {"resourceType": kind, "id": ctx.id_for(kind, activity)}
    ids = identifiers(children(activity, "id"))
    if ids:
        resource["identifier"] = ids
    status = attr(child(activity, "statusCode"), "code") or ""
    negated = activity.get("negationInd") == "true"
    if is_statement:
        resource["status"] = "not-taken" if negated else _STATEMENT_STATUS.get(status, "unknown")
    else:
        resource["status"] = _REQUEST_STATUS.get(status, "unknown")
        resource["intent"] = _INTENT.get(mood, "plan")
        if negated:
            resource["doNotPerform"] = True
    product = child(activity, "consumable", "manufacturedProduct")
    medication = _medication(product, activity, ctx)
    if "resourceType" in medication:
        resource["medicationReference"] = ctx.add(medication)
    else:
        resource["medicationCodeableConcept"] = medication
    if ctx.patient:
        resource["subject"] = ctx.patient
    interval = next((e for e in children(activity, "effectiveTime") if _is_interval(e)), None)
    party = author_of(activity, ctx)
    if is_statement:
        when = effective(interval, ctx)
        if when:
            resource["effective" + when[0]] = when[1]
        if party is not None:
            if party.time:
                resource["dateAsserted"] = party.time
            if ctx.type_of(party.who) in _STATEMENT_SOURCES:
                resource["informationSource"] = party.who
    else:
        # The author's time even when the author cannot be identified (no id, no name): it is still when the
        # order was written.
        authored = party.time if party is not None else None
        authored = authored or author_time(activity, ctx)
        if authored:
            resource["authoredOn"] = authored
        if party is not None:
            resource["requester"] = party.role or party.who
    reasons = [r for r in (concept(child(i, "value"), ctx) for i in related(activity, INDICATION)) if r]
    if reasons:
        resource["reasonCode"] = reasons
    dosage = _dosage(activity, interval if not is_statement else None, ctx)
    if dosage:
        resource["dosage" if is_statement else "dosageInstruction"] = [dosage]
    if not is_statement:
        dispense = _dispense(activity, ctx)
        if dispense:
            resource["dispenseRequest"] = dispense
    return resource


def _medication(product: etree._Element | None, activity: etree._Element, ctx: ConversionContext) -> Json:
    """A Medication resource, or a bare CodeableConcept when there is nothing but (missing) text."""
    material = child(product, "manufacturedMaterial")
    code = concept(child(material, "code"), ctx)
    name = text_of(child(material, "name"))
    if code is None:
        if name is None:
            return {"extension": [data_absent(child(material, "code"))]}
        code = {"text": name}
    key = identity_key(product) if product is not None else None
    if key is None:
        key = f"doc|{ctx.document_key}|" + orjson.dumps(code, option=orjson.OPT_SORT_KEYS).decode()
    resource: Json = {"resourceType": "Medication", "id": ctx.make_id("Medication", key)}
    ids = identifiers(children(product, "id"))
    if ids:
        resource["identifier"] = ids
    resource["code"] = code
    maker = organization(child(product, "manufacturerOrganization"), ctx)
    if maker:
        resource["manufacturer"] = maker
    form = concept(child(activity, "administrationUnitCode"), ctx)
    if form:
        resource["form"] = form
    lot = text_of(child(material, "lotNumberText"))
    if lot:
        resource["batch"] = {"lotNumber": lot}
    return resource


def _is_interval(element: etree._Element) -> bool:
    kind = xsi_type(element)
    return kind in (None, "IVL_TS", "TS") and element.get("operator") != "A"


def _dosage(activity: etree._Element, bounds: etree._Element | None, ctx: ConversionContext) -> Json | None:
    dosage: Json = {}
    text = original_text(child(activity, "text"), ctx)
    if text:
        dosage["text"] = text
    instructions = [
        original_text(child(i, "text"), ctx) or text_of(child(i, "code"))
        for i in related(activity, INSTRUCTION)
    ]
    instruction = "; ".join(i for i in instructions if i)
    if instruction:
        dosage["patientInstruction"] = instruction
    timing = _timing(activity, bounds, ctx)
    if timing:
        dosage["timing"] = timing
    for name, key in (("routeCode", "route"), ("approachSiteCode", "site")):
        found = concept(child(activity, name), ctx)
        if found:
            dosage[key] = found
    dose_and_rate: Json = {}
    dose = child(activity, "doseQuantity")
    if dose is not None and (child(dose, "low") is not None or child(dose, "high") is not None):
        found = range_(dose, ctx)
        if found:
            dose_and_rate["doseRange"] = found
    else:
        found = quantity(dose, ctx)
        if found:
            dose_and_rate["doseQuantity"] = found
    rate = quantity(child(activity, "rateQuantity"), ctx)
    if rate:
        dose_and_rate["rateQuantity"] = rate
    if dose_and_rate:
        dosage["doseAndRate"] = [dose_and_rate]
    most = ratio(child(activity, "maxDoseQuantity"), ctx)
    if most and "numerator" in most and "denominator" in most:
        dosage["maxDosePerPeriod"] = most
    return dosage or None


def _timing(activity: etree._Element, bounds: etree._Element | None, ctx: ConversionContext) -> Json | None:
    repeat: Json = {}
    for element in children(activity, "effectiveTime"):
        kind = xsi_type(element)
        if kind == "PIVL_TS":
            every = child(element, "period")
            low = child(every, "low") if every is not None else None
            value = number(attr(every, "value") or attr(low, "value"))
            unit = attr(every, "unit") if low is None else attr(low, "unit")
            if value is not None and unit in _PERIOD_UNITS:
                repeat.update(frequency=1, period=value, periodUnit=unit)
            elif every is not None and every.get("nullFlavor") is None:
                ctx.tally(
                    "pivl-unit", element, "dosing periods had a unit FHIR timing cannot express; dropped"
                )
        elif kind == "EIVL_TS":
            event = attr(child(element, "event"), "code")
            if event:
                repeat.setdefault("when", []).append(event)
    if bounds is not None:
        found = period(bounds, ctx)
        if found:
            repeat["boundsPeriod"] = found
    return {"repeat": repeat} if repeat else None


def _dispense(activity: etree._Element, ctx: ConversionContext) -> Json | None:
    for supply in related(activity, MEDICATION_SUPPLY_ORDER):
        dispense: Json = {}
        fills = number(attr(child(supply, "repeatNumber"), "value"))
        if isinstance(fills, int) and fills >= 1:
            dispense["numberOfRepeatsAllowed"] = fills - 1
        amount = quantity(child(supply, "quantity"), ctx)
        if amount:
            dispense["quantity"] = amount
        validity = period(child(supply, "effectiveTime"), ctx)
        if validity:
            dispense["validityPeriod"] = validity
        if dispense:
            return dispense
    return None
