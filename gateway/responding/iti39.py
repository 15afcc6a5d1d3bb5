"""Responding to Cross Gateway Retrieve [ITI-39] (IHE ITI TF-2b 3.39.4.1.3; ITI-43 semantics, TF-2b 3.43.4.2):
the requested documents as MTOM/XOP attachments, and a registry error for each one that cannot be given.

Per DocumentRequest: no HomeCommunityId → XDSMissingHomeCommunityId; another community →
XDSUnknownCommunity; another repository → XDSUnknownRepositoryId; an unknown document →
XDSDocumentUniqueIdError. Status is Success, PartialSuccess or Failure accordingly. A request that cannot
be read as a RetrieveDocumentSetRequest is answered Failure with XDSRepositoryError (or
XDSDocumentUniqueIdError when a DocumentRequest lacks its DocumentUniqueId).
"""

from __future__ import annotations

from gateway.audit import Direction, DocumentRef, Transaction, TransactionEvent
from gateway.responding.context import Exchange, Handled
from gateway.responding.documents import retrieve
from gateway.responding.iti38 import patients_of, status_outcome
from xca.errors import WireFormatError
from xca.iti38 import DocumentEntry
from xca.iti39 import DocumentRequest, RetrievedDocument, Transport, build_iti39_response, parse_iti39_request
from xca.mtom import SoapMessage
from xca.registry import RegistryError, ResponseStatus, XdsErrorCode

__all__ = ["handle_iti39"]


def _one(x: Exchange, wanted: DocumentRequest) -> tuple[RetrievedDocument, DocumentEntry] | RegistryError:
    config = x.config
    if wanted.home_community_id is None:
        return RegistryError(
            XdsErrorCode.MISSING_HOME_COMMUNITY_ID.value, "DocumentRequest has no HomeCommunityId"
        )
    if wanted.home_community_id != config.home_community_id:
        return RegistryError(XdsErrorCode.UNKNOWN_COMMUNITY.value, "HomeCommunityId is not this community")
    if wanted.repository_unique_id != config.repository_unique_id:
        return RegistryError(XdsErrorCode.UNKNOWN_REPOSITORY_ID.value, "RepositoryUniqueId is not known here")
    if wanted.document_unique_id in config.unavailable_documents:
        return RegistryError(XdsErrorCode.MISSING_DOCUMENT.value, "the document's content is not available")
    stored = retrieve(x.session, x.tenant, wanted.repository_unique_id, wanted.document_unique_id)
    if stored is None:
        return RegistryError(
            XdsErrorCode.DOCUMENT_UNIQUE_ID_ERROR.value, "no document with this DocumentUniqueId"
        )
    document = RetrievedDocument(
        home_community_id=config.home_community_id,
        repository_unique_id=config.repository_unique_id,
        document_unique_id=wanted.document_unique_id,
        mime_type=stored.entry.mime_type,
        content=stored.content,
    )
    return document, stored.entry


def _request_error(exc: WireFormatError) -> RegistryError:
    missing_document_id = exc.detail.get("element") == "DocumentUniqueId"
    code = XdsErrorCode.DOCUMENT_UNIQUE_ID_ERROR if missing_document_id else XdsErrorCode.REPOSITORY_ERROR
    return RegistryError(code.value, exc.message)


def handle_iti39(x: Exchange) -> Handled:
    """Answer one verified ITI-39 retrieve."""
    assert x.verified.body is not None  # the pipeline checked
    documents: list[RetrievedDocument] = []
    errors: list[RegistryError] = []
    entries: list[DocumentEntry] = []
    try:
        parsed = parse_iti39_request(SoapMessage(x.verified.body, x.attachments, x.mtom))
    except WireFormatError as exc:
        errors.append(_request_error(exc))
    else:
        if len(parsed.documents) > x.config.max_documents_per_retrieve:
            errors.append(RegistryError(XdsErrorCode.TOO_MANY_RESULTS.value, "too many DocumentRequests"))
        else:
            for wanted in parsed.documents:
                result = _one(x, wanted)
                if isinstance(result, RegistryError):
                    errors.append(result)
                else:
                    documents.append(result[0])
                    entries.append(result[1])
    built = build_iti39_response(
        documents, errors=errors, transport=Transport.MTOM, home_community_id=x.config.home_community_id
    )
    status = (
        ResponseStatus.SUCCESS
        if not errors
        else ResponseStatus.PARTIAL_SUCCESS
        if documents
        else ResponseStatus.FAILURE
    )
    event = TransactionEvent(
        transaction=Transaction.ITI_39,
        direction=Direction.RESPONDING,
        outcome=status_outcome(status),
        requestor=x.requestor,
        remote=x.remote,
        error_codes=tuple(e.error_code for e in errors),
        patients=patients_of(entries),
        documents=tuple(
            DocumentRef(
                unique_id=d.document_unique_id,
                repository_id=d.repository_unique_id,
                home_community_id=d.home_community_id,
            )
            for d in documents
        ),
        message_id=x.verified.addressing.message_id,
        local_endpoint=x.request.endpoint,
    )
    return Handled(body=built.body, event=event, attachments=built.attachments)
