"""ebRS 3.0 registry response status and errors, shared by ITI-38 and ITI-39 (IHE ITI TF-3 4.2.4).

Real responders send Success with errors and Failure without errors: the models record what was sent.
``PartialSuccess`` is accepted under both the IHE and the ebRS prefix.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from lxml import etree

from xca import ns
from xca.errors import InvalidValueError
from xca.ns import q

__all__ = [
    "ErrorSeverity",
    "RegistryError",
    "ResponseStatus",
    "XdsErrorCode",
    "build_registry_error_list",
    "parse_registry_error_list",
    "parse_status",
]

_EBRS_STATUS = "urn:oasis:names:tc:ebxml-regrep:ResponseStatusType:"


class ResponseStatus(StrEnum):
    SUCCESS = _EBRS_STATUS + "Success"
    FAILURE = _EBRS_STATUS + "Failure"
    PARTIAL_SUCCESS = "urn:ihe:iti:2007:ResponseStatusType:PartialSuccess"


class ErrorSeverity(StrEnum):
    ERROR = "urn:oasis:names:tc:ebxml-regrep:ErrorSeverityType:Error"
    WARNING = "urn:oasis:names:tc:ebxml-regrep:ErrorSeverityType:Warning"


class XdsErrorCode(StrEnum):
    """Registry error codes of IHE ITI TF-3 Table 4.2.4.1-2 used by cross-community gateways."""

    MISSING_HOME_COMMUNITY_ID = "XDSMissingHomeCommunityId"
    UNKNOWN_COMMUNITY = "XDSUnknownCommunity"
    UNAVAILABLE_COMMUNITY = "XDSUnavailableCommunity"
    UNKNOWN_PATIENT_ID = "XDSUnknownPatientId"
    RESULT_NOT_SINGLE_PATIENT = "XDSResultNotSinglePatient"
    REGISTRY_ERROR = "XDSRegistryError"
    REPOSITORY_ERROR = "XDSRepositoryError"
    REGISTRY_BUSY = "XDSRegistryBusy"
    REGISTRY_OUT_OF_RESOURCES = "XDSRegistryOutOfResources"
    REGISTRY_NOT_AVAILABLE = "XDSRegistryNotAvailable"
    TOO_MANY_RESULTS = "XDSTooManyResults"
    UNKNOWN_STORED_QUERY = "XDSUnknownStoredQuery"
    STORED_QUERY_MISSING_PARAM = "XDSStoredQueryMissingParam"
    STORED_QUERY_PARAM_NUMBER = "XDSStoredQueryParamNumber"
    UNKNOWN_REPOSITORY_ID = "XDSUnknownRepositoryId"
    DOCUMENT_UNIQUE_ID_ERROR = "XDSDocumentUniqueIdError"
    MISSING_DOCUMENT = "XDSMissingDocument"
    REGISTRY_DEPRECATED_DOCUMENT = "XDSRegistryDeprecatedDocumentError"
    PATIENT_ID_DOES_NOT_MATCH = "XDSPatientIdDoesNotMatch"
    LOCAL_POLICY_RESTRICTION = "LocalPolicyRestrictionError"


@dataclass(frozen=True)
class RegistryError:
    """One ``rs:RegistryError``. ``error_code`` keeps unknown codes as sent; see :attr:`known_code`."""

    error_code: str
    code_context: str
    severity: ErrorSeverity = ErrorSeverity.ERROR
    location: str | None = None

    @property
    def known_code(self) -> XdsErrorCode | None:
        try:
            return XdsErrorCode(self.error_code)
        except ValueError:
            return None


def parse_status(value: str | None) -> ResponseStatus:
    """Tolerant status read: accepts ``...ResponseStatusType:PartialSuccess`` under either prefix."""
    if not value:
        raise InvalidValueError("registry response has no status")
    local = value.strip().rsplit(":", 1)[-1]
    for status in ResponseStatus:
        if status.value.rsplit(":", 1)[-1] == local:
            return status
    raise InvalidValueError("registry response status is not Success, PartialSuccess or Failure")


def build_registry_error_list(errors: Iterable[RegistryError]) -> etree._Element | None:
    """An ``rs:RegistryErrorList`` for ``errors``, or ``None`` when there are none."""
    errors = list(errors)
    if not errors:
        return None
    highest = (
        ErrorSeverity.ERROR
        if any(e.severity is ErrorSeverity.ERROR for e in errors)
        else ErrorSeverity.WARNING
    )
    error_list = etree.Element(q(ns.RS, "RegistryErrorList"), highestSeverity=highest.value)
    for error in errors:
        attrs = {
            "errorCode": error.error_code,
            "codeContext": error.code_context,
            "severity": error.severity.value,
        }
        if error.location:
            attrs["location"] = error.location
        etree.SubElement(error_list, q(ns.RS, "RegistryError"), attrs)
    return error_list


def parse_registry_error_list(parent: etree._Element) -> tuple[RegistryError, ...]:
    """All ``rs:RegistryError`` under ``parent`` (a RegistryResponse or AdhocQueryResponse)."""
    found: list[RegistryError] = []
    for error_el in parent.iter(q(ns.RS, "RegistryError")):
        severity_text = (error_el.get("severity") or "").rsplit(":", 1)[-1]
        severity = ErrorSeverity.WARNING if severity_text == "Warning" else ErrorSeverity.ERROR
        found.append(
            RegistryError(
                error_code=(error_el.get("errorCode") or "").strip(),
                code_context=(error_el.get("codeContext") or (error_el.text or "")).strip(),
                severity=severity,
                location=(error_el.get("location") or "").strip() or None,
            )
        )
    return tuple(found)
