"""An httpx transport for the initiating side's exchanges: HTTP/1.1 by h11 over TLS by :mod:`ssl` on asyncio.

Why not httpx's default transport (httpcore): measured by ``bench/bench_floor.py``, one request on an open
connection costs ~2,400 Python function calls through httpx's client, httpcore's pool, anyio's TLS stream and
h11 (1.7-1.8 ms of CPU on a slow 2-core VM, ~0.75 ms on a fast one), against ~0.14 ms written by hand on
asyncio streams, and the exchanges' CPU is the pull's budget (issue #8). This transport leaves the protocols
to the libraries made for them, h11 for HTTP/1.1 (framing, chunked answers, keep-alive and
``Connection: close`` rules) and the standard library's :class:`ssl.SSLObject` on memory BIOs for TLS (the
caller's ``SSLContext`` verifies the certificate and host name; a context that would not is refused), and
replaces only the per-request machinery: one :class:`asyncio.Protocol` per TCP connection, whose bytes the
exchange's own coroutine decrypts and hands to its ``h11.Connection``, and a small pool. TLS runs in the
exchange's steps rather than in asyncio's SSL protocol callbacks, so the handshake and the records count in
the CPU metered per exchange (:mod:`gateway.initiating.cpu`). Only ``https://`` URLs: partners are never
called in the clear.

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

TLS sessions, per origin (:class:`TlsSessions`, which a caller may share among transports and keep across
them): a new connection resumes a session an earlier connection to its origin left (RFC 8446 section 2.2; the
session ticket of TLS 1.3, the session of TLS 1.2), which spares both sides the certificates, their
verification and the private-key signatures of a full handshake. A resumed connection does not check the
gateway's certificate again: it relies on the full handshake that made the first session of the chain. So a
session carries the time of that verification and the certificate's expiry, and is not offered once either
is past (an hour after the verification by default, however long the gateway's tickets live; RFC 8446
section 4.6.1), nor past its own lifetime (the gateway's ticket lifetime): the next connection verifies in
full. A TLS 1.3 ticket is offered once (RFC 8446 appendix C.4) and replaced by the one the new connection
brings; a TLS 1.2 session may be offered again. A few sessions are kept per origin (one from each
connection), so as many new connections at once can resume; the others make full handshakes. A connection's
session is looked at once, when its first exchange ends, however it ended (a TLS 1.3 ticket comes after the
handshake; tickets arriving later are not looked for), and none is ever written anywhere. A gateway that
declines one gets a full handshake with the same verification.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import time
from collections import OrderedDict, deque
from dataclasses import dataclass, field

import h11
import httpx

from gateway.security.tls import require_verification

__all__ = ["AnswerTooLargeError", "H11Transport", "TlsSession", "TlsSessions"]

# The peer's side of an exchange that ended (or never began): the connection can be closed politely. In any
# other state the exchange was cut short (a timeout, a cancellation) and the connection is dropped at once.
_PEER_AT_REST = (h11.IDLE, h11.DONE, h11.MUST_CLOSE, h11.CLOSED)
# How long closing the transport waits for asyncio to let its connections go before dropping them.
_CLOSE_WAIT_SECONDS = 1.0
# Decrypted bytes read at a time; bytes an idle connection may be sent (TLS tickets) before it is dropped.
_READ_SIZE = 65536
_IDLE_INCOMING_LIMIT = 65536

Origin = tuple[str, int]


@dataclass(frozen=True, slots=True)
class TlsSession:
    """A session to resume and what it may be trusted for: ``verified_at`` is when the full handshake at the
    head of its chain verified the gateway's certificate, ``not_after`` that certificate's expiry (both
    ``time.time()`` seconds); ``expires`` the earliest of those limits and the session's own lifetime."""

    session: ssl.SSLSession
    verified_at: float
    not_after: float
    expires: float


class TlsSessions:
    """TLS sessions to resume: up to ``per_origin`` per origin (host, port), for ``max_origins`` origins (the
    origin least recently given one dropped first), none trusted past ``max_age`` seconds after the full
    handshake that verified the gateway (see the module's description). In memory only: session secrets are
    never written to disk."""

    def __init__(self, *, max_origins: int = 4096, per_origin: int = 4, max_age: float = 3600.0) -> None:
        self.max_age = max_age
        self._max_origins = max_origins
        self._per_origin = per_origin
        self._sessions: OrderedDict[Origin, deque[TlsSession]] = OrderedDict()

    def __len__(self) -> int:
        """Sessions kept, all origins together."""
        return sum(len(kept) for kept in self._sessions.values())

    def take(self, origin: Origin) -> TlsSession | None:
        """The origin's most recent session still within its limits, removed; ``None`` if there is none."""
        kept = self._sessions.get(origin)
        if kept is None:
            return None
        now = time.time()
        found = None
        while kept and found is None:
            candidate = kept.pop()
            if now < candidate.expires:
                found = candidate
        if not kept:
            del self._sessions[origin]
        return found

    def keep(
        self, origin: Origin, session: ssl.SSLSession, *, verified_at: float, not_after: float
    ) -> TlsSession:
        """Keep ``session`` for ``origin``'s next connections, trusted as the verification at ``verified_at``
        of a certificate valid until ``not_after`` allows."""
        lifetime = session.timeout
        if session.has_ticket:  # the gateway's own word on its ticket; 0 means not to resume it
            lifetime = min(lifetime, session.ticket_lifetime_hint)
        expires = min(session.time + lifetime, verified_at + self.max_age, not_after)
        entry = TlsSession(session, verified_at, not_after, expires)
        self.put_back(origin, entry)
        return entry

    def put_back(self, origin: Origin, entry: TlsSession) -> None:
        """Keep a session taken and not used (its connection was never made)."""
        kept = self._sessions.get(origin)
        if kept is None:
            kept = self._sessions[origin] = deque(maxlen=self._per_origin)
        kept.append(entry)
        self._sessions.move_to_end(origin)
        while len(self._sessions) > self._max_origins:
            self._sessions.popitem(last=False)

    def clear(self) -> None:
        self._sessions.clear()


def _not_after(tls: ssl.SSLObject) -> float:
    """When the gateway's certificate the handshake verified expires (``time.time()`` seconds); 0 when
    unknown."""
    certificate = tls.getpeercert()
    expiry = certificate.get("notAfter") if certificate else None
    return float(ssl.cert_time_to_seconds(expiry)) if isinstance(expiry, str) else 0.0


class AnswerTooLargeError(httpx.RemoteProtocolError):
    """The answer grew past the transport's ``max_answer_bytes``: a gateway sending more than anything it
    could mean (or without end) is cut off before it exhausts memory."""


class _Connection(asyncio.Protocol):
    """One HTTPS connection: asyncio carries its TCP bytes, :class:`ssl.SSLObject` on memory BIOs does TLS in
    the exchange's own steps (so the handshake and the records are charged to the exchange that needs them),
    h11 frames HTTP/1.1."""

    __slots__ = (
        "_drain",
        "_ended",
        "_incoming",
        "_outgoing",
        "_waiter",
        "busy",
        "closed",
        "error",
        "gone",
        "h11",
        "idle_since",
        "limit",
        "offered",
        "received",
        "session_kept",
        "tls",
        "tls13",
        "transport",
        "verified",
    )

    def __init__(
        self, context: ssl.SSLContext, host: str, limit: int, offered: TlsSession | None = None
    ) -> None:
        self._incoming, self._outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        # The context's verification and host name check apply in do_handshake(), to a full handshake; a
        # resumed one relies on the verification its session carries (see TlsSession).
        self.offered = offered  # the session this connection offers to resume
        try:
            session = offered.session if offered is not None else None
            self.tls = context.wrap_bio(self._incoming, self._outgoing, server_hostname=host, session=session)
        except ValueError:  # a session made with another context: not offered
            self.offered = None
            self.tls = context.wrap_bio(self._incoming, self._outgoing, server_hostname=host)
        # Set by the handshake: whether it was TLS 1.3, and when the gateway's certificate was verified and
        # until when it is valid (for a resumed handshake, what the offered session carried).
        self.tls13 = False
        self.verified: tuple[float, float] | None = None
        self.session_kept = False  # its session was looked at for the transport's TlsSessions
        self.h11 = h11.Connection(h11.CLIENT)
        self.transport: asyncio.Transport | None = None
        self.gone: asyncio.Future[None] = asyncio.get_running_loop().create_future()  # done once lost
        self.busy = True  # an exchange is using it (set while it is being opened, too)
        self.closed = False  # no more bytes will come: the peer ended or lost it, or it was closed here
        self.error: BaseException | None = None  # why it was lost, when it was not a clean close
        self.idle_since = 0.0
        self.received = 0  # decrypted bytes of the current exchange's answer so far
        self.limit = limit  # the most an answer may hold (status line, headers and body)
        self._ended = False  # h11 was told the stream ended
        self._waiter: asyncio.Future[None] | None = None
        self._drain: asyncio.Future[None] | None = None

    # asyncio.Protocol: TCP bytes in and out

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self._incoming.write(data)
        if not self.busy and self._incoming.pending > _IDLE_INCOMING_LIMIT:
            self.abort()  # a peer streaming at an idle connection: it will not be used again
        self._wake()

    def eof_received(self) -> bool:
        self._incoming.write_eof()
        self.closed = True
        self._wake()
        return False  # close the transport

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.closed:
            self._incoming.write_eof()
        self.closed = True
        self.error = self.error or exc
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

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _flush(self) -> None:
        """Send what TLS has written (records, alerts)."""
        data = self._outgoing.read()
        if data and self.transport is not None and not self.transport.is_closing():
            self.transport.write(data)

    async def _more(self, timeout: float | None = None) -> None:
        """Wait for the peer's next bytes (or its end), at most ``timeout`` seconds."""
        self._waiter = waiter = asyncio.get_running_loop().create_future()
        try:
            async with asyncio.timeout(timeout):
                await waiter
        except TimeoutError as exc:
            raise httpx.ReadTimeout("no answer within the read timeout") from exc
        finally:
            self._waiter = None

    # the connection's life

    async def handshake(self) -> None:
        """The TLS handshake; raises the :class:`ssl.SSLError` (or the OS error) that ended it."""
        while True:
            try:
                self.tls.do_handshake()
            except ssl.SSLWantReadError:
                self._flush()
                if self.closed:
                    raise (
                        self.error or ssl.SSLEOFError("the connection closed in the TLS handshake")
                    ) from None
                await self._more()  # without a timeout of its own: the connect timeout bounds the whole
                continue
            self._flush()
            self.tls13 = self.tls.version() == "TLSv1.3"
            if self.tls.session_reused and self.offered is not None:
                self.verified = (self.offered.verified_at, self.offered.not_after)
            else:
                self.verified = (time.time(), _not_after(self.tls))
            return

    def reusable(self) -> bool:
        """Still open, and sent nothing while idle but TLS's own messages (session tickets and the like)."""
        if self.closed:
            return False
        if self._incoming.pending:
            try:
                self.tls.read(_READ_SIZE)
            except ssl.SSLWantReadError:
                return True  # TLS-level only
            except ssl.SSLError:
                return False
            return False  # an answer nobody asked for, or the peer's close_notify
        return True

    def close(self) -> None:
        """Close politely: TLS close_notify (without waiting for the peer's), then TCP."""
        if self.transport is not None and not self.closed:
            # SSLWantReadError: the peer's close_notify, which is not waited for
            with contextlib.suppress(ssl.SSLError):
                self.tls.unwrap()
            self._flush()
        self._closed_here()
        if self.transport is not None:
            self.transport.close()

    def _closed_here(self) -> None:
        if not self.closed:
            self.closed = True
            self.error = self.error or ConnectionAbortedError("the connection was closed by this side")
            self._wake()

    def abort(self) -> None:
        self._closed_here()
        if self.transport is not None:
            self.transport.abort()

    # one exchange

    async def send(self, data: bytes, timeout: float | None) -> None:
        if self.closed:
            raise self._lost(httpx.WriteError, "the connection closed before the request was sent")
        self.received = 0
        try:
            view = memoryview(data)
            while view:
                view = view[self.tls.write(view) :]
        except ssl.SSLError as exc:
            raise httpx.WriteError(f"TLS refused to send: {exc}") from exc
        self._flush()
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
                if self.received == 0 and self._ended:
                    # h11 words a close before any answer as a protocol error: the gateway hung up
                    hung_up = "Server disconnected without sending a response."
                    raise httpx.RemoteProtocolError(hung_up) from exc
                raise httpx.RemoteProtocolError(f"the answer breaks HTTP/1.1: {exc}") from exc
            if event is h11.NEED_DATA:
                await self._fill(timeout)
            elif isinstance(event, h11.Data):
                body.append(bytes(event.data))
            elif isinstance(event, h11.Response):
                response = event
            elif isinstance(event, h11.EndOfMessage):
                assert response is not None
                return response, b"".join(body)
            elif isinstance(event, h11.ConnectionClosed):
                raise httpx.RemoteProtocolError("Server disconnected without sending a response.")
            # h11.InformationalResponse (100 Continue and the like): wait for the final answer

    async def _fill(self, timeout: float | None) -> None:
        """Give h11 the next decrypted bytes, or the end of the stream."""
        while True:
            try:
                data = self.tls.read(_READ_SIZE)
            except ssl.SSLWantReadError:
                self._flush()
                if not self.closed:
                    await self._more(timeout)
                    continue
                if self.error is not None:
                    raise self._lost(httpx.ReadError, "the connection was lost") from self.error
                data = b""  # the TCP stream ended without TLS's close_notify: an end all the same
            except ssl.SSLZeroReturnError:
                data = b""  # close_notify
            except ssl.SSLEOFError:
                if self.error is not None:  # a reset or a close here, not the peer's end
                    raise self._lost(httpx.ReadError, "the connection was lost") from self.error
                data = b""  # EOF without close_notify
            except ssl.SSLError as exc:  # a TLS alert: the gateway refusing our certificate, among others
                raise httpx.ReadError(f"TLS: {exc}") from exc
            if not data:
                self._ended = True
            self.received += len(data)
            if self.received > self.limit:
                raise AnswerTooLargeError(f"the answer exceeds {self.limit} bytes")
            self.h11.receive_data(data)
            return

    def _lost(self, kind: type[httpx.TransportError], what: str) -> httpx.TransportError:
        error = kind(f"{what}: {self.error}" if self.error is not None else what)
        error.__cause__ = self.error
        return error


@dataclass
class _Pool:
    """The connections to one origin."""

    all: set[_Connection] = field(default_factory=set)
    idle: list[_Connection] = field(default_factory=list)  # most recently used last
    # Requests waiting for a connection, first come first served: each is handed a connection that came free
    # (its result) or told that a place for a new one did (``None``).
    waiting: deque[asyncio.Future[_Connection | None]] = field(default_factory=deque)

    def hand_over(self, connection: _Connection | None) -> bool:
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
        self.sessions = TlsSessions() if sessions is None else sessions
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

    def _keep_session(self, origin: Origin, connection: _Connection) -> None:
        """Keep the session of a connection, once, for the origin's next ones (see the module's description).
        Called when its first exchange ended, however it ended (a TLS 1.3 gateway's ticket comes after the
        handshake; OpenSSL itself gives no resumable session after a fatal alert)."""
        connection.session_kept = True
        if connection.verified is None:
            return
        tls = connection.tls
        try:
            session = tls.session
        except (ValueError, ssl.SSLError):  # TLS ended in a state that gives no session
            return
        if session is None or not (session.has_ticket or (session.id and not connection.tls13)):
            return  # nothing a later connection could resume
        offered = connection.offered
        if connection.tls13 and tls.session_reused and offered is not None and session == offered.session:
            return  # no new ticket came: the one this connection used is not offered again
        verified_at, not_after = connection.verified
        self.sessions.keep(origin, session, verified_at=verified_at, not_after=not_after)

    async def _acquire(self, pool: _Pool, origin: Origin, request: httpx.Request) -> _Connection:
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
    ) -> _Connection | None:
        """Wait for a connection (returned, busy) or a free place (``None``); ``front`` to keep one's turn."""
        waiter: asyncio.Future[_Connection | None] = loop.create_future()
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

    async def _open(self, pool: _Pool, origin: Origin, request: httpx.Request) -> _Connection:
        host, port = origin
        offered = self.sessions.take(origin)
        connection = _Connection(self._ssl_context, host, self._max_answer_bytes, offered)
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

    def _release(self, pool: _Pool, connection: _Connection, *, reuse: bool) -> None:
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

    def _forget(self, pool: _Pool, connection: _Connection) -> None:
        if connection in pool.all:
            pool.all.discard(connection)
            h = connection.h11
            if h.their_state in _PEER_AT_REST and (h.our_state is not h11.SEND_BODY):
                connection.close()
            else:
                connection.abort()
            self._track(connection)
            pool.hand_over(None)

    def _track(self, connection: _Connection) -> None:
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
