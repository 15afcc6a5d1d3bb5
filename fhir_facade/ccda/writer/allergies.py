"""Allergies (AllergyIntolerance): Allergy Concern Act → Allergy-Intolerance Observation (+ reactions)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from lxml import etree

from fhir_facade.ccda.writer.context import Context, Row, SectionSpec, SectionWriter
from fhir_facade.ccda.writer.datatypes import (
    concept_text,
    el,
    hl7_ts,
    put_cd,
    put_ivl_ts,
    template,
)
from fhir_facade.ccda.writer.problems import choice_date, clinical_code, fhir_date, put_concern
from xca.errors import CcdaWriteError

__all__ = ["ALLERGIES", "NO_KNOWN", "write_allergies"]

SNOMED = "http://snomed.info/sct"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
UNII = "http://fdasis.nlm.nih.gov"
ICD10CM = "http://hl7.org/fhir/sid/icd-10-cm"
SNOMED_OID = "2.16.840.1.113883.6.96"
ACT_CODE = "2.16.840.1.113883.5.4"

ALLERGIES = SectionSpec(
    "allergies", "2.16.840.1.113883.10.20.22.2.6.1", "2015-08-01", "48765-2",
    "Allergies and adverse reactions Document", "Allergies and Intolerances", "allergy",
    ("Substance", "Type", "Reaction", "Severity", "Criticality", "Status", "Onset"),
)  # fmt: skip
# (type, category) → SNOMED allergy/intolerance type (Allergy and Intolerance Type value set).
_ALLERGY_TYPE = {
    ("allergy", "medication"): ("416098002", "Allergy to drug (disorder)"),
    ("allergy", "food"): ("414285001", "Allergy to food (disorder)"),
    ("allergy", ""): ("419199007", "Allergy to substance (disorder)"),
    ("intolerance", "medication"): ("59037007", "Intolerance to drug (disorder)"),
    ("intolerance", "food"): ("235719002", "Intolerance to food (disorder)"),
    ("", "medication"): ("419511003", "Propensity to adverse reactions to drug (disorder)"),
    ("", "food"): ("418471000", "Propensity to adverse reactions to food (disorder)"),
    ("", ""): ("420134006", "Propensity to adverse reactions (disorder)"),
    ("allergy", "environment"): ("426232007", "Environmental allergy (disorder)"),
    ("intolerance", ""): ("782197009", "Intolerance to substance (disorder)"),
}
# "No known ..." situations → the type the negated Allergy-Intolerance Observation carries.
NO_KNOWN = {
    "716186003": ("419199007", "Allergy to substance (disorder)"),
    "409137002": ("416098002", "Allergy to drug (disorder)"),
    "429625007": ("414285001", "Allergy to food (disorder)"),
}
_SEVERITY = {
    "mild": ("255604002", "Mild"),
    "moderate": ("6736007", "Moderate"),
    "severe": ("24484000", "Severe"),
}
_CRITICALITY = {"low": "CRITL", "high": "CRITH", "unable-to-assess": "CRITU"}


def _no_known(resource: dict[str, Any]) -> tuple[str, str] | None:
    for coding in (resource.get("code") or {}).get("coding") or []:
        if coding.get("system") == SNOMED and coding.get("code") in NO_KNOWN:
            return NO_KNOWN[str(coding["code"])]
    return None


def _allergy_type(resource: dict[str, Any]) -> tuple[str, str]:
    kind = str(resource.get("type") or "")
    categories = resource.get("category") or []
    single = len(categories) == 1 and categories[0] in ("medication", "food", "environment")
    category = str(categories[0]) if single else ""
    # The most specific code the value set has: type and category, else the type, else the category.
    for key in ((kind, category), (kind, ""), ("", category)):
        if key in _ALLERGY_TYPE:
            return _ALLERGY_TYPE[key]
    return _ALLERGY_TYPE[("", "")]


def _allergy_cells(resource: dict[str, Any]) -> Sequence[str]:
    substance = concept_text(resource.get("code"))
    if not substance:
        raise CcdaWriteError("an AllergyIntolerance has no code", detail={"id": resource.get("id")})
    reactions = [r for r in resource.get("reaction") or [] if isinstance(r, dict)]
    manifestations = [concept_text(m) for r in reactions for m in r.get("manifestation") or []]
    severities = [str(r["severity"]) for r in reactions if r.get("severity")]
    return (
        substance,
        "" if _no_known(resource) else _allergy_type(resource)[1],
        ", ".join(m for m in manifestations if m),
        ", ".join(severities),
        str(resource.get("criticality") or ""),
        clinical_code(resource) or "active",
        fhir_date(resource.get("onsetDateTime")),
    )


def _write_allergy(entry: etree._Element, res: dict[str, Any], row: Row, ctx: Context) -> None:
    status = clinical_code(res) or "active"
    onset = choice_date(res, "onset", "AllergyIntolerance.onset")
    act = put_concern(entry, res, ctx, "2.16.840.1.113883.10.20.22.4.30")
    el(act, "statusCode", code="active" if status == "active" else "completed")
    recorded = hl7_ts(res["recordedDate"], what="recordedDate") if res.get("recordedDate") else None
    put_ivl_ts(act, recorded or onset, None)
    no_known = _no_known(res)
    refuted = clinical_code(res, "verificationStatus") == "refuted"
    obs = el(
        el(act, "entryRelationship", typeCode="SUBJ"),
        "observation",
        classCode="OBS",
        moodCode="EVN",
        negationInd="true" if no_known or refuted else None,
    )
    template(obs, "2.16.840.1.113883.10.20.22.4.7", "2014-06-09")
    ctx.put_id(obs, res)
    el(obs, "code", code="ASSERTION", codeSystem=ACT_CODE, codeSystemName="ActCode")
    el(el(obs, "text"), "reference", value=f"#{row.id}")
    el(obs, "statusCode", code="completed")
    put_ivl_ts(obs, onset, None)
    code, display = no_known or _allergy_type(res)
    el(
        obs,
        "value",
        xsi_type="CD",
        code=code,
        codeSystem=SNOMED_OID,
        codeSystemName="SNOMED CT",
        displayName=display,
    )
    role = el(el(obs, "participant", typeCode="CSM"), "participantRole", classCode="MANU")
    entity = el(role, "playingEntity", classCode="MMAT")
    if no_known:
        el(entity, "code", nullFlavor="NA")
    else:
        put_cd(
            entity, "code", res.get("code"), prefer=(RXNORM, SNOMED, UNII), ref=row.cells[0], what="substance"
        )
    criticality = _CRITICALITY.get(str(res.get("criticality")))
    if criticality:
        crit = el(
            el(obs, "entryRelationship", typeCode="SUBJ", inversionInd="true"),
            "observation",
            classCode="OBS",
            moodCode="EVN",
        )
        template(crit, "2.16.840.1.113883.10.20.22.4.145")
        el(
            crit,
            "code",
            code="CRIT",
            codeSystem=ACT_CODE,
            codeSystemName="ActCode",
            displayName="Criticality",
        )
        el(crit, "statusCode", code="completed")
        el(
            crit,
            "value",
            xsi_type="CD",
            code=criticality,
            codeSystem="2.16.840.1.113883.5.1063",
            codeSystemName="ObservationValue",
        )
    for i, reaction in enumerate(res.get("reaction") or []):
        for j, manifestation in enumerate(reaction.get("manifestation") or []):
            _put_reaction(obs, res, ctx, reaction, manifestation, f"reaction-{i + 1}-{j + 1}", row)


def _put_reaction(
    obs: etree._Element,
    res: dict[str, Any],
    ctx: Context,
    reaction: dict[str, Any],
    manifestation: Any,
    suffix: str,
    row: Row,
) -> None:
    reac = el(
        el(obs, "entryRelationship", typeCode="MFST", inversionInd="true"),
        "observation",
        classCode="OBS",
        moodCode="EVN",
    )
    template(reac, "2.16.840.1.113883.10.20.22.4.9", "2014-06-09")
    ctx.put_id(reac, res, suffix)
    el(reac, "code", code="ASSERTION", codeSystem=ACT_CODE, codeSystemName="ActCode")
    el(el(reac, "text"), "reference", value=f"#{row.cells[2]}")
    el(reac, "statusCode", code="completed")
    onset = hl7_ts(reaction["onset"], what="reaction.onset") if reaction.get("onset") else None
    if onset:
        put_ivl_ts(reac, onset, None)
    put_cd(reac, "value", manifestation, prefer=(SNOMED,), what="reaction manifestation", xsi_type="CD")
    severity = _SEVERITY.get(str(reaction.get("severity")))
    if severity:
        sev = el(
            el(reac, "entryRelationship", typeCode="SUBJ", inversionInd="true"),
            "observation",
            classCode="OBS",
            moodCode="EVN",
        )
        template(sev, "2.16.840.1.113883.10.20.22.4.8", "2014-06-09")
        el(sev, "code", code="SEV", codeSystem=ACT_CODE, codeSystemName="ActCode", displayName="Severity")
        el(el(sev, "text"), "reference", value=f"#{row.cells[3]}")
        el(sev, "statusCode", code="completed")
        el(
            sev,
            "value",
            xsi_type="CD",
            code=severity[0],
            codeSystem=SNOMED_OID,
            codeSystemName="SNOMED CT",
            displayName=severity[1],
        )


def write_allergies(body: etree._Element, items: Sequence[dict[str, Any]], ctx: Context) -> None:
    writer = SectionWriter(body, ALLERGIES, ctx)
    for res in items:
        row = writer.row(_allergy_cells(res))
        with writer.guard(res) as entry:
            _write_allergy(entry, res, row, ctx)
    writer.finish()
