"""The OpenAPI document's schema components and security schemes (:mod:`.openapi` builds the document).

The FHIR schemas are deliberately minimal (JSON Schema 2020-12, as OpenAPI 3.1 has it): each names its
``resourceType`` and the elements this server relies on, and allows the rest; the FHIR R4 specification
is the full definition. ``OperationOutcome`` is every error of the FHIR routes; ``OAuthError`` the token
endpoint's (RFC 6749 section 5.2).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Final

from fhir_facade.api.auth.assertion import ALGORITHMS, ASSERTION_TYPE
from fhir_facade.api.auth.scopes import parse_scope
from fhir_facade.api.errors import ERROR_CODE_SYSTEM, OAUTH_ERROR_SYSTEM

__all__ = [
    "API_KEY_SCHEME",
    "OAUTH_SCHEME",
    "component_schemas",
    "ref",
    "resource_schema",
    "security_schemes",
]

OAUTH_SCHEME: Final = "smartBackendServices"
API_KEY_SCHEME: Final = "developmentApiKey"
_OAUTH_ERRORS: Final = ("invalid_request", "invalid_client", "unsupported_grant_type", "invalid_scope")


def ref(name: str) -> dict[str, str]:
    """A reference to the schema component ``name``."""
    return {"$ref": f"#/components/schemas/{name}"}


def resource_schema(resource_type: str) -> dict[str, Any]:
    """A FHIR resource of ``resource_type`` (``Resource`` with its ``resourceType`` fixed)."""
    return {
        "allOf": [ref("Resource"), {"properties": {"resourceType": {"const": resource_type}}}],
        "description": f"A FHIR R4 {resource_type} resource",
    }


def _resource(resource_type: str, description: str, **properties: Any) -> dict[str, Any]:
    return {
        "type": "object",
        "description": description,
        "required": ["resourceType", *(["issue"] if resource_type == "OperationOutcome" else [])],
        "properties": {"resourceType": {"const": resource_type}, **properties},
        "additionalProperties": True,
    }


_CODING: Final = {
    "type": "object",
    "properties": {
        "system": {"type": "string"},
        "code": {"type": "string"},
        "display": {"type": "string"},
    },
}

_OPERATION_OUTCOME: Final = _resource(
    "OperationOutcome",
    "Every error of the FHIR routes (and the informational answer of an accepted asynchronous request). "
    f"details.coding carries the server's error code (system {ERROR_CODE_SYSTEM}, e.g. HG-9004) and, for "
    f"an authentication error, the OAuth error code (system {OAUTH_ERROR_SYSTEM}); expression names the "
    "parameter, header or element at fault; an unexpected error's diagnostics name an incident id that is "
    "also in the server log.",
    issue={
        "type": "array",
        "minItems": 1,
        "items": {
            "type": "object",
            "required": ["severity", "code"],
            "properties": {
                "severity": {"enum": ["fatal", "error", "warning", "information"]},
                "code": {"type": "string", "description": "FHIR IssueType code (invalid, not-found, ...)"},
                "diagnostics": {"type": "string"},
                "details": {
                    "type": "object",
                    "properties": {"coding": {"type": "array", "items": ref("Coding")}},
                },
                "expression": {"type": "array", "items": {"type": "string"}},
            },
        },
    },
)

_BUNDLE: Final = _resource(
    "Bundle",
    "A searchset: the matches (search.mode match), an OperationOutcome entry (search.mode outcome) with "
    "the warnings of a lenient search, total when known, and self and next links (follow next to page).",
    type={"const": "searchset"},
    total={"type": "integer", "minimum": 0},
    link={
        "type": "array",
        "items": {
            "type": "object",
            "required": ["relation", "url"],
            "properties": {"relation": {"enum": ["self", "next"]}, "url": {"type": "string"}},
        },
    },
    entry={
        "type": "array",
        "items": {
            "type": "object",
            "properties": {
                "fullUrl": {"type": "string"},
                "resource": ref("Resource"),
                "search": {"type": "object", "properties": {"mode": {"enum": ["match", "outcome"]}}},
            },
        },
    },
)

_PARAMETERS: Final = _resource(
    "Parameters",
    "A FHIR Parameters resource: named values (value[x]) or named groups of parts",
    parameter={
        "type": "array",
        "items": {
            "type": "object",
            "required": ["name"],
            "properties": {
                "name": {"type": "string"},
                "part": {"type": "array", "items": {"type": "object"}},
            },
            "additionalProperties": True,
        },
    },
)

_OAUTH_ERROR: Final = {
    "type": "object",
    "description": "An error of the token endpoint, as RFC 6749 section 5.2 has it",
    "required": ["error"],
    "properties": {
        "error": {"enum": list(_OAUTH_ERRORS)},
        "error_description": {"type": "string", "description": "What to fix (printable ASCII)"},
    },
}

_ACCESS_TOKEN: Final = {
    "type": "object",
    "required": ["access_token", "token_type", "expires_in", "scope"],
    "properties": {
        "access_token": {"type": "string", "description": "Send as Authorization: Bearer <access_token>"},
        "token_type": {"const": "bearer"},
        "expires_in": {"type": "integer", "description": "Lifetime in seconds"},
        "scope": {"type": "string", "description": "The granted scopes (those requested and registered)"},
    },
}

_TOKEN_REQUEST: Final = {
    "type": "object",
    "description": "SMART Backend Services token request (client credentials with a signed JWT assertion); "
    "each field once",
    "required": ["grant_type", "scope", "client_assertion_type", "client_assertion"],
    "properties": {
        "grant_type": {"const": "client_credentials"},
        "scope": {
            "type": "string",
            "description": "Space-separated SMART system scopes, e.g. "
            "'system/Patient.rs system/Patient.$pull'",
        },
        "client_assertion_type": {"const": ASSERTION_TYPE},
        "client_assertion": {
            "type": "string",
            "description": f"A JWT signed with the client's registered key ({', '.join(ALGORITHMS)}): iss "
            "and sub the client id, aud the token URL, exp within 5 minutes, a unique jti",
        },
    },
}

_SMART_CONFIGURATION: Final = {
    "type": "object",
    "description": "SMART App Launch discovery document",
    "required": ["token_endpoint"],
    "properties": {
        "issuer": {"type": "string"},
        "token_endpoint": {"type": "string"},
        "token_endpoint_auth_methods_supported": {"type": "array", "items": {"type": "string"}},
        "token_endpoint_auth_signing_alg_values_supported": {"type": "array", "items": {"type": "string"}},
        "grant_types_supported": {"type": "array", "items": {"type": "string"}},
        "scopes_supported": {"type": "array", "items": {"type": "string"}},
        "capabilities": {"type": "array", "items": {"type": "string"}},
    },
}

_BULK_MANIFEST: Final = {
    "type": "object",
    "description": "Bulk Data export manifest",
    "required": ["transactionTime", "request", "requiresAccessToken", "output", "error"],
    "properties": {
        "transactionTime": {"type": "string"},
        "request": {"type": "string"},
        "requiresAccessToken": {"const": True},
        "output": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "type": {"type": "string"},
                    "url": {"type": "string", "description": "GET with the same credentials"},
                    "count": {"type": "integer"},
                },
            },
        },
        "error": {"type": "array", "items": {"type": "object"}},
    },
}


def component_schemas() -> dict[str, Any]:
    """``components.schemas``."""
    return {
        "OperationOutcome": _OPERATION_OUTCOME,
        "Coding": _CODING,
        "Resource": {
            "type": "object",
            "description": "Any FHIR R4 resource",
            "required": ["resourceType"],
            "properties": {"resourceType": {"type": "string"}, "id": {"type": "string"}},
            "additionalProperties": True,
        },
        "Bundle": _BUNDLE,
        "Parameters": _PARAMETERS,
        "OAuthError": _OAUTH_ERROR,
        "AccessToken": _ACCESS_TOKEN,
        "TokenRequest": _TOKEN_REQUEST,
        "SmartConfiguration": _SMART_CONFIGURATION,
        "BulkManifest": _BULK_MANIFEST,
        "Ndjson": {
            "type": "string",
            "description": "Newline-delimited JSON: one FHIR resource per line",
        },
    }


def security_schemes(token_url: str, scopes: Iterable[str], *, api_keys: bool) -> dict[str, Any]:
    """``components.securitySchemes``: SMART Backend Services (OAuth 2.0 client credentials) and, when the
    server accepts them, development API keys."""
    schemes: dict[str, Any] = {
        OAUTH_SCHEME: {
            "type": "oauth2",
            "description": "SMART Backend Services: POST a signed JWT client assertion to the token URL, "
            "send the access token as 'Authorization: Bearer <token>'. v1 scopes (system/Patient.read) grant "
            "the same as their v2 letters (system/Patient.rs); system/* does not reach AuditEvent, and "
            "operations ($pull) are granted only by name.",
            "flows": {
                "clientCredentials": {
                    "tokenUrl": token_url,
                    "scopes": {scope: _scope_description(scope) for scope in sorted(set(scopes))},
                }
            },
        }
    }
    if api_keys:
        schemes[API_KEY_SCHEME] = {
            "type": "apiKey",
            "in": "header",
            "name": "X-API-Key",
            "description": "Development API key (hgk_..., from 'hiegate clients add --api-key'), accepted "
            "while the server enables them (api_keys_enabled); it may also be sent as 'Authorization: Bearer "
            "hgk_...', but not both headers at once. It carries the client's registered scopes.",
        }
    return schemes


_ACTIONS: Final = {"c": "create", "r": "read", "u": "update", "d": "delete", "s": "search"}


def _scope_description(text: str) -> str:
    scope = parse_scope(text)
    if scope is None:  # pragma: no cover - every scope listed is one the server checks
        return text
    if scope.operation is not None:
        return f"Run the {scope.operation} operation on {scope.resource}"
    target = "every resource type but AuditEvent" if scope.resource == "*" else scope.resource
    actions = [name for letter, name in _ACTIONS.items() if letter in scope.actions]
    return f"{', '.join(actions)} {target}"
