"""Medical Equipment section (2.16.840.1.113883.10.20.22.2.23, LOINC 46264-8) → DeviceUseStatement + Device,
Procedure.

* Non-Medicinal Supply Activity (4.50) → DeviceUseStatement (status from ``statusCode``, a planned ``INT``
  supply is ``intended``; timing from ``effectiveTime``; the author as source and ``recordedOn``) and a Device
  for its product (``participant[PRD|DEV]/participantRole``: ``playingDevice/code`` the type, an FDA UDI id
  (root 2.16.840.1.113883.3.3719) the ``udiCarrier``, other ids identifiers, ``scopingEntity/desc`` the
  manufacturer); one Device per product within a document;
* Procedure Activity Procedure (4.14), an implant or device placement → Procedure, its device participant the
  ``focalDevice`` (a Device as above);
* Medical Equipment Organizer (4.135) → its components, each as above.
"""

from __future__ import annotations

from typing import Final

from lxml import etree

from fhir_facade.ccda.cda import V3, attr, child, children, has_template, text_of
from fhir_facade.ccda.context import ConversionContext, Json, reference
from fhir_facade.ccda.datatypes import concept, data_absent, effective, identifiers, original_text
from fhir_facade.ccda.participants import author_of
from fhir_facade.ccda.sections.base import Section, SectionSpec, convert_entries, entry_statement
from fhir_facade.ccda.sections.notes import NOTE_ACTIVITY, note_activity
from fhir_facade.ccda.sections.shared import PERFORMER_TYPES, performers, reasons

__all__ = ["SPEC", "SUPPLY", "convert_medical_equipment", "device", "device_use"]

MEDICAL_EQUIPMENT_SECTION: Final = "2.16.840.1.113883.10.20.22.2.23"
SUPPLY: Final = "2.16.840.1.113883.10.20.22.4.50"
_UDI: Final = "2.16.840.1.113883.3.3719"
_USE_STATUS: Final[dict[str, str]] = {
    "active": "active",
    "completed": "completed",
    "aborted": "stopped",
    "cancelled": "stopped",
    "suspended": "on-hold",
    "held": "on-hold",
    "nullified": "entered-in-error",
    "new": "intended",
}
_PROCEDURE_STATUS: Final[dict[str, str]] = {
    "active": "in-progress",
    "completed": "completed",
    "aborted": "stopped",
    "cancelled": "not-done",
    "suspended": "on-hold",
    "held": "on-hold",
    "new": "preparation",
    "nullified": "entered-in-error",
}
_SOURCES: Final = frozenset({"Patient", "Practitioner", "PractitionerRole", "RelatedPerson", "Organization"})


def convert_medical_equipment(section: Section, ctx: ConversionContext) -> list[Json]:
    return convert_entries(section, ctx, "medical equipment", _entry)


SPEC: Final = SectionSpec(
    "medical equipment", (MEDICAL_EQUIPMENT_SECTION,), ("46264-8",), convert_medical_equipment
)


def _entry(statement: etree._Element, section: Section, ctx: ConversionContext) -> list[Json]:
    tag = statement.tag
    if tag == V3 + "supply":
        return device_use(statement, ctx)
    if tag == V3 + "procedure":
        return _procedure(statement, ctx)
    if tag == V3 + "organizer":
        found: list[Json] = []
        for component in children(statement, "component"):
            inner = entry_statement(component)
            if inner is not None:
                found.extend(_entry(inner, section, ctx))
        return found
    if tag == V3 + "act" and has_template(statement, NOTE_ACTIVITY):
        return [note_activity(statement, ctx)]
    return []


def _product_role(element: etree._Element) -> etree._Element | None:
    for participant in children(element, "participant"):
        if participant.get("typeCode") in ("PRD", "DEV", None):
            role = child(participant, "participantRole")
            if role is not None and role.get("nullFlavor") is None:
                return role
    return None


def device(role: etree._Element, ctx: ConversionContext) -> Json | None:
    """Device for a product ``participantRole`` (made once per id within the document); ``None`` when it
    says nothing (no code, no text, no id)."""
    playing = child(role, "playingDevice")
    kind = concept(child(playing, "code"), ctx)
    model = text_of(child(playing, "manufacturerModelName"))
    ids = identifiers(i for i in children(role, "id") if i.get("root") != _UDI)
    udi = [i for i in children(role, "id") if i.get("root") == _UDI and i.get("nullFlavor") is None]
    if kind is None and model is None and not ids and not udi:
        return None
    resource: Json = {"resourceType": "Device", "id": ctx.id_for("Device", role, shared=True)}
    if ids:
        resource["identifier"] = ids
    carriers = [{"carrierHRF": attr(i, "extension")} for i in udi if attr(i, "extension")]
    if carriers:
        resource["udiCarrier"] = carriers
    maker = text_of(child(role, "scopingEntity", "desc"))
    if maker:
        resource["manufacturer"] = maker
    if model:
        resource["deviceName"] = [{"name": model, "type": "model-name"}]
    resource["type"] = kind or {"extension": [data_absent(child(playing, "code"))]}
    if ctx.patient:
        resource["patient"] = ctx.patient
    return resource


def device_use(supply: etree._Element, ctx: ConversionContext) -> list[Json]:
    """DeviceUseStatement and Device for a Non-Medicinal Supply Activity; nothing without a product."""
    role = _product_role(supply)
    product = device(role, ctx) if role is not None else None
    if product is None:
        text = original_text(child(supply, "text"), ctx)
        if text is None:
            return []
        product = {
            "resourceType": "Device",
            "id": ctx.id_for("Device", supply),
            "type": {"text": text},
        }
        if ctx.patient:
            product["patient"] = ctx.patient
    resource: Json = {"resourceType": "DeviceUseStatement", "id": ctx.id_for("DeviceUseStatement", supply)}
    ids = identifiers(children(supply, "id"))
    if ids:
        resource["identifier"] = ids
    status = attr(child(supply, "statusCode"), "code") or ""
    if attr(supply, "moodCode") == "INT" and status in ("", "active", "new"):
        resource["status"] = "intended"
    else:
        resource["status"] = _USE_STATUS.get(status, "completed" if not status else "active")
    if ctx.patient:
        resource["subject"] = ctx.patient
    when = effective(child(supply, "effectiveTime"), ctx)
    if when:
        resource["timing" + when[0]] = when[1]
    party = author_of(supply, ctx)
    if party is not None:
        if party.time:
            resource["recordedOn"] = party.time
        if ctx.type_of(party.who) in _SOURCES:
            resource["source"] = party.who
    resource["device"] = reference(product["id"])
    why = reasons(supply, ctx)
    if why:
        resource["reasonCode"] = why
    return [resource, product]


def _procedure(element: etree._Element, ctx: ConversionContext) -> list[Json]:
    resource: Json = {"resourceType": "Procedure", "id": ctx.id_for("Procedure", element)}
    ids = identifiers(children(element, "id"))
    if ids:
        resource["identifier"] = ids
    status = attr(child(element, "statusCode"), "code") or ""
    if element.get("negationInd") == "true":
        resource["status"] = "not-done"
    else:
        resource["status"] = _PROCEDURE_STATUS.get(status, "completed" if not status else "unknown")
    code = concept(child(element, "code"), ctx)
    if code is None:
        text = original_text(child(element, "text"), ctx)
        code = {"text": text} if text else {"extension": [data_absent(child(element, "code"))]}
    resource["code"] = code
    if ctx.patient:
        resource["subject"] = ctx.patient
    when = effective(child(element, "effectiveTime"), ctx)
    if when:
        resource["performed" + when[0]] = when[1]
    actors = [{"actor": p.who} for p in performers(element, ctx) if ctx.type_of(p.who) in PERFORMER_TYPES]
    if actors:
        resource["performer"] = actors
    why = reasons(element, ctx)
    if why:
        resource["reasonCode"] = why
    sites = [s for s in (concept(e, ctx) for e in children(element, "targetSiteCode")) if s]
    if sites:
        resource["bodySite"] = sites
    found: list[Json] = []
    for participant in children(element, "participant"):
        role = child(participant, "participantRole")
        if participant.get("typeCode") == "DEV" and role is not None:
            product = device(role, ctx)
            if product is not None:
                found.append(product)
    if found:
        resource["focalDevice"] = [{"manipulated": reference(d["id"])} for d in found]
    return [resource, *found]
