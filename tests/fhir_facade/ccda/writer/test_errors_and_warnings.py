"""Invalid input raises CcdaWriteError; valid data the writer cannot express becomes a warning."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest
from lxml import etree

from fhir_facade.ccda.writer import Address, Organization, WriteWarning
from tests.fhir_facade.ccda.writer.support import Render, assert_schema_valid, patient, section, xpath
from xca.errors import CcdaWriteError, HieGatewayError

SNOMED = "http://snomed.info/sct"
PROBLEMS = "2.16.840.1.113883.10.20.22.2.5.1"
MEDICATIONS = "2.16.840.1.113883.10.20.22.2.1.1"


def _condition(**extra: Any) -> dict[str, Any]:
    resource: dict[str, Any] = {
        "resourceType": "Condition",
        "id": "c1",
        "code": {"coding": [{"system": SNOMED, "code": "38341003", "display": "Hypertension"}]},
        "onsetDateTime": "2019-04-01",
    }
    resource.update(extra)
    return resource


def test_error_is_in_the_conversion_block() -> None:
    assert issubclass(CcdaWriteError, HieGatewayError)
    assert issubclass(CcdaWriteError, ValueError)
    assert CcdaWriteError.code.startswith("HG-7")


@pytest.mark.parametrize(
    ("resources", "message"),
    [
        ([], "exactly one Patient"),
        ([patient(), patient(id="p2")], "exactly one Patient"),
        ([patient(), patient()], "same type and id"),
        ([patient(), {"resourceType": "Condition"}], "no id"),
        ([patient(), {"id": "x"}], "no resourceType"),
        ([patient(), _condition(code={"text": ""})], "Condition has no code"),
        ([patient(), _condition(onsetDateTime="April 2019")], "not a FHIR date"),
        ([patient(name=[{"text": "Anonymous"}])], "Patient has no name"),
        ([patient(), {"resourceType": "AllergyIntolerance", "id": "a1"}], "AllergyIntolerance has no code"),
        ([patient(), {"resourceType": "Immunization", "id": "i1", "status": "completed"}], "no vaccineCode"),
        ([patient(), {"resourceType": "MedicationStatement", "id": "m1", "status": "active"}], "medication"),
        (
            [patient(), {"resourceType": "Observation", "id": "o1", "category": [
                {"coding": [{"code": "vital-signs"}]}], "code": {"text": "Pulse"}}],
            "no effective time",
        ),
        ({"resourceType": "Patient", "id": "p1"}, "Bundle"),
        ([patient(), "not a resource"], "JSON object"),
    ],
)  # fmt: skip
def test_invalid_input_raises_a_specific_error(render: Render, resources: Any, message: str) -> None:
    with pytest.raises(CcdaWriteError, match=message) as caught:
        render(resources)
    assert caught.value.code == "HG-7101"


def test_parameters_are_checked(render: Render) -> None:
    with pytest.raises(CcdaWriteError, match="timezone-aware"):
        render([patient()], effective_time=datetime(2024, 6, 1, 12, 0))
    with pytest.raises(CcdaWriteError, match="confidentiality"):
        render([patient()], confidentiality="X")
    with pytest.raises(CcdaWriteError, match="not an OID"):
        Organization("not-an-oid", "Clinic", "tel:+1-555-555-0100", Address(("1 St",), "A", "IL", "60000"))
    with pytest.raises(CcdaWriteError, match="telecom"):
        Organization("2.16.840.1.113883.19.5", "Clinic", "555-0100", Address(("1 St",), "A", "IL", "60000"))


def test_unknown_code_system_keeps_the_narrative_and_skips_the_entry(
    render: Render, cda_schema: etree.XMLSchema
) -> None:
    local = _condition(
        code={"coding": [{"system": "http://example.org/local", "code": "HTN"}], "text": "HTN"}
    )
    result = render([patient(), local])
    root = assert_schema_valid(cda_schema, result.document)
    problems = section(root, PROBLEMS)
    assert problems.get("nullFlavor") is None
    assert xpath(problems, "v3:text//v3:td/text()")[0] == "HTN"
    assert xpath(problems, "v3:entry") == []
    assert result.warnings == (
        WriteWarning(
            "Condition/c1", "problems", "Condition.code has no coding in a code system the writer knows"
        ),
    )


@pytest.mark.parametrize(
    ("resource", "fragment"),
    [
        (
            {"resourceType": "MedicationRequest", "id": "m1", "status": "active", "intent": "order",
             "medicationReference": {"reference": "Medication/missing", "display": "Mystery pill"}},
            "does not resolve",
        ),
        (
            {"resourceType": "MedicationStatement", "id": "m2", "status": "active",
             "medicationCodeableConcept": {"coding": [{"system": "http://www.nlm.nih.gov/research/umls/rxnorm",
                                                       "code": "314076"}]},
             "dosage": [{"doseAndRate": [{"doseQuantity": {"value": 2, "unit": "tablets"}}]}]},
            "not UCUM",
        ),
        (
            {"resourceType": "MedicationStatement", "id": "m3", "status": "active",
             "medicationCodeableConcept": {"coding": [{"system": "http://www.nlm.nih.gov/research/umls/rxnorm",
                                                       "code": "314076"}]},
             "dosage": [{"asNeededBoolean": True}]},
            "as-needed",
        ),
    ],
)  # fmt: skip
def test_unexpressible_medications_are_narrative_only(
    render: Render, cda_schema: etree.XMLSchema, resource: dict[str, Any], fragment: str
) -> None:
    result = render([patient(), resource])
    root = assert_schema_valid(cda_schema, result.document)
    medications = section(root, MEDICATIONS)
    assert len(xpath(medications, "v3:text//v3:tbody/v3:tr")) == 1
    assert xpath(medications, "v3:entry") == []
    assert len(result.warnings) == 1
    assert fragment in result.warnings[0].message


def test_entered_in_error_and_unsupported_types_are_left_out_with_warnings(
    render: Render, cda_schema: etree.XMLSchema
) -> None:
    wrong = _condition(id="c2", verificationStatus={"coding": [{"code": "entered-in-error"}]})
    result = render([patient(), wrong, {"resourceType": "CarePlan", "id": "cp1"}])
    root = assert_schema_valid(cda_schema, result.document)
    assert section(root, PROBLEMS).get("nullFlavor") == "NI"
    assert [w.resource for w in result.warnings] == ["Condition/c2", "CarePlan/cp1"]
