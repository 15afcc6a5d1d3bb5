"""Configuration of message security: the gateway's identity as an assertion issuer and per-partner options.

All frozen dataclasses, validated at construction. SHA-1 (RSA-SHA1 signatures, SHA-1 digests) is refused
unless
``allow_sha1=True`` is set for that partner, as some older partners still need it (OASIS WSS 1.1; W3C XML-DSig
1.1 §6 deprecates SHA-1).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Final

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import rsa

from certs.load import ensure_key_matches
from xca.errors import ConfigError, KeyMismatchError
from xca.ids import is_oid

__all__ = [
    "DEFAULT_ASSERTION_LIFETIME",
    "DEFAULT_TIMESTAMP_LIFETIME",
    "DigestAlgorithm",
    "HeaderItem",
    "IssuerConfig",
    "PartnerSecurityOptions",
    "SignatureAlgorithm",
    "SigningIdentity",
]

DEFAULT_ASSERTION_LIFETIME: Final = dt.timedelta(minutes=5)
DEFAULT_TIMESTAMP_LIFETIME: Final = dt.timedelta(minutes=5)
_MAX_LIFETIME: Final = dt.timedelta(hours=8)


class SignatureAlgorithm(StrEnum):
    RSA_SHA256 = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"
    RSA_SHA384 = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha384"
    RSA_SHA512 = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha512"
    RSA_SHA1 = "http://www.w3.org/2000/09/xmldsig#rsa-sha1"


class DigestAlgorithm(StrEnum):
    SHA256 = "http://www.w3.org/2001/04/xmlenc#sha256"
    SHA384 = "http://www.w3.org/2001/04/xmldsig-more#sha384"
    SHA512 = "http://www.w3.org/2001/04/xmlenc#sha512"
    SHA1 = "http://www.w3.org/2000/09/xmldsig#sha1"


SHA1_ALGORITHMS: Final = frozenset({SignatureAlgorithm.RSA_SHA1.value, DigestAlgorithm.SHA1.value})


class HeaderItem(StrEnum):
    """The three children of ``wsse:Security`` we write; partners differ in the order they expect."""

    TIMESTAMP = "timestamp"
    ASSERTION = "assertion"
    SIGNATURE = "signature"


@dataclass(frozen=True)
class PartnerSecurityOptions:
    """How messages to one partner are secured.

    ``audience`` defaults to the message's ``wsa:To``. ``sign_body`` adds the soap:Body to the message
    signature
    (next to the Timestamp). ``header_order`` is any permutation of :class:`HeaderItem`.
    """

    signature_algorithm: SignatureAlgorithm = SignatureAlgorithm.RSA_SHA256
    digest_algorithm: DigestAlgorithm = DigestAlgorithm.SHA256
    allow_sha1: bool = False
    header_order: tuple[HeaderItem, ...] = (HeaderItem.TIMESTAMP, HeaderItem.ASSERTION, HeaderItem.SIGNATURE)
    assertion_lifetime: dt.timedelta = DEFAULT_ASSERTION_LIFETIME
    timestamp_lifetime: dt.timedelta = DEFAULT_TIMESTAMP_LIFETIME
    audience: str | None = None
    sign_body: bool = True

    def __post_init__(self) -> None:
        uses_sha1 = {self.signature_algorithm.value, self.digest_algorithm.value} & SHA1_ALGORITHMS
        if uses_sha1 and not self.allow_sha1:
            raise ConfigError(
                "SHA-1 signatures or digests need allow_sha1=True for this partner",
                detail={"setting": "signature_algorithm"},
            )
        if sorted(self.header_order) != sorted(HeaderItem) or len(self.header_order) != len(HeaderItem):
            raise ConfigError(
                "header_order must name timestamp, assertion and signature once each",
                detail={"setting": "header_order"},
            )
        for name in ("assertion_lifetime", "timestamp_lifetime"):
            value: dt.timedelta = getattr(self, name)
            if not dt.timedelta(seconds=10) <= value <= _MAX_LIFETIME:
                raise ConfigError(f"{name} must be between 10 seconds and 8 hours", detail={"setting": name})


@dataclass(frozen=True)
class IssuerConfig:
    """The gateway as assertion issuer: ``issuer`` (SAML Issuer, X.509 subject name form by default) and the
    homeCommunityId (bare OID) it speaks for."""

    issuer: str
    home_community_id: str
    issuer_format: str = "urn:oasis:names:tc:SAML:1.1:nameid-format:X509SubjectName"

    def __post_init__(self) -> None:
        if not self.issuer.strip():
            raise ConfigError("issuer must not be empty", detail={"setting": "issuer"})
        if not is_oid(self.home_community_id):
            raise ConfigError("home_community_id must be a bare OID", detail={"setting": "home_community_id"})


@dataclass(frozen=True)
class SigningIdentity:
    """The XML-signing key and certificate (plus intermediates) used for assertions and message signatures."""

    certificate: x509.Certificate
    private_key: rsa.RSAPrivateKey = field(repr=False)
    chain: tuple[x509.Certificate, ...] = ()

    def __post_init__(self) -> None:
        if not isinstance(self.private_key, rsa.RSAPrivateKey):
            raise ConfigError(
                "the signing key must be RSA (networks expect RSA-SHA256)", detail={"setting": "key"}
            )
        try:
            ensure_key_matches(self.certificate, self.private_key)
        except KeyMismatchError as exc:
            raise ConfigError(
                "the signing key does not belong to the signing certificate", detail={"setting": "key"}
            ) from exc

    @classmethod
    def of(
        cls, certificate: x509.Certificate, private_key: object, chain: Sequence[x509.Certificate] = ()
    ) -> SigningIdentity:
        """Build from loaded objects (e.g. :func:`certs.load_identity`), refusing non-RSA keys."""
        if not isinstance(private_key, rsa.RSAPrivateKey):
            raise ConfigError(
                "the signing key must be RSA (networks expect RSA-SHA256)", detail={"setting": "key"}
            )
        return cls(certificate=certificate, private_key=private_key, chain=tuple(chain))
