"""``POST /Patient`` (create, conditional create), ``GET /Patient/{id}`` (read),
``GET /Patient/{id}/_history/{vid}`` (vread), ``GET /Patient`` (search).

Conditional create (``If-None-Exist: identifier=system|value``): no match creates (201), one match returns
it (200), several are 412. A plain create whose identifier already belongs to a patient of the tenant is
409. Reads of unknown ids and of other tenants' patients are the same 404, and so are ids not written
exactly as issued (uppercase, without dashes, ``urn:uuid:``). The body is validated in the thread pool, not
on the event loop. Each access is audited in the transaction that made it.

A patient has one version, ``1``: the API never updates a patient (there is no update interaction), so
``meta.versionId``, the ``ETag`` and the ``Location`` of a create all name version 1, and vread of version 1
answers exactly as read does. Any other version is a 404 saying so, after the same tenant and id checks as
read (another tenant's patient is "not known", whatever the version).
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any
from urllib.parse import parse_qsl

from fastapi import APIRouter, Depends
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from fhir_facade.api.access import patient_ids, record_access
from fhir_facade.api.auth.principal import Principal, require_access
from fhir_facade.api.context import ApiContext, Context, Info, RequestInfo
from fhir_facade.api.errors import (
    InvalidRequestError,
    MultipleMatchesError,
    ResourceConflictError,
    ResourceNotFoundError,
)
from fhir_facade.api.http import FhirResponse, negotiate, read_resource, response_media_type
from fhir_facade.api.paging import encode_cursor, page_size, searchset
from fhir_facade.api.patients.resource import (
    MAX_ADDRESSES,
    MAX_IDENTIFIERS,
    MAX_NAMES,
    MAX_TELECOMS,
    VERSION_ID,
    parse_patient,
    patient_resource,
)
from fhir_facade.api.patients.search import (
    MAX_VALUES,
    identifier_tokens,
    patient_query,
    search_position,
)
from fhir_facade.api.patients.store import (
    IdentifierTakenError,
    create_patient,
    patient_in_tenant,
    patients_with_identifier,
    search_patients,
)
from fhir_facade.api.routing import (
    FhirEndpoint,
    Interaction,
    SearchParam,
    SearchParamType,
    fhir_route,
    parse_search,
)
from gateway.audit import ApiInteraction
from gateway.store.models import Patient, Tenant
from xca.errors import InvalidValueError

__all__ = ["PATIENT_CREATE", "PATIENT_READ", "PATIENT_SEARCH", "PATIENT_VREAD", "router"]

router = APIRouter(dependencies=[Depends(negotiate)])

PATIENT_CREATE = FhirEndpoint(
    "Patient",
    Interaction.CREATE,
    "Register a clinic patient (name with family, gender and full birthDate required; at most "
    f"{MAX_IDENTIFIERS} identifiers, {MAX_NAMES} names, {MAX_TELECOMS} telecoms, {MAX_ADDRESSES} addresses); "
    "conditional create with If-None-Exist: identifier=system|value",
    conditional_create=True,
)
PATIENT_READ = FhirEndpoint("Patient", Interaction.READ, "Read a patient of the caller's organization")
PATIENT_VREAD = FhirEndpoint(
    "Patient",
    Interaction.VREAD,
    f"Read a version of a patient of the caller's organization: patients are never updated, so their only "
    f"version is {VERSION_ID} (the Location of a create)",
)
_AND_OR = " (comma-separated: any of; repeated: all of)"
PATIENT_SEARCH = FhirEndpoint(
    "Patient",
    Interaction.SEARCH_TYPE,
    "Search the organization's patients; paged (_count, next link), oldest registration first; at most "
    f"{MAX_VALUES} values per parameter",
    search_params=(
        SearchParam("_id", SearchParamType.TOKEN, f"Logical id{_AND_OR}"),
        SearchParam("identifier", SearchParamType.TOKEN, f"system|value or value{_AND_OR}"),
        SearchParam(
            "name", SearchParamType.STRING, f"Case- and accent-insensitive prefix of any name part{_AND_OR}"
        ),
        SearchParam(
            "family", SearchParamType.STRING, f"Case- and accent-insensitive prefix of a family name{_AND_OR}"
        ),
        SearchParam(
            "given", SearchParamType.STRING, f"Case- and accent-insensitive prefix of a given name{_AND_OR}"
        ),
        SearchParam(
            "birthdate", SearchParamType.DATE, f"Birth date; eq (default), ge, gt, le, lt prefixes{_AND_OR}"
        ),
        SearchParam("gender", SearchParamType.TOKEN, f"male | female | other | unknown{_AND_OR}"),
    ),
)


def _etag_headers(context: ApiContext, patient: Patient) -> dict[str, str]:
    modified = patient.updated_at.astimezone(dt.UTC).strftime("%a, %d %b %Y %H:%M:%S GMT")
    return {
        "ETag": f'W/"{VERSION_ID}"',
        "Last-Modified": modified,
        "Location": f"{context.base_url}/Patient/{patient.id}/_history/{VERSION_ID}",
    }


def _respond(
    request: Request, body: dict[str, Any], status: int = 200, headers: dict[str, str] | None = None
) -> Response:
    if status in (200, 201) and "return=minimal" in request.headers.get("prefer", "").replace(" ", ""):
        return Response(status_code=status, headers=headers)
    return FhirResponse(body, status_code=status, headers=headers, media_type=response_media_type(request))


def _condition(header: str) -> tuple[str | None, str]:
    pairs = parse_qsl(header, keep_blank_values=True)
    if len(pairs) != 1 or pairs[0][0] != "identifier" or not pairs[0][1]:
        raise InvalidRequestError(
            "If-None-Exist supports exactly one identifier=system|value", expression=("If-None-Exist",)
        )
    tokens = identifier_tokens(pairs[0][1])
    if len(tokens) != 1:
        raise InvalidRequestError(
            "If-None-Exist supports exactly one identifier=system|value", expression=("If-None-Exist",)
        )
    return tokens[0]


@router.post("/Patient", status_code=201, summary="Create a Patient (conditional with If-None-Exist)")
@fhir_route(PATIENT_CREATE)
async def create(
    request: Request,
    principal: Annotated[Principal, Depends(require_access("Patient", "c"))],
    context: Context,
    info: Info,
) -> Response:
    data = await read_resource(request, "Patient")
    condition = request.headers.get("if-none-exist")

    def work() -> Response:
        new = parse_patient(data, assigning_authority=context.assigning_authority)
        wanted = _condition(condition) if condition is not None else None
        with context.transaction() as session:
            tenant = context.tenant(session, principal.tenant_id)
            existing = _existing(session, tenant, wanted)
            status = 200
            if existing is None:
                try:
                    existing, status = (
                        create_patient(session, tenant, new, assigning_authority=context.assigning_authority),
                        201,
                    )
                except IdentifierTakenError:
                    existing = _existing(session, tenant, wanted)
                    if existing is None:
                        raise ResourceConflictError(
                            "an identifier of this patient already belongs to another patient",
                            expression=("Patient.identifier",),
                        ) from None
                except InvalidValueError as exc:
                    raise InvalidRequestError(exc.message, expression=("Patient.identifier",)) from None
            record_access(
                context, session, tenant, principal, request, info,
                interaction=ApiInteraction.CREATE, resource_type="Patient", status=status,
                patients=patient_ids([existing], context.assigning_authority), resource_id=str(existing.id),
            )  # fmt: skip
            return _respond(request, patient_resource(existing), status, _etag_headers(context, existing))

    return await run_in_threadpool(work)


def _existing(session: Session, tenant: Tenant, wanted: tuple[str | None, str] | None) -> Patient | None:
    if wanted is None:
        return None
    matches = patients_with_identifier(session, tenant, *wanted)
    if len(matches) > 1:
        raise MultipleMatchesError(
            "If-None-Exist matches more than one patient", expression=("If-None-Exist",)
        )
    return matches[0] if matches else None


def _read(
    patient_id: str,
    version_id: str | None,
    request: Request,
    principal: Principal,
    context: ApiContext,
    info: RequestInfo,
) -> Response:
    """Read (``version_id`` ``None``) or vread: the same checks, audit record and answer."""
    with context.transaction() as session:
        tenant = context.tenant(session, principal.tenant_id)
        patient = patient_in_tenant(session, tenant, patient_id)
        error: ResourceNotFoundError | None = None
        if patient is None:
            error = ResourceNotFoundError(f"Patient/{patient_id[:64]} is not known")
        elif version_id is not None and version_id != VERSION_ID:
            error = ResourceNotFoundError(
                f"Patient/{patient_id} has no version {version_id[:64]!r}: its only version is {VERSION_ID}"
            )
        record_access(
            context, session, tenant, principal, request, info,
            interaction=ApiInteraction.READ if version_id is None else ApiInteraction.VREAD,
            resource_type="Patient", status=404 if error else 200,
            patients=patient_ids([patient] if patient else [], context.assigning_authority),
            resource_id=patient_id[:64], error_code=error.code if error else None,
        )  # fmt: skip
    if error is not None:  # after the commit: the miss stays audited
        raise error
    assert patient is not None
    return _respond(request, patient_resource(patient), headers=_etag_headers(context, patient))


@router.get("/Patient/{patient_id}", summary="Read a Patient")
@fhir_route(PATIENT_READ)
def read(
    patient_id: str,
    request: Request,
    principal: Annotated[Principal, Depends(require_access("Patient", "r"))],
    context: Context,
    info: Info,
) -> Response:
    return _read(patient_id, None, request, principal, context, info)


@router.get("/Patient/{patient_id}/_history/{version_id}", summary="Read a version of a Patient")
@fhir_route(PATIENT_VREAD)
def vread(
    patient_id: str,
    version_id: str,
    request: Request,
    principal: Annotated[Principal, Depends(require_access("Patient", "r"))],
    context: Context,
    info: Info,
) -> Response:
    return _read(patient_id, version_id, request, principal, context, info)


@router.get("/Patient", summary="Search Patients")
@fhir_route(PATIENT_SEARCH)
def search(
    request: Request,
    principal: Annotated[Principal, Depends(require_access("Patient", "s"))],
    context: Context,
    info: Info,
) -> Response:
    parsed = parse_search(request, PATIENT_SEARCH)
    query = patient_query(parsed)
    count = page_size(parsed)
    after = search_position(parsed)
    with context.transaction() as session:
        tenant = context.tenant(session, principal.tenant_id)
        patients, total, more = search_patients(session, tenant, query, limit=count, after=after)
        resources = [patient_resource(patient) for patient in patients]
        record_access(
            context, session, tenant, principal, request, info,
            interaction=ApiInteraction.SEARCH, resource_type="Patient", status=200,
            patients=patient_ids(patients, context.assigning_authority),
        )  # fmt: skip
    next_cursor = None
    if more:
        last = patients[-1]
        next_cursor = encode_cursor({"c": last.created_at.isoformat(), "i": str(last.id)})
    bundle = searchset(
        base=context.base_url,
        path="Patient",
        search=parsed,
        resources=resources,
        total=total,
        next_cursor=next_cursor,
    )
    return _respond(request, bundle)
