"""The OpenAPI document (``/openapi.json``) describes the API as it behaves: a well-formed OpenAPI 3 document
whose search parameters are the CapabilityStatement's, whose documented parameters the routes accept, whose
documented statuses and media types are those the routes answer with, and whose scopes are enough."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
from cryptography.hazmat.primitives.asymmetric import rsa

from fhir_facade.api import create_app
from fhir_facade.api.record import RECORD_TYPES
from fhir_facade.api.routing import CONTROL_PARAMETERS, Interaction, api_routes, registered_endpoints
from gateway.store import Database
from tests.fhir_facade.api.conftest import (
    BASE,
    FHIR_JSON_HEADERS,
    Api,
    AsgiClient,
    api_settings,
)

FULL_SCOPES = "system/*.rs system/Patient.c system/Patient.$pull system/AuditEvent.rs system/Binary.r"
UNKNOWN_ID = "00000000-0000-4000-8000-000000000000"
ERROR_CODES = "urn:hie-gateway:error-code"
METHODS = ("get", "put", "post", "delete", "patch", "head", "options", "trace")


def _document(api: Api) -> dict[str, Any]:
    response = api.http.get("/openapi.json")
    assert response.status_code == 200
    doc: dict[str, Any] = response.json()
    return doc


def _resolve(doc: dict[str, Any], node: Any) -> Any:
    while isinstance(node, dict) and "$ref" in node:
        pointer = node["$ref"]
        assert pointer.startswith("#/"), pointer
        node = doc
        for part in pointer[2:].split("/"):
            node = node[part.replace("~1", "/").replace("~0", "~")]
    return node


def _refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        if isinstance(node.get("$ref"), str):
            yield node["$ref"]
        for value in node.values():
            yield from _refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from _refs(value)


def _operations(doc: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in doc["paths"].items():
        for method, operation in item.items():
            if method in METHODS:
                yield path, method, operation


def _parameters(operation: dict[str, Any], where: str) -> list[dict[str, Any]]:
    return [p for p in operation.get("parameters", []) if p["in"] == where]


def test_the_document_is_well_formed_openapi_3(api: Api) -> None:
    doc = _document(api)
    assert doc["openapi"].startswith("3.")
    assert doc["info"]["title"]
    assert doc["info"]["version"]
    for pointer in _refs(doc):  # every reference resolves
        assert _resolve(doc, {"$ref": pointer}) is not None, pointer
    schemas = doc["components"]["schemas"]
    assert schemas["OperationOutcome"]["properties"]["resourceType"] == {"const": "OperationOutcome"}
    schemes = doc["components"]["securitySchemes"]
    operation_ids = [operation["operationId"] for _p, _m, operation in _operations(doc)]
    assert len(operation_ids) == len(set(operation_ids)) > 50
    for path, method, operation in _operations(doc):
        where = f"{method.upper()} {path}"
        templated = {part[1:-1] for part in path.split("/") if part.startswith("{")}
        assert {p["name"] for p in _parameters(operation, "path")} == templated, where
        assert all(p["required"] is True for p in _parameters(operation, "path")), where
        keys = [(p["name"], p["in"]) for p in operation.get("parameters", [])]
        assert len(keys) == len(set(keys)), where
        for parameter in operation.get("parameters", []):
            assert parameter["in"] in ("query", "header", "path"), where
            assert parameter["name"] not in ("Authorization", "Accept", "Content-Type"), where
            assert parameter.get("description"), (where, parameter["name"])
            assert "schema" in parameter, (where, parameter["name"])
        responses = operation["responses"]
        assert any(status.startswith("2") for status in responses), where
        for status, response in responses.items():
            response = _resolve(doc, response)
            assert response["description"], (where, status)
            content = response.get("content", {})
            if (method, path, status) != ("delete", "/$export-status/{export_id}", "202"):  # 202, no body
                assert content, (where, status)
            for media, item in content.items():
                assert "/" in media, (where, status, media)
                assert "schema" in item, (where, status, media)
            if int(status) >= 400:
                error_schemas = {item["schema"].get("$ref") for item in content.values()}
                expected = (
                    "OAuthError" if path == "/auth/token" and status in ("400", "401") else "OperationOutcome"
                )
                assert error_schemas == {f"#/components/schemas/{expected}"}, (where, status)
        if "requestBody" in operation:
            assert operation["requestBody"]["content"], where
        for requirement in operation.get("security", []):
            for scheme, scopes in requirement.items():
                assert scheme in schemes, where
                if schemes[scheme]["type"] == "oauth2":
                    assert set(scopes) <= set(schemes[scheme]["flows"]["clientCredentials"]["scopes"])


def test_every_route_is_described_with_its_errors(api: Api) -> None:
    doc = _document(api)
    described = {(path, method.upper()) for path, method, _op in _operations(doc)}
    routes = {(path, method) for path, route in api_routes(api.app) for method in route.methods or ()}
    assert described == routes
    for path, method, operation in _operations(doc):
        where = f"{method.upper()} {path}"
        responses = operation["responses"]
        assert "500" in responses, where
        assert all(r.get("description") != "Successful Response" for r in responses.values()), where
        assert "422" not in responses or "Validation Error" not in str(responses["422"]), where
        if operation.get("security"):
            assert {"400", "401", "403", "503"} <= set(responses), where
        if _parameters(operation, "path"):
            assert "404" in responses, where
        if any(p["name"] == "_format" for p in _parameters(operation, "query")):
            assert "406" in responses or "ignored" in _format_text(operation), where
        if operation.get("x-fhir-strict-search"):
            assert "400" in responses
            assert "Prefer" in {p["name"] for p in _parameters(operation, "header")}
    public = {(p, m) for p, m, op in _operations(doc) if not op.get("security")}
    assert public == {
        ("/auth/token", "post"),
        ("/.well-known/smart-configuration", "get"),
        ("/metadata", "get"),
    }


def _format_text(operation: dict[str, Any]) -> str:
    return str(next(p["description"] for p in _parameters(operation, "query") if p["name"] == "_format"))


def _search_params(operation: dict[str, Any]) -> dict[str, str]:
    return {
        p["x-fhir-search-param"]["name"]: p["x-fhir-search-param"]["type"]
        for p in _parameters(operation, "query")
        if "x-fhir-search-param" in p
    }


def test_search_parameters_agree_with_the_capability_statement(api: Api) -> None:
    doc = _document(api)
    resources = api.http.get("/metadata").json()["rest"][0]["resource"]
    searchable = {
        r["type"] for r in resources if "search-type" in {i["code"] for i in r.get("interaction", [])}
    }
    for resource in resources:
        listed = {param["name"]: param["type"] for param in resource.get("searchParam", [])}
        if resource["type"] in searchable:
            operation = doc["paths"][f"/{resource['type']}"]["get"]
            assert _search_params(operation) == listed, resource["type"]  # both ways, with their types
        else:
            assert not listed, resource["type"]
    documented = {
        path[1:] for path, method, operation in _operations(doc)
        if method == "get" and path.count("/") == 1 and _search_params(operation)
    }  # fmt: skip
    assert documented == searchable
    assert len(searchable) == 2 + len(RECORD_TYPES)  # Patient, AuditEvent and the record's types


def test_each_declared_parameter_is_documented(api: Api) -> None:
    doc = _document(api)
    for path, endpoint in registered_endpoints(api.app):
        method = "post" if endpoint.interaction is Interaction.CREATE or path.endswith("$pull") else "get"
        operation = doc["paths"][path][method]
        documented = {p["name"]: p for p in _parameters(operation, "query")}
        for param in endpoint.search_params:
            assert documented[param.name]["required"] is param.required, (path, param.name)
            assert param.documentation.rstrip(".") in documented[param.name]["description"]
            for modifier in param.modifiers:
                assert f"{param.name}:{modifier}" in documented, (path, param.name, modifier)
        if endpoint.parses_search:
            assert set(documented) >= CONTROL_PARAMETERS, path
            assert operation["x-fhir-strict-search"] is True


def _error_code(response: httpx.Response) -> str | None:
    if not response.headers.get("content-type", "").startswith("application/fhir+json"):
        return None
    body = response.json()
    codings = (
        body.get("issue", [{}])[0].get("details", {}).get("coding", []) if isinstance(body, dict) else []
    )
    return next((c["code"] for c in codings if c["system"] == ERROR_CODES), None)


def _value(parameter: dict[str, Any]) -> str:
    if "example" in parameter:
        return str(parameter["example"])
    return "1" if parameter["schema"].get("type") == "integer" else "x"


def _path(path: str, operation: dict[str, Any]) -> str:
    for parameter in _parameters(operation, "path"):
        value = str(
            parameter.get("example", "1" if parameter["schema"].get("type") == "integer" else UNKNOWN_ID)
        )
        path = path.replace(f"{{{parameter['name']}}}", value)
    return path


def _required_headers(operation: dict[str, Any]) -> dict[str, str]:
    return {p["name"]: str(p.get("example", "x")) for p in _parameters(operation, "header") if p["required"]}


def _settle(api: Api, response: httpx.Response, headers: dict[str, str]) -> None:
    """Wait for an export a probe started, so nothing runs on after the test."""
    location = response.headers.get("content-location", "")
    if response.status_code != 202 or "$export-status" not in location:
        return
    deadline = time.monotonic() + 20
    while api.http.get(location.removeprefix(BASE), headers=headers).status_code == 202:
        assert time.monotonic() < deadline
        time.sleep(0.05)


def test_documented_parameters_are_accepted(api: Api, rsa_key: rsa.RSAPrivateKey) -> None:
    """Every documented query parameter passes the route's parameter check (never 'unknown'); on a route
    documented as strict an undocumented one is refused (HG-9004), elsewhere it is ignored."""
    doc = _document(api)
    client = api.register("everything", rsa_key, scopes=FULL_SCOPES)
    key = {"X-API-Key": client.api_key, "Accept": "*/*"}
    strict = 0
    for path, method, operation in _operations(doc):
        target = _path(path, operation)
        headers = {**key, **_required_headers(operation)}
        query = [(p["name"], _value(p)) for p in _parameters(operation, "query")]
        response = api.http.request(method.upper(), f"{target}?{urlencode(query)}", headers=headers)
        _settle(api, response, headers)
        assert _error_code(response) != "HG-9004", (method, path, response.text)
        refused = api.http.request(method.upper(), f"{target}?undocumented=1", headers=headers)
        _settle(api, refused, headers)
        if operation.get("x-fhir-strict-search"):
            strict += 1
            assert refused.status_code == 400, (method, path)
            assert _error_code(refused) == "HG-9004", (method, path, refused.text)
        else:
            assert _error_code(refused) != "HG-9004", (method, path)
    assert strict == len([1 for _p, endpoint in registered_endpoints(api.app) if endpoint.parses_search])


def _documented(doc: dict[str, Any], operation: dict[str, Any], response: httpx.Response, probe: str) -> int:
    status = str(response.status_code)
    where = f"{operation['operationId']} ({probe}): {status} {response.text[:200]}"
    assert status in operation["responses"], where
    documented = _resolve(doc, operation["responses"][status])
    media = response.headers.get("content-type", "").split(";")[0].strip()
    content = documented.get("content", {})
    assert (
        media in content or ("*/*" in content and response.status_code < 400) or (not content and not media)
    ), where
    if response.status_code >= 400:
        body = response.json()
        assert body.get("resourceType") == "OperationOutcome" or set(body) == {
            "error",
            "error_description",
        }, where
    for header in documented.get("headers", {}):
        if header != "WWW-Authenticate" or response.status_code == 401:
            assert header.lower() in response.headers, (where, header)
    return response.status_code


def test_every_status_a_route_answers_is_documented(api: Api, rsa_key: rsa.RSAPrivateKey) -> None:
    """Probe every operation the ways a client gets it wrong (no credentials, two credentials, a token
    without the scope, an unknown format, a wrong body, unknown ids) and as documented: each status it
    answers, with its media type and documented headers, is in the document."""
    doc = _document(api)
    full = api.register("everything", rsa_key, scopes=FULL_SCOPES)
    narrow = api.register("narrow", rsa_key, scopes="system/Provenance.r")
    token = api.token(full, "system/Patient.rs")
    seen: set[int] = set()
    for path, method, operation in _operations(doc):
        target = _path(path, operation)
        documented_query = urlencode([(p["name"], _value(p)) for p in _parameters(operation, "query")])
        required = _required_headers(operation)
        probes: dict[str, tuple[str, dict[str, str], bytes | None]] = {
            "no credentials": (target, {}, None),
            "two credentials": (target, {**token, "X-API-Key": full.api_key}, None),
            "narrow scopes": (target, {"X-API-Key": narrow.api_key}, None),
            "xml": (f"{target}?_format=application/fhir%2Bxml", {"X-API-Key": full.api_key}, None),
            "accept xml": (target, {"X-API-Key": full.api_key, "Accept": "application/fhir+xml"}, None),
            "documented": (f"{target}?{documented_query}", {"X-API-Key": full.api_key, **required}, None),
        }
        if method == "post":
            probes["text body"] = (target, {"X-API-Key": full.api_key, "Content-Type": "text/plain"}, b"x")
            probes["bad json"] = (target, {**FHIR_JSON_HEADERS, "X-API-Key": full.api_key}, b"{")
        for probe, (url, headers, body) in probes.items():
            response = api.http.request(method.upper(), url, headers=headers, content=body)
            _settle(api, response, headers)
            seen.add(_documented(doc, operation, response, probe))
    assert {200, 400, 401, 403, 404, 406, 415} <= seen


def test_the_documented_scopes_are_enough(api: Api, rsa_key: rsa.RSAPrivateKey) -> None:
    """A client holding exactly the scopes an operation documents (any one alternative) is not refused."""
    doc = _document(api)
    clients: dict[str, str] = {}
    for path, method, operation in _operations(doc):
        for requirement in operation.get("security", []):
            if "smartBackendServices" not in requirement:
                continue
            scopes = " ".join(requirement["smartBackendServices"]) or "system/Provenance.r"  # none: any
            if scopes not in clients:
                clients[scopes] = api.register(f"scoped-{len(clients)}", rsa_key, scopes=scopes).api_key
            headers = {"X-API-Key": clients[scopes], **_required_headers(operation)}
            response = api.http.request(method.upper(), _path(path, operation), headers=headers)
            _settle(api, response, headers)
            assert response.status_code != 403, (method, path, scopes, response.text)
    assert len(clients) > 20


def test_security_schemes_follow_the_settings(database: Database, tmp_path: Path, database_url: str) -> None:
    def document(**overrides: Any) -> dict[str, Any]:
        settings = api_settings(tmp_path, database_url, **overrides)
        app = create_app(settings, database=database, migrate=False)
        doc: dict[str, Any] = AsgiClient(app).get("/openapi.json").json()
        return doc

    doc = document()
    oauth = doc["components"]["securitySchemes"]["smartBackendServices"]
    assert oauth["type"] == "oauth2"
    assert oauth["flows"]["clientCredentials"]["tokenUrl"] == f"{BASE}/auth/token"
    assert doc["servers"] == [{"url": BASE}]
    key = doc["components"]["securitySchemes"]["developmentApiKey"]
    assert (key["type"], key["in"], key["name"]) == ("apiKey", "header", "X-API-Key")
    search = doc["paths"]["/Patient"]["get"]
    assert search["security"] == [
        {"smartBackendServices": ["system/Patient.s"]},
        {"developmentApiKey": ["system/Patient.s"]},
    ]
    assert not any(p["name"].startswith("X-Requesting-User") for p in search["parameters"])

    without_keys = document(api_keys_enabled=False, api_user_source="headers")
    assert "developmentApiKey" not in without_keys["components"]["securitySchemes"]
    search = without_keys["paths"]["/Patient"]["get"]
    assert search["security"] == [{"smartBackendServices": ["system/Patient.s"]}]
    assert {"X-Requesting-User-Name", "X-Requesting-User-NPI", "X-Requesting-User-Role"} <= {
        p["name"] for p in _parameters(search, "header")
    }


def test_request_bodies_and_headers(api: Api, rsa_key: rsa.RSAPrivateKey) -> None:
    doc = _document(api)
    create = doc["paths"]["/Patient"]["post"]
    body = create["requestBody"]
    assert body["required"] is True
    assert {"application/fhir+json", "application/json"} <= set(body["content"])
    assert "If-None-Exist" in {p["name"] for p in _parameters(create, "header")}
    client = api.register("creator", rsa_key, scopes=FULL_SCOPES)
    example = body["content"]["application/fhir+json"]["example"]
    created = api.http.post(
        "/Patient", json=example, headers={**FHIR_JSON_HEADERS, "X-API-Key": client.api_key}
    )
    _documented(doc, create, created, "example")
    assert created.status_code == 201

    pull = doc["paths"]["/Patient/{patient_id}/$pull"]["post"]["requestBody"]
    assert pull["content"]["application/fhir+json"]["schema"] == {"$ref": "#/components/schemas/Parameters"}
    token = doc["paths"]["/auth/token"]["post"]
    form = _resolve(doc, token["requestBody"]["content"]["application/x-www-form-urlencoded"]["schema"])
    assert set(form["required"]) == {"grant_type", "scope", "client_assertion_type", "client_assertion"}
    assert set(_resolve(doc, token["responses"]["400"])["content"]) == {"application/json"}
    assert api.app.openapi() is api.app.openapi()  # built once, then served from the cache
