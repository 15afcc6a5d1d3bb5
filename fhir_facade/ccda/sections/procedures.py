"""Procedures section (2.16.840.1.113883.10.20.22.2.7[.1], LOINC 47519-4) → Procedure, Observation,
ServiceRequest.

After C-CDA on FHIR (Procedures), by template and, without one, by element: a Procedure Activity Procedure
(4.14, ``procedure``) and a Procedure Activity Act (4.12, ``act``) become a Procedure; a Procedure Activity
Observation (4.13, ``observation``) an Observation in category ``procedure``. An activity not in mood ``EVN``
(``INT`` intended, ``RQO`` requested, ``PRP``/``PRMS`` proposed, ``ARQ`` appointment request) did not happen:
it becomes a ServiceRequest whose intent follows :data:`INTENT`.

Procedure status follows ConceptMap CF-ProcedureStatus (``negationInd="true"`` → ``not-done``);
``effectiveTime`` → performed[x]; performers (with their organization as ``onBehalfOf``), ``targetSiteCode``
→ bodySite, Indications (4.19) → reasonCode, the Service Delivery Location (4.32) → location, the author →
recorder.
"""

from __future__ import annotations

from typing import Final

from lxml import etree

from fhir_facade.ccda.cda import V3, attr, child, children
from fhir_facade.ccda.context import ConversionContext, Json
from fhir_facade.ccda.datatypes import concept, effective
from fhir_facade.ccda.participants import author_of
from fhir_facade.ccda.sections.base import Section, SectionSpec, convert_entries
from fhir_facade.ccda.sections.observation import code_or_absent, observation
from fhir_facade.ccda.sections.shared import (
    PROCEDURES_SECTION,
    category,
    identify,
    locations,
    performers,
    reasons,
    statements,
)

__all__ = ["INTENT", "PROCEDURE_STATUS", "SPEC", "convert_procedures", "procedure_activity"]

PROCEDURE_STATUS: Final[dict[str, str]] = {
    "completed": "completed",
    "active": "in-progress",
    "aborted": "stopped",
    "cancelled": "not-done",
    "held": "on-hold",
    "suspended": "on-hold",
    "new": "preparation",
    "nullified": "entered-in-error",
}
_REQUEST_STATUS: Final[dict[str, str]] = {
    "active": "active",
    "completed": "completed",
    "new": "draft",
    "aborted": "revoked",
    "cancelled": "revoked",
    "held": "on-hold",
    "suspended": "on-hold",
    "nullified": "entered-in-error",
}
INTENT: Final[dict[str, str]] = {
    "INT": "plan",
    "RQO": "order",
    "ARQ": "order",
    "APT": "order",
    "PRP": "proposal",
    "PRMS": "proposal",
}
"""``moodCode`` → ServiceRequest.intent."""
_ACTIVITIES: Final = frozenset({V3 + "procedure", V3 + "act", V3 + "observation"})
_RECORDERS: Final = frozenset({"Practitioner", "PractitionerRole", "Patient", "RelatedPerson"})
_ACTORS: Final = frozenset({"Practitioner", "PractitionerRole", "Organization", "Patient", "Device"})


def convert_procedures(section: Section, ctx: ConversionContext) -> list[Json]:
    return convert_entries(section, ctx, "procedures", _entry)


SPEC: Final = SectionSpec("procedures", PROCEDURES_SECTION, ("47519-4",), convert_procedures)


def _entry(statement: etree._Element, section: Section, ctx: ConversionContext) -> list[Json]:
    if statement.tag in _ACTIVITIES:
        return [procedure_activity(statement, ctx)]
    return [procedure_activity(inner, ctx) for inner in statements(statement, "procedure")]


def procedure_activity(element: etree._Element, ctx: ConversionContext) -> Json:
    """Procedure, Observation or ServiceRequest for a procedure activity, by element and mood."""
    mood = attr(element, "moodCode") or "EVN"
    if mood != "EVN":
        return _request(element, mood, ctx)
    if element.tag == V3 + "observation":
        return observation(element, ctx, [category("procedure", "Procedure")])
    return _procedure(element, ctx)


def _procedure(element: etree._Element, ctx: ConversionContext) -> Json:
    resource: Json = {"resourceType": "Procedure", "id": ctx.id_for("Procedure", element)}
    identify(resource, element)
    status = attr(child(element, "statusCode"), "code") or ""
    if element.get("negationInd") == "true":
        resource["status"] = "not-done"
    else:
        resource["status"] = PROCEDURE_STATUS.get(status, "unknown")
    resource["code"] = code_or_absent(child(element, "code"), ctx)
    if ctx.patient:
        resource["subject"] = ctx.patient
    when = effective(child(element, "effectiveTime"), ctx)
    if when:
        resource["performed" + when[0]] = when[1]
    party = author_of(element, ctx)
    if party is not None and ctx.type_of(party.who) in _RECORDERS:
        resource["recorder"] = party.who
    done_by: list[Json] = []
    for performer in performers(element, ctx, authors=False):
        if ctx.type_of(performer.who) not in _ACTORS:
            continue
        entry: Json = {"actor": performer.who}
        if performer.organization and performer.organization != performer.who:
            entry["onBehalfOf"] = performer.organization
        done_by.append(entry)
    if done_by:
        resource["performer"] = done_by
    places = locations(element, ctx)
    if places:
        resource["location"] = places[0]
    _common(resource, element, ctx)
    return resource


def _common(resource: Json, element: etree._Element, ctx: ConversionContext) -> None:
    why = reasons(element, ctx)
    if why:
        resource["reasonCode"] = why
    sites = [s for s in (concept(e, ctx) for e in children(element, "targetSiteCode")) if s]
    if sites:
        resource["bodySite"] = sites


def _request(element: etree._Element, mood: str, ctx: ConversionContext) -> Json:
    resource: Json = {"resourceType": "ServiceRequest", "id": ctx.id_for("ServiceRequest", element)}
    identify(resource, element)
    status = attr(child(element, "statusCode"), "code") or ""
    resource["status"] = _REQUEST_STATUS.get(status, "unknown")
    resource["intent"] = INTENT.get(mood, "plan")
    if element.get("negationInd") == "true":
        resource["doNotPerform"] = True
    resource["code"] = code_or_absent(child(element, "code"), ctx)
    if ctx.patient:
        resource["subject"] = ctx.patient
    when = effective(child(element, "effectiveTime"), ctx)
    if when:
        resource["occurrence" + when[0]] = when[1]
    party = author_of(element, ctx)
    if party is not None:
        if party.time:
            resource["authoredOn"] = party.time
        if ctx.type_of(party.who) in _ACTORS:
            resource["requester"] = party.who
    done_by = [p.who for p in performers(element, ctx, authors=False) if ctx.type_of(p.who) in _ACTORS]
    if done_by:
        resource["performer"] = done_by
    places = locations(element, ctx)
    if places:
        resource["locationReference"] = places
    _common(resource, element, ctx)
    return resource
