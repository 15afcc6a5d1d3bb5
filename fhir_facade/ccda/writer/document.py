"""``write_ccd``: FHIR R4 resources (plain dicts, or a Bundle) → a C-CDA R2.1 Continuity of Care Document."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from lxml import etree

from fhir_facade.ccda.writer import activities, allergies, header, medications, problems, results
from fhir_facade.ccda.writer.context import Context
from fhir_facade.ccda.writer.datatypes import SDTC, V3, XSI, el, hl7_ts, put_ivl_ts, template
from fhir_facade.ccda.writer.model import AuthoringDevice, CcdResult, Organization
from xca.errors import CcdaWriteError

__all__ = ["render_ccd", "write_ccd"]

_CONFIDENTIALITY = {"N": "normal", "R": "restricted", "V": "very restricted"}
# Types that only serve as reference targets (or are the subject): not rendered on their own.
_SUPPORTING = {"Patient", "Medication", "Practitioner", "PractitionerRole", "Organization", "Location"}


def write_ccd(
    resources: Sequence[Mapping[str, Any]] | Mapping[str, Any],
    *,
    document_id: str,
    author_organization: Organization,
    author_device: AuthoringDevice,
    custodian: Organization,
    effective_time: datetime | str,
    **options: Any,
) -> bytes:
    """The CCD as UTF-8 XML bytes; see :func:`render_ccd` for the options and for the warnings."""
    return render_ccd(
        resources,
        document_id=document_id,
        author_organization=author_organization,
        author_device=author_device,
        custodian=custodian,
        effective_time=effective_time,
        **options,
    ).document


def render_ccd(
    resources: Sequence[Mapping[str, Any]] | Mapping[str, Any],
    *,
    document_id: str,
    author_organization: Organization,
    author_device: AuthoringDevice,
    custodian: Organization,
    effective_time: datetime | str,
    id_root: str | None = None,
    title: str = "Continuity of Care Document",
    confidentiality: str = "N",
    language: str = "en-US",
    service_period: tuple[str, str] | None = None,
) -> CcdResult:
    """Write a CCD (US Realm Header 2015-08-01 + CCD 2015-08-01) for the one Patient in ``resources``.

    Deterministic: entry ids are ``id_root`` (default: the custodian's OID) with ``Type/id`` extensions and
    nothing reads the clock. Raises :class:`~xca.errors.CcdaWriteError` for unusable input; data that has
    no faithful entry form stays in the narrative and is reported in :attr:`CcdResult.warnings`.
    """
    items = _resources(resources)
    ctx = Context(id_root or custodian.oid, items)
    if len(ctx.index) != len(items):
        raise CcdaWriteError("two resources share the same type and id")
    patients = [r for r in items if r["resourceType"] == "Patient"]
    if len(patients) != 1:
        raise CcdaWriteError("a CCD needs exactly one Patient", detail={"patients": len(patients)})
    if confidentiality not in _CONFIDENTIALITY:
        raise CcdaWriteError("confidentiality must be N, R or V", detail={"value": confidentiality})
    when = _effective_time(effective_time)
    groups = _classify(items, ctx)

    doc = etree.Element(f"{{{V3}}}ClinicalDocument", nsmap={None: V3, "sdtc": SDTC, "xsi": XSI})
    el(doc, "realmCode", code="US")
    el(doc, "typeId", root="2.16.840.1.113883.1.3", extension="POCD_HD000040")
    template(doc, "2.16.840.1.113883.10.20.22.1.1", "2015-08-01")
    template(doc, "2.16.840.1.113883.10.20.22.1.2", "2015-08-01")
    header.put_document_id(doc, document_id, custodian)
    el(
        doc,
        "code",
        code="34133-9",
        codeSystem="2.16.840.1.113883.6.1",
        codeSystemName="LOINC",
        displayName="Summarization of Episode Note",
    )
    el(doc, "title", title)
    el(doc, "effectiveTime", value=when)
    el(
        doc,
        "confidentialityCode",
        code=confidentiality,
        codeSystem="2.16.840.1.113883.5.25",
        codeSystemName="Confidentiality",
        displayName=_CONFIDENTIALITY[confidentiality],
    )
    el(doc, "languageCode", code=language)
    patient = patients[0]
    header.put_record_target(doc, patient, ctx.id_root)
    header.put_author(doc, author_organization, author_device, when)
    header.put_custodian(doc, custodian)
    event = el(el(doc, "documentationOf", typeCode="DOC"), "serviceEvent", classCode="PCPR")
    low: str | None
    if service_period is not None:
        low, high = (hl7_ts(value, what="service_period") for value in service_period)
    else:
        birth = patient.get("birthDate")
        low, high = (hl7_ts(birth, what="Patient.birthDate") if birth else None), when
    put_ivl_ts(event, low, high)

    body = el(el(doc, "component"), "structuredBody")
    allergies.write_allergies(body, groups["AllergyIntolerance"], ctx)
    medications.write_medications(body, groups["Medication"], ctx)
    problems.write_problems(body, groups["Condition"], ctx)
    if groups["Immunization"]:
        medications.write_immunizations(body, groups["Immunization"], ctx)
    results.write_vital_signs(body, groups["vital-signs"], ctx)
    results.write_results(body, groups["results"], ctx)
    if groups["Procedure"]:
        activities.write_procedures(body, groups["Procedure"], ctx)
    if groups["Encounter"]:
        activities.write_encounters(body, groups["Encounter"], ctx)
    results.write_social_history(body, groups["social-history"], patient, ctx)
    xml = etree.tostring(doc, xml_declaration=True, encoding="UTF-8", pretty_print=True)
    return CcdResult(xml, tuple(ctx.warnings))


def _resources(resources: Sequence[Mapping[str, Any]] | Mapping[str, Any]) -> list[dict[str, Any]]:
    if isinstance(resources, Mapping):
        if resources.get("resourceType") != "Bundle":
            raise CcdaWriteError("resources must be a sequence of resources or a Bundle")
        entries = resources.get("entry") or []
        found = [e.get("resource") for e in entries if isinstance(e, Mapping)]
    else:
        found = list(resources)
    if not all(isinstance(r, Mapping) for r in found):
        raise CcdaWriteError("every resource must be a JSON object")
    return [dict(r) for r in found if isinstance(r, Mapping)]


def _effective_time(value: datetime | str) -> str:
    if isinstance(value, datetime):
        if value.tzinfo is None or value.utcoffset() is None:
            raise CcdaWriteError("effective_time must be timezone-aware")
        value = value.isoformat(timespec="seconds")
    return hl7_ts(value, what="effective_time")


def _categories(resource: dict[str, Any]) -> set[str]:
    return {
        str(c.get("code"))
        for cc in resource.get("category") or []
        for c in (cc.get("coding") or [])
        if c.get("code")
    }


def _entered_in_error(resource: dict[str, Any]) -> bool:
    if resource.get("status") == "entered-in-error":
        return True
    return problems.clinical_code(resource, "verificationStatus") == "entered-in-error"


def _classify(items: list[dict[str, Any]], ctx: Context) -> dict[str, list[dict[str, Any]]]:
    """Resources per section in input order; entered-in-error records and unknown types become warnings."""
    groups: dict[str, list[dict[str, Any]]] = {
        key: []
        for key in (
            "AllergyIntolerance",
            "Medication",
            "Condition",
            "Immunization",
            "vital-signs",
            "results",
            "Procedure",
            "Encounter",
            "social-history",
        )
    }
    live = [r for r in items if not _entered_in_error(r)]
    for resource in items:
        if _entered_in_error(resource):
            ctx.warn(resource, "", "entered-in-error: left out of the document")
    encounters = [r for r in live if r["resourceType"] == "Encounter"]
    diagnoses = activities.diagnosis_conditions(encounters, ctx)
    reported: set[str] = set()
    for report in (r for r in live if r["resourceType"] == "DiagnosticReport"):
        targets = (ctx.resolve(ref, "Observation") for ref in report.get("result") or [])
        reported.update(ctx.key(t) for t in targets if t is not None)
    for resource in live:
        rtype, key = resource["resourceType"], ctx.key(resource)
        if rtype in ("AllergyIntolerance", "Immunization", "Procedure", "Encounter"):
            groups[rtype].append(resource)
        elif rtype in ("MedicationStatement", "MedicationRequest"):
            groups["Medication"].append(resource)
        elif rtype == "Condition":
            if not (key in diagnoses and "encounter-diagnosis" in _categories(resource)):
                groups["Condition"].append(resource)
        elif rtype == "DiagnosticReport":
            groups["results"].append(resource)
        elif rtype == "Observation":
            categories = _categories(resource)
            if key in reported:
                continue
            if "vital-signs" in categories:
                groups["vital-signs"].append(resource)
            elif "social-history" in categories:
                groups["social-history"].append(resource)
            elif "laboratory" in categories or not categories:
                groups["results"].append(resource)
            else:
                ctx.warn(resource, "", f"Observation category {sorted(categories)} has no CCD section here")
        elif rtype not in _SUPPORTING:
            ctx.warn(resource, "", f"{rtype} is not rendered in a CCD")
    return groups
