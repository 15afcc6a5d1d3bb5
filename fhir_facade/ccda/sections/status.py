"""Data tables shared by the clinical sections: C-CDA status values → FHIR clinical and verification
status."""

from __future__ import annotations

from typing import Final

from lxml import etree

from fhir_facade.ccda.cda import attr, child
from fhir_facade.ccda.context import Json
from fhir_facade.ccda.datatypes import code_of
from fhir_facade.ccda.sections.base import related

__all__ = [
    "ALLERGY_CLINICAL",
    "ALLERGY_VERIFICATION",
    "CONCERN_STATUS",
    "CONDITION_CLINICAL",
    "CONDITION_VERIFICATION",
    "SNOMED",
    "SNOMED_CLINICAL_STATUS",
    "clinical_status",
    "status_concept",
]

SNOMED: Final = "http://snomed.info/sct"
ALLERGY_CLINICAL: Final = "http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical"
ALLERGY_VERIFICATION: Final = "http://terminology.hl7.org/CodeSystem/allergyintolerance-verification"
CONDITION_CLINICAL: Final = "http://terminology.hl7.org/CodeSystem/condition-clinical"
CONDITION_VERIFICATION: Final = "http://terminology.hl7.org/CodeSystem/condition-ver-status"

SNOMED_CLINICAL_STATUS: Final[dict[str, str]] = {
    "55561003": "active",
    "73425007": "inactive",
    "413322009": "resolved",
    "723506003": "resolved",
    "277022003": "remission",
    "246455001": "recurrence",
    "263855007": "relapse",
    "161413004": "inactive",  # history of
}
"""Problem / allergy status observation values (SNOMED) → clinical status codes."""

CONCERN_STATUS: Final[dict[str, str]] = {
    "active": "active",
    "suspended": "inactive",
    "completed": "resolved",
    "aborted": "inactive",
}
"""Concern act ``statusCode`` → clinical status when no status observation says more."""

_ALLERGY_ALLOWED: Final = frozenset({"active", "inactive", "resolved"})


def status_concept(system: str, code: str) -> Json:
    """The CodeableConcept for a FHIR status code; allergy systems only know active/inactive/resolved."""
    if system == ALLERGY_CLINICAL and code not in _ALLERGY_ALLOWED:
        code = "active" if code in ("recurrence", "relapse") else "inactive"
    return {"coding": [{"system": system, "code": code}]}


def clinical_status(observation: etree._Element, concern: etree._Element | None, status_template: str) -> str:
    """Clinical status: a status observation's value, else ``resolved`` when the observation has ended,
    else the concern act's ``statusCode``, else ``active``."""
    for inner in related(observation, status_template):
        found = SNOMED_CLINICAL_STATUS.get(code_of(child(inner, "value")) or "")
        if found:
            return found
    high = child(observation, "effectiveTime", "high")
    if high is not None and high.get("value"):
        return "resolved"
    if concern is not None:
        return CONCERN_STATUS.get(attr(child(concern, "statusCode"), "code") or "", "active")
    return "active"
