"""The clinic's patients as the API sees them: register (with the search index), read, find, search.

Registration goes through :func:`gateway.responding.patients.register_patient` (the same store the
responding gateway answers from, with its matching keys); the API adds the client's other identifiers as
``patient_identifier`` rows (unique per tenant, which is what makes conditional create safe) and the
``patient_search`` / ``patient_search_name`` index rows. Patients registered by other paths
(``hiegate patients add``) are indexed by :func:`index_missing` when the server starts.

Every query here is filtered by tenant.
"""

from __future__ import annotations

import datetime as dt
import unicodedata
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, exists, false, func, or_, select, true
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from fhir_facade.api.patients.resource import NewPatient
from gateway.responding.patients import register_patient
from gateway.store.api import PatientSearch, PatientSearchName
from gateway.store.demographics import demographics_from_json
from gateway.store.models import Patient, PatientIdentifier, Tenant
from xca.iti55 import Demographics

__all__ = [
    "DayRange",
    "IdentifierTakenError",
    "PatientQuery",
    "canonical_id",
    "create_patient",
    "fold",
    "index_missing",
    "patient_in_tenant",
    "patients_with_identifier",
    "search_patients",
]


class IdentifierTakenError(Exception):
    """An identifier of the new patient already belongs to another patient of the tenant."""


def fold(text: str) -> str:
    """Case- and accent-insensitive form of a name part, for prefix search."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch)).strip()[:255]


def _index_rows(tenant_id: int, patient_id: uuid.UUID, demo: Demographics) -> list[object]:
    rows: list[object] = [
        PatientSearch(
            patient_id=patient_id,
            tenant_id=tenant_id,
            birth_date=demo.birth_date,
            gender=demo.gender.value if demo.gender else None,
        )
    ]
    parts: set[tuple[str, str]] = set()
    for name in demo.names:
        if name.family:
            parts |= {("family", fold(word)) for word in [name.family, *name.family.split()]}
        parts |= {("given", fold(given)) for given in name.given}
        parts |= {("text", fold(word)) for word in (name.text or "").split()}
        parts |= {("text", fold(word)) for word in (*name.prefix, *name.suffix)}
    rows += [
        PatientSearchName(tenant_id=tenant_id, patient_id=patient_id, part=part, value=value)
        for part, value in sorted(parts)
        if value
    ]
    return rows


def create_patient(session: Session, tenant: Tenant, new: NewPatient, *, assigning_authority: str) -> Patient:
    """Register ``new``; raises :class:`IdentifierTakenError` (nothing written) on an identifier clash."""
    mrn = next((value for system, value in new.identifiers if system == assigning_authority), None)
    try:
        with session.begin_nested():
            local = register_patient(
                session, tenant, new.demographics, assigning_authority=assigning_authority, mrn=mrn
            )
            session.add_all(
                PatientIdentifier(tenant_id=tenant.id, patient_id=local.id, system=system, value=value)
                for system, value in new.identifiers
                if system != assigning_authority
            )
            session.add_all(_index_rows(tenant.id, local.id, new.demographics))
            session.flush()
    except IntegrityError:
        raise IdentifierTakenError from None
    patient = session.get(Patient, local.id)
    assert patient is not None
    session.refresh(patient, ["identifiers"])
    return patient


def index_missing(session: Session) -> int:
    """Index every patient (any tenant) that has no ``patient_search`` row yet; returns how many."""
    missing = session.scalars(
        select(Patient).where(~exists().where(PatientSearch.patient_id == Patient.id))
    ).all()
    for patient in missing:
        session.add_all(
            _index_rows(patient.tenant_id, patient.id, demographics_from_json(patient.demographics))
        )
    session.flush()
    return len(missing)


def canonical_id(value: str) -> uuid.UUID | None:
    """The patient id ``value`` names, only if it is exactly as issued (lowercase, dashed); else ``None``: a
    FHIR id is case-sensitive, so an uppercase, undashed or ``urn:uuid:`` form names no resource."""
    try:
        key = uuid.UUID(value)
    except ValueError:
        return None
    return key if str(key) == value else None


def patient_in_tenant(session: Session, tenant: Tenant, patient_id: str) -> Patient | None:
    """The patient ``patient_id`` of ``tenant``, or ``None`` (unknown, malformed, another tenant's, or not
    written exactly as issued: see :func:`canonical_id`)."""
    key = canonical_id(patient_id)
    if key is None:
        return None
    return session.scalar(select(Patient).where(Patient.id == key, Patient.tenant_id == tenant.id))


def patients_with_identifier(
    session: Session, tenant: Tenant, system: str | None, value: str
) -> Sequence[Patient]:
    statement = select(Patient).where(
        Patient.tenant_id == tenant.id, _identifier_condition(tenant, ((system, value),))
    )
    return session.scalars(statement.limit(2)).all()


def _identifier_condition(tenant: Tenant, tokens: Sequence[tuple[str | None, str]]) -> ColumnElement[bool]:
    """The patient has an identifier matching any of ``tokens`` (``(system or None, value)``): one
    ``EXISTS`` on ``patient_identifier`` however many alternatives."""
    alternatives = [
        PatientIdentifier.value == value
        if system is None
        else and_(PatientIdentifier.system == system, PatientIdentifier.value == value)
        for system, value in tokens
    ]
    return exists().where(
        PatientIdentifier.patient_id == Patient.id,
        PatientIdentifier.tenant_id == tenant.id,
        or_(*alternatives),
    )


DayRange = tuple[dt.date | None, dt.date | None]
"""Birth dates ``[from, until)``; ``None`` leaves that end open."""


def _born_within(start: dt.date | None, until: dt.date | None) -> ColumnElement[bool]:
    bounds = []
    if start is not None:
        bounds.append(PatientSearch.birth_date >= start)
    if until is not None:
        bounds.append(PatientSearch.birth_date < until)
    return and_(true(), *bounds)


@dataclass(frozen=True, slots=True)
class PatientQuery:
    """The conditions of a Patient search, all of which must hold (one per occurrence of a parameter: FHIR's
    AND); within a condition's tuple of alternatives (an occurrence's comma-separated values) any one may."""

    ids: tuple[uuid.UUID, ...] | None = None
    identifiers: tuple[tuple[tuple[str | None, str], ...], ...] = ()
    """One condition per ``identifier``: its ``(system or None, value)`` alternatives."""
    names: tuple[tuple[tuple[str, ...], tuple[str, ...]], ...] = ()
    """One condition per name parameter: the name parts it searches, and its prefix alternatives."""
    birth_dates: tuple[tuple[DayRange, ...], ...] = ()
    """One condition per ``birthdate``: its ``[from, until)`` alternatives, ``None`` an open end."""
    gender: tuple[str | None, ...] | None = None
    matches_nothing: bool = False
    """Set when the conditions cannot all hold (a birthdate wholly outside the calendar, or empty)."""


def _statement(tenant: Tenant, query: PatientQuery) -> Select[Any]:
    statement = select(Patient).where(Patient.tenant_id == tenant.id)
    if query.matches_nothing:
        statement = statement.where(false())
    if query.ids is not None:
        statement = statement.where(Patient.id.in_(query.ids))
    for tokens in query.identifiers:
        statement = statement.where(_identifier_condition(tenant, tokens))
    for parts, prefixes in query.names:
        statement = statement.where(
            exists().where(
                PatientSearchName.patient_id == Patient.id,
                PatientSearchName.tenant_id == tenant.id,
                PatientSearchName.part.in_(parts),
                or_(*(PatientSearchName.value.startswith(prefix, autoescape=True) for prefix in prefixes)),
            )
        )
    if query.birth_dates or query.gender is not None:
        statement = statement.join(PatientSearch, PatientSearch.patient_id == Patient.id)
        for spans in query.birth_dates:
            statement = statement.where(or_(*(_born_within(start, until) for start, until in spans)))
        if query.gender is not None:
            known = [g for g in query.gender if g is not None]
            condition = PatientSearch.gender.in_(known)
            statement = statement.where(
                or_(condition, PatientSearch.gender.is_(None)) if None in query.gender else condition
            )
    return statement


def search_patients(
    session: Session,
    tenant: Tenant,
    query: PatientQuery,
    *,
    limit: int,
    after: tuple[dt.datetime, uuid.UUID] | None,
) -> tuple[list[Patient], int, bool]:
    """One page (oldest registered first), the total number of matches, and whether more follow."""
    statement = _statement(tenant, query)
    total = session.scalar(select(func.count()).select_from(statement.subquery())) or 0
    if limit == 0:
        return [], total, False
    if after is not None:
        created, last_id = after
        statement = statement.where(
            or_(Patient.created_at > created, and_(Patient.created_at == created, Patient.id > last_id))
        )
    ordered = statement.order_by(Patient.created_at, Patient.id).limit(limit + 1)
    rows: list[Patient] = list(session.scalars(ordered).all())
    return rows[:limit], total, len(rows) > limit
