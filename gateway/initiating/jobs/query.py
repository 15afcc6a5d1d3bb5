"""Query (ITI-38): record the documents a gateway lists."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from gateway.audit import (
    Direction,
    DocumentRef,
    Outcome,
    QueryParameter,
    RemotePeer,
    Transaction,
    TransactionEvent,
)
from gateway.initiating.exchange import ExchangeRecord
from gateway.initiating.jobs.base import JobStoreBase, Step, _account, _fail, _requestor
from gateway.initiating.jobs.held import held_documents
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
from xca import iti38
from xca.errors import (
    DocumentPatientMismatchError,
    ExchangeError,
)
from xca.ids import Cx
from xca.registry import ResponseStatus

__all__ = [
    "QuerySteps",
]


class QuerySteps(JobStoreBase):
    """The ITI-38 step of a gateway."""

    def query_step(
        self,
        hcid: str,
        *,
        user: RequestingUser,
        record: ExchangeRecord | None,
        response: iti38.QueryResponse | None,
        error: ExchangeError | None,
        remote: RemotePeer,
        patient: Cx,
    ) -> Step[None]:
        """The ITI-38 outcome: one ``found`` row per listed document and stage ``queried``, or the gateway
        done with its error; plus the exchange's audit record."""

        def step(session: Session, job: PullJob, tenant: Tenant) -> tuple[PullJobGateway, None]:
            job_id = job.id
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
                listed = [
                    e for e in response.documents if e.unique_id not in known and e.repository_unique_id
                ]
                held = held_documents(session, tenant.id, hcid, {e.unique_id for e in listed})
                foreign = 0
                for entry in listed:
                    if entry.unique_id in known or not entry.repository_unique_id:
                        continue
                    known.add(entry.unique_id)
                    state, error_code = DocumentState.FOUND.value, None
                    kept = held.get(entry.unique_id)
                    if kept is not None and kept.foreign_to(job.patient_id):
                        # Another local patient's document under the same id: attaching it would show that
                        # patient's record as this one's. Refused before anything is fetched.
                        state, error_code = DocumentState.FAILED.value, DocumentPatientMismatchError.code
                        foreign += 1
                    session.add(
                        PullJobDocument(
                            job_id=job_id,
                            home_community_id=hcid,
                            repository_id=entry.repository_unique_id,
                            unique_id=entry.unique_id,
                            state=state,
                            error_code=error_code,
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
                if foreign:
                    error_codes = (*error_codes, DocumentPatientMismatchError.code)
                    row.error_code = DocumentPatientMismatchError.code
                    row.reason = (
                        f"{foreign} listed document(s) already held for another local patient; not attached"
                    )
                    if outcome is Outcome.SUCCESS:
                        outcome = Outcome.MINOR_FAILURE
            if record is not None:
                self._audit(
                    session,
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
                        job_id=str(job.id),
                        occurred_at=record.occurred_at,
                    ),
                )
            return row, None

        return step
