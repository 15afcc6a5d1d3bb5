"""Vocabulary of the XUA assertion: attribute names, SNOMED roles and purpose-of-use codes, as data tables.

Attribute names follow IHE ITI TF-2b 3.40.4.1.2 (XUA) and the OASIS XSPA profile of SAML 2.0; the nhin-purpose
code system (2.16.840.1.113883.3.18.7.1) is the eHealth Exchange/Carequality one; TEFCA exchange purposes (XP
SOP, Table 1) carry their own code system.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType
from typing import Final

__all__ = [
    "NHIN_PURPOSE_SYSTEM",
    "SNOMED_ROLES",
    "SNOMED_SYSTEM",
    "TEFCA_PURPOSE_SYSTEM",
    "AuthnContext",
    "CodedValue",
    "ConfirmationMethod",
    "NameIdFormat",
    "NhinPurpose",
    "PurposeOfUse",
    "TefcaPurpose",
    "XuaAttribute",
    "purpose_from_code",
]

SNOMED_SYSTEM: Final = "2.16.840.1.113883.6.96"
NHIN_PURPOSE_SYSTEM: Final = "2.16.840.1.113883.3.18.7.1"
# The OID below is what public Carequality/eHealth Exchange implementations send with T-* codes; it was not
# confirmed against the RCE's Exchange Purposes SOP itself (unverified).
TEFCA_PURPOSE_SYSTEM: Final = "2.16.840.1.113883.3.7204.1.5.2.1"


class XuaAttribute(StrEnum):
    """SAML attribute names of the XUA assertion (NameFormat ``uri``)."""

    SUBJECT_ID = "urn:oasis:names:tc:xspa:1.0:subject:subject-id"
    ORGANIZATION = "urn:oasis:names:tc:xspa:1.0:subject:organization"
    ORGANIZATION_ID = "urn:oasis:names:tc:xspa:1.0:subject:organization-id"
    HOME_COMMUNITY_ID = "urn:nhin:names:saml:homeCommunityId"
    ROLE = "urn:oasis:names:tc:xacml:2.0:subject:role"
    PURPOSE_OF_USE = "urn:oasis:names:tc:xspa:1.0:subject:purposeofuse"
    NPI = "urn:oasis:names:tc:xspa:1.0:subject:npi"
    RESOURCE_ID = "urn:oasis:names:tc:xacml:2.0:resource:resource-id"
    # Carequality delegated queries (unverified: name as seen in public implementations).
    GRANTOR = "QueryAuthGrantor"


class NameIdFormat(StrEnum):
    UNSPECIFIED = "urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified"
    EMAIL = "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress"
    X509_SUBJECT = "urn:oasis:names:tc:SAML:1.1:nameid-format:X509SubjectName"


class ConfirmationMethod(StrEnum):
    HOLDER_OF_KEY = "urn:oasis:names:tc:SAML:2.0:cm:holder-of-key"
    SENDER_VOUCHES = "urn:oasis:names:tc:SAML:2.0:cm:sender-vouches"
    BEARER = "urn:oasis:names:tc:SAML:2.0:cm:bearer"


class AuthnContext(StrEnum):
    X509 = "urn:oasis:names:tc:SAML:2.0:ac:classes:X509"
    PASSWORD_PROTECTED = "urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport"  # noqa: S105
    UNSPECIFIED = "urn:oasis:names:tc:SAML:2.0:ac:classes:unspecified"


@dataclass(frozen=True)
class CodedValue:
    """An HL7 V3 CE value as carried in ``hl7:Role`` / ``hl7:PurposeOfUse``."""

    code: str
    code_system: str
    code_system_name: str | None = None
    display_name: str | None = None


SNOMED_ROLES: Final = MappingProxyType(
    {
        "112247003": "Medical doctor",
        "106292003": "Professional nurse",
        "224608005": "Administrative healthcare staff",
        "309343006": "Physician",
        "158965000": "Medical practitioner",
        "224535009": "Registered nurse",
        "46255001": "Pharmacist",
        "106331006": "Administrative AND/OR managerial worker",
        "159033005": "Dietitian",
        "224571005": "Nurse practitioner",
        "449161006": "Physician assistant",
        "397897005": "Paramedic",
        "223366009": "Healthcare professional",
    }
)
"""SNOMED CT occupation codes accepted for the role attribute when sending (code → display name)."""


class NhinPurpose(StrEnum):
    """nhin-purpose codes (codeSystem 2.16.840.1.113883.3.18.7.1)."""

    TREATMENT = "TREATMENT"
    PAYMENT = "PAYMENT"
    OPERATIONS = "OPERATIONS"
    SYSADMIN = "SYSADMIN"
    FRAUD = "FRAUD"
    PSYCHOTHERAPY = "PSYCHOTHERAPY"
    WORKERSCOMP = "WORKERSCOMP"
    PUBLICHEALTH = "PUBLICHEALTH"
    LAWENFORCEMENT = "LAWENFORCEMENT"
    DISABILITY = "DISABILITY"
    REQUEST = "REQUEST"
    COVERAGE = "COVERAGE"
    EMERGENCY = "EMERGENCY"

    @property
    def coded(self) -> CodedValue:
        return CodedValue(self.value, NHIN_PURPOSE_SYSTEM, "nhin-purpose", _NHIN_DISPLAY[self])


class TefcaPurpose(StrEnum):
    """TEFCA exchange purposes (XP SOP Table 1) used as purpose of use."""

    TREATMENT = "T-TREAT"
    PAYMENT = "T-PYMNT"
    HEALTH_CARE_OPERATIONS = "T-HCO"
    PUBLIC_HEALTH = "T-PH"
    INDIVIDUAL_ACCESS = "T-IAS"
    GOVERNMENT_BENEFITS = "T-GOVDTRM"

    @property
    def coded(self) -> CodedValue:
        return CodedValue(self.value, TEFCA_PURPOSE_SYSTEM, "TEFCA exchange purpose", _TEFCA_DISPLAY[self])


PurposeOfUse = NhinPurpose | TefcaPurpose

_NHIN_DISPLAY: Final = {
    NhinPurpose.TREATMENT: "Treatment",
    NhinPurpose.PAYMENT: "Payment",
    NhinPurpose.OPERATIONS: "Healthcare Operations",
    NhinPurpose.SYSADMIN: "System Administration",
    NhinPurpose.FRAUD: "Fraud detection",
    NhinPurpose.PSYCHOTHERAPY: "Use or disclosure of Psychotherapy Notes",
    NhinPurpose.WORKERSCOMP: "Worker's Compensation",
    NhinPurpose.PUBLICHEALTH: "Public Health",
    NhinPurpose.LAWENFORCEMENT: "Law Enforcement",
    NhinPurpose.DISABILITY: "Disability",
    NhinPurpose.REQUEST: "Request of the Individual",
    NhinPurpose.COVERAGE: "Coverage",
    NhinPurpose.EMERGENCY: "Emergency",
}
_TEFCA_DISPLAY: Final = {
    TefcaPurpose.TREATMENT: "Treatment",
    TefcaPurpose.PAYMENT: "Payment",
    TefcaPurpose.HEALTH_CARE_OPERATIONS: "Health Care Operations",
    TefcaPurpose.PUBLIC_HEALTH: "Public Health",
    TefcaPurpose.INDIVIDUAL_ACCESS: "Individual Access Services",
    TefcaPurpose.GOVERNMENT_BENEFITS: "Government Benefits Determination",
}


def purpose_from_code(code: str, code_system: str) -> PurposeOfUse | None:
    """The purpose enum for a (code, codeSystem) pair, or None when the pair is not a known purpose."""
    try:
        if code_system == NHIN_PURPOSE_SYSTEM:
            return NhinPurpose(code)
        if code_system == TEFCA_PURPOSE_SYSTEM:
            return TefcaPurpose(code)
    except ValueError:
        return None
    return None
