"""Payers section (2.16.840.1.113883.10.20.22.2.18, LOINC 48768-6) → Coverage.

One Coverage per Policy Activity (4.61), usually inside a Coverage Activity (4.60) whose entryRelationship
``sequenceNumber`` gives ``order``. After C-CDA on FHIR and US Core Coverage:

* ``code`` (X12 insurance type, PHDSC Source of Payment Typology translations) → ``type``;
* ``statusCode`` → ``status`` (``active`` unless cancelled, aborted or nullified);
* the payer performer (4.87, or the performer coded ``PAYOR``) → ``payor``: an Organization from its
  represented organization, else from the assigned entity itself (ids, address, telecom);
* the covered party (``participant[COV]``, 4.89): ``participantRole/id`` the member id (identifier typed
  ``MB``), ``code`` → ``relationship`` (subscriber-relationship), ``time`` → ``period``;
* ``beneficiary`` is the Patient; ``subscriber`` is the Patient when the covered party is the policy holder
  (``SELF``); the holder's id (``participant[HLD]``, 4.90) → ``subscriberId``;
* a policy ``id`` carrying an extension is the group or contract number → ``class`` of type ``group``.
"""

from __future__ import annotations

from typing import Final

from lxml import etree

from fhir_facade.ccda.cda import V3, attr, child, children, has_template
from fhir_facade.ccda.context import ConversionContext, Json
from fhir_facade.ccda.datatypes import code_of, concept, identifier, period
from fhir_facade.ccda.participants import organization
from fhir_facade.ccda.sections.base import Section, SectionSpec, convert_entries, related
from fhir_facade.ccda.sections.notes import NOTE_ACTIVITY, note_activity

__all__ = ["SPEC", "convert_payers", "coverage"]

PAYERS_SECTION: Final = "2.16.840.1.113883.10.20.22.2.18"
COVERAGE_ACTIVITY: Final = "2.16.840.1.113883.10.20.22.4.60"
POLICY_ACTIVITY: Final = "2.16.840.1.113883.10.20.22.4.61"
_PAYER: Final = "2.16.840.1.113883.10.20.22.4.87"
_RELATIONSHIP_SYSTEM: Final = "http://terminology.hl7.org/CodeSystem/subscriber-relationship"
_CLASS_SYSTEM: Final = "http://terminology.hl7.org/CodeSystem/coverage-class"
_MEMBER_ID: Final[Json] = {
    "coding": [
        {"system": "http://terminology.hl7.org/CodeSystem/v2-0203", "code": "MB", "display": "Member Number"}
    ]
}
# HL7 RoleCode (personal relationship) → subscriber-relationship
_RELATIONSHIP: Final[dict[str, str]] = {
    "SELF": "self",
    "SPS": "spouse",
    "HUSB": "spouse",
    "WIFE": "spouse",
    "DOMPART": "common",
    "SIGOTHR": "common",
    "CHILD": "child",
    "CHLDADOPT": "child",
    "CHLDFOST": "child",
    "DAU": "child",
    "SON": "child",
    "STPCHLD": "child",
    "NCHILD": "child",
    "PRN": "parent",
    "FTH": "parent",
    "MTH": "parent",
    "STPPRN": "parent",
}
_CANCELLED: Final[dict[str, str]] = {
    "cancelled": "cancelled",
    "aborted": "cancelled",
    "nullified": "entered-in-error",
}


def convert_payers(section: Section, ctx: ConversionContext) -> list[Json]:
    return convert_entries(section, ctx, "payers", _entry)


SPEC: Final = SectionSpec("payers", (PAYERS_SECTION,), ("48768-6",), convert_payers)


def _entry(statement: etree._Element, section: Section, ctx: ConversionContext) -> list[Json]:
    if statement.tag != V3 + "act":
        return []
    if has_template(statement, NOTE_ACTIVITY):
        return [note_activity(statement, ctx)]
    if has_template(statement, POLICY_ACTIVITY):
        return [coverage(statement, None, ctx)]
    return [coverage(policy, statement, ctx) for policy in related(statement) if policy.tag == V3 + "act"]


def coverage(policy: etree._Element, activity: etree._Element | None, ctx: ConversionContext) -> Json:
    """Coverage for a Policy Activity (and the Coverage Activity holding it)."""
    resource: Json = {"resourceType": "Coverage", "id": ctx.id_for("Coverage", policy)}
    covered = _participant(policy, "COV")
    member = identifier(child(covered, "id"))
    if member:
        resource["identifier"] = [{**member, "type": _MEMBER_ID}]
    status = attr(child(policy, "statusCode"), "code") or ""
    resource["status"] = _CANCELLED.get(status, "active")
    kind = concept(child(policy, "code"), ctx)
    if kind:
        resource["type"] = kind
    relation = _RELATIONSHIP.get(code_of(child(covered, "code")) or "")
    holder = _participant(policy, "HLD")
    if relation == "self" and ctx.patient:
        resource["subscriber"] = ctx.patient
    holder_id = attr(child(holder, "id"), "extension") or (
        attr(child(covered, "id"), "extension") if relation == "self" else None
    )
    if holder_id:
        resource["subscriberId"] = holder_id
    if ctx.patient:
        resource["beneficiary"] = ctx.patient
    if covered is not None and code_of(child(covered, "code")):
        resource["relationship"] = {"coding": [{"system": _RELATIONSHIP_SYSTEM, "code": relation or "other"}]}
    when = period(child(covered.getparent() if covered is not None else None, "time"), ctx)
    if when:
        resource["period"] = when
    resource["payor"] = _payors(policy, ctx) or [{"display": "payer not stated in the document"}]
    group = next((i for i in children(policy, "id") if attr(i, "extension") and attr(i, "root")), None)
    if group is not None:
        resource["class"] = [
            {
                "type": {"coding": [{"system": _CLASS_SYSTEM, "code": "group", "display": "Group"}]},
                "value": attr(group, "extension"),
            }
        ]
    if activity is not None:
        order = attr(child(policy.getparent(), "sequenceNumber"), "value")
        if order and order.isdigit() and int(order) > 0:
            resource["order"] = int(order)
    return resource


def _participant(policy: etree._Element, type_code: str) -> etree._Element | None:
    for participant in children(policy, "participant"):
        if participant.get("typeCode") == type_code:
            return child(participant, "participantRole")
    return None


def _payors(policy: etree._Element, ctx: ConversionContext) -> list[Json]:
    for performer in children(policy, "performer"):
        entity = child(performer, "assignedEntity")
        if entity is None:
            continue
        if has_template(performer, _PAYER) or code_of(child(entity, "code")) == "PAYOR":
            org = organization(child(entity, "representedOrganization"), ctx) or organization(entity, ctx)
            if org:
                return [org]
    return []
