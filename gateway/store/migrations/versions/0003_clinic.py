"""clinic data for the responding gateway: patient matching keys and XDS entries of the clinic's documents

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-04
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "patient_match_key",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("patient_id", sa.Uuid(), nullable=False),
        sa.Column("family_key", sa.String(length=32), nullable=False),
        sa.Column("birth_date", sa.Date(), nullable=True),
        sa.Column("birth_year", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["patient_id"],
            ["patient.id"],
            name=op.f("fk_patient_match_key_patient_id_patient"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenant.id"],
            name=op.f("fk_patient_match_key_tenant_id_tenant"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_patient_match_key")),
    )
    with op.batch_alter_table("patient_match_key", schema=None) as batch_op:
        batch_op.create_index("ix_patient_match_key_birth_date", ["tenant_id", "birth_date"], unique=False)
        batch_op.create_index(
            "ix_patient_match_key_family_year", ["tenant_id", "family_key", "birth_year"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_patient_match_key_patient_id"), ["patient_id"], unique=False)

    op.create_table(
        "clinic_document",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("patient_id", sa.Uuid(), nullable=False),
        sa.Column("raw_document_id", sa.Uuid(), nullable=False),
        sa.Column("entry_uuid", sa.String(length=64), nullable=False),
        sa.Column("unique_id", sa.String(length=255), nullable=False),
        sa.Column("repository_id", sa.String(length=128), nullable=False),
        sa.Column("status", sa.String(length=64), nullable=False),
        sa.Column("metadata", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["patient_id"],
            ["patient.id"],
            name=op.f("fk_clinic_document_patient_id_patient"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["raw_document_id"],
            ["raw_document.id"],
            name=op.f("fk_clinic_document_raw_document_id_raw_document"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenant.id"],
            name=op.f("fk_clinic_document_tenant_id_tenant"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_clinic_document")),
        sa.UniqueConstraint("tenant_id", "entry_uuid", name=op.f("uq_clinic_document_tenant_id_entry_uuid")),
        sa.UniqueConstraint("tenant_id", "unique_id", name=op.f("uq_clinic_document_tenant_id_unique_id")),
    )
    with op.batch_alter_table("clinic_document", schema=None) as batch_op:
        batch_op.create_index("ix_clinic_document_patient", ["tenant_id", "patient_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("clinic_document", schema=None) as batch_op:
        batch_op.drop_index("ix_clinic_document_patient")
    op.drop_table("clinic_document")
    with op.batch_alter_table("patient_match_key", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_patient_match_key_patient_id"))
        batch_op.drop_index("ix_patient_match_key_family_year")
        batch_op.drop_index("ix_patient_match_key_birth_date")
    op.drop_table("patient_match_key")
