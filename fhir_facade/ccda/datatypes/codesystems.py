"""Data table: code-system (and identifier-system) OIDs → canonical FHIR URIs.

Sources: the HL7 Terminology (THO) code-system pages and the C-CDA on FHIR IG's datatype mappings. An OID not
listed becomes ``urn:oid:<oid>``, which FHIR accepts; HL7 v2 tables (``2.16.840.1.113883.12.<n>``) follow
THO's
``v2-<nnnn>`` pattern. Add rows here, never branches in code.
"""

from __future__ import annotations

from typing import Final

__all__ = ["IDENTIFIER_SYSTEMS", "SYSTEMS", "system_uri"]

_V3: Final = "http://terminology.hl7.org/CodeSystem/v3-"

SYSTEMS: Final[dict[str, str]] = {
    # clinical terminologies
    "2.16.840.1.113883.6.1": "http://loinc.org",
    "2.16.840.1.113883.6.96": "http://snomed.info/sct",
    "2.16.840.1.113883.6.5": "http://snomed.info/sct",  # SNOMED (legacy OID still sent)
    "2.16.840.1.113883.6.88": "http://www.nlm.nih.gov/research/umls/rxnorm",
    "2.16.840.1.113883.12.292": "http://hl7.org/fhir/sid/cvx",
    "2.16.840.1.113883.6.59": "http://hl7.org/fhir/sid/cvx",  # CVX (superseded OID)
    "2.16.840.1.113883.12.227": "http://hl7.org/fhir/sid/mvx",
    "2.16.840.1.113883.6.69": "http://hl7.org/fhir/sid/ndc",
    "2.16.840.1.113883.6.90": "http://hl7.org/fhir/sid/icd-10-cm",
    "2.16.840.1.113883.6.3": "http://hl7.org/fhir/sid/icd-10",
    "2.16.840.1.113883.6.4": "http://www.cms.gov/Medicare/Coding/ICD10",
    "2.16.840.1.113883.6.103": "http://hl7.org/fhir/sid/icd-9-cm",
    "2.16.840.1.113883.6.104": "http://hl7.org/fhir/sid/icd-9-cm",
    "2.16.840.1.113883.6.2": "http://hl7.org/fhir/sid/icd-9-cm",
    "2.16.840.1.113883.6.12": "http://www.ama-assn.org/go/cpt",
    "2.16.840.1.113883.6.285": "http://www.cms.gov/Medicare/Coding/HCPCSReleaseCodeSets",
    "2.16.840.1.113883.6.13": "http://ada.org/cdt",
    "2.16.840.1.113883.6.8": "http://unitsofmeasure.org",
    "2.16.840.1.113883.6.101": "http://nucc.org/provider-taxonomy",
    "2.16.840.1.113883.6.238": "urn:oid:2.16.840.1.113883.6.238",  # CDC Race & Ethnicity (US Core)
    "2.16.840.1.113883.3.26.1.1": "http://ncithesaurus-stage.nci.nih.gov",
    "2.16.840.1.113883.3.26.1.2": "http://ncimeta.nci.nih.gov",
    "2.16.840.1.113883.4.9": "http://fdasis.nlm.nih.gov",  # UNII
    "2.16.840.1.113883.6.345": "http://va.gov/terminology/medrt",
    "2.16.840.1.113883.3.26.1.5": "http://hl7.org/fhir/ndfrt",
    "2.16.840.1.113883.6.86": "http://www.nlm.nih.gov/research/umls",  # UMLS CUI
    "2.16.840.1.113883.6.254": "http://terminology.hl7.org/CodeSystem/icf",
    "2.16.840.1.113883.6.259": "https://www.cdc.gov/nhsn/cdaportal/terminology/codesystem/hsloc.html",
    "2.16.840.1.113883.3.221.5": "https://nahdo.org/sopt",  # Source of Payment Typology
    "2.16.840.1.113883.6.316": "urn:ietf:bcp:47",
    "2.16.840.1.113883.6.121": "urn:ietf:bcp:47",  # ISO 639-2 codes are valid BCP 47 tags
    "1.0.3166.1.2.2": "urn:iso:std:iso:3166",
    "2.16.840.1.113883.6.301.5": "https://www.nubc.org/CodeSystem/PointOfOrigin",
    # HL7 v3 code systems
    "2.16.840.1.113883.5.1": _V3 + "AdministrativeGender",
    "2.16.840.1.113883.5.2": _V3 + "MaritalStatus",
    "2.16.840.1.113883.5.4": _V3 + "ActCode",
    "2.16.840.1.113883.5.6": _V3 + "ActClass",
    "2.16.840.1.113883.5.7": _V3 + "ActPriority",
    "2.16.840.1.113883.5.8": _V3 + "ActReason",
    "2.16.840.1.113883.5.14": _V3 + "ActStatus",
    "2.16.840.1.113883.5.25": _V3 + "Confidentiality",
    "2.16.840.1.113883.5.45": _V3 + "EntityNameUse",
    "2.16.840.1.113883.5.50": _V3 + "Ethnicity",
    "2.16.840.1.113883.5.60": _V3 + "LanguageAbilityMode",
    "2.16.840.1.113883.5.61": _V3 + "LanguageAbilityProficiency",
    "2.16.840.1.113883.5.83": _V3 + "ObservationInterpretation",
    "2.16.840.1.113883.5.85": _V3 + "orderableDrugForm",
    "2.16.840.1.113883.5.88": _V3 + "ParticipationFunction",
    "2.16.840.1.113883.5.90": _V3 + "ParticipationType",
    "2.16.840.1.113883.5.104": _V3 + "Race",
    "2.16.840.1.113883.5.110": _V3 + "RoleClass",
    "2.16.840.1.113883.5.111": _V3 + "RoleCode",
    "2.16.840.1.113883.5.112": _V3 + "RouteOfAdministration",
    "2.16.840.1.113883.5.139": _V3 + "TimingEvent",
    "2.16.840.1.113883.5.1001": _V3 + "ActMood",
    "2.16.840.1.113883.5.1002": _V3 + "ActRelationshipType",
    "2.16.840.1.113883.5.1008": _V3 + "NullFlavor",
    "2.16.840.1.113883.5.1052": _V3 + "ActSite",
    "2.16.840.1.113883.5.1063": _V3 + "ObservationValue",
    "2.16.840.1.113883.5.1076": _V3 + "ReligiousAffiliation",
    "2.16.840.1.113883.5.1119": _V3 + "AddressUse",
    "2.16.840.1.113883.5.4.1": _V3 + "ActCode",
}

IDENTIFIER_SYSTEMS: Final[dict[str, str]] = {
    "2.16.840.1.113883.4.6": "http://hl7.org/fhir/sid/us-npi",
    "2.16.840.1.113883.4.1": "http://hl7.org/fhir/sid/us-ssn",
    "2.16.840.1.113883.4.572": "http://hl7.org/fhir/sid/us-medicare",
    "2.16.840.1.113883.4.927": "http://hl7.org/fhir/sid/us-mbi",
}

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
