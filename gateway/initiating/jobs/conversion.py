"""Conversion and completion: the held documents to convert, their FHIR resources kept per document, the
patient's Bundles, and the consolidated record that completes the job.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.orm import Session

from gateway.audit import (
    DocumentRef,
    Outcome,
    PullStage,
)
from gateway.initiating.codec import request_from_json
from gateway.initiating.jobs.base import JobStoreBase, Step
from gateway.initiating.jobs.plans import DocumentToConvert, Progress
from gateway.initiating.models import (
    ACTIVE_STATES,
    DocumentState,
    JobState,
)
from gateway.store import (
    FhirResource,
    PullJob,
    PullJobDocument,
    PullJobGateway,
    RawDocument,
    Tenant,
)
from gateway.store.models import utcnow
from gateway.store.pull import record_scope
from xca.errors import DocumentPatientMismatchError

__all__ = [
    "ConversionSteps",
]

_WITH_RESOURCES = [DocumentState.CONVERTED.value, DocumentState.STORED.value]


def _record_sources(tenant_id: int, patient_id: uuid.UUID) -> tuple[Any, ...]:
    """Conditions on :class:`FhirResource` for the resources a patient's record is made of: those of the
    patient's documents that any pull converted or described (from any job)."""
    held = (
        select(PullJobDocument.raw_document_id)
        .join(PullJob, PullJob.id == PullJobDocument.job_id)
        .where(
            PullJob.tenant_id == tenant_id,
            PullJob.patient_id == patient_id,
            # Stored, not converted (a PDF, a refused C-CDA): described by a DocumentReference.
            PullJobDocument.state.in_(_WITH_RESOURCES),
            PullJobDocument.raw_document_id.is_not(None),
        )
    )
    return (
        FhirResource.tenant_id == tenant_id,
        # The resources are the patient's own as well as the documents: a document id shared with another
        # patient (a pull recorded before ownership was checked) brings nothing of theirs.
        FhirResource.patient_id == patient_id,
        FhirResource.source_document_id.in_(held),
    )


def record_document_count(session: Session, tenant_id: int, patient_id: uuid.UUID) -> int:
    """How many documents the patient's record would be made of now (one Bundle each in
    :meth:`ConversionSteps.patient_bundles`): a record published from as many holds them all, since documents
    are only ever added."""
    return int(
        session.scalar(
            select(func.count(func.distinct(FhirResource.source_document_id))).where(
                *_record_sources(tenant_id, patient_id)
            )
        )
        or 0
    )


class ConversionSteps(JobStoreBase):
    """Converting a job's documents and completing it."""

    def documents_to_convert(self, job_id: uuid.UUID) -> list[DocumentToConvert]:
        """Every held, unconverted document of the job."""
        with self.database.session() as session:
            job = self._job(session, job_id)
            rows = session.execute(
                select(
                    PullJobDocument.id,
                    PullJobDocument.raw_document_id,
                    PullJobDocument.mime_type,
                    PullJobDocument.home_community_id,
                    PullJobDocument.unique_id,
                    PullJobDocument.title,
                    PullJobDocument.type_code,
                    PullJobDocument.type_code_system,
                    PullJobDocument.type_code_display,
                    PullJobDocument.creation_time,
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
                    # Converted for this patient only: another patient's conversion of the same bytes is
                    # never counted (nor read) as this one's.
                    select(FhirResource.source_document_id).where(
                        FhirResource.tenant_id == job.tenant_id,
                        FhirResource.patient_id == job.patient_id,
                        FhirResource.source_document_id.in_([r[1] for r in rows]),
                    )
                )
            )
            return [
                DocumentToConvert(
                    doc_id,
                    raw_id,
                    mime,
                    hcid,
                    unique_id,
                    title,
                    raw_id in converted,
                    type_code=code,
                    type_code_system=system,
                    type_code_display=display,
                    creation_time=created,
                )
                for doc_id, raw_id, mime, hcid, unique_id, title, code, system, display, created in rows
                if raw_id
            ]

    def load_content(self, raw_id: uuid.UUID) -> bytes:
        with self.database.session() as session:
            content = session.scalar(select(RawDocument.content).where(RawDocument.id == raw_id))
            assert content is not None
            return content

    def conversion_step(
        self,
        doc_id: int,
        raw_id: uuid.UUID,
        *,
        resources: Sequence[dict[str, object]] | None,
        state: DocumentState,
        error_code: str | None = None,
    ) -> Step[None]:
        """Keep one document's converted resources (``scope`` = the raw document; upserted by type and id, so
        converting twice changes nothing) and mark the document."""

        def step(session: Session, job: PullJob, tenant: Tenant) -> tuple[None, None]:
            doc = session.get(PullJobDocument, doc_id)
            assert doc is not None
            if resources is not None:
                _upsert(session, job, f"doc:{raw_id.hex}", raw_id, resources)
                doc.resources = len(resources)
            elif state is DocumentState.CONVERTED:
                doc.resources = (
                    session.scalar(
                        select(func.count()).where(
                            FhirResource.tenant_id == job.tenant_id,
                            FhirResource.patient_id == job.patient_id,
                            FhirResource.source_document_id == raw_id,
                        )
                    )
                    or 0
                )
            doc.state, doc.error_code, doc.updated_at = state.value, error_code, utcnow()
            return None, None

        return step

    def patient_bundles(self, patient_id: uuid.UUID) -> tuple[list[dict[str, object]], frozenset[str]]:
        """Every converted or described document of the patient (from any pull) as a Bundle, rebuilt from
        the stored per-document resources in their stored order; and the ids of the patient's published
        record (what clients may have read already, for consolidation to keep)."""
        with self.database.session() as session:
            tenant = self._tenant(session)
            rows = session.execute(
                select(FhirResource.source_document_id, FhirResource.content)
                .where(*_record_sources(tenant.id, patient_id))
                .order_by(FhirResource.id)
            ).all()
            grouped: dict[uuid.UUID, list[dict[str, object]]] = {}
            for raw_id, content in rows:
                if raw_id is not None:
                    grouped.setdefault(raw_id, []).append(content)
            bundles: list[dict[str, object]] = [
                {
                    "resourceType": "Bundle",
                    "id": f"doc-{raw_id.hex}",
                    "type": "collection",
                    "entry": [{"fullUrl": f"urn:uuid:{r['id']}", "resource": r} for r in resources],
                }
                for raw_id, resources in sorted(grouped.items(), key=lambda item: item[0].hex)
            ]
            published = session.scalars(
                select(FhirResource.resource_id).where(
                    FhirResource.tenant_id == tenant.id, FhirResource.scope == record_scope(patient_id)
                )
            )
            return bundles, frozenset(published)

    def publish_record(
        self,
        job_id: uuid.UUID,
        consolidated: Sequence[dict[str, object]],
        *,
        record_ms: int,
        late: Iterable[str] | None,
        documents: int,
    ) -> Progress:
        """Publish the patient's record before the job ends (:mod:`gateway.initiating.settle`): replace the
        consolidated resources, note when (the first time only) and which gateways were still asked
        (``late``), and audit what the record was made of. The job keeps running. ``late=None``: the record
        was published before and grows by what late gateways sent since (audited as an update)."""
        with self.database.session() as session, session.begin():
            job = self._job(session, job_id, lock=True)
            if JobState(job.state) not in ACTIVE_STATES:
                return self._progress(session, job)
            self._replace_record(session, job, consolidated)
            if job.record_ms is None:
                job.record_ms = record_ms
            names = sorted(late or ())
            if names:
                session.execute(
                    update(PullJobGateway)
                    .where(PullJobGateway.job_id == job.id, PullJobGateway.home_community_id.in_(names))
                    .values(late=True)
                )
            progress = self._progress(session, job)
            job.record_documents = documents  # what the record was made of (see record_document_count)
            stage = PullStage.RECORD_READY if late is not None else PullStage.RECORD_UPDATED
            self._audit_record(session, job, progress, stage, latency_ms=record_ms)
            return progress

    def complete(
        self,
        job_id: uuid.UUID,
        consolidated: Sequence[dict[str, object]] | None,
        *,
        wall_ms: int,
    ) -> Progress:
        """Replace the patient's consolidated resources (``None``: keep the record published earlier, nothing
        was added since), mark the job ``done`` and audit its completion."""
        with self.database.session() as session, session.begin():
            job = self._job(session, job_id, lock=True)
            if job.state == JobState.CANCELLED.value:
                # Cancelled after the worker's last check: the cancel stands, nothing is consolidated.
                return self._progress(session, job)
            if consolidated is not None:
                self._replace_record(session, job, consolidated)
            job.state = JobState.DONE.value
            job.finished_at = utcnow()
            progress = self._progress(session, job)
            self._audit_record(session, job, progress, PullStage.COMPLETED, latency_ms=wall_ms)
            return progress

    def _replace_record(
        self, session: Session, job: PullJob, consolidated: Sequence[dict[str, object]]
    ) -> None:
        scope = record_scope(job.patient_id)
        session.execute(
            delete(FhirResource).where(FhirResource.tenant_id == job.tenant_id, FhirResource.scope == scope)
        )
        _upsert(session, job, scope, None, consolidated)
        job.resources_stored = len(consolidated)

    def _audit_record(
        self, session: Session, job: PullJob, progress: Progress, stage: PullStage, *, latency_ms: int
    ) -> None:
        """The audit record of a published record: the communities asked and the documents it holds."""
        tenant = self._tenant(session)
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
        # Documents refused as another patient's are named in the completion record as well as in the
        # exchange that listed them: the job's own trail shows why its record is smaller.
        refused = session.scalar(
            select(func.count()).where(
                PullJobDocument.job_id == job.id,
                PullJobDocument.error_code == DocumentPatientMismatchError.code,
            )
        )
        self._audit_job(
            session,
            tenant,
            job,
            request.user,
            stage,
            Outcome.MINOR_FAILURE if failed else Outcome.SUCCESS,
            communities=tuple(communities),
            documents=tuple(
                DocumentRef(unique_id=u, repository_id=r, home_community_id=h) for u, r, h in docs
            ),
            error_codes=(DocumentPatientMismatchError.code,) if refused else (),
            latency_ms=latency_ms,
        )

    def consolidated(self, patient_id: uuid.UUID) -> list[dict[str, object]]:
        with self.database.session() as session:
            tenant = self._tenant(session)
            return list(
                session.scalars(
                    select(FhirResource.content)
                    .where(
                        FhirResource.tenant_id == tenant.id, FhirResource.scope == record_scope(patient_id)
                    )
                    .order_by(FhirResource.id)
                )
            )


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
        # Never rewrite another patient's rows: a scope held by someone else fails the step (its unique
        # key) rather than mixing two records.
        if r.patient_id == job.patient_id
    }
    now = utcnow()
    added: list[dict[str, object]] = []
    seen: set[tuple[str, str]] = set()
    for resource in resources:
        key = (str(resource["resourceType"]), str(resource["id"]))
        row = existing.get(key)
        if row is None:
            if key not in seen:
                seen.add(key)
                added.append(
                    {
                        "tenant_id": job.tenant_id,
                        "patient_id": job.patient_id,
                        "scope": scope,
                        "resource_type": key[0],
                        "resource_id": key[1],
                        "source_document_id": source,
                        "content": dict(resource),
                        "updated_at": now,
                    }
                )
        elif row.content != resource:
            row.content, row.updated_at = dict(resource), now
    if added:
        # One multi-row INSERT in the given order (ids follow it, and readers order by id): a unit-of-work
        # object per resource cost more than converting the document.
        session.execute(insert(FhirResource), added)
