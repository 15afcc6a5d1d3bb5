"""Latency and fault injection for sandbox gateways: one pure ASGI middleware per gateway, plus the uvicorn
protocol that lets it reach the connection.

Everything below runs on the sandbox's event loop and never blocks it (``asyncio.sleep``, no threads).
Per request, in this order:

* **latency** — sleep for a delay drawn from the gateway's distribution (its own seeded ``random.Random``);
* the gateway's **fault**, if any:

  ============== =======================================================================================
  timeout        reads the request, then never answers; returns only when the client disconnects or the
                 sandbox stops (then the connection is aborted)
  slow-drip      the real answer, headers at once, then the body a few bytes at a time (default 16 bytes
                 per second, in 4-byte pieces): per-read timeouts never fire, only a total deadline does
  http500        ``500 Internal Server Error`` with an HTML page, as a crashed application server sends
  soapfault      ``500`` with a SOAP 1.2 ``Receiver`` Fault from :func:`xca.soap.build_fault_envelope`,
                 related to the request's MessageID
  registry-error the request is handled for real (verified, audited), then the answer is replaced:
                 ITI-38 by a ``Failure`` AdhocQueryResponse with ``XDSRegistryError``, ITI-39 by a
                 ``Failure`` RetrieveDocumentSetResponse with ``XDSRepositoryError``; ITI-55 answers
                 normally (the person is found, their documents are not)
  malformed-xml  the real answer cut off in the middle (status 200, Content-Length adjusted): not XML
  connection-    reads the request, then aborts the TCP connection with SO_LINGER 0 (the client sees a
  reset          reset, no HTTP response)
  ============== =======================================================================================

The TLS faults (a wrong or expired server certificate) are another SSL context, not middleware; no-match and
partial-retrieve are switches of the gateway itself (:class:`~gateway.responding.RespondingConfig`).
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import socket
import struct
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any, Final

from gateway.audit import Transaction
from gateway.responding import RespondingConfig
from gateway.sandbox.specs import FaultMode, LatencySpec
from gateway.security import TlsScopeH11Protocol
from xca.errors import HieGatewayError
from xca.ids import oid_urn
from xca.iti38 import QueryResponse, build_iti38_response
from xca.iti39 import Transport, build_iti39_response, to_http
from xca.mtom import read_soap_message
from xca.registry import RegistryError, ResponseStatus, XdsErrorCode
from xca.soap import (
    CONTENT_TYPE,
    Action,
    Addressing,
    FaultCode,
    SoapFault,
    build_envelope,
    build_fault_envelope,
    parse_envelope,
    to_bytes,
)

__all__ = ["TRANSPORT_EXTENSION", "GatewayBehaviour", "SandboxControl", "SandboxH11Protocol"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
App = Callable[[Scope, Receive, Send], Awaitable[None]]

TRANSPORT_EXTENSION: Final = "hiegate.sandbox.transport"
_MAX_BODY: Final = 64 * 1024 * 1024
_DRIP_PIECE: Final = 4
_ERROR_PAGE: Final = (
    b"<html><head><title>500 Internal Server Error</title></head><body><h1>Internal Server Error</h1>"
    b"<p>The server encountered an internal error and was unable to complete your request.</p></body></html>"
)


class SandboxControl:
    """What all gateways of one sandbox share: the signal that the sandbox is stopping."""

    def __init__(self) -> None:
        self.stopping = asyncio.Event()
        self.transports: set[asyncio.Transport] = set()

    def track(self, transport: asyncio.Transport) -> None:
        """Remember a connection (strongly: a TLS transport whose graceful shutdown stalls must still be
        found at stop), forgetting those whose socket is closed."""
        self.transports = {t for t in self.transports if not _socket_closed(t)}
        self.transports.add(transport)

    def abort_all(self) -> None:
        """Abort every connection still open (after the servers stopped): no socket outlives the loop."""
        for transport in list(self.transports):
            transport.abort()


def _open_socket(transport: asyncio.BaseTransport) -> Any:
    """The connection's socket, or ``None`` once it is closed."""
    try:
        raw = transport.get_extra_info("socket")
    except AttributeError:  # an SSL transport closed twice has dropped its protocol: fully closed
        return None
    return None if raw is None or raw.fileno() == -1 else raw


def _socket_closed(transport: asyncio.BaseTransport) -> bool:
    return _open_socket(transport) is None


class _WithTransport:
    def __init__(self, app: App, transport: asyncio.BaseTransport) -> None:
        self._app = app
        self._transport = transport

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope.get("type") == "http":
            extensions = dict(scope.get("extensions") or {})
            extensions[TRANSPORT_EXTENSION] = self._transport
            scope["extensions"] = extensions
        await self._app(scope, receive, send)


class SandboxH11Protocol(TlsScopeH11Protocol):
    """The project's TLS-scope protocol, also handing the connection's transport to the app (for resets)."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        control = getattr(self.app, "control", None)
        if isinstance(control, SandboxControl):
            control.track(transport)
        super().connection_made(transport)
        self.app = _WithTransport(self.app, transport)


def _transport(scope: Scope) -> asyncio.Transport | None:
    found = (scope.get("extensions") or {}).get(TRANSPORT_EXTENSION)
    return found if isinstance(found, asyncio.Transport) else None


async def _read_body(receive: Receive) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size <= _MAX_BODY:
            chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers") or ():
        if key.lower() == name:
            return bytes(value).decode("latin-1")
    return None


def _message_id(body: bytes, content_type: str | None) -> str | None:
    try:
        return parse_envelope(read_soap_message(body, content_type).root).addressing.message_id
    except (HieGatewayError, ValueError):
        return None


async def _respond(send: Send, status: int, body: bytes, content_type: str) -> None:
    headers = [
        (b"content-type", content_type.encode("latin-1")),
        (b"content-length", str(len(body)).encode()),
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body, "more_body": False})


class _Captured:
    def __init__(self) -> None:
        self.status = 500
        self.headers: list[tuple[bytes, bytes]] = []
        self.chunks: list[bytes] = []

    async def send(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.status = int(message["status"])
            self.headers = [(bytes(k), bytes(v)) for k, v in message.get("headers") or ()]
        elif message["type"] == "http.response.body":
            self.chunks.append(bytes(message.get("body", b"")))

    @property
    def body(self) -> bytes:
        return b"".join(self.chunks)

    def with_length(self, length: int) -> list[tuple[bytes, bytes]]:
        kept = [(k, v) for k, v in self.headers if k.lower() != b"content-length"]
        return [*kept, (b"content-length", str(length).encode())]


class GatewayBehaviour:
    """ASGI middleware around one gateway's app: its latency and HTTP-level fault (see the module)."""

    def __init__(
        self,
        app: App,
        *,
        config: RespondingConfig,
        control: SandboxControl,
        fault: FaultMode | None = None,
        latency: LatencySpec | None = None,
        seed: int = 0,
        drip_bytes_per_second: int = 16,
    ) -> None:
        self.app = app
        self.config = config
        self.control = control
        self.fault = fault
        self.latency = latency
        self.rng = random.Random(seed)  # noqa: S311 - simulated delays, not secrets
        self.drip_interval = _DRIP_PIECE / max(1, drip_bytes_per_second)
        self._paths = {config.paths.for_transaction(t): t for t in Transaction}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope.get("type") != "http":
            await self.app(scope, receive, send)
            return
        if self.latency is not None:
            await asyncio.sleep(self.latency.sample(self.rng))
        fault = self.fault
        transaction = self._paths.get(str(scope.get("path")))
        if fault is FaultMode.TIMEOUT:
            await self._hang(scope, receive)
        elif fault is FaultMode.CONNECTION_RESET:
            await _read_body(receive)
            await self._reset(scope)
        elif fault is FaultMode.HTTP_500:
            await _read_body(receive)
            await _respond(send, 500, _ERROR_PAGE, "text/html; charset=utf-8")
        elif fault is FaultMode.SOAP_FAULT:
            body = await _read_body(receive)
            fault_body = SoapFault(FaultCode.RECEIVER, "The service is temporarily unavailable.")
            relates_to = _message_id(body, _header(scope, b"content-type"))
            await _respond(
                send, 500, to_bytes(build_fault_envelope(fault_body, relates_to=relates_to)), CONTENT_TYPE
            )
        elif fault is FaultMode.REGISTRY_ERROR and transaction in (Transaction.ITI_38, Transaction.ITI_39):
            await self._registry_error(scope, receive, send, transaction)
        elif fault is FaultMode.MALFORMED_XML:
            captured = await self._capture(scope, receive)
            cut = captured.body[: max(1, len(captured.body) // 2)]
            await send(
                {
                    "type": "http.response.start",
                    "status": captured.status,
                    "headers": captured.with_length(len(cut)),
                }
            )
            await send({"type": "http.response.body", "body": cut, "more_body": False})
        elif fault is FaultMode.SLOW_DRIP:
            await self._drip(scope, receive, send)
        else:
            await self.app(scope, receive, send)

    async def _capture(self, scope: Scope, receive: Receive, body: bytes | None = None) -> _Captured:
        """Run the real gateway and keep its answer instead of sending it."""
        data = await _read_body(receive) if body is None else body
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": data, "more_body": False}
            return await receive()

        captured = _Captured()
        await self.app(scope, replay, captured.send)
        return captured

    async def _release(self, scope: Scope) -> None:
        transport = _transport(scope)
        if transport is None or _socket_closed(transport):
            return  # the client went first: nothing to release
        transport.abort()
        # Let the protocol see the connection go before the app returns (no "response not started" log).
        await asyncio.sleep(0.01)

    async def _hang(self, scope: Scope, receive: Receive) -> None:
        await _read_body(receive)
        disconnect = asyncio.ensure_future(receive())
        stopping = asyncio.ensure_future(self.control.stopping.wait())
        done, pending = await asyncio.wait({disconnect, stopping}, return_when=asyncio.FIRST_COMPLETED)
        for task in pending:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if stopping in done:
            await self._release(scope)

    async def _reset(self, scope: Scope) -> None:
        transport = _transport(scope)
        raw = None if transport is None else _open_socket(transport)
        if raw is None:
            return  # already closed (the client gave up first): nothing to reset
        with contextlib.suppress(OSError):
            raw.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        await self._release(scope)

    async def _registry_error(
        self, scope: Scope, receive: Receive, send: Send, transaction: Transaction
    ) -> None:
        body = await _read_body(receive)
        captured = await self._capture(scope, receive, body)
        if captured.status != 200:  # refused (security, malformed request): that answer stands
            await send(
                {"type": "http.response.start", "status": captured.status, "headers": captured.headers}
            )
            await send({"type": "http.response.body", "body": captured.body, "more_body": False})
            return
        relates_to = _message_id(body, _header(scope, b"content-type"))
        home = self.config.home_community_id
        if transaction is Transaction.ITI_38:
            error = RegistryError(
                XdsErrorCode.REGISTRY_ERROR.value,
                "The registry failed to process the query.",
                location=oid_urn(home),
            )
            payload = build_iti38_response(QueryResponse(status=ResponseStatus.FAILURE, errors=(error,)))
            envelope = build_envelope(
                payload, Addressing.response(Action.ITI38_RESPONSE, relates_to=relates_to)
            )
            await _respond(send, 200, to_bytes(envelope), CONTENT_TYPE)
            return
        error = RegistryError(
            XdsErrorCode.REPOSITORY_ERROR.value, "The repository failed to process the retrieve."
        )
        built = build_iti39_response([], errors=[error], transport=Transport.MTOM, home_community_id=home)
        envelope = build_envelope(
            built.body, Addressing.response(Action.ITI39_RESPONSE, relates_to=relates_to)
        )
        data, content_type = to_http(envelope, built.attachments, transport=Transport.MTOM)
        await _respond(send, 200, data, content_type)

    async def _drip(self, scope: Scope, receive: Receive, send: Send) -> None:
        captured = await self._capture(scope, receive)
        body = captured.body
        transport = _transport(scope)
        await send(
            {
                "type": "http.response.start",
                "status": captured.status,
                "headers": captured.with_length(len(body)),
            }
        )
        for start in range(0, len(body), _DRIP_PIECE):
            if self.control.stopping.is_set():
                await self._release(scope)
                return
            if transport is not None and transport.is_closing():
                return
            await send(
                {"type": "http.response.body", "body": body[start : start + _DRIP_PIECE], "more_body": True}
            )
            await asyncio.sleep(self.drip_interval)
        await send({"type": "http.response.body", "body": b"", "more_body": False})
