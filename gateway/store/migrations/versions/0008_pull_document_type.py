"""Listed type and creation time of a pull's documents: pull_job_document.type_code, type_code_system,
type_code_display, creation_time

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-21
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

_COLUMNS = ("type_code", "type_code_system", "type_code_display", "creation_time")


def upgrade() -> None:
    # Rows listed before this revision have none: their descriptions stay without type and date.
    with op.batch_alter_table("pull_job_document", schema=None) as batch_op:
        batch_op.add_column(sa.Column("type_code", sa.String(length=255), nullable=True))
        batch_op.add_column(sa.Column("type_code_system", sa.String(length=255), nullable=True))
        batch_op.add_column(sa.Column("type_code_display", sa.String(length=255), nullable=True))
        batch_op.add_column(sa.Column("creation_time", sa.String(length=14), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("pull_job_document", schema=None) as batch_op:
        for column in reversed(_COLUMNS):
            batch_op.drop_column(column)
