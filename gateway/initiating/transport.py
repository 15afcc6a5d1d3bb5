"""The one transport object of the initiating side: HTTPS POSTs to remote gateways over mutual TLS.

* One connection pool (``max_connections`` per partner) per remote gateway origin (``https://host:port``), all
  sharing one ``ssl.SSLContext``; a global semaphore bounds the requests in flight across all gateways. The
  pools are :class:`~gateway.initiating.http11.H11Transport`, httpx transports called directly with an
  ``httpx.Request``: the same requests, answers and errors as an ``httpx.AsyncClient`` for a third of the CPU
  (that module says why).
* Per-partner timeouts: connect, read (between bytes) and a total for the exchange, retries included.
* Retries only after connection errors and HTTP 5xx, with full-jitter exponential backoff, and only while
  the caller's ``retry_while`` holds (a pull's: its record is not due yet,
  :meth:`gateway.initiating.settle.Wait.worth_retrying`); the last failure is then the exchange's. A read
  timeout is not retried: the gateway is slow, and asking again would double the wait the pull is trying to
  bound. A refused TLS handshake is not retried either (:class:`~xca.errors.GatewayTlsError`, naming why: the
  gateway's certificate has expired, comes from another CA or names another host, or the gateway's alert
  refusing ours): the same certificates fail the same way.
* Re-signing on retry: after a connection error the request never reached the peer, so the same signed bytes
  go again; after an HTTP 5xx or a dropped connection the peer may have read (and remembered) the message,
  and a strict peer's replay cache refuses a second sight of its MessageID and assertion ID. Those retries
  are signed anew (``sign()``: new MessageID, new assertion, fresh timestamp), which costs a signature only
  on the failure path and never turns a transient failure into a security refusal.
* A :class:`~gateway.initiating.breaker.CircuitBreaker` per gateway counts failed attempts; an open circuit
  skips the call (:class:`~xca.errors.CircuitOpenError`).
"""

from __future__ import annotations

import asyncio
import os
import random
import socket
import ssl
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import httpx

from gateway.directory import PartnerSettings
from gateway.initiating.breaker import CircuitBreakers
from gateway.initiating.http11 import AnswerTooLargeError, H11Transport, TlsSessions
from gateway.security import SecuredMessage
from xca.errors import (
    CircuitOpenError,
    GatewayConnectError,
    GatewayResponseError,
    GatewayTimeoutError,
    GatewayTlsError,
)
from xca.iti39 import MAX_RESPONSE_BYTES

__all__ = ["GatewayTransport", "HttpAnswer", "RetryPolicy"]


@dataclass(frozen=True)
class RetryPolicy:
    """Full jitter: the n-th retry waits uniform(0, min(cap, base * 2**n)) seconds."""

    base_seconds: float = 0.05
    cap_seconds: float = 1.0

    def delay(self, retry: int, rng: random.Random) -> float:
        return rng.uniform(0.0, min(self.cap_seconds, self.base_seconds * (2**retry)))


@dataclass(frozen=True)
class HttpAnswer:
    """The final HTTP answer of one exchange and what it took to get it."""

    status: int
    content: bytes
    content_type: str | None
    message: SecuredMessage
    attempts: int
    latency_ms: int
    request_bytes: int


class GatewayTransport:
    """POSTs signed SOAP messages to remote gateways; create once per worker, :meth:`aclose` at the end."""

    def __init__(
        self,
        ssl_context: ssl.SSLContext,
        *,
        breakers: CircuitBreakers,
        max_concurrency: int = 256,
        retry: RetryPolicy | None = None,
        rng: random.Random | None = None,
        tls_sessions: TlsSessions | None = None,
    ) -> None:
        self._ssl_context = ssl_context
        # TLS sessions resumed by new connections (see gateway.initiating.http11): shared by every origin's
        # pool, and by later transports when the caller keeps them (PullService does).
        self.tls_sessions = TlsSessions(lasting=False) if tls_sessions is None else tls_sessions
        self.breakers = breakers
        self._global = asyncio.Semaphore(max_concurrency)
        self._retry = retry or RetryPolicy()
        self._rng = rng or random.Random()  # noqa: S311 - jitter, not security
        # Keyed by origin and the partner's connection settings: a transport kept across pulls (see
        # PullService.connections) must not go on using limits and timeouts that have since changed.
        self._clients: dict[tuple[str, float, float, float, int], H11Transport] = {}
        # Parsed once per endpoint and content type: httpx would parse the URL string and build the headers
        # again for every request.
        self._urls: dict[str, httpx.URL] = {}
        self._headers: dict[str, httpx.Headers] = {}

    def _client(self, origin: str, settings: PartnerSettings) -> H11Transport:
        key = (
            origin,
            settings.connect_timeout,
            settings.read_timeout,
            settings.total_timeout,
            settings.max_connections,
        )
        client = self._clients.get(key)
        if client is None:
            limits = httpx.Limits(
                max_connections=settings.max_connections,
                max_keepalive_connections=settings.max_connections,
                keepalive_expiry=30.0,
            )
            timeout = httpx.Timeout(
                connect=settings.connect_timeout,
                read=settings.read_timeout,
                write=settings.read_timeout,
                pool=settings.total_timeout,
            )
            # No answer larger than the largest any transaction reads (ITI-39's) is read to its end.
            client = H11Transport(
                self._ssl_context,
                limits=limits,
                timeout=timeout,
                max_answer_bytes=MAX_RESPONSE_BYTES,
                sessions=self.tls_sessions,
            )
            self._clients[key] = client
        return client

    async def exchange(
        self,
        *,
        home_community_id: str,
        origin: str,
        url: str,
        settings: PartnerSettings,
        sign: Callable[[], SecuredMessage],
        content_type: str,
        what: str,
        retry_while: Callable[[], bool] | None = None,
    ) -> HttpAnswer:
        """POST ``sign()``'s bytes to ``url``; retry as the module says; return the final answer (any HTTP
        status) or raise :class:`GatewayConnectError`, :class:`GatewayTimeoutError`,
        :class:`CircuitOpenError`."""
        breaker = self.breakers.get(home_community_id)
        detail: dict[str, object] = {"home_community_id": home_community_id, "transaction": what}
        if not breaker.allow():
            raise CircuitOpenError(
                "skipped: the gateway failed repeatedly and its circuit is open", detail=detail
            )
        client = self._client(origin, settings)
        started = time.perf_counter()
        attempts = 0
        message = sign()
        target = self._urls.get(url)
        if target is None:
            target = self._urls[url] = httpx.URL(url)
        headers = self._headers.get(content_type)
        if headers is None:
            headers = self._headers[content_type] = httpx.Headers(
                {"content-type": content_type, "user-agent": "hie-gateway"}
            )
        try:
            async with asyncio.timeout(settings.total_timeout):
                while True:
                    attempts += 1
                    resend_same = False
                    failure: Exception | None = None
                    try:
                        async with self._global:
                            response = await client.handle_async_request(
                                httpx.Request("POST", target, headers=headers, content=message.data)
                            )
                    except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
                        failure, resend_same = exc, True
                    except AnswerTooLargeError as exc:  # the same request would bring the same answer
                        breaker.failure()
                        raise GatewayResponseError(
                            f"the answer was cut off: {exc}",
                            detail={**detail, "attempts": attempts, "latency_ms": _ms(started)},
                        ) from exc
                    except (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError) as exc:
                        # TLS 1.3 ends the client's handshake before the server checks its certificate: a
                        # gateway refusing ours answers the first read with an alert.
                        failure = exc
                    except httpx.TimeoutException as exc:
                        breaker.failure()
                        raise GatewayTimeoutError(
                            f"no answer within the partner's timeout ({type(exc).__name__})",
                            detail={**detail, "attempts": attempts, "latency_ms": _ms(started)},
                        ) from exc
                    else:
                        if response.status_code < 500:
                            breaker.success()
                        else:
                            breaker.failure()
                        if (
                            response.status_code < 500
                            or attempts >= settings.max_attempts
                            or not _may_retry(retry_while)
                        ):
                            return HttpAnswer(
                                status=response.status_code,
                                content=response.content,
                                content_type=response.headers.get("content-type"),
                                message=message,
                                attempts=attempts,
                                latency_ms=_ms(started),
                                request_bytes=len(message.data),
                            )
                    if failure is not None:
                        breaker.failure()
                        refused = _tls_refusal(failure)
                        if refused is not None:
                            raise GatewayTlsError(
                                refused, detail={**detail, "attempts": attempts, "latency_ms": _ms(started)}
                            ) from failure
                        overdue = attempts < settings.max_attempts and not _may_retry(retry_while)
                        if attempts >= settings.max_attempts or overdue or not breaker.allow():
                            why = "; not retried: overdue against this pull's answers" if overdue else ""
                            raise GatewayConnectError(
                                f"connection failed{_os_reason(failure)} ({type(failure).__name__}){why}",
                                detail={**detail, "attempts": attempts, "latency_ms": _ms(started)},
                            ) from failure
                    elif not breaker.allow():
                        raise CircuitOpenError(
                            "the gateway's circuit opened during retries",
                            detail={**detail, "attempts": attempts, "latency_ms": _ms(started)},
                        )
                    await asyncio.sleep(self._retry.delay(attempts - 1, self._rng))
                    if not resend_same:
                        message = sign()
        except TimeoutError as exc:
            breaker.failure()
            raise GatewayTimeoutError(
                f"no answer within the partner's total timeout of {settings.total_timeout:g} s",
                detail={**detail, "attempts": attempts, "latency_ms": _ms(started)},
            ) from exc

    async def aclose(self) -> None:
        clients, self._clients = list(self._clients.values()), {}
        for client in clients:
            await client.aclose()


def _may_retry(retry_while: Callable[[], bool] | None) -> bool:
    return retry_while is None or retry_while()


def _causes(error: BaseException) -> Iterator[BaseException]:
    """``error`` and what it was raised from (httpx wraps httpcore, which wraps the ssl or OS error)."""
    cause: BaseException | None = error
    while cause is not None:
        yield cause
        cause = cause.__cause__ or cause.__context__


def _tls_refusal(error: BaseException) -> str | None:
    """Why the TLS handshake under ``error`` was refused, or ``None`` when it was not (a reset, a refused
    connection, a timeout)."""
    for cause in _causes(error):
        if isinstance(cause, ssl.SSLCertVerificationError):
            why = cause.verify_message or cause.reason or "verification failed"
            return f"TLS: the gateway's certificate was refused ({why})"
        if isinstance(cause, ssl.SSLError) and "ALERT" in (cause.reason or ""):
            return f"TLS: the gateway refused this side's certificate ({cause.reason})"
    return None


# getaddrinfo's answers that mean the name has no address (EAI_NODATA is not defined everywhere).
_NAME_NOT_FOUND = frozenset(
    code for code in (socket.EAI_NONAME, getattr(socket, "EAI_NODATA", None)) if code is not None
)


def _os_reason(error: BaseException) -> str:
    """``": connection reset by peer"`` when the operating system said why under ``error``, else ``""``."""
    for cause in _causes(error):
        if isinstance(cause, socket.gaierror):
            # Negative EAI_* codes, unknown to os.strerror() ("unknown error -2"): the resolver's own text.
            why = cause.strerror or str(cause)
            found = "not found" if cause.errno in _NAME_NOT_FOUND else "lookup failed"
            return f": host name {found} ({why})"
        if isinstance(cause, ssl.SSLError):  # its errno is OpenSSL's SSL_ERROR_* number, not the OS's
            return f": TLS failed ({cause.reason or cause})"
        if isinstance(cause, OSError) and (cause.errno or cause.strerror):
            # The errno's own text: asyncio words a refused connect as "Connect call failed (host, port)".
            why = os.strerror(cause.errno) if cause.errno else str(cause.strerror)
            return f": {why.lower()}"
    return ""


def _ms(started: float) -> int:
    return int((time.perf_counter() - started) * 1000)
