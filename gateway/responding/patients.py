"""The clinic's own patients: registering them, finding them by id, and listing match candidates.

A patient is a ``patient`` row whose ``demographics`` JSON is the :class:`~xca.iti55.Demographics` model
(codec below), an identifier under the gateway's assigning authority (the id ITI-55 answers with and ITI-38
queries by), and its blocking keys in ``patient_match_key``.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, replace

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from gateway.matching import (
    Candidate,
    MatchConfig,
    NormalizedPerson,
    candidate_ids,
    match_key_rows,
    normalize_demographics,
    score_candidate,
)
from gateway.store.demographics import demographics_from_json, demographics_to_json
from gateway.store.models import Patient, PatientIdentifier, Tenant
from xca.errors import InvalidValueError
from xca.ids import Cx, require_oid
from xca.iti55 import Demographics, Telecom

__all__ = [
    "LocalPatient",
    "list_patients",
    "match_candidates",
    "patient_by_id",
    "record_target_conflicts",
    "register_patient",
]


@dataclass(frozen=True)
class LocalPatient:
    """A patient of the clinic: internal id, the id under our assigning authority, demographics."""

    id: uuid.UUID
    cx: Cx
    demographics: Demographics


def _local(patient: Patient, assigning_authority: str) -> LocalPatient:
    mrn = next((i.value for i in patient.identifiers if i.system == assigning_authority), None)
    if mrn is None:
        raise InvalidValueError("patient has no identifier under this gateway's assigning authority")
    return LocalPatient(
        patient.id, Cx(mrn, assigning_authority), demographics_from_json(patient.demographics)
    )


_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")


def _telecom_uri(telecom: Telecom) -> Telecom:
    """A telecom as the URI HL7 v3 TEL needs (``tel:+1-617-555-0123``): a bare phone number gets ``tel:``
    and loses its spaces (RFC 3966 keeps only ``-.()`` as visual separators). Refused here, at
    registration, rather than later when a peer's ITI-55 match would need it."""
    value = telecom.value.strip()
    if not _SCHEME.match(value):
        value = "tel:" + value
    if value.lower().startswith("tel:"):
        value = "tel:" + "".join(value[4:].split())
    if len(value) <= 4 or any(ch.isspace() for ch in value):
        raise InvalidValueError("a telecom must be a phone number or a URI such as mailto:name@example.org")
    return replace(telecom, value=value)


def register_patient(
    session: Session,
    tenant: Tenant,
    demographics: Demographics,
    *,
    assigning_authority: str,
    mrn: str | None = None,
) -> LocalPatient:
    """Add a patient with ``mrn`` (generated when absent) under ``assigning_authority``; flushes."""
    require_oid(assigning_authority, what="assigning authority")
    demographics = replace(demographics, telecoms=tuple(_telecom_uri(t) for t in demographics.telecoms))
    if not demographics.names or demographics.birth_date is None:
        raise InvalidValueError("a local patient needs at least one name and a full birth date")
    value = mrn or f"P{uuid.uuid4().hex[:12].upper()}"
    if any(ch in value for ch in "^&~\\|' ") or not value:
        raise InvalidValueError("a patient id must be non-empty, without spaces or CX delimiters")
    patient = Patient(tenant_id=tenant.id, demographics=demographics_to_json(demographics))
    patient.identifiers.append(
        PatientIdentifier(tenant_id=tenant.id, system=assigning_authority, value=value)
    )
    session.add(patient)
    session.flush()
    session.add_all(match_key_rows(tenant, patient.id, normalize_demographics(demographics)))
    session.flush()
    return LocalPatient(patient.id, Cx(value, assigning_authority), demographics)


# Built once with bind parameters (every ITI-38 resolves its patient): constructing the expression per
# call was a measurable share of the request's CPU; SQLAlchemy caches the compiled SQL either way.
_BY_IDENTIFIER = (
    select(Patient)
    .join(PatientIdentifier, PatientIdentifier.patient_id == Patient.id)
    .where(
        PatientIdentifier.tenant_id == bindparam("tenant_id"),
        PatientIdentifier.system == bindparam("system"),
        PatientIdentifier.value == bindparam("value"),
    )
)


def patient_by_id(session: Session, tenant: Tenant, cx: Cx) -> LocalPatient | None:
    """The local patient whose identifier is ``cx`` (value under its assigning authority), if any."""
    patient = session.scalar(_BY_IDENTIFIER, {"tenant_id": tenant.id, "system": cx.root, "value": cx.id})
    return _local(patient, cx.root) if patient is not None else None


def list_patients(
    session: Session, tenant: Tenant, *, assigning_authority: str, limit: int = 100
) -> list[LocalPatient]:
    patients = session.scalars(
        select(Patient).where(Patient.tenant_id == tenant.id).order_by(Patient.created_at).limit(limit)
    )
    return [_local(p, assigning_authority) for p in patients]


def match_candidates(
    session: Session,
    tenant: Tenant,
    query: NormalizedPerson,
    *,
    assigning_authority: str,
    identifiers: Sequence[tuple[str, str]] = (),
    limit: int = 200,
) -> list[Candidate[LocalPatient]]:
    """The blocked candidates for ``query``, loaded and normalized for the scorer."""
    ids = candidate_ids(session, tenant, query, identifiers=identifiers, limit=limit)
    if not ids:
        return []
    patients = session.scalars(select(Patient).where(Patient.tenant_id == tenant.id, Patient.id.in_(ids)))
    found: list[Candidate[LocalPatient]] = []
    for patient in patients:
        local = _local(patient, assigning_authority)
        person = normalize_demographics(local.demographics)
        # The id under our own assigning authority is evidence too (a query naming it by livingSubjectId).
        own = person.identifiers | {(local.cx.root, local.cx.id)}
        found.append(Candidate(local, replace(person, identifiers=own)))
    return found


def record_target_conflicts(
    document: Demographics, patient: LocalPatient, config: MatchConfig
) -> tuple[int, tuple[str, ...]] | None:
    """``None`` when a document's ``recordTarget`` is ``patient`` by this gateway's own matcher (as an inbound
    ITI-55 query with those demographics would be matched); otherwise its score and the attributes that
    disagree. A document filed under the wrong patient would be served to the network as theirs."""
    score = score_candidate(
        normalize_demographics(document), normalize_demographics(patient.demographics), config
    )
    if not score.vetoes and score.value >= config.match_threshold:
        return None
    return score.value, tuple(e.attribute.value for e in score.evidence if e.similarity == 0.0)
