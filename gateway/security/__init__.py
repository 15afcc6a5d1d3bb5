"""Message security: SAML XUA assertions, WS-Security signatures, inbound verification and mutual TLS.

Outgoing (IHE ITI TF-2b 3.40 XUA; OASIS WSS 1.1 SAML Token Profile): :class:`OutboundSecurity` runs the
assertion and signature steps on an envelope from :func:`xca.soap.build_envelope` (:func:`secure_request`
does both). Incoming: :class:`MessageVerifier` returns a :class:`VerifiedMessage` or raises a
:class:`~xca.errors.SecurityRefusedError` subclass; :func:`security_fault` renders it as a SOAP Fault.
Transport: :func:`client_ssl_context` / :func:`server_ssl_context`, httpx clients, and a uvicorn protocol
exposing the verified client certificate (:func:`peer_certificate`).
"""

from gateway.security.faults import security_fault
from gateway.security.options import (
    DigestAlgorithm,
    HeaderItem,
    IssuerConfig,
    PartnerSecurityOptions,
    SignatureAlgorithm,
    SigningIdentity,
)
from gateway.security.outbound import (
    AssertionStep,
    EnvelopeStep,
    MessageSignatureStep,
    OutboundSecurity,
    SecuredMessage,
    secure_request,
)
from gateway.security.replay import InMemoryReplayCache, ReplayCache, ReplayKind
from gateway.security.saml import AssertionInput, build_assertion
from gateway.security.tls import (
    async_client,
    client_ssl_context,
    server_ssl_context,
    service_ssl_context,
    sync_client,
)
from gateway.security.tls_server import TlsScopeH11Protocol, peer_certificate, uvicorn_config
from gateway.security.trust import TrustStore
from gateway.security.user import Organization, RequestingUser, Role, is_valid_npi
from gateway.security.verified import (
    VerificationPolicy,
    VerifiedAssertion,
    VerifiedMessage,
    VerifiedTimestamp,
    XuaClaims,
)
from gateway.security.verify import MessageVerifier
from gateway.security.vocab import (
    CodedValue,
    NameIdFormat,
    NhinPurpose,
    PurposeOfUse,
    TefcaPurpose,
    XuaAttribute,
)

__all__ = [
    "AssertionInput",
    "AssertionStep",
    "CodedValue",
    "DigestAlgorithm",
    "EnvelopeStep",
    "HeaderItem",
    "InMemoryReplayCache",
    "IssuerConfig",
    "MessageSignatureStep",
    "MessageVerifier",
    "NameIdFormat",
    "NhinPurpose",
    "Organization",
    "OutboundSecurity",
    "PartnerSecurityOptions",
    "PurposeOfUse",
    "ReplayCache",
    "ReplayKind",
    "RequestingUser",
    "Role",
    "SecuredMessage",
    "SignatureAlgorithm",
    "SigningIdentity",
    "TefcaPurpose",
    "TlsScopeH11Protocol",
    "TrustStore",
    "VerificationPolicy",
    "VerifiedAssertion",
    "VerifiedMessage",
    "VerifiedTimestamp",
    "XuaAttribute",
    "XuaClaims",
    "async_client",
    "build_assertion",
    "client_ssl_context",
    "is_valid_npi",
    "peer_certificate",
    "secure_request",
    "security_fault",
    "server_ssl_context",
    "service_ssl_context",
    "sync_client",
    "uvicorn_config",
]
