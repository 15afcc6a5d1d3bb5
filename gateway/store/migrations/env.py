"""Alembic environment: runs against the engine handed over in ``config.attributes['engine']``."""

from __future__ import annotations

from alembic import context

import gateway.audit.tables  # noqa: F401  (feature tables join Base.metadata for autogenerate)
from gateway.store.models import Base

engine = context.config.attributes["engine"]
with engine.connect() as connection:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()
