"""Health Concerns section (2.16.840.1.113883.10.20.22.2.58, LOINC 75310-3) → Condition (health-concern).

After C-CDA on FHIR and US Core Condition Problems and Health Concerns (category ``health-concern`` from the
US Core condition-category code system):

* Health Concern Act (4.132) and Risk Concern Act (4.136): each Problem Observation (4.4) it refers to →
  Condition with category ``health-concern`` (``problems.condition``, the act as the concern: its status
  gives the clinical status when the observation has none);
* a concern act referring to no problem observation but with text (narrative reference resolved) → one
  Condition from the act itself: its text is the code, ``effectiveTime`` the onset;
* a concern act with neither, whose entries (Entry References 4.122, or copies of entries) carry the ``id``
  of an entry converted elsewhere in the document: linked, not duplicated. A C-CDA health concern wraps a
  concern kept elsewhere in the record (problem list, social history...): a Condition made from that entry
  gets the ``health-concern`` category besides its own and is listed in this section; an Observation with a
  coded value becomes a health-concern Condition with that value as its code and the Observation as its
  ``evidence``; a FamilyMemberHistory (the concern's entry is a Family History Organizer, by ``id`` or as a
  copy of one: ``family_history.copied`` finds the relative already converted, else converts the copy)
  becomes a health-concern Condition coded SNOMED CT 416471007 "Family history of clinical finding", its
  text naming the relatives and conditions, with the FamilyMemberHistory as its ``evidence``. Nothing to
  link to and no text: nothing (the entry counts as not converted);
* a bare Problem Observation entry → Condition (health-concern);
* a Health Status Observation (4.5) → Observation keeping its code and value, no category (US Core has no
  profile for the patient's overall health status).

Linking sees the entries converted before the concern (the Health Concerns section normally follows the
sections it refers to); a reference to one not converted (yet) is counted.
"""

from __future__ import annotations

import copy
from typing import Final

from lxml import etree

from fhir_facade.ccda.cda import V3, has_template
from fhir_facade.ccda.context import ConversionContext, Json, identity_key, reference
from fhir_facade.ccda.sections.base import Section, SectionSpec, convert_entries, related
from fhir_facade.ccda.sections.family_history import FAMILY_HISTORY_ORGANIZER, copied, family_history_concept
from fhir_facade.ccda.sections.notes import NOTE_ACTIVITY, note_activity
from fhir_facade.ccda.sections.observation import observation
from fhir_facade.ccda.sections.problems import condition
from fhir_facade.ccda.templates import PROBLEM_OBSERVATION

__all__ = ["HEALTH_CONCERN", "SPEC", "US_CORE_CATEGORY_SYSTEM", "convert_health_concerns", "health_concern"]

HEALTH_CONCERNS_SECTION: Final = "2.16.840.1.113883.10.20.22.2.58"
HEALTH_STATUS: Final = "2.16.840.1.113883.10.20.22.4.5"
ENTRY_REFERENCE: Final = "2.16.840.1.113883.10.20.22.4.122"
US_CORE_CATEGORY_SYSTEM: Final = "http://hl7.org/fhir/us/core/CodeSystem/condition-category"
HEALTH_CONCERN: Final[Json] = {
    "coding": [{"system": US_CORE_CATEGORY_SYSTEM, "code": "health-concern", "display": "Health Concern"}]
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
    if "extension" not in resource["code"]:
        return [resource]
    # No text either: the concern is an entry kept elsewhere in the document, if it names one.
    linked = _linked(act, resource, ctx)
    if not linked:  # a Condition saying nothing is not made
        ctx.tally("empty-concern", act, "health concern acts had no problem observation and no text")
    return linked


def _linked(act: etree._Element, concern: Json, ctx: ConversionContext) -> list[Json]:
    """The resources for the entries ``act`` refers to by ``id`` that were converted elsewhere (see above);
    ``concern`` is the Condition made from the act, used when an Observation or a FamilyMemberHistory is the
    evidence."""
    conditions: list[Json] = []
    evidence: list[Json] = []
    families: list[Json] = []
    for inner in related(act):
        key = identity_key(inner)
        made = ctx.made_from.get(key, ()) if key is not None else ()
        targets = [ctx.resources[rid] for rid in made if rid in ctx.resources]
        if not targets and inner.tag == V3 + "organizer" and has_template(inner, FAMILY_HISTORY_ORGANIZER):
            found = copied(inner, ctx)  # a copy of a family history organizer, not (yet) linked by its id
            targets = [found] if found is not None else []
        if not targets and has_template(inner, ENTRY_REFERENCE):
            ctx.tally(
                "concern-reference",
                inner,
                "health concern entry references named no entry converted before them",
            )
        for target in targets:
            if target["resourceType"] == "Condition":
                if all(target is not c for c in conditions):
                    conditions.append(target)
            elif target["resourceType"] == "Observation" and target.get("valueCodeableConcept"):
                evidence.append(target)
            elif target["resourceType"] == "FamilyMemberHistory" and all(target is not f for f in families):
                families.append(target)
    for target in conditions:
        categories = target.setdefault("category", [])
        if not any(_is_health_concern(c) for c in categories):
            categories.append(_category())
    if evidence or families:
        if evidence:
            concern["code"] = copy.deepcopy(evidence[0]["valueCodeableConcept"])
        else:
            concern["code"] = family_history_concept(families)
        concern["evidence"] = [{"detail": [reference(target["id"]) for target in (*evidence, *families)]}]
        return [*conditions, concern]
    return conditions


def _is_health_concern(category: Json) -> bool:
    return any(
        c.get("code") == "health-concern" and c.get("system") == US_CORE_CATEGORY_SYSTEM
        for c in category.get("coding", ())
    )
