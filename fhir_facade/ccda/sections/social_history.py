"""Social History section (2.16.840.1.113883.10.20.22.2.17, LOINC 29762-2) → Observation (social-history).

After C-CDA on FHIR (C-CDA to FHIR Social History):

* Smoking Status (4.78, also the R1.1 variant coded ``ASSERTION``, the misspelt root ``...10.22.4.78`` seen in
  the wild, and older social history observations coded as tobacco use whose value is a smoking status) →
  US Core Smoking Status: code LOINC 72166-2, the SNOMED CT status as ``valueCodeableConcept``;
* Tobacco Use (4.85) and Social History Observation (4.38, and every other observation of the section:
  older CCD/IHE templates, caregiver, home environment, gender identity...) → an Observation keeping its own
  code;
* Pregnancy Observation (15.3.8, code ``ASSERTION``) → LOINC 82810-3 "Pregnancy status" with the value; its
  Estimated Date of Delivery (15.3.1) becomes a component (LOINC 11778-8, ``valueDateTime``);
* Birth Sex (4.200) makes no Observation: the IG maps it to the Patient's ``us-core-birthsex`` extension,
  which ``header.py`` fills from this section. The entry counts as converted when the Patient carries it.

``effectiveTime`` prefers ``effectiveDateTime`` (an interval with only ``low`` is that point in time).
"""

from __future__ import annotations

from typing import Final

from lxml import etree

from fhir_facade.ccda.cda import V3, attr, child, has_template
from fhir_facade.ccda.context import ConversionContext, Json
from fhir_facade.ccda.datatypes import code_of, ts
from fhir_facade.ccda.sections.base import Section, SectionSpec, convert_entries, related
from fhir_facade.ccda.sections.notes import NOTE_ACTIVITY, note_activity
from fhir_facade.ccda.sections.observation import observation
from fhir_facade.ccda.sections.shared import category
from fhir_facade.ccda.templates import BIRTH_SEX_OBSERVATION, SOCIAL_HISTORY_SECTION

__all__ = ["SPEC", "convert_social_history", "prefer_datetime", "social_observation"]

LOINC: Final = "http://loinc.org"
SMOKING_STATUS: Final = ("2.16.840.1.113883.10.20.22.4.78", "2.16.840.1.113883.10.22.4.78")
TOBACCO_USE: Final = "2.16.840.1.113883.10.20.22.4.85"
PREGNANCY: Final = "2.16.840.1.113883.10.20.15.3.8"
DELIVERY_DATE: Final = "2.16.840.1.113883.10.20.15.3.1"
_BIRTHSEX_URL: Final = "http://hl7.org/fhir/us/core/StructureDefinition/us-core-birthsex"
_ASSERTION: Final = "ASSERTION"
_TOBACCO_USE_CODES: Final = frozenset({"229819007", "11367-0", "365980008", "72166-2"})
# SNOMED CT smoking status values (the Smoking Status value set of C-CDA and US Core).
_SMOKING_VALUES: Final = frozenset(
    {
        "449868002",
        "428041000124106",
        "8517006",
        "266919005",
        "77176002",
        "266927001",
        "428071000124103",
        "428061000124105",
    }
)


def convert_social_history(section: Section, ctx: ConversionContext) -> list[Json]:
    return convert_entries(section, ctx, "social history", _entry)


SPEC: Final = SectionSpec("social history", (SOCIAL_HISTORY_SECTION,), ("29762-2",), convert_social_history)


def _entry(statement: etree._Element, section: Section, ctx: ConversionContext) -> list[Json]:
    if statement.tag != V3 + "observation":
        if has_template(statement, NOTE_ACTIVITY):
            return [note_activity(statement, ctx)]
        return []
    if has_template(statement, BIRTH_SEX_OBSERVATION):
        return _birth_sex(statement, ctx)
    return [social_observation(statement, ctx)]


def social_observation(element: etree._Element, ctx: ConversionContext) -> Json:
    """The social-history Observation for any social history observation (smoking, pregnancy, others)."""
    resource = observation(element, ctx, [category("social-history", "Social History")])
    prefer_datetime(resource)
    if resource["status"] == "unknown" and child(element, "statusCode") is None:
        resource["status"] = "final"  # the templates fix statusCode to completed; senders omit it
    if is_smoking_status(element):
        resource["code"] = {
            "coding": [{"system": LOINC, "code": "72166-2", "display": "Tobacco smoking status"}],
            "text": "Tobacco smoking status",
        }
    elif has_template(element, PREGNANCY):
        _pregnancy(element, resource, ctx)
    return resource


def is_smoking_status(element: etree._Element) -> bool:
    """A Smoking Status observation by template, by its LOINC code, or an older tobacco-use observation whose
    value is a smoking status."""
    code = child(element, "code")
    if has_template(element, *SMOKING_STATUS) or code_of(code) == "72166-2":
        return True
    if has_template(element, TOBACCO_USE):
        return False
    value = code_of(child(element, "value"))
    return value in _SMOKING_VALUES and (code_of(code) in _TOBACCO_USE_CODES or code_of(code) == _ASSERTION)


def prefer_datetime(resource: Json) -> None:
    """``effectivePeriod`` with a start only → ``effectiveDateTime`` (the IG prefers the point in time)."""
    found = resource.get("effectivePeriod")
    if found is not None and "end" not in found:
        del resource["effectivePeriod"]
        resource["effectiveDateTime"] = found["start"]


def _pregnancy(element: etree._Element, resource: Json, ctx: ConversionContext) -> None:
    if attr(child(element, "code"), "code") in (None, _ASSERTION):
        resource["code"] = {
            "coding": [{"system": LOINC, "code": "82810-3", "display": "Pregnancy status"}],
            "text": "Pregnancy status",
        }
    for inner in related(element, DELIVERY_DATE):
        when = ts(child(inner, "value"), ctx)
        if when:
            resource.setdefault("component", []).append(
                {
                    "code": {
                        "coding": [{"system": LOINC, "code": "11778-8", "display": "Delivery date Estimated"}]
                    },
                    "valueDateTime": when,
                }
            )


def _birth_sex(element: etree._Element, ctx: ConversionContext) -> list[Json]:
    """No resource: the header put the birth sex on the Patient; count the entry as converted if it did."""
    patient = ctx.resources.get(str((ctx.patient or {}).get("reference", "")).removeprefix("urn:uuid:"))
    carried = patient is not None and any(e.get("url") == _BIRTHSEX_URL for e in patient.get("extension", ()))
    if carried:
        ctx.section_stats("social history").converted += 1
    else:
        ctx.tally("birth-sex", element, "birth sex observations could not be carried by the Patient")
    return []
