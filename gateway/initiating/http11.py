"""An httpx transport for the initiating side's exchanges: HTTP/1.1 by h11 over TLS by :mod:`ssl` on asyncio.

Why not httpx's default transport (httpcore): measured by ``bench/bench_floor.py``, one request on an open
connection costs ~2,400 Python function calls through httpx's client, httpcore's pool, anyio's TLS stream and
h11 (1.7-1.8 ms of CPU on a slow 2-core VM, ~0.75 ms on a fast one), against ~0.14 ms written by hand on
asyncio streams, and the exchanges' CPU is the pull's budget (issue #8). This transport leaves the protocols
to the libraries made for them, h11 for HTTP/1.1 (framing, chunked answers, keep-alive and
``Connection: close`` rules) and the standard library's :class:`ssl.SSLObject` on memory BIOs for TLS (the
caller's ``SSLContext`` verifies the certificate and host name; a context that would not is refused), and
replaces only the per-request machinery: one :class:`asyncio.Protocol` per TCP connection
(:mod:`gateway.initiating.h11_connection`), whose bytes the exchange's own coroutine decrypts and hands to its
``h11.Connection``, and a small pool. TLS runs in the exchange's steps rather than in asyncio's SSL protocol
callbacks, so the handshake and the records count in the CPU metered per exchange
(:mod:`gateway.initiating.cpu`). Only ``https://`` URLs: partners are never called in the clear.

It is an :class:`httpx.AsyncBaseTransport`: requests are ``httpx.Request``, answers ``httpx.Response`` with
the whole body read, failures the exceptions httpx's own transport raises (``ConnectError``/``ConnectTimeout``
for a connection or TLS handshake that failed, ``ReadTimeout`` when the gateway goes quiet for longer than the
read timeout, ``ReadError``/``WriteError`` for a connection lost mid-exchange, ``RemoteProtocolError`` for a
peer that closed without answering or broke HTTP/1.1, :class:`AnswerTooLargeError` (one of those) for an
answer past ``max_answer_bytes``, ``PoolTimeout`` when no connection came free in time),
each raised *from* the OS, TLS or h11 error that caused it, so callers can say why.

The pool, per origin (host, port): at most ``max_connections`` connections, idle ones reused most recent
first and dropped once idle longer than ``keepalive_expiry``, or as soon as the peer closed them or sent
anything unasked but TLS's own messages; a connection whose exchange did not end cleanly (timeout,
cancellation, an answer that leaves HTTP/1.1 unable to go on) is closed, never reused.

TLS sessions (:mod:`gateway.initiating.tls_sessions`): a new connection resumes a session an earlier
connection to its origin left, within the limits that module describes; each connection leaves one, once its
first exchange ended (however it ended), read only when needed.
"""

from __future__ import annotations

import asyncio
import ssl
import time
from collections import deque
from dataclasses import dataclass, field

import h11
import httpx

from gateway.initiating.h11_connection import AnswerTooLargeError, Connection
from gateway.initiating.tls_sessions import Origin, TlsSession, TlsSessions
from gateway.security.tls import require_verification

__all__ = ["AnswerTooLargeError", "H11Transport", "TlsSession", "TlsSessions"]

# The peer's side of an exchange that ended (or never began): the connection can be closed politely. In any
# other state the exchange was cut short (a timeout, a cancellation) and the connection is dropped at once.
_PEER_AT_REST = (h11.IDLE, h11.DONE, h11.MUST_CLOSE, h11.CLOSED)
# How long closing the transport waits for asyncio to let its connections go before dropping them.
_CLOSE_WAIT_SECONDS = 1.0


@dataclass
class _Pool:
    """The connections to one origin."""

    origin: Origin
    all: set[Connection] = field(default_factory=set)
    idle: list[Connection] = field(default_factory=list)  # most recently used last
    # Requests waiting for a connection, first come first served: each is handed a connection that came free
    # (its result) or told that a place for a new one did (``None``).
    waiting: deque[asyncio.Future[Connection | None]] = field(default_factory=deque)

    def hand_over(self, connection: Connection | None) -> bool:
        """Give ``connection`` (or a free place) to the first request still waiting; ``False`` if none is."""
        while self.waiting:
            waiter = self.waiting.popleft()
            if not waiter.done():
                waiter.set_result(connection)
                return True
        return False


class H11Transport(httpx.AsyncBaseTransport):
    """Pooled HTTP/1.1 over TLS with ``ssl_context``, per the module's description."""

    def __init__(
        self,
        ssl_context: ssl.SSLContext,
        *,
        limits: httpx.Limits | None = None,
        timeout: httpx.Timeout | None = None,
        max_answer_bytes: int = 256 * 1024 * 1024,
        sessions: TlsSessions | None = None,
    ) -> None:
        require_verification(ssl_context)
        # Sessions of its own die with it: read only for its own later connections.
        self.sessions = TlsSessions(lasting=False) if sessions is None else sessions
        self._max_answer_bytes = max_answer_bytes
        limits = limits or httpx.Limits()
        timeout = timeout or httpx.Timeout(5.0)
        self._ssl_context = ssl_context
        self._max_connections = limits.max_connections
        self._keepalive_expiry = limits.keepalive_expiry
        self._connect_timeout = timeout.connect
        self._read_timeout = timeout.read
        self._write_timeout = timeout.write
        self._pool_timeout = timeout.pool
        self._pools: dict[Origin, _Pool] = {}
        self._closing: set[Connection] = set()  # closed, their TLS goodbye not yet done
        self._closed = False

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if self._closed:
            raise RuntimeError("the transport is closed")
        url = request.url
        if url.scheme != "https":
            raise httpx.UnsupportedProtocol(
                f"only https:// URLs are called, not {url.scheme!r}", request=request
            )
        origin = (url.host, url.port or 443)
        content = await request.aread()
        pool = self._pools.get(origin)
        if pool is None:
            pool = self._pools[origin] = _Pool(origin)
        connection = await self._acquire(pool, origin, request)
        done = False
        try:
            h = connection.h11
            head = h11.Request(method=request.method, target=url.raw_path, headers=request.headers.raw)
            data = b"".join(
                h.send(event) or b""
                for event in (head, h11.Data(data=content), h11.EndOfMessage())
                if content or not isinstance(event, h11.Data)
            )
            await connection.send(data, self._write_timeout)
            answer, body = await connection.receive(self._read_timeout)
            done = (
                h.our_state is h11.DONE
                and h.their_state is h11.DONE
                and not connection.closed
                and not h.trailing_data[0]
                and not connection.tls.pending()
            )
        except httpx.TransportError as exc:
            exc.request = request
            raise
        except h11.LocalProtocolError as exc:
            raise httpx.LocalProtocolError(str(exc), request=request) from exc
        finally:
            try:
                if not connection.session_kept:  # the answer read (or the exchange over): tickets have come
                    self._keep_session(origin, connection)
            finally:
                self._release(pool, connection, reuse=done)
        return httpx.Response(
            answer.status_code,
            headers=answer.headers.raw_items(),
            content=body,
            request=request,
            extensions={"http_version": b"HTTP/1.1", "reason_phrase": bytes(answer.reason)},
        )

    def _keep_session(self, origin: Origin, connection: Connection) -> None:
        connection.session_kept = True
        if not self._closed:  # closed meanwhile: aclose() let the connection's session go already
            self.sessions.keep_later(origin, connection)  # read when needed (see TlsSessions)

    async def _acquire(self, pool: _Pool, origin: Origin, request: httpx.Request) -> Connection:
        loop = asyncio.get_running_loop()
        deadline = None if self._pool_timeout is None else loop.time() + self._pool_timeout
        expiry = self._keepalive_expiry
        if expiry is not None:  # the oldest idle connections first, which the newest-first reuse leaves last
            now = time.monotonic()
            while pool.idle and now - pool.idle[0].idle_since > expiry:
                self._forget(pool, pool.idle.pop(0))
        first_turn = True
        while True:
            # Arriving while others wait: queue behind them. Handed a free place: back here, at the front.
            if first_turn and pool.waiting:
                handed = await self._wait(pool, loop, deadline, request, front=False)
                if handed is not None:
                    return handed
            first_turn = False
            while pool.idle:
                connection = pool.idle.pop()
                if not connection.reusable():
                    self._forget(pool, connection)
                    continue
                connection.busy = True
                return connection
            if self._max_connections is None or len(pool.all) < self._max_connections:
                return await self._open(pool, origin, request)
            handed = await self._wait(pool, loop, deadline, request, front=True)
            if handed is not None:
                return handed

    async def _wait(
        self,
        pool: _Pool,
        loop: asyncio.AbstractEventLoop,
        deadline: float | None,
        request: httpx.Request,
        *,
        front: bool,
    ) -> Connection | None:
        """Wait for a connection (returned, busy) or a free place (``None``); ``front`` to keep one's turn."""
        waiter: asyncio.Future[Connection | None] = loop.create_future()
        if front:
            pool.waiting.appendleft(waiter)
        else:
            pool.waiting.append(waiter)
        try:
            async with asyncio.timeout_at(deadline):
                return await waiter
        except BaseException as exc:
            if waiter.done() and not waiter.cancelled():
                # Handed something as the wait ended: it passes to the next in line.
                handed = waiter.result()
                if handed is not None:
                    self._release(pool, handed, reuse=True)
                else:
                    pool.hand_over(None)
            waiter.cancel()
            if isinstance(exc, TimeoutError):
                raise httpx.PoolTimeout("no connection came free in time", request=request) from exc
            raise

    async def _open(self, pool: _Pool, origin: Origin, request: httpx.Request) -> Connection:
        host, port = origin
        offered = self.sessions.take(origin)
        connection = Connection(self._ssl_context, host, self._max_answer_bytes, offered)
        pool.all.add(connection)  # the slot is taken while the connection opens
        try:
            async with asyncio.timeout(self._connect_timeout):
                await asyncio.get_running_loop().create_connection(lambda: connection, host, port)
                await connection.handshake()
        except BaseException as exc:
            self._forget(pool, connection)
            if connection.transport is None and connection.offered is not None:
                self.sessions.put_back(origin, connection.offered)  # never sent: still unused
            if isinstance(exc, TimeoutError):
                raise httpx.ConnectTimeout("the connection was not made in time", request=request) from exc
            if isinstance(exc, OSError):  # refused, unreachable, unknown host, the TLS handshake refused
                raise httpx.ConnectError(str(exc) or type(exc).__name__, request=request) from exc
            raise
        return connection

    def _release(self, pool: _Pool, connection: Connection, *, reuse: bool) -> None:
        if reuse and not self._closed:
            if connection.h11.our_state is h11.DONE:
                connection.h11.start_next_cycle()
            if not pool.hand_over(connection):  # straight to the first request waiting, busy as it was
                connection.busy = False
                connection.idle_since = time.monotonic()
                pool.idle.append(connection)
        else:
            connection.busy = False
            self._forget(pool, connection)

    def _forget(self, pool: _Pool, connection: Connection) -> None:
        if connection in pool.all:
            pool.all.discard(connection)
            self.sessions.closing(pool.origin, connection, transport_open=not self._closed)
            h = connection.h11
            if h.their_state in _PEER_AT_REST and (h.our_state is not h11.SEND_BODY):
                connection.close()
            else:
                connection.abort()
            self._track(connection)
            pool.hand_over(None)

    def _track(self, connection: Connection) -> None:
        """Keep a closed connection in sight until asyncio has let it go, for :meth:`aclose` to wait on."""
        if connection.transport is not None and not connection.gone.done():
            self._closing.add(connection)
            connection.gone.add_done_callback(lambda _: self._closing.discard(connection))

    async def aclose(self) -> None:
        """Close every connection and wait until asyncio has released them: politely (TLS close_notify) for
        up to a second, then dropped."""
        self._closed = True
        pools, self._pools = list(self._pools.values()), {}
        for pool in pools:
            for connection in list(pool.all):
                self.sessions.closing(pool.origin, connection, transport_open=False)
                connection.close()
                self._track(connection)
            pool.all.clear()
            pool.idle.clear()
            while pool.waiting:
                waiter = pool.waiting.popleft()
                if not waiter.done():
                    waiter.set_exception(RuntimeError("the transport was closed"))
        closing = [c.gone for c in self._closing]
        if closing:
            _, late = await asyncio.wait(closing, timeout=_CLOSE_WAIT_SECONDS)
            for connection in list(self._closing):
                connection.abort()
            if late:
                await asyncio.wait(late, timeout=_CLOSE_WAIT_SECONDS)
