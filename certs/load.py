"""Loading certificates and keys from PEM and PKCS#12 files, and checking that a key fits its certificate.

Every failure is a :class:`~xca.errors.CertificateError` subclass whose ``detail['path']`` names the file:
a missing, unreadable or garbled file is a ``CertificateLoadError``, a password that does not open the key
(or a missing one for an encrypted key) a ``WrongPasswordError``, a key that belongs to another certificate
a ``KeyMismatchError``. Passwords never appear in messages or details.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes, PublicKeyTypes
from cryptography.hazmat.primitives.serialization import pkcs12

from xca.errors import CertificateLoadError, KeyMismatchError, WrongPasswordError

__all__ = [
    "LoadedIdentity",
    "Pkcs12Bundle",
    "ensure_key_matches",
    "load_certificate",
    "load_certificates",
    "load_identity",
    "load_pkcs12",
    "load_private_key",
]

Password = str | bytes | None


@dataclass(frozen=True)
class Pkcs12Bundle:
    """The contents of a PKCS#12 file: the key, its certificate and any further (chain) certificates."""

    private_key: PrivateKeyTypes
    certificate: x509.Certificate
    additional_certificates: tuple[x509.Certificate, ...]


@dataclass(frozen=True)
class LoadedIdentity:
    """A certificate, the certificates that followed it in its file (the chain), and its matching key."""

    certificate: x509.Certificate
    chain: tuple[x509.Certificate, ...]
    private_key: PrivateKeyTypes


def _password_bytes(password: Password) -> bytes | None:
    if password is None or isinstance(password, bytes):
        return password
    return password.encode("utf-8")


def _shown(path: str | os.PathLike[str]) -> Path:
    """The file as messages name it: in full, since a relative setting resolves against the working folder
    (what goes wrong when a command runs from another folder). A path is not PHI."""
    return Path(path).absolute()


_DEV_PKI_HINT = "run `hiegate certs init` for a development PKI, or set certs_dir"
"""What to do about a missing file of the dev PKI layout (``detail['hint']`` of its load error)."""


def _missing(path: str | os.PathLike[str], what: str) -> CertificateLoadError:
    """A missing file; one the dev PKI would hold says how to create it (``detail['problem']``: without)."""
    from certs.devpki import DevPkiLayout  # here: devpki imports this module

    problem = f"The {what} file {_shown(path)} does not exist."
    if Path(path).name not in DevPkiLayout.file_names():
        return CertificateLoadError(problem, detail={"path": str(path)})
    detail: dict[str, object] = {"path": str(path), "problem": problem, "hint": _DEV_PKI_HINT}
    return CertificateLoadError(f"{problem[:-1]}: {_DEV_PKI_HINT}.", detail=detail)


def _read(path: str | os.PathLike[str], what: str) -> bytes:
    shown = _shown(path)
    try:
        return Path(path).read_bytes()
    except FileNotFoundError as exc:
        raise _missing(path, what) from exc
    except OSError as exc:
        raise CertificateLoadError(
            f"The {what} file {shown} cannot be read ({exc.strerror or type(exc).__name__}).",
            detail={"path": str(path), "reason": exc.strerror},
        ) from exc


def load_certificates(path: str | os.PathLike[str]) -> tuple[x509.Certificate, ...]:
    """All PEM certificates in ``path``, in file order (a leaf followed by its chain, or a trust bundle)."""
    data = _read(path, "certificate")
    try:
        certificates = x509.load_pem_x509_certificates(data)
    except ValueError as exc:
        raise CertificateLoadError(
            f"The file {_shown(path)} does not contain a readable PEM certificate.",
            detail={"path": str(path)},
        ) from exc
    return tuple(certificates)


def load_certificate(path: str | os.PathLike[str]) -> x509.Certificate:
    """The first PEM certificate in ``path`` (the leaf, when the file also carries its chain)."""
    return load_certificates(path)[0]


def load_private_key(path: str | os.PathLike[str], *, password: Password = None) -> PrivateKeyTypes:
    """The PEM private key in ``path`` (PKCS#8 or traditional), decrypted with ``password`` if encrypted.

    A password given for an unencrypted key is ignored.
    """
    data = _read(path, "private key")
    secret = _password_bytes(password)
    detail: dict[str, object] = {"path": str(path)}
    try:
        return serialization.load_pem_private_key(data, secret)
    except TypeError as exc:
        if secret is None:  # the key is encrypted and no password was given
            raise WrongPasswordError(
                "The private key is encrypted and needs a password.", detail=detail
            ) from exc
    except ValueError as exc:
        # Only a file that really is an encrypted key can have a wrong password; anything else is garbage.
        if secret is not None and (b"ENCRYPTED PRIVATE KEY" in data or b"Proc-Type: 4,ENCRYPTED" in data):
            raise WrongPasswordError("The password does not decrypt the private key.", detail=detail) from exc
        raise CertificateLoadError(
            f"The file {_shown(path)} does not contain a readable PEM private key.", detail=detail
        ) from exc
    # Reached only when a password was given for a key that is not encrypted.
    try:
        return serialization.load_pem_private_key(data, None)
    except ValueError as exc:  # pragma: no cover - the first attempt already parsed the file
        raise CertificateLoadError(
            f"The file {_shown(path)} does not contain a readable PEM private key.", detail=detail
        ) from exc


def load_pkcs12(path: str | os.PathLike[str], *, password: Password) -> Pkcs12Bundle:
    """The key, certificate and extra certificates of the PKCS#12 file ``path``, opened with ``password``."""
    data = _read(path, "PKCS#12")
    detail: dict[str, object] = {"path": str(path)}
    try:
        loaded = pkcs12.load_pkcs12(data, _password_bytes(password))
    except ValueError as exc:
        # cryptography reports a failed MAC/decryption as "Invalid password or PKCS12 data" and a structure it
        # cannot parse as "Could not deserialize"; only the first can be a wrong password.
        if "password" in str(exc).lower():
            raise WrongPasswordError("The password does not open the PKCS#12 file.", detail=detail) from exc
        raise CertificateLoadError(
            f"The file {_shown(path)} is not a readable PKCS#12 bundle.", detail=detail
        ) from exc
    if loaded.key is None or loaded.cert is None:
        raise CertificateLoadError(
            f"The PKCS#12 file {_shown(path)} lacks a private key or its certificate.", detail=detail
        )
    bundle = Pkcs12Bundle(
        private_key=loaded.key,
        certificate=loaded.cert.certificate,
        additional_certificates=tuple(c.certificate for c in loaded.additional_certs),
    )
    ensure_key_matches(bundle.certificate, bundle.private_key, path=path)
    return bundle


def _spki(key: PublicKeyTypes) -> bytes:
    return key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def ensure_key_matches(
    certificate: x509.Certificate,
    private_key: PrivateKeyTypes,
    *,
    path: str | os.PathLike[str] | None = None,
) -> None:
    """Raise ``KeyMismatchError`` unless ``private_key`` is the key certified by ``certificate``."""
    if _spki(certificate.public_key()) != _spki(private_key.public_key()):
        detail: dict[str, object] = {"subject": certificate.subject.rfc4514_string()}
        if path is not None:
            detail["path"] = str(path)
        raise KeyMismatchError("The private key does not belong to the certificate.", detail=detail)


def load_identity(
    certificate_path: str | os.PathLike[str],
    key_path: str | os.PathLike[str],
    *,
    password: Password = None,
) -> LoadedIdentity:
    """Load a certificate file (leaf first, optional chain after it) and its key, and check they match."""
    certificates = load_certificates(certificate_path)
    key = load_private_key(key_path, password=password)
    ensure_key_matches(certificates[0], key, path=key_path)
    return LoadedIdentity(certificate=certificates[0], chain=certificates[1:], private_key=key)
