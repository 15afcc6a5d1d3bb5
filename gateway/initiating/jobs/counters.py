"""The job's counters and state machine: every step ends by recomputing them from the job's rows.

A job's state only moves forward while it is active (``created`` → ``discovering`` → ``querying`` →
``retrieving`` → ``converting``), derived from the least advanced gateway; ``done`` and ``failed`` are set
by :meth:`~gateway.initiating.jobs.JobStore.complete` and :meth:`~gateway.initiating.jobs.JobStore.fail_job`.
"""

from __future__ import annotations

from sqlalchemy import ColumnElement, bindparam, case, func, or_, select
from sqlalchemy.orm import Session

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
    "recompute_progress",
]


_FAILED = [o.value for o in GatewayOutcome if o.failed]
_ANSWERED = [GatewayOutcome.NO_MATCH.value, GatewayOutcome.REJECTED.value]


def _count(condition: ColumnElement[bool]) -> ColumnElement[int]:
    return func.coalesce(func.sum(case((condition, 1), else_=0)), 0)


_G = PullJobGateway
_MATCHED = _G.remote_patient_id.is_not(None)
# Built once: constructing (and cache-keying) these statements cost more than running them.
_GATEWAY_COUNTS = select(
    func.count(),
    _count(or_(_G.exchanges > 0, _G.link_reused.is_(True))),
    _count(_MATCHED),
    _count(_G.outcome.in_(_FAILED)),
    _count(or_(_MATCHED, _G.outcome.in_(_ANSWERED))),
    _count(_G.stage == GatewayStage.PENDING.value),
    _count(_G.stage == GatewayStage.MATCHED.value),
    _count(_G.stage == GatewayStage.QUERIED.value),
).where(_G.job_id == bindparam("job_id"))
_DOCUMENT_COUNTS = (
    select(PullJobDocument.state, PullJobDocument.reused, func.count())
    .where(PullJobDocument.job_id == bindparam("job_id"))
    .group_by(PullJobDocument.state, PullJobDocument.reused)
)


def recompute_progress(session: Session, job: PullJob, row: PullJobGateway | None = None) -> Progress:
    """Recompute the job's counters and state from its rows (same transaction), and report.

    Counted by the database in two aggregate queries: loading every gateway row into the ORM made each step
    cost O(gateways), so a pull's bookkeeping grew with the square of its size.
    """
    params = {"job_id": job.id}
    (
        selected,
        asked,
        matched_n,
        failed,
        answered,
        pending,
        at_matched,
        at_queried,
    ) = session.execute(_GATEWAY_COUNTS, params).one()
    docs = session.execute(_DOCUMENT_COUNTS, params).all()
    job.gateways_selected = int(selected)
    job.gateways_asked = int(asked)
    job.gateways_matched = int(matched_n)
    job.gateways_failed = int(failed)
    job.gateways_answered = int(answered)
    count = {(DocumentState(state), bool(reused)): n for state, reused, n in docs}
    held = (DocumentState.RETRIEVED, DocumentState.CONVERTED, DocumentState.STORED)
    job.documents_found = sum(count.values())
    job.documents_retrieved = sum(n for (s, reused), n in count.items() if s in held and not reused)
    job.documents_converted = sum(n for (s, _), n in count.items() if s is DocumentState.CONVERTED)
    job.documents_failed = sum(n for (s, _), n in count.items() if s is DocumentState.FAILED)
    reused = sum(n for (s, r), n in count.items() if r and s in held)
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
    counters = JobCounters(
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
    if row is not None:
        row.updated_at = now
    return Progress(gateway_report(row) if row is not None else None, counters, JobState(job.state))


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
    )
