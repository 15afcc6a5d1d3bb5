"""Allergies (incl. no known allergies), problems, medications, the unstructured body, and the registry."""

from __future__ import annotations

from typing import Any

import pytest

from fhir_facade.ccda.convert import convert_ccda
from fhir_facade.ccda.sections import SPECS, Section, find_spec
from tests.fhir_facade.ccda.helpers import fixture_bytes, make_ctx, only, resources

Json = dict[str, Any]


@pytest.fixture(scope="module")
def bundle() -> Json:
    return convert_ccda(fixture_bytes("synthetic_ccd.xml"), strict=True).bundle


def _code(concept: Json) -> str:
    return str(concept["coding"][0]["code"])


def test_allergy(bundle: Json) -> None:
    allergy = only(bundle, "AllergyIntolerance")
    assert _code(allergy["clinicalStatus"]) == "active"
    assert _code(allergy["verificationStatus"]) == "confirmed"
    assert (allergy["type"], allergy["category"], allergy["criticality"]) == (
        "allergy",
        ["medication"],
        "high",
    )
    assert allergy["code"]["coding"][0]["code"] == "7980"
    assert allergy["code"]["text"] == "Penicillin G"  # originalText reference resolved in the narrative
    assert allergy["onsetDateTime"] == "2020-01-01"
    assert allergy["recordedDate"] == "2020-01-02T12:00:00-05:00"
    assert allergy["reaction"] == [
        {
            "manifestation": [
                {
                    "coding": [{"system": "http://snomed.info/sct", "code": "247472004", "display": "Hives"}],
                    "text": "Hives",
                }
            ],
            "severity": "moderate",
        }
    ]


def test_no_known_allergies_and_refuted_allergy() -> None:
    bundle = convert_ccda(fixture_bytes("synthetic_no_known_allergies.xml"), strict=True).bundle
    none_known, peanut = resources(bundle, "AllergyIntolerance")
    assert none_known["code"]["coding"] == [
        {"system": "http://snomed.info/sct", "code": "716186003", "display": "No known allergy"}
    ]
    assert _code(none_known["verificationStatus"]) == "confirmed"
    assert _code(none_known["clinicalStatus"]) == "active"
    assert _code(peanut["verificationStatus"]) == "refuted"
    assert peanut["code"]["coding"][0]["code"] == "256349002"
    assert peanut["category"] == ["food"]


def test_problems(bundle: Json) -> None:
    diabetes, sprain, hypertension = resources(bundle, "Condition")
    assert [c["code"] for c in diabetes["code"]["coding"]] == ["44054006", "E11.9"]
    assert diabetes["code"]["coding"][1]["system"] == "http://hl7.org/fhir/sid/icd-10-cm"
    assert diabetes["code"]["text"] == "Type 2 diabetes"
    assert diabetes["category"][0]["coding"][0]["code"] == "problem-list-item"
    assert (_code(diabetes["clinicalStatus"]), diabetes["onsetDateTime"]) == ("active", "2015-06-01")
    assert "abatementDateTime" not in diabetes
    assert (_code(sprain["clinicalStatus"]), sprain["abatementDateTime"]) == ("resolved", "2023-04-15")
    assert _code(hypertension["verificationStatus"]) == "refuted"
    assert "onsetDateTime" not in hypertension


def test_medication_statement(bundle: Json) -> None:
    statement = only(bundle, "MedicationStatement")
    assert statement["status"] == "active"
    assert statement["effectivePeriod"] == {"start": "2015-06-01"}
    dosage = statement["dosage"][0]
    assert dosage["text"] == "Metformin 500 mg tablet twice daily"
    assert dosage["patientInstruction"] == "Take with food"
    assert dosage["timing"] == {"repeat": {"frequency": 1, "period": 12, "periodUnit": "h"}}
    assert dosage["route"]["coding"][0]["code"] == "C38288"
    assert statement["reasonCode"][0]["coding"][0]["code"] == "44054006"
    medication = next(
        m for m in resources(bundle, "Medication") if m["code"]["coding"][0]["code"] == "861007"
    )
    assert statement["medicationReference"] == {"reference": "urn:uuid:" + medication["id"]}
    assert [c["system"] for c in medication["code"]["coding"]] == [
        "http://www.nlm.nih.gov/research/umls/rxnorm",
        "http://hl7.org/fhir/sid/ndc",
    ]
    assert medication["batch"] == {"lotNumber": "LOT-42"}
    assert medication["form"]["coding"][0]["code"] == "C42998"
    maker = next(o for o in resources(bundle, "Organization") if o.get("name") == "Fictional Pharma")
    assert medication["manufacturer"] == {"reference": "urn:uuid:" + maker["id"]}


def test_medication_request_by_mood(bundle: Json) -> None:
    request = only(bundle, "MedicationRequest")
    assert (request["status"], request["intent"]) == ("active", "plan")
    assert request["authoredOn"] == "2024-03-15T10:15:00-05:00"
    timing = request["dosageInstruction"][0]["timing"]["repeat"]
    assert timing == {"when": ["HS"], "boundsPeriod": {"start": "2024-03-15", "end": "2024-04-15"}}
    assert request["dispenseRequest"] == {"numberOfRepeatsAllowed": 2, "quantity": {"value": 30}}
    assert request["dosageInstruction"][0]["doseAndRate"][0]["doseQuantity"]["code"] == "mg"


def test_unstructured_pdf_body() -> None:
    result = convert_ccda(fixture_bytes("synthetic_unstructured.xml"), strict=True)
    body, source = resources(result.bundle, "DocumentReference")
    attachment = body["content"][0]["attachment"]
    assert attachment["contentType"] == "application/pdf"
    assert attachment["data"].startswith("JVBERi0xLjQK")
    assert " " not in attachment["data"]
    assert attachment["size"] == 56
    assert body["type"]["coding"][0]["code"] == "11506-3"
    assert source["content"][0]["format"]["code"] == "urn:hl7-org:sdwg:ccda-nonXMLBody:2.1"
    composition = result.bundle["entry"][0]["resource"]
    assert composition["section"][0]["entry"] == [{"reference": "urn:uuid:" + body["id"]}]
    assert result.stats.sections["unstructured"].converted == 1


def test_unstructured_text_and_bad_base64_keep_the_content() -> None:
    data = fixture_bytes("synthetic_unstructured.xml")
    text_body = data.replace(b'mediaType="application/pdf" representation="B64"', b'mediaType="text/plain"')
    attachment = resources(convert_ccda(text_body, strict=True).bundle, "DocumentReference")[0]["content"][0]
    assert attachment["attachment"]["contentType"] == "text/plain"
    broken = data.replace(b"JVBERi0x", b"!!!!")
    result = convert_ccda(broken, strict=True)
    assert (
        resources(result.bundle, "DocumentReference")[0]["content"][0]["attachment"]["contentType"]
        == "text/plain"
    )
    assert any("base64" in i.message and i.location for i in result.issues)


def test_registry_by_template_then_loinc() -> None:
    _, by_template = make_ctx('<section><templateId root="2.16.840.1.113883.10.20.22.2.6"/></section>')
    assert (spec := find_spec(Section.of(by_template))) is not None
    assert spec.name == "allergies"
    _, by_loinc = make_ctx('<section><code code="10160-0" codeSystem="2.16.840.1.113883.6.1"/></section>')
    assert (spec := find_spec(Section.of(by_loinc))) is not None
    assert spec.name == "medications"
    # History of Present Illness: narrative only, no section converter claims it.
    _, unknown = make_ctx('<section><code code="10164-2" codeSystem="2.16.840.1.113883.6.1"/></section>')
    assert find_spec(Section.of(unknown)) is None
    assert len({root for spec in SPECS for root in spec.template_ids}) == sum(
        len(s.template_ids) for s in SPECS
    )
