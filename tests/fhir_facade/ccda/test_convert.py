"""The whole conversion: deterministic ids, a failing entry reported with its XPath while the rest converts,
strict validation, the OperationOutcome, and documents that need repairs."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.operationoutcome import OperationOutcome
from lxml import etree

from fhir_facade.ccda.convert import convert_ccda, validate_bundle
from fhir_facade.ccda.sections import problems
from tests.fhir_facade.ccda.helpers import fixture_bytes, only, resources
from xca.errors import ConversionValidationError

Json = dict[str, Any]


@pytest.mark.parametrize(
    "name", ["synthetic_ccd.xml", "synthetic_no_known_allergies.xml", "synthetic_unstructured.xml"]
)
def test_same_bytes_give_identical_json(name: str) -> None:
    data = fixture_bytes(name)
    first, second = convert_ccda(data).json(), convert_ccda(data).json()
    assert first == second
    Bundle.model_validate(orjson.loads(first))


def test_same_entry_in_another_document_keeps_its_id() -> None:
    data = fixture_bytes("synthetic_ccd.xml")
    other = data.replace(b'extension="doc-1"', b'extension="doc-2"').replace(
        b"Synthetic Continuity", b"Another"
    )
    first, second = convert_ccda(data).bundle, convert_ccda(other).bundle
    assert only(first, "AllergyIntolerance")["id"] == only(second, "AllergyIntolerance")["id"]
    assert only(first, "Patient")["id"] == only(second, "Patient")["id"]
    assert only(first, "Composition")["id"] != only(second, "Composition")["id"]


def test_reused_entry_ids_within_a_document_fall_back_to_the_xpath() -> None:
    data = fixture_bytes("synthetic_ccd.xml").replace(b'extension="problem-2"', b'extension="problem-1"')
    result = convert_ccda(data, strict=True)
    assert len({c["id"] for c in resources(result.bundle, "Condition")}) == 3
    assert any("reused an id" in i.message for i in result.issues)


def test_failing_entry_is_reported_with_its_xpath_and_the_rest_converts(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    original = problems.condition

    def flaky(observation: etree._Element, *args: Any) -> Json:
        if any(i.get("extension") == "problem-2" for i in observation.iterfind("{urn:hl7-org:v3}id")):
            raise KeyError("simulated converter bug")
        return original(observation, *args)

    monkeypatch.setattr(problems, "condition", flaky)
    result = convert_ccda(fixture_bytes("synthetic_ccd.xml"), strict=True)
    failures = [i for i in result.issues if i.severity == "error"]
    assert len(failures) == 1
    assert failures[0].location == "/ClinicalDocument/component/structuredBody/component[2]/section/entry[2]"
    assert "problems entry could not be converted (KeyError)" in failures[0].message
    assert len(resources(result.bundle, "Condition")) == 2
    assert len(resources(result.bundle, "AllergyIntolerance")) == 1
    stats = result.stats.sections["problems"]
    assert (stats.seen, stats.converted, stats.failed) == (3, 2, 1)
    outcome = result.outcome()
    OperationOutcome.model_validate(outcome)
    assert outcome["issue"][0]["expression"] == [failures[0].location]


def test_stats_and_outcome_in_bundle() -> None:
    result = convert_ccda(fixture_bytes("synthetic_ccd.xml"), include_outcome=True)
    # 1 allergy, 3 problems, 2 medications, 1 smoking status converted; the vital-signs organizer is empty.
    assert (result.stats.entries_seen, result.stats.entries_converted) == (8, 7)
    vitals = result.stats.sections["vital-signs"]
    assert (vitals.seen, vitals.converted) == (1, 0)
    assert result.stats.sections["(no converter)"].seen == 0
    assert result.stats.resources == len(result.bundle["entry"])
    assert result.bundle["entry"][-1]["resource"]["resourceType"] == "OperationOutcome"
    validate_bundle(result.bundle)


def test_strict_mode_raises_on_invalid_output() -> None:
    bundle = convert_ccda(fixture_bytes("synthetic_ccd.xml")).bundle
    only(bundle, "Patient")["birthDate"] = "1980-13-01"
    with pytest.raises(ConversionValidationError) as caught:
        validate_bundle(bundle)
    assert caught.value.detail["errors"][0]["loc"].endswith("birthDate")


def test_windows_1252_document_with_bom_less_quirks_converts() -> None:
    data = fixture_bytes("synthetic_ccd.xml").replace(b'<?xml version="1.0" encoding="UTF-8"?>\n', b"")
    data = data.replace(b"<given>Testa</given>", b"<given>Ren\xe9e</given>")
    result = convert_ccda(data, strict=True)
    assert only(result.bundle, "Patient")["name"][0]["given"][0] == "Renée"
    assert result.repairs == ("windows-1252",)
    assert any("repair" in i.message for i in result.issues)


def test_document_without_patient_or_body_still_converts() -> None:
    data = (
        b'<ClinicalDocument xmlns="urn:hl7-org:v3"><id root="2.25.1"/>'
        b'<effectiveTime value="2024"/></ClinicalDocument>'
    )
    result = convert_ccda(data, strict=True)
    messages = [i.message for i in result.issues]
    assert "the document has no recordTarget/patientRole" in messages
    assert "the document has no structuredBody or nonXMLBody" in messages
    assert only(result.bundle, "Provenance")["recorded"] == "2024-01-01T00:00:00Z"
