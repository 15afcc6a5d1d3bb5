"""Pull record published before the job ends: pull_job.record_ms, pull_job_gateway.late

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-21
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("pull_job", schema=None) as batch_op:
        batch_op.add_column(sa.Column("record_ms", sa.Integer(), nullable=True))
    with op.batch_alter_table("pull_job_gateway", schema=None) as batch_op:
        # Existing rows were never late: their jobs published only at the end.
        batch_op.add_column(sa.Column("late", sa.Boolean(), nullable=False, server_default=sa.false()))


def downgrade() -> None:
    with op.batch_alter_table("pull_job_gateway", schema=None) as batch_op:
        batch_op.drop_column("late")
    with op.batch_alter_table("pull_job", schema=None) as batch_op:
        batch_op.drop_column("record_ms")
