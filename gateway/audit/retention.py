"""Retention: purging the oldest records behind a signed checkpoint, so what remains still verifies.

Only a prefix of the chain is ever purged (every record up to the first one recorded at or after the
cutoff), and only after that prefix verifies: signing a checkpoint over tampered records would launder
them. The purge, its checkpoint and the head lock happen in the caller's transaction.

A cut-off in the future is always refused; given the retention period, so is one that would delete records
still inside it (:func:`check_cutoff`): a mistyped year must not empty a compliance log.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import Table, delete, func, insert, select, update
from sqlalchemy.orm import Session

from gateway.audit.chain import GENESIS_HASH
from gateway.audit.checkpoint import Checkpoint, CheckpointSigner, CheckpointVerifier
from gateway.audit.model import require_aware
from gateway.audit.tables import AuditChainHead, AuditCheckpointRow, AuditEventRow, AuditPatientRow
from gateway.audit.verify import verify_chain
from gateway.store.models import Tenant, utcnow
from xca.errors import AuditChainError, AuditRetentionError

__all__ = ["PurgeResult", "check_cutoff", "latest_cutoff", "purge_before"]

_EVENTS: Table = AuditEventRow.__table__  # type: ignore[assignment]
_PATIENTS: Table = AuditPatientRow.__table__  # type: ignore[assignment]
_HEAD: Table = AuditChainHead.__table__  # type: ignore[assignment]
_CHECKPOINTS: Table = AuditCheckpointRow.__table__  # type: ignore[assignment]


@dataclass(frozen=True, slots=True)
class PurgeResult:
    """How many records went, which range, and the checkpoint that now stands for them."""

    tenant: str
    purged: int
    first_seq: int | None
    last_seq: int | None
    last_hash: str | None


def _shown(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def latest_cutoff(now: dt.datetime, retention_days: int) -> dt.datetime:
    """The latest cut-off that keeps every record of the last ``retention_days`` days."""
    return now - dt.timedelta(days=retention_days)


def check_cutoff(before: dt.datetime, *, now: dt.datetime, retention_days: int | None) -> None:
    """Refuse (:class:`AuditRetentionError`) a cut-off after ``now`` or inside the retention period."""
    require_aware(before, "before")
    detail: dict[str, object] = {"cutoff": _shown(before), "now": _shown(now)}
    if before > now:
        raise AuditRetentionError(
            f"refusing to purge before {_shown(before)}: that is in the future (now is {_shown(now)}); "
            "nothing was deleted",
            detail=detail,
        )
    if retention_days is None:
        return
    latest = latest_cutoff(now, retention_days)
    if before > latest:
        raise AuditRetentionError(
            f"refusing to purge before {_shown(before)}: records of the last {retention_days} days "
            f"(audit_retention_days) must be kept, so the cut-off must be {_shown(latest)} or earlier; "
            "nothing was deleted",
            detail=detail | {"retention_days": retention_days, "latest_cutoff": _shown(latest)},
        )


def purge_before(
    session: Session,
    tenant: Tenant,
    *,
    before: dt.datetime,
    signer: CheckpointSigner,
    verifier: CheckpointVerifier | None = None,
    now: dt.datetime | None = None,
    retention_days: int | None = None,
) -> PurgeResult:
    """Delete ``tenant``'s records recorded before ``before``, leaving a signed checkpoint (no commit).

    Refuses, before touching anything, a ``before`` after ``now`` and, when ``retention_days`` is given, one
    that would delete records of the last ``retention_days`` days (:func:`check_cutoff`).
    """
    require_aware(before, "before")
    created = now or utcnow()
    check_cutoff(before, now=created, retention_days=retention_days)
    nothing = PurgeResult(tenant=tenant.slug, purged=0, first_seq=None, last_seq=None, last_hash=None)
    lock = (
        update(_HEAD)
        .where(_HEAD.c.tenant_id == tenant.id)
        .values(last_seq=_HEAD.c.last_seq)
        .returning(_HEAD.c.last_seq)
    )
    head_seq = session.execute(lock).scalar_one_or_none()
    if head_seq is None:
        return nothing
    previous = session.execute(
        select(_CHECKPOINTS.c.last_seq, _CHECKPOINTS.c.last_hash)
        .where(_CHECKPOINTS.c.tenant_id == tenant.id)
        .order_by(_CHECKPOINTS.c.last_seq.desc())
        .limit(1)
    ).one_or_none()
    start, start_prev = (previous.last_seq + 1, previous.last_hash) if previous else (1, GENESIS_HASH)
    first_kept = session.scalar(
        select(func.min(_EVENTS.c.seq)).where(
            _EVENTS.c.tenant_id == tenant.id, _EVENTS.c.recorded_at >= before
        )
    )
    end = first_kept - 1 if first_kept is not None else head_seq
    if end < start:
        return nothing

    report = verify_chain(session, tenant, checkpoints=verifier or CheckpointVerifier((signer.certificate,)))
    if report.broken is not None and report.broken.seq <= end:
        raise AuditChainError(
            "refusing to purge: the records to be purged do not verify",
            detail={"tenant": tenant.slug, "seq": report.broken.seq, "kind": report.broken.kind.value},
        )
    last_hash = session.execute(
        select(_EVENTS.c.hash).where(_EVENTS.c.tenant_id == tenant.id, _EVENTS.c.seq == end)
    ).scalar_one()
    checkpoint = Checkpoint(
        tenant_id=tenant.id,
        first_seq=start,
        last_seq=end,
        start_prev_hash=start_prev,
        last_hash=last_hash,
        record_count=end - start + 1,
        cutoff=before.astimezone(dt.UTC),
        created_at=created.astimezone(dt.UTC),
        signer_sha256=signer.fingerprint,
    )
    session.execute(
        insert(_CHECKPOINTS).values(
            tenant_id=checkpoint.tenant_id,
            first_seq=checkpoint.first_seq,
            last_seq=checkpoint.last_seq,
            start_prev_hash=checkpoint.start_prev_hash,
            last_hash=checkpoint.last_hash,
            record_count=checkpoint.record_count,
            cutoff=checkpoint.cutoff,
            created_at=checkpoint.created_at,
            signer_sha256=checkpoint.signer_sha256,
            signature=signer.sign(checkpoint),
        )
    )
    in_range = (_EVENTS.c.tenant_id == tenant.id) & (_EVENTS.c.seq <= end)
    session.execute(delete(_PATIENTS).where(_PATIENTS.c.tenant_id == tenant.id, _PATIENTS.c.seq <= end))
    session.execute(delete(_EVENTS).where(in_range))
    return PurgeResult(
        tenant=tenant.slug, purged=checkpoint.record_count, first_seq=start, last_seq=end, last_hash=last_hash
    )
