"""The FHIR API application: :func:`create_app` wires the routes, the error rendering and the context.

Every error leaves as an OperationOutcome with its status: the API's own errors (:mod:`.errors`), FastAPI's
request-validation errors (400 with ``expression``), unknown paths (404) and methods (405, with ``Allow``),
and anything unexpected (500 with an incident id in ``issue.diagnostics`` and the log, never a traceback).
"""

from __future__ import annotations

import datetime as dt
import logging
import uuid
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as package_version
from typing import Any

from fastapi import Depends, FastAPI
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import Request
from starlette.responses import Response
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
from fhir_facade.api.patients import routes as patient_routes
from fhir_facade.api.patients.store import index_missing
from gateway.audit import AuditLog, AuditSource
from gateway.config import Settings
from gateway.store import Database
from xca.errors import DatabaseUnavailableError

__all__ = ["create_app", "public_base_url"]

log = logging.getLogger("fhir_facade.api")


def public_base_url(settings: Settings) -> str:
    return (settings.api_public_url or f"http://{settings.api_host}:{settings.api_port}").rstrip("/")


def _version() -> str:
    try:
        return package_version("hie-gateway")
    except PackageNotFoundError:  # pragma: no cover - running from a bare checkout
        return "0"


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
        allow = (exc.headers or {}).get("Allow") or (exc.headers or {}).get("allow", "")
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


class _CatchAll:
    """Outermost guard: an unexpected exception becomes a 500 (503 for an unreachable database)
    OperationOutcome naming an incident id that is also logged with the traceback."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception as exc:
            incident = uuid.uuid4().hex[:16]
            log.exception(
                "unhandled error in %s %s (incident %s)", scope.get("method"), scope.get("path"), incident
            )
            if started:
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
    app.add_middleware(_CatchAll)
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

    return app
