"""Tolerant parsers of ITI-39 Cross Gateway Retrieve messages (IHE ITI TF-2b 3.39.4.1 request, 3.39.4.2
response; the RetrieveDocumentSet messages of ITI-43, ITI TF-2b 3.43.4).

Each parser takes the raw HTTP body and its Content-Type (MTOM/XOP or plain SOAP), a :class:`SoapMessage`
already read (e.g. after signature verification), or a parsed envelope or payload element. Odd but
understandable input is repaired and listed as a :class:`Quirk`; a ``DocumentResponse`` whose content cannot
be read becomes an :class:`UnreadableDocument` instead of failing the whole response. MTOM document content
is a ``memoryview`` into the HTTP body: it is never base64-encoded or copied.
"""

from __future__ import annotations

import binascii
from collections.abc import Mapping
from typing import Final

from lxml import etree

from xca import ns
from xca.errors import InvalidValueError, MissingElementError, MtomFormatError, UnexpectedMessageError
from xca.ids import normalize_oid
from xca.iti39.models import (
    DocumentRequest,
    Quirk,
    RetrievedDocument,
    RetrieveRequest,
    RetrieveResponse,
    Transport,
    UnreadableDocument,
)
from xca.mtom import MimePart, SoapMessage, read_soap_message, resolve_cid
from xca.ns import q
from xca.registry import ErrorSeverity, ResponseStatus, parse_registry_error_list, parse_status
from xca.safexml import DEFAULT_MAX_BYTES
from xca.soap import Action, Addressing, SoapFault, parse_envelope

__all__ = ["MAX_RESPONSE_BYTES", "parse_iti39_request", "parse_iti39_response"]

MAX_RESPONSE_BYTES: Final = 256 * 1024 * 1024
"""Default ceiling for the XML of a response: inline base64 documents make it large."""

_HOME: Final = (Quirk.HOME_COMMUNITY_WITHOUT_URN, Quirk.HOME_COMMUNITY_REPAIRED, Quirk.HOME_COMMUNITY_NOT_OID)
_REPOSITORY: Final = (Quirk.REPOSITORY_ID_WITH_URN, Quirk.REPOSITORY_ID_REPAIRED, Quirk.REPOSITORY_ID_NOT_OID)
_MessageInput = bytes | SoapMessage | etree._Element


def parse_iti39_request(
    message: _MessageInput, content_type: str | None = None, *, max_bytes: int = DEFAULT_MAX_BYTES
) -> RetrieveRequest:
    """Read a ``RetrieveDocumentSetRequest`` (responding side); every DocumentRequest must name a document."""
    soap_message = _read(message, content_type, max_bytes=max_bytes, large_text=False)
    payload, addressing, fault, quirks = _payload(
        soap_message.root, Action.ITI39_REQUEST, "RetrieveDocumentSetRequest"
    )
    if payload is None or fault is not None:
        raise UnexpectedMessageError("a SOAP Fault is not an ITI-39 request")
    documents: list[DocumentRequest] = []
    for index, element in enumerate(payload.iterfind(q(ns.XDSB, "DocumentRequest"))):
        doc_quirks: list[Quirk] = []
        home = _home(_text(element, "HomeCommunityId"), doc_quirks)
        repository = _text(element, "RepositoryUniqueId")
        document = _text(element, "DocumentUniqueId")
        if repository is None or document is None:
            missing = "RepositoryUniqueId" if repository is None else "DocumentUniqueId"
            raise MissingElementError(
                f"DocumentRequest has no {missing}", detail={"index": index, "element": missing}
            )
        repository = _oid(repository, doc_quirks, urn=False, codes=_REPOSITORY)
        documents.append(DocumentRequest(home, repository, document, tuple(doc_quirks)))
    if not documents:
        raise MissingElementError("RetrieveDocumentSetRequest has no DocumentRequest")
    transport = Transport.MTOM if soap_message.mtom else Transport.INLINE
    return RetrieveRequest(tuple(documents), addressing=addressing, transport=transport, quirks=tuple(quirks))


def parse_iti39_response(
    message: _MessageInput, content_type: str | None = None, *, max_bytes: int = MAX_RESPONSE_BYTES
) -> RetrieveResponse:
    """Read a ``RetrieveDocumentSetResponse`` (initiating side), MTOM or inline, or a SOAP Fault instead."""
    soap_message = _read(message, content_type, max_bytes=max_bytes, large_text=True)
    transport = Transport.MTOM if soap_message.mtom else Transport.INLINE
    payload, addressing, fault, quirks = _payload(
        soap_message.root, Action.ITI39_RESPONSE, "RetrieveDocumentSetResponse"
    )
    if payload is None or fault is not None:
        return RetrieveResponse(
            status=ResponseStatus.FAILURE,
            fault=fault,
            addressing=addressing,
            transport=transport,
            quirks=(*quirks, Quirk.SOAP_FAULT),
        )
    registry_response = payload.find(q(ns.RS, "RegistryResponse"))
    if registry_response is None:
        raise MissingElementError(
            "RetrieveDocumentSetResponse has no RegistryResponse", detail={"element": "rs:RegistryResponse"}
        )
    status = parse_status(registry_response.get("status"))
    errors = parse_registry_error_list(registry_response)
    documents: list[RetrievedDocument] = []
    unreadable: list[UnreadableDocument] = []
    for index, element in enumerate(payload.iterfind(q(ns.XDSB, "DocumentResponse"))):
        result = _document(element, index, soap_message.attachments)
        if isinstance(result, RetrievedDocument):
            documents.append(result)
        else:
            unreadable.append(result)
    has_errors = any(error.severity is ErrorSeverity.ERROR for error in errors)
    if status is ResponseStatus.SUCCESS and has_errors:
        quirks.append(Quirk.SUCCESS_WITH_ERRORS)
    if status is ResponseStatus.FAILURE and not errors:
        quirks.append(Quirk.FAILURE_WITHOUT_ERRORS)
    if status is ResponseStatus.FAILURE and documents:
        quirks.append(Quirk.FAILURE_WITH_DOCUMENTS)
    if unreadable:
        quirks.append(Quirk.UNREADABLE_DOCUMENTS)
    return RetrieveResponse(
        status=status,
        documents=tuple(documents),
        errors=errors,
        unreadable=tuple(unreadable),
        addressing=addressing,
        transport=transport,
        quirks=tuple(quirks),
    )


def _read(
    message: _MessageInput, content_type: str | None, *, max_bytes: int, large_text: bool
) -> SoapMessage:
    if isinstance(message, SoapMessage):
        return message
    if isinstance(message, etree._Element):
        return SoapMessage(root=message)
    return read_soap_message(message, content_type, max_bytes=max_bytes, large_text=large_text)


def _payload(
    root: etree._Element, action: Action, local: str
) -> tuple[etree._Element | None, Addressing | None, SoapFault | None, list[Quirk]]:
    quirks: list[Quirk] = []
    addressing: Addressing | None = None
    payload: etree._Element | None = root
    if etree.QName(root).localname == "Envelope":
        envelope = parse_envelope(root)
        addressing = envelope.addressing
        if envelope.fault is not None:
            return None, addressing, envelope.fault, quirks
        if addressing.action and addressing.action != action.value:
            quirks.append(Quirk.UNEXPECTED_ACTION)
        payload = envelope.body
        if payload is None:
            raise MissingElementError("SOAP Body is empty", detail={"element": local})
    if payload is None or payload.tag != q(ns.XDSB, local):
        found = etree.QName(payload).localname if payload is not None else None
        raise UnexpectedMessageError(f"expected an XDS.b {local}", detail={"root": found})
    return payload, addressing, None, quirks


def _document(
    element: etree._Element, index: int, attachments: Mapping[str, MimePart]
) -> RetrievedDocument | UnreadableDocument:
    quirks: list[Quirk] = []
    home = _home(_text(element, "HomeCommunityId"), quirks)
    repository = _text(element, "RepositoryUniqueId")
    if repository is not None:
        repository = _oid(repository, quirks, urn=False, codes=_REPOSITORY)
    document_id = _text(element, "DocumentUniqueId")

    def unreadable(reason: str) -> UnreadableDocument:
        return UnreadableDocument(index, reason, home, repository, document_id)

    if repository is None or document_id is None:
        return unreadable(f"{'RepositoryUniqueId' if repository is None else 'DocumentUniqueId'} missing")
    document_el = element.find(q(ns.XDSB, "Document"))
    if document_el is None:
        return unreadable("Document missing")
    include = document_el.find(q(ns.XOP, "Include"))
    content: bytes | memoryview | None
    if include is not None:
        try:
            content = resolve_cid(include.get("href") or "", attachments).content
        except MtomFormatError as exc:
            return unreadable(exc.message)
    else:
        content = _base64(document_el.text)
        if content is None:
            return unreadable("Document is neither base64 nor an xop:Include")
    mime_type = _text(element, "mimeType")
    if mime_type is None:
        quirks.append(Quirk.MIME_TYPE_MISSING)
    new_repository = _text(element, "NewRepositoryUniqueId")
    if new_repository is not None:
        new_repository = _oid(new_repository, quirks, urn=False, codes=_REPOSITORY)
    return RetrievedDocument(
        home_community_id=home,
        repository_unique_id=repository,
        document_unique_id=document_id,
        mime_type=mime_type or "application/octet-stream",
        content=content,
        new_repository_unique_id=new_repository,
        new_document_unique_id=_text(element, "NewDocumentUniqueId"),
        quirks=tuple(quirks),
    )


def _base64(text: str | None) -> bytes | None:
    try:
        return binascii.a2b_base64((text or "").encode("ascii").translate(None, b" \t\r\n"), strict_mode=True)
    except (UnicodeEncodeError, binascii.Error):
        return None


def _text(parent: etree._Element, local: str) -> str | None:
    element = parent.find(q(ns.XDSB, local))
    if element is None or element.text is None:
        return None
    return element.text.strip() or None


def _home(value: str | None, quirks: list[Quirk]) -> str | None:
    if value is None:
        quirks.append(Quirk.HOME_COMMUNITY_MISSING)
        return None
    return _oid(value, quirks, urn=True, codes=_HOME)


def _oid(value: str, quirks: list[Quirk], *, urn: bool, codes: tuple[Quirk, Quirk, Quirk]) -> str:
    """A bare OID from ``value``; notes a wrong ``urn:oid:`` form, repairs, or keeps a non-OID as sent."""
    if value.lower().startswith("urn:oid:") != urn:
        quirks.append(codes[0])
    try:
        normalized = normalize_oid(value)
    except InvalidValueError:
        quirks.append(codes[2])
        return value
    if normalized.repaired:
        quirks.append(codes[1])
    return normalized.value
