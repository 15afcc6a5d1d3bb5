"""C-CDA templateId roots (and LOINC section codes) the converter keys on: constants, never scattered
literals.

Roots only: the ``extension`` of a templateId versions a template (``2015-08-01`` for R2.1) and conversion
accepts every version. Section constants pair with the section's LOINC code for documents that omit templates.
"""

from __future__ import annotations

from typing import Final

__all__ = [
    "ALLERGIES_SECTION",
    "ALLERGIES_SECTION_ENTRIES",
    "ALLERGY_CONCERN_ACT",
    "ALLERGY_OBSERVATION",
    "ALLERGY_STATUS_OBSERVATION",
    "BIRTH_SEX_OBSERVATION",
    "CRITICALITY_OBSERVATION",
    "DRUG_VEHICLE",
    "HEALTH_CONCERN_ACT",
    "INDICATION",
    "INSTRUCTION",
    "LOINC",
    "MEDICATIONS_SECTION",
    "MEDICATIONS_SECTION_ENTRIES",
    "MEDICATION_ACTIVITY",
    "MEDICATION_INFORMATION",
    "MEDICATION_SUPPLY_ORDER",
    "PROBLEMS_SECTION",
    "PROBLEMS_SECTION_ENTRIES",
    "PROBLEM_CONCERN_ACT",
    "PROBLEM_OBSERVATION",
    "PROBLEM_STATUS",
    "REACTION_OBSERVATION",
    "RISK_CONCERN_ACT",
    "SEVERITY_OBSERVATION",
    "SOCIAL_HISTORY_SECTION",
]

LOINC: Final = "2.16.840.1.113883.6.1"
_T: Final = "2.16.840.1.113883.10.20.22."

# sections
ALLERGIES_SECTION: Final = _T + "2.6"
ALLERGIES_SECTION_ENTRIES: Final = _T + "2.6.1"
MEDICATIONS_SECTION: Final = _T + "2.1"
MEDICATIONS_SECTION_ENTRIES: Final = _T + "2.1.1"
PROBLEMS_SECTION: Final = _T + "2.5"
PROBLEMS_SECTION_ENTRIES: Final = _T + "2.5.1"
SOCIAL_HISTORY_SECTION: Final = _T + "2.17"

# entries
ALLERGY_CONCERN_ACT: Final = _T + "4.30"
ALLERGY_OBSERVATION: Final = _T + "4.7"
ALLERGY_STATUS_OBSERVATION: Final = _T + "4.28"
REACTION_OBSERVATION: Final = _T + "4.9"
SEVERITY_OBSERVATION: Final = _T + "4.8"
CRITICALITY_OBSERVATION: Final = _T + "4.145"
PROBLEM_CONCERN_ACT: Final = _T + "4.3"
HEALTH_CONCERN_ACT: Final = _T + "4.132"
RISK_CONCERN_ACT: Final = _T + "4.136"
PROBLEM_OBSERVATION: Final = _T + "4.4"
PROBLEM_STATUS: Final = _T + "4.6"
MEDICATION_ACTIVITY: Final = _T + "4.16"
MEDICATION_INFORMATION: Final = _T + "4.23"
MEDICATION_SUPPLY_ORDER: Final = _T + "4.17"
INSTRUCTION: Final = _T + "4.20"
INDICATION: Final = _T + "4.19"
DRUG_VEHICLE: Final = _T + "4.24"
BIRTH_SEX_OBSERVATION: Final = _T + "4.200"
