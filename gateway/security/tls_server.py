"""Serving over mutual TLS with uvicorn, and handing the verified client certificate to the ASGI app.

uvicorn does not put the peer certificate in the scope. :class:`TlsScopeH11Protocol` fills the ASGI TLS
extension (``scope["extensions"]["tls"]``, ASGI spec "TLS Extension") for each connection from the
transport's ``ssl_object`` after the handshake; :func:`peer_certificate` reads it back as a cryptography
certificate for :meth:`~gateway.security.verify.MessageVerifier.verify` (``tls_peer_certificate``).
:func:`uvicorn_config` wires the protocol and the context from
:func:`~gateway.security.tls.server_ssl_context`.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from typing import Any

import uvicorn
from cryptography import x509
from uvicorn.protocols.http.h11_impl import H11Protocol

__all__ = [
    "CoalescingTransport",
    "TlsScopeH11Protocol",
    "peer_certificate",
    "tls_extension",
    "uvicorn_config",
]

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
App = Callable[[Scope, Receive, Send], Awaitable[None]]

# TLS version numbers as the ASGI TLS extension wants them (the TLS wire values).
_TLS_VERSIONS = {"TLSv1.2": 0x0303, "TLSv1.3": 0x0304}


def tls_extension(ssl_object: ssl.SSLObject | ssl.SSLSocket | None) -> dict[str, Any] | None:
    """The ASGI ``tls`` extension dict for one connection, or None when it is not TLS."""
    if ssl_object is None:
        return None
    der = ssl_object.getpeercert(binary_form=True)
    chain = [ssl.DER_cert_to_PEM_cert(der)] if der else []
    name = None
    if der:
        subject = x509.load_der_x509_certificate(der).subject
        name = subject.rfc4514_string()
    return {
        "server_cert": None,
        "client_cert_chain": chain,
        "client_cert_name": name,
        "client_cert_error": None,
        "tls_version": _TLS_VERSIONS.get(ssl_object.version() or ""),
        "cipher_suite": None,
    }


class _WithTls:
    """Wraps the app for one connection, adding the connection's TLS extension to each HTTP scope."""

    def __init__(self, app: App, tls: dict[str, Any]) -> None:
        self._app = app
        self._tls = tls

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope.get("type") in ("http", "websocket"):
            extensions = dict(scope.get("extensions") or {})
            extensions["tls"] = self._tls
            scope["extensions"] = extensions
        await self._app(scope, receive, send)


class CoalescingTransport(asyncio.Transport):
    """A transport whose writes within one turn of the event loop leave together, at the end of the turn.

    uvicorn writes an answer's status line and headers, its body and its end as separate writes; over TLS each
    becomes its own record and, the socket having TCP_NODELAY, its own segment, so a partner's client wakes
    once for the headers and again for the body. Gathered, a small answer leaves as one record in one
    segment. Once :data:`FLUSH_AT` bytes are pending they leave at once, so a large answer streamed without
    yielding still meets the wrapped transport's write buffer limits (which pause uvicorn's sends) and is
    not held in memory whole. Every other call goes to the wrapped transport; :meth:`close` sends what is
    pending first, :meth:`abort` drops it (as aborting the transport would)."""

    FLUSH_AT = 64 * 1024
    """Pending bytes that are sent without waiting for the end of the turn (asyncio's default high-water
    mark for a transport's write buffer)."""

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__()
        self._transport = transport
        self._loop = loop
        self._pending: list[bytes] = []
        self._size = 0

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if not data:
            return
        if not self._pending:
            self._loop.call_soon(self.flush)
        self._pending.append(bytes(data))
        self._size += len(data)
        if self._size >= self.FLUSH_AT:
            self.flush()

    def writelines(self, list_of_data: Iterable[bytes | bytearray | memoryview]) -> None:
        for data in list_of_data:
            self.write(data)

    def flush(self) -> None:
        """Send what was written so far (called at the end of the turn that wrote it, or once
        :data:`FLUSH_AT` bytes are pending)."""
        if not self._pending:
            return
        data = self._pending[0] if len(self._pending) == 1 else b"".join(self._pending)
        self._pending.clear()
        self._size = 0
        if not self._transport.is_closing():
            self._transport.write(data)

    def close(self) -> None:
        self.flush()
        self._transport.close()

    def abort(self) -> None:
        self._pending.clear()
        self._size = 0
        self._transport.abort()

    def write_eof(self) -> None:
        self.flush()
        self._transport.write_eof()

    def can_write_eof(self) -> bool:
        return self._transport.can_write_eof()

    def is_closing(self) -> bool:
        return self._transport.is_closing()

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return self._transport.get_extra_info(name, default)

    def set_protocol(self, protocol: asyncio.BaseProtocol) -> None:
        self._transport.set_protocol(protocol)

    def get_protocol(self) -> asyncio.BaseProtocol:
        return self._transport.get_protocol()

    def is_reading(self) -> bool:
        return self._transport.is_reading()

    def pause_reading(self) -> None:
        self._transport.pause_reading()

    def resume_reading(self) -> None:
        self._transport.resume_reading()

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        self._transport.set_write_buffer_limits(high, low)

    def get_write_buffer_size(self) -> int:
        return self._transport.get_write_buffer_size() + self._size

    def get_write_buffer_limits(self) -> tuple[int, int]:
        return self._transport.get_write_buffer_limits()


class TlsScopeH11Protocol(H11Protocol):
    """uvicorn's h11 protocol plus the ASGI TLS extension in every scope of a TLS connection, writing each
    answer through a :class:`CoalescingTransport` on a socket with TCP_NODELAY.

    asyncio turns Nagle's algorithm off only for sockets created with ``proto=IPPROTO_TCP``; uvicorn's
    listening sockets have ``proto=0``, so the second segment of an answer (its body after its headers) waited
    for the client's delayed acknowledgement, about 40 ms on Linux, on every exchange."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        sock = transport.get_extra_info("socket")
        if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        super().connection_made(transport)
        # uvicorn's flow control keeps watching the real transport; writes and closes go through the wrapper.
        self.transport = CoalescingTransport(transport, asyncio.get_running_loop())
        tls = tls_extension(transport.get_extra_info("ssl_object"))
        if tls is not None:
            self.app = _WithTls(self.app, tls)


def peer_certificate(scope: Scope) -> x509.Certificate | None:
    """The client certificate the TLS layer verified for this request, or None (plain HTTP, no extension)."""
    tls = (scope.get("extensions") or {}).get("tls")
    chain = tls.get("client_cert_chain") if isinstance(tls, dict) else None
    if not chain:
        return None
    return x509.load_pem_x509_certificate(str(chain[0]).encode("ascii"))


def uvicorn_config(
    app: App, *, ssl_context: ssl.SSLContext, host: str = "127.0.0.1", port: int = 0, **kwargs: Any
) -> uvicorn.Config:
    """A uvicorn ``Config`` that serves ``app`` with ``ssl_context`` (which must require client certificates)
    and the TLS-extension protocol."""
    if ssl_context.verify_mode != ssl.CERT_REQUIRED:
        raise ValueError("the server SSL context must require client certificates")
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        http=TlsScopeH11Protocol,
        ssl_context_factory=lambda _config, _default: ssl_context,
        **kwargs,
    )
