"""The matcher on realistic variations (it must find them) and near misses (it must not match them)."""

from __future__ import annotations

import datetime as dt

import pytest

from gateway.matching import (
    Ambiguous,
    Candidate,
    Match,
    MatchConfig,
    NoMatch,
    decide,
    normalize_demographics,
    score_candidate,
)
from xca.iti55 import (
    Address,
    AdministrativeGender,
    Demographics,
    Ii,
    PartialDate,
    PersonName,
    RequestedAttribute,
    Telecom,
)

CONFIG = MatchConfig()
BIRTH = dt.date(1961, 3, 9)
HOME = Address(("4821 North Evergreen Avenue", "Apt 3B"), "Rockford", "IL", "61101-2231", "US", "H")


def person(
    given: str = "William Henry",
    family: str = "O'Brien",
    *,
    birth: dt.date | None = BIRTH,
    gender: AdministrativeGender | None = AdministrativeGender.MALE,
    addresses: tuple[Address, ...] = (HOME,),
    phone: str | None = "tel:+1-815-555-0187",
    more_names: tuple[PersonName, ...] = (),
    ssn: str | None = None,
) -> Demographics:
    return Demographics(
        names=(PersonName(given=tuple(given.split()), family=family, suffix=("Jr.",)), *more_names),
        gender=gender,
        birth_date=birth,
        addresses=addresses,
        telecoms=(Telecom(phone),) if phone else (),
        identifiers=(Ii("2.16.840.1.113883.4.1", ssn),) if ssn else (),
    )


STORED = person()


def query(**parts: object) -> Demographics:
    values: dict[str, object] = {
        "names": (PersonName(given=("William",), family="O'Brien"),),
        "birth_date": BIRTH,
    }
    values.update(parts)
    return Demographics(**values)  # type: ignore[arg-type]


def result(asked: Demographics, *stored: Demographics) -> Match[int] | NoMatch | Ambiguous:
    candidates = [Candidate(i, normalize_demographics(d)) for i, d in enumerate(stored)]
    return decide(normalize_demographics(asked), candidates, CONFIG)


FOUND = {
    "exact name and birth date": query(),
    "case and punctuation": query(names=(PersonName(given=("WILLIAM",), family="obrien"),)),
    "nickname": query(names=(PersonName(given=("Bill",), family="O Brien"),)),
    "typo in family name": query(names=(PersonName(given=("William",), family="O'Brein"),),
                                 addresses=(Address(("4821 N Evergreen Ave",), postal_code="61101"),)),
    "swapped given and family": query(names=(PersonName(given=("OBrien",), family="William"),),
                                      gender=AdministrativeGender.MALE),
    "middle name and missing suffix": query(names=(PersonName(given=("William", "H"), family="O'Brien"),)),
    "address in other format": query(
        addresses=(Address(("4821 N. Evergreen Ave.", "#3B"), "ROCKFORD", "il", "61101"),),
        telecoms=(Telecom("tel:(815) 555-0187"),),
    ),
    "birth year only, with address": query(birth_date=None, birth_date_partial=PartialDate(1961, 3),
                                           addresses=(HOME,), telecoms=(Telecom("tel:815.555.0187"),)),
}  # fmt: skip


@pytest.mark.parametrize("name", list(FOUND))
def test_realistic_variations_are_found(name: str) -> None:
    found = result(FOUND[name], STORED)
    assert isinstance(found, Match), found
    assert found.ref == 0
    assert CONFIG.match_threshold <= found.score <= 100


def test_maiden_name_on_record_is_found() -> None:
    married = person("Margaret", "Kowalski", gender=AdministrativeGender.FEMALE,
                     more_names=(PersonName(given=("Margaret",), family="Nowak", use="P"),))  # fmt: skip
    asked = query(names=(PersonName(given=("Peggy",), family="Nowak"),), gender=AdministrativeGender.FEMALE)
    assert isinstance(result(asked, married), Match)


def test_twin_with_other_given_name_is_not_matched() -> None:
    stored_twin = person("Thomas", "O'Brien")
    assert isinstance(result(query(), stored_twin), NoMatch)


def test_twins_are_told_apart_by_given_name_even_when_it_is_close() -> None:
    anna = person("Anna", "Quintero", gender=AdministrativeGender.FEMALE)
    hanna = person("Hanna", "Quintero", gender=AdministrativeGender.FEMALE)
    asked = query(names=(PersonName(given=("Hanna",), family="Quintero"),))
    found = result(asked, anna, hanna)
    assert isinstance(found, Match)
    assert found.ref == 1


def test_same_name_other_birth_date_is_not_matched() -> None:
    assert isinstance(result(query(birth_date=dt.date(1961, 9, 3)), STORED), NoMatch)


def test_conflicting_gender_is_not_matched() -> None:
    assert isinstance(result(query(gender=AdministrativeGender.FEMALE), STORED), NoMatch)


def test_conflicting_ssn_is_not_matched() -> None:
    stored = person(ssn="123-45-6789")
    asked = query(identifiers=(Ii("2.16.840.1.113883.4.1", "987654321"),))
    assert isinstance(result(asked, stored), NoMatch)


def test_birth_date_conflict_can_be_allowed_explicitly() -> None:
    relaxed = MatchConfig(veto_birth_date_conflict=False)
    score = score_candidate(
        normalize_demographics(query(birth_date=dt.date(1961, 9, 3))), normalize_demographics(STORED), relaxed
    )
    assert not score.vetoed
    assert score.value < relaxed.review_threshold


def test_two_records_of_the_same_person_are_ambiguous_and_ask_for_more() -> None:
    duplicate = person(addresses=(), phone=None)
    found = result(query(), STORED, duplicate)
    assert isinstance(found, Ambiguous)
    assert set(found.requested) == {
        RequestedAttribute.GENDER,
        RequestedAttribute.ADDRESS,
        RequestedAttribute.TELECOM,
    }


def test_weak_evidence_asks_for_more_attributes() -> None:
    asked = query(birth_date=None, birth_date_partial=PartialDate(1961))
    found = result(asked, STORED)
    assert isinstance(found, Ambiguous)
    assert RequestedAttribute.ADDRESS in found.requested


def test_nothing_left_to_ask_is_no_match() -> None:
    duplicate = person()
    asked = query(
        gender=AdministrativeGender.MALE, addresses=(HOME,), telecoms=(Telecom("tel:+1-815-555-0187"),)
    )
    assert isinstance(result(asked, STORED, duplicate), NoMatch)


def test_minimum_degree_match_is_honoured() -> None:
    candidates = [Candidate(0, normalize_demographics(STORED))]
    asked = normalize_demographics(FOUND["typo in family name"])
    plain = decide(asked, candidates, CONFIG)
    assert isinstance(plain, Match)
    strict = decide(asked, candidates, CONFIG, minimum_score=plain.score + 1)
    assert not isinstance(strict, Match)


def test_thresholds_are_checked() -> None:
    with pytest.raises(ValueError, match="thresholds"):
        MatchConfig(match_threshold=50, review_threshold=60)
