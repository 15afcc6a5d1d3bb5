"""Plumbing every step shares: the worker's identity, the tenant, job and gateway rows, the patient's ids, the
audit requestor, and a gateway's exchange accounting and failure.
"""

from __future__ import annotations

import datetime as dt
import os
import socket
import uuid
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, TypeAlias, TypeVar

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session, defer

from gateway.audit import (
    AuditEvent,
    AuditLog,
    Code,
    Outcome,
    PatientId,
    PatientIdRole,
    PullJobEvent,
    PullStage,
    Requestor,
)
from gateway.initiating.exchange import ExchangeRecord
from gateway.initiating.jobs.counters import gateway_report, recompute_progress
from gateway.initiating.jobs.plans import Progress
from gateway.initiating.models import (
    GatewayOutcome,
    GatewayStage,
)
from gateway.initiating.settle import measures
from gateway.security import RequestingUser
from gateway.security.vocab import SNOMED_SYSTEM
from gateway.store import (
    Database,
    PatientIdentifier,
    PullJob,
    PullJobGateway,
    Tenant,
)
from gateway.store.documents import ensure_tenant
from gateway.store.models import utcnow
from xca.errors import (
    CircuitOpenError,
    ExchangeError,
    GatewayTimeoutError,
    UnknownJobError,
)
from xca.ids import Cx

__all__ = [
    "JobStoreBase",
    "Step",
    "StepOutcome",
]

R = TypeVar("R")

Step: TypeAlias = Callable[[Session, PullJob, Tenant], tuple[PullJobGateway | None, R]]
"""One persisted step of a job: its database work (and audit record) in the given session, returning the
gateway row it was about (for the report) and its own value. Steps are replayable: run again on the state
before them, they do the same thing."""

StepOutcome: TypeAlias = tuple[Progress, Any] | Exception
"""What :meth:`JobStoreBase.run_steps` hands back per step: the progress after the batch and the step's
value, or the exception that step raised."""


_STALE_AFTER = dt.timedelta(minutes=2)
_AUDIT_BATCH = "hiegate.pull.audit"
# A step needs the job's counters and ids, never its stored request and selection: with 200 gateways the
# selection is a JSON document whose decoding cost more than the rest of loading the job.
_JOB_LOAD = (defer(PullJob.request), defer(PullJob.selection))
# Built once, with bound parameters: building and cache-keying a statement per step cost about as much as
# running it.
_JOB_AND_TENANT = (
    select(PullJob, Tenant)
    .join(Tenant, Tenant.id == PullJob.tenant_id)
    .where(PullJob.id == bindparam("job_id"), Tenant.id == bindparam("tenant_id"))
    .options(*_JOB_LOAD)
    # The job row is locked for the batch: a cancel committed meanwhile would otherwise be overwritten by
    # the batch's state update on PostgreSQL (read committed). SQLite's BEGIN IMMEDIATE already serializes.
    .with_for_update(of=PullJob)
)
_GATEWAY_ROW = select(PullJobGateway).where(
    PullJobGateway.job_id == bindparam("job_id"), PullJobGateway.home_community_id == bindparam("hcid")
)


def _worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def _pid_alive(worker: str) -> bool:
    host, _, pid = worker.rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return True
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return not _zombie(int(pid))


def _zombie(pid: int) -> bool:
    """A process that has ended but was not reaped yet (Linux: state ``Z`` in ``/proc/PID/stat``): a pull
    killed outright whose parent has not collected it, e.g. under ``timeout -s KILL`` in a container whose
    init does not reap orphans. It runs nothing, whatever ``kill(pid, 0)`` says."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_bytes()
    except OSError:  # no /proc (not Linux), or it ended meanwhile
        return False
    end = fields.rfind(b")")  # the command name, in parentheses, may hold anything
    return fields[end + 2 : end + 3] == b"Z"


def _requestor(user: RequestingUser, assertion_id: str | None, home_community_id: str) -> Requestor:
    role = user.role.coded
    purpose = user.purpose_of_use.coded
    return Requestor(
        user_id=user.user_id,
        subject_id=user.name,
        assertion_id=assertion_id,
        npi=user.npi,
        role=Code(code=role.code, system=SNOMED_SYSTEM, display=role.display_name),
        organization=user.organization.name,
        organization_id=user.organization.oid,
        home_community_id=home_community_id,
        purpose_of_use=Code(code=purpose.code, system=purpose.code_system, display=purpose.display_name),
    )


class JobStoreBase:
    """The plumbing every step of :class:`~gateway.initiating.jobs.JobStore` shares."""

    def __init__(
        self,
        database: Database,
        audit: AuditLog,
        *,
        tenant: str,
        organization_name: str,
        assigning_authority: str,
        home_community_id: str,
        worker: str | None = None,
    ) -> None:
        self.database = database
        self.audit = audit
        self.tenant_slug = tenant
        self.organization_name = organization_name
        self.assigning_authority = assigning_authority
        self.home_community_id = home_community_id
        self.worker = worker or _worker_id()
        self._tenant_id: int | None = None
        self._local_ids: dict[uuid.UUID, Cx] = {}

    def _tenant(self, session: Session) -> Tenant:
        # The cached id can name a tenant created in a transaction that later rolled back: look again then.
        tenant = session.get(Tenant, self._tenant_id) if self._tenant_id is not None else None
        if tenant is None:
            tenant = ensure_tenant(session, self.tenant_slug, self.organization_name)
            self._tenant_id = tenant.id
        return tenant

    def _job(self, session: Session, job_id: uuid.UUID, *, lock: bool = False) -> PullJob:
        """The tenant's job ``job_id``; ``lock`` holds its row until the transaction ends (PostgreSQL), for
        a change of its final state that must not race another (cancel against complete)."""
        job = session.get(PullJob, job_id, options=_JOB_LOAD, with_for_update=True if lock else None)
        if job is None or job.tenant_id != self._tenant(session).id:
            raise UnknownJobError("no such pull job for this tenant", detail={"job": str(job_id)})
        return job

    def _job_and_tenant(self, session: Session, job_id: uuid.UUID) -> tuple[PullJob, Tenant]:
        """:meth:`_job` and its tenant in one query (every batch starts with both)."""
        if self._tenant_id is not None:
            found = session.execute(_JOB_AND_TENANT, {"job_id": job_id, "tenant_id": self._tenant_id}).first()
            if found is not None:
                job, tenant = found
                return job, tenant
        # No such job for this tenant, or the tenant is not known yet (or gone): the slow path says which.
        return self._job(session, job_id, lock=True), self._tenant(session)

    def _gateway(self, session: Session, job_id: uuid.UUID, hcid: str) -> PullJobGateway:
        row = session.scalar(_GATEWAY_ROW, {"job_id": job_id, "hcid": hcid})
        assert row is not None, "a gateway row exists for every selected community"
        return row

    def _local_id(self, session: Session, patient_id: uuid.UUID) -> Cx:
        # Asked by every audited step: a patient's id under this gateway's authority never changes once
        # written, and patient ids are fresh UUIDs, so it is looked up once per patient and store.
        cached = self._local_ids.get(patient_id)
        if cached is not None:
            return cached
        value = session.scalar(
            select(PatientIdentifier.value).where(
                PatientIdentifier.patient_id == patient_id,
                PatientIdentifier.system == self.assigning_authority,
            )
        )
        assert value is not None
        self._local_ids[patient_id] = local = Cx(value, self.assigning_authority)
        return local

    def _audit(self, session: Session, event: AuditEvent) -> None:
        """Audit ``event`` in this step's transaction: appended to the chain with the rest of the batch's
        records when the batch is counted, before it commits (one head update for all of them)."""
        session.info.setdefault(_AUDIT_BATCH, []).append(event)

    def _audit_job(
        self,
        session: Session,
        tenant: Tenant,
        job: PullJob,
        user: RequestingUser,
        stage: PullStage,
        outcome: Outcome,
        **fields: Any,
    ) -> None:
        """The job's own audit record (requested, failed, cancelled, record ready, done), now: who asked, for
        which patient, and what ``fields`` add (communities, documents, error codes, latency)."""
        self.audit.record(
            session,
            tenant,
            PullJobEvent(
                job_id=str(job.id),
                stage=stage,
                outcome=outcome,
                requestor=_requestor(user, None, self.home_community_id),
                patients=self._patients(session, job),
                **fields,
            ),
        )

    def _patients(self, session: Session, job: PullJob, remote: Cx | None = None) -> tuple[PatientId, ...]:
        local = self._local_id(session, job.patient_id)
        ids = [PatientId(value=local.id, assigning_authority=local.root, role=PatientIdRole.LOCAL)]
        if remote is not None:
            ids.append(PatientId(value=remote.id, assigning_authority=remote.root, role=PatientIdRole.REMOTE))
        return tuple(ids)

    def _progress(self, session: Session, job: PullJob, row: PullJobGateway | None = None) -> Progress:
        """Recompute the job's counters and state from its rows (same transaction), and report."""
        return recompute_progress(session, job, row)

    def run_steps(self, job_id: uuid.UUID, steps: Sequence[Step[Any]]) -> list[StepOutcome]:
        """Several steps of one job in one transaction (group commit): each step's work and audit record
        still commit together, and the job's counters are recomputed once for all of them. A step that
        raises rolls the whole batch back; the steps then run again one transaction each, so only that step
        fails (its exception is its outcome)."""
        try:
            return self._run_batch(job_id, steps)
        except Exception as exc:
            if len(steps) == 1:
                return [exc]
        outcomes: list[StepOutcome] = []
        for step in steps:
            try:
                outcomes.extend(self._run_batch(job_id, (step,)))
            except Exception as exc:
                outcomes.append(exc)
        return outcomes

    def _run_batch(self, job_id: uuid.UUID, steps: Sequence[Step[Any]]) -> list[StepOutcome]:
        with self.database.session() as session, session.begin():
            job, tenant = self._job_and_tenant(session, job_id)
            # No step of a batch needs another's pending changes from the database: a gateway's steps are
            # awaited one after another except its concurrent ITI-39 batches, which ask for disjoint
            # documents and share only the gateway row, the same object in this session. So without
            # autoflush each step's lookups stop flushing the steps before it; the batch flushes once,
            # when it is counted.
            with session.no_autoflush:
                done = [step(session, job, tenant) for step in steps]
            events: list[AuditEvent] = session.info.pop(_AUDIT_BATCH, [])
            if events:
                self.audit.record_many(session, tenant, events)
            now = utcnow()
            for row, _ in done:
                if row is not None:
                    row.updated_at = now
            progress = self._progress(session, job)
            return [
                (replace(progress, gateway=gateway_report(row) if row is not None else None), value)
                for row, value in done
            ]


def _account(row: PullJobGateway, record: ExchangeRecord | None, error: ExchangeError | None) -> None:
    if record is not None:
        row.exchanges += 1
        row.latency_ms += record.latency_ms
        if measures(error, record.attempts):  # kept for a resumed run of the job (see settle)
            answered = dict(row.answered_ms or {})
            kind = record.transaction.value
            answered[kind] = max(answered.get(kind, 0), record.latency_ms)
            row.answered_ms = answered


def _fail(row: PullJobGateway, error: ExchangeError, record: ExchangeRecord | None = None) -> None:
    row.stage = GatewayStage.DONE.value
    if isinstance(error, CircuitOpenError):
        row.outcome = GatewayOutcome.CIRCUIT_OPEN.value
    elif isinstance(error, GatewayTimeoutError):
        row.outcome = GatewayOutcome.TIMEOUT.value
    else:
        row.outcome = GatewayOutcome.FAILED.value
    attempts = record.attempts if record is not None else error.detail.get("attempts")
    message = error.message
    if isinstance(attempts, int) and attempts > 1:
        # "The service is unavailable." + " after 3 attempts": the remote's sentence loses its full stop.
        message = f"{message.rstrip('. ')} after {attempts} attempts"
    row.error_code, row.reason = error.code, message
