"""Signed checkpoints: what a purge leaves behind so the rest of the chain stays verifiable.

A checkpoint states "records ``first_seq``..``last_seq`` of tenant T existed, the first linked to
``start_prev_hash`` and the last hashed to ``last_hash``", signed with the gateway's signing key (the dev
PKI's ``signing-key.pem``). Verification starts the chain from the newest checkpoint, so it needs the
certificate whose key signed it; a checkpoint edited afterwards fails its signature.
"""

from __future__ import annotations

import base64
import datetime as dt
import os
from dataclasses import dataclass

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes

from certs import load_certificates, load_identity
from gateway.audit.codec import canonical_json, format_time
from xca.errors import AuditCheckpointError

__all__ = ["Checkpoint", "CheckpointSigner", "CheckpointVerifier"]


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """The signed fields of one checkpoint (the row minus its id and signature)."""

    tenant_id: int
    first_seq: int
    last_seq: int
    start_prev_hash: str
    last_hash: str
    record_count: int
    cutoff: dt.datetime
    created_at: dt.datetime
    signer_sha256: str

    def payload(self) -> bytes:
        """The bytes that are signed: canonical JSON of every field."""
        return canonical_json(
            {
                "tenant_id": self.tenant_id,
                "first_seq": self.first_seq,
                "last_seq": self.last_seq,
                "start_prev_hash": self.start_prev_hash,
                "last_hash": self.last_hash,
                "record_count": self.record_count,
                "cutoff": format_time(self.cutoff),
                "created_at": format_time(self.created_at),
                "signer_sha256": self.signer_sha256,
            }
        )


def _fingerprint(certificate: x509.Certificate) -> str:
    return certificate.fingerprint(hashes.SHA256()).hex()


class CheckpointSigner:
    """Signs checkpoints with a private key; ``certificate`` identifies it to verifiers."""

    def __init__(self, certificate: x509.Certificate, private_key: PrivateKeyTypes) -> None:
        if not isinstance(
            private_key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey
        ):
            raise AuditCheckpointError("checkpoint signing needs an RSA, EC or Ed25519 key", detail={})
        self.certificate = certificate
        self._key = private_key

    @classmethod
    def from_files(
        cls,
        certificate: str | os.PathLike[str],
        key: str | os.PathLike[str],
        *,
        password: str | bytes | None = None,
    ) -> CheckpointSigner:
        identity = load_identity(certificate, key, password=password)
        return cls(identity.certificate, identity.private_key)

    @property
    def fingerprint(self) -> str:
        return _fingerprint(self.certificate)

    def sign(self, checkpoint: Checkpoint) -> str:
        return self.sign_payload(checkpoint.payload())

    def sign_payload(self, data: bytes) -> str:
        """The base64 signature of ``data`` (a checkpoint's or an anchor's canonical JSON)."""
        key = self._key
        if isinstance(key, rsa.RSAPrivateKey):
            signature = key.sign(data, padding.PKCS1v15(), hashes.SHA256())
        elif isinstance(key, ec.EllipticCurvePrivateKey):
            signature = key.sign(data, ec.ECDSA(hashes.SHA256()))
        else:
            signature = key.sign(data)
        return base64.b64encode(signature).decode("ascii")


class CheckpointVerifier:
    """Checks checkpoint signatures against the certificates of the keys trusted to sign them."""

    def __init__(self, certificates: tuple[x509.Certificate, ...]) -> None:
        self._by_fingerprint = {_fingerprint(cert): cert for cert in certificates}

    @classmethod
    def from_file(cls, path: str | os.PathLike[str]) -> CheckpointVerifier:
        return cls(load_certificates(path))

    def is_valid(self, checkpoint: Checkpoint, signature: str) -> bool:
        return self.is_valid_payload(checkpoint.payload(), signature, signer_sha256=checkpoint.signer_sha256)

    def is_valid_payload(self, data: bytes, signature: str, *, signer_sha256: str) -> bool:
        """Whether ``signature`` over ``data`` is by the trusted key whose certificate has this SHA-256."""
        certificate = self._by_fingerprint.get(signer_sha256)
        if certificate is None:
            return False
        try:
            raw = base64.b64decode(signature, validate=True)
            key = certificate.public_key()
            if isinstance(key, rsa.RSAPublicKey):
                key.verify(raw, data, padding.PKCS1v15(), hashes.SHA256())
            elif isinstance(key, ec.EllipticCurvePublicKey):
                key.verify(raw, data, ec.ECDSA(hashes.SHA256()))
            elif isinstance(key, ed25519.Ed25519PublicKey):
                key.verify(raw, data)
            else:
                return False
        except (InvalidSignature, ValueError):
            return False
        return True
