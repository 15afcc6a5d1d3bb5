"""``AuditLog``: the one object the initiating and responding gateways, the pull worker and the API call.

    audit = AuditLog(source=AuditSource(...), forwarder=forwarder)   # once, at start-up
    with db.session() as session, session.begin():
        ... do the exchange's database work ...
        audit.record(session, tenant, TransactionEvent(...))       # same transaction

``record`` appends to the tenant's hash chain inside the caller's transaction and returns the receipt;
``record_many`` appends several events of one transaction at once (one head update for all of them).
With a forwarder, the ATNA form of each record is queued for syslog only after the session commits (a
rolled-back exchange is never forwarded), and queuing never blocks.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Sequence

from sqlalchemy import event as sa_event
from sqlalchemy.orm import Session

from gateway.audit.atna import to_atna_xml
from gateway.audit.chain import AuditReceipt, append_events
from gateway.audit.events import AuditEvent
from gateway.audit.model import AuditSource
from gateway.audit.search import StoredRecord
from gateway.audit.syslog import SyslogTlsForwarder
from gateway.store.models import Tenant, utcnow

__all__ = ["AuditLog"]

log = logging.getLogger("gateway.audit")
_PENDING = "hiegate.audit.pending"


class AuditLog:
    """Records audit events in the caller's transaction; optionally forwards committed ones to syslog."""

    def __init__(
        self,
        *,
        source: AuditSource,
        forwarder: SyslogTlsForwarder | None = None,
        clock: Callable[[], dt.datetime] = utcnow,
    ) -> None:
        self.source = source
        self._forwarder = forwarder
        self._clock = clock

    def record(self, session: Session, tenant: Tenant, event: AuditEvent) -> AuditReceipt:
        """Append ``event`` to ``tenant``'s chain in ``session``'s transaction; the caller commits."""
        return self.record_many(session, tenant, (event,))[0]

    def record_many(
        self, session: Session, tenant: Tenant, events: Sequence[AuditEvent]
    ) -> list[AuditReceipt]:
        """Append ``events`` in order to ``tenant``'s chain in ``session``'s transaction (one recording time
        for all of them); the caller commits."""
        now = self._clock()
        receipts = append_events(session, tenant, [(event, now) for event in events])
        for event, receipt in zip(events, receipts, strict=True):
            log.debug("audit record %s #%d appended", type(event).kind.value, receipt.seq)
            if self._forwarder is not None:
                stored = StoredRecord(
                    tenant_id=receipt.tenant_id,
                    tenant=tenant.slug,
                    seq=receipt.seq,
                    recorded_at=receipt.recorded_at,
                    prev_hash="",
                    hash=receipt.hash,
                    event=event,
                )
                self._pending(session).append(stored)
        return receipts

    def _pending(self, session: Session) -> list[StoredRecord]:
        pending: list[StoredRecord] | None = session.info.get(_PENDING)
        if pending is None:
            pending = session.info[_PENDING] = []
            sa_event.listen(session, "after_commit", self._after_commit)
            sa_event.listen(session, "after_rollback", self._after_rollback)
        return pending

    def _after_commit(self, session: Session) -> None:
        pending: list[StoredRecord] = session.info.get(_PENDING, [])
        forwarder = self._forwarder
        while pending and forwarder is not None:
            stored = pending.pop(0)
            forwarder.submit(to_atna_xml(stored, self.source), timestamp=stored.recorded_at)

    def _after_rollback(self, session: Session) -> None:
        session.info.get(_PENDING, []).clear()
