"""An httpx transport for the initiating side's exchanges: HTTP/1.1 by h11 over asyncio's own TLS connections.

Why not httpx's default transport (httpcore): measured by ``bench/bench_floor.py``, one request on an open
connection costs ~2,400 Python function calls through httpx's client, httpcore's pool, anyio's TLS stream and
h11 (1.7-1.8 ms of CPU on a slow 2-core VM, ~0.75 ms on a fast one), against ~0.14 ms written by hand on
asyncio streams, and the exchanges' CPU is the pull's budget (issue #8). This transport keeps the parts that
are libraries' jobs with those libraries, h11 for HTTP/1.1 (framing, chunked answers, keep-alive and
``Connection: close`` rules) and asyncio with :mod:`ssl` for TLS (the caller's ``SSLContext``: verification
and hostname checks are the context's, and a context that would not check is refused), and replaces only the
per-request machinery: one :class:`asyncio.Protocol` per connection feeding received bytes to its
``h11.Connection``, and a small pool. Only ``https://`` URLs: partners are never called in the clear.

It is an :class:`httpx.AsyncBaseTransport`: requests are ``httpx.Request``, answers ``httpx.Response`` with
the whole body read, failures the exceptions httpx's own transport raises (``ConnectError``/``ConnectTimeout``
for a connection or TLS handshake that failed, ``ReadTimeout`` when the gateway goes quiet for longer than the
read timeout, ``ReadError``/``WriteError`` for a connection lost mid-exchange, ``RemoteProtocolError`` for a
peer that closed without answering or broke HTTP/1.1, ``PoolTimeout`` when no connection came free in time),
each raised *from* the OS, TLS or h11 error that caused it, so callers can say why.

The pool, per origin (host, port): at most ``max_connections`` connections, idle ones reused most
recent first and dropped once idle longer than ``keepalive_expiry``, or as soon as the peer closed them or
sent anything unasked; a connection whose exchange did not end cleanly (timeout, cancellation, an answer
that leaves HTTP/1.1 unable to go on) is closed, never reused.
"""

from __future__ import annotations

import asyncio
import ssl
import time
from collections import deque
from dataclasses import dataclass, field

import h11
import httpx

from gateway.security.tls import require_verification

__all__ = ["H11Transport"]

# The peer's side of an exchange that ended (or never began): the connection can be closed politely. In any
# other state the exchange was cut short (a timeout, a cancellation) and the connection is dropped at once.
_PEER_AT_REST = (h11.IDLE, h11.DONE, h11.MUST_CLOSE, h11.CLOSED)
# How long closing the transport waits for its connections' polite TLS goodbyes before dropping them.
_CLOSE_WAIT_SECONDS = 1.0
# Pause sending once this much is waiting in the transport's buffer (asyncio's flow control), resume below.
_WRITE_HIGH_WATER = 256 * 1024


class _Connection(asyncio.Protocol):
    """One HTTP/1.1 connection: asyncio delivers the peer's bytes, h11 frames them."""

    __slots__ = (
        "_drain",
        "_waiter",
        "busy",
        "closed",
        "error",
        "gone",
        "h11",
        "idle_since",
        "received",
        "transport",
    )

    def __init__(self) -> None:
        self.h11 = h11.Connection(h11.CLIENT)
        self.transport: asyncio.Transport | None = None
        self.gone: asyncio.Future[None] = asyncio.get_running_loop().create_future()  # done once lost
        self.busy = True  # an exchange is using it (set while it is being opened, too)
        self.closed = False  # the peer closed it, it was lost, or it was sent something unasked
        self.error: BaseException | None = None  # why it was lost, when it was not a clean close
        self.idle_since = 0.0
        self.received = 0  # bytes of the current exchange's answer so far
        self._waiter: asyncio.Future[None] | None = None
        self._drain: asyncio.Future[None] | None = None

    # asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        if not self.busy:  # an idle connection is sent nothing: whatever this is, the connection is done
            self.closed = True
            self.close()
            return
        self.received += len(data)
        self.h11.receive_data(data)
        self._wake()

    def eof_received(self) -> bool:
        self.closed = True
        if self.busy:
            self.h11.receive_data(b"")
        self._wake()
        return False  # close the transport

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.closed and self.busy and exc is None:
            self.h11.receive_data(b"")  # a close without EOF first: the same for HTTP/1.1
        self.closed = True
        self.error = exc
        if not self.gone.done():
            self.gone.set_result(None)
        self._wake()
        drain, self._drain = self._drain, None
        if drain is not None and not drain.done():
            drain.set_result(None)

    def pause_writing(self) -> None:
        if self._drain is None:
            self._drain = asyncio.get_running_loop().create_future()

    def resume_writing(self) -> None:
        drain, self._drain = self._drain, None
        if drain is not None and not drain.done():
            drain.set_result(None)

    # the exchange

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()

    def abort(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.abort()

    async def send(self, data: bytes, timeout: float | None) -> None:
        assert self.transport is not None
        if self.closed:
            raise self._lost(httpx.WriteError, "the connection closed before the request was sent")
        self.received = 0
        self.transport.write(data)
        if self._drain is not None:
            try:
                async with asyncio.timeout(timeout):
                    await self._drain
            except TimeoutError as exc:
                raise httpx.WriteTimeout("the request could not be sent in time") from exc
            if self.closed and self.error is not None:
                raise self._lost(httpx.WriteError, "the connection was lost while sending")

    async def receive(self, timeout: float | None) -> tuple[h11.Response, bytes]:
        """The answer: its status line and headers, and the whole body."""
        response: h11.Response | None = None
        body: list[bytes] = []
        while True:
            try:
                event = self.h11.next_event()
            except h11.RemoteProtocolError as exc:
                if self.received == 0 and self.closed:
                    # h11 words a close before any answer as a protocol error: it is the gateway hanging up
                    raise httpx.RemoteProtocolError(
                        "Server disconnected without sending a response."
                    ) from exc
                raise httpx.RemoteProtocolError(f"the answer breaks HTTP/1.1: {exc}") from exc
            if event is h11.NEED_DATA:
                if self.closed:
                    if self.error is not None:
                        raise self._lost(httpx.ReadError, "the connection was lost")
                    raise httpx.RemoteProtocolError("the server closed the connection")  # h11 had EOF
                await self._readable(timeout)
            elif isinstance(event, h11.Data):
                body.append(bytes(event.data))
            elif isinstance(event, h11.Response):
                response = event
            elif isinstance(event, h11.EndOfMessage):
                assert response is not None
                return response, b"".join(body)
            elif isinstance(event, h11.ConnectionClosed):
                if self.error is not None:
                    raise self._lost(httpx.ReadError, "the connection was lost")
                raise httpx.RemoteProtocolError("Server disconnected without sending a response.")
            # h11.InformationalResponse (100 Continue and the like): wait for the final answer

    async def _readable(self, timeout: float | None) -> None:
        self._waiter = waiter = asyncio.get_running_loop().create_future()
        try:
            async with asyncio.timeout(timeout):
                await waiter
        except TimeoutError as exc:
            raise httpx.ReadTimeout("no answer within the read timeout") from exc
        finally:
            self._waiter = None

    def _lost(self, kind: type[httpx.TransportError], what: str) -> httpx.TransportError:
        error = kind(f"{what}: {self.error}" if self.error is not None else what)
        error.__cause__ = self.error
        return error


@dataclass
class _Pool:
    """The connections to one origin."""

    all: set[_Connection] = field(default_factory=set)
    idle: list[_Connection] = field(default_factory=list)  # most recently used last
    waiting: deque[asyncio.Future[None]] = field(default_factory=deque)

    def wake_one(self) -> None:
        while self.waiting:
            waiter = self.waiting.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return


class H11Transport(httpx.AsyncBaseTransport):
    """Pooled HTTP/1.1 over TLS with ``ssl_context``, per the module's description."""

    def __init__(
        self,
        ssl_context: ssl.SSLContext,
        *,
        limits: httpx.Limits | None = None,
        timeout: httpx.Timeout | None = None,
    ) -> None:
        require_verification(ssl_context)
        limits = limits or httpx.Limits()
        timeout = timeout or httpx.Timeout(5.0)
        self._ssl_context = ssl_context
        self._max_connections = limits.max_connections
        self._keepalive_expiry = limits.keepalive_expiry
        self._connect_timeout = timeout.connect
        self._read_timeout = timeout.read
        self._write_timeout = timeout.write
        self._pool_timeout = timeout.pool
        self._pools: dict[tuple[str, int], _Pool] = {}
        self._closing: set[_Connection] = set()  # closed, their TLS goodbye not yet done
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
            pool = self._pools[origin] = _Pool()
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
            done = h.our_state is h11.DONE and h.their_state is h11.DONE and not connection.closed
        except httpx.TransportError as exc:
            exc.request = request
            raise
        except h11.LocalProtocolError as exc:
            raise httpx.LocalProtocolError(str(exc), request=request) from exc
        finally:
            self._release(pool, connection, reuse=done)
        return httpx.Response(
            answer.status_code,
            headers=answer.headers.raw_items(),
            content=body,
            request=request,
            extensions={"http_version": b"HTTP/1.1", "reason_phrase": bytes(answer.reason)},
        )

    async def _acquire(self, pool: _Pool, origin: tuple[str, int], request: httpx.Request) -> _Connection:
        loop = asyncio.get_running_loop()
        deadline = None if self._pool_timeout is None else loop.time() + self._pool_timeout
        expiry = self._keepalive_expiry
        while True:
            now = time.monotonic()
            while pool.idle:
                connection = pool.idle.pop()
                if connection.closed or (expiry is not None and now - connection.idle_since > expiry):
                    self._forget(pool, connection)
                    continue
                connection.busy = True
                return connection
            if self._max_connections is None or len(pool.all) < self._max_connections:
                return await self._open(pool, origin, request)
            waiter = loop.create_future()
            pool.waiting.append(waiter)
            try:
                async with asyncio.timeout_at(deadline):
                    await waiter
            except BaseException as exc:
                if waiter.done() and not waiter.cancelled():
                    pool.wake_one()  # woken as the wait ended: the turn passes to the next in line
                waiter.cancel()
                if isinstance(exc, TimeoutError):
                    raise httpx.PoolTimeout("no connection came free in time", request=request) from exc
                raise

    async def _open(self, pool: _Pool, origin: tuple[str, int], request: httpx.Request) -> _Connection:
        host, port = origin
        connection = _Connection()
        pool.all.add(connection)  # the slot is taken while the connection opens
        try:
            async with asyncio.timeout(self._connect_timeout):
                await asyncio.get_running_loop().create_connection(
                    lambda: connection,
                    host,
                    port,
                    ssl=self._ssl_context,
                    server_hostname=host,
                )
        except TimeoutError as exc:
            self._forget(pool, connection)
            raise httpx.ConnectTimeout("the connection was not made in time", request=request) from exc
        except OSError as exc:  # refused, unreachable, unknown host, the TLS handshake refused (ssl.SSLError)
            self._forget(pool, connection)
            raise httpx.ConnectError(str(exc) or type(exc).__name__, request=request) from exc
        except BaseException:
            self._forget(pool, connection)
            raise
        return connection

    def _release(self, pool: _Pool, connection: _Connection, *, reuse: bool) -> None:
        connection.busy = False
        if reuse and not self._closed:
            connection.h11.start_next_cycle()
            connection.idle_since = time.monotonic()
            pool.idle.append(connection)
            pool.wake_one()
        else:
            self._forget(pool, connection)

    def _forget(self, pool: _Pool, connection: _Connection) -> None:
        if connection in pool.all:
            pool.all.discard(connection)
            h = connection.h11
            if h.their_state in _PEER_AT_REST and (h.our_state is not h11.SEND_BODY):
                connection.close()
            else:
                connection.abort()
            self._track(connection)
            pool.wake_one()

    def _track(self, connection: _Connection) -> None:
        """Keep a closed connection in sight until asyncio has let it go, for :meth:`aclose` to wait on."""
        if not connection.gone.done():
            self._closing.add(connection)
            connection.gone.add_done_callback(lambda _: self._closing.discard(connection))

    async def aclose(self) -> None:
        """Close every connection and wait until asyncio has released them: politely (TLS close_notify) for
        up to a second, then dropped."""
        self._closed = True
        pools, self._pools = list(self._pools.values()), {}
        for pool in pools:
            for connection in list(pool.all):
                connection.close()
                self._track(connection)
            pool.all.clear()
            pool.idle.clear()
            while pool.waiting:
                waiter = pool.waiting.popleft()
                if not waiter.done():
                    waiter.cancel()
        closing = [c.gone for c in self._closing]
        if closing:
            _, late = await asyncio.wait(closing, timeout=_CLOSE_WAIT_SECONDS)
            for connection in list(self._closing):
                connection.abort()
            if late:
                await asyncio.wait(late, timeout=_CLOSE_WAIT_SECONDS)
