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

_TEXT = 255
"""Length of the type code columns of ``pull_job_document``."""


def _type_and_time(entry: iti38.DocumentEntry) -> dict[str, str | None]:
    """The listed ``typeCode`` and ``creationTime`` as a document's row keeps them. A code or coding scheme
    too long for its column is dropped (cut short, it would name another code); the display name is cut like
    the title. The parser has already left out a code without its scheme and an impossible date."""
    code, created = entry.type_code, entry.creation_time
    kept: dict[str, str | None] = {
        "type_code": None,
        "type_code_system": None,
        "type_code_display": None,
        "creation_time": None,
    }
    if code is not None:
        kept["type_code"] = code.code if len(code.code) <= _TEXT else None
        kept["type_code_system"] = code.scheme if len(code.scheme) <= _TEXT else None
        kept["type_code_display"] = (code.display or "").strip()[:_TEXT] or None
    if created is not None:
        moment = created.moment
        # Formatted by hand: strftime("%Y") does not pad a year before 1000 on every platform.
        digits = f"{moment.year:04d}{moment:%m%d%H%M%S}"
        kept["creation_time"] = digits[: int(created.precision)]
    return kept


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
            _account(row, record, error)
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
                            **_type_and_time(entry),
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
                    # The partner's own words about why (its first error's codeContext), when it gave any.
                    said = next((e.code_context for e in response.errors if e.code_context), "")
                    row.reason = "ITI-38 answered Failure" + (f": {said[:200]}" if said else "")
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
