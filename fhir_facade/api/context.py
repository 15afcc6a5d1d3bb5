"""What every request handler shares: the database, the audit log, the token issuer and the settings it needs.

Built once by :func:`fhir_facade.api.app.create_app` and kept on ``app.state``; handlers get it with the
:func:`api_context` dependency.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Annotated

from fastapi import Depends
from sqlalchemy.orm import Session
from starlette.requests import Request

from fhir_facade.api.auth.tokens import TokenIssuer
from gateway.audit import AuditLog
from gateway.store import Database, Tenant

__all__ = ["ApiContext", "Context", "Info", "RequestInfo", "api_context", "request_info"]


@dataclass(frozen=True)
class ApiContext:
    """The API's collaborators and configuration (one per app)."""

    database: Database = field(repr=False)
    audit: AuditLog = field(repr=False)
    tokens: TokenIssuer = field(repr=False)
    base_url: str
    home_community_id: str
    assigning_authority: str
    organization_name: str
    user_headers_enabled: bool
    api_keys_enabled: bool

    @property
    def token_url(self) -> str:
        return f"{self.base_url}/auth/token"

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """A session in one transaction, committed on success (the audit record with it)."""
        with self.database.session() as session, session.begin():
            yield session

    def tenant(self, session: Session, tenant_id: int) -> Tenant:
        tenant = session.get(Tenant, tenant_id)
        assert tenant is not None  # the client row references it (RESTRICT)
        return tenant


def api_context(request: Request) -> ApiContext:
    context: ApiContext = request.app.state.api
    return context


@dataclass(frozen=True, slots=True)
class RequestInfo:
    """Per-request facts the audit record needs: id, client address, start time."""

    request_id: str
    client_address: str | None
    started: float

    @property
    def elapsed_ms(self) -> int:
        return max(0, round((time.monotonic() - self.started) * 1000))


def request_info(request: Request) -> RequestInfo:
    incoming = request.headers.get("x-request-id", "")
    request_id = incoming if 0 < len(incoming) <= 64 and incoming.isprintable() else uuid.uuid4().hex
    address = request.client.host if request.client is not None else None
    return RequestInfo(request_id, address, time.monotonic())


Context = Annotated[ApiContext, Depends(api_context)]
"""Handler parameter type: the app's :class:`ApiContext`."""
Info = Annotated[RequestInfo, Depends(request_info)]
"""Handler parameter type: this request's :class:`RequestInfo`."""
