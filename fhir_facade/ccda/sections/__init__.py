"""Section converters and their registry, keyed by section templateId root, LOINC section code as fallback.

Adding a section is one module exporting a ``SPEC`` (see ``base.SectionSpec``) and one line in ``_SPECS``.
Sections without a converter still reach the Composition with their narrative (``document.py``).
"""

from __future__ import annotations

from typing import Final

from fhir_facade.ccda.sections import allergies as allergies
from fhir_facade.ccda.sections import care_team as care_team
from fhir_facade.ccda.sections import encounters as encounters
from fhir_facade.ccda.sections import family_history as family_history
from fhir_facade.ccda.sections import functional_status as functional_status
from fhir_facade.ccda.sections import goals as goals
from fhir_facade.ccda.sections import health_concerns as health_concerns
from fhir_facade.ccda.sections import immunizations as immunizations
from fhir_facade.ccda.sections import medical_equipment as medical_equipment
from fhir_facade.ccda.sections import medications as medications
from fhir_facade.ccda.sections import mental_status as mental_status
from fhir_facade.ccda.sections import notes as notes
from fhir_facade.ccda.sections import payers as payers
from fhir_facade.ccda.sections import plan_of_treatment as plan_of_treatment
from fhir_facade.ccda.sections import problems as problems
from fhir_facade.ccda.sections import procedures as procedures
from fhir_facade.ccda.sections import results as results
from fhir_facade.ccda.sections import social_history as social_history
from fhir_facade.ccda.sections import vitals as vitals
from fhir_facade.ccda.sections.base import Section, SectionConverter, SectionSpec, convert_entries

__all__ = ["SPECS", "Section", "SectionConverter", "SectionSpec", "convert_entries", "find_spec"]

_SPECS: Final[tuple[SectionSpec, ...]] = (
    allergies.SPEC,
    problems.SPEC,
    medications.SPEC,
    immunizations.SPEC,
    vitals.SPEC,
    results.SPEC,
    procedures.SPEC,
    encounters.SPEC,
    family_history.SPEC,
    care_team.SPEC,
    functional_status.SPEC,
    goals.SPEC,
    health_concerns.SPEC,
    medical_equipment.SPEC,
    mental_status.SPEC,
    notes.SPEC,
    payers.SPEC,
    plan_of_treatment.SPEC,
    social_history.SPEC,
)

SPECS: Final = _SPECS
_BY_TEMPLATE: Final[dict[str, SectionSpec]] = {root: spec for spec in _SPECS for root in spec.template_ids}
_BY_LOINC: Final[dict[str, SectionSpec]] = {code: spec for spec in _SPECS for code in spec.loinc_codes}


def find_spec(section: Section) -> SectionSpec | None:
    """The converter row for a section: by templateId first, then LOINC code; ``None`` when none applies."""
    for root in section.templates:
        spec = _BY_TEMPLATE.get(root)
        if spec is not None:
            return spec
    return _BY_LOINC.get(section.code) if section.code else None
