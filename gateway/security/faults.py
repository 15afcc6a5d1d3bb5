"""Turning a refusal into the SOAP Fault the responding side sends (W3C SOAP 1.2 §5.4; OASIS WSS 1.1 §12).

Security refusals become ``soap:Sender`` with the error's wsse subcode; refusals of the hardened parser
(XXE, entity expansion, DTDs) ``soap:Sender`` with ``wsse:InvalidSecurity`` as well, because a message that
cannot be parsed cannot be verified. The reason text is the error's message (never PHI); the Detail carries
the stable code.
"""

from __future__ import annotations

from xca.errors import HieGatewayError, SecurityError, WsseFault, XmlRefusedError
from xca.soap import FaultCode, SoapFault

__all__ = ["security_fault"]


def security_fault(error: HieGatewayError) -> SoapFault:
    """The SOAP 1.2 Fault for a refused inbound message."""
    if isinstance(error, SecurityError):
        return SoapFault(
            FaultCode.SENDER, error.message, subcodes=(error.fault_subcode.value,), detail=error.code
        )
    if isinstance(error, XmlRefusedError):
        return SoapFault(
            FaultCode.SENDER, error.message, subcodes=(WsseFault.INVALID_SECURITY.value,), detail=error.code
        )
    return SoapFault(FaultCode.RECEIVER, "The message could not be processed.", detail=error.code)
