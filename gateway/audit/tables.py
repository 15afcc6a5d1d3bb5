"""The audit tables (migration 0002): records, their patient index, the per-tenant chain head, checkpoints.

``audit_event`` is keyed by (tenant, seq): sequence numbers are per tenant and gap-free, assigned under the
lock on the tenant's ``audit_chain_head`` row. ``content`` holds the canonical JSON bytes that were hashed,
as text, so verification re-hashes exactly what was written. The search columns beside it are covered by
the hash too. ``audit_patient`` is a derived index (one row per patient identifier of a record) for patient
search and the accounting of disclosures.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import (
    BigInteger,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from gateway.store.models import Base, UtcDateTime, utcnow

__all__ = ["AuditChainHead", "AuditCheckpointRow", "AuditEventRow", "AuditPatientRow"]


class AuditEventRow(Base):
    """One audit record, a link in its tenant's hash chain."""

    __tablename__ = "audit_event"
    __table_args__ = (
        Index("ix_audit_event_recorded_at", "tenant_id", "recorded_at"),
        Index("ix_audit_event_user_id", "tenant_id", "user_id"),
        Index("ix_audit_event_organization_id", "tenant_id", "organization_id"),
        Index("ix_audit_event_remote_community", "tenant_id", "remote_community"),
        Index("ix_audit_event_transaction_type", "tenant_id", "transaction_type"),
        Index("ix_audit_event_outcome", "tenant_id", "outcome"),
    )

    tenant_id: Mapped[int] = mapped_column(
        ForeignKey("tenant.id", ondelete="RESTRICT"), primary_key=True, autoincrement=False
    )
    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    recorded_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    kind: Mapped[str] = mapped_column(String(16))
    transaction_type: Mapped[str | None] = mapped_column(String(16))
    direction: Mapped[str | None] = mapped_column(String(16))
    outcome: Mapped[int] = mapped_column(SmallInteger)
    user_id: Mapped[str | None] = mapped_column(String(255))
    organization_id: Mapped[str | None] = mapped_column(String(128))
    remote_community: Mapped[str | None] = mapped_column(String(128))
    content: Mapped[str] = mapped_column(Text)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class AuditPatientRow(Base):
    """A patient identifier named by an audit record (derived from its content, for search)."""

    __tablename__ = "audit_patient"
    __table_args__ = (
        ForeignKeyConstraint(
            ["tenant_id", "seq"],
            ["audit_event.tenant_id", "audit_event.seq"],
            name="fk_audit_patient_audit_event",
            ondelete="CASCADE",
        ),
        Index("ix_audit_patient_value", "tenant_id", "value", "assigning_authority"),
    )

    tenant_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    position: Mapped[int] = mapped_column(SmallInteger, primary_key=True, autoincrement=False)
    value: Mapped[str] = mapped_column(String(255))
    assigning_authority: Mapped[str] = mapped_column(String(128))
    role: Mapped[str] = mapped_column(String(8))


class AuditChainHead(Base):
    """The newest link of a tenant's chain; appends lock this row, which serializes them per tenant."""

    __tablename__ = "audit_chain_head"

    tenant_id: Mapped[int] = mapped_column(
        ForeignKey("tenant.id", ondelete="RESTRICT"), primary_key=True, autoincrement=False
    )
    last_seq: Mapped[int] = mapped_column(BigInteger)
    last_hash: Mapped[str] = mapped_column(String(64))
    updated_at: Mapped[dt.datetime] = mapped_column(UtcDateTime, default=utcnow)


class AuditCheckpointRow(Base):
    """A signed statement that records ``first_seq``..``last_seq`` existed, chained, and were purged."""

    __tablename__ = "audit_checkpoint"
    __table_args__ = (UniqueConstraint("tenant_id", "last_seq"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenant.id", ondelete="RESTRICT"), index=True)
    first_seq: Mapped[int] = mapped_column(BigInteger)
    last_seq: Mapped[int] = mapped_column(BigInteger)
    start_prev_hash: Mapped[str] = mapped_column(String(64))
    last_hash: Mapped[str] = mapped_column(String(64))
    record_count: Mapped[int] = mapped_column(BigInteger)
    cutoff: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    created_at: Mapped[dt.datetime] = mapped_column(UtcDateTime)
    signer_sha256: Mapped[str] = mapped_column(String(64))
    signature: Mapped[str] = mapped_column(Text)
