"""Header → Patient, Practitioner/PractitionerRole, Organization, Encounter, Composition, DocumentReference,
Provenance, on the synthetic CCD."""

from __future__ import annotations

import base64
import hashlib
from typing import Any

import pytest

from fhir_facade.ccda.convert import convert_ccda
from tests.fhir_facade.ccda.helpers import fixture_bytes, only, resources

Json = dict[str, Any]
US_CORE = "http://hl7.org/fhir/us/core/StructureDefinition/"


@pytest.fixture(scope="module")
def bundle() -> Json:
    return convert_ccda(fixture_bytes("synthetic_ccd.xml"), strict=True).bundle


def _extension(resource: Json, url: str) -> Json:
    return next(e for e in resource["extension"] if e["url"] == url)


def test_patient_demographics(bundle: Json) -> None:
    patient = only(bundle, "Patient")
    assert patient["identifier"] == [{"system": "urn:oid:2.25.2222", "value": "MRN-0001"}]
    assert patient["name"] == [
        {"use": "official", "given": ["Testa", "Q"], "suffix": ["Jr"], "family": "Sample"}
    ]
    assert patient["gender"] == "female"
    assert patient["birthDate"] == "1980-01-02"
    assert patient["maritalStatus"]["coding"][0]["code"] == "M"
    assert patient["communication"] == [
        {"language": {"coding": [{"system": "urn:ietf:bcp:47", "code": "es"}]}, "preferred": True}
    ]
    assert patient["contact"][0]["name"] == {"given": ["Mona"], "family": "Sample"}
    assert patient["telecom"][1] == {"system": "email", "value": "fictional@example.org"}
    clinic = next(o for o in resources(bundle, "Organization") if o["name"] == "Fictional Community Clinic")
    assert patient["managingOrganization"] == {"reference": "urn:uuid:" + clinic["id"]}


def test_us_core_race_ethnicity_birth_sex(bundle: Json) -> None:
    patient = only(bundle, "Patient")
    race = _extension(patient, US_CORE + "us-core-race")["extension"]
    assert [(e["url"], e.get("valueCoding", {}).get("code")) for e in race] == [
        ("ombCategory", "2106-3"),
        ("ombCategory", "2076-8"),
        ("detailed", "1586-7"),
        ("text", None),
    ]
    ethnicity = _extension(patient, US_CORE + "us-core-ethnicity")["extension"]
    assert ethnicity[0]["valueCoding"]["code"] == "2186-5"
    assert _extension(patient, US_CORE + "us-core-birthsex") == {
        "url": US_CORE + "us-core-birthsex",
        "valueCode": "F",
    }


def test_unknown_gender_and_birth_time() -> None:
    patient = only(convert_ccda(fixture_bytes("synthetic_no_known_allergies.xml")).bundle, "Patient")
    assert patient["gender"] == "unknown"
    assert patient["_birthDate"] == {
        "extension": [
            {"url": "http://hl7.org/fhir/StructureDefinition/data-absent-reason", "valueCode": "unknown"}
        ]
    }


def test_one_practitioner_and_organization_for_every_mention(bundle: Json) -> None:
    practitioner = only(bundle, "Practitioner")  # author, legal authenticator, participant and entry authors
    assert practitioner["identifier"] == [{"system": "http://hl7.org/fhir/sid/us-npi", "value": "9999999991"}]
    assert practitioner["name"][0]["prefix"] == ["Dr."]
    role = only(bundle, "PractitionerRole")
    assert role["specialty"][0]["coding"][0]["code"] == "207Q00000X"
    assert role["practitioner"] == {"reference": "urn:uuid:" + practitioner["id"]}
    names = sorted(o["name"] for o in resources(bundle, "Organization"))
    assert names == ["Fictional Community Clinic", "Fictional Pharma"]  # the clinic once, for four mentions


def test_encounter(bundle: Json) -> None:
    encounter = only(bundle, "Encounter")
    assert encounter["status"] == "finished"
    assert encounter["class"]["code"] == "AMB"
    assert encounter["period"] == {"start": "2024-03-15T09:00:00-05:00", "end": "2024-03-15T10:00:00-05:00"}
    assert encounter["participant"][0]["type"][0]["coding"][0]["code"] == "ATND"
    location = only(bundle, "Location")
    assert encounter["location"] == [{"location": {"reference": "urn:uuid:" + location["id"]}}]


def test_composition(bundle: Json) -> None:
    composition = bundle["entry"][0]["resource"]
    assert composition["resourceType"] == "Composition"
    assert composition["title"] == "Synthetic Continuity of Care Document"
    assert composition["date"] == "2024-03-15T10:30:00-05:00"
    assert composition["confidentiality"] == "N"
    assert composition["attester"][0]["mode"] == "legal"
    titles = [s["title"] for s in composition["section"]]
    assert titles == [
        "Allergies",
        "Problems",
        "Medications",
        "Vital Signs",
        "Social History",
        "Procedures",
        "Plan of care note",
    ]
    allergies, problems, medications, vitals, _social, procedures, plan = composition["section"]
    assert len(allergies["entry"]) == 1
    assert len(problems["entry"]) == 3
    assert len(medications["entry"]) == 2
    assert "entry" not in vitals
    assert "Blood pressure" in vitals["text"]["div"]
    assert procedures["emptyReason"]["coding"][0]["code"] == "unavailable"
    assert plan["section"][0]["title"] == "Nested instructions"
    assert '<span class="bold">three months</span>' in plan["text"]["div"]
    ids = {e["resource"]["id"] for e in bundle["entry"]}
    for section in composition["section"]:
        for entry in section.get("entry", []):
            assert entry["reference"].removeprefix("urn:uuid:") in ids


def test_source_document_reference_and_provenance(bundle: Json) -> None:
    data = fixture_bytes("synthetic_ccd.xml")
    # Narrative-only sections yield DocumentReferences too; the source document is the one with the
    # document's identifier.
    (source,) = [r for r in resources(bundle, "DocumentReference") if "masterIdentifier" in r]
    assert source["masterIdentifier"] == {"system": "urn:oid:2.25.1111", "value": "doc-1"}
    attachment = source["content"][0]["attachment"]
    assert attachment["size"] == len(data)
    assert attachment["hash"] == base64.b64encode(hashlib.sha1(data).digest()).decode()
    assert source["content"][0]["format"]["code"] == "urn:hl7-org:sdwg:ccda-structuredBody:2.1"
    provenance = only(bundle, "Provenance")
    assert provenance["entity"] == [{"role": "source", "what": {"reference": "urn:uuid:" + source["id"]}}]
    assert provenance["recorded"] == "2024-03-15T10:30:00-05:00"
    targets = {t["reference"] for t in provenance["target"]}
    others = [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] != "Provenance"]
    assert targets == {"urn:uuid:" + r["id"] for r in others}
    for resource in others:
        if resource is not source:
            assert resource["meta"]["source"] == "urn:uuid:" + source["id"]
    assert [a["type"]["coding"][0]["code"] for a in provenance["agent"]] == ["author", "custodian"]


def test_every_entry_has_a_unique_urn_uuid_full_url(bundle: Json) -> None:
    urls = [e["fullUrl"] for e in bundle["entry"]]
    assert len(urls) == len(set(urls))
    assert all(u == "urn:uuid:" + e["resource"]["id"] for u, e in zip(urls, bundle["entry"], strict=True))
    assert resources(bundle, "Bundle") == []
