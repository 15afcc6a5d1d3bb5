"""Refusals before a transaction runs, as the SOAP Fault sent and the audit reason recorded.

SOAP 1.2 Part 2 §7.5.1.2 (HTTP binding): a ``Sender`` fault travels with HTTP 400, every other fault
(``Receiver``, ``VersionMismatch``) with HTTP 500. Security refusals keep their WS-Security subcode
(:func:`gateway.security.security_fault`); a request on the wrong endpoint gets WS-Addressing's
``ActionNotSupported`` (WS-Addressing 1.0 SOAP Binding §6.4.4).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from gateway.audit import RefusalReason
from gateway.security import security_fault
from xca import ns
from xca.errors import (
    ActionNotSupportedError,
    HieGatewayError,
    HolderOfKeyError,
    SecurityRefusedError,
    SignatureInvalidError,
    SignerCertificateExpiredError,
    SignerCertificateNotYetValidError,
    SignerUntrustedError,
    TlsPeerMismatchError,
    UnexpectedMessageError,
    WireFormatError,
    XmlRefusedError,
)
from xca.soap import FaultCode, SoapFault

__all__ = [
    "ACTION_NOT_SUPPORTED",
    "ActionNotSupportedError",
    "Refusal",
    "http_status",
    "internal_fault",
    "refusal_for",
]

ACTION_NOT_SUPPORTED: Final = f"{{{ns.WSA}}}ActionNotSupported"
_SOAP11_ENVELOPE: Final = "http://schemas.xmlsoap.org/soap/envelope/"
_CERTIFICATE_ERRORS: Final = (
    SignerUntrustedError,
    SignerCertificateExpiredError,
    SignerCertificateNotYetValidError,
    TlsPeerMismatchError,
)


@dataclass(frozen=True)
class Refusal:
    """The fault to send for a refused request, and how the audit log records it."""

    fault: SoapFault
    reason: RefusalReason
    error: HieGatewayError


def http_status(fault: SoapFault) -> int:
    return 400 if fault.code is FaultCode.SENDER else 500


def _reason(error: HieGatewayError) -> RefusalReason:
    if isinstance(error, _CERTIFICATE_ERRORS):
        return RefusalReason.UNTRUSTED_CERTIFICATE
    if isinstance(error, SignatureInvalidError | HolderOfKeyError) or (
        isinstance(error, SecurityRefusedError) and error.code in _SIGNATURE_CODES
    ):
        return RefusalReason.BAD_SIGNATURE
    if isinstance(error, SecurityRefusedError):
        return RefusalReason.POLICY
    return RefusalReason.MALFORMED_MESSAGE


# Structure and signature failures (HG-3101..3110, 3125) are "bad signature"; assertion contents, times,
# audience and replays are "policy".
_SIGNATURE_CODES: Final = frozenset({f"HG-31{n:02d}" for n in range(1, 11)} | {"HG-3125"})


def refusal_for(error: HieGatewayError) -> Refusal:
    """The SOAP Fault and audit reason for a refused inbound message."""
    if isinstance(error, SecurityRefusedError | XmlRefusedError):
        fault = security_fault(error)
    elif isinstance(error, ActionNotSupportedError):
        fault = SoapFault(
            FaultCode.SENDER, error.message, subcodes=(ACTION_NOT_SUPPORTED,), detail=error.code
        )
    elif isinstance(error, UnexpectedMessageError) and error.detail.get("namespace") == _SOAP11_ENVELOPE:
        fault = SoapFault(
            FaultCode.VERSION_MISMATCH, "only SOAP 1.2 envelopes are accepted", detail=error.code
        )
    elif isinstance(error, WireFormatError):
        fault = SoapFault(FaultCode.SENDER, error.message, detail=error.code)
    else:
        fault = internal_fault(error.code)
    return Refusal(fault=fault, reason=_reason(error), error=error)


def internal_fault(code: str = "HG-0000") -> SoapFault:
    """What a peer learns about our own failure: that it happened, and a code to quote to us."""
    return SoapFault(FaultCode.RECEIVER, "The message could not be processed.", detail=code)
