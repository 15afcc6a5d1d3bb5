"""What inbound verification is configured with and what it returns (frozen values, nothing mutable).

:class:`VerificationPolicy` holds the responder's rules; :class:`VerifiedMessage` holds only values read from
the signed, canonical form of the elements the verified signatures covered (OASIS WSS 1.1; SAML 2.0 core
§2.5 Conditions; IHE ITI TF-2b 3.40.4.1.2 attributes).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Final

from cryptography import x509
from lxml import etree

from gateway.security.options import SignatureAlgorithm
from gateway.security.vocab import CodedValue, PurposeOfUse, XuaAttribute
from xca.errors import ConfigError
from xca.ids import Cx, is_oid
from xca.soap import Addressing

__all__ = [
    "DEFAULT_CLOCK_SKEW",
    "DEFAULT_REQUIRED_ATTRIBUTES",
    "VerificationPolicy",
    "VerifiedAssertion",
    "VerifiedMessage",
    "VerifiedTimestamp",
    "XuaClaims",
]

DEFAULT_CLOCK_SKEW: Final = dt.timedelta(minutes=5)
DEFAULT_REQUIRED_ATTRIBUTES: Final = frozenset(
    {
        XuaAttribute.SUBJECT_ID,
        XuaAttribute.ORGANIZATION,
        XuaAttribute.ORGANIZATION_ID,
        XuaAttribute.HOME_COMMUNITY_ID,
        XuaAttribute.ROLE,
        XuaAttribute.PURPOSE_OF_USE,
    }
)


@dataclass(frozen=True)
class VerificationPolicy:
    """The responder's rules for inbound messages.

    ``audiences``: values an AudienceRestriction must name (our endpoint URL, ``urn:oid:`` homeCommunityId).
    ``clock_skew`` widens every time window both ways. SHA-1 (RSA-SHA1 signatures, SHA-1 digests) is accepted
    per partner, as the partners file's ``allow_sha1`` says: ``sha1_partners`` maps a homeCommunityId (bare
    OID) to whether its messages may use it, and ``allow_sha1`` answers for every community not listed there
    (and for an assertion that names none). The community is the one the assertion claims: a message using
    SHA-1 is verified only when the claim read before verification names a community allowed it, and
    accepted only when the verified assertion's claim does too (see :meth:`accepts_sha1_from`).
    ``require_signed_body`` refuses messages whose soap:Body the message signature does not cover.
    ``require_signer_matches_tls_peer`` demands that the signing and the mutual-TLS certificates share issuer
    and subject common name.
    """

    audiences: frozenset[str]
    clock_skew: dt.timedelta = DEFAULT_CLOCK_SKEW
    allow_sha1: bool = False
    sha1_partners: Mapping[str, bool] = field(default_factory=dict)
    require_signed_body: bool = True
    required_attributes: frozenset[XuaAttribute] = DEFAULT_REQUIRED_ATTRIBUTES
    max_assertion_lifetime: dt.timedelta = dt.timedelta(hours=8)
    max_timestamp_lifetime: dt.timedelta = dt.timedelta(hours=1)
    timestamp_max_age: dt.timedelta = dt.timedelta(minutes=5)
    require_signer_matches_tls_peer: bool = False

    def __post_init__(self) -> None:
        if not self.audiences or not all(isinstance(a, str) and a.strip() for a in self.audiences):
            raise ConfigError("at least one non-empty audience is required", detail={"setting": "audiences"})
        if not dt.timedelta(0) <= self.clock_skew <= dt.timedelta(minutes=30):
            raise ConfigError("clock_skew must be between 0 and 30 minutes", detail={"setting": "clock_skew"})
        if not all(isinstance(c, str) and is_oid(c) for c in self.sha1_partners):
            raise ConfigError(
                "sha1_partners are keyed by bare homeCommunityId OIDs", detail={"setting": "allow_sha1"}
            )

    @property
    def sha1_possible(self) -> bool:
        """Whether any message at all may use SHA-1 (else it is refused before anything is read)."""
        return self.allow_sha1 or any(self.sha1_partners.values())

    def accepts_sha1_from(self, home_community_id: str | None) -> bool:
        """Whether a message whose assertion claims ``home_community_id`` may use SHA-1; one whose claim
        cannot be read (``None``: absent, repeated, not an OID) only when every community may."""
        if home_community_id is None:
            return self.allow_sha1 and all(self.sha1_partners.values())
        return self.sha1_partners.get(home_community_id, self.allow_sha1)


@dataclass(frozen=True)
class XuaClaims:
    """The XUA attributes as sent (organization and community ids as bare OIDs)."""

    subject_id: str | None = None
    organization: str | None = None
    organization_id: str | None = None
    home_community_id: str | None = None
    role: CodedValue | None = None
    purpose_of_use: CodedValue | None = None
    purpose: PurposeOfUse | None = None
    npi: str | None = None
    resource_id: Cx | None = field(default=None, repr=False)
    grantor: str | None = None


@dataclass(frozen=True)
class VerifiedAssertion:
    """A signature-checked, in-date, audience-checked XUA assertion."""

    id: str
    issuer: str
    name_id: str
    name_id_format: str | None
    issue_instant: dt.datetime
    not_before: dt.datetime
    not_on_or_after: dt.datetime
    audiences: tuple[str, ...]
    authn_instant: dt.datetime | None
    authn_context: str | None
    claims: XuaClaims
    signing_certificate: x509.Certificate = field(repr=False)
    holder_certificate: x509.Certificate = field(repr=False)
    signature_algorithm: SignatureAlgorithm
    element: etree._Element = field(repr=False, compare=False)


@dataclass(frozen=True)
class VerifiedTimestamp:
    id: str
    created: dt.datetime
    expires: dt.datetime | None


@dataclass(frozen=True)
class VerifiedMessage:
    """The outcome of :meth:`~gateway.security.verify.MessageVerifier.verify`.

    ``body`` is the first child of the signed soap:Body, re-read from its canonical form (comments gone);
    ``body_signed`` is False only when the policy allowed an unsigned Body. ``addressing`` is informational:
    WS-Addressing headers are not covered by the signature unless the sender chose to.
    """

    assertion: VerifiedAssertion
    timestamp: VerifiedTimestamp
    body: etree._Element | None = field(repr=False, compare=False)
    body_signed: bool
    addressing: Addressing
    signature_algorithm: SignatureAlgorithm
    chain: tuple[x509.Certificate, ...] = field(repr=False)
    tls_peer_certificate: x509.Certificate | None = field(default=None, repr=False)

    @property
    def signing_certificate(self) -> x509.Certificate:
        return self.assertion.signing_certificate
