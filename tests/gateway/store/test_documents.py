"""The raw document store keeps each document once and refuses changed content under a known id."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from gateway.store import Database, Patient, PatientIdentifier, RawDocument
from gateway.store.documents import ensure_tenant, load_document_content, store_raw_document
from xca.errors import DocumentConflictError

CCDA = (
    b'<ClinicalDocument xmlns="urn:hl7-org:v3">'
    b"<title>Summary \xe2\x80\x94 \xc3\xa9</title></ClinicalDocument>"
)


def _store(db: Database, content: bytes, unique_id: str = "1.2.3.4.5^1", tenant: str = "clinic-a") -> bool:
    with db.session() as session, session.begin():
        owner = ensure_tenant(session, tenant, tenant.title())
        return store_raw_document(
            session,
            owner,
            home_community_id="1.2.3",
            repository_id="1.2.3.1",
            unique_id=unique_id,
            mime_type="text/xml",
            content=content,
        ).created


def test_same_document_twice_is_stored_once(database: Database) -> None:
    assert _store(database, CCDA) is True
    assert _store(database, CCDA) is False
    with database.session() as session:
        rows = session.scalars(select(RawDocument)).all()
        assert len(rows) == 1
        assert load_document_content(session, rows[0].id) == CCDA
        assert rows[0].size == len(CCDA)
        assert rows[0].received_at.tzinfo is not None


def test_changed_content_under_known_id_is_refused_and_original_kept(database: Database) -> None:
    _store(database, CCDA)
    with pytest.raises(DocumentConflictError) as caught:
        _store(database, CCDA + b" ")
    assert caught.value.code == "HG-5003"
    with database.session() as session:
        (stored,) = session.scalars(select(RawDocument)).all()
        assert load_document_content(session, stored.id) == CCDA


def test_tenants_are_isolated(database: Database) -> None:
    assert _store(database, CCDA, tenant="clinic-a") is True
    assert _store(database, CCDA, tenant="clinic-b") is True
    with database.session() as session:
        assert session.scalar(select(func.count()).select_from(RawDocument)) == 2


def test_patient_identifier_is_unique_per_tenant_and_cascades(database: Database) -> None:
    with database.session() as session, session.begin():
        tenant = ensure_tenant(session, "clinic-a", "Clinic A")
        patient = Patient(tenant_id=tenant.id, demographics={"family": "Núñez", "given": ["José"]})
        patient.identifiers.append(
            PatientIdentifier(tenant_id=tenant.id, system="urn:oid:1.2.3", value="MRN1")
        )
        session.add(patient)
    with database.session() as session:
        loaded = session.scalars(select(Patient)).one()
        assert loaded.demographics["family"] == "Núñez"
        assert [i.value for i in loaded.identifiers] == ["MRN1"]
        assert isinstance(loaded.id, uuid.UUID)
        assert loaded.created_at.tzinfo == dt.UTC
    with pytest.raises(IntegrityError):
        _add_patient_with_mrn(database, "MRN1")
    with database.session() as session, session.begin():
        session.delete(session.scalars(select(Patient)).one())
    with database.session() as session:
        assert session.scalar(select(func.count()).select_from(PatientIdentifier)) == 0


def _add_patient_with_mrn(database: Database, mrn: str, created: dt.datetime | None = None) -> None:
    with database.session() as session, session.begin():
        tenant = ensure_tenant(session, "clinic-a", "Clinic A")
        other = Patient(tenant_id=tenant.id, demographics={}, created_at=created or dt.datetime.now(dt.UTC))
        other.identifiers.append(PatientIdentifier(tenant_id=tenant.id, system="urn:oid:1.2.3", value=mrn))
        session.add(other)


def test_naive_datetimes_are_refused_and_nothing_is_written(database: Database) -> None:
    with pytest.raises(Exception, match="naive datetime"):
        _add_patient_with_mrn(database, "MRN9", created=dt.datetime(2024, 1, 1))
    with database.session() as session:
        assert session.scalar(select(func.count()).select_from(Patient)) == 0
