"""FHIR API asynchronous work: API pulls, webhooks and deliveries, bulk exports

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-12
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def _fk(table: str, column: str, target: str, ondelete: str) -> sa.ForeignKeyConstraint:
    referred = target.partition(".")[0]
    return sa.ForeignKeyConstraint(
        [column], [target], name=op.f(f"fk_{table}_{column}_{referred}"), ondelete=ondelete
    )


def _index(table: str, column: str) -> None:
    with op.batch_alter_table(table, schema=None) as batch_op:
        batch_op.create_index(batch_op.f(f"ix_{table}_{column}"), [column], unique=False)


def upgrade() -> None:
    op.create_table(
        "api_pull",
        sa.Column("job_id", sa.Uuid(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("client_pk", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        _fk("api_pull", "job_id", "pull_job.id", "CASCADE"),
        _fk("api_pull", "tenant_id", "tenant.id", "RESTRICT"),
        _fk("api_pull", "client_pk", "api_client.id", "CASCADE"),
        sa.PrimaryKeyConstraint("job_id", name=op.f("pk_api_pull")),
    )
    _index("api_pull", "tenant_id")
    _index("api_pull", "client_pk")
    op.create_table(
        "api_webhook",
        sa.Column("client_pk", sa.Integer(), nullable=False),
        sa.Column("url", sa.String(length=1024), nullable=False),
        sa.Column("secret", sa.String(length=255), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        _fk("api_webhook", "client_pk", "api_client.id", "CASCADE"),
        sa.PrimaryKeyConstraint("client_pk", name=op.f("pk_api_webhook")),
    )
    op.create_table(
        "api_webhook_delivery",
        sa.Column("event_id", sa.String(length=64), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("client_pk", sa.Integer(), nullable=False),
        sa.Column("job_id", sa.Uuid(), nullable=False),
        sa.Column("url", sa.String(length=1024), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        _fk("api_webhook_delivery", "tenant_id", "tenant.id", "RESTRICT"),
        _fk("api_webhook_delivery", "client_pk", "api_client.id", "CASCADE"),
        sa.PrimaryKeyConstraint("event_id", name=op.f("pk_api_webhook_delivery")),
    )
    _index("api_webhook_delivery", "tenant_id")
    _index("api_webhook_delivery", "client_pk")
    op.create_table(
        "api_export",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("client_pk", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("request_url", sa.Text(), nullable=False),
        sa.Column("types", sa.Text(), nullable=False),
        sa.Column("since", sa.DateTime(timezone=True), nullable=True),
        sa.Column("group_id", sa.String(length=64), nullable=True),
        sa.Column("transaction_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        _fk("api_export", "tenant_id", "tenant.id", "RESTRICT"),
        _fk("api_export", "client_pk", "api_client.id", "CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_export")),
    )
    _index("api_export", "tenant_id")
    _index("api_export", "client_pk")
    op.create_table(
        "api_export_file",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("export_id", sa.Uuid(), nullable=False),
        sa.Column("resource_type", sa.String(length=64), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        _fk("api_export_file", "export_id", "api_export.id", "CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_export_file")),
    )
    _index("api_export_file", "export_id")


def downgrade() -> None:
    for table in ("api_export_file", "api_export", "api_webhook_delivery", "api_webhook", "api_pull"):
        op.drop_table(table)
