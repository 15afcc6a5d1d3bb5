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
import ssl
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import uvicorn
from cryptography import x509
from uvicorn.protocols.http.h11_impl import H11Protocol

__all__ = ["TlsScopeH11Protocol", "peer_certificate", "tls_extension", "uvicorn_config"]

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


class TlsScopeH11Protocol(H11Protocol):
    """uvicorn's h11 protocol plus the ASGI TLS extension in every scope of a TLS connection."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
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
