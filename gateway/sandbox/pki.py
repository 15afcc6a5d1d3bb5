"""TLS server certificates of the sandbox's gateways: ECDSA P-256, one key and certificate per gateway.

Why ECDSA: the dev PKI's RSA-2048 identities cost about 0.2 s of key generation each, 40 s for 200
gateways. A P-256 key takes well under a millisecond, and the project's TLS contexts accept it: their TLS
1.2 suites are ``ECDHE+AESGCM:ECDHE+CHACHA20:...`` (which include ECDHE-ECDSA), and TLS 1.3 negotiates the
signature scheme independently of the suite. Each certificate is still issued by the dev CA in
``certs_dir`` (RSA-SHA256 signature, about 1 ms), so the initiating side's trust bundle accepts it, and names
``127.0.0.1`` and ``localhost``. The leaf carries digitalSignature only (keyEncipherment means nothing for
an EC key).

The TLS fault modes get their own material: ``tls-wrong-cert`` serves a certificate from a second,
unrelated CA ("sandbox rogue CA"); ``tls-expired-cert`` a certificate from the dev CA whose validity ended
yesterday. Keys and certificates are written to ``<folder>/pki/`` (Python's ``ssl`` loads them from files)
and replaced on every start; nothing there is ever trusted by anyone but the sandbox.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from certs import CertifiedKey, DevPkiLayout, load_certificate, load_private_key
from xca.errors import CertificateLoadError

__all__ = ["SandboxPki", "ServerCertificate", "load_dev_ca"]

_HOSTS = ("127.0.0.1", "localhost")
_SKEW = dt.timedelta(minutes=5)
_LEAF_DAYS = 365


@dataclass(frozen=True)
class ServerCertificate:
    """One PEM file holding a certificate and its private key (``load_cert_chain`` reads both)."""

    path: Path
    certificate: x509.Certificate


def load_dev_ca(certs_dir: Path, password: str | bytes | None = None) -> CertifiedKey:
    """The dev CA of ``certs_dir`` (``hiegate certs init``)."""
    layout = DevPkiLayout(certs_dir)
    key = load_private_key(layout.ca_key, password=password)
    if not isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
        raise CertificateLoadError(
            "The dev CA key is neither RSA nor EC.", detail={"path": str(layout.ca_key)}
        )
    return CertifiedKey(load_certificate(layout.ca_certificate), key)


def _name(common_name: str, unit: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "hie-gateway sandbox"),
            x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, unit),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _issue(
    issuer: CertifiedKey,
    key: ec.EllipticCurvePrivateKey,
    common_name: str,
    start: dt.datetime,
    end: dt.datetime,
) -> x509.Certificate:
    public = key.public_key()
    issuer_ski = issuer.certificate.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    san = [x509.IPAddress(ipaddress.ip_address(h)) if h[0].isdigit() else x509.DNSName(h) for h in _HOSTS]
    return (
        x509.CertificateBuilder()
        .subject_name(_name(common_name, "TLS Server"))
        .issuer_name(issuer.certificate.subject)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(issuer_ski), critical=False
        )
        .add_extension(x509.SubjectAlternativeName(san), critical=False)
        .sign(issuer.private_key, hashes.SHA256())
    )


def _rogue_ca(now: dt.datetime) -> CertifiedKey:
    key = ec.generate_private_key(ec.SECP256R1())
    name = _name("hie-gateway sandbox rogue CA (trusted by nobody)", "Rogue CA")
    ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _SKEW)
        .not_valid_after(now + dt.timedelta(days=_LEAF_DAYS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(ski, critical=False)
        .sign(key, hashes.SHA256())
    )
    return CertifiedKey(certificate, key)


def _pem(certificate: x509.Certificate, key: ec.EllipticCurvePrivateKey) -> bytes:
    return certificate.public_bytes(serialization.Encoding.PEM) + key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


class SandboxPki:
    """Issues the gateways' server certificates into ``directory`` (emptied of old ``*.pem`` first)."""

    def __init__(self, directory: Path, ca: CertifiedKey, *, now: dt.datetime | None = None) -> None:
        self.directory = directory
        self.ca = ca
        self.now = now or dt.datetime.now(dt.UTC)
        directory.mkdir(parents=True, exist_ok=True)
        for old in directory.glob("*.pem"):
            old.unlink()
        self._rogue: CertifiedKey | None = None

    def _write(
        self, name: str, certificate: x509.Certificate, key: ec.EllipticCurvePrivateKey
    ) -> ServerCertificate:
        path = self.directory / f"{name}.pem"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(_pem(certificate, key))
        return ServerCertificate(path, certificate)

    def server(self, name: str, common_name: str) -> ServerCertificate:
        """A valid certificate from the dev CA."""
        key = ec.generate_private_key(ec.SECP256R1())
        end = min(self.now + dt.timedelta(days=_LEAF_DAYS), self.ca.certificate.not_valid_after_utc)
        return self._write(name, _issue(self.ca, key, common_name, self.now - _SKEW, end), key)

    def expired(self, name: str, common_name: str) -> ServerCertificate:
        """A certificate from the dev CA that expired yesterday."""
        key = ec.generate_private_key(ec.SECP256R1())
        start = self.now - dt.timedelta(days=400)
        return self._write(
            name, _issue(self.ca, key, common_name, start, self.now - dt.timedelta(days=1)), key
        )

    def wrong_ca(self, name: str, common_name: str) -> ServerCertificate:
        """A certificate for the right names from a CA nobody trusts."""
        if self._rogue is None:
            self._rogue = _rogue_ca(self.now)
        key = ec.generate_private_key(ec.SECP256R1())
        end = self.now + dt.timedelta(days=_LEAF_DAYS)
        return self._write(name, _issue(self._rogue, key, common_name, self.now - _SKEW, end), key)
