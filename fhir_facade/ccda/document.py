"""Document-level resources: the source DocumentReference, the Composition and the Provenance.

* DocumentReference: describes the C-CDA as received (identifiers, type, patient, authors, custodian, the
  original bytes' size and SHA-1 hash, format code); every other resource's ``meta.source`` points at it.
* Composition: one section per C-CDA section, entries referencing the resources made from them.
* Provenance: one per document, targeting every produced resource, agents = authors and custodian, entity =
  the source DocumentReference. ``recorded`` is the document's effectiveTime as an instant (a date-only time
  is taken at midnight UTC, the only instant FHIR accepts for it).
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
from typing import Final

from lxml import etree

from fhir_facade.ccda.cda import attr, child, children, text_of
from fhir_facade.ccda.context import ConversionContext, Json
from fhir_facade.ccda.datatypes import concept, data_absent, identifier, parse_ts, period, to_instant, ts
from fhir_facade.ccda.participants import Party, assigned_party, organization

__all__ = ["authors", "composition", "custodian", "provenance", "source_document"]

_FORMAT_SYSTEM: Final = "http://ihe.net/fhir/ihe.formatcode.fhir/CodeSystem/formatcode"
_CATEGORY: Final[Json] = {
    "coding": [
        {
            "system": "http://hl7.org/fhir/us/core/CodeSystem/us-core-documentreference-category",
            "code": "clinical-note",
            "display": "Clinical Note",
        }
    ]
}
_RELATES: Final[dict[str, str]] = {"RPLC": "replaces", "APND": "appends", "XFRM": "transforms"}
_AGENT_TYPE: Final = "http://terminology.hl7.org/CodeSystem/provenance-participant-type"
_CONFIDENTIALITY: Final = frozenset({"U", "L", "M", "N", "R", "V"})


def authors(ctx: ConversionContext) -> list[Party]:
    found = []
    for author in children(ctx.root, "author"):
        party = assigned_party(child(author, "assignedAuthor"), ctx)
        if party is not None:
            found.append(Party(party.who, party.organization, party.role, ts(child(author, "time"), ctx)))
    return found


def custodian(ctx: ConversionContext) -> Json | None:
    return organization(
        child(ctx.root, "custodian", "assignedCustodian", "representedCustodianOrganization"), ctx
    )


def document_fields(ctx: ConversionContext, writers: list[Party], keeper: Json | None) -> Json:
    """Fields the source DocumentReference and an unstructured body's DocumentReference share."""
    fields: Json = {"status": "current", "docStatus": "final"}
    kind = concept(child(ctx.root, "code"), ctx)
    fields["type"] = kind or {"extension": [data_absent(child(ctx.root, "code"))]}
    fields["category"] = [_CATEGORY]
    if ctx.patient:
        fields["subject"] = ctx.patient
    when = to_instant(child(ctx.root, "effectiveTime"))
    if when:
        fields["date"] = when
    if writers:
        fields["author"] = list({p.who["reference"]: p.who for p in writers if "reference" in p.who}.values())
    if keeper:
        fields["custodian"] = keeper
    title = text_of(child(ctx.root, "title"))
    if title:
        fields["description"] = title
    context: Json = {}
    if ctx.encounter:
        context["encounter"] = [ctx.encounter]
    event = period(child(ctx.root, "documentationOf", "serviceEvent", "effectiveTime"), ctx)
    if event:
        context["period"] = event
    if context:
        fields["context"] = context
    return fields


def source_document(ctx: ConversionContext, rid: str, data: bytes, fields: Json, *, url: str | None) -> Json:
    resource: Json = {"resourceType": "DocumentReference", "id": rid}
    master = identifier(child(ctx.root, "id"))
    if master:
        resource["masterIdentifier"] = master
    set_id = identifier(child(ctx.root, "setId"))
    if set_id:
        resource["identifier"] = [set_id]
    resource.update(fields)
    relates = _relates_to(ctx.root)
    if relates:
        resource["relatesTo"] = [{"code": code, "target": {"identifier": ident}} for code, ident in relates]
    attachment: Json = {
        "contentType": "text/xml",
        "size": len(data),
        "hash": base64.b64encode(hashlib.sha1(data, usedforsecurity=False).digest()).decode("ascii"),
    }
    if url:
        attachment["url"] = url
    if "description" in fields:
        attachment["title"] = fields["description"]
    # R2.x document templates carry a version extension; R1.1 ones do not.
    version = "2.1" if any(t.get("extension") for t in children(ctx.root, "templateId")) else "1.1"
    body = "nonXMLBody" if child(ctx.root, "component", "nonXMLBody") is not None else "structuredBody"
    resource["content"] = [
        {
            "attachment": attachment,
            "format": {"system": _FORMAT_SYSTEM, "code": f"urn:hl7-org:sdwg:ccda-{body}:{version}"},
        }
    ]
    return resource


def _relates_to(root: etree._Element) -> list[tuple[str, Json]]:
    found = []
    for related in children(root, "relatedDocument"):
        code = _RELATES.get(attr(related, "typeCode") or "")
        ident = identifier(child(related, "parentDocument", "id"))
        if code and ident:
            found.append((code, ident))
    return found


def composition(
    ctx: ConversionContext,
    rid: str,
    sections: list[Json],
    writers: list[Party],
    keeper: Json | None,
    fields: Json,
) -> Json:
    resource: Json = {"resourceType": "Composition", "id": rid}
    ident = identifier(child(ctx.root, "setId")) or identifier(child(ctx.root, "id"))
    if ident:
        resource["identifier"] = ident
    resource["status"] = "final"
    resource["type"] = fields["type"]
    if ctx.patient:
        resource["subject"] = ctx.patient
    if ctx.encounter:
        resource["encounter"] = ctx.encounter
    date = ts(child(ctx.root, "effectiveTime"), ctx)
    resource["date"] = date or _now()
    resource["author"] = fields.get("author") or [{"display": "author not stated in the document"}]
    resource["title"] = fields.get("description") or fields["type"].get("text") or "Clinical document"
    level = attr(child(ctx.root, "confidentialityCode"), "code")
    if level in _CONFIDENTIALITY:
        resource["confidentiality"] = level
    attesters = _attesters(ctx)
    if attesters:
        resource["attester"] = attesters
    if keeper:
        resource["custodian"] = keeper
    relates = _relates_to(ctx.root)
    if relates:
        resource["relatesTo"] = [{"code": code, "targetIdentifier": ident} for code, ident in relates]
    events = []
    for service in children(child(ctx.root, "documentationOf"), "serviceEvent"):
        event: Json = {}
        code = concept(child(service, "code"), ctx)
        if code:
            event["code"] = [code]
        when = period(child(service, "effectiveTime"), ctx)
        if when:
            event["period"] = when
        if event:
            events.append(event)
    if events:
        resource["event"] = events
    if sections:
        resource["section"] = sections
    return resource


def _attesters(ctx: ConversionContext) -> list[Json]:
    found = []
    for name, mode in (("legalAuthenticator", "legal"), ("authenticator", "professional")):
        for element in children(ctx.root, name):
            party = assigned_party(child(element, "assignedEntity"), ctx)
            attester: Json = {"mode": mode}
            when = ts(child(element, "time"), ctx)
            if when:
                attester["time"] = when
            if party is not None:
                attester["party"] = party.who
            found.append(attester)
    return found


def provenance(
    ctx: ConversionContext, rid: str, writers: list[Party], keeper: Json | None, source: Json
) -> Json:
    agents: list[Json] = []
    for party in writers:
        agent: Json = {"type": _agent_type("author"), "who": party.who}
        if party.organization and party.organization != party.who:
            agent["onBehalfOf"] = party.organization
        agents.append(agent)
    if keeper:
        agents.append({"type": _agent_type("custodian"), "who": keeper})
    if not agents:
        agents.append(
            {"type": _agent_type("author"), "who": {"display": "author not stated in the document"}}
        )
    recorded = _instant(child(ctx.root, "effectiveTime"))
    if recorded is None:
        ctx.report(
            "warning",
            "incomplete",
            "the document has no usable effectiveTime; Provenance.recorded is the conversion time",
            ctx.root,
        )
        recorded = _now()
    return {
        "resourceType": "Provenance",
        "id": rid,
        "target": [{"reference": "urn:uuid:" + key} for key in ctx.resources],
        "recorded": recorded,
        "agent": agents,
        "entity": [{"role": "source", "what": source}],
    }


def _agent_type(code: str) -> Json:
    return {"coding": [{"system": _AGENT_TYPE, "code": code}]}


def _instant(element: etree._Element | None) -> str | None:
    raw = element.get("value") if element is not None else None
    if not raw:
        return None
    parsed = parse_ts(raw)
    if parsed.value is None:
        return None
    if parsed.full:
        return parsed.value
    if "T" in parsed.value:  # minutes precision with a zone: parse_ts already padded the seconds
        return parsed.value
    return (
        parsed.value + "-01-01"[len(parsed.value) - 4 :] if len(parsed.value) < 10 else parsed.value
    ) + "T00:00:00Z"


def _now() -> str:
    return dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")
