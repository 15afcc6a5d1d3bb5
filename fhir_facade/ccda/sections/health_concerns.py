"""Health Concerns section (2.16.840.1.113883.10.20.22.2.58, LOINC 75310-3) → Condition (health-concern).

After C-CDA on FHIR and US Core Condition Problems and Health Concerns:

* Health Concern Act (4.132) and Risk Concern Act (4.136): each Problem Observation (4.4) it refers to →
  Condition with category ``health-concern`` (``problems.condition``, the act as the concern: its status
  gives the clinical status when the observation has none);
* a concern act referring to no problem observation (only its narrative, Entry References 4.122, or other
  kinds of observations) → one Condition from the act itself: its text (narrative reference resolved) is the
  code, ``effectiveTime`` the onset; without text either, nothing (the entry counts as not converted);
* a bare Problem Observation entry → Condition (health-concern);
* a Health Status Observation (4.5) → Observation keeping its code and value, no category (US Core has no
  profile for the patient's overall health status).
"""

from __future__ import annotations

from typing import Final

from lxml import etree

from fhir_facade.ccda.cda import V3, has_template
from fhir_facade.ccda.context import ConversionContext, Json
from fhir_facade.ccda.sections.base import Section, SectionSpec, convert_entries, related
from fhir_facade.ccda.sections.notes import NOTE_ACTIVITY, note_activity
from fhir_facade.ccda.sections.observation import observation
from fhir_facade.ccda.sections.problems import CATEGORY_SYSTEM, condition
from fhir_facade.ccda.templates import PROBLEM_OBSERVATION

__all__ = ["HEALTH_CONCERN", "SPEC", "convert_health_concerns", "health_concern"]

HEALTH_CONCERNS_SECTION: Final = "2.16.840.1.113883.10.20.22.2.58"
HEALTH_CONCERN_ACT: Final = "2.16.840.1.113883.10.20.22.4.132"
RISK_CONCERN_ACT: Final = "2.16.840.1.113883.10.20.22.4.136"
HEALTH_STATUS: Final = "2.16.840.1.113883.10.20.22.4.5"
HEALTH_CONCERN: Final[Json] = {
    "coding": [{"system": CATEGORY_SYSTEM, "code": "health-concern", "display": "Health Concern"}]
}


def convert_health_concerns(section: Section, ctx: ConversionContext) -> list[Json]:
    return convert_entries(section, ctx, "health concerns", _entry)


SPEC: Final = SectionSpec(
    "health concerns", (HEALTH_CONCERNS_SECTION,), ("75310-3",), convert_health_concerns
)


def _entry(statement: etree._Element, section: Section, ctx: ConversionContext) -> list[Json]:
    tag = statement.tag
    if tag == V3 + "observation":
        if has_template(statement, HEALTH_STATUS):
            resource = observation(statement, ctx, [])
            del resource["category"]
            return [resource]
        return [condition(statement, None, _category(), ctx)]
    if tag == V3 + "act":
        if has_template(statement, NOTE_ACTIVITY):
            return [note_activity(statement, ctx)]
        return health_concern(statement, ctx)
    return []


def _category() -> Json:
    return {"coding": [dict(HEALTH_CONCERN["coding"][0])]}


def health_concern(act: etree._Element, ctx: ConversionContext) -> list[Json]:
    """Conditions (health-concern) for a Health Concern or Risk Concern Act."""
    problems = [
        inner
        for inner in related(act, PROBLEM_OBSERVATION)
        if inner.tag == V3 + "observation" and inner.getparent().get("typeCode") != "SPRT"  # type: ignore[union-attr]
    ]
    if problems:
        return [condition(problem, act, _category(), ctx) for problem in problems]
    resource = condition(act, act, _category(), ctx)
    if "extension" in resource["code"]:  # no text either: a Condition saying nothing is not made
        ctx.tally("empty-concern", act, "health concern acts had no problem observation and no text")
        return []
    return [resource]
