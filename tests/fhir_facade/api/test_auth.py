"""SMART Backend Services token flow, refused assertions, scopes, API keys and the requesting user."""

from __future__ import annotations

import logging
import time
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from gateway.audit import AuditFilter, iter_records
from gateway.store import Tenant
from tests.fhir_facade.api.conftest import (
    ASSERTION_TYPE,
    FHIR_JSON_HEADERS,
    NPI,
    TOKEN_URL,
    Api,
    Registered,
    make_assertion,
    patient_json,
)


def _outcome(response: Any, status: int, oauth_error: str | None = None) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/fhir+json")
    body: dict[str, Any] = response.json()
    assert body["resourceType"] == "OperationOutcome"
    if oauth_error is not None:
        codes = [c["code"] for c in body["issue"][0]["details"]["coding"]]
        assert oauth_error in codes
    return body


# RFC 6749 5.2: error_description is %x20-21 / %x23-5B / %x5D-7E.
_DESCRIPTION_CHARS = {chr(code) for code in range(0x20, 0x7F)} - {'"', "\\"}


def _token_error(response: Any, status: int, error: str) -> str:
    """The token endpoint's refusal as RFC 6749 5.2 has it; returns its ``error_description``."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].split(";")[0] == "application/json"
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["pragma"] == "no-cache"
    body: dict[str, Any] = response.json()
    assert set(body) == {"error", "error_description"}
    assert body["error"] == error
    description: str = body["error_description"]
    assert description
    assert set(description) <= _DESCRIPTION_CHARS
    return description


def test_rs384_token_flow_reads_patients(api: Api, alice: Registered) -> None:
    response = api.token_response(alice, "system/Patient.read")
    assert response.status_code == 200
    assert response.headers["content-type"].split(";")[0] == "application/json"
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["pragma"] == "no-cache"
    body = response.json()
    assert body["token_type"] == "bearer"
    assert body["scope"] == "system/Patient.read"
    assert 0 < body["expires_in"] <= 300
    claims = jwt.decode(body["access_token"], options={"verify_signature": False})
    assert claims["sub"] == "alice-app"
    assert claims["aud"] == "http://hiegate.test"
    search = api.http.get("/Patient", headers={"Authorization": f"Bearer {body['access_token']}"})
    assert search.status_code == 200
    assert search.json()["total"] == 0


def test_es384_token_flow(api: Api, bob: Registered) -> None:
    headers = api.token(bob, "system/Patient.rs")
    assert api.http.get("/Patient", headers=headers).status_code == 200


def test_requested_scopes_are_narrowed_to_the_registration(api: Api, alice: Registered) -> None:
    response = api.token_response(alice, "system/Patient.rs system/Observation.rs")
    assert response.status_code == 200
    assert response.json()["scope"] == "system/Patient.rs"
    refused = api.token_response(alice, "system/Observation.rs")
    _token_error(refused, 400, "invalid_scope")
    unknown = api.token_response(alice, "patient/Patient.read")
    _token_error(unknown, 400, "invalid_scope")


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("expired", "expired"),
        ("wrong-audience", "aud"),
        ("wrong-key", "signature"),
        ("unknown-client", "not a registered client"),
        ("too-long-lived", "five minutes"),
        ("hs256", "RS384 or ES384"),
        ("jku-header", "key URLs"),
        ("sub-differs", "sub must equal"),
        ("not-a-jwt", "not a JWT"),
    ],
)
def test_refused_client_assertions(
    api: Api, alice: Registered, other_rsa_key: rsa.RSAPrivateKey, case: str, expected: str
) -> None:
    assertion: str
    if case == "expired":
        assertion = make_assertion(alice.key, alice.client_id, lifetime=-120)
    elif case == "wrong-audience":
        assertion = make_assertion(alice.key, alice.client_id, aud="https://elsewhere.example/token")
    elif case == "wrong-key":
        assertion = make_assertion(other_rsa_key, alice.client_id)
    elif case == "unknown-client":
        assertion = make_assertion(alice.key, "nobody")
    elif case == "too-long-lived":
        assertion = make_assertion(alice.key, alice.client_id, lifetime=3600)
    elif case == "hs256":
        assertion = make_assertion("a-shared-secret-that-is-long-enough-32b", alice.client_id, alg="HS256")
    elif case == "jku-header":
        assertion = make_assertion(alice.key, alice.client_id, headers={"jku": "https://evil.example/jwks"})
    elif case == "sub-differs":
        assertion = make_assertion(alice.key, alice.client_id, sub="someone-else")
    else:
        assertion = "not-a-jwt"
    form = {
        "grant_type": "client_credentials",
        "client_assertion_type": ASSERTION_TYPE,
        "client_assertion": assertion,
        "scope": "system/Patient.read",
    }
    response = api.http.post("/auth/token", data=form)
    assert expected in _token_error(response, 401, "invalid_client")
    assert response.headers["www-authenticate"].startswith("Bearer")


def test_replayed_assertion_is_refused(api: Api, alice: Registered) -> None:
    assertion = make_assertion(alice.key, alice.client_id, jti="once-only")
    form = {
        "grant_type": "client_credentials",
        "client_assertion_type": ASSERTION_TYPE,
        "client_assertion": assertion,
        "scope": "system/Patient.read",
    }
    assert api.http.post("/auth/token", data=form).status_code == 200
    assert "replay" in _token_error(api.http.post("/auth/token", data=form), 401, "invalid_client")


@pytest.mark.parametrize(
    ("form", "status", "error"),
    [
        ({"grant_type": "password"}, 400, "unsupported_grant_type"),
        ({"client_assertion_type": "urn:other"}, 400, "invalid_request"),
        ({"client_assertion": ""}, 400, "invalid_request"),
        ({"scope": ""}, 400, "invalid_scope"),
    ],
)
def test_malformed_token_requests(
    api: Api, alice: Registered, form: dict[str, str], status: int, error: str
) -> None:
    base = {
        "grant_type": "client_credentials",
        "client_assertion_type": ASSERTION_TYPE,
        "client_assertion": make_assertion(alice.key, alice.client_id),
        "scope": "system/Patient.read",
    }
    _token_error(api.http.post("/auth/token", data={**base, **form}), status, error)


def test_token_request_must_be_a_form(api: Api) -> None:
    # RFC 6749 5.2: a malformed token request is 400 invalid_request (not the FHIR routes' 415).
    response = api.http.post("/auth/token", json={"grant_type": "client_credentials"})
    assert "x-www-form-urlencoded" in _token_error(response, 400, "invalid_request")


@pytest.mark.parametrize(
    ("body", "named"),
    [
        (b"grant_type=client_credentials&grant_type=client_credentials", "repeated"),
        (b"%22%5C%C3%A9=1&%22%5C%C3%A9=2", "repeated"),  # a parameter named "\\é, named in the description
        (b"grant_type&scope", "not a valid form"),
        (b"scope=\xff", "not a valid form"),
        (b"x" * (64 * 1024 + 1), "too large"),
    ],
)
def test_malformed_token_forms_are_rfc6749_errors(api: Api, body: bytes, named: str) -> None:
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    response = api.http.post("/auth/token", content=body, headers=headers)
    assert named in _token_error(response, 400, "invalid_request")


def test_token_error_description_keeps_to_rfc6749_characters(api: Api, alice: Registered) -> None:
    # The refused scope is named in the description: its quote, backslash and accent are replaced.
    response = api.token_response(alice, 'system/Pä"t\\ient.read')
    description = _token_error(response, 400, "invalid_scope")
    assert description.startswith("unsupported scope 'system/P?'t??ient.read'")


def test_token_errors_log_no_assertion(api: Api, alice: Registered, caplog: pytest.LogCaptureFixture) -> None:
    assertion = make_assertion(alice.key, "nobody")
    form = {
        "grant_type": "client_credentials",
        "client_assertion_type": ASSERTION_TYPE,
        "client_assertion": assertion,
        "scope": "system/Patient.read",
    }
    with caplog.at_level(logging.DEBUG):
        _token_error(api.http.post("/auth/token", data=form), 401, "invalid_client")
    assert "POST /auth/token 401" in caplog.text  # the request log line, as for every request
    assert assertion not in caplog.text
    assert assertion.split(".")[1] not in caplog.text


def test_fhir_routes_still_answer_operation_outcomes(api: Api) -> None:
    # Only the token endpoint speaks RFC 6749: a missing bearer token on a FHIR route is an OperationOutcome.
    _outcome(api.http.get("/Patient"), 401)
    _outcome(api.http.get("/Patient", headers={"Authorization": "Bearer not-a-token"}), 401, "invalid_token")


def test_missing_and_invalid_credentials_are_401(api: Api, alice: Registered) -> None:
    missing = api.http.get("/Patient")
    _outcome(missing, 401)
    assert missing.headers["www-authenticate"] == 'Bearer realm="hie-gateway"'
    forged = api.http.get("/Patient", headers={"Authorization": "Bearer eyJhbGciOiJIUzI1NiJ9.e30.x"})
    _outcome(forged, 401, "invalid_token")
    assert 'error="invalid_token"' in forged.headers["www-authenticate"]
    basic = api.http.get("/Patient", headers={"Authorization": "Basic dXNlcjpwYXNz"})
    _outcome(basic, 401, "invalid_request")


def test_two_credentials_are_refused_whichever_is_valid(api: Api, alice: Registered) -> None:
    # A valid token with a wrong key (or the reverse): the request would act under a guess.
    token = api.token(alice)["Authorization"]
    for headers in (
        {"Authorization": token, "X-API-Key": "hgk_not-a-key"},
        {"Authorization": "Bearer eyJhbGciOiJIUzI1NiJ9.e30.x", "X-API-Key": alice.api_key},
        {"Authorization": token, "X-API-Key": alice.api_key},
    ):
        _outcome(api.http.get("/Patient", headers=headers), 401, "invalid_request")


def test_token_signed_by_another_server_key_is_refused(api: Api, alice: Registered) -> None:
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP256R1())
    now = int(time.time())
    claims = {"iss": TOKEN_URL, "aud": "http://hiegate.test", "sub": "alice-app", "tenant": 1,
              "scope": "system/Patient.rs", "iat": now, "exp": now + 60, "jti": "x"}  # fmt: skip
    forged = jwt.encode(claims, key, algorithm="ES256", headers={"kid": api.app.state.api.tokens.kid})
    _outcome(api.http.get("/Patient", headers={"Authorization": f"Bearer {forged}"}), 401)


def test_scopes_are_enforced(api: Api, rsa_key: rsa.RSAPrivateKey) -> None:
    reader = api.register("reader", rsa_key, scopes="system/Patient.read system/*.read")
    headers = api.token(reader, "system/Patient.read system/*.read")
    created = api.http.post("/Patient", json=patient_json(), headers={**FHIR_JSON_HEADERS, **headers})
    body = _outcome(created, 403)
    assert body["issue"][0]["code"] == "forbidden"
    assert 'error="insufficient_scope"' in created.headers["www-authenticate"]
    # system/*.read does not reach the audit trail: that needs system/AuditEvent.read by name.
    _outcome(api.http.get("/AuditEvent", headers=headers), 403)
    assert api.http.get("/Patient", headers=headers).status_code == 200


def test_api_keys(api: Api, alice: Registered) -> None:
    assert api.http.get("/Patient", headers={"Authorization": f"Bearer {alice.api_key}"}).status_code == 200
    assert api.http.get("/Patient", headers={"X-API-Key": alice.api_key}).status_code == 200
    _outcome(api.http.get("/Patient", headers={"X-API-Key": "hgk_unknown"}), 401)


def test_api_keys_can_be_disabled(api: Api, alice: Registered) -> None:
    object.__setattr__(api.app.state.api, "api_keys_enabled", False)
    _outcome(api.http.get("/Patient", headers={"X-API-Key": alice.api_key}), 401)


def test_disabled_client_loses_access_at_once(api: Api, alice: Registered) -> None:
    from fhir_facade.api.auth.clients import client_by_id

    headers = api.token(alice)
    with api.database.session() as session, session.begin():
        client = client_by_id(session, alice.client_id)
        assert client is not None
        client.active = False
    _outcome(api.http.get("/Patient", headers=headers), 401)
    _outcome(api.http.get("/Patient", headers={"X-API-Key": alice.api_key}), 401)


def test_smart_configuration(api: Api) -> None:
    body = api.http.get("/.well-known/smart-configuration").json()
    assert body["token_endpoint"] == TOKEN_URL
    assert body["token_endpoint_auth_methods_supported"] == ["private_key_jwt"]
    assert set(body["token_endpoint_auth_signing_alg_values_supported"]) == {"RS384", "ES384"}
    assert "client-confidential-asymmetric" in body["capabilities"]


def _last_api_requestor(api: Api, slug: str) -> Any:
    with api.database.session() as session:
        tenant = session.query(Tenant).filter_by(slug=slug).one()
        records = list(iter_records(session, tenant, AuditFilter()))
    return records[-1].event.requestor


def test_requesting_user_from_registration(api: Api, alice: Registered) -> None:
    from fhir_facade.api.auth.principal import requesting_user

    assert api.http.get("/Patient", headers={"X-API-Key": alice.api_key}).status_code == 200
    requestor = _last_api_requestor(api, "clinic-a")
    assert requestor.npi == NPI
    assert requestor.subject_id == "Dr Ada Lovelace"
    assert requestor.role.code == "112247003"
    assert callable(requesting_user)


def test_requesting_user_headers_need_permission(api: Api, alice: Registered) -> None:
    response = api.http.get(
        "/Patient", headers={"X-API-Key": alice.api_key, "X-Requesting-User-Name": "Someone Else"}
    )
    body = _outcome(response, 403)
    assert body["issue"][0]["expression"] == ["X-Requesting-User-Name"]


def test_requesting_user_from_headers_is_validated(
    database: Any, tmp_path: Any, database_url: str, rsa_key: rsa.RSAPrivateKey
) -> None:
    from fhir_facade.api import create_app
    from tests.fhir_facade.api.conftest import AsgiClient, api_settings

    settings = api_settings(tmp_path, database_url, api_user_source="headers")
    app = create_app(settings, database=database, migrate=False)
    http = AsgiClient(app)
    api = Api(app, http, database, settings)
    portal = api.register("portal", rsa_key, user=False, user_headers=True)
    key = {"X-API-Key": portal.api_key}
    user = {"X-Requesting-User-Name": "Dr Grace Hopper", "X-Requesting-User-Role": "309343006"}
    ok = http.get("/Patient", headers={**key, **user, "X-Requesting-User-NPI": NPI})
    assert ok.status_code == 200
    requestor = _last_api_requestor(api, "clinic-a")
    assert (requestor.subject_id, requestor.npi, requestor.role.code) == ("Dr Grace Hopper", NPI, "309343006")
    bad_npi = http.get("/Patient", headers={**key, **user, "X-Requesting-User-NPI": "1234567890"})
    assert _outcome(bad_npi, 400)["issue"][0]["expression"] == ["X-Requesting-User-NPI"]
    bad_role = http.get("/Patient", headers={**key, **user, "X-Requesting-User-Role": "999"})
    assert _outcome(bad_role, 400)["issue"][0]["expression"] == ["X-Requesting-User-Role"]
    no_name = http.get("/Patient", headers={**key, "X-Requesting-User-NPI": NPI})
    assert _outcome(no_name, 400)["issue"][0]["expression"] == [
        "X-Requesting-User-Name",
        "X-Requesting-User-Role",
    ]
    # A system client without a user is fine for reads; the audit record names the client.
    assert http.get("/Patient", headers=key).status_code == 200
    assert _last_api_requestor(api, "clinic-a").user_id == "portal"
