"""initiating side: directory of remote communities, pull jobs (state machine, selection, progress,
per-gateway outcomes), patient links, job documents and converted FHIR resources per tenant

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-11
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def _fk(table: str, column: str, target: str, ondelete: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        [column], [f"{target}.id"], name=op.f(f"fk_{table}_{column}_{target}"), ondelete=ondelete
    )


def _now() -> sa.Column[object]:
    return sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False)


def upgrade() -> None:
    op.create_table(
        "remote_community",
        sa.Column("home_community_id", sa.String(length=128), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("part_of", sa.String(length=128), nullable=True),
        sa.Column("city", sa.String(length=128), nullable=True),
        sa.Column("state", sa.String(length=32), nullable=True),
        sa.Column("postal_code", sa.String(length=32), nullable=True),
        sa.Column("latitude", sa.Float(), nullable=True),
        sa.Column("longitude", sa.Float(), nullable=True),
        sa.Column("iti55_url", sa.String(length=1024), nullable=True),
        sa.Column("iti38_url", sa.String(length=1024), nullable=True),
        sa.Column("iti39_url", sa.String(length=1024), nullable=True),
        sa.Column("source", sa.String(length=255), nullable=False),
        sa.Column("imported_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("home_community_id", name=op.f("pk_remote_community")),
    )
    with op.batch_alter_table("remote_community", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_remote_community_state"), ["state"], unique=False)

    op.create_table(
        "pull_job",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("patient_id", sa.Uuid(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("purpose_of_use", sa.String(length=32), nullable=False),
        sa.Column("request", sa.JSON(), nullable=False),
        sa.Column("selection", sa.JSON(), nullable=False),
        *(
            sa.Column(name, sa.Integer(), nullable=False)
            for name in (
                "gateways_selected",
                "gateways_asked",
                "gateways_answered",
                "gateways_matched",
                "gateways_failed",
                "documents_found",
                "documents_retrieved",
                "documents_converted",
                "documents_failed",
                "resources_stored",
            )
        ),
        sa.Column("error_code", sa.String(length=64), nullable=True),
        sa.Column("error_detail", sa.Text(), nullable=True),
        sa.Column("worker", sa.String(length=128), nullable=True),
        sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        _now(),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        _fk("pull_job", "patient_id", "patient", "RESTRICT"),
        _fk("pull_job", "tenant_id", "tenant", "RESTRICT"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pull_job")),
    )
    with op.batch_alter_table("pull_job", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_pull_job_patient_id"), ["patient_id"], unique=False)
        batch_op.create_index("ix_pull_job_tenant_state", ["tenant_id", "state"], unique=False)

    op.create_table(
        "pull_job_gateway",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("job_id", sa.Uuid(), nullable=False),
        sa.Column("home_community_id", sa.String(length=128), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("stage", sa.String(length=16), nullable=False),
        sa.Column("outcome", sa.String(length=24), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("error_code", sa.String(length=64), nullable=True),
        sa.Column("match_score", sa.Integer(), nullable=True),
        sa.Column("remote_patient_id", sa.String(length=255), nullable=True),
        sa.Column("remote_assigning_authority", sa.String(length=128), nullable=True),
        sa.Column("link_reused", sa.Boolean(), nullable=False),
        sa.Column("documents_found", sa.Integer(), nullable=False),
        sa.Column("documents_retrieved", sa.Integer(), nullable=False),
        sa.Column("exchanges", sa.Integer(), nullable=False),
        sa.Column("latency_ms", sa.Integer(), nullable=False),
        _now(),
        _fk("pull_job_gateway", "job_id", "pull_job", "CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pull_job_gateway")),
        sa.UniqueConstraint(
            "job_id", "home_community_id", name=op.f("uq_pull_job_gateway_job_id_home_community_id")
        ),
    )
    with op.batch_alter_table("pull_job_gateway", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_pull_job_gateway_job_id"), ["job_id"], unique=False)

    op.create_table(
        "patient_link",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("patient_id", sa.Uuid(), nullable=False),
        sa.Column("home_community_id", sa.String(length=128), nullable=False),
        sa.Column("remote_patient_id", sa.String(length=255), nullable=False),
        sa.Column("remote_assigning_authority", sa.String(length=128), nullable=False),
        sa.Column("score", sa.Integer(), nullable=True),
        sa.Column("job_id", sa.Uuid(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=False),
        _fk("patient_link", "job_id", "pull_job", "SET NULL"),
        _fk("patient_link", "patient_id", "patient", "CASCADE"),
        _fk("patient_link", "tenant_id", "tenant", "RESTRICT"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_patient_link")),
        sa.UniqueConstraint(
            "tenant_id",
            "patient_id",
            "home_community_id",
            name=op.f("uq_patient_link_tenant_id_patient_id_home_community_id"),
        ),
    )
    with op.batch_alter_table("patient_link", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_patient_link_patient_id"), ["patient_id"], unique=False)

    op.create_table(
        "pull_job_document",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("job_id", sa.Uuid(), nullable=False),
        sa.Column("home_community_id", sa.String(length=128), nullable=False),
        sa.Column("repository_id", sa.String(length=128), nullable=False),
        sa.Column("unique_id", sa.String(length=255), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("reused", sa.Boolean(), nullable=False),
        sa.Column("raw_document_id", sa.Uuid(), nullable=True),
        sa.Column("mime_type", sa.String(length=127), nullable=False),
        sa.Column("size", sa.Integer(), nullable=True),
        sa.Column("sha1", sa.String(length=64), nullable=True),
        sa.Column("title", sa.String(length=255), nullable=True),
        sa.Column("resources", sa.Integer(), nullable=False),
        sa.Column("error_code", sa.String(length=64), nullable=True),
        _now(),
        _fk("pull_job_document", "job_id", "pull_job", "CASCADE"),
        _fk("pull_job_document", "raw_document_id", "raw_document", "RESTRICT"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pull_job_document")),
        sa.UniqueConstraint(
            "job_id",
            "home_community_id",
            "unique_id",
            name=op.f("uq_pull_job_document_job_id_home_community_id_unique_id"),
        ),
    )
    with op.batch_alter_table("pull_job_document", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_pull_job_document_job_id"), ["job_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_pull_job_document_raw_document_id"), ["raw_document_id"], unique=False
        )

    op.create_table(
        "fhir_resource",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("patient_id", sa.Uuid(), nullable=False),
        sa.Column("scope", sa.String(length=64), nullable=False),
        sa.Column("resource_type", sa.String(length=64), nullable=False),
        sa.Column("resource_id", sa.String(length=128), nullable=False),
        sa.Column("source_document_id", sa.Uuid(), nullable=True),
        sa.Column("content", sa.JSON(), nullable=False),
        _now(),
        _fk("fhir_resource", "patient_id", "patient", "CASCADE"),
        _fk("fhir_resource", "source_document_id", "raw_document", "RESTRICT"),
        _fk("fhir_resource", "tenant_id", "tenant", "RESTRICT"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_fhir_resource")),
        sa.UniqueConstraint(
            "tenant_id",
            "scope",
            "resource_type",
            "resource_id",
            name=op.f("uq_fhir_resource_tenant_id_scope_resource_type_resource_id"),
        ),
    )
    with op.batch_alter_table("fhir_resource", schema=None) as batch_op:
        batch_op.create_index("ix_fhir_resource_patient", ["tenant_id", "patient_id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_fhir_resource_source_document_id"), ["source_document_id"], unique=False
        )


def downgrade() -> None:
    for table, indexes in (
        ("fhir_resource", ("ix_fhir_resource_source_document_id", "ix_fhir_resource_patient")),
        ("pull_job_document", ("ix_pull_job_document_raw_document_id", "ix_pull_job_document_job_id")),
        ("patient_link", ("ix_patient_link_patient_id",)),
        ("pull_job_gateway", ("ix_pull_job_gateway_job_id",)),
        ("pull_job", ("ix_pull_job_tenant_state", "ix_pull_job_patient_id")),
        ("remote_community", ("ix_remote_community_state",)),
    ):
        with op.batch_alter_table(table, schema=None) as batch_op:
            for index in indexes:
                batch_op.drop_index(index)
        op.drop_table(table)
