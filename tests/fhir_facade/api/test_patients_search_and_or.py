"""``GET /Patient`` combines values as FHIR R4 search does ("AND and OR"): a repeated parameter means every
occurrence must match (``identifier=a&identifier=b``), a comma within one value means any may
(``identifier=a,b``); the 50-value cap counts both, and a bad value among alternatives is the same 400."""

from __future__ import annotations

from typing import Any

import pytest

from tests.fhir_facade.api.conftest import FHIR_JSON_HEADERS, Api, Registered, patient_json

MRN = "http://clinic-a.example/mrn"
SSN = "http://hl7.org/fhir/sid/us-ssn"
PEOPLE = [
    ("Lovelace", "Ada", "1980-12-10", "female", ((MRN, "A-1"), (SSN, "S-1"))),
    ("Babbage", "Charles", "1791-12-26", "male", ((MRN, "A-2"), (SSN, "S-2"))),
    ("Byron", "George", "2001-07-15", "other", ((MRN, "A-3"),)),
]


@pytest.fixture
def seeded(api: Api, alice: Registered) -> dict[str, str]:
    ids = {}
    for family, given, birth, gender, identifiers in PEOPLE:
        body = patient_json(family, given, birth, gender, identifiers)
        response = api.http.post(
            "/Patient", json=body, headers={**FHIR_JSON_HEADERS, "X-API-Key": alice.api_key}
        )
        assert response.status_code == 201, response.text
        ids[family] = response.json()["id"]
    return ids


def _families(api: Api, client: Registered, query: str) -> list[str]:
    response = api.http.get(f"/Patient?{query}", headers={"X-API-Key": client.api_key})
    assert response.status_code == 200, response.text
    bundle: dict[str, Any] = response.json()
    found = [
        e["resource"]["name"][0]["family"] for e in bundle.get("entry", []) if e["search"]["mode"] == "match"
    ]
    assert bundle["total"] == len(found)
    return found


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        # Repeated: all of them. Two identifiers of two different patients match nobody.
        ("identifier=A-1&identifier=S-2", []),
        ("identifier=A-1&identifier=S-1", ["Lovelace"]),
        (f"identifier={MRN}|A-2&identifier={SSN}|S-2", ["Babbage"]),
        (f"identifier={MRN}|A-2&identifier={MRN}|S-2", []),
        ("identifier=A-1&identifier=A-1", ["Lovelace"]),
        ("identifier=A-3&identifier=S-1", []),
        # Commas: any of them; and both together.
        ("identifier=A-1,S-2", ["Lovelace", "Babbage"]),
        ("identifier=A-1,A-2&identifier=S-2,S-9", ["Babbage"]),
        ("identifier=A-1,A-2,A-3&identifier=S-1,S-2", ["Lovelace", "Babbage"]),
        ("identifier=A-1,A-2&identifier=A-3", []),
        ("identifier=A-1&family=babbage", []),
        # The other parameters follow the same rule.
        ("given=ada&given=charles", []),
        ("given=ada,charles", ["Lovelace", "Babbage"]),
        ("name=lo&name=ada", ["Lovelace"]),
        ("family=lo,by&family=b", ["Byron"]),
        ("gender=male&gender=female", []),
        ("gender=male,female", ["Lovelace", "Babbage"]),
        ("birthdate=1980-12-10,2001", ["Lovelace", "Byron"]),
        ("birthdate=1980,2001&birthdate=ge1990", ["Byron"]),
        ("birthdate=lt1800,gt2000&birthdate=le1800,ge1980", ["Babbage", "Byron"]),
        ("birthdate=ge1791&birthdate=lt1791", []),
        ("birthdate=9999,1980-12-10", ["Lovelace"]),  # an alternative outside the calendar is no match
        ("birthdate=9999,lt0001-01-01", []),
        ("birthdate=ge0001-01-01,1980&gender=male", ["Babbage"]),  # an open alternative allows anyone
        ("birthdate=9999&birthdate=ge0001-01-01", []),
    ],
)
def test_repeats_are_and_commas_are_or(
    api: Api, alice: Registered, seeded: dict[str, str], query: str, expected: list[str]
) -> None:
    assert _families(api, alice, query) == expected


def test_ids_repeated_and_with_commas(api: Api, alice: Registered, seeded: dict[str, str]) -> None:
    ada, charles = seeded["Lovelace"], seeded["Babbage"]
    assert _families(api, alice, f"_id={ada}&_id={charles}") == []
    assert _families(api, alice, f"_id={ada},{charles}") == ["Lovelace", "Babbage"]
    assert _families(api, alice, f"_id={ada},{charles}&_id={charles}") == ["Babbage"]


def test_conditional_create_still_finds_one_identifier(
    api: Api, alice: Registered, seeded: dict[str, str]
) -> None:
    headers = {**FHIR_JSON_HEADERS, "X-API-Key": alice.api_key, "If-None-Exist": f"identifier={SSN}|S-2"}
    again = api.http.post("/Patient", json=patient_json(identifiers=()), headers=headers)
    assert again.status_code == 200, again.text
    assert again.json()["id"] == seeded["Babbage"]


@pytest.mark.parametrize(
    ("query", "name", "diagnostics"),
    [
        ("identifier=A-1&identifier=x|", "identifier", "identifier needs a value (system|value)"),
        ("identifier=A-1,x|", "identifier", "identifier needs a value (system|value)"),
        ("birthdate=1980,ne1990", "birthdate", "birthdate: the prefix 'ne' is not supported"),
        ("birthdate=1980,19x0", "birthdate", "birthdate: '19x0' is not a FHIR date or dateTime"),
        ("birthdate=1980&birthdate=1980-02-30", "birthdate", "birthdate: '1980-02-30' is not a valid date"),
        ("birthdate=1980,", "birthdate", "search parameter 'birthdate' has an empty value"),
        ("gender=male,x", "gender", "gender must be male, female, other or unknown"),
    ],
)
def test_a_bad_value_among_alternatives_is_400(
    api: Api, alice: Registered, query: str, name: str, diagnostics: str
) -> None:
    response = api.http.get(f"/Patient?{query}", headers={"X-API-Key": alice.api_key})
    assert response.status_code == 400, response.text
    issue = response.json()["issue"][0]
    assert response.json()["resourceType"] == "OperationOutcome"
    assert issue["expression"] == [name]
    assert issue["diagnostics"].startswith(diagnostics)


def test_the_cap_counts_repeats_and_commas_together(api: Api, alice: Registered) -> None:
    # 25 occurrences of two alternatives each: 50 values, the most allowed; one more is too long.
    query = "&".join(f"identifier=X-{n},Y-{n}" for n in range(25))
    assert _families(api, alice, query) == []
    response = api.http.get(f"/Patient?{query}&identifier=Z", headers={"X-API-Key": alice.api_key})
    assert response.status_code == 400
    assert response.json()["issue"][0]["code"] == "too-long"


def test_escaped_commas_and_bars_are_part_of_the_value(api: Api, alice: Registered) -> None:
    """FHIR R4 search escaping: ``\\,`` is a comma inside an identifier, not a second alternative; ``\\|`` a
    bar inside it, not the system separator; the same in If-None-Exist."""
    headers = {**FHIR_JSON_HEADERS, "X-API-Key": alice.api_key}
    body = patient_json("Comma", "Carl", "1990-01-01", "male", ((MRN, "B,7"), (SSN, "x|y")))
    created = api.http.post("/Patient", json=body, headers=headers)
    assert created.status_code == 201, created.text
    assert _families(api, alice, f"identifier={MRN}|B%5C,7") == ["Comma"]
    assert _families(api, alice, "identifier=B%5C,7") == ["Comma"]
    assert _families(api, alice, "identifier=x%5C|y") == ["Comma"]
    assert _families(api, alice, f"identifier={SSN}|x%5C|y") == ["Comma"]
    assert _families(api, alice, "identifier=B,7") == []  # two alternatives, "B" and "7": nobody
    condition = {**headers, "If-None-Exist": f"identifier={MRN}|B%5C,7"}
    again = api.http.post("/Patient", json=patient_json(identifiers=()), headers=condition)
    assert again.status_code == 200, again.text
    assert again.json()["id"] == created.json()["id"]
    both = {**headers, "If-None-Exist": f"identifier={MRN}|B,7"}
    refused = api.http.post("/Patient", json=patient_json(identifiers=()), headers=both)
    assert refused.status_code == 400
    assert "exactly one identifier" in refused.json()["issue"][0]["diagnostics"]
