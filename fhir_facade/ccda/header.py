"""The C-CDA header → Patient (US Core race, ethnicity, birth sex, languages) and Encounter.

Authors, custodian and the Composition itself are in ``participants.py`` and ``document.py``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Final

from lxml import etree

from fhir_facade.ccda.cda import attr, child, children, has_template, sdtc, text_of
from fhir_facade.ccda.context import ConversionContext, Json
from fhir_facade.ccda.datatypes import (
    address,
    code_of,
    concept,
    data_absent,
    human_name,
    identifiers,
    period,
    telecom,
    to_date,
    ts,
)
from fhir_facade.ccda.participants import assigned_party, organization
from fhir_facade.ccda.templates import BIRTH_SEX_OBSERVATION, SOCIAL_HISTORY_SECTION

__all__ = ["encounter", "patient"]

US_CORE: Final = "http://hl7.org/fhir/us/core/StructureDefinition/"
_CDC_RACE: Final = "urn:oid:2.16.840.1.113883.6.238"
_NULL_FLAVOR: Final = "http://terminology.hl7.org/CodeSystem/v3-NullFlavor"
_OMB_RACE: Final = frozenset({"1002-5", "2028-9", "2054-5", "2076-8", "2106-3"})
_OMB_ETHNICITY: Final = frozenset({"2135-2", "2186-5"})
_GENDER: Final[dict[str, str]] = {"M": "male", "F": "female", "UN": "other", "U": "unknown"}
_UNKNOWN: Final[dict[str, str]] = {"UNK": "Unknown", "ASKU": "Asked but no answer"}


def patient(ctx: ConversionContext) -> Json:
    """Patient from ``recordTarget/patientRole`` (the first one; C-CDA documents are about one patient)."""
    role = child(ctx.root, "recordTarget", "patientRole")
    if role is None:
        ctx.report("error", "required", "the document has no recordTarget/patientRole", ctx.root)
        role = ctx.root
    person = child(role, "patient")
    resource: Json = {"resourceType": "Patient", "id": ctx.id_for("Patient", role, shared=True)}
    extensions = [
        ext
        for ext in (
            _race_or_ethnicity(person, "raceCode", "us-core-race", _OMB_RACE, ctx),
            _race_or_ethnicity(person, "ethnicGroupCode", "us-core-ethnicity", _OMB_ETHNICITY, ctx),
            _birth_sex(ctx),
        )
        if ext
    ]
    religion = concept(child(person, "religiousAffiliationCode"), ctx)
    if religion:
        extensions.append(
            {
                "url": "http://hl7.org/fhir/StructureDefinition/patient-religion",
                "valueCodeableConcept": religion,
            }
        )
    if extensions:
        resource["extension"] = extensions
    ids = identifiers(children(role, "id"))
    if ids:
        resource["identifier"] = ids
    names = [n for n in (human_name(n, ctx) for n in children(person, "name")) if n]
    resource["name"] = names or [{"extension": [data_absent(child(person, "name"))]}]
    phones = [t for t in map(telecom, children(role, "telecom")) if t]
    if phones:
        resource["telecom"] = phones
    gender = child(person, "administrativeGenderCode")
    resource["gender"] = _GENDER.get(code_of(gender) or "", "unknown")
    birth = child(person, "birthTime")
    born = to_date(ts(birth, ctx))
    if born:
        resource["birthDate"] = born
    elif birth is not None:
        resource["_birthDate"] = {"extension": [data_absent(birth)]}
    _deceased(person, resource, ctx)
    places = [a for a in (address(a, ctx) for a in children(role, "addr")) if a]
    if places:
        resource["address"] = places
    marital = concept(child(person, "maritalStatusCode"), ctx)
    if marital:
        resource["maritalStatus"] = marital
    contacts = [c for c in (_guardian(g, ctx) for g in children(person, "guardian")) if c]
    if contacts:
        resource["contact"] = contacts
    languages = [c for c in (_language(lc) for lc in children(person, "languageCommunication")) if c]
    if languages:
        resource["communication"] = languages
    provider = organization(child(role, "providerOrganization"), ctx)
    if provider:
        resource["managingOrganization"] = provider
    return resource


def _race_or_ethnicity(
    person: etree._Element | None, name: str, profile: str, omb: frozenset[str], ctx: ConversionContext
) -> Json | None:
    coded = [
        e
        for e in (child(person, name), *(person.iterchildren(sdtc(name)) if person is not None else ()))
        if e is not None
    ]
    parts: list[Json] = []
    texts: list[str] = []
    for element in coded:
        code = code_of(element)
        flavor = attr(element, "nullFlavor")
        if code is None and flavor in _UNKNOWN:
            parts.append(
                {
                    "url": "ombCategory",
                    "valueCoding": {"system": _NULL_FLAVOR, "code": flavor, "display": _UNKNOWN[flavor]},
                }
            )
            texts.append(_UNKNOWN[flavor])
            continue
        if code is None:
            continue
        display = attr(element, "displayName")
        coding: Json = {"system": _CDC_RACE, "code": code}
        if display:
            coding["display"] = display
        parts.append({"url": "ombCategory" if code in omb else "detailed", "valueCoding": coding})
        texts.append(display or code)
    if not parts:
        return None
    parts.append({"url": "text", "valueString": ", ".join(dict.fromkeys(texts))})
    return {"url": US_CORE + profile, "extension": parts}


def _birth_sex(ctx: ConversionContext) -> Json | None:
    for observation in _birth_sex_observations(ctx.root):
        value = child(observation, "value")
        code = code_of(value) or attr(value, "nullFlavor")
        if code in ("F", "M", "UNK", "ASKU", "OTH"):
            return {
                "url": US_CORE + "us-core-birthsex",
                "valueCode": "UNK" if code != "F" and code != "M" else code,
            }
    return None


def _birth_sex_observations(root: etree._Element) -> Iterator[etree._Element]:
    """Birth Sex observations (an entry's first observation) in Social History sections (a component's first
    section), in document order.

    Walked through the child index rather than queried: the body's conversion indexes these same elements
    anyway, and an XPath over the document costs more than the whole walk.
    """
    for component in children(child(root, "component", "structuredBody"), "component"):
        section = child(component, "section")
        if section is None or not has_template(section, SOCIAL_HISTORY_SECTION):
            continue
        for entry in children(section, "entry"):
            observation = child(entry, "observation")
            if observation is not None and has_template(observation, BIRTH_SEX_OBSERVATION):
                yield observation


def _deceased(person: etree._Element | None, resource: Json, ctx: ConversionContext) -> None:
    if person is None:
        return
    when = ts(next(person.iterchildren(sdtc("deceasedTime")), None), ctx)
    if when:
        resource["deceasedDateTime"] = when
        return
    flag = next(person.iterchildren(sdtc("deceasedInd")), None)
    if flag is not None and flag.get("value") in ("true", "false"):
        resource["deceasedBoolean"] = flag.get("value") == "true"


def _language(element: etree._Element) -> Json | None:
    code = code_of(child(element, "languageCode"))
    if code is None:
        return None
    result: Json = {"language": {"coding": [{"system": "urn:ietf:bcp:47", "code": code}]}}
    preferred = attr(child(element, "preferenceInd"), "value")
    if preferred in ("true", "false"):
        result["preferred"] = preferred == "true"
    return result


def _guardian(element: etree._Element, ctx: ConversionContext) -> Json | None:
    contact: Json = {}
    relationship = concept(child(element, "code"), ctx)
    if relationship:
        contact["relationship"] = [relationship]
    name = next(
        (n for n in (human_name(n, ctx) for n in children(child(element, "guardianPerson"), "name")) if n),
        None,
    )
    if name:
        contact["name"] = name
    phones = [t for t in map(telecom, children(element, "telecom")) if t]
    if phones:
        contact["telecom"] = phones
    place = next((a for a in (address(a, ctx) for a in children(element, "addr")) if a), None)
    if place:
        contact["address"] = place
    return contact or None


def encounter(ctx: ConversionContext) -> Json | None:
    """Encounter from ``componentOf/encompassingEncounter``, or ``None`` when the document has none."""
    source = child(ctx.root, "componentOf", "encompassingEncounter")
    if source is None:
        return None
    resource: Json = {"resourceType": "Encounter", "id": ctx.id_for("Encounter", source, shared=True)}
    ids = identifiers(children(source, "id"))
    if ids:
        resource["identifier"] = ids
    when = period(child(source, "effectiveTime"), ctx)
    resource["status"] = "finished" if when and "end" in when else "unknown"
    code = child(source, "code")
    kind = concept(code, ctx)
    act_code = code is not None and attr(code, "codeSystem") == "2.16.840.1.113883.5.4" and code_of(code)
    resource["class"] = (
        {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": act_code}
        if act_code
        else {"system": _NULL_FLAVOR, "code": "UNK", "display": "unknown"}
    )
    if kind:
        resource["type"] = [kind]
    if ctx.patient:
        resource["subject"] = ctx.patient
    participants = []
    for participant in children(source, "encounterParticipant"):
        party = assigned_party(child(participant, "assignedEntity"), ctx)
        if party is not None:
            entry: Json = {"individual": party.role or party.who}
            role = attr(participant, "typeCode")
            if role:
                entry["type"] = [
                    {
                        "coding": [
                            {
                                "system": "http://terminology.hl7.org/CodeSystem/v3-ParticipationType",
                                "code": role,
                            }
                        ]
                    }
                ]
            participants.append(entry)
    if participants:
        resource["participant"] = participants
    if when:
        resource["period"] = when
    disposition_code = child(source, "dischargeDispositionCode")
    if disposition_code is None:
        disposition_code = next(source.iterchildren(sdtc("dischargeDispositionCode")), None)
    disposition = concept(disposition_code, ctx)
    if disposition:
        resource["hospitalization"] = {"dischargeDisposition": disposition}
    facility = child(source, "location", "healthCareFacility")
    place = _location(facility, ctx)
    if place:
        resource["location"] = [{"location": place}]
    provider = organization(child(facility, "serviceProviderOrganization"), ctx)
    if provider:
        resource["serviceProvider"] = provider
    return resource


def _location(facility: etree._Element | None, ctx: ConversionContext) -> Json | None:
    if facility is None:
        return None
    place = child(facility, "location")
    name = text_of(child(place, "name"))
    where = address(child(place, "addr"), ctx)
    kind = concept(child(facility, "code"), ctx)
    ids = identifiers(children(facility, "id"))
    if not (name or where or ids):
        return None
    resource: Json = {"resourceType": "Location", "id": ctx.id_for("Location", facility, shared=True)}
    if ids:
        resource["identifier"] = ids
    if name:
        resource["name"] = name
    if kind:
        resource["type"] = [kind]
    if where:
        resource["address"] = where
    return ctx.add(resource)
