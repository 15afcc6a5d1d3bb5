"""Procedures (Procedure Activity Procedure) and Encounters (Encounter Activity with Encounter Diagnoses)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from lxml import etree

from fhir_facade.ccda.writer.context import Context, Row, SectionSpec, SectionWriter
from fhir_facade.ccda.writer.datatypes import (
    Unexpressible,
    concept_text,
    el,
    hl7_ts,
    put_cd,
    put_ivl_ts,
    template,
)
from fhir_facade.ccda.writer.problems import put_problem_observation
from xca.errors import CcdaWriteError

__all__ = ["ENCOUNTERS", "PROCEDURES", "diagnosis_conditions", "write_encounters", "write_procedures"]

SNOMED = "http://snomed.info/sct"
CPT = "http://www.ama-assn.org/go/cpt"
ICD10PCS = "http://www.cms.gov/Medicare/Coding/ICD10"
HCPCS = "http://www.cms.gov/Medicare/Coding/HCPCSReleaseCodeSets"
ACT_CODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"

PROCEDURES = SectionSpec(
    "procedures", "2.16.840.1.113883.10.20.22.2.7.1", "2014-06-09", "47519-4",
    "History of Procedures Document", "Procedures", "proc", ("Procedure", "Date", "Status", "Body site"),
)  # fmt: skip
ENCOUNTERS = SectionSpec(
    "encounters", "2.16.840.1.113883.10.20.22.2.22.1", "2015-08-01", "46240-8",
    "History of Hospitalizations+Outpatient visits Narrative", "Encounters", "enc",
    ("Encounter", "Start", "End", "Diagnoses"),
)  # fmt: skip

_PROCEDURE_STATUS = {
    "completed": "completed", "in-progress": "active", "preparation": "active", "on-hold": "active",
    "stopped": "aborted", "not-done": "completed",
}  # fmt: skip


def _procedure_cells(res: dict[str, Any]) -> Sequence[str]:
    name = concept_text(res.get("code"))
    if not name:
        raise CcdaWriteError("a Procedure has no code", detail={"id": res.get("id")})
    performed = res.get("performedDateTime") or (res.get("performedPeriod") or {}).get("start")
    performed = performed or res.get("performedString") or ""
    sites = ", ".join(concept_text(s) for s in res.get("bodySite") or [])
    return name, str(performed)[:10], str(res.get("status") or ""), sites


def _write_procedure(entry: etree._Element, res: dict[str, Any]) -> etree._Element:
    status = _PROCEDURE_STATUS.get(str(res.get("status")))
    if status is None:
        raise Unexpressible(f"Procedure status {res.get('status')!r} has no C-CDA form")
    proc = el(
        entry,
        "procedure",
        classCode="PROC",
        moodCode="EVN",
        negationInd="true" if res.get("status") == "not-done" else None,
    )
    template(proc, "2.16.840.1.113883.10.20.22.4.14", "2014-06-09")
    return proc


def write_procedures(body: etree._Element, items: Sequence[dict[str, Any]], ctx: Context) -> None:
    writer = SectionWriter(body, PROCEDURES, ctx)
    for res in items:
        row = writer.row(_procedure_cells(res))
        with writer.guard(res) as entry:
            proc = _write_procedure(entry, res)
            ctx.put_id(proc, res)
            put_cd(
                proc,
                "code",
                res.get("code"),
                prefer=(SNOMED, CPT, ICD10PCS, HCPCS),
                ref=row.cells[0],
                what="Procedure.code",
            )
            el(el(proc, "text"), "reference", value=f"#{row.id}")
            el(proc, "statusCode", code=str(_PROCEDURE_STATUS[str(res.get("status"))]))
            if "performedDateTime" in res:
                el(proc, "effectiveTime", value=hl7_ts(res["performedDateTime"], what="performedDateTime"))
            elif isinstance(res.get("performedPeriod"), dict):
                period = res["performedPeriod"]
                put_ivl_ts(
                    proc,
                    hl7_ts(period["start"], what="performedPeriod.start") if period.get("start") else None,
                    hl7_ts(period["end"], what="performedPeriod.end") if period.get("end") else None,
                )
            elif any(k.startswith("performed") for k in res):
                raise Unexpressible("performed[x] other than dateTime or Period has no effectiveTime form")
            for site in res.get("bodySite") or []:
                put_cd(proc, "targetSiteCode", site, prefer=(SNOMED,), what="Procedure.bodySite")
    writer.finish()


def diagnosis_conditions(encounters: Sequence[dict[str, Any]], ctx: Context) -> set[str]:
    """``Condition/id`` keys that the encounters name as diagnoses and that are in the input."""
    keys: set[str] = set()
    for encounter in encounters:
        for diagnosis in encounter.get("diagnosis") or []:
            condition = ctx.resolve(diagnosis.get("condition"), "Condition")
            if condition is not None:
                keys.add(ctx.key(condition))
    return keys


def _encounter_cells(res: dict[str, Any], ctx: Context) -> Sequence[str | tuple[str, ...]]:
    types = [t for t in res.get("type") or [] if concept_text(t)]
    name = concept_text(types[0]) if types else str((res.get("class") or {}).get("display") or "")
    name = name or str((res.get("class") or {}).get("code") or "")
    if not name:
        raise CcdaWriteError("an Encounter has neither type nor class", detail={"id": res.get("id")})
    period = res.get("period") or {}
    diagnoses = []
    for diagnosis in res.get("diagnosis") or []:
        condition = ctx.resolve(diagnosis.get("condition"), "Condition")
        text = concept_text(condition.get("code")) if condition else ""
        diagnoses.append(
            text or str((diagnosis.get("condition") or {}).get("display") or "Unknown diagnosis")
        )
    return name, str(period.get("start") or "")[:10], str(period.get("end") or "")[:10], tuple(diagnoses)


def _encounter_code(encounter: etree._Element, res: dict[str, Any], row: Row) -> None:
    types = [t for t in res.get("type") or [] if isinstance(t, dict)]
    if types:
        put_cd(encounter, "code", types[0], prefer=(CPT, SNOMED), ref=row.cells[0], what="Encounter.type")
        return
    klass = res.get("class") or {}
    if klass.get("system") != ACT_CODE or not klass.get("code"):
        raise Unexpressible("Encounter.class is not from v3-ActCode and there is no type")
    code = el(
        encounter,
        "code",
        code=str(klass["code"]),
        codeSystem="2.16.840.1.113883.5.4",
        codeSystemName="ActCode",
        displayName=klass.get("display"),
    )
    el(el(code, "originalText"), "reference", value=f"#{row.cells[0]}")


def write_encounters(body: etree._Element, items: Sequence[dict[str, Any]], ctx: Context) -> None:
    writer = SectionWriter(body, ENCOUNTERS, ctx)
    for res in items:
        row = writer.row(_encounter_cells(res, ctx))
        with writer.guard(res) as entry:
            encounter = el(entry, "encounter", classCode="ENC", moodCode="EVN")
            template(encounter, "2.16.840.1.113883.10.20.22.4.49", "2015-08-01")
            ctx.put_id(encounter, res)
            _encounter_code(encounter, res, row)
            el(el(encounter, "text"), "reference", value=f"#{row.id}")
            period = res.get("period") or {}
            put_ivl_ts(
                encounter,
                hl7_ts(period["start"], what="period.start") if period.get("start") else None,
                hl7_ts(period["end"], what="period.end") if period.get("end") else None,
            )
            for k, diagnosis in enumerate(res.get("diagnosis") or []):
                condition = ctx.resolve(diagnosis.get("condition"), "Condition")
                if condition is None:
                    ctx.warn(res, ENCOUNTERS.key, "a diagnosis does not resolve to a Condition in the input")
                    continue
                with writer.guard(condition, encounter, "entryRelationship") as relationship:
                    relationship.set("typeCode", "COMP")
                    act = el(relationship, "act", classCode="ACT", moodCode="EVN")
                    template(act, "2.16.840.1.113883.10.20.22.4.80", "2015-08-01")
                    el(
                        act,
                        "code",
                        code="29308-4",
                        codeSystem="2.16.840.1.113883.6.1",
                        codeSystemName="LOINC",
                        displayName="Diagnosis",
                    )
                    put_problem_observation(
                        el(act, "entryRelationship", typeCode="SUBJ"),
                        condition,
                        ctx,
                        text_ref=row.id,
                        code_ref=f"{row.cells[3]}-{k + 1}",
                        diagnosis=True,
                    )
    writer.finish()
