"""Shared PKIs and builders for the security tests: keys are generated once per session."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.serialization import Encoding
from lxml import etree

from certs import (
    CertificatePurpose,
    CertifiedKey,
    DevPkiLayout,
    create_ca,
    init_dev_pki,
    issue_certified_key,
    load_certificate,
    load_identity,
    load_private_key,
)
from gateway.security import (
    InMemoryReplayCache,
    IssuerConfig,
    MessageVerifier,
    NhinPurpose,
    Organization,
    OutboundSecurity,
    PartnerSecurityOptions,
    RequestingUser,
    Role,
    SigningIdentity,
    TrustStore,
    VerificationPolicy,
    secure_request,
)
from gateway.security.saml import AssertionInput
from xca.ids import Cx
from xca.soap import Action, Addressing

AUDIENCE = "https://responder.example/xca"
HOME = "1.3.6.1.4.1.99999.1"
NOW = dt.datetime.now(dt.UTC).replace(microsecond=0)
"""When this module was imported (collection). Certificates the tests check "at NOW" are issued as of NOW,
not when their fixture first runs: that can be minutes later in a long run, past the issuer's 5-minute
backdating."""


@dataclass(frozen=True)
class Pki:
    directory: Path
    layout: DevPkiLayout
    signing: SigningIdentity
    rogue: SigningIdentity
    expired: SigningIdentity


def _identity(pair: CertifiedKey) -> SigningIdentity:
    return SigningIdentity.of(pair.certificate, pair.private_key)


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    directory = tmp_path_factory.mktemp("security-pki")
    init_dev_pki(directory, now=NOW)
    layout = DevPkiLayout(directory)
    loaded = load_identity(
        layout.certificate(CertificatePurpose.SIGNING), layout.key(CertificatePurpose.SIGNING)
    )
    ca = CertifiedKey(load_certificate(layout.ca_certificate), load_private_key(layout.ca_key))  # type: ignore[arg-type]
    rogue_ca = create_ca(common_name="Rogue Root CA", now=NOW)
    rogue = issue_certified_key(rogue_ca, CertificatePurpose.SIGNING, common_name="hie-gateway-dev", now=NOW)
    # Valid for one day from NOW: "expired" for a message signed and verified two days from now.
    expired = issue_certified_key(
        ca,
        CertificatePurpose.SIGNING,
        common_name="hie-gateway-dev",
        valid_for=dt.timedelta(days=1),
        now=NOW,
    )
    return Pki(
        directory=directory,
        layout=layout,
        signing=SigningIdentity.of(loaded.certificate, loaded.private_key),
        rogue=_identity(rogue),
        expired=_identity(expired),
    )


@pytest.fixture(scope="session")
def trust(pki: Pki) -> TrustStore:
    return TrustStore.from_pem_file(pki.layout.trust_bundle)


def make_user(**changes: object) -> RequestingUser:
    values: dict[str, object] = {
        "user_id": "jdoe@clinic.example",
        "name": "Dr. Jane Testdoctor",
        "role": Role.physician(),
        "organization": Organization("Example Clinic", HOME),
        "purpose_of_use": NhinPurpose.TREATMENT,
        "npi": "1234567893",
    }
    values.update(changes)
    return RequestingUser(**values)  # type: ignore[arg-type]


def assertion_spec(pki: Pki, at: dt.datetime, **changes: object) -> AssertionInput:
    """The assertion input the tests sign: issued at ``at`` for AUDIENCE by the development issuer, held by
    the signing identity, about patient PAT-1, valid five minutes; ``changes`` replace any of these."""
    values: dict[str, object] = {
        "issuer": IssuerConfig("CN=hie-gateway-dev", HOME),
        "audience": AUDIENCE,
        "issue_instant": at,
        "lifetime": dt.timedelta(minutes=5),
        "holder_certificate_der": pki.signing.certificate.public_bytes(Encoding.DER),
        "resource_id": Cx("PAT-1", "1.3.6.1.4.1.99999.2"),
    }
    values.update(changes)
    return AssertionInput(**values)  # type: ignore[arg-type]


def body_element(text: str = "query") -> etree._Element:
    body = etree.Element(
        "{urn:ihe:iti:xds-b:2007}RetrieveDocumentSetRequest", nsmap={"xdsb": "urn:ihe:iti:xds-b:2007"}
    )
    etree.SubElement(body, "{urn:ihe:iti:xds-b:2007}DocumentRequest").text = text
    return body


Signer = Callable[..., bytes]


@pytest.fixture(scope="session")
def sign(pki: Pki) -> Signer:
    """``sign(now=..., identity=..., options=..., user=...)`` → signed request bytes."""

    def _sign(
        *,
        now: dt.datetime | None = None,
        identity: SigningIdentity | None = None,
        options: PartnerSecurityOptions | None = None,
        user: RequestingUser | None = None,
        to: str = AUDIENCE,
    ) -> bytes:
        at = now or dt.datetime.now(dt.UTC)
        security = OutboundSecurity(
            IssuerConfig("CN=hie-gateway-dev,O=hie-gateway development", HOME),
            identity or pki.signing,
            clock=lambda: at,
        )
        return secure_request(
            body_element(),
            Addressing.request(Action.ITI39_REQUEST, to=to),
            security=security,
            user=user or make_user(),
            options=options,
            resource_id=Cx("PAT-1", "1.3.6.1.4.1.99999.2"),
        ).data

    return _sign


@pytest.fixture
def verifier(trust: TrustStore) -> Callable[..., MessageVerifier]:
    """``verifier(now=..., **policy)`` → a fresh verifier with its own replay cache."""

    def _make(*, now: dt.datetime | None = None, **policy: object) -> MessageVerifier:
        values: dict[str, object] = {"audiences": frozenset({AUDIENCE})}
        values.update(policy)
        clock = (lambda: now) if now is not None else (lambda: dt.datetime.now(dt.UTC))
        return MessageVerifier(
            trust=trust,
            policy=VerificationPolicy(**values),  # type: ignore[arg-type]
            replay_cache=InMemoryReplayCache(),
            clock=clock,
        )

    return _make
