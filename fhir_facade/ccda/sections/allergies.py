"""Allergies and Intolerances section (2.16.840.1.113883.10.20.22.2.6[.1], LOINC 48765-2) →
AllergyIntolerance.

One AllergyIntolerance per Allergy - Intolerance Observation (4.7), usually wrapped in an Allergy Concern Act
(4.30). Mapping after C-CDA on FHIR: the observation ``value`` gives type and category, the consumable
participant's ``playingEntity/code`` the substance, Reaction Observations (4.9) the reactions with their
Severity (4.8), the Criticality Observation (4.145) the criticality.

Negation: ``negationInd="true"`` with no substance is "no known allergy" (SNOMED 716186003, or the drug /
food / environmental variant by the value's category), confirmed; with a substance it is a refuted allergy
to it.
"""

from __future__ import annotations

from typing import Final

from lxml import etree

from fhir_facade.ccda.cda import V3, child, children, has_template
from fhir_facade.ccda.context import ConversionContext, Json
from fhir_facade.ccda.datatypes import code_of, concept, data_absent, identifiers, ts_value
from fhir_facade.ccda.participants import author_of
from fhir_facade.ccda.sections.base import Section, SectionSpec, convert_entries, related
from fhir_facade.ccda.sections.status import (
    ALLERGY_CLINICAL,
    ALLERGY_VERIFICATION,
    SNOMED,
    clinical_status,
    status_concept,
)
from fhir_facade.ccda.templates import (
    ALLERGIES_SECTION,
    ALLERGIES_SECTION_ENTRIES,
    ALLERGY_CONCERN_ACT,
    ALLERGY_OBSERVATION,
    ALLERGY_STATUS_OBSERVATION,
    CRITICALITY_OBSERVATION,
    REACTION_OBSERVATION,
    SEVERITY_OBSERVATION,
)

__all__ = ["SPEC", "convert_allergies"]

# Allergy observation value (SNOMED) → (type, category)
_KINDS: Final[dict[str, tuple[str | None, str | None]]] = {
    "420134006": (None, None),
    "418038007": (None, None),
    "419511003": (None, "medication"),
    "418471000": (None, "food"),
    "419199007": ("allergy", None),
    "416098002": ("allergy", "medication"),
    "414285001": ("allergy", "food"),
    "426232007": ("allergy", "environment"),
    "609328004": ("allergy", None),
    "59037007": ("intolerance", "medication"),
    "235719002": ("intolerance", "food"),
    "782197009": ("intolerance", None),
}
_NO_KNOWN: Final[dict[str | None, tuple[str, str]]] = {
    None: ("716186003", "No known allergy"),
    "medication": ("409137002", "No known drug allergy"),
    "food": ("429625007", "No known food allergy"),
    "environment": ("428607008", "No known environmental allergy"),
}
_NO_KNOWN_CODES: Final = frozenset(code for code, _ in _NO_KNOWN.values())
_SEVERITY: Final[dict[str, str]] = {
    "255604002": "mild",
    "6736007": "moderate",
    "24484000": "severe",
    "371923003": "moderate",
    "371924009": "severe",
    "399166001": "severe",
}
_CRITICALITY: Final[dict[str, str]] = {"CRITH": "high", "CRITL": "low", "CRITU": "unable-to-assess"}
_RECORDERS: Final = frozenset({"Practitioner", "PractitionerRole", "Patient", "RelatedPerson"})


def convert_allergies(section: Section, ctx: ConversionContext) -> list[Json]:
    return convert_entries(section, ctx, "allergies", _entry)


SPEC: Final = SectionSpec(
    "allergies", (ALLERGIES_SECTION, ALLERGIES_SECTION_ENTRIES), ("48765-2",), convert_allergies
)


def _entry(statement: etree._Element, section: Section, ctx: ConversionContext) -> list[Json]:
    if statement.tag == V3 + "observation" and not has_template(statement, ALLERGY_CONCERN_ACT):
        return [_allergy(statement, None, ctx)]
    observations = list(related(statement, ALLERGY_OBSERVATION)) or list(related(statement, type_code="SUBJ"))
    return [_allergy(observation, statement, ctx) for observation in observations]


def _allergy(observation: etree._Element, concern: etree._Element | None, ctx: ConversionContext) -> Json:
    resource: Json = {
        "resourceType": "AllergyIntolerance",
        "id": ctx.id_for("AllergyIntolerance", observation),
    }
    ids = identifiers(children(observation, "id"))
    if ids:
        resource["identifier"] = ids
    value = child(observation, "value")
    kind, category = _KINDS.get(code_of(value) or "", (None, None))
    negated = observation.get("negationInd") == "true"
    substance = concept(child(observation, "participant", "participantRole", "playingEntity", "code"), ctx)
    if code_of(value) in _NO_KNOWN_CODES:
        substance, negated = concept(value, ctx), False
    elif negated and (substance is None or "coding" not in substance):
        code, display = _NO_KNOWN[category]
        substance, negated = (
            {"coding": [{"system": SNOMED, "code": code, "display": display}], "text": display},
            False,
        )
    elif substance is None:
        substance = _free_text(value, ctx) or {"extension": [data_absent(value)]}
    status = clinical_status(observation, concern, ALLERGY_STATUS_OBSERVATION)
    resource["clinicalStatus"] = status_concept(ALLERGY_CLINICAL, status)
    resource["verificationStatus"] = status_concept(
        ALLERGY_VERIFICATION, "refuted" if negated else "confirmed"
    )
    if kind:
        resource["type"] = kind
    if category:
        resource["category"] = [category]
    criticality = next(
        (
            _CRITICALITY.get(code_of(child(c, "value")) or "")
            for c in related(observation, CRITICALITY_OBSERVATION)
        ),
        None,
    )
    if criticality:
        resource["criticality"] = criticality
    resource["code"] = substance
    if ctx.patient:
        resource["patient"] = ctx.patient
    onset = ts_value(child(observation, "effectiveTime"), ctx)
    if onset:
        resource["onsetDateTime"] = onset
    party = author_of(observation, ctx) or (author_of(concern, ctx) if concern is not None else None)
    if party is not None:
        if party.time:
            resource["recordedDate"] = party.time
        if ctx.type_of(party.who) in _RECORDERS:
            resource["recorder"] = party.who
    reactions = _reactions(observation, ctx)
    if reactions:
        resource["reaction"] = reactions
    return resource


def _free_text(value: etree._Element | None, ctx: ConversionContext) -> Json | None:
    found = concept(value, ctx)
    if found and "text" in found and code_of(value) in _KINDS:  # the value's text names the substance
        return {"text": found["text"]}
    return None


def _severity(statement: etree._Element) -> str | None:
    for inner in related(statement, SEVERITY_OBSERVATION):
        found = _SEVERITY.get(code_of(child(inner, "value")) or "")
        if found:
            return found
    return None


def _reactions(observation: etree._Element, ctx: ConversionContext) -> list[Json]:
    overall = _severity(observation)
    reactions: list[Json] = []
    for inner in related(observation, REACTION_OBSERVATION):
        manifestation = concept(child(inner, "value"), ctx)
        if manifestation is None:
            continue
        reaction: Json = {"manifestation": [manifestation]}
        severity = _severity(inner) or overall
        if severity:
            reaction["severity"] = severity
        onset = ts_value(child(inner, "effectiveTime"), ctx)
        if onset:
            reaction["onset"] = onset
        reactions.append(reaction)
    return reactions
