"""Match rules per resource type: which tokens say "the same fact", and which time must agree.

A rule turns one resource into

* ``what``: ``(system, value)`` tokens naming the fact: codings of the identifying concept (code systems
  normalized to their FHIR URI), the concept's text when it has no coding, or a normalized name+address;
* ``identifiers``: ``(system, value)`` tokens that identify the resource on their own (Encounter, people,
  organizations, places, devices) regardless of time;
* ``time``: an :class:`Interval` the other occurrence must overlap (a point for dates, a period for
  medications), or ``None`` for timeless facts (an allergy to a substance, a Medication);
* ``value``: an extra token that must be equal (an Observation's value);
* ``one_per_document``: two resources of one document are never the same fact (a FamilyMemberHistory per
  relative: C-CDA gives each relative their own organizer).

The reasoning for each type is in the package docstring. Types without a rule are matched by their full
content (references already rewritten to survivors) or never (Composition, Provenance: one per document).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any, Final

import orjson

from fhir_facade.ccda.consolidate.documents import OPEN_END, Interval, interval, period_interval, ref_id
from fhir_facade.ccda.context import Json
from fhir_facade.ccda.datatypes import system_uri

__all__ = [
    "CONTENT_RULE",
    "NEVER_MERGED",
    "RULES",
    "SYSTEM_RANK",
    "TIERS",
    "Resolver",
    "Rule",
    "Token",
    "canonical",
    "concept_tokens",
    "content_tokens",
    "identifier_tokens",
]

Token = tuple[str, str]
Resolver = Callable[[Any], Json | None]
"""Resolves a Reference inside the same document (Medication behind ``medicationReference``)."""
Rewrite = Callable[[str], str]
"""Maps an id to its survivor's (types matched earlier in :data:`TIERS`)."""

SNOMED: Final = "http://snomed.info/sct"
SYSTEM_RANK: Final[dict[str, int]] = {
    SNOMED: 0,
    "http://www.nlm.nih.gov/research/umls/rxnorm": 0,
    "http://loinc.org": 0,
    "http://hl7.org/fhir/sid/cvx": 0,
    "http://hl7.org/fhir/sid/icd-10-cm": 1,
    "http://hl7.org/fhir/sid/icd-10": 1,
    "http://www.ama-assn.org/go/cpt": 1,
    "http://hl7.org/fhir/sid/icd-9-cm": 2,
    "family-member-id": 0,  # a relative's own id outweighs a differing name or birth year
    "text": 9,
}
"""Specificity of a code system: two concepts sharing a code are still different when they disagree in a
system at least as specific as the shared one (same ICD-10 code, different SNOMED codes)."""

NEVER_MERGED: Final = frozenset({"Composition", "Provenance", "OperationOutcome", "Bundle"})
"""Kept one per document; only an identical id (the same document received twice) joins them."""

TIERS: Final[tuple[str, ...]] = (
    "Patient",
    "Organization",
    "Location",
    "Practitioner",
    "Device",
    "PractitionerRole",
    "Medication",
)
"""Types matched first, in this order: later keys and content compare references to their survivors."""


@dataclass(frozen=True, slots=True)
class Rule:
    what: Callable[[Json, Resolver, Rewrite], list[Token]]
    reason: str
    time: Callable[[Json], Interval | None] | None = None
    value: Callable[[Json], str] | None = None
    identifiers: bool = False
    undated_matches: bool = True
    """Whether an occurrence without any time may join the one group its tokens point to."""
    one_per_document: bool = False
    """Whether occurrences from one document always stay apart (see the module docstring)."""


# --- tokens ---------------------------------------------------------------------------------------------


def _system(raw: Any) -> str:
    text = str(raw).strip()
    return system_uri(text[len("urn:oid:") :]) if text.startswith("urn:oid:") else text


def concept_tokens(concept: Any) -> list[Token]:
    """``(system, code)`` of every coding; the lower-cased text when there is no coding at all."""
    if not isinstance(concept, dict):
        return []
    found = [
        (_system(c["system"]), str(c["code"]).strip())
        for c in concept.get("coding") or ()
        if isinstance(c, dict) and c.get("system") and c.get("code")
    ]
    if not found and isinstance(concept.get("text"), str) and concept["text"].strip():
        found.append(("text", " ".join(concept["text"].lower().split())))
    return found


def _codes(*fields: str) -> Callable[[Json, Resolver, Rewrite], list[Token]]:
    def tokens(resource: Json, _resolve: Resolver, _rewrite: Rewrite) -> list[Token]:
        found: list[Token] = []
        for name in fields:
            value = resource.get(name)
            for concept in value if isinstance(value, list) else [value]:
                found.extend(concept_tokens(concept))
        return found

    return tokens


def _medication(resource: Json, resolve: Resolver, _rewrite: Rewrite) -> list[Token]:
    if "medicationCodeableConcept" in resource:
        return concept_tokens(resource["medicationCodeableConcept"])
    product = resolve(resource.get("medicationReference"))
    return concept_tokens(product.get("code")) if product else []


def identifier_tokens(resource: Json) -> list[Token]:
    return [
        (_system(i.get("system") or ""), str(i["value"]).strip())
        for i in resource.get("identifier") or ()
        if isinstance(i, dict) and i.get("value")
    ]


def _norm(value: Any) -> str:
    if isinstance(value, list):
        return " ".join(_norm(v) for v in value)
    return " ".join(str(value or "").lower().replace(".", " ").replace(",", " ").split())


def _name_address(resource: Json, _resolve: Resolver, _rewrite: Rewrite) -> list[Token]:
    """Name plus first address (street line, city, postal code); nothing when either is missing."""
    raw_name = resource.get("name")
    if isinstance(raw_name, list):  # HumanName list: the first name's family and given names
        first = raw_name[0] if raw_name and isinstance(raw_name[0], dict) else {}
        name = _norm([first.get("family"), *(first.get("given") or ())]) or _norm(first.get("text"))
    else:
        name = _norm(raw_name)
    places = resource.get("address")
    place = places[0] if isinstance(places, list) and places else places
    if not name or not isinstance(place, dict):
        return []
    where = "|".join(_norm(place.get(k)) for k in ("line", "city", "postalCode"))
    return [("name+address", f"{name}|{where}")] if where.strip("|") else []


def _role(resource: Json, _resolve: Resolver, rewrite: Rewrite) -> list[Token]:
    who = ref_id(resource.get("practitioner"))
    org = ref_id(resource.get("organization"))
    if who is None:
        return []
    return [("role", f"{rewrite(who)}|{rewrite(org) if org else ''}")]


def _attachment_hashes(resource: Json, _resolve: Resolver, _rewrite: Rewrite) -> list[Token]:
    return [
        ("sha1", str(c["attachment"]["hash"]))
        for c in resource.get("content") or ()
        if isinstance(c, dict) and isinstance(c.get("attachment"), dict) and c["attachment"].get("hash")
    ]


FAMILY_MEMBER: Final = "family-member-"
"""Prefix of the token systems naming a relative's identity details (``family-member-name``...)."""
_PATIENT_RECORD: Final = "http://hl7.org/fhir/StructureDefinition/familymemberhistory-patient-record"
_IDENTIFIED: Final = Interval("", OPEN_END, True)


def relative_details(resource: Json) -> list[Token]:
    """A relative's identity details: name, birth year (the precision every sender gives), own id."""
    found: list[Token] = []
    name = _norm(resource.get("name"))
    if name:
        found.append(("name", name))
    born = resource.get("bornDate")
    if isinstance(born, str) and len(born) >= 4:
        found.append(("born", born[:4]))
    for extension in resource.get("extension") or ():
        if isinstance(extension, dict) and extension.get("url") == _PATIENT_RECORD:
            ident = (extension.get("valueReference") or {}).get("identifier") or {}
            if ident.get("value"):
                found.append(("id", f"{_system(ident.get('system') or '')}|{ident['value']}"))
    return found


def _relative(resource: Json, _resolve: Resolver, _rewrite: Rewrite) -> list[Token]:
    """The relationship codings, then each identity detail under each relationship: relatives of one
    relationship share a bucket, and two that both give a detail must agree on it to join."""
    relations = concept_tokens(resource.get("relationship"))
    details = relative_details(resource)
    return relations + [
        (FAMILY_MEMBER + kind, f"{system}|{code}|{value}")
        for system, code in relations
        for kind, value in details
    ]


def _identified(resource: Json) -> Interval | None:
    """Relatives with identity details are matched among themselves first (a timeless "precise" key); one
    without any joins a group of its relationship only when exactly one exists."""
    return _IDENTIFIED if relative_details(resource) else None


def content_tokens(resource: Json, rewrite: Rewrite) -> list[Token]:
    """One token for types without a rule: the hash of the content (id, meta, narrative left out)."""
    body = {k: v for k, v in resource.items() if k not in ("id", "meta", "text")}
    digest = hashlib.sha256(orjson.dumps(canonical(body, rewrite), option=orjson.OPT_SORT_KEYS)).hexdigest()
    return [("content", digest)]


def canonical(value: Any, rewrite: Rewrite | None = None) -> Any:
    """Comparable form: displays dropped, a coded concept reduced to its sorted codes, references mapped."""
    if isinstance(value, dict):
        if value.get("coding"):
            return {"coding": sorted(f"{s}|{c}" for s, c in concept_tokens(value))}
        result = {k: canonical(v, rewrite) for k, v in value.items() if k != "display"}
        if rewrite is not None and "reference" in value:
            target = ref_id(value)
            if target:
                result["reference"] = rewrite(target)
        return result
    if isinstance(value, list):
        return [canonical(v, rewrite) for v in value]
    return value


# --- times and values -----------------------------------------------------------------------------------


def _first_time(precision: str, *fields: str) -> Callable[[Json], Interval | None]:
    """The first present of ``fields`` (``xDateTime``/``xInstant``/``xString`` or ``xPeriod``'s start)."""

    def when(resource: Json) -> Interval | None:
        for name in fields:
            value = resource.get(name)
            if value is None:
                continue
            return interval(value.get("start") if isinstance(value, dict) else value, precision)
        return None

    return when


def _statement_period(resource: Json) -> Interval | None:
    if "effectivePeriod" in resource:
        return period_interval(resource["effectivePeriod"], "day")
    return interval(resource.get("effectiveDateTime"), "day")


def _request_period(resource: Json) -> Interval | None:
    for dosage in resource.get("dosageInstruction") or ():
        bounds = ((dosage.get("timing") or {}).get("repeat") or {}).get("boundsPeriod")
        if bounds:
            return period_interval(bounds, "day")
    start = interval(resource.get("authoredOn"), "day")
    return Interval(start.start, OPEN_END, start.precise) if start else None


def _number(raw: Any) -> str:
    try:
        return format(Decimal(str(raw)).normalize(), "f")
    except (InvalidOperation, ValueError):
        return str(raw)


def observation_value(resource: Json) -> str:
    """The value as a token: quantity as number + unit code, coded values by codes, components in order."""
    for key, value in resource.items():
        if key.startswith("value"):
            return _value_token(key, value)
    if resource.get("component"):
        parts = [
            "|".join(f"{s}|{c}" for s, c in concept_tokens(part.get("code")))
            + "="
            + next((_value_token(k, v) for k, v in part.items() if k.startswith("value")), "")
            for part in resource["component"]
            if isinstance(part, dict)
        ]
        return "components:" + ";".join(sorted(parts))
    return "absent" if "dataAbsentReason" in resource else "none"


def _value_token(key: str, value: Any) -> str:
    if key == "valueQuantity" and isinstance(value, dict):
        unit = value.get("code") or value.get("unit") or ""
        return f"q:{value.get('comparator', '')}{_number(value.get('value'))} {unit}"
    if key == "valueCodeableConcept":
        return "c:" + ",".join(sorted(f"{s}|{c}" for s, c in concept_tokens(value)))
    if key == "valueString":
        return "s:" + _norm(value)
    return key + ":" + orjson.dumps(canonical(value), option=orjson.OPT_SORT_KEYS).decode()


# --- the table ------------------------------------------------------------------------------------------

CONTENT_RULE: Final = Rule(lambda _r, _s, _w: [], "same content")
"""Types without a rule: their token is the content hash (see :func:`content_tokens`)."""

_PEOPLE = Rule(_name_address, "same name and address", identifiers=True)

RULES: Final[dict[str, Rule]] = {
    "Organization": _PEOPLE,
    "Practitioner": _PEOPLE,
    "Location": _PEOPLE,
    "Device": Rule(lambda _r, _s, _w: [], "same identifier", identifiers=True),
    "PractitionerRole": Rule(_role, "same practitioner and organization"),
    "Medication": Rule(_codes("code"), "same product code"),
    "AllergyIntolerance": Rule(_codes("code"), "same substance code"),
    "Condition": Rule(
        _codes("code"),
        "same code, compatible onset",
        _first_time("day", "onsetDateTime", "onsetPeriod"),
    ),
    "MedicationStatement": Rule(_medication, "same medication code, overlapping periods", _statement_period),
    "MedicationRequest": Rule(_medication, "same medication code, overlapping periods", _request_period),
    "MedicationAdministration": Rule(
        _medication,
        "same medication code, same day",
        _first_time("day", "effectiveDateTime", "effectivePeriod"),
    ),
    "MedicationDispense": Rule(
        _medication, "same medication code, same day", _first_time("day", "whenHandedOver", "whenPrepared")
    ),
    "Immunization": Rule(
        _codes("vaccineCode"), "same vaccine code, same day", _first_time("day", "occurrenceDateTime")
    ),
    "Observation": Rule(
        _codes("code"),
        "same code, time and value",
        _first_time("instant", "effectiveDateTime", "effectiveInstant", "effectivePeriod"),
        value=observation_value,
        undated_matches=False,
    ),
    "DiagnosticReport": Rule(
        _codes("code"),
        "same code and time",
        _first_time("instant", "effectiveDateTime", "effectivePeriod"),
        undated_matches=False,
    ),
    "Encounter": Rule(
        _codes("type"), "same type and start day", _first_time("day", "period"), identifiers=True
    ),
    "Procedure": Rule(
        _codes("code"), "same code, same day", _first_time("day", "performedDateTime", "performedPeriod")
    ),
    "DocumentReference": Rule(_attachment_hashes, "same content hash"),
    "FamilyMemberHistory": Rule(
        _relative,
        "same relationship and compatible relative details",
        _identified,
        one_per_document=True,
    ),
}
