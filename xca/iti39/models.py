"""Typed models of ITI-39 Cross Gateway Retrieve messages (IHE ITI TF-2b 3.39, which reuses the
RetrieveDocumentSet messages of ITI-43, ITI TF-2b 3.43).

Frozen dataclasses with tuples. OIDs (homeCommunityId, repositoryUniqueId) are held bare; the builders add
``urn:oid:`` where the wire wants it. Document content is ``bytes`` or a zero-copy ``memoryview`` into the
received HTTP body (MTOM). Parsed models keep what was sent (Success with errors, Failure without) and list
repaired oddities as :class:`Quirk` values, which never carry PHI.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from xca.registry import RegistryError, ResponseStatus
from xca.soap import Addressing, SoapFault

__all__ = [
    "DocumentRequest",
    "Quirk",
    "RetrieveRequest",
    "RetrieveResponse",
    "RetrievedDocument",
    "Transport",
    "UnreadableDocument",
]


class Transport(StrEnum):
    """How a message travels: MTOM/XOP multipart (documents as attachments), or plain SOAP (base64 inside)."""

    MTOM = "mtom"
    INLINE = "inline"


class Quirk(StrEnum):
    """Oddities a tolerant parse repaired or noticed; short, fixed strings without PHI."""

    HOME_COMMUNITY_MISSING = "HomeCommunityId missing"
    HOME_COMMUNITY_WITHOUT_URN = "HomeCommunityId without urn:oid:"
    HOME_COMMUNITY_REPAIRED = "HomeCommunityId had stray characters"
    HOME_COMMUNITY_NOT_OID = "HomeCommunityId is not an OID"
    REPOSITORY_ID_WITH_URN = "RepositoryUniqueId with urn:oid:"
    REPOSITORY_ID_REPAIRED = "RepositoryUniqueId had stray characters"
    REPOSITORY_ID_NOT_OID = "RepositoryUniqueId is not an OID"
    MIME_TYPE_MISSING = "mimeType missing"
    UNEXPECTED_ACTION = "unexpected wsa:Action"
    SOAP_FAULT = "SOAP Fault instead of a RetrieveDocumentSetResponse"
    SUCCESS_WITH_ERRORS = "status Success with registry errors"
    FAILURE_WITHOUT_ERRORS = "status Failure without registry errors"
    FAILURE_WITH_DOCUMENTS = "status Failure with documents"
    UNREADABLE_DOCUMENTS = "some DocumentResponses could not be read"


@dataclass(frozen=True)
class DocumentRequest:
    """One ``DocumentRequest``: which document, in which repository, of which community."""

    home_community_id: str | None
    repository_unique_id: str
    document_unique_id: str
    quirks: tuple[Quirk, ...] = ()


@dataclass(frozen=True)
class RetrieveRequest:
    """A parsed ``RetrieveDocumentSetRequest`` (responding side)."""

    documents: tuple[DocumentRequest, ...]
    addressing: Addressing | None = None
    transport: Transport = Transport.INLINE
    quirks: tuple[Quirk, ...] = ()


@dataclass(frozen=True)
class RetrievedDocument:
    """One ``DocumentResponse``. ``new_*`` ids are set when an on-demand document was generated."""

    home_community_id: str | None
    repository_unique_id: str
    document_unique_id: str
    mime_type: str
    content: bytes | memoryview = field(repr=False)
    new_repository_unique_id: str | None = None
    new_document_unique_id: str | None = None
    quirks: tuple[Quirk, ...] = ()

    @property
    def retrieved_unique_id(self) -> str:
        """The id of the content returned: the new id for on-demand documents, else the requested one."""
        return self.new_document_unique_id or self.document_unique_id


@dataclass(frozen=True)
class UnreadableDocument:
    """A ``DocumentResponse`` whose content or ids could not be read; ``reason`` is a short PHI-free text."""

    index: int
    reason: str
    home_community_id: str | None = None
    repository_unique_id: str | None = None
    document_unique_id: str | None = None


@dataclass(frozen=True)
class RetrieveResponse:
    """A parsed ``RetrieveDocumentSetResponse`` (initiating side), or the SOAP Fault sent instead."""

    status: ResponseStatus
    documents: tuple[RetrievedDocument, ...] = ()
    errors: tuple[RegistryError, ...] = ()
    unreadable: tuple[UnreadableDocument, ...] = ()
    fault: SoapFault | None = None
    addressing: Addressing | None = None
    transport: Transport = Transport.INLINE
    quirks: tuple[Quirk, ...] = ()
