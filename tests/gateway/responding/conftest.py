"""One real responding gateway per database backend for the whole session: dev PKI, seeded synthetic
patients and documents, uvicorn over mutual TLS on an ephemeral port, and the project's initiating side
(OutboundSecurity + httpx) to call it. PostgreSQL runs when HIEGATE_TEST_DATABASE_URL is set, in a database
of its own, so the store tests' schema resets never touch it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from lxml import etree
from sqlalchemy import func, select

from certs import CertificatePurpose, DevPkiLayout, init_dev_pki, load_identity
from fhir_facade.ccda.writer import Address, AuthoringDevice, Organization, synthetic_record, write_ccd
from gateway.audit import AuditFilter, StoredRecord, iter_records
from gateway.audit.tables import AuditEventRow
from gateway.responding import (
    DocumentDefaults,
    LocalPatient,
    ResponderServer,
    RespondingConfig,
    RespondingGateway,
    add_document,
    create_responding_app,
    demographics_from_ccda,
    entry_from_ccda,
    register_patient,
)
from gateway.security import (
    InMemoryReplayCache,
    IssuerConfig,
    MessageVerifier,
    NhinPurpose,
    OutboundSecurity,
    PartnerSecurityOptions,
    RequestingUser,
    Role,
    SigningIdentity,
    TrustStore,
    VerificationPolicy,
    client_ssl_context,
    secure_request,
    server_ssl_context,
    sync_client,
)
from gateway.security import (
    Organization as XuaOrganization,
)
from gateway.store import ClinicDocument, Database, Patient, RawDocument, Tenant
from gateway.store.documents import ensure_tenant
from tests.postgres import throwaway_database
from xca.iti55 import Address as HlAddress
from xca.iti55 import AdministrativeGender, Demographics, PersonName, Telecom
from xca.soap import Action, Addressing

HOME = "1.3.6.1.4.1.99999.700"
CALLER_HOME = "1.3.6.1.4.1.99999.800"
TENANT = "responder"


@dataclass(frozen=True)
class Seeded:
    grace: LocalPatient
    twin_anna: LocalPatient
    twin_hanna: LocalPatient
    document_id: str
    document: bytes


@dataclass(frozen=True)
class Responder:
    """The running gateway and what a test needs to call it and inspect the database."""

    gateway: RespondingGateway
    server: ResponderServer
    database: Database
    pki: Path
    seeded: Seeded
    security: OutboundSecurity
    http: httpx.Client

    @property
    def config(self) -> RespondingConfig:
        return self.gateway.config

    def url(self, path: str) -> str:
        return self.server.base_url + path

    def sign(
        self,
        body: etree._Element,
        action: Action,
        path: str,
        *,
        options: PartnerSecurityOptions | None = None,
        security: OutboundSecurity | None = None,
    ) -> bytes:
        addressing = Addressing.request(action, to=self.url(path))
        return secure_request(
            body, addressing, security=security or self.security, user=user(), options=options
        ).data

    def post(
        self, path: str, data: bytes, content_type: str = "application/soap+xml; charset=UTF-8"
    ) -> httpx.Response:
        return self.http.post(self.url(path), content=data, headers={"content-type": content_type})

    def counts(self) -> dict[str, int]:
        with self.database.session() as session:
            return {
                model.__tablename__: session.scalar(select(func.count()).select_from(model)) or 0
                for model in (AuditEventRow, Patient, ClinicDocument, RawDocument)
            }

    def records_since(self, seq: int) -> list[StoredRecord]:
        with self.database.session() as session:
            tenant = session.scalar(select(Tenant).where(Tenant.slug == TENANT))
            assert tenant is not None
            return [r for r in iter_records(session, tenant, AuditFilter()) if r.seq > seq]

    def last_seq(self) -> int:
        with self.database.session() as session:
            return session.scalar(select(func.max(AuditEventRow.seq))) or 0


def user() -> RequestingUser:
    return RequestingUser(
        user_id="dr.synthetic@caller.example",
        name="Dr. Synthetic Caller",
        role=Role.physician(),
        organization=XuaOrganization("Caller Clinic", CALLER_HOME),
        purpose_of_use=NhinPurpose.TREATMENT,
        npi="1234567893",
    )


@pytest.fixture(scope="session")
def pki_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("responding-pki")
    init_dev_pki(directory)
    return directory


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def responder_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path_factory.mktemp('responding-db') / 'hiegate.db'}"
        return
    with throwaway_database("hiegate_resp") as url:
        yield url


def synthetic_ccd(seed: int, document_id: str) -> bytes:
    org = Organization(HOME, "Synthetic Responding Clinic", "tel:+1-555-555-0100",
                       Address(("1 Example Way",), "Springfield", "IL", "62701"))  # fmt: skip
    return write_ccd(
        synthetic_record(seed),
        document_id=document_id,
        author_organization=org,
        author_device=AuthoringDevice("hie-gateway", "test"),
        custodian=org,
        effective_time=dt.datetime(2024, 5, 1, 12, 0, tzinfo=dt.UTC),
    )


def _twin(given: str) -> Demographics:
    return Demographics(
        names=(PersonName(given=(given,), family="Quintero", use="L"),),
        gender=AdministrativeGender.FEMALE,
        birth_date=dt.date(1990, 7, 14),
        addresses=(HlAddress(("12 Orchard Lane",), "Madison", "WI", "53703", "US", "H"),),
        telecoms=(Telecom("tel:+1-608-555-0142", "HP"),),
    )


def _seed(database: Database, config: RespondingConfig) -> Seeded:
    document_id = f"{HOME}.9.1"
    content = synthetic_ccd(1, document_id)
    with database.session() as session, session.begin():
        tenant = ensure_tenant(session, config.tenant, config.organization_name)
        authority = config.assigning_authority
        grace_demographics = demographics_from_ccda(content)
        grace = register_patient(
            session, tenant, grace_demographics, assigning_authority=authority, mrn="SYN000001"
        )
        anna = register_patient(session, tenant, _twin("Anna"), assigning_authority=authority, mrn="TWIN-A")
        hanna = register_patient(session, tenant, _twin("Hanna"), assigning_authority=authority, mrn="TWIN-H")
        entry = entry_from_ccda(content, grace.cx, DocumentDefaults(HOME, config.repository_unique_id))
        add_document(session, tenant, grace, entry, content)
    return Seeded(grace, anna, hanna, document_id, content)


def signing_identity(pki_dir: Path) -> SigningIdentity:
    layout = DevPkiLayout(pki_dir)
    loaded = load_identity(
        layout.certificate(CertificatePurpose.SIGNING), layout.key(CertificatePurpose.SIGNING)
    )
    return SigningIdentity.of(loaded.certificate, loaded.private_key)


def outbound(pki_dir: Path, clock: Callable[[], dt.datetime] | None = None) -> OutboundSecurity:
    issuer = IssuerConfig("CN=hie-gateway-dev,O=hie-gateway development", CALLER_HOME)
    if clock is None:
        return OutboundSecurity(issuer, signing_identity(pki_dir))
    return OutboundSecurity(issuer, signing_identity(pki_dir), clock=clock)


@pytest.fixture(scope="session")
def responder(responder_url: str, pki_dir: Path) -> Iterator[Responder]:
    layout = DevPkiLayout(pki_dir)
    database = Database(responder_url)
    database.upgrade()
    server = ResponderServer(
        ssl_context=server_ssl_context(
            certificate=layout.certificate(CertificatePurpose.TLS_SERVER),
            private_key=layout.key(CertificatePurpose.TLS_SERVER),
            trust_bundle=layout.trust_bundle,
        )
    )
    config = RespondingConfig(
        home_community_id=HOME,
        tenant=TENANT,
        organization_name="Synthetic Responding Clinic",
        assigning_authority=f"{HOME}.2",
        repository_unique_id=f"{HOME}.3",
        public_base_url=server.base_url,
        max_request_bytes=2 * 1024 * 1024,
    )
    verifier = MessageVerifier(
        trust=TrustStore.from_pem_file(layout.trust_bundle),
        policy=VerificationPolicy(audiences=config.audiences),
        replay_cache=InMemoryReplayCache(),
    )
    gateway = RespondingGateway(config=config, database=database, verifier=verifier)
    seeded = _seed(database, config)
    client_context = client_ssl_context(
        certificate=layout.certificate(CertificatePurpose.TLS_CLIENT),
        private_key=layout.key(CertificatePurpose.TLS_CLIENT),
        trust_bundle=layout.trust_bundle,
    )
    with (
        server.start(create_responding_app(gateway)),
        sync_client(ssl_context=client_context, timeout=30) as http,
    ):
        yield Responder(gateway, server, database, pki_dir, seeded, outbound(pki_dir), http)
    database.dispose()
