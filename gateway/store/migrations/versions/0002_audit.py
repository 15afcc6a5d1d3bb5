"""audit log: hash-chained records, patient index, per-tenant chain head, signed purge checkpoints

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_EVENT_INDEXES = {
    "ix_audit_event_recorded_at": ["tenant_id", "recorded_at"],
    "ix_audit_event_user_id": ["tenant_id", "user_id"],
    "ix_audit_event_organization_id": ["tenant_id", "organization_id"],
    "ix_audit_event_remote_community": ["tenant_id", "remote_community"],
    "ix_audit_event_transaction_type": ["tenant_id", "transaction_type"],
    "ix_audit_event_outcome": ["tenant_id", "outcome"],
}


def upgrade() -> None:
    op.create_table(
        "audit_event",
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("seq", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("transaction_type", sa.String(length=16), nullable=True),
        sa.Column("direction", sa.String(length=16), nullable=True),
        sa.Column("outcome", sa.SmallInteger(), nullable=False),
        sa.Column("user_id", sa.String(length=255), nullable=True),
        sa.Column("organization_id", sa.String(length=128), nullable=True),
        sa.Column("remote_community", sa.String(length=128), nullable=True),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("prev_hash", sa.String(length=64), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenant.id"], name=op.f("fk_audit_event_tenant_id_tenant"), ondelete="RESTRICT"
        ),
        sa.PrimaryKeyConstraint("tenant_id", "seq", name=op.f("pk_audit_event")),
    )
    with op.batch_alter_table("audit_event", schema=None) as batch_op:
        for name, columns in _EVENT_INDEXES.items():
            batch_op.create_index(name, columns, unique=False)

    op.create_table(
        "audit_patient",
        sa.Column("tenant_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("seq", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("position", sa.SmallInteger(), autoincrement=False, nullable=False),
        sa.Column("value", sa.String(length=255), nullable=False),
        sa.Column("assigning_authority", sa.String(length=128), nullable=False),
        sa.Column("role", sa.String(length=8), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id", "seq"],
            ["audit_event.tenant_id", "audit_event.seq"],
            name="fk_audit_patient_audit_event",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("tenant_id", "seq", "position", name=op.f("pk_audit_patient")),
    )
    with op.batch_alter_table("audit_patient", schema=None) as batch_op:
        batch_op.create_index(
            "ix_audit_patient_value", ["tenant_id", "value", "assigning_authority"], unique=False
        )

    op.create_table(
        "audit_chain_head",
        sa.Column("tenant_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("last_seq", sa.BigInteger(), nullable=False),
        sa.Column("last_hash", sa.String(length=64), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenant.id"],
            name=op.f("fk_audit_chain_head_tenant_id_tenant"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("tenant_id", name=op.f("pk_audit_chain_head")),
    )

    op.create_table(
        "audit_checkpoint",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("first_seq", sa.BigInteger(), nullable=False),
        sa.Column("last_seq", sa.BigInteger(), nullable=False),
        sa.Column("start_prev_hash", sa.String(length=64), nullable=False),
        sa.Column("last_hash", sa.String(length=64), nullable=False),
        sa.Column("record_count", sa.BigInteger(), nullable=False),
        sa.Column("cutoff", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("signer_sha256", sa.String(length=64), nullable=False),
        sa.Column("signature", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenant.id"],
            name=op.f("fk_audit_checkpoint_tenant_id_tenant"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_checkpoint")),
        sa.UniqueConstraint("tenant_id", "last_seq", name=op.f("uq_audit_checkpoint_tenant_id_last_seq")),
    )
    with op.batch_alter_table("audit_checkpoint", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_audit_checkpoint_tenant_id"), ["tenant_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("audit_checkpoint", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_audit_checkpoint_tenant_id"))
    op.drop_table("audit_checkpoint")
    op.drop_table("audit_chain_head")
    with op.batch_alter_table("audit_patient", schema=None) as batch_op:
        batch_op.drop_index("ix_audit_patient_value")
    op.drop_table("audit_patient")
    with op.batch_alter_table("audit_event", schema=None) as batch_op:
        for name in _EVENT_INDEXES:
            batch_op.drop_index(name)
    op.drop_table("audit_event")
