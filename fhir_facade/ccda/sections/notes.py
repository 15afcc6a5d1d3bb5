"""Notes (2.16.840.1.113883.10.20.22.2.65) and Note Activity (4.202) → DocumentReference; narrative-only
sections → DocumentReference.

Note Activity, after C-CDA on FHIR (Notes): ``code`` (LOINC 34109-9 and its translation) is the type, category
``clinical-note``, the note text the attachment (inline or base64 ``text`` as sent; a narrative reference
resolved to ``text/plain``), ``statusCode`` the docStatus, ``effectiveTime`` the context period, the author
the
author and, when the time has seconds and a zone, the date. The encounter is the one the note's ``encounter``
entryRelationship names (the document's, or one already converted), else the document's encounter.

:func:`narrative_fallback` is body.py's hook for sections that produced no resource: a section with narrative
but no structured entry gets one DocumentReference holding its narrative (``text/html``) so that consumers
reading only resources lose nothing; Note Activities in sections without a converter become
DocumentReferences too.
"""

from __future__ import annotations

import base64
from copy import deepcopy
from typing import Final

from lxml import etree

from fhir_facade.ccda.cda import V3, attr, child, children, has_template
from fhir_facade.ccda.context import ConversionContext, Json, identity_key
from fhir_facade.ccda.datatypes import concept, identifiers, period, resolve_reference, to_instant
from fhir_facade.ccda.participants import author_of
from fhir_facade.ccda.sections.base import Section, SectionSpec, convert_entries, entry_statement, related
from fhir_facade.ccda.sections.unstructured import attachment_of

__all__ = ["NOTE_ACTIVITY", "SPEC", "convert_notes", "narrative_fallback", "note_activity"]

NOTE_ACTIVITY: Final = "2.16.840.1.113883.10.20.22.4.202"
NOTES_SECTION: Final = "2.16.840.1.113883.10.20.22.2.65"
_CATEGORY_SYSTEM: Final = "http://hl7.org/fhir/us/core/CodeSystem/us-core-documentreference-category"
_DOC_STATUS: Final[dict[str, str]] = {
    "completed": "final",
    "active": "preliminary",
    "nullified": "entered-in-error",
}
_AUTHORS: Final = frozenset({"Practitioner", "PractitionerRole", "Organization", "Device", "Patient"})


def _clinical_note() -> Json:
    return {"coding": [{"system": _CATEGORY_SYSTEM, "code": "clinical-note", "display": "Clinical Note"}]}


def convert_notes(section: Section, ctx: ConversionContext) -> list[Json]:
    return convert_entries(section, ctx, "notes", _entry)


SPEC: Final = SectionSpec("notes", (NOTES_SECTION,), (), convert_notes)


def _entry(statement: etree._Element, section: Section, ctx: ConversionContext) -> list[Json]:
    if statement.tag == V3 + "act":  # the section holds Note Activities only
        return [note_activity(statement, ctx)]
    return [note_activity(inner, ctx) for inner in related(statement, NOTE_ACTIVITY)]


def note_activity(act: etree._Element, ctx: ConversionContext) -> Json:
    """DocumentReference for a Note Activity (standalone entry or entryRelationship of another entry)."""
    resource: Json = {"resourceType": "DocumentReference", "id": ctx.id_for("DocumentReference", act)}
    ids = identifiers(children(act, "id"))
    if ids:
        resource["identifier"] = ids
    status = attr(child(act, "statusCode"), "code") or ""
    resource["status"] = "entered-in-error" if status == "nullified" else "current"
    if status in _DOC_STATUS and status != "nullified":
        resource["docStatus"] = _DOC_STATUS[status]
    kind = concept(child(act, "code"), ctx)
    if kind:
        resource["type"] = kind
    resource["category"] = [_clinical_note()]
    if ctx.patient:
        resource["subject"] = ctx.patient
    party = author_of(act, ctx)
    if party is not None:
        when = to_instant(child(child(act, "author"), "time"))
        if when:
            resource["date"] = when
        if ctx.type_of(party.who) in _AUTHORS:
            resource["author"] = [party.who]
    resource["content"] = [{"attachment": _note_attachment(act, ctx)}]
    context: Json = {}
    encounter = _encounter(act, ctx)
    if encounter:
        context["encounter"] = [encounter]
    span = period(child(act, "effectiveTime"), ctx)
    if span:
        context["period"] = span
    if context:
        resource["context"] = context
    return resource


def _note_attachment(act: etree._Element, ctx: ConversionContext) -> Json:
    text = child(act, "text")
    ref = child(text, "reference")
    inline = text is not None and (text.text or "").strip()
    if ref is not None and not inline and (attr(text, "representation") or "TXT").upper() != "B64":
        resolved = resolve_reference(ref.get("value"), ctx)
        if resolved:
            return _data("text/plain", resolved)
    if text is not None:
        if ref is not None:  # the reference was unusable: keep the inline content only
            text = _without_reference(text)
        found = attachment_of(text, ctx)
        if found:
            return found
    ctx.tally("empty-note", act, "notes had no readable text; the DocumentReference keeps only their type")
    return {"contentType": "text/plain", "title": "note text not available"}


def _without_reference(text: etree._Element) -> etree._Element:
    copy = deepcopy(text)  # a copy of already-parsed nodes: nothing is parsed again
    # Not ``children()``: its per-conversion index would keep the removed elements listed.
    for ref in list(copy.iterchildren(V3 + "reference")):
        copy.remove(ref)
    return copy


def _data(content_type: str, text: str) -> Json:
    raw = text.encode("utf-8")
    return {"contentType": content_type, "data": base64.b64encode(raw).decode("ascii"), "size": len(raw)}


def _encounter(act: etree._Element, ctx: ConversionContext) -> Json | None:
    for inner in related(act, type_code="COMP"):
        if inner.tag != V3 + "encounter":
            continue
        key = identity_key(inner)
        if key is None:
            continue
        rid = ctx.make_id("Encounter", key)
        if ctx.has(rid):
            return {"reference": "urn:uuid:" + rid}
        ctx.tally("note-encounter", inner, "notes named an encounter not found in the document")
        return None
    return ctx.encounter


def narrative_fallback(
    section: Section, div: str | None, composed: Json, ctx: ConversionContext
) -> list[Json]:
    """References for a section whose converter made nothing (or that has none): Note Activities of sections
    without a converter, else one DocumentReference with the narrative when the section has no entries."""
    from fhir_facade.ccda.sections import find_spec  # the registry imports this module

    statements = [s for s in map(entry_statement, children(section.element, "entry")) if s is not None]
    if statements:
        if find_spec(section) is not None:
            return []  # the section's converter owns its entries
        notes = [s for s in statements if s.tag == V3 + "act" and has_template(s, NOTE_ACTIVITY)]
        if not notes:
            return []
        return _loose_notes(notes, ctx)
    if not div or section.element.get("nullFlavor") is not None:
        return []
    return [ctx.add(_narrative_document(section, div, composed, ctx))]


def _loose_notes(notes: list[etree._Element], ctx: ConversionContext) -> list[Json]:
    """Note Activities of a section without a converter, each in its own error boundary."""
    stats = ctx.section_stats("notes")
    references: list[Json] = []
    for note in notes:
        stats.seen += 1
        try:
            resource = note_activity(note, ctx)
        except Exception as exc:  # the same boundary as convert_entries gives
            stats.failed += 1
            ctx.report(
                "error", "exception", f"notes entry could not be converted ({type(exc).__name__})", note
            )
            continue
        stats.converted += 1
        references.append(ctx.add(resource))
    return references


def _narrative_document(section: Section, div: str, composed: Json, ctx: ConversionContext) -> Json:
    resource: Json = {
        "resourceType": "DocumentReference",
        "id": ctx.id_for("DocumentReference", section.element),
        "status": "current",
    }
    if "code" in composed:
        resource["type"] = composed["code"]
    resource["category"] = [_clinical_note()]
    if ctx.patient:
        resource["subject"] = ctx.patient
    when = to_instant(child(ctx.root, "effectiveTime"))
    if when:
        resource["date"] = when
    if ctx.author and ctx.type_of(ctx.author) in _AUTHORS:
        resource["author"] = [ctx.author]
    title = composed.get("title")
    if title:
        resource["description"] = title
    attachment = _data("text/html", div)
    if title:
        attachment["title"] = title
    resource["content"] = [{"attachment": attachment}]
    if ctx.encounter:
        resource["context"] = {"encounter": [ctx.encounter]}
    return resource
