"""Immunizations, vital signs, results, procedures, encounters (synthetic_clinical.xml); value[x] by type."""

from __future__ import annotations

from typing import Any

import pytest
from fhir.resources.R4B.bundle import Bundle

from fhir_facade.ccda.convert import ConversionResult, convert_ccda
from fhir_facade.ccda.sections import Section, find_spec
from fhir_facade.ccda.sections.observation import value_x
from tests.fhir_facade.ccda.helpers import fixture_bytes, make_ctx, only, resources

Json = dict[str, Any]
LOINC = "http://loinc.org"


@pytest.fixture(scope="module")
def result() -> ConversionResult:
    return convert_ccda(fixture_bytes("synthetic_clinical.xml"), strict=True)


@pytest.fixture(scope="module")
def bundle(result: ConversionResult) -> Json:
    return result.bundle


def _by_identifier(bundle: Json, resource_type: str, value: str) -> Json:
    for resource in resources(bundle, resource_type):
        if any(i.get("value") == value for i in resource.get("identifier", ())):
            return resource
    raise AssertionError(f"no {resource_type} with identifier {value}")


def _ref(resource: Json) -> Json:
    return {"reference": "urn:uuid:" + resource["id"]}


def _codes(concept: Json) -> list[str]:
    return [c["code"] for c in concept.get("coding", ())]


def test_every_section_converts_every_entry_and_validates(result: ConversionResult) -> None:
    Bundle.model_validate(result.bundle)
    stats = {name: (s.seen, s.converted, s.failed) for name, s in result.stats.sections.items()}
    assert stats["immunizations"] == (4, 4, 0)
    assert stats["vital-signs"] == (1, 1, 0)
    assert stats["results"] == (2, 2, 0)
    assert stats["procedures"] == (4, 4, 0)
    assert stats["encounters"] == (3, 3, 0)
    composition = result.bundle["entry"][0]["resource"]
    ids = {e["resource"]["id"] for e in result.bundle["entry"]}
    listed = [e["reference"] for s in composition["section"] for e in s.get("entry", ())]
    assert len(listed) == 4 + 4 + 4 + 4 + 5  # vitals: panel, BP, weight, pulse; encounters + 1 diagnosis
    assert all(ref.removeprefix("urn:uuid:") in ids for ref in listed)
    for resource_type in ("Immunization", "Observation", "DiagnosticReport", "Procedure", "Encounter"):
        assert all(
            r["meta"]["source"].startswith("urn:uuid:") for r in resources(result.bundle, resource_type)
        )


def test_ids_are_deterministic() -> None:
    first = convert_ccda(fixture_bytes("synthetic_clinical.xml")).bundle
    second = convert_ccda(fixture_bytes("synthetic_clinical.xml")).bundle
    assert [e["fullUrl"] for e in first["entry"]] == [e["fullUrl"] for e in second["entry"]]


def test_immunization_given(bundle: Json) -> None:
    given = _by_identifier(bundle, "Immunization", "imm-given")
    assert given["status"] == "completed"
    assert given["vaccineCode"]["coding"] == [
        {
            "system": "http://hl7.org/fhir/sid/cvx",
            "code": "158",
            "display": "influenza, injectable, quadrivalent",
        },
        {"system": "http://hl7.org/fhir/sid/ndc", "code": "49281-0418-50", "display": "Flu vaccine NDC"},
    ]
    assert given["vaccineCode"]["text"] == "Influenza vaccine"
    assert given["occurrenceDateTime"] == "2023-10-15"
    assert given["lotNumber"] == "FLU-LOT-9"
    maker = next(o for o in resources(bundle, "Organization") if o.get("name") == "Made-up Vaccines Inc")
    assert given["manufacturer"] == _ref(maker)
    assert _codes(given["route"]) == ["C28161"]
    assert _codes(given["site"]) == ["368208006"]
    assert given["doseQuantity"] == {
        "value": 0.5,
        "unit": "mL",
        "system": "http://unitsofmeasure.org",
        "code": "mL",
    }
    nurse = next(p for p in resources(bundle, "Practitioner") if p["name"][0]["family"] == "Nurse")
    assert given["performer"] == [
        {
            "function": {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/v2-0443",
                        "code": "AP",
                        "display": "Administering Provider",
                    }
                ]
            },
            "actor": _ref(nurse),
        }
    ]
    assert given["protocolApplied"] == [{"doseNumberPositiveInt": 2}]
    assert given["patient"] == _ref(only(bundle, "Patient"))


def test_refused_immunization_is_not_done_with_reason(bundle: Json) -> None:
    refused = _by_identifier(bundle, "Immunization", "imm-refused")
    assert refused["status"] == "not-done"
    assert refused["statusReason"]["coding"] == [
        {
            "system": "http://terminology.hl7.org/CodeSystem/v3-ActReason",
            "code": "PATOBJ",
            "display": "patient objection",
        }
    ]
    assert _codes(refused["vaccineCode"]) == ["141"]


def test_immunization_without_code_or_time_keeps_required_elements(bundle: Json) -> None:
    unknown = _by_identifier(bundle, "Immunization", "imm-unknown")
    absent = {"url": "http://hl7.org/fhir/StructureDefinition/data-absent-reason", "valueCode": "unknown"}
    assert unknown["vaccineCode"] == {"extension": [absent]}
    assert unknown["occurrenceString"] == "unknown"
    assert unknown["_occurrenceString"] == {"extension": [absent]}


def test_planned_immunization_is_a_medication_request(bundle: Json) -> None:
    planned = _by_identifier(bundle, "MedicationRequest", "imm-planned")
    assert (planned["status"], planned["intent"]) == ("active", "plan")
    medication = next(m for m in resources(bundle, "Medication") if _codes(m["code"]) == ["208"])
    assert planned["medicationReference"] == _ref(medication)


def test_vital_signs_panel_and_blood_pressure(bundle: Json) -> None:
    panel = _by_identifier(bundle, "Observation", "vitals-org")
    assert _codes(panel["code"]) == ["85353-1"]
    assert panel["category"][0]["coding"][0]["code"] == "vital-signs"
    assert (panel["status"], panel["effectiveDateTime"]) == ("final", "2024-06-01T09:30:00-04:00")
    pressure = _by_identifier(bundle, "Observation", "sbp")
    assert [i["value"] for i in pressure["identifier"]] == ["sbp", "dbp"]
    assert _codes(pressure["code"]) == ["85354-9"]
    assert "valueQuantity" not in pressure
    systolic, diastolic = pressure["component"]
    assert _codes(systolic["code"]) == ["8480-6"]
    assert systolic["valueQuantity"] == {
        "value": 142,
        "unit": "mm[Hg]",
        "system": "http://unitsofmeasure.org",
        "code": "mm[Hg]",
    }
    assert _codes(systolic["interpretation"][0]) == ["H"]
    assert _codes(diastolic["code"]) == ["8462-4"]
    assert diastolic["valueQuantity"]["code"] == "mm[Hg]"  # "mmHg" mapped to UCUM
    weight = _by_identifier(bundle, "Observation", "weight")
    assert _codes(weight["code"]) == ["3141-9", "29463-7"]  # the US Core code is added
    pulse = _by_identifier(bundle, "Observation", "pulse")
    assert panel["hasMember"] == [_ref(pressure), _ref(weight), _ref(pulse)]
    assert not any(
        r.get("identifier", [{}])[0].get("value") == "dbp" for r in resources(bundle, "Observation")
    )


def test_vital_sign_with_non_ucum_unit_keeps_text_and_is_reported(result: ConversionResult) -> None:
    pulse = _by_identifier(result.bundle, "Observation", "pulse")
    assert pulse["valueQuantity"] == {"value": 72, "unit": "beats per minute"}
    issue = next(i for i in result.issues if "UCUM" in i.message)
    assert issue.severity == "warning"
    assert issue.location is not None
    assert issue.location.endswith("component[4]/observation/value")


def test_empty_vital_signs_organizer_is_reported_not_converted() -> None:
    result = convert_ccda(fixture_bytes("synthetic_ccd.xml"), strict=True)
    stats = result.stats.sections["vital-signs"]
    assert (stats.seen, stats.converted, stats.failed) == (1, 0, 0)
    assert any(i.message == "a vital signs organizer holds no observation" for i in result.issues)


def test_result_organizer_to_diagnostic_report(bundle: Json) -> None:
    report = only(bundle, "DiagnosticReport")
    assert report["status"] == "final"
    assert report["category"] == [
        {
            "coding": [
                {
                    "system": "http://terminology.hl7.org/CodeSystem/v2-0074",
                    "code": "LAB",
                    "display": "Laboratory",
                }
            ]
        }
    ]
    assert _codes(report["code"]) == ["24323-8"]
    # no organizer effectiveTime: the span of its results
    assert report["effectivePeriod"] == {
        "start": "2024-05-30T08:00:00-04:00",
        "end": "2024-05-31T08:00:00-04:00",
    }
    specimen = only(bundle, "Specimen")
    assert _codes(specimen["type"]) == ["119297000"]
    assert report["specimen"] == [_ref(specimen)]
    members = [_by_identifier(bundle, "Observation", v) for v in ("glucose", "culture", "comment")]
    assert report["result"] == [_ref(m) for m in members]
    assert all(m["specimen"] == _ref(specimen) for m in members)
    assert all(m["category"][0]["coding"][0]["code"] == "laboratory" for m in members)


def test_result_observations(bundle: Json) -> None:
    glucose = _by_identifier(bundle, "Observation", "glucose")
    assert glucose["valueQuantity"] == {
        "value": 105,
        "unit": "mg/dL",
        "system": "http://unitsofmeasure.org",
        "code": "mg/dL",
    }
    assert glucose["interpretation"][0]["coding"][0] == {
        "system": "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation",
        "code": "H",
    }
    assert [(r["low"]["value"], r["high"]["value"]) for r in glucose["referenceRange"]] == [(70, 99)]
    culture = _by_identifier(bundle, "Observation", "culture")
    assert (culture["status"], _codes(culture["valueCodeableConcept"])) == ("preliminary", ["264868006"])
    comment = _by_identifier(bundle, "Observation", "comment")
    assert comment["valueString"] == "Specimen slightly hemolyzed"  # ED resolved through the narrative
    assert comment["referenceRange"] == [{"text": "not applicable"}]


def test_unknown_value_type_and_missing_code(result: ConversionResult) -> None:
    loose = _by_identifier(result.bundle, "Observation", "loose")
    assert loose["dataAbsentReason"]["coding"][0]["code"] == "unsupported"
    assert "valueString" not in loose
    assert loose["code"]["extension"][0]["valueCode"] == "unknown"
    assert any(i.code == "not-supported" and "II" in i.message for i in result.issues)


@pytest.mark.parametrize(
    ("xml", "expected"),
    [
        ('<value xsi:type="PQ" value="7.2" unit="%"/>', ("Quantity", {"value": 7.2, "unit": "%"})),
        ('<value xsi:type="INT" value="3"/>', ("Integer", 3)),
        ('<value xsi:type="REAL" value="1.5"/>', ("Quantity", {"value": 1.5})),
        ('<value xsi:type="BL" value="true"/>', ("Boolean", True)),
        ('<value xsi:type="ST">trace</value>', ("String", "trace")),
        ('<value xsi:type="TS" value="20240102"/>', ("DateTime", "2024-01-02")),
        (
            '<value xsi:type="IVL_PQ"><low value="1" unit="g"/></value>',
            ("Range", {"low": {"value": 1, "unit": "g", "system": "http://unitsofmeasure.org", "code": "g"}}),
        ),
        ('<value xsi:type="IVL_PQ" value="4"/>', ("Quantity", {"value": 4})),
        (
            '<value xsi:type="CO" code="260385009" codeSystem="2.16.840.1.113883.6.96" '
            'displayName="Negative"/>',
            (
                "CodeableConcept",
                {
                    "coding": [
                        {"system": "http://snomed.info/sct", "code": "260385009", "display": "Negative"}
                    ],
                    "text": "Negative",
                },
            ),
        ),
        (
            '<value xsi:type="RTO"><numerator value="1"/><denominator value="64"/></value>',
            ("Ratio", {"numerator": {"value": 1}, "denominator": {"value": 64}}),
        ),
        ('<value value="12" unit="mg"/>', ("Quantity", {"value": 12, "unit": "mg"})),
        ('<value xsi:type="BL" value="maybe"/>', None),
        ('<value xsi:type="GLIST_PQ"/>', ("unsupported", "GLIST_PQ")),
    ],
)
def test_value_x_by_type(xml: str, expected: tuple[str, Any] | None) -> None:
    ctx, element = make_ctx(xml)
    found = value_x(element, ctx)
    if expected is not None and expected[0] == "Quantity" and "unit" in expected[1]:
        assert found is not None
        assert {k: found[1][k] for k in ("value", "unit")} == expected[1]
    else:
        assert found == expected


def test_procedure_activity_procedure(bundle: Json) -> None:
    procedure = _by_identifier(bundle, "Procedure", "colonoscopy")
    assert (procedure["status"], _codes(procedure["code"])) == ("completed", ["73761001"])
    assert procedure["performedPeriod"] == {
        "start": "2024-02-12T09:00:00-05:00",
        "end": "2024-02-12T10:00:00-05:00",
    }
    surgeon = next(p for p in resources(bundle, "Practitioner") if p["name"][0]["family"] == "Surgeon")
    group = next(o for o in resources(bundle, "Organization") if o.get("name") == "Pretend GI Group")
    assert procedure["performer"] == [{"actor": _ref(surgeon), "onBehalfOf": _ref(group)}]
    assert _codes(procedure["bodySite"][0]) == ["71854001"]
    assert _codes(procedure["reasonCode"][0]) == ["428283002"]
    suite = next(loc for loc in resources(bundle, "Location") if loc.get("name") == "Nowhere Endoscopy Suite")
    assert procedure["location"] == _ref(suite)
    assert _codes(suite["type"][0]) == ["1160-1"]


def test_procedure_observation_act_and_negation(bundle: Json) -> None:
    ecg = _by_identifier(bundle, "Observation", "ecg")
    assert ecg["category"][0]["coding"][0]["code"] == "procedure"
    assert _codes(ecg["valueCodeableConcept"]) == ["251135002"]
    planned = _by_identifier(bundle, "ServiceRequest", "counseling")
    assert (planned["status"], planned["intent"], planned["occurrenceDateTime"]) == (
        "active",
        "plan",
        "2024-07-01",
    )
    skipped = _by_identifier(bundle, "Procedure", "not-done")
    assert skipped["status"] == "not-done"
    assert skipped["code"]["extension"][0]["valueCode"] == "unknown"
    assert "performedDateTime" not in skipped


def test_encounter_activity(bundle: Json) -> None:
    visit = _by_identifier(bundle, "Encounter", "visit-1")
    assert visit["status"] == "finished"  # no statusCode: an EVN encounter with a time happened
    assert visit["class"] == {
        "system": "http://terminology.hl7.org/CodeSystem/v3-ActCode",
        "code": "AMB",
        "display": "ambulatory",
    }
    assert _codes(visit["type"][0]) == ["99213"]
    assert visit["period"] == {"start": "2024-03-15T09:30:00-04:00"}
    doctor = next(p for p in resources(bundle, "Practitioner") if p["name"][0]["family"] == "Doctor")
    assert visit["participant"] == [
        {
            "type": [
                {
                    "coding": [
                        {
                            "system": "http://terminology.hl7.org/CodeSystem/v3-ParticipationType",
                            "code": "PRF",
                        }
                    ]
                }
            ],
            "individual": _ref(doctor),
        }
    ]
    clinic = next(
        loc for loc in resources(bundle, "Location") if loc.get("name") == "Fictional Walk-in Clinic"
    )
    assert visit["location"] == [{"location": _ref(clinic)}]
    assert clinic["address"]["city"] == "Testville"
    assert _codes(visit["reasonCode"][0]) == ["49727002"]
    diagnosis = _by_identifier(bundle, "Condition", "dx-1")
    assert visit["diagnosis"] == [{"condition": _ref(diagnosis)}]
    assert diagnosis["category"][0]["coding"][0]["code"] == "encounter-diagnosis"
    assert _codes(diagnosis["code"]) == ["J06.9"]
    assert diagnosis["encounter"] == _ref(visit)


def test_encounter_class_from_translation_and_unknown(bundle: Json) -> None:
    emergency = _by_identifier(bundle, "Encounter", "visit-2")
    assert emergency["class"]["code"] == "EMER"
    assert emergency["period"] == {"start": "2024-04-01", "end": "2024-04-02"}
    assert _codes(emergency["hospitalization"]["dischargeDisposition"]) == ["01"]
    unknown = _by_identifier(bundle, "Encounter", "visit-3")
    assert unknown["status"] == "unknown"
    assert unknown["class"]["code"] == "UNK"
    assert unknown["type"][0]["extension"][0]["valueCode"] == "unknown"


def test_encounter_sharing_the_header_id_fills_it_instead_of_duplicating() -> None:
    data = fixture_bytes("synthetic_ccd.xml").replace(
        b'<section nullFlavor="NI">\n          <templateId root="2.16.840.1.113883.10.20.22.2.7.1"',
        b'<section>\n          <templateId root="2.16.840.1.113883.10.20.22.2.22.1"/>'
        b'<entry><encounter classCode="ENC" moodCode="EVN"><id root="2.25.3333" extension="enc-1"/>'
        b'<code code="99213" codeSystem="2.16.840.1.113883.6.12"/>'
        b'<entryRelationship><act classCode="ACT" moodCode="EVN">'
        b'<code code="29308-4" codeSystem="2.16.840.1.113883.6.1"/>'
        b'<entryRelationship><observation classCode="OBS" moodCode="EVN"><value xsi:type="CD" code="I10" '
        b'codeSystem="2.16.840.1.113883.6.90"/></observation></entryRelationship></act></entryRelationship>'
        b'</encounter></entry>\n          <templateId root="2.16.840.1.113883.10.20.22.2.7.1"',
    )
    bundle = convert_ccda(data, strict=True).bundle
    encounter = only(bundle, "Encounter")
    assert encounter["class"]["code"] == "AMB"  # the header's own class stays
    condition = next(c for c in resources(bundle, "Condition") if _codes(c["code"]) == ["I10"])
    assert encounter["diagnosis"] == [{"condition": _ref(condition)}]


@pytest.mark.parametrize(
    ("root", "code", "name"),
    [
        ("2.16.840.1.113883.10.20.22.2.2", "11369-6", "immunizations"),
        ("2.16.840.1.113883.10.20.22.2.4.1", "8716-3", "vital-signs"),
        ("2.16.840.1.113883.10.20.22.2.3.1", "30954-2", "results"),
        ("2.16.840.1.113883.10.20.22.2.7", "47519-4", "procedures"),
        ("2.16.840.1.113883.10.20.22.2.22.1", "46240-8", "encounters"),
    ],
)
def test_registry_rows(root: str, code: str, name: str) -> None:
    _, by_template = make_ctx(f'<section><templateId root="{root}"/></section>')
    _, by_loinc = make_ctx(f'<section><code code="{code}" codeSystem="2.16.840.1.113883.6.1"/></section>')
    for element in (by_template, by_loinc):
        spec = find_spec(Section.of(element))
        assert spec is not None
        assert spec.name == name
