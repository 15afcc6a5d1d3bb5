"""What each FHIR route implements, declared once and read back for the CapabilityStatement and for checks.

A route handler is decorated with :func:`fhir_route` and a :class:`FhirEndpoint`: the resource type, the
RESTful interaction (or operation), the search parameters it understands and the scope it needs. The
search-parameter parser (:func:`parse_search`), ``/metadata`` and the OpenAPI document (:mod:`.openapi`) all
read that declaration, so what the server says it supports is what it does, as routes are added. A route
whose endpoint declares search parameters, or is a search, reads its query with :func:`parse_search`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, TypeVar

from fastapi import APIRouter, FastAPI
from fastapi.routing import APIRoute
from starlette.requests import Request
from starlette.routing import BaseRoute

from fhir_facade.api.errors import InvalidRequestError, Issue, UnsupportedSearchError

__all__ = [
    "CONTROL_PARAMETERS",
    "FhirEndpoint",
    "FhirOperation",
    "Interaction",
    "ParsedSearch",
    "SearchParam",
    "SearchParamType",
    "api_routes",
    "declared_endpoint",
    "fhir_route",
    "parse_search",
    "registered_endpoints",
]

_ATTRIBUTE = "__fhir_endpoint__"
F = TypeVar("F", bound=Callable[..., Any])


class Interaction(StrEnum):
    """``CapabilityStatement.rest.resource.interaction.code`` (plus ``operation`` for $ops)."""

    READ = "read"
    VREAD = "vread"
    UPDATE = "update"
    DELETE = "delete"
    SEARCH_TYPE = "search-type"
    CREATE = "create"
    HISTORY_INSTANCE = "history-instance"
    OPERATION = "operation"


class SearchParamType(StrEnum):
    NUMBER = "number"
    DATE = "date"
    STRING = "string"
    TOKEN = "token"  # noqa: S105 (a FHIR search parameter type)
    REFERENCE = "reference"
    URI = "uri"


@dataclass(frozen=True, slots=True)
class SearchParam:
    """One search parameter; ``required``: the route refuses a search without it (400)."""

    name: str
    type: SearchParamType
    documentation: str
    modifiers: tuple[str, ...] = ()
    definition: str | None = None
    required: bool = False


@dataclass(frozen=True, slots=True)
class FhirOperation:
    """A named operation (``$disclosures``) and the canonical URL of its OperationDefinition."""

    name: str
    definition: str
    documentation: str
    instance: bool = False


@dataclass(frozen=True, slots=True)
class FhirEndpoint:
    """One implemented interaction of ``resource_type`` (``None``: system level)."""

    resource_type: str | None
    interaction: Interaction
    documentation: str
    search_params: tuple[SearchParam, ...] = ()
    operation: FhirOperation | None = None
    conditional_create: bool = False

    @property
    def parses_search(self) -> bool:
        """Whether the route reads its query with :func:`parse_search` (unknown parameters are 400)."""
        return self.interaction is Interaction.SEARCH_TYPE or bool(self.search_params)


CONTROL_PARAMETERS = frozenset({"_count", "_cursor", "_format", "_pretty", "_total"})
"""Result parameters every search accepts besides its declared search parameters."""


def fhir_route(endpoint: FhirEndpoint) -> Callable[[F], F]:
    """Attach ``endpoint`` to a route handler (apply below the FastAPI route decorator)."""

    def mark(handler: F) -> F:
        setattr(handler, _ATTRIBUTE, endpoint)
        return handler

    return mark


def _walk(routes: Iterable[BaseRoute], prefix: str) -> Iterator[tuple[str, APIRoute]]:
    for route in routes:
        if isinstance(route, APIRoute):
            yield prefix + route.path, route
            continue
        # FastAPI >= 0.160 keeps an included router as one route that wraps it (not public API): follow
        # ``original_router`` and the include prefix, so routes stay visible however they were included.
        included = getattr(route, "original_router", None)
        if isinstance(included, APIRouter):
            context = getattr(route, "include_context", None)
            yield from _walk(included.routes, prefix + str(getattr(context, "prefix", "") or ""))


def api_routes(app: FastAPI) -> Iterator[tuple[str, APIRoute]]:
    """``(full path, route)`` of every FastAPI route of ``app``, in order, included routers followed."""
    yield from _walk(app.routes, "")


def declared_endpoint(route: APIRoute) -> FhirEndpoint | None:
    """The :class:`FhirEndpoint` ``route``'s handler declares, if any."""
    declared = getattr(route.endpoint, _ATTRIBUTE, None)
    return declared if isinstance(declared, FhirEndpoint) else None


def registered_endpoints(app: FastAPI) -> Iterator[tuple[str, FhirEndpoint]]:
    """``(path, endpoint)`` of every route of ``app`` that declares a :class:`FhirEndpoint`, in order."""
    for path, route in api_routes(app):
        endpoint = declared_endpoint(route)
        if endpoint is not None:
            yield path, endpoint


@dataclass(frozen=True, slots=True)
class ParsedSearch:
    """The search parameters a handler acts on, those ignored (lenient handling), and the warnings."""

    params: tuple[tuple[str, str, str], ...]
    control: dict[str, str]
    warnings: tuple[Issue, ...]

    def values(self, name: str) -> list[tuple[str, str]]:
        """``(modifier, value)`` of each occurrence of ``name``."""
        return [(modifier, value) for key, modifier, value in self.params if key == name]

    def kept_query(self) -> list[tuple[str, str]]:
        """The parameters as processed, for the ``self`` link."""
        kept = [(f"{name}:{modifier}" if modifier else name, value) for name, modifier, value in self.params]
        return kept + [(name, value) for name, value in self.control.items() if name != "_cursor"]


def _lenient(request: Request) -> bool:
    prefer = request.headers.get("prefer", "")
    tokens = {part.strip().lower().replace(" ", "") for part in prefer.split(",")}
    return "handling=lenient" in tokens


def parse_search(request: Request, endpoint: FhirEndpoint) -> ParsedSearch:
    """Split the query into declared parameters and control parameters.

    Unknown parameters, unknown modifiers and empty values are 400 under the default ``handling=strict``:
    ignoring a patient filter would return more patients than asked for. With ``Prefer: handling=lenient``
    they are ignored and reported as warnings in the searchset.
    """
    declared = {param.name: param for param in endpoint.search_params}
    lenient = _lenient(request)
    params: list[tuple[str, str, str]] = []
    control: dict[str, str] = {}
    warnings: list[Issue] = []
    for key, value in request.query_params.multi_items():
        name, _, modifier = key.partition(":")
        if name in CONTROL_PARAMETERS and not modifier:
            if name in control:
                raise InvalidRequestError(f"{name} may be given once", expression=(name,))
            control[name] = value
            continue
        param = declared.get(name)
        problem = None
        if param is None:
            problem = f"unknown search parameter {name!r} for {endpoint.resource_type}"
        elif modifier and modifier not in param.modifiers:
            problem = f"search parameter {name!r} does not support the modifier :{modifier}"
        elif not value:
            problem = f"search parameter {name!r} has no value"
        if problem is None:
            params.append((name, modifier, value))
        elif lenient:
            warnings.append(Issue("warning", "not-supported", problem + " (ignored)", (key,)))
        else:
            raise UnsupportedSearchError(
                problem + "; send 'Prefer: handling=lenient' to ignore it", expression=(key,)
            )
    return ParsedSearch(tuple(params), control, tuple(warnings))
