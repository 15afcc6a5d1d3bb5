"""The initiating side (HG-6xxx): exchanges with remote gateways (60xx), the directory of remote communities
(61xx) and pull jobs (62xx)."""

from __future__ import annotations

from typing import ClassVar

from xca.errors._base import HieGatewayError

__all__ = [
    "CircuitOpenError",
    "DirectoryError",
    "DirectoryFormatError",
    "ExchangeError",
    "GatewayConnectError",
    "GatewayFaultError",
    "GatewayHttpError",
    "GatewayResponseError",
    "GatewayTimeoutError",
    "GatewayTlsError",
    "JobBusyError",
    "JobCancelledError",
    "JobError",
    "JobFinishedError",
    "PullError",
    "UnknownCommunityError",
    "UnknownJobError",
    "UnknownPatientError",
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


class GatewayTlsError(GatewayConnectError):
    """The TLS handshake was refused: by this side (the gateway's certificate failed verification: expired,
    another CA, another name) or by the gateway (a TLS alert: it refused this side's certificate). Not
    retried: the same certificates fail the same way until someone changes one."""

    code = "HG-6017"
    retryable = False


# --- the directory of remote communities (61xx) ---------------------------------------------------------


class DirectoryError(HieGatewayError):
    """The directory of remote communities (HG-61xx)."""

    code: ClassVar[str] = "HG-6100"


class DirectoryFormatError(DirectoryError, ValueError):
    """A directory file that is not a FHIR Bundle of Organizations (or an Organization) in JSON or XML."""

    code = "HG-6101"


class UnknownCommunityError(DirectoryError, LookupError):
    """A homeCommunityId the directory does not list."""

    code = "HG-6102"


class DirectoryFetchError(DirectoryError):
    """A directory could not be fetched from its FHIR server (connection, TLS, HTTP status, a page that is
    not a FHIR Bundle, a ``next`` link leaving the server, too many pages or bytes); nothing was imported."""

    code = "HG-6103"


# --- pull jobs (62xx) -----------------------------------------------------------------------------------


class JobError(PullError):
    code = "HG-6200"


class UnknownJobError(JobError, LookupError):
    code = "HG-6201"


class JobBusyError(JobError):
    code = "HG-6202"


class UnknownPatientError(JobError, LookupError):
    code = "HG-6203"


class JobCancelledError(JobError):
    """The job was cancelled: it is never run or resumed again."""

    code = "HG-6204"


class JobFinishedError(JobError):
    """The job already ended (``done`` or ``failed``): there is nothing left to cancel."""

    code = "HG-6205"
