"""Validating a certificate chain against a trust bundle, and expiry warnings.

Path building and checking are cryptography's own (``cryptography.x509.verification``, RFC 5280 and the
CA/Browser Forum profile), not hand-written chain walking. Two adjustments to its end-entity profile, because
health-network certificates are not web certificates: a subjectAltName is optional unless a hostname is being
checked, and the extended key usage required depends on the :class:`~certs.issue.CertificatePurpose` (absent
EKU means any purpose, as in RFC 5280). Failures become ``CertificateExpiredError``,
``CertificateNotYetValidError`` or ``UntrustedCertificateError`` with the subject and dates in ``detail``.

Certificates close to their notAfter are not errors: they come back as :class:`ExpiryWarning` values.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID
from cryptography.x509.verification import (
    Criticality,
    ExtensionPolicy,
    Policy,
    PolicyBuilder,
    Store,
    Subject,
    VerificationError,
)

from certs.issue import CertificatePurpose, utc_now_or
from xca.errors import (
    CertificateError,
    CertificateExpiredError,
    CertificateNotYetValidError,
    UntrustedCertificateError,
)

__all__ = [
    "EXPIRY_WARNING_WINDOW",
    "ExpiryWarning",
    "ValidationResult",
    "expiry_warnings",
    "validate_certificate",
]

EXPIRY_WARNING_WINDOW = dt.timedelta(days=30)
_REQUIRED_EKU = {
    CertificatePurpose.TLS_SERVER: ExtendedKeyUsageOID.SERVER_AUTH,
    CertificatePurpose.TLS_CLIENT: ExtendedKeyUsageOID.CLIENT_AUTH,
}


@dataclass(frozen=True)
class ExpiryWarning:
    """A certificate that expires soon (or already has); ``days_left`` is negative once expired."""

    subject: str
    not_after: dt.datetime
    days_left: int

    def __str__(self) -> str:
        when = f"in {self.days_left} days" if self.days_left >= 0 else f"{-self.days_left} days ago"
        verb = "expires" if self.days_left >= 0 else "expired"
        return f"{self.subject} {verb} {self.not_after:%Y-%m-%d %H:%M} UTC ({when})"


@dataclass(frozen=True)
class ValidationResult:
    """A chain that validated: leaf first, trust anchor last, plus expiry warnings for its members."""

    chain: tuple[x509.Certificate, ...]
    validated_at: dt.datetime
    warnings: tuple[ExpiryWarning, ...]


def expiry_warnings(
    certificates: Iterable[x509.Certificate],
    *,
    now: dt.datetime | None = None,
    within: dt.timedelta = EXPIRY_WARNING_WINDOW,
) -> tuple[ExpiryWarning, ...]:
    """Warnings for certificates whose notAfter is less than ``within`` away (or past), each listed once."""
    at = utc_now_or(now)
    warnings: dict[tuple[str, dt.datetime], ExpiryWarning] = {}
    for certificate in certificates:
        not_after = certificate.not_valid_after_utc
        if not_after - at <= within:
            subject = certificate.subject.rfc4514_string()
            days_left = (not_after - at) // dt.timedelta(days=1)
            warnings.setdefault((subject, not_after), ExpiryWarning(subject, not_after, days_left))
    return tuple(warnings.values())


def _eku_validator(
    purpose: CertificatePurpose, required: x509.ObjectIdentifier
) -> Callable[[Policy, x509.Certificate, x509.ExtendedKeyUsage | None], None]:
    def check(_policy: Policy, _cert: x509.Certificate, eku: x509.ExtendedKeyUsage | None) -> None:
        if eku is not None and required not in eku and ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE not in eku:
            raise ValueError(
                f"extended key usage lacks {required.dotted_string} required for {purpose.value}"
            )

    return check


def _signing_key_usage(_policy: Policy, _cert: x509.Certificate, usage: x509.KeyUsage | None) -> None:
    if usage is None:
        return
    if usage.key_cert_sign:
        raise ValueError("an end-entity certificate must not assert keyCertSign")
    if not (usage.digital_signature or usage.content_commitment):
        raise ValueError("key usage allows neither digitalSignature nor nonRepudiation")


def _ee_policy(purpose: CertificatePurpose | None) -> ExtensionPolicy:
    policy = ExtensionPolicy.webpki_defaults_ee().may_be_present(
        x509.SubjectAlternativeName, Criticality.AGNOSTIC, None
    )
    required = _REQUIRED_EKU.get(purpose) if purpose is not None else None
    if purpose is not None and required is not None:
        check = _eku_validator(purpose, required)
        policy = policy.may_be_present(x509.ExtendedKeyUsage, Criticality.AGNOSTIC, check)
    else:
        # Signing certificates carry whatever EKU their network chose (often none): only keyUsage matters.
        policy = policy.may_be_present(x509.ExtendedKeyUsage, Criticality.AGNOSTIC, None)
    if purpose is CertificatePurpose.SIGNING:
        policy = policy.may_be_present(x509.KeyUsage, Criticality.AGNOSTIC, _signing_key_usage)
    return policy


def _server_subject(hostname: str) -> Subject:
    try:
        return x509.IPAddress(ipaddress.ip_address(hostname))
    except ValueError:
        return x509.DNSName(hostname)


def _verify(
    certificate: x509.Certificate,
    intermediates: list[x509.Certificate],
    store: Store,
    purpose: CertificatePurpose | None,
    hostname: str | None,
    at: dt.datetime,
) -> list[x509.Certificate]:
    builder = PolicyBuilder().store(store).time(at)
    if hostname is not None:
        return builder.build_server_verifier(_server_subject(hostname)).verify(certificate, intermediates)
    builder = builder.extension_policies(
        ca_policy=ExtensionPolicy.webpki_defaults_ca(), ee_policy=_ee_policy(purpose)
    )
    return builder.build_client_verifier().verify(certificate, intermediates).chain


def _time_error(certificate: x509.Certificate, at: dt.datetime) -> CertificateError | None:
    detail: dict[str, object] = {
        "subject": certificate.subject.rfc4514_string(),
        "not_before": certificate.not_valid_before_utc.isoformat(),
        "not_after": certificate.not_valid_after_utc.isoformat(),
        "validation_time": at.isoformat(),
    }
    if at > certificate.not_valid_after_utc:
        return CertificateExpiredError("A certificate in the chain has expired.", detail=detail)
    if at < certificate.not_valid_before_utc:
        return CertificateNotYetValidError("A certificate in the chain is not valid yet.", detail=detail)
    return None


def _clamp(certificate: x509.Certificate, at: dt.datetime) -> dt.datetime:
    return min(max(at, certificate.not_valid_before_utc), certificate.not_valid_after_utc)


def validate_certificate(
    certificate: x509.Certificate,
    trust_bundle: Sequence[x509.Certificate],
    *,
    intermediates: Sequence[x509.Certificate] = (),
    purpose: CertificatePurpose | None = None,
    hostname: str | None = None,
    now: dt.datetime | None = None,
    warn_within: dt.timedelta = EXPIRY_WARNING_WINDOW,
) -> ValidationResult:
    """Validate ``certificate`` (with optional ``intermediates``) against ``trust_bundle`` at ``now``.

    ``purpose`` selects the required extended key usage (None: chain only). ``hostname`` (DNS name or IP
    literal) additionally checks it against the subjectAltName as a TLS client would, which implies
    ``TLS_SERVER``. Raises ``CertificateExpiredError`` / ``CertificateNotYetValidError`` when the chain is
    fine except for the time, ``UntrustedCertificateError`` otherwise (``detail['reason']`` says why).
    """
    if hostname is not None and purpose not in (None, CertificatePurpose.TLS_SERVER):
        raise ValueError("hostname checks apply to TLS server certificates only")
    at = utc_now_or(now)
    leaf_detail: dict[str, object] = {
        "subject": certificate.subject.rfc4514_string(),
        "issuer": certificate.issuer.rfc4514_string(),
    }
    if not trust_bundle:
        raise UntrustedCertificateError(
            "The certificate cannot be trusted: the trust bundle is empty.", detail=leaf_detail
        )
    store = Store(list(trust_bundle))
    extra = list(intermediates)
    try:
        chain = _verify(certificate, extra, store, purpose, hostname, at)
    except VerificationError as exc:
        # cryptography reports every time problem as one message; find out which certificate is out of date
        # by building the chain again at a moment when that certificate was valid. This never accepts it.
        # each distinct certificate once: a chain build per candidate must not multiply with repeated copies
        for candidate in dict.fromkeys((certificate, *extra, *trust_bundle)):
            probe = _clamp(candidate, at)
            if probe == at:
                continue
            try:
                probe_chain = _verify(certificate, extra, store, purpose, hostname, probe)
            except VerificationError:
                continue
            for member in probe_chain:
                error = _time_error(member, at)
                if error is not None:
                    raise error from exc
        raise UntrustedCertificateError(
            "The certificate does not chain to the trust bundle or is not allowed for this use.",
            detail={**leaf_detail, "reason": str(exc)},
        ) from exc
    return ValidationResult(
        chain=tuple(chain), validated_at=at, warnings=expiry_warnings(chain, now=at, within=warn_within)
    )
