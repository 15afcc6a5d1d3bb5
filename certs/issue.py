"""Issuing certificates: a self-signed root CA and gateway identities signed by it.

An identity is the set of certificates one gateway presents to the network: a TLS server certificate
(serverAuth, subjectAltName with its DNS names and IP addresses), a TLS client certificate for mutual TLS
(clientAuth) and an XML-signing certificate for WS-Security and SAML (digitalSignature + nonRepudiation, no
TLS extended key usage). Every certificate gets its own RSA 2048 key, because the networks expect RSA with
RSA-SHA256 signatures, and a random serial number. Nothing here touches the file system; see
:mod:`certs.devpki` for the on-disk layout.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.asymmetric.types import (
    CertificateIssuerPrivateKeyTypes,
    CertificatePublicKeyTypes,
)
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

__all__ = [
    "CA_VALIDITY",
    "DEFAULT_HOSTNAMES",
    "LEAF_VALIDITY",
    "CertificatePurpose",
    "CertifiedKey",
    "GatewayIdentity",
    "create_ca",
    "issue_certificate",
    "issue_certified_key",
    "issue_identity",
    "new_rsa_key",
]

CA_VALIDITY = dt.timedelta(days=3650)
LEAF_VALIDITY = dt.timedelta(days=730)
# notBefore is set slightly in the past so that a peer whose clock runs a little behind accepts a fresh
# certificate.
_CLOCK_SKEW = dt.timedelta(minutes=5)
_ORGANIZATION = "hie-gateway development"
DEFAULT_HOSTNAMES = ("localhost", "127.0.0.1")


class CertificatePurpose(StrEnum):
    """What an end-entity certificate is for; the value is also its file-name stem in a dev PKI."""

    TLS_SERVER = "tls-server"
    TLS_CLIENT = "tls-client"
    SIGNING = "signing"


@dataclass(frozen=True)
class CertifiedKey:
    """A certificate together with its private key."""

    certificate: x509.Certificate
    private_key: CertificateIssuerPrivateKeyTypes


@dataclass(frozen=True)
class GatewayIdentity:
    """The three certificates one gateway presents: TLS server, TLS client and XML signing."""

    name: str
    tls_server: CertifiedKey
    tls_client: CertifiedKey
    signing: CertifiedKey

    def for_purpose(self, purpose: CertificatePurpose) -> CertifiedKey:
        """The certificate and key used for ``purpose``."""
        return {
            CertificatePurpose.TLS_SERVER: self.tls_server,
            CertificatePurpose.TLS_CLIENT: self.tls_client,
            CertificatePurpose.SIGNING: self.signing,
        }[purpose]


_UNIT = {
    CertificatePurpose.TLS_SERVER: "TLS Server",
    CertificatePurpose.TLS_CLIENT: "TLS Client",
    CertificatePurpose.SIGNING: "XML Signing",
}


def new_rsa_key() -> rsa.RSAPrivateKey:
    """A fresh RSA 2048 key with the usual public exponent 65537."""
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def utc_now_or(now: dt.datetime | None) -> dt.datetime:
    """``now`` as aware UTC, or the current time; naive datetimes are refused rather than guessed."""
    if now is None:
        return dt.datetime.now(dt.UTC)
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware (UTC)")
    return now.astimezone(dt.UTC)


def _key_usage(
    *,
    digital_signature: bool = False,
    non_repudiation: bool = False,
    key_encipherment: bool = False,
    cert_sign: bool = False,
) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=digital_signature,
        content_commitment=non_repudiation,
        key_encipherment=key_encipherment,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=cert_sign,
        crl_sign=cert_sign,
        encipher_only=False,
        decipher_only=False,
    )


def create_ca(
    *,
    common_name: str = "hie-gateway Dev Root CA",
    now: dt.datetime | None = None,
    valid_for: dt.timedelta = CA_VALIDITY,
    private_key: CertificateIssuerPrivateKeyTypes | None = None,
) -> CertifiedKey:
    """Create a self-signed root CA (basicConstraints CA:TRUE critical, keyCertSign + cRLSign, SKI/AKI).

    ``private_key`` re-certifies an existing CA key (same key and subject, so certificates it already issued
    still chain to the new CA certificate); by default a new RSA 2048 key is generated.
    """
    start = utc_now_or(now) - _CLOCK_SKEW
    key = private_key if private_key is not None else new_rsa_key()
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, _ORGANIZATION),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )
    ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(start + valid_for)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(_key_usage(cert_sign=True), critical=True)
        .add_extension(ski, critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski), critical=False)
        .sign(key, hashes.SHA256())
    )
    return CertifiedKey(certificate=certificate, private_key=key)


def _general_names(hostnames: Iterable[str]) -> list[x509.GeneralName]:
    names: list[x509.GeneralName] = []
    for host in hostnames:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            names.append(x509.DNSName(host))
    return names


def issue_certificate(
    ca: CertifiedKey,
    purpose: CertificatePurpose,
    public_key: CertificatePublicKeyTypes,
    *,
    common_name: str,
    hostnames: Iterable[str] = (),
    now: dt.datetime | None = None,
    valid_for: dt.timedelta = LEAF_VALIDITY,
) -> x509.Certificate:
    """Issue one end-entity certificate for ``public_key`` and ``purpose``, signed by ``ca`` (RSA-SHA256).

    ``hostnames`` (DNS names and IP address literals) go into the subjectAltName; the TLS server
    certificate requires at least one. The certificate never outlives the CA. Passing an existing public
    key re-certifies a kept key; :func:`issue_certified_key` generates a new one.
    """
    start = utc_now_or(now) - _CLOCK_SKEW
    end = min(start + valid_for, ca.certificate.not_valid_after_utc)
    san = _general_names(hostnames)
    if purpose is CertificatePurpose.TLS_SERVER and not san:
        raise ValueError("a TLS server certificate needs at least one hostname or IP address")
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, _ORGANIZATION),
            x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, _UNIT[purpose]),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )
    ca_ski = ca.certificate.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(ca.certificate.subject)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski), critical=False)
    )
    if purpose is CertificatePurpose.SIGNING:
        builder = builder.add_extension(
            _key_usage(digital_signature=True, non_repudiation=True), critical=True
        )
    elif purpose is CertificatePurpose.TLS_SERVER:
        # keyEncipherment keeps RSA key exchange possible for older peers' TLS stacks.
        builder = builder.add_extension(
            _key_usage(digital_signature=True, key_encipherment=True), critical=True
        )
        builder = builder.add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False
        )
    else:
        builder = builder.add_extension(_key_usage(digital_signature=True), critical=True)
        builder = builder.add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False
        )
    if san:
        builder = builder.add_extension(x509.SubjectAlternativeName(san), critical=False)
    return builder.sign(ca.private_key, hashes.SHA256())


def issue_certified_key(
    ca: CertifiedKey,
    purpose: CertificatePurpose,
    *,
    common_name: str,
    hostnames: Iterable[str] = (),
    now: dt.datetime | None = None,
    valid_for: dt.timedelta = LEAF_VALIDITY,
) -> CertifiedKey:
    """Generate a new RSA 2048 key and issue a certificate for it (see :func:`issue_certificate`)."""
    key = new_rsa_key()
    certificate = issue_certificate(
        ca,
        purpose,
        key.public_key(),
        common_name=common_name,
        hostnames=hostnames,
        now=now,
        valid_for=valid_for,
    )
    return CertifiedKey(certificate=certificate, private_key=key)


def issue_identity(
    ca: CertifiedKey,
    name: str,
    *,
    hostnames: Iterable[str] = DEFAULT_HOSTNAMES,
    now: dt.datetime | None = None,
    valid_for: dt.timedelta = LEAF_VALIDITY,
) -> GatewayIdentity:
    """Issue a complete gateway identity (TLS server, TLS client, XML signing) from ``ca``.

    Each certificate gets its own new key; all carry ``name`` as common name. The TLS certificates list
    ``hostnames`` in their subjectAltName (strict client-certificate verifiers require one); the signing
    certificate has none. Costs three RSA key generations, well under a second.
    """
    hosts = tuple(hostnames)
    tls_server = issue_certified_key(
        ca, CertificatePurpose.TLS_SERVER, common_name=name, hostnames=hosts, now=now, valid_for=valid_for
    )
    tls_client = issue_certified_key(
        ca, CertificatePurpose.TLS_CLIENT, common_name=name, hostnames=hosts, now=now, valid_for=valid_for
    )
    signing = issue_certified_key(
        ca, CertificatePurpose.SIGNING, common_name=name, now=now, valid_for=valid_for
    )
    return GatewayIdentity(name=name, tls_server=tls_server, tls_client=tls_client, signing=signing)
