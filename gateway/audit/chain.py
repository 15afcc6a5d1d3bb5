"""Appending to a tenant's hash chain, inside the caller's transaction.

Each record's hash is SHA-256 over a fixed-order JSON header (previous hash, tenant, seq, time, the search
columns) and the canonical content bytes. The append first bumps the tenant's ``audit_chain_head`` row with
``UPDATE ... RETURNING``: on PostgreSQL that takes the row lock, so concurrent appends for one tenant queue
behind it until the holder commits and then see its hash; on SQLite the UPDATE takes the database write
lock before the head is read. Either way the read of the head happens inside the write transaction, and a
rolled-back transaction takes its record (and the advanced head) with it.

:func:`append_events` appends several records of one transaction (a pull's group commit) with one bump of
the head by their number, one multi-row insert and one head update: the chain is the same as appending
them one by one, in order.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import orjson
from sqlalchemy import Connection, Table, bindparam, insert, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from gateway.audit.codec import canonical_json, encode_event
from gateway.audit.events import AuditEvent, PullJobEvent, RefusalEvent, TransactionEvent
from gateway.audit.model import Direction, PatientId, require_aware
from gateway.audit.tables import AuditChainHead, AuditEventRow, AuditPatientRow
from gateway.store.models import Tenant, utcnow
from xca.errors import AuditEventError

__all__ = [
    "GENESIS_HASH",
    "AuditReceipt",
    "IndexColumns",
    "append_event",
    "append_events",
    "hash_time",
    "index_columns",
    "link_hash",
]

GENESIS_HASH = "0" * 64
"""The ``prev_hash`` of a tenant's first record."""

_EVENTS: Table = AuditEventRow.__table__  # type: ignore[assignment]
_PATIENTS: Table = AuditPatientRow.__table__  # type: ignore[assignment]
_HEAD: Table = AuditChainHead.__table__  # type: ignore[assignment]


@dataclass(frozen=True, slots=True)
class AuditReceipt:
    """Where a record landed: its tenant, sequence number, hash and recording time."""

    tenant_id: int
    seq: int
    hash: str
    recorded_at: dt.datetime


class IndexColumns(NamedTuple):
    """The searchable columns stored beside the content, all derived from the event, in hash order."""

    kind: str
    transaction: str | None
    direction: str | None
    outcome: int
    user_id: str | None
    organization_id: str | None
    remote_community: str | None


def index_columns(event: AuditEvent) -> IndexColumns:
    transaction = direction = remote = None
    if isinstance(event, TransactionEvent | RefusalEvent):
        transaction = event.transaction.value if event.transaction else None
        direction = event.direction.value
        remote = event.remote.home_community_id
    elif isinstance(event, PullJobEvent):
        direction = Direction.INITIATING.value
    requestor = event.requestor
    return IndexColumns(
        kind=type(event).kind.value,
        transaction=transaction,
        direction=direction,
        outcome=int(event.outcome),
        user_id=requestor.user_id if requestor else None,
        organization_id=requestor.organization_id if requestor else None,
        remote_community=remote,
    )


def hash_time(value: dt.datetime) -> str:
    """The recording time as hashed: ISO 8601 in UTC with microseconds (``...T12:00:00.000000+00:00``)."""
    if value.utcoffset():
        value = value.astimezone(dt.UTC)
    return value.isoformat(timespec="microseconds")


def link_hash(
    *,
    prev_hash: str,
    tenant_id: int,
    seq: int,
    recorded_at: dt.datetime,
    columns: Sequence[object],
    content: str,
) -> str:
    """SHA-256 hex of one chain link: a JSON header (fixed field order), a newline, the content bytes."""
    header = orjson.dumps([prev_hash, tenant_id, seq, hash_time(recorded_at), *columns])
    return hashlib.sha256(header + b"\n" + content.encode("utf-8")).hexdigest()


_BUMP = (
    update(_HEAD)
    .where(_HEAD.c.tenant_id == bindparam("head_tenant"))
    .values(last_seq=_HEAD.c.last_seq + bindparam("head_count"), updated_at=bindparam("head_now"))
    .returning(_HEAD.c.last_seq, _HEAD.c.last_hash)
)
_SET_HASH = (
    update(_HEAD)
    .where(_HEAD.c.tenant_id == bindparam("head_tenant"))
    .values(last_hash=bindparam("head_hash"))
)
_INSERT_EVENT = insert(_EVENTS)
_INSERT_PATIENTS = insert(_PATIENTS)


def _advance_head(connection: Connection, tenant_id: int, now: dt.datetime, count: int) -> tuple[int, str]:
    """Reserve ``count`` sequence numbers: returns the last one reserved and the hash before them."""
    params = {"head_tenant": tenant_id, "head_now": now, "head_count": count}
    row = connection.execute(_BUMP, params).one_or_none()
    if row is None:
        values: dict[str, Any] = {
            "tenant_id": tenant_id,
            "last_seq": 0,
            "last_hash": GENESIS_HASH,
            "updated_at": now,
        }
        dialect = connection.dialect.name
        create = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(_HEAD).values(values)
        connection.execute(create.on_conflict_do_nothing(index_elements=["tenant_id"]))
        row = connection.execute(_BUMP, params).one()
    return int(row.last_seq), str(row.last_hash)


def _patient_rows(tenant_id: int, seq: int, patients: tuple[PatientId, ...]) -> list[dict[str, Any]]:
    return [
        {
            "tenant_id": tenant_id,
            "seq": seq,
            "position": position,
            "value": patient.value,
            "assigning_authority": patient.assigning_authority,
            "role": patient.role.value,
        }
        for position, patient in enumerate(patients)
    ]


def append_event(
    session: Session, tenant: Tenant, event: AuditEvent, *, now: dt.datetime | None = None
) -> AuditReceipt:
    """Write ``event`` as the next link of ``tenant``'s chain in ``session``'s transaction (no commit).

    The caller commits together with the work the event records; if it rolls back, the record is gone
    too and the chain is unchanged.
    """
    return append_events(session, tenant, ((event, now or utcnow()),))[0]


def append_events(
    session: Session, tenant: Tenant, events: Sequence[tuple[AuditEvent, dt.datetime]]
) -> list[AuditReceipt]:
    """Write ``events`` (each with its recording time) as the next links of ``tenant``'s chain, in order, in
    ``session``'s transaction (no commit); the same chain as :func:`append_event` for each in turn."""
    if tenant.id is None:
        raise AuditEventError("the tenant has no id yet: flush it before auditing", detail={})
    if not events:
        return []
    prepared: list[tuple[dt.datetime, str, IndexColumns, AuditEvent]] = []
    for event, now in events:
        require_aware(now, "now")
        content = canonical_json(encode_event(event)).decode("utf-8")
        prepared.append((now.astimezone(dt.UTC), content, index_columns(event), event))
    connection = session.connection()
    last_seq, prev_hash = _advance_head(connection, tenant.id, prepared[-1][0], len(prepared))
    seq = last_seq - len(prepared)
    rows: list[dict[str, Any]] = []
    patients: list[dict[str, Any]] = []
    receipts: list[AuditReceipt] = []
    for recorded_at, content, columns, event in prepared:
        seq += 1
        digest = link_hash(
            prev_hash=prev_hash,
            tenant_id=tenant.id,
            seq=seq,
            recorded_at=recorded_at,
            columns=columns,
            content=content,
        )
        rows.append(
            {
                "tenant_id": tenant.id,
                "seq": seq,
                "recorded_at": recorded_at,
                "kind": columns.kind,
                "transaction_type": columns.transaction,
                "direction": columns.direction,
                "outcome": columns.outcome,
                "user_id": columns.user_id,
                "organization_id": columns.organization_id,
                "remote_community": columns.remote_community,
                "content": content,
                "prev_hash": prev_hash,
                "hash": digest,
            }
        )
        patients += _patient_rows(tenant.id, seq, event.patients)
        receipts.append(AuditReceipt(tenant_id=tenant.id, seq=seq, hash=digest, recorded_at=recorded_at))
        prev_hash = digest
    connection.execute(_INSERT_EVENT, rows)
    if patients:
        connection.execute(_INSERT_PATIENTS, patients)
    connection.execute(_SET_HASH, {"head_tenant": tenant.id, "head_hash": prev_hash})
    return receipts
