"""Who is calling: the authentication dependency, scope checks, and the requesting user.

Credentials, in order: ``Authorization: Bearer <access token>`` (from ``POST /auth/token``),
``Authorization: Bearer hgk_...`` or ``X-API-Key: hgk_...`` (development API keys, when enabled). The
client row is read on every request: a disabled client stops working at once, and its tenant scopes every
query the handler makes.

The requesting user (for audit records now and for the SAML assertion of a pull later) comes from the
client registration; when the gateway allows it (``api_user_source = "headers"``) and the client was
registered with ``--user-headers``, ``X-Requesting-User-Name``, ``-NPI``, ``-Role`` (SNOMED CT code) and
``-Id`` override the registration per request. Either way the values pass ``gateway.security``'s
validators (NPI Luhn check, known SNOMED role, printable name) or the request is refused with 400.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends
from sqlalchemy.orm import Session
from starlette.requests import Request

from fhir_facade.api.auth.clients import API_KEY_PREFIX, client_by_api_key, client_by_id
from fhir_facade.api.auth.scopes import ScopeSet
from fhir_facade.api.context import ApiContext, Context, Info, RequestInfo
from fhir_facade.api.errors import (
    AuthenticationError,
    BusinessRuleError,
    InsufficientScopeError,
    InvalidRequestError,
)
from gateway.audit import Code, Requestor
from gateway.security import Organization, RequestingUser, Role
from gateway.security.vocab import NhinPurpose, PurposeOfUse, TefcaPurpose
from gateway.store.api import ApiClient
from gateway.store.models import Tenant
from xca.errors import XuaValueError

__all__ = [
    "USER_HEADERS",
    "Principal",
    "authenticate",
    "requesting_user",
    "require_access",
    "require_operation",
    "required_scope",
]

_SCOPE_ATTRIBUTE = "__required_scope__"

USER_HEADERS = {
    "name": "X-Requesting-User-Name",
    "npi": "X-Requesting-User-NPI",
    "role": "X-Requesting-User-Role",
    "user_id": "X-Requesting-User-Id",
}


@dataclass(frozen=True, slots=True)
class Principal:
    """An authenticated client acting for one tenant with some scopes, and (maybe) a requesting user."""

    client_id: str
    tenant_id: int
    scopes: ScopeSet
    method: str
    user: RequestingUser | None
    requestor: Requestor


def _purpose(code: str) -> PurposeOfUse:
    return TefcaPurpose(code) if code.startswith("T-") else NhinPurpose(code)


def _requesting_user(
    request: Request, context: ApiContext, client: ApiClient, tenant: Tenant
) -> RequestingUser | None:
    given = {field: request.headers.get(name) for field, name in USER_HEADERS.items()}
    headers_allowed = context.user_headers_enabled and client.allow_user_headers
    if any(value is not None for value in given.values()) and not headers_allowed:
        raise InsufficientScopeError(
            "X-Requesting-User-* headers are not accepted for this client: the requesting user comes "
            "from its registration",
            expression=tuple(name for field, name in USER_HEADERS.items() if given[field] is not None),
        )
    name = given["name"] if given["name"] is not None else client.user_name
    role = given["role"] if given["role"] is not None else client.user_role
    npi = given["npi"] if given["npi"] is not None else client.user_npi
    if name is None and role is None and given["npi"] is None:
        return None
    if name is None or role is None:
        missing = [USER_HEADERS[f] for f, v in (("name", name), ("role", role)) if v is None]
        raise InvalidRequestError("the requesting user needs a name and a role", expression=missing)
    user_id = given["user_id"] or client.user_id or f"{client.client_id}/{npi or name}"
    try:
        return RequestingUser(
            user_id=user_id,
            name=name,
            role=Role(role),
            organization=Organization(tenant.name, client.organization_oid or context.home_community_id),
            purpose_of_use=_purpose(client.purpose_of_use),
            npi=npi,
        )
    except XuaValueError as exc:
        field = str(exc.detail.get("field", ""))
        where = USER_HEADERS.get(field, field)
        raise InvalidRequestError(f"requesting user: {exc.message}", expression=(where,)) from None


def _requestor(
    client: ApiClient, tenant: Tenant, context: ApiContext, user: RequestingUser | None
) -> Requestor:
    organization_id = client.organization_oid or context.home_community_id
    if user is None:
        return Requestor(user_id=client.client_id, organization=tenant.name, organization_id=organization_id)
    role, purpose = user.role.coded, user.purpose_of_use.coded
    return Requestor(
        user_id=user.user_id,
        subject_id=user.name,
        npi=user.npi,
        role=Code(code=role.code, system=role.code_system, display=role.display_name),
        organization=user.organization.name,
        organization_id=user.organization.oid,
        purpose_of_use=Code(code=purpose.code, system=purpose.code_system, display=purpose.display_name),
    )


def _credentials(request: Request) -> tuple[str, str] | None:
    authorization = request.headers.get("authorization")
    if authorization is not None and "x-api-key" in request.headers:
        # Two credentials: which one the request acts under would be a guess (RFC 6750 §2: one method only).
        raise AuthenticationError(
            "send one credential: Authorization or X-API-Key, not both", oauth_error="invalid_request"
        )
    if authorization is not None:
        scheme, _, value = authorization.partition(" ")
        if scheme.lower() != "bearer" or not value.strip():
            raise AuthenticationError("use 'Authorization: Bearer <token>'", oauth_error="invalid_request")
        value = value.strip()
        return ("api-key" if value.startswith(API_KEY_PREFIX) else "token"), value
    key = request.headers.get("x-api-key")
    return ("api-key", key.strip()) if key else None


def _load(session: Session, context: ApiContext, method: str, value: str) -> tuple[ApiClient, ScopeSet]:
    if method == "api-key":
        if not context.api_keys_enabled:
            raise AuthenticationError("API keys are disabled on this server; use a SMART access token")
        found = client_by_api_key(session, value)
        if found is None:
            raise AuthenticationError("unknown or revoked API key")
        return found[0], ScopeSet.parse(found[1].scopes)
    claims = context.tokens.verify(value)
    client = client_by_id(session, claims.client_id)
    if client is None or not client.active or client.tenant_id != claims.tenant_id:
        raise AuthenticationError("the access token's client is no longer registered or active")
    return client, ScopeSet.parse(claims.scope)


def authenticate(request: Request, context: Context) -> Principal:
    """The calling client (401 with ``WWW-Authenticate`` when credentials are missing or not valid)."""
    found = _credentials(request)
    if found is None:
        raise AuthenticationError("authentication required: send a Bearer access token", oauth_error=None)
    method, value = found
    with context.database.session() as session:
        client, scopes = _load(session, context, method, value)
        tenant = context.tenant(session, client.tenant_id)
        user = _requesting_user(request, context, client, tenant)
        requestor = _requestor(client, tenant, context, user)
    return Principal(client.client_id, client.tenant_id, scopes, method, user, requestor)


def _forbidden(needed: str) -> InsufficientScopeError:
    return InsufficientScopeError(
        f"the token's scopes do not allow this; it needs {needed}",
        headers={
            "WWW-Authenticate": f'Bearer realm="hie-gateway", error="insufficient_scope", scope="{needed}"'
        },
    )


# What a scope action asks to do, as the audit log names API interactions.
_INTERACTIONS = {"c": "create", "r": "read", "u": "update", "d": "delete", "s": "search-type"}


def audit_refusal(
    context: ApiContext,
    principal: Principal,
    request: Request,
    info: RequestInfo,
    *,
    resource: str,
    interaction: str,
    error: InsufficientScopeError,
    operation: str | None = None,
) -> None:
    """Record a 403 as an API access refused, in its own transaction: an authenticated client asking for
    what it may not have is what a compliance officer looks for (denied access attempts). The patient id of
    the path, when the route has one, is the resource asked for."""
    from fhir_facade.api.access import record_access  # it imports this module
    from gateway.audit import ApiInteraction

    asked = request.path_params.get("patient_id")
    with context.transaction() as session:
        tenant = context.tenant(session, principal.tenant_id)
        record_access(
            context, session, tenant, principal, request, info,
            interaction=ApiInteraction(interaction), resource_type=resource, status=403,
            resource_id=str(asked)[:64] if asked else None, operation=operation, error_code=error.code,
        )  # fmt: skip


def require_access(resource: str, action: str) -> Callable[..., Principal]:
    """A dependency: the principal, if its scopes allow ``action`` (c, r, u, d, s) on ``resource`` (a
    refusal is audited)."""
    needed = f"system/{resource}.{action}"

    def dependency(
        principal: Annotated[Principal, Depends(authenticate)], request: Request, context: Context, info: Info
    ) -> Principal:
        if not principal.scopes.allows(resource, action):
            error = _forbidden(needed)
            interaction = _INTERACTIONS.get(action[:1], "read")
            audit_refusal(
                context, principal, request, info, resource=resource, interaction=interaction, error=error
            )
            raise error
        return principal

    setattr(dependency, _SCOPE_ATTRIBUTE, needed)
    return dependency


def require_operation(resource: str, operation: str) -> Callable[..., Principal]:
    """A dependency: the principal, if it holds ``system/{resource}.{operation}`` (a refusal is audited)."""
    needed = f"system/{resource}.{operation}"

    def dependency(
        principal: Annotated[Principal, Depends(authenticate)], request: Request, context: Context, info: Info
    ) -> Principal:
        if not principal.scopes.allows_operation(resource, operation):
            error = _forbidden(needed)
            audit_refusal(
                context, principal, request, info,
                resource=resource, interaction="operation", error=error, operation=operation,
            )  # fmt: skip
            raise error
        return principal

    setattr(dependency, _SCOPE_ATTRIBUTE, needed)
    return dependency


def required_scope(dependency: object) -> str | None:
    """The scope a :func:`require_access` / :func:`require_operation` dependency checks (for the OpenAPI
    document), ``None`` for any other callable."""
    scope = getattr(dependency, _SCOPE_ATTRIBUTE, None)
    return scope if isinstance(scope, str) else None


def requesting_user(principal: Annotated[Principal, Depends(authenticate)]) -> RequestingUser:
    """The validated requesting user of this request (422 when the client has none): for ``$pull``."""
    if principal.user is None:
        raise BusinessRuleError(
            "this request acts for a person: register the client with a requesting user (name, role, NPI) "
            "or send X-Requesting-User-* headers where allowed"
        )
    return principal.user
