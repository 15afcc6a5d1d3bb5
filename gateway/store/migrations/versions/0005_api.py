"""FHIR API: registered clients, API keys, used client-assertion ids, patient search index

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-11
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def _fk(table: str, column: str, target: str, ondelete: str) -> sa.ForeignKeyConstraint:
    referred = target.partition(".")[0]
    return sa.ForeignKeyConstraint(
        [column], [target], name=op.f(f"fk_{table}_{column}_{referred}"), ondelete=ondelete
    )


def upgrade() -> None:
    op.create_table(
        "api_client",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("client_id", sa.String(length=128), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("jwks", sa.JSON(), nullable=True),
        sa.Column("scopes", sa.Text(), nullable=False),
        sa.Column("user_id", sa.String(length=255), nullable=True),
        sa.Column("user_name", sa.String(length=255), nullable=True),
        sa.Column("user_npi", sa.String(length=10), nullable=True),
        sa.Column("user_role", sa.String(length=32), nullable=True),
        sa.Column("purpose_of_use", sa.String(length=32), nullable=False),
        sa.Column("organization_oid", sa.String(length=128), nullable=True),
        sa.Column("allow_user_headers", sa.Boolean(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        _fk("api_client", "tenant_id", "tenant.id", "RESTRICT"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_client")),
        sa.UniqueConstraint("client_id", name=op.f("uq_api_client_client_id")),
    )
    with op.batch_alter_table("api_client", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_api_client_tenant_id"), ["tenant_id"], unique=False)

    op.create_table(
        "api_assertion_use",
        sa.Column("client_pk", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("jti", sa.String(length=255), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        _fk("api_assertion_use", "client_pk", "api_client.id", "CASCADE"),
        sa.PrimaryKeyConstraint("client_pk", "jti", name=op.f("pk_api_assertion_use")),
    )
    with op.batch_alter_table("api_assertion_use", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_api_assertion_use_expires_at"), ["expires_at"], unique=False)

    op.create_table(
        "api_key",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("client_pk", sa.Integer(), nullable=False),
        sa.Column("key_sha256", sa.String(length=64), nullable=False),
        sa.Column("prefix", sa.String(length=16), nullable=False),
        sa.Column("scopes", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        _fk("api_key", "client_pk", "api_client.id", "CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_key")),
        sa.UniqueConstraint("key_sha256", name=op.f("uq_api_key_key_sha256")),
    )
    with op.batch_alter_table("api_key", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_api_key_client_pk"), ["client_pk"], unique=False)

    op.create_table(
        "patient_search",
        sa.Column("patient_id", sa.Uuid(), autoincrement=False, nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("birth_date", sa.Date(), nullable=True),
        sa.Column("gender", sa.String(length=16), nullable=True),
        _fk("patient_search", "patient_id", "patient.id", "CASCADE"),
        _fk("patient_search", "tenant_id", "tenant.id", "RESTRICT"),
        sa.PrimaryKeyConstraint("patient_id", name=op.f("pk_patient_search")),
    )
    with op.batch_alter_table("patient_search", schema=None) as batch_op:
        batch_op.create_index("ix_patient_search_birth_date", ["tenant_id", "birth_date"], unique=False)

    op.create_table(
        "patient_search_name",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("patient_id", sa.Uuid(), nullable=False),
        sa.Column("part", sa.String(length=8), nullable=False),
        sa.Column("value", sa.String(length=255), nullable=False),
        _fk("patient_search_name", "patient_id", "patient.id", "CASCADE"),
        _fk("patient_search_name", "tenant_id", "tenant.id", "RESTRICT"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_patient_search_name")),
    )
    with op.batch_alter_table("patient_search_name", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_patient_search_name_patient_id"), ["patient_id"], unique=False)
        batch_op.create_index("ix_patient_search_name_value", ["tenant_id", "part", "value"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("patient_search_name", schema=None) as batch_op:
        batch_op.drop_index("ix_patient_search_name_value")
        batch_op.drop_index(batch_op.f("ix_patient_search_name_patient_id"))
    op.drop_table("patient_search_name")
    with op.batch_alter_table("patient_search", schema=None) as batch_op:
        batch_op.drop_index("ix_patient_search_birth_date")
    op.drop_table("patient_search")
    with op.batch_alter_table("api_key", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_api_key_client_pk"))
    op.drop_table("api_key")
    with op.batch_alter_table("api_assertion_use", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_api_assertion_use_expires_at"))
    op.drop_table("api_assertion_use")
    with op.batch_alter_table("api_client", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_api_client_tenant_id"))
    op.drop_table("api_client")
