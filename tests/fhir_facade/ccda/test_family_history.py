"""Family History section → FamilyMemberHistory, one small hand-written document per mapping rule and edge
case; every conversion is strict (the Bundle validates against the R4B models)."""

from __future__ import annotations

from typing import Any

import pytest
from lxml import etree

from fhir_facade.ccda.convert import ConversionResult, convert_ccda
from fhir_facade.ccda.sections import Section, find_spec
from tests.fhir_facade.ccda.family_fixtures import (
    PATIENT_RECORD,
    ROLE_CODE,
    SECTION,
    SNOMED,
    UCUM,
    T,
    age,
    death,
    document,
    observation,
    organizer,
    relative,
)
from tests.fhir_facade.ccda.helpers import only, resources

Json = dict[str, Any]


def convert(*sections: str, key: str = "fh") -> ConversionResult:
    return convert_ccda(document(*sections, key=key), strict=True)  # strict: validated with R4B


def histories(result: ConversionResult) -> list[Json]:
    return resources(result.bundle, "FamilyMemberHistory")


def stats(result: ConversionResult) -> tuple[int, int, int]:
    found = result.stats.sections["family history"]
    return found.seen, found.converted, found.failed


# --- the organizer: relative, identifiers, status, date ---------------------------------------------------


def test_organizer_maps_the_relative_and_is_listed_in_the_section() -> None:
    details = (
        '<sdtc:id root="2.16.840.1.113883.19.5.99999.2" extension="rel-7"/>'
        "<name><given>Lucas</given><family>Valieri</family></name>"
        '<administrativeGenderCode code="M" codeSystem="2.16.840.1.113883.5.1"/>'
        '<birthTime value="19300215"/><sdtc:deceasedInd value="true"/><sdtc:deceasedTime value="20030112"/>'
    )
    author = '<author><time value="20230405"/><assignedAuthor><id nullFlavor="NI"/></assignedAuthor></author>'
    entry = organizer(observation(), subject=relative("FTH", details=details, display="Father"))
    result = convert(SECTION + entry.replace("<subject>", author + "<subject>", 1))
    history = only(result.bundle, "FamilyMemberHistory")
    patient = only(result.bundle, "Patient")
    assert history["patient"] == {"reference": "urn:uuid:" + patient["id"]}
    assert history["identifier"] == [{"system": "urn:oid:1.2.3.99", "value": "org-1"}]
    assert history["status"] == "completed"
    assert history["date"] == "2023-04-05"
    assert history["relationship"] == {
        "coding": [{"system": ROLE_CODE, "code": "FTH", "display": "Father"}],
        "text": "Father",
    }
    assert history["name"] == "Lucas Valieri"
    assert history["sex"] == {
        "coding": [{"system": "http://hl7.org/fhir/administrative-gender", "code": "male", "display": "Male"}]
    }
    assert history["bornDate"] == "1930-02-15"
    assert history["deceasedDate"] == "2003-01-12"
    assert "deceasedBoolean" not in history
    assert history["extension"] == [
        {
            "url": PATIENT_RECORD,
            "valueReference": {
                "type": "Patient",
                "identifier": {"system": "urn:oid:2.16.840.1.113883.19.5.99999.2", "value": "rel-7"},
            },
        }
    ]
    composition = only(result.bundle, "Composition")
    section = next(s for s in composition["section"] if s["code"]["coding"][0]["code"] == "10157-6")
    assert section["entry"] == [{"reference": "urn:uuid:" + history["id"]}]
    provenance = only(result.bundle, "Provenance")
    assert {"reference": "urn:uuid:" + history["id"]} in provenance["target"]
    assert history["meta"]["source"].startswith("urn:uuid:")
    assert stats(result) == (1, 1, 0)


def test_missing_relationship_falls_back_to_text_or_a_data_absent_reason() -> None:
    uncoded = (
        '<subject><relatedSubject classCode="PRS"><code nullFlavor="OTH">'
        "<originalText>Godmother</originalText></code></relatedSubject></subject>"
    )
    result = convert(
        SECTION
        + organizer(observation(), subject=relative(None), org_id="org-1")
        + organizer(observation(), subject=uncoded, org_id="org-2")
        + organizer(observation(), subject="<subject/>", org_id="org-3")
    )
    by_id = {h["identifier"][0]["value"]: h for h in histories(result)}
    absent = {"url": "http://hl7.org/fhir/StructureDefinition/data-absent-reason", "valueCode": "unknown"}
    assert by_id["org-1"]["relationship"] == {"extension": [absent]}
    assert by_id["org-2"]["relationship"] == {"text": "Godmother"}
    assert by_id["org-3"]["relationship"] == {"extension": [absent]}
    assert stats(result) == (3, 3, 0)


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("completed", "completed"),
        ("active", "partial"),
        ("new", "partial"),
        ("aborted", "partial"),
        ("nullified", "entered-in-error"),
        ("", "completed"),
    ],
)
def test_organizer_status(code: str, expected: str) -> None:
    (history,) = histories(convert(SECTION + organizer(observation(), status=code)))
    assert history["status"] == expected


def test_a_relative_whose_every_observation_is_unknown_is_health_unknown() -> None:
    unknown = observation('<value xsi:type="CD" nullFlavor="UNK"/>')
    not_applicable = observation('<value xsi:type="CD" nullFlavor="NA"/>')
    result = convert(
        SECTION + organizer(unknown, org_id="org-1") + organizer(not_applicable, org_id="org-2"),
    )
    by_id = {h["identifier"][0]["value"]: h for h in histories(result)}
    assert by_id["org-1"]["status"] == "health-unknown"
    assert by_id["org-2"]["status"] == "completed"  # "not applicable": nothing to report
    assert all("condition" not in h for h in by_id.values())


# --- the observations: conditions, ages, onset, death, negation -------------------------------------------


def test_conditions_keep_code_translations_and_onset_from_age_or_time() -> None:
    translated = (
        '<value xsi:type="CD" code="44054006" codeSystem="2.16.840.1.113883.6.96" displayName="Diabetes">'
        '<translation code="E11.9" codeSystem="2.16.840.1.113883.6.90"/></value>'
    )
    period = '<effectiveTime><low value="1995"/><high value="2001"/></effectiveTime>'
    entry = organizer(
        observation("22298006", inside=age("57")),
        observation(translated, time='<effectiveTime value="1967"/>'),
        observation("38341003", time=period),
        observation("195967001", time='<effectiveTime nullFlavor="UNK"/>'),
    )
    (history,) = histories(convert(SECTION + entry))
    heart, diabetes, hypertension, asthma = history["condition"]
    assert heart["code"] == {"coding": [{"system": SNOMED, "code": "22298006"}]}
    assert heart["onsetAge"] == {"value": 57, "unit": "a", "system": UCUM, "code": "a"}
    assert [c["code"] for c in diabetes["code"]["coding"]] == ["44054006", "E11.9"]
    assert diabetes["onsetPeriod"] == {"start": "1967", "end": "1967"}
    assert hypertension["onsetPeriod"] == {"start": "1995", "end": "2001"}
    assert set(asthma) == {"code"}
    assert not any("contributedToDeath" in c for c in history["condition"])


@pytest.mark.parametrize(
    ("value", "unit", "kind", "onset"),
    [
        ("6", "mo", "PQ", ("onsetAge", {"value": 6, "unit": "mo", "system": UCUM, "code": "mo"})),
        ("3", "wk", "PQ", ("onsetAge", {"value": 3, "unit": "wk", "system": UCUM, "code": "wk"})),
        ("10", "d", "PQ", ("onsetAge", {"value": 10, "unit": "d", "system": UCUM, "code": "d"})),
        ("45", "years", "PQ", ("onsetAge", {"value": 45, "unit": "years", "system": UCUM, "code": "a"})),
        ("57", None, "INT", ("onsetString", "age 57")),
        ("12", "kg", "PQ", ("onsetString", "age 12 kg")),
        ("0", "a", "PQ", ("onsetString", "age 0 a")),  # an Age must be positive
    ],
)
def test_age_at_onset_in_any_unit(value: str, unit: str | None, kind: str, onset: tuple[str, Any]) -> None:
    (history,) = histories(convert(SECTION + organizer(observation(inside=age(value, unit, kind)))))
    (condition,) = history["condition"]
    assert {k: v for k, v in condition.items() if k.startswith("onset")} == dict([onset])


def test_age_range_becomes_onset_range() -> None:
    ranged = (
        '<entryRelationship typeCode="SUBJ" inversionInd="true"><observation classCode="OBS" moodCode="EVN">'
        f'<templateId root="{T}4.31"/><code code="445518008" codeSystem="2.16.840.1.113883.6.96"/>'
        '<value xsi:type="IVL_PQ"><low value="40" unit="a"/><high value="50" unit="a"/></value>'
        "</observation></entryRelationship>"
    )
    (history,) = histories(convert(SECTION + organizer(observation(inside=ranged))))
    assert history["condition"][0]["onsetRange"] == {
        "low": {"value": 40, "unit": "a", "system": UCUM, "code": "a"},
        "high": {"value": 50, "unit": "a", "system": UCUM, "code": "a"},
    }


def test_death_observation_contributed_to_death_and_the_relative_is_deceased() -> None:
    alive = relative("MTH", details='<sdtc:deceasedInd value="false"/>')
    result = convert(
        SECTION
        + organizer(observation("22298006", inside=death()), org_id="org-1")
        + organizer(observation("22298006", inside=death()), subject=alive, org_id="org-2")
        + organizer(observation("22298006", inside=death(negated=True)), org_id="org-3")
    )
    by_id = {h["identifier"][0]["value"]: h for h in histories(result)}
    assert by_id["org-1"]["condition"][0]["contributedToDeath"] is True
    assert by_id["org-1"]["deceasedBoolean"] is True
    assert by_id["org-2"]["deceasedBoolean"] is True  # a cause of death outweighs "alive"
    assert any("cause of death" in i.message for i in result.issues)
    assert "contributedToDeath" not in by_id["org-3"]["condition"][0]
    assert "deceasedBoolean" not in by_id["org-3"]


def test_negated_observation_is_a_note_never_a_condition() -> None:
    narrative = "<text><content ID='fh1'>No known family history</content></text>"  # section narrative
    no_history = observation(negated=True, value="64572001", text='<text><reference value="#fh1"/></text>')
    no_diabetes = observation(
        '<value xsi:type="CD" code="44054006" codeSystem="2.16.840.1.113883.6.96" displayName="Diabetes"/>',
        negated=True,
    )
    result = convert(
        SECTION
        + narrative
        + organizer(no_history, subject=relative(None), org_id="org-1")
        + organizer(no_diabetes, observation("22298006"), org_id="org-2")
    )
    by_id = {h["identifier"][0]["value"]: h for h in histories(result)}
    unknown = by_id["org-1"]
    assert "condition" not in unknown
    assert unknown["note"] == [
        {"text": "Not present: SNOMED CT 64572001 (source text: No known family history)"}
    ]
    assert unknown["status"] == "completed"
    father = by_id["org-2"]
    assert [c["code"]["coding"][0]["code"] for c in father["condition"]] == ["22298006"]
    assert father["note"] == [{"text": "Not present: Diabetes"}]
    assert stats(result) == (2, 2, 0)


def test_observations_left_out_and_organizers_saying_nothing() -> None:
    comment = (
        f'<entry><act classCode="ACT" moodCode="EVN"><templateId root="{T}4.64"/>'
        '<code code="48767-8" codeSystem="2.16.840.1.113883.6.1"/>'
        "<text>Family history reviewed</text></act></entry>"
    )
    empty = organizer(observation('<value xsi:type="CD" nullFlavor="NI"/>'), subject="", org_id="org-2")
    result = convert(
        SECTION
        + organizer(observation("22298006", status="nullified"), observation("38341003"), org_id="org-1")
        + empty
        + comment
    )
    (history,) = histories(result)
    assert [c["code"]["coding"][0]["code"] for c in history["condition"]] == ["38341003"]
    assert stats(result) == (3, 1, 0)  # the empty organizer and the comment make nothing
    assert any("named no relative" in i.message for i in result.issues)


def test_ccd_templates_and_a_lone_observation_convert_too() -> None:
    ccd = (
        '<entry><organizer classCode="CLUSTER" moodCode="EVN">'
        '<templateId root="2.16.840.1.113883.10.20.1.23"/>'
        '<statusCode code="completed"/>'
        '<subject><relatedSubject classCode="PRS"><code code="MTH" codeSystem="2.16.840.1.113883.5.111"/>'
        "</relatedSubject></subject>"
        '<component><observation classCode="OBS" moodCode="EVN">'
        '<templateId root="2.16.840.1.113883.10.20.1.42"/>'
        '<code code="ASSERTION" codeSystem="2.16.840.1.113883.5.4"/><statusCode code="completed"/>'
        '<value xsi:type="CD" code="22298006" codeSystem="2.16.840.1.113883.6.96"/>'
        '<entryRelationship typeCode="SUBJ" inversionInd="true"><observation classCode="OBS" moodCode="EVN">'
        '<templateId root="2.16.840.1.113883.10.20.1.38"/><code code="397659008" '
        'codeSystem="2.16.840.1.113883.6.96"/><value xsi:type="PQ" value="61" unit="a"/></observation>'
        "</entryRelationship></observation></component></organizer></entry>"
    )
    lone = (
        '<entry><observation classCode="OBS" moodCode="EVN">'
        f'<templateId root="{T}4.46"/><id root="obs-9"/>'
        '<code code="64572001" codeSystem="2.16.840.1.113883.6.96"/><statusCode code="completed"/>'
        '<value xsi:type="CD" code="38341003" codeSystem="2.16.840.1.113883.6.96"/>'
        f"{relative('SIS')}</observation></entry>"
    )
    result = convert(SECTION + ccd + lone)
    mother, sister = sorted(histories(result), key=lambda h: h["relationship"]["coding"][0]["code"])
    assert mother["relationship"]["coding"][0]["code"] == "MTH"
    assert mother["condition"] == [
        {
            "code": {"coding": [{"system": SNOMED, "code": "22298006"}]},
            "contributedToDeath": True,
            "onsetAge": {"value": 61, "unit": "a", "system": UCUM, "code": "a"},
        }
    ]
    assert mother["deceasedBoolean"] is True
    assert sister["relationship"]["coding"][0]["code"] == "SIS"
    assert "identifier" not in sister  # the observation's id names the condition, not the history
    assert stats(result) == (2, 2, 0)


# --- the section: registry, narrative-only sections, errors ----------------------------------------------


def test_registered_and_a_narrative_only_family_history_section_keeps_its_narrative() -> None:
    section = etree.fromstring(f'<section xmlns="urn:hl7-org:v3">{SECTION}</section>'.encode())
    spec = find_spec(Section.of(section))
    assert spec is not None
    assert spec.name == "family history"
    narrative_only = SECTION + "<text><paragraph>Father: heart attack at 57.</paragraph></text>"
    result = convert(SECTION + organizer(observation()), narrative_only)
    assert len(histories(result)) == 1
    kept = [
        d for d in resources(result.bundle, "DocumentReference") if d.get("description") == "Family history"
    ]
    assert len(kept) == 1
    assert kept[0]["content"][0]["attachment"]["contentType"] == "text/html"


def test_a_failing_organizer_is_reported_and_the_others_convert(monkeypatch: pytest.MonkeyPatch) -> None:
    from fhir_facade.ccda.sections import family_history as family_history_module

    original = family_history_module.family_member_history

    def flaky(statement: etree._Element, ctx: Any) -> Json | None:
        if any(i.get("extension") == "org-bad" for i in statement.iterfind("{urn:hl7-org:v3}id")):
            raise KeyError("simulated converter bug")
        return original(statement, ctx)

    monkeypatch.setattr(family_history_module, "family_member_history", flaky)
    result = convert(
        SECTION + organizer(observation(), org_id="org-bad") + organizer(observation(), org_id="ok")
    )
    assert stats(result) == (2, 1, 1)
    assert any("family history entry could not be converted (KeyError)" in i.message for i in result.issues)
    assert len(histories(result)) == 1


def test_unreadable_values_are_dropped_not_fatal() -> None:
    details = '<birthTime value="19xx"/><administrativeGenderCode nullFlavor="UNK"/>'
    entry = organizer(observation(inside=age("abc")), subject=relative("BRO", details=details))
    result = convert(SECTION + entry)
    (history,) = histories(result)
    assert "bornDate" not in history
    assert "sex" not in history
    assert set(history["condition"][0]) == {"code"}
    assert any(i.severity == "warning" for i in result.issues)
