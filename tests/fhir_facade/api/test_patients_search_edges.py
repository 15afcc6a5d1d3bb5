"""``GET /Patient`` and ``GET /Patient/{id}`` at the edges: birth dates at the ends of the calendar, many
values in one parameter, forged paging cursors, non-ASCII digits and ids not written as issued."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from fhir_facade.api.search_values import MAX_VALUES
from tests.fhir_facade.api.conftest import FHIR_JSON_HEADERS, Api, Registered, patient_json

PEOPLE = [
    ("Lovelace", "Ada", "1980-12-10", "A-1"),
    ("Babbage", "Charles", "1791-12-26", "A-2"),
    ("Byron", "George", "2001-07-15", "A-3"),
]
SOME_ID = "8c5e0d4a-3b1f-4c2e-9a7d-6f0e1b2c3d4e"


def _seed(api: Api, client: Registered) -> dict[str, str]:
    ids = {}
    for family, given, birth, mrn in PEOPLE:
        body = patient_json(family, given, birth, identifiers=(("http://clinic-a.example/mrn", mrn),))
        response = api.http.post(
            "/Patient", json=body, headers={**FHIR_JSON_HEADERS, "X-API-Key": client.api_key}
        )
        assert response.status_code == 201, response.text
        ids[family] = response.json()["id"]
    return ids


def _get(api: Api, client: Registered, url: str) -> Any:
    return api.http.get(url, headers={"X-API-Key": client.api_key})


def _total(api: Api, client: Registered, query: str) -> int:
    response = _get(api, client, f"/Patient?{query}")
    assert response.status_code == 200, response.text
    total: int = response.json()["total"]
    return total


def _bad(api: Api, client: Registered, query: str) -> dict[str, Any]:
    response = _get(api, client, f"/Patient?{query}")
    assert response.status_code == 400, response.text
    issue: dict[str, Any] = response.json()["issue"][0]
    assert response.json()["resourceType"] == "OperationOutcome"
    return issue


@pytest.mark.parametrize(
    ("birthdate", "total"),
    [
        ("9999-12-31", 0),
        ("9999-12", 0),
        ("9999", 0),
        ("gt9999-12-31", 0),
        ("ge9999-12-31", 0),
        ("le9999-12-31", 3),
        ("lt9999-12-31T23:59-01:00", 3),
        ("9999-12-31T23:59-01:00", 0),
        ("9999-12-31T23:59:59.999999Z", 0),
        ("lt0001-01-01", 0),
        ("le0001-01-01", 0),
        ("ge0001-01-01", 3),
        ("gt0001-01-01", 3),
        ("0001-01-01T00:00%2B01:00", 0),
        ("ge0001-01-01T00:00%2B01:00", 3),
        ("le0001-01-01T00:00%2B01:00", 0),
        ("0001", 0),
        ("ge1791-12-26T23:30-05:00", 2),  # 1791-12-27 in UTC: Babbage is born the day before
        ("1980-12-10T10:00Z", 1),
        ("ge1791&birthdate=lt1791", 0),
    ],
)
def test_birthdates_at_the_ends_of_the_calendar(
    api: Api, alice: Registered, birthdate: str, total: int
) -> None:
    _seed(api, alice)
    assert _total(api, alice, f"birthdate={birthdate}") == total


@pytest.mark.parametrize(
    "birthdate",
    [
        "%D9%A1%D9%A9%D9%A8%D9%A0",  # Arabic-Indic 1980
        "%EF%BC%91980-12-10",  # a fullwidth 1
        "1980-12-1%D9%A0",
        "1980-12-10T1%D9%A0:00Z",
        "0000-01-01",
        "1980-12-10T24:00Z",
        "1980-12-10T10:00%2B24:00",
        "ne1980",
        "xx1980",
    ],
)
def test_birthdates_need_ascii_digits_and_a_real_date(api: Api, alice: Registered, birthdate: str) -> None:
    assert _bad(api, alice, f"birthdate={birthdate}")["expression"] == ["birthdate"]


@pytest.mark.parametrize("name", ["name", "family", "given", "identifier", "_id", "gender"])
def test_values_per_parameter_are_capped(api: Api, alice: Registered, name: str) -> None:
    values = ["male"] * MAX_VALUES if name == "gender" else [f"x{index}" for index in range(MAX_VALUES)]
    assert _total(api, alice, f"{name}={','.join(values)}") == 0
    for query in (
        f"{name}={','.join([*values, values[0]])}",
        "&".join(f"{name}={value}" for value in [*values, values[0]]),
        f"{name}={','.join(values * 20)}",
    ):
        issue = _bad(api, alice, query)
        assert issue["expression"] == [name]
        assert issue["code"] == "too-long"
        assert str(MAX_VALUES) in issue["diagnostics"]


@pytest.mark.parametrize("query", ["identifier=,", "name=,", "family=a,,b", "_id=,", "name=%CC%81"])
def test_empty_values_are_400_not_ignored(api: Api, alice: Registered, query: str) -> None:
    _seed(api, alice)
    assert _bad(api, alice, query)["expression"] == [query.partition("=")[0]]


def _cursor(position: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(position).encode()).decode().rstrip("=")


@pytest.mark.parametrize(
    "position",
    [
        {"c": "2020-01-01", "i": 5},
        {"c": "2020-01-01", "i": ["a"]},
        {"c": "2020-01-01", "i": {"a": 1}},
        {"c": "2020-01-01T00:00:00", "i": SOME_ID},
        {"c": "2020-01-01", "i": SOME_ID},
        {"c": 5, "i": SOME_ID},
        {"c": ["2020-01-01T00:00:00+00:00"], "i": SOME_ID},
        {"c": None, "i": None},
        {"c": "2020-01-01T00:00:00+01:00", "i": SOME_ID},
        {"c": "2020-01-01T00:00:00Z", "i": SOME_ID},
        {"c": "2020-01-01 00:00:00+00:00", "i": SOME_ID},
        {"c": "0001-01-01T00:00:00+01:00", "i": SOME_ID},
        {"c": "2020-01-01T00:00:00+00:00", "i": SOME_ID.upper()},
        {"c": "2020-01-01T00:00:00+00:00", "i": SOME_ID.replace("-", "")},
        {"c": "2020-01-01T00:00:00+00:00", "i": f"urn:uuid:{SOME_ID}"},
    ],
)
def test_cursors_the_server_did_not_write_are_400(api: Api, alice: Registered, position: Any) -> None:
    issue = _bad(api, alice, f"_cursor={_cursor(position)}")
    assert issue["expression"] == ["_cursor"]


@pytest.mark.parametrize(
    ("stamp", "total_on_page"),
    [
        ("2000-01-01T00:00:00+00:00", 3),
        ("0001-01-01T00:00:00+00:00", 3),
        ("9999-12-31T23:59:59.999999+00:00", 0),
    ],
)
def test_a_cursor_in_the_written_form_pages(
    api: Api, alice: Registered, stamp: str, total_on_page: int
) -> None:
    _seed(api, alice)
    response = _get(api, alice, f"/Patient?_cursor={_cursor({'c': stamp, 'i': SOME_ID})}")
    assert response.status_code == 200, response.text
    assert len(response.json().get("entry", [])) == total_on_page


def test_only_the_issued_form_of_an_id_reads(api: Api, alice: Registered) -> None:
    patient_id = _seed(api, alice)["Lovelace"]
    assert _get(api, alice, f"/Patient/{patient_id}").status_code == 200
    letter = next(i for i, ch in enumerate(patient_id) if ch.isalpha())  # one hex letter in upper case
    for other in (
        patient_id.upper(),
        patient_id.replace("-", ""),
        f"urn:uuid:{patient_id}",
        f"{{{patient_id}}}",
        f"{patient_id[:letter]}{patient_id[letter].upper()}{patient_id[letter + 1 :]}",
    ):
        response = _get(api, alice, f"/Patient/{other}")
        assert response.status_code == 404, other
        assert response.json()["issue"][0]["code"] == "not-found"
    assert _total(api, alice, f"_id={patient_id.upper()},{patient_id.replace('-', '')}") == 0
    assert _total(api, alice, f"_id={patient_id}") == 1
