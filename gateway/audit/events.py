"""The four kinds of audit event, one frozen dataclass each, all keyword-only.

The initiating and responding gateways report every ITI-55/38/39 exchange as a :class:`TransactionEvent`,
every message they turn away as a :class:`RefusalEvent`; the pull orchestrator reports each
:class:`PullJobEvent`; the FHIR API each :class:`ApiAccessEvent` on patient data. ``kind`` is the
discriminator stored with the record. Values are checked on construction, so a malformed event fails at the
caller, before anything is written.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from enum import StrEnum
from typing import ClassVar

from gateway.audit.model import (
    Direction,
    DocumentRef,
    EventKind,
    Outcome,
    PatientId,
    QueryParameter,
    RemotePeer,
    Requestor,
    Transaction,
    require_aware,
)
from xca.errors import AuditEventError

__all__ = [
    "ApiAccessEvent",
    "ApiInteraction",
    "AuditEvent",
    "PullJobEvent",
    "PullStage",
    "RefusalEvent",
    "RefusalReason",
    "TransactionEvent",
]


class RefusalReason(StrEnum):
    """Why a message was turned away before (or instead of) being processed."""

    BAD_SIGNATURE = "bad-signature"
    UNTRUSTED_CERTIFICATE = "untrusted-certificate"
    UNKNOWN_COMMUNITY = "unknown-community"
    POLICY = "policy"
    MALFORMED_MESSAGE = "malformed-message"


class PullStage(StrEnum):
    """The point in a pull job's life the event records."""

    REQUESTED = "requested"
    RECORD_READY = "record-ready"  # the record was published while late gateways were still asked
    RECORD_UPDATED = "record-updated"  # a late gateway's documents were merged into the published record
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"  # stopped on request before completing (who asked is the requestor)


class ApiInteraction(StrEnum):
    """FHIR RESTful interaction (``http://hl7.org/fhir/restful-interaction``) on patient data."""

    READ = "read"
    VREAD = "vread"
    SEARCH = "search-type"
    CREATE = "create"
    UPDATE = "update"
    DELETE = "delete"
    OPERATION = "operation"


def _check_common(
    outcome: Outcome, error_codes: tuple[str, ...], occurred_at: dt.datetime | None, *numbers: int | None
) -> None:
    if not isinstance(outcome, Outcome):
        raise AuditEventError("outcome must be an Outcome (0, 4, 8 or 12)", detail={"field": "outcome"})
    if isinstance(error_codes, str) or not all(isinstance(code, str) for code in error_codes):
        raise AuditEventError("error_codes must be a tuple of strings", detail={"field": "error_codes"})
    require_aware(occurred_at, "occurred_at")
    if any(n is not None and n < 0 for n in numbers):
        raise AuditEventError("latency and byte counts cannot be negative", detail={"field": "metrics"})


@dataclass(frozen=True, kw_only=True, slots=True)
class TransactionEvent:
    """One ITI-55, ITI-38 or ITI-39 exchange, from either side.

    ``patients`` carries the local and remote identifiers involved, ``query_parameters`` what was asked
    (``query_id`` the ITI-55 queryId or the ITI-38 stored query UUID, ``raw_query`` the query element as
    sent), ``documents`` what was listed (ITI-38) or transferred (ITI-39), ``job_id`` the pull job that sent
    it (initiating side; records written before it existed have none, and their hashes are unchanged: an
    absent value is not encoded).
    """

    kind: ClassVar[EventKind] = EventKind.TRANSACTION

    transaction: Transaction
    direction: Direction
    outcome: Outcome
    requestor: Requestor
    remote: RemotePeer
    error_codes: tuple[str, ...] = ()
    patients: tuple[PatientId, ...] = ()
    query_id: str | None = None
    query_parameters: tuple[QueryParameter, ...] = ()
    raw_query: str | None = None
    documents: tuple[DocumentRef, ...] = ()
    message_id: str | None = None
    relates_to: str | None = None
    local_endpoint: str | None = None
    latency_ms: int | None = None
    request_bytes: int | None = None
    response_bytes: int | None = None
    job_id: str | None = None
    occurred_at: dt.datetime | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.transaction, Transaction) or not isinstance(self.direction, Direction):
            raise AuditEventError("transaction and direction must be enum members", detail={"field": "kind"})
        _check_common(
            self.outcome,
            self.error_codes,
            self.occurred_at,
            self.latency_ms,
            self.request_bytes,
            self.response_bytes,
        )


@dataclass(frozen=True, kw_only=True, slots=True)
class RefusalEvent:
    """A request or response refused: bad signature, untrusted certificate, unknown community, policy."""

    kind: ClassVar[EventKind] = EventKind.REFUSAL

    reason: RefusalReason
    direction: Direction
    remote: RemotePeer
    transaction: Transaction | None = None
    outcome: Outcome = Outcome.SERIOUS_FAILURE
    error_codes: tuple[str, ...] = ()
    requestor: Requestor | None = None
    patients: tuple[PatientId, ...] = ()
    message_id: str | None = None
    detail: str | None = None
    local_endpoint: str | None = None
    request_bytes: int | None = None
    occurred_at: dt.datetime | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.reason, RefusalReason):
            raise AuditEventError("reason must be a RefusalReason", detail={"field": "reason"})
        _check_common(self.outcome, self.error_codes, self.occurred_at, self.request_bytes)


@dataclass(frozen=True, kw_only=True, slots=True)
class PullJobEvent:
    """A pull of a patient's outside records: requested, then completed or failed."""

    kind: ClassVar[EventKind] = EventKind.PULL_JOB

    job_id: str
    stage: PullStage
    outcome: Outcome
    requestor: Requestor
    patients: tuple[PatientId, ...]
    communities: tuple[str, ...] = ()
    documents: tuple[DocumentRef, ...] = ()
    error_codes: tuple[str, ...] = ()
    latency_ms: int | None = None
    occurred_at: dt.datetime | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.stage, PullStage):
            raise AuditEventError("stage must be a PullStage", detail={"field": "stage"})
        if not self.patients:
            raise AuditEventError("a pull job names the patient it pulls for", detail={"field": "patients"})
        _check_common(self.outcome, self.error_codes, self.occurred_at, self.latency_ms)


@dataclass(frozen=True, kw_only=True, slots=True)
class ApiAccessEvent:
    """One FHIR API request that touched patient data (read, search, $everything, Binary, export).

    ``job_id``: the pull job a ``$pull``, ``$pull-status`` or cancel request was about (as the caller named it
    when no such job was found); ``resource_id`` stays the resource's own id (the job's patient)."""

    kind: ClassVar[EventKind] = EventKind.API_ACCESS

    interaction: ApiInteraction
    resource_type: str
    outcome: Outcome
    requestor: Requestor
    http_status: int
    patients: tuple[PatientId, ...] = ()
    resource_id: str | None = None
    operation: str | None = None
    query: str | None = None
    client_address: str | None = None
    server_endpoint: str | None = None
    request_id: str | None = None
    error_codes: tuple[str, ...] = ()
    latency_ms: int | None = None
    response_bytes: int | None = None
    occurred_at: dt.datetime | None = None
    job_id: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.interaction, ApiInteraction):
            raise AuditEventError("interaction must be an ApiInteraction", detail={"field": "interaction"})
        if not 100 <= self.http_status <= 599:
            raise AuditEventError("http_status must be an HTTP status code", detail={"field": "http_status"})
        _check_common(self.outcome, self.error_codes, self.occurred_at, self.latency_ms, self.response_bytes)


AuditEvent = TransactionEvent | RefusalEvent | PullJobEvent | ApiAccessEvent
"""Any event the audit log records; ``type(event).kind`` says which."""

EVENT_CLASSES: dict[EventKind, type[AuditEvent]] = {
    cls.kind: cls for cls in (TransactionEvent, RefusalEvent, PullJobEvent, ApiAccessEvent)
}
