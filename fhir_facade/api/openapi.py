"""The OpenAPI document (``GET /openapi.json``), built once from the app's routes and cached.

FastAPI's own document lists the paths, but the FHIR handlers read their query with
:func:`~fhir_facade.api.routing.parse_search` and their bodies themselves, so it knows no search parameter,
request body or error. Each operation is rebuilt here from what the route itself declares and depends on:

- query parameters: the search parameters of the route's :class:`~fhir_facade.api.routing.FhirEndpoint`,
  the declaration the CapabilityStatement (:mod:`.capability`) is built from, so the two cannot disagree
  (each marked ``x-fhir-search-param``); the result parameters :func:`parse_search` accepts
  (:data:`~fhir_facade.api.routing.CONTROL_PARAMETERS`), with what each does on that route; ``_format``
  where the route negotiates (``negotiate``, ``negotiate_ndjson``). A route that parses its search is
  marked ``x-fhir-strict-search``: any other query parameter is refused (400) unless ``Prefer:
  handling=lenient``; other routes ignore unknown query parameters;
- security: the route depends on ``authenticate`` (SMART Backend Services, or a development API key when
  the server enables them), with the scope its ``require_access`` / ``require_operation`` checks;
- errors, each an OperationOutcome: 500 everywhere, 503 where the database is read, 400/401/403 where the
  caller is authenticated, 406 where the route negotiates, 400 where it parses a search, 404 where its path
  names something, 422 where it needs a requesting user, and those its handler raises itself;
- the request body, headers and successful answers from :mod:`.openapi_routes`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Final

from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute

from fhir_facade.api.auth.principal import USER_HEADERS, authenticate, requesting_user, required_scope
from fhir_facade.api.auth.scopes import EXAMPLE_SCOPES
from fhir_facade.api.context import ApiContext, request_info
from fhir_facade.api.http import FHIR_JSON, FHIR_NDJSON, JSON, negotiate, negotiate_ndjson
from fhir_facade.api.openapi_routes import PATH_PARAMETERS, Answer, HeaderParam, RouteDoc, route_doc
from fhir_facade.api.openapi_schemas import (
    API_KEY_SCHEME,
    OAUTH_SCHEME,
    component_schemas,
    ref,
    security_schemes,
)
from fhir_facade.api.paging import DEFAULT_COUNT, MAX_COUNT
from fhir_facade.api.routing import (
    CONTROL_PARAMETERS,
    FhirEndpoint,
    SearchParam,
    SearchParamType,
    api_routes,
    declared_endpoint,
)

__all__ = ["install_openapi", "openapi_document"]

_DESCRIPTION: Final = (
    "The hie-gateway FHIR R4 API: register patients, pull their records from the health information "
    "network, read the consolidated record, search the audit trail. Every error of the FHIR routes is an "
    "OperationOutcome (application/fhir+json); the token endpoint's errors are RFC 6749 JSON. The "
    "CapabilityStatement (GET /metadata) is generated from the same route declarations as this document."
)
_IGNORED: Final = "Accepted and ignored on this route"
_DATE_SYNTAX: Final = (
    "value YYYY, YYYY-MM, YYYY-MM-DD or YYYY-MM-DDThh:mm[:ss[.fff]][Z|+hh:mm|-hh:mm] (UTC without a zone), "
    "optionally prefixed eq (default), ge, gt, le or lt (ne, sa, eb, ap are refused)"
)
_PREFER: Final = {
    "respond-async": "respond-async (required): run the export asynchronously",
    "return=minimal": "return=minimal: answer with the status and headers only, no body",
    "handling=lenient": "handling=lenient: ignore unknown search parameters, modifiers and empty values "
    "(a searchset reports them as warnings) instead of refusing them with 400 (handling=strict, the default)",
}
_ERRORS: Final = {
    400: "Bad request (expression names the parameter, header or element at fault)",
    401: "Authentication required: no credentials, or credentials that are not valid (an expired or "
    "unknown token, a revoked API key, both Authorization and X-API-Key)",
    403: "Forbidden",
    404: "Not found: not known to the caller's organization (another organization's ids are not found "
    "either)",
    406: "Not acceptable: Accept or _format asks for a format this route does not answer",
    409: "Conflict",
    412: "Precondition failed",
    413: "Payload too large",
    415: "Unsupported media type",
    422: "Unprocessable: a business rule refuses the request",
    500: "Unexpected server error: diagnostics name an incident id, also in the server log",
    503: "The database is unavailable (issue code transient): retry later",
}
_COMMON: Final = {401: "Unauthorized", 404: "NotFound", 406: "NotAcceptable", 500: "ServerError",
                   503: "DatabaseUnavailable"}  # fmt: skip
"""The error responses that say the same on every route that gives them, by their component name."""
_RESPONSE_HEADERS: Final = {
    "Location": "The Patient's version URL: {base}/Patient/{id}/_history/1",
    "ETag": 'The version: W/"1"',
    "Last-Modified": "When the Patient was last changed (HTTP date)",
    "Content-Location": "The status URL to poll",
    "Retry-After": "Seconds to wait before polling again",
    "X-Progress": "The job's progress, as text",
    "WWW-Authenticate": "The Bearer challenge (error, and the scope needed when one is missing)",
    "Cache-Control": "no-store",
    "Pragma": "no-cache",
}


def install_openapi(app: FastAPI) -> None:
    """Serve :func:`openapi_document` as ``app``'s OpenAPI document (built on first use, then cached)."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = openapi_document(app)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def openapi_document(app: FastAPI) -> dict[str, Any]:
    """The OpenAPI 3.1 document of ``app`` (built by :func:`fhir_facade.api.app.create_app`)."""
    context: ApiContext = app.state.api
    generated = get_openapi(title=app.title, version=app.version, routes=app.routes)
    shared = _Shared(scopes=set(EXAMPLE_SCOPES), responses={})
    paths: dict[str, dict[str, Any]] = {}
    for path, route in api_routes(app):
        if not route.include_in_schema:
            continue
        for method in sorted(route.methods or ()):
            base = generated["paths"][path][method.lower()]
            operation = _operation(method, path, route, base, context, shared)
            paths.setdefault(path, {})[method.lower()] = operation
    return {
        "openapi": generated["openapi"],
        "info": {**generated["info"], "description": _DESCRIPTION},
        "servers": [{"url": context.base_url}],
        "paths": paths,
        "components": {
            "schemas": component_schemas(),
            "responses": dict(sorted(shared.responses.items())),
            "securitySchemes": security_schemes(
                context.token_url, shared.scopes, api_keys=context.api_keys_enabled
            ),
        },
    }


@dataclass(frozen=True, slots=True)
class _Shared:
    """What the operations contribute to the whole document: the scopes they need, and the error
    responses that say the same on every route (``components.responses``, by name)."""

    scopes: set[str]
    responses: dict[str, Any]


def _calls(dependant: Dependant) -> Iterator[Callable[..., Any]]:
    for sub in dependant.dependencies:
        if sub.call is not None:
            yield sub.call
        yield from _calls(sub)


def _operation(
    method: str, path: str, route: APIRoute, base: dict[str, Any], context: ApiContext, shared: _Shared
) -> dict[str, Any]:
    calls = set(_calls(route.dependant))
    endpoint = declared_endpoint(route)
    doc = route_doc(method, path, endpoint) or RouteDoc({200: Answer("Success", {})})
    authenticated = authenticate in calls
    negotiation = FHIR_JSON if negotiate in calls else FHIR_NDJSON if negotiate_ndjson in calls else None
    strict = endpoint is not None and endpoint.parses_search
    needed = sorted({scope for call in calls if (scope := required_scope(call)) is not None})
    shared.scopes.update(needed, doc.scopes_any)
    path_params = [p for p in base.get("parameters", []) if p.get("in") == "path"]
    operation: dict[str, Any] = {
        "tags": [endpoint.resource_type if endpoint and endpoint.resource_type else doc.tag or "Server"],
        "summary": base.get("summary", ""),
        "operationId": base["operationId"],
    }
    description = _description(endpoint, doc, needed)
    if description:
        operation["description"] = description
    if strict:
        operation["x-fhir-strict-search"] = True
    parameters = [_path_parameter(p) for p in path_params]
    parameters += _query_parameters(endpoint, doc, negotiation, strict=strict)
    parameters += _header_parameters(calls, doc, context, strict=strict, authenticated=authenticated)
    if parameters:
        operation["parameters"] = parameters
    if doc.body is not None:
        content = {media: {"schema": dict(doc.body.schema)} for media in doc.body.media}
        if doc.body.example is not None:
            for item in content.values():
                item["example"] = dict(doc.body.example)
        operation["requestBody"] = {"required": True, "description": doc.body.description, "content": content}
    fhir_media = (FHIR_JSON, JSON) if negotiation == FHIR_JSON else (FHIR_JSON,)
    responses = {str(status): _answer(answer, fhir_media) for status, answer in doc.answers.items()}
    scoped = bool(needed or doc.scopes_any)
    errors = _errors(
        calls, doc, strict=strict, authenticated=authenticated, scoped=scoped, with_path=bool(path_params)
    )
    for status, notes in errors.items():
        error = _error(status, notes, doc, fhir_media, scoped=bool(needed))
        name = _COMMON.get(status)
        if name is not None and not notes:  # the same everywhere: one shared component
            name += "" if fhir_media == (FHIR_JSON,) else "Negotiated"
            shared.responses[name] = error
            error = {"$ref": f"#/components/responses/{name}"}
        responses[str(status)] = error
    operation["responses"] = dict(sorted(responses.items()))
    operation["security"] = _security(
        needed, doc, authenticated=authenticated, api_keys=context.api_keys_enabled
    )
    return operation


def _description(endpoint: FhirEndpoint | None, doc: RouteDoc, needed: list[str]) -> str:
    parts = []
    if endpoint is not None:
        parts.append(endpoint.documentation)
        if endpoint.operation is not None:
            parts.append(f"Operation ${endpoint.operation.name} ({endpoint.operation.definition})")
    if doc.description:
        parts.append(doc.description)
    if needed:
        parts.append(f"Needs the scope {' and '.join(needed)}")
    if doc.scopes_any:
        parts.append(f"Needs the scope {' or '.join(doc.scopes_any)}")
    return ". ".join(part.rstrip(".") for part in parts) + ("." if parts else "")


def _path_parameter(generated: dict[str, Any]) -> dict[str, Any]:
    name = str(generated["name"])
    description, example = PATH_PARAMETERS.get(name, ("", None))
    parameter = {"name": name, "in": "path", "required": True, "schema": generated.get("schema", {})}
    if description:
        parameter["description"] = description
    if example is not None:
        parameter["example"] = example
    return parameter


def _search_parameter(param: SearchParam, modifier: str | None = None) -> dict[str, Any]:
    text = (
        param.documentation if modifier is None else f"{param.name} with :{modifier}: {param.documentation}"
    )
    description = f"{text.rstrip('.')}. FHIR {param.type.value} search parameter"
    if param.type is SearchParamType.DATE:
        description += f": {_DATE_SYNTAX}"
    marker: dict[str, str] = {"name": param.name, "type": param.type.value}
    if modifier is not None:
        marker["modifier"] = modifier
    parameter: dict[str, Any] = {
        "name": param.name if modifier is None else f"{param.name}:{modifier}",
        "in": "query",
        "required": param.required and modifier is None,
        "description": description + ".",
        "schema": {"type": "string", "minLength": 1},
        "x-fhir-search-param": marker,
    }
    if param.type is SearchParamType.DATE:
        parameter["example"] = "2024-01-01"
    return parameter


def _format_text(negotiation: str | None) -> str:
    if negotiation == FHIR_JSON:
        return (
            "Response format, overriding Accept: json, application/fhir+json or application/json+fhir "
            "(answered as application/fhir+json) or application/json; anything else is 406"
        )
    if negotiation == FHIR_NDJSON:
        return "Response format: ndjson, application/fhir+ndjson or application/ndjson; anything else is 406"
    return f"{_IGNORED}: the answer is application/fhir+json"


def _control_parameter(name: str, doc: RouteDoc, negotiation: str | None, *, strict: bool) -> dict[str, Any]:
    """A result parameter: what it does on this route (``strict``: the route parses a search, which refuses
    a repeat)."""
    paging = doc.paged and name in ("_count", "_cursor")
    texts = {
        "_count": f"Page size, a non-negative integer (default {DEFAULT_COUNT}; more than {MAX_COUNT} is "
        f"served as {MAX_COUNT})",
        "_cursor": "Paging cursor: the opaque value a searchset's next link carries (not to be built); 400 "
        "when it is not one of this search",
        "_total": "accurate: count every match (total is otherwise given only when the first page holds "
        "them all)"
        if doc.counts_total
        else f"{_IGNORED}: total is given when known",
        "_pretty": f"{_IGNORED}: the JSON is compact",
        "_format": _format_text(negotiation),
    }
    text = texts[name] if paging or name not in ("_count", "_cursor") else _IGNORED
    parameter: dict[str, Any] = {
        "name": name,
        "in": "query",
        "required": False,
        "description": text + (". Given at most once." if strict else "."),
        "schema": {"type": "integer", "minimum": 0} if name == "_count" else {"type": "string"},
    }
    examples = {
        "_count": 10,
        "_format": "ndjson" if negotiation == FHIR_NDJSON else "json",
        "_total": "accurate" if doc.counts_total else None,
    }
    if examples.get(name) is not None:
        parameter["example"] = examples[name]
    return parameter


def _query_parameters(
    endpoint: FhirEndpoint | None, doc: RouteDoc, negotiation: str | None, *, strict: bool
) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    for param in endpoint.search_params if endpoint is not None else ():
        found.append(_search_parameter(param))
        found += [_search_parameter(param, modifier) for modifier in param.modifiers]
    if strict:
        found += [
            _control_parameter(name, doc, negotiation, strict=True) for name in sorted(CONTROL_PARAMETERS)
        ]
    elif negotiation is not None:
        found.append(_control_parameter("_format", doc, negotiation, strict=False))
    return found


def _header(header: HeaderParam) -> dict[str, Any]:
    parameter: dict[str, Any] = {
        "name": header.name,
        "in": "header",
        "required": header.required,
        "description": header.description,
        "schema": {"type": "string"},
    }
    if header.example is not None:
        parameter["example"] = header.example
    return parameter


def _header_parameters(
    calls: set[Callable[..., Any]], doc: RouteDoc, context: ApiContext, *, strict: bool, authenticated: bool
) -> list[dict[str, Any]]:
    headers = list(doc.headers)
    tokens = [*doc.prefer, *(["handling=lenient"] if strict else [])]
    if tokens:
        text = "Comma-separated preferences: " + "; ".join(_PREFER[token] for token in tokens)
        headers.append(HeaderParam("Prefer", text, doc.prefer_required, tokens[0]))
    if request_info in calls:
        headers.append(
            HeaderParam(
                "X-Request-Id",
                "An id for this request (1 to 64 printable characters), kept in its audit record; one is "
                "generated otherwise",
            )
        )
    if authenticated and context.user_headers_enabled:
        for field, name in USER_HEADERS.items():
            headers.append(
                HeaderParam(
                    name,
                    f"The requesting user's {field.replace('_', ' ')} for this request, overriding the "
                    "client registration's; only for a client registered with --user-headers (others are "
                    "refused with 403). Role: a SNOMED CT code; NPI: checked with its Luhn digit.",
                )
            )
    return [_header(header) for header in headers]


def _headers(names: tuple[str, ...]) -> dict[str, Any]:
    return {name: {"description": _RESPONSE_HEADERS[name], "schema": {"type": "string"}} for name in names}


def _answer(answer: Answer, fhir_media: tuple[str, ...]) -> dict[str, Any]:
    out: dict[str, Any] = {"description": answer.description}
    media = fhir_media if answer.media is None else answer.media
    if media:
        out["content"] = {name: {"schema": dict(answer.schema or {})} for name in media}
    if answer.headers:
        out["headers"] = _headers(answer.headers)
    return out


def _errors(
    calls: set[Callable[..., Any]],
    doc: RouteDoc,
    *,
    strict: bool,
    authenticated: bool,
    scoped: bool,
    with_path: bool,
) -> dict[int, list[str]]:
    """The error statuses of one operation, each with the notes that say when."""
    errors: dict[int, list[str]] = {500: []}
    if doc.database or authenticated:
        errors[503] = []
    if authenticated:
        errors.setdefault(400, []).append("requesting-user details that fail validation")
        errors[401] = []
        errors[403] = [
            ("the token's scopes do not allow this, or " if scoped else "")
            + "X-Requesting-User-* headers come from a client not allowed to send them"
        ]
    if negotiate in calls or negotiate_ndjson in calls:
        errors[406] = []
    if strict:
        errors.setdefault(400, []).append(
            "an unknown search parameter or modifier or an empty value (unless Prefer: handling=lenient), "
            "a result parameter given twice, or a value that is not valid"
        )
    if with_path:
        errors.setdefault(404, [])
    if requesting_user in calls:
        errors.setdefault(422, []).append(
            "the client has no requesting user (name and role): register one, or send X-Requesting-User-* "
            "headers where allowed"
        )
    for status, note in doc.errors.items():
        errors.setdefault(status, []).insert(0, note)
    return errors


def _error(
    status: int, notes: list[str], doc: RouteDoc, fhir_media: tuple[str, ...], *, scoped: bool
) -> dict[str, Any]:
    if doc.oauth_errors and status in (400, 401):
        out: dict[str, Any] = {
            "description": f"RFC 6749 error: {'; '.join(notes)}",
            "content": {JSON: {"schema": ref("OAuthError")}},
            "headers": _headers(
                ("Cache-Control", "Pragma", *(("WWW-Authenticate",) if status == 401 else ()))
            ),
        }
        return out
    description = _ERRORS[status] + (": " + "; ".join(notes) if notes else "")
    out = {
        "description": description,
        "content": {media: {"schema": ref("OperationOutcome")} for media in fhir_media},
    }
    if status == 401 or (status == 403 and scoped):
        out["headers"] = _headers(("WWW-Authenticate",))
    return out


def _security(
    needed: list[str], doc: RouteDoc, *, authenticated: bool, api_keys: bool
) -> list[dict[str, list[str]]]:
    if not authenticated:
        return []
    alternatives = [[scope] for scope in doc.scopes_any] if doc.scopes_any else [needed]
    found = [{OAUTH_SCHEME: scopes} for scopes in alternatives]
    if api_keys:  # an API key carries the client's registered scopes: the same ones are needed
        found += [{API_KEY_SCHEME: scopes} for scopes in alternatives]
    return found
