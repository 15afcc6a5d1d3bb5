"""The FHIR API under test: one app per database backend (SQLite always, PostgreSQL when
HIEGATE_TEST_DATABASE_URL is set), called in-process through Starlette's TestClient (httpx), with clients
registered for two tenants and real RS384 / ES384 keys made with ``cryptography``.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from fastapi import FastAPI

from fhir_facade.api import create_app
from fhir_facade.api.auth.clients import ClientRegistration, add_api_key, jwk_from_public_pem, register_client
from gateway.config import Settings, load_settings
from gateway.store import Database
from gateway.store.documents import ensure_tenant
from tests.gateway.store.conftest import database, database_url, postgres_server_url  # noqa: F401

BASE = "http://hiegate.test"
TOKEN_URL = f"{BASE}/auth/token"
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
NPI = "1234567893"  # passes the Luhn check with the 80840 prefix
PHYSICIAN = "112247003"


@pytest.fixture(scope="session")
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="session")
def other_rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="session")
def ec_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP384R1())


def public_jwk(key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey) -> dict[str, Any]:
    pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return jwk_from_public_pem(pem)


def make_assertion(
    key: Any,
    client_id: str,
    *,
    alg: str = "RS384",
    aud: str = TOKEN_URL,
    lifetime: int = 240,
    jti: str | None = None,
    sub: str | None = None,
    kid: str | None = None,
    headers: Mapping[str, Any] | None = None,
) -> str:
    now = int(time.time())
    claims = {
        "iss": client_id,
        "sub": sub or client_id,
        "aud": aud,
        "exp": now + lifetime,
        "jti": jti or uuid.uuid4().hex,
    }
    extra = {"kid": kid} if kid else {}
    return jwt.encode(claims, key, algorithm=alg, headers={**extra, **(headers or {})})


class AsgiClient:
    """A synchronous face on ``httpx.AsyncClient(transport=httpx.ASGITransport(app))``."""

    def __init__(self, app: FastAPI, base_url: str = BASE) -> None:
        self.app = app
        self.base_url = base_url

    def request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        async def send() -> httpx.Response:
            transport = httpx.ASGITransport(app=self.app, raise_app_exceptions=False)
            async with httpx.AsyncClient(transport=transport, base_url=self.base_url) as client:
                return await client.request(method, url, **kwargs)

        return asyncio.run(send())

    def get(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("GET", url, **kwargs)

    def post(self, url: str, **kwargs: Any) -> httpx.Response:
        return self.request("POST", url, **kwargs)


@dataclass
class Registered:
    client_id: str
    key: Any
    alg: str
    api_key: str


@dataclass
class Api:
    """The app, an HTTP client for it, and helpers to register clients and get credentials."""

    app: FastAPI
    http: AsgiClient
    database: Database
    settings: Settings
    keys: dict[str, Any] = field(default_factory=dict)

    def register(
        self,
        client_id: str,
        key: Any,
        *,
        tenant: str = "clinic-a",
        scopes: str = "system/Patient.rs system/Patient.c system/AuditEvent.rs",
        alg: str = "RS384",
        user: bool = True,
        user_headers: bool = False,
    ) -> Registered:
        registration = ClientRegistration(
            client_id=client_id,
            name=client_id,
            scopes=scopes,
            jwks={"keys": [public_jwk(key)]},
            user_id=f"{client_id}-user" if user else None,
            user_name="Dr Ada Lovelace" if user else None,
            user_npi=NPI if user else None,
            user_role=PHYSICIAN if user else None,
            allow_user_headers=user_headers,
        )
        with self.database.session() as session, session.begin():
            tenant_row = ensure_tenant(session, tenant, f"Clinic {tenant}")
            client = register_client(session, tenant_row, registration)
            api_key = add_api_key(session, client)
        return Registered(client_id, key, alg, api_key)

    def token_response(self, registered: Registered, scope: str, **assertion: Any) -> Any:
        form = {
            "grant_type": "client_credentials",
            "client_assertion_type": ASSERTION_TYPE,
            "client_assertion": make_assertion(
                registered.key, registered.client_id, alg=registered.alg, **assertion
            ),
            "scope": scope,
        }
        return self.http.post("/auth/token", data=form)

    def token(
        self, registered: Registered, scope: str = "system/Patient.rs system/Patient.c"
    ) -> dict[str, str]:
        response = self.token_response(registered, scope)
        assert response.status_code == 200, response.text
        return {"Authorization": f"Bearer {response.json()['access_token']}"}


def api_settings(tmp_path: Path, url: str, **overrides: Any) -> Settings:
    return load_settings(
        database_url=url,
        api_public_url=BASE,
        api_token_key=tmp_path / "var" / "api" / "token-key.pem",
        **overrides,
    )


@pytest.fixture
def api(database: Database, tmp_path: Path, database_url: str) -> Iterator[Api]:  # noqa: F811
    settings = api_settings(tmp_path, database_url)
    app = create_app(settings, database=database, migrate=False)
    yield Api(app, AsgiClient(app), database, settings)
    # As the server's shutdown does: a pull, export or delivery the test started stops before the database
    # is disposed, rather than hold a connection past it (found by the garbage collector in a later test).
    app.state.worker.close()


@pytest.fixture
def alice(api: Api, rsa_key: rsa.RSAPrivateKey) -> Registered:
    """A client of tenant clinic-a allowed Patient read/search/create and the audit trail."""
    return api.register("alice-app", rsa_key)


@pytest.fixture
def bob(api: Api, ec_key: ec.EllipticCurvePrivateKey) -> Registered:
    """A client of tenant clinic-b (ES384 key), same scopes."""
    return api.register("bob-app", ec_key, tenant="clinic-b", alg="ES384")


def patient_json(
    family: str = "Lovelace",
    given: str = "Ada",
    birth_date: str = "1980-12-10",
    gender: str = "female",
    identifiers: tuple[tuple[str, str], ...] = (("http://clinic-a.example/mrn", "A-1001"),),
) -> dict[str, Any]:
    return {
        "resourceType": "Patient",
        "identifier": [{"system": system, "value": value} for system, value in identifiers],
        "name": [{"use": "official", "family": family, "given": [given]}],
        "gender": gender,
        "birthDate": birth_date,
        "telecom": [{"system": "phone", "value": "+1-555-0100", "use": "home"}],
        "address": [{"use": "home", "line": ["1 Analytical St"], "city": "London", "postalCode": "N1"}],
    }


FHIR_JSON_HEADERS = {"Content-Type": "application/fhir+json", "Accept": "application/fhir+json"}
