"""``POST /auth/token`` (SMART Backend Services, OAuth 2.0 client credentials) and the SMART configuration.

The token endpoint answers as RFC 6749 section 5 has it, not with OperationOutcomes like the FHIR routes:
a token (5.1) or an error (5.2), ``application/json`` ``{"error": "<code>", "error_description": "..."}``,
both with ``Cache-Control: no-store`` and ``Pragma: no-cache``. Errors are 400 (``invalid_request``,
``unsupported_grant_type``, ``invalid_scope``; a body that is not a form is ``invalid_request`` too), and
401 ``invalid_client`` with a ``WWW-Authenticate`` challenge when the client assertion is refused (RFC 6749
allows 401 for any client authentication failure). ``error_description`` keeps to the characters 5.2
allows. An unexpected failure (the database down) is still the API's 500/503 OperationOutcome.
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
from fhir_facade.api.errors import AuthenticationError, PayloadTooLargeError, http_status
from fhir_facade.api.http import read_body
from gateway.store.api import ApiClient

__all__ = ["router"]

router = APIRouter()
_FORM = "application/x-www-form-urlencoded"
_NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
_DESCRIPTION_LENGTH = 400
# RFC 6749 5.2: error_description is %x20-21 / %x23-5B / %x5D-7E, printable ASCII but quote and backslash.
_DESCRIPTION_CHARS = frozenset(chr(code) for code in range(0x20, 0x7F)) - {'"', "\\"}


def _bad_request(message: str, oauth_error: str) -> AuthenticationError:
    return AuthenticationError(message, oauth_error=oauth_error, status=400)


def _description(message: str) -> str:
    text = "".join(ch if ch in _DESCRIPTION_CHARS else "'" if ch == '"' else "?" for ch in message)
    return text[:_DESCRIPTION_LENGTH]


def _error_response(error: AuthenticationError) -> JSONResponse:
    """``error`` as RFC 6749 5.2 has it: its OAuth error code and message, with its status (400, or 401 and
    the ``WWW-Authenticate`` challenge for ``invalid_client``)."""
    body = {
        "error": error.issue.oauth_error or "invalid_request",
        "error_description": _description(error.message),
    }
    return JSONResponse(body, status_code=http_status(error), headers={**error.headers, **_NO_STORE})


async def _form(request: Request) -> dict[str, str]:
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media != _FORM:
        raise _bad_request(f"the token request must be {_FORM}", "invalid_request")
    try:
        body = await read_body(request, 64 * 1024)
    except PayloadTooLargeError:  # the token endpoint answers in RFC 6749's terms: a 400 invalid_request
        raise _bad_request("the token request is too large", "invalid_request") from None
    try:
        pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True, strict_parsing=bool(body))
    except (UnicodeDecodeError, ValueError):
        raise _bad_request("the token request is not a valid form", "invalid_request") from None
    form: dict[str, str] = {}
    for name, value in pairs:
        if name in form:
            raise _bad_request(f"parameter {name[:64]} is repeated", "invalid_request")
        form[name] = value
    return form


def _verified_client(context: ApiContext, assertion: str) -> ApiClient:
    # The jti is spent once the signature checks out, even if the scopes are then refused.
    with context.transaction() as session:
        return verify_client_assertion(session, assertion, token_url=context.token_url).client


@router.post("/auth/token", include_in_schema=True, summary="SMART Backend Services token endpoint")
async def token(request: Request, context: Context) -> JSONResponse:
    try:
        return await _token(request, context)
    except AuthenticationError as error:  # every refusal of a token request (the FHIR routes' are not here)
        return _error_response(error)


async def _token(request: Request, context: ApiContext) -> JSONResponse:
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
