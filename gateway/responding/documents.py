"""The clinic's document store as the responding gateway serves it: add, FindDocuments, GetDocuments,
retrieve (ITI TF-2a 3.18.4.1.2.3.7.1 and .5 query semantics; ITI-39 retrieve by repository and unique id).

A document is stored once in ``raw_document`` (the exact bytes) and described once in ``clinic_document``
(the full DocumentEntry). FindDocuments narrows by patient in SQL and applies the remaining filters to the
patient's entries in Python: a patient has tens of documents, not millions.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import bindparam, or_, select
from sqlalchemy.orm import Session

from gateway.responding.entry_json import entry_from_json, entry_to_json
from gateway.responding.patients import LocalPatient
from gateway.store.clinic import ClinicDocument
from gateway.store.documents import store_raw_document
from gateway.store.models import RawDocument, Tenant
from xca.errors import InvalidValueError
from xca.iti38 import Code, DocumentEntry, Dtm, EntryType, FindDocumentsQuery, GetDocumentsQuery
from xca.iti38.optionality import missing_required

__all__ = ["StoredContent", "add_document", "find_documents", "get_documents", "list_documents", "retrieve"]


@dataclass(frozen=True)
class StoredContent:
    """A document's bytes and media type, for ITI-39."""

    entry: DocumentEntry
    content: bytes


def add_document(
    session: Session, tenant: Tenant, patient: LocalPatient, entry: DocumentEntry, content: bytes
) -> bool:
    """File ``content`` described by ``entry`` for ``patient``; False when it was already filed."""
    missing = missing_required(entry)
    if missing:
        raise InvalidValueError(
            f"document metadata lacks {', '.join(missing)}", detail={"missing": list(missing)}
        )
    if entry.patient_id != patient.cx:
        raise InvalidValueError("the DocumentEntry names another patient")
    assert entry.home_community_id is not None  # checked above
    assert entry.repository_unique_id is not None
    stored = store_raw_document(
        session,
        tenant,
        home_community_id=entry.home_community_id,
        repository_id=entry.repository_unique_id,
        unique_id=entry.unique_id,
        mime_type=entry.mime_type,
        content=content,
    )
    existing = session.scalar(
        select(ClinicDocument.id).where(
            ClinicDocument.tenant_id == tenant.id, ClinicDocument.unique_id == entry.unique_id
        )
    )
    if existing is not None:
        return False
    session.add(
        ClinicDocument(
            tenant_id=tenant.id,
            patient_id=patient.id,
            raw_document_id=stored.id,
            entry_uuid=entry.entry_uuid,
            unique_id=entry.unique_id,
            repository_id=entry.repository_unique_id,
            status=str(entry.availability_status or ""),
            entry_metadata=entry_to_json(entry),
        )
    )
    session.flush()
    return True


def list_documents(session: Session, tenant: Tenant, patient: LocalPatient) -> list[DocumentEntry]:
    rows = session.scalars(
        select(ClinicDocument.entry_metadata)
        .where(ClinicDocument.tenant_id == tenant.id, ClinicDocument.patient_id == patient.id)
        .order_by(ClinicDocument.created_at)
    )
    return [entry_from_json(row) for row in rows]


def _code_in(code: Code | None, wanted: tuple[Code, ...]) -> bool:
    return code is not None and any(code.code == w.code and code.scheme == w.scheme for w in wanted)


def _groups_hold(codes: tuple[Code, ...], groups: tuple[tuple[Code, ...], ...]) -> bool:
    return all(any(_code_in(c, group) for c in codes) for group in groups)


def _in_range(value: Dtm | None, low: Dtm | None, high: Dtm | None) -> bool:
    if low is None and high is None:
        return True
    if value is None:
        return False
    return (low is None or value.moment >= low.moment) and (high is None or value.moment < high.moment)


def _like(pattern: str) -> re.Pattern[str]:
    parts = (".*" if ch == "%" else "." if ch == "_" else re.escape(ch) for ch in pattern)
    return re.compile("".join(parts), re.IGNORECASE)


def _matches(entry: DocumentEntry, query: FindDocumentsQuery) -> bool:
    coded = (
        (entry.class_code, query.class_codes),
        (entry.type_code, query.type_codes),
        (entry.practice_setting_code, query.practice_setting_codes),
        (entry.healthcare_facility_type_code, query.healthcare_facility_type_codes),
        (entry.format_code, query.format_codes),
    )
    if any(wanted and not _code_in(code, wanted) for code, wanted in coded):
        return False
    if not _groups_hold(entry.event_codes, query.event_codes):
        return False
    if not _groups_hold(entry.confidentiality_codes, query.confidentiality_codes):
        return False
    if query.author_persons:
        persons = [a.person for a in entry.authors if a.person]
        if not any(_like(p).fullmatch(person) for p in query.author_persons for person in persons):
            return False
    entry_types = query.entry_types or (EntryType.STABLE,)
    return (
        entry.entry_type in entry_types
        and entry.availability_status in query.statuses
        and _in_range(entry.creation_time, query.creation_time_from, query.creation_time_to)
        and _in_range(entry.service_start_time, query.service_start_time_from, query.service_start_time_to)
        and _in_range(entry.service_stop_time, query.service_stop_time_from, query.service_stop_time_to)
    )


def find_documents(
    session: Session, tenant: Tenant, patient: LocalPatient, query: FindDocumentsQuery
) -> list[DocumentEntry]:
    """FindDocuments for ``patient`` (already resolved from ``$XDSDocumentEntryPatientId``)."""
    return [entry for entry in list_documents(session, tenant, patient) if _matches(entry, query)]


def get_documents(session: Session, tenant: Tenant, query: GetDocumentsQuery) -> list[DocumentEntry]:
    """GetDocuments by entryUUIDs or uniqueIds; unknown ones are simply not returned."""
    key = ClinicDocument.entry_uuid if query.entry_uuids else ClinicDocument.unique_id
    wanted: Iterable[str] = query.entry_uuids or query.unique_ids
    rows = session.scalars(
        select(ClinicDocument.entry_metadata).where(
            ClinicDocument.tenant_id == tenant.id, or_(*(key == value for value in wanted))
        )
    )
    return [entry_from_json(row) for row in rows]


# Built once with bind parameters: constructing the expression anew cost more CPU per ITI-39 document
# than executing it (SQLAlchemy caches the compiled SQL either way).
_RETRIEVE = (
    select(ClinicDocument.entry_metadata, RawDocument.content)
    .join(RawDocument, RawDocument.id == ClinicDocument.raw_document_id)
    .where(
        ClinicDocument.tenant_id == bindparam("tenant_id"),
        ClinicDocument.unique_id == bindparam("unique_id"),
        ClinicDocument.repository_id == bindparam("repository_id"),
    )
)


def retrieve(session: Session, tenant: Tenant, repository_id: str, unique_id: str) -> StoredContent | None:
    """The document ``unique_id`` in our repository ``repository_id``, or None."""
    params = {"tenant_id": tenant.id, "unique_id": unique_id, "repository_id": repository_id}
    row = session.execute(_RETRIEVE, params).first()
    if row is None:
        return None
    return StoredContent(entry_from_json(row[0]), bytes(row[1]))
