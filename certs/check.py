"""``hiegate certs check``: load each certificate and key, validate it for its purpose, collect warnings.

Problems are reported per certificate as values (a report the CLI prints) rather than stopping at the first,
so one run shows everything that needs fixing.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509

from certs.devpki import DevPkiLayout
from certs.issue import CertificatePurpose
from certs.load import load_certificates, load_identity
from certs.validate import EXPIRY_WARNING_WINDOW, ExpiryWarning, validate_certificate
from xca.errors import CertificateError

__all__ = ["CertificateCheck", "CertificateFiles", "PkiCheckReport", "check_certificates", "check_dev_pki"]


_INIT_HINT = "run `hiegate certs init` to create a development PKI"


@dataclass(frozen=True)
class CertificateFiles:
    """A certificate file (leaf first, chain after it), its key file if it has one here, and its purpose."""

    purpose: CertificatePurpose
    certificate: Path
    key: Path | None = None


@dataclass(frozen=True)
class CertificateCheck:
    """The outcome for one certificate: ``error`` is None when it loaded, matched its key and validated."""

    files: CertificateFiles
    subject: str | None
    not_after: dt.datetime | None
    error: CertificateError | None

    @property
    def ok(self) -> bool:
        return self.error is None

    def __str__(self) -> str:
        name = self.files.certificate.name
        if self.error is not None:
            # A missing dev PKI file: the report says once what to do, not on every line.
            problem = self.error.detail.get("problem", self.error.message)
            return f"FAILED  {name}: {self.error.code}: {problem}"
        assert self.not_after is not None
        return f"ok      {name}: {self.subject}, valid until {self.not_after:%Y-%m-%d}"


@dataclass(frozen=True)
class PkiCheckReport:
    """All checks and expiry warnings; ``ok`` is False when any certificate failed."""

    checks: tuple[CertificateCheck, ...]
    warnings: tuple[ExpiryWarning, ...]

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.checks)

    @property
    def hint(self) -> str | None:
        """What to do when a file of the dev PKI is missing (``hiegate certs init``), else None."""
        if any(c.error is not None and "hint" in c.error.detail for c in self.checks):
            return _INIT_HINT
        return None

    def lines(self) -> list[str]:
        """One line per certificate, then one per warning, then the hint if there is one."""
        hint = [] if self.hint is None else [self.hint]
        return [str(c) for c in self.checks] + [f"warning {w}" for w in self.warnings] + hint

    def __str__(self) -> str:
        return "\n".join(self.lines())


def _check_one(
    files: CertificateFiles,
    trust_bundle: tuple[x509.Certificate, ...] | CertificateError,
    *,
    now: dt.datetime | None,
    warn_within: dt.timedelta,
    key_password: str | bytes | None,
) -> tuple[CertificateCheck, tuple[ExpiryWarning, ...]]:
    subject: str | None = None
    not_after: dt.datetime | None = None
    try:
        if files.key is not None:
            identity = load_identity(files.certificate, files.key, password=key_password)
            leaf, chain = identity.certificate, identity.chain
        else:
            leaf, *rest = load_certificates(files.certificate)
            chain = tuple(rest)
        subject, not_after = leaf.subject.rfc4514_string(), leaf.not_valid_after_utc
        if isinstance(trust_bundle, CertificateError):
            raise trust_bundle
        result = validate_certificate(
            leaf,
            trust_bundle,
            intermediates=chain,
            purpose=files.purpose,
            now=now,
            warn_within=warn_within,
        )
    except CertificateError as exc:
        return CertificateCheck(files, subject, not_after, exc), ()
    return CertificateCheck(files, subject, not_after, None), result.warnings


def check_certificates(
    files: Iterable[CertificateFiles],
    trust_bundle: str | os.PathLike[str],
    *,
    now: dt.datetime | None = None,
    warn_within: dt.timedelta = EXPIRY_WARNING_WINDOW,
    key_password: str | bytes | None = None,
) -> PkiCheckReport:
    """Check each certificate (and key) against the PEM trust bundle at ``trust_bundle``."""
    anchors: tuple[x509.Certificate, ...] | CertificateError
    try:
        anchors = load_certificates(trust_bundle)
    except CertificateError as exc:
        anchors = exc
    checks: list[CertificateCheck] = []
    warnings: dict[tuple[str, dt.datetime], ExpiryWarning] = {}
    for entry in files:
        check, found = _check_one(entry, anchors, now=now, warn_within=warn_within, key_password=key_password)
        checks.append(check)
        for warning in found:
            warnings.setdefault((warning.subject, warning.not_after), warning)
    return PkiCheckReport(checks=tuple(checks), warnings=tuple(warnings.values()))


def check_dev_pki(
    directory: str | os.PathLike[str],
    *,
    now: dt.datetime | None = None,
    warn_within: dt.timedelta = EXPIRY_WARNING_WINDOW,
    key_password: str | bytes | None = None,
) -> PkiCheckReport:
    """Check the three leaf certificates of the dev PKI in ``directory`` against its trust bundle."""
    layout = DevPkiLayout(Path(directory))
    files = [
        CertificateFiles(purpose, layout.certificate(purpose), layout.key(purpose))
        for purpose in (
            CertificatePurpose.TLS_SERVER,
            CertificatePurpose.TLS_CLIENT,
            CertificatePurpose.SIGNING,
        )
    ]
    return check_certificates(
        files, layout.trust_bundle, now=now, warn_within=warn_within, key_password=key_password
    )
