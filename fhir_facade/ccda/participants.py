"""Who did it: ``assignedAuthor`` / ``assignedEntity`` → Practitioner, PractitionerRole, Organization, Device.

Shared by the header and every section. People and organizations recur across a document (one clinician
authors fifty entries), so each is made once: the id comes from its ``id`` (or, without one, from its name
within the document) and later mentions return a Reference to the resource already made.
"""

from __future__ import annotations

from dataclasses import dataclass

import orjson
from lxml import etree

from fhir_facade.ccda.cda import child, children
from fhir_facade.ccda.context import ConversionContext, Json, identity_key, reference
from fhir_facade.ccda.datatypes import (
    address,
    concept,
    human_name,
    identifiers,
    organization_name,
    telecom,
    ts,
)

__all__ = ["Party", "assigned_party", "author_of", "author_time", "organization"]

_NUCC = "http://nucc.org/provider-taxonomy"


@dataclass(frozen=True, slots=True)
class Party:
    """References for one participant: who (Practitioner, Device or Organization), on behalf of, role."""

    who: Json
    organization: Json | None = None
    role: Json | None = None
    time: str | None = None


def _key(ctx: ConversionContext, resource_type: str, element: etree._Element, content: object) -> str:
    key = identity_key(element)
    if key is None:  # no usable id: the same content within this document is the same party
        key = f"doc|{ctx.document_key}|" + orjson.dumps(content, option=orjson.OPT_SORT_KEYS).decode()
    return ctx.make_id(resource_type, key)


def _contacts(element: etree._Element, ctx: ConversionContext, resource: Json) -> None:
    phones = [t for t in map(telecom, children(element, "telecom")) if t]
    if phones:
        resource["telecom"] = phones
    places = [a for a in (address(a, ctx) for a in children(element, "addr")) if a]
    if places:
        resource["address"] = places


def organization(element: etree._Element | None, ctx: ConversionContext) -> Json | None:
    """Organization from any CDA organization element; ``None`` when it has neither id nor name."""
    if element is None or element.get("nullFlavor") is not None:
        return None
    ids = identifiers(children(element, "id"))
    name = organization_name(child(element, "name"))
    if not ids and not name:
        return None
    rid = _key(ctx, "Organization", element, name)
    if ctx.has(rid):
        return reference(rid)
    resource: Json = {"resourceType": "Organization", "id": rid}
    if ids:
        resource["identifier"] = ids
    resource["active"] = True
    if name:
        resource["name"] = name
    _contacts(element, ctx, resource)
    return ctx.add(resource)


def _device(element: etree._Element, assigned: etree._Element, ctx: ConversionContext) -> Json | None:
    names = []
    for tag, kind in (("manufacturerModelName", "model-name"), ("softwareName", "user-friendly-name")):
        value = organization_name(child(element, tag))
        if value:
            names.append({"name": value, "type": kind})
    ids = identifiers(children(assigned, "id"))
    if not names and not ids:
        return None
    rid = _key(ctx, "Device", assigned, names)
    if ctx.has(rid):
        return reference(rid)
    resource: Json = {"resourceType": "Device", "id": rid}
    if ids:
        resource["identifier"] = ids
    if names:
        resource["deviceName"] = names
    return ctx.add(resource)


def assigned_party(assigned: etree._Element | None, ctx: ConversionContext) -> Party | None:
    """Party for an ``assignedAuthor``/``assignedEntity``: a person, a device, or only an organization."""
    if assigned is None or assigned.get("nullFlavor") is not None:
        return None
    org = organization(child(assigned, "representedOrganization"), ctx)
    device = child(assigned, "assignedAuthoringDevice")
    if device is not None:
        who = _device(device, assigned, ctx)
        return Party(who, org) if who else (Party(org, org) if org else None)
    person = child(assigned, "assignedPerson")
    ids = identifiers(children(assigned, "id"))
    names = [n for n in (human_name(n, ctx) for n in children(person, "name")) if n]
    if not ids and not names:
        return Party(org, org) if org else None
    rid = _key(ctx, "Practitioner", assigned, names)
    if not ctx.has(rid):
        resource: Json = {"resourceType": "Practitioner", "id": rid}
        if ids:
            resource["identifier"] = ids
        if names:
            resource["name"] = names
        _contacts(assigned, ctx, resource)
        ctx.add(resource)
    who = reference(rid)
    role = _role(assigned, rid, who, org, ctx)
    return Party(who, org, role)


def _role(
    assigned: etree._Element, practitioner_id: str, who: Json, org: Json | None, ctx: ConversionContext
) -> Json | None:
    code = concept(child(assigned, "code"), ctx)
    if code is None and org is None:
        return None
    rid = ctx.make_id("PractitionerRole", f"{practitioner_id}|{org['reference'] if org else ''}")
    if ctx.has(rid):
        return reference(rid)
    resource: Json = {"resourceType": "PractitionerRole", "id": rid, "practitioner": who}
    if org:
        resource["organization"] = org
    if code:
        nucc = any(c.get("system") == _NUCC for c in code.get("coding", ()))
        resource["specialty" if nucc else "code"] = [code]
    return ctx.add(resource)


def author_of(element: etree._Element, ctx: ConversionContext) -> Party | None:
    """The first usable ``author`` of an entry or document, with the time it authored."""
    for author in children(element, "author"):
        party = assigned_party(child(author, "assignedAuthor"), ctx)
        if party is not None:
            return Party(party.who, party.organization, party.role, ts(child(author, "time"), ctx))
    return None


def author_time(element: etree._Element, ctx: ConversionContext) -> str | None:
    """The time of the first ``author`` having one, whether or not the author can be identified: an author
    with neither id nor name still says when the entry was written."""
    for author in children(element, "author"):
        when = ts(child(author, "time"), ctx)
        if when:
            return when
    return None
