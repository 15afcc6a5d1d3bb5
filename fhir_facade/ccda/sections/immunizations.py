"""Immunizations section (2.16.840.1.113883.10.20.22.2.2[.1], LOINC 11369-6) → Immunization.

After C-CDA on FHIR (Immunizations): one Immunization per Immunization Activity (4.52) with
``moodCode="EVN"``. The vaccine is the Immunization Medication Information's ``manufacturedMaterial/code``
(CVX, with NDC and other translations kept as codings), the lot its ``lotNumberText``, the manufacturer its
``manufacturerOrganization``; route, site, dose quantity, performers (function AP, administering provider),
indications (4.19) as ``reasonCode`` and ``repeatNumber`` as the dose number follow.

Status (ConceptMap CF-ImmunizationStatus): ``negationInd="true"`` → ``not-done`` with the Immunization
Refusal Reason (4.53) code as ``statusReason``; ``completed`` (and ``active``, a dose given) → ``completed``;
``nullified`` → ``entered-in-error``; every other status → ``not-done``. An activity in another mood (``INT``:
planned, ``RQO``...) is no administration: it becomes a MedicationRequest through the medications converter.
"""

from __future__ import annotations

from typing import Final

from lxml import etree

from fhir_facade.ccda.cda import V3, attr, child, text_of
from fhir_facade.ccda.context import ConversionContext, Json
from fhir_facade.ccda.datatypes import concept, number, quantity, ts_value
from fhir_facade.ccda.datatypes.nullflavor import data_absent
from fhir_facade.ccda.participants import author_of, organization
from fhir_facade.ccda.sections.base import Section, SectionSpec, convert_entries, related
from fhir_facade.ccda.sections.medications import medication_activity
from fhir_facade.ccda.sections.observation import code_or_absent
from fhir_facade.ccda.sections.shared import (
    IMMUNIZATION_REFUSAL,
    IMMUNIZATIONS_SECTION,
    identify,
    performers,
    reasons,
    statements,
)

__all__ = ["IMMUNIZATION_STATUS", "SPEC", "convert_immunizations", "immunization"]

IMMUNIZATION_STATUS: Final[dict[str, str]] = {
    "completed": "completed",
    "active": "completed",
    "nullified": "entered-in-error",
}
"""``statusCode`` → Immunization.status; anything else (aborted, cancelled, held, new...) is ``not-done``."""
_ADMINISTERING: Final[Json] = {
    "coding": [
        {
            "system": "http://terminology.hl7.org/CodeSystem/v2-0443",
            "code": "AP",
            "display": "Administering Provider",
        }
    ]
}
_ACTORS: Final = frozenset({"Practitioner", "PractitionerRole", "Organization"})


def convert_immunizations(section: Section, ctx: ConversionContext) -> list[Json]:
    return convert_entries(section, ctx, "immunizations", _entry)


SPEC: Final = SectionSpec("immunizations", IMMUNIZATIONS_SECTION, ("11369-6",), convert_immunizations)


def _entry(statement: etree._Element, section: Section, ctx: ConversionContext) -> list[Json]:
    if statement.tag == V3 + "substanceAdministration":
        return [_activity(statement, ctx)]
    return [_activity(inner, ctx) for inner in statements(statement, "substanceAdministration")]


def _activity(activity: etree._Element, ctx: ConversionContext) -> Json:
    if (attr(activity, "moodCode") or "EVN") != "EVN":
        return medication_activity(activity, ctx)
    return immunization(activity, ctx)


def immunization(activity: etree._Element, ctx: ConversionContext) -> Json:
    """Immunization for an Immunization Activity in mood EVN (given, or refused when negated)."""
    resource: Json = {"resourceType": "Immunization", "id": ctx.id_for("Immunization", activity)}
    identify(resource, activity)
    status = attr(child(activity, "statusCode"), "code") or "completed"
    if activity.get("negationInd") == "true":
        resource["status"] = "not-done"
    else:
        resource["status"] = IMMUNIZATION_STATUS.get(status, "not-done")
    if resource["status"] == "not-done":
        refusals = (concept(child(r, "code"), ctx) for r in related(activity, IMMUNIZATION_REFUSAL))
        refusal = next((c for c in refusals if c), None)
        if refusal:
            resource["statusReason"] = refusal
    product = child(activity, "consumable", "manufacturedProduct")
    material = child(product, "manufacturedMaterial")
    vaccine = concept(child(material, "code"), ctx)
    if vaccine is None:
        name = text_of(child(material, "name"))
        vaccine = {"text": name} if name else code_or_absent(child(material, "code"), ctx)
    resource["vaccineCode"] = vaccine
    if ctx.patient:
        resource["patient"] = ctx.patient
    when = ts_value(child(activity, "effectiveTime"), ctx)
    if when:
        resource["occurrenceDateTime"] = when
    else:
        # occurrence[x] is required and a bare data-absent-reason is not enough for R4 validators
        resource["occurrenceString"] = "unknown"
        resource["_occurrenceString"] = {"extension": [data_absent(child(activity, "effectiveTime"))]}
    party = author_of(activity, ctx)
    if party is not None and party.time:
        resource["recorded"] = party.time
    lot = text_of(child(material, "lotNumberText"))
    if lot:
        resource["lotNumber"] = lot
    maker = organization(child(product, "manufacturerOrganization"), ctx)
    if maker:
        resource["manufacturer"] = maker
    for name, key in (("approachSiteCode", "site"), ("routeCode", "route")):
        found = concept(child(activity, name), ctx)
        if found:
            resource[key] = found
    dose = quantity(child(activity, "doseQuantity"), ctx)
    if dose:
        resource["doseQuantity"] = dose
    actors = [
        {"function": _administering(), "actor": p.who}
        for p in performers(activity, ctx, authors=False)
        if ctx.type_of(p.who) in _ACTORS
    ]
    if actors:
        resource["performer"] = actors
    why = reasons(activity, ctx)
    if why:
        resource["reasonCode"] = why
    dose_number = number(attr(child(activity, "repeatNumber"), "value"))
    if isinstance(dose_number, int) and dose_number >= 1:
        resource["protocolApplied"] = [{"doseNumberPositiveInt": dose_number}]
    return resource


def _administering() -> Json:
    return {"coding": [dict(_ADMINISTERING["coding"][0])]}
