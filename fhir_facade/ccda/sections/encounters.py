"""Encounters section (2.16.840.1.113883.10.20.22.2.22[.1], LOINC 46240-8) → Encounter, Location, Condition.

After C-CDA on FHIR (Encounters): one Encounter per Encounter Activity (4.49). ``class`` is the V3 ActCode
found in the code or a translation; without one, a CPT evaluation-and-management code gives it through
:data:`CPT_CLASS`, else it is ``UNK`` (v3-NullFlavor), as for the header's encounter. The code is the
``type``; ``effectiveTime`` the period; performers the participants; a Service Delivery Location (4.32)
participant a Location; ``sdtc:dischargeDispositionCode`` the discharge disposition; Indications (4.19) the
reasons. Each Encounter Diagnosis (4.80) becomes a Condition in category ``encounter-diagnosis`` (through
``problems.condition``), listed in ``diagnosis``.

Status: the ``statusCode`` through :data:`ENCOUNTER_STATUS`; without one, an encounter in mood ``EVN`` with a
time is ``finished``, anything else ``unknown``. An Encounter Activity sharing its ``id`` with the header's
encompassingEncounter (or an earlier activity) is the same encounter: what it adds fills the gaps of the
resource already made instead of making a second one.
"""

from __future__ import annotations

from typing import Final

from lxml import etree

from fhir_facade.ccda.cda import V3, attr, child, children, sdtc
from fhir_facade.ccda.context import ConversionContext, Json, reference
from fhir_facade.ccda.datatypes import code_of, concept, period
from fhir_facade.ccda.participants import assigned_party
from fhir_facade.ccda.sections.base import Section, SectionSpec, convert_entries, related
from fhir_facade.ccda.sections.observation import code_or_absent
from fhir_facade.ccda.sections.problems import CATEGORY_SYSTEM, condition
from fhir_facade.ccda.sections.shared import (
    ENCOUNTER_DIAGNOSIS,
    ENCOUNTERS_SECTION,
    category,
    identify,
    locations,
    reasons,
    statements,
)
from fhir_facade.ccda.templates import PROBLEM_OBSERVATION

__all__ = ["CPT_CLASS", "ENCOUNTER_STATUS", "SPEC", "convert_encounters", "encounter_activity"]

ENCOUNTER_STATUS: Final[dict[str, str]] = {
    "completed": "finished",
    "active": "in-progress",
    "aborted": "cancelled",
    "cancelled": "cancelled",
    "new": "planned",
    "held": "onhold",
    "suspended": "onhold",
    "nullified": "entered-in-error",
}
_ACT_CODE: Final = "2.16.840.1.113883.5.4"
_CPT: Final = "2.16.840.1.113883.6.12"
_ACT_CODE_URI: Final = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
_PARTICIPATION: Final = "http://terminology.hl7.org/CodeSystem/v3-ParticipationType"
CPT_CLASS: Final[tuple[tuple[int, int, str, str], ...]] = (
    (99201, 99215, "AMB", "ambulatory"),
    (99241, 99245, "AMB", "ambulatory"),
    (99381, 99429, "AMB", "ambulatory"),
    (99281, 99288, "EMER", "emergency"),
    (99217, 99220, "OBSENC", "observation encounter"),
    (99221, 99239, "IMP", "inpatient encounter"),
    (99251, 99255, "IMP", "inpatient encounter"),
    (99341, 99350, "HH", "home health"),
    (99421, 99423, "VR", "virtual"),
    (99441, 99443, "VR", "virtual"),
)
"""CPT evaluation-and-management code ranges → V3 ActCode encounter class."""
_UNKNOWN_CLASS: Final[Json] = {
    "system": "http://terminology.hl7.org/CodeSystem/v3-NullFlavor",
    "code": "UNK",
    "display": "unknown",
}
_DIAGNOSIS_CODE: Final = "29308-4"
_INDIVIDUALS: Final = frozenset({"Practitioner", "PractitionerRole", "RelatedPerson"})


def convert_encounters(section: Section, ctx: ConversionContext) -> list[Json]:
    return convert_entries(section, ctx, "encounters", _entry)


SPEC: Final = SectionSpec("encounters", ENCOUNTERS_SECTION, ("46240-8",), convert_encounters)


def _entry(statement: etree._Element, section: Section, ctx: ConversionContext) -> list[Json]:
    if statement.tag == V3 + "encounter":
        return encounter_activity(statement, ctx)
    found: list[Json] = []
    for inner in statements(statement, "encounter"):
        found.extend(encounter_activity(inner, ctx))
    return found


def encounter_activity(element: etree._Element, ctx: ConversionContext) -> list[Json]:
    """The Encounter (first) and its encounter-diagnosis Conditions for an Encounter Activity."""
    rid = ctx.id_for("Encounter", element, shared=True)
    resource: Json = {"resourceType": "Encounter", "id": rid}
    identify(resource, element)
    when = period(child(element, "effectiveTime"), ctx)
    status = attr(child(element, "statusCode"), "code")
    if status:
        resource["status"] = ENCOUNTER_STATUS.get(status, "unknown")
    else:
        evn = (attr(element, "moodCode") or "EVN") == "EVN"
        resource["status"] = "finished" if evn and when else "unknown"
    code = child(element, "code")
    resource["class"] = _class(code)
    resource["type"] = [code_or_absent(code, ctx)]
    if ctx.patient:
        resource["subject"] = ctx.patient
    participants = _participants(element, ctx)
    if participants:
        resource["participant"] = participants
    if when:
        resource["period"] = when
    why = reasons(element, ctx)
    if why:
        resource["reasonCode"] = why
    conditions = _diagnoses(element, rid, ctx)
    if conditions:
        resource["diagnosis"] = [{"condition": reference(c["id"])} for c in conditions]
    disposition = concept(next(element.iterchildren(sdtc("dischargeDispositionCode")), None), ctx)
    if disposition:
        resource["hospitalization"] = {"dischargeDisposition": disposition}
    places = locations(element, ctx)
    if places:
        resource["location"] = [{"location": place} for place in places]
    existing = ctx.resources.get(rid)
    if existing is not None and existing["resourceType"] == "Encounter":
        for key, value in resource.items():
            existing.setdefault(key, value)
        return [existing, *conditions]
    return [resource, *conditions]


def _class(code: etree._Element | None) -> Json:
    if code is None:
        return dict(_UNKNOWN_CLASS)
    candidates = (code, *children(code, "translation"))
    for candidate in candidates:
        value = code_of(candidate)
        if value and attr(candidate, "codeSystem") == _ACT_CODE:
            found: Json = {"system": _ACT_CODE_URI, "code": value}
            display = attr(candidate, "displayName")
            if display:
                found["display"] = display
            return found
    for candidate in candidates:
        value = code_of(candidate)
        if value and value.isdigit() and attr(candidate, "codeSystem") == _CPT:
            number = int(value)
            for low, high, act, display in CPT_CLASS:
                if low <= number <= high:
                    return {"system": _ACT_CODE_URI, "code": act, "display": display}
    return dict(_UNKNOWN_CLASS)


def _participants(element: etree._Element, ctx: ConversionContext) -> list[Json]:
    """``performer`` → participant: the person (or their role), typed by ``@typeCode`` and
    ``sdtc:functionCode``."""
    found: list[Json] = []
    for performer in children(element, "performer"):
        party = assigned_party(child(performer, "assignedEntity"), ctx)
        if party is None or ctx.type_of(party.who) not in _INDIVIDUALS:
            continue
        kinds: list[Json] = [
            {"coding": [{"system": _PARTICIPATION, "code": attr(performer, "typeCode") or "PRF"}]}
        ]
        function = concept(next(performer.iterchildren(sdtc("functionCode")), None), ctx)
        if function:
            kinds.append(function)
        found.append({"type": kinds, "individual": party.role or party.who})
    return found


def _diagnoses(element: etree._Element, encounter_id: str, ctx: ConversionContext) -> list[Json]:
    found: list[Json] = []
    kind = category("encounter-diagnosis", "Encounter Diagnosis", CATEGORY_SYSTEM)
    for act in related(element):
        if not _is_diagnosis(act):
            continue
        observations = list(related(act, PROBLEM_OBSERVATION)) or list(statements(act, "observation"))
        for observation in observations:
            resource = condition(observation, act, kind, ctx)
            resource["encounter"] = reference(encounter_id)
            found.append(resource)
    return found


def _is_diagnosis(act: etree._Element) -> bool:
    if act.tag != V3 + "act":
        return False
    return any(t.get("root") == ENCOUNTER_DIAGNOSIS for t in act.iterchildren(V3 + "templateId")) or (
        code_of(child(act, "code")) == _DIAGNOSIS_CODE
    )
