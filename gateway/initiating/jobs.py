"""The persisted side of a pull: each step is one database transaction that records the work, its audit record
(for an exchange) and the job's recomputed counters and state, so a worker killed at any point leaves the job
at a step boundary and a fresh worker resumes from there.

Synchronous on purpose: the worker runs every call on one writer thread (SQLite has one writer; the audit
chain serializes a tenant's appends anyway), so the event loop never waits on the database.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import socket
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from gateway.audit import (
    AuditLog,
    Code,
    Direction,
    DocumentRef,
    Outcome,
    PatientId,
    PatientIdRole,
    PullJobEvent,
    PullStage,
    QueryParameter,
    RemotePeer,
    Requestor,
    Transaction,
    TransactionEvent,
)
from gateway.directory import Selection
from gateway.initiating.codec import demographics_to_json, patient_key, request_from_json, request_to_json
from gateway.initiating.errors import ExchangeError, JobBusyError, UnknownJobError
from gateway.initiating.evaluate import MatchDecision
from gateway.initiating.exchange import ExchangeRecord
from gateway.initiating.models import (
    ACTIVE_STATES,
    DocumentState,
    GatewayOutcome,
    GatewayReport,
    GatewayStage,
    JobCounters,
    JobState,
    PullRequest,
)
from gateway.security import RequestingUser
from gateway.security.vocab import SNOMED_SYSTEM
from gateway.store import (
    Database,
    FhirResource,
    Patient,
    PatientIdentifier,
    PatientLink,
    PullJob,
    PullJobDocument,
    PullJobGateway,
    RawDocument,
    Tenant,
)
from gateway.store.documents import ensure_tenant, store_raw_document
from gateway.store.models import utcnow
from xca import iti38, iti39
from xca.errors import DocumentConflictError
from xca.ids import Cx
from xca.iti55 import Demographics
from xca.registry import ResponseStatus

__all__ = ["GatewayPlan", "JobPlan", "JobStore", "PendingDocument", "Progress"]

_STALE_AFTER = dt.timedelta(minutes=2)


@dataclass(frozen=True)
class GatewayPlan:
    """Where one gateway of a job stands, and the link to use when it has one."""

    home_community_id: str
    name: str
    stage: GatewayStage
    remote: Cx | None


@dataclass(frozen=True)
class JobPlan:
    """A claimed job: its request, the local patient, and each gateway's stage."""

    job_id: uuid.UUID
    state: JobState
    request: PullRequest
    patient_id: uuid.UUID
    local_id: Cx
    gateways: tuple[GatewayPlan, ...]
    links: dict[str, Cx]


@dataclass(frozen=True)
class PendingDocument:
    home_community_id: str
    repository_id: str
    unique_id: str


@dataclass(frozen=True)
class Progress:
    """What a step changed: the gateway's report (if it was about one gateway) and the job's counters."""

    gateway: GatewayReport | None
    counters: JobCounters
    state: JobState


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
    return True


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


def _query_parameters(demo: Demographics) -> tuple[QueryParameter, ...]:
    params = [
        QueryParameter(name="livingSubjectName", value="^".join([n.family or "", *n.given]))
        for n in demo.names
    ]
    if demo.gender is not None:
        params.append(QueryParameter(name="livingSubjectAdministrativeGender", value=demo.gender.value))
    if demo.birth_date is not None:
        params.append(QueryParameter(name="livingSubjectBirthTime", value=demo.birth_date.strftime("%Y%m%d")))
    params += [
        QueryParameter(name="patientAddress", value=a.postal_code or a.city or "?") for a in demo.addresses
    ]
    return tuple(params)


class JobStore:
    """Every persisted step of a pull for one tenant."""

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

    # --- plumbing -----------------------------------------------------------------------------------

    def _tenant(self, session: Session) -> Tenant:
        if self._tenant_id is None:
            self._tenant_id = ensure_tenant(session, self.tenant_slug, self.organization_name).id
        tenant = session.get(Tenant, self._tenant_id)
        assert tenant is not None
        return tenant

    def _job(self, session: Session, job_id: uuid.UUID) -> PullJob:
        job = session.get(PullJob, job_id)
        if job is None or job.tenant_id != self._tenant(session).id:
            raise UnknownJobError("no such pull job for this tenant", detail={"job": str(job_id)})
        return job

    def _gateway(self, session: Session, job_id: uuid.UUID, hcid: str) -> PullJobGateway:
        row = session.scalar(
            select(PullJobGateway).where(
                PullJobGateway.job_id == job_id, PullJobGateway.home_community_id == hcid
            )
        )
        assert row is not None, "a gateway row exists for every selected community"
        return row

    def _local_id(self, session: Session, patient_id: uuid.UUID) -> Cx:
        value = session.scalar(
            select(PatientIdentifier.value).where(
                PatientIdentifier.patient_id == patient_id,
                PatientIdentifier.system == self.assigning_authority,
            )
        )
        assert value is not None
        return Cx(value, self.assigning_authority)

    def _patients(self, session: Session, job: PullJob, remote: Cx | None = None) -> tuple[PatientId, ...]:
        local = self._local_id(session, job.patient_id)
        ids = [PatientId(value=local.id, assigning_authority=local.root, role=PatientIdRole.LOCAL)]
        if remote is not None:
            ids.append(PatientId(value=remote.id, assigning_authority=remote.root, role=PatientIdRole.REMOTE))
        return tuple(ids)

    def _progress(self, session: Session, job: PullJob, row: PullJobGateway | None = None) -> Progress:
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
        return Progress(_report(row) if row is not None else None, counters, JobState(job.state))

    # --- jobs -----------------------------------------------------------------------------------------

    def ensure_patient(self, session: Session, demographics: Demographics) -> Patient:
        """The local patient the asked identity belongs to (created on the first pull)."""
        tenant = self._tenant(session)
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
            patient = self.ensure_patient(session, request.demographics)
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
            for chosen in selection.chosen:
                session.add(
                    PullJobGateway(
                        job_id=job.id,
                        home_community_id=chosen.community.home_community_id,
                        name=chosen.community.name[:255],
                        stage=GatewayStage.PENDING.value,
                    )
                )
            session.flush()
            self._progress(session, job)
            self.audit.record(
                session,
                tenant,
                PullJobEvent(
                    job_id=str(job.id),
                    stage=PullStage.REQUESTED,
                    outcome=Outcome.SUCCESS,
                    requestor=_requestor(request.user, None, self.home_community_id),
                    patients=self._patients(session, job),
                    communities=tuple(g.community.home_community_id for g in selection.chosen),
                ),
            )
            return job.id

    def unfinished_jobs(self) -> list[uuid.UUID]:
        """This tenant's jobs that did not reach ``done`` or ``failed``, oldest first."""
        with self.database.session() as session:
            tenant = self._tenant(session)
            return list(
                session.scalars(
                    select(PullJob.id)
                    .where(
                        PullJob.tenant_id == tenant.id, PullJob.state.in_([s.value for s in ACTIVE_STATES])
                    )
                    .order_by(PullJob.created_at)
                )
            )

    def claim(self, job_id: uuid.UUID, *, force: bool = False) -> JobPlan:
        """Take the job for this worker and load what resuming it needs. A job held by another live worker
        (heartbeat within two minutes, or a process still running on this host) is refused."""
        with self.database.session() as session, session.begin():
            job = self._job(session, job_id)
            holder = job.worker
            fresh = job.heartbeat_at is not None and utcnow() - job.heartbeat_at < _STALE_AFTER
            if (
                not force
                and JobState(job.state) in ACTIVE_STATES
                and holder
                and holder != self.worker
                and fresh
                and _pid_alive(holder)
            ):
                raise JobBusyError("another worker is running this job", detail={"job": str(job_id)})
            job.worker = self.worker
            progress = self._progress(session, job)
            rows = session.scalars(
                select(PullJobGateway).where(PullJobGateway.job_id == job.id).order_by(PullJobGateway.id)
            )
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
            )

    # --- discovery ------------------------------------------------------------------------------------

    def reuse_link(self, job_id: uuid.UUID, hcid: str, remote: Cx) -> Progress:
        """A link from an earlier pull: no ITI-55, straight to ITI-38."""
        with self.database.session() as session, session.begin():
            job = self._job(session, job_id)
            row = self._gateway(session, job_id, hcid)
            row.stage = GatewayStage.MATCHED.value
            row.link_reused = True
            row.remote_patient_id, row.remote_assigning_authority = remote.id, remote.root
            row.reason = "linked by an earlier pull (no ITI-55)"
            link = session.scalar(
                select(PatientLink).where(
                    PatientLink.tenant_id == job.tenant_id,
                    PatientLink.patient_id == job.patient_id,
                    PatientLink.home_community_id == hcid,
                )
            )
            if link is not None:
                link.last_used_at = utcnow()
            return self._progress(session, job, row)

    def drop_link(self, job_id: uuid.UUID, hcid: str) -> Progress:
        """The remote community no longer knows the linked id: forget the link and discover again."""
        with self.database.session() as session, session.begin():
            job = self._job(session, job_id)
            session.execute(
                delete(PatientLink).where(
                    PatientLink.tenant_id == job.tenant_id,
                    PatientLink.patient_id == job.patient_id,
                    PatientLink.home_community_id == hcid,
                )
            )
            row = self._gateway(session, job_id, hcid)
            row.stage = GatewayStage.PENDING.value
            row.link_reused = False
            row.remote_patient_id = row.remote_assigning_authority = None
            return self._progress(session, job, row)

    def record_discovery(
        self,
        job_id: uuid.UUID,
        hcid: str,
        *,
        user: RequestingUser,
        record: ExchangeRecord | None,
        decision: MatchDecision | None,
        error: ExchangeError | None,
        remote: RemotePeer,
        demographics: Demographics,
    ) -> Progress:
        """The ITI-55 outcome: a link and stage ``matched``, or the gateway done with its reason; plus the
        exchange's audit record."""
        with self.database.session() as session, session.begin():
            job = self._job(session, job_id)
            tenant = self._tenant(session)
            row = self._gateway(session, job_id, hcid)
            remote_id: Cx | None = None
            error_codes: tuple[str, ...] = ()
            outcome = Outcome.SUCCESS
            _account(row, record)
            if error is not None:
                _fail(row, error, record)
                error_codes, outcome = (error.code,), Outcome.SERIOUS_FAILURE
            elif decision is not None and decision.match is not None:
                match = decision.match
                remote_id = Cx(match.patient_id.extension or "", match.patient_id.root)
                row.stage = GatewayStage.MATCHED.value
                row.match_score = decision.score
                row.remote_patient_id, row.remote_assigning_authority = remote_id.id, remote_id.root
                self._link(session, job, hcid, remote_id, decision.score)
            elif decision is not None:
                row.stage = GatewayStage.DONE.value
                no_match = decision.code is not None and decision.code.value == "no-match"
                query_error = decision.code is not None and decision.code.value == "query-error"
                if query_error:
                    row.outcome = GatewayOutcome.FAILED.value
                    outcome = Outcome.SERIOUS_FAILURE
                else:
                    row.outcome = (GatewayOutcome.NO_MATCH if no_match else GatewayOutcome.REJECTED).value
                row.reason = decision.reason
                row.error_code = decision.code.value if decision.code else None
                row.match_score = decision.score
                error_codes = decision.error_codes
            if record is not None:
                self.audit.record(
                    session,
                    tenant,
                    TransactionEvent(
                        transaction=Transaction.ITI_55,
                        direction=Direction.INITIATING,
                        outcome=outcome,
                        requestor=_requestor(user, record.assertion_id, self.home_community_id),
                        remote=remote,
                        error_codes=error_codes,
                        patients=self._patients(session, job, remote_id),
                        query_parameters=_query_parameters(demographics),
                        message_id=record.message_id,
                        relates_to=record.relates_to,
                        latency_ms=record.latency_ms,
                        request_bytes=record.request_bytes,
                        response_bytes=record.response_bytes,
                        occurred_at=record.occurred_at,
                    ),
                )
            return self._progress(session, job, row)

    def _link(self, session: Session, job: PullJob, hcid: str, remote: Cx, score: int | None) -> None:
        link = session.scalar(
            select(PatientLink).where(
                PatientLink.tenant_id == job.tenant_id,
                PatientLink.patient_id == job.patient_id,
                PatientLink.home_community_id == hcid,
            )
        )
        if link is None:
            session.add(
                PatientLink(
                    tenant_id=job.tenant_id,
                    patient_id=job.patient_id,
                    home_community_id=hcid,
                    remote_patient_id=remote.id,
                    remote_assigning_authority=remote.root,
                    score=score,
                    job_id=job.id,
                )
            )
        else:
            link.remote_patient_id, link.remote_assigning_authority = remote.id, remote.root
            link.score, link.last_used_at = score, utcnow()

    # --- query ----------------------------------------------------------------------------------------

    def record_query(
        self,
        job_id: uuid.UUID,
        hcid: str,
        *,
        user: RequestingUser,
        record: ExchangeRecord | None,
        response: iti38.QueryResponse | None,
        error: ExchangeError | None,
        remote: RemotePeer,
        patient: Cx,
    ) -> Progress:
        """The ITI-38 outcome: one ``found`` row per listed document and stage ``queried``, or the gateway
        done with its error; plus the exchange's audit record."""
        with self.database.session() as session, session.begin():
            job = self._job(session, job_id)
            tenant = self._tenant(session)
            row = self._gateway(session, job_id, hcid)
            _account(row, record)
            refs: list[DocumentRef] = []
            error_codes: tuple[str, ...] = ()
            outcome = Outcome.SUCCESS
            if error is not None:
                _fail(row, error, record)
                error_codes, outcome = (error.code,), Outcome.SERIOUS_FAILURE
            else:
                assert response is not None
                error_codes = tuple(e.error_code for e in response.errors)
                known = set(
                    session.scalars(
                        select(PullJobDocument.unique_id).where(
                            PullJobDocument.job_id == job_id, PullJobDocument.home_community_id == hcid
                        )
                    )
                )
                for entry in response.documents:
                    if entry.unique_id in known or not entry.repository_unique_id:
                        continue
                    known.add(entry.unique_id)
                    session.add(
                        PullJobDocument(
                            job_id=job_id,
                            home_community_id=hcid,
                            repository_id=entry.repository_unique_id,
                            unique_id=entry.unique_id,
                            state=DocumentState.FOUND.value,
                            mime_type=entry.mime_type[:127],
                            size=entry.size,
                            sha1=entry.hash,
                            title=(entry.title or "")[:255] or None,
                        )
                    )
                    refs.append(
                        DocumentRef(
                            unique_id=entry.unique_id,
                            repository_id=entry.repository_unique_id,
                            home_community_id=entry.home_community_id or hcid,
                        )
                    )
                row.documents_found = len(known)
                if response.status is ResponseStatus.FAILURE and not response.documents:
                    row.stage = GatewayStage.DONE.value
                    row.outcome = GatewayOutcome.FAILED.value
                    row.error_code = error_codes[0] if error_codes else "XDSRegistryError"
                    row.reason = "ITI-38 answered Failure"
                    outcome = Outcome.SERIOUS_FAILURE
                else:
                    row.stage = GatewayStage.QUERIED.value
                    if error_codes:
                        row.reason = f"ITI-38 registry errors: {', '.join(error_codes)}"
                        outcome = Outcome.MINOR_FAILURE
            if record is not None:
                self.audit.record(
                    session,
                    tenant,
                    TransactionEvent(
                        transaction=Transaction.ITI_38,
                        direction=Direction.INITIATING,
                        outcome=outcome,
                        requestor=_requestor(user, record.assertion_id, self.home_community_id),
                        remote=remote,
                        error_codes=error_codes,
                        patients=self._patients(session, job, patient),
                        query_id=iti38.StoredQueryId.FIND_DOCUMENTS.value,
                        query_parameters=(
                            QueryParameter(
                                name="$XDSDocumentEntryPatientId", value=f"{patient.id}^^^&{patient.root}&ISO"
                            ),
                            QueryParameter(name="$XDSDocumentEntryStatus", value="Approved"),
                        ),
                        documents=tuple(refs),
                        message_id=record.message_id,
                        relates_to=record.relates_to,
                        latency_ms=record.latency_ms,
                        request_bytes=record.request_bytes,
                        response_bytes=record.response_bytes,
                        occurred_at=record.occurred_at,
                    ),
                )
            return self._progress(session, job, row)

    # --- retrieve ---------------------------------------------------------------------------------------

    def documents_to_retrieve(self, job_id: uuid.UUID, hcid: str) -> tuple[list[PendingDocument], Progress]:
        """The gateway's ``found`` documents not yet held. Documents already in the raw store (an earlier
        pull, or an earlier run of this job) are marked retrieved (``reused``) without asking again."""
        with self.database.session() as session, session.begin():
            job = self._job(session, job_id)
            tenant = self._tenant(session)
            rows = list(
                session.scalars(
                    select(PullJobDocument)
                    .where(
                        PullJobDocument.job_id == job_id,
                        PullJobDocument.home_community_id == hcid,
                        PullJobDocument.state == DocumentState.FOUND.value,
                    )
                    .order_by(PullJobDocument.id)
                )
            )
            held: dict[str, uuid.UUID] = {}
            for unique_id, raw_id in session.execute(
                select(RawDocument.unique_id, RawDocument.id).where(
                    RawDocument.tenant_id == tenant.id,
                    RawDocument.home_community_id == hcid,
                    RawDocument.unique_id.in_([r.unique_id for r in rows]),
                )
            ):
                held[unique_id] = raw_id
            pending: list[PendingDocument] = []
            for doc in rows:
                held_id = held.get(doc.unique_id)
                if held_id is not None:
                    doc.state, doc.reused, doc.raw_document_id = DocumentState.RETRIEVED.value, True, held_id
                    doc.updated_at = utcnow()
                else:
                    pending.append(PendingDocument(hcid, doc.repository_id, doc.unique_id))
            row = self._gateway(session, job_id, hcid)
            return pending, self._progress(session, job, row)

    def record_retrieve(
        self,
        job_id: uuid.UUID,
        hcid: str,
        *,
        user: RequestingUser,
        requested: Sequence[PendingDocument],
        record: ExchangeRecord | None,
        response: iti39.RetrieveResponse | None,
        error: ExchangeError | None,
        remote: RemotePeer,
        patient: Cx,
    ) -> tuple[Progress, list[uuid.UUID]]:
        """One ITI-39 batch: each returned document checked against its ITI-38 size and hash and stored once;
        the rest marked failed with the reason; plus the exchange's audit record. Returns the raw document ids
        stored (for conversion)."""
        with self.database.session() as session, session.begin():
            job = self._job(session, job_id)
            tenant = self._tenant(session)
            row = self._gateway(session, job_id, hcid)
            _account(row, record)
            docs = {
                d.unique_id: d
                for d in session.scalars(
                    select(PullJobDocument).where(
                        PullJobDocument.job_id == job_id,
                        PullJobDocument.home_community_id == hcid,
                        PullJobDocument.unique_id.in_([r.unique_id for r in requested]),
                    )
                )
            }
            stored: list[uuid.UUID] = []
            refs: list[DocumentRef] = []
            registry_codes = tuple(e.error_code for e in response.errors) if response else ()
            returned = response.documents if response else ()
            for document in returned:
                doc = docs.get(document.document_unique_id)
                if doc is None or doc.state != DocumentState.FOUND.value:
                    continue
                content = document.content
                problem = _integrity(doc, content)
                if problem is not None:
                    doc.state, doc.error_code = DocumentState.FAILED.value, problem
                    continue
                try:
                    kept = store_raw_document(
                        session,
                        tenant,
                        home_community_id=hcid,
                        repository_id=doc.repository_id,
                        unique_id=doc.unique_id,
                        mime_type=document.mime_type[:127] or doc.mime_type,
                        content=content,
                    )
                except DocumentConflictError as exc:
                    doc.state, doc.error_code = DocumentState.FAILED.value, exc.code
                    continue
                doc.state, doc.raw_document_id, doc.reused = (
                    DocumentState.RETRIEVED.value,
                    kept.id,
                    not kept.created,
                )
                doc.mime_type = document.mime_type[:127] or doc.mime_type
                doc.updated_at = utcnow()
                stored.append(kept.id)
                refs.append(
                    DocumentRef(
                        unique_id=doc.unique_id, repository_id=doc.repository_id, home_community_id=hcid
                    )
                )
            missing_code = (
                error.code
                if error is not None
                else (registry_codes[0] if registry_codes else "XDSMissingDocument")
            )
            for wanted in requested:
                doc = docs.get(wanted.unique_id)
                if doc is not None and doc.state == DocumentState.FOUND.value:
                    doc.state, doc.error_code = DocumentState.FAILED.value, missing_code
                    doc.updated_at = utcnow()
            row.documents_retrieved += len(stored)
            if error is not None:
                row.error_code, row.reason = error.code, error.message
            elif len(stored) < len(requested) and row.error_code is None:
                row.error_code = missing_code
                row.reason = f"{len(requested) - len(stored)} of {len(requested)} documents not retrieved"
            if record is not None:
                if error is not None or not stored:
                    outcome = Outcome.SERIOUS_FAILURE
                elif len(stored) < len(requested):
                    outcome = Outcome.MINOR_FAILURE
                else:
                    outcome = Outcome.SUCCESS
                self.audit.record(
                    session,
                    tenant,
                    TransactionEvent(
                        transaction=Transaction.ITI_39,
                        direction=Direction.INITIATING,
                        outcome=outcome,
                        requestor=_requestor(user, record.assertion_id, self.home_community_id),
                        remote=remote,
                        error_codes=(error.code,) if error is not None else registry_codes,
                        patients=self._patients(session, job, patient),
                        documents=tuple(refs),
                        message_id=record.message_id,
                        relates_to=record.relates_to,
                        latency_ms=record.latency_ms,
                        request_bytes=record.request_bytes,
                        response_bytes=record.response_bytes,
                        occurred_at=record.occurred_at,
                    ),
                )
            return self._progress(session, job, row), stored

    def finish_gateway(self, job_id: uuid.UUID, hcid: str) -> Progress:
        """The gateway's part is over: ``ok`` when every found document is held, else ``partial``."""
        with self.database.session() as session, session.begin():
            job = self._job(session, job_id)
            row = self._gateway(session, job_id, hcid)
            failed = session.scalar(
                select(func.count()).where(
                    PullJobDocument.job_id == job_id,
                    PullJobDocument.home_community_id == hcid,
                    PullJobDocument.state == DocumentState.FAILED.value,
                )
            )
            row.stage = GatewayStage.DONE.value
            if row.outcome is None:
                row.outcome = (GatewayOutcome.PARTIAL if failed else GatewayOutcome.OK).value
            return self._progress(session, job, row)

    def fail_gateway(
        self, job_id: uuid.UUID, hcid: str, error: ExchangeError, *, code: str | None = None
    ) -> Progress:
        """A gateway stopped without an exchange to record (no endpoint, an unexpected error); ``code``
        overrides the error's own."""
        with self.database.session() as session, session.begin():
            job = self._job(session, job_id)
            row = self._gateway(session, job_id, hcid)
            _fail(row, error)
            if code is not None:
                row.error_code = code
            return self._progress(session, job, row)

    # --- conversion and completion ------------------------------------------------------------------

    def documents_to_convert(self, job_id: uuid.UUID) -> list[tuple[int, uuid.UUID, str, str, bool]]:
        """(job document id, raw document id, media type, unique id, already converted) of every held,
        unconverted document of the job."""
        with self.database.session() as session:
            job = self._job(session, job_id)
            rows = session.execute(
                select(
                    PullJobDocument.id,
                    PullJobDocument.raw_document_id,
                    PullJobDocument.mime_type,
                    PullJobDocument.unique_id,
                )
                .where(
                    PullJobDocument.job_id == job.id,
                    PullJobDocument.state == DocumentState.RETRIEVED.value,
                    PullJobDocument.raw_document_id.is_not(None),
                )
                .order_by(PullJobDocument.id)
            ).all()
            converted = set(
                session.scalars(
                    select(FhirResource.source_document_id).where(
                        FhirResource.tenant_id == job.tenant_id,
                        FhirResource.source_document_id.in_([r[1] for r in rows]),
                    )
                )
            )
            return [
                (doc_id, raw_id, mime, unique_id, raw_id in converted)
                for doc_id, raw_id, mime, unique_id in rows
                if raw_id
            ]

    def load_content(self, raw_id: uuid.UUID) -> bytes:
        with self.database.session() as session:
            content = session.scalar(select(RawDocument.content).where(RawDocument.id == raw_id))
            assert content is not None
            return content

    def record_conversion(
        self,
        job_id: uuid.UUID,
        doc_id: int,
        raw_id: uuid.UUID,
        *,
        resources: Sequence[dict[str, object]] | None,
        state: DocumentState,
        error_code: str | None = None,
    ) -> Progress:
        """Keep one document's converted resources (``scope`` = the raw document; upserted by type and id, so
        converting twice changes nothing) and mark the document."""
        with self.database.session() as session, session.begin():
            job = self._job(session, job_id)
            doc = session.get(PullJobDocument, doc_id)
            assert doc is not None
            if resources is not None:
                _upsert(session, job, f"doc:{raw_id.hex}", raw_id, resources)
                doc.resources = len(resources)
            elif state is DocumentState.CONVERTED:
                doc.resources = (
                    session.scalar(
                        select(func.count()).where(
                            FhirResource.tenant_id == job.tenant_id, FhirResource.source_document_id == raw_id
                        )
                    )
                    or 0
                )
            doc.state, doc.error_code, doc.updated_at = state.value, error_code, utcnow()
            return self._progress(session, job)

    def patient_bundles(self, patient_id: uuid.UUID) -> list[dict[str, object]]:
        """Every converted document of the patient (from any pull) as a Bundle, rebuilt from the stored
        per-document resources in their stored order."""
        with self.database.session() as session:
            tenant = self._tenant(session)
            raw_ids = set(
                session.scalars(
                    select(PullJobDocument.raw_document_id)
                    .join(PullJob, PullJob.id == PullJobDocument.job_id)
                    .where(
                        PullJob.tenant_id == tenant.id,
                        PullJob.patient_id == patient_id,
                        PullJobDocument.state == DocumentState.CONVERTED.value,
                    )
                )
            )
            rows = session.execute(
                select(FhirResource.source_document_id, FhirResource.content)
                .where(
                    FhirResource.tenant_id == tenant.id,
                    FhirResource.source_document_id.in_([r for r in raw_ids if r is not None]),
                )
                .order_by(FhirResource.id)
            ).all()
            grouped: dict[uuid.UUID, list[dict[str, object]]] = {}
            for raw_id, content in rows:
                if raw_id is not None:
                    grouped.setdefault(raw_id, []).append(content)
            return [
                {
                    "resourceType": "Bundle",
                    "id": f"doc-{raw_id.hex}",
                    "type": "collection",
                    "entry": [{"fullUrl": f"urn:uuid:{r['id']}", "resource": r} for r in resources],
                }
                for raw_id, resources in sorted(grouped.items(), key=lambda item: item[0].hex)
            ]

    def complete(
        self,
        job_id: uuid.UUID,
        consolidated: Sequence[dict[str, object]],
        *,
        wall_ms: int,
    ) -> Progress:
        """Replace the patient's consolidated resources, mark the job ``done`` and audit its completion."""
        with self.database.session() as session, session.begin():
            job = self._job(session, job_id)
            tenant = self._tenant(session)
            scope = f"patient:{job.patient_id.hex}"
            session.execute(
                delete(FhirResource).where(
                    FhirResource.tenant_id == job.tenant_id, FhirResource.scope == scope
                )
            )
            _upsert(session, job, scope, None, consolidated)
            job.resources_stored = len(consolidated)
            job.state = JobState.DONE.value
            job.finished_at = utcnow()
            progress = self._progress(session, job)
            request = request_from_json(job.request)
            communities = session.scalars(
                select(PullJobGateway.home_community_id).where(
                    PullJobGateway.job_id == job.id, PullJobGateway.remote_patient_id.is_not(None)
                )
            )
            docs = session.execute(
                select(
                    PullJobDocument.unique_id,
                    PullJobDocument.repository_id,
                    PullJobDocument.home_community_id,
                )
                .where(PullJobDocument.job_id == job.id, PullJobDocument.raw_document_id.is_not(None))
                .order_by(PullJobDocument.id)
            ).all()
            failed = progress.counters.gateways_failed + progress.counters.documents_failed
            self.audit.record(
                session,
                tenant,
                PullJobEvent(
                    job_id=str(job.id),
                    stage=PullStage.COMPLETED,
                    outcome=Outcome.MINOR_FAILURE if failed else Outcome.SUCCESS,
                    requestor=_requestor(request.user, None, self.home_community_id),
                    patients=self._patients(session, job),
                    communities=tuple(communities),
                    documents=tuple(
                        DocumentRef(unique_id=u, repository_id=r, home_community_id=h) for u, r, h in docs
                    ),
                    latency_ms=wall_ms,
                ),
            )
            return progress

    def fail_job(self, job_id: uuid.UUID, code: str, detail: str) -> None:
        """An unexpected error stopped the job for good: ``failed`` with the code, audited."""
        with self.database.session() as session, session.begin():
            job = self._job(session, job_id)
            job.state, job.error_code, job.error_detail = JobState.FAILED.value, code, detail[:2000]
            job.finished_at = utcnow()
            self._progress(session, job)
            request = request_from_json(job.request)
            self.audit.record(
                session,
                self._tenant(session),
                PullJobEvent(
                    job_id=str(job.id),
                    stage=PullStage.FAILED,
                    outcome=Outcome.MAJOR_FAILURE,
                    requestor=_requestor(request.user, None, self.home_community_id),
                    patients=self._patients(session, job),
                    error_codes=(code,),
                ),
            )

    def reports(self, job_id: uuid.UUID) -> tuple[JobState, JobCounters, tuple[GatewayReport, ...], PullJob]:
        """The job as it stands (read only)."""
        with self.database.session() as session:
            job = self._job(session, job_id)
            rows = session.scalars(
                select(PullJobGateway).where(PullJobGateway.job_id == job_id).order_by(PullJobGateway.id)
            )
            reports = tuple(_report(r) for r in rows)
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
                documents_reused=session.scalar(
                    select(func.count()).where(
                        PullJobDocument.job_id == job_id,
                        PullJobDocument.reused.is_(True),
                        PullJobDocument.raw_document_id.is_not(None),
                    )
                )
                or 0,
                resources_stored=job.resources_stored,
            )
            session.expunge(job)
            return JobState(job.state), counters, reports, job

    def consolidated(self, patient_id: uuid.UUID) -> list[dict[str, object]]:
        with self.database.session() as session:
            tenant = self._tenant(session)
            return list(
                session.scalars(
                    select(FhirResource.content)
                    .where(
                        FhirResource.tenant_id == tenant.id, FhirResource.scope == f"patient:{patient_id.hex}"
                    )
                    .order_by(FhirResource.id)
                )
            )


def _account(row: PullJobGateway, record: ExchangeRecord | None) -> None:
    if record is not None:
        row.exchanges += 1
        row.latency_ms += record.latency_ms


def _fail(row: PullJobGateway, error: ExchangeError, record: ExchangeRecord | None = None) -> None:
    from gateway.initiating.errors import CircuitOpenError, GatewayTimeoutError

    row.stage = GatewayStage.DONE.value
    if isinstance(error, CircuitOpenError):
        row.outcome = GatewayOutcome.CIRCUIT_OPEN.value
    elif isinstance(error, GatewayTimeoutError):
        row.outcome = GatewayOutcome.TIMEOUT.value
    else:
        row.outcome = GatewayOutcome.FAILED.value
    attempts = record.attempts if record is not None else error.detail.get("attempts")
    suffix = f" after {attempts} attempts" if isinstance(attempts, int) and attempts > 1 else ""
    row.error_code, row.reason = error.code, f"{error.message}{suffix}"


def _integrity(doc: PullJobDocument, content: bytes | memoryview) -> str | None:
    """A document whose size or SHA-1 differs from its ITI-38 metadata is refused (``size``/``hash``)."""
    if doc.size is not None and doc.size != len(content):
        return "size-mismatch"
    sha1 = doc.sha1
    if sha1 and len(sha1) == 40 and hashlib.sha1(content, usedforsecurity=False).hexdigest() != sha1.lower():
        return "hash-mismatch"
    return None


def _upsert(
    session: Session,
    job: PullJob,
    scope: str,
    source: uuid.UUID | None,
    resources: Iterable[dict[str, object]],
) -> None:
    existing = {
        (r.resource_type, r.resource_id): r
        for r in session.scalars(
            select(FhirResource).where(FhirResource.tenant_id == job.tenant_id, FhirResource.scope == scope)
        )
    }
    now = utcnow()
    for resource in resources:
        key = (str(resource["resourceType"]), str(resource["id"]))
        row = existing.get(key)
        if row is None:
            session.add(
                FhirResource(
                    tenant_id=job.tenant_id,
                    patient_id=job.patient_id,
                    scope=scope,
                    resource_type=key[0],
                    resource_id=key[1],
                    source_document_id=source,
                    content=dict(resource),
                    updated_at=now,
                )
            )
            existing[key] = FhirResource()
        elif row.content != resource:
            row.content, row.updated_at = dict(resource), now


def _report(row: PullJobGateway) -> GatewayReport:
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
