"""What every section converter shares: the section view, the converter signatures, the entry loop.

A section converter is ``convert(section: Section, ctx: ConversionContext) -> list[Json]`` returning the
References the Composition section lists as its entries. Most converters are one line on top of
:func:`convert_entries`, which gives each ``entry`` its own error boundary: an entry that raises is reported
as an OperationOutcome issue located by its XPath, counted as failed, and the rest of the section carries on.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Final

from lxml import etree

from fhir_facade.ccda.cda import V3, attr, child, children, has_template, template_ids
from fhir_facade.ccda.context import ConversionContext, Json

__all__ = [
    "CLINICAL_STATEMENTS",
    "EntryConverter",
    "Section",
    "SectionConverter",
    "SectionSpec",
    "convert_entries",
    "entry_statement",
    "related",
]

CLINICAL_STATEMENTS: Final = frozenset(
    V3 + name
    for name in (
        "act",
        "observation",
        "substanceAdministration",
        "supply",
        "procedure",
        "encounter",
        "organizer",
        "observationMedia",
        "regionOfInterest",
    )
)


@dataclass(frozen=True, slots=True)
class Section:
    """One C-CDA ``section`` as converters see it."""

    element: etree._Element
    templates: tuple[str, ...]
    code: str | None
    """The section's LOINC code (``48765-2`` for allergies), when coded."""

    @classmethod
    def of(cls, element: etree._Element) -> Section:
        return cls(element, template_ids(element), attr(child(element, "code"), "code"))


SectionConverter = Callable[[Section, ConversionContext], list[Json]]
"""``(section, ctx) -> References`` for the Composition section's ``entry`` list."""

EntryConverter = Callable[[etree._Element, Section, ConversionContext], list[Json]]
"""``(statement, section, ctx) -> resources``: the entry's top clinical statement in, finished resources
out."""


@dataclass(frozen=True, slots=True)
class SectionSpec:
    """A registry row: a section kind, how it is recognised, and its converter."""

    name: str
    template_ids: tuple[str, ...]
    loinc_codes: tuple[str, ...]
    convert: SectionConverter


def entry_statement(entry: etree._Element) -> etree._Element | None:
    """The clinical statement an ``entry`` (or ``entryRelationship``/``component``) wraps."""
    for node in entry:
        if node.tag in CLINICAL_STATEMENTS:
            return node
    return None


def related(
    statement: etree._Element, *template_roots: str, type_code: str | None = None
) -> Iterator[etree._Element]:
    """Statements inside ``entryRelationship`` children having one of ``template_roots`` (any when none)."""
    for relationship in children(statement, "entryRelationship"):
        if type_code is not None and relationship.get("typeCode") != type_code:
            continue
        inner = entry_statement(relationship)
        if inner is not None and (not template_roots or has_template(inner, *template_roots)):
            yield inner


def convert_entries(
    section: Section, ctx: ConversionContext, name: str, convert: EntryConverter
) -> list[Json]:
    """Run ``convert`` on every entry of ``section``, each in its own error boundary; add what it returns."""
    stats = ctx.section_stats(name)
    references: list[Json] = []
    for entry in children(section.element, "entry"):
        statement = entry_statement(entry)
        if statement is None:
            continue
        stats.seen += 1
        try:
            resources = convert(statement, section, ctx)
        except Exception as exc:  # one bad entry must not cost the rest of the document
            stats.failed += 1
            ctx.report(
                "error", "exception", f"{name} entry could not be converted ({type(exc).__name__})", entry
            )
            continue
        if resources:
            stats.converted += 1
            references.extend(ctx.add(resource) for resource in resources)
    return references
