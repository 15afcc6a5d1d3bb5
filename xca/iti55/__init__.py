"""IHE XCPD Cross Gateway Patient Discovery [ITI-55], both directions (IHE ITI TF-2b 3.55).

Pure wire code: models (:mod:`xca.iti55.models`), strict builders (:mod:`xca.iti55.build`) and tolerant
parsers (:mod:`xca.iti55.parse`) for PRPA_IN201305UV02 (query) and PRPA_IN201306UV02 (answer). The SOAP
envelope and WS-Addressing (``Action.ITI55_REQUEST`` / ``ITI55_RESPONSE``) live in :mod:`xca.soap`.
"""

from xca.iti55.build import build_iti55_request, build_iti55_response, iti55_response_for
from xca.iti55.models import (
    NPI_ROOT,
    SSN_ROOT,
    AckCode,
    AcknowledgementDetail,
    Address,
    AdministrativeGender,
    Code,
    Demographics,
    DetectedIssue,
    Device,
    ErrorCode,
    Ii,
    Iti55Query,
    Iti55Request,
    Iti55Response,
    PartialDate,
    PatientMatch,
    PersonName,
    ProcessingCode,
    QueryResponseCode,
    RequestedAttribute,
    ResponsePriority,
    Telecom,
)
from xca.iti55.parse import parse_iti55_request, parse_iti55_response

__all__ = [
    "NPI_ROOT",
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
    "build_iti55_request",
    "build_iti55_response",
    "iti55_response_for",
    "parse_iti55_request",
    "parse_iti55_response",
]
