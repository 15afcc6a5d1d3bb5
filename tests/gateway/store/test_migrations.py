"""Migrations bring an empty database to head, are idempotent, reversible, and match the models."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect

from gateway.store import Base, Database, current_revision, head_revision
from gateway.store.db import downgrade


def test_upgrade_creates_schema_and_is_idempotent(database_url: str) -> None:
    db = Database(database_url)
    try:
        assert current_revision(db.engine) is None
        assert db.upgrade() == head_revision()
        assert db.upgrade() == head_revision()
        tables = set(inspect(db.engine).get_table_names())
        assert {"tenant", "patient", "patient_identifier", "raw_document", "alembic_version"} <= tables
    finally:
        db.dispose()


def test_migrations_match_models(database: Database) -> None:
    with database.engine.connect() as connection:
        diff = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    assert diff == []


def test_downgrade_to_base_removes_tables_and_upgrade_restores(database: Database) -> None:
    downgrade(database.engine, "base")
    assert set(inspect(database.engine).get_table_names()) <= {"alembic_version"}
    database.upgrade()
    assert "raw_document" in inspect(database.engine).get_table_names()


def test_sqlite_file_lands_in_a_created_folder(tmp_path: object) -> None:
    from pathlib import Path

    target = Path(str(tmp_path)) / "deep" / "var" / "gw.db"
    db = Database(f"sqlite:///{target}")
    try:
        db.upgrade()
    finally:
        db.dispose()
    assert target.is_file()
