"""Strict builders of ITI-39 Cross Gateway Retrieve messages (IHE ITI TF-2b 3.39.4.1 request, 3.39.4.2
response; message semantics of ITI-43, ITI TF-2b 3.43.4).

Builders return the SOAP Body payload; wrap it with :func:`xca.soap.build_envelope`, sign it, then turn it
into an HTTP body with :func:`to_http`. ITI-39 uses MTOM/XOP in both directions: a response's documents
become ``xop:Include`` references to attachments that share the caller's buffers (no base64, no copy until
the body is written). ``Transport.INLINE`` puts base64 text in ``Document`` for peers that want it.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Final

from lxml import etree

from xca import ns
from xca.errors import InvalidValueError
from xca.ids import oid_urn, require_oid
from xca.iti39.models import DocumentRequest, RetrievedDocument, Transport
from xca.mtom import Attachment, new_content_id, write_mtom
from xca.ns import q
from xca.registry import RegistryError, ResponseStatus, build_registry_error_list
from xca.soap import CONTENT_TYPE, to_bytes

__all__ = ["BuiltResponse", "build_iti39_request", "build_iti39_response", "to_http"]

_MAX_LONG_NAME: Final = 256  # rim:LongName


@dataclass(frozen=True)
class BuiltResponse:
    """A built ``RetrieveDocumentSetResponse`` and the attachments its ``xop:Include`` elements name."""

    body: etree._Element = field(repr=False)
    attachments: tuple[Attachment, ...] = ()
    transport: Transport = Transport.MTOM


def build_iti39_request(documents: Iterable[DocumentRequest]) -> etree._Element:
    """A ``RetrieveDocumentSetRequest`` with one ``DocumentRequest`` per document, in order."""
    root = etree.Element(q(ns.XDSB, "RetrieveDocumentSetRequest"), nsmap={"xdsb": ns.XDSB})
    for document in documents:
        request = etree.SubElement(root, q(ns.XDSB, "DocumentRequest"))
        _add_ids(
            request, document.home_community_id, document.repository_unique_id, document.document_unique_id
        )
    if len(root) == 0:
        raise InvalidValueError("an ITI-39 request needs at least one DocumentRequest")
    return root


def build_iti39_response(
    documents: Sequence[RetrievedDocument],
    *,
    status: ResponseStatus | None = None,
    errors: Sequence[RegistryError] = (),
    transport: Transport = Transport.MTOM,
    home_community_id: str | None = None,
    content_ids: Sequence[str] | None = None,
) -> BuiltResponse:
    """A ``RetrieveDocumentSetResponse`` for ``documents`` and ``errors``.

    ``status`` defaults to Success without errors, PartialSuccess with errors and documents, Failure with
    errors only. ``home_community_id`` (bare OID, the responding community) becomes the ``location`` of
    errors that have none. ``content_ids`` fixes the attachments' Content-IDs (deterministic tests).
    """
    if content_ids is not None and len(content_ids) != len(documents):
        raise InvalidValueError("content_ids must name one Content-ID per document")
    if status is None:
        status = ResponseStatus.SUCCESS
        if errors:
            status = ResponseStatus.PARTIAL_SUCCESS if documents else ResponseStatus.FAILURE
    location = oid_urn(home_community_id) if home_community_id else None
    located = [replace(e, location=location) if e.location is None and location else e for e in errors]
    root = etree.Element(q(ns.XDSB, "RetrieveDocumentSetResponse"), nsmap={"xdsb": ns.XDSB, "rs": ns.RS})
    registry_response = etree.SubElement(root, q(ns.RS, "RegistryResponse"), status=status.value)
    error_list = build_registry_error_list(located)
    if error_list is not None:
        registry_response.append(error_list)
    attachments: list[Attachment] = []
    for index, document in enumerate(documents):
        response = etree.SubElement(root, q(ns.XDSB, "DocumentResponse"))
        _add_ids(
            response, document.home_community_id, document.repository_unique_id, document.document_unique_id
        )
        if document.new_repository_unique_id:
            _child(
                response,
                "NewRepositoryUniqueId",
                require_oid(document.new_repository_unique_id, what="new repository unique id"),
            )
        if document.new_document_unique_id:
            _child(
                response,
                "NewDocumentUniqueId",
                _long_name(document.new_document_unique_id, "new document unique id"),
            )
        _child(response, "mimeType", _long_name(document.mime_type, "mime type", spaces=True))
        document_el = etree.SubElement(response, q(ns.XDSB, "Document"))
        if transport is Transport.MTOM:
            content_id = content_ids[index] if content_ids is not None else new_content_id()
            attachment = Attachment(content_id, document.content, document.mime_type)
            include = etree.SubElement(document_el, q(ns.XOP, "Include"), nsmap={"xop": ns.XOP})
            include.set("href", attachment.href)
            attachments.append(attachment)
        else:
            document_el.text = base64.b64encode(document.content).decode("ascii")
    return BuiltResponse(body=root, attachments=tuple(attachments), transport=transport)


def to_http(
    envelope: etree._Element,
    attachments: Iterable[Attachment] = (),
    *,
    transport: Transport = Transport.MTOM,
    boundary: str | None = None,
    root_content_id: str | None = None,
) -> tuple[bytes, str]:
    """HTTP body and Content-Type of a (signed) envelope: MTOM/XOP multipart, or plain SOAP for INLINE."""
    attachments = tuple(attachments)
    if transport is Transport.INLINE:
        if attachments:
            raise InvalidValueError("an inline message cannot carry attachments")
        return to_bytes(envelope), CONTENT_TYPE
    return write_mtom(to_bytes(envelope), attachments, boundary=boundary, root_content_id=root_content_id)


def _add_ids(parent: etree._Element, home: str | None, repository: str, document: str) -> None:
    if not home:
        raise InvalidValueError("XCA requires a HomeCommunityId on every document")
    _child(parent, "HomeCommunityId", oid_urn(home))
    _child(parent, "RepositoryUniqueId", require_oid(repository, what="repository unique id"))
    _child(parent, "DocumentUniqueId", _long_name(document, "document unique id"))


def _long_name(value: str, what: str, *, spaces: bool = False) -> str:
    value = value.strip()
    bad = (lambda ch: ch in "\r\n") if spaces else str.isspace
    if not value or len(value) > _MAX_LONG_NAME or any(bad(ch) for ch in value):
        raise InvalidValueError(
            f"{what} must be 1 to {_MAX_LONG_NAME} characters on one line, ids without spaces"
        )
    return value


def _child(parent: etree._Element, local: str, text: str) -> None:
    etree.SubElement(parent, q(ns.XDSB, local)).text = text
