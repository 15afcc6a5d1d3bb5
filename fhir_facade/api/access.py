"""Audit records of API access to patient data (``gateway.audit.ApiAccessEvent``).

Handlers call :func:`record_access` inside the transaction that read or wrote the data, so the record and
the access commit together or not at all. The patients are named by their identifier under the gateway's
assigning authority, as everywhere else in the audit log.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy.orm import Session
from starlette.requests import Request

from fhir_facade.api.auth.principal import Principal
from fhir_facade.api.context import ApiContext, RequestInfo
from gateway.audit import ApiAccessEvent, ApiInteraction, Outcome, PatientId
from gateway.store.models import Patient, Tenant

__all__ = ["patient_ids", "record_access"]


def patient_ids(patients: Iterable[Patient], assigning_authority: str) -> tuple[PatientId, ...]:
    found = []
    for patient in patients:
        mrn = next((row.value for row in patient.identifiers if row.system == assigning_authority), None)
        if mrn is not None:
            found.append(PatientId(value=mrn, assigning_authority=assigning_authority))
    return tuple(found)


def _outcome(status: int) -> Outcome:
    if status < 400:
        return Outcome.SUCCESS
    return Outcome.MINOR_FAILURE if status < 500 else Outcome.SERIOUS_FAILURE


def record_access(
    context: ApiContext,
    session: Session,
    tenant: Tenant,
    principal: Principal,
    request: Request,
    info: RequestInfo,
    *,
    interaction: ApiInteraction,
    resource_type: str,
    status: int,
    patients: tuple[PatientId, ...] = (),
    resource_id: str | None = None,
    operation: str | None = None,
    error_code: str | None = None,
    job_id: str | None = None,
) -> None:
    """Append one :class:`ApiAccessEvent` to ``tenant``'s audit chain in ``session``'s transaction."""
    query = request.url.query or None
    context.audit.record(
        session,
        tenant,
        ApiAccessEvent(
            interaction=interaction,
            resource_type=resource_type,
            outcome=_outcome(status),
            requestor=principal.requestor,
            http_status=status,
            patients=patients,
            resource_id=resource_id,
            operation=operation,
            query=query,
            client_address=info.client_address,
            server_endpoint=f"{context.base_url}{request.url.path}",
            request_id=info.request_id,
            error_codes=(error_code,) if error_code else (),
            latency_ms=info.elapsed_ms,
            job_id=job_id,
        ),
    )
