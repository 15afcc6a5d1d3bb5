"""Results section (2.16.840.1.113883.10.20.22.2.3[.1], LOINC 30954-2) → DiagnosticReport + Observation.

After C-CDA on FHIR (Results): a Result Organizer (4.1) becomes a DiagnosticReport whose ``result`` lists one
Observation (category ``laboratory``) per Result Observation (4.2) it holds; ``value[x]`` follows the value's
``xsi:type`` (see ``observation.py``). The report's category is LAB (v2-0074) unless the organizer carries
``sdtc:category`` (C-CDA 3.0+), whose codes are used instead; its status maps from the organizer's
``statusCode``; an organizer without ``effectiveTime`` spans its results' times. A ``specimen`` of the
organizer or observation becomes a Specimen both reference. A Result Observation outside any organizer
becomes an Observation alone.
"""

from __future__ import annotations

from typing import Final

from lxml import etree

from fhir_facade.ccda.cda import V3, attr, child, children, sdtc
from fhir_facade.ccda.context import ConversionContext, Json, reference
from fhir_facade.ccda.datatypes import concept, effective, identifiers
from fhir_facade.ccda.participants import author_of
from fhir_facade.ccda.sections.base import Section, SectionSpec, convert_entries
from fhir_facade.ccda.sections.observation import code_or_absent, observation
from fhir_facade.ccda.sections.procedures import procedure_activity
from fhir_facade.ccda.sections.shared import (
    PERFORMER_TYPES,
    RESULTS_SECTION,
    category,
    identify,
    performers,
    span,
    statements,
)

__all__ = ["REPORT_STATUS", "SPEC", "convert_results", "result_organizer"]

REPORT_STATUS: Final[dict[str, str]] = {
    "completed": "final",
    "active": "partial",
    "aborted": "cancelled",
    "cancelled": "cancelled",
    "held": "registered",
    "new": "registered",
    "suspended": "registered",
    "nullified": "entered-in-error",
    "obsolete": "amended",
}
"""Result Organizer ``statusCode`` → DiagnosticReport.status (C-CDA on FHIR CF-ResultReportStatus)."""
_V2_0074: Final = "http://terminology.hl7.org/CodeSystem/v2-0074"


def convert_results(section: Section, ctx: ConversionContext) -> list[Json]:
    return convert_entries(section, ctx, "results", _entry)


SPEC: Final = SectionSpec("results", RESULTS_SECTION, ("30954-2",), convert_results)


def _entry(statement: etree._Element, section: Section, ctx: ConversionContext) -> list[Json]:
    if statement.tag == V3 + "organizer":
        return result_organizer(statement, ctx)
    if statement.tag == V3 + "observation":
        return [_result(statement, None, ctx)]
    if statement.tag == V3 + "procedure":  # a lab procedure (C32-era documents): a Procedure
        return [procedure_activity(statement, ctx)]
    found: list[Json] = []
    for organizer in statements(statement, "organizer"):
        found.extend(result_organizer(organizer, ctx))
    found.extend(_result(inner, None, ctx) for inner in statements(statement, "observation"))
    return found


def _laboratory() -> Json:
    return category("laboratory", "Laboratory")


def _result(element: etree._Element, specimen: list[Json] | None, ctx: ConversionContext) -> Json:
    resource = observation(element, ctx, [_laboratory()])
    found = _specimen(element, ctx) or specimen
    if found:
        resource["specimen"] = found[0]  # Observation.specimen is a single Reference
    return resource


def result_organizer(organizer: etree._Element, ctx: ConversionContext) -> list[Json]:
    """The DiagnosticReport and its Observations for a Result Organizer."""
    specimen = _specimen(organizer, ctx)
    results = [_result(inner, specimen, ctx) for inner in statements(organizer, "observation")]
    report: Json = {"resourceType": "DiagnosticReport", "id": ctx.id_for("DiagnosticReport", organizer)}
    identify(report, organizer)
    status = attr(child(organizer, "statusCode"), "code") or ""
    report["status"] = REPORT_STATUS.get(status, "unknown")
    kinds = [c for c in (concept(e, ctx) for e in organizer.iterchildren(sdtc("category"))) if c]
    report["category"] = kinds or [category("LAB", "Laboratory", _V2_0074)]
    code = child(organizer, "code")
    report["code"] = code_or_absent(code, ctx)
    if ctx.patient:
        report["subject"] = ctx.patient
    when = effective(child(organizer, "effectiveTime"), ctx) or span(results)
    if when:
        report["effective" + when[0]] = when[1]
    party = author_of(organizer, ctx)
    if party is not None and party.time and "T" in party.time:  # an instant needs a time
        report["issued"] = party.time
    who = [p.who for p in performers(organizer, ctx) if ctx.type_of(p.who) in PERFORMER_TYPES]
    if who:
        report["performer"] = who
    if specimen:
        report["specimen"] = specimen
    if results:
        report["result"] = [reference(r["id"]) for r in results]
    return [report, *results]


def _specimen(element: etree._Element, ctx: ConversionContext) -> list[Json] | None:
    """Specimen references for the ``specimen/specimenRole`` children (made once per id or content)."""
    found: list[Json] = []
    for holder in children(element, "specimen"):
        role = child(holder, "specimenRole")
        if role is None or role.get("nullFlavor") is not None:
            continue
        kind = concept(child(role, "specimenPlayingEntity", "code"), ctx)
        ids = identifiers(children(role, "id"))
        if not (kind or ids):
            continue
        rid = ctx.id_for("Specimen", role, shared=True)
        if not ctx.has(rid):
            resource: Json = {"resourceType": "Specimen", "id": rid}
            if ids:
                resource["identifier"] = ids
            if kind:
                resource["type"] = kind
            if ctx.patient:
                resource["subject"] = ctx.patient
            ctx.add(resource)
        found.append(reference(rid))
    return found or None
