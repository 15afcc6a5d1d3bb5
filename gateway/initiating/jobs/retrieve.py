"""Retrieve (ITI-39): the documents still to fetch, each batch checked and stored once; a gateway's end."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from gateway.audit import (
    Direction,
    DocumentRef,
    Outcome,
    RemotePeer,
    Transaction,
    TransactionEvent,
)
from gateway.initiating.exchange import ExchangeRecord
from gateway.initiating.jobs.base import JobStoreBase, Step, _account, _fail, _requestor
from gateway.initiating.jobs.held import held_documents, listing_mismatch, matches_listing
from gateway.initiating.jobs.plans import PendingDocument
from gateway.initiating.models import (
    DocumentState,
    GatewayOutcome,
    GatewayStage,
)
from gateway.security import RequestingUser
from gateway.store import (
    PullJob,
    PullJobDocument,
    PullJobGateway,
    Tenant,
)
from gateway.store.documents import store_raw_document
from gateway.store.models import utcnow
from xca import iti39
from xca.errors import (
    DocumentConflictError,
    DocumentPatientMismatchError,
    ExchangeError,
)
from xca.ids import Cx

__all__ = [
    "RetrieveSteps",
]


class RetrieveSteps(JobStoreBase):
    """The ITI-39 steps of a gateway and its end."""

    def documents_to_retrieve_step(self, hcid: str) -> Step[list[PendingDocument]]:
        """The gateway's ``found`` documents not yet held. A document already in the raw store (an earlier
        pull, or an earlier run of this job) is marked retrieved (``reused``) without asking again only when
        it was stored for this job's patient and agrees with the size and hash ITI-38 listed; otherwise it is
        fetched again, and the retrieve step decides (a content change is a conflict, another patient's
        document is refused)."""

        def step(
            session: Session, job: PullJob, tenant: Tenant
        ) -> tuple[PullJobGateway, list[PendingDocument]]:
            job_id = job.id
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
            held = held_documents(session, tenant.id, hcid, [r.unique_id for r in rows])
            pending: list[PendingDocument] = []
            for doc in rows:
                kept = held.get(doc.unique_id)
                if (
                    kept is not None
                    and kept.owners == {job.patient_id}
                    and matches_listing(session, kept, size=doc.size, sha1=doc.sha1)
                ):
                    doc.state, doc.reused, doc.raw_document_id = DocumentState.RETRIEVED.value, True, kept.id
                    doc.updated_at = utcnow()
                else:
                    pending.append(PendingDocument(hcid, doc.repository_id, doc.unique_id))
            return self._gateway(session, job_id, hcid), pending

        return step

    def retrieve_step(
        self,
        hcid: str,
        *,
        user: RequestingUser,
        requested: Sequence[PendingDocument],
        record: ExchangeRecord | None,
        response: iti39.RetrieveResponse | None,
        error: ExchangeError | None,
        remote: RemotePeer,
        patient: Cx,
    ) -> Step[list[uuid.UUID]]:
        """One ITI-39 batch: each returned document checked against its ITI-38 size and hash and stored once;
        the rest marked failed with the reason; plus the exchange's audit record. Returns the raw document ids
        stored (for conversion)."""

        def step(session: Session, job: PullJob, tenant: Tenant) -> tuple[PullJobGateway, list[uuid.UUID]]:
            job_id = job.id
            row = self._gateway(session, job_id, hcid)
            _account(row, record, error)
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
            held = held_documents(session, tenant.id, hcid, [d.document_unique_id for d in returned])
            foreign = 0
            for document in returned:
                doc = docs.get(document.document_unique_id)
                if doc is None or doc.state != DocumentState.FOUND.value:
                    continue
                content = document.content
                problem = _integrity(doc, content)
                if problem is not None:
                    doc.state, doc.error_code = DocumentState.FAILED.value, problem
                    continue
                prior = held.get(doc.unique_id)
                if prior is not None and prior.foreign_to(job.patient_id):
                    # Stored for another local patient since ITI-38 listed it (the query step refuses the
                    # ones held then): the same bytes would otherwise be attached to this patient too.
                    doc.state, doc.error_code = DocumentState.FAILED.value, DocumentPatientMismatchError.code
                    doc.updated_at = utcnow()
                    foreign += 1
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
            if foreign:
                registry_codes = (*registry_codes, DocumentPatientMismatchError.code)
            if error is not None:
                row.error_code, row.reason = error.code, error.message
            elif foreign:
                row.error_code = DocumentPatientMismatchError.code
                row.reason = (
                    f"{foreign} retrieved document(s) already held for another local patient; not attached"
                )
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
                self._audit(
                    session,
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
                        job_id=str(job.id),
                        occurred_at=record.occurred_at,
                    ),
                )
            return row, stored

        return step

    def finish_gateway_step(self, hcid: str) -> Step[None]:
        """The gateway's part is over: ``ok`` when every found document is held, else ``partial``."""

        def step(session: Session, job: PullJob, tenant: Tenant) -> tuple[PullJobGateway, None]:
            job_id = job.id
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
            return row, None

        return step

    def fail_gateway_step(self, hcid: str, error: ExchangeError, *, code: str | None = None) -> Step[None]:
        """A gateway stopped without an exchange to record (no endpoint, an unexpected error); ``code``
        overrides the error's own."""

        def step(session: Session, job: PullJob, tenant: Tenant) -> tuple[PullJobGateway, None]:
            row = self._gateway(session, job.id, hcid)
            _fail(row, error)
            if code is not None:
                row.error_code = code
            return row, None

        return step


def _integrity(doc: PullJobDocument, content: bytes | memoryview) -> str | None:
    """A document whose size or SHA-1 differs from its ITI-38 metadata is refused (``size``/``hash``)."""
    return listing_mismatch(doc.size, doc.sha1, length=len(content), content=lambda: content)
