"""The floor under issue #8's CPU goal (3 ms per exchange): what the mandated stack costs per exchange on this
machine before any XML, storage or audit work, beside the lighter alternatives, in one run.

Run: ``.venv/bin/python bench/bench_floor.py [--ops 100] [--runs 5]``. A minimal HTTP/1.1 responder with
this project's mutual-TLS server context (:func:`gateway.security.tls.server_ssl_context`, the dev PKI's
RSA-2048 keys) runs in its own process, so only the client's CPU is counted: ``time.process_time`` of this
process per operation, the median over ``--runs`` runs of ``--ops`` operations each, the columns measured in
turns (each run measures every row once, starting at a different row) so that noise lands on all of them.

Rows (every request POSTs 3 kB, as a signed ITI-55 request is, and reads a small answer):

* ``2 x RSA-2048 sign``: the two private-key operations of every signed request (the assertion's signature
  and the WS-Security signature), through ``cryptography``;
* ``request, open connection``: one request on a kept-alive connection, through an ``httpx.AsyncClient``
  with httpx's default transport (httpcore, anyio's TLS stream, h11); through this project's
  :class:`gateway.initiating.http11.H11Transport` called with an ``httpx.Request``, as
  :class:`gateway.initiating.transport.GatewayTransport` sends (h11 on asyncio's TLS); and the same
  request written and read on raw asyncio streams (``asyncio.open_connection(ssl=...)``, the request bytes
  formed by hand, the answer read by its Content-Length): the alternative without an HTTP library;
* ``new connection + request``: a full mutual-TLS handshake (the client's certificate signature is one more
  RSA operation) and one request, through the same three (H11Transport with sessions of its own, as a
  one-shot pull: no TLS session is read, none could be used), and on a blocking ``ssl.SSLSocket`` (OpenSSL's
  own cost with the least Python around it);
* ``resumed connection + request``: a new connection resuming the TLS session of the one before (an
  abbreviated handshake: no certificates, no signature), as H11Transport does with the
  :class:`gateway.initiating.http11.TlsSessions` it shares with later transports (each connection's new
  session read as it closes, for the next), and on a blocking ``ssl.SSLSocket`` given the previous socket's
  session.

The last line adds the floor of one exchange on an open connection (two signatures and one request through
the project's transport), with a resumed connection and with a new one, against the goal.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import socket
import ssl
import statistics
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from certs import CertificatePurpose, DevPkiLayout, init_dev_pki, load_identity
from gateway.initiating.http11 import H11Transport, TlsSessions
from gateway.security.tls import async_client, client_ssl_context, server_ssl_context

BODY = b"<x/>" * 750  # 3 kB
ANSWER = b"<S:Envelope/>"
# The address, as the sandbox's gateways are called (the dev PKI's server certificate names 127.0.0.1): a host
# name would add a resolution in asyncio's worker thread to every new connection of the asyncio rows only.
HOST = "127.0.0.1"


def _answer_requests(conn: ssl.SSLSocket) -> None:
    buffer = b""
    while True:
        data = conn.recv(65536)
        if not data:
            return
        buffer += data
        while b"\r\n\r\n" in buffer:
            head, _, rest = buffer.partition(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
            while len(rest) < length:
                more = conn.recv(65536)
                if not more:
                    return
                rest += more
            buffer = rest[length:]
            conn.sendall(
                b"HTTP/1.1 200 OK\r\ncontent-type: application/soap+xml\r\ncontent-length: %d\r\n\r\n%s"
                % (len(ANSWER), ANSWER)
            )


def _serve(certs: str, ports: Any) -> None:
    layout = DevPkiLayout(Path(certs))
    context = server_ssl_context(
        certificate=layout.certificate(CertificatePurpose.TLS_SERVER),
        private_key=layout.key(CertificatePurpose.TLS_SERVER),
        trust_bundle=layout.trust_bundle,
    )
    listener = socket.create_server(("127.0.0.1", 0), backlog=512)
    ports.put(listener.getsockname()[1])

    def one(raw: socket.socket) -> None:
        try:
            with context.wrap_socket(raw, server_side=True) as conn:
                _answer_requests(conn)
        except (OSError, ssl.SSLError):
            pass

    while True:
        raw, _ = listener.accept()
        threading.Thread(target=one, args=(raw,), daemon=True).start()


def _request_bytes(port: int) -> bytes:
    return (
        f"POST / HTTP/1.1\r\nhost: {HOST}:{port}\r\ncontent-type: application/soap+xml\r\n"
        f"content-length: {len(BODY)}\r\n\r\n"
    ).encode() + BODY


async def _read_answer(reader: asyncio.StreamReader) -> bytes:
    head = await reader.readuntil(b"\r\n\r\n")
    length = next(
        int(line.split(b":", 1)[1])
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"content-length")
    )
    return await reader.readexactly(length)


class Rows:
    """One async operation per row, each timed ``ops`` times per run (CPU of this process)."""

    def __init__(self, port: int, context: ssl.SSLContext, sign: Callable[[], object]) -> None:
        self.port, self.context, self.sign = port, context, sign
        self.url = f"https://{HOST}:{port}/"
        self.request = _request_bytes(port)

    async def rsa(self, ops: int) -> float:
        started = time.process_time()
        for _ in range(ops):
            self.sign()
        return time.process_time() - started

    async def httpx_open(self, ops: int) -> float:
        async with async_client(ssl_context=self.context) as client:
            await client.post(self.url, content=BODY)  # the connection, outside the timer
            started = time.process_time()
            for _ in range(ops):
                answer = await client.post(self.url, content=BODY)
                assert answer.content == ANSWER
            return time.process_time() - started

    def _post(self) -> httpx.Request:
        return httpx.Request("POST", self.url, headers={"content-type": "application/soap+xml"}, content=BODY)

    async def h11_open(self, ops: int) -> float:
        transport = H11Transport(self.context)
        try:
            await transport.handle_async_request(self._post())  # the connection, outside the timer
            started = time.process_time()
            for _ in range(ops):
                answer = await transport.handle_async_request(self._post())
                assert answer.content == ANSWER
            return time.process_time() - started
        finally:
            await transport.aclose()

    async def _h11_each_new(self, ops: int, sessions: TlsSessions | None) -> float:
        """``ops`` requests, each through a new transport (a new connection); sharing ``sessions``, each
        resumes the TLS session the one before left."""
        started = time.process_time()
        for _ in range(ops):
            transport = H11Transport(self.context, sessions=sessions)
            answer = await transport.handle_async_request(self._post())
            assert answer.content == ANSWER
            await transport.aclose()
        return time.process_time() - started

    async def h11_new(self, ops: int) -> float:
        return await self._h11_each_new(ops, None)

    async def h11_resumed(self, ops: int) -> float:
        sessions = TlsSessions()
        await self._h11_each_new(1, sessions)  # the first session to resume, outside the timer
        return await self._h11_each_new(ops, sessions)

    async def streams_open(self, ops: int) -> float:
        reader, writer = await asyncio.open_connection(
            "127.0.0.1", self.port, ssl=self.context, server_hostname=HOST
        )
        try:
            started = time.process_time()
            for _ in range(ops):
                writer.write(self.request)
                assert await _read_answer(reader) == ANSWER
            return time.process_time() - started
        finally:
            writer.close()

    async def httpx_new(self, ops: int) -> float:
        started = time.process_time()
        for _ in range(ops):
            async with async_client(ssl_context=self.context) as client:
                answer = await client.post(self.url, content=BODY)
                assert answer.content == ANSWER
        return time.process_time() - started

    async def streams_new(self, ops: int) -> float:
        started = time.process_time()
        for _ in range(ops):
            reader, writer = await asyncio.open_connection(
                "127.0.0.1", self.port, ssl=self.context, server_hostname=HOST
            )
            writer.write(self.request)
            assert await _read_answer(reader) == ANSWER
            writer.close()
        return time.process_time() - started

    def _blocking_each_new(self, ops: int, *, resume: bool) -> float:
        """``ops`` requests, each on a new blocking socket; with ``resume``, each offers the session of the
        one before (the first of them after an untimed connection that makes one)."""
        session = None
        started = time.process_time()
        for done in range(-1 if resume else 0, ops):
            if done == 0:
                started = time.process_time()
            with (
                socket.create_connection(("127.0.0.1", self.port)) as raw,
                self.context.wrap_socket(raw, server_hostname=HOST, session=session) as conn,
            ):
                conn.sendall(self.request)
                assert conn.recv(65536).endswith(ANSWER)
                if resume:
                    session = conn.session
        return time.process_time() - started

    async def blocking_new(self, ops: int) -> float:
        return self._blocking_each_new(ops, resume=False)

    async def blocking_resumed(self, ops: int) -> float:
        return self._blocking_each_new(ops, resume=True)


ROWS: list[tuple[str, str, str]] = [
    ("2 x RSA-2048 sign", "cryptography", "rsa"),
    ("request, open connection", "httpx AsyncClient", "httpx_open"),
    ("request, open connection", "H11Transport", "h11_open"),
    ("request, open connection", "asyncio streams", "streams_open"),
    ("new connection + request", "httpx AsyncClient", "httpx_new"),
    ("new connection + request", "H11Transport", "h11_new"),
    ("new connection + request", "asyncio streams", "streams_new"),
    ("new connection + request", "blocking ssl socket", "blocking_new"),
    ("resumed connection + request", "H11Transport", "h11_resumed"),
    ("resumed connection + request", "blocking ssl socket", "blocking_resumed"),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ops", type=int, default=100, help="operations per row per run")
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        init_dev_pki(Path(tmp))
        layout = DevPkiLayout(Path(tmp))
        ports: Any = multiprocessing.Queue()
        server = multiprocessing.Process(target=_serve, args=(tmp, ports), daemon=True)
        server.start()
        try:
            port = ports.get(timeout=30)
            context = client_ssl_context(
                certificate=layout.certificate(CertificatePurpose.TLS_CLIENT),
                private_key=layout.key(CertificatePurpose.TLS_CLIENT),
                trust_bundle=layout.trust_bundle,
            )
            key = load_identity(
                layout.certificate(CertificatePurpose.SIGNING), layout.key(CertificatePurpose.SIGNING)
            ).private_key
            assert isinstance(key, rsa.RSAPrivateKey)

            def sign() -> None:
                for _ in range(2):
                    key.sign(BODY[:600], padding.PKCS1v15(), hashes.SHA256())

            rows = Rows(port, context, sign)
            samples: dict[str, list[float]] = {method: [] for _, _, method in ROWS}

            async def measure() -> None:
                for method in samples:  # warm-up: imports, first connections
                    await getattr(rows, method)(3)
                for run in range(args.runs):
                    order = [m for _, _, m in ROWS]
                    order = order[run % len(order) :] + order[: run % len(order)]
                    for method in order:
                        spent = await getattr(rows, method)(args.ops)
                        samples[method].append(spent / args.ops * 1000)

            asyncio.run(measure())
        finally:
            server.kill()
            server.join()
    median = {method: statistics.median(values) for method, values in samples.items()}
    print(
        f"client CPU per operation, ms (median of {args.runs} runs x {args.ops} operations); "
        "the server runs in another process"
    )
    print(f"{'operation':<30} {'through':<20} {'ms':>6}")
    for what, through, method in ROWS:
        print(f"{what:<30} {through:<20} {median[method]:>6.2f}")
    warm = median["rsa"] + median["h11_open"]
    resumed = median["rsa"] + median["h11_resumed"]
    cold = median["rsa"] + median["h11_new"]
    print(
        f"floor per exchange through H11Transport (2 signatures + the request), before XML, storage, audit: "
        f"{warm:.2f} ms on an open connection, {resumed:.2f} ms on a resumed one, "
        f"{cold:.2f} ms on a new one; goal 3 ms"
    )


if __name__ == "__main__":
    main()
