"""A throw-away PostgreSQL database on the server named by HIEGATE_TEST_DATABASE_URL, for one test session.

Without the variable the caller's tests skip and say so; with it, an unusable server fails them with the
reason. The database is created with a unique name and dropped afterwards, so no existing data is touched.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

PG_ENV = "HIEGATE_TEST_DATABASE_URL"


@contextmanager
def throwaway_database(prefix: str) -> Iterator[str]:
    base = os.environ.get(PG_ENV)
    if not base:
        pytest.skip(f"PostgreSQL tests need {PG_ENV} (e.g. postgresql+psycopg://postgres@127.0.0.1/test)")
    url = make_url(base)
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
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
