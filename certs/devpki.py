"""The development PKI behind ``hiegate certs init``: a root CA and one gateway identity in a directory.

Files (fixed names, all PEM unless noted)::

    ca.pem                  root CA certificate (self-signed, 10 years)
    ca-key.pem              root CA private key                                   mode 0600
    trust-bundle.pem        the certificates a peer trusts: the CA
    tls-server.pem          TLS server certificate (serverAuth, SAN = hostnames)
    tls-server-key.pem      its private key                                       mode 0600
    tls-client.pem          TLS client certificate for mutual TLS (clientAuth)
    tls-client-key.pem      its private key                                       mode 0600
    signing.pem             XML-signing certificate (digitalSignature, nonRepudiation)
    signing-key.pem         its private key                                       mode 0600
    tls-client.p12          client key + certificate + CA, PKCS#12 (only with a pkcs12_password)  0600

Leaf certificates are valid for about two years. Keys are RSA 2048, unencrypted unless a ``key_password``
is given. Re-running never overwrites a key unless ``force=True``: existing files are kept, missing ones are
created and signed by the existing CA, and a kept key whose certificate was deleted is certified again.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.types import CertificateIssuerPrivateKeyTypes, PrivateKeyTypes

from certs.issue import (
    DEFAULT_HOSTNAMES,
    CertificatePurpose,
    CertifiedKey,
    GatewayIdentity,
    create_ca,
    issue_certificate,
    issue_certified_key,
)
from certs.load import ensure_key_matches, load_certificate, load_private_key
from certs.write import write_certificates, write_pkcs12, write_private_key
from xca.errors import CaKeyMissingError, CertificateLoadError

__all__ = [
    "CA_CERTIFICATE_FILE",
    "CA_KEY_FILE",
    "CLIENT_PKCS12_FILE",
    "TRUST_BUNDLE_FILE",
    "DevPkiLayout",
    "FileStatus",
    "PkiFile",
    "PkiInitResult",
    "init_dev_pki",
    "write_identity",
]

CA_CERTIFICATE_FILE = "ca.pem"
CA_KEY_FILE = "ca-key.pem"
TRUST_BUNDLE_FILE = "trust-bundle.pem"
CLIENT_PKCS12_FILE = "tls-client.p12"
_LEAVES = (CertificatePurpose.TLS_SERVER, CertificatePurpose.TLS_CLIENT, CertificatePurpose.SIGNING)


@dataclass(frozen=True)
class DevPkiLayout:
    """Where each file of a dev PKI lives inside ``directory``."""

    directory: Path

    @property
    def ca_certificate(self) -> Path:
        return self.directory / CA_CERTIFICATE_FILE

    @property
    def ca_key(self) -> Path:
        return self.directory / CA_KEY_FILE

    @property
    def trust_bundle(self) -> Path:
        return self.directory / TRUST_BUNDLE_FILE

    @property
    def client_pkcs12(self) -> Path:
        return self.directory / CLIENT_PKCS12_FILE

    def certificate(self, purpose: CertificatePurpose) -> Path:
        """``tls-server.pem``, ``tls-client.pem`` or ``signing.pem``."""
        return self.directory / f"{purpose.value}.pem"

    def key(self, purpose: CertificatePurpose) -> Path:
        """``tls-server-key.pem``, ``tls-client-key.pem`` or ``signing-key.pem``."""
        return self.directory / f"{purpose.value}-key.pem"

    @staticmethod
    def file_names() -> frozenset[str]:
        """The name of every file the layout holds (``ca.pem``, ``signing-key.pem``, ...)."""
        layout = DevPkiLayout(Path())
        paths = [layout.ca_certificate, layout.ca_key, layout.trust_bundle, layout.client_pkcs12]
        for purpose in _LEAVES:
            paths += [layout.certificate(purpose), layout.key(purpose)]
        return frozenset(path.name for path in paths)


class FileStatus(StrEnum):
    """What ``init_dev_pki`` did with one file."""

    CREATED = "created"
    KEPT = "kept"
    REPLACED = "replaced"


@dataclass(frozen=True)
class PkiFile:
    """One file of the dev PKI and what happened to it."""

    path: Path
    status: FileStatus


@dataclass(frozen=True)
class PkiInitResult:
    """The outcome of :func:`init_dev_pki`, one entry per file, printable as it stands."""

    directory: Path
    files: tuple[PkiFile, ...]

    def with_status(self, status: FileStatus) -> tuple[Path, ...]:
        """The paths of the files that ended up with ``status``."""
        return tuple(f.path for f in self.files if f.status is status)

    def lines(self) -> list[str]:
        """One line per file, e.g. ``created   ca.pem``, for the CLI."""
        return [f"{f.status.value:<9} {f.path.name}" for f in self.files]

    def __str__(self) -> str:
        return "\n".join([f"dev PKI in {self.directory}", *self.lines()])


def write_identity(
    directory: str | os.PathLike[str], identity: GatewayIdentity, *, key_password: str | bytes | None = None
) -> DevPkiLayout:
    """Write the three certificates and keys of ``identity`` into ``directory`` with the dev PKI file names.

    Overwrites existing files; meant for freshly issued identities such as simulated sandbox gateways.
    """
    layout = DevPkiLayout(Path(directory))
    for purpose in _LEAVES:
        pair = identity.for_purpose(purpose)
        write_private_key(layout.key(purpose), pair.private_key, password=key_password)
        write_certificates(layout.certificate(purpose), [pair.certificate])
    return layout


def _status(existed: bool) -> FileStatus:
    return FileStatus.REPLACED if existed else FileStatus.CREATED


def _load_ca(layout: DevPkiLayout, password: str | bytes | None) -> CertifiedKey:
    key = _load_ca_key_only(layout, password)
    certificate = load_certificate(layout.ca_certificate)
    ensure_key_matches(certificate, key, path=layout.ca_key)
    return CertifiedKey(certificate=certificate, private_key=key)


def _issuer_key(key: PrivateKeyTypes, path: Path) -> rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey:
    # The dev PKI only ever writes RSA keys; EC is tolerated for a CA key someone placed there by hand.
    if not isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
        raise CertificateLoadError(
            f"The key {path.absolute()} is neither RSA nor EC.", detail={"path": str(path)}
        )
    return key


def _load_ca_key_only(layout: DevPkiLayout, password: str | bytes | None) -> CertificateIssuerPrivateKeyTypes:
    return _issuer_key(load_private_key(layout.ca_key, password=password), layout.ca_key)


def _write_client_pkcs12(
    layout: DevPkiLayout, rewrite: bool, key_password: str | bytes | None, pkcs12_password: str | bytes
) -> PkiFile:
    existed = layout.client_pkcs12.exists()
    if existed and not rewrite:
        return PkiFile(layout.client_pkcs12, FileStatus.KEPT)
    purpose = CertificatePurpose.TLS_CLIENT
    key = _issuer_key(load_private_key(layout.key(purpose), password=key_password), layout.key(purpose))
    write_pkcs12(
        layout.client_pkcs12,
        key,
        load_certificate(layout.certificate(purpose)),
        password=pkcs12_password,
        chain=[load_certificate(layout.ca_certificate)],
        friendly_name="tls-client",
    )
    return PkiFile(layout.client_pkcs12, _status(existed))


def _check_ca_key_present(layout: DevPkiLayout) -> None:
    if layout.ca_key.exists():
        return
    leftovers = [layout.ca_certificate] + [
        p for purpose in _LEAVES for p in (layout.certificate(purpose), layout.key(purpose))
    ]
    present = [p.name for p in leftovers if p.exists()]
    if present:
        raise CaKeyMissingError(
            "The directory holds certificates but no CA key; use force to start a new PKI.",
            detail={"directory": str(layout.directory), "missing": CA_KEY_FILE, "present": present},
        )


def init_dev_pki(
    directory: str | os.PathLike[str],
    *,
    force: bool = False,
    gateway_name: str = "hie-gateway-dev",
    hostnames: Iterable[str] = DEFAULT_HOSTNAMES,
    now: dt.datetime | None = None,
    key_password: str | bytes | None = None,
    pkcs12_password: str | bytes | None = None,
) -> PkiInitResult:
    """Create or complete the dev PKI in ``directory`` (see the module docstring for the files).

    Without ``force`` nothing that exists is overwritten: missing leaves are issued by the existing CA, and
    a directory with certificates but no ``ca-key.pem`` raises ``CaKeyMissingError`` instead of silently
    starting a second CA. ``force=True`` replaces every file with a new CA and identity. ``key_password``
    encrypts new keys and opens existing ones; ``pkcs12_password`` also writes ``tls-client.p12``.
    """
    layout = DevPkiLayout(Path(directory))
    layout.directory.mkdir(parents=True, exist_ok=True)
    hosts = tuple(hostnames)
    files: list[PkiFile] = []
    if not force:
        _check_ca_key_present(layout)

    ca_cert_existed, ca_key_existed = layout.ca_certificate.exists(), layout.ca_key.exists()
    ca: CertifiedKey | None = None
    if force or not ca_key_existed:
        ca = create_ca(common_name=f"{gateway_name} Dev Root CA", now=now)
        write_private_key(layout.ca_key, ca.private_key, password=key_password)
        write_certificates(layout.ca_certificate, [ca.certificate])
        files.append(PkiFile(layout.ca_certificate, _status(ca_cert_existed)))
        files.append(PkiFile(layout.ca_key, _status(ca_key_existed)))
    elif not ca_cert_existed:
        # Same key and subject: the leaves this CA already issued still chain to the new certificate.
        key = _load_ca_key_only(layout, key_password)
        ca = create_ca(common_name=f"{gateway_name} Dev Root CA", now=now, private_key=key)
        write_certificates(layout.ca_certificate, [ca.certificate])
        files += [PkiFile(layout.ca_certificate, FileStatus.CREATED), PkiFile(layout.ca_key, FileStatus.KEPT)]
    else:
        files += [PkiFile(layout.ca_certificate, FileStatus.KEPT), PkiFile(layout.ca_key, FileStatus.KEPT)]
    ca_changed = ca is not None

    bundle_existed = layout.trust_bundle.exists()
    if ca_changed or not bundle_existed:
        ca = ca or _load_ca(layout, key_password)
        write_certificates(layout.trust_bundle, [ca.certificate])
        files.append(PkiFile(layout.trust_bundle, _status(bundle_existed)))
    else:
        files.append(PkiFile(layout.trust_bundle, FileStatus.KEPT))

    client_changed = False
    for purpose in _LEAVES:
        cert_path, key_path = layout.certificate(purpose), layout.key(purpose)
        cert_existed, key_existed = cert_path.exists(), key_path.exists()
        leaf_hosts = () if purpose is CertificatePurpose.SIGNING else hosts
        if not force and cert_existed and key_existed:
            files += [PkiFile(cert_path, FileStatus.KEPT), PkiFile(key_path, FileStatus.KEPT)]
            continue
        ca = ca or _load_ca(layout, key_password)
        client_changed = client_changed or purpose is CertificatePurpose.TLS_CLIENT
        if not force and key_existed:
            kept_key = load_private_key(key_path, password=key_password)
            certificate = issue_certificate(
                ca,
                purpose,
                _issuer_key(kept_key, key_path).public_key(),
                common_name=gateway_name,
                hostnames=leaf_hosts,
                now=now,
            )
            write_certificates(cert_path, [certificate])
            files += [PkiFile(cert_path, FileStatus.CREATED), PkiFile(key_path, FileStatus.KEPT)]
            continue
        pair = issue_certified_key(ca, purpose, common_name=gateway_name, hostnames=leaf_hosts, now=now)
        write_private_key(key_path, pair.private_key, password=key_password)
        write_certificates(cert_path, [pair.certificate])
        files += [PkiFile(cert_path, _status(cert_existed)), PkiFile(key_path, _status(key_existed))]

    if pkcs12_password is not None:
        files.append(
            _write_client_pkcs12(layout, force or client_changed or ca_changed, key_password, pkcs12_password)
        )
    return PkiInitResult(directory=layout.directory, files=tuple(files))
