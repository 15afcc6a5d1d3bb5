"""Mutual TLS contexts and httpx clients (IHE ITI TF-2a 9 ATNA secure node: TLS with mutual authentication;
RFC 9325 recommendations for TLS 1.2).

Both sides: TLS 1.2 or newer, certificate verification required, no renegotiation, AEAD cipher suites with
forward secrecy for TLS 1.2 (TLS 1.3 suites are all AEAD). The client also checks the server's hostname.
httpx clients are always built from an ``ssl.SSLContext`` (httpx ignores a client certificate passed beside
``verify=path``), so certificate checks can never be switched off by a stray argument.
"""

from __future__ import annotations

import os
import ssl
from typing import Any, Final

import httpx

from xca.errors import CertificateLoadError, WrongPasswordError

__all__ = [
    "CIPHERS",
    "async_client",
    "client_ssl_context",
    "require_verification",
    "server_ssl_context",
    "service_ssl_context",
    "sync_client",
]

CIPHERS: Final = "ECDHE+AESGCM:ECDHE+CHACHA20:DHE+AESGCM:!aNULL:!eNULL:!MD5:!DSS:!RC4:!3DES"
"""TLS 1.2 suites: ECDHE/DHE key exchange with AES-GCM or ChaCha20-Poly1305 only."""

_PathLike = str | os.PathLike[str]


def _harden(context: ssl.SSLContext) -> ssl.SSLContext:
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.set_ciphers(CIPHERS)
    context.options |= ssl.OP_NO_RENEGOTIATION | ssl.OP_NO_COMPRESSION | ssl.OP_CIPHER_SERVER_PREFERENCE
    # Refuse peers that lack RFC 5746 secure renegotiation (OpenSSL's legacy flag; 0x4, named in Python 3.12).
    context.options &= ~getattr(ssl, "OP_LEGACY_SERVER_CONNECT", 0x4)
    context.verify_mode = ssl.CERT_REQUIRED
    return context


def _load(
    context: ssl.SSLContext,
    *,
    certificate: _PathLike,
    private_key: _PathLike,
    trust_bundle: _PathLike,
    key_password: str | bytes | None,
) -> None:
    try:
        context.load_cert_chain(os.fspath(certificate), os.fspath(private_key), password=key_password)
    except ssl.SSLError as exc:
        if "bad decrypt" in str(exc).lower() or "password" in str(exc).lower():
            raise WrongPasswordError(
                "The password does not open the TLS key.", detail={"path": str(private_key)}
            ) from exc
        raise CertificateLoadError(
            "The TLS certificate and key cannot be loaded together.", detail={"path": str(certificate)}
        ) from exc
    except OSError as exc:
        raise CertificateLoadError(
            "A TLS certificate or key file cannot be read.", detail={"path": str(certificate)}
        ) from exc
    _trust(context, trust_bundle)


def _trust(context: ssl.SSLContext, trust_bundle: _PathLike | None) -> None:
    """Trust the CAs of ``trust_bundle``, or the operating system's when it is ``None``."""
    try:
        if trust_bundle is None:
            context.load_default_certs(ssl.Purpose.SERVER_AUTH)
        else:
            context.load_verify_locations(cafile=os.fspath(trust_bundle))
    except (ssl.SSLError, OSError) as exc:
        raise CertificateLoadError(
            "The trust bundle cannot be loaded.", detail={"path": str(trust_bundle)}
        ) from exc


def client_ssl_context(
    *,
    certificate: _PathLike,
    private_key: _PathLike,
    trust_bundle: _PathLike,
    key_password: str | bytes | None = None,
) -> ssl.SSLContext:
    """Client side of mutual TLS: presents ``certificate``, trusts only ``trust_bundle``, checks hostnames."""
    context = _harden(ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT))
    context.check_hostname = True
    _load(
        context,
        certificate=certificate,
        private_key=private_key,
        trust_bundle=trust_bundle,
        key_password=key_password,
    )
    return context


def service_ssl_context(*, trust_bundle: _PathLike | None = None) -> ssl.SSLContext:
    """Client side of one-way TLS to a service outside the network's PKI (a directory server): no client
    certificate; the server is checked against ``trust_bundle``, else the operating system's CAs, and its
    hostname is checked."""
    context = _harden(ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT))
    context.check_hostname = True
    _trust(context, trust_bundle)
    return context


def server_ssl_context(
    *,
    certificate: _PathLike,
    private_key: _PathLike,
    trust_bundle: _PathLike,
    key_password: str | bytes | None = None,
) -> ssl.SSLContext:
    """Server side of mutual TLS: a client without a certificate from ``trust_bundle`` fails the handshake.

    ``check_hostname`` stays off here: it means "compare the peer's certificate with the name I dialled",
    which only a client has (Python refuses it on server sockets); peer identity is checked on the
    verified certificate instead (see :mod:`gateway.security.tls_server`).
    """
    context = _harden(ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER))
    _load(
        context,
        certificate=certificate,
        private_key=private_key,
        trust_bundle=trust_bundle,
        key_password=key_password,
    )
    return context


def require_verification(context: ssl.SSLContext) -> None:
    """Refuse a client context that would not verify the server's certificate and host name."""
    if not isinstance(context, ssl.SSLContext):
        raise TypeError("ssl_context must be an ssl.SSLContext from client_ssl_context()")
    if context.verify_mode != ssl.CERT_REQUIRED or not context.check_hostname:
        raise ValueError("the SSL context must verify certificates and hostnames")


def _check(context: ssl.SSLContext, kwargs: dict[str, Any]) -> None:
    require_verification(context)
    for forbidden in ("verify", "cert", "trust_env"):
        if forbidden in kwargs:
            raise TypeError(f"{forbidden}= is fixed by the SSL context and cannot be passed")


def sync_client(*, ssl_context: ssl.SSLContext, **kwargs: Any) -> httpx.Client:
    """An ``httpx.Client`` using ``ssl_context`` for every connection (no proxies from the environment)."""
    _check(ssl_context, kwargs)
    return httpx.Client(verify=ssl_context, trust_env=False, **kwargs)


def async_client(*, ssl_context: ssl.SSLContext, **kwargs: Any) -> httpx.AsyncClient:
    """An ``httpx.AsyncClient`` using ``ssl_context`` for every connection (no proxies from the env)."""
    _check(ssl_context, kwargs)
    return httpx.AsyncClient(verify=ssl_context, trust_env=False, **kwargs)
