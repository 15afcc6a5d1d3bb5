"""The job's counters and state machine: every step ends by recomputing them from the job's rows.

A job's state only moves forward while it is active (``created`` → ``discovering`` → ``querying`` →
``retrieving`` → ``converting``), derived from the least advanced gateway; ``done`` and ``failed`` are set
by :meth:`~gateway.initiating.jobs.JobStore.complete` and :meth:`~gateway.initiating.jobs.JobStore.fail_job`.
"""

from __future__ import annotations

from sqlalchemy import func, select
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


def recompute_progress(session: Session, job: PullJob, row: PullJobGateway | None = None) -> Progress:
    """Recompute the job's counters and state from its rows (same transaction), and report."""
    gateways = list(session.scalars(select(PullJobGateway).where(PullJobGateway.job_id == job.id)))
    docs = session.execute(
        select(PullJobDocument.state, PullJobDocument.reused, func.count())
        .where(PullJobDocument.job_id == job.id)
        .group_by(PullJobDocument.state, PullJobDocument.reused)
    ).all()
    outcomes = [GatewayOutcome(g.outcome) if g.outcome else None for g in gateways]
    job.gateways_selected = len(gateways)
    job.gateways_asked = sum(1 for g in gateways if g.exchanges > 0 or g.link_reused)
    job.gateways_matched = sum(1 for g in gateways if g.remote_patient_id is not None)
    job.gateways_failed = sum(1 for o in outcomes if o is not None and o.failed)
    job.gateways_answered = sum(
        1
        for g, o in zip(gateways, outcomes, strict=True)
        if g.remote_patient_id is not None or o in (GatewayOutcome.NO_MATCH, GatewayOutcome.REJECTED)
    )
    count = {(DocumentState(state), bool(reused)): n for state, reused, n in docs}
    held = (DocumentState.RETRIEVED, DocumentState.CONVERTED, DocumentState.STORED)
    job.documents_found = sum(count.values())
    job.documents_retrieved = sum(n for (s, reused), n in count.items() if s in held and not reused)
    job.documents_converted = sum(n for (s, _), n in count.items() if s is DocumentState.CONVERTED)
    job.documents_failed = sum(n for (s, _), n in count.items() if s is DocumentState.FAILED)
    reused = sum(n for (s, r), n in count.items() if r and s in held)
    state = JobState(job.state)
    if state in ACTIVE_STATES:
        stages = {GatewayStage(g.stage) for g in gateways}
        if GatewayStage.PENDING in stages:
            derived = JobState.DISCOVERING
        elif GatewayStage.MATCHED in stages:
            derived = JobState.QUERYING
        elif GatewayStage.QUERIED in stages:
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
