"""Care Teams section (2.16.840.1.113883.10.20.22.2.500, LOINC 85847-2) → CareTeam.

Care Team Organizer (4.500), after C-CDA on FHIR (Care Team) and US Core CareTeam:

* ``code/originalText`` (the team's name in the narrative) → ``name``; ``statusCode`` → ``status``;
  ``effectiveTime`` → ``period``; the Care Team Type Observation (4.500.2) values → ``category``; the author
  → ``managingOrganization`` when it is an organization (a person author's organization otherwise);
* each Care Team Member Act (4.500.1) → a ``participant``: its ``performer/assignedEntity`` a Practitioner
  (``participants.assigned_party``; PractitionerRole when it has a role or organization),
  ``sdtc:functionCode``
  the role (US Core requires one: data-absent-reason when the member has none), the act's ``effectiveTime``
  the period, the represented organization ``onBehalfOf``;
* the lead (``participant[@typeCode=PPRF]``, matching a member by id) is listed first.
"""

from __future__ import annotations

from typing import Final

from lxml import etree

from fhir_facade.ccda.cda import V3, attr, child, children, has_template, sdtc
from fhir_facade.ccda.context import ConversionContext, Json
from fhir_facade.ccda.datatypes import concept, data_absent, identifiers, original_text, period
from fhir_facade.ccda.participants import assigned_party, author_of
from fhir_facade.ccda.sections.base import Section, SectionSpec, convert_entries, entry_statement
from fhir_facade.ccda.sections.notes import NOTE_ACTIVITY, note_activity

__all__ = ["SPEC", "care_team", "convert_care_teams"]

CARE_TEAMS_SECTION: Final = "2.16.840.1.113883.10.20.22.2.500"
CARE_TEAM_ORGANIZER: Final = "2.16.840.1.113883.10.20.22.4.500"
MEMBER_ACT: Final = "2.16.840.1.113883.10.20.22.4.500.1"
TYPE_OBSERVATION: Final = "2.16.840.1.113883.10.20.22.4.500.2"
_STATUS: Final[dict[str, str]] = {
    "active": "active",
    "completed": "inactive",
    "aborted": "inactive",
    "cancelled": "inactive",
    "suspended": "suspended",
    "held": "suspended",
    "new": "proposed",
    "nullified": "entered-in-error",
}
_MEMBERS: Final = frozenset({"Practitioner", "PractitionerRole", "Organization", "Patient", "RelatedPerson"})


def convert_care_teams(section: Section, ctx: ConversionContext) -> list[Json]:
    return convert_entries(section, ctx, "care teams", _entry)


SPEC: Final = SectionSpec("care teams", (CARE_TEAMS_SECTION,), ("85847-2",), convert_care_teams)


def _entry(statement: etree._Element, section: Section, ctx: ConversionContext) -> list[Json]:
    if statement.tag == V3 + "organizer":
        return [care_team(statement, ctx)]
    if statement.tag == V3 + "act" and has_template(statement, NOTE_ACTIVITY):
        return [note_activity(statement, ctx)]
    return []


def care_team(organizer: etree._Element, ctx: ConversionContext) -> Json:
    """CareTeam for a Care Team Organizer."""
    resource: Json = {"resourceType": "CareTeam", "id": ctx.id_for("CareTeam", organizer)}
    ids = identifiers(children(organizer, "id"))
    if ids:
        resource["identifier"] = ids
    resource["status"] = _STATUS.get(attr(child(organizer, "statusCode"), "code") or "", "active")
    code = child(organizer, "code")
    name = original_text(child(code, "originalText"), ctx) or original_text(child(organizer, "text"), ctx)
    if name:
        resource["name"] = name
    if ctx.patient:
        resource["subject"] = ctx.patient
    when = period(child(organizer, "effectiveTime"), ctx)
    if when:
        resource["period"] = when
    kinds: list[Json] = []
    participants: list[tuple[set[str], Json]] = []
    for component in children(organizer, "component"):
        inner = entry_statement(component)
        if inner is None:
            continue
        if has_template(inner, TYPE_OBSERVATION):
            kind = concept(child(inner, "value"), ctx)
            if kind:
                kinds.append(kind)
        elif inner.tag == V3 + "act" and (
            has_template(inner, MEMBER_ACT) or child(inner, "performer") is not None
        ):
            found = _member(inner, ctx)
            if found is not None:
                participants.append(found)
    if kinds:
        resource["category"] = kinds
    lead = next(
        (
            _keys(child(p, "participantRole"))
            for p in children(organizer, "participant")
            if p.get("typeCode") == "PPRF"
        ),
        set(),
    )
    if lead:
        participants.sort(key=lambda p: not p[0] & lead)  # stable: the lead first, the others in order
    if participants:
        resource["participant"] = [p for _, p in participants]
    party = author_of(organizer, ctx)
    if party is not None:
        org = party.who if ctx.type_of(party.who) == "Organization" else party.organization
        if org:
            resource["managingOrganization"] = [org]
    return resource


def _member(act: etree._Element, ctx: ConversionContext) -> tuple[set[str], Json] | None:
    performer = child(act, "performer")
    entity = child(performer, "assignedEntity")
    party = assigned_party(entity, ctx)
    if party is None or ctx.type_of(party.who) not in _MEMBERS:
        return None
    member: Json = {}
    function = next(performer.iterchildren(sdtc("functionCode")), None) if performer is not None else None
    role = concept(function, ctx)
    member["role"] = [role or {"extension": [data_absent(function)]}]
    member["member"] = party.role or party.who
    if party.organization and party.organization != party.who:
        member["onBehalfOf"] = party.organization
    when = period(child(act, "effectiveTime"), ctx)
    if when:
        member["period"] = when
    return _keys(act) | _keys(entity), member


def _keys(element: etree._Element | None) -> set[str]:
    return {f"{i.get('root')}|{i.get('extension') or ''}" for i in children(element, "id") if i.get("root")}
