"""The storage suite's database fixtures (SQLite, and PostgreSQL when HIEGATE_TEST_DATABASE_URL is set)."""

from __future__ import annotations

from tests.gateway.store import conftest as _store

postgres_server_url = _store.postgres_server_url
database_url = _store.database_url
database = _store.database
