"""The job's counters and state machine: every step ends by recomputing them from the job's rows.

A job's state only moves forward while it is active (``created`` → ``discovering`` → ``querying`` →
``retrieving`` → ``converting``), derived from the least advanced gateway; ``done`` and ``failed`` are set
by :meth:`~gateway.initiating.jobs.JobStore.complete` and :meth:`~gateway.initiating.jobs.JobStore.fail_job`.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, bindparam, case, func, or_, select, true
from sqlalchemy.orm import InstrumentedAttribute, Session

from gateway.initiating.jobs.plans import Progress
from gateway.initiating.models import (
    ACTIVE_STATES,
    DocumentState,
    GatewayOutcome,
    GatewayReport,
    GatewayStage,
    JobCounters,
    JobState,
)
from gateway.store import (
    PullJob,
    PullJobDocument,
    PullJobGateway,
)
from gateway.store.models import utcnow

__all__ = [
    "gateway_report",
    "job_counters",
    "recompute_progress",
]


_FAILED = [o.value for o in GatewayOutcome if o.failed]
_ANSWERED = [GatewayOutcome.NO_MATCH.value, GatewayOutcome.REJECTED.value]


def _count(condition: ColumnElement[bool]) -> ColumnElement[int]:
    return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)


def _one_of(column: InstrumentedAttribute[Any], values: list[str]) -> ColumnElement[bool]:
    # Not ``IN``: a list-valued parameter is expanded into the SQL text again at every execution.
    return or_(*(column == value for value in values))


_G = PullJobGateway
_D = PullJobDocument
_MATCHED = _G.remote_patient_id.is_not(None)
_HELD = [DocumentState.RETRIEVED.value, DocumentState.CONVERTED.value, DocumentState.STORED.value]
_REUSED = _D.reused.is_(True)
_DOCUMENT_COUNTS = (
    select(
        func.count().label("found"),
        _count(_one_of(_D.state, _HELD) & ~_REUSED).label("retrieved"),
        _count(_D.state == DocumentState.CONVERTED.value).label("converted"),
        _count(_D.state == DocumentState.FAILED.value).label("failed"),
        _count(_one_of(_D.state, _HELD) & _REUSED).label("reused"),
    )
    .where(_D.job_id == bindparam("job_id"))
    .subquery()
)
# Built once: constructing (and cache-keying) these statements cost more than running them. One statement
# (the documents' aggregates joined as a one-row subquery) so a step pays one round trip for its counters.
_COUNTS = (
    select(
        func.count(),
        _count(or_(_G.exchanges > 0, _G.link_reused.is_(True))),
        _count(_MATCHED),
        _count(_one_of(_G.outcome, _FAILED)),
        _count(or_(_MATCHED, _one_of(_G.outcome, _ANSWERED))),
        _count(_G.stage == GatewayStage.PENDING.value),
        _count(_G.stage == GatewayStage.MATCHED.value),
        _count(_G.stage == GatewayStage.QUERIED.value),
        func.max(_DOCUMENT_COUNTS.c.found),
        func.max(_DOCUMENT_COUNTS.c.retrieved),
        func.max(_DOCUMENT_COUNTS.c.converted),
        func.max(_DOCUMENT_COUNTS.c.failed),
        func.max(_DOCUMENT_COUNTS.c.reused),
    )
    .select_from(_G)
    .join(_DOCUMENT_COUNTS, true())
    .where(_G.job_id == bindparam("job_id"))
)


def recompute_progress(session: Session, job: PullJob, row: PullJobGateway | None = None) -> Progress:
    """Recompute the job's counters and state from its rows (same transaction), and report.

    Counted by the database in one aggregate query: loading every gateway row into the ORM made each step
    cost O(gateways), so a pull's bookkeeping grew with the square of its size.
    """
    (
        selected,
        asked,
        matched_n,
        failed,
        answered,
        pending,
        at_matched,
        at_queried,
        docs_found,
        docs_retrieved,
        docs_converted,
        docs_failed,
        reused,
    ) = session.execute(_COUNTS, {"job_id": job.id}).one()
    job.gateways_selected = int(selected)
    job.gateways_asked = int(asked)
    job.gateways_matched = int(matched_n)
    job.gateways_failed = int(failed)
    job.gateways_answered = int(answered)
    # A job without gateway rows has no joined row to take the documents' counts from (max() of nothing).
    job.documents_found = int(docs_found or 0)
    job.documents_retrieved = int(docs_retrieved or 0)
    job.documents_converted = int(docs_converted or 0)
    job.documents_failed = int(docs_failed or 0)
    reused = int(reused or 0)
    state = JobState(job.state)
    if state in ACTIVE_STATES:
        if pending:
            derived = JobState.DISCOVERING
        elif at_matched:
            derived = JobState.QUERYING
        elif at_queried:
            derived = JobState.RETRIEVING
        else:
            derived = JobState.CONVERTING
        if derived.rank > state.rank:
            job.state = derived.value
    now = utcnow()
    job.updated_at = job.heartbeat_at = now
    counters = job_counters(job, reused=reused)
    if row is not None:
        row.updated_at = now
    return Progress(gateway_report(row) if row is not None else None, counters, JobState(job.state))


def job_counters(job: PullJob, *, reused: int = 0) -> JobCounters:
    """The counters persisted on the job's row; ``reused`` (documents found again and already held) is
    counted from its documents, not kept on the row."""
    return JobCounters(
        gateways_selected=job.gateways_selected,
        gateways_asked=job.gateways_asked,
        gateways_answered=job.gateways_answered,
        gateways_matched=job.gateways_matched,
        gateways_failed=job.gateways_failed,
        documents_found=job.documents_found,
        documents_retrieved=job.documents_retrieved,
        documents_converted=job.documents_converted,
        documents_failed=job.documents_failed,
        documents_reused=reused,
        resources_stored=job.resources_stored,
    )


def gateway_report(row: PullJobGateway) -> GatewayReport:
    remote = (
        f"{row.remote_patient_id}^^^&{row.remote_assigning_authority}&ISO" if row.remote_patient_id else None
    )
    return GatewayReport(
        home_community_id=row.home_community_id,
        name=row.name,
        stage=GatewayStage(row.stage),
        outcome=GatewayOutcome(row.outcome) if row.outcome else None,
        reason=row.reason,
        error_code=row.error_code,
        match_score=row.match_score,
        remote_patient=remote,
        link_reused=row.link_reused,
        documents_found=row.documents_found,
        documents_retrieved=row.documents_retrieved,
        exchanges=row.exchanges,
        latency_ms=row.latency_ms,
        late=row.late,
    )
