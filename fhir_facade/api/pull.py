"""``POST /Patient/{id}/$pull`` and its status, ``GET /$pull-status/{job}``, as the FHIR asynchronous request
pattern.

The kick-off validates the Parameters body (``purposeOfUse`` required, one of the NHIN/TEFCA codes and the
one the client is registered for; optional ``period`` of document creation dates as strings; optional
repeated ``gateway``: homeCommunityIds to ask instead of the whole directory, each an active community of
the directory with an endpoint, else 400 before any job exists), persists a pull job with
:class:`gateway.initiating.PullService` for the requesting user, starts it on the API's background worker
(:mod:`.background`) and answers 202 with ``Content-Location`` to the status URL. The status URL answers 202
with ``Retry-After`` and ``X-Progress`` and a Parameters body of the progress while the job runs, 200 with a
Parameters of the per-gateway outcomes, counts and the ``$everything`` link when done, and 500 with an
OperationOutcome when the job failed. Another tenant's job is 404. Each call is audited.

``DELETE`` on the status URL cancels, as the Bulk Data Access IG's "delete a bulk data request" describes
for the asynchronous pattern: 202 with an OperationOutcome when the job was queued or running (the worker
stops before its next request; see :mod:`gateway.initiating.worker`); 404 for an unknown job, another
tenant's, or one already cancelled; 409 ``conflict`` (an error status with an OperationOutcome) for a job
already ``done`` or ``failed``: what was pulled stays. Afterwards the status URL answers 404 with an
OperationOutcome saying the job was cancelled, as the IG requires of a deleted request. The cancel (who,
when) is audited with the state change; the client's webhook hears ``pull.cancelled``.

The job is for the patient in the URL (``PullRequest.patient_id``), so the record lands on the registered
patient.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Depends
from sqlalchemy import func, select
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from fhir_facade.api.access import patient_ids, record_access
from fhir_facade.api.auth.principal import Principal, audit_refusal, requesting_user, require_operation
from fhir_facade.api.background import Worker
from fhir_facade.api.context import ApiContext, Context, Info
from fhir_facade.api.errors import (
    ApiError,
    InsufficientScopeError,
    InternalApiError,
    InvalidRequestError,
    Issue,
    ResourceConflictError,
    ResourceNotFoundError,
    http_status,
    operation_outcome,
)
from fhir_facade.api.http import FhirResponse, negotiate, read_resource, response_media_type
from fhir_facade.api.patients.store import patient_in_tenant
from fhir_facade.api.pull_parameters import check_gateways, parse_parameters
from fhir_facade.api.routing import FhirEndpoint, FhirOperation, Interaction, fhir_route
from gateway.audit import ApiInteraction
from gateway.directory import Community, SelectionSpec, SelectionStrategy, list_communities
from gateway.initiating import ACTIVE_STATES, JobState, JobStore, PullRequest
from gateway.security import RequestingUser
from gateway.store.api import ApiClient
from gateway.store.api_jobs import ApiPull
from gateway.store.demographics import demographics_from_json
from gateway.store.models import Patient, Tenant
from gateway.store.pull import PullJob, PullJobDocument, PullJobGateway
from xca.errors import HieGatewayError, JobCancelledError, JobFinishedError, UnknownJobError

__all__ = ["PATIENT_PULL", "router"]

router = APIRouter()
RETRY_AFTER = "1"
_ACTIVE = tuple(state.value for state in ACTIVE_STATES)

PATIENT_PULL = FhirEndpoint(
    "Patient",
    Interaction.OPERATION,
    "Pull the patient's records from the network (asynchronous: 202 and a status URL)",
    operation=FhirOperation(
        "pull",
        "urn:hie-gateway:fhir:OperationDefinition:Patient-pull",
        "Find the patient across the network, retrieve, convert and consolidate every document; Parameters "
        "purposeOfUse (required), period, gateway (repeated homeCommunityId); DELETE on the status URL "
        "cancels",
        instance=True,
    ),
)


def worker_of(request: Request) -> Worker:
    worker: Worker = request.app.state.worker
    return worker


def _directory(context: ApiContext) -> list[Community]:
    with context.database.session() as session:
        return list_communities(session)


def _client_pk(session: Any, principal: Principal) -> int:
    pk = session.scalar(select(ApiClient.id).where(ApiClient.client_id == principal.client_id))
    assert pk is not None
    return int(pk)


@router.post(
    "/Patient/{patient_id}/$pull", status_code=202, summary="Pull records", dependencies=[Depends(negotiate)]
)
@fhir_route(PATIENT_PULL)
async def pull(
    patient_id: str,
    request: Request,
    principal: Annotated[Principal, Depends(require_operation("Patient", "$pull"))],
    user: Annotated[RequestingUser, Depends(requesting_user)],
    context: Context,
    info: Info,
) -> Response:
    parameters = parse_parameters(await read_resource(request, "Parameters"))
    if parameters.purpose.value != user.purpose_of_use.value:
        refused = InsufficientScopeError(
            f"this client is registered for purpose of use {user.purpose_of_use.value}, not "
            f"{parameters.purpose.value}",
            expression=("purposeOfUse",),
        )

        def audit() -> None:
            audit_refusal(
                context, principal, request, info,
                resource="Patient", interaction="operation", error=refused, operation="$pull",
            )  # fmt: skip

        await run_in_threadpool(audit)
        raise refused
    if parameters.gateways:
        check_gateways(await run_in_threadpool(_directory, context), parameters.gateways)
    worker = worker_of(request)

    def work() -> tuple[uuid.UUID | None, Tenant, bool]:
        with context.transaction() as session:
            tenant = context.tenant(session, principal.tenant_id)
            patient = patient_in_tenant(session, tenant, patient_id)
            named = patient_ids([patient] if patient else [], context.assigning_authority)
            if patient is None:
                record_access(
                    context, session, tenant, principal, request, info,
                    interaction=ApiInteraction.OPERATION, resource_type="Patient", status=404,
                    resource_id=patient_id[:64], operation="$pull", error_code=ResourceNotFoundError.code,
                )  # fmt: skip
                session.expunge(tenant)
                return None, tenant, False
            demographics = demographics_from_json(patient.demographics)
            registered = patient.id
            session.expunge(tenant)
        selection = (
            SelectionSpec(strategy=SelectionStrategy.EXPLICIT, communities=parameters.gateways)
            if parameters.gateways
            else SelectionSpec()
        )
        pull_request = PullRequest(
            demographics=demographics,
            user=user,
            selection=selection,
            date_from=parameters.date_from,
            date_to=parameters.date_to,
            patient_id=registered,
        )
        service = worker.service(tenant)
        same = service.unfinished_job_for(pull_request)
        with context.transaction() as session:
            # The same pull asked again by the same client while it runs (a retried POST, a second click):
            # that job answers, rather than a second one asking every gateway again.
            client_pk = _client_pk(session, principal)
            earlier = session.get(ApiPull, same) if same is not None else None
            reused = earlier is not None and earlier.client_pk == client_pk
        if reused:
            assert same is not None
            job_id = same
        else:
            try:
                job_id = service.create_job(pull_request)
            except HieGatewayError as exc:
                raise InvalidRequestError(f"the pull cannot start: {exc.message}") from None
        with context.transaction() as session:
            tenant_row = context.tenant(session, principal.tenant_id)
            patient = patient_in_tenant(session, tenant_row, patient_id)
            assert patient is not None
            if not reused:
                session.add(ApiPull(job_id=job_id, tenant_id=tenant_row.id, client_pk=client_pk))
            record_access(
                context, session, tenant_row, principal, request, info,
                interaction=ApiInteraction.OPERATION, resource_type="Patient", status=202, patients=named,
                resource_id=str(patient.id), operation="$pull", job_id=str(job_id),
            )  # fmt: skip
        return job_id, tenant, reused

    job_id, tenant, reused = await run_in_threadpool(work)
    if job_id is None:
        raise ResourceNotFoundError(f"Patient/{patient_id[:64]} is not known")
    # Also for the same pull again: a job this process runs already is not run twice (the worker keeps
    # one run per job), one that stopped with an earlier process is resumed.
    worker.start_pull(tenant, job_id)
    status_url = f"{context.base_url}/$pull-status/{job_id}"
    said = (
        f"the same pull is already running as job {job_id}: its status URL answers"
        if reused
        else f"pull job {job_id} accepted"
    )
    body = operation_outcome([Issue("information", "informational", said)])
    return FhirResponse(
        body,
        status_code=202,
        headers={"Content-Location": status_url, "Retry-After": RETRY_AFTER},
        media_type=response_media_type(request),
    )


def _part(name: str, kind: str, value: object) -> dict[str, Any]:
    return {"name": name, f"value{kind}": value}


def _counts(job: PullJob) -> list[dict[str, Any]]:
    fields = (
        ("gatewaysSelected", job.gateways_selected),
        ("gatewaysAnswered", job.gateways_answered),
        ("gatewaysMatched", job.gateways_matched),
        ("gatewaysFailed", job.gateways_failed),
        ("documentsFound", job.documents_found),
        ("documentsRetrieved", job.documents_retrieved),
        ("documentsConverted", job.documents_converted),
        ("documentsFailed", job.documents_failed),
        ("resourcesStored", job.resources_stored),
    )
    return [_part(name, "Integer", value) for name, value in fields]


def _oid(value: str) -> dict[str, str]:
    return {"system": "urn:ietf:rfc:3986", "value": f"urn:oid:{value}"}


def _gateway(row: PullJobGateway) -> dict[str, Any]:
    parts = [
        _part("homeCommunityId", "Identifier", _oid(row.home_community_id)),
        _part("name", "String", row.name),
        _part("stage", "Code", row.stage),
    ]  # fmt: skip
    if row.outcome:
        parts.append(_part("outcome", "Code", row.outcome))
    if row.reason:
        parts.append(_part("reason", "String", row.reason))
    if row.error_code:
        parts.append(_part("errorCode", "Code", row.error_code))
    parts += [
        _part("documentsFound", "Integer", row.documents_found),
        _part("documentsRetrieved", "Integer", row.documents_retrieved),
    ]
    if row.late:
        parts.append(_part("late", "Boolean", True))
    return {"name": "gateway", "part": parts}


def status_body(context: ApiContext, job: PullJob, gateways: list[PullJobGateway]) -> dict[str, Any]:
    parameters = [
        _part("job", "String", str(job.id)),
        _part("status", "Code", job.state),
        _part("patient", "Reference", {"reference": f"Patient/{job.patient_id}"}),
        {"name": "counts", "part": _counts(job)},
        *(_gateway(row) for row in gateways),
    ]
    if job.record_ms is not None:
        # Published while late gateways were still asked: readable now, merged again when the job ends.
        parameters.append(_part("recordReadyMs", "Integer", job.record_ms))
    if job.state == "done" or job.record_ms is not None:
        parameters.append(
            _part("everything", "Uri", f"{context.base_url}/Patient/{job.patient_id}/$everything")
        )
    return {"resourceType": "Parameters", "parameter": parameters}


def progress_text(job: PullJob, held: int = 0) -> str:
    """``X-Progress``: gateways answered, documents retrieved of those found (and how many of them an
    earlier pull had already stored: those are not retrieved again)."""
    already = f" ({held} already held)" if held else ""
    return (
        f"{job.state}: {job.gateways_answered}/{job.gateways_selected} gateways answered, "
        f"{job.documents_retrieved}/{job.documents_found} documents retrieved{already}"
    )


@router.get("/$pull-status/{job_id}", summary="Status of a pull job", dependencies=[Depends(negotiate)])
def pull_status(
    job_id: str,
    request: Request,
    principal: Annotated[Principal, Depends(require_operation("Patient", "$pull"))],
    context: Context,
    info: Info,
) -> Response:
    with context.transaction() as session:
        tenant = context.tenant(session, principal.tenant_id)
        try:
            key: uuid.UUID | None = uuid.UUID(job_id)
        except ValueError:
            key = None
        job = session.get(PullJob, key) if key is not None else None
        if job is not None and job.tenant_id != tenant.id:
            job = None
        patient = session.get(Patient, job.patient_id) if job is not None else None
        named = patient_ids([patient] if patient else [], context.assigning_authority)
        gone = job is None or job.state == JobState.CANCELLED.value
        # Audited with the status the caller gets: 202 while the job runs, 500 for a failed one.
        state = job.state if job is not None else None
        answered = 404 if gone else 202 if state in _ACTIVE else 500 if state == "failed" else 200
        record_access(
            context, session, tenant, principal, request, info,
            interaction=ApiInteraction.OPERATION, resource_type="Patient", status=answered,
            patients=named, resource_id=str(patient.id) if patient else None, operation="$pull-status",
            error_code=ResourceNotFoundError.code if gone else None,
            job_id=str(key) if key is not None else job_id[:64],  # as recorded (any form UUID() reads)
        )  # fmt: skip
        found: tuple[dict[str, Any], str, str | None, str | None, str] | None = None
        if job is not None and job.state == JobState.CANCELLED.value:
            found = ({}, job.state, None, None, "")
        elif job is not None:
            gateways = list(
                session.scalars(
                    select(PullJobGateway).where(PullJobGateway.job_id == job.id).order_by(PullJobGateway.id)
                )
            )
            body = status_body(context, job, gateways)
            held = session.scalar(
                select(func.count()).where(PullJobDocument.job_id == job.id, PullJobDocument.reused.is_(True))
            )
            found = (body, job.state, job.error_code, job.error_detail, progress_text(job, held or 0))
    if found is None:  # after the commit: the refused access stays audited
        raise ResourceNotFoundError(f"no pull job {job_id[:64]}")
    body, state, error_code, error_detail, progress = found
    if state == JobState.CANCELLED.value:
        raise _cancelled(job_id)
    media = response_media_type(request)
    if state in _ACTIVE:
        headers = {"Retry-After": RETRY_AFTER, "X-Progress": progress}
        return FhirResponse(body, status_code=202, headers=headers, media_type=media)
    if state == "failed":
        error: ApiError = InternalApiError(
            f"the pull failed ({error_code or 'unknown error'}): {error_detail or ''}".strip(),
        )
        return FhirResponse(operation_outcome([error.issue]), status_code=500, media_type=media)
    return FhirResponse(body, media_type=media)


def _as_recorded(job_id: str) -> str:
    """A job id as the caller typed it, in the form jobs are recorded when it reads as a UUID (upper case,
    braces, ``urn:uuid:``, no hyphens), so searches for the job find the request."""
    try:
        return str(uuid.UUID(job_id))
    except ValueError:
        return job_id[:64]


def _cancelled(job_id: str) -> ResourceNotFoundError:
    return ResourceNotFoundError(f"pull job {job_id[:64]} was cancelled", detail={"job": job_id[:64]})


def _tenant_job(session: Any, tenant: Tenant, job_id: str) -> PullJob | None:
    try:
        key = uuid.UUID(job_id)
    except ValueError:
        return None
    job = session.get(PullJob, key)
    return job if job is not None and job.tenant_id == tenant.id else None


@router.delete(
    "/$pull-status/{job_id}", status_code=202, summary="Cancel a pull job", dependencies=[Depends(negotiate)]
)
def pull_cancel(
    job_id: str,
    request: Request,
    principal: Annotated[Principal, Depends(require_operation("Patient", "$pull"))],
    user: Annotated[RequestingUser, Depends(requesting_user)],
    context: Context,
    info: Info,
) -> Response:
    with context.transaction() as session:
        tenant = context.tenant(session, principal.tenant_id)
        job = _tenant_job(session, tenant, job_id)
        key = job.id if job is not None else None
        session.expunge(tenant)
    error: ApiError | None = None
    if key is None:
        error = ResourceNotFoundError(f"no pull job {job_id[:64]}")
    else:
        # A store without a network client: cancelling is bookkeeping only, so it needs no certificates.
        store = JobStore(
            context.database,
            context.audit,
            tenant=tenant.slug,
            organization_name=tenant.name,
            assigning_authority=context.assigning_authority,
            home_community_id=context.home_community_id,
        )
        try:
            store.cancel_job(key, user)  # the state change and its audit record: one transaction
        except UnknownJobError:
            error = ResourceNotFoundError(f"no pull job {job_id[:64]}")
        except JobCancelledError:
            error = _cancelled(job_id)
        except JobFinishedError as exc:
            error = ResourceConflictError(
                f"pull job {job_id[:64]} cannot be cancelled: {exc.message}", issue_code="conflict"
            )
    status = http_status(error) if error is not None else 202
    with context.transaction() as session:
        tenant_row = context.tenant(session, principal.tenant_id)
        job = _tenant_job(session, tenant_row, job_id)
        patient = session.get(Patient, job.patient_id) if job is not None else None
        record_access(
            context, session, tenant_row, principal, request, info,
            interaction=ApiInteraction.OPERATION, resource_type="Patient", status=status,
            patients=patient_ids([patient] if patient else [], context.assigning_authority),
            resource_id=str(patient.id) if patient else None, operation="$pull-cancel",
            error_code=error.code if error is not None else None,
            job_id=str(job.id) if job is not None else _as_recorded(job_id),
        )  # fmt: skip
    if error is not None:  # after the commit: the refused cancel stays audited
        raise error
    assert key is not None
    worker_of(request).notify(key)
    body = operation_outcome([Issue("information", "informational", f"pull job {key} cancelled")])
    return FhirResponse(body, status_code=202, media_type=response_media_type(request))
