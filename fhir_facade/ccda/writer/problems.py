"""Problems (Condition): Problem Concern Acts wrapping Problem Observations; helpers shared with Allergies."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from lxml import etree

from fhir_facade.ccda.writer.context import Context, SectionSpec, SectionWriter
from fhir_facade.ccda.writer.datatypes import (
    Unexpressible,
    concept_text,
    el,
    hl7_ts,
    put_cd,
    put_ivl_ts,
    template,
)
from xca.errors import CcdaWriteError

__all__ = [
    "PROBLEMS",
    "choice_date",
    "clinical_code",
    "fhir_date",
    "put_concern",
    "put_problem_observation",
    "write_problems",
]

SNOMED = "http://snomed.info/sct"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
UNII = "http://fdasis.nlm.nih.gov"
ICD10CM = "http://hl7.org/fhir/sid/icd-10-cm"
SNOMED_OID = "2.16.840.1.113883.6.96"
ACT_CODE = "2.16.840.1.113883.5.4"

PROBLEMS = SectionSpec(
    "problems", "2.16.840.1.113883.10.20.22.2.5.1", "2015-08-01", "11450-4",
    "Problem list - Reported", "Problems", "problem", ("Problem", "Status", "Onset", "Resolved"),
)  # fmt: skip

_ACTIVE = {"active", "recurrence", "relapse"}


def clinical_code(resource: dict[str, Any], element: str = "clinicalStatus") -> str:
    """The first code of ``clinicalStatus`` (or another CodeableConcept status element), '' when absent."""
    for coding in (resource.get(element) or {}).get("coding") or []:
        if isinstance(coding, dict) and coding.get("code"):
            return str(coding["code"])
    return ""


def choice_date(resource: dict[str, Any], prefix: str, what: str) -> str | None:
    """``{prefix}DateTime`` or ``{prefix}Period.start`` as TS; other choice types cannot be expressed."""
    if f"{prefix}DateTime" in resource:
        return hl7_ts(resource[f"{prefix}DateTime"], what=what)
    period = resource.get(f"{prefix}Period")
    if isinstance(period, dict) and period.get("start"):
        return hl7_ts(period["start"], what=what)
    for suffix in ("Age", "Range", "String", "Boolean"):
        if f"{prefix}{suffix}" in resource:
            raise Unexpressible(f"{what} as {prefix}{suffix} has no C-CDA effectiveTime form")
    return None


def fhir_date(value: Any) -> str:
    return str(value)[:10] if isinstance(value, str) else ""


def put_concern(parent: etree._Element, resource: dict[str, Any], ctx: Context, root: str) -> etree._Element:
    act = el(parent, "act", classCode="ACT", moodCode="EVN")
    template(act, root, "2015-08-01")
    ctx.put_id(act, resource, "concern")
    el(
        act,
        "code",
        code="CONC",
        codeSystem="2.16.840.1.113883.5.6",
        codeSystemName="ActClass",
        displayName="Concern",
    )
    return act


def _problem_cells(resource: dict[str, Any]) -> Sequence[str]:
    problem = concept_text(resource.get("code"))
    if not problem:
        raise CcdaWriteError("a Condition has no code", detail={"id": resource.get("id")})
    return (
        problem,
        clinical_code(resource) or "active",
        fhir_date(resource.get("onsetDateTime") or (resource.get("onsetPeriod") or {}).get("start")),
        fhir_date(resource.get("abatementDateTime") or (resource.get("abatementPeriod") or {}).get("start")),
    )


def put_problem_observation(
    parent: etree._Element,
    res: dict[str, Any],
    ctx: Context,
    *,
    text_ref: str,
    code_ref: str,
    diagnosis: bool,
) -> None:
    """Problem Observation (4.4, 2015-08-01) pointing at narrative ids; ``diagnosis`` picks the type."""
    onset = choice_date(res, "onset", "Condition.onset")
    abatement = choice_date(res, "abatement", "Condition.abatement")
    refuted = clinical_code(res, "verificationStatus") == "refuted"
    obs = el(parent, "observation", classCode="OBS", moodCode="EVN", negationInd="true" if refuted else None)
    template(obs, "2.16.840.1.113883.10.20.22.4.4", "2015-08-01")
    ctx.put_id(obs, res)
    snomed, loinc, display = (
        ("282291009", "29308-4", "Diagnosis") if diagnosis else ("55607006", "75326-9", "Problem")
    )
    code = el(
        obs, "code", code=snomed, codeSystem=SNOMED_OID, codeSystemName="SNOMED CT", displayName=display
    )
    el(
        code,
        "translation",
        code=loinc,
        codeSystem="2.16.840.1.113883.6.1",
        codeSystemName="LOINC",
        displayName=display,
    )
    el(el(obs, "text"), "reference", value=f"#{text_ref}")
    el(obs, "statusCode", code="completed")
    put_ivl_ts(obs, onset, abatement)
    put_cd(
        obs,
        "value",
        res.get("code"),
        prefer=(SNOMED, ICD10CM),
        ref=code_ref,
        what="Condition.code",
        xsi_type="CD",
    )


def write_problems(body: etree._Element, items: Sequence[dict[str, Any]], ctx: Context) -> None:
    writer = SectionWriter(body, PROBLEMS, ctx)
    for res in items:
        row = writer.row(_problem_cells(res))
        with writer.guard(res) as entry:
            active = (clinical_code(res) or "active") in _ACTIVE
            act = put_concern(entry, res, ctx, "2.16.840.1.113883.10.20.22.4.3")
            el(act, "statusCode", code="active" if active else "completed")
            recorded = hl7_ts(res["recordedDate"], what="recordedDate") if res.get("recordedDate") else None
            put_ivl_ts(
                act,
                recorded or choice_date(res, "onset", "Condition.onset"),
                None if active else choice_date(res, "abatement", "Condition.abatement"),
            )
            relationship = el(act, "entryRelationship", typeCode="SUBJ")
            put_problem_observation(
                relationship, res, ctx, text_ref=row.id, code_ref=row.cells[0], diagnosis=False
            )
    writer.finish()
