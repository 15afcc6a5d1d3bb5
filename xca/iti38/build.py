"""Builders for ITI-38 Cross Gateway Query messages (IHE ITI TF-2b 3.38.4.1 request, 3.38.4.2 response).

Strict: identifiers are checked, values quoted per the ebRS stored-query syntax, and the output validates
against the ebRS 3.0 / XDS.b schemas. Both functions return the SOAP body payload element; wrap it with
:func:`xca.soap.build_envelope` and ``Action.ITI38_REQUEST`` / ``Action.ITI38_RESPONSE``.
"""

from __future__ import annotations

from lxml import etree

from xca import ns
from xca.errors import InvalidValueError
from xca.ids import format_cx, oid_urn
from xca.iti38.constants import QueryParam, StoredQueryId
from xca.iti38.dtm import Dtm
from xca.iti38.identifiers import require_entry_uuid
from xca.iti38.metadata_build import build_extrinsic_object, build_object_ref
from xca.iti38.models import Code, FindDocumentsQuery, GetDocumentsQuery, Iti38Request, QueryResponse
from xca.iti38.slots import MAX_VALUE_LENGTH, add_slot, format_list, pack_list, quote
from xca.ns import q
from xca.registry import build_registry_error_list

__all__ = ["build_iti38_request", "build_iti38_response"]

_NSMAP = {"query": ns.QUERY, "rim": ns.RIM, "rs": ns.RS}


def build_iti38_request(request: Iti38Request) -> etree._Element:
    """``query:AdhocQueryRequest`` for ``request``; GetDocuments needs ``home_community_id``."""
    root = etree.Element(q(ns.QUERY, "AdhocQueryRequest"), nsmap=_NSMAP)
    etree.SubElement(
        root,
        q(ns.QUERY, "ResponseOption"),
        returnType=request.return_type.value,
        returnComposedObjects="true",
    )
    query = request.query
    if isinstance(query, FindDocumentsQuery):
        query_id, params = StoredQueryId.FIND_DOCUMENTS, _find_documents_params(query)
    else:
        if request.home_community_id is None:
            raise InvalidValueError("GetDocuments needs the homeCommunityId of the community asked")
        query_id, params = StoredQueryId.GET_DOCUMENTS, _get_documents_params(query)
    adhoc = etree.SubElement(root, q(ns.RIM, "AdhocQuery"), id=query_id.value)
    if request.home_community_id is not None:
        adhoc.set("home", oid_urn(request.home_community_id))
    for name, values in params:
        add_slot(adhoc, name.value, values)
    return root


def build_iti38_response(response: QueryResponse) -> etree._Element:
    """``query:AdhocQueryResponse`` with the status, errors and DocumentEntries or ObjectRefs as given."""
    root = etree.Element(q(ns.QUERY, "AdhocQueryResponse"), nsmap=_NSMAP, status=response.status.value)
    error_list = build_registry_error_list(response.errors)
    if error_list is not None:
        root.append(error_list)
    object_list = etree.SubElement(root, q(ns.RIM, "RegistryObjectList"))
    for document in response.documents:
        object_list.append(build_extrinsic_object(document))
    for ref in response.object_refs:
        object_list.append(build_object_ref(ref))
    return root


def _find_documents_params(query: FindDocumentsQuery) -> list[tuple[QueryParam, list[str]]]:
    params: list[tuple[QueryParam, list[str]]] = [
        (QueryParam.PATIENT_ID, [quote(format_cx(query.patient_id))]),
        (QueryParam.STATUS, pack_list([quote(s.value) for s in query.statuses], what="status")),
    ]
    coded = (
        (QueryParam.CLASS_CODE, query.class_codes),
        (QueryParam.TYPE_CODE, query.type_codes),
        (QueryParam.PRACTICE_SETTING_CODE, query.practice_setting_codes),
        (QueryParam.HEALTHCARE_FACILITY_TYPE_CODE, query.healthcare_facility_type_codes),
        (QueryParam.FORMAT_CODE, query.format_codes),
    )
    for param, codes in coded:
        if codes:
            params.append((param, pack_list([_code_literal(c) for c in codes], what=param.value)))
    for param, groups in (
        (QueryParam.EVENT_CODE_LIST, query.event_codes),
        (QueryParam.CONFIDENTIALITY_CODE, query.confidentiality_codes),
    ):
        if groups:
            params.append((param, [_and_group(param, group) for group in groups]))
    if query.author_persons:
        persons = pack_list([quote(p) for p in query.author_persons], what="author person")
        params.append((QueryParam.AUTHOR_PERSON, persons))
    times: tuple[tuple[QueryParam, Dtm | None], ...] = (
        (QueryParam.CREATION_TIME_FROM, query.creation_time_from),
        (QueryParam.CREATION_TIME_TO, query.creation_time_to),
        (QueryParam.SERVICE_START_TIME_FROM, query.service_start_time_from),
        (QueryParam.SERVICE_START_TIME_TO, query.service_start_time_to),
        (QueryParam.SERVICE_STOP_TIME_FROM, query.service_stop_time_from),
        (QueryParam.SERVICE_STOP_TIME_TO, query.service_stop_time_to),
    )
    params.extend((param, [value.to_hl7()]) for param, value in times if value is not None)
    if query.entry_types:
        types = pack_list([quote(t.value) for t in query.entry_types], what="entry type")
        params.append((QueryParam.ENTRY_TYPE, types))
    return params


def _get_documents_params(query: GetDocumentsQuery) -> list[tuple[QueryParam, list[str]]]:
    if query.entry_uuids:
        literals = [quote(require_entry_uuid(value)) for value in query.entry_uuids]
        return [(QueryParam.ENTRY_UUID, pack_list(literals, what="entryUUID"))]
    if any(not value or value != value.strip() for value in query.unique_ids):
        raise InvalidValueError("document unique ids must be non-empty and without surrounding spaces")
    return [(QueryParam.UNIQUE_ID, pack_list([quote(v) for v in query.unique_ids], what="uniqueId"))]


def _code_literal(code: Code) -> str:
    if not code.code or not code.scheme or "^" in code.code or "^" in code.scheme:
        raise InvalidValueError("a query code needs a code and a scheme, neither containing '^'")
    return quote(f"{code.code}^^{code.scheme}")


def _and_group(param: QueryParam, group: tuple[Code, ...]) -> str:
    # One Value per group: several Values of an AND/OR parameter are AND-ed, so a group cannot be split.
    value = format_list(_code_literal(c) for c in group)
    if len(value) > MAX_VALUE_LENGTH:
        raise InvalidValueError("an AND/OR code group is longer than 256 characters", detail={"slot": param})
    return value
