"""A minimal initiating side for checking sandbox gateways: signed ITI-55, ITI-38 and ITI-39 over mutual TLS.

Not the pull (that lives in ``gateway.initiating``): one gateway at a time, no retries, no consolidation. It
uses the dev PKI's TLS client and signing identities from ``certs_dir`` and the project's own security and
xca code, so what it gets is what any initiating gateway would get. The benchmark, the tests and
``hiegate sandbox --check`` use it.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import httpx
from lxml import etree

from certs import CertificatePurpose, DevPkiLayout, load_identity
from gateway.sandbox.runtime import SandboxGateway
from gateway.security import (
    IssuerConfig,
    NhinPurpose,
    OutboundSecurity,
    RequestingUser,
    Role,
    SigningIdentity,
    client_ssl_context,
    secure_request,
    sync_client,
)
from gateway.security import Organization as XuaOrganization
from xca.ids import Cx
from xca.iti38 import (
    DocumentEntry,
    FindDocumentsQuery,
    Iti38Request,
    QueryResponse,
    build_iti38_request,
    parse_iti38_response,
)
from xca.iti39 import DocumentRequest, RetrieveResponse, build_iti39_request, parse_iti39_response
from xca.iti55 import (
    Address,
    AdministrativeGender,
    Demographics,
    Device,
    Ii,
    Iti55Query,
    Iti55Request,
    Iti55Response,
    PersonName,
    Telecom,
    build_iti55_request,
    parse_iti55_response,
)
from xca.soap import Action, Addressing, parse_envelope

__all__ = ["CALLER_HOME", "PullResult", "SandboxProbe", "demographics_of"]

# The probe's own (simulated) community: a UUID-derived OID, like the sandbox's.
CALLER_HOME: Final = "2.25.262734160923853815386318153206537512305.999"


def demographics_of(person: dict[str, Any], *, address: bool = True, phone: bool = True) -> Demographics:
    """An ITI-55 query for one ``patients.json`` entry."""
    where = person.get("address") or {}
    return Demographics(
        names=(PersonName(given=tuple(str(person["given"]).split()), family=str(person["family"])),),
        gender=AdministrativeGender(person["gender"]),
        birth_date=dt.date.fromisoformat(person["birth_date"]),
        addresses=(
            Address(
                tuple(where.get("line") or ()),
                where.get("city"),
                where.get("state"),
                where.get("postalCode"),
                where.get("country"),
                "H",
            ),
        )
        if address and where
        else (),
        telecoms=(Telecom(f"tel:{person['phone']}", "HP"),) if phone and person.get("phone") else (),
    )


@dataclass(frozen=True)
class PullResult:
    """One person's exchange with one gateway: the match, the entries found, the documents retrieved."""

    discovery: Iti55Response
    patient: Cx | None
    query: QueryResponse | None
    retrieve: RetrieveResponse | None

    @property
    def entries(self) -> tuple[DocumentEntry, ...]:
        return self.query.documents if self.query is not None else ()

    @property
    def documents(self) -> int:
        return len(self.retrieve.documents) if self.retrieve is not None else 0


class SandboxProbe:
    """Calls sandbox gateways as a trusted initiating gateway of the dev PKI would."""

    def __init__(self, certs_dir: Path, *, timeout: float = 10.0, key_password: str | None = None) -> None:
        layout = DevPkiLayout(certs_dir)
        signing = load_identity(
            layout.certificate(CertificatePurpose.SIGNING),
            layout.key(CertificatePurpose.SIGNING),
            password=key_password,
        )
        self.security = OutboundSecurity(
            IssuerConfig("CN=hie-gateway sandbox probe,O=hie-gateway development", CALLER_HOME),
            SigningIdentity.of(signing.certificate, signing.private_key),
        )
        self.ssl_context = client_ssl_context(
            certificate=layout.certificate(CertificatePurpose.TLS_CLIENT),
            private_key=layout.key(CertificatePurpose.TLS_CLIENT),
            trust_bundle=layout.trust_bundle,
            key_password=key_password,
        )
        self.http = sync_client(ssl_context=self.ssl_context, timeout=timeout)
        self.user = RequestingUser(
            user_id="dr.sandbox@probe.example",
            name="Dr. Sandbox Probe",
            role=Role.physician(),
            organization=XuaOrganization("hie-gateway sandbox probe", CALLER_HOME),
            purpose_of_use=NhinPurpose.TREATMENT,
            npi="1234567893",
        )

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> SandboxProbe:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def signed(self, body: etree._Element, action: Action, url: str) -> bytes:
        """``body`` in a signed SOAP envelope addressed to ``url``."""
        return secure_request(
            body, Addressing.request(action, to=url), security=self.security, user=self.user
        ).data

    def post(self, url: str, data: bytes) -> httpx.Response:
        return self.http.post(
            url, content=data, headers={"content-type": "application/soap+xml; charset=UTF-8"}
        )

    def iti55_request(self, gateway: SandboxGateway, demographics: Demographics) -> bytes:
        request = Iti55Request(
            message_id=Ii(CALLER_HOME, uuid.uuid4().hex),
            creation_time=dt.datetime.now(dt.UTC).replace(microsecond=0),
            sender=Device(f"{CALLER_HOME}.1", CALLER_HOME),
            receiver=Device(f"{gateway.home_community_id}.1", gateway.home_community_id),
            query=Iti55Query(query_id=Ii(CALLER_HOME, uuid.uuid4().hex), demographics=demographics),
        )
        return self.signed(build_iti55_request(request), Action.ITI55_REQUEST, gateway.iti55_url)

    def discover(self, gateway: SandboxGateway, demographics: Demographics) -> Iti55Response:
        reply = self.post(gateway.iti55_url, self.iti55_request(gateway, demographics))
        reply.raise_for_status()
        envelope = parse_envelope(reply.content)
        assert envelope.body is not None
        return parse_iti55_response(envelope.body)

    def find_documents(self, gateway: SandboxGateway, patient: Cx) -> QueryResponse:
        body = build_iti38_request(
            Iti38Request(FindDocumentsQuery(patient_id=patient), home_community_id=gateway.home_community_id)
        )
        reply = self.post(gateway.iti38_url, self.signed(body, Action.ITI38_REQUEST, gateway.iti38_url))
        reply.raise_for_status()
        envelope = parse_envelope(reply.content)
        assert envelope.body is not None
        return parse_iti38_response(envelope.body)

    def retrieve(self, gateway: SandboxGateway, entries: tuple[DocumentEntry, ...]) -> RetrieveResponse:
        body = build_iti39_request(
            DocumentRequest(e.home_community_id, e.repository_unique_id or "", e.unique_id) for e in entries
        )
        reply = self.post(gateway.iti39_url, self.signed(body, Action.ITI39_REQUEST, gateway.iti39_url))
        reply.raise_for_status()
        return parse_iti39_response(reply.content, reply.headers.get("content-type"))

    def pull(self, gateway: SandboxGateway, person: dict[str, Any], **query: bool) -> PullResult:
        """ITI-55 for ``person``; on a match ITI-38 FindDocuments, then ITI-39 for every entry found."""
        discovery = self.discover(gateway, demographics_of(person, **query))
        if not discovery.matches:
            return PullResult(discovery, None, None, None)
        match = discovery.matches[0]
        patient = Cx(match.patient_id.extension or "", match.patient_id.root)
        found = self.find_documents(gateway, patient)
        retrieved = self.retrieve(gateway, found.documents) if found.documents else None
        return PullResult(discovery, patient, found, retrieved)
