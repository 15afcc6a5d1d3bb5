"""The synthetic record generator (valid FHIR, deterministic, varied) and the URI → OID table."""

from __future__ import annotations

from collections import Counter

import pytest
from fhir.resources.R4B import get_fhir_model_class

from fhir_facade.ccda.datatypes.codesystems import CODE_SYSTEMS, IDENTIFIER_ROWS, system_uri
from fhir_facade.ccda.writer import codesystems, synthetic_record

SEEDS = range(30)


@pytest.fixture(scope="module")
def records() -> dict[int, list[dict[str, object]]]:
    return {seed: synthetic_record(seed) for seed in SEEDS}


def test_same_seed_same_record_and_seeds_differ(records: dict[int, list[dict[str, object]]]) -> None:
    assert synthetic_record(7) == records[7]
    patients = [next(r for r in record if r["resourceType"] == "Patient") for record in records.values()]
    assert len({str(p["name"]) + str(p["birthDate"]) for p in patients}) == len(patients)


def test_every_resource_is_valid_fhir(records: dict[int, list[dict[str, object]]]) -> None:
    for record in records.values():
        for resource in record:
            get_fhir_model_class(str(resource["resourceType"])).model_validate(resource)
        ids = [f"{r['resourceType']}/{r['id']}" for r in record]
        assert len(ids) == len(set(ids))


def test_records_cover_every_section_and_vary(records: dict[int, list[dict[str, object]]]) -> None:
    kinds: Counter[str] = Counter()
    for record in records.values():
        types = {str(r["resourceType"]) for r in record}
        assert {
            "Patient",
            "Condition",
            "AllergyIntolerance",
            "Immunization",
            "Observation",
            "Encounter",
        } <= types
        kinds.update(types)
        for resource in record:
            code = resource.get("code")
            allergy = resource["resourceType"] == "AllergyIntolerance" and isinstance(code, dict)
            if allergy and isinstance(code, dict) and code["coding"][0]["code"] == "716186003":
                kinds["no-known-allergy"] += 1
            if resource["resourceType"] == "Immunization" and resource["status"] == "not-done":
                kinds["refused"] += 1
    for kind in ("MedicationRequest", "MedicationStatement", "Medication", "DiagnosticReport", "Procedure"):
        assert kinds[kind] > 0, kind
    assert 0 < kinds["no-known-allergy"] < len(SEEDS)
    assert 0 < kinds["refused"] < len(SEEDS)


@pytest.mark.parametrize(
    ("uri", "oid"),
    [
        ("http://snomed.info/sct", "2.16.840.1.113883.6.96"),
        ("http://loinc.org", "2.16.840.1.113883.6.1"),
        ("http://www.nlm.nih.gov/research/umls/rxnorm", "2.16.840.1.113883.6.88"),
        ("http://hl7.org/fhir/sid/cvx", "2.16.840.1.113883.12.292"),
        ("http://hl7.org/fhir/sid/icd-10-cm", "2.16.840.1.113883.6.90"),
        ("http://unitsofmeasure.org", "2.16.840.1.113883.6.8"),
        ("urn:oid:2.16.840.1.113883.6.238", "2.16.840.1.113883.6.238"),
        ("urn:oid:1.2.3.4", "1.2.3.4"),
    ],
)
def test_code_system_table(uri: str, oid: str) -> None:
    assert codesystems.oid_for(uri) == oid


def test_unknown_systems_do_not_map() -> None:
    assert codesystems.oid_for("http://example.org/local") is None
    assert codesystems.oid_for("urn:oid:not.an.oid") is None
    row = codesystems.by_oid("2.16.840.1.113883.6.96")
    assert row is not None
    assert row.name == "SNOMED CT"


def test_one_code_system_table_serves_both_directions() -> None:
    # Every URI the converter produces from a listed OID is one the writer turns back into an OID, the
    # preferred one where several OIDs share the URI, and that OID converts to the same URI again.
    preferred: dict[str, list[str]] = {}
    for row in (*CODE_SYSTEMS, *IDENTIFIER_ROWS):
        if row.preferred:
            preferred.setdefault(row.uri, []).append(row.oid)
    assert all(len(oids) == 1 for oids in preferred.values()), preferred
    for row in CODE_SYSTEMS:
        uri = system_uri(row.oid)
        assert uri == row.uri
        written = codesystems.oid_for(uri)
        assert written == preferred[uri][0]
        assert system_uri(written) == uri
    assert codesystems.oid_for("http://snomed.info/sct") == "2.16.840.1.113883.6.96"  # not the legacy 6.5
    assert (
        codesystems.oid_for("http://ncicb.nci.nih.gov/xml/owl/EVS/Thesaurus.owl")
        == "2.16.840.1.113883.3.26.1.1"
    )
    assert system_uri("2.16.840.1.113883.3.26.1.1") == "http://ncicb.nci.nih.gov/xml/owl/EVS/Thesaurus.owl"
