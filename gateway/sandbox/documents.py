"""The sandbox's clinical documents: C-CDA CCDs written by the project's writer, and optionally a PDF.

A person's clinical history is one synthetic record (:func:`~fhir_facade.ccda.writer.synthetic_record`,
seeded per person, generated once). Each organization that knows the person writes its own documents
from it: every document carries the *core* facts (problems, allergies, medications, immunizations, smoking
status), so the same facts recur across documents and organizations for the consolidation to de-duplicate,
while the dated facts (encounters with their vitals, lab panels and procedures) are dealt out between the
organizations and their documents, so each organization also holds facts nobody else has. The recordTarget
is the organization's own registration (its MRN, its spelling of the name, its address); the author and
custodian are the organization; document ids are OIDs under the organization's community, so no two
documents anywhere share an id.

The optional PDF (``--pdf``) is a one-page note built by hand (a valid PDF 1.4 file, about 1 KB), filed as
``application/pdf`` with the IHE "mimeType sufficient" format code.
"""

from __future__ import annotations

import copy
import datetime as dt
import hashlib
import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, replace
from functools import lru_cache
from typing import Any, Final

from fhir_facade.ccda.writer import Address as CdaAddress
from fhir_facade.ccda.writer import AuthoringDevice, Organization, render_ccd, synthetic_record
from gateway.responding import DocumentDefaults, entry_from_ccda
from gateway.sandbox.plan import GatewayPlan
from gateway.sandbox.population import Registration
from xca.ids import Cx
from xca.iti38 import Code, DocumentEntry
from xca.iti55 import Demographics

__all__ = ["SandboxDocument", "documents_for", "organization_of", "pdf_note"]

_LOINC: Final = "2.16.840.1.113883.6.1"
_FORMAT_SYSTEM: Final = "1.3.6.1.4.1.19376.1.2.3"
_TODAY: Final = dt.date(2024, 6, 1)  # the synthetic records count back from this day
_TITLES: Final = (
    "Continuity of Care Document",
    "Summary of Care",
    "Clinical Summary",
    "Transition of Care Summary",
)
_CORE_TYPES: Final = frozenset(
    {
        "Condition",
        "AllergyIntolerance",
        "MedicationStatement",
        "MedicationRequest",
        "Medication",
        "Immunization",
    }
)
_DEVICE: Final = AuthoringDevice("hie-gateway sandbox", "synthetic EHR 1.0")


@dataclass(frozen=True)
class SandboxDocument:
    """One document as filed: its bytes and its XDS metadata."""

    content: bytes
    entry: DocumentEntry


def organization_of(plan: GatewayPlan) -> Organization:
    place = plan.place
    address = CdaAddress((place.street,), place.city, place.state, place.town.postal_code)
    return Organization(plan.home_community_id, plan.organization_name, plan.telecom, address)


@lru_cache(maxsize=64)
def _record(seed: int) -> tuple[tuple[dict[str, Any], ...], tuple[tuple[dict[str, Any], ...], ...]]:
    """The person's core resources (without Patient) and dated groups (one per day), oldest day first."""
    core: list[dict[str, Any]] = []
    days: defaultdict[str, list[dict[str, Any]]] = defaultdict(list)
    for resource in synthetic_record(seed):
        kind = resource["resourceType"]
        if kind == "Patient":
            continue
        categories = [
            c.get("code")
            for cat in resource.get("category") or []
            if isinstance(cat, dict)
            for c in cat.get("coding") or []
        ]
        if kind in _CORE_TYPES or "social-history" in categories:
            core.append(resource)
            continue
        when = (
            resource.get("effectiveDateTime")
            or (resource.get("period") or {}).get("start")
            or resource.get("performedDateTime")
            or ""
        )
        days[str(when)[:10]].append(resource)
    return tuple(core), tuple(tuple(days[d]) for d in sorted(days))


@lru_cache(maxsize=64)
def _patient_template(seed: int) -> dict[str, Any]:
    patient = next(r for r in synthetic_record(seed) if r["resourceType"] == "Patient")
    return {k: v for k, v in patient.items() if k in ("resourceType", "id", "extension", "maritalStatus",
                                                       "communication")}  # fmt: skip


def _patient(registration: Registration, plan: GatewayPlan) -> dict[str, Any]:
    demo: Demographics = registration.demographics
    patient = copy.deepcopy(_patient_template(registration.seed))
    names = []
    for position, name in enumerate(demo.names):
        entry: dict[str, Any] = {"use": "official" if position == 0 else "old", "given": list(name.given)}
        if name.family:
            entry["family"] = name.family
        names.append(entry)
    patient.update(
        identifier=[{"system": f"urn:oid:{plan.assigning_authority}", "value": registration.mrn}],
        name=names,
        telecom=[
            {"system": "phone", "value": t.value.removeprefix("tel:"), "use": "home"} for t in demo.telecoms
        ],
        gender="female" if demo.gender and demo.gender.value == "F" else "male",
        birthDate=demo.birth_date.isoformat() if demo.birth_date else None,
        address=[
            {"use": "home", "line": list(a.street_lines), "city": a.city, "state": a.state,
             "postalCode": a.postal_code, "country": "US"}
            for a in demo.addresses
        ],
    )  # fmt: skip
    return patient


def _document_day(groups: Sequence[Sequence[dict[str, Any]]], fallback: dt.date) -> dt.date:
    days = [str(r.get("effectiveDateTime") or (r.get("period") or {}).get("start") or "")[:10]
            for group in groups for r in group]  # fmt: skip
    known = [dt.date.fromisoformat(d) for d in days if len(d) == 10]
    return max(known) + dt.timedelta(days=1) if known else fallback


def documents_for(
    registration: Registration, plan: GatewayPlan, *, pdf: bool = False, next_id: int = 1
) -> list[SandboxDocument]:
    """The documents ``plan``'s organization holds for ``registration`` (its ``documents`` CCDs, + a PDF)."""
    core, days = _record(registration.seed)
    position, presences = registration.share
    own_days = days[position::presences]
    count = registration.documents
    patient = _patient(registration, plan)
    organization = organization_of(plan)
    cx = Cx(registration.mrn, plan.assigning_authority)
    defaults = DocumentDefaults(plan.home_community_id, plan.repository_unique_id)
    found: list[SandboxDocument] = []
    for number in range(count):
        groups = own_days[number::count]
        fallback = _TODAY - dt.timedelta(days=120 * (count - number) + 7 * registration.gateway % 90)
        day = _document_day(groups, fallback)
        when = dt.datetime.combine(day, dt.time(14, 0), tzinfo=dt.UTC) + dt.timedelta(minutes=plan.index % 60)
        resources = [patient, *core, *(r for group in groups for r in group)]
        result = render_ccd(
            resources,
            document_id=f"{plan.home_community_id}.9.{next_id + number}",
            author_organization=organization,
            author_device=_DEVICE,
            custodian=organization,
            effective_time=when,
            title=_TITLES[(number + plan.index) % len(_TITLES)],
        )
        found.append(SandboxDocument(result.document, entry_from_ccda(result.document, cx, defaults)))
    if pdf and found:
        content = pdf_note(
            f"Progress note - {plan.organization_name}",
            [
                f"Patient: {' '.join(registration.demographics.names[0].given)} "
                f"{registration.demographics.names[0].family}",
                f"MRN: {registration.mrn}",
                "Synthetic document from the hie-gateway sandbox. Not a real patient.",
            ],
        )
        base = found[-1].entry
        entry = replace(
            base,
            entry_uuid=f"urn:uuid:{uuid.uuid4()}",
            unique_id=f"{plan.home_community_id}.9.{next_id + count}",
            mime_type="application/pdf",
            size=len(content),
            hash=hashlib.sha1(content, usedforsecurity=False).hexdigest(),
            title="Progress note (scanned)",
            class_code=Code("11506-3", _LOINC, "Progress note"),
            type_code=Code("11506-3", _LOINC, "Progress note"),
            format_code=Code(
                "urn:ihe:iti:xds:2017:mimeTypeSufficient", _FORMAT_SYSTEM, "mimeType Sufficient"
            ),
        )
        found.append(SandboxDocument(content, entry))
    return found


def _pdf_text(text: str) -> str:
    return (
        text.replace("\\", "\\\\")
        .replace("(", "\\(")
        .replace(")", "\\)")
        .encode("latin-1", "replace")
        .decode("latin-1")
    )


def pdf_note(title: str, lines: Sequence[str]) -> bytes:
    """A one-page PDF 1.4 with ``title`` and ``lines`` in Helvetica, cross-reference table included."""
    text = ["BT", "/F1 16 Tf", "72 720 Td", f"({_pdf_text(title)}) Tj", "/F1 11 Tf"]
    for line in lines:
        text += ["0 -24 Td", f"({_pdf_text(line)}) Tj"]
    text.append("ET")
    stream = "\n".join(text).encode("latin-1")
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 5 0 R >> >> "
        b"/Contents 4 0 R >>",
        b"<< /Length " + str(len(stream)).encode() + b" >>\nstream\n" + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n".encode() + body + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n".encode() + b"0000000000 65535 f \n"
    out += b"".join(f"{offset:010d} 00000 n \n".encode() for offset in offsets)
    out += f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    return bytes(out)
