"""Message security (HG-3xxx): outbound XUA and signing, inbound verification; each names a wsse subcode."""

from __future__ import annotations

from enum import StrEnum
from typing import ClassVar

from xca.errors._base import HieGatewayError
from xca.ns import WSSE

__all__ = [
    "AssertionExpiredError",
    "AssertionInvalidError",
    "AssertionNotYetValidError",
    "AudienceMismatchError",
    "CommentInjectionError",
    "DigestMismatchError",
    "DuplicateIdError",
    "HolderOfKeyError",
    "ReplayedMessageError",
    "SecurityError",
    "SecurityHeaderError",
    "SecurityRefusedError",
    "SignatureInvalidError",
    "SignatureWrappingError",
    "SignerCertificateExpiredError",
    "SignerCertificateNotYetValidError",
    "SignerUntrustedError",
    "SigningError",
    "TimestampExpiredError",
    "TimestampInvalidError",
    "TimestampNotYetValidError",
    "TlsPeerMismatchError",
    "UnsignedAssertionError",
    "UnsignedBodyError",
    "UnsupportedAlgorithmError",
    "UnsupportedKeyInfoError",
    "WsseFault",
    "XuaAttributeInvalidError",
    "XuaAttributeMissingError",
    "XuaValueError",
]


class WsseFault(StrEnum):
    """SOAP Fault subcodes of OASIS WSS 1.1 (SOAP Message Security §12), as Clark-notation QNames."""

    UNSUPPORTED_SECURITY_TOKEN = f"{{{WSSE}}}UnsupportedSecurityToken"
    UNSUPPORTED_ALGORITHM = f"{{{WSSE}}}UnsupportedAlgorithm"
    INVALID_SECURITY = f"{{{WSSE}}}InvalidSecurity"
    INVALID_SECURITY_TOKEN = f"{{{WSSE}}}InvalidSecurityToken"
    FAILED_AUTHENTICATION = f"{{{WSSE}}}FailedAuthentication"
    FAILED_CHECK = f"{{{WSSE}}}FailedCheck"
    SECURITY_TOKEN_UNAVAILABLE = f"{{{WSSE}}}SecurityTokenUnavailable"
    MESSAGE_EXPIRED = f"{{{WSSE}}}MessageExpired"


class SecurityError(HieGatewayError):
    """Message security (SAML XUA, WS-Security, TLS); ``fault_subcode`` is the wsse Fault subcode."""

    code = "HG-3000"
    fault_subcode: ClassVar[WsseFault] = WsseFault.INVALID_SECURITY


class XuaValueError(SecurityError, ValueError):
    """Outbound: a requesting-user or assertion value refused before sending (``detail['field']``)."""

    code = "HG-3001"


class SigningError(SecurityError):
    """Outbound: the message could not be signed (key does not fit, library failure)."""

    code = "HG-3002"


class SecurityRefusedError(SecurityError):
    """Inbound: the message failed verification; nothing from it may be used, stored or answered with data."""

    code = "HG-3100"


class SecurityHeaderError(SecurityRefusedError):
    code = "HG-3101"


class DuplicateIdError(SecurityRefusedError):
    code = "HG-3102"


class CommentInjectionError(SecurityRefusedError):
    code = "HG-3103"


class UnsignedAssertionError(SecurityRefusedError):
    code = "HG-3104"
    fault_subcode = WsseFault.INVALID_SECURITY_TOKEN


class SignatureWrappingError(SecurityRefusedError):
    code = "HG-3105"
    fault_subcode = WsseFault.FAILED_CHECK


class SignatureInvalidError(SecurityRefusedError):
    code = "HG-3106"
    fault_subcode = WsseFault.FAILED_CHECK


class DigestMismatchError(SecurityRefusedError):
    code = "HG-3107"
    fault_subcode = WsseFault.FAILED_CHECK


class UnsupportedAlgorithmError(SecurityRefusedError):
    code = "HG-3108"
    fault_subcode = WsseFault.UNSUPPORTED_ALGORITHM


class UnsupportedKeyInfoError(SecurityRefusedError):
    code = "HG-3109"
    fault_subcode = WsseFault.UNSUPPORTED_SECURITY_TOKEN


class HolderOfKeyError(SecurityRefusedError):
    code = "HG-3110"
    fault_subcode = WsseFault.FAILED_AUTHENTICATION


class SignerUntrustedError(SecurityRefusedError):
    code = "HG-3111"
    fault_subcode = WsseFault.INVALID_SECURITY_TOKEN


class SignerCertificateExpiredError(SecurityRefusedError):
    code = "HG-3112"
    fault_subcode = WsseFault.INVALID_SECURITY_TOKEN


class SignerCertificateNotYetValidError(SecurityRefusedError):
    code = "HG-3113"
    fault_subcode = WsseFault.INVALID_SECURITY_TOKEN


class AssertionInvalidError(SecurityRefusedError):
    code = "HG-3114"
    fault_subcode = WsseFault.INVALID_SECURITY_TOKEN


class AssertionExpiredError(SecurityRefusedError):
    code = "HG-3115"
    fault_subcode = WsseFault.INVALID_SECURITY_TOKEN


class AssertionNotYetValidError(SecurityRefusedError):
    code = "HG-3116"
    fault_subcode = WsseFault.INVALID_SECURITY_TOKEN


class AudienceMismatchError(SecurityRefusedError):
    code = "HG-3117"
    fault_subcode = WsseFault.FAILED_AUTHENTICATION


class XuaAttributeMissingError(SecurityRefusedError):
    code = "HG-3118"
    fault_subcode = WsseFault.INVALID_SECURITY_TOKEN


class XuaAttributeInvalidError(SecurityRefusedError):
    code = "HG-3119"
    fault_subcode = WsseFault.INVALID_SECURITY_TOKEN


class TimestampExpiredError(SecurityRefusedError):
    code = "HG-3120"
    fault_subcode = WsseFault.MESSAGE_EXPIRED


class TimestampNotYetValidError(SecurityRefusedError):
    code = "HG-3121"


class TimestampInvalidError(SecurityRefusedError):
    code = "HG-3122"


class ReplayedMessageError(SecurityRefusedError):
    code = "HG-3123"


class TlsPeerMismatchError(SecurityRefusedError):
    code = "HG-3124"
    fault_subcode = WsseFault.FAILED_AUTHENTICATION


class UnsignedBodyError(SecurityRefusedError):
    code = "HG-3125"
