"""FHIR code system and identifier system URIs to the HL7 OIDs a CDA document carries.

One row per system: the FHIR canonical URI, the OID, and the name written to ``codeSystemName``. The table
is the writer's own for now; the C-CDA → FHIR converter keeps the reverse mapping, and the two should become
one shared table once both exist. ``urn:oid:`` URIs map to their OID without a row.
"""

from __future__ import annotations

import re
from typing import Final, NamedTuple

__all__ = [
    "CodeSystem",
    "by_oid",
    "lookup",
    "oid_for",
]

_OID = re.compile(r"^[0-2](\.(0|[1-9][0-9]*))+$")


class CodeSystem(NamedTuple):
    uri: str
    oid: str
    name: str


_ROWS: Final[tuple[CodeSystem, ...]] = (
    # Clinical terminologies.
    CodeSystem("http://snomed.info/sct", "2.16.840.1.113883.6.96", "SNOMED CT"),
    CodeSystem("http://loinc.org", "2.16.840.1.113883.6.1", "LOINC"),
    CodeSystem("http://www.nlm.nih.gov/research/umls/rxnorm", "2.16.840.1.113883.6.88", "RxNorm"),
    CodeSystem("http://hl7.org/fhir/sid/cvx", "2.16.840.1.113883.12.292", "CVX"),
    CodeSystem("http://hl7.org/fhir/sid/mvx", "2.16.840.1.113883.12.227", "MVX"),
    CodeSystem("http://hl7.org/fhir/sid/ndc", "2.16.840.1.113883.6.69", "NDC"),
    CodeSystem("http://hl7.org/fhir/sid/icd-10-cm", "2.16.840.1.113883.6.90", "ICD-10-CM"),
    CodeSystem("http://hl7.org/fhir/sid/icd-10", "2.16.840.1.113883.6.3", "ICD-10"),
    CodeSystem("http://hl7.org/fhir/sid/icd-9-cm", "2.16.840.1.113883.6.103", "ICD-9-CM"),
    CodeSystem("http://www.cms.gov/Medicare/Coding/ICD10", "2.16.840.1.113883.6.4", "ICD-10-PCS"),
    CodeSystem("http://www.ama-assn.org/go/cpt", "2.16.840.1.113883.6.12", "CPT-4"),
    CodeSystem("http://www.cms.gov/Medicare/Coding/HCPCSReleaseCodeSets", "2.16.840.1.113883.6.285", "HCPCS"),
    CodeSystem("http://unitsofmeasure.org", "2.16.840.1.113883.6.8", "UCUM"),
    CodeSystem("http://fdasis.nlm.nih.gov", "2.16.840.1.113883.4.9", "UNII"),
    CodeSystem("http://www.whocc.no/atc", "2.16.840.1.113883.6.73", "ATC"),
    CodeSystem(
        "http://ncicb.nci.nih.gov/xml/owl/EVS/Thesaurus.owl", "2.16.840.1.113883.3.26.1.1", "NCI Thesaurus"
    ),
    CodeSystem("http://nucc.org/provider-taxonomy", "2.16.840.1.113883.6.101", "NUCC"),
    CodeSystem("urn:oid:2.16.840.1.113883.6.238", "2.16.840.1.113883.6.238", "CDC Race and Ethnicity"),
    # HL7 v3 vocabularies.
    CodeSystem("http://terminology.hl7.org/CodeSystem/v3-ActCode", "2.16.840.1.113883.5.4", "ActCode"),
    CodeSystem("http://terminology.hl7.org/CodeSystem/v3-ActClass", "2.16.840.1.113883.5.6", "ActClass"),
    CodeSystem("http://terminology.hl7.org/CodeSystem/v3-ActReason", "2.16.840.1.113883.5.8", "ActReason"),
    CodeSystem(
        "http://terminology.hl7.org/CodeSystem/v3-AdministrativeGender",
        "2.16.840.1.113883.5.1",
        "AdministrativeGender",
    ),
    CodeSystem(
        "http://terminology.hl7.org/CodeSystem/v3-Confidentiality",
        "2.16.840.1.113883.5.25",
        "Confidentiality",
    ),
    CodeSystem(
        "http://terminology.hl7.org/CodeSystem/v3-MaritalStatus", "2.16.840.1.113883.5.2", "MaritalStatus"
    ),
    CodeSystem(
        "http://terminology.hl7.org/CodeSystem/v3-NullFlavor", "2.16.840.1.113883.5.1008", "NullFlavor"
    ),
    CodeSystem(
        "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation",
        "2.16.840.1.113883.5.83",
        "ObservationInterpretation",
    ),
    CodeSystem(
        "http://terminology.hl7.org/CodeSystem/v3-ObservationValue",
        "2.16.840.1.113883.5.1063",
        "ObservationValue",
    ),
    CodeSystem(
        "http://terminology.hl7.org/CodeSystem/v3-RouteOfAdministration",
        "2.16.840.1.113883.5.112",
        "RouteOfAdministration",
    ),
    CodeSystem("http://terminology.hl7.org/CodeSystem/v3-RoleCode", "2.16.840.1.113883.5.111", "RoleCode"),
    # Identifier systems (patientRole/id, organization ids).
    CodeSystem("http://hl7.org/fhir/sid/us-npi", "2.16.840.1.113883.4.6", "NPI"),
    CodeSystem("http://hl7.org/fhir/sid/us-ssn", "2.16.840.1.113883.4.1", "SSN"),
)

_BY_URI: Final[dict[str, CodeSystem]] = {row.uri: row for row in _ROWS}
_BY_OID: Final[dict[str, CodeSystem]] = {row.oid: row for row in _ROWS}


def lookup(uri: str) -> CodeSystem | None:
    """The row for a FHIR system URI (``urn:oid:`` URIs always resolve), or ``None`` when unknown."""
    row = _BY_URI.get(uri)
    if row is not None:
        return row
    if uri.startswith("urn:oid:"):
        oid = uri.removeprefix("urn:oid:")
        if _OID.match(oid):
            known = _BY_OID.get(oid)
            return known or CodeSystem(uri, oid, "")
    return None


def oid_for(uri: str) -> str | None:
    """The OID for a FHIR system URI, or ``None`` when the table does not know it."""
    row = lookup(uri)
    return row.oid if row else None


def by_oid(oid: str) -> CodeSystem | None:
    """The row for an OID (the reverse direction, for tests and the converter)."""
    return _BY_OID.get(oid)
