"""Conversion (HG-7xxx): C-CDA → FHIR (70xx) and FHIR → C-CDA (71xx)."""

from __future__ import annotations

from xca.errors._base import HieGatewayError

__all__ = [
    "CcdaWriteError",
    "ConversionError",
    "ConversionValidationError",
    "NotClinicalDocumentError",
]


class ConversionError(HieGatewayError):
    """C-CDA → FHIR conversion could not start or, in strict mode, produced invalid FHIR."""

    code = "HG-7000"


class NotClinicalDocumentError(ConversionError, ValueError):
    """Well-formed XML that is not a CDA ClinicalDocument (a fragment, another message).

    ``detail['root']`` names the root element found.
    """

    code = "HG-7001"


class ConversionValidationError(ConversionError):
    """Strict mode: the Bundle failed the FHIR R4B models (a converter bug); ``detail['errors']``."""

    code = "HG-7002"


class CcdaWriteError(HieGatewayError, ValueError):
    """FHIR input the C-CDA writer cannot use (no Patient, a resource missing what its section needs)."""

    code = "HG-7101"
