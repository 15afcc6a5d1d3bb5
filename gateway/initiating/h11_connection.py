"""One HTTPS connection of :class:`gateway.initiating.http11.H11Transport`: asyncio carries its TCP bytes,
:class:`ssl.SSLObject` on memory BIOs does TLS in the exchange's own coroutine, h11 frames HTTP/1.1, and
failures become the httpx exceptions that module describes."""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import time

import h11
import httpx

from gateway.initiating.tls_sessions import TlsSession, not_after

__all__ = ["AnswerTooLargeError", "Connection"]

# Decrypted bytes read at a time; bytes an idle connection may be sent (TLS tickets) before it is dropped.
_READ_SIZE = 65536
_IDLE_INCOMING_LIMIT = 65536


class AnswerTooLargeError(httpx.RemoteProtocolError):
    """The answer grew past the transport's ``max_answer_bytes``: a gateway sending more than anything it
    could mean (or without end) is cut off before it exhausts memory."""


class Connection(asyncio.Protocol):
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
        self.session_kept = False  # handed to the transport's TlsSessions (once); its session read later
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
                self.verified = (time.time(), not_after(self.tls))
            return

    def session_to_keep(self) -> tuple[ssl.SSLSession, float, float] | None:
        """The session a later connection to the same gateway could resume, with the verification it relies
        on (when, and the certificate's expiry); ``None`` if there is none to keep. Read when needed, once
        the first exchange ended, however it ended (a TLS 1.3 gateway's ticket comes after the handshake;
        OpenSSL itself gives no resumable session after a fatal alert), before this side closes the
        connection."""
        if self.verified is None:
            return None
        try:
            session = self.tls.session
        except (ValueError, ssl.SSLError):  # TLS ended in a state that gives no session
            return None
        if session is None or not (session.has_ticket or (session.id and not self.tls13)):
            return None  # nothing a later connection could resume
        offered = self.offered
        if self.tls13 and self.tls.session_reused and offered is not None and session == offered.session:
            return None  # no new ticket came: the one this connection used is not offered again
        return session, *self.verified

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
