"""The gateway's tenant: found or created at start-up, then kept per gateway (not per process) and used by
every request's audit record, with no request creating or selecting it."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from certs import DevPkiLayout
from gateway.audit import Transaction
from gateway.audit.tables import AuditEventRow
from gateway.responding import InboundRequest, RespondingConfig, RespondingGateway
from gateway.security import InMemoryReplayCache, MessageVerifier, TrustStore, VerificationPolicy
from gateway.store import Database, Tenant
from gateway.store.documents import ensure_tenant

from .conftest import HOME


def _gateway(database: Database, pki_dir: Path, tenant: str) -> RespondingGateway:
    config = RespondingConfig(
        home_community_id=HOME,
        tenant=tenant,
        organization_name=f"Clinic {tenant}",
        assigning_authority=f"{HOME}.2",
        repository_unique_id=f"{HOME}.3",
        public_base_url="https://127.0.0.1:1",
    )
    verifier = MessageVerifier(
        trust=TrustStore.from_pem_file(DevPkiLayout(pki_dir).trust_bundle),
        policy=VerificationPolicy(audiences=config.audiences),
        replay_cache=InMemoryReplayCache(),
    )
    return RespondingGateway(config=config, database=database, verifier=verifier)


def _refuse(gateway: RespondingGateway) -> None:
    # Not XML: refused before verification, and still audited (with the gateway's tenant).
    request = InboundRequest(
        transaction=Transaction.ITI_55,
        body=b"not xml",
        content_type="application/soap+xml",
        endpoint=gateway.config.endpoint_url(Transaction.ITI_55),
    )
    assert gateway.handle(request).status in (400, 500)


def _audited(database: Database) -> list[str]:
    """The tenant slug of every audit record, in order."""
    with database.session() as session:
        rows = session.execute(
            select(Tenant.slug)
            .join(AuditEventRow, AuditEventRow.tenant_id == Tenant.id)
            .order_by(AuditEventRow.recorded_at, AuditEventRow.seq)
        )
        return [slug for (slug,) in rows]


@pytest.fixture
def database(tmp_path: Path) -> Database:
    db = Database(f"sqlite:///{tmp_path / 'tenant.db'}")
    db.upgrade()
    return db


def test_prepare_creates_the_tenant_before_any_request(database: Database, pki_dir: Path) -> None:
    gateway = _gateway(database, pki_dir, "fresh").prepare()
    with database.session() as session:
        stored = session.scalar(select(Tenant).where(Tenant.slug == "fresh"))
    assert stored is not None
    assert gateway.tenant.id == stored.id
    assert _audited(database) == []


def test_two_gateways_in_one_process_keep_their_own_tenants(database: Database, pki_dir: Path) -> None:
    first = _gateway(database, pki_dir, "first").prepare()
    second = _gateway(database, pki_dir, "second").prepare()
    _refuse(first)
    _refuse(second)
    _refuse(first)
    assert _audited(database) == ["first", "second", "first"]
    assert first.tenant.id != second.tenant.id


def test_a_tenant_changed_between_starts_is_seen(database: Database, pki_dir: Path) -> None:
    _refuse(_gateway(database, pki_dir, "before").prepare())
    restarted = _gateway(database, pki_dir, "after").prepare()
    _refuse(restarted)
    assert _audited(database) == ["before", "after"]


def test_without_prepare_the_first_request_finds_the_tenant(database: Database, pki_dir: Path) -> None:
    gateway = _gateway(database, pki_dir, "lazy")
    _refuse(gateway)
    _refuse(gateway)
    assert _audited(database) == ["lazy", "lazy"]


def test_a_seeded_tenant_is_taken_as_given_and_must_be_the_gateways(
    database: Database, pki_dir: Path
) -> None:
    with database.session() as session, session.begin():
        seeded = ensure_tenant(session, "seeded", "Clinic seeded")
        other = ensure_tenant(session, "other", "Clinic other")
    gateway = _gateway(database, pki_dir, "seeded").prepare(seeded)
    assert gateway.tenant is seeded
    _refuse(gateway)
    assert _audited(database) == ["seeded"]
    with pytest.raises(ValueError, match="not this gateway's tenant"):
        _gateway(database, pki_dir, "seeded").prepare(other)
