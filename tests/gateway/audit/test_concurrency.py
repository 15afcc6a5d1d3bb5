"""Concurrent writers (threads, separate sessions) keep every tenant's chain gap-free and verifiable."""

from __future__ import annotations

import threading

from sqlalchemy import func, select

from gateway.audit import append_event, verify_chain
from gateway.audit.tables import AuditEventRow
from gateway.store import Database, Tenant
from gateway.store.documents import ensure_tenant
from tests.gateway.audit.factories import iti38, iti55

WRITERS = 6
RECORDS = 25


def test_concurrent_writers_keep_the_chains_intact(database: Database, tenant: Tenant) -> None:
    with database.session() as session, session.begin():
        other = ensure_tenant(session, "other", "Other")
    tenants = (tenant, other)
    errors: list[BaseException] = []
    start = threading.Barrier(WRITERS)

    def writer(index: int) -> None:
        try:
            start.wait()
            for n in range(RECORDS):
                with database.session() as session, session.begin():
                    event = (iti55 if n % 2 else iti38)()
                    append_event(session, tenants[(index + n) % 2], event)
        except BaseException as exc:  # reported to the main thread
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(WRITERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors, errors
    with database.session() as session:
        total = 0
        for each in tenants:
            result = verify_chain(session, each)
            assert result.ok, result.broken
            seqs = session.scalars(
                select(AuditEventRow.seq)
                .where(AuditEventRow.tenant_id == each.id)
                .order_by(AuditEventRow.seq)
            ).all()
            assert list(seqs) == list(range(1, len(seqs) + 1))
            total += result.records
        assert total == WRITERS * RECORDS == session.scalar(select(func.count()).select_from(AuditEventRow))
