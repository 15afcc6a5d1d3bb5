"""Problem section (2.16.840.1.113883.10.20.22.2.5[.1], LOINC 11450-4) → Condition (problem-list-item).

One Condition per Problem Observation (4.4), usually inside a Problem Concern Act (4.3). After C-CDA on FHIR:
``value`` (with its translations, e.g. ICD-10-CM) is the code, ``effectiveTime/low`` the onset and ``high``
the abatement; the clinical status comes from the Problem Status observation (4.6), else from the
observation having ended, else from the concern act's status; ``negationInd="true"`` makes the verification
status ``refuted``.

:func:`condition` is public so the Health Concerns and Encounter Diagnosis converters can reuse it with their
own category.
"""

from __future__ import annotations

from typing import Final

from lxml import etree

from fhir_facade.ccda.cda import V3, child, children, has_template
from fhir_facade.ccda.context import ConversionContext, Json
from fhir_facade.ccda.datatypes import concept, data_absent, identifiers, original_text, ts, ts_value
from fhir_facade.ccda.datatypes.quantity import quantity
from fhir_facade.ccda.participants import Party, author_of, author_time
from fhir_facade.ccda.sections.base import Section, SectionSpec, convert_entries, related
from fhir_facade.ccda.sections.status import (
    CONDITION_CLINICAL,
    CONDITION_VERIFICATION,
    clinical_status,
    status_concept,
)
from fhir_facade.ccda.templates import (
    HEALTH_CONCERN_ACT,
    PROBLEM_CONCERN_ACT,
    PROBLEM_OBSERVATION,
    PROBLEM_STATUS,
    PROBLEMS_SECTION,
    PROBLEMS_SECTION_ENTRIES,
    RISK_CONCERN_ACT,
)

__all__ = ["CATEGORY_SYSTEM", "SPEC", "condition", "convert_problems"]

CATEGORY_SYSTEM: Final = "http://terminology.hl7.org/CodeSystem/condition-category"
_PROBLEM_LIST_ITEM: Final[Json] = {
    "coding": [{"system": CATEGORY_SYSTEM, "code": "problem-list-item", "display": "Problem List Item"}]
}
_AGE_AT_ONSET: Final = "2.16.840.1.113883.10.20.22.4.31"
_CONCERN_ACTS: Final = (PROBLEM_CONCERN_ACT, HEALTH_CONCERN_ACT, RISK_CONCERN_ACT)
_RECORDERS: Final = frozenset({"Practitioner", "PractitionerRole", "Patient", "RelatedPerson"})


def convert_problems(section: Section, ctx: ConversionContext) -> list[Json]:
    return convert_entries(section, ctx, "problems", _entry)


SPEC: Final = SectionSpec(
    "problems", (PROBLEMS_SECTION, PROBLEMS_SECTION_ENTRIES), ("11450-4",), convert_problems
)


def _entry(statement: etree._Element, section: Section, ctx: ConversionContext) -> list[Json]:
    if statement.tag == V3 + "observation" and not has_template(statement, PROBLEM_CONCERN_ACT):
        return [condition(statement, None, _PROBLEM_LIST_ITEM, ctx)]
    observations = list(related(statement, PROBLEM_OBSERVATION)) or list(related(statement, type_code="SUBJ"))
    return [condition(observation, statement, _PROBLEM_LIST_ITEM, ctx) for observation in observations]


def condition(
    observation: etree._Element, concern: etree._Element | None, category: Json, ctx: ConversionContext
) -> Json:
    """Condition from a Problem Observation (and its concern act, when wrapped in one)."""
    resource: Json = {"resourceType": "Condition", "id": ctx.id_for("Condition", observation)}
    ids = identifiers(children(observation, "id"))
    if ids:
        resource["identifier"] = ids
    negated = observation.get("negationInd") == "true"
    status = clinical_status(observation, concern, PROBLEM_STATUS)
    resource["clinicalStatus"] = status_concept(CONDITION_CLINICAL, status)
    resource["verificationStatus"] = status_concept(
        CONDITION_VERIFICATION, "refuted" if negated else "confirmed"
    )
    resource["category"] = [category]
    value = child(observation, "value")
    code = concept(value, ctx)
    if code is None:
        code = _text(observation, ctx) or {"extension": [data_absent(value)]}
    resource["code"] = code
    if ctx.patient:
        resource["subject"] = ctx.patient
    when = child(observation, "effectiveTime")
    onset = ts_value(when, ctx)
    if onset:
        resource["onsetDateTime"] = onset
    else:
        age = _age_at_onset(observation, ctx)
        if age:
            resource["onsetAge"] = age
    abatement = ts(child(when, "high"), ctx)
    if abatement:
        resource["abatementDateTime"] = abatement
    party = author_of(observation, ctx) or (author_of(concern, ctx) if concern is not None else None)
    recorded = _recorded(observation, concern, party, ctx)
    if recorded:
        resource["recordedDate"] = recorded
    if party is not None and ctx.type_of(party.who) in _RECORDERS:
        resource["recorder"] = party.who
    return resource


def _recorded(
    observation: etree._Element, concern: etree._Element | None, party: Party | None, ctx: ConversionContext
) -> str | None:
    """Condition.recordedDate: the author's time (the observation's first, then the concern act's, even from
    an author that cannot be identified), else when a concern act began (C-CDA on FHIR maps the Problem
    Concern Act's author time, and its ``effectiveTime/low``, the time the concern was noted)."""
    if party is not None and party.time:
        return party.time
    recorded = author_time(observation, ctx)
    if recorded is None and concern is not None:
        recorded = author_time(concern, ctx)
        if recorded is None and has_template(concern, *_CONCERN_ACTS):
            recorded = ts(child(concern, "effectiveTime", "low"), ctx)
    return recorded


def _text(observation: etree._Element, ctx: ConversionContext) -> Json | None:
    text = original_text(child(observation, "text"), ctx)
    return {"text": text} if text else None


def _age_at_onset(observation: etree._Element, ctx: ConversionContext) -> Json | None:
    for inner in related(observation, _AGE_AT_ONSET):
        age = quantity(child(inner, "value"), ctx)
        if age and age.get("code") in ("a", "mo", "wk", "d", "h", "min"):
            return age
    return None
