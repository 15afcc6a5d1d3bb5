"""The record's type searches combine values as FHIR R4 search does: a repeated ``category`` or ``code`` must
match each time, a comma within one value means any of them; ``patient`` names one patient (a list is a 400,
not an empty answer)."""

from __future__ import annotations

from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from fhir_facade.api.record import _observation_filter
from fhir_facade.api.routing import ParsedSearch
from tests.fhir_facade.api.conftest import FHIR_JSON_HEADERS, Api, patient_json

LOINC = "http://loinc.org"
CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"


def _observation(*codes: tuple[str, str], category: str = "vital-signs") -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "category": [{"coding": [{"system": CATEGORY, "code": category}]}],
        "code": {"coding": [{"system": system, "code": code} for system, code in codes]},
        "effectiveDateTime": "2020-06-15",
    }


HEART = _observation((LOINC, "8867-4"), ("urn:local", "HR"))
WEIGHT = _observation((LOINC, "29463-7"), category="exam")


@pytest.mark.parametrize(
    ("params", "kept"),
    [
        ((("code", f"{LOINC}|8867-4"),), [True, False]),
        ((("code", "8867-4,29463-7"),), [True, True]),
        ((("code", "8867-4"), ("code", "29463-7")), [False, False]),
        ((("code", f"{LOINC}|8867-4"), ("code", "urn:local|HR")), [True, False]),  # two codings of one code
        ((("code", "8867-4,29463-7"), ("category", "exam")), [False, True]),
        ((("category", "exam,vital-signs"), ("category", "exam")), [False, True]),
        ((("date", "ge2020"), ("date", "lt2021")), [True, True]),
        ((("date", "ge2021"), ("date", "lt2022")), [False, False]),
    ],
)
def test_observation_repeats_are_and_commas_are_or(
    params: tuple[tuple[str, str], ...], kept: list[bool]
) -> None:
    search = ParsedSearch(tuple((name, "", value) for name, value in params), {}, ())
    keep = _observation_filter(search)
    assert [keep(HEART), keep(WEIGHT)] == kept


def test_patient_is_one_id_not_a_list(api: Api, rsa_key: rsa.RSAPrivateKey) -> None:
    client = api.register("reader", rsa_key, scopes="system/Patient.c system/Condition.rs")
    headers = {**FHIR_JSON_HEADERS, "X-API-Key": client.api_key}
    first = api.http.post("/Patient", json=patient_json(), headers=headers).json()["id"]
    second = api.http.post("/Patient", json=patient_json("Byron", identifiers=()), headers=headers).json()[
        "id"
    ]
    assert api.http.get(f"/Condition?patient={first}", headers=headers).status_code == 200
    for query in (
        f"patient=Patient/{first},Patient/{second}",
        f"patient={first},{second}",
        f"patient={first},",
    ):
        response = api.http.get(f"/Condition?{query}", headers=headers)
        assert response.status_code == 400, (query, response.text)
        issue = response.json()["issue"][0]
        assert issue["expression"] == ["patient"]
        assert "not a list" in issue["diagnostics"]
    repeated = api.http.get(f"/Condition?patient={first}&patient={second}", headers=headers)
    assert repeated.status_code == 400
    assert repeated.json()["issue"][0]["diagnostics"] == "give the patient (patient=Patient/{id}) once"
