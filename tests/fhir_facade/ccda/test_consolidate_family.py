"""Consolidation of FamilyMemberHistory across documents: one resource per relative, conditions merged
without duplicates, conflicts reported, relatives of one document kept apart, sources and Provenance kept.
Every input is a small C-CDA document converted strictly; every consolidation is checked as in
``test_consolidate`` (R4B-valid, references resolved, nothing lost, sources listed, order-independent)."""

from __future__ import annotations

from typing import Any

from fhir_facade.ccda.consolidate import Consolidation, consolidate
from fhir_facade.ccda.convert import convert_ccda
from tests.fhir_facade.ccda.family_fixtures import (
    SECTION,
    SNOMED,
    age,
    death,
    document,
    observation,
    organizer,
    relative,
)
from tests.fhir_facade.ccda.helpers import resources
from tests.fhir_facade.ccda.test_consolidate import check, sources_of

Json = dict[str, Any]
OLD = "20230110100000+0000"
NEW = "20240110100000+0000"
ICD10 = "http://hl7.org/fhir/sid/icd-10-cm"


def _doc(key: str, when: str, *entries: str) -> Json:
    return convert_ccda(document(SECTION + "".join(entries), key=key, when=when), strict=True).bundle


def _run(*documents: Json) -> Consolidation:
    result = consolidate(list(documents), strict=True)
    check(result, list(documents))
    assert consolidate(list(reversed(documents))).json() == result.json()
    return result


def _histories(result: Consolidation) -> list[Json]:
    return resources(result.bundle, "FamilyMemberHistory")


def _codes(history: Json) -> list[str]:
    return sorted(c["code"]["coding"][0]["code"] for c in history.get("condition", ()))


def _person(name: str = "", born: str = "", ident: str = "") -> str:
    found = f'<sdtc:id root="1.2.3.77" extension="{ident}"/>' if ident else ""
    found += f"<name><given>{name}</given></name>" if name else ""
    return found + (f'<birthTime value="{born}"/>' if born else "")


def _mi(*, icd: bool = False, years: str = "57") -> str:
    translation = '<translation code="I21.9" codeSystem="2.16.840.1.113883.6.90"/>' if icd else ""
    value = (
        '<value xsi:type="CD" code="22298006" codeSystem="2.16.840.1.113883.6.96" displayName="MI">'
        f"{translation}</value>"
    )
    return observation(value, inside=death() + age(years))


def test_same_father_in_two_documents_is_one_resource_with_every_condition_once() -> None:
    father = relative("FTH", details=_person(born="1946"))
    old = _doc("clinic", OLD, organizer(_mi(), observation("38341003"), subject=father, org_id="clinic-1"))
    new = _doc(
        "hospital", NEW, organizer(_mi(icd=True), observation("44054006"), subject=father, org_id="h-7")
    )
    result = _run(old, new)
    (history,) = _histories(result)
    assert _codes(history) == ["22298006", "38341003", "44054006"]
    heart = next(c for c in history["condition"] if c["code"]["coding"][0]["code"] == "22298006")
    assert [(c["system"], c["code"]) for c in heart["code"]["coding"]] == [
        (SNOMED, "22298006"),
        (ICD10, "I21.9"),
    ]
    assert heart["contributedToDeath"] is True
    assert heart["onsetAge"]["value"] == 57
    assert sorted(i["value"] for i in history["identifier"]) == ["clinic-1", "h-7"]
    clinic, hospital = (d.source for d in result.report.documents)
    assert sources_of(history) == [clinic, hospital]
    assert history["meta"]["source"] == "urn:uuid:" + hospital
    for provenance in resources(result.bundle, "Provenance"):  # each document's Provenance names it
        assert {"reference": "urn:uuid:" + history["id"]} in provenance["target"]
    (merge,) = [m for m in result.report.merges if m.resource_type == "FamilyMemberHistory"]
    assert len(merge.members) == 2
    counts = result.report.counts["FamilyMemberHistory"]
    assert (counts.occurrences, counts.output) == (2, 1)
    assert [c for c in result.report.conflicts if c.resource_type == "FamilyMemberHistory"] == []


def test_differing_details_of_the_same_relative_are_reported_as_conflicts() -> None:
    old = _doc(
        "clinic", OLD, organizer(_mi(years="57"), subject=relative("FTH", details=_person(born="1946")))
    )
    new = _doc(
        "hospital", NEW, organizer(_mi(years="58"), subject=relative("FTH", details=_person(born="19460502")))
    )
    result = _run(old, new)
    (history,) = _histories(result)
    assert history["bornDate"] == "1946-05-02"  # the newest document's value
    assert history["condition"][0]["onsetAge"]["value"] == 58
    conflicts = {c.field: c for c in result.report.conflicts if c.resource_type == "FamilyMemberHistory"}
    assert set(conflicts) == {"bornDate", "condition(http://snomed.info/sct|22298006).onsetAge"}
    hospital = result.report.documents[1].source
    assert all(c.chosen == hospital and len(c.values) == 2 for c in conflicts.values())


def test_a_relative_without_details_joins_the_only_relative_of_that_relationship() -> None:
    old = _doc("clinic", OLD, organizer(_mi(), subject=relative("MTH", details=_person(born="1951"))))
    new = _doc("hospital", NEW, organizer(observation("38341003"), subject=relative("MTH")))
    (history,) = _histories(_run(old, new))
    assert _codes(history) == ["22298006", "38341003"]
    assert history["bornDate"] == "1951"


def test_brothers_stay_apart_and_each_joins_his_own_history() -> None:
    james = relative("BRO", details=_person("James", "1982"))
    gerald = relative("BRO", details=_person("Gerald", "1985"))
    old = _doc(
        "clinic",
        OLD,
        organizer(observation("38341003"), subject=james, org_id="j"),
        organizer(observation("195967001"), subject=gerald, org_id="g"),
    )
    new = _doc(
        "hospital",
        NEW,
        organizer(observation("44054006"), subject=relative("BRO", details=_person("Gerald")), org_id="g2"),
        organizer(
            observation("73211009"), subject=relative("BRO", details=_person(born="1982")), org_id="j2"
        ),
    )
    result = _run(old, new)
    by_name = {h["name"]: h for h in _histories(result)}
    assert set(by_name) == {"James", "Gerald"}
    assert _codes(by_name["James"]) == ["38341003", "73211009"]
    assert _codes(by_name["Gerald"]) == ["195967001", "44054006"]


def test_relatives_of_one_document_are_never_merged_and_an_ambiguous_one_stays_apart() -> None:
    # Two organizers with the same relationship and no details are two brothers (C-CDA: one organizer per
    # relative); a third brother without details in a later document could be either: kept apart, reported.
    old = _doc(
        "clinic",
        OLD,
        organizer(observation("38341003"), subject=relative("BRO"), org_id="b1"),
        organizer(observation("195967001"), subject=relative("BRO"), org_id="b2"),
    )
    new = _doc("hospital", NEW, organizer(observation("44054006"), subject=relative("BRO"), org_id="b3"))
    single = consolidate([old], strict=True)
    assert len(_histories(single)) == 2
    result = _run(old, new)
    assert len(_histories(result)) == 3
    doubts = [p for p in result.report.possible_duplicates if p.resource_type == "FamilyMemberHistory"]
    assert [len(p.ids) for p in doubts] == [3]


def test_different_birth_years_or_relative_ids_keep_relatives_apart_a_shared_id_joins_them() -> None:
    old = _doc(
        "clinic",
        OLD,
        organizer(
            observation("38341003"), subject=relative("SIS", details=_person(born="1970")), org_id="s1"
        ),
        organizer(
            observation("44054006"), subject=relative("UNCLE", details=_person(ident="u-1")), org_id="u1"
        ),
        organizer(
            observation("195967001"),
            subject=relative("AUNT", details=_person("Ann", ident="a-1")),
            org_id="a1",
        ),
    )
    new = _doc(
        "hospital",
        NEW,
        organizer(
            observation("73211009"), subject=relative("SIS", details=_person(born="1975")), org_id="s2"
        ),
        organizer(
            observation("44054006"), subject=relative("UNCLE", details=_person(ident="u-2")), org_id="u2"
        ),
        organizer(
            observation("38341003"),
            subject=relative("AUNT", details=_person("Annie", ident="a-1")),
            org_id="a2",
        ),
    )
    result = _run(old, new)
    by_relation: dict[str, list[Json]] = {}
    for history in _histories(result):
        by_relation.setdefault(history["relationship"]["coding"][0]["code"], []).append(history)
    assert {k: len(v) for k, v in by_relation.items()} == {"SIS": 2, "UNCLE": 2, "AUNT": 1}
    assert _codes(by_relation["AUNT"][0]) == ["195967001", "38341003"]
    assert any(c.field == "name" for c in result.report.conflicts)  # Ann / Annie, one aunt by her id
    doubts = {p.ids for p in result.report.possible_duplicates if p.resource_type == "FamilyMemberHistory"}
    assert len(doubts) == 2  # the sisters and the uncles, each pair kept apart


def test_unknown_relationships_are_never_merged_by_rule() -> None:
    no_history = observation("64572001", negated=True)
    old = _doc("clinic", OLD, organizer(no_history, subject=relative(None), org_id=""))
    new = _doc("hospital", NEW, organizer(no_history, subject=relative(None), org_id=""))
    histories = _histories(_run(old, new))
    assert len(histories) == 2
    assert all("condition" not in h for h in histories)
