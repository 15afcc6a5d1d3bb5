"""Certificates and PKI (HG-4xxx): loading, matching and validating certificates."""

from __future__ import annotations

from xca.errors._base import HieGatewayError

__all__ = [
    "CaKeyMissingError",
    "CertificateError",
    "CertificateExpiredError",
    "CertificateLoadError",
    "CertificateNotYetValidError",
    "KeyMismatchError",
    "UntrustedCertificateError",
    "WrongPasswordError",
]


class CertificateError(HieGatewayError):
    code = "HG-4000"


class CertificateLoadError(CertificateError, ValueError):
    code = "HG-4001"


class WrongPasswordError(CertificateError, ValueError):
    code = "HG-4002"


class KeyMismatchError(CertificateError, ValueError):
    code = "HG-4003"


class CertificateExpiredError(CertificateError):
    code = "HG-4004"


class CertificateNotYetValidError(CertificateError):
    code = "HG-4005"


class UntrustedCertificateError(CertificateError):
    code = "HG-4006"


class CaKeyMissingError(CertificateError):
    """A dev PKI directory holds certificates but not the CA key; completing it would need a second CA."""

    code = "HG-4007"
