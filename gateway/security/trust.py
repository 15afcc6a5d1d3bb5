"""The trust bundle for signing certificates, with chain validation cached per certificate.

Chain building is :func:`certs.validate_certificate` (cryptography's RFC 5280 verifier). A successful
validation is remembered per (leaf + intermediates) fingerprint and reused while ``now`` stays inside every
chain member's validity window, so a busy partner's certificate is validated once, not once per message;
failures are never cached. Validation depends only on the chain, the anchors, the purpose and ``now``; the
store is frozen (anchors and purpose cannot change under its cache) and each store has its own cache, so a
reused result is the one validation would give at that ``now``. Certificate errors become the security
refusals that carry a WS-Security fault subcode (OASIS WSS X.509 Token Profile 1.1 §3.3).
"""

from __future__ import annotations

import datetime as dt
import os
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Final

from cryptography import x509
from cryptography.hazmat.primitives import hashes

from certs.issue import CertificatePurpose
from certs.load import load_certificates
from certs.validate import validate_certificate
from xca.errors import (
    CertificateExpiredError,
    CertificateNotYetValidError,
    SignerCertificateExpiredError,
    SignerCertificateNotYetValidError,
    SignerUntrustedError,
    UntrustedCertificateError,
)

__all__ = ["TrustStore"]

_CACHE_SIZE: Final = 1024


@dataclass(frozen=True)
class _Validated:
    chain: tuple[x509.Certificate, ...]
    not_before: dt.datetime
    not_after: dt.datetime


@dataclass(frozen=True, eq=False)
class TrustStore:
    """Trust anchors for XML signatures plus a thread-safe cache of validated chains.

    ``purpose`` is the key usage profile required of signing certificates (SIGNING: digitalSignature or
    nonRepudiation, no CA bit); None accepts any end-entity certificate that chains.
    """

    anchors: tuple[x509.Certificate, ...]
    purpose: CertificatePurpose | None = CertificatePurpose.SIGNING
    _cache: OrderedDict[bytes, _Validated] = field(default_factory=OrderedDict, init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    @classmethod
    def from_pem_file(
        cls, path: str | os.PathLike[str], *, purpose: CertificatePurpose | None = CertificatePurpose.SIGNING
    ) -> TrustStore:
        """Load the anchors from a PEM trust bundle once (parse cost is paid here, not per message)."""
        return cls(anchors=load_certificates(path), purpose=purpose)

    def _key(self, leaf: x509.Certificate, intermediates: Sequence[x509.Certificate]) -> bytes:
        return b"".join(c.fingerprint(hashes.SHA256()) for c in (leaf, *intermediates))

    def validate(
        self,
        leaf: x509.Certificate,
        *,
        intermediates: Sequence[x509.Certificate] = (),
        now: dt.datetime,
    ) -> tuple[x509.Certificate, ...]:
        """The validated chain (leaf first) of ``leaf`` at ``now``, or a SignerUntrusted/Expired/NotYetValid
        refusal. Subject names go into ``detail`` (certificates are not PHI)."""
        key = self._key(leaf, intermediates)
        with self._lock:
            hit = self._cache.get(key)
            if hit is not None:
                self._cache.move_to_end(key)
        if hit is not None and hit.not_before <= now <= hit.not_after:
            return hit.chain
        detail: dict[str, object] = {"subject": leaf.subject.rfc4514_string()}
        try:
            result = validate_certificate(
                leaf, self.anchors, intermediates=intermediates, purpose=self.purpose, now=now
            )
        except CertificateExpiredError as exc:
            raise SignerCertificateExpiredError(
                "The signing certificate (or its chain) has expired.", detail={**detail, **exc.detail}
            ) from exc
        except CertificateNotYetValidError as exc:
            raise SignerCertificateNotYetValidError(
                "The signing certificate (or its chain) is not valid yet.", detail={**detail, **exc.detail}
            ) from exc
        except UntrustedCertificateError as exc:
            raise SignerUntrustedError(
                "The signing certificate does not chain to the trust bundle.", detail={**detail, **exc.detail}
            ) from exc
        validated = _Validated(
            chain=result.chain,
            not_before=max(c.not_valid_before_utc for c in result.chain),
            not_after=min(c.not_valid_after_utc for c in result.chain),
        )
        with self._lock:
            self._cache[key] = validated
            while len(self._cache) > _CACHE_SIZE:
                self._cache.popitem(last=False)
        return result.chain
