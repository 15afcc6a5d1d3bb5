"""Errors of the initiating side (HG-60xx transport and exchange, HG-62xx pull jobs)::

    HieGatewayError (xca.errors)
    └── PullError                         HG-6000  the initiating side
        ├── ExchangeError                 HG-6010  one exchange with a remote gateway failed; ``detail`` names
        │   │                                      the community and the transaction, never PHI
        │   ├── GatewayConnectError       HG-6011  no connection (refused, reset, TLS handshake failed)
        │   ├── GatewayTimeoutError       HG-6012  no answer within the partner's timeout
        │   ├── GatewayHttpError          HG-6013  an HTTP error status without a usable SOAP answer
        │   ├── CircuitOpenError          HG-6014  skipped: the gateway failed repeatedly (circuit open)
        │   ├── GatewayFaultError         HG-6015  a SOAP Fault instead of an answer (``detail['subcodes']``)
        │   └── GatewayResponseError      HG-6016  an answer that cannot be used (unreadable, wrong RelatesTo)
        └── JobError                      HG-6200  pull jobs
            ├── UnknownJobError(LookupError) HG-6201  no such job for this tenant
            └── JobBusyError              HG-6202  another live worker holds the job

These belong in :mod:`xca.errors` beside the other layers' codes; they live here until that module is opened
for the transport layer (6xxx is reserved for it there).
"""

from __future__ import annotations

from typing import ClassVar

from xca.errors import HieGatewayError

__all__ = [
    "CircuitOpenError",
    "ExchangeError",
    "GatewayConnectError",
    "GatewayFaultError",
    "GatewayHttpError",
    "GatewayResponseError",
    "GatewayTimeoutError",
    "JobBusyError",
    "JobError",
    "PullError",
    "UnknownJobError",
]


class PullError(HieGatewayError):
    code: ClassVar[str] = "HG-6000"


class ExchangeError(PullError):
    """One exchange failed. ``retryable`` says whether the transport may try again (connection errors and
    HTTP 5xx only)."""

    code = "HG-6010"
    retryable: ClassVar[bool] = False


class GatewayConnectError(ExchangeError):
    code = "HG-6011"
    retryable = True


class GatewayTimeoutError(ExchangeError):
    code = "HG-6012"


class GatewayHttpError(ExchangeError):
    code = "HG-6013"

    @property
    def retryable_status(self) -> bool:
        status = self.detail.get("status")
        return isinstance(status, int) and status >= 500


class CircuitOpenError(ExchangeError):
    code = "HG-6014"


class GatewayFaultError(ExchangeError):
    code = "HG-6015"


class GatewayResponseError(ExchangeError):
    code = "HG-6016"


class JobError(PullError):
    code = "HG-6200"


class UnknownJobError(JobError, LookupError):
    code = "HG-6201"


class JobBusyError(JobError):
    code = "HG-6202"
