"""Bulk Data export: ``GET /Patient/$export`` and ``GET /Group/{id}/$export`` (kick-off), ``GET`` / ``DELETE
/$export-status/{id}`` (status, cancel) and ``GET /$export-file/{id}/{n}`` (NDJSON).

Kick-off needs ``Prefer: respond-async``; ``_type`` (comma-separated) and ``_since`` are supported,
``_outputFormat`` may only name NDJSON. The export runs on the background worker and keeps its NDJSON files in
the database (``api_export_file``); the status answers 202 with ``X-Progress`` and ``Retry-After`` while it
runs, then 200 with the manifest (``transactionTime``, ``request``, ``requiresAccessToken: true``,
``output[{type, url, count}]``, ``error: []``). Files need the same tenant's token. Groups: there is no Group
store; the one group is ``all``, every patient of the caller's tenant (``Group/all/$export`` equals
``Patient/$export``); any other id is 404. Exported: each patient (``Patient``) and their consolidated record.
"""

from __future__ import annotations

import re
import uuid
from typing import Annotated

import orjson
from fastapi import APIRouter, Depends
from sqlalchemy import delete, select
from sqlalchemy.orm import Session
from starlette.requests import Request
from starlette.responses import Response

from fhir_facade.api.access import record_access
from fhir_facade.api.auth.principal import Principal, authenticate
from fhir_facade.api.background import Worker
from fhir_facade.api.context import ApiContext, Context, Info
from fhir_facade.api.errors import (
    InternalApiError,
    InvalidRequestError,
    Issue,
    ResourceNotFoundError,
    operation_outcome,
)
from fhir_facade.api.http import FHIR_NDJSON, FhirResponse
from fhir_facade.api.patients.resource import patient_resource
from fhir_facade.api.record_view import (
    consolidated_rows,
    parse_since,
    parse_types,
    present_types,
    readable,
    reference_map,
    rest_view,
)
from fhir_facade.api.routing import (
    FhirEndpoint,
    FhirOperation,
    Interaction,
    SearchParam,
    SearchParamType,
    fhir_route,
    parse_search,
)
from gateway.audit import ApiInteraction
from gateway.store.api import ApiClient
from gateway.store.api_jobs import ApiExport, ApiExportFile
from gateway.store.db import Database
from gateway.store.models import Patient, utcnow

__all__ = ["GROUP_EXPORT", "PATIENT_EXPORT", "router", "run_export"]

router = APIRouter()
_PARAMS = (
    SearchParam("_type", SearchParamType.STRING, "Comma-separated resource types"),
    SearchParam("_since", SearchParamType.DATE, "Only resources updated at or after this instant"),
    SearchParam("_outputFormat", SearchParamType.STRING, "application/fhir+ndjson (the only format)"),
)
PATIENT_EXPORT = FhirEndpoint(
    "Patient", Interaction.OPERATION, "Bulk Data export of every patient of the organization", _PARAMS,
    operation=FhirOperation(
        "export", "http://hl7.org/fhir/uv/bulkdata/OperationDefinition/patient-export",
        "Asynchronous NDJSON export (Prefer: respond-async)",
    ),
)  # fmt: skip
GROUP_EXPORT = FhirEndpoint(
    "Group", Interaction.OPERATION, "Bulk Data export of a group; the group 'all' is every patient", _PARAMS,
    operation=FhirOperation(
        "export", "http://hl7.org/fhir/uv/bulkdata/OperationDefinition/group-export",
        "Asynchronous NDJSON export of Group/all (Prefer: respond-async)", instance=True,
    ),
)  # fmt: skip
_TYPE = re.compile(r"[A-Z][A-Za-z]{1,63}")
_FORMATS = {"application/fhir+ndjson", "application/ndjson", "ndjson"}


def run_export(database: Database, export_id: uuid.UUID) -> None:
    """Write the export's NDJSON files (one per type) and mark it complete (or failed)."""
    try:
        with database.session() as session, session.begin():
            export = session.get(ApiExport, export_id)
            if export is None or export.state != "running":
                return
            session.execute(delete(ApiExportFile).where(ApiExportFile.export_id == export_id))
            types = set(export.types.split(","))
            lines: dict[str, list[bytes]] = {}
            patients = session.scalars(
                select(Patient).where(Patient.tenant_id == export.tenant_id).order_by(Patient.created_at)
            )
            from gateway.store.models import Tenant

            tenant = session.get(Tenant, export.tenant_id)
            assert tenant is not None
            for patient in patients:
                if "Patient" in types and (export.since is None or patient.updated_at >= export.since):
                    lines.setdefault("Patient", []).append(orjson.dumps(patient_resource(patient)))
                references = reference_map(session, tenant, patient.id)
                for row in consolidated_rows(
                    session, tenant, patient.id, types=types - {"Patient"}, since=export.since
                ):
                    resource = rest_view(row.content, references)
                    lines.setdefault(row.resource_type, []).append(orjson.dumps(resource))
            for name in sorted(lines):
                content = b"\n".join(lines[name]) + b"\n"
                session.add(
                    ApiExportFile(
                        export_id=export_id,
                        resource_type=name,
                        count=len(lines[name]),
                        content=content.decode(),
                    )
                )
            export.state, export.finished_at = "completed", utcnow()
    except Exception as exc:
        with database.session() as session, session.begin():
            export = session.get(ApiExport, export_id)
            if export is not None:
                export.state, export.error, export.finished_at = "failed", f"{type(exc).__name__}", utcnow()
        raise


def _worker(request: Request) -> Worker:
    worker: Worker = request.app.state.worker
    return worker


def _kick_off(
    request: Request,
    principal: Principal,
    context: ApiContext,
    info: Info,
    endpoint: FhirEndpoint,
    group: str | None,
) -> Response:
    prefer = {part.strip().lower() for part in request.headers.get("prefer", "").split(",")}
    if "respond-async" not in prefer:
        raise InvalidRequestError("send 'Prefer: respond-async' to start an export", expression=("Prefer",))
    parsed = parse_search(request, endpoint)
    for _m, value in parsed.values("_outputFormat"):
        if value not in _FORMATS:
            raise InvalidRequestError(
                "_outputFormat must be application/fhir+ndjson", expression=("_outputFormat",)
            )
    since = parse_since(parsed)
    requested = parse_types(parsed)
    invalid = sorted(name for name in requested or () if not _TYPE.fullmatch(name))
    if invalid:
        raise InvalidRequestError(
            f"_type: {', '.join(invalid)} is not a resource type", expression=("_type",)
        )
    with context.transaction() as session:
        tenant = context.tenant(session, principal.tenant_id)
        types = readable(principal, requested, present_types(session, tenant))
        pk = session.scalar(select(ApiClient.id).where(ApiClient.client_id == principal.client_id))
        assert pk is not None
        export = ApiExport(
            tenant_id=tenant.id, client_pk=pk, state="running", request_url=str(request.url),
            types=",".join(sorted(types)), since=since, group_id=group, transaction_time=utcnow(),
        )  # fmt: skip
        session.add(export)
        session.flush()
        export_id = export.id
        record_access(
            context, session, tenant, principal, request, info,
            interaction=ApiInteraction.OPERATION, resource_type=endpoint.resource_type or "Patient",
            status=202, resource_id=group, operation="$export",
        )  # fmt: skip
    _worker(request).start_export(export_id)
    body = operation_outcome([Issue("information", "informational", f"export {export_id} accepted")])
    return FhirResponse(
        body, status_code=202, headers={"Content-Location": f"{context.base_url}/$export-status/{export_id}"}
    )


@router.get("/Patient/$export", summary="Bulk export of all patients")
@fhir_route(PATIENT_EXPORT)
def patient_export(
    request: Request, principal: Annotated[Principal, Depends(authenticate)], context: Context, info: Info
) -> Response:
    return _kick_off(request, principal, context, info, PATIENT_EXPORT, None)


@router.get("/Group/{group_id}/$export", summary="Bulk export of a group")
@fhir_route(GROUP_EXPORT)
def group_export(
    group_id: str,
    request: Request,
    principal: Annotated[Principal, Depends(authenticate)],
    context: Context,
    info: Info,
) -> Response:
    if group_id != "all":
        raise ResourceNotFoundError(f"Group/{group_id[:64]} is not known (the only group is 'all')")
    return _kick_off(request, principal, context, info, GROUP_EXPORT, group_id)


def _export(session: Session, principal: Principal, export_id: str) -> ApiExport:
    try:
        key = uuid.UUID(export_id)
    except ValueError:
        key = None
    export = session.get(ApiExport, key) if key is not None else None
    if export is None or export.tenant_id != principal.tenant_id:
        raise ResourceNotFoundError(f"no export {export_id[:64]}")
    return export


@router.get("/$export-status/{export_id}", summary="Status of a bulk export")
def export_status(
    export_id: str, request: Request, principal: Annotated[Principal, Depends(authenticate)], context: Context
) -> Response:
    with context.database.session() as session:
        export = _export(session, principal, export_id)
        if export.state == "running":
            return FhirResponse(
                operation_outcome([Issue("information", "informational", "export in progress")]),
                status_code=202, headers={"X-Progress": "in progress", "Retry-After": "1"},
            )  # fmt: skip
        if export.state == "failed":
            error = InternalApiError(f"the export failed ({export.error})")
            return FhirResponse(operation_outcome([error.issue]), status_code=500)
        files = session.execute(
            select(ApiExportFile.id, ApiExportFile.resource_type, ApiExportFile.count)
            .where(ApiExportFile.export_id == export.id).order_by(ApiExportFile.id)
        ).all()  # fmt: skip
        manifest = {
            "transactionTime": export.transaction_time.isoformat().replace("+00:00", "Z"),
            "request": export.request_url,
            "requiresAccessToken": True,
            "output": [
                {
                    "type": name,
                    "url": f"{context.base_url}/$export-file/{export.id}/{file_id}",
                    "count": count,
                }
                for file_id, name, count in files
            ],
            "error": [],
        }
    return Response(orjson.dumps(manifest), media_type="application/json")


@router.delete("/$export-status/{export_id}", status_code=202, summary="Cancel or delete a bulk export")
def export_delete(
    export_id: str, principal: Annotated[Principal, Depends(authenticate)], context: Context
) -> Response:
    with context.transaction() as session:
        export = _export(session, principal, export_id)
        session.execute(delete(ApiExportFile).where(ApiExportFile.export_id == export.id))
        session.delete(export)
    return Response(status_code=202)


@router.get("/$export-file/{export_id}/{file_id}", summary="One NDJSON file of a bulk export")
def export_file(
    export_id: str, file_id: int, request: Request, principal: Annotated[Principal, Depends(authenticate)],
    context: Context, info: Info,
) -> Response:  # fmt: skip
    with context.transaction() as session:
        export = _export(session, principal, export_id)
        # A number the database's integer cannot hold names no file (and would overflow the lookup).
        found = session.get(ApiExportFile, file_id) if 0 < file_id < 2**63 else None
        if found is None or found.export_id != export.id:
            raise ResourceNotFoundError(f"no file {file_id} in export {export_id[:64]}")
        tenant = context.tenant(session, principal.tenant_id)
        record_access(
            context, session, tenant, principal, request, info,
            interaction=ApiInteraction.READ, resource_type=found.resource_type, status=200,
            resource_id=f"export-{export.id}-{file_id}", operation="$export",
        )  # fmt: skip
        content = found.content
    return Response(content.encode(), media_type=FHIR_NDJSON)
