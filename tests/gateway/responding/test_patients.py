"""Registering the clinic's patients: phone numbers as clinics type them become the URIs HL7 v3 needs."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from gateway.responding.patients import patient_by_id, register_patient
from gateway.store import Database
from gateway.store.documents import ensure_tenant
from xca.errors import InvalidValueError
from xca.iti55 import (
    AdministrativeGender,
    Demographics,
    Device,
    Ii,
    Iti55Query,
    Iti55Request,
    PatientMatch,
    PersonName,
    Telecom,
    build_iti55_response,
    iti55_response_for,
)

AUTHORITY = "1.3.6.1.4.1.88888.2"


@pytest.fixture
def database(tmp_path: Path) -> Database:
    db = Database(f"sqlite:///{tmp_path / 'clinic.db'}")
    db.upgrade()
    return db


def _person(*phones: str) -> Demographics:
    return Demographics(
        names=(PersonName(given=("Avery",), family="Testperson"),),
        gender=AdministrativeGender.FEMALE,
        birth_date=dt.date(1971, 2, 28),
        telecoms=tuple(Telecom(p, "HP") for p in phones),
    )


def test_phone_numbers_are_stored_as_tel_uris_and_answer_iti55(database: Database) -> None:
    with database.session() as session, session.begin():
        tenant = ensure_tenant(session, "clinic", "Clinic")
        local = register_patient(
            session,
            tenant,
            _person("tel:(617) 555-0123", "617 555 0199", "mailto:avery@example.org"),
            assigning_authority=AUTHORITY,
            mrn="MRN-1",
        )
        stored = patient_by_id(session, tenant, local.cx)
    assert stored is not None
    assert [t.value for t in stored.demographics.telecoms] == [
        "tel:(617)555-0123",
        "tel:6175550199",
        "mailto:avery@example.org",
    ]
    me = Device("1.3.6.1.4.1.88888.1.1", "1.3.6.1.4.1.88888.1")
    request = Iti55Request(
        message_id=Ii("0b7f6d0e-6a44-4c2e-9d47-3f1b2d6c8a10"),
        creation_time=dt.datetime(2024, 5, 1, tzinfo=dt.UTC),
        sender=Device("1.3.6.1.4.1.99999.1.1", "1.3.6.1.4.1.99999.1"),
        receiver=me,
        query=Iti55Query(Ii("1.3.6.1.4.1.99999.3", "Q-1"), _person()),
    )
    match = PatientMatch(Ii(AUTHORITY, "MRN-1"), me.home_community_id, stored.demographics, 100)
    response = iti55_response_for(
        request, message_id=Ii("1.3.6.1.4.1.88888.4", "R-1"), creation_time=request.creation_time,
        responder=me, matches=(match,),
    )  # fmt: skip
    assert build_iti55_response(response) is not None


def test_unusable_telecom_is_refused_at_registration(database: Database) -> None:
    with database.session() as session, session.begin():
        tenant = ensure_tenant(session, "clinic", "Clinic")
        with pytest.raises(InvalidValueError):
            register_patient(
                session, tenant, _person("mailto:a b@example.org"), assigning_authority=AUTHORITY
            )
