"""``GET /Patient/{id}/_history/{vid}``: the ``Location`` a create answers reads back (FHIR R4 create SHALL
name the version), exactly as read does; any other version is a 404 OperationOutcome, never a 500; the same
scope, tenant and id rules as read, and each vread audited."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from fhir.resources.R4B.patient import Patient as R4BPatient
from sqlalchemy import select

from gateway.audit import ApiAccessEvent, ApiInteraction, AuditFilter, Outcome, iter_records
from gateway.store import Tenant
from tests.fhir_facade.api.conftest import BASE, FHIR_JSON_HEADERS, Api, Registered, patient_json

UNKNOWN = "00000000-0000-4000-8000-000000000000"


def _key(client: Registered) -> dict[str, str]:
    return {"X-API-Key": client.api_key}


def _create(api: Api, client: Registered) -> Any:
    response = api.http.post("/Patient", json=patient_json(), headers={**FHIR_JSON_HEADERS, **_key(client)})
    assert response.status_code == 201, response.text
    return response


def _not_found(response: Any) -> str:
    assert response.status_code == 404, response.text
    assert response.headers["content-type"].startswith("application/fhir+json")
    body = response.json()
    assert body["resourceType"] == "OperationOutcome"
    assert body["issue"][0]["code"] == "not-found"
    diagnostics: str = body["issue"][0]["diagnostics"]
    return diagnostics


def test_the_location_of_a_create_reads_back_as_the_read(api: Api, alice: Registered) -> None:
    created = _create(api, alice)
    location = created.headers["location"]
    patient_id = created.json()["id"]
    assert location == f"{BASE}/Patient/{patient_id}/_history/1"
    version = api.http.get(location.removeprefix(BASE), headers=_key(alice))
    read = api.http.get(f"/Patient/{patient_id}", headers=_key(alice))
    assert version.status_code == read.status_code == 200, version.text
    assert version.content == read.content
    assert version.json() == created.json()
    R4BPatient.model_validate(version.json())
    assert version.json()["meta"]["versionId"] == "1"
    for header in ("content-type", "etag", "last-modified", "location"):
        assert version.headers[header] == read.headers[header], header
    assert version.headers["etag"] == 'W/"1"'
    head = api.http.request("HEAD", location.removeprefix(BASE), headers=_key(alice))
    assert head.status_code == 200
    assert head.content == b""


@pytest.mark.parametrize(
    "version",
    ["2", "0", "01", "1.0", "-1", "abc", "9" * 400, "1 ", "%00", "%C3%A9", "%221%22"],
)
def test_any_other_version_is_404_saying_so(api: Api, alice: Registered, version: str) -> None:
    patient_id = _create(api, alice).json()["id"]
    diagnostics = _not_found(api.http.get(f"/Patient/{patient_id}/_history/{version}", headers=_key(alice)))
    assert diagnostics.startswith(f"Patient/{patient_id} has no version ")
    assert diagnostics.endswith("its only version is 1")
    assert len(diagnostics) < 200


def test_a_version_with_a_slash_is_no_path(api: Api, alice: Registered) -> None:
    # The router decodes %2F before matching: no route has the path (still a 404 OperationOutcome).
    patient_id = _create(api, alice).json()["id"]
    for version in ("%2F1", "W%2F%221%22", "1/2"):
        response = api.http.get(f"/Patient/{patient_id}/_history/{version}", headers=_key(alice))
        assert "no such resource type or path" in _not_found(response)


def test_unknown_other_tenants_and_reformatted_ids_are_not_known(
    api: Api, alice: Registered, bob: Registered
) -> None:
    patient_id = _create(api, alice).json()["id"]
    for client, wanted in (
        (bob, patient_id),
        (alice, UNKNOWN),
        (alice, patient_id.upper()),
        (alice, f"urn:uuid:{patient_id}"),
        (alice, quote("x" * 300)),
    ):
        for version in ("1", "2"):
            response = api.http.get(f"/Patient/{wanted}/_history/{version}", headers=_key(client))
            read = api.http.get(f"/Patient/{wanted}", headers=_key(client))
            assert _not_found(response) == _not_found(read)
            assert "is not known" in _not_found(response)


def test_vread_needs_the_read_scope(api: Api, rsa_key: rsa.RSAPrivateKey) -> None:
    writer = api.register("writer", rsa_key, scopes="system/Patient.cs")
    patient_id = _create(api, writer).json()["id"]
    refused = api.http.get(f"/Patient/{patient_id}/_history/1", headers=_key(writer))
    assert refused.status_code == 403
    assert refused.json()["issue"][0]["code"] == "forbidden"
    anonymous = api.http.get(f"/Patient/{patient_id}/_history/1")
    assert anonymous.status_code == 401
    assert anonymous.json()["resourceType"] == "OperationOutcome"
    reader = api.register("reader", rsa_key, scopes="system/Patient.r")
    assert api.http.get(f"/Patient/{patient_id}/_history/1", headers=_key(reader)).status_code == 200
    with_token = api.http.get(
        f"/Patient/{patient_id}/_history/1", headers=api.token(reader, "system/Patient.r")
    )
    assert with_token.status_code == 200


def test_each_vread_is_audited(api: Api, alice: Registered) -> None:
    patient_id = _create(api, alice).json()["id"]
    api.http.get(f"/Patient/{patient_id}/_history/1", headers=_key(alice))
    api.http.get(f"/Patient/{patient_id}/_history/7", headers=_key(alice))
    api.http.get(f"/Patient/{UNKNOWN}/_history/1", headers=_key(alice))
    with api.database.session() as session:
        tenant = session.scalars(select(Tenant).where(Tenant.slug == "clinic-a")).one()
        events = [
            record.event
            for record in iter_records(session, tenant, AuditFilter())
            if isinstance(record.event, ApiAccessEvent)
        ]
    assert [(e.interaction, e.http_status, e.outcome, e.resource_id) for e in events[1:]] == [
        (ApiInteraction.VREAD, 200, Outcome.SUCCESS, patient_id),
        (ApiInteraction.VREAD, 404, Outcome.MINOR_FAILURE, patient_id),
        (ApiInteraction.VREAD, 404, Outcome.MINOR_FAILURE, UNKNOWN),
    ]
    assert events[1].patients == events[0].patients != ()
    assert events[2].error_codes == events[3].error_codes == ("HG-9201",)
