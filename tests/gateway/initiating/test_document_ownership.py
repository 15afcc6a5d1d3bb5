"""A held document is reused only for the patient it was stored for: a partner listing, for another patient, a
unique id already held (colliding ids, a rebuilt sandbox) gets nothing of the first patient's record; the same
patient's document with changed content is a conflict, never an overwrite; ``--to`` a community the
directory lacks fails."""

from __future__ import annotations

import asyncio
import hashlib
import uuid
from collections import Counter
from dataclasses import replace
from pathlib import Path

import pytest
from sqlalchemy import delete, select

from gateway.audit import (
    AuditFilter,
    Outcome,
    PullJobEvent,
    PullStage,
    TransactionEvent,
    iter_records,
)
from gateway.cli import main
from gateway.directory import SelectionSpec, SelectionStrategy
from gateway.initiating import DocumentState, GatewayOutcome, JobState, PullRequest, PullSummary
from gateway.responding import demographics_from_ccda, register_patient
from gateway.store import (
    ClinicDocument,
    Database,
    FhirResource,
    PullJob,
    PullJobDocument,
    RawDocument,
    Tenant,
)
from gateway.store.documents import ensure_tenant
from tests.env import isolate_settings
from tests.gateway.initiating.conftest import (
    HEALTHY,
    Network,
    import_directory,
    make_service,
    request_for,
    synthetic_ccd,
    user,
)
from xca.errors import DocumentConflictError, DocumentPatientMismatchError, UnknownCommunityError
from xca.iti55 import Demographics

ONLY_HEALTHY = SelectionSpec(strategy=SelectionStrategy.EXPLICIT, communities=(HEALTHY,))


def _events(database: Database) -> list[object]:
    with database.session() as session:
        tenant = session.scalar(select(Tenant).where(Tenant.slug == "clinic"))
        assert tenant is not None
        return [r.event for r in iter_records(session, tenant, AuditFilter())]


def _job_documents(database: Database, summary: PullSummary) -> dict[str, PullJobDocument]:
    with database.session() as session:
        rows = session.scalars(select(PullJobDocument).where(PullJobDocument.job_id == summary.job_id))
        return {d.unique_id: d for d in rows}


def _patient(database: Database, summary: PullSummary) -> uuid.UUID:
    with database.session() as session:
        job = session.get(PullJob, summary.job_id)
        assert job is not None
        return job.patient_id


def _rebuild_healthy_for_another_person(network: Network) -> Demographics:
    """The healthy community starts over (as a new sandbox would): Grace's documents are gone, another
    person is registered there and gets documents under the very unique ids Grace's had."""
    node = network.nodes[HEALTHY]
    config = node.gateway.config
    other = demographics_from_ccda(synthetic_ccd(7, HEALTHY, f"{HEALTHY}.9.0"))
    assert other.names != network.grace.names
    with node.gateway.database.session() as session, session.begin():
        tenant = ensure_tenant(session, config.tenant, config.organization_name)
        raw_ids = list(
            session.scalars(
                select(ClinicDocument.raw_document_id).where(ClinicDocument.tenant_id == tenant.id)
            )
        )
        session.execute(delete(ClinicDocument).where(ClinicDocument.tenant_id == tenant.id))
        session.execute(delete(RawDocument).where(RawDocument.id.in_(raw_ids)))
        node.patient = register_patient(
            session, tenant, other, assigning_authority=config.assigning_authority, mrn="OTHER-1"
        )
    assert node.add_document(7, 1) == network.documents[0]
    assert node.add_document(8, 2) == network.documents[1]
    return other


def test_document_held_for_another_patient_is_never_attached(network: Network, database: Database) -> None:
    import_directory(network, database)
    service = make_service(network, database)
    first = asyncio.run(service.pull(replace(request_for(network), selection=ONLY_HEALTHY)))
    assert first.counters.documents_retrieved == 2
    with database.session() as session:
        stored_before = {r.unique_id: r.sha256 for r in session.scalars(select(RawDocument))}
    other = _rebuild_healthy_for_another_person(network)
    hits_before = network.nodes[HEALTHY].hits.copy()

    request = PullRequest(demographics=other, user=user(), selection=ONLY_HEALTHY)
    second = asyncio.run(service.pull(request))

    assert second.state is JobState.DONE
    assert _patient(database, second) != _patient(database, first)
    (gateway,) = second.gateways
    assert gateway.match_score is not None  # the other person was found over there...
    assert (gateway.outcome, gateway.error_code) == (
        GatewayOutcome.PARTIAL,
        DocumentPatientMismatchError.code,
    )
    assert gateway.reason == "2 listed document(s) already held for another local patient; not attached"
    assert (gateway.documents_found, gateway.documents_retrieved) == (2, 0)
    counters = second.counters
    assert (counters.documents_reused, counters.documents_converted, counters.documents_failed) == (0, 0, 2)
    # ...but nothing of theirs was fetched, stored, attached or converted for them.
    assert (network.nodes[HEALTHY].hits - hits_before)["/xca/retrieve"] == 0
    documents = _job_documents(database, second)
    assert sorted(documents) == sorted(network.documents)
    for doc in documents.values():
        assert (doc.state, doc.error_code, doc.raw_document_id) == (
            DocumentState.FAILED.value,
            DocumentPatientMismatchError.code,
            None,
        )
    other_id = _patient(database, second)
    with database.session() as session:
        assert {r.unique_id: r.sha256 for r in session.scalars(select(RawDocument))} == stored_before
        assert session.scalars(select(FhirResource).where(FhirResource.patient_id == other_id)).all() == []
    assert second.bundle is None or second.bundle.get("entry", []) == []

    # Audited: the ITI-38 that listed them and the job's completion both name the refusal.
    events = _events(database)
    query = [e for e in events if isinstance(e, TransactionEvent) and e.transaction.value == "ITI-38"][-1]
    assert DocumentPatientMismatchError.code in query.error_codes
    assert query.outcome is Outcome.MINOR_FAILURE
    assert sorted(d.unique_id for d in query.documents) == sorted(network.documents)
    completed = [e for e in events if isinstance(e, PullJobEvent) and e.stage is PullStage.COMPLETED]
    assert completed[-1].job_id == str(second.job_id)
    assert completed[-1].error_codes == (DocumentPatientMismatchError.code,)
    assert completed[0].error_codes == ()

    # The first patient's record is untouched and still theirs alone.
    again = asyncio.run(service.pull(replace(request_for(network), selection=ONLY_HEALTHY)))
    assert _patient(database, again) == _patient(database, first)
    assert again.bundle is not None
    assert len(again.bundle["entry"]) == first.counters.resources_stored  # type: ignore[arg-type]


def test_changed_content_for_the_same_patient_is_a_conflict_not_an_overwrite(
    network: Network, database: Database
) -> None:
    import_directory(network, database)
    service = make_service(network, database)
    request = replace(request_for(network), selection=ONLY_HEALTHY)
    first = asyncio.run(service.pull(request))
    assert first.counters.documents_retrieved == 2
    changed, unchanged = network.documents
    # What the gateway holds no longer has the size and hash the partner lists for it.
    held = b"<ClinicalDocument>held under this id before</ClinicalDocument>"
    with database.session() as session, session.begin():
        row = session.scalar(select(RawDocument).where(RawDocument.unique_id == changed))
        assert row is not None
        row.content, row.size, row.sha256 = held, len(held), hashlib.sha256(held).hexdigest()
    hits_before = network.nodes[HEALTHY].hits.copy()

    second = asyncio.run(service.pull(request))

    assert _patient(database, second) == _patient(database, first)
    assert (network.nodes[HEALTHY].hits - hits_before)["/xca/retrieve"] == 1  # asked again, not reused
    documents = _job_documents(database, second)
    assert (documents[changed].state, documents[changed].error_code) == (
        DocumentState.FAILED.value,
        DocumentConflictError.code,
    )
    assert (documents[unchanged].state, documents[unchanged].reused) == (DocumentState.CONVERTED.value, True)
    with database.session() as session:
        row = session.scalar(select(RawDocument).where(RawDocument.unique_id == changed))
        assert row is not None
        assert row.content == held  # not overwritten
    events = _events(database)
    retrieve = [e for e in events if isinstance(e, TransactionEvent) and e.transaction.value == "ITI-39"][-1]
    assert retrieve.documents == ()
    assert Counter(d.state for d in documents.values()) == Counter(
        {DocumentState.FAILED.value: 1, DocumentState.CONVERTED.value: 1}
    )


def test_pull_to_a_community_the_directory_lacks_fails(
    network: Network,
    database: Database,
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    import_directory(network, database)
    isolate_settings(monkeypatch, tmp_path)
    monkeypatch.setenv("HIEGATE_DATABASE_URL", database_url)
    monkeypatch.setenv("HIEGATE_CERTS_DIR", str(network.pki))
    argv = ["pull", "--given", "Ann", "--family", "Example", "--birth-date", "1970-01-01", "--gender", "F"]

    status = main([*argv, "--to", HEALTHY, "--to", "1.2.3.4.5", "--no-progress"])

    assert status == 1
    assert capsys.readouterr().err == (
        f"hiegate: {UnknownCommunityError.code}: --to: the directory does not list 1.2.3.4.5\n"
    )
    assert network.nodes[HEALTHY].hits["/xcpd"] == 0
