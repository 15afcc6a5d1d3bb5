"""The initiating side's HTTP/1.1 transport against a scripted mutual-TLS server: answers read whole however
they are framed, connections reused only when HTTP/1.1 allows it, and every way a gateway can fail reported as
the httpx error a caller expects, with the pool left usable."""

from __future__ import annotations

import asyncio
import concurrent.futures
import socket
import ssl
import struct
import threading
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from types import SimpleNamespace
from typing import cast

import httpx
import pytest
from cryptography import x509

from certs import CertificatePurpose, create_ca, issue_certified_key, write_certificates, write_private_key
from gateway.initiating.h11_connection import Connection
from gateway.initiating.http11 import AnswerTooLargeError, H11Transport, TlsSessions
from gateway.security import client_ssl_context, server_ssl_context

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter, str, bytes], Awaitable[bool]]


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("http11")
    ca = create_ca(common_name="Test CA")
    for name, purpose in (
        ("server", CertificatePurpose.TLS_SERVER),
        ("client", CertificatePurpose.TLS_CLIENT),
    ):
        key = issue_certified_key(ca, purpose, common_name=name, hostnames=("127.0.0.1",))
        write_certificates(folder / f"{name}.pem", [key.certificate])
        write_private_key(folder / f"{name}-key.pem", key.private_key)
    write_certificates(folder / "trust.pem", [ca.certificate])
    return folder


def client_context(pki: Path) -> ssl.SSLContext:
    return client_ssl_context(
        certificate=pki / "client.pem", private_key=pki / "client-key.pem", trust_bundle=pki / "trust.pem"
    )


def answer(body: bytes, *, status: str = "200 OK", extra: str = "") -> bytes:
    return f"HTTP/1.1 {status}\r\ncontent-length: {len(body)}\r\n{extra}\r\n".encode() + body


class Server:
    """A TLS server answering each request by its path (see :meth:`respond`); records the connections it
    accepted (by the client's port) and the requests it read."""

    def __init__(self, pki: Path) -> None:
        self.context = server_ssl_context(
            certificate=pki / "server.pem", private_key=pki / "server-key.pem", trust_bundle=pki / "trust.pem"
        )
        self.connections: list[int] = []
        self.resumed: list[bool] = []  # per connection: a resumed TLS session
        self.client_names: list[str] = []  # per connection: the client certificate's common name
        self.requests: list[tuple[str, bytes, bytes]] = []  # path, head, body
        self.closed: list[int] = []
        self.port = 0
        self._server: asyncio.Server | None = None

    async def __aenter__(self) -> Server:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0, ssl=self.context)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()

    def url(self, path: str) -> str:
        return f"https://127.0.0.1:{self.port}{path}"

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = writer.get_extra_info("peername")[1]
        self.connections.append(peer)
        tls = writer.get_extra_info("ssl_object")
        self.resumed.append(tls.session_reused)
        subject = dict(rdn[0] for rdn in tls.getpeercert()["subject"])
        self.client_names.append(subject["commonName"])
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, ConnectionError, ssl.SSLError):
                    return
                path = head.split(b" ")[1].decode()
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":")[1])
                body = await reader.readexactly(length)
                self.requests.append((path, head, body))
                if not await self.respond(reader, writer, path, body):
                    return
        finally:
            self.closed.append(peer)
            writer.close()

    async def respond(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, path: str, body: bytes
    ) -> bool:
        """Answer one request; ``False`` ends the connection."""
        if path == "/echo":
            writer.write(answer(body, extra="content-type: text/plain\r\n"))
        elif path == "/chunked":
            writer.write(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n")
            for part in (b"<Envelope>", b"x" * 5000, b"</Envelope>"):
                writer.write(b"%x\r\n%s\r\n" % (len(part), part))
                await writer.drain()
            writer.write(b"0\r\n\r\n")
        elif path == "/big":
            body = bytes(range(256)) * 8192  # 2 MiB, many TLS records
            writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: %d\r\n\r\n" % len(body))
            for at in range(0, len(body), 65536):
                writer.write(body[at : at + 65536])
                await writer.drain()
        elif path == "/close":
            writer.write(answer(b"bye", extra="connection: close\r\n"))
            await writer.drain()
            return False
        elif path == "/then-close":  # answers as if keeping the connection, then closes it while idle
            writer.write(answer(b"ok"))
            await writer.drain()
            await asyncio.sleep(0.05)
            return False
        elif path == "/error":
            writer.write(answer(b"<Fault/>", status="500 Internal Server Error"))
        elif path == "/continue":
            writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
            writer.write(answer(b"after"))
        elif path == "/later":
            await asyncio.sleep(0.15)
            writer.write(answer(b"later"))
        elif path == "/soon":
            await asyncio.sleep(0.01)
            writer.write(answer(b"soon"))
        elif path == "/extra":  # a second, unasked answer in the same write (one TLS record)
            writer.write(answer(b"asked") + answer(b"STALE"))
        elif path == "/reset":  # an answer read until the connection closes, cut by a reset
            writer.write(b"HTTP/1.0 200 OK\r\n\r\n" + b"y" * 5000)
            await writer.drain()
            await asyncio.sleep(0.05)
            raw = writer.get_extra_info("socket")
            raw.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            writer.transport.abort()
            return False
        elif path in ("/eof", "/eof-short"):  # TCP's end without TLS's close_notify, as load balancers do
            if path == "/eof":  # an HTTP/1.0 answer read until the connection ends: whole
                writer.write(b"HTTP/1.0 200 OK\r\n\r\nwhole")
            else:  # fewer bytes than announced: cut short
                writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\npart")
            await writer.drain()
            await asyncio.sleep(0.05)
            writer.get_extra_info("socket").shutdown(socket.SHUT_WR)
            await asyncio.sleep(0.05)
            writer.transport.abort()
            return False
        elif path == "/hang":
            await asyncio.sleep(30)
        elif path == "/drop":
            return False
        elif path == "/half":
            writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\nonly part of it")
            await writer.drain()
            return False
        elif path == "/garbage":
            writer.write(b"SSH-2.0-OpenSSH_9.2\r\n\r\n")
            await writer.drain()
            return False
        else:
            writer.write(answer(b"", status="404 Not Found"))
        await writer.drain()
        return True


def run(pki: Path, scenario: Callable[[Server], Awaitable[None]]) -> Server:
    async def main() -> Server:
        async with Server(pki) as server:
            await scenario(server)
            await asyncio.sleep(0.05)  # the server's side of closed connections
        return server

    return asyncio.run(main())


def transport(
    pki: Path,
    max_answer_bytes: int = 256 * 1024 * 1024,
    sessions: TlsSessions | None = None,
    context: ssl.SSLContext | None = None,
    **timeouts: float,
) -> H11Transport:
    limits = httpx.Limits(max_connections=int(timeouts.pop("max_connections", 4)), keepalive_expiry=30)
    timeout = httpx.Timeout(connect=5, read=timeouts.pop("read", 5), write=5, pool=timeouts.pop("pool", 5))
    if "expiry" in timeouts:
        limits = httpx.Limits(max_connections=4, keepalive_expiry=timeouts.pop("expiry"))
    assert not timeouts
    return H11Transport(
        context or client_context(pki),
        limits=limits,
        timeout=timeout,
        max_answer_bytes=max_answer_bytes,
        sessions=sessions,
    )


async def post(client: H11Transport, url: str, body: bytes = b"<Envelope/>") -> httpx.Response:
    headers = {"content-type": "application/soap+xml"}
    return await client.handle_async_request(httpx.Request("POST", url, headers=headers, content=body))


def test_requests_share_one_kept_alive_connection_and_answers_come_whole(pki: Path) -> None:
    got: list[httpx.Response] = []

    async def scenario(server: Server) -> None:
        client = transport(pki)
        try:
            got.append(await post(client, server.url("/echo"), b"<Envelope>first</Envelope>"))
            got.append(await post(client, server.url("/chunked")))
            got.append(await post(client, server.url("/big")))
            got.append(await post(client, server.url("/error")))
            got.append(await post(client, server.url("/continue")))
            got.append(await post(client, server.url("/echo"), b"x" * 300_000))
        finally:
            await client.aclose()

    server = run(pki, scenario)

    assert [r.status_code for r in got] == [200, 200, 200, 500, 200, 200]
    assert got[0].content == b"<Envelope>first</Envelope>"
    assert got[0].headers["content-type"] == "text/plain"
    assert got[1].content == b"<Envelope>" + b"x" * 5000 + b"</Envelope>"
    assert got[2].content == bytes(range(256)) * 8192
    assert got[3].content == b"<Fault/>"
    assert got[4].content == b"after"
    assert got[5].content == b"x" * 300_000
    assert len(server.connections) == 1  # a 500 with a complete answer leaves the connection usable
    path, head, body = server.requests[0]
    assert (path, body) == ("/echo", b"<Envelope>first</Envelope>")
    assert f"host: 127.0.0.1:{server.port}".encode() in head.lower()
    assert b"content-type: application/soap+xml" in head.lower()
    assert server.closed == server.connections  # aclose closed it


@pytest.mark.parametrize("path", ["/close", "/then-close"])
def test_a_connection_the_gateway_closes_is_not_reused(pki: Path, path: str) -> None:
    got: list[httpx.Response] = []

    async def scenario(server: Server) -> None:
        client = transport(pki)
        try:
            got.append(await post(client, server.url(path)))
            await asyncio.sleep(0.1)  # the gateway's close arrives while the connection is idle
            got.append(await post(client, server.url("/echo"), b"again"))
        finally:
            await client.aclose()

    server = run(pki, scenario)

    assert [r.status_code for r in got] == [200, 200]
    assert got[1].content == b"again"
    assert len(server.connections) == 2


def test_an_idle_connection_past_its_keepalive_expiry_is_replaced(pki: Path) -> None:
    async def scenario(server: Server) -> None:
        client = transport(pki, expiry=0.05)
        try:
            await post(client, server.url("/echo"))
            await post(client, server.url("/echo"))
            await asyncio.sleep(0.1)
            await post(client, server.url("/echo"))
        finally:
            await client.aclose()

    server = run(pki, scenario)

    assert len(server.connections) == 2
    assert sorted(server.closed) == sorted(server.connections)


def test_a_quiet_gateway_times_out_and_its_connection_is_dropped(pki: Path) -> None:
    errors: list[httpx.ReadTimeout] = []

    async def scenario(server: Server) -> None:
        client = transport(pki, read=0.2)
        try:
            with pytest.raises(httpx.ReadTimeout) as caught:
                await post(client, server.url("/hang"))
            errors.append(caught.value)
            assert (await post(client, server.url("/echo"), b"next")).content == b"next"
        finally:
            await client.aclose()

    server = run(pki, scenario)

    assert errors[0].request.url.path == "/hang"
    assert len(server.connections) == 2  # the one waiting on /hang was not reused


@pytest.mark.parametrize(
    ("path", "words"),
    [
        ("/drop", "Server disconnected without sending a response."),
        ("/half", "the answer breaks HTTP/1.1"),
        ("/garbage", "the answer breaks HTTP/1.1"),
        ("/eof-short", "without sending complete message body"),  # cut short, and without close_notify
    ],
)
def test_a_broken_answer_is_a_protocol_error_and_the_pool_goes_on(pki: Path, path: str, words: str) -> None:
    async def scenario(server: Server) -> None:
        client = transport(pki, max_connections=1)
        try:
            with pytest.raises(httpx.RemoteProtocolError, match=words):
                await post(client, server.url(path))
            assert (await post(client, server.url("/echo"), b"next")).content == b"next"
        finally:
            await client.aclose()

    server = run(pki, scenario)

    assert len(server.connections) == 2


def test_requests_beyond_max_connections_wait_for_one_to_come_free(pki: Path) -> None:
    async def scenario(server: Server) -> None:
        client = transport(pki, max_connections=1)
        try:
            answers = await asyncio.gather(*(post(client, server.url("/later")) for _ in range(3)))
            assert [a.content for a in answers] == [b"later"] * 3
        finally:
            await client.aclose()

    server = run(pki, scenario)

    assert len(server.connections) == 1


def test_no_connection_free_within_the_pool_timeout_is_a_pool_timeout(pki: Path) -> None:
    async def scenario(server: Server) -> None:
        client = transport(pki, max_connections=1, pool=0.1, read=2)
        try:
            hanging = asyncio.create_task(post(client, server.url("/hang")))
            await asyncio.sleep(0.05)
            with pytest.raises(httpx.PoolTimeout):
                await post(client, server.url("/echo"))
            hanging.cancel()  # a cancelled exchange frees its connection's place
            with pytest.raises(asyncio.CancelledError):
                await hanging
            assert (await post(client, server.url("/echo"), b"free")).content == b"free"
        finally:
            await client.aclose()

    server = run(pki, scenario)

    assert len(server.connections) == 2


def test_nobody_listening_is_a_connect_error_from_the_os_error(pki: Path) -> None:
    async def scenario(server: Server) -> None:
        client = transport(pki)
        try:
            with pytest.raises(httpx.ConnectError) as caught:
                await post(client, "https://127.0.0.1:9/")  # the discard port: nothing listens on it here
            assert isinstance(caught.value.__cause__, ConnectionRefusedError)
        finally:
            await client.aclose()

    run(pki, scenario)


def test_only_verified_https_is_spoken(pki: Path) -> None:
    lax = client_context(pki)
    lax.check_hostname = False  # the weakened context the transport must refuse, never used to connect
    with pytest.raises(ValueError, match="must verify certificates and hostnames"):
        H11Transport(lax)

    async def plain() -> None:
        client = H11Transport(client_context(pki))
        with pytest.raises(httpx.UnsupportedProtocol, match="only https://"):
            await post(client, "http://127.0.0.1:9/")
        await client.aclose()

    asyncio.run(plain())


def test_bytes_left_after_an_answer_are_never_read_as_the_next_answer(pki: Path) -> None:
    async def scenario(server: Server) -> None:
        client = transport(pki)
        try:
            assert (await post(client, server.url("/extra"))).content == b"asked"
            assert (await post(client, server.url("/echo"), b"mine")).content == b"mine"
        finally:
            await client.aclose()

    server = run(pki, scenario)

    assert len(server.connections) == 2  # the connection holding the stale answer was not reused


def test_a_reset_in_the_middle_of_an_answer_is_a_read_error_not_a_short_answer(pki: Path) -> None:
    async def scenario(server: Server) -> None:
        client = transport(pki)
        try:
            with pytest.raises(httpx.ReadError) as caught:
                await post(client, server.url("/reset"))
            assert isinstance(caught.value.__cause__, ConnectionResetError)
        finally:
            await client.aclose()

    run(pki, scenario)


def test_an_answer_past_the_limit_is_cut_off(pki: Path) -> None:
    async def scenario(server: Server) -> None:
        client = transport(pki, max_answer_bytes=100_000)
        try:
            with pytest.raises(AnswerTooLargeError, match="exceeds 100000 bytes"):
                await post(client, server.url("/big"))
            assert (await post(client, server.url("/echo"), b"small")).content == b"small"
        finally:
            await client.aclose()

    run(pki, scenario)


def test_a_request_waiting_for_the_only_connection_gets_its_turn(pki: Path) -> None:
    # One connection, one task sending back to back: a request arriving meanwhile is served in turn, not
    # starved until its pool timeout by the task that keeps taking the connection back.
    async def scenario(server: Server) -> None:
        client = transport(pki, max_connections=1, pool=1.0)
        stop = asyncio.Event()

        async def busy() -> int:
            sent = 0
            while not stop.is_set():
                await post(client, server.url("/soon"))
                sent += 1
            return sent

        hog = asyncio.create_task(busy())
        try:
            await asyncio.sleep(0.05)
            started = time.monotonic()
            assert (await post(client, server.url("/echo"), b"mine")).content == b"mine"
            assert time.monotonic() - started < 0.5
        finally:
            stop.set()
            assert await hog > 0
            await client.aclose()

    run(pki, scenario)


def test_closing_the_transport_ends_exchanges_in_flight_and_does_not_wait_on_failed_connects(
    pki: Path,
) -> None:
    async def scenario(server: Server) -> None:
        client = transport(pki, read=10)
        for _ in range(5):
            with pytest.raises(httpx.ConnectError):
                await post(client, "https://127.0.0.1:9/")
        hanging = asyncio.create_task(post(client, server.url("/hang")))
        await asyncio.sleep(0.1)
        started = time.monotonic()
        await client.aclose()
        with pytest.raises(httpx.ReadError):
            await hanging
        assert time.monotonic() - started < 0.9  # not the read timeout, nor a wait on connections never made

    run(pki, scenario)


def test_a_new_connection_resumes_the_tls_session_of_the_last_one(pki: Path) -> None:
    sessions = TlsSessions()
    context = client_context(pki)

    async def scenario(server: Server) -> None:
        client = transport(pki, sessions=sessions, context=context)
        try:
            await post(client, server.url("/close"))  # the gateway closes; its session is kept
            assert len(sessions) == 1
            assert (await post(client, server.url("/echo"), b"resumed")).content == b"resumed"
        finally:
            await client.aclose()
        # A later transport sharing the sessions (the next pull of a service) resumes too.
        later = transport(pki, sessions=sessions, context=context)
        try:
            assert (await post(later, server.url("/echo"), b"later")).content == b"later"
        finally:
            await later.aclose()

    server = run(pki, scenario)

    assert server.resumed == [False, True, True]
    # Resumed, the gateway still knows the client by the certificate of the first, full handshake.
    assert server.client_names == ["client"] * 3


def test_each_session_is_offered_to_one_new_connection_and_each_connection_leaves_one(pki: Path) -> None:
    async def scenario(server: Server) -> None:
        client = transport(pki, sessions=TlsSessions())  # kept past the transport, as a service keeps them
        try:
            await post(client, server.url("/close"))
            first = await asyncio.gather(*(post(client, server.url("/later")) for _ in range(3)))
            assert [a.content for a in first] == [b"later"] * 3
            assert len(client.sessions) == 3  # one from each of the three connections
            await client.aclose()
            client = transport(pki, sessions=client.sessions, context=client._ssl_context)
            again = await asyncio.gather(*(post(client, server.url("/later")) for _ in range(3)))
            assert [a.content for a in again] == [b"later"] * 3
        finally:
            await client.aclose()

    server = run(pki, scenario)

    assert server.resumed[0] is False
    assert sorted(server.resumed[1:4]) == [False, False, True]  # one session for three connections
    assert server.resumed[4:] == [True, True, True]  # three sessions for three


def test_resumption_stops_when_the_verification_it_relies_on_is_too_old(
    pki: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Each resumed connection brings a new session, but none renews the trust in the gateway's certificate:
    # an hour (max_age) after the full handshake, the next connection verifies in full again.
    real = time.time
    offset = [0.0]
    monkeypatch.setattr(time, "time", lambda: real() + offset[0])

    async def scenario(server: Server) -> None:
        client = transport(pki)
        assert client.sessions.max_age == 3600
        try:
            for _ in range(6):  # at 0, 20, 40, 60 (past the hour: full), 80 and 100 minutes
                await post(client, server.url("/close"))
                offset[0] += 1200
        finally:
            await client.aclose()

    server = run(pki, scenario)

    assert server.resumed == [False, True, True, False, True, True]


def test_a_session_is_not_offered_past_its_lifetime_or_the_certificate_s_expiry(
    pki: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sessions = TlsSessions(max_age=10**9)
    origins: list[tuple[str, int]] = []

    async def scenario(server: Server) -> None:
        origins.append(("127.0.0.1", server.port))
        client = transport(pki, sessions=sessions)
        await post(client, server.url("/echo"))
        await client.aclose()

    run(pki, scenario)
    entry = sessions.take(origins[0])
    assert entry is not None
    server_certificate = x509.load_pem_x509_certificate((pki / "server.pem").read_bytes())
    assert entry.not_after == server_certificate.not_valid_after_utc.timestamp()
    session = entry.session
    assert session.ticket_lifetime_hint > 0  # the gateway's ticket lifetime (OpenSSL's default: 7200 s)
    assert entry.expires == session.time + min(session.timeout, session.ticket_lifetime_hint)

    # Past the certificate's expiry, though the session would still be within its own lifetime.
    sessions.keep(origins[0], session, verified_at=session.time, not_after=session.time + 60)
    monkeypatch.setattr(time, "time", lambda: session.time + 61)
    assert sessions.take(origins[0]) is None
    monkeypatch.undo()
    # Past the session's lifetime.
    sessions.keep(origins[0], session, verified_at=time.time(), not_after=entry.not_after)
    monkeypatch.setattr(time, "time", lambda: entry.expires + 1)
    assert sessions.take(origins[0]) is None
    monkeypatch.undo()
    kept = sessions.keep(origins[0], session, verified_at=time.time(), not_after=entry.not_after)
    assert sessions.take(origins[0]) == kept
    assert sessions.take(origins[0]) is None  # taken: offered once


def test_a_session_from_another_context_is_not_offered(pki: Path) -> None:
    sessions = TlsSessions()

    async def scenario(server: Server) -> None:
        first = transport(pki, sessions=sessions)
        await post(first, server.url("/echo"))
        await first.aclose()
        # The same sessions, another SSLContext (another client identity, say): a full handshake.
        other = transport(pki, sessions=sessions)
        await post(other, server.url("/echo"))
        await other.aclose()

    server = run(pki, scenario)

    assert server.resumed == [False, False]


def test_sessions_are_kept_for_the_origins_most_recently_given_one(pki: Path) -> None:
    async def scenario(server: Server) -> None:
        client = transport(pki, sessions=TlsSessions(max_origins=2))
        sessions = client.sessions
        try:
            await post(client, server.url("/close"))
            entry = sessions.take(("127.0.0.1", server.port))
            assert entry is not None
            for host in ("a.example", "b.example", "a.example", "c.example"):
                sessions.put_back((host, server.port), entry)
            # a.example was given one again after b.example: b.example's is the one dropped
            assert sessions.take(("b.example", server.port)) is None
            assert sessions.take(("a.example", server.port)) == entry
            assert sessions.take(("c.example", server.port)) == entry
        finally:
            await client.aclose()

    run(pki, scenario)


def test_a_connection_leaves_its_session_once(pki: Path) -> None:
    # A kept-alive connection's later answers do not put back the ticket its first answer left (and another
    # connection may have used since).
    async def scenario(server: Server) -> None:
        client = transport(pki)
        try:
            await post(client, server.url("/echo"))
            assert client.sessions.take(("127.0.0.1", server.port)) is not None
            await post(client, server.url("/echo"))
            assert len(client.sessions) == 0
        finally:
            await client.aclose()

    server = run(pki, scenario)

    assert len(server.connections) == 1


class CountingReads:
    """Counts the TLS sessions the transport reads off its connections (each read decodes a certificate)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.reads = 0
        original = Connection.session_to_keep

        def counted(connection: Connection) -> tuple[ssl.SSLSession, float, float] | None:
            self.reads += 1
            return original(connection)

        monkeypatch.setattr(Connection, "session_to_keep", counted)


def test_a_session_is_read_only_when_a_connection_can_use_it(
    pki: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    counting = CountingReads(monkeypatch)
    context = client_context(pki)

    async def scenario(server: Server) -> None:
        origin = ("127.0.0.1", server.port)
        # A one-shot pull's sessions: its connections stay open to its end, when nothing could use them.
        once = TlsSessions(lasting=False)
        client = transport(pki, sessions=once, context=context)
        await post(client, server.url("/echo"))
        await post(client, server.url("/echo"))
        await client.aclose()
        assert (counting.reads, len(once)) == (0, 0)
        # A service's sessions outlive its transports: a connection closing with them leaves its session.
        lasting = TlsSessions()
        client = transport(pki, sessions=lasting, context=context)
        await post(client, server.url("/echo"))
        assert counting.reads == 0
        await client.aclose()
        assert (counting.reads, len(lasting)) == (1, 1)
        later = transport(pki, sessions=lasting, context=context)
        await post(later, server.url("/echo"))  # resumes it
        # While a transport goes on, a connection closing leaves its session to the next (even one-shot) ...
        other = transport(pki, sessions=TlsSessions(lasting=False), context=context)
        await post(other, server.url("/close"))
        assert counting.reads == 2
        await post(other, server.url("/echo"))  # resumes it
        # ... and a new connection takes the session of one still open, read then.
        assert counting.reads == 2
        assert later.sessions.take(origin) is not None
        assert counting.reads == 3
        await later.aclose()
        await other.aclose()

    server = run(pki, scenario)

    assert server.resumed == [False, False, True, False, True]


def test_a_session_taken_for_a_connection_never_made_is_kept(pki: Path) -> None:
    async def scenario(server: Server) -> None:
        client = transport(pki)
        try:
            await post(client, server.url("/close"))
            assert server._server is not None
            server._server.close()  # nobody listens on the port any more
            await server._server.wait_closed()
            with pytest.raises(httpx.ConnectError):
                await post(client, server.url("/echo"))
            assert len(client.sessions) == 1
        finally:
            await client.aclose()

    run(pki, scenario)


def test_nothing_is_kept_from_a_gateway_that_issues_no_tickets(pki: Path) -> None:
    async def scenario(server: Server) -> None:
        server.context.options |= ssl.OP_NO_TICKET
        server.context.num_tickets = 0
        client = transport(pki)
        try:
            await post(client, server.url("/close"))
            await post(client, server.url("/echo"))
            assert client.sessions.take(("127.0.0.1", server.port)) is None
        finally:
            await client.aclose()
        assert len(client.sessions) == 0

    server = run(pki, scenario)

    assert server.resumed == [False, False]


def test_a_resumed_connection_that_brings_no_new_session_leaves_none_to_offer_again(pki: Path) -> None:
    async def scenario(server: Server) -> None:
        client = transport(pki)
        try:
            await post(client, server.url("/close"))
            server.context.num_tickets = 0  # from now on the gateway issues no new tickets
            await post(client, server.url("/close"))  # resumes the first session: no ticket to replace it
            assert len(client.sessions) == 0
            await post(client, server.url("/echo"))
        finally:
            await client.aclose()

    server = run(pki, scenario)

    assert server.resumed == [False, True, False]


@pytest.mark.parametrize("tickets", [True, False], ids=["tickets", "session-ids"])
def test_a_tls_1_2_session_is_resumed_again_and_again(pki: Path, tickets: bool) -> None:
    async def scenario(server: Server) -> None:
        server.context.maximum_version = ssl.TLSVersion.TLSv1_2
        if not tickets:
            server.context.options |= ssl.OP_NO_TICKET
        client = transport(pki)
        try:
            for _ in range(4):
                await post(client, server.url("/close"))
        finally:
            await client.aclose()

    server = run(pki, scenario)

    assert server.resumed == [False, True, True, True]


def test_an_answer_read_until_the_connection_ends_without_close_notify_is_whole(pki: Path) -> None:
    # TCP's end without TLS's close_notify (as load balancers do) ends an HTTP/1.0 answer, not the pool.
    async def scenario(server: Server) -> None:
        client = transport(pki, max_connections=1, pool=1)
        try:
            assert (await post(client, server.url("/eof"))).content == b"whole"
            assert (await post(client, server.url("/echo"), b"next")).content == b"next"
        finally:
            await client.aclose()

    run(pki, scenario)


def test_a_connection_whose_exchange_timed_out_leaves_its_session(pki: Path) -> None:
    async def scenario(server: Server) -> None:
        client = transport(pki, read=0.2)
        try:
            with pytest.raises(httpx.ReadTimeout):
                await post(client, server.url("/hang"))
            assert len(client.sessions) == 1  # the handshake was verified; the ticket came before the wait
            await post(client, server.url("/echo"))
        finally:
            await client.aclose()

    server = run(pki, scenario)

    assert server.resumed == [False, True]


def test_a_session_offered_in_a_handshake_that_failed_is_not_offered_again(pki: Path) -> None:
    async def scenario(server: Server) -> None:
        client = transport(pki)
        try:
            await post(client, server.url("/close"))
            assert server._server is not None
            server._server.close()
            await server._server.wait_closed()

            async def hang_up(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
                writer.close()  # accepts TCP, then ends it in the middle of the TLS handshake

            plain = await asyncio.start_server(hang_up, "127.0.0.1", server.port)
            try:
                with pytest.raises(httpx.ConnectError):
                    await post(client, server.url("/echo"))
            finally:
                plain.close()
                await plain.wait_closed()
            assert len(client.sessions) == 0  # it went out in the ClientHello: used
        finally:
            await client.aclose()

    run(pki, scenario)


def test_the_gateway_s_ticket_lifetime_bounds_a_session() -> None:
    sessions = TlsSessions(max_age=10**9)

    def stand_in(hint: int) -> ssl.SSLSession:
        return cast(
            ssl.SSLSession,
            SimpleNamespace(time=1000, timeout=7200, ticket_lifetime_hint=hint, has_ticket=True),
        )

    assert sessions.keep(("gw", 443), stand_in(60), verified_at=1000, not_after=10**10).expires == 1060
    # A lifetime of 0: the gateway asks that the ticket not be used (RFC 8446 section 4.6.1).
    assert sessions.keep(("gw", 443), stand_in(0), verified_at=1000, not_after=10**10).expires == 1000


def test_a_live_connection_s_session_is_read_only_on_its_own_thread() -> None:
    # Transports on two event loops (threads) may share a service's sessions; an SSL object is not to be
    # used from two threads, so a connection's session is read only by the thread its loop runs on.
    reads: list[int] = []

    class Source:
        def session_to_keep(self) -> None:
            reads.append(threading.get_ident())

    sessions, origin = TlsSessions(), ("gw.example", 443)
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as other:
        other.submit(sessions.keep_later, origin, Source()).result()
        assert sessions.take(origin) is None
        assert (reads, len(sessions)) == ([], 1)  # left to its own thread
        assert other.submit(sessions.take, origin).result() is None  # read there: it had no session
        owner = other.submit(threading.get_ident).result()
    assert (reads, len(sessions)) == ([owner], 0)
