"""Mental Status section (2.16.840.1.113883.10.20.22.2.56, LOINC 10190-7) → Observation (cognitive-status).

The entries are those of the Functional Status section in another category: Mental Status Observation (4.74)
and Assessment Scale Observation (4.69) → Observation with the US Core ``cognitive-status`` category (plus
``survey`` for an assessment scale), Mental Status Organizer (4.75) → grouping Observation and members,
Cognitive Status Problem Observation (R1.1, 4.73) → Condition; see ``functional_status.py``.

C-CDA on FHIR has no mapping page for this section; US Core 6+ names ``cognitive-status`` the category of
observations about cognition, orientation, mood and behaviour, which is what C-CDA's mental status holds.
"""

from __future__ import annotations

from typing import Final

from lxml import etree

from fhir_facade.ccda.context import ConversionContext, Json
from fhir_facade.ccda.sections.base import Section, SectionSpec, convert_entries
from fhir_facade.ccda.sections.functional_status import assessment_entry

__all__ = ["SPEC", "convert_mental_status"]

MENTAL_STATUS_SECTION: Final = "2.16.840.1.113883.10.20.22.2.56"
_KIND: Final = ("cognitive-status", "Cognitive Status")


def convert_mental_status(section: Section, ctx: ConversionContext) -> list[Json]:
    return convert_entries(section, ctx, "mental status", _entry)


def _entry(statement: etree._Element, section: Section, ctx: ConversionContext) -> list[Json]:
    return assessment_entry(statement, _KIND, ctx)


SPEC: Final = SectionSpec("mental status", (MENTAL_STATUS_SECTION,), ("10190-7",), convert_mental_status)
