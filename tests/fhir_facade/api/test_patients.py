"""Patient create (plain and conditional), read and search, with R4B validation and tenant isolation."""

from __future__ import annotations

from typing import Any

import pytest
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.patient import Patient as R4BPatient

from tests.fhir_facade.api.conftest import FHIR_JSON_HEADERS, Api, Registered, patient_json


def _headers(api: Api, client: Registered) -> dict[str, str]:
    return {**FHIR_JSON_HEADERS, "X-API-Key": client.api_key}


def _create(api: Api, client: Registered, body: dict[str, Any], **headers: str) -> Any:
    return api.http.post("/Patient", json=body, headers={**_headers(api, client), **headers})


def test_create_then_read(api: Api, alice: Registered) -> None:
    created = _create(api, alice, patient_json())
    assert created.status_code == 201, created.text
    resource = created.json()
    R4BPatient.model_validate(resource)
    patient_id = resource["id"]
    assert created.headers["location"] == f"http://hiegate.test/Patient/{patient_id}/_history/1"
    assert created.headers["etag"] == 'W/"1"'
    assert created.headers["last-modified"].endswith("GMT")
    systems = {i["system"]: i["value"] for i in resource["identifier"]}
    assert systems["http://clinic-a.example/mrn"] == "A-1001"
    assert any(s.startswith("urn:oid:") for s in systems)  # the gateway's own id for the network
    read = api.http.get(f"/Patient/{patient_id}", headers=_headers(api, alice))
    assert read.status_code == 200
    assert read.json() == resource
    assert read.headers["etag"] == 'W/"1"'
    assert read.json()["name"] == [{"use": "official", "family": "Lovelace", "given": ["Ada"]}]
    assert read.json()["telecom"] == [{"system": "phone", "value": "+1-555-0100", "use": "home"}]


def test_prefer_return_minimal(api: Api, alice: Registered) -> None:
    created = _create(api, alice, patient_json(), Prefer="return=minimal")
    assert created.status_code == 201
    assert created.content == b""
    assert created.headers["location"].startswith("http://hiegate.test/Patient/")


def test_conditional_create(api: Api, alice: Registered) -> None:
    condition = {"If-None-Exist": "identifier=http://clinic-a.example/mrn|A-1001"}
    first = _create(api, alice, patient_json(), **condition)
    assert first.status_code == 201
    again = _create(api, alice, patient_json(given="Augusta"), **condition)
    assert again.status_code == 200
    assert again.json()["id"] == first.json()["id"]
    assert again.json()["name"][0]["given"] == ["Ada"]  # the existing patient, unchanged


def test_conditional_create_with_several_matches_is_412(api: Api, alice: Registered) -> None:
    _create(api, alice, patient_json(identifiers=(("http://one.example", "X-1"),)))
    _create(api, alice, patient_json(family="Byron", identifiers=(("http://two.example", "X-1"),)))
    response = _create(api, alice, patient_json(identifiers=()), **{"If-None-Exist": "identifier=X-1"})
    assert response.status_code == 412
    assert response.json()["issue"][0]["code"] == "multiple-matches"


def test_plain_create_with_a_taken_identifier_is_409(api: Api, alice: Registered) -> None:
    assert _create(api, alice, patient_json()).status_code == 201
    response = _create(api, alice, patient_json(family="Other"))
    assert response.status_code == 409
    assert response.json()["issue"][0]["expression"] == ["Patient.identifier"]


def test_bad_if_none_exist_is_400(api: Api, alice: Registered) -> None:
    response = _create(api, alice, patient_json(), **{"If-None-Exist": "name=Ada"})
    assert response.status_code == 400
    assert response.json()["issue"][0]["expression"] == ["If-None-Exist"]


@pytest.mark.parametrize(
    ("change", "status", "expression"),
    [
        ({"birthDate": None}, 422, "Patient.birthDate"),
        ({"birthDate": "1980"}, 422, "Patient.birthDate"),
        ({"birthDate": "1980-02-30"}, 400, "Patient.birthDate"),
        ({"birthDate": "yesterday"}, 400, "Patient.birthDate"),
        ({"birthDate": "2999-01-01"}, 422, "Patient.birthDate"),
        ({"gender": None}, 422, "Patient.gender"),
        ({"gender": "f"}, 400, "Patient.gender"),
        ({"name": [{"given": ["Ada"]}]}, 422, "Patient.name"),
        ({"name": "Ada"}, 400, "Patient.name"),
        ({"identifier": [{"value": "1"}]}, 400, "Patient.identifier[0].system"),
        ({"identifier": [{"system": "not a uri", "value": "1"}]}, 400, "Patient.identifier[0].system"),
        ({"maritalStatus": {"text": "M"}}, 422, "Patient.maritalStatus"),
        ({"telecom": [{"system": "pager", "value": "1"}]}, 422, "Patient.telecom[0].system"),
    ],
)
def test_invalid_patients(
    api: Api, alice: Registered, change: dict[str, Any], status: int, expression: str
) -> None:
    body = {**patient_json(), **change}
    body = {key: value for key, value in body.items() if value is not None}
    response = _create(api, alice, body)
    assert response.status_code == status, response.text
    issue = response.json()["issue"][0]
    assert expression in issue["expression"]
    assert issue["details"]["coding"][0]["code"].startswith("HG-9")


@pytest.mark.parametrize(
    ("content", "content_type", "status"),
    [
        (b"{not json", "application/fhir+json", 400),
        (b"[]", "application/fhir+json", 400),
        (b'{"resourceType": "Observation"}', "application/fhir+json", 400),
        (b"<Patient/>", "application/fhir+xml", 415),
        (b"{}", "text/plain", 415),
    ],
)
def test_malformed_bodies(
    api: Api, alice: Registered, content: bytes, content_type: str, status: int
) -> None:
    headers = {"X-API-Key": alice.api_key, "Content-Type": content_type}
    response = api.http.post("/Patient", content=content, headers=headers)
    assert response.status_code == status
    assert response.json()["resourceType"] == "OperationOutcome"


def test_plain_json_is_accepted(api: Api, alice: Registered) -> None:
    headers = {"X-API-Key": alice.api_key, "Content-Type": "application/json; charset=utf-8"}
    assert api.http.post("/Patient", json=patient_json(), headers=headers).status_code == 201


def _seed(api: Api, client: Registered) -> dict[str, str]:
    people = [
        ("Lovelace", "Ada", "1980-12-10", "female", "A-1"),
        ("Löwe", "Anna", "1975-05-01", "female", "A-2"),
        ("Lowell", "Amy", "1990-01-31", "female", "A-3"),
        ("Babbage", "Charles", "1980-12-26", "male", "A-4"),
        ("Byron", "George", "2001-07-15", "other", "A-5"),
    ]
    ids = {}
    for family, given, birth, gender, mrn in people:
        body = patient_json(family, given, birth, gender, (("http://clinic-a.example/mrn", mrn),))
        response = _create(api, client, body)
        assert response.status_code == 201
        ids[family] = response.json()["id"]
    return ids


def _search(api: Api, client: Registered, query: str, **headers: str) -> dict[str, Any]:
    response = api.http.get(f"/Patient?{query}", headers={"X-API-Key": client.api_key, **headers})
    assert response.status_code == 200, response.text
    bundle: dict[str, Any] = response.json()
    Bundle.model_validate(bundle)
    return bundle


def _families(bundle: dict[str, Any]) -> list[str]:
    return [
        e["resource"]["name"][0]["family"] for e in bundle.get("entry", []) if e["search"]["mode"] == "match"
    ]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("identifier=http://clinic-a.example/mrn|A-3", ["Lowell"]),
        ("identifier=A-4,A-5", ["Babbage", "Byron"]),
        ("identifier=http://other.example|A-3", []),
        ("name=lo", ["Lovelace", "Löwe", "Lowell"]),
        ("family=LOWE", ["Löwe", "Lowell"]),
        ("family=low&given=am", ["Lowell"]),
        ("given=ada,charles", ["Lovelace", "Babbage"]),
        ("birthdate=1980-12-10", ["Lovelace"]),
        ("birthdate=1980-12", ["Lovelace", "Babbage"]),
        ("birthdate=ge1980-01-01&birthdate=le1990-12-31", ["Lovelace", "Lowell", "Babbage"]),
        ("birthdate=gt1980-12-10&birthdate=lt2001-07-15", ["Lowell", "Babbage"]),
        ("gender=male", ["Babbage"]),
        ("gender=other", ["Byron"]),
        ("name=lo&birthdate=1975", ["Löwe"]),
    ],
)
def test_search(api: Api, alice: Registered, query: str, expected: list[str]) -> None:
    _seed(api, alice)
    bundle = _search(api, alice, query)
    assert bundle["type"] == "searchset"
    assert _families(bundle) == expected
    assert bundle["total"] == len(expected)
    assert bundle["link"][0]["relation"] == "self"


def test_search_by_id(api: Api, alice: Registered) -> None:
    ids = _seed(api, alice)
    bundle = _search(api, alice, f"_id={ids['Byron']},not-a-uuid")
    assert _families(bundle) == ["Byron"]
    assert bundle["entry"][0]["fullUrl"] == f"http://hiegate.test/Patient/{ids['Byron']}"


def test_paging_follows_next_links(api: Api, alice: Registered) -> None:
    _seed(api, alice)
    seen: list[str] = []
    url = "/Patient?name=&_count=2".replace("name=&", "")
    pages = 0
    while url:
        response = api.http.get(url, headers={"X-API-Key": alice.api_key})
        bundle = response.json()
        Bundle.model_validate(bundle)
        assert bundle["total"] == 5
        seen += _families(bundle)
        pages += 1
        following = [link["url"] for link in bundle["link"] if link["relation"] == "next"]
        url = following[0].removeprefix("http://hiegate.test") if following else ""
        assert "_count=2" in bundle["link"][0]["url"]
    assert pages == 3
    assert seen == ["Lovelace", "Löwe", "Lowell", "Babbage", "Byron"]


def test_count_zero_gives_only_the_total(api: Api, alice: Registered) -> None:
    _seed(api, alice)
    bundle = _search(api, alice, "_count=0")
    assert bundle["total"] == 5
    assert "entry" not in bundle


@pytest.mark.parametrize(
    "query",
    [
        "nickname=x",
        "name:contains=x",
        "_count=-1",
        "_count=abc",
        "_cursor=bogus",
        "birthdate=ne1980",
        "gender=x",
    ],
)
def test_bad_searches_are_400(api: Api, alice: Registered, query: str) -> None:
    response = api.http.get(f"/Patient?{query}", headers={"X-API-Key": alice.api_key})
    assert response.status_code == 400, response.text
    assert response.json()["resourceType"] == "OperationOutcome"
    assert response.json()["issue"][0]["expression"]


def test_lenient_handling_ignores_unknown_parameters(api: Api, alice: Registered) -> None:
    _seed(api, alice)
    bundle = _search(api, alice, "family=babb&nickname=x", Prefer="handling=lenient")
    assert _families(bundle) == ["Babbage"]
    outcome = bundle["entry"][-1]
    assert outcome["search"]["mode"] == "outcome"
    assert outcome["resource"]["issue"][0]["severity"] == "warning"
    assert "nickname" not in bundle["link"][0]["url"]


def test_tenants_are_isolated(api: Api, alice: Registered, bob: Registered) -> None:
    ids = _seed(api, alice)
    other = api.http.get(f"/Patient/{ids['Byron']}", headers={"X-API-Key": bob.api_key})
    unknown = api.http.get(
        "/Patient/00000000-0000-4000-8000-000000000000", headers={"X-API-Key": bob.api_key}
    )
    assert other.status_code == unknown.status_code == 404
    assert other.json()["issue"][0]["diagnostics"].replace(ids["Byron"], "X") == unknown.json()["issue"][0][
        "diagnostics"
    ].replace("00000000-0000-4000-8000-000000000000", "X")
    assert _search(api, bob, "name=lo")["total"] == 0
    assert _search(api, bob, "identifier=A-1")["total"] == 0
    assert _search(api, bob, f"_id={ids['Byron']}")["total"] == 0
    # The same identifier is free in another tenant: conditional create there creates.
    condition = {"If-None-Exist": "identifier=http://clinic-a.example/mrn|A-1"}
    created = _create(
        api, bob, patient_json(identifiers=(("http://clinic-a.example/mrn", "A-1"),)), **condition
    )
    assert created.status_code == 201
    assert created.json()["id"] != ids["Lovelace"]


def test_read_of_malformed_id_is_404(api: Api, alice: Registered) -> None:
    response = api.http.get("/Patient/not-a-uuid", headers={"X-API-Key": alice.api_key})
    assert response.status_code == 404
    assert response.json()["issue"][0]["code"] == "not-found"
