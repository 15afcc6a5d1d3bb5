"""Edge cases per section: empty record, no known allergies, refused immunization, request vs statement."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from lxml import etree

from tests.fhir_facade.ccda.writer.support import (
    V3,
    Render,
    assert_linked,
    assert_schema_valid,
    patient,
    section,
    xpath,
    xtext,
)

SNOMED = "http://snomed.info/sct"
LOINC = "http://loinc.org"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
CVX = "http://hl7.org/fhir/sid/cvx"
UCUM = "http://unitsofmeasure.org"
ACT_REASON = "http://terminology.hl7.org/CodeSystem/v3-ActReason"
REQUIRED = {
    "2.16.840.1.113883.10.20.22.2.6.1": "48765-2",
    "2.16.840.1.113883.10.20.22.2.1.1": "10160-0",
    "2.16.840.1.113883.10.20.22.2.5.1": "11450-4",
    "2.16.840.1.113883.10.20.22.2.3.1": "30954-2",
    "2.16.840.1.113883.10.20.22.2.4.1": "8716-3",
}
SOCIAL = "2.16.840.1.113883.10.20.22.2.17"


def _cc(system: str, code: str, display: str) -> dict[str, Any]:
    return {"coding": [{"system": system, "code": code, "display": display}]}


def _write(render: Render, schema: etree.XMLSchema, resources: list[dict[str, Any]]) -> etree._Element:
    result = render(resources)
    assert result.warnings == ()
    root = assert_schema_valid(schema, result.document)
    assert_linked(root)
    return root


def test_empty_record_has_every_required_section_marked_no_information(
    render: Render, cda_schema: etree.XMLSchema
) -> None:
    root = _write(render, cda_schema, [patient()])
    for template, code in REQUIRED.items():
        found = section(root, template)
        assert found.get("nullFlavor") == "NI"
        assert xpath(found, "v3:code/@code") == [code]
        assert xtext(found, "v3:text") == "No information"
        assert xpath(found, "v3:entry") == []
    social = section(root, SOCIAL)
    assert social.get("nullFlavor") == "NI"
    assert xpath(social, "v3:entry") == []
    assert xpath(root, "/v3:ClinicalDocument/v3:templateId/@root") == [
        "2.16.840.1.113883.10.20.22.1.1",
        "2.16.840.1.113883.10.20.22.1.2",
    ]
    assert set(xpath(root, "/v3:ClinicalDocument/v3:templateId/@extension")) == {"2015-08-01"}
    # Optional sections with nothing to say are left out.
    assert xpath(root, "//v3:section[v3:templateId/@root='2.16.840.1.113883.10.20.22.2.2.1']") == []


def test_header_carries_demographics(render: Render, cda_schema: etree.XMLSchema) -> None:
    cdc = "urn:oid:2.16.840.1.113883.6.238"
    core = "http://hl7.org/fhir/us/core/StructureDefinition/"
    person = patient(
        identifier=[{"system": "urn:oid:2.16.840.1.113883.19.5", "value": "MRN-1"}],
        extension=[
            {
                "url": f"{core}us-core-race",
                "extension": [
                    {
                        "url": "ombCategory",
                        "valueCoding": {"system": cdc, "code": "2106-3", "display": "White"},
                    },
                    {
                        "url": "ombCategory",
                        "valueCoding": {"system": cdc, "code": "2028-9", "display": "Asian"},
                    },
                ],
            },
            {
                "url": f"{core}us-core-ethnicity",
                "extension": [{"url": "ombCategory", "valueCoding": {"system": cdc, "code": "2186-5"}}],
            },
            {"url": f"{core}us-core-birthsex", "valueCode": "F"},
        ],
        communication=[{"language": _cc("urn:ietf:bcp:47", "es", "Spanish"), "preferred": True}],
    )
    root = _write(render, cda_schema, [person])
    role = xpath(root, "//v3:recordTarget/v3:patientRole")[0]
    assert xpath(role, "v3:id/@extension") == ["MRN-1"]
    assert xpath(role, "v3:patient/v3:raceCode/@code") == ["2106-3"]
    assert xpath(role, "v3:patient/sdtc:raceCode/@code") == ["2028-9"]
    assert xpath(role, "v3:patient/v3:ethnicGroupCode/@code") == ["2186-5"]
    assert xpath(role, "v3:patient/v3:languageCommunication/v3:languageCode/@code") == ["es"]
    assert xpath(role, "v3:patient/v3:birthTime/@value") == ["19700517"]
    birth_sex = xpath(root, "//v3:observation[v3:templateId/@root='2.16.840.1.113883.10.20.22.4.200']")
    assert len(birth_sex) == 1
    assert xpath(birth_sex[0], "v3:value/@code") == ["F"]
    assert section(root, SOCIAL).get("nullFlavor") is None
    assert xpath(root, "//v3:serviceEvent/v3:effectiveTime/v3:high/@value") == ["20240601120000-0500"]


def test_no_known_allergies_is_a_negated_observation(render: Render, cda_schema: etree.XMLSchema) -> None:
    nka = {
        "resourceType": "AllergyIntolerance",
        "id": "nka",
        "code": _cc(SNOMED, "716186003", "No known allergy"),
    }
    root = _write(render, cda_schema, [patient(), nka])
    observation = xpath(root, "//v3:observation[v3:templateId/@root='2.16.840.1.113883.10.20.22.4.7']")[0]
    assert observation.get("negationInd") == "true"
    assert xpath(observation, "v3:value/@code") == ["419199007"]
    assert xpath(observation, ".//v3:playingEntity/v3:code/@nullFlavor") == ["NA"]


def test_refused_immunization_sets_negation_and_reason(render: Render, cda_schema: etree.XMLSchema) -> None:
    refused = {
        "resourceType": "Immunization",
        "id": "imm1",
        "status": "not-done",
        "statusReason": _cc(ACT_REASON, "PATOBJ", "patient objection"),
        "vaccineCode": _cc(CVX, "208", "COVID-19, mRNA, LNP-S, PF, 30 mcg/0.3 mL dose"),
        "occurrenceDateTime": "2023-10-02",
        "patient": {"reference": "Patient/p1"},
    }
    given = {**refused, "id": "imm2", "status": "completed", "occurrenceDateTime": "2022-10-02"}
    del given["statusReason"]
    root = _write(render, cda_schema, [patient(), refused, given])
    activities = xpath(
        root, "//v3:substanceAdministration[v3:templateId/@root='2.16.840.1.113883.10.20.22.4.52']"
    )
    assert [a.get("negationInd") for a in activities] == ["true", "false"]
    reason = xpath(activities[0], "v3:entryRelationship[@typeCode='RSON']/v3:observation/v3:code/@code")
    assert reason == ["PATOBJ"]
    assert xpath(activities[0], ".//v3:manufacturedMaterial/v3:code/@codeSystem") == [
        "2.16.840.1.113883.12.292"
    ]


def test_medication_request_is_intent_and_statement_is_event(
    render: Render, cda_schema: etree.XMLSchema
) -> None:
    drug = _cc(RXNORM, "314076", "lisinopril 10 MG Oral Tablet")
    dosage = {"timing": {"repeat": {"frequency": 2, "period": 1, "periodUnit": "d"}}}
    statement = {
        "resourceType": "MedicationStatement",
        "id": "ms1",
        "status": "active",
        "medicationCodeableConcept": drug,
        "effectivePeriod": {"start": "2020-01-01"},
        "dosage": [dosage],
    }
    request = {
        "resourceType": "MedicationRequest",
        "id": "mr1",
        "status": "stopped",
        "intent": "order",
        "medicationReference": {"reference": "Medication/m1"},
        "authoredOn": "2021-02-03",
        "dosageInstruction": [dosage],
    }
    medication = {"resourceType": "Medication", "id": "m1", "code": drug}
    root = _write(render, cda_schema, [patient(), statement, request, medication])
    activities = xpath(
        root, "//v3:substanceAdministration[v3:templateId/@root='2.16.840.1.113883.10.20.22.4.16']"
    )
    assert [a.get("moodCode") for a in activities] == ["EVN", "INT"]
    assert [xtext(a, "v3:statusCode/@code") for a in activities] == ["active", "aborted"]
    for activity in activities:
        assert xpath(activity, ".//v3:manufacturedMaterial/v3:code/@code") == ["314076"]
        assert xpath(activity, "v3:effectiveTime[@xsi:type='PIVL_TS']/v3:period/@value") == ["12"]
    assert xpath(activities[1], "v3:author/v3:time/@value") == ["20210203"]


def test_vitals_split_blood_pressure_and_results_group_by_report(
    render: Render, cda_schema: etree.XMLSchema
) -> None:
    def quantity(value: float, unit: str) -> dict[str, Any]:
        return {"value": value, "unit": unit, "system": UCUM, "code": unit}

    vitals = [
        {
            "coding": [
                {
                    "system": "http://terminology.hl7.org/CodeSystem/observation-category",
                    "code": "vital-signs",
                }
            ]
        }
    ]
    bp = {
        "resourceType": "Observation",
        "id": "bp",
        "status": "final",
        "category": vitals,
        "code": _cc(LOINC, "85354-9", "Blood pressure panel"),
        "effectiveDateTime": "2024-01-02T09:00:00Z",
        "component": [
            {"code": _cc(LOINC, "8480-6", "Systolic"), "valueQuantity": quantity(128, "mm[Hg]")},
            {"code": _cc(LOINC, "8462-4", "Diastolic"), "valueQuantity": quantity(82, "mm[Hg]")},
        ],
    }
    pulse = {
        "resourceType": "Observation",
        "id": "hr",
        "status": "final",
        "category": vitals,
        "code": _cc(LOINC, "8867-4", "Heart rate"),
        "effectiveDateTime": "2024-01-02T09:00:00Z",
        "valueQuantity": quantity(72, "/min"),
    }
    glucose = {
        "resourceType": "Observation",
        "id": "glu",
        "status": "final",
        "code": _cc(LOINC, "2345-7", "Glucose"),
        "effectiveDateTime": "2024-01-02T09:30:00Z",
        "valueQuantity": quantity(101, "mg/dL"),
        "referenceRange": [{"low": quantity(70, "mg/dL"), "high": quantity(99, "mg/dL")}],
    }
    report = {
        "resourceType": "DiagnosticReport",
        "id": "bmp",
        "status": "final",
        "code": _cc(LOINC, "51990-0", "Basic metabolic panel"),
        "effectiveDateTime": "2024-01-02T09:30:00Z",
        "result": [{"reference": "Observation/glu"}],
    }
    root = _write(render, cda_schema, [patient(), bp, pulse, glucose, report])
    organizers = xpath(root, "//v3:organizer[v3:templateId/@root='2.16.840.1.113883.10.20.22.4.26']")
    assert len(organizers) == 1
    codes = xpath(organizers[0], "v3:component/v3:observation/v3:code/@code")
    assert codes == ["8480-6", "8462-4", "8867-4"]
    assert xpath(organizers[0], "v3:component/v3:observation/v3:value/@unit") == ["mm[Hg]", "mm[Hg]", "/min"]
    result = xpath(root, "//v3:organizer[v3:templateId/@root='2.16.840.1.113883.10.20.22.4.1']")
    assert len(result) == 1
    assert xpath(result[0], "v3:code/@code") == ["51990-0"]
    observation = xpath(result[0], "v3:component/v3:observation")[0]
    assert xpath(observation, "v3:value/@value") == ["101"]
    assert xpath(observation, "v3:referenceRange/v3:observationRange/v3:value/v3:high/@value") == ["99"]


def test_encounter_diagnoses_stay_with_their_encounter(render: Render, cda_schema: etree.XMLSchema) -> None:
    diagnosis = {
        "resourceType": "Condition",
        "id": "c1",
        "code": _cc(SNOMED, "444814009", "Viral sinusitis"),
        "category": [
            {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/condition-category",
                        "code": "encounter-diagnosis",
                    }
                ]
            }
        ],
        "onsetDateTime": "2024-02-01",
        "abatementDateTime": "2024-02-14",
    }
    encounter = {
        "resourceType": "Encounter",
        "id": "e1",
        "status": "finished",
        "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "AMB"},
        "type": [_cc(SNOMED, "185345009", "Encounter for symptom")],
        "period": {"start": "2024-02-01T10:00:00-05:00", "end": "2024-02-01T10:30:00-05:00"},
        "diagnosis": [{"condition": {"reference": "Condition/c1"}}],
    }
    root = _write(render, cda_schema, [patient(), diagnosis, encounter])
    assert section(root, "2.16.840.1.113883.10.20.22.2.5.1").get("nullFlavor") == "NI"
    activity = xpath(root, "//v3:encounter[v3:templateId/@root='2.16.840.1.113883.10.20.22.4.49']")[0]
    act = xpath(
        activity, "v3:entryRelationship/v3:act[v3:templateId/@root='2.16.840.1.113883.10.20.22.4.80']"
    )
    assert len(act) == 1
    assert xpath(act[0], ".//v3:observation/v3:value/@code") == ["444814009"]
    assert xpath(act[0], ".//v3:observation/v3:effectiveTime/v3:high/@value") == ["20240214"]


def test_bundle_input_and_uuid_document_id(render: Render, cda_schema: etree.XMLSchema) -> None:
    bundle = {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": patient()}]}
    result = render(
        bundle,
        document_id="0f8fad5b-d9cb-469f-a165-70867728950e",
        effective_time=datetime(2024, 6, 1, 17, 0, tzinfo=UTC),
    )
    root = assert_schema_valid(cda_schema, result.document)
    assert xpath(root, "/v3:ClinicalDocument/v3:id/@root") == ["0f8fad5b-d9cb-469f-a165-70867728950e"]
    assert root.nsmap[None] == V3["v3"]
    assert xpath(root, "/v3:ClinicalDocument/v3:effectiveTime/@value") == ["20240601170000+0000"]
