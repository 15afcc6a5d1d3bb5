"""Writing certificates, private keys and PKCS#12 bundles to disk.

Files are written atomically (a temporary file in the same directory, then ``os.replace``), so an
interrupted run never leaves half a key behind. Private keys and PKCS#12 files get mode 0600 from the moment
they exist; certificates 0644.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.hazmat.primitives.serialization.pkcs12 import PKCS12PrivateKeyTypes

__all__ = [
    "certificates_pem",
    "pkcs12_bytes",
    "private_key_pem",
    "write_certificates",
    "write_pkcs12",
    "write_private_key",
]

_SECRET_MODE = 0o600
_PUBLIC_MODE = 0o644


def certificates_pem(certificates: Iterable[x509.Certificate]) -> bytes:
    """The certificates as concatenated PEM blocks."""
    return b"".join(c.public_bytes(serialization.Encoding.PEM) for c in certificates)


def private_key_pem(key: PrivateKeyTypes, *, password: str | bytes | None = None) -> bytes:
    """The key as PKCS#8 PEM, encrypted with the best available scheme when ``password`` is given."""
    encryption: serialization.KeySerializationEncryption
    if password:
        secret = password.encode("utf-8") if isinstance(password, str) else password
        encryption = serialization.BestAvailableEncryption(secret)
    else:
        encryption = serialization.NoEncryption()
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption)


def pkcs12_bytes(
    key: PKCS12PrivateKeyTypes,
    certificate: x509.Certificate,
    *,
    password: str | bytes,
    chain: Iterable[x509.Certificate] = (),
    friendly_name: str | None = None,
) -> bytes:
    """A password-protected PKCS#12 bundle of ``key``, ``certificate`` and its ``chain``.

    Uses PBES2 with AES-256 and an SHA-256 MAC, which OpenSSL 3, Java keystores and current Windows read.
    """
    secret = password.encode("utf-8") if isinstance(password, str) else password
    if not secret:
        raise ValueError("a PKCS#12 bundle needs a non-empty password")
    encryption = (
        serialization.PrivateFormat.PKCS12.encryption_builder()
        .kdf_rounds(50_000)
        .key_cert_algorithm(pkcs12.PBES.PBESv2SHA256AndAES256CBC)
        .hmac_hash(hashes.SHA256())
        .build(secret)
    )
    name = friendly_name.encode("utf-8") if friendly_name else None
    return pkcs12.serialize_key_and_certificates(
        name,
        key,
        certificate,
        list(chain) or None,
        encryption,
    )


def _write_atomic(path: Path, data: bytes, mode: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        # mkstemp creates the file 0600; widen it only for public material.
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        Path(tmp).replace(path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            Path(tmp).unlink()
        raise


def write_certificates(path: str | os.PathLike[str], certificates: Iterable[x509.Certificate]) -> None:
    """Write the certificates as PEM to ``path`` (mode 0644)."""
    _write_atomic(Path(path), certificates_pem(certificates), _PUBLIC_MODE)


def write_private_key(
    path: str | os.PathLike[str], key: PrivateKeyTypes, *, password: str | bytes | None = None
) -> None:
    """Write ``key`` as PKCS#8 PEM to ``path`` with mode 0600, encrypted when ``password`` is given."""
    _write_atomic(Path(path), private_key_pem(key, password=password), _SECRET_MODE)


def write_pkcs12(
    path: str | os.PathLike[str],
    key: PKCS12PrivateKeyTypes,
    certificate: x509.Certificate,
    *,
    password: str | bytes,
    chain: Iterable[x509.Certificate] = (),
    friendly_name: str | None = None,
) -> None:
    """Write a password-protected PKCS#12 bundle to ``path`` with mode 0600."""
    data = pkcs12_bytes(key, certificate, password=password, chain=chain, friendly_name=friendly_name)
    _write_atomic(Path(path), data, _SECRET_MODE)
