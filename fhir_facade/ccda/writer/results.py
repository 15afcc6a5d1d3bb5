"""Vital Signs (organizers by time), Results (DiagnosticReport → Result Organizer) and Social History."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from lxml import etree

from fhir_facade.ccda.writer.context import Context, Row, SectionSpec, SectionWriter
from fhir_facade.ccda.writer.datatypes import concept_text, el, put_cd, put_ivl_ts, put_ts, template
from fhir_facade.ccda.writer.observations import (
    LOINC,
    effective,
    members,
    put_interpretation,
    put_reference_ranges,
    put_value,
    reference_range_text,
    value_text,
)

__all__ = [
    "RESULTS",
    "SOCIAL_HISTORY",
    "VITAL_SIGNS",
    "write_results",
    "write_social_history",
    "write_vital_signs",
]

SNOMED_OID = "2.16.840.1.113883.6.96"
LOINC_OID = "2.16.840.1.113883.6.1"
SMOKING_STATUS = "72166-2"

VITAL_SIGNS = SectionSpec(
    "vital-signs", "2.16.840.1.113883.10.20.22.2.4.1", "2015-08-01", "8716-3", "Vital signs", "Vital Signs",
    "vital", ("Date", "Vital sign", "Value", "Interpretation"),
)  # fmt: skip
RESULTS = SectionSpec(
    "results", "2.16.840.1.113883.10.20.22.2.3.1", "2015-08-01", "30954-2",
    "Relevant diagnostic tests/laboratory data Narrative", "Results", "result",
    ("Panel", "Test", "Value", "Reference range", "Interpretation", "Date"),
)  # fmt: skip
SOCIAL_HISTORY = SectionSpec(
    "social-history", "2.16.840.1.113883.10.20.22.2.17", "2015-08-01", "29762-2", "Social history Narrative",
    "Social History", "social", ("Observation", "Value", "Date"),
)  # fmt: skip

_RESULT_STATUS = {
    "final": "completed", "amended": "completed", "corrected": "completed", "appended": "completed",
    "preliminary": "active", "registered": "active", "partial": "active", "cancelled": "cancelled",
}  # fmt: skip
_BIRTH_SEX = {"F": "Female", "M": "Male"}


def _observation(
    parent: etree._Element,
    res: dict[str, Any],
    suffix: str,
    part: dict[str, Any],
    row: Row,
    ctx: Context,
    when: str | None,
    *,
    vital: bool,
) -> None:
    obs = el(parent, "observation", classCode="OBS", moodCode="EVN")
    if vital:
        template(obs, "2.16.840.1.113883.10.20.22.4.27", "2014-06-09")
    else:
        template(obs, "2.16.840.1.113883.10.20.22.4.2", "2015-08-01")
    ctx.put_id(obs, res, suffix or None)
    put_cd(obs, "code", part.get("code"), prefer=(LOINC,), ref=row.cells[1], what="Observation.code")
    el(el(obs, "text"), "reference", value=f"#{row.id}")
    el(obs, "statusCode", code=_RESULT_STATUS.get(str(res.get("status")), "completed"))
    put_ts(obs, "effectiveTime", when)
    put_value(obs, part, what="Observation.value", quantity_only=vital)
    put_interpretation(obs, part)
    put_reference_ranges(obs, part)


def write_vital_signs(body: etree._Element, items: Sequence[dict[str, Any]], ctx: Context) -> None:
    writer = SectionWriter(body, VITAL_SIGNS, ctx)
    groups: dict[str, list[dict[str, Any]]] = {}
    for res in items:
        if res.get("hasMember") and not res.get("component") and not any(k.startswith("value") for k in res):
            continue  # a panel that only groups its members
        when, _ = effective(res, required=True)
        groups.setdefault(str(when), []).append(res)
    for when, observations in groups.items():
        rows = [
            (
                res,
                suffix,
                part,
                writer.row(
                    (
                        effective(res, required=True)[1],
                        concept_text(part.get("code")),
                        value_text(part),
                        ", ".join(concept_text(i) for i in part.get("interpretation") or []),
                    )
                ),
            )
            for res in observations
            for suffix, part in members(res)
        ]
        with writer.guard(observations[0]) as entry:
            organizer = el(entry, "organizer", classCode="CLUSTER", moodCode="EVN")
            template(organizer, "2.16.840.1.113883.10.20.22.4.26", "2015-08-01")
            ctx.put_id(organizer, observations[0], "vital-signs-organizer")
            code = el(
                organizer,
                "code",
                code="46680005",
                codeSystem=SNOMED_OID,
                codeSystemName="SNOMED CT",
                displayName="Vital signs",
            )
            el(
                code,
                "translation",
                code="74728-7",
                codeSystem=LOINC_OID,
                codeSystemName="LOINC",
                displayName="Vital signs, weight, height, head circumference, oximetry, BMI, and BSA panel",
            )
            el(organizer, "statusCode", code="completed")
            el(organizer, "effectiveTime", value=when)
            for res, suffix, part, row in rows:
                with writer.guard(res, organizer, "component") as component:
                    _observation(component, res, suffix, part, row, ctx, when, vital=True)
            if organizer.find(f"{{{organizer.nsmap[None]}}}component") is None:
                entry.remove(organizer)
    writer.finish()
    _drop_empty_entries(writer.section)


def _drop_empty_entries(section: etree._Element) -> None:
    for entry in list(section):
        if str(entry.tag).endswith("}entry") and len(entry) == 0:
            section.remove(entry)


def write_results(body: etree._Element, items: Sequence[dict[str, Any]], ctx: Context) -> None:
    """``items``: DiagnosticReports (``result`` Observations become components) and lone Observations."""
    writer = SectionWriter(body, RESULTS, ctx)
    for res in items:
        report = res if res.get("resourceType") == "DiagnosticReport" else None
        panel = concept_text(res.get("code")) if report else ""
        observations = []
        for reference in (report or {}).get("result") or []:
            target = ctx.resolve(reference, "Observation")
            if target is None:
                ctx.warn(
                    res, RESULTS.key, "a result reference does not resolve to an Observation in the input"
                )
            else:
                observations.append(target)
        if report is None:
            observations = [res]
        when, _ = effective(res, required=True)
        rows = []
        for obs in observations:
            obs_when, obs_date = effective(obs, required=False)
            for suffix, part in members(obs):
                cells = (
                    panel,
                    concept_text(part.get("code")),
                    value_text(part),
                    reference_range_text(part),
                    ", ".join(concept_text(i) for i in part.get("interpretation") or []),
                    obs_date,
                )
                rows.append((obs, suffix, part, writer.row(cells), obs_when or when))
        if not rows:
            writer.row(
                (panel or concept_text(res.get("code")), "", str(res.get("conclusion") or ""), "", "", "")
            )
            ctx.warn(res, RESULTS.key, "a DiagnosticReport without result Observations is narrative only")
            continue
        with writer.guard(res) as entry:
            organizer = el(entry, "organizer", classCode="BATTERY" if report else "CLUSTER", moodCode="EVN")
            template(organizer, "2.16.840.1.113883.10.20.22.4.1", "2015-08-01")
            ctx.put_id(organizer, res, None if report else "result-organizer")
            put_cd(organizer, "code", res.get("code"), prefer=(LOINC,), what="result organizer code")
            el(organizer, "statusCode", code=_RESULT_STATUS.get(str(res.get("status")), "completed"))
            put_ivl_ts(organizer, when, when)
            for obs, suffix, part, row, obs_when in rows:
                with writer.guard(obs, organizer, "component") as component:
                    _observation(component, obs, suffix, part, row, ctx, obs_when, vital=False)
            if organizer.find(f"{{{organizer.nsmap[None]}}}component") is None:
                entry.remove(organizer)
    writer.finish()
    _drop_empty_entries(writer.section)


def write_social_history(
    body: etree._Element, items: Sequence[dict[str, Any]], patient: dict[str, Any], ctx: Context
) -> None:
    writer = SectionWriter(body, SOCIAL_HISTORY, ctx)
    for res in items:
        when, date = effective(res, required=False)
        parts = members(res)
        rows = [writer.row((concept_text(part.get("code")), value_text(part), date)) for _, part in parts]
        smoking = any(c.get("code") == SMOKING_STATUS for c in (res.get("code") or {}).get("coding") or [])
        for (suffix, part), row in zip(parts, rows, strict=True):
            with writer.guard(res) as entry:
                obs = el(entry, "observation", classCode="OBS", moodCode="EVN")
                if smoking:
                    template(obs, "2.16.840.1.113883.10.20.22.4.78", "2014-06-09")
                else:
                    template(obs, "2.16.840.1.113883.10.20.22.4.38", "2015-08-01")
                ctx.put_id(obs, res, suffix or None)
                put_cd(
                    obs, "code", part.get("code"), prefer=(LOINC,), ref=row.cells[0], what="Observation.code"
                )
                el(el(obs, "text"), "reference", value=f"#{row.id}")
                el(obs, "statusCode", code="completed")
                put_ts(obs, "effectiveTime", when)
                put_value(obs, part, what="Observation.value")
    _put_birth_sex(writer, patient, ctx)
    writer.finish()


def _put_birth_sex(writer: SectionWriter, patient: dict[str, Any], ctx: Context) -> None:
    url = "http://hl7.org/fhir/us/core/StructureDefinition/us-core-birthsex"
    codes = [str(e.get("valueCode")) for e in patient.get("extension") or [] if e.get("url") == url]
    if not codes:
        return
    row = writer.row(("Birth sex", _BIRTH_SEX.get(codes[0], "Unknown"), ""))
    with writer.guard(patient) as entry:
        obs = el(entry, "observation", classCode="OBS", moodCode="EVN")
        template(obs, "2.16.840.1.113883.10.20.22.4.200", "2016-06-01")
        ctx.put_id(obs, patient, "birth-sex")
        el(
            obs,
            "code",
            code="76689-9",
            codeSystem=LOINC_OID,
            codeSystemName="LOINC",
            displayName="Sex assigned at birth",
        )
        el(el(obs, "text"), "reference", value=f"#{row.id}")
        el(obs, "statusCode", code="completed")
        if codes[0] in _BIRTH_SEX:
            el(
                obs,
                "value",
                xsi_type="CD",
                code=codes[0],
                codeSystem="2.16.840.1.113883.5.1",
                codeSystemName="AdministrativeGender",
                displayName=_BIRTH_SEX[codes[0]],
            )
        else:
            el(obs, "value", xsi_type="CD", nullFlavor="UNK")
