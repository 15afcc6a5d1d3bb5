"""Plan of Treatment / Plan of Care section (2.16.840.1.113883.10.20.22.2.10, LOINC 18776-5) → ServiceRequest,
MedicationRequest, DeviceRequest, CommunicationRequest, Goal.

After C-CDA on FHIR (Plan of Treatment): the planned entries are requests whose ``intent`` follows the mood
(``INT`` plan, ``RQO``/``ARQ`` order, ``PRP``/``PRMS`` proposal, ``APT`` plan) and whose status follows
``statusCode``; no Appointment is made for a planned encounter.

* Planned Act (4.39), Encounter (4.40), Procedure (4.41), Observation (4.44), Nutrition Recommendation
  (4.130),
  Patient Referral (4.140) → ServiceRequest: code (its narrative text when uncoded), ``effectiveTime`` →
  occurrence, author → requester and ``authoredOn``, performers, ``priorityCode``, Indications → reasonCode,
  ``targetSiteCode`` → bodySite, ``negationInd`` → doNotPerform;
* Planned Medication Activity (4.42) and Planned Immunization Activity (4.120) → MedicationRequest through the
  Medications converter (``medications.medication_activity``: mood → intent);
* Planned Supply (4.43) → MedicationRequest for a medication product, else DeviceRequest for its device;
* Instruction (4.20) → CommunicationRequest whose payload is the instruction text;
* a Goal Observation (mood ``GOL``) → Goal (``goals.goal``).

Events (``moodCode="EVN"``: Handoff Communication, Comment Activity) are not plans and make nothing.
"""

from __future__ import annotations

from typing import Final

from lxml import etree

from fhir_facade.ccda.cda import V3, attr, child, children, has_template, text_of
from fhir_facade.ccda.context import ConversionContext, Json, reference
from fhir_facade.ccda.datatypes import concept, data_absent, effective, identifiers, original_text, period
from fhir_facade.ccda.datatypes.quantity import quantity
from fhir_facade.ccda.participants import author_of
from fhir_facade.ccda.sections.base import Section, SectionSpec, convert_entries
from fhir_facade.ccda.sections.goals import GOAL_OBSERVATION, goal
from fhir_facade.ccda.sections.medical_equipment import device
from fhir_facade.ccda.sections.medications import medication_activity
from fhir_facade.ccda.sections.notes import NOTE_ACTIVITY, note_activity
from fhir_facade.ccda.sections.shared import performers, reasons
from fhir_facade.ccda.templates import INSTRUCTION

__all__ = ["SPEC", "convert_plan_of_treatment", "service_request"]

PLAN_OF_TREATMENT_SECTION: Final = "2.16.840.1.113883.10.20.22.2.10"
INTENT: Final[dict[str, str]] = {
    "INT": "plan",
    "RQO": "order",
    "ARQ": "order",
    "PRP": "proposal",
    "PRMS": "proposal",
    "APT": "plan",
}
_STATUS: Final[dict[str, str]] = {
    "active": "active",
    "completed": "completed",
    "cancelled": "revoked",
    "aborted": "revoked",
    "suspended": "on-hold",
    "held": "on-hold",
    "new": "draft",
    "nullified": "entered-in-error",
}
_PRIORITY: Final[dict[str, str]] = {"R": "routine", "UR": "urgent", "A": "asap", "S": "stat", "EM": "stat"}
_REQUESTERS: Final = frozenset(
    {"Practitioner", "PractitionerRole", "Organization", "Patient", "RelatedPerson", "Device"}
)
_REQUESTED: Final = frozenset(V3 + n for n in ("act", "encounter", "procedure", "observation"))


def convert_plan_of_treatment(section: Section, ctx: ConversionContext) -> list[Json]:
    return convert_entries(section, ctx, "plan of treatment", _entry)


SPEC: Final = SectionSpec(
    "plan of treatment", (PLAN_OF_TREATMENT_SECTION,), ("18776-5",), convert_plan_of_treatment
)


def _entry(statement: etree._Element, section: Section, ctx: ConversionContext) -> list[Json]:
    mood = attr(statement, "moodCode") or "EVN"
    tag = statement.tag
    if mood == "GOL" or has_template(statement, GOAL_OBSERVATION):
        return [goal(statement, ctx)]
    if tag == V3 + "act" and has_template(statement, NOTE_ACTIVITY):
        return [note_activity(statement, ctx)]
    if mood == "EVN":
        return []
    if tag == V3 + "act" and has_template(statement, INSTRUCTION):
        found = _instruction(statement, ctx)
        return [found] if found else []
    if tag == V3 + "substanceAdministration":
        return [medication_activity(statement, ctx)]
    if tag == V3 + "supply":
        return _supply(statement, ctx)
    if tag in _REQUESTED:
        return [service_request(statement, ctx)]
    return []


def _request(kind: str, element: etree._Element, ctx: ConversionContext) -> Json:
    """The fields every request shares: id, identifiers, status, intent."""
    resource: Json = {"resourceType": kind, "id": ctx.id_for(kind, element)}
    ids = identifiers(children(element, "id"))
    if ids:
        resource["identifier"] = ids
    status = attr(child(element, "statusCode"), "code")
    resource["status"] = _STATUS.get(status, "unknown") if status else "active"
    if kind != "CommunicationRequest":
        resource["intent"] = INTENT.get(attr(element, "moodCode") or "", "plan")
    return resource


def _requester(resource: Json, element: etree._Element, ctx: ConversionContext) -> None:
    party = author_of(element, ctx)
    if party is not None:
        if party.time:
            resource["authoredOn"] = party.time
        who = party.role or party.who
        if ctx.type_of(who) in _REQUESTERS:
            resource["requester"] = who


def _code(element: etree._Element, ctx: ConversionContext) -> Json:
    code = concept(child(element, "code"), ctx)
    if code is not None:
        return code
    text = original_text(child(element, "text"), ctx)
    return {"text": text} if text else {"extension": [data_absent(child(element, "code"))]}


def service_request(element: etree._Element, ctx: ConversionContext) -> Json:
    """ServiceRequest for a planned act, encounter, procedure or observation."""
    resource = _request("ServiceRequest", element, ctx)
    priority = _PRIORITY.get(attr(child(element, "priorityCode"), "code") or "")
    if priority:
        resource["priority"] = priority
    if element.get("negationInd") == "true":
        resource["doNotPerform"] = True
    resource["code"] = _code(element, ctx)
    if ctx.patient:
        resource["subject"] = ctx.patient
    when = effective(child(element, "effectiveTime"), ctx)
    if when:
        resource["occurrence" + when[0]] = when[1]
    _requester(resource, element, ctx)
    doers = [p.role or p.who for p in performers(element, ctx, authors=False)]
    if doers:
        resource["performer"] = doers
    why = reasons(element, ctx)
    if why:
        resource["reasonCode"] = why
    sites = [s for s in (concept(e, ctx) for e in children(element, "targetSiteCode")) if s]
    if sites:
        resource["bodySite"] = sites
    return resource


def _instruction(act: etree._Element, ctx: ConversionContext) -> Json | None:
    text = original_text(child(act, "text"), ctx)
    code = concept(child(act, "code"), ctx)
    content = text or (code or {}).get("text") or text_of(child(act, "code", "originalText"))
    if not content:
        return None
    resource = _request("CommunicationRequest", act, ctx)
    if code:
        resource["category"] = [code]
    resource["payload"] = [{"contentString": content}]
    if act.get("negationInd") == "true":
        resource["doNotPerform"] = True
    if ctx.patient:
        resource["subject"] = ctx.patient
        resource["recipient"] = [ctx.patient]
    when = effective(child(act, "effectiveTime"), ctx)
    if when:
        resource["occurrence" + when[0]] = when[1]
    _requester(resource, act, ctx)
    return resource


def _supply(supply: etree._Element, ctx: ConversionContext) -> list[Json]:
    """Planned Supply: MedicationRequest for a medication, DeviceRequest (+ Device) for a device, else a
    ServiceRequest."""
    material = child(supply, "product", "manufacturedProduct", "manufacturedMaterial")
    drug = concept(child(material, "code"), ctx) if material is not None else None
    if drug is not None:
        resource = _request("MedicationRequest", supply, ctx)
        if resource["status"] == "revoked":
            resource["status"] = "cancelled"
        resource["medicationCodeableConcept"] = drug
        if ctx.patient:
            resource["subject"] = ctx.patient
        _requester(resource, supply, ctx)
        dispense: Json = {}
        amount = quantity(child(supply, "quantity"), ctx)
        if amount:
            dispense["quantity"] = amount
        validity = period(child(supply, "effectiveTime"), ctx)
        if validity:
            dispense["validityPeriod"] = validity
        if dispense:
            resource["dispenseRequest"] = dispense
        return [resource]
    role = next((child(p, "participantRole") for p in children(supply, "participant")), None)
    product = device(role, ctx) if role is not None else None
    if product is None:
        return [service_request(supply, ctx)]
    resource = _request("DeviceRequest", supply, ctx)
    resource["codeReference"] = reference(product["id"])
    if ctx.patient:
        resource["subject"] = ctx.patient
    when = effective(child(supply, "effectiveTime"), ctx)
    if when:
        resource["occurrence" + when[0]] = when[1]
    _requester(resource, supply, ctx)
    return [resource, product]
