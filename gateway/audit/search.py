"""Finding audit records: filters, keyset pagination (newest first), streaming for exports.

``AuditFilter`` names every search the issue asks for: patient (``value`` or ``authority|value``), user,
organization, remote community, transaction, kind, outcome, pull job and a time range. Patient, user and
outcome also take a tuple of alternatives (any of them matches, as FHIR's comma-separated values). Pages are
ordered by sequence number, newest first; the cursor is the opaque position after the last record of a page.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

import orjson
from sqlalchemy import Row, Select, String, Table, exists, or_, select
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement

from gateway.audit.codec import decode_event
from gateway.audit.events import AuditEvent
from gateway.audit.model import EventKind, Outcome, Transaction, parse_job_id, require_aware
from gateway.audit.tables import AuditEventRow, AuditPatientRow
from gateway.store.models import Tenant
from xca.errors import AuditQueryError

__all__ = ["MAX_PAGE", "AuditFilter", "AuditPage", "StoredRecord", "iter_records", "parse_job_id", "search"]

MAX_PAGE = 1000
_T = TypeVar("_T")
_EVENTS: Table = AuditEventRow.__table__  # type: ignore[assignment]
_PATIENTS: Table = AuditPatientRow.__table__  # type: ignore[assignment]


@dataclass(frozen=True, kw_only=True, slots=True)
class AuditFilter:
    """Conditions a record must all meet; ``None`` means any. ``until`` is exclusive.

    ``patient``, ``user`` and ``outcome`` take one value or a non-empty tuple of alternatives: a record
    matching any of them meets the condition (``patient=("a", "b")``: records naming patient a or b).
    ``also_patients`` holds more patient conditions, each a non-empty tuple of alternatives, that the record
    must meet as well (a record names several patient identifiers: FHIR's repeated ``patient``).

    ``job`` is a pull job id as recorded (:func:`parse_job_id` reads one a user typed): it matches the job's
    exchanges and its own pull records; records written before exchanges named their job never match.
    """

    patient: str | tuple[str, ...] | None = None
    user: str | tuple[str, ...] | None = None
    organization: str | None = None
    community: str | None = None
    transaction: Transaction | None = None
    kind: EventKind | None = None
    outcome: Outcome | tuple[Outcome, ...] | None = None
    job: str | None = None
    since: dt.datetime | None = None
    until: dt.datetime | None = None
    also_patients: tuple[tuple[str, ...], ...] = ()

    def __post_init__(self) -> None:
        try:
            require_aware(self.since, "since")
            require_aware(self.until, "until")
        except ValueError as exc:
            raise AuditQueryError(str(exc), detail={"field": "since/until"}) from None
        if self.job is not None and not self.job.strip():
            raise AuditQueryError("job filter is empty", detail={"field": "job"})
        for name in ("patient", "user", "outcome"):
            if getattr(self, name) == ():
                raise AuditQueryError(f"{name} filter has no alternatives", detail={"field": name})
        if any(group == () for group in self.also_patients):
            raise AuditQueryError("patient filter has no alternatives", detail={"field": "patient"})


def _alternatives(value: _T | tuple[_T, ...]) -> tuple[_T, ...]:
    """One filter value or its tuple of alternatives, as a tuple."""
    return value if isinstance(value, tuple) else (value,)


@dataclass(frozen=True, slots=True)
class StoredRecord:
    """A record as read back: its place in the chain and the decoded event."""

    tenant_id: int
    tenant: str
    seq: int
    recorded_at: dt.datetime
    prev_hash: str
    hash: str
    event: AuditEvent


@dataclass(frozen=True, slots=True)
class AuditPage:
    records: tuple[StoredRecord, ...]
    next_cursor: str | None


def _patient_match(patient: str) -> Any:
    authority, _, value = patient.rpartition("|")
    if not value:
        raise AuditQueryError("patient filter is empty", detail={"field": "patient"})
    match = _PATIENTS.c.value == value
    if authority:
        match &= _PATIENTS.c.assigning_authority == authority.removeprefix("urn:oid:")
    return match


def _patient_condition(patients: tuple[str, ...]) -> Any:
    """The record names one of ``patients`` (one subquery, its alternatives OR-ed inside it)."""
    same_record = (_PATIENTS.c.tenant_id == _EVENTS.c.tenant_id) & (_PATIENTS.c.seq == _EVENTS.c.seq)
    return exists().where(same_record & or_(*(_patient_match(patient) for patient in patients)))


class _ContentJobId(FunctionElement[str]):
    """The ``job_id`` member of a record's content (``NULL`` when it has none), in each database's JSON."""

    type = String()
    inherit_cache = True


@compiles(_ContentJobId)  # SQLite: json_extract is built in (JSON1)
def _sqlite_job_id(element: _ContentJobId, compiler: SQLCompiler, **kw: Any) -> str:
    return f"json_extract({compiler.process(element.clauses, **kw)}, '$.job_id')"


@compiles(_ContentJobId, "postgresql")
def _postgresql_job_id(element: _ContentJobId, compiler: SQLCompiler, **kw: Any) -> str:
    return f"(CAST({compiler.process(element.clauses, **kw)} AS JSONB) ->> 'job_id')"


def _job_condition(job: str) -> Any:
    # The job id is in the content only (an exchange's and its pull job's records, not older ones): the
    # substring test is a cheap first pass over the tenant's records, the JSON member the exact match.
    content = _EVENTS.c.content
    return content.contains(job, autoescape=True) & (_ContentJobId(content) == job)


def _statement(tenant: Tenant, where: AuditFilter) -> Select[Any]:
    statement = select(_EVENTS).where(_EVENTS.c.tenant_id == tenant.id)
    if where.user is not None:
        users = [user.removeprefix("urn:oid:") for user in _alternatives(where.user)]
        statement = statement.where(_EVENTS.c.user_id.in_(users))
    columns = {"organization": _EVENTS.c.organization_id, "community": _EVENTS.c.remote_community}
    for name, column in columns.items():
        value = getattr(where, name)
        if value is not None:
            statement = statement.where(column == value.removeprefix("urn:oid:"))
    if where.transaction is not None:
        statement = statement.where(_EVENTS.c.transaction_type == where.transaction.value)
    if where.kind is not None:
        statement = statement.where(_EVENTS.c.kind == where.kind.value)
    if where.outcome is not None:
        statement = statement.where(_EVENTS.c.outcome.in_([int(o) for o in _alternatives(where.outcome)]))
    if where.job is not None:
        statement = statement.where(_job_condition(where.job))
    if where.since is not None:
        statement = statement.where(_EVENTS.c.recorded_at >= where.since)
    if where.until is not None:
        statement = statement.where(_EVENTS.c.recorded_at < where.until)
    if where.patient is not None:
        statement = statement.where(_patient_condition(_alternatives(where.patient)))
    for group in where.also_patients:
        statement = statement.where(_patient_condition(group))
    return statement


def _record(tenant: Tenant, row: Row[Any]) -> StoredRecord:
    return StoredRecord(
        tenant_id=row.tenant_id,
        tenant=tenant.slug,
        seq=row.seq,
        recorded_at=row.recorded_at,
        prev_hash=row.prev_hash,
        hash=row.hash,
        event=decode_event(orjson.loads(row.content)),
    )


def _encode_cursor(tenant: Tenant, seq: int) -> str:
    return base64.urlsafe_b64encode(f"{tenant.id}:{seq}".encode()).decode("ascii").rstrip("=")


def _decode_cursor(tenant: Tenant, cursor: str) -> int:
    try:
        tenant_id, _, seq = (
            base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode().partition(":")
        )
        if int(tenant_id) != tenant.id:
            raise ValueError("cursor of another tenant")
        return int(seq)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise AuditQueryError("the pagination cursor is not valid here", detail={"field": "cursor"}) from None


def search(
    session: Session, tenant: Tenant, where: AuditFilter, *, limit: int = 50, cursor: str | None = None
) -> AuditPage:
    """One page of matching records, newest first; pass ``next_cursor`` back for the next page."""
    if not 1 <= limit <= MAX_PAGE:
        raise AuditQueryError(f"limit must be between 1 and {MAX_PAGE}", detail={"field": "limit"})
    statement = _statement(tenant, where)
    if cursor is not None:
        statement = statement.where(_EVENTS.c.seq < _decode_cursor(tenant, cursor))
    rows = session.execute(statement.order_by(_EVENTS.c.seq.desc()).limit(limit + 1)).all()
    records = tuple(_record(tenant, row) for row in rows[:limit])
    more = len(rows) > limit
    return AuditPage(records=records, next_cursor=_encode_cursor(tenant, records[-1].seq) if more else None)


def iter_records(session: Session, tenant: Tenant, where: AuditFilter) -> Iterator[StoredRecord]:
    """Every matching record, oldest first, streamed (for exports and reports)."""
    statement = _statement(tenant, where).order_by(_EVENTS.c.seq)
    result = session.connection().execute(statement.execution_options(yield_per=1000))
    for row in result:
        yield _record(tenant, row)
