"""What a resumed pull needs of its earlier runs: how long each gateway took to answer, per transaction
(pull_job_gateway.answered_ms), and how many documents the record held when last published
(pull_job.record_documents)

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Rows of jobs run before this revision have none: a job resumed from then judges overdue requests by
    # its new run's answers only, as before.
    with op.batch_alter_table("pull_job_gateway", schema=None) as batch_op:
        batch_op.add_column(sa.Column("answered_ms", sa.JSON(), nullable=True))
    # Null for records published before: a resumed job consolidates its record again once, as before.
    with op.batch_alter_table("pull_job", schema=None) as batch_op:
        batch_op.add_column(sa.Column("record_documents", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("pull_job", schema=None) as batch_op:
        batch_op.drop_column("record_documents")
    with op.batch_alter_table("pull_job_gateway", schema=None) as batch_op:
        batch_op.drop_column("answered_ms")
