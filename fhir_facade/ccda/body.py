"""The document body → Composition sections, converting entries through the section registry.

Every C-CDA section becomes a Composition section with its title, code and narrative, whether or not a
converter exists for it; nested sections nest. A section with a converter also lists the resources made from
its entries. Entries of sections without a converter are counted (``ctx.sections["(no converter)"]``) so
recall shows what is left. A converter that fails outside its entry loop is reported with the section's
XPath; the narrative stays.
"""

from __future__ import annotations

from typing import Final

from lxml import etree

from fhir_facade.ccda.cda import attr, child, children, text_of
from fhir_facade.ccda.context import ConversionContext, Json
from fhir_facade.ccda.datatypes import concept, narrative_div
from fhir_facade.ccda.sections import Section, find_spec
from fhir_facade.ccda.sections.base import entry_statement
from fhir_facade.ccda.sections.notes import narrative_fallback
from fhir_facade.ccda.sections.unstructured import convert_nonxml_body

__all__ = ["UNCONVERTED", "convert_body"]

UNCONVERTED: Final = "(no converter)"
_EMPTY_REASON: Final = "http://terminology.hl7.org/CodeSystem/list-empty-reason"
_EMPTY_CODES: Final[dict[str, str]] = {"NASK": "notasked", "MSK": "withheld", "NAV": "unavailable"}


def convert_body(ctx: ConversionContext, document_fields: Json) -> list[Json]:
    """Composition sections for the structured body, or one section holding the unstructured body."""
    body = child(ctx.root, "component")
    structured = child(body, "structuredBody")
    if structured is not None:
        return [
            converted
            for component in children(structured, "component")
            if (converted := _section(child(component, "section"), ctx)) is not None
        ]
    unstructured = child(body, "nonXMLBody")
    if unstructured is not None:
        return [convert_nonxml_body(unstructured, ctx, document_fields)]
    ctx.report("warning", "incomplete", "the document has no structuredBody or nonXMLBody", ctx.root)
    return []


def _section(element: etree._Element | None, ctx: ConversionContext) -> Json | None:
    if element is None:
        return None
    info = Section.of(element)
    result: Json = {}
    title = text_of(child(element, "title"))
    code = concept(child(element, "code"), ctx)
    if title or code:
        result["title"] = title or (code or {}).get("text") or _display(code)
    if code:
        result["code"] = code
    div = narrative_div(child(element, "text"))
    if div:
        result["text"] = {"status": "generated", "div": div}
    entries = _entries(info, ctx) or narrative_fallback(info, div, result, ctx)
    if entries:
        result["entry"] = entries
    nested = [
        converted
        for component in children(element, "component")
        if (converted := _section(child(component, "section"), ctx)) is not None
    ]
    if nested:
        result["section"] = nested
    if not (div or entries or nested):
        flavor = attr(element, "nullFlavor") or ""
        result["emptyReason"] = {
            "coding": [{"system": _EMPTY_REASON, "code": _EMPTY_CODES.get(flavor, "unavailable")}]
        }
    if "title" not in result:
        result["title"] = "Untitled section"
    return result


def _display(code: Json | None) -> str | None:
    for coding in (code or {}).get("coding", ()):
        if coding.get("display"):
            return str(coding["display"])
    return None


def _entries(section: Section, ctx: ConversionContext) -> list[Json]:
    spec = find_spec(section)
    if spec is None:
        stats = ctx.section_stats(UNCONVERTED)
        stats.seen += sum(1 for e in children(section.element, "entry") if entry_statement(e) is not None)
        return []
    try:
        return spec.convert(section, ctx)
    except Exception as exc:  # a converter bug must not cost the rest of the document
        ctx.report(
            "error",
            "exception",
            f"{spec.name} section could not be converted ({type(exc).__name__})",
            section.element,
        )
        return []
