"""Functional Status section (2.16.840.1.113883.10.20.22.2.14, LOINC 47420-5) → Observation / Condition;
the entry logic is shared with the Mental Status section (``mental_status.py``).

Categories follow US Core (us-core-category): ``functional-status`` here, ``cognitive-status`` for mental
status; an Assessment Scale Observation (4.69) is a screening assessment and adds ``survey``, its supporting
observations (4.86) becoming components.

* Functional Status Observation (4.67), Self-Care (4.128), Sensory Status (4.127), Mental Status Observation
  (4.74) and any other observation → Observation with the category;
* an organizer (Functional Status 4.66, Mental Status 4.75, or a Result Organizer) → a grouping Observation
  (organizer code, ``hasMember``) plus its members; an organizer without a code yields its members only;
* the R1.1 problem forms (Functional Status Problem 4.68, Cognitive Status Problem 4.73, Problem Observation
  4.4) → Condition (problem-list-item, reusing ``problems.condition``) with the section's category added;
* a Non-Medicinal Supply (4.50: an assistive device) → DeviceUseStatement + Device (``medical_equipment``).
"""

from __future__ import annotations

from typing import Final

from lxml import etree

from fhir_facade.ccda.cda import V3, attr, child, has_template
from fhir_facade.ccda.context import ConversionContext, Json, reference
from fhir_facade.ccda.datatypes import concept, effective
from fhir_facade.ccda.sections.base import Section, SectionSpec, convert_entries, entry_statement, related
from fhir_facade.ccda.sections.medical_equipment import SUPPLY, device_use
from fhir_facade.ccda.sections.notes import NOTE_ACTIVITY, note_activity
from fhir_facade.ccda.sections.observation import OBSERVATION_STATUS, observation, set_value
from fhir_facade.ccda.sections.problems import CATEGORY_SYSTEM, condition
from fhir_facade.ccda.sections.shared import category, identify
from fhir_facade.ccda.sections.social_history import prefer_datetime

__all__ = ["SPEC", "US_CORE_CATEGORY", "assessment_entry", "convert_functional_status"]

US_CORE_CATEGORY: Final = "http://hl7.org/fhir/us/core/CodeSystem/us-core-category"
FUNCTIONAL_STATUS_SECTION: Final = "2.16.840.1.113883.10.20.22.2.14"
_T: Final = "2.16.840.1.113883.10.20.22."
_PROBLEM_FORMS: Final = (_T + "4.68", _T + "4.73", _T + "4.4")
_ASSESSMENT_SCALE: Final = _T + "4.69"
_SUPPORTING: Final = _T + "4.86"
_KIND: Final = ("functional-status", "Functional Status")
_PROBLEM_LIST_ITEM: Final[Json] = {
    "coding": [{"system": CATEGORY_SYSTEM, "code": "problem-list-item", "display": "Problem List Item"}]
}


def convert_functional_status(section: Section, ctx: ConversionContext) -> list[Json]:
    return convert_entries(section, ctx, "functional status", _entry)


def _entry(statement: etree._Element, section: Section, ctx: ConversionContext) -> list[Json]:
    return assessment_entry(statement, _KIND, ctx)


SPEC: Final = SectionSpec(
    "functional status", (FUNCTIONAL_STATUS_SECTION,), ("47420-5",), convert_functional_status
)


def assessment_entry(statement: etree._Element, kind: tuple[str, str], ctx: ConversionContext) -> list[Json]:
    """Resources for one functional or mental status entry; ``kind`` is the us-core-category (code,
    display)."""
    tag = statement.tag
    if tag == V3 + "observation":
        if has_template(statement, *_PROBLEM_FORMS):
            return [_problem(statement, kind, ctx)]
        return [_observation(statement, kind, ctx)]
    if tag == V3 + "organizer":
        return _organizer(statement, kind, ctx)
    if tag == V3 + "supply" and has_template(statement, SUPPLY):
        return device_use(statement, ctx)
    if tag == V3 + "act":
        if has_template(statement, NOTE_ACTIVITY):
            return [note_activity(statement, ctx)]
        # a concern act (CCD problem act) around problem or status observations
        return [
            r for inner in related(statement) if inner.tag != tag for r in assessment_entry(inner, kind, ctx)
        ]
    return []


def _categories(kind: tuple[str, str], element: etree._Element) -> list[Json]:
    found = [category(kind[0], kind[1], US_CORE_CATEGORY)]
    if has_template(element, _ASSESSMENT_SCALE):
        found.append(category("survey", "Survey"))
    return found


def _observation(element: etree._Element, kind: tuple[str, str], ctx: ConversionContext) -> Json:
    resource = observation(element, ctx, _categories(kind, element))
    prefer_datetime(resource)
    if resource["status"] == "unknown" and child(element, "statusCode") is None:
        resource["status"] = "final"
    components = []
    for inner in related(element, _SUPPORTING):
        code = concept(child(inner, "code"), ctx)
        if code is None:
            continue
        component: Json = {"code": code}
        set_value(component, child(inner, "value"), ctx)
        components.append(component)
    if components:
        resource["component"] = components
    return resource


def _problem(element: etree._Element, kind: tuple[str, str], ctx: ConversionContext) -> Json:
    resource = condition(element, None, _PROBLEM_LIST_ITEM, ctx)
    resource["category"] = [*resource["category"], category(kind[0], kind[1], US_CORE_CATEGORY)]
    return resource


def _organizer(organizer: etree._Element, kind: tuple[str, str], ctx: ConversionContext) -> list[Json]:
    members: list[Json] = []
    for component in organizer.iterchildren(V3 + "component"):
        inner = entry_statement(component)
        if inner is not None:
            members.extend(assessment_entry(inner, kind, ctx))
    code = concept(child(organizer, "code"), ctx)
    if code is None or not members:
        return members
    panel: Json = {"resourceType": "Observation", "id": ctx.id_for("Observation", organizer)}
    identify(panel, organizer)
    grouped = [m for m in members if m["resourceType"] == "Observation"]
    status = attr(child(organizer, "statusCode"), "code")
    panel["status"] = OBSERVATION_STATUS.get(status or "", "final" if status is None else "unknown")
    panel["category"] = _categories(kind, organizer)
    panel["code"] = code
    if ctx.patient:
        panel["subject"] = ctx.patient
    when = effective(child(organizer, "effectiveTime"), ctx)
    if when:
        panel["effective" + when[0]] = when[1]
        prefer_datetime(panel)
    if grouped:
        panel["hasMember"] = [reference(m["id"]) for m in grouped]
    return [panel, *members]
