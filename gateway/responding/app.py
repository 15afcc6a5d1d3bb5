"""The ASGI app of one responding gateway: three POST endpoints, one :class:`RespondingGateway` behind them.

:func:`create_responding_app` builds a FastAPI app without docs routes. The seam for everything around the
exchange that is not the gateway's business (latency and fault injection in the sandbox, metrics) is ASGI
middleware: pass Starlette ``Middleware`` entries, or call ``app.add_middleware`` before serving. The
gateway itself is ``app.state.gateway``.

The three endpoints are plain Starlette routes: they take the raw request and answer bytes, so FastAPI's
per-request dependency machinery has nothing to do for them, and its first call of each endpoint (it reads
and tokenizes the endpoint's source file for error context) cost a sandbox of 200 gateways ~600 of those.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence

from fastapi import FastAPI, Request, Response
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.requests import ClientDisconnect
from starlette.routing import Route

from gateway.audit import Transaction
from gateway.http_body import declared_length, read_limited
from gateway.responding.context import InboundRequest
from gateway.responding.gateway import RespondingGateway
from gateway.security import peer_certificate

__all__ = ["create_responding_app"]

log = logging.getLogger("gateway.responding")


def _endpoint(
    gateway: RespondingGateway, transaction: Transaction
) -> Callable[[Request], Awaitable[Response]]:
    config = gateway.config

    async def endpoint(request: Request) -> Response:
        declared = declared_length(request)
        too_large = declared is not None and declared > config.max_request_bytes
        try:
            body = b"" if too_large else await read_limited(request, config.max_request_bytes)
        except ClientDisconnect:
            # The caller gave up (its timeout) before sending the whole request: nothing was read, nothing
            # is processed, and nobody is left to answer.
            log.info("%s caller disconnected before the request body arrived", transaction.value)
            return Response(status_code=400)
        inbound = InboundRequest(
            transaction=transaction,
            body=body,
            content_type=request.headers.get("content-type"),
            endpoint=config.endpoint_url(transaction),
            peer_certificate=peer_certificate(request.scope),
            client_address=request.client.host if request.client else None,
            declared_length=declared,
        )
        reply = await run_in_threadpool(gateway.handle, inbound)
        return Response(reply.body, status_code=reply.status, headers={"content-type": reply.content_type})

    endpoint.__name__ = f"{transaction.value.lower().replace('-', '_')}_endpoint"
    return endpoint


def create_responding_app(gateway: RespondingGateway, *, middleware: Sequence[Middleware] = ()) -> FastAPI:
    """The ASGI app serving ``gateway``'s ITI-55, ITI-38 and ITI-39 endpoints (POST only)."""
    app = FastAPI(
        title=f"hie-gateway responding gateway {gateway.config.home_community_id}",
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
        middleware=list(middleware),
    )
    app.state.gateway = gateway
    for transaction in Transaction:
        app.router.routes.append(
            Route(
                gateway.config.paths.for_transaction(transaction),
                _endpoint(gateway, transaction),
                methods=["POST"],
            )
        )
    return app
