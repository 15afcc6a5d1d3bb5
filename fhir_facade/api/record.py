"""The consolidated record: ``GET /Patient/{id}/$everything``, type searches over it, reads by id of its
resources (and of what their references point at), ``GET /Binary/{id}``; how the stored record reads on this
server is :mod:`.record_view`.

Everything here reads ``fhir_resource`` rows of the patient's consolidated scope (``patient:<id hex>``) in the
caller's tenant: de-duplicated by the pull's consolidation, with its Provenance. ``$everything`` takes
``_since`` (the row's last update), ``_type`` and ``_count``; the searches take ``patient`` (required: every
answer is about one patient, and audited as such), ``_since`` and, for Observation, ``category``, ``code``
(``system|code``, ``code`` or ``system|``) and ``date`` (effective[x] or issued, with prefixes). Pages are
keyset pages on the row id (opaque ``_cursor``). As FHIR search has it, a repeated ``category`` or ``code``
must match each time and a comma within one value means any of them; ``date`` repeated narrows the range (a
comma in it is a 400); ``patient`` is one id (400 for a list or a repeat). Resource types the token cannot
read are left out of ``$everything``. ``Binary/{id}`` is an original document (C-CDA, PDF) a pull of one of
the tenant's patients retrieved, served with its content type (or as a Binary resource when
``application/fhir+json`` is asked).
"""

from __future__ import annotations

import base64
import datetime as dt
import uuid
from collections.abc import Callable, Iterator
from typing import Annotated, Any

from fastapi import APIRouter, Depends
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.requests import Request
from starlette.responses import Response

from fhir_facade.api.access import patient_ids, record_access
from fhir_facade.api.auth.principal import Principal, authenticate, require_access
from fhir_facade.api.context import Context, Info
from fhir_facade.api.errors import InsufficientScopeError, InvalidRequestError, ResourceNotFoundError
from fhir_facade.api.http import FhirResponse, negotiate, response_media_type
from fhir_facade.api.paging import (
    DateRange,
    decode_cursor,
    encode_cursor,
    page_size,
    parse_date_param,
    searchset,
)
from fhir_facade.api.patients.resource import patient_resource
from fhir_facade.api.patients.store import patient_in_tenant
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
    ParsedSearch,
    SearchParam,
    SearchParamType,
    fhir_route,
    parse_search,
)
from gateway.audit import ApiInteraction
from gateway.store.models import Patient, RawDocument, Tenant
from gateway.store.pull import RECORD_SCOPES, FhirResource, PullJob, PullJobDocument

__all__ = ["BINARY_READ", "PATIENT_EVERYTHING", "READS", "SEARCHES", "router"]

router = APIRouter()

RECORD_TYPES = (
    "Condition",
    "Observation",
    "MedicationStatement",
    "MedicationRequest",
    "AllergyIntolerance",
    "Immunization",
    "Procedure",
    "Encounter",
    "DiagnosticReport",
    "DocumentReference",
    "Provenance",
    "FamilyMemberHistory",
)
_PATIENT = SearchParam("patient", SearchParamType.REFERENCE, "Patient/{id} or {id} (required)", required=True)
_SINCE = SearchParam("_since", SearchParamType.DATE, "Only resources updated at or after this instant")
_OBSERVATION = (
    SearchParam("category", SearchParamType.TOKEN, "system|code, code or system| (comma: any of)"),
    SearchParam("code", SearchParamType.TOKEN, "system|code, code or system| (comma: any of)"),
    SearchParam("date", SearchParamType.DATE, "effective[x] or issued; eq, ge, gt, le, lt prefixes"),
)
SEARCHES = {
    name: FhirEndpoint(
        name,
        Interaction.SEARCH_TYPE,
        f"{name} resources of one patient's consolidated record; paged (_count, next link)",
        (_PATIENT, _SINCE, *(_OBSERVATION if name == "Observation" else ())),
    )
    for name in RECORD_TYPES
}
PATIENT_EVERYTHING = FhirEndpoint(
    "Patient",
    Interaction.OPERATION,
    "The patient and the consolidated, de-duplicated record with its Provenance (searchset, paged)",
    (
        SearchParam("_since", SearchParamType.DATE, "Only resources updated at or after this instant"),
        SearchParam("_type", SearchParamType.STRING, "Comma-separated resource types to include"),
    ),
    operation=FhirOperation(
        "everything",
        "http://hl7.org/fhir/OperationDefinition/Patient-everything",
        "Everything held about the patient: _since, _type, _count",
        instance=True,
    ),
)
# What a consolidated record's references point at: its own types and those they refer to (authors,
# performers, locations, medications, the documents' Compositions...). Each is readable by id.
READ_TYPES = tuple(
    sorted(
        {
            *RECORD_TYPES,
            "CareTeam",
            "Composition",
            "Coverage",
            "Device",
            "DeviceUseStatement",
            "FamilyMemberHistory",
            "Goal",
            "Location",
            "Medication",
            "Organization",
            "Practitioner",
            "PractitionerRole",
            "ServiceRequest",
            "Specimen",
        }
    )
)
READS = {
    name: FhirEndpoint(name, Interaction.READ, f"A {name} of a patient's consolidated record, by id")
    for name in READ_TYPES
}
BINARY_READ = FhirEndpoint(
    "Binary", Interaction.READ, "An original retrieved document (C-CDA, PDF) with its content type"
)


def _after(search: ParsedSearch) -> int | None:
    position = decode_cursor(search, ("i",))
    if position is None:
        return None
    value = position["i"]
    # A row id the database can hold (a forged huge number would overflow its integer, not find nothing).
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value < _MAX_ROW_ID:
        raise InvalidRequestError("the _cursor value is not valid", expression=("_cursor",))
    return value


_MAX_ROW_ID = 2**63


def _page(
    rows: Iterator[FhirResource], keep: Callable[[dict[str, Any]], bool], count: int
) -> tuple[list[dict[str, Any]], str | None]:
    found: list[tuple[int, dict[str, Any]]] = []
    for row in rows:
        if not keep(row.content):
            continue
        if len(found) == count:
            return [r for _i, r in found], encode_cursor({"i": found[-1][0]}) if found else None
        found.append((row.id, row.content))
    return [r for _i, r in found], None


def _tokens(value: str) -> list[tuple[str | None, str | None]]:
    wanted = []
    for item in value.split(","):
        system, bar, code = item.partition("|")
        wanted.append((system or None, code or None) if bar else (None, item))
    return wanted


def _codings(concepts: object) -> Iterator[dict[str, Any]]:
    items = concepts if isinstance(concepts, list) else [concepts]
    for concept in items:
        if isinstance(concept, dict):
            for coding in concept.get("coding") or ():
                if isinstance(coding, dict):
                    yield coding


def _token_match(concepts: object, wanted: list[tuple[str | None, str | None]]) -> bool:
    for coding in _codings(concepts):
        for system, code in wanted:
            if (system is None or coding.get("system") == system) and (
                code is None or coding.get("code") == code
            ):
                return True
    return False


def _instant(value: object, *, end: bool = False) -> dt.datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        period = parse_date_param("date", value)
    except InvalidRequestError:
        return None
    return period.end if end else period.start


def _when(resource: dict[str, Any]) -> tuple[dt.datetime, dt.datetime] | None:
    if "effectiveDateTime" in resource:
        start, end = (
            _instant(resource["effectiveDateTime"]),
            _instant(resource["effectiveDateTime"], end=True),
        )
    elif isinstance(resource.get("effectivePeriod"), dict):
        period = resource["effectivePeriod"]
        start, end = _instant(period.get("start")), _instant(period.get("end"), end=True)
        end = end or start
    else:
        start, end = _instant(resource.get("issued")), _instant(resource.get("issued"), end=True)
    if start is None or end is None:
        return None
    return start, end


def _observation_filter(search: ParsedSearch) -> Callable[[dict[str, Any]], bool]:
    categories = [_tokens(value) for _m, value in search.values("category")]
    codes = [_tokens(value) for _m, value in search.values("code")]
    period = DateRange()
    for _m, value in search.values("date"):
        period = period.narrow(parse_date_param("date", value))
    dated = period.start is not None or period.end is not None

    def keep(resource: dict[str, Any]) -> bool:
        if any(not _token_match(resource.get("category"), wanted) for wanted in categories):
            return False
        if any(not _token_match(resource.get("code"), wanted) for wanted in codes):
            return False
        if dated:
            when = _when(resource)
            if when is None:
                return False
            if period.start is not None and when[1] <= period.start:
                return False
            if period.end is not None and when[0] >= period.end:
                return False
        return True

    return keep


def _patient_of(session: Session, tenant: Tenant, search: ParsedSearch) -> tuple[str, Patient | None]:
    values = search.values("patient")
    if len(values) != 1:
        raise InvalidRequestError("give the patient (patient=Patient/{id}) once", expression=("patient",))
    if "," in values[0][1]:  # FHIR's "any of these patients" (an id has no comma): not one patient's record
        message = "give one patient (patient=Patient/{id}), not a list: a search reads one patient's record"
        raise InvalidRequestError(message, expression=("patient",))
    reference = values[0][1].removeprefix("Patient/")
    return reference, patient_in_tenant(session, tenant, reference)


def _search_handler(endpoint: FhirEndpoint) -> Callable[..., Response]:
    resource_type = endpoint.resource_type
    assert resource_type is not None

    def handler(
        request: Request,
        principal: Annotated[Principal, Depends(require_access(resource_type, "s"))],
        context: Context,
        info: Info,
    ) -> Response:
        parsed = parse_search(request, endpoint)
        count = page_size(parsed)
        after = _after(parsed)
        since = parse_since(parsed)
        keep = _observation_filter(parsed) if resource_type == "Observation" else (lambda _r: True)
        with context.transaction() as session:
            tenant = context.tenant(session, principal.tenant_id)
            _reference, patient = _patient_of(session, tenant, parsed)
            resources: list[dict[str, Any]] = []
            next_cursor = None
            matches: int | None = None
            if patient is not None:
                rows = consolidated_rows(
                    session, tenant, patient.id, types={resource_type}, since=since, after=after
                )
                if count == 0:  # `_count=0`: only how many match (FHIR's way of asking for a count)
                    matches = sum(1 for row in rows if keep(row.content))
                else:
                    resources, next_cursor = _page(rows, keep, count)
                references = reference_map(session, tenant, patient.id)
                resources = [rest_view(resource, references) for resource in resources]
            record_access(
                context, session, tenant, principal, request, info,
                interaction=ApiInteraction.SEARCH, resource_type=resource_type, status=200,
                patients=patient_ids([patient] if patient else [], context.assigning_authority),
            )  # fmt: skip
        total = len(resources) if after is None and next_cursor is None else None
        if matches is not None:
            total = matches if after is None else None
        bundle = searchset(
            base=context.base_url, path=resource_type, search=parsed, resources=resources, total=total,
            next_cursor=next_cursor,
        )  # fmt: skip
        return FhirResponse(bundle, media_type=response_media_type(request))

    # The scope dependency depends on the resource type: set the annotation as an object (annotations are
    # strings under ``from __future__ import annotations`` and would be resolved in the module's globals).
    handler.__annotations__["principal"] = Annotated[Principal, Depends(require_access(resource_type, "s"))]
    handler.__name__ = f"search_{resource_type}"
    return handler


def _add_routes(
    endpoints: dict[str, FhirEndpoint], path: str, make: Callable[[FhirEndpoint], Callable[..., Response]]
) -> None:
    """One GET route per resource type: ``path`` with ``{name}`` for the type."""
    for name, endpoint in endpoints.items():
        handler = make(endpoint)
        router.add_api_route(
            path.format(name=name),
            fhir_route(endpoint)(handler),
            methods=["GET"],
            summary=f"{handler.__name__.split('_')[0].title()} {name}",
            dependencies=[Depends(negotiate)],
        )


_add_routes(SEARCHES, "/{name}", _search_handler)


def _read_handler(endpoint: FhirEndpoint) -> Callable[..., Response]:
    resource_type = endpoint.resource_type
    assert resource_type is not None

    def handler(
        resource_id: str,
        request: Request,
        principal: Annotated[Principal, Depends(require_access(resource_type, "r"))],
        context: Context,
        info: Info,
    ) -> Response:
        with context.transaction() as session:
            tenant = context.tenant(session, principal.tenant_id)
            # The same shared resource (an organization, a practitioner) can be in several patients'
            # records of the tenant: the most recently consolidated copy is read.
            row = session.execute(
                select(FhirResource, Patient)
                .join(Patient, Patient.id == FhirResource.patient_id)
                .where(
                    FhirResource.tenant_id == tenant.id,
                    FhirResource.scope.like(RECORD_SCOPES),
                    FhirResource.resource_type == resource_type,
                    FhirResource.resource_id == resource_id[:128],
                    Patient.tenant_id == tenant.id,
                )
                .order_by(FhirResource.updated_at.desc(), FhirResource.id.desc())
                .limit(1)
            ).first()
            found = None
            patient = row[1] if row is not None else None
            if row is not None:
                found = rest_view(row[0].content, reference_map(session, tenant, row[1].id))
            record_access(
                context, session, tenant, principal, request, info,
                interaction=ApiInteraction.READ, resource_type=resource_type, status=200 if found else 404,
                patients=patient_ids([patient] if patient else [], context.assigning_authority),
                resource_id=resource_id[:64], error_code=None if found else ResourceNotFoundError.code,
            )  # fmt: skip
        if found is None:  # after the commit: the miss stays audited
            raise ResourceNotFoundError(f"{resource_type}/{resource_id[:64]} is not known")
        return FhirResponse(found, media_type=response_media_type(request))

    handler.__annotations__["principal"] = Annotated[Principal, Depends(require_access(resource_type, "r"))]
    handler.__name__ = f"read_{resource_type}"
    return handler


_add_routes(READS, "/{name}/{{resource_id}}", _read_handler)


@router.get(
    "/Patient/{patient_id}/$everything", summary="Patient $everything", dependencies=[Depends(negotiate)]
)
@fhir_route(PATIENT_EVERYTHING)
def everything(
    patient_id: str,
    request: Request,
    principal: Annotated[Principal, Depends(require_access("Patient", "r"))],
    context: Context,
    info: Info,
) -> Response:
    parsed = parse_search(request, PATIENT_EVERYTHING)
    count = page_size(parsed)
    after = _after(parsed)
    since = parse_since(parsed)
    requested = parse_types(parsed)
    with context.transaction() as session:
        tenant = context.tenant(session, principal.tenant_id)
        patient = patient_in_tenant(session, tenant, patient_id)
        types = readable(
            principal, requested, present_types(session, tenant, patient.id if patient else None)
        )
        named = patient_ids([patient] if patient else [], context.assigning_authority)
        record_access(
            context, session, tenant, principal, request, info,
            interaction=ApiInteraction.OPERATION, resource_type="Patient", status=200 if patient else 404,
            patients=named, resource_id=patient_id[:64], operation="$everything",
            error_code=None if patient else ResourceNotFoundError.code,
        )  # fmt: skip
        resources: list[dict[str, Any]] = []
        next_cursor = None
        if (
            patient is not None
            and after is None
            and "Patient" in types
            and (since is None or patient.updated_at >= since)
        ):
            resources.append(patient_resource(patient))
        if patient is not None:
            record_types = types - {"Patient"}  # the registered Patient stands for the record's own
            rows = consolidated_rows(
                session, tenant, patient.id, types=record_types, since=since, after=after
            )
            page, next_cursor = _page(rows, lambda _r: True, count)
            references = reference_map(session, tenant, patient.id)
            resources += [rest_view(resource, references) for resource in page]
    if patient is None:  # after the commit: the refused access stays audited
        raise ResourceNotFoundError(f"Patient/{patient_id[:64]} is not known")
    bundle = searchset(
        base=context.base_url, path=f"Patient/{patient_id}/$everything", search=parsed, resources=resources,
        total=None, next_cursor=next_cursor,
    )  # fmt: skip
    return FhirResponse(bundle, media_type=response_media_type(request))


def _document(session: Session, tenant: Tenant, binary_id: str) -> tuple[RawDocument | None, Patient | None]:
    try:
        key = uuid.UUID(binary_id)
    except ValueError:
        return None, None
    found = session.execute(
        select(RawDocument, Patient)
        .join(PullJobDocument, PullJobDocument.raw_document_id == RawDocument.id)
        .join(PullJob, PullJob.id == PullJobDocument.job_id)
        .join(Patient, Patient.id == PullJob.patient_id)
        .where(RawDocument.id == key, RawDocument.tenant_id == tenant.id, Patient.tenant_id == tenant.id)
        .limit(1)
    ).first()
    return (found[0], found[1]) if found is not None else (None, None)


@router.get("/Binary/{binary_id}", summary="Read an original document")
@fhir_route(BINARY_READ)
def read_binary(
    binary_id: str,
    request: Request,
    principal: Annotated[Principal, Depends(authenticate)],
    context: Context,
    info: Info,
) -> Response:
    if not (principal.scopes.allows("Binary", "r") or principal.scopes.allows("DocumentReference", "r")):
        raise InsufficientScopeError("the token's scopes do not allow this; it needs system/Binary.r")
    with context.transaction() as session:
        tenant = context.tenant(session, principal.tenant_id)
        document, patient = _document(session, tenant, binary_id)
        record_access(
            context, session, tenant, principal, request, info,
            interaction=ApiInteraction.READ, resource_type="Binary", status=200 if document else 404,
            patients=patient_ids([patient] if patient else [], context.assigning_authority),
            resource_id=binary_id[:64], error_code=None if document else ResourceNotFoundError.code,
        )  # fmt: skip
        found = (bytes(document.content), document.mime_type) if document is not None else None
    if found is None:  # after the commit: the refused access stays audited
        raise ResourceNotFoundError(f"Binary/{binary_id[:64]} is not known")
    content, mime = found
    accept = request.headers.get("accept", "")
    if "application/fhir+json" in accept and mime != "application/fhir+json":
        body = {
            "resourceType": "Binary",
            "id": binary_id,
            "contentType": mime,
            "data": base64.b64encode(content).decode("ascii"),
        }
        return FhirResponse(body)
    return Response(content, media_type=mime)
