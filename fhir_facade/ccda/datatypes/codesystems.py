"""Data table: code systems and identifier systems, OID ↔ canonical FHIR URI, for both directions.

Each row is an OID, its FHIR URI, and the ``codeSystemName`` a CDA document carries. The converter reads it
OID → URI (:data:`SYSTEMS`, :func:`system_uri`); the writer (``writer/codesystems.py``) reads it URI → OID.
Several OIDs may name one URI (a superseded OID still sent, a legacy one): every such OID converts to the URI,
and exactly one of them, the row with ``preferred`` left true, is what the writer puts back.

Sources: the HL7 Terminology (THO) code-system pages and the C-CDA on FHIR IG's datatype mappings. An OID not
listed becomes ``urn:oid:<oid>``, which FHIR accepts; HL7 v2 tables (``2.16.840.1.113883.12.<n>``) follow
THO's ``v2-<nnnn>`` pattern. Add rows here, never branches in code.
"""

from __future__ import annotations

from typing import Final, NamedTuple

__all__ = ["CODE_SYSTEMS", "IDENTIFIER_ROWS", "IDENTIFIER_SYSTEMS", "SYSTEMS", "CodeSystem", "system_uri"]


class CodeSystem(NamedTuple):
    """One row: an OID, the FHIR URI it stands for, the CDA ``codeSystemName``; ``preferred`` marks the OID
    written for the URI when several rows share it."""

    oid: str
    uri: str
    name: str
    preferred: bool = True


_V3: Final = "http://terminology.hl7.org/CodeSystem/v3-"


def _v3(oid: str, name: str, *, preferred: bool = True) -> CodeSystem:
    return CodeSystem(oid, _V3 + name, name, preferred)


CODE_SYSTEMS: Final[tuple[CodeSystem, ...]] = (
    # clinical terminologies
    CodeSystem("2.16.840.1.113883.6.1", "http://loinc.org", "LOINC"),
    CodeSystem("2.16.840.1.113883.6.96", "http://snomed.info/sct", "SNOMED CT"),
    CodeSystem("2.16.840.1.113883.6.5", "http://snomed.info/sct", "SNOMED", preferred=False),  # legacy OID
    CodeSystem("2.16.840.1.113883.6.88", "http://www.nlm.nih.gov/research/umls/rxnorm", "RxNorm"),
    CodeSystem("2.16.840.1.113883.12.292", "http://hl7.org/fhir/sid/cvx", "CVX"),
    CodeSystem("2.16.840.1.113883.6.59", "http://hl7.org/fhir/sid/cvx", "CVX", preferred=False),  # superseded
    CodeSystem("2.16.840.1.113883.12.227", "http://hl7.org/fhir/sid/mvx", "MVX"),
    CodeSystem("2.16.840.1.113883.6.69", "http://hl7.org/fhir/sid/ndc", "NDC"),
    CodeSystem("2.16.840.1.113883.6.90", "http://hl7.org/fhir/sid/icd-10-cm", "ICD-10-CM"),
    CodeSystem("2.16.840.1.113883.6.3", "http://hl7.org/fhir/sid/icd-10", "ICD-10"),
    CodeSystem("2.16.840.1.113883.6.4", "http://www.cms.gov/Medicare/Coding/ICD10", "ICD-10-PCS"),
    CodeSystem("2.16.840.1.113883.6.103", "http://hl7.org/fhir/sid/icd-9-cm", "ICD-9-CM"),
    # ICD-9-CM procedures and the generic ICD-9 OID: FHIR has one URI for ICD-9-CM.
    CodeSystem("2.16.840.1.113883.6.104", "http://hl7.org/fhir/sid/icd-9-cm", "ICD-9-CM", preferred=False),
    CodeSystem("2.16.840.1.113883.6.2", "http://hl7.org/fhir/sid/icd-9-cm", "ICD-9-CM", preferred=False),
    CodeSystem("2.16.840.1.113883.6.12", "http://www.ama-assn.org/go/cpt", "CPT-4"),
    CodeSystem("2.16.840.1.113883.6.285", "http://www.cms.gov/Medicare/Coding/HCPCSReleaseCodeSets", "HCPCS"),
    CodeSystem("2.16.840.1.113883.6.13", "http://ada.org/cdt", "CDT"),
    CodeSystem("2.16.840.1.113883.6.8", "http://unitsofmeasure.org", "UCUM"),
    CodeSystem("2.16.840.1.113883.6.101", "http://nucc.org/provider-taxonomy", "NUCC"),
    CodeSystem("2.16.840.1.113883.6.238", "urn:oid:2.16.840.1.113883.6.238", "CDC Race and Ethnicity"),
    CodeSystem(
        "2.16.840.1.113883.3.26.1.1", "http://ncicb.nci.nih.gov/xml/owl/EVS/Thesaurus.owl", "NCI Thesaurus"
    ),
    CodeSystem("2.16.840.1.113883.3.26.1.2", "http://ncimeta.nci.nih.gov", "NCI Metathesaurus"),
    CodeSystem("2.16.840.1.113883.4.9", "http://fdasis.nlm.nih.gov", "UNII"),
    CodeSystem("2.16.840.1.113883.6.73", "http://www.whocc.no/atc", "ATC"),
    CodeSystem("2.16.840.1.113883.6.345", "http://va.gov/terminology/medrt", "MED-RT"),
    CodeSystem("2.16.840.1.113883.3.26.1.5", "http://hl7.org/fhir/ndfrt", "NDF-RT"),
    CodeSystem("2.16.840.1.113883.6.86", "http://www.nlm.nih.gov/research/umls", "UMLS"),
    CodeSystem("2.16.840.1.113883.6.254", "http://terminology.hl7.org/CodeSystem/icf", "ICF"),
    CodeSystem(
        "2.16.840.1.113883.6.259",
        "https://www.cdc.gov/nhsn/cdaportal/terminology/codesystem/hsloc.html",
        "HSLOC",
    ),
    CodeSystem("2.16.840.1.113883.3.221.5", "https://nahdo.org/sopt", "Source of Payment Typology"),
    CodeSystem("2.16.840.1.113883.6.316", "urn:ietf:bcp:47", "BCP 47"),
    # ISO 639-2 codes are valid BCP 47 tags.
    CodeSystem("2.16.840.1.113883.6.121", "urn:ietf:bcp:47", "ISO 639-2", preferred=False),
    CodeSystem("1.0.3166.1.2.2", "urn:iso:std:iso:3166", "ISO 3166-1"),
    CodeSystem(
        "2.16.840.1.113883.6.301.5", "https://www.nubc.org/CodeSystem/PointOfOrigin", "NUBC Point of Origin"
    ),
    # HL7 v3 code systems
    _v3("2.16.840.1.113883.5.1", "AdministrativeGender"),
    _v3("2.16.840.1.113883.5.2", "MaritalStatus"),
    _v3("2.16.840.1.113883.5.4", "ActCode"),
    _v3("2.16.840.1.113883.5.4.1", "ActCode", preferred=False),
    _v3("2.16.840.1.113883.5.6", "ActClass"),
    _v3("2.16.840.1.113883.5.7", "ActPriority"),
    _v3("2.16.840.1.113883.5.8", "ActReason"),
    _v3("2.16.840.1.113883.5.14", "ActStatus"),
    _v3("2.16.840.1.113883.5.25", "Confidentiality"),
    _v3("2.16.840.1.113883.5.45", "EntityNameUse"),
    _v3("2.16.840.1.113883.5.50", "Ethnicity"),
    _v3("2.16.840.1.113883.5.60", "LanguageAbilityMode"),
    _v3("2.16.840.1.113883.5.61", "LanguageAbilityProficiency"),
    _v3("2.16.840.1.113883.5.83", "ObservationInterpretation"),
    _v3("2.16.840.1.113883.5.85", "orderableDrugForm"),
    _v3("2.16.840.1.113883.5.88", "ParticipationFunction"),
    _v3("2.16.840.1.113883.5.90", "ParticipationType"),
    _v3("2.16.840.1.113883.5.104", "Race"),
    _v3("2.16.840.1.113883.5.110", "RoleClass"),
    _v3("2.16.840.1.113883.5.111", "RoleCode"),
    _v3("2.16.840.1.113883.5.112", "RouteOfAdministration"),
    _v3("2.16.840.1.113883.5.139", "TimingEvent"),
    _v3("2.16.840.1.113883.5.1001", "ActMood"),
    _v3("2.16.840.1.113883.5.1002", "ActRelationshipType"),
    _v3("2.16.840.1.113883.5.1008", "NullFlavor"),
    _v3("2.16.840.1.113883.5.1052", "ActSite"),
    _v3("2.16.840.1.113883.5.1063", "ObservationValue"),
    _v3("2.16.840.1.113883.5.1076", "ReligiousAffiliation"),
    _v3("2.16.840.1.113883.5.1119", "AddressUse"),
)
"""Code systems (``@codeSystem`` of coded elements)."""

IDENTIFIER_ROWS: Final[tuple[CodeSystem, ...]] = (
    CodeSystem("2.16.840.1.113883.4.6", "http://hl7.org/fhir/sid/us-npi", "NPI"),
    CodeSystem("2.16.840.1.113883.4.1", "http://hl7.org/fhir/sid/us-ssn", "SSN"),
    CodeSystem("2.16.840.1.113883.4.572", "http://hl7.org/fhir/sid/us-medicare", "Medicare"),
    CodeSystem("2.16.840.1.113883.4.927", "http://hl7.org/fhir/sid/us-mbi", "MBI"),
)
"""Identifier systems (``id/@root`` of well-known namespaces)."""

SYSTEMS: Final[dict[str, str]] = {row.oid: row.uri for row in CODE_SYSTEMS}
IDENTIFIER_SYSTEMS: Final[dict[str, str]] = {row.oid: row.uri for row in IDENTIFIER_ROWS}

_V2_TABLES: Final = "2.16.840.1.113883.12."


def system_uri(oid: str) -> str:
    """The FHIR URI of a code system given by OID (or already given as a URI / ``urn:``)."""
    known = SYSTEMS.get(oid)
    if known is not None:
        return known
    if oid.startswith(_V2_TABLES):
        table = oid[len(_V2_TABLES) :]
        if table.isdigit():
            return f"http://terminology.hl7.org/CodeSystem/v2-{int(table):04d}"
    if ":" in oid:  # already a URI (some senders put one in codeSystem)
        return oid
    if _looks_like_uuid(oid):
        return "urn:uuid:" + oid.lower()
    return "urn:oid:" + oid


def _looks_like_uuid(value: str) -> bool:
    return len(value) == 36 and value.count("-") == 4
