"""Storage tests run on SQLite always, and on PostgreSQL when HIEGATE_TEST_DATABASE_URL is set.

For PostgreSQL a throw-away database is created on that server for the session and dropped afterwards, so
the tests never touch existing data.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from gateway.store import Database
from tests.postgres import throwaway_database


@pytest.fixture(scope="session")
def postgres_server_url() -> Iterator[str]:
    with throwaway_database("hiegate_test") as url:
        yield url


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A URL of an empty database of each kind (PostgreSQL: a fresh schema-free database per test)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'var' / 'hiegate.db'}"
        return
    server = request.getfixturevalue("postgres_server_url")
    engine = create_engine(server, isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        connection.execute(text("DROP SCHEMA public CASCADE"))
        connection.execute(text("CREATE SCHEMA public"))
    engine.dispose()
    yield server


@pytest.fixture
def database(database_url: str) -> Iterator[Database]:
    db = Database(database_url)
    db.upgrade()
    yield db
    db.dispose()
