"""Job bookkeeping: the local patient, creating a job, listing unfinished ones, claiming one (resume), failing
or cancelling one, and reading it back.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import uuid
from collections.abc import Sequence
from typing import Any

import orjson
from sqlalchemy import func, insert, select, update
from sqlalchemy.orm import Session

from gateway.audit import (
    Outcome,
    PullStage,
    Transaction,
)
from gateway.directory import Selection
from gateway.initiating.codec import patient_key, request_from_json, request_to_json
from gateway.initiating.jobs.base import _JOB_LOAD, _STALE_AFTER, JobStoreBase, _pid_alive
from gateway.initiating.jobs.conversion import record_document_count
from gateway.initiating.jobs.counters import gateway_report, job_counters
from gateway.initiating.jobs.plans import GatewayPlan, JobPlan, Progress
from gateway.initiating.models import (
    ACTIVE_STATES,
    GatewayOutcome,
    GatewayReport,
    GatewayStage,
    JobCounters,
    JobListing,
    JobState,
    PullRequest,
)
from gateway.security import RequestingUser
from gateway.store import (
    Patient,
    PatientIdentifier,
    PatientLink,
    PullJob,
    PullJobDocument,
    PullJobGateway,
)
from gateway.store.demographics import demographics_to_json
from gateway.store.models import utcnow
from xca.errors import (
    JobBusyError,
    JobCancelledError,
    JobFinishedError,
    UnknownPatientError,
)
from xca.ids import Cx
from xca.iti55 import Demographics

__all__ = [
    "JobSteps",
]


class JobSteps(JobStoreBase):
    """Creating, claiming, failing and reading jobs."""

    def ensure_patient(
        self, session: Session, demographics: Demographics, patient_id: uuid.UUID | None = None
    ) -> Patient:
        """The registered patient ``patient_id`` of this tenant, or else the local patient the asked identity
        belongs to (created on the first pull)."""
        tenant = self._tenant(session)
        if patient_id is not None:
            registered = session.get(Patient, patient_id)
            if registered is None or registered.tenant_id != tenant.id:
                raise UnknownPatientError("the pull names a patient this tenant does not have")
            if not any(i.system == self.assigning_authority for i in registered.identifiers):
                raise UnknownPatientError(
                    "the pull names a patient without an id under this gateway's authority"
                )
            return registered
        value = f"PULL-{patient_key(demographics)}"
        patient = session.scalar(
            select(Patient)
            .join(PatientIdentifier, PatientIdentifier.patient_id == Patient.id)
            .where(
                PatientIdentifier.tenant_id == tenant.id,
                PatientIdentifier.system == self.assigning_authority,
                PatientIdentifier.value == value,
            )
        )
        if patient is None:
            patient = Patient(tenant_id=tenant.id, demographics=demographics_to_json(demographics))
            session.add(patient)
            session.flush()
            session.add(
                PatientIdentifier(
                    tenant_id=tenant.id, patient_id=patient.id, system=self.assigning_authority, value=value
                )
            )
            session.flush()
        return patient

    def create_job(self, request: PullRequest, selection: Selection) -> uuid.UUID:
        """Persist a new job (state ``created``) with its selection, one row per chosen gateway, and the
        ``requested`` audit record."""
        with self.database.session() as session, session.begin():
            tenant = self._tenant(session)
            patient = self.ensure_patient(session, request.demographics, request.patient_id)
            job = PullJob(
                tenant_id=tenant.id,
                patient_id=patient.id,
                state=JobState.CREATED.value,
                purpose_of_use=request.purpose_of_use.value,
                request=request_to_json(request),
                selection=selection.to_json(),
                worker=self.worker,
                heartbeat_at=utcnow(),
            )
            session.add(job)
            session.flush()
            if selection.chosen:
                # One multi-row INSERT: a unit-of-work object per gateway cost ~0.2 ms each at 200 gateways.
                session.execute(
                    insert(PullJobGateway),
                    [
                        {
                            "job_id": job.id,
                            "home_community_id": chosen.community.home_community_id,
                            "name": chosen.community.name[:255],
                            "stage": GatewayStage.PENDING.value,
                        }
                        for chosen in selection.chosen
                    ],
                )
            self._progress(session, job)
            self._audit_job(
                session,
                tenant,
                job,
                request.user,
                PullStage.REQUESTED,
                Outcome.SUCCESS,
                communities=tuple(g.community.home_community_id for g in selection.chosen),
            )
            return job.id

    def _unfinished(self, session: Session, *columns: Any) -> Any:
        """This tenant's jobs that did not reach ``done``, ``failed`` or ``cancelled``, oldest first."""
        tenant = self._tenant(session)
        return session.execute(
            select(*columns)
            .where(PullJob.tenant_id == tenant.id, PullJob.state.in_([s.value for s in ACTIVE_STATES]))
            .order_by(PullJob.created_at)
        )

    def unfinished_jobs(self, *, held: bool = True) -> list[uuid.UUID]:
        """This tenant's unfinished jobs, oldest first; ``held=False`` leaves out those a live worker holds
        (another process is running them: only it may)."""
        with self.database.session() as session:
            rows = self._unfinished(session, PullJob.id, PullJob.state, PullJob.worker, PullJob.heartbeat_at)
            return [job_id for job_id, *holder in rows if held or not _held(*holder)]

    def recent_jobs(self, limit: int) -> list[JobListing]:
        """This tenant's latest ``limit`` jobs, newest first (read only)."""
        with self.database.session() as session:
            jobs = session.scalars(
                select(PullJob)
                .where(PullJob.tenant_id == self._tenant(session).id)
                .options(*_JOB_LOAD)
                .order_by(PullJob.created_at.desc(), PullJob.id)
                .limit(limit)
            )
            return [
                JobListing(
                    job_id=job.id,
                    state=JobState(job.state),
                    purpose_of_use=job.purpose_of_use,
                    created_at=job.created_at,
                    finished_at=job.finished_at,
                    counters=job_counters(job),
                    error_code=job.error_code,
                    running=_held(job.state, job.worker, job.heartbeat_at),
                    record_ms=job.record_ms,
                )
                for job in jobs
            ]

    def unfinished_job_for(self, request: PullRequest) -> uuid.UUID | None:
        """This tenant's oldest unfinished job that asked exactly ``request`` (patient, user and purpose,
        selection, dates), if any: the same pull run again after a crash resumes that job instead of
        starting a second one."""
        # Compared as stored: through JSON, as the database keeps it.
        wanted = orjson.loads(orjson.dumps(request_to_json(request)))
        with self.database.session() as session:
            rows = self._unfinished(session, PullJob.id, PullJob.request)
            return next((job_id for job_id, stored in rows if stored == wanted), None)

    def claim(self, job_id: uuid.UUID, *, force: bool = False) -> JobPlan:
        """Take the job for this worker and load what resuming it needs. A job held by another live worker
        (heartbeat within two minutes, or a process still running on this host) is refused."""
        with self.database.session() as session, session.begin():
            job = self._job(session, job_id)
            if job.state == JobState.CANCELLED.value:
                raise JobCancelledError("the pull job was cancelled", detail={"job": str(job_id)})
            if not force and job.worker != self.worker and _held(job.state, job.worker, job.heartbeat_at):
                raise JobBusyError("another worker is running this job", detail={"job": str(job_id)})
            job.worker = self.worker
            progress = self._progress(session, job)
            rows = session.scalars(
                select(PullJobGateway).where(PullJobGateway.job_id == job.id).order_by(PullJobGateway.id)
            ).all()
            links = {
                link.home_community_id: Cx(link.remote_patient_id, link.remote_assigning_authority)
                for link in session.scalars(
                    select(PatientLink).where(
                        PatientLink.tenant_id == job.tenant_id, PatientLink.patient_id == job.patient_id
                    )
                )
            }
            gateways = tuple(
                GatewayPlan(
                    g.home_community_id,
                    g.name,
                    GatewayStage(g.stage),
                    Cx(g.remote_patient_id, g.remote_assigning_authority)
                    if g.remote_patient_id and g.remote_assigning_authority
                    else None,
                )
                for g in rows
            )
            return JobPlan(
                job_id=job.id,
                state=progress.state,
                request=request_from_json(job.request),
                patient_id=job.patient_id,
                local_id=self._local_id(session, job.patient_id),
                gateways=gateways,
                links=links,
                record_published=job.record_ms is not None,
                record_current=job.record_ms is not None
                and job.record_documents == record_document_count(session, job.tenant_id, job.patient_id),
                answered=_answered(rows),
            )

    def fail_job(self, job_id: uuid.UUID, code: str, detail: str) -> None:
        """An unexpected error stopped the job for good: ``failed`` with the code, audited."""
        with self.database.session() as session, session.begin():
            job = self._job(session, job_id, lock=True)
            if job.state == JobState.CANCELLED.value:
                return  # the cancel came first and stands: a cancelled job's end is already audited
            job.state, job.error_code, job.error_detail = JobState.FAILED.value, code, detail[:2000]
            job.finished_at = utcnow()
            self._progress(session, job)
            request = request_from_json(job.request)
            self._audit_job(
                session,
                self._tenant(session),
                job,
                request.user,
                PullStage.FAILED,
                Outcome.MAJOR_FAILURE,
                error_codes=(code,),
            )

    def cancel_job(self, job_id: uuid.UUID, user: RequestingUser) -> JobState:
        """Cancel an unfinished job on ``user``'s request and return the state it was in.

        One transaction: the job becomes ``cancelled``, its unfinished gateways are closed (see
        :meth:`settle_cancelled`) and the cancellation is audited with who asked (the requestor; the record
        carries the time). A worker running the job notices at its next step and stops. Raises
        :class:`UnknownJobError` (not this tenant's), :class:`JobCancelledError` (already cancelled) or
        :class:`JobFinishedError` (``done`` or ``failed``).
        """
        with self.database.session() as session, session.begin():
            # Locked: a worker completing or failing the job at the same moment waits, then sees the cancel.
            job = self._job(session, job_id, lock=True)
            state = JobState(job.state)
            if state is JobState.CANCELLED:
                raise JobCancelledError("the pull job is already cancelled", detail={"job": str(job_id)})
            if state not in ACTIVE_STATES:
                raise JobFinishedError(
                    f"the pull job already ended ({state.value})", detail={"job": str(job_id)}
                )
            job.state = JobState.CANCELLED.value
            job.error_code, job.error_detail = JobCancelledError.code, "cancelled on request"
            job.finished_at = utcnow()
            _close_unfinished(session, job.id)
            self._progress(session, job)
            self._audit_job(
                session,
                self._tenant(session),
                job,
                user,
                PullStage.CANCELLED,
                Outcome.MINOR_FAILURE,
                error_codes=(JobCancelledError.code,),
            )
            return state

    def settle_cancelled(self, job_id: uuid.UUID) -> Progress:
        """After a cancelled job's worker stopped: close the gateways still unfinished (answers that were in
        flight at the cancel moved some on), ``skipped`` if never asked, else ``cancelled``."""
        with self.database.session() as session, session.begin():
            job = self._job(session, job_id, lock=True)
            _close_unfinished(session, job.id)
            return self._progress(session, job)

    def reports(self, job_id: uuid.UUID) -> tuple[JobState, JobCounters, tuple[GatewayReport, ...], PullJob]:
        """The job as it stands (read only)."""
        with self.database.session() as session:
            job = self._job(session, job_id)
            rows = session.scalars(
                select(PullJobGateway).where(PullJobGateway.job_id == job_id).order_by(PullJobGateway.id)
            )
            reports = tuple(gateway_report(r) for r in rows)
            reused = session.scalar(
                select(func.count()).where(
                    PullJobDocument.job_id == job_id,
                    PullJobDocument.reused.is_(True),
                    PullJobDocument.raw_document_id.is_not(None),
                )
            )
            counters = job_counters(job, reused=reused or 0)
            session.expunge(job)
            return JobState(job.state), counters, reports, job


def _answered(rows: Sequence[PullJobGateway]) -> dict[Transaction, float]:
    """The slowest answer of each transaction over the job's gateways so far, seconds."""
    slowest: dict[Transaction, float] = {}
    for row in rows:
        for kind, ms in (row.answered_ms or {}).items():
            with contextlib.suppress(ValueError):  # a transaction this version does not know
                transaction = Transaction(kind)
                slowest[transaction] = max(slowest.get(transaction, 0.0), ms / 1000)
    return slowest


def _held(state: str, worker: str | None, heartbeat_at: dt.datetime | None) -> bool:
    """Whether a live worker holds a job in ``state``: it is unfinished, its worker's heartbeat is recent (two
    minutes), and when that worker is a process on this host, the process still runs."""
    fresh = heartbeat_at is not None and utcnow() - heartbeat_at < _STALE_AFTER
    return JobState(state) in ACTIVE_STATES and bool(worker) and fresh and _pid_alive(worker or "")


def _close_unfinished(session: Session, job_id: uuid.UUID) -> None:
    unfinished = (PullJobGateway.job_id == job_id, PullJobGateway.stage != GatewayStage.DONE.value)
    session.execute(
        update(PullJobGateway)
        .where(*unfinished, PullJobGateway.exchanges == 0, PullJobGateway.link_reused.is_(False))
        .values(
            stage=GatewayStage.DONE.value,
            outcome=GatewayOutcome.SKIPPED.value,
            reason="the pull was cancelled before this gateway was asked",
            updated_at=utcnow(),
        )
    )
    session.execute(
        update(PullJobGateway)
        .where(*unfinished)
        .values(
            stage=GatewayStage.DONE.value,
            outcome=GatewayOutcome.CANCELLED.value,
            reason="the pull was cancelled before this gateway's part finished",
            updated_at=utcnow(),
        )
    )
