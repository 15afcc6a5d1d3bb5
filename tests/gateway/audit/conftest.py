"""Audit tests run on SQLite and, with HIEGATE_TEST_DATABASE_URL, on PostgreSQL (the store's fixtures)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest

from certs import init_dev_pki
from gateway.audit import AuditLog, AuditSource, append_event
from gateway.store import Database, Tenant
from gateway.store.documents import ensure_tenant
from tests.gateway.audit.factories import SOURCE, T0, every_path
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


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, dev_pki: Path) -> Iterator[Database]:
    """A SQLite database on disk with one record per path through the event kinds, and the settings the
    `hiegate audit` commands read pointing at it and at the dev PKI."""
    url = f"sqlite:///{tmp_path / 'hiegate.db'}"
    for name, value in {"DATABASE_URL": url, "CERTS_DIR": str(dev_pki), "TENANT": "clinic"}.items():
        monkeypatch.setenv(f"HIEGATE_{name}", value)
    monkeypatch.delenv("HIEGATE_CONFIG", raising=False)
    monkeypatch.chdir(tmp_path)
    db = Database(url)
    db.upgrade()
    with db.session() as session, session.begin():
        tenant = ensure_tenant(session, "clinic", "Clinic")
        for hour, event in enumerate(every_path().values()):
            append_event(session, tenant, event, now=T0 + dt.timedelta(hours=hour))
    yield db
    db.dispose()
