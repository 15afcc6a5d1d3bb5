"""Family History section (2.16.840.1.113883.10.20.22.2.15, LOINC 10157-6) → FamilyMemberHistory.

One FamilyMemberHistory per Family History Organizer (4.45, one organizer per relative; the CCD 1.0 organizer
2.16.840.1.113883.10.20.1.23 alike), after FHIR R4 FamilyMemberHistory and C-CDA R2.1 (neither C-CDA on FHIR
nor US Core profiles it; their habits for identifiers, statuses and absent data are kept):

* ``subject/relatedSubject/code`` (RoleCode FTH, MTH, SIS...) → ``relationship``; its narrative text when
  uncoded, a data-absent-reason when missing (the element is required);
* the relative, ``relatedSubject/subject``: ``name`` → ``name``, ``administrativeGenderCode`` → ``sex``
  (administrative-gender codes), ``birthTime`` → ``bornDate``, ``sdtc:deceasedTime`` → ``deceasedDate``,
  else ``sdtc:deceasedInd`` → ``deceasedBoolean``; ``sdtc:id`` → the core extension
  ``familymemberhistory-patient-record`` (a Reference by identifier to the relative's own record);
* the organizer's ``id`` → ``identifier``; the first author time (the organizer's, else an observation's)
  → ``date``;
* ``statusCode`` → ``status``: completed → completed, nullified → entered-in-error, any other (active, new,
  held, aborted...: a history still being taken or left unfinished) → partial, none → completed (the only
  status the template allows). A relative whose observations all have an unknown value (UNK, ASKU, NAV,
  NASK, NI) and who has no condition is ``health-unknown``;
* each Family History Observation (4.46) component → one ``condition``: ``value`` (with its translations)
  → ``code``, the observation's narrative text when uncoded; the Age Observation (4.31, or CCD's 1.38) →
  ``onsetAge`` in a UCUM time unit (``a``, ``mo``, ``wk``, ``d``, ``h``, ``min``), ``onsetRange`` for an
  age range, ``onsetString`` for an age in another unit or none; without an age, ``effectiveTime`` →
  ``onsetPeriod`` (a single time as a period starting and ending then); a Family History Death Observation
  (4.47, or any observation valued 419099009 "Dead") under a ``CAUS`` relationship → ``contributedToDeath``
  true, and the relative is deceased;
* a negated observation (``negationInd="true"``: the relative does not have it; "no known family history"
  is sent this way) never becomes a condition: it is kept as a ``note`` ("Not present: ..."); a nullified
  observation, or one with neither value nor text, is left out.

An organizer saying nothing at all (no relationship, relative or observation) makes nothing. The ids of the
organizer and of its observations all lead to the FamilyMemberHistory (``ctx.made_from``), so a Health
Concern referring to either links it; :func:`copied` resolves a copy of an organizer inside another entry.
"""

from __future__ import annotations

from typing import Final

from lxml import etree

from fhir_facade.ccda.cda import V3, attr, child, children, has_template, sdtc, xsi_type
from fhir_facade.ccda.context import ConversionContext, Json, identity_key
from fhir_facade.ccda.datatypes import (
    code_of,
    concept,
    data_absent,
    human_name,
    identifier,
    identifiers,
    original_text,
    period,
    quantity,
    range_,
    to_date,
    ts,
)
from fhir_facade.ccda.datatypes.codesystems import CODE_SYSTEMS
from fhir_facade.ccda.participants import author_time
from fhir_facade.ccda.sections.base import Section, SectionSpec, convert_entries, related

__all__ = [
    "FAMILY_HISTORY_ORGANIZER",
    "PATIENT_RECORD_URL",
    "SPEC",
    "convert_family_history",
    "copied",
    "family_history_concept",
    "family_member_history",
    "same_relative",
]

_T: Final = "2.16.840.1.113883.10.20.22."
FAMILY_HISTORY_SECTION: Final = _T + "2.15"
FAMILY_HISTORY_ORGANIZER: Final = _T + "4.45"
FAMILY_HISTORY_OBSERVATION: Final = _T + "4.46"
FAMILY_HISTORY_DEATH: Final = _T + "4.47"
AGE_OBSERVATION: Final = _T + "4.31"
_CCD_ORGANIZER: Final = "2.16.840.1.113883.10.20.1.23"
_CCD_AGE: Final = "2.16.840.1.113883.10.20.1.38"
_CCD_CAUSE_OF_DEATH: Final = "2.16.840.1.113883.10.20.1.42"
_DEAD: Final = "419099009"

PATIENT_RECORD_URL: Final = "http://hl7.org/fhir/StructureDefinition/familymemberhistory-patient-record"
"""FHIR core extension: a link to the relative's own patient record (here by the relative's ``sdtc:id``)."""
_SEX_SYSTEM: Final = "http://hl7.org/fhir/administrative-gender"
_SEX: Final[dict[str, tuple[str, str]]] = {
    "M": ("male", "Male"),
    "F": ("female", "Female"),
    "UN": ("other", "Other"),
    "U": ("unknown", "Unknown"),
    "UNK": ("unknown", "Unknown"),
}
_STATUS: Final[dict[str, str]] = {"completed": "completed", "nullified": "entered-in-error"}
"""``statusCode`` → FamilyMemberHistory.status; any other code is ``partial`` (see the module docstring)."""
_UNKNOWN_VALUES: Final = frozenset({"UNK", "ASKU", "NAV", "NASK", "NI"})
_AGE_UNITS: Final = frozenset({"a", "mo", "wk", "d", "h", "min"})
_SYSTEM_NAMES: Final[dict[str, str]] = {row.uri: row.name for row in CODE_SYSTEMS if row.preferred}
_SNOMED: Final = "http://snomed.info/sct"
_FAMILY_HISTORY_OF: Final = ("416471007", "Family history of clinical finding")


def convert_family_history(section: Section, ctx: ConversionContext) -> list[Json]:
    return convert_entries(section, ctx, "family history", _entry)


SPEC: Final = SectionSpec("family history", (FAMILY_HISTORY_SECTION,), ("10157-6",), convert_family_history)


def _entry(statement: etree._Element, section: Section, ctx: ConversionContext) -> list[Json]:
    if statement.tag not in (V3 + "organizer", V3 + "observation"):
        return []  # a comment or another act names no relative
    found = family_member_history(statement, ctx)
    return [found] if found is not None else []


def family_member_history(statement: etree._Element, ctx: ConversionContext) -> Json | None:
    """FamilyMemberHistory for a Family History Organizer (or a lone Family History Observation, whose own
    ``subject`` names the relative); ``None`` when it says nothing."""
    lone = statement.tag == V3 + "observation"
    observations = [statement] if lone else _components(statement)
    resource: Json = {
        "resourceType": "FamilyMemberHistory",
        "id": ctx.id_for("FamilyMemberHistory", statement),
    }
    _link(statement, observations, resource["id"], ctx)
    ids = identifiers(children(statement, "id")) if not lone else []
    if ids:
        resource["identifier"] = ids
    conditions: list[Json] = []
    notes: list[Json] = []
    unknown = False
    for observation in observations:
        if attr(child(observation, "statusCode"), "code") == "nullified":
            ctx.tally("family-nullified", observation, "family history observations were nullified, left out")
            continue
        if observation.get("negationInd") == "true":
            note = _negated(observation, ctx)
            if note is not None:
                notes.append(note)
            continue
        found = _condition(observation, ctx)
        if found is not None:
            conditions.append(found)
        else:
            unknown = unknown or attr(child(observation, "value"), "nullFlavor") in _UNKNOWN_VALUES
    related_subject = child(statement, "subject", "relatedSubject")
    relative = child(related_subject, "subject")
    code = child(related_subject, "code")
    relationship = concept(code, ctx)
    if relationship is None and not (conditions or notes or _details(relative)):
        ctx.tally("family-empty", statement, "family history organizers named no relative and no condition")
        return None
    resource["status"] = _status(statement, conditions, notes, unknown)
    if ctx.patient:
        resource["patient"] = ctx.patient
    when = author_time(statement, ctx) or next(
        filter(None, (author_time(o, ctx) for o in observations)), None
    )
    if when:
        resource["date"] = when
    resource["relationship"] = relationship or {"extension": [data_absent(code)]}
    _relative(relative, resource, ctx)
    if any(c.get("contributedToDeath") for c in conditions) and not resource.get("deceasedDate"):
        if resource.get("deceasedBoolean") is False:
            ctx.tally(
                "family-death", statement, "family members marked alive had a cause of death, taken as dead"
            )
        resource["deceasedBoolean"] = True
    if notes:
        resource["note"] = notes
    if conditions:
        resource["condition"] = conditions
    return resource


def _components(organizer: etree._Element) -> list[etree._Element]:
    return [o for c in children(organizer, "component") if (o := child(c, "observation")) is not None]


def _link(
    statement: etree._Element, observations: list[etree._Element], rid: str, ctx: ConversionContext
) -> None:
    """Let the observations' ids lead to the FamilyMemberHistory too (``id_for`` recorded the organizer's)."""
    for observation in observations:
        key = identity_key(observation)
        if key is not None and observation is not statement and rid not in ctx.made_from.get(key, ()):
            ctx.made_from.setdefault(key, []).append(rid)


def _status(statement: etree._Element, conditions: list[Json], notes: list[Json], unknown: bool) -> str:
    code = attr(child(statement, "statusCode"), "code") if statement.tag == V3 + "organizer" else None
    status = _STATUS.get(code, "partial") if code else "completed"
    if status != "entered-in-error" and unknown and not conditions and not notes:
        return "health-unknown"
    return status


def _details(relative: etree._Element | None) -> bool:
    """Whether the relative element tells anything about the person."""
    if relative is None:
        return False
    return any(
        e.get("value") or e.get("code") or e.get("root") or (e.text or "").strip() or len(e)
        for e in relative
        if isinstance(e.tag, str)
    )


def _relative(relative: etree._Element | None, resource: Json, ctx: ConversionContext) -> None:
    if relative is None:
        return
    ident = identifier(next(relative.iterchildren(sdtc("id")), None))
    if ident:
        resource["extension"] = [
            {"url": PATIENT_RECORD_URL, "valueReference": {"type": "Patient", "identifier": ident}}
        ]
    name = _name(child(relative, "name"), ctx)
    if name:
        resource["name"] = name
    sex = _sex(child(relative, "administrativeGenderCode"), ctx)
    if sex:
        resource["sex"] = sex
    born = to_date(ts(child(relative, "birthTime"), ctx))
    if born:
        resource["bornDate"] = born
    died = to_date(ts(next(relative.iterchildren(sdtc("deceasedTime")), None), ctx))
    flag = attr(next(relative.iterchildren(sdtc("deceasedInd")), None), "value")
    if died:
        resource["deceasedDate"] = died
    elif flag in ("true", "false"):
        resource["deceasedBoolean"] = flag == "true"


def _name(element: etree._Element | None, ctx: ConversionContext) -> str | None:
    name = human_name(element, ctx)
    if name is None:
        return None
    parts = [*name.get("prefix", ()), *name.get("given", ()), name.get("family"), *name.get("suffix", ())]
    return " ".join(p for p in parts if p) or name.get("text")


def _sex(element: etree._Element | None, ctx: ConversionContext) -> Json | None:
    known = _SEX.get(code_of(element) or "")
    if known is not None:
        return {"coding": [{"system": _SEX_SYSTEM, "code": known[0], "display": known[1]}]}
    return concept(element, ctx)


def _condition(observation: etree._Element, ctx: ConversionContext) -> Json | None:
    code = _code(observation, ctx)
    if code is None:
        return None
    condition: Json = {"code": code}
    if _caused_death(observation):
        condition["contributedToDeath"] = True
    onset = _age(observation, ctx)
    if onset is None:
        onset = _onset_period(child(observation, "effectiveTime"), ctx)
    if onset is not None:
        condition["onset" + onset[0]] = onset[1]
    return condition


def _code(observation: etree._Element, ctx: ConversionContext) -> Json | None:
    code = concept(child(observation, "value"), ctx)
    narrative = original_text(child(observation, "text"), ctx)
    if code is None:
        return {"text": narrative} if narrative else None
    if narrative and "text" not in code:
        code["text"] = narrative
    return code


def _caused_death(observation: etree._Element) -> bool:
    if has_template(observation, _CCD_CAUSE_OF_DEATH):
        return True
    return any(
        inner.get("negationInd") != "true"
        and (has_template(inner, FAMILY_HISTORY_DEATH) or attr(child(inner, "value"), "code") == _DEAD)
        for inner in related(observation, type_code="CAUS")
    )


def _age(observation: etree._Element, ctx: ConversionContext) -> tuple[str, Json | str] | None:
    for inner in related(observation, AGE_OBSERVATION, _CCD_AGE):
        value = child(inner, "value")
        if value is None or value.get("nullFlavor") is not None:
            continue
        if xsi_type(value) == "IVL_PQ" and value.get("value") is None:
            span = range_(value, ctx)
            if span is not None and all(_is_age(end) for end in span.values()):
                return ("Range", span)
            continue
        age = quantity(value, ctx)
        if age is None:
            continue
        if _is_age(age):
            return ("Age", age)
        unit = age.get("unit")
        return ("String", f"age {age['value']} {unit}" if unit else f"age {age['value']}")
    return None


def _is_age(value: Json) -> bool:
    number = value.get("value")
    return value.get("code") in _AGE_UNITS and isinstance(number, (int, float)) and number > 0


def _onset_period(element: etree._Element | None, ctx: ConversionContext) -> tuple[str, Json] | None:
    if element is None or element.get("nullFlavor") is not None:
        return None
    if element.get("value"):
        point = ts(element, ctx)
        return ("Period", {"start": point, "end": point}) if point else None
    found = period(element, ctx)
    return ("Period", found) if found else None


def _negated(observation: etree._Element, ctx: ConversionContext) -> Json | None:
    code = concept(child(observation, "value"), ctx)
    narrative = original_text(child(observation, "text"), ctx)
    label = label_of(code) if code else None
    if label is None and narrative is None:
        return None
    text = f"Not present: {label or narrative}"
    if label and narrative and narrative != label:
        text += f" (source text: {narrative})"
    return {"text": text}


def label_of(concept_: Json | None) -> str | None:
    """A readable name for a concept: its text, a display, else ``<system name> <code>``."""
    if not concept_:
        return None
    if concept_.get("text"):
        return str(concept_["text"])
    codings = concept_.get("coding") or ()
    for coding in codings:
        if coding.get("display"):
            return str(coding["display"])
    for coding in codings:
        system = str(coding.get("system") or "")
        return f"{_SYSTEM_NAMES.get(system, system)} {coding['code']}".strip()
    return None


def same_relative(first: Json, second: Json) -> bool:
    """Whether two FamilyMemberHistory describe the same relative: a shared relationship coding (or the same
    text), and no identity detail (name, birth date, sex, the relative's id) both give that differs."""
    ours, theirs = first.get("relationship") or {}, second.get("relationship") or {}
    codes = {(c.get("system"), c.get("code")) for c in ours.get("coding") or ()}
    shared = codes & {(c.get("system"), c.get("code")) for c in theirs.get("coding") or ()}
    same_text = not codes and bool(ours.get("text")) and ours.get("text") == theirs.get("text")
    if not (shared or same_text):
        return False
    return all(
        first.get(key) is None or second.get(key) is None or first[key] == second[key]
        for key in ("name", "bornDate", "sex", "extension")
    )


def copied(organizer: etree._Element, ctx: ConversionContext) -> Json | None:
    """The FamilyMemberHistory a copy of a Family History Organizer inside another entry stands for: the one
    already made in this document for the same relative (when the relationship and details leave exactly one,
    or the one whose conditions hold the copy's), else a new one made from the copy."""
    made = family_member_history(organizer, ctx)
    if made is None:
        return None
    same = [
        r
        for r in ctx.resources.values()
        if r["resourceType"] == "FamilyMemberHistory" and same_relative(r, made)
    ]
    if len(same) > 1:
        wanted = {_first_code(c) for c in made.get("condition") or ()}
        same = [r for r in same if wanted <= {_first_code(c) for c in r.get("condition") or ()}]
    if len(same) == 1:
        return same[0]
    ctx.add(made)
    return made


def _first_code(condition: Json) -> tuple[str | None, str | None]:
    coding: Json = next(iter(condition["code"].get("coding") or ()), {})
    return (coding.get("system"), coding.get("code") or condition["code"].get("text"))


def family_history_concept(histories: list[Json]) -> Json:
    """The code of a health concern that is a family history: SNOMED CT "Family history of clinical finding",
    its text naming the relatives and their conditions."""
    parts = []
    for history in histories:
        who = label_of(history.get("relationship")) or "family member"
        what = [label for c in history.get("condition") or () if (label := label_of(c.get("code")))]
        parts.append(f"{who} ({', '.join(what)})" if what else who)
    return {
        "coding": [{"system": _SNOMED, "code": _FAMILY_HISTORY_OF[0], "display": _FAMILY_HISTORY_OF[1]}],
        "text": "Family history: " + "; ".join(parts),
    }
