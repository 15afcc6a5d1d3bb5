"""FHIR R4 → C-CDA R2.1 CCD writer (responding gateway, sandbox) and a synthetic record generator."""

from fhir_facade.ccda.writer.document import render_ccd, write_ccd
from fhir_facade.ccda.writer.model import Address, AuthoringDevice, CcdResult, Organization, WriteWarning
from fhir_facade.ccda.writer.synthetic import synthetic_record

__all__ = [
    "Address",
    "AuthoringDevice",
    "CcdResult",
    "Organization",
    "WriteWarning",
    "render_ccd",
    "synthetic_record",
    "write_ccd",
]
