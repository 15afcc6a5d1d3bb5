"""A small real network for the pull: four responding gateways over mutual TLS on 127.0.0.1, each its own
community (healthy with the patient, one without the patient, one answering HTTP 500, one slower than its
timeout), a FHIR directory of them imported into the initiating side's database (SQLite, and PostgreSQL when
HIEGATE_TEST_DATABASE_URL is set), and a :class:`PullService` wired to call them.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import json
import threading
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator, MutableMapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pytest

from certs import CertificatePurpose, DevPkiLayout, init_dev_pki, load_identity
from fhir_facade.ccda.writer import Address, AuthoringDevice, Organization, synthetic_record, write_ccd
from gateway.directory import import_communities, parse_directory, parse_partners
from gateway.initiating import BreakerPolicy, PullRequest, PullService, RetryPolicy, ServiceOptions
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
    RequestingUser,
    Role,
    SigningIdentity,
    TrustStore,
    VerificationPolicy,
    client_ssl_context,
    server_ssl_context,
)
from gateway.security import Organization as XuaOrganization
from gateway.store import Database
from gateway.store.documents import ensure_tenant
from tests.env import isolate_settings
from tests.gateway.store import conftest as _store
from xca.iti55 import AdministrativeGender, Demographics, PersonName

# The storage suite's database fixtures (SQLite, and PostgreSQL when HIEGATE_TEST_DATABASE_URL is set).
postgres_server_url = _store.postgres_server_url
database_url = _store.database_url
database = _store.database

CALLER = "1.3.6.1.4.1.99999.900"
HEALTHY, NOBODY, BROKEN, SLOW = (f"1.3.6.1.4.1.99999.{n}" for n in (901, 902, 903, 904))
Asgi = Callable[[MutableMapping[str, Any], Any, Any], Awaitable[None]]


def synthetic_ccd(seed: int, home: str, document_id: str) -> bytes:
    org = Organization(home, f"Clinic {home[-3:]}", "tel:+1-555-555-0100",
                       Address(("1 Example Way",), "Springfield", "IL", "62701"))  # fmt: skip
    return write_ccd(
        synthetic_record(seed),
        document_id=document_id,
        author_organization=org,
        author_device=AuthoringDevice("hie-gateway", "test"),
        custodian=org,
        effective_time=dt.datetime(2024, 5, 1 + seed % 20, 12, 0, tzinfo=dt.UTC),
    )


@dataclass
class Node:
    """One running responding gateway and what the test does to it."""

    home: str
    name: str
    server: ResponderServer
    gateway: RespondingGateway
    hits: Counter[str] = field(default_factory=Counter)
    mode: str = "ok"
    delay: float = 0.0
    patient: LocalPatient | None = None
    holds: dict[str, threading.Event] = field(default_factory=dict)
    """Requests to these paths wait (off the server's event loop) until their event is set."""
    connections: set[tuple[str, int]] = field(default_factory=set)
    """The callers' (host, port) seen: one per TCP connection, so one per TLS handshake."""

    def wrap(self, app: Any) -> Asgi:
        async def wrapped(scope: MutableMapping[str, Any], receive: Any, send: Any) -> None:
            if scope["type"] == "http":
                self.hits[scope["path"]] += 1
                if scope.get("client"):
                    host, port = scope["client"]
                    self.connections.add((host, port))
                hold = self.holds.get(scope["path"])
                if hold is not None:
                    await asyncio.get_running_loop().run_in_executor(None, hold.wait)
                if self.delay and self.mode == "500":  # a gateway that fails slowly
                    await asyncio.sleep(self.delay)
                if self.delay and self.mode != "500":
                    delay = self.delay

                    async def late_send(message: MutableMapping[str, Any]) -> None:
                        # The answer is ready on time and leaves late: the body was read while the caller
                        # still listened, so a caller that gave up does not surface as a server error.
                        if message["type"] == "http.response.start":
                            await asyncio.sleep(delay)
                        await send(message)

                    await app(scope, receive, late_send)
                    return
                if self.mode == "500":
                    await send({"type": "http.response.start", "status": 500, "headers": []})
                    await send({"type": "http.response.body", "body": b"internal error"})
                    return
            await app(scope, receive, send)

        return wrapped

    def add_document(self, seed: int, number: int) -> str:
        """File one more C-CDA for the node's patient; returns its unique id."""
        assert self.patient is not None
        document_id = f"{self.home}.9.{number}"
        content = synthetic_ccd(seed, self.home, document_id)
        config = self.gateway.config
        with self.gateway.database.session() as session, session.begin():
            tenant = ensure_tenant(session, config.tenant, config.organization_name)
            entry = entry_from_ccda(
                content, self.patient.cx, DocumentDefaults(self.home, config.repository_unique_id)
            )
            add_document(session, tenant, self.patient, entry, content)
        return document_id

    def add_file(self, number: int, content: bytes, *, mime_type: str, title: str, **listed: Any) -> str:
        """File a document that is no C-CDA of the patient's (a scanned PDF, say) for the node's patient,
        listed like the C-CDA it stands for but with its own media type, size, hash and title, and with what
        ``listed`` sets of its listing (a type code, a creation time); returns its unique id."""
        assert self.patient is not None
        unique_id = f"{self.home}.9.{number}"
        config = self.gateway.config
        base = entry_from_ccda(
            synthetic_ccd(number, self.home, unique_id),
            self.patient.cx,
            DocumentDefaults(self.home, config.repository_unique_id),
        )
        entry = replace(
            base,
            entry_uuid=f"urn:uuid:{uuid.uuid4()}",
            unique_id=unique_id,
            mime_type=mime_type,
            size=len(content),
            hash=hashlib.sha1(content, usedforsecurity=False).hexdigest(),
            title=title,
            **listed,
        )
        with self.gateway.database.session() as session, session.begin():
            tenant = ensure_tenant(session, config.tenant, config.organization_name)
            add_document(session, tenant, self.patient, entry, content)
        return unique_id


@dataclass
class Network:
    pki: Path
    nodes: dict[str, Node]
    directory: bytes
    grace: Demographics
    documents: list[str]

    def directory_bundle(self) -> bytes:
        return self.directory


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("pull-pki")
    init_dev_pki(directory)
    return directory


def _organization(node: Node) -> dict[str, Any]:
    base = node.server.base_url
    ext = "https://sequoiaproject.org/fhir/sphd/StructureDefinition/Transaction"

    def endpoint(eid: str, code: str, path: str, transaction: str) -> dict[str, Any]:
        return {
            "resourceType": "Endpoint", "id": eid, "status": "active",
            "connectionType": {"system": "http://hl7.org/fhir/endpoint-connection-type", "code": code},
            "address": base + path, "extension": [{"url": ext, "valueString": transaction}],
        }  # fmt: skip

    return {
        "resourceType": "Organization",
        "id": node.name,
        "identifier": [{"system": "urn:ietf:rfc:3986", "value": f"urn:oid:{node.home}"}],
        "active": True,
        "name": f"Clinic {node.name}",
        "address": [{"city": "Springfield", "state": "IL", "postalCode": "62701"}],
        "contained": [
            endpoint("xcpd", "ihe-xcpd", "/xcpd", "XCPD ITI-55"),
            endpoint("xcaq", "ihe-xca", "/xca/query", "XCA ITI-38"),
            endpoint("xcar", "ihe-xca", "/xca/retrieve", "XCA ITI-39"),
        ],
        "endpoint": [{"reference": "#xcpd"}, {"reference": "#xcaq"}, {"reference": "#xcar"}],
    }


@pytest.fixture
def network(pki: Path, tmp_path: Path) -> Iterator[Network]:
    layout = DevPkiLayout(pki)
    responder_db = Database(f"sqlite:///{tmp_path / 'responders.db'}")
    responder_db.upgrade()
    grace = demographics_from_ccda(synthetic_ccd(1, HEALTHY, f"{HEALTHY}.9.0"))
    nodes: dict[str, Node] = {}
    for home, name in ((HEALTHY, "healthy"), (NOBODY, "nobody"), (BROKEN, "broken"), (SLOW, "slow")):
        server = ResponderServer(
            ssl_context=server_ssl_context(
                certificate=layout.certificate(CertificatePurpose.TLS_SERVER),
                private_key=layout.key(CertificatePurpose.TLS_SERVER),
                trust_bundle=layout.trust_bundle,
            )
        )
        config = RespondingConfig(
            home_community_id=home,
            tenant=name,
            organization_name=f"Clinic {name}",
            assigning_authority=f"{home}.2",
            repository_unique_id=f"{home}.3",
            public_base_url=server.base_url,
        )
        verifier = MessageVerifier(
            trust=TrustStore.from_pem_file(layout.trust_bundle),
            policy=VerificationPolicy(audiences=config.audiences),
            replay_cache=InMemoryReplayCache(),
        )
        nodes[home] = Node(
            home, name, server, RespondingGateway(config=config, database=responder_db, verifier=verifier)
        )
    with responder_db.session() as session, session.begin():
        for node in nodes.values():
            config = node.gateway.config
            tenant = ensure_tenant(session, config.tenant, config.organization_name)
            other = Demographics(
                names=(PersonName(given=("Otto",), family="Nobody"),),
                gender=AdministrativeGender.MALE,
                birth_date=dt.date(1950, 1, 1),
            )
            register_patient(session, tenant, other, assigning_authority=config.assigning_authority)
            if node.home != NOBODY:
                node.patient = register_patient(
                    session, tenant, grace, assigning_authority=config.assigning_authority, mrn="GRACE-1"
                )
    documents = [nodes[HEALTHY].add_document(1, 1), nodes[HEALTHY].add_document(2, 2)]
    nodes[BROKEN].mode = "500"
    nodes[SLOW].delay = 2.5
    for node in nodes.values():
        node.server.start(node.wrap(create_responding_app(node.gateway)))
    bundle = {"resourceType": "Bundle", "type": "collection",
              "entry": [{"resource": _organization(n)} for n in nodes.values()]}  # fmt: skip
    try:
        yield Network(pki, nodes, json.dumps(bundle).encode(), grace, documents)
    finally:
        for node in nodes.values():
            node.server.stop()
        responder_db.dispose()


PARTNERS = f"""
[defaults]
connect_timeout = 2.0
read_timeout = 5.0
total_timeout = 8.0
retrieve_batch_size = 5
max_attempts = 3

[partner."{SLOW}"]
read_timeout = 1.0
total_timeout = 1.0
"""


def make_service(network: Network, database: Database, **options: Any) -> PullService:
    return service_for(network.pki, database, **options)


def service_for(pki: Path, database: Database, **options: Any) -> PullService:
    """The test network's caller with the certificates in ``pki`` (also used by a pull in a child process)."""
    layout = DevPkiLayout(pki)
    signing = load_identity(
        layout.certificate(CertificatePurpose.SIGNING), layout.key(CertificatePurpose.SIGNING)
    )
    identity = SigningIdentity.of(signing.certificate, signing.private_key)
    security = OutboundSecurity(
        IssuerConfig("CN=hie-gateway-dev,O=hie-gateway development", CALLER), identity
    )
    context = client_ssl_context(
        certificate=layout.certificate(CertificatePurpose.TLS_CLIENT),
        private_key=layout.key(CertificatePurpose.TLS_CLIENT),
        trust_bundle=layout.trust_bundle,
    )
    defaults: dict[str, Any] = {
        "breaker": BreakerPolicy(failure_threshold=3, recovery_seconds=60.0),
        "retry": RetryPolicy(base_seconds=0.01, cap_seconds=0.05),
    }
    defaults.update(options)
    return PullService(
        database=database,
        security=security,
        ssl_context=context,
        home_community_id=CALLER,
        tenant="clinic",
        organization_name="Calling Clinic",
        assigning_authority=f"{CALLER}.2",
        partners=parse_partners(PARTNERS),
        options=ServiceOptions(**defaults),
    )


def import_directory(network: Network, database: Database) -> None:
    with database.session() as session, session.begin():
        import_communities(session, parse_directory(network.directory).communities, source="test")


def cli_settings(
    monkeypatch: pytest.MonkeyPatch, workdir: Path, network: Network, database: Database
) -> None:
    """``hiegate`` run in this test acts as the caller of :func:`make_service` on ``database``."""
    isolate_settings(monkeypatch, workdir)
    for name, value in {
        "DATABASE_URL": database.engine.url.render_as_string(hide_password=False),
        "TENANT": "clinic",
        "ORGANIZATION_NAME": "Calling Clinic",
        "HOME_COMMUNITY_ID": CALLER,
        "ASSIGNING_AUTHORITY": f"{CALLER}.2",
        "CERTS_DIR": str(network.pki),
    }.items():
        monkeypatch.setenv(f"HIEGATE_{name}", value)


def patient_args(network: Network) -> list[str]:
    """``hiegate pull``'s patient options for the network's patient Grace."""
    grace = network.grace
    assert grace.birth_date is not None
    assert grace.gender is not None
    name = grace.names[0]
    given = [arg for g in name.given for arg in ("--given", g)]
    return [*given, "--family", name.family or "", "--birth-date", grace.birth_date.isoformat(),
            "--gender", grace.gender.value]  # fmt: skip


def user() -> RequestingUser:
    return RequestingUser(
        user_id="dr.pull@clinic.example",
        name="Dr. Pull",
        role=Role.physician(),
        organization=XuaOrganization("Calling Clinic", CALLER),
        purpose_of_use=NhinPurpose.TREATMENT,
        npi="1234567893",
    )


def request_for(network: Network) -> PullRequest:
    return PullRequest(demographics=network.grace, user=user())
