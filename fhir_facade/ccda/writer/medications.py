"""Medications (MedicationStatement, MedicationRequest) and Immunizations: substance administrations."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from lxml import etree

from fhir_facade.ccda.writer.context import Context, Row, SectionSpec, SectionWriter
from fhir_facade.ccda.writer.datatypes import (
    Unexpressible,
    concept_text,
    decimal_text,
    el,
    hl7_ts,
    put_cd,
    put_ivl_ts,
    put_pq,
    template,
)
from xca.errors import CcdaWriteError

__all__ = ["IMMUNIZATIONS", "MEDICATIONS", "write_immunizations", "write_medications"]

RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
NDC = "http://hl7.org/fhir/sid/ndc"
CVX = "http://hl7.org/fhir/sid/cvx"
NCI = "http://ncicb.nci.nih.gov/xml/owl/EVS/Thesaurus.owl"
SNOMED = "http://snomed.info/sct"
ACT_REASON = "http://terminology.hl7.org/CodeSystem/v3-ActReason"

MEDICATIONS = SectionSpec(
    "medications", "2.16.840.1.113883.10.20.22.2.1.1", "2014-06-09", "10160-0",
    "History of Medication use Narrative", "Medications", "med",
    ("Medication", "Instructions", "Status", "Start", "End", "Source"),
)  # fmt: skip
IMMUNIZATIONS = SectionSpec(
    "immunizations", "2.16.840.1.113883.10.20.22.2.2.1", "2015-08-01", "11369-6",
    "History of Immunization Narrative", "Immunizations", "imm",
    ("Vaccine", "Date", "Status", "Lot", "Reason not given"),
)  # fmt: skip

_STATEMENT_STATUS = {
    "active": "active", "completed": "completed", "stopped": "aborted", "on-hold": "suspended",
    "intended": "active", "not-taken": "completed",
}  # fmt: skip
_REQUEST_STATUS = {
    "active": "active", "completed": "completed", "stopped": "aborted", "on-hold": "suspended",
    "cancelled": "cancelled", "draft": "new",
}  # fmt: skip
_PERIOD_UNITS = {"h": Decimal(1), "d": Decimal(24), "wk": Decimal(168)}


def _medication_concept(res: dict[str, Any], ctx: Context) -> dict[str, Any] | None:
    """medicationCodeableConcept, or the code of the referenced (contained or bundled) Medication."""
    if isinstance(res.get("medicationCodeableConcept"), dict):
        return dict(res["medicationCodeableConcept"])
    reference = res.get("medicationReference")
    if not isinstance(reference, dict):
        raise CcdaWriteError(
            f"a {res.get('resourceType')} has no medication[x]", detail={"id": res.get("id")}
        )
    target = str(reference.get("reference") or "")
    if target.startswith("#"):
        for contained in res.get("contained") or []:
            if contained.get("resourceType") == "Medication" and contained.get("id") == target[1:]:
                return dict(contained.get("code") or {})
        return None
    medication = ctx.resolve(reference, "Medication")
    return dict(medication.get("code") or {}) if medication else None


def _dosage(res: dict[str, Any]) -> dict[str, Any]:
    dosages = (
        res.get("dosage")
        if res.get("resourceType") == "MedicationStatement"
        else res.get("dosageInstruction")
    )
    return dict(dosages[0]) if isinstance(dosages, list) and dosages and isinstance(dosages[0], dict) else {}


def _period(res: dict[str, Any]) -> tuple[str | None, str | None]:
    if res.get("resourceType") == "MedicationStatement":
        if "effectiveDateTime" in res:
            return hl7_ts(res["effectiveDateTime"], what="effectiveDateTime"), None
        period = res.get("effectivePeriod") or {}
    else:
        repeat = (_dosage(res).get("timing") or {}).get("repeat") or {}
        period = repeat.get("boundsPeriod") or (res.get("dispenseRequest") or {}).get("validityPeriod") or {}
    low = hl7_ts(period["start"], what="period.start") if period.get("start") else None
    high = hl7_ts(period["end"], what="period.end") if period.get("end") else None
    return low, high


def _medication_cells(res: dict[str, Any], ctx: Context) -> Sequence[str]:
    concept = _medication_concept(res, ctx)
    name = concept_text(concept) or str((res.get("medicationReference") or {}).get("display") or "")
    if not name:
        name = "Unknown medication"
    period = res.get("effectivePeriod") or {}
    if res.get("resourceType") == "MedicationRequest":
        period = ((_dosage(res).get("timing") or {}).get("repeat") or {}).get("boundsPeriod") or {}
    start = res.get("effectiveDateTime") or period.get("start") or ""
    source = "Reported" if res.get("resourceType") == "MedicationStatement" else "Prescribed"
    return (
        name,
        str(_dosage(res).get("text") or ""),
        str(res.get("status") or ""),
        str(start)[:10],
        str(period.get("end") or "")[:10],
        source,
    )


def _put_frequency(sa: etree._Element, dosage: dict[str, Any]) -> None:
    repeat = (dosage.get("timing") or {}).get("repeat") or {}
    if not any(k in repeat for k in ("frequency", "period", "periodUnit")):
        if (dosage.get("timing") or {}).get("code"):
            raise Unexpressible("a coded timing without repeat has no PIVL_TS form")
        return
    frequency = int(repeat.get("frequency") or 1)
    unit = str(repeat.get("periodUnit") or "")
    if unit not in _PERIOD_UNITS or "period" not in repeat or frequency < 1 or repeat.get("periodMax"):
        raise Unexpressible("a dosage timing the writer cannot express as PIVL_TS")
    period = Decimal(decimal_text(repeat["period"], what="timing.repeat.period"))
    if frequency == 1:
        value, unit_out = period, unit
    else:
        value, unit_out = period * _PERIOD_UNITS[unit] / frequency, "h"
    pivl = el(sa, "effectiveTime", xsi_type="PIVL_TS", institutionSpecified="true", operator="A")
    el(pivl, "period", value=decimal_text(value.normalize(), what="period"), unit=unit_out)


def _write_medication(entry: etree._Element, res: dict[str, Any], row: Row, ctx: Context) -> None:
    statement = res.get("resourceType") == "MedicationStatement"
    status = str(res.get("status") or "")
    code = (_STATEMENT_STATUS if statement else _REQUEST_STATUS).get(status)
    if code is None:
        raise Unexpressible(f"status {status!r} has no C-CDA medication status")
    mood = "EVN" if statement and status != "intended" else "INT"
    sa = el(
        entry,
        "substanceAdministration",
        classCode="SBADM",
        moodCode=mood,
        negationInd="true" if status == "not-taken" else None,
    )
    template(sa, "2.16.840.1.113883.10.20.22.4.16", "2014-06-09")
    ctx.put_id(sa, res)
    el(el(sa, "text"), "reference", value=f"#{row.id}")
    el(sa, "statusCode", code=code)
    low, high = _period(res)
    put_ivl_ts(sa, low, high, xsi_type="IVL_TS")
    dosage = _dosage(res)
    if dosage.get("asNeededBoolean") or dosage.get("asNeededCodeableConcept"):
        raise Unexpressible("as-needed dosing has no entry form in this writer")
    _put_frequency(sa, dosage)
    if dosage.get("route"):
        put_cd(sa, "routeCode", dosage["route"], prefer=(NCI, SNOMED), what="dosage.route")
    dose_and_rate = dosage.get("doseAndRate") or []
    if dose_and_rate and isinstance(dose_and_rate[0], dict):
        if "doseQuantity" in dose_and_rate[0]:
            put_pq(sa, "doseQuantity", dose_and_rate[0]["doseQuantity"], what="doseQuantity")
        elif "doseRange" in dose_and_rate[0]:
            raise Unexpressible("a dose range is not written")
    concept = _medication_concept(res, ctx)
    if concept is None:
        raise Unexpressible("medicationReference does not resolve to a Medication in the input")
    product = el(el(sa, "consumable"), "manufacturedProduct", classCode="MANU")
    template(product, "2.16.840.1.113883.10.20.22.4.23", "2014-06-09")
    material = el(product, "manufacturedMaterial")
    put_cd(material, "code", concept, prefer=(RXNORM, NDC), ref=row.cells[0], what="medication code")
    if not statement and res.get("authoredOn"):
        author = el(sa, "author")
        template(author, "2.16.840.1.113883.10.20.22.4.119")
        el(author, "time", value=hl7_ts(res["authoredOn"], what="authoredOn"))
        el(el(author, "assignedAuthor"), "id", nullFlavor="UNK")


def write_medications(body: etree._Element, items: Sequence[dict[str, Any]], ctx: Context) -> None:
    writer = SectionWriter(body, MEDICATIONS, ctx)
    for res in items:
        row = writer.row(_medication_cells(res, ctx))
        with writer.guard(res) as entry:
            _write_medication(entry, res, row, ctx)
    writer.finish()


def _immunization_cells(res: dict[str, Any]) -> Sequence[str]:
    vaccine = concept_text(res.get("vaccineCode"))
    if not vaccine:
        raise CcdaWriteError("an Immunization has no vaccineCode", detail={"id": res.get("id")})
    if "occurrenceDateTime" not in res and "occurrenceString" not in res:
        raise CcdaWriteError("an Immunization has no occurrence[x]", detail={"id": res.get("id")})
    when = str(res.get("occurrenceDateTime") or "")[:10] or str(res.get("occurrenceString"))
    reason = concept_text(res.get("statusReason")) if res.get("status") == "not-done" else ""
    return vaccine, when, str(res.get("status") or ""), str(res.get("lotNumber") or ""), reason


def _write_immunization(entry: etree._Element, res: dict[str, Any], row: Row, ctx: Context) -> None:
    refused = res.get("status") == "not-done"
    if res.get("status") not in ("completed", "not-done"):
        raise Unexpressible(f"Immunization status {res.get('status')!r} is not written")
    if "occurrenceDateTime" not in res:
        raise Unexpressible("occurrenceString has no effectiveTime form")
    sa = el(
        entry,
        "substanceAdministration",
        classCode="SBADM",
        moodCode="EVN",
        negationInd="true" if refused else "false",
    )
    template(sa, "2.16.840.1.113883.10.20.22.4.52", "2015-08-01")
    ctx.put_id(sa, res)
    el(el(sa, "text"), "reference", value=f"#{row.id}")
    el(sa, "statusCode", code="completed")
    el(sa, "effectiveTime", value=hl7_ts(res["occurrenceDateTime"], what="occurrenceDateTime"))
    if res.get("route"):
        put_cd(sa, "routeCode", res["route"], prefer=(NCI, SNOMED), what="Immunization.route")
    if res.get("doseQuantity"):
        put_pq(sa, "doseQuantity", res["doseQuantity"], what="Immunization.doseQuantity")
    product = el(el(sa, "consumable"), "manufacturedProduct", classCode="MANU")
    template(product, "2.16.840.1.113883.10.20.22.4.54", "2014-06-09")
    material = el(product, "manufacturedMaterial")
    put_cd(material, "code", res.get("vaccineCode"), prefer=(CVX, NDC), ref=row.cells[0], what="vaccineCode")
    if res.get("lotNumber"):
        el(material, "lotNumberText", str(res["lotNumber"]))
    manufacturer = (res.get("manufacturer") or {}).get("display")
    if manufacturer:
        el(el(product, "manufacturerOrganization"), "name", str(manufacturer))
    if refused and res.get("statusReason"):
        reason = el(
            el(sa, "entryRelationship", typeCode="RSON"), "observation", classCode="OBS", moodCode="EVN"
        )
        template(reason, "2.16.840.1.113883.10.20.22.4.53")
        ctx.put_id(reason, res, "refusal-reason")
        put_cd(
            reason, "code", res["statusReason"], prefer=(ACT_REASON,), ref=row.cells[4], what="statusReason"
        )
        el(reason, "statusCode", code="completed")


def write_immunizations(body: etree._Element, items: Sequence[dict[str, Any]], ctx: Context) -> None:
    writer = SectionWriter(body, IMMUNIZATIONS, ctx)
    for res in items:
        row = writer.row(_immunization_cells(res))
        with writer.guard(res) as entry:
            _write_immunization(entry, res, row, ctx)
    writer.finish()
