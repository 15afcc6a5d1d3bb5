"""The FHIR API application: :func:`create_app` wires the routes, the error rendering and the context.

Every error leaves as an OperationOutcome with its status: the API's own errors (:mod:`.errors`), FastAPI's
request-validation errors (400 with ``expression``), unknown paths (404) and methods (405, with ``Allow``
listing every method of the path), and anything unexpected (500 with an incident id in
``issue.diagnostics`` and the log, never a traceback). ``HEAD`` is answered wherever ``GET`` is. The
OpenAPI document (``/openapi.json``) describes every route's parameters, bodies and errors (:mod:`.openapi`).

Each request is logged (``fhir_facade.api.requests``, INFO) as method, route template, status and duration:
never the query string or the path itself, which carry names, birth dates, identifiers and patient ids.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import time
import uuid
from collections.abc import Iterable, Iterator
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as package_version
from typing import Any

from fastapi import APIRouter, Depends, FastAPI
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route, compile_path
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from fhir_facade.api import auditevents, bulk, pull, record
from fhir_facade.api.auth import routes as auth_routes
from fhir_facade.api.auth.tokens import TokenIssuer, load_or_create_key
from fhir_facade.api.background import WebhookPolicy, Worker
from fhir_facade.api.capability import capability_statement
from fhir_facade.api.context import ApiContext, Context
from fhir_facade.api.errors import (
    ApiError,
    InternalApiError,
    InvalidRequestError,
    Issue,
    MethodNotAllowedError,
    ResourceNotFoundError,
    http_status,
    operation_outcome,
)
from fhir_facade.api.http import FHIR_JSON, JSON, FhirResponse, negotiate, response_media_type
from fhir_facade.api.openapi import install_openapi
from fhir_facade.api.patients import routes as patient_routes
from fhir_facade.api.patients.store import index_missing
from gateway.audit import AuditLog, AuditSource
from gateway.config import Settings
from gateway.store import Database
from xca.errors import DatabaseUnavailableError

__all__ = ["create_app", "public_base_url"]

log = logging.getLogger("fhir_facade.api")
request_log = logging.getLogger("fhir_facade.api.requests")


def public_base_url(settings: Settings) -> str:
    return (settings.api_public_url or f"http://{settings.api_host}:{settings.api_port}").rstrip("/")


def _version() -> str:
    try:
        return package_version("hie-gateway")
    except PackageNotFoundError:  # pragma: no cover - running from a bare checkout
        return "0"


class _RouteTable:
    """Every route's full path template and methods, read once from the app (after its routes are added):
    the methods a path allows (``HEAD`` wherever ``GET``) and the template a request is logged under."""

    def __init__(self, app: FastAPI) -> None:
        self._app = app
        self._routes: list[tuple[re.Pattern[str], str, frozenset[str]]] | None = None

    @staticmethod
    def _walk(routes: Iterable[BaseRoute], prefix: str) -> Iterator[tuple[str, frozenset[str]]]:
        for route in routes:
            # An included router is one wrapping route in FastAPI >= 0.160 (see routing._walk).
            included = getattr(route, "original_router", None)
            if isinstance(included, APIRouter):
                context = getattr(route, "include_context", None)
                yield from _RouteTable._walk(
                    included.routes, prefix + str(getattr(context, "prefix", "") or "")
                )
            elif isinstance(route, Route):
                methods = set(route.methods or ())
                yield prefix + route.path, frozenset(methods | ({"HEAD"} if "GET" in methods else set()))

    def _table(self) -> list[tuple[re.Pattern[str], str, frozenset[str]]]:
        if self._routes is None:
            self._routes = [
                (compile_path(path)[0], path, methods) for path, methods in self._walk(self._app.routes, "")
            ]
        return self._routes

    def allowed(self, path: str) -> set[str]:
        """Every method some route of ``path`` answers."""
        return {method for regex, _, methods in self._table() if regex.match(path) for method in methods}

    def template(self, path: str, method: str) -> str | None:
        """The template of the route that serves ``method`` on ``path`` (else of the first route of the path,
        as for a 405), in the router's order; ``None`` for a path no route has."""
        found = [(template, methods) for regex, template, methods in self._table() if regex.match(path)]
        return next((t for t, methods in found if method in methods), found[0][0] if found else None)


def _route_path(scope: Scope) -> str:
    """The path the router matches: without the ``root_path`` a proxy mounted the app under."""
    path: str = scope["path"]
    root = str(scope.get("root_path") or "")
    if root and path.startswith(root):
        return path[len(root) :] or "/"
    return path


def _routes(scope: Scope) -> _RouteTable:
    table: _RouteTable = scope["app"].state.routes
    return table


def _error_response(request: Request, error: ApiError) -> Response:
    media = response_media_type(request)
    return FhirResponse(
        operation_outcome([error.issue]),
        status_code=http_status(error),
        headers=error.headers,
        media_type=media if media in (FHIR_JSON, JSON) else FHIR_JSON,
    )


async def _api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return _error_response(request, exc)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code == 404:
        error: ApiError = ResourceNotFoundError(f"no such resource type or path: {request.url.path}")
    elif exc.status_code == 405:
        # Starlette names the methods of the first route of the path only: /Patient has a GET and a POST.
        allow = ", ".join(sorted(_routes(request.scope).allowed(_route_path(request.scope))))
        error = MethodNotAllowedError(
            f"{request.method} is not supported here (allowed: {allow})",
            headers={"Allow": allow} if allow else None,
        )
    else:
        error = InvalidRequestError(str(exc.detail))
        error_status = exc.status_code
        body = operation_outcome([error.issue])
        return FhirResponse(body, status_code=error_status, headers=exc.headers)
    return _error_response(request, error)


async def _validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    issues = []
    for problem in exc.errors():
        location = [
            str(part) for part in problem.get("loc", ()) if part not in ("body", "query", "path", "header")
        ]
        where = (".".join(location),) if location else ()
        message = str(problem.get("msg", "invalid value"))
        issues.append(Issue("error", "invalid", message, where, error_code=InvalidRequestError.code))
    return FhirResponse(
        operation_outcome(issues or [InvalidRequestError("invalid request").issue]), status_code=400
    )


class _Tracked:
    """``send`` that notes the response's status as it starts (``None`` until then)."""

    def __init__(self, send: Send) -> None:
        self._send = send
        self.status: int | None = None

    async def send(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.status = message["status"]
        await self._send(message)


class _CatchAll:
    """Outermost guard: an unexpected exception becomes a 500 (503 for an unreachable database)
    OperationOutcome naming an incident id that is also logged with the traceback."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        sent = _Tracked(send)
        try:
            await self.app(scope, receive, sent.send)
        except ClientDisconnect:
            # The client went away before its body arrived: nobody to answer, nothing went wrong here. The
            # request log says 499 (nothing was sent).
            return
        except Exception as exc:
            incident = uuid.uuid4().hex[:16]
            route = _routes(scope).template(_route_path(scope), scope["method"]) or "-"
            log.exception("unhandled error in %s %s (incident %s)", scope["method"], route, incident)
            if sent.status is not None:  # the response has begun: too late for an OperationOutcome
                raise
            status, error = (
                500,
                InternalApiError(f"internal error; incident {incident}", detail={"incident": incident}),
            )
            if isinstance(exc, DatabaseUnavailableError):
                status, error = (
                    503,
                    InternalApiError(
                        f"the database is unavailable; incident {incident}", issue_code="transient"
                    ),
                )
            response = FhirResponse(operation_outcome([error.issue]), status_code=status)
            await response(scope, receive, send)


class _HeadAsGet:
    """``HEAD`` on a path that answers ``GET``: the ``GET`` handler's status and headers, without the body."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "HEAD":
            await self.app(scope, receive, send)
            return
        if "GET" not in _routes(scope).allowed(_route_path(scope)):
            await self.app(scope, receive, send)  # a 404 or a 405 naming what the path allows
            return

        async def without_body(message: Message) -> None:
            if message["type"] == "http.response.body":
                message = {**message, "body": b""}
            await send(message)

        scope["method"] = "GET"  # in place: the request log reads the route from this scope
        await self.app(scope, receive, without_body)


class _RequestLog:
    """One INFO line per request: method, route template (``-`` for no route), status, duration. Never the
    query string or the path: they carry names, birth dates, identifiers and patient ids."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        method, started = scope["method"], time.perf_counter()
        response = _Tracked(send)
        failed = True
        try:
            await self.app(scope, receive, response.send)
            failed = False
        finally:
            if request_log.isEnabledFor(logging.INFO):
                template = _routes(scope).template(_route_path(scope), scope["method"]) or "-"
                elapsed = (time.perf_counter() - started) * 1000
                # Nothing sent: 500 when it failed, else the client went away first (499, as nginx says).
                status = response.status if response.status is not None else 500 if failed else 499
                request_log.info("%s %s %d %.1f ms", method, template, status, elapsed)


def create_app(
    settings: Settings,
    *,
    database: Database | None = None,
    migrate: bool = True,
    webhooks: WebhookPolicy | None = None,
) -> FastAPI:
    """The FHIR API for ``settings``; applies migrations, indexes unindexed patients, and resumes the
    unfinished pulls, exports and webhook deliveries of the API on its background worker."""
    db = database or Database(settings.database_url)
    if migrate:
        db.upgrade()
    with db.session() as session, session.begin():
        indexed = index_missing(session)
    if indexed:
        log.info("indexed %d patients for search", indexed)
    base_url = public_base_url(settings)
    source = AuditSource(
        source_id=settings.home_community_id,
        site=settings.organization_name,
        home_community_id=settings.home_community_id,
    )
    context = ApiContext(
        database=db,
        audit=AuditLog(source=source),
        tokens=TokenIssuer(
            load_or_create_key(settings.api_token_key),
            issuer=base_url,
            lifetime=settings.api_token_lifetime_seconds,
        ),
        base_url=base_url,
        home_community_id=settings.home_community_id,
        assigning_authority=settings.assigning_authority or f"{settings.home_community_id}.2",
        organization_name=settings.organization_name,
        user_headers_enabled=settings.api_user_source == "headers",
        api_keys_enabled=settings.api_keys_enabled,
    )
    app = FastAPI(
        title="hie-gateway FHIR API",
        version=_version(),
        docs_url=None,
        redoc_url=None,
        exception_handlers={
            ApiError: _api_error,
            StarletteHTTPException: _http_error,
            RequestValidationError: _validation_error,
        },
    )
    app.state.api = context
    app.state.routes = _RouteTable(app)
    app.add_middleware(_CatchAll)
    app.add_middleware(_HeadAsGet)
    app.add_middleware(_RequestLog)  # outermost: it also logs the 500s of _CatchAll
    app.include_router(auth_routes.router)
    app.include_router(bulk.router)  # before /Patient/{patient_id}: /Patient/$export
    app.include_router(patient_routes.router)
    app.include_router(auditevents.router)
    app.include_router(pull.router)
    app.include_router(record.router)
    worker = Worker(settings, db, webhooks)
    worker.export_runner = lambda export_id: bulk.run_export(db, export_id)
    app.state.worker = worker
    app.router.on_shutdown.append(worker.close)
    resumed = worker.resume()
    if resumed:
        log.info("resumed %d unfinished jobs", resumed)
    started = dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")

    @app.get("/metadata", summary="CapabilityStatement", dependencies=[Depends(negotiate)])
    def metadata(request: Request, api: Context) -> Response:
        body: dict[str, Any] = capability_statement(
            app, base_url=api.base_url, token_url=api.token_url, version=_version(), date=started
        )
        return FhirResponse(body, media_type=response_media_type(request))

    install_openapi(app)  # /openapi.json: parameters, bodies and errors from the routes' declarations
    return app
