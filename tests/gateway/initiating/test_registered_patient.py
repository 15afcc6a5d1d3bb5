"""A pull that names the clinic's registered patient keeps that patient; an unknown one is refused."""

from __future__ import annotations

import uuid
from dataclasses import replace

import pytest
from sqlalchemy import func, select

from gateway.store import Database, Patient, PatientIdentifier, PullJob
from gateway.store.documents import ensure_tenant
from tests.gateway.initiating.conftest import CALLER, Network, make_service, request_for
from xca.errors import UnknownPatientError


def test_job_is_for_the_named_patient_and_makes_no_other(network: Network, database: Database) -> None:
    with database.session() as session, session.begin():
        tenant = ensure_tenant(session, "clinic", "Calling Clinic")
        registered = Patient(tenant_id=tenant.id, demographics={"registered": True})
        registered.identifiers.append(
            PatientIdentifier(tenant_id=tenant.id, system=f"{CALLER}.2", value="MRN-REGISTERED")
        )
        session.add(registered)
        session.flush()
        registered_id = registered.id
    service = make_service(network, database)
    job_id = service.create_job(replace(request_for(network), patient_id=registered_id))
    with database.session() as session:
        job = session.get(PullJob, job_id)
        assert job is not None
        assert job.patient_id == registered_id
        assert session.scalar(select(func.count()).select_from(Patient)) == 1


def test_unknown_or_foreign_patient_is_refused(network: Network, database: Database) -> None:
    with database.session() as session, session.begin():
        other = ensure_tenant(session, "other-clinic", "Other Clinic")
        foreign = Patient(tenant_id=other.id, demographics={})
        session.add(foreign)
        session.flush()
        foreign_id = foreign.id
    service = make_service(network, database)
    for patient_id in (uuid.uuid4(), foreign_id):
        with pytest.raises(UnknownPatientError):
            service.create_job(replace(request_for(network), patient_id=patient_id))
    with database.session() as session:
        assert session.scalar(select(func.count()).select_from(PullJob)) == 0
