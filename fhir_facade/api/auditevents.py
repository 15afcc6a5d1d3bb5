"""Compliance: ``GET /AuditEvent`` (search), ``GET /AuditEvent/$export`` (NDJSON) and
``GET /Patient/{id}/$disclosures`` (accounting of disclosures), over the tenant's audit log.

Search parameters map onto :class:`gateway.audit.AuditFilter`: ``patient`` (``Patient/{id}``, or with
``:identifier`` a ``system|value`` patient identifier), ``agent`` (the requesting user's id, as in
``agent.who.identifier.value``), ``date`` (``recorded``, prefixes ge/gt/le/lt/eq), ``outcome`` (0, 4, 8, 12).
``entity`` (a ``Type/id`` the API served, a document unique id or a pull job id) is matched on the decoded
records while paging. As FHIR R4 search has it, a comma in ``patient``, ``agent``, ``entity`` or ``outcome``
separates alternatives, any of which matches (a backslash-escaped comma is part of a value; see
:mod:`.search_values`), at most 50 per parameter, and a repeated parameter is one more condition the record
must meet (``outcome=0,4&outcome=4``: outcome 4); ``date`` repeated bounds a range. Newest first; ``total`` is
given when the whole result fits on the first page or with ``_total=accurate`` (which counts by streaming).
All three need ``system/AuditEvent.read`` (or ``.rs``): the audit trail names patients, so reading it is
itself audited.
"""

from __future__ import annotations

import base64
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Depends
from sqlalchemy.orm import Session
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from fhir_facade.api.access import patient_ids, record_access
from fhir_facade.api.auth.principal import Principal, require_access
from fhir_facade.api.context import ApiContext, Context, Info
from fhir_facade.api.disclosures import disclosures_parameters
from fhir_facade.api.errors import InvalidRequestError, ResourceNotFoundError
from fhir_facade.api.http import FHIR_NDJSON, FhirResponse, negotiate, negotiate_ndjson, response_media_type
from fhir_facade.api.paging import (
    DateRange,
    decode_cursor,
    encode_cursor,
    page_size,
    parse_date_param,
    searchset,
)
from fhir_facade.api.patients.resource import store_system
from fhir_facade.api.patients.store import patient_in_tenant
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
from fhir_facade.api.search_values import alternatives, token_alternatives
from gateway.audit import (
    ApiAccessEvent,
    ApiInteraction,
    AuditFilter,
    ExportFormat,
    Outcome,
    PatientId,
    PullJobEvent,
    StoredRecord,
    TransactionEvent,
    accounting_of_disclosures,
    export_records,
    iter_records,
    search,
    to_fhir_audit_event,
)
from gateway.store.models import Tenant
from xca.errors import AuditQueryError

__all__ = ["AUDIT_EXPORT", "AUDIT_READ", "AUDIT_SEARCH", "PATIENT_DISCLOSURES", "router"]

router = APIRouter()
_BATCH = 200
_T = TypeVar("_T")

_ANY_OF = " (comma-separated: any of; repeated: all of)"
_PARAMS = (
    SearchParam(
        "patient",
        SearchParamType.REFERENCE,
        f"Patient/{{id}}; or patient:identifier=system|value{_ANY_OF}",
        ("identifier",),
    ),
    SearchParam(
        "agent", SearchParamType.REFERENCE, f"Requesting user id (agent.who.identifier.value){_ANY_OF}"
    ),
    SearchParam(
        "entity",
        SearchParamType.REFERENCE,
        f"Type/id served by the API, document unique id, or job id{_ANY_OF}",
    ),
    SearchParam(
        "date", SearchParamType.DATE, "Time recorded; ge, gt, le, lt, eq prefixes; repeat for a range"
    ),
    SearchParam(
        "outcome", SearchParamType.TOKEN, f"0 success, 4 minor, 8 serious, 12 major failure{_ANY_OF}"
    ),
)
AUDIT_SEARCH = FhirEndpoint(
    "AuditEvent", Interaction.SEARCH_TYPE, "The organization's audit trail as IHE BALP AuditEvents", _PARAMS
)
AUDIT_EXPORT = FhirEndpoint(
    "AuditEvent",
    Interaction.OPERATION,
    "Every matching AuditEvent as NDJSON (application/fhir+ndjson), oldest first",
    _PARAMS,
    operation=FhirOperation(
        "export", "urn:hie-gateway:fhir:OperationDefinition:AuditEvent-export", "NDJSON export of AuditEvents"
    ),
)
PATIENT_DISCLOSURES = FhirEndpoint(
    "Patient",
    Interaction.OPERATION,
    "Accounting of disclosures of one patient (a Parameters resource), optionally within date bounds",
    (SearchParam("date", SearchParamType.DATE, "When; ge, gt, le, lt, eq prefixes"),),
    operation=FhirOperation(
        "disclosures",
        "urn:hie-gateway:fhir:OperationDefinition:Patient-disclosures",
        "Every exchange that sent this patient's records to, or received them from, another organization",
        instance=True,
    ),
)


def _dates(search: ParsedSearch) -> DateRange:
    period = DateRange()
    for _modifier, value in search.values("date"):
        period = period.narrow(parse_date_param("date", value))
    return period


def _filter(
    session: Session, tenant: Tenant, context: ApiContext, search: ParsedSearch
) -> tuple[AuditFilter | None, tuple[PatientId, ...]]:
    """The filter of ``search`` (``None``: nothing can match, e.g. an unknown patient) and its patients."""
    period = _dates(search)
    where = AuditFilter(since=period.start, until=period.end)
    named: list[PatientId] = []
    patients: list[tuple[str, ...]] = []
    users: tuple[str, ...] | None = None
    outcomes: tuple[Outcome, ...] | None = None
    for name, modifier, value in search.params:
        if name == "patient" and modifier == "identifier":
            patients.append(_identifiers(value))
        elif name == "patient":
            references = alternatives(name, value)
            found = [patient_in_tenant(session, tenant, ref.removeprefix("Patient/")) for ref in references]
            known = [patient for patient in found if patient is not None]
            these = patient_ids(known, context.assigning_authority)
            if not these:  # none of them is a patient of the tenant: nothing can match
                return None, ()
            named.extend(these)
            patients.append(tuple(f"{n.assigning_authority}|{n.value}" for n in these))
        elif name == "agent":
            users = _all_of(users, alternatives(name, value))
        elif name == "outcome":
            items = alternatives(name, value)
            try:
                chosen = tuple(Outcome(int(item)) for item in items)
            except ValueError:
                raise InvalidRequestError("outcome must be 0, 4, 8 or 12", expression=("outcome",)) from None
            outcomes = _all_of(outcomes, chosen)
    # A record has one user and one outcome: repeated conditions on them leave the values common to all.
    if users == () or outcomes == ():
        return None, ()
    if patients:
        where = replace(where, patient=patients[0], also_patients=tuple(patients[1:]))
    where = replace(where, user=users, outcome=outcomes)
    return where, tuple(dict.fromkeys(named))


def _all_of(before: tuple[_T, ...] | None, these: tuple[_T, ...]) -> tuple[_T, ...]:
    """The alternatives of a parameter given again: those in both (the first occurrence's as they are)."""
    return these if before is None else tuple(item for item in before if item in these)


def _identifiers(value: str) -> tuple[str, ...]:
    """``patient:identifier`` alternatives as the audit filter's ``authority|value`` (``value``: any)."""
    wanted = []
    for system, ident in token_alternatives("patient:identifier", value):
        if "|" in ident or (system is not None and "|" in system):
            raise InvalidRequestError(
                "patient:identifier: an identifier whose system or value holds a '|' cannot be searched",
                expression=("patient:identifier",),
            )
        wanted.append(ident if system is None else f"{store_system(system)}|{ident}")
    return tuple(wanted)


def _entity_predicate(search: ParsedSearch) -> Callable[[StoredRecord], bool] | None:
    """Each ``entity`` occurrence: the record names one of its alternatives."""
    wanted = [frozenset(alternatives("entity", value)) for _modifier, value in search.values("entity")]
    if not wanted:
        return None

    def matches(record: StoredRecord) -> bool:
        event = record.event
        names: set[str] = set()
        if isinstance(event, ApiAccessEvent) and event.resource_id:
            names |= {event.resource_id, f"{event.resource_type}/{event.resource_id}"}
        if isinstance(event, ApiAccessEvent) and event.job_id:
            names |= {event.job_id}  # the API requests about the job
        if isinstance(event, TransactionEvent | PullJobEvent):
            names |= {document.unique_id for document in event.documents}
        if isinstance(event, PullJobEvent):
            names |= {event.job_id}
        if isinstance(event, TransactionEvent) and event.job_id:
            names |= {event.job_id}  # the exchanges the job made
        return all(not names.isdisjoint(group) for group in wanted)

    return matches


Position = tuple[str | None, int, int | None]
"""Where a page starts: the audit search cursor of a batch, the offset in it, and the newest ``seq`` the
first page saw (records appended since, such as this search's own audit record, are left out)."""


def _scan(
    session: Session,
    tenant: Tenant,
    where: AuditFilter,
    keep: Callable[[StoredRecord], bool] | None,
    count: int,
    start: Position,
) -> tuple[list[StoredRecord], Position | None]:
    """Up to ``count`` matches from ``start``, and the position of the next match (``None``: no more)."""
    cursor, skip, anchor = start
    found: list[StoredRecord] = []
    while True:
        page = search(session, tenant, where, limit=_BATCH, cursor=cursor)
        if anchor is None and page.records:
            anchor = page.records[0].seq
        batch = [record for record in page.records if anchor is None or record.seq <= anchor]
        for index in range(skip, len(batch)):
            record = batch[index]
            if keep is None or keep(record):
                if len(found) == count:
                    return found, (cursor, index, anchor)
                found.append(record)
        if page.next_cursor is None:
            return found, None
        cursor, skip = page.next_cursor, 0


def _count_all(
    session: Session, tenant: Tenant, where: AuditFilter, keep: Callable[[StoredRecord], bool] | None
) -> int:
    return sum(1 for record in iter_records(session, tenant, where) if keep is None or keep(record))


@router.get("/AuditEvent", summary="Search AuditEvents", dependencies=[Depends(negotiate)])
@fhir_route(AUDIT_SEARCH)
def search_audit_events(
    request: Request,
    principal: Annotated[Principal, Depends(require_access("AuditEvent", "s"))],
    context: Context,
    info: Info,
) -> Response:
    parsed = parse_search(request, AUDIT_SEARCH)
    count = page_size(parsed)
    keep = _entity_predicate(parsed)
    position = decode_cursor(parsed, ("a", "o", "s"))
    start: Position = (
        (position["a"], position["o"], position["s"]) if position is not None else (None, 0, None)
    )
    cursor, offset, anchor = start
    if (
        not (cursor is None or isinstance(cursor, str))
        or not isinstance(offset, int)
        or offset < 0
        or not (anchor is None or isinstance(anchor, int))
    ):
        raise InvalidRequestError("the _cursor value is not valid", expression=("_cursor",))
    accurate = parsed.control.get("_total") == "accurate"
    with context.transaction() as session:
        tenant = context.tenant(session, principal.tenant_id)
        where, named = _filter(session, tenant, context, parsed)
        records: list[StoredRecord] = []
        after: Position | None = None
        total: int | None = 0
        if where is not None:
            try:
                records, after = _scan(session, tenant, where, keep, count, start)
            except AuditQueryError as exc:
                raise InvalidRequestError(exc.message, expression=("_cursor",)) from None
            first_and_only = position is None and after is None
            total = (
                len(records)
                if first_and_only
                else (_count_all(session, tenant, where, keep) if accurate else None)
            )
        resources = [to_fhir_audit_event(record, context.audit.source) for record in records]
        record_access(
            context, session, tenant, principal, request, info,
            interaction=ApiInteraction.SEARCH, resource_type="AuditEvent", status=200, patients=named,
        )  # fmt: skip
    next_cursor = encode_cursor({"a": after[0], "o": after[1], "s": after[2]}) if after is not None else None
    bundle = searchset(
        base=context.base_url,
        path="AuditEvent",
        search=parsed,
        resources=resources,
        total=total,
        next_cursor=next_cursor,
    )
    return FhirResponse(bundle, media_type=response_media_type(request))


@router.get("/AuditEvent/$export", summary="Export AuditEvents as NDJSON")
@fhir_route(AUDIT_EXPORT)
def export_audit_events(
    request: Request,
    media_type: Annotated[str, Depends(negotiate_ndjson)],
    principal: Annotated[Principal, Depends(require_access("AuditEvent", "r"))],
    context: Context,
    info: Info,
) -> Response:
    parsed = parse_search(request, AUDIT_EXPORT)
    keep = _entity_predicate(parsed)
    # Written to a spooled file inside one short transaction, then streamed: a slow reader never holds a
    # database transaction (on SQLite, the write lock) open, and failures still get an OperationOutcome.
    spool = tempfile.SpooledTemporaryFile(max_size=8 * 1024 * 1024)  # noqa: SIM115 (closed by the stream)
    try:
        with context.transaction() as session:
            tenant = context.tenant(session, principal.tenant_id)
            where, named = _filter(session, tenant, context, parsed)
            if where is not None:
                records = iter_records(session, tenant, where)
                export_records(
                    (r for r in records if keep is None or keep(r)),
                    spool,
                    ExportFormat.FHIR,
                    context.audit.source,
                )
            record_access(
                context, session, tenant, principal, request, info,
                interaction=ApiInteraction.OPERATION, resource_type="AuditEvent", status=200,
                patients=named, operation="$export",
            )  # fmt: skip
    except BaseException:
        spool.close()
        raise
    spool.seek(0)

    def stream() -> Iterator[bytes]:
        with spool:
            while chunk := spool.read(64 * 1024):
                yield chunk

    return StreamingResponse(stream(), media_type=FHIR_NDJSON)


@router.get(
    "/Patient/{patient_id}/$disclosures",
    summary="Accounting of disclosures",
    dependencies=[Depends(negotiate)],
)
@fhir_route(PATIENT_DISCLOSURES)
def disclosures(
    patient_id: str,
    request: Request,
    principal: Annotated[Principal, Depends(require_access("AuditEvent", "r"))],
    context: Context,
    info: Info,
) -> Response:
    parsed = parse_search(request, PATIENT_DISCLOSURES)
    period = _dates(parsed)
    with context.transaction() as session:
        tenant = context.tenant(session, principal.tenant_id)
        patient = patient_in_tenant(session, tenant, patient_id)
        named = patient_ids([patient] if patient else [], context.assigning_authority)
        body: dict[str, Any] | None = None
        if patient is not None and named:
            key = f"{named[0].assigning_authority}|{named[0].value}"
            found = accounting_of_disclosures(session, tenant, key, since=period.start, until=period.end)
            body = disclosures_parameters(found, tenant.id)
        record_access(
            context, session, tenant, principal, request, info,
            interaction=ApiInteraction.OPERATION, resource_type="Patient", status=200 if body else 404,
            patients=named, resource_id=patient_id[:64], operation="$disclosures",
        )  # fmt: skip
    if body is None:
        raise ResourceNotFoundError(f"Patient/{patient_id[:64]} is not known")
    return FhirResponse(body, media_type=response_media_type(request))


AUDIT_READ = FhirEndpoint("AuditEvent", Interaction.READ, "One AuditEvent of the organization's audit trail")


@router.get("/AuditEvent/{audit_id}", summary="Read an AuditEvent", dependencies=[Depends(negotiate)])
@fhir_route(AUDIT_READ)
def read_audit_event(
    audit_id: str,
    request: Request,
    principal: Annotated[Principal, Depends(require_access("AuditEvent", "r"))],
    context: Context,
    info: Info,
) -> Response:
    prefix, _, seq_text = audit_id.rpartition("-")
    with context.transaction() as session:
        tenant = context.tenant(session, principal.tenant_id)
        found: StoredRecord | None = None
        # ASCII digits of a sequence number the database can hold: anything else names no record.
        if (
            prefix == f"audit-{tenant.id}"
            and seq_text.isascii()
            and seq_text.isdigit()
            and len(seq_text) < 19
        ):
            # The audit search pages newest first below a cursor ("tenant:seq", base64url): the page below
            # seq + 1 starts with the record itself when it exists.
            raw = f"{tenant.id}:{int(seq_text) + 1}".encode()
            cursor = base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")
            page = search(session, tenant, AuditFilter(), limit=1, cursor=cursor)
            if page.records and page.records[0].seq == int(seq_text):
                found = page.records[0]
        record_access(
            context, session, tenant, principal, request, info,
            interaction=ApiInteraction.READ, resource_type="AuditEvent", status=200 if found else 404,
            resource_id=audit_id[:64], error_code=None if found else ResourceNotFoundError.code,
        )  # fmt: skip
    if found is None:
        raise ResourceNotFoundError(f"AuditEvent/{audit_id[:64]} is not known")
    resource = to_fhir_audit_event(found, context.audit.source)
    return FhirResponse(resource, media_type=response_media_type(request))
