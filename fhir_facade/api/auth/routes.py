"""``POST /auth/token`` (SMART Backend Services, OAuth 2.0 client credentials) and the SMART configuration.

Errors are OperationOutcomes like everywhere else in the API (401 ``invalid_client``, 400
``invalid_request`` / ``unsupported_grant_type`` / ``invalid_scope``); the OAuth 2.0 error code rides in
``issue.details.coding`` (system ``urn:ietf:rfc:6749``) for clients that branch on it.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl

from fastapi import APIRouter
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse

from fhir_facade.api.auth.assertion import ALGORITHMS, ASSERTION_TYPE, verify_client_assertion
from fhir_facade.api.auth.scopes import EXAMPLE_SCOPES, ScopeSet
from fhir_facade.api.context import ApiContext, Context
from fhir_facade.api.errors import AuthenticationError, UnsupportedMediaTypeError
from gateway.store.api import ApiClient

__all__ = ["router"]

router = APIRouter()
_FORM = "application/x-www-form-urlencoded"
_NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


def _bad_request(message: str, oauth_error: str) -> AuthenticationError:
    return AuthenticationError(message, oauth_error=oauth_error, status=400)


async def _form(request: Request) -> dict[str, str]:
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media != _FORM:
        raise UnsupportedMediaTypeError(f"the token request must be {_FORM}")
    body = await request.body()
    if len(body) > 64 * 1024:
        raise _bad_request("the token request is too large", "invalid_request")
    try:
        pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True, strict_parsing=bool(body))
    except (UnicodeDecodeError, ValueError):
        raise _bad_request("the token request is not a valid form", "invalid_request") from None
    form: dict[str, str] = {}
    for name, value in pairs:
        if name in form:
            raise _bad_request(f"parameter {name} is repeated", "invalid_request")
        form[name] = value
    return form


def _verified_client(context: ApiContext, assertion: str) -> ApiClient:
    # The jti is spent once the signature checks out, even if the scopes are then refused.
    with context.transaction() as session:
        return verify_client_assertion(session, assertion, token_url=context.token_url).client


@router.post("/auth/token", include_in_schema=True, summary="SMART Backend Services token endpoint")
async def token(request: Request, context: Context) -> JSONResponse:
    form = await _form(request)
    if form.get("grant_type") != "client_credentials":
        raise _bad_request("grant_type must be client_credentials", "unsupported_grant_type")
    if form.get("client_assertion_type") != ASSERTION_TYPE:
        raise _bad_request(f"client_assertion_type must be {ASSERTION_TYPE}", "invalid_request")
    assertion, scope = form.get("client_assertion"), form.get("scope")
    if not assertion:
        raise _bad_request("client_assertion is required", "invalid_request")
    if not scope:
        raise _bad_request("scope is required (e.g. system/Patient.read)", "invalid_scope")
    try:
        requested = ScopeSet.parse(scope)
    except ValueError as exc:
        raise _bad_request(str(exc), "invalid_scope") from None
    client = await run_in_threadpool(_verified_client, context, assertion)
    granted = ScopeSet.parse(client.scopes).grant(requested)
    if not granted.scopes:
        raise _bad_request("none of the requested scopes is registered for this client", "invalid_scope")
    access_token, lifetime = context.tokens.issue(
        client_id=client.client_id, tenant_id=client.tenant_id, scope=granted.text
    )
    body = {
        "access_token": access_token,
        "token_type": "bearer",
        "expires_in": lifetime,
        "scope": granted.text,
    }
    return JSONResponse(body, headers=_NO_STORE)


def smart_configuration(context: ApiContext) -> dict[str, Any]:
    return {
        "issuer": context.base_url,
        "token_endpoint": context.token_url,
        "token_endpoint_auth_methods_supported": ["private_key_jwt"],
        "token_endpoint_auth_signing_alg_values_supported": list(ALGORITHMS),
        "grant_types_supported": ["client_credentials"],
        "scopes_supported": list(EXAMPLE_SCOPES),
        "capabilities": ["client-confidential-asymmetric", "permission-v1", "permission-v2"],
    }


@router.get("/.well-known/smart-configuration", summary="SMART configuration (discovery)")
def well_known(context: Context) -> JSONResponse:
    return JSONResponse(smart_configuration(context))
