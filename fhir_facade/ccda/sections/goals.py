"""Goals section (2.16.840.1.113883.10.20.22.2.60, LOINC 61146-7) → Goal.

Goal Observation (4.121, mood ``GOL``), after C-CDA on FHIR (Goals) and US Core Goal:

* ``code`` → ``description`` (its narrative text when uncoded; the observation ``text`` else; a
  data-absent-reason as last resort) and, when the goal has a ``value``, ``target.measure``;
* ``value`` → ``target.detail[x]`` (PQ → Quantity, IVL_PQ → Range, coded → CodeableConcept, text → string);
* ``effectiveTime``: ``@value`` or ``low`` → ``startDate``, ``high`` → ``target.dueDate``;
* ``statusCode`` → ``lifecycleStatus`` (``active`` when unstated: the template allows no other status);
* the author → ``expressedBy`` (a patient-authored goal names the Patient) and its time ``statusDate``;
* Priority Preference (4.143) → ``priority`` (SNOMED high/medium/low priority kept as sent);
* Progress Toward Goal (4.110) → ``achievementStatus`` (its value as a concept).

:func:`goal` is public for the Plan of Treatment section, which may hold Goal Observations too.
"""

from __future__ import annotations

from typing import Final

from lxml import etree

from fhir_facade.ccda.cda import V3, attr, child, children, has_template, xsi_type
from fhir_facade.ccda.context import ConversionContext, Json
from fhir_facade.ccda.datatypes import (
    concept,
    data_absent,
    identifiers,
    original_text,
    to_date,
    ts,
)
from fhir_facade.ccda.datatypes.quantity import quantity, range_
from fhir_facade.ccda.participants import author_of
from fhir_facade.ccda.sections.base import Section, SectionSpec, convert_entries, related
from fhir_facade.ccda.sections.notes import NOTE_ACTIVITY, note_activity

__all__ = ["GOAL_OBSERVATION", "SPEC", "convert_goals", "goal"]

GOALS_SECTION: Final = "2.16.840.1.113883.10.20.22.2.60"
GOAL_OBSERVATION: Final = "2.16.840.1.113883.10.20.22.4.121"
_PRIORITY: Final = "2.16.840.1.113883.10.20.22.4.143"
_PROGRESS: Final = "2.16.840.1.113883.10.20.22.4.110"
_LIFECYCLE: Final[dict[str, str]] = {
    "active": "active",
    "completed": "completed",
    "cancelled": "cancelled",
    "aborted": "cancelled",
    "suspended": "on-hold",
    "held": "on-hold",
    "new": "proposed",
    "nullified": "entered-in-error",
}
_EXPRESSERS: Final = frozenset({"Patient", "Practitioner", "PractitionerRole", "RelatedPerson"})
_CODED: Final = frozenset({"CD", "CE", "CV", "CO", "CS"})


def convert_goals(section: Section, ctx: ConversionContext) -> list[Json]:
    return convert_entries(section, ctx, "goals", _entry)


SPEC: Final = SectionSpec("goals", (GOALS_SECTION,), ("61146-7",), convert_goals)


def _entry(statement: etree._Element, section: Section, ctx: ConversionContext) -> list[Json]:
    if statement.tag == V3 + "observation":
        return [goal(statement, ctx)]
    if statement.tag == V3 + "act" and has_template(statement, NOTE_ACTIVITY):
        return [note_activity(statement, ctx)]
    return []


def goal(element: etree._Element, ctx: ConversionContext) -> Json:
    """Goal for a Goal Observation."""
    resource: Json = {"resourceType": "Goal", "id": ctx.id_for("Goal", element)}
    ids = identifiers(children(element, "id"))
    if ids:
        resource["identifier"] = ids
    status = attr(child(element, "statusCode"), "code") or "active"
    resource["lifecycleStatus"] = _LIFECYCLE.get(status, "active")
    progress = next((concept(child(p, "value"), ctx) for p in related(element, _PROGRESS)), None)
    if progress:
        resource["achievementStatus"] = progress
    priority = next((concept(child(p, "value"), ctx) for p in related(element, _PRIORITY)), None)
    if priority:
        resource["priority"] = priority
    code = concept(child(element, "code"), ctx)
    text = original_text(child(element, "text"), ctx)
    description = dict(code) if code else ({"text": text} if text else None)
    if description is not None and text and "text" not in description:
        description["text"] = text
    resource["description"] = description or {"extension": [data_absent(child(element, "code"))]}
    if ctx.patient:
        resource["subject"] = ctx.patient
    when = child(element, "effectiveTime")
    start = ts(when, ctx) if when is not None and when.get("value") else ts(child(when, "low"), ctx)
    if start:
        resource["startDate"] = to_date(start)
    target: Json = {}
    value = child(element, "value")
    if code and value is not None and value.get("nullFlavor") is None:  # gol-1: a detail needs a measure
        detail = _detail(value, ctx)
        if detail is not None:
            target["measure"] = code
            target["detail" + detail[0]] = detail[1]
    due = ts(child(when, "high"), ctx)
    if due:
        target["dueDate"] = to_date(due)
    if target:
        resource["target"] = [target]
    party = author_of(element, ctx)
    if party is not None:
        if party.time:
            resource["statusDate"] = to_date(party.time)
        if ctx.type_of(party.who) in _EXPRESSERS:
            resource["expressedBy"] = party.who
    return resource


def _detail(value: etree._Element, ctx: ConversionContext) -> tuple[str, Json | str] | None:
    kind = xsi_type(value)
    if kind in _CODED:
        found = concept(value, ctx)
        return ("CodeableConcept", found) if found else None
    if kind == "IVL_PQ" and value.get("value") is None:
        found = range_(value, ctx)
        return ("Range", found) if found else None
    if kind in ("PQ", "IVL_PQ", "REAL", "INT"):
        found = quantity(value, ctx)
        return ("Quantity", found) if found else None
    text = original_text(value, ctx) if kind == "ED" else " ".join("".join(value.itertext()).split())
    return ("String", text) if text else None
