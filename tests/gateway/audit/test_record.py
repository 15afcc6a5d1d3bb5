"""Every reported path writes exactly one record with the right fields, in the caller's transaction."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from gateway.audit import (
    GENESIS_HASH,
    AuditEvent,
    AuditFilter,
    AuditLog,
    Direction,
    EventKind,
    Outcome,
    TransactionEvent,
    append_event,
    search,
    verify_chain,
)
from gateway.audit.tables import AuditChainHead, AuditEventRow, AuditPatientRow
from gateway.store import Database, Patient, RawDocument, Tenant
from gateway.store.documents import store_raw_document
from tests.gateway.audit.factories import LOCAL, OUR_AUTHORITY, REMOTE_COMMUNITY, T0, every_path, iti39
from xca.errors import AuditEventError

PATHS = every_path()


@pytest.mark.parametrize("path", sorted(PATHS))
def test_each_path_writes_exactly_one_record_with_its_fields(
    path: str, database: Database, tenant: Tenant, audit: AuditLog
) -> None:
    event = PATHS[path]
    with database.session() as session, session.begin():
        receipt = audit.record(session, tenant, event)
    assert receipt.seq == 1
    with database.session() as session:
        assert session.scalar(select(func.count()).select_from(AuditEventRow)) == 1
        row = session.get_one(AuditEventRow, (tenant.id, 1))
        page = search(session, tenant, AuditFilter())
    (stored,) = page.records
    assert stored.event == event  # every field survives the round trip
    assert stored.hash == receipt.hash == row.hash
    assert row.prev_hash == GENESIS_HASH
    assert row.kind == type(event).kind.value
    assert row.outcome == int(event.outcome)
    assert row.user_id == (event.requestor.user_id if event.requestor else None)
    if isinstance(event, TransactionEvent):
        assert (row.transaction_type, row.direction) == (event.transaction.value, event.direction.value)
        assert row.remote_community == REMOTE_COMMUNITY
        assert row.organization_id == event.requestor.organization_id


def test_transaction_record_carries_every_issue_field(
    database: Database, tenant: Tenant, audit: AuditLog
) -> None:
    event = PATHS["ITI-39-initiating"]
    assert isinstance(event, TransactionEvent)
    with database.session() as session, session.begin():
        audit.record(session, tenant, event)
    with database.session() as session:
        (stored,) = search(session, tenant, AuditFilter()).records
    got = stored.event
    assert isinstance(got, TransactionEvent)
    assert got.occurred_at == T0
    assert stored.recorded_at.tzinfo is not None
    assert (got.direction, got.transaction, got.outcome) == (
        Direction.INITIATING,
        event.transaction,
        Outcome.SUCCESS,
    )
    assert (got.requestor.subject_id, got.requestor.npi, got.requestor.role) == (
        "Gregory House",
        "1234567893",
        event.requestor.role,
    )
    assert got.requestor.organization_id
    assert got.requestor.home_community_id
    assert got.requestor.purpose_of_use
    assert got.remote.endpoint
    assert got.remote.certificate_subject
    assert got.remote.home_community_id
    assert {p.role.value for p in got.patients} == {"local", "remote"}
    assert [d.unique_id for d in got.documents] == ["1.2.3.4.100", "1.2.3.4.101"]
    assert {d.repository_id for d in got.documents} == {"1.2.3.4.9"}
    assert got.message_id
    assert (got.latency_ms, got.request_bytes, got.response_bytes) == (412, 3100, 5200)
    assert stored.tenant == tenant.slug


def _work(session: Session, tenant: Tenant, kind: str) -> None:
    if kind == "orm":
        session.add(Patient(tenant_id=tenant.id, demographics={"family": "Doe"}))
        session.flush()
    else:
        store_raw_document(
            session,
            tenant,
            home_community_id=REMOTE_COMMUNITY,
            repository_id="1.2.3.4.9",
            unique_id="1.2.3.4.100",
            mime_type="text/xml",
            content=b"<ClinicalDocument/>",
        )


def _work_rows(session: Session, kind: str) -> int | None:
    model = Patient if kind == "orm" else RawDocument
    return session.scalar(select(func.count()).select_from(model))


@pytest.mark.parametrize("kind", ["orm", "store_raw_document"])
def test_record_commits_with_the_work_and_rolls_back_with_it(
    kind: str, database: Database, tenant: Tenant, audit: AuditLog
) -> None:

    class BoomError(Exception):
        pass

    def failing_exchange() -> None:
        with database.session() as session, session.begin():
            _work(session, tenant, kind)
            audit.record(session, tenant, iti39())
            raise BoomError

    with pytest.raises(BoomError):
        failing_exchange()
    with database.session() as session:
        assert session.scalar(select(func.count()).select_from(AuditEventRow)) == 0
        head = session.get(AuditChainHead, tenant.id)
        assert head is None or head.last_seq == 0
        assert _work_rows(session, kind) == 0
    with database.session() as session, session.begin():
        _work(session, tenant, kind)
        assert audit.record(session, tenant, iti39()).seq == 1
    with database.session() as session:
        assert _work_rows(session, kind) == 1
        assert verify_chain(session, tenant).ok


def test_chain_links_and_patient_index(database: Database, tenant: Tenant) -> None:
    events: list[AuditEvent] = list(PATHS.values())
    with database.session() as session, session.begin():
        receipts = [append_event(session, tenant, event) for event in events]
    assert [r.seq for r in receipts] == list(range(1, len(events) + 1))
    with database.session() as session:
        rows = session.scalars(select(AuditEventRow).order_by(AuditEventRow.seq)).all()
        assert [r.prev_hash for r in rows[1:]] == [r.hash for r in rows[:-1]]
        indexed = session.scalar(
            select(func.count()).select_from(AuditPatientRow).where(AuditPatientRow.value == LOCAL.value)
        )
        assert indexed == sum(LOCAL in e.patients for e in events)
        assert session.get_one(AuditChainHead, tenant.id).last_hash == rows[-1].hash
        assert verify_chain(session, tenant).records == len(events)


def test_record_many_links_the_same_chain_as_one_by_one(
    database: Database, tenant: Tenant, audit: AuditLog
) -> None:
    events: list[AuditEvent] = list(PATHS.values())
    with database.session() as session, session.begin():
        audit.record(session, tenant, events[0])
        receipts = audit.record_many(session, tenant, events[1:])
        assert audit.record_many(session, tenant, []) == []
    assert [r.seq for r in receipts] == list(range(2, len(events) + 1))
    with database.session() as session:
        rows = session.scalars(select(AuditEventRow).order_by(AuditEventRow.seq)).all()
        assert [r.prev_hash for r in rows[1:]] == [r.hash for r in rows[:-1]]
        assert [r.hash for r in rows[1:]] == [r.hash for r in receipts]
        assert session.get_one(AuditChainHead, tenant.id).last_seq == len(events)
        assert session.get_one(AuditChainHead, tenant.id).last_hash == rows[-1].hash
        indexed = session.scalar(
            select(func.count()).select_from(AuditPatientRow).where(AuditPatientRow.value == LOCAL.value)
        )
        assert indexed == sum(LOCAL in e.patients for e in events)
        assert [r.event for r in reversed(search(session, tenant, AuditFilter()).records)] == events
        assert verify_chain(session, tenant).records == len(events)


def test_record_many_rolls_back_as_a_whole(database: Database, tenant: Tenant, audit: AuditLog) -> None:
    def failing_work() -> None:
        with database.session() as session, session.begin():
            audit.record_many(session, tenant, [iti39(), iti39()])
            raise RuntimeError("the work failed")

    with pytest.raises(RuntimeError):
        failing_work()
    with database.session() as session, session.begin():
        assert audit.record(session, tenant, iti39()).seq == 1
    with database.session() as session:
        assert verify_chain(session, tenant).records == 1


def test_chains_are_per_tenant(database: Database, tenant: Tenant) -> None:
    from gateway.store.documents import ensure_tenant

    with database.session() as session, session.begin():
        other = ensure_tenant(session, "other", "Other")
        append_event(session, tenant, iti39())
        assert append_event(session, other, iti39()).seq == 1
        assert append_event(session, tenant, iti39()).seq == 2
    with database.session() as session:
        assert verify_chain(session, tenant).records == 2
        assert verify_chain(session, other).records == 1
        assert search(session, other, AuditFilter(kind=EventKind.TRANSACTION)).records[0].seq == 1


def test_bad_events_are_refused_before_anything_is_written(database: Database, tenant: Tenant) -> None:
    with pytest.raises(AuditEventError):
        iti39(occurred_at=dt.datetime(2026, 1, 1))  # naive
    with pytest.raises(AuditEventError):
        iti39(outcome=3)
    with pytest.raises(AuditEventError):
        iti39(latency_ms=-1)
    with pytest.raises(AuditEventError):
        iti39(error_codes="XDSRegistryError")
    with database.session() as session, session.begin(), pytest.raises(AuditEventError):
        append_event(session, tenant, iti39(), now=dt.datetime(2026, 1, 1))
    with database.session() as session:
        assert session.execute(text("SELECT count(*) FROM audit_event")).scalar() == 0
    assert OUR_AUTHORITY in LOCAL.cx
