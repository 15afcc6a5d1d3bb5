"""Typed models of IHE XCPD Cross Gateway Patient Discovery [ITI-55] (IHE ITI TF-2b 3.55).

PRPA_IN201305UV02 (the query) becomes :class:`Iti55Request`; PRPA_IN201306UV02 (the answer) becomes
:class:`Iti55Response`. Coded values are ``StrEnum`` members where the standard fixes them; codes read
from the wire are kept as plain strings (a ``StrEnum`` member compares equal to its value), so a peer's
unknown code never makes a message unreadable. ``quirks`` lists what a parser had to repair, without PHI.

Parsed messages may lack what builders require: ``creation_time`` is ``None`` when a peer's creationTime
could not be read, and a parsed :class:`Iti55Query` keeps the received ``queryByParameter`` bytes
(:attr:`Iti55Query.raw`) so the response can echo it exactly (IHE ITI TF-2b 3.55.4.2).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum
from typing import Final

from xca.errors import InvalidValueError
from xca.ids import Cx

__all__ = [
    "ACK_DETAIL_CODE_SYSTEM",
    "DETECTED_ISSUE_CODE_SYSTEM",
    "ERROR_CODE_SYSTEM",
    "GENDER_CODE_SYSTEM",
    "NPI_ROOT",
    "REQUESTED_ATTRIBUTE_CODE_SYSTEM",
    "SSN_ROOT",
    "AckCode",
    "AcknowledgementDetail",
    "Address",
    "AdministrativeGender",
    "Code",
    "Demographics",
    "DetectedIssue",
    "Device",
    "ErrorCode",
    "Ii",
    "Iti55Query",
    "Iti55Request",
    "Iti55Response",
    "PartialDate",
    "PatientMatch",
    "PersonName",
    "ProcessingCode",
    "QueryResponseCode",
    "RequestedAttribute",
    "ResponsePriority",
    "Telecom",
]

SSN_ROOT: Final = "2.16.840.1.113883.4.1"
NPI_ROOT: Final = "2.16.840.1.113883.4.6"
GENDER_CODE_SYSTEM: Final = "2.16.840.1.113883.5.1"
REQUESTED_ATTRIBUTE_CODE_SYSTEM: Final = "1.3.6.1.4.1.19376.1.2.27.1"
ERROR_CODE_SYSTEM: Final = "1.3.6.1.4.1.19376.1.2.27.3"
DETECTED_ISSUE_CODE_SYSTEM: Final = "2.16.840.1.113883.5.4"
ACK_DETAIL_CODE_SYSTEM: Final = "2.16.840.1.113883.5.1100"


class AdministrativeGender(StrEnum):
    """HL7 AdministrativeGender (code system 2.16.840.1.113883.5.1)."""

    MALE = "M"
    FEMALE = "F"
    UNDIFFERENTIATED = "UN"


class AckCode(StrEnum):
    """``acknowledgement/typeCode``: AA accepted, AE application error."""

    AA = "AA"
    AE = "AE"


class QueryResponseCode(StrEnum):
    """``queryAck/queryResponseCode``: OK matches, NF no match, AE application error, QE query error."""

    OK = "OK"
    NF = "NF"
    AE = "AE"
    QE = "QE"


class ResponsePriority(StrEnum):
    IMMEDIATE = "I"
    DEFERRED = "D"


class ProcessingCode(StrEnum):
    PRODUCTION = "P"
    TRAINING = "T"
    DEBUGGING = "D"


class RequestedAttribute(StrEnum):
    """ "More attributes requested" codes (1.3.6.1.4.1.19376.1.2.27.1), sent with NF to narrow a query."""

    GENDER = "LivingSubjectAdministrativeGenderRequested"
    ADDRESS = "PatientAddressRequested"
    TELECOM = "PatientTelecomRequested"
    BIRTH_PLACE_NAME = "LivingSubjectBirthPlaceNameRequested"
    BIRTH_PLACE_ADDRESS = "LivingSubjectBirthPlaceAddressRequested"
    MOTHERS_MAIDEN_NAME = "MothersMaidenNameRequested"
    SSN = "SSNRequested"


class ErrorCode(StrEnum):
    """Responder error codes (1.3.6.1.4.1.19376.1.2.27.3) carried in ``detectedIssueManagement``."""

    INTERNAL_ERROR = "InternalError"
    ANSWER_NOT_AVAILABLE = "AnswerNotAvailable"
    RESPONDER_BUSY = "ResponderBusy"


@dataclass(frozen=True)
class Ii:
    """HL7 v3 instance identifier: ``root`` (an OID or UUID) with an optional ``extension``."""

    root: str
    extension: str | None = None


@dataclass(frozen=True)
class Code:
    """A coded value (CE/CD) as sent: the code, its system OID and an optional display text."""

    code: str
    code_system: str | None = None
    display: str | None = None


@dataclass(frozen=True)
class PersonName:
    """HL7 v3 PN. ``text`` keeps an unstructured name some peers send instead of parts."""

    given: tuple[str, ...] = ()
    family: str | None = None
    prefix: tuple[str, ...] = ()
    suffix: tuple[str, ...] = ()
    use: str | None = None
    text: str | None = None


@dataclass(frozen=True)
class Address:
    """HL7 v3 AD with the parts XCPD uses."""

    street_lines: tuple[str, ...] = ()
    city: str | None = None
    state: str | None = None
    postal_code: str | None = None
    country: str | None = None
    use: str | None = None


@dataclass(frozen=True)
class Telecom:
    """HL7 v3 TEL: a URL such as ``tel:+1-555-555-1234`` or ``mailto:...``, with an optional use code."""

    value: str
    use: str | None = None


@dataclass(frozen=True)
class PartialDate:
    """A birth time stated to the year (``1965``) or to the month (``196503``), never a calendar day.

    Kept apart from ``Demographics.birth_date`` on purpose: code that compares ``birth_date`` for equality
    never mistakes "some time in 1965" for 1 January 1965. Matching compares at the stated precision with
    :meth:`contains`.
    """

    year: int
    month: int | None = None

    def __post_init__(self) -> None:
        if not 1 <= self.year <= 9999:
            raise InvalidValueError("a partial date needs a year between 1 and 9999")
        if self.month is not None and not 1 <= self.month <= 12:
            raise InvalidValueError("a partial date's month must be between 1 and 12")

    def contains(self, day: date) -> bool:
        """Whether ``day`` lies in the stated year (and month): compatible, not proof of identity."""
        return day.year == self.year and (self.month is None or day.month == self.month)

    def to_ts(self) -> str:
        """HL7 TS text at the stated precision: ``YYYY`` or ``YYYYMM``."""
        return f"{self.year:04d}" if self.month is None else f"{self.year:04d}{self.month:02d}"


@dataclass(frozen=True)
class Demographics:
    """What a query asks for, or what a responder knows about a matched patient.

    ``birth_date`` is only ever a full calendar day. A birth time stated to the year or month is
    ``birth_date_partial``; ``birth_date_raw`` keeps the wire text when it is neither (``19849711``).
    ``identifiers`` are livingSubjectId (request) or asOtherIDs (response); ``principal_care_provider_ids``
    only exist in a request.
    """

    names: tuple[PersonName, ...] = ()
    gender: AdministrativeGender | None = None
    birth_date: date | None = None
    birth_date_raw: str | None = None
    birth_date_partial: PartialDate | None = None
    addresses: tuple[Address, ...] = ()
    telecoms: tuple[Telecom, ...] = ()
    identifiers: tuple[Ii, ...] = ()
    principal_care_provider_ids: tuple[Ii, ...] = ()

    @property
    def ssn(self) -> str | None:
        return next((i.extension for i in self.identifiers if i.root == SSN_ROOT), None)

    @property
    def npi(self) -> str | None:
        return next((i.extension for i in self.principal_care_provider_ids if i.root == NPI_ROOT), None)

    @property
    def has_birth_time(self) -> bool:
        """A readable birth time, to the day or partial."""
        return self.birth_date is not None or self.birth_date_partial is not None

    @property
    def has_minimum_criteria(self) -> bool:
        """ITI-55 needs a livingSubjectId, or a name together with a birth time (any TS precision)."""
        return bool(self.identifiers) or (bool(self.names) and self.has_birth_time)


@dataclass(frozen=True)
class Device:
    """A sender or receiver: device id, the community it acts for (homeCommunityId) and its endpoint."""

    device_id: str
    home_community_id: str | None = None
    telecom: str | None = None


@dataclass(frozen=True)
class Iti55Query:
    """``queryByParameter``: sent in the request and echoed in the response.

    ``raw`` is the received element serialized as sent (parsers set it when the query read cleanly): a
    response built for it echoes these bytes verbatim, parameters the model does not carry included
    (mothersMaidenName, birth place, matchAlgorithm...). It is left out of equality and repr, and it wins
    over the other fields when echoing: clear it (``replace(query, raw=None)``) after changing a parsed
    query. Requests are always built from the fields.
    """

    query_id: Ii
    demographics: Demographics
    priority: ResponsePriority = ResponsePriority.IMMEDIATE
    minimum_degree_match: int | None = None
    raw: bytes | None = field(default=None, repr=False, compare=False)


@dataclass(frozen=True)
class Iti55Request:
    """PRPA_IN201305UV02. ``respond_to`` is the deferred-response endpoint (priority D only).

    ``creation_time`` is ``None`` only on a parsed request whose creationTime was absent or unreadable.
    """

    message_id: Ii
    creation_time: datetime | None
    sender: Device
    receiver: Device
    query: Iti55Query
    respond_to: str | None = None
    processing_code: ProcessingCode = ProcessingCode.PRODUCTION
    quirks: tuple[str, ...] = ()


@dataclass(frozen=True)
class PatientMatch:
    """One ``registrationEvent``: the responder's patient id, its community, demographics and score."""

    patient_id: Ii
    home_community_id: str | None
    demographics: Demographics
    score: int | None = None

    @property
    def cx(self) -> Cx:
        """The id as a CX value, ready for ``$XDSDocumentEntryPatientId`` in ITI-38."""
        return Cx(id=self.patient_id.extension or "", root=self.patient_id.root)


@dataclass(frozen=True)
class AcknowledgementDetail:
    """``acknowledgement/acknowledgementDetail``: ``type_code`` E/W/I, a code (e.g. INTERR), text."""

    code: Code | None = None
    text: str | None = None
    type_code: str | None = "E"
    locations: tuple[str, ...] = ()


@dataclass(frozen=True)
class DetectedIssue:
    """One ``reasonOf/detectedIssueEvent``: error codes (``mitigatedBy``) and requested attributes
    (``triggerFor``)."""

    code: Code = Code("ActAdministrativeDetectedIssueCode", DETECTED_ISSUE_CODE_SYSTEM)
    errors: tuple[Code, ...] = ()
    requested_attributes: tuple[Code, ...] = ()


@dataclass(frozen=True)
class Iti55Response:
    """PRPA_IN201306UV02. ``query`` is the echoed queryByParameter; ``target_message_id`` the request id.

    ``creation_time`` is ``None`` only on a parsed response whose creationTime was absent or unreadable.
    """

    message_id: Ii
    creation_time: datetime | None
    sender: Device
    receiver: Device
    ack_code: AckCode | None
    query_response_code: QueryResponseCode
    target_message_id: Ii | None = None
    query_id: Ii | None = None
    matches: tuple[PatientMatch, ...] = ()
    query: Iti55Query | None = None
    acknowledgement_details: tuple[AcknowledgementDetail, ...] = ()
    issues: tuple[DetectedIssue, ...] = ()
    processing_code: ProcessingCode = ProcessingCode.PRODUCTION
    quirks: tuple[str, ...] = ()

    @property
    def requested_attributes(self) -> tuple[str, ...]:
        return tuple(c.code for issue in self.issues for c in issue.requested_attributes)

    @property
    def error_codes(self) -> tuple[str, ...]:
        return tuple(c.code for issue in self.issues for c in issue.errors)
