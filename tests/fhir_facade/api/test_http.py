"""Content negotiation, errors as OperationOutcomes, and the CapabilityStatement."""

from __future__ import annotations

from typing import Any

import pytest
from fhir.resources.R4B.capabilitystatement import CapabilityStatement
from fhir.resources.R4B.operationoutcome import OperationOutcome

from fhir_facade.api.record import READ_TYPES, RECORD_TYPES
from fhir_facade.api.routing import registered_endpoints
from tests.fhir_facade.api.conftest import TOKEN_URL, Api, Registered


def _outcome(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    OperationOutcome.model_validate(body)
    return body


@pytest.mark.parametrize(
    ("accept", "fmt", "media"),
    [
        (None, None, "application/fhir+json"),
        ("application/fhir+json", None, "application/fhir+json"),
        ("application/json", None, "application/json"),
        ("application/json+fhir", None, "application/fhir+json"),
        ("text/html, */*;q=0.1", None, "application/fhir+json"),
        ("application/fhir+xml", "json", "application/fhir+json"),
        (None, "application/fhir+json", "application/fhir+json"),
    ],
)
def test_negotiation(api: Api, alice: Registered, accept: str | None, fmt: str | None, media: str) -> None:
    headers = {"X-API-Key": alice.api_key} | ({"Accept": accept} if accept else {})
    response = api.http.get("/Patient" + (f"?_format={fmt}" if fmt else ""), headers=headers)
    assert response.status_code == 200
    assert response.headers["content-type"] == media


@pytest.mark.parametrize(
    ("accept", "fmt"), [("application/fhir+xml", None), (None, "xml"), ("text/html", None)]
)
def test_not_acceptable(api: Api, alice: Registered, accept: str | None, fmt: str | None) -> None:
    headers = {"X-API-Key": alice.api_key} | ({"Accept": accept} if accept else {})
    response = api.http.get("/Patient" + (f"?_format={fmt}" if fmt else ""), headers=headers)
    assert _outcome(response, 406)["issue"][0]["code"] == "not-supported"


def test_unknown_resource_type_is_404(api: Api, alice: Registered) -> None:
    body = _outcome(api.http.get("/Specimen", headers={"X-API-Key": alice.api_key}), 404)
    assert body["issue"][0]["code"] == "not-found"


def test_unsupported_method_is_405_with_allow(api: Api, alice: Registered) -> None:
    response = api.http.request("DELETE", "/Patient/abc", headers={"X-API-Key": alice.api_key})
    body = _outcome(response, 405)
    assert body["issue"][0]["code"] == "not-supported"
    assert "GET" in response.headers["allow"]


def test_unexpected_errors_are_500_without_traceback(api: Api, caplog: pytest.LogCaptureFixture) -> None:
    def explode() -> None:
        raise RuntimeError("secret internals")

    api.app.add_api_route("/boom", explode)
    response = api.http.get("/boom")
    body = _outcome(response, 500)
    text = response.text
    assert "secret internals" not in text
    assert "Traceback" not in text
    assert body["issue"][0]["code"] == "exception"
    assert body["issue"][0]["details"]["coding"][0]["code"] == "HG-9500"
    incident = body["issue"][0]["diagnostics"].rsplit(" ", 1)[-1]
    assert incident in caplog.text


def test_request_validation_errors_are_operation_outcomes(api: Api) -> None:
    def typed(number: int) -> dict[str, int]:
        return {"number": number}

    api.app.add_api_route("/typed", typed)
    body = _outcome(api.http.get("/typed?number=abc"), 400)
    assert body["issue"][0]["expression"] == ["number"]


def test_capability_statement(api: Api) -> None:
    response = api.http.get("/metadata")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/fhir+json"
    statement = response.json()
    CapabilityStatement.model_validate(statement)
    assert statement["fhirVersion"] == "4.0.1"
    rest = statement["rest"][0]
    service = rest["security"]["service"][0]["coding"][0]
    assert service["code"] == "SMART-on-FHIR"
    token = rest["security"]["extension"][0]["extension"][0]
    assert token == {"url": "token", "valueUri": TOKEN_URL}
    resources = {r["type"]: r for r in rest["resource"]}
    assert set(resources) == {"Patient", "AuditEvent", "Binary", "Group", *RECORD_TYPES, *READ_TYPES}
    for name in READ_TYPES:  # what the record's references point at reads by id
        assert "read" in {i["code"] for i in resources[name]["interaction"]}
    patient = resources["Patient"]
    assert [i["code"] for i in patient["interaction"]] == ["create", "read", "search-type", "vread"]
    assert patient["versioning"] == "versioned"  # meta.versionId, and vread of it
    assert patient["readHistory"] is False  # patients are never updated: no earlier version to read
    assert resources["Condition"]["versioning"] == "no-version"
    assert patient["conditionalCreate"] is True
    assert {p["name"] for p in patient["searchParam"]} == {
        "_id", "identifier", "name", "family", "given", "birthdate", "gender",
    }  # fmt: skip
    assert sorted(o["name"] for o in patient["operation"]) == ["disclosures", "everything", "export", "pull"]
    audit = resources["AuditEvent"]
    assert [i["code"] for i in audit["interaction"]] == ["read", "search-type"]
    assert {p["name"] for p in audit["searchParam"]} == {"patient", "agent", "entity", "date", "outcome"}
    assert [o["name"] for o in audit["operation"]] == ["export"]


def test_capability_statement_follows_the_routes(api: Api) -> None:
    """Each declared route is in the statement, and each interaction in it has a route."""
    declared = {(e.resource_type, e.interaction.value, e.operation.name if e.operation else None)
                for _route, e in registered_endpoints(api.app)}  # fmt: skip
    statement = api.http.get("/metadata").json()
    listed = set()
    for resource in statement["rest"][0]["resource"]:
        listed |= {(resource["type"], i["code"], None) for i in resource.get("interaction", [])}
        listed |= {(resource["type"], "operation", o["name"]) for o in resource.get("operation", [])}
    assert listed == declared
    for path, _endpoint in registered_endpoints(api.app):
        assert path in {
            "/Patient", "/Patient/{patient_id}", "/Patient/{patient_id}/_history/{version_id}",
            "/AuditEvent", "/AuditEvent/$export",
            "/AuditEvent/{audit_id}", "/Patient/{patient_id}/$disclosures", "/Patient/{patient_id}/$pull",
            "/Patient/{patient_id}/$everything",
            "/Patient/$export", "/Group/{group_id}/$export", "/Binary/{binary_id}",
            *(f"/{name}" for name in RECORD_TYPES),
            *(f"/{name}/{{resource_id}}" for name in READ_TYPES),
        }  # fmt: skip


def test_metadata_needs_no_credentials_and_refuses_xml(api: Api) -> None:
    _outcome(api.http.get("/metadata", headers={"Accept": "application/fhir+xml"}), 406)
