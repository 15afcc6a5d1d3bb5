"""``POST /Patient/{id}/$pull`` refuses, with 400 and before any job exists, a ``gateway`` that is not an OID
or not a usable community of the directory, and a ``period`` whose dates are not strings."""

from __future__ import annotations

from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from sqlalchemy import func, select

from fhir_facade.api.errors import InvalidRequestError
from fhir_facade.api.pull_parameters import check_gateways, parse_parameters
from gateway.directory import Community, Endpoints, import_communities, list_communities
from gateway.store.pull import PullJob
from tests.fhir_facade.api.conftest import FHIR_JSON_HEADERS, Api, patient_json

SCOPES = "system/Patient.rs system/Patient.c system/Patient.$pull"
KNOWN = "2.16.840.1.113883.3.9001"
ASLEEP = "2.16.840.1.113883.3.9002"


def _parameters(*extra: dict[str, Any]) -> dict[str, Any]:
    purpose = {"name": "purposeOfUse", "valueCode": "TREATMENT"}
    return {"resourceType": "Parameters", "parameter": [purpose, *extra]}


def _gateway(value: str) -> dict[str, Any]:
    return {"name": "gateway", "valueIdentifier": {"system": "urn:ietf:rfc:3986", "value": value}}


def _directory(api: Api) -> None:
    communities = [
        Community(KNOWN, "Known HIE", endpoints=Endpoints(iti55="https://known.example/iti55")),
        Community(ASLEEP, "Asleep HIE", active=False, endpoints=Endpoints(iti55="https://asleep.example/x")),
    ]
    with api.database.session() as session, session.begin():
        import_communities(session, communities, source="test")


def _diagnostics(response: Any) -> str:
    body = response.json()
    assert body["resourceType"] == "OperationOutcome"
    return str(body["issue"][0]["diagnostics"])


@pytest.mark.parametrize(
    ("parameter", "message"),
    [
        (_gateway("urn:oid:1.2.3.4"), "gateway urn:oid:1.2.3.4: not in the directory"),
        ({"name": "gateway", "valueString": "hello world"}, "gateway 'hello world' is not an OID"),
        (_gateway(f"urn:oid:{ASLEEP}"), f"gateway urn:oid:{ASLEEP}: inactive in the directory"),
        ({"name": "period", "valuePeriod": {"start": 20240101}}, "period.start must be a date string"),
        ({"name": "period", "valuePeriod": {"end": 20241231}}, "period.end must be a date string"),
        ({"name": "period", "valuePeriod": {"start": "20240101"}}, "period.start is not a date"),
    ],
)
def test_pull_refuses_bad_gateway_or_period_before_any_job(
    api: Api, rsa_key: rsa.RSAPrivateKey, parameter: dict[str, Any], message: str
) -> None:
    _directory(api)
    client = api.register("puller", rsa_key, scopes=SCOPES)
    headers = {**FHIR_JSON_HEADERS, "X-API-Key": client.api_key}
    created = api.http.post("/Patient", json=patient_json(), headers=headers)
    assert created.status_code == 201, created.text

    response = api.http.post(
        f"/Patient/{created.json()['id']}/$pull", json=_parameters(parameter), headers=headers
    )

    assert response.status_code == 400, response.text
    assert message in _diagnostics(response)
    with api.database.session() as session:
        assert session.scalar(select(func.count()).select_from(PullJob)) == 0


def test_known_gateways_pass_the_check(api: Api) -> None:
    _directory(api)
    parsed = parse_parameters(
        _parameters(_gateway(f"urn:oid:{KNOWN}"), {"name": "gateway", "valueString": KNOWN})
    )
    assert parsed.gateways == (KNOWN,)
    for form in ({"valueUri": f"urn:oid:{KNOWN}"}, {"valueOid": f"urn:oid:{KNOWN}"}):  # as the README shows
        assert parse_parameters(_parameters({"name": "gateway", **form})).gateways == (KNOWN,)
    with api.database.session() as session:
        communities = list_communities(session)
    check_gateways(communities, parsed.gateways)  # no error
    with pytest.raises(InvalidRequestError, match=r"1\.2\.3\.4: not in the directory"):
        check_gateways(communities, (KNOWN, "1.2.3.4"))
