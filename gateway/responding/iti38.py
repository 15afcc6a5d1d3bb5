"""Responding to Cross Gateway Query [ITI-38] (IHE ITI TF-2b 3.38.4.1.3): FindDocuments and GetDocuments over
the clinic's document store.

Every problem with the request is a registry error in a Failure response (ITI TF-3 4.2.4): what the parser
reports (missing or malformed slots, unknown stored query), a ``home`` that is not this community
(XDSUnknownCommunity), and a patient id this community did not assign or does not know
(XDSUnknownPatientId). A request body that is not an AdhocQueryRequest at all is XDSRegistryError.
"""

from __future__ import annotations

from lxml import etree

from gateway.audit import (
    Direction,
    DocumentRef,
    Outcome,
    PatientId,
    PatientIdRole,
    QueryParameter,
    Transaction,
    TransactionEvent,
)
from gateway.responding.context import Exchange, Handled
from gateway.responding.documents import find_documents, get_documents
from gateway.responding.patients import patient_by_id
from xca import ns
from xca.errors import WireFormatError
from xca.ids import oid_urn
from xca.iti38 import (
    DocumentEntry,
    FindDocumentsQuery,
    ObjectRef,
    ParsedIti38Request,
    QueryResponse,
    ReturnType,
    build_iti38_response,
    parse_iti38_request,
)
from xca.ns import q
from xca.registry import RegistryError, ResponseStatus, XdsErrorCode

__all__ = ["handle_iti38", "patients_of", "status_outcome"]


def status_outcome(status: ResponseStatus) -> Outcome:
    return {
        ResponseStatus.SUCCESS: Outcome.SUCCESS,
        ResponseStatus.PARTIAL_SUCCESS: Outcome.MINOR_FAILURE,
        ResponseStatus.FAILURE: Outcome.SERIOUS_FAILURE,
    }[status]


def _slots(body: etree._Element) -> tuple[QueryParameter, ...]:
    found: list[QueryParameter] = []
    for slot in body.iterfind(f"{q(ns.RIM, 'AdhocQuery')}/{q(ns.RIM, 'Slot')}"):
        values = [v.text or "" for v in slot.iterfind(f"{q(ns.RIM, 'ValueList')}/{q(ns.RIM, 'Value')}")]
        found.append(QueryParameter(name=(slot.get("name") or "?")[:128], value=",".join(values)[:1024]))
    return tuple(found)


def patients_of(entries: list[DocumentEntry]) -> tuple[PatientId, ...]:
    """The (local) patients the entries belong to, once each, for the audit record."""
    found = (
        PatientId(value=e.patient_id.id, assigning_authority=e.patient_id.root, role=PatientIdRole.LOCAL)
        for e in entries
        if e.patient_id is not None
    )
    return tuple(dict.fromkeys(found))


def _error(x: Exchange, code: XdsErrorCode, context: str) -> RegistryError:
    return RegistryError(code.value, context, location=oid_urn(x.config.home_community_id))


def _answer(
    x: Exchange, parsed: ParsedIti38Request
) -> tuple[list[DocumentEntry], list[RegistryError], tuple[PatientId, ...]]:
    config = x.config
    if parsed.errors or parsed.request is None:
        return [], [RegistryError(e.error_code, e.code_context, e.severity, oid_urn(config.home_community_id))
                    for e in parsed.errors], ()  # fmt: skip
    request = parsed.request
    if request.home_community_id is not None and request.home_community_id != config.home_community_id:
        return [], [_error(x, XdsErrorCode.UNKNOWN_COMMUNITY, "AdhocQuery home is not this community")], ()
    query = request.query
    if not isinstance(query, FindDocumentsQuery):
        entries = get_documents(x.session, x.tenant, query)
        return entries, [], patients_of(entries)
    patient = (
        patient_by_id(x.session, x.tenant, query.patient_id)
        if query.patient_id.root == (config.assigning_authority)
        else None
    )
    if patient is None:
        context = "$XDSDocumentEntryPatientId is not a patient id assigned by this community"
        return [], [_error(x, XdsErrorCode.UNKNOWN_PATIENT_ID, context)], ()
    ids = (PatientId(value=patient.cx.id, assigning_authority=patient.cx.root, role=PatientIdRole.LOCAL),)
    return find_documents(x.session, x.tenant, patient, query), [], ids


def handle_iti38(x: Exchange) -> Handled:
    """Answer one verified ITI-38 query."""
    body = x.verified.body
    assert body is not None  # the pipeline checked
    query_id: str | None = None
    entries: list[DocumentEntry]
    errors: list[RegistryError]
    patients: tuple[PatientId, ...]
    try:
        parsed = parse_iti38_request(body)
    except WireFormatError as exc:
        entries, errors, patients = [], [_error(x, XdsErrorCode.REGISTRY_ERROR, exc.message)], ()
    else:
        query_id = parsed.query_id
        entries, errors, patients = _answer(x, parsed)
        if parsed.request is not None and parsed.request.return_type is ReturnType.OBJECT_REF and not errors:
            refs = tuple(ObjectRef(e.entry_uuid, e.home_community_id) for e in entries)
            response = QueryResponse(status=ResponseStatus.SUCCESS, object_refs=refs)
            return Handled(
                build_iti38_response(response), _event(x, response, patients, query_id, body, entries)
            )
    status = ResponseStatus.FAILURE if errors else ResponseStatus.SUCCESS
    response = QueryResponse(status=status, documents=tuple(entries), errors=tuple(errors))
    return Handled(build_iti38_response(response), _event(x, response, patients, query_id, body, entries))


def _event(
    x: Exchange,
    response: QueryResponse,
    patients: tuple[PatientId, ...],
    query_id: str | None,
    body: etree._Element,
    entries: list[DocumentEntry],
) -> TransactionEvent:
    return TransactionEvent(
        transaction=Transaction.ITI_38,
        direction=Direction.RESPONDING,
        outcome=status_outcome(response.status),
        requestor=x.requestor,
        remote=x.remote,
        error_codes=tuple(e.error_code for e in response.errors),
        patients=patients,
        query_id=query_id,
        query_parameters=_slots(body),
        documents=tuple(
            DocumentRef(
                unique_id=e.unique_id,
                repository_id=e.repository_unique_id or "",
                home_community_id=e.home_community_id,
            )
            for e in entries
        ),
        message_id=x.verified.addressing.message_id,
        local_endpoint=x.request.endpoint,
    )
