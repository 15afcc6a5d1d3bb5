"""Typed models of ITI-38 Cross Gateway Query messages and XDS DocumentEntry metadata (IHE ITI TF-2b 3.38,
TF-3 4.2.3.2).

Frozen dataclasses with tuples. OIDs (homeCommunityId, repositoryUniqueId, CX roots) are held bare; the
builders add ``urn:oid:`` where the wire wants it. Parsed models keep what was sent (a Success response with
errors, a Failure without) and list repaired oddities as :class:`~xca.iti38.constants.Quirk` values.
"""

from __future__ import annotations

from dataclasses import dataclass

from xca.errors import InvalidValueError
from xca.ids import Cx
from xca.iti38.constants import AvailabilityStatus, EntryType, Quirk, ReturnType
from xca.iti38.dtm import Dtm
from xca.registry import RegistryError, ResponseStatus

__all__ = [
    "Author",
    "Code",
    "DocumentEntry",
    "FindDocumentsQuery",
    "GetDocumentsQuery",
    "Iti38Request",
    "ObjectRef",
    "ParsedIti38Request",
    "QueryResponse",
    "StoredQuery",
]


@dataclass(frozen=True)
class Code:
    """A coded value: ``code`` (nodeRepresentation), ``scheme`` (codingScheme), ``display`` (Name)."""

    code: str
    scheme: str
    display: str | None = None


@dataclass(frozen=True)
class Author:
    """One ``XDSDocumentEntry.author`` classification; values are HL7 v2 XCN/XON/CWE strings as sent."""

    person: str | None = None
    institutions: tuple[str, ...] = ()
    roles: tuple[str, ...] = ()
    specialties: tuple[str, ...] = ()
    telecommunications: tuple[str, ...] = ()


@dataclass(frozen=True)
class DocumentEntry:
    """An ``XDSDocumentEntry`` as carried by one ``rim:ExtrinsicObject`` of an ITI-38 response."""

    entry_uuid: str
    unique_id: str
    patient_id: Cx | None = None
    home_community_id: str | None = None
    repository_unique_id: str | None = None
    mime_type: str = "application/octet-stream"
    entry_type: EntryType = EntryType.STABLE
    availability_status: AvailabilityStatus | None = AvailabilityStatus.APPROVED
    size: int | None = None
    hash: str | None = None
    creation_time: Dtm | None = None
    service_start_time: Dtm | None = None
    service_stop_time: Dtm | None = None
    language_code: str | None = None
    title: str | None = None
    comments: str | None = None
    source_patient_id: Cx | None = None
    class_code: Code | None = None
    type_code: Code | None = None
    format_code: Code | None = None
    healthcare_facility_type_code: Code | None = None
    practice_setting_code: Code | None = None
    confidentiality_codes: tuple[Code, ...] = ()
    event_codes: tuple[Code, ...] = ()
    authors: tuple[Author, ...] = ()
    quirks: tuple[Quirk, ...] = ()


@dataclass(frozen=True)
class ObjectRef:
    """A ``rim:ObjectRef`` (returnType ObjectRef): the entryUUID and the community holding it."""

    id: str
    home_community_id: str | None = None


@dataclass(frozen=True)
class FindDocumentsQuery:
    """FindDocuments (TF-2a 3.18.4.1.2.3.7.1).

    Codes within one field are OR-ed. ``event_codes`` and ``confidentiality_codes`` use the AND/OR form:
    each inner tuple is OR-ed, the groups are AND-ed. Time ranges compare creationTime and service times.
    """

    patient_id: Cx
    statuses: tuple[AvailabilityStatus, ...] = (AvailabilityStatus.APPROVED,)
    class_codes: tuple[Code, ...] = ()
    type_codes: tuple[Code, ...] = ()
    practice_setting_codes: tuple[Code, ...] = ()
    healthcare_facility_type_codes: tuple[Code, ...] = ()
    format_codes: tuple[Code, ...] = ()
    event_codes: tuple[tuple[Code, ...], ...] = ()
    confidentiality_codes: tuple[tuple[Code, ...], ...] = ()
    author_persons: tuple[str, ...] = ()
    creation_time_from: Dtm | None = None
    creation_time_to: Dtm | None = None
    service_start_time_from: Dtm | None = None
    service_start_time_to: Dtm | None = None
    service_stop_time_from: Dtm | None = None
    service_stop_time_to: Dtm | None = None
    entry_types: tuple[EntryType, ...] = ()

    def __post_init__(self) -> None:
        if not self.statuses:
            raise InvalidValueError("FindDocuments needs at least one $XDSDocumentEntryStatus value")
        if any(not group for group in (*self.event_codes, *self.confidentiality_codes)):
            raise InvalidValueError("an AND/OR code group is empty")


@dataclass(frozen=True)
class GetDocumentsQuery:
    """GetDocuments (TF-2a 3.18.4.1.2.3.7.5): by entryUUIDs or by uniqueIds, exactly one of the two."""

    entry_uuids: tuple[str, ...] = ()
    unique_ids: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if bool(self.entry_uuids) == bool(self.unique_ids):
            raise InvalidValueError(
                "GetDocuments takes either entry UUIDs or unique ids, not both or neither"
            )


StoredQuery = FindDocumentsQuery | GetDocumentsQuery


@dataclass(frozen=True)
class Iti38Request:
    """A Cross Gateway Query: the stored query, the target community (``home``) and the return type."""

    query: StoredQuery
    home_community_id: str | None = None
    return_type: ReturnType = ReturnType.LEAF_CLASS


@dataclass(frozen=True)
class ParsedIti38Request:
    """A request as a Responding Gateway read it: ``request`` when usable, else the errors to return."""

    query_id: str
    request: Iti38Request | None
    errors: tuple[RegistryError, ...] = ()
    quirks: tuple[Quirk, ...] = ()


@dataclass(frozen=True)
class QueryResponse:
    """An AdhocQueryResponse: status, DocumentEntries or ObjectRefs, and registry errors, as sent."""

    status: ResponseStatus
    documents: tuple[DocumentEntry, ...] = ()
    object_refs: tuple[ObjectRef, ...] = ()
    errors: tuple[RegistryError, ...] = ()
    quirks: tuple[Quirk, ...] = ()
