"""Storage tests run on SQLite always, and on PostgreSQL when HIEGATE_TEST_DATABASE_URL is set.

For PostgreSQL a throw-away database is created on that server for the session and dropped afterwards, so
the tests never touch existing data.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from gateway.store import Database

PG_ENV = "HIEGATE_TEST_DATABASE_URL"


@pytest.fixture(scope="session")
def postgres_server_url() -> Iterator[str]:
    base = os.environ.get(PG_ENV)
    if not base:
        pytest.skip(
            f"PostgreSQL storage tests need {PG_ENV} (e.g. postgresql+psycopg://postgres@127.0.0.1/test)"
        )
    url = make_url(base)
    name = f"hiegate_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:  # the server named by the variable must be usable: say why not
        admin.dispose()
        pytest.fail(f"{PG_ENV} is set but PostgreSQL is unusable: {type(exc).__name__}: {exc}")
    try:
        yield url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


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
