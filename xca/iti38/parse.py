"""Parsers for ITI-38 Cross Gateway Query messages (IHE ITI TF-2b 3.38.4.1 request, 3.38.4.2 response).

Both take the SOAP body payload (an element, or bytes that go through :func:`xca.safexml.parse_xml`).
A message that is not the expected one raises a ``WireFormatError``; everything a Responding Gateway should
answer with a RegistryError is returned as a value (:class:`ParsedIti38Request.errors`). Responses are
read tolerantly and model what was sent: Success with errors, Failure without, quirks recorded. One bad
registry object costs only itself: an ExtrinsicObject without an id or a uniqueId (or an ObjectRef without
an id) is skipped with a response-level quirk and the others are returned.
"""

from __future__ import annotations

from lxml import etree

from xca import ns
from xca.errors import MissingElementError, UnexpectedMessageError, WireFormatError
from xca.ids import is_oid
from xca.iti38.constants import Quirk, ReturnType, StoredQueryId
from xca.iti38.identifiers import strip_urn_oid
from xca.iti38.metadata_parse import (
    ENTRY_ID,
    OBJECT_REF_ID,
    UNIQUE_ID,
    parse_extrinsic_object,
    parse_object_ref,
)
from xca.iti38.models import (
    DocumentEntry,
    Iti38Request,
    ObjectRef,
    ParsedIti38Request,
    QueryResponse,
    StoredQuery,
)
from xca.iti38.params import ParamReader
from xca.iti38.slots import read_slots
from xca.iti55._payload import payload_root
from xca.ns import q
from xca.registry import RegistryError, XdsErrorCode, parse_registry_error_list, parse_status

__all__ = ["parse_iti38_request", "parse_iti38_response"]

_OBJECTS = frozenset({"ExtrinsicObject", "ObjectRef"})
_RIM_OBJECTS = frozenset(q(ns.RIM, local) for local in _OBJECTS)
_SKIPPED = {
    ENTRY_ID: Quirk.ENTRY_WITHOUT_ID_SKIPPED,
    UNIQUE_ID: Quirk.ENTRY_WITHOUT_UNIQUE_ID_SKIPPED,
    OBJECT_REF_ID: Quirk.OBJECT_REF_WITHOUT_ID_SKIPPED,
}


def parse_iti38_request(data: bytes | etree._Element) -> ParsedIti38Request:
    """Read an AdhocQueryRequest as a Responding Gateway: the request, or the registry errors to send."""
    root = payload_root(data)
    if root.tag != q(ns.QUERY, "AdhocQueryRequest"):
        raise UnexpectedMessageError(
            "not a query:AdhocQueryRequest", detail={"root": etree.QName(root).localname}
        )
    option = _required(root, q(ns.QUERY, "ResponseOption"), "query:ResponseOption")
    adhoc = _required(root, q(ns.RIM, "AdhocQuery"), "rim:AdhocQuery")
    query_id = (adhoc.get("id") or "").strip()
    if not query_id:
        raise MissingElementError("rim:AdhocQuery has no id", detail={"element": "rim:AdhocQuery/@id"})
    errors: list[RegistryError] = []
    quirks: list[Quirk] = []
    return_type = next((t for t in ReturnType if t.value == (option.get("returnType") or "").strip()), None)
    if return_type is None:
        errors.append(
            _error(XdsErrorCode.REGISTRY_ERROR, "ResponseOption: returnType must be LeafClass or ObjectRef")
        )
    raw_home = (adhoc.get("home") or "").strip() or None
    home = _home(raw_home, errors, quirks)
    stored = next((s for s in StoredQueryId if s.value == query_id.lower()), None)
    if stored is None:
        errors.append(
            _error(XdsErrorCode.UNKNOWN_STORED_QUERY, "AdhocQuery: stored query id is not supported")
        )
        return ParsedIti38Request(query_id, None, tuple(errors), tuple(quirks))
    reader = ParamReader(read_slots(adhoc))
    query: StoredQuery | None
    if stored is StoredQueryId.FIND_DOCUMENTS:
        query = reader.find_documents()
    else:
        query = reader.get_documents()
        if raw_home is None:
            errors.append(
                _error(
                    XdsErrorCode.MISSING_HOME_COMMUNITY_ID,
                    "AdhocQuery: GetDocuments needs the home attribute",
                )
            )
    errors.extend(reader.errors)
    quirks.extend(reader.quirks)
    request = None
    if query is not None and return_type is not None and not errors:
        request = Iti38Request(query, home_community_id=home, return_type=return_type)
    return ParsedIti38Request(stored.value, request, tuple(errors), tuple(dict.fromkeys(quirks)))


def parse_iti38_response(data: bytes | etree._Element) -> QueryResponse:
    """Read an AdhocQueryResponse (or a bare rs:RegistryResponse some peers send instead) as sent."""
    root = payload_root(data)
    quirks: list[Quirk] = []
    if root.tag == q(ns.RS, "RegistryResponse"):
        quirks.append(Quirk.REGISTRY_RESPONSE_ROOT)
    elif root.tag != q(ns.QUERY, "AdhocQueryResponse"):
        raise UnexpectedMessageError(
            "not a query:AdhocQueryResponse", detail={"root": etree.QName(root).localname}
        )
    status = parse_status(root.get("status"))
    errors: tuple[RegistryError, ...] = ()
    for error_list in root.findall(q(ns.RS, "RegistryErrorList")):
        errors += parse_registry_error_list(error_list)
    documents: list[DocumentEntry] = []
    refs: list[ObjectRef] = []
    object_list = root.find(q(ns.RIM, "RegistryObjectList"))
    for child in object_list if object_list is not None else ():
        if child.tag in _RIM_OBJECTS:
            _read_object(child, documents, refs, quirks)
        elif isinstance(child.tag, str) and etree.QName(child).localname in _OBJECTS:
            # e.g. an ebRIM 2.1 ExtrinsicObject: not silently "no documents".
            quirks.append(Quirk.OBJECT_IN_OTHER_NAMESPACE)
    return QueryResponse(
        status=status,
        documents=tuple(documents),
        object_refs=tuple(refs),
        errors=errors,
        quirks=tuple(dict.fromkeys(quirks)),
    )


def _read_object(
    element: etree._Element, documents: list[DocumentEntry], refs: list[ObjectRef], quirks: list[Quirk]
) -> None:
    """One rim:ExtrinsicObject or rim:ObjectRef; an unusable one is skipped with a quirk."""
    try:
        if element.tag == q(ns.RIM, "ExtrinsicObject"):
            documents.append(parse_extrinsic_object(element))
        else:
            ref, ref_quirks = parse_object_ref(element)
            refs.append(ref)
            quirks.extend(ref_quirks)
    except WireFormatError as exc:
        quirks.append(_SKIPPED.get(str(exc.detail.get("element")), Quirk.ENTRY_UNUSABLE_SKIPPED))


def _required(parent: etree._Element, tag: str, name: str) -> etree._Element:
    element = parent.find(tag)
    if element is None:
        raise MissingElementError(f"AdhocQueryRequest has no {name}", detail={"element": name})
    return element


def _home(value: str | None, errors: list[RegistryError], quirks: list[Quirk]) -> str | None:
    if value is None:
        return None
    bare, had_prefix = strip_urn_oid(value)
    if not is_oid(bare):
        errors.append(
            _error(XdsErrorCode.UNKNOWN_COMMUNITY, "AdhocQuery: home is not a urn:oid: homeCommunityId")
        )
        return None
    if not had_prefix:
        quirks.append(Quirk.HOME_WITHOUT_URN_OID)
    return bare


def _error(code: XdsErrorCode, context: str) -> RegistryError:
    return RegistryError(code.value, context)
