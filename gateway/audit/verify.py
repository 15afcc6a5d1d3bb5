"""Walking a tenant's hash chain and naming the first record that was changed, deleted or inserted.

Rows stream in sequence order (server-side cursor on PostgreSQL) and each is re-hashed. The walk starts
after the newest signed checkpoint (records before it were purged), checks that checkpoints chain and carry
valid signatures, and ends by comparing the last record with the tenant's chain head.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from enum import StrEnum
from hashlib import sha256
from typing import Any

import orjson
from sqlalchemy import Row, Select, String, Table, func, select, type_coerce
from sqlalchemy.orm import Session

from gateway.audit.chain import GENESIS_HASH, hash_time
from gateway.audit.checkpoint import Checkpoint, CheckpointVerifier
from gateway.audit.tables import AuditChainHead, AuditCheckpointRow, AuditEventRow
from gateway.store.models import Tenant
from xca.errors import AuditCheckpointError

__all__ = ["BreakKind", "ChainBreak", "ChainVerification", "verify_chain"]

_EVENTS: Table = AuditEventRow.__table__  # type: ignore[assignment]
_BATCH = 5000
# In IndexColumns order: the columns stored beside the content that the hash covers.
_HASHED_COLUMNS = (
    _EVENTS.c.kind,
    _EVENTS.c.transaction_type,
    _EVENTS.c.direction,
    _EVENTS.c.outcome,
    _EVENTS.c.user_id,
    _EVENTS.c.organization_id,
    _EVENTS.c.remote_community,
)


class BreakKind(StrEnum):
    CHANGED = "changed"
    DELETED = "deleted"
    INSERTED = "inserted"
    RELINKED = "relinked"
    HEAD_MISMATCH = "head-mismatch"
    CHECKPOINT_INVALID = "checkpoint-invalid"
    ANCHOR_INVALID = "anchor-invalid"
    ANCHOR_MISMATCH = "anchor-mismatch"


@dataclass(frozen=True, slots=True)
class ChainBreak:
    """The first place the chain does not hold: a sequence number, what is wrong, one line saying so."""

    seq: int
    kind: BreakKind
    message: str


@dataclass(frozen=True, slots=True)
class ChainVerification:
    """The result for one tenant: records re-hashed, the range walked, checkpoints checked, the break; and
    the anchors checked against the chain (:mod:`gateway.audit.anchor`), those on purged records apart."""

    tenant_id: int
    tenant: str
    records: int
    first_seq: int | None
    last_seq: int | None
    checkpoints: int
    broken: ChainBreak | None
    anchors: int = 0
    anchors_purged: int = 0

    @property
    def ok(self) -> bool:
        return self.broken is None


class _BrokenError(Exception):
    def __init__(self, seq: int, kind: BreakKind, message: str) -> None:
        super().__init__(message)
        self.found = ChainBreak(seq=seq, kind=kind, message=message)


def _checkpoints(
    session: Session, tenant_id: int, verifier: CheckpointVerifier | None
) -> tuple[int, str, int]:
    """(first seq to expect, its prev hash, number of checkpoints) after checking the checkpoints."""
    rows = session.scalars(
        select(AuditCheckpointRow)
        .where(AuditCheckpointRow.tenant_id == tenant_id)
        .order_by(AuditCheckpointRow.last_seq)
    ).all()
    if rows and verifier is None:
        raise AuditCheckpointError(
            "the chain starts at a signed purge checkpoint: give the signing certificate to verify it",
            detail={"tenant_id": tenant_id},
        )
    next_seq, prev_hash = 1, GENESIS_HASH
    for row in rows:
        checkpoint = Checkpoint(
            tenant_id=row.tenant_id,
            first_seq=row.first_seq,
            last_seq=row.last_seq,
            start_prev_hash=row.start_prev_hash,
            last_hash=row.last_hash,
            record_count=row.record_count,
            cutoff=row.cutoff,
            created_at=row.created_at,
            signer_sha256=row.signer_sha256,
        )
        assert verifier is not None
        if not verifier.is_valid(checkpoint, row.signature):
            raise _BrokenError(
                row.first_seq, BreakKind.CHECKPOINT_INVALID, "purge checkpoint signature is invalid"
            )
        if row.first_seq != next_seq or row.start_prev_hash != prev_hash:
            raise _BrokenError(
                row.first_seq, BreakKind.CHECKPOINT_INVALID, "purge checkpoint does not continue the chain"
            )
        next_seq, prev_hash = row.last_seq + 1, row.last_hash
    return next_seq, prev_hash, len(rows)


def _raw_time(session: Session) -> Any:
    """``recorded_at`` without result processing on SQLite (its stored text), as a datetime elsewhere."""
    if session.get_bind().dialect.name == "sqlite":
        return type_coerce(_EVENTS.c.recorded_at, String)
    return _EVENTS.c.recorded_at


def _sqlite_hash_time(stored: str) -> str:
    # SQLAlchemy stores "YYYY-MM-DD HH:MM:SS.ffffff" (UTC); any other text fails the hash, as it should.
    return f"{stored[:10]}T{stored[11:]}+00:00"


@contextmanager
def _rows(session: Session, tenant_id: int, upto: int) -> Iterator[Iterator[Row[Any]]]:
    """The records in sequence order, streamed; the cursor is closed however the walk ends."""
    statement: Select[Any] = (
        select(
            _EVENTS.c.seq,
            _raw_time(session),
            _EVENTS.c.prev_hash,
            _EVENTS.c.hash,
            _EVENTS.c.content,
            *_HASHED_COLUMNS,
        )
        .where(_EVENTS.c.tenant_id == tenant_id, _EVENTS.c.seq <= upto)
        .order_by(_EVENTS.c.seq)
    )
    result = session.connection().execute(statement.execution_options(yield_per=_BATCH))
    try:
        yield iter(result)
    finally:
        result.close()


def _check(
    rows: Iterator[Any], tenant_id: int, start: int, prev: str, head_seq: int, as_text: Callable[[Any], str]
) -> tuple[int, int | None, str, int]:
    """Check links and hashes: (count, first seq, last hash, next expected seq) or ``_BrokenError``."""
    expected, expected_prev, before_prev = start, prev, None
    count, first, last_hash = 0, None, prev
    row = next(rows, None)
    while row is not None:
        following = next(rows, None)
        seq, recorded_at, prev_hash, digest, content = row[:5]
        if seq < start:
            raise _BrokenError(seq, BreakKind.INSERTED, "record exists behind a purge checkpoint")
        if seq > head_seq:
            raise _BrokenError(seq, BreakKind.INSERTED, "record beyond the chain head was inserted")
        if seq > expected:
            raise _BrokenError(expected, BreakKind.DELETED, f"records {expected}..{seq - 1} are missing")
        if prev_hash != expected_prev:
            if following is not None and following[2] == expected_prev:
                raise _BrokenError(seq, BreakKind.INSERTED, "inserted: its successor links past it")
            if before_prev is not None and prev_hash == before_prev:
                raise _BrokenError(seq - 1, BreakKind.INSERTED, "inserted: the next record links past it")
            raise _BrokenError(seq, BreakKind.RELINKED, "record does not link to its predecessor")
        header = [prev_hash, tenant_id, seq, as_text(recorded_at), *row[5:]]
        if sha256(orjson.dumps(header) + b"\n" + content.encode("utf-8")).hexdigest() != digest:
            if following is not None and following[2] == expected_prev:
                raise _BrokenError(seq, BreakKind.INSERTED, "inserted: its successor links past it")
            raise _BrokenError(seq, BreakKind.CHANGED, "record content does not match its hash")
        count += 1
        first = seq if first is None else first
        before_prev, expected_prev, expected = expected_prev, digest, seq + 1
        last_hash = digest
        row = following
    return count, first, last_hash, expected


def _walk(session: Session, tenant_id: int, start: int, prev: str) -> tuple[int, int | None, int | None]:
    """Re-hash every record: (count, first seq, last seq), or ``_BrokenError`` at the first break."""
    max_seq = session.scalar(select(func.max(_EVENTS.c.seq)).where(_EVENTS.c.tenant_id == tenant_id)) or 0
    head = session.get(AuditChainHead, tenant_id, populate_existing=True)
    if head is None and max_seq:
        raise _BrokenError(max_seq, BreakKind.HEAD_MISMATCH, "the chain head is missing")
    head_seq, head_hash = (head.last_seq, head.last_hash) if head else (start - 1, prev)
    with _rows(session, tenant_id, max_seq) as rows:
        as_text = _sqlite_hash_time if session.get_bind().dialect.name == "sqlite" else hash_time
        count, first, last_hash, expected = _check(rows, tenant_id, start, prev, head_seq, as_text)
    last = expected - 1
    if head_seq > last:
        if session.scalar(
            select(_EVENTS.c.seq).where(_EVENTS.c.tenant_id == tenant_id, _EVENTS.c.seq == expected)
        ):
            return count, first, last  # appended while we walked: verified up to ``last``
        raise _BrokenError(expected, BreakKind.DELETED, f"records {expected}..{head_seq} are missing")
    if head_seq == last and head_hash != last_hash:
        raise _BrokenError(last, BreakKind.HEAD_MISMATCH, "the chain head does not match the last record")
    return count, first, (last if count else None)


def verify_chain(
    session: Session, tenant: Tenant, *, checkpoints: CheckpointVerifier | None = None
) -> ChainVerification:
    """Verify ``tenant``'s chain; ``checkpoints`` is required once a purge has left a checkpoint."""
    count = first = last = None
    n_checkpoints = 0
    broken: ChainBreak | None = None
    try:
        start, prev, n_checkpoints = _checkpoints(session, tenant.id, checkpoints)
        count, first, last = _walk(session, tenant.id, start, prev)
    except _BrokenError as exc:
        broken = exc.found
    return ChainVerification(
        tenant_id=tenant.id,
        tenant=tenant.slug,
        records=count or 0,
        first_seq=first,
        last_seq=last,
        checkpoints=n_checkpoints,
        broken=broken,
    )
