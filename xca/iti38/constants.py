"""Protocol constants of ITI-38 and of XDS DocumentEntry metadata (IHE ITI TF-2b 3.38, TF-2a 3.18.4.1.2.3,
TF-3 4.2.3.2 and Table 4.2.5-1).

Every URN the wire code uses lives here as an Enum member; :class:`Quirk` names the oddities the tolerant
parsers record (fixed texts, so a quirk never carries PHI).
"""

from __future__ import annotations

from enum import StrEnum

__all__ = [
    "AvailabilityStatus",
    "ClassificationScheme",
    "EntryType",
    "ExternalIdentifierScheme",
    "MetadataSlot",
    "QueryParam",
    "Quirk",
    "ReturnType",
    "StoredQueryId",
]


class StoredQueryId(StrEnum):
    """Stored queries a Responding Gateway must support (TF-2a 3.18.4.1.2.4)."""

    FIND_DOCUMENTS = "urn:uuid:14d4debf-8f97-4251-9a74-a90016b0af0d"
    GET_DOCUMENTS = "urn:uuid:5c4f972b-d56b-40ac-a5fc-c8ca9b40b9d4"


class AvailabilityStatus(StrEnum):
    """``XDSDocumentEntry.availabilityStatus`` (TF-3 4.2.3.2.2)."""

    APPROVED = "urn:oasis:names:tc:ebxml-regrep:StatusType:Approved"
    DEPRECATED = "urn:oasis:names:tc:ebxml-regrep:StatusType:Deprecated"


class EntryType(StrEnum):
    """``XDSDocumentEntry.objectType``: stable or on-demand DocumentEntry (TF-3 4.2.5.2)."""

    STABLE = "urn:uuid:7edca82f-054d-47f2-a032-9b2a5b5186c1"
    ON_DEMAND = "urn:uuid:34268e47-fdf5-41a6-ba33-82133c465248"


class ClassificationScheme(StrEnum):
    """External classification schemes of a DocumentEntry (TF-3 Table 4.2.5-1)."""

    AUTHOR = "urn:uuid:93606bcf-9494-43ec-9b4e-a7748d1a838d"
    CLASS_CODE = "urn:uuid:41a5887f-8865-4c09-adf7-e362475b143a"
    CONFIDENTIALITY_CODE = "urn:uuid:f4f85eac-e6cb-4883-b524-f2705394840f"
    EVENT_CODE_LIST = "urn:uuid:2c6b8cb7-8b2a-4051-b291-b1ae6a575ef4"
    FORMAT_CODE = "urn:uuid:a09d5840-386c-46f2-b5ad-9c3699a4309d"
    HEALTHCARE_FACILITY_TYPE_CODE = "urn:uuid:f33fb8ac-18af-42cc-ae0e-ed0b0bdb91e1"
    PRACTICE_SETTING_CODE = "urn:uuid:cccf5598-8b07-4b77-a05e-ae952c785ead"
    TYPE_CODE = "urn:uuid:f0306f51-975f-434e-a61c-c59651d33983"


class ExternalIdentifierScheme(StrEnum):
    """External identifier schemes of a DocumentEntry, with the Name each one carries."""

    PATIENT_ID = "urn:uuid:58a6f841-87b3-4a3e-92fd-a8ffeff98427"
    UNIQUE_ID = "urn:uuid:2e82c1f6-a085-4c72-9da3-8640a32e42ab"

    @property
    def display_name(self) -> str:
        local = "patientId" if self is ExternalIdentifierScheme.PATIENT_ID else "uniqueId"
        return f"XDSDocumentEntry.{local}"


class MetadataSlot(StrEnum):
    """Slot names on a DocumentEntry ExtrinsicObject and on its author Classification."""

    CREATION_TIME = "creationTime"
    HASH = "hash"
    LANGUAGE_CODE = "languageCode"
    REPOSITORY_UNIQUE_ID = "repositoryUniqueId"
    SERVICE_START_TIME = "serviceStartTime"
    SERVICE_STOP_TIME = "serviceStopTime"
    SIZE = "size"
    SOURCE_PATIENT_ID = "sourcePatientId"
    CODING_SCHEME = "codingScheme"
    AUTHOR_PERSON = "authorPerson"
    AUTHOR_INSTITUTION = "authorInstitution"
    AUTHOR_ROLE = "authorRole"
    AUTHOR_SPECIALTY = "authorSpecialty"
    AUTHOR_TELECOMMUNICATION = "authorTelecommunication"


class QueryParam(StrEnum):
    """Stored query parameters of FindDocuments and GetDocuments (TF-2a 3.18.4.1.2.3.7.1 and .5)."""

    PATIENT_ID = "$XDSDocumentEntryPatientId"
    STATUS = "$XDSDocumentEntryStatus"
    CLASS_CODE = "$XDSDocumentEntryClassCode"
    TYPE_CODE = "$XDSDocumentEntryTypeCode"
    PRACTICE_SETTING_CODE = "$XDSDocumentEntryPracticeSettingCode"
    HEALTHCARE_FACILITY_TYPE_CODE = "$XDSDocumentEntryHealthcareFacilityTypeCode"
    EVENT_CODE_LIST = "$XDSDocumentEntryEventCodeList"
    CONFIDENTIALITY_CODE = "$XDSDocumentEntryConfidentialityCode"
    FORMAT_CODE = "$XDSDocumentEntryFormatCode"
    AUTHOR_PERSON = "$XDSDocumentEntryAuthorPerson"
    CREATION_TIME_FROM = "$XDSDocumentEntryCreationTimeFrom"
    CREATION_TIME_TO = "$XDSDocumentEntryCreationTimeTo"
    SERVICE_START_TIME_FROM = "$XDSDocumentEntryServiceStartTimeFrom"
    SERVICE_START_TIME_TO = "$XDSDocumentEntryServiceStartTimeTo"
    SERVICE_STOP_TIME_FROM = "$XDSDocumentEntryServiceStopTimeFrom"
    SERVICE_STOP_TIME_TO = "$XDSDocumentEntryServiceStopTimeTo"
    ENTRY_TYPE = "$XDSDocumentEntryType"
    ENTRY_UUID = "$XDSDocumentEntryEntryUUID"
    UNIQUE_ID = "$XDSDocumentEntryUniqueId"


class ReturnType(StrEnum):
    """``query:ResponseOption/@returnType`` values XCA uses (TF-2b 3.38.4.1.2)."""

    LEAF_CLASS = "LeafClass"
    OBJECT_REF = "ObjectRef"


class Quirk(StrEnum):
    """Oddities the tolerant parsers repaired or dropped; fixed texts, never values from the message."""

    HOME_WITHOUT_URN_OID = "homeCommunityId without urn:oid: prefix"
    HOME_NOT_AN_OID = "homeCommunityId is not an OID; dropped"
    OID_REPAIRED = "stray characters removed from an OID"
    REPOSITORY_ID_WITH_URN_OID = "repositoryUniqueId carries a urn:oid: prefix"
    UUID_NOT_CANONICAL = "urn:uuid: identifier not in lower-case canonical form"
    ID_NOT_A_UUID = "object id is not a urn:uuid: identifier"
    IMPOSSIBLE_DATE = "a date/time value is not a calendar date; dropped"
    DATE_WITH_ZONE_OR_FRACTION = "a date/time value carried a time zone or fraction"
    SIZE_NOT_INTEGER = "size is not a non-negative integer; dropped"
    CODE_INCOMPLETE = "a coded classification lacks its code or coding scheme; dropped"
    REPOSITORY_ID_NOT_AN_OID = "repositoryUniqueId is not an OID; kept as sent"
    OBJECT_IN_OTHER_NAMESPACE = "a registry object outside the ebRIM 3.0 namespace was ignored"
    PATIENT_ID_NOT_CX = "a patient id is not in CX form; dropped"
    UNKNOWN_OBJECT_TYPE = "unknown DocumentEntry objectType; read as stable"
    UNKNOWN_AVAILABILITY_STATUS = "unknown availability status; dropped"
    MISSING_ENTRY_METADATA = "a required DocumentEntry attribute is absent"
    ENTRY_WITHOUT_ID_SKIPPED = "an ExtrinsicObject without an id was skipped"
    ENTRY_WITHOUT_UNIQUE_ID_SKIPPED = "an ExtrinsicObject without a uniqueId was skipped"
    ENTRY_UNUSABLE_SKIPPED = "an unusable ExtrinsicObject was skipped"
    OBJECT_REF_WITHOUT_ID_SKIPPED = "an ObjectRef without an id was skipped"
    REGISTRY_RESPONSE_ROOT = "rs:RegistryResponse sent in place of query:AdhocQueryResponse"
    NUMBER_QUOTED = "a numeric stored query value was quoted"
    SINGLE_VALUE_AS_LIST = "a single-valued stored query parameter was sent as a one-element list"
    UNKNOWN_PARAMETER = "an unknown stored query parameter was ignored"
    UNKNOWN_STATUS_VALUE = "an unknown $XDSDocumentEntryStatus value was ignored"
    UNKNOWN_ENTRY_TYPE_VALUE = "an unknown $XDSDocumentEntryType value was ignored"
