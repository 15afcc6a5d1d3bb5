"""Audit tests run on SQLite and, with HIEGATE_TEST_DATABASE_URL, on PostgreSQL (the store's fixtures)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from certs import init_dev_pki
from gateway.audit import AuditLog, AuditSource
from gateway.store import Database, Tenant
from gateway.store.documents import ensure_tenant
from tests.gateway.audit.factories import SOURCE
from tests.gateway.store.conftest import database, database_url, postgres_server_url

__all__ = ["database", "database_url", "postgres_server_url"]


@pytest.fixture(scope="session")
def dev_pki(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A dev PKI (CA, TLS server/client, signing) shared by the audit tests; read-only."""
    directory = tmp_path_factory.mktemp("audit-pki")
    init_dev_pki(directory)
    return directory


@pytest.fixture
def tenant(database: Database) -> Iterator[Tenant]:
    with database.session() as session, session.begin():
        return ensure_tenant(session, "clinic", "Clinic")


@pytest.fixture
def audit() -> AuditLog:
    return AuditLog(source=SOURCE)


@pytest.fixture
def source() -> AuditSource:
    return SOURCE
