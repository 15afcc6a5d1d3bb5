"""One inbound HTTP exchange as the pipeline sees it, and the audit parties read from it.

The requestor is taken only from the verified assertion (never from unverified headers); before
verification succeeds a refusal names no requestor, only the TLS peer that sent the bytes.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Mapping
from dataclasses import dataclass, field

from cryptography import x509
from lxml import etree
from sqlalchemy.orm import Session

from gateway.audit import Code, RemotePeer, Requestor, Transaction, TransactionEvent
from gateway.responding.config import RespondingConfig
from gateway.security import VerifiedMessage
from gateway.security.vocab import CodedValue
from gateway.store.models import Tenant
from xca.mtom import Attachment, MimePart

__all__ = ["Exchange", "Handled", "HttpReply", "InboundRequest", "remote_peer", "requestor"]


@dataclass(frozen=True)
class InboundRequest:
    """An HTTP POST to an endpoint: the body (at most the size limit plus one byte) and its context."""

    transaction: Transaction
    body: bytes = field(repr=False)
    content_type: str | None
    endpoint: str
    peer_certificate: x509.Certificate | None = field(default=None, repr=False)
    client_address: str | None = None
    declared_length: int | None = None
    started: float = field(default_factory=time.monotonic)

    @property
    def elapsed_ms(self) -> int:
        return max(0, round((time.monotonic() - self.started) * 1000))


@dataclass(frozen=True)
class HttpReply:
    """What goes back: status, body and Content-Type."""

    status: int
    body: bytes = field(repr=False)
    content_type: str


def _code(value: CodedValue | None) -> Code | None:
    if value is None:
        return None
    return Code(code=value.code, system=value.code_system, display=value.display_name)


def requestor(verified: VerifiedMessage) -> Requestor:
    """The human requestor and their organization, as the verified XUA assertion states them."""
    assertion = verified.assertion
    claims = assertion.claims
    return Requestor(
        user_id=assertion.name_id or "unknown",
        subject_id=claims.subject_id,
        assertion_id=assertion.id,
        npi=claims.npi,
        role=_code(claims.role),
        organization=claims.organization,
        organization_id=claims.organization_id,
        home_community_id=claims.home_community_id,
        purpose_of_use=_code(claims.purpose_of_use),
    )


def remote_peer(request: InboundRequest, verified: VerifiedMessage | None = None) -> RemotePeer:
    """The calling gateway: its TLS certificate and address, and (once verified) its community."""
    certificate = request.peer_certificate
    claims = verified.assertion.claims if verified is not None else None
    return RemotePeer(
        home_community_id=claims.home_community_id if claims else None,
        network_address=request.client_address,
        certificate_subject=certificate.subject.rfc4514_string() if certificate is not None else None,
        organization=claims.organization if claims else None,
    )


@dataclass(frozen=True)
class Exchange:
    """Everything a transaction handler works with: the verified message inside one database transaction."""

    config: RespondingConfig
    session: Session = field(repr=False)
    tenant: Tenant = field(repr=False)
    verified: VerifiedMessage = field(repr=False)
    request: InboundRequest
    now: dt.datetime
    attachments: Mapping[str, MimePart] = field(default_factory=dict, repr=False)
    mtom: bool = False

    @property
    def requestor(self) -> Requestor:
        return requestor(self.verified)

    @property
    def remote(self) -> RemotePeer:
        return remote_peer(self.request, self.verified)


@dataclass(frozen=True)
class Handled:
    """A handler's answer: the response payload, its attachments, and the audit event describing it."""

    body: etree._Element = field(repr=False)
    event: TransactionEvent
    attachments: tuple[Attachment, ...] = ()
