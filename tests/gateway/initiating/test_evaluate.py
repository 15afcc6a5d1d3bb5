"""Match evaluation on the initiating side: accepted, or rejected with a reason (weak, conflicting,
ambiguous, no match, query error)."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace

import pytest

from gateway.initiating import RejectCode, evaluate_matches
from xca.iti55 import (
    AckCode,
    AdministrativeGender,
    Demographics,
    Device,
    Ii,
    Iti55Response,
    PatientMatch,
    PersonName,
    QueryResponseCode,
)

ASKED = Demographics(
    names=(PersonName(given=("Grace",), family="Hopper"),),
    gender=AdministrativeGender.FEMALE,
    birth_date=dt.date(1906, 12, 9),
)


def _response(*matches: PatientMatch, code: QueryResponseCode = QueryResponseCode.OK) -> Iti55Response:
    return Iti55Response(
        message_id=Ii("1.2.3", "m"),
        creation_time=None,
        sender=Device("1.2.4.1"),
        receiver=Device("1.2.3.1"),
        ack_code=AckCode.AA,
        query_response_code=code,
        matches=matches,
    )


def _match(demo: Demographics = ASKED, pid: str = "P1", score: int | None = 97) -> PatientMatch:
    return PatientMatch(Ii("1.2.4.2", pid), "1.2.4", demo, score)


def test_a_strong_consistent_match_is_accepted() -> None:
    decision = evaluate_matches(ASKED, _response(_match()), threshold=85)
    assert decision.accepted
    assert decision.score == 97


@pytest.mark.parametrize(
    ("response", "code"),
    [
        (_response(code=QueryResponseCode.NF), RejectCode.NO_MATCH),
        (_response(code=QueryResponseCode.QE), RejectCode.QUERY_ERROR),
        (_response(_match(pid="P1"), _match(pid="P2")), RejectCode.AMBIGUOUS),
        (_response(_match(score=62)), RejectCode.WEAK_MATCH),
        (_response(_match(replace(ASKED, birth_date=dt.date(1907, 12, 9)))), RejectCode.CONFLICT_BIRTH_DATE),
        (_response(_match(replace(ASKED, gender=AdministrativeGender.MALE))), RejectCode.CONFLICT_GENDER),
        (_response(_match(replace(ASKED, names=(PersonName(given=("Henry",), family="Hopper"),)))),
         RejectCode.CONFLICT_NAME),
        (_response(_match(pid="")), RejectCode.UNUSABLE),
    ],
)  # fmt: skip
def test_rejections_say_why(response: Iti55Response, code: RejectCode) -> None:
    decision = evaluate_matches(ASKED, response, threshold=85)
    assert not decision.accepted
    assert decision.code is code
    assert decision.reason


def test_the_same_patient_listed_twice_is_not_ambiguous() -> None:
    assert evaluate_matches(ASKED, _response(_match(), _match()), threshold=85).accepted


def test_weak_cross_check_rejects_even_a_confident_responder() -> None:
    sparse = Demographics(names=(PersonName(given=("Grace",), family="Hopper"),))
    decision = evaluate_matches(ASKED, _response(_match(sparse, score=100)), threshold=85)
    assert decision.code is RejectCode.WEAK_MATCH
    assert "our cross-check" in (decision.reason or "")
