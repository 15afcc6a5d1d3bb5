"""Social history, plan of treatment, goals, health concerns, care teams, functional and mental status,
medical equipment, payers, notes and the narrative-only fallback (synthetic_other_sections.xml)."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from fhir.resources.R4B.bundle import Bundle

from fhir_facade.ccda.convert import convert_ccda
from fhir_facade.ccda.sections import Section, find_spec
from tests.fhir_facade.ccda.helpers import fixture_bytes, make_ctx, only, resources

Json = dict[str, Any]
US_CORE_CATEGORY = "http://hl7.org/fhir/us/core/CodeSystem/us-core-category"


@pytest.fixture(scope="module")
def converted() -> Any:
    return convert_ccda(fixture_bytes("synthetic_other_sections.xml"), strict=True)


@pytest.fixture(scope="module")
def bundle(converted: Any) -> Json:
    return converted.bundle  # type: ignore[no-any-return]


def _by_identifier(bundle: Json, resource_type: str, value: str) -> Json:
    found = [
        r
        for r in resources(bundle, resource_type)
        if any(i["value"] == value for i in r.get("identifier", ()))
    ]
    assert len(found) == 1, f"{len(found)} {resource_type} with identifier {value}"
    return found[0]


def _codes(concepts: list[Json]) -> list[str]:
    return [str(c["coding"][0]["code"]) for c in concepts]


def _ref(resource: Json) -> str:
    return "urn:uuid:" + str(resource["id"])


def _section(bundle: Json, title: str) -> Json:
    composition = only(bundle, "Composition")
    return next(s for s in composition["section"] if s["title"] == title)


def test_every_resource_validates_and_stats_count_the_sections(converted: Any) -> None:
    Bundle.model_validate(converted.bundle)
    stats = {name: (s.seen, s.converted, s.failed) for name, s in converted.stats.sections.items()}
    assert stats["social history"] == (6, 6, 0)  # birth sex counts: the Patient carries it
    assert stats["plan of treatment"] == (6, 5, 0)  # the handoff (an event) is not a plan
    assert stats["health concerns"] == (3, 2, 0)  # an act with no observation and no text makes nothing
    assert stats["medical equipment"] == (3, 2, 0)  # a supply without a product makes nothing
    assert stats["notes"] == (3, 3, 0)  # two in the Notes section, one in a section without a converter
    for name in ("goals", "care teams", "payers"):
        assert stats[name] == (1, 1, 0)
    assert stats["functional status"] == (3, 3, 0)
    assert stats["mental status"] == (2, 2, 0)


def test_smoking_status(bundle: Json) -> None:
    current = _by_identifier(bundle, "Observation", "smoke-1")
    assert current["code"]["coding"] == [
        {"system": "http://loinc.org", "code": "72166-2", "display": "Tobacco smoking status"}
    ]
    assert current["category"][0]["coding"][0]["code"] == "social-history"
    assert current["valueCodeableConcept"]["coding"][0]["code"] == "8517006"
    assert (current["status"], current["effectiveDateTime"]) == ("final", "2024-03-01")
    older = _by_identifier(bundle, "Observation", "smoke-r11")  # R1.1: code ASSERTION, low only
    assert older["code"]["coding"][0]["code"] == "72166-2"
    assert older["effectiveDateTime"] == "2020-01-01"
    assert "effectivePeriod" not in older


def test_tobacco_use_alcohol_and_pregnancy(bundle: Json) -> None:
    tobacco = _by_identifier(bundle, "Observation", "tobacco-1")
    assert tobacco["code"]["coding"][0]["code"] == "11367-0"  # not a smoking status: keeps its own code
    assert tobacco["effectivePeriod"] == {"start": "2005-01-01", "end": "2015-06-01"}
    alcohol = _by_identifier(bundle, "Observation", "alcohol-1")
    assert alcohol["valueQuantity"]["value"] == 2
    assert alcohol["category"][0]["coding"][0]["code"] == "social-history"
    pregnancy = _by_identifier(bundle, "Observation", "preg-1")
    assert pregnancy["code"]["coding"][0]["code"] == "82810-3"
    assert pregnancy["valueCodeableConcept"]["coding"][0]["code"] == "77386006"
    assert pregnancy["component"] == [
        {
            "code": {
                "coding": [
                    {"system": "http://loinc.org", "code": "11778-8", "display": "Delivery date Estimated"}
                ]
            },
            "valueDateTime": "2024-10-15",
        }
    ]


def test_birth_sex_is_the_patient_extension_not_an_observation(bundle: Json) -> None:
    patient = only(bundle, "Patient")
    assert {
        "url": "http://hl7.org/fhir/us/core/StructureDefinition/us-core-birthsex",
        "valueCode": "F",
    } in patient["extension"]
    assert not [o for o in resources(bundle, "Observation") if o["code"]["coding"][0]["code"] == "76689-9"]
    assert len(_section(bundle, "Social History")["entry"]) == 5


def test_plan_of_treatment_requests(bundle: Json) -> None:
    procedure = _by_identifier(bundle, "ServiceRequest", "plan-proc-1")
    assert (procedure["status"], procedure["intent"], procedure["priority"]) == ("active", "order", "urgent")
    assert procedure["code"]["coding"][0]["code"] == "73761001"
    assert procedure["occurrenceDateTime"] == "2024-06-01"
    assert procedure["authoredOn"] == "2024-04-01T09:00:00-05:00"
    assert _codes(procedure["reasonCode"]) == ["428283002"]
    assert _codes(procedure["bodySite"]) == ["71854001"]
    assert procedure["requester"]["reference"].startswith("urn:uuid:")
    encounter = _by_identifier(bundle, "ServiceRequest", "plan-enc-1")
    assert encounter["intent"] == "plan"
    assert encounter["occurrencePeriod"] == {"start": "2024-07-01", "end": "2024-07-31"}
    assert not resources(bundle, "Appointment")
    medication = _by_identifier(bundle, "MedicationRequest", "plan-med-1")
    assert (medication["intent"], medication["status"]) == ("plan", "active")
    instruction = only(bundle, "CommunicationRequest")
    assert instruction["payload"] == [{"contentString": "Walk thirty minutes a day."}]
    assert _codes(instruction["category"]) == ["409073007"]
    assert instruction["recipient"] == [only(bundle, "Composition")["subject"]]
    planned_goal = _by_identifier(bundle, "Goal", "plan-goal-1")
    assert planned_goal["description"]["coding"][0]["code"] == "289169006"


def test_goal(bundle: Json) -> None:
    goal = _by_identifier(bundle, "Goal", "goal-1")
    assert goal["lifecycleStatus"] == "active"
    assert goal["description"]["coding"][0]["code"] == "29463-7"
    assert goal["description"]["text"] == "Body weight"
    assert goal["startDate"] == "2024-04-01"
    assert goal["target"] == [
        {
            "measure": goal["description"],
            "detailRange": {
                "high": {"value": 70, "unit": "kg", "system": "http://unitsofmeasure.org", "code": "kg"}
            },
            "dueDate": "2024-12-31",
        }
    ]
    assert goal["priority"]["coding"][0]["code"] == "394849002"
    assert goal["statusDate"] == "2024-04-01"
    assert "expressedBy" in goal


def test_health_concerns(bundle: Json) -> None:
    stress = _by_identifier(bundle, "Condition", "hc-obs-1")
    assert stress["category"][0]["coding"][0]["code"] == "health-concern"
    assert stress["code"]["coding"][0]["code"] == "73595000"
    assert stress["onsetDateTime"] == "2024-02-15"
    falls = _by_identifier(bundle, "Condition", "hc-2")  # only narrative: the act itself
    assert falls["code"] == {"text": "Worried about falls at home"}
    assert falls["clinicalStatus"]["coding"][0]["code"] == "active"
    assert not [c for c in resources(bundle, "Condition") if c["identifier"][0]["value"] == "hc-empty"]


def test_care_team(bundle: Json) -> None:
    team = only(bundle, "CareTeam")
    assert (team["status"], team["name"], team["period"]) == (
        "active",
        "Primary care team",
        {"start": "2023-01-01"},
    )
    assert _codes(team["category"]) == ["LA27976-2"]
    lead, nurse = team["participant"]  # the lead (PPRF) first although listed second
    assert lead["role"][0]["coding"][0]["code"] == "PCP"
    assert lead["period"] == {"start": "2023-01-01"}
    practitioners = {_ref(p): p for p in resources(bundle, "Practitioner")}
    assert practitioners[lead["member"]["reference"]]["name"][0]["family"] == "Doctorly"
    assert practitioners[nurse["member"]["reference"]]["name"][0]["family"] == "Nursewell"
    assert nurse["role"][0]["extension"][0]["valueCode"] == "unknown"  # US Core requires a role


def test_functional_status(bundle: Json) -> None:
    panel = _by_identifier(bundle, "Observation", "fs-org-1")
    member = _by_identifier(bundle, "Observation", "fs-obs-1")
    assert panel["hasMember"] == [{"reference": _ref(member)}]
    assert panel["code"]["coding"][0]["code"] == "d4"
    for observation in (panel, member):
        assert observation["category"][0]["coding"][0] == {
            "system": US_CORE_CATEGORY,
            "code": "functional-status",
            "display": "Functional Status",
        }
    assert member["valueCodeableConcept"]["coding"][0]["code"] == "165245003"
    problem = _by_identifier(bundle, "Condition", "fs-prob-1")  # R1.1 functional status problem
    assert _codes(problem["category"]) == ["problem-list-item", "functional-status"]
    assert problem["code"]["coding"][0]["code"] == "162891007"
    cane = _by_identifier(bundle, "DeviceUseStatement", "fs-cane")
    device = next(d for d in resources(bundle, "Device") if _ref(d) == cane["device"]["reference"])
    assert device["type"]["coding"][0]["code"] == "87405001"


def test_mental_status(bundle: Json) -> None:
    oriented = _by_identifier(bundle, "Observation", "ms-1")
    assert _codes(oriented["category"]) == ["cognitive-status"]
    assert oriented["category"][0]["coding"][0]["system"] == US_CORE_CATEGORY
    phq = _by_identifier(bundle, "Observation", "ms-phq")
    assert _codes(phq["category"]) == ["cognitive-status", "survey"]
    assert phq["valueInteger"] == 4
    assert [c["code"]["coding"][0]["code"] for c in phq["component"]] == ["44250-9"]
    assert phq["component"][0]["valueCodeableConcept"]["coding"][0]["code"] == "LA6569-3"


def test_medical_equipment(bundle: Json) -> None:
    use = _by_identifier(bundle, "DeviceUseStatement", "sup-1")
    assert (use["status"], use["timingDateTime" if "timingDateTime" in use else "timingPeriod"]) == (
        "active",
        {"start": "2022-01-01"},
    )
    wheelchair = next(d for d in resources(bundle, "Device") if _ref(d) == use["device"]["reference"])
    assert wheelchair["udiCarrier"] == [{"carrierHRF": "(01)00000000000000(17)300101"}]
    assert wheelchair["manufacturer"] == "Imaginary Mobility Inc"
    assert wheelchair["patient"] == use["subject"]
    implant = _by_identifier(bundle, "Procedure", "proc-1")
    assert (implant["status"], implant["performedDateTime"]) == ("completed", "2021-05-05")
    pacemaker = _by_identifier(bundle, "Device", "pacer-1")
    assert implant["focalDevice"] == [{"manipulated": {"reference": _ref(pacemaker)}}]
    assert pacemaker["type"]["coding"][0]["code"] == "14106009"


def test_coverage(bundle: Json) -> None:
    coverage = only(bundle, "Coverage")
    patient = only(bundle, "Patient")
    assert coverage["status"] == "active"
    assert coverage["beneficiary"] == coverage["subscriber"] == {"reference": _ref(patient)}
    assert coverage["subscriberId"] == "SUB-42"
    assert coverage["relationship"]["coding"][0]["code"] == "self"
    assert coverage["identifier"][0]["value"] == "MEMBER-42"
    assert coverage["identifier"][0]["type"]["coding"][0]["code"] == "MB"
    assert coverage["period"] == {"start": "2024-01-01", "end": "2024-12-31"}
    assert coverage["class"][0]["value"] == "G-1234"
    assert coverage["order"] == 1
    assert coverage["type"]["coding"][0]["code"] == "PPO"
    payor = next(o for o in resources(bundle, "Organization") if _ref(o) == coverage["payor"][0]["reference"])
    assert payor["name"] == "Imaginary Health Plan"


def test_notes(bundle: Json) -> None:
    note = _by_identifier(bundle, "DocumentReference", "note-1")
    assert note["category"][0]["coding"][0]["code"] == "clinical-note"
    assert [c["code"] for c in note["type"]["coding"]] == ["34109-9", "11506-3"]
    assert note["docStatus"] == "final"
    assert note["date"] == "2024-04-01T09:15:00-05:00"
    attachment = note["content"][0]["attachment"]
    assert attachment["contentType"] == "text/plain"
    assert base64.b64decode(attachment["data"]).decode() == "Patient doing well; continue plan."
    encounter = only(bundle, "Encounter")
    assert note["context"] == {
        "encounter": [{"reference": _ref(encounter)}],
        "period": {"start": "2024-04-01"},
    }
    rtf = _by_identifier(bundle, "DocumentReference", "note-2")
    assert rtf["content"][0]["attachment"]["contentType"] == "text/rtf"
    assert base64.b64decode(rtf["content"][0]["attachment"]["data"]) == b"{\\rtf1 Note}"
    loose = _by_identifier(bundle, "DocumentReference", "note-3")  # a note in a section without a converter
    assert _section(bundle, "Past Illness")["entry"] == [{"reference": _ref(loose)}]


def test_narrative_only_section_becomes_a_document_reference(bundle: Json) -> None:
    section = _section(bundle, "Reason for Visit")
    assert "text" in section  # the Composition keeps the narrative
    (entry,) = section["entry"]
    document = next(d for d in resources(bundle, "DocumentReference") if _ref(d) == entry["reference"])
    assert document["type"]["coding"][0]["code"] == "29299-5"
    assert document["description"] == "Reason for Visit"
    attachment = document["content"][0]["attachment"]
    assert attachment["contentType"] == "text/html"
    assert base64.b64decode(attachment["data"]).decode() == section["text"]["div"]
    assert document["context"]["encounter"] == [{"reference": _ref(only(bundle, "Encounter"))}]
    empty = _section(bundle, "Chief Complaint")  # no narrative: nothing to keep
    assert "entry" not in empty
    assert "entry" in _section(bundle, "Goals")  # sections with entries get no narrative copy
    narrative_copies = [
        d
        for d in resources(bundle, "DocumentReference")
        if d["content"][0]["attachment"]["contentType"] == "text/html"
    ]
    assert len(narrative_copies) == 1


def test_registry_knows_the_new_sections() -> None:
    cases = {
        "2.16.840.1.113883.10.20.22.2.17": "social history",
        "2.16.840.1.113883.10.20.22.2.10": "plan of treatment",
        "2.16.840.1.113883.10.20.22.2.60": "goals",
        "2.16.840.1.113883.10.20.22.2.58": "health concerns",
        "2.16.840.1.113883.10.20.22.2.500": "care teams",
        "2.16.840.1.113883.10.20.22.2.14": "functional status",
        "2.16.840.1.113883.10.20.22.2.56": "mental status",
        "2.16.840.1.113883.10.20.22.2.23": "medical equipment",
        "2.16.840.1.113883.10.20.22.2.18": "payers",
        "2.16.840.1.113883.10.20.22.2.65": "notes",
    }
    for root, name in cases.items():
        spec = find_spec(Section(None, (root,), None))  # type: ignore[arg-type]
        assert spec is not None
        assert spec.name == name
    by_loinc = find_spec(Section(None, (), "18776-5"))  # type: ignore[arg-type]
    assert by_loinc is not None
    assert by_loinc.name == "plan of treatment"


def _document(section: str) -> bytes:
    return (
        '<ClinicalDocument xmlns="urn:hl7-org:v3" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">'
        '<id root="2.25.31337"/><code code="34133-9" codeSystem="2.16.840.1.113883.6.1"/>'
        '<effectiveTime value="20240101"/><recordTarget><patientRole><id root="2.25.1" extension="p"/>'
        "<patient><name><given>Nomen</given><family>Nescio</family></name></patient></patientRole>"
        "</recordTarget>"
        f"<component><structuredBody><component>{section}</component></structuredBody></component>"
        "</ClinicalDocument>"
    ).encode()


def test_negative_cases_make_nothing_and_stay_valid() -> None:
    section = (
        '<section><templateId root="2.16.840.1.113883.10.20.22.2.18"/><title>Payers</title>'
        '<entry><act classCode="ACT" moodCode="EVN"><id nullFlavor="UNK"/><code nullFlavor="UNK"/></act>'
        "</entry>"
        "</section>"
    )
    result = convert_ccda(_document(section), strict=True)
    assert not resources(result.bundle, "Coverage")
    assert result.stats.sections["payers"].seen == 1
    assert result.stats.sections["payers"].converted == 0
    # a section declared absent (nullFlavor) keeps no narrative copy
    absent = (
        '<section nullFlavor="NI"><templateId root="2.16.840.1.113883.10.20.22.2.12"/><title>Reason</title>'
        "<text>No information</text></section>"
    )
    result = convert_ccda(_document(absent), strict=True)
    assert [d for d in resources(result.bundle, "DocumentReference") if "description" in d] == []


def test_a_failing_entry_is_reported_and_the_rest_converts(monkeypatch: pytest.MonkeyPatch) -> None:
    from fhir_facade.ccda.sections import goals

    def boom(*_: object) -> Json:
        raise RuntimeError("synthetic failure")

    monkeypatch.setattr(goals, "goal", boom)
    result = convert_ccda(fixture_bytes("synthetic_other_sections.xml"))
    assert result.stats.sections["goals"].failed == 1
    assert any(i.code == "exception" and "goals" in i.message for i in result.issues)
    assert resources(result.bundle, "CareTeam")


def test_pregnancy_without_delivery_date_and_smoking_by_value() -> None:
    from fhir_facade.ccda.sections.social_history import is_smoking_status

    _, element = make_ctx(
        '<observation classCode="OBS" moodCode="EVN"><templateId root="2.16.840.1.113883.10.20.1.33"/>'
        '<code code="229819007" codeSystem="2.16.840.1.113883.6.96"/>'
        '<value xsi:type="CD" code="449868002" codeSystem="2.16.840.1.113883.6.96"/></observation>'
    )
    assert is_smoking_status(element)
    _, other = make_ctx(
        '<observation classCode="OBS" moodCode="EVN">'
        '<code code="229819007" codeSystem="2.16.840.1.113883.6.96"/>'
        '<value xsi:type="CD" code="65568007" codeSystem="2.16.840.1.113883.6.96"/></observation>'
    )
    assert not is_smoking_status(other)
