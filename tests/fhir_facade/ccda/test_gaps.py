"""Conversion gaps closed on purpose, each with its own small document: health concerns that only refer to
entries converted elsewhere (problems, observations, family history organizers), recorded/authored times
from authors that cannot be identified or from the concern act, and code systems shared with the writer."""

from __future__ import annotations

from typing import Any

from fhir_facade.ccda.convert import convert_ccda
from fhir_facade.ccda.sections.health_concerns import US_CORE_CATEGORY_SYSTEM
from tests.fhir_facade.ccda import family_fixtures as family
from tests.fhir_facade.ccda.helpers import resources

Json = dict[str, Any]
_T = "2.16.840.1.113883.10.20.22."
SNOMED = "http://snomed.info/sct"


def _document(*sections: str) -> bytes:
    body = "".join(f"<component><section>{s}</section></component>" for s in sections)
    return (
        '<ClinicalDocument xmlns="urn:hl7-org:v3" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">'
        '<templateId root="2.16.840.1.113883.10.20.22.1.2" extension="2015-08-01"/>'
        '<id root="1.2.3.4" extension="gaps"/><code code="34133-9" codeSystem="2.16.840.1.113883.6.1"/>'
        '<effectiveTime value="20240301120000+0000"/>'
        '<recordTarget><patientRole><id root="1.2.3" extension="p1"/>'
        "<patient><name><given>Ann</given><family>Gap</family></name></patient></patientRole></recordTarget>"
        f"<component><structuredBody>{body}</structuredBody></component></ClinicalDocument>"
    ).encode()


def _problem(obs_id: str, code: str, *, inside: str = "", concern: str = "") -> str:
    return (
        f'<entry><act classCode="ACT" moodCode="EVN"><templateId root="{_T}4.3"/><id root="{obs_id}-c"/>'
        f'<code code="CONC" codeSystem="2.16.840.1.113883.5.6"/><statusCode code="active"/>{concern}'
        f'<entryRelationship typeCode="SUBJ"><observation classCode="OBS" moodCode="EVN">'
        f'<templateId root="{_T}4.4"/><id root="{obs_id}"/><code code="55607006" '
        f'codeSystem="2.16.840.1.113883.6.96"/><statusCode code="completed"/>{inside}'
        f'<value xsi:type="CD" code="{code}" codeSystem="2.16.840.1.113883.6.96"/>'
        "</observation></entryRelationship></act></entry>"
    )


_PROBLEMS = f'<templateId root="{_T}2.5.1"/><code code="11450-4" codeSystem="2.16.840.1.113883.6.1"/>'
_SOCIAL = f'<templateId root="{_T}2.17"/><code code="29762-2" codeSystem="2.16.840.1.113883.6.1"/>'
_CONCERNS = f'<templateId root="{_T}2.58"/><code code="75310-3" codeSystem="2.16.840.1.113883.6.1"/>'


def _health_concern(*inner: str) -> str:
    relationships = "".join(f'<entryRelationship typeCode="REFR">{i}</entryRelationship>' for i in inner)
    return (
        f'<entry><act classCode="ACT" moodCode="EVN"><templateId root="{_T}4.132"/><id root="hc-1"/>'
        '<code code="75310-3" codeSystem="2.16.840.1.113883.6.1"/><statusCode code="active"/>'
        f"{relationships}</act></entry>"
    )


def _entry_reference(target: str) -> str:
    return (
        f'<act classCode="ACT" moodCode="EVN"><templateId root="{_T}4.122"/><id root="{target}"/>'
        '<code nullFlavor="NP"/><statusCode code="completed"/></act>'
    )


def _convert(data: bytes) -> tuple[Json, dict[str, tuple[int, int, int]]]:
    result = convert_ccda(data, strict=True)  # strict: every Bundle still validates against R4B
    stats = {name: (s.seen, s.converted, s.failed) for name, s in result.stats.sections.items()}
    return result.bundle, stats


def _categories(condition: Json) -> list[tuple[str, str]]:
    return [(c["coding"][0]["system"], c["coding"][0]["code"]) for c in condition["category"]]


def _section(bundle: Json, loinc: str) -> Json:
    composition = next(r for r in resources(bundle, "Composition"))
    return next(s for s in composition["section"] if s["code"]["coding"][0]["code"] == loinc)


def test_health_concern_referring_to_a_problem_links_it_instead_of_duplicating_it() -> None:
    bundle, stats = _convert(
        _document(
            _PROBLEMS + _problem("obs-1", "44054006") + _problem("obs-2", "38341003"),
            _CONCERNS + _health_concern(_entry_reference("obs-1"), _entry_reference("nowhere")),
        )
    )
    assert len(resources(bundle, "Condition")) == 2  # linked, not duplicated
    linked = next(c for c in resources(bundle, "Condition") if c["code"]["coding"][0]["code"] == "44054006")
    other = next(c for c in resources(bundle, "Condition") if c["code"]["coding"][0]["code"] == "38341003")
    problem_list = ("http://terminology.hl7.org/CodeSystem/condition-category", "problem-list-item")
    assert _categories(linked) == [problem_list, (US_CORE_CATEGORY_SYSTEM, "health-concern")]
    assert _categories(other) == [problem_list]
    assert _section(bundle, "75310-3")["entry"] == [{"reference": "urn:uuid:" + linked["id"]}]
    assert stats["health concerns"] == (1, 1, 0)


def test_health_concern_referring_to_an_observation_cites_it_as_evidence() -> None:
    smoking = (
        f'<observation classCode="OBS" moodCode="EVN"><templateId root="{_T}4.78"/><id root="smoke-1"/>'
        '<code code="72166-2" codeSystem="2.16.840.1.113883.6.1"/><statusCode code="completed"/>'
        '<effectiveTime value="20240101"/>'
        '<value xsi:type="CD" code="449868002" codeSystem="2.16.840.1.113883.6.96" displayName="Smoker"/>'
        "</observation>"
    )
    bundle, stats = _convert(
        _document(
            _SOCIAL + f"<entry>{smoking}</entry>",
            _CONCERNS + _health_concern(_entry_reference("smoke-1")),
        )
    )
    observation = next(
        o for o in resources(bundle, "Observation") if o["code"]["coding"][0]["code"] == "72166-2"
    )
    (concern,) = resources(bundle, "Condition")
    assert _categories(concern) == [(US_CORE_CATEGORY_SYSTEM, "health-concern")]
    assert concern["code"] == observation["valueCodeableConcept"]
    assert concern["evidence"] == [{"detail": [{"reference": "urn:uuid:" + observation["id"]}]}]
    assert stats["health concerns"] == (1, 1, 0)


def test_health_concern_with_nothing_to_link_is_still_not_converted() -> None:
    bundle, stats = _convert(_document(_CONCERNS + _health_concern(_entry_reference("nowhere"))))
    assert resources(bundle, "Condition") == []
    assert stats["health concerns"] == (1, 0, 0)


def test_recorded_date_from_an_unidentified_author_or_the_concern_act() -> None:
    anonymous = (
        '<author><time value="20230405"/><assignedAuthor><id nullFlavor="NI"/></assignedAuthor></author>'
    )
    began = '<effectiveTime><low value="20220110"/></effectiveTime>'
    bundle, _ = _convert(
        _document(
            _PROBLEMS
            + _problem("obs-1", "44054006", inside=anonymous)  # the observation's own author time
            + _problem("obs-2", "38341003", concern=began)  # nothing on the observation: the concern began
            + _problem("obs-3", "195967001")  # no time anywhere: no recordedDate
        )
    )
    recorded = {c["code"]["coding"][0]["code"]: c.get("recordedDate") for c in resources(bundle, "Condition")}
    assert recorded == {"44054006": "2023-04-05", "38341003": "2022-01-10", "195967001": None}


def test_authored_on_from_an_author_without_id() -> None:
    order = (
        f'<entry><substanceAdministration classCode="SBADM" moodCode="INT"><templateId root="{_T}4.16"/>'
        '<id root="med-1"/><statusCode code="active"/>'
        '<consumable><manufacturedProduct><templateId root="2.16.840.1.113883.10.20.22.4.23"/>'
        '<manufacturedMaterial><code code="197361" codeSystem="2.16.840.1.113883.6.88"/>'
        "</manufacturedMaterial>"
        "</manufacturedProduct></consumable>"
        '<author><time value="20240202"/><assignedAuthor><id nullFlavor="UNK"/></assignedAuthor></author>'
        "</substanceAdministration></entry>"
    )
    medications = f'<templateId root="{_T}2.1.1"/><code code="10160-0" codeSystem="2.16.840.1.113883.6.1"/>'
    bundle, _ = _convert(_document(medications + order))
    (request,) = resources(bundle, "MedicationRequest")
    assert request["authoredOn"] == "2024-02-02"
    assert "requester" not in request  # nobody to name


# --- health concerns about a family history (a Family History Organizer, now a FamilyMemberHistory) ---------


def _family_concern(*inner: str) -> str:
    relationships = "".join(f'<entryRelationship typeCode="REFR">{i}</entryRelationship>' for i in inner)
    return (
        f'<entry><act classCode="ACT" moodCode="EVN"><templateId root="{_T}4.132"/><id root="hc-fh"/>'
        '<code code="75310-3" codeSystem="2.16.840.1.113883.6.1"/><statusCode code="active"/>'
        f"{relationships}</act></entry>"
    )


def _reference_to(extension: str) -> str:
    return (
        f'<act classCode="ACT" moodCode="EVN"><templateId root="{_T}4.122"/>'
        f'<id root="1.2.3.99" extension="{extension}"/><code nullFlavor="NP"/>'
        '<statusCode code="completed"/></act>'
    )


def _mother(org_id: str, obs_id: str, *, born: str = "1951") -> str:
    details = (
        f'<administrativeGenderCode code="F" codeSystem="2.16.840.1.113883.5.1"/><birthTime value="{born}"/>'
    )
    value = (
        '<value xsi:type="CD" code="13644009" codeSystem="2.16.840.1.113883.6.96" '
        'displayName="Hypercholesterolemia"/>'
    )
    found = family.organizer(
        family.observation(value, obs_id=obs_id),
        subject=family.relative("MTH", details=details, display="Mother"),
        org_id=org_id,
    )
    return found.removeprefix('<entry typeCode="DRIV">').removesuffix("</entry>")


def _concern_of(bundle: Json) -> Json:
    (concern,) = resources(bundle, "Condition")
    assert _categories(concern) == [(US_CORE_CATEGORY_SYSTEM, "health-concern")]
    return concern


def _family_of_clinical_finding(concern: Json) -> str:
    coding = concern["code"]["coding"]
    assert coding == [
        {"system": SNOMED, "code": "416471007", "display": "Family history of clinical finding"}
    ]
    return str(concern["code"]["text"])


def test_health_concern_referring_to_a_family_history_organizer_links_the_family_member_history() -> None:
    result = convert_ccda(
        family.document(
            family.SECTION + f'<entry typeCode="DRIV">{_mother("org-1", "2.25.501")}</entry>',
            _CONCERNS + _family_concern(_reference_to("org-1")),
        ),
        strict=True,
    )
    (history,) = resources(result.bundle, "FamilyMemberHistory")
    concern = _concern_of(result.bundle)
    assert _family_of_clinical_finding(concern) == "Family history: Mother (Hypercholesterolemia)"
    assert concern["evidence"] == [{"detail": [{"reference": "urn:uuid:" + history["id"]}]}]
    assert _section(result.bundle, "75310-3")["entry"] == [{"reference": "urn:uuid:" + concern["id"]}]
    assert result.stats.sections["health concerns"].converted == 1


def test_health_concern_referring_to_a_family_history_observation_links_its_relative() -> None:
    reference = (
        f'<act classCode="ACT" moodCode="EVN"><templateId root="{_T}4.122"/><id root="2.25.501"/>'
        '<code nullFlavor="NP"/><statusCode code="completed"/></act>'
    )
    result = convert_ccda(
        family.document(
            family.SECTION + f'<entry typeCode="DRIV">{_mother("org-1", "2.25.501")}</entry>',
            _CONCERNS + _family_concern(reference),
        ),
        strict=True,
    )
    (history,) = resources(result.bundle, "FamilyMemberHistory")
    assert _concern_of(result.bundle)["evidence"][0]["detail"] == [{"reference": "urn:uuid:" + history["id"]}]


def test_health_concern_holding_a_copy_of_an_organizer_links_the_relative_already_converted() -> None:
    # The copy carries ids of its own (as some EHRs send it): the same relative is found by relationship and
    # details, so no second FamilyMemberHistory is made.
    result = convert_ccda(
        family.document(
            family.SECTION + f'<entry typeCode="DRIV">{_mother("org-1", "2.25.501")}</entry>',
            _CONCERNS + _family_concern(_mother("copy-9", "2.25.999")),
        ),
        strict=True,
    )
    (history,) = resources(result.bundle, "FamilyMemberHistory")
    assert history["identifier"][0]["value"] == "org-1"
    assert _concern_of(result.bundle)["evidence"][0]["detail"] == [{"reference": "urn:uuid:" + history["id"]}]


def test_health_concern_holding_a_copy_of_an_unknown_relative_converts_the_copy() -> None:
    result = convert_ccda(
        family.document(
            family.SECTION + f'<entry typeCode="DRIV">{_mother("org-1", "2.25.501")}</entry>',
            _CONCERNS + _family_concern(_mother("copy-9", "2.25.999", born="1931")),  # another mother
        ),
        strict=True,
    )
    histories = {h["identifier"][0]["value"]: h for h in resources(result.bundle, "FamilyMemberHistory")}
    assert set(histories) == {"org-1", "copy-9"}
    evidence = _concern_of(result.bundle)["evidence"][0]["detail"]
    assert evidence == [{"reference": "urn:uuid:" + histories["copy-9"]["id"]}]
    provenance = next(iter(resources(result.bundle, "Provenance")))
    assert {"reference": "urn:uuid:" + histories["copy-9"]["id"]} in provenance["target"]


def test_health_concern_copy_among_two_alike_relatives_links_the_one_with_its_conditions() -> None:
    def brother(org_id: str, code: str) -> str:
        return family.organizer(family.observation(code), subject=family.relative("BRO"), org_id=org_id)

    copy = brother("copy-9", "38341003").removeprefix('<entry typeCode="DRIV">').removesuffix("</entry>")
    result = convert_ccda(
        family.document(
            family.SECTION + brother("bro-1", "44054006") + brother("bro-2", "38341003"),
            _CONCERNS + _family_concern(copy),
        ),
        strict=True,
    )
    histories = {h["identifier"][0]["value"]: h for h in resources(result.bundle, "FamilyMemberHistory")}
    assert set(histories) == {"bro-1", "bro-2"}
    evidence = _concern_of(result.bundle)["evidence"][0]["detail"]
    assert evidence == [{"reference": "urn:uuid:" + histories["bro-2"]["id"]}]
