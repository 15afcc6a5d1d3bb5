"""Vocabulary of the audit log: enums for the coded fields and the small value objects events are built from.

The codes are the ones ATNA (DICOM PS3.15 A.5, RFC 3881) and the IHE Basic Audit Log Patterns use, so the
exports are look-ups, not translations: ``Outcome`` is the EventOutcomeIndicator (0/4/8/12), ``Transaction``
the IHE EventTypeCode.

The export formats and :func:`parse_job_id` live here too: this module imports only the standard library and
:mod:`xca.errors`, so ``hiegate audit`` builds its options without loading the database layer.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from enum import IntEnum, StrEnum

from xca.errors import AuditEventError, AuditQueryError

__all__ = [
    "AuditSource",
    "Code",
    "Direction",
    "DocumentRef",
    "EventKind",
    "ExportFormat",
    "Outcome",
    "PatientId",
    "PatientIdRole",
    "QueryParameter",
    "RemotePeer",
    "Requestor",
    "Transaction",
    "parse_job_id",
    "require_aware",
]


class EventKind(StrEnum):
    """The discriminator stored with every record: which event class its content decodes to."""

    TRANSACTION = "transaction"
    REFUSAL = "refusal"
    PULL_JOB = "pull-job"
    API_ACCESS = "api-access"


class Direction(StrEnum):
    """Which side of the exchange this gateway was: it sent the request, or it answered one."""

    INITIATING = "initiating"
    RESPONDING = "responding"


class Transaction(StrEnum):
    """The cross-community transactions, valued as their IHE EventTypeCode."""

    ITI_55 = "ITI-55"
    ITI_38 = "ITI-38"
    ITI_39 = "ITI-39"

    @property
    def display(self) -> str:
        return _TRANSACTION_NAMES[self]


_TRANSACTION_NAMES = {
    Transaction.ITI_55: "Cross Gateway Patient Discovery",
    Transaction.ITI_38: "Cross Gateway Query",
    Transaction.ITI_39: "Cross Gateway Retrieve",
}


class Outcome(IntEnum):
    """ATNA EventOutcomeIndicator; also the FHIR ``audit-event-outcome`` code."""

    SUCCESS = 0
    MINOR_FAILURE = 4
    SERIOUS_FAILURE = 8
    MAJOR_FAILURE = 12

    @property
    def display(self) -> str:
        return _OUTCOME_NAMES[self]


_OUTCOME_NAMES = {
    Outcome.SUCCESS: "Success",
    Outcome.MINOR_FAILURE: "Minor failure",
    Outcome.SERIOUS_FAILURE: "Serious failure",
    Outcome.MAJOR_FAILURE: "Major failure",
}


class PatientIdRole(StrEnum):
    """Whose identifier it is: ours (this gateway's assigning authority) or a remote community's."""

    LOCAL = "local"
    REMOTE = "remote"


class ExportFormat(StrEnum):
    """The formats records are exported in: FHIR AuditEvent NDJSON, ATNA XML, CSV."""

    FHIR = "fhir"
    ATNA = "atna"
    CSV = "csv"


def parse_job_id(text: str) -> str:
    """A pull job id as the audit log records it (``str`` of its UUID), from what a user typed."""
    try:
        return str(uuid.UUID(text.strip()))
    except ValueError:
        raise AuditQueryError(f"not a job id (a UUID): {text!r}", detail={"field": "job"}) from None


def require_aware(value: dt.datetime | None, name: str) -> None:
    if value is not None and value.tzinfo is None:
        raise AuditEventError(f"{name} must be a timezone-aware datetime", detail={"field": name})


def _require_text(value: str, name: str) -> None:
    if not isinstance(value, str) or not value.strip():
        raise AuditEventError(f"{name} must be a non-empty string", detail={"field": name})


@dataclass(frozen=True, kw_only=True, slots=True)
class Code:
    """A coded value (code, code system, display), e.g. a role or a purpose of use."""

    code: str
    system: str
    display: str | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class Requestor:
    """The human (or system) on whose behalf the exchange happened, as the XUA assertion names them.

    ``user_id`` is the stable account identifier (SAML NameID); ``subject_id`` the XSPA subject-id (a person's
    name); ``assertion_id`` the SAML assertion ID; ``organization_id`` and ``home_community_id`` bare OIDs.
    """

    user_id: str
    subject_id: str | None = None
    assertion_id: str | None = None
    npi: str | None = None
    role: Code | None = None
    organization: str | None = None
    organization_id: str | None = None
    home_community_id: str | None = None
    purpose_of_use: Code | None = None

    def __post_init__(self) -> None:
        _require_text(self.user_id, "requestor.user_id")


@dataclass(frozen=True, kw_only=True, slots=True)
class RemotePeer:
    """The other gateway: its community, the endpoint called (or calling address) and its TLS certificate."""

    home_community_id: str | None = None
    endpoint: str | None = None
    network_address: str | None = None
    certificate_subject: str | None = None
    organization: str | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class PatientId:
    """One patient identifier involved in the event: value and assigning authority OID."""

    value: str
    assigning_authority: str
    role: PatientIdRole = PatientIdRole.LOCAL

    def __post_init__(self) -> None:
        _require_text(self.value, "patient.value")
        _require_text(self.assigning_authority, "patient.assigning_authority")

    @property
    def cx(self) -> str:
        """HL7 v2 CX form ``value^^^&oid&ISO``, as ATNA and XDS write patient ids."""
        return f"{self.value}^^^&{self.assigning_authority}&ISO"


@dataclass(frozen=True, kw_only=True, slots=True)
class DocumentRef:
    """A document named in a query result or retrieved: XDS uniqueId, repository and community."""

    unique_id: str
    repository_id: str
    home_community_id: str | None = None

    def __post_init__(self) -> None:
        _require_text(self.unique_id, "document.unique_id")


@dataclass(frozen=True, kw_only=True, slots=True)
class QueryParameter:
    """One query parameter as sent (``$XDSDocumentEntryStatus``, ``livingSubjectBirthTime`` ...)."""

    name: str
    value: str


@dataclass(frozen=True, kw_only=True, slots=True)
class AuditSource:
    """This gateway as the recorder of events: ATNA AuditSourceIdentification, FHIR ``AuditEvent.source``."""

    source_id: str
    site: str
    home_community_id: str | None = None
