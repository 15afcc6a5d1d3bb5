"""What the clinical-activity sections (immunizations, vital signs, results, procedures, encounters) share:
their templateId roots, category concepts, performers, reasons and the Service Delivery Location.

Template roots live here rather than in ``templates.py`` so these sections stay self-contained; they follow
the same rule (roots only, every version accepted).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Final

import orjson
from lxml import etree

from fhir_facade.ccda.cda import V3, attr, child, children, text_of
from fhir_facade.ccda.context import ConversionContext, Json, identity_key, reference
from fhir_facade.ccda.datatypes import address, concept, identifiers, telecom
from fhir_facade.ccda.participants import Party, assigned_party, author_of
from fhir_facade.ccda.sections.base import related
from fhir_facade.ccda.templates import INDICATION

__all__ = [
    "ENCOUNTERS_SECTION",
    "IMMUNIZATIONS_SECTION",
    "PERFORMER_TYPES",
    "PROCEDURES_SECTION",
    "RESULTS_SECTION",
    "VITAL_SIGNS_SECTION",
    "category",
    "identify",
    "location",
    "locations",
    "performers",
    "reasons",
    "span",
    "statements",
]

_T: Final = "2.16.840.1.113883.10.20.22."
IMMUNIZATIONS_SECTION: Final = (_T + "2.2", _T + "2.2.1")
VITAL_SIGNS_SECTION: Final = (_T + "2.4", _T + "2.4.1")
RESULTS_SECTION: Final = (_T + "2.3", _T + "2.3.1")
PROCEDURES_SECTION: Final = (_T + "2.7", _T + "2.7.1")
ENCOUNTERS_SECTION: Final = (_T + "2.22", _T + "2.22.1")

IMMUNIZATION_ACTIVITY: Final = _T + "4.52"
IMMUNIZATION_REFUSAL: Final = _T + "4.53"
VITAL_SIGNS_ORGANIZER: Final = _T + "4.26"
RESULT_ORGANIZER: Final = _T + "4.1"
PROCEDURE_ACT: Final = _T + "4.12"
PROCEDURE_OBSERVATION: Final = _T + "4.13"
PROCEDURE_PROCEDURE: Final = _T + "4.14"
SERVICE_DELIVERY_LOCATION: Final = _T + "4.32"
ENCOUNTER_ACTIVITY: Final = _T + "4.49"
ENCOUNTER_DIAGNOSIS: Final = _T + "4.80"

_OBSERVATION_CATEGORY: Final = "http://terminology.hl7.org/CodeSystem/observation-category"
_HOLDERS: Final = frozenset({V3 + "component", V3 + "entryRelationship"})
PERFORMER_TYPES: Final = frozenset({"Practitioner", "PractitionerRole", "Organization", "Patient"})
"""Resource types an Observation / DiagnosticReport performer may reference among those we make."""


def category(code: str, display: str, system: str = _OBSERVATION_CATEGORY) -> Json:
    """A category CodeableConcept (a fresh dict each time: resources must not share mutable parts)."""
    return {"coding": [{"system": system, "code": code, "display": display}]}


def identify(resource: Json, element: etree._Element) -> None:
    """Add the element's usable ``id`` children as ``identifier``."""
    ids = identifiers(children(element, "id"))
    if ids:
        resource["identifier"] = ids


def statements(element: etree._Element, tag: str) -> Iterator[etree._Element]:
    """Statements with local name ``tag`` directly inside ``component`` or ``entryRelationship`` children."""
    wanted = V3 + tag
    for holder in element:
        if holder.tag in _HOLDERS:
            for inner in holder:
                if inner.tag == wanted:
                    yield inner


def performers(element: etree._Element, ctx: ConversionContext, *, authors: bool = True) -> list[Party]:
    """Parties of the ``performer/assignedEntity`` children, then (when ``authors``) the first author."""
    found: list[Party] = []
    for performer in children(element, "performer"):
        party = assigned_party(child(performer, "assignedEntity"), ctx)
        if party is not None:
            found.append(party)
    if authors and not found:
        party = author_of(element, ctx)
        if party is not None:
            found.append(party)
    return found


def reasons(element: etree._Element, ctx: ConversionContext) -> list[Json]:
    """``reasonCode`` concepts from Indication (4.19) values (or codes when the value is missing)."""
    found: list[Json] = []
    for indication in related(element, INDICATION):
        value = concept(child(indication, "value"), ctx)
        if value is not None:
            found.append(value)
    return found


def location(role: etree._Element | None, ctx: ConversionContext) -> Json | None:
    """Location for a Service Delivery Location (4.32) ``participantRole``; made once per place."""
    if role is None or role.get("nullFlavor") is not None:
        return None
    key = identity_key(role)
    if key is not None and ctx.has(known := ctx.make_id("Location", key)):
        return reference(known)  # the same place again: skip rebuilding it
    place = child(role, "playingEntity")
    name = text_of(child(place, "name"))
    kind = concept(child(role, "code"), ctx)
    ids = identifiers(children(role, "id"))
    where = address(child(role, "addr"), ctx)
    if not (name or ids or where or kind):
        return None
    if key is None:
        content = [name, where, kind]
        key = f"doc|{ctx.document_key}|" + orjson.dumps(content, option=orjson.OPT_SORT_KEYS).decode()
    rid = ctx.make_id("Location", key)
    if ctx.has(rid):
        return reference(rid)
    resource: Json = {"resourceType": "Location", "id": rid}
    if ids:
        resource["identifier"] = ids
    if name:
        resource["name"] = name
    if kind:
        resource["type"] = [kind]
    phones = [t for t in map(telecom, children(role, "telecom")) if t]
    if phones:
        resource["telecom"] = phones
    if where:
        resource["address"] = where
    return ctx.add(resource)


def locations(element: etree._Element, ctx: ConversionContext) -> list[Json]:
    """References to the Locations of the ``participant[@typeCode='LOC']`` children."""
    found: list[Json] = []
    for participant in children(element, "participant"):
        if attr(participant, "typeCode") == "LOC":
            place = location(child(participant, "participantRole"), ctx)
            if place is not None and place not in found:
                found.append(place)
    return found


def span(resources: list[Json]) -> tuple[str, str | Json] | None:
    """The earliest and latest of the resources' ``effective[x]``, for a group without its own time.

    Compares the FHIR strings, which orders correctly when senders use one timezone (the usual case).
    """
    points: list[str] = []
    for resource in resources:
        if "effectiveDateTime" in resource:
            points.append(resource["effectiveDateTime"])
        elif "effectivePeriod" in resource:
            points.extend(resource["effectivePeriod"].values())
    if not points:
        return None
    low, high = min(points), max(points)
    return ("DateTime", low) if low == high else ("Period", {"start": low, "end": high})
