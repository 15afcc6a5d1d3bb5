"""Consolidation of several documents about one patient: merge rules per type, sources kept, conflicts
reported, nothing lost, references resolved, R4B-valid, independent of the input order, and the CLI."""

from __future__ import annotations

import base64
import copy
import hashlib
import itertools
import re
from pathlib import Path
from typing import Any

import orjson
import pytest
from fhir.resources.R4B.bundle import Bundle

from fhir_facade.ccda.bundle import bundle
from fhir_facade.ccda.consolidate import SOURCE_DOCUMENT_URL, Consolidation, consolidate
from fhir_facade.ccda.context import make_id
from fhir_facade.ccda.convert import ConversionResult, convert_ccda
from fhir_facade.ccda.writer import Address, AuthoringDevice, Organization, synthetic_record, write_ccd
from gateway.cli import main
from tests.fhir_facade.ccda.helpers import FIXTURES, resources

Json = dict[str, Any]
URN = "urn:uuid:"
SNOMED = "http://snomed.info/sct"
ICD10 = "http://hl7.org/fhir/sid/icd-10-cm"
LOINC = "http://loinc.org"
CVX = "http://hl7.org/fhir/sid/cvx"
FOLDER = FIXTURES / "consolidate"


# --- checks every consolidation must pass --------------------------------------------------------------


def _literal_references(value: Any) -> list[str]:
    if isinstance(value, dict):
        found = [value["reference"]] if isinstance(value.get("reference"), str) else []
        return found + [r for v in value.values() for r in _literal_references(v)]
    if isinstance(value, list):
        return [r for v in value for r in _literal_references(v)]
    return []


def check(result: Consolidation, inputs: list[Json]) -> Json:
    """Valid R4B, every reference resolves inside the Bundle, every input id has a surviving resource,
    every resource (but the sources and Provenances) lists its source documents. Returns resources by id."""
    Bundle.model_validate(result.bundle)
    by_id = {e["resource"]["id"]: e["resource"] for e in result.bundle["entry"]}
    assert len(by_id) == len(result.bundle["entry"])
    assert all(e["fullUrl"] == URN + e["resource"]["id"] for e in result.bundle["entry"])
    for reference in _literal_references(result.bundle["entry"]):
        assert reference.startswith(URN), reference
        assert reference[len(URN) :] in by_id, reference
    survivor_of = {i: m.survivor for m in result.report.merges for _, i in m.members}
    for given in inputs:
        for entry in given["entry"]:
            rid = entry["resource"]["id"]
            assert survivor_of.get(rid, rid) in by_id, f"{rid} was lost"
    sources = {d.source for d in result.report.documents}
    for resource in by_id.values():
        listed = sources_of(resource)
        if resource["id"] in sources or resource["resourceType"] == "Provenance":
            assert listed == []
        else:
            assert listed, resource["resourceType"]
            assert set(listed) <= sources
            assert resource["meta"]["source"] in {URN + s for s in listed}
    assert sum(c.output for c in result.report.counts.values()) == len(by_id)
    return by_id


def sources_of(resource: Json) -> list[str]:
    return [
        e["valueReference"]["reference"][len(URN) :]
        for e in resource.get("extension") or ()
        if e["url"] == SOURCE_DOCUMENT_URL
    ]


def of_type(result: Consolidation, resource_type: str) -> list[Json]:
    return resources(result.bundle, resource_type)


# --- the fixtures: a clinic's CCD (2023) and a hospital's (2024), written by the project's writer ----------


@pytest.fixture(scope="module")
def clinic_and_hospital() -> list[ConversionResult]:
    return [
        convert_ccda((FOLDER / name).read_bytes(), strict=True) for name in ("clinic.xml", "hospital.xml")
    ]


@pytest.fixture(scope="module")
def consolidated(clinic_and_hospital: list[ConversionResult]) -> Consolidation:
    return consolidate(clinic_and_hospital, strict=True)


def by_code(found: list[Json], code: str, field: str = "code") -> list[Json]:
    return [r for r in found if any(c.get("code") == code for c in r[field].get("coding", ()))]


def test_fixture_documents_consolidate_validly(
    consolidated: Consolidation, clinic_and_hospital: list[ConversionResult]
) -> None:
    check(consolidated, [r.bundle for r in clinic_and_hospital])
    assert consolidated.bundle["type"] == "collection"
    assert len(of_type(consolidated, "Patient")) == 1
    assert len(of_type(consolidated, "Composition")) == 2
    assert len(of_type(consolidated, "Provenance")) == 2
    clinic, hospital = (d.source for d in consolidated.report.documents)
    assert [d.date for d in consolidated.report.documents] == [
        "2023-09-14T10:00:00-05:00",
        "2024-02-21T16:30:00-05:00",
    ]
    counts = consolidated.report.counts
    assert (counts["Condition"].occurrences, counts["Condition"].output) == (4, 3)
    assert (counts["AllergyIntolerance"].occurrences, counts["AllergyIntolerance"].output) == (3, 2)
    assert (counts["MedicationStatement"].occurrences, counts["MedicationStatement"].output) == (3, 2)
    assert {clinic, hospital} == {
        r["id"] for r in of_type(consolidated, "DocumentReference") if "masterIdentifier" in r
    }


def test_problem_active_then_resolved_takes_the_newest_status(consolidated: Consolidation) -> None:
    clinic, hospital = (d.source for d in consolidated.report.documents)
    conditions = of_type(consolidated, "Condition")
    [diabetes] = by_code(conditions, "44054006")
    assert sources_of(diabetes) == [clinic, hospital]
    assert diabetes["meta"]["source"] == URN + hospital
    assert diabetes["clinicalStatus"]["coding"][0]["code"] == "resolved"
    assert diabetes["abatementDateTime"] == "2024-01-15"
    assert diabetes["onsetDateTime"] == "2015-03-02"
    assert {(c["system"], c["code"]) for c in diabetes["code"]["coding"]} == {
        (SNOMED, "44054006"),
        (ICD10, "E11.9"),
    }
    [conflict] = [c for c in consolidated.report.conflicts if c.survivor == diabetes["id"]]
    assert (conflict.field, conflict.chosen, conflict.resolution) == (
        "clinicalStatus",
        hospital,
        "newest document",
    )
    assert {d: v["coding"][0]["code"] for d, v in conflict.values} == {hospital: "resolved", clinic: "active"}
    for only_one, source in (("38341003", clinic), ("233604007", hospital)):
        [found] = by_code(conditions, only_one)
        assert sources_of(found) == [source]


def test_allergy_criticality_conflict_keeps_both_sources(consolidated: Consolidation) -> None:
    clinic, hospital = (d.source for d in consolidated.report.documents)
    allergies = of_type(consolidated, "AllergyIntolerance")
    [penicillin] = by_code(allergies, "7980")
    assert penicillin["criticality"] == "high"
    assert sources_of(penicillin) == [clinic, hospital]
    [conflict] = [c for c in consolidated.report.conflicts if c.survivor == penicillin["id"]]
    assert conflict.field == "criticality"
    assert dict(conflict.values) == {hospital: "high", clinic: "low"}
    [peanut] = by_code(allergies, "762952008")
    assert sources_of(peanut) == [hospital]


def test_medications_merge_on_code_and_overlapping_periods(consolidated: Consolidation) -> None:
    statements = of_type(consolidated, "MedicationStatement")
    medications = {m["id"]: m for m in of_type(consolidated, "Medication")}
    codes = [
        medications[s["medicationReference"]["reference"][len(URN) :]]["code"]["coding"][0]["code"]
        if "medicationReference" in s
        else s["medicationCodeableConcept"]["coding"][0]["code"]
        for s in statements
    ]
    assert sorted(codes) == ["314076", "860975"]
    metformin = statements[codes.index("860975")]
    assert len(sources_of(metformin)) == 2
    assert metformin["status"] == "completed"
    assert {c.field for c in consolidated.report.conflicts if c.survivor == metformin["id"]} >= {
        "effectivePeriod",
        "status",
    }


def test_provenance_and_compositions_point_at_survivors(consolidated: Consolidation) -> None:
    by_id = {e["resource"]["id"]: e["resource"] for e in consolidated.bundle["entry"]}
    [patient] = of_type(consolidated, "Patient")
    diabetes = by_code(of_type(consolidated, "Condition"), "44054006")[0]
    for provenance in of_type(consolidated, "Provenance"):
        targets = [t["reference"][len(URN) :] for t in provenance["target"]]
        assert len(targets) == len(set(targets))
        assert diabetes["id"] in targets
        assert patient["id"] in targets
        source = provenance["entity"][0]["what"]["reference"][len(URN) :]
        assert by_id[source]["resourceType"] == "DocumentReference"
    for composition in of_type(consolidated, "Composition"):
        assert composition["subject"]["reference"] == URN + patient["id"]


def test_inputs_stay_unchanged_as_the_raw_view(clinic_and_hospital: list[ConversionResult]) -> None:
    before = [copy.deepcopy(r.bundle) for r in clinic_and_hospital]
    result = consolidate(list(reversed(clinic_and_hospital)))
    assert [r.bundle for r in clinic_and_hospital] == before
    assert [b["id"] for b in result.documents] == [b["id"] for b in before]  # oldest document first


def test_any_input_order_gives_identical_output(clinic_and_hospital: list[ConversionResult]) -> None:
    a, b = clinic_and_hospital
    outputs = {consolidate(list(order)).json() for order in itertools.permutations([a, b, a.bundle])}
    assert len(outputs) == 1
    report = consolidate([b, a, a]).report
    assert report.repeated_documents == (report.documents[0].source,)
    assert consolidate([a, b]).json() == consolidate([b.bundle, a.bundle, b]).json()


# --- the synthetic record written by two organizations with partial overlap -------------------------------

ORG_A = Organization(
    oid="2.16.840.1.113883.19.5.31",
    name="North Clinic",
    telecom="tel:+1-217-555-0131",
    address=Address(("31 North Street",), "Springfield", "IL", "62702"),
)
ORG_B = Organization(
    oid="2.16.840.1.113883.19.5.32",
    name="South Clinic",
    telecom="tel:+1-217-555-0132",
    address=Address(("32 South Street",), "Springfield", "IL", "62703"),
)
DEVICE = AuthoringDevice(software_name="hie-gateway", manufacturer_model_name="hie-gateway tests")
FACT = re.compile(r"^(?P<type>[A-Za-z]+)/(?P<id>syn\d+-[a-z]+-\d+)$")


def _split(record: list[Json]) -> tuple[list[Json], list[Json]]:
    """Per type, thirds: the first two thirds to A, the last two to B (the middle third in both). A report
    travels with its results, a medication with its product."""
    keep = {"Patient", "Medication"}
    position: dict[str, int] = {}
    first: list[Json] = []
    second: list[Json] = []
    members = {
        ref["reference"]
        for r in record
        if r["resourceType"] == "DiagnosticReport"
        for ref in r.get("result") or ()
    }
    for resource in record:
        kind = resource["resourceType"]
        if kind in keep or f"Observation/{resource['id']}" in members:
            first.append(resource)
            second.append(resource)
            continue
        index = position[kind] = position.get(kind, -1) + 1
        if index % 3 in (0, 1):
            first.append(resource)
        if index % 3 in (1, 2):
            second.append(resource)
    return first, second


def _facts(resource: Json) -> set[str]:
    found = set()
    listed = resource.get("identifier") or []
    for ident in listed if isinstance(listed, list) else [listed]:
        match = FACT.match(str(ident.get("value", "")))
        if match and match["type"] == resource["resourceType"]:
            found.add(f"{match['type']}/{match['id']}")
    return found


@pytest.mark.parametrize("seed", [3, 11, 17])
def test_synthetic_record_from_two_organizations(seed: int) -> None:
    first, second = _split(synthetic_record(seed))
    documents = [
        write_ccd(
            part,
            document_id=f"{org.oid}.9.{seed}",
            author_organization=org,
            author_device=DEVICE,
            custodian=org,
            effective_time=when,
        )
        for part, org, when in (
            (first, ORG_A, "2024-03-01T09:00:00-05:00"),
            (second, ORG_B, "2024-05-01T09:00:00-05:00"),
        )
    ]
    converted = [convert_ccda(d, strict=True) for d in documents]
    result = consolidate(converted, strict=True)
    by_id = check(result, [c.bundle for c in converted])
    a_source, b_source = (d.source for d in result.report.documents)
    written = {
        "a": {f"{r['resourceType']}/{r['id']}" for r in first},
        "b": {f"{r['resourceType']}/{r['id']}" for r in second},
    }
    seen_in: dict[str, set[str]] = {}
    for per_doc, name in zip(converted, ("a", "b"), strict=True):
        for entry in per_doc.bundle["entry"]:
            for fact in _facts(entry["resource"]):
                seen_in.setdefault(fact, set()).add(name)
    assert seen_in, "the converter produced identifiable facts"
    holders: dict[str, list[Json]] = {}
    for resource in by_id.values():
        for fact in _facts(resource):
            holders.setdefault(fact, []).append(resource)
    assert set(holders) == set(seen_in), "no fact lost"
    expected = {"a": [a_source], "b": [b_source]}
    for fact, documents_with_it in seen_in.items():
        [holder] = holders[fact]  # each fact once
        assert fact in written["a"] | written["b"]
        wanted = [s for name in ("a", "b") if name in documents_with_it for s in expected[name]]
        assert sources_of(holder) == wanted, fact
    overlapping = [f for f, names in seen_in.items() if len(names) == 2]
    single = [f for f, names in seen_in.items() if len(names) == 1]
    assert overlapping
    assert single
    distinct_before = len(seen_in)
    distinct_after = sum(len(_facts(r)) > 0 for r in by_id.values())
    assert distinct_after == distinct_before


# --- merge rules per type, on hand-made per-document Bundles shaped like the converter's ------------------

PATIENT_ID = make_id("Patient", "ii|2.16.840.1.113883.19.5|MRN-1")


def cc(system: str, code: str, text: str | None = None) -> Json:
    concept: Json = {"coding": [{"system": system, "code": code}]}
    if text:
        concept["text"] = text
    return concept


def res(kind: str, key: str, /, **body: Any) -> Json:
    resource: Json = {"resourceType": kind, "id": make_id(kind, key)}
    subject = "patient" if kind in ("AllergyIntolerance", "Immunization") else "subject"
    if kind not in ("Patient", "Practitioner", "Organization", "Medication", "Location", "Device"):
        resource[subject] = {"reference": URN + PATIENT_ID}
    resource.update(body)
    return resource


def patient(**body: Any) -> Json:
    resource: Json = {
        "resourceType": "Patient",
        "id": PATIENT_ID,
        "identifier": [{"system": "urn:oid:2.16.840.1.113883.19.5", "value": "MRN-1"}],
        "name": [{"family": "Doe", "given": ["Jane"]}],
        "gender": "female",
        "birthDate": "1970-01-01",
    }
    resource.update(body)
    return resource


def document(key: str, date: str, *content: Json, subject: Json | None = None) -> Json:
    """A per-document Bundle like ``convert_ccda`` makes: Composition, resources, source DocumentReference,
    Provenance, every resource's ``meta.source`` pointing at the DocumentReference."""
    source = make_id("DocumentReference", "source|" + key)
    person = copy.deepcopy(subject or patient())
    items = [person, *copy.deepcopy(list(content))]
    for item in items:
        item["meta"] = {"source": URN + source}
        for field in ("subject", "patient"):
            if field in item:
                item[field] = {"reference": URN + person["id"]}
    refs = [{"reference": URN + i["id"]} for i in items]
    digest = base64.b64encode(hashlib.sha1(key.encode(), usedforsecurity=False).digest()).decode()
    composition = {
        "resourceType": "Composition",
        "id": make_id("Composition", key),
        "meta": {"source": URN + source},
        "status": "final",
        "type": {"text": "Summary"},
        "subject": {"reference": URN + person["id"]},
        "date": date,
        "author": [{"display": "author not stated in the document"}],
        "title": key,
        "section": [{"title": "Everything", "entry": refs[1:]}] if len(refs) > 1 else [],
    }
    if not composition["section"]:
        del composition["section"]
    described = {
        "resourceType": "DocumentReference",
        "id": source,
        "masterIdentifier": {"system": "urn:ietf:rfc:3986", "value": "urn:oid:1.2.3." + str(len(key))},
        "status": "current",
        "subject": {"reference": URN + person["id"]},
        "date": date,
        "content": [{"attachment": {"contentType": "text/xml", "hash": digest}}],
    }
    provenance = {
        "resourceType": "Provenance",
        "id": make_id("Provenance", key),
        "meta": {"source": URN + source},
        "target": [{"reference": URN + composition["id"]}, *refs, {"reference": URN + source}],
        "recorded": date,
        "agent": [{"who": {"display": "author not stated in the document"}}],
        "entity": [{"role": "source", "what": {"reference": URN + source}}],
    }
    return bundle(make_id("Bundle", key), [composition, *items, described, provenance])


OLD = "2023-01-10T10:00:00Z"
NEW = "2024-01-10T10:00:00Z"


def run(*documents: Json) -> Consolidation:
    result = consolidate(list(documents), strict=True)
    check(result, list(documents))
    reversed_result = consolidate(list(reversed(documents)))
    assert reversed_result.json() == result.json()
    return result


def outputs(result: Consolidation, kind: str) -> int:
    return result.report.counts[kind].output


@pytest.mark.parametrize(
    ("kind", "first", "second", "merged"),
    [
        pytest.param(
            "Immunization",
            {"vaccineCode": cc(CVX, "140"), "status": "completed", "occurrenceDateTime": "2023-10-01"},
            {
                "vaccineCode": cc(CVX, "140"),
                "status": "completed",
                "occurrenceDateTime": "2023-10-01T09:30:00-04:00",
            },
            True,
            id="immunization-same-vaccine-same-day",
        ),
        pytest.param(
            "Immunization",
            {"vaccineCode": cc(CVX, "140"), "status": "completed", "occurrenceDateTime": "2022-10-01"},
            {"vaccineCode": cc(CVX, "140"), "status": "completed", "occurrenceDateTime": "2023-10-01"},
            False,
            id="immunization-next-season-dose",
        ),
        pytest.param(
            "Observation",
            {
                "status": "final",
                "code": cc(LOINC, "2345-7"),
                "effectiveDateTime": "2023-05-02T08:00:00-05:00",
                "valueQuantity": {
                    "value": 98.0,
                    "unit": "mg/dL",
                    "system": "http://unitsofmeasure.org",
                    "code": "mg/dL",
                },
            },
            {
                "status": "final",
                "code": cc(LOINC, "2345-7"),
                "effectiveDateTime": "2023-05-02T13:00:00Z",
                "valueQuantity": {
                    "value": 98,
                    "unit": "mg/dL",
                    "system": "http://unitsofmeasure.org",
                    "code": "mg/dL",
                },
            },
            True,
            id="observation-same-code-instant-value",
        ),
        pytest.param(
            "Observation",
            {
                "status": "final",
                "code": cc(LOINC, "2345-7"),
                "effectiveDateTime": "2023-05-02T08:00:00-05:00",
                "valueQuantity": {"value": 98, "code": "mg/dL"},
            },
            {
                "status": "final",
                "code": cc(LOINC, "2345-7"),
                "effectiveDateTime": "2023-05-02T08:00:00-05:00",
                "valueQuantity": {"value": 131, "code": "mg/dL"},
            },
            False,
            id="observation-different-value",
        ),
        pytest.param(
            "Observation",
            {
                "status": "final",
                "code": cc(LOINC, "2345-7"),
                "effectiveDateTime": "2023-05-02T08:00:00-05:00",
                "valueQuantity": {"value": 98, "code": "mg/dL"},
            },
            {
                "status": "final",
                "code": cc(LOINC, "2345-7"),
                "effectiveDateTime": "2023-05-02",
                "valueQuantity": {"value": 98, "code": "mg/dL"},
            },
            True,
            id="observation-date-only-joins-the-one-candidate",
        ),
        pytest.param(
            "Procedure",
            {"status": "completed", "code": cc(SNOMED, "80146002"), "performedDateTime": "2021-06-01"},
            {
                "status": "completed",
                "code": cc(SNOMED, "80146002"),
                "performedPeriod": {"start": "2021-06-01T07:00:00-05:00"},
            },
            True,
            id="procedure-same-code-same-day",
        ),
        pytest.param(
            "Procedure",
            {"status": "completed", "code": cc(SNOMED, "80146002"), "performedDateTime": "2021-06-01"},
            {"status": "completed", "code": cc(SNOMED, "80146002"), "performedDateTime": "2021-06-02"},
            False,
            id="procedure-other-day",
        ),
        pytest.param(
            "Encounter",
            {
                "status": "finished",
                "class": {"code": "AMB"},
                "identifier": [{"system": "urn:oid:1.2.9", "value": "V1"}],
                "period": {"start": "2023-02-01"},
            },
            {
                "status": "finished",
                "class": {"code": "AMB"},
                "identifier": [{"system": "urn:oid:1.2.9", "value": "V1"}],
                "period": {"start": "2023-02-03"},
            },
            True,
            id="encounter-same-identifier",
        ),
        pytest.param(
            "Encounter",
            {
                "status": "finished",
                "class": {"code": "AMB"},
                "type": [cc("http://www.ama-assn.org/go/cpt", "99213")],
                "period": {"start": "2023-02-01T09:00:00-05:00"},
            },
            {
                "status": "finished",
                "class": {"code": "AMB"},
                "type": [cc("http://www.ama-assn.org/go/cpt", "99213")],
                "period": {"start": "2023-02-01T09:20:00-05:00", "end": "2023-02-01T10:00:00-05:00"},
            },
            True,
            id="encounter-same-type-same-start-day",
        ),
        pytest.param(
            "Condition",
            {"code": cc(SNOMED, "195967001"), "onsetDateTime": "2010-04-01"},
            {"code": cc(SNOMED, "195967001")},
            True,
            id="condition-missing-onset-is-compatible",
        ),
        pytest.param(
            "Condition",
            {"code": cc(SNOMED, "233604007"), "onsetDateTime": "2019-01-05"},
            {"code": cc(SNOMED, "233604007"), "onsetDateTime": "2023-11-20"},
            False,
            id="condition-second-episode",
        ),
        pytest.param(
            "Condition",
            {
                "code": {
                    "coding": [{"system": SNOMED, "code": "195967001"}, {"system": ICD10, "code": "J45.909"}]
                },
                "onsetDateTime": "2010-04-01",
            },
            {
                "code": {
                    "coding": [{"system": SNOMED, "code": "426979002"}, {"system": ICD10, "code": "J45.909"}]
                },
                "onsetDateTime": "2010-04-01",
            },
            False,
            id="condition-same-icd10-other-snomed",
        ),
        pytest.param(
            "Condition",
            {"code": cc(SNOMED, "195967001"), "onsetDateTime": "2010-04-01"},
            {"code": cc(ICD10, "J45.909")},
            False,
            id="condition-no-shared-coding",
        ),
        pytest.param(
            "AllergyIntolerance",
            {"code": cc(SNOMED, "91935009"), "onsetDateTime": "1990-01-01"},
            {"code": cc(SNOMED, "91935009"), "onsetDateTime": "2001-01-01"},
            True,
            id="allergy-same-substance",
        ),
        pytest.param(
            "DocumentReference",
            {
                "status": "current",
                "content": [{"attachment": {"contentType": "application/pdf", "hash": "q83vEjRWeJA="}}],
            },
            {
                "status": "current",
                "content": [
                    {
                        "attachment": {
                            "contentType": "application/pdf",
                            "hash": "q83vEjRWeJA=",
                            "title": "scan",
                        }
                    }
                ],
            },
            True,
            id="documentreference-same-hash",
        ),
        pytest.param(
            "Goal",
            {"lifecycleStatus": "active", "description": {"text": "HbA1c below 7%"}},
            {"lifecycleStatus": "active", "description": {"text": "HbA1c below 7%"}},
            True,
            id="type-without-rule-identical-content",
        ),
    ],
)
def test_merge_rule(kind: str, first: Json, second: Json, merged: bool) -> None:
    result = run(
        document("old", OLD, res(kind, "old-1", **first)),
        document("new", NEW, res(kind, "new-1", **second)),
    )
    found = [r for r in of_type(result, kind) if "masterIdentifier" not in r]  # not the source documents
    assert len(found) == (1 if merged else 2)
    assert [len(sources_of(r)) for r in found] == ([2] if merged else [1, 1])
    if merged:
        [merge] = [m for m in result.report.merges if m.resource_type == kind]
        assert len(merge.members) == 2
        assert merge.reasons


def test_disagreeing_codes_are_reported_as_possible_duplicates() -> None:
    asthma = {"coding": [{"system": SNOMED, "code": "195967001"}, {"system": ICD10, "code": "J45.909"}]}
    other = {"coding": [{"system": SNOMED, "code": "426979002"}, {"system": ICD10, "code": "J45.909"}]}
    result = run(
        document("old", OLD, res("Condition", "a", code=asthma, onsetDateTime="2010-04-01")),
        document("new", NEW, res("Condition", "b", code=other, onsetDateTime="2010-04-01")),
    )
    [doubt] = result.report.possible_duplicates
    assert doubt.resource_type == "Condition"
    assert len(doubt.ids) == 2


def test_undated_occurrence_with_two_candidates_stays_apart() -> None:
    result = run(
        document(
            "old",
            OLD,
            res("Condition", "a", code=cc(SNOMED, "233604007"), onsetDateTime="2019-01-05"),
            res("Condition", "b", code=cc(SNOMED, "233604007"), onsetDateTime="2023-11-20"),
        ),
        document("new", NEW, res("Condition", "c", code=cc(SNOMED, "233604007"))),
    )
    assert outputs(result, "Condition") == 3
    assert [len(p.ids) for p in result.report.possible_duplicates] == [3]


def test_condition_keeps_earliest_onset_and_most_complete_status() -> None:
    result = run(
        document(
            "old",
            OLD,
            res(
                "Condition",
                "a",
                code=cc(SNOMED, "38341003"),
                onsetDateTime="2015-06",
                verificationStatus=cc(
                    "http://terminology.hl7.org/CodeSystem/condition-ver-status", "confirmed"
                ),
            ),
        ),
        document(
            "new", NEW, res("Condition", "b", code=cc(SNOMED, "38341003", "HTN"), onsetDateTime="2015-06-20")
        ),
    )
    [condition] = of_type(result, "Condition")
    assert condition["onsetDateTime"] == "2015-06"
    assert condition["verificationStatus"]["coding"][0]["code"] == "confirmed"
    assert condition["code"]["text"] == "HTN"
    [conflict] = result.report.conflicts
    assert (conflict.field, conflict.resolution) == ("onsetDateTime", "earliest value")


def test_a_published_id_survives_an_older_document_added_later() -> None:
    # The newer document came first (a fast gateway) and its record was published; the older one, from a
    # late gateway, describes the same problem. Left alone, the older document's id would take over.
    newer = document("new", NEW, res("Condition", "from-new", code=cc(SNOMED, "38341003")))
    older = document("old", OLD, res("Condition", "from-old", code=cc(SNOMED, "38341003")))
    published, older_id = make_id("Condition", "from-new"), make_id("Condition", "from-old")
    assert [c["id"] for c in of_type(consolidate([newer]), "Condition")] == [published]
    assert [c["id"] for c in of_type(consolidate([newer, older]), "Condition")] == [older_id]  # by default
    again = consolidate([older, newer], keep={published})
    assert [c["id"] for c in of_type(again, "Condition")] == [published]
    check(again, [older, newer])  # every input id still maps to an output resource
    targets = {t["reference"] for p in of_type(again, "Provenance") for t in p["target"]}
    assert URN + published in targets
    assert URN + older_id not in targets


def test_same_entry_id_is_the_strongest_evidence() -> None:
    first = res("Condition", "shared", code=cc(SNOMED, "44054006"), onsetDateTime="2015-01-01")
    second = res("Condition", "shared", code=cc(SNOMED, "44054006"), onsetDateTime="2016-01-01")
    result = run(document("old", OLD, first), document("new", NEW, second))
    [merge] = [m for m in result.report.merges if m.resource_type == "Condition"]
    assert merge.reasons == ("same entry id in several documents",)
    [condition] = of_type(result, "Condition")
    assert condition["onsetDateTime"] == "2015-01-01"


def test_diagnostic_report_unites_results_and_rewrites_them() -> None:
    def glucose(name: str, when: str) -> Json:
        return res(
            "Observation",
            name,
            status="final",
            code=cc(LOINC, "2345-7"),
            effectiveDateTime=when,
            valueQuantity={"value": 98, "code": "mg/dL"},
        )

    def potassium(name: str, when: str) -> Json:
        return res(
            "Observation",
            name,
            status="final",
            code=cc(LOINC, "2823-3"),
            effectiveDateTime=when,
            valueQuantity={"value": 4.1, "code": "mmol/L"},
        )

    when = "2023-05-02T08:00:00-05:00"
    old_g, new_g, new_k = glucose("g1", when), glucose("g2", when), potassium("k2", when)

    def panel(name: str, *members: Json) -> Json:
        return res(
            "DiagnosticReport",
            name,
            status="final",
            code=cc(LOINC, "24323-8"),
            effectiveDateTime=when,
            result=[{"reference": URN + m["id"]} for m in members],
        )

    result = run(
        document("old", OLD, old_g, panel("p1", old_g)),
        document("new", NEW, new_g, new_k, panel("p2", new_g, new_k)),
    )
    [report] = of_type(result, "DiagnosticReport")
    observations = {o["id"] for o in of_type(result, "Observation")}
    assert len(observations) == 2
    assert {r["reference"][len(URN) :] for r in report["result"]} == observations
    assert len(report["result"]) == 2


def test_patients_merge_into_one_with_links_and_rewritten_references() -> None:
    other_id = make_id("Patient", "ii|2.16.840.1.113883.19.7|H-99")
    hospital_patient = patient(
        id=other_id,
        identifier=[{"system": "urn:oid:2.16.840.1.113883.19.7", "value": "H-99"}],
        name=[{"family": "Doe", "given": ["Jane"]}, {"use": "maiden", "family": "Roe", "given": ["Jane"]}],
        birthDate="1970-01-02",
        telecom=[{"system": "phone", "value": "555-0100"}],
    )
    result = run(
        document("old", OLD, res("AllergyIntolerance", "a", code=cc(SNOMED, "91935009"))),
        document("new", NEW, res("Condition", "b", code=cc(SNOMED, "38341003")), subject=hospital_patient),
    )
    [merged] = of_type(result, "Patient")
    assert merged["id"] == PATIENT_ID  # the earliest document's id survives
    assert {i["value"] for i in merged["identifier"]} == {"MRN-1", "H-99"}
    assert len(merged["name"]) == 2
    assert merged["telecom"] == [{"system": "phone", "value": "555-0100"}]
    assert merged["birthDate"] == "1970-01-02"  # the newest document wins, and it is reported
    assert [c.field for c in result.report.conflicts if c.resource_type == "Patient"] == ["birthDate"]
    assert merged["link"] == [
        {
            "other": {
                "type": "Patient",
                "identifier": {"system": "urn:ietf:rfc:3986", "value": URN + other_id},
            },
            "type": "replaces",
        }
    ]
    [condition] = of_type(result, "Condition")
    assert condition["subject"] == {"reference": URN + PATIENT_ID}


def test_practitioners_and_organizations_deduplicated() -> None:
    npi = {"system": "http://hl7.org/fhir/sid/us-npi", "value": "1234567893"}
    place = [{"line": ["1 Main St."], "city": "Springfield", "postalCode": "62704"}]
    old = document(
        "old",
        OLD,
        res("Practitioner", "p-old", identifier=[npi], name=[{"family": "House", "given": ["Greg"]}]),
        res("Organization", "o-old", name="Main Street Clinic", address=place),
        res(
            "Organization",
            "o-elsewhere",
            name="Main Street Clinic",
            address=[{"line": ["9 Other Rd"], "city": "Springfield", "postalCode": "62701"}],
        ),
    )
    new = document(
        "new",
        NEW,
        res("Practitioner", "p-new", identifier=[npi], name=[{"family": "House", "given": ["Gregory"]}]),
        res(
            "Organization", "o-new", name="main street clinic", address=[{**place[0], "line": ["1 Main St"]}]
        ),
    )
    result = run(old, new)
    assert outputs(result, "Practitioner") == 1
    assert outputs(result, "Organization") == 2
    [practitioner] = of_type(result, "Practitioner")
    assert len(practitioner["name"]) == 2


def test_same_document_twice_is_the_document_once() -> None:
    single = document("old", OLD, res("Condition", "a", code=cc(SNOMED, "38341003")))
    once = consolidate([single])
    twice = consolidate([single, copy.deepcopy(single)])
    assert twice.json() == once.json()
    assert twice.report.repeated_documents == (once.report.documents[0].source,)


def test_many_documents_scale_by_keys() -> None:
    documents = [
        document(
            f"doc-{n}",
            f"2023-01-{1 + n % 28:02d}T10:00:00Z",
            *(
                res(
                    "Observation",
                    f"o-{n}-{k}",
                    status="final",
                    code=cc(LOINC, f"{1000 + k % 50}-0"),
                    effectiveDateTime=f"2022-{1 + k % 12:02d}-{1 + k % 28:02d}T08:00:00Z",
                    valueQuantity={"value": k % 7, "code": "1"},
                )
                for k in range(400)
            ),
        )
        for n in range(10)
    ]
    result = consolidate(documents)
    assert result.report.counts["Observation"].occurrences == 4000
    assert result.report.counts["Observation"].output == 400
    assert result.ms < 20_000


def test_rejects_what_is_not_a_bundle() -> None:
    with pytest.raises(ValueError, match="not a Bundle"):
        consolidate([{"resourceType": "Patient", "id": "x"}])


# --- the command line --------------------------------------------------------------------------------------


def test_cli_consolidates_to_stdout_and_out_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    files = [str(FOLDER / "hospital.xml"), str(FOLDER / "clinic.xml")]
    assert main(["convert", *files, "--consolidate", "--strict"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 1
    printed = orjson.loads(out[0])
    assert printed["type"] == "collection"
    Bundle.model_validate(printed)

    folder = tmp_path / "out"
    assert main(["convert", *reversed(files), "--consolidate", "--stats", "--out", str(folder)]) == 0
    lines = [orjson.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [line.get("file") for line in lines[:2]] == list(reversed(files))
    summary = lines[2]
    assert summary["consolidated"] is True
    assert (summary["documents"], summary["resources_in"], summary["resources"]) == (2, 25, 20)
    assert summary["merged"] == 5
    assert summary["conflicts"] >= 2
    assert orjson.loads((folder / "consolidated.json").read_bytes()) == printed
    report = orjson.loads((folder / "consolidation-report.json").read_bytes())
    assert report["summary"]["merged"] == 5
    assert sorted(p.name for p in folder.iterdir()) == ["consolidated.json", "consolidation-report.json"]


def test_cli_consolidate_with_an_unreadable_input(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    missing = tmp_path / "missing.xml"
    assert main(["convert", str(FOLDER / "clinic.xml"), str(missing), "--consolidate", "--stats"]) == 1
    captured = capsys.readouterr()
    assert orjson.loads(captured.out)["resourceType"] == "Bundle"
    assert "cannot read" in captured.err
    assert main(["convert", str(missing), "--consolidate"]) == 1
    assert "no readable input" in capsys.readouterr().err


# --- the public corpus: several documents of one product folder ---------------------------------------------


def test_corpus_documents_of_one_product_consolidate(shared_dir: Path) -> None:
    folder = shared_dir / "corpus" / "ccda" / "onc_certification_samples" / "Meditech Magic"
    files = sorted(p for p in folder.glob("*.xml") if "Larson" in p.name) if folder.is_dir() else []
    if len(files) < 2:
        pytest.skip(f"{folder} has not the sample documents")
    converted = [convert_ccda(p.read_bytes(), source_name=p.name) for p in files]
    result = consolidate(converted, strict=True)
    check(result, [c.bundle for c in converted])
    assert len(of_type(result, "Patient")) == 1
    assert len(of_type(result, "Composition")) == len(files)
    assert result.report.resources_out < result.report.resources_in
    assert result.report.merges
    assert consolidate(list(reversed(converted))).json() == result.json()
