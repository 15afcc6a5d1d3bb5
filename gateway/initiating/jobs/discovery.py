"""Discovery (ITI-55): reuse or drop a link from an earlier pull, record the XCPD outcome and link."""

from __future__ import annotations

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from gateway.audit import (
    Direction,
    Outcome,
    QueryParameter,
    RemotePeer,
    Transaction,
    TransactionEvent,
)
from gateway.initiating.evaluate import MatchDecision
from gateway.initiating.exchange import ExchangeRecord
from gateway.initiating.jobs.base import JobStoreBase, Step, _account, _fail, _requestor
from gateway.initiating.models import (
    GatewayOutcome,
    GatewayStage,
)
from gateway.security import RequestingUser
from gateway.store import (
    PatientLink,
    PullJob,
    PullJobGateway,
    Tenant,
)
from gateway.store.models import utcnow
from xca.errors import (
    ExchangeError,
)
from xca.ids import Cx
from xca.iti55 import Demographics

__all__ = [
    "DiscoverySteps",
]


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


class DiscoverySteps(JobStoreBase):
    """The ITI-55 steps of a gateway."""

    def reuse_link_step(self, hcid: str, remote: Cx) -> Step[None]:
        """A link from an earlier pull: no ITI-55, straight to ITI-38."""

        def step(session: Session, job: PullJob, tenant: Tenant) -> tuple[PullJobGateway, None]:
            row = self._gateway(session, job.id, hcid)
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
            return row, None

        return step

    def drop_link_step(self, hcid: str) -> Step[None]:
        """The remote community no longer knows the linked id: forget the link and discover again."""

        def step(session: Session, job: PullJob, tenant: Tenant) -> tuple[PullJobGateway, None]:
            session.execute(
                delete(PatientLink).where(
                    PatientLink.tenant_id == job.tenant_id,
                    PatientLink.patient_id == job.patient_id,
                    PatientLink.home_community_id == hcid,
                )
            )
            row = self._gateway(session, job.id, hcid)
            row.stage = GatewayStage.PENDING.value
            row.link_reused = False
            row.remote_patient_id = row.remote_assigning_authority = None
            return row, None

        return step

    def discovery_step(
        self,
        hcid: str,
        *,
        user: RequestingUser,
        record: ExchangeRecord | None,
        decision: MatchDecision | None,
        error: ExchangeError | None,
        remote: RemotePeer,
        demographics: Demographics,
    ) -> Step[None]:
        """The ITI-55 outcome: a link and stage ``matched``, or the gateway done with its reason; plus the
        exchange's audit record."""

        def step(session: Session, job: PullJob, tenant: Tenant) -> tuple[PullJobGateway, None]:
            row = self._gateway(session, job.id, hcid)
            remote_id: Cx | None = None
            error_codes: tuple[str, ...] = ()
            outcome = Outcome.SUCCESS
            _account(row, record, error)
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
                self._audit(
                    session,
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
                        job_id=str(job.id),
                        occurred_at=record.occurred_at,
                    ),
                )
            return row, None

        return step

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
