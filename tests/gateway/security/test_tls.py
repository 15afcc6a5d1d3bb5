"""Mutual TLS end to end: a real uvicorn server on 127.0.0.1 (ephemeral port, own thread) and real httpx."""

from __future__ import annotations

import asyncio
import json
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import uvicorn
from uvicorn.server import ServerState

from certs import CertificatePurpose, create_ca, issue_identity, write_identity
from gateway.security import (
    client_ssl_context,
    peer_certificate,
    server_ssl_context,
    sync_client,
    uvicorn_config,
)
from gateway.security.tls_server import CoalescingTransport, Receive, Scope, Send, TlsScopeH11Protocol
from tests.gateway.security.conftest import Pki


async def _app(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] == "lifespan":
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        return
    certificate = peer_certificate(scope)
    body = json.dumps({"peer": certificate.subject.rfc4514_string() if certificate else None}).encode()
    await send(
        {"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"application/json")]}
    )
    await send({"type": "http.response.body", "body": body})


@pytest.fixture(scope="module")
def server(pki: Pki) -> Iterator[int]:
    layout = pki.layout
    context = server_ssl_context(
        certificate=layout.certificate(CertificatePurpose.TLS_SERVER),
        private_key=layout.key(CertificatePurpose.TLS_SERVER),
        trust_bundle=layout.trust_bundle,
    )
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn_config(_app, ssl_context=context, port=port, log_level="critical", lifespan="off")
    instance = uvicorn.Server(config)
    thread = threading.Thread(target=instance.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not instance.started and time.monotonic() < deadline:
        time.sleep(0.01)
    assert instance.started
    yield port
    instance.should_exit = True
    thread.join(timeout=10)
    sock.close()


def _client_context(layout_dir: Path, trust: Path) -> ssl.SSLContext:
    return client_ssl_context(
        certificate=layout_dir / "tls-client.pem",
        private_key=layout_dir / "tls-client-key.pem",
        trust_bundle=trust,
    )


def test_client_certificate_reaches_the_app(server: int, pki: Pki) -> None:
    context = _client_context(pki.directory, pki.layout.trust_bundle)
    assert context.minimum_version >= ssl.TLSVersion.TLSv1_2
    assert context.check_hostname
    with sync_client(ssl_context=context) as client:
        response = client.get(f"https://127.0.0.1:{server}/")
    assert response.json()["peer"] == "CN=hie-gateway-dev,OU=TLS Client,O=hie-gateway development"


def test_client_without_certificate_is_refused(server: int, pki: Pki) -> None:
    context = ssl.create_default_context(cafile=str(pki.layout.trust_bundle))
    with httpx.Client(verify=context) as client, pytest.raises(httpx.TransportError):
        client.get(f"https://127.0.0.1:{server}/")


def test_client_from_another_ca_is_refused(server: int, pki: Pki, tmp_path: Path) -> None:
    write_identity(tmp_path, issue_identity(create_ca(common_name="Other CA"), "intruder"))
    context = _client_context(tmp_path, pki.layout.trust_bundle)
    with sync_client(ssl_context=context) as client, pytest.raises(httpx.TransportError):
        client.get(f"https://127.0.0.1:{server}/")


def test_wrong_hostname_is_refused(server: int, pki: Pki) -> None:
    context = _client_context(pki.directory, pki.layout.trust_bundle)
    with (
        sync_client(ssl_context=context) as client,
        pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY"),
    ):
        client.get(f"https://127.0.0.1:{server}/", extensions={"sni_hostname": "wrong.example"})


def test_clients_cannot_switch_verification_off(pki: Pki) -> None:
    context = _client_context(pki.directory, pki.layout.trust_bundle)
    # Deliberately insecure settings, only to prove the client factory refuses them.
    with pytest.raises(TypeError):
        sync_client(ssl_context=context, verify=False)
    context.check_hostname = False
    with pytest.raises(ValueError, match="hostnames"):
        sync_client(ssl_context=context)


def test_an_answer_leaves_in_one_tls_record(server: int, pki: Pki) -> None:
    """uvicorn writes the status line and headers, then the body: gathered by the protocol's transport, the
    client's first read (TLS reads return one record at most) holds the whole answer."""
    context = _client_context(pki.directory, pki.layout.trust_bundle)
    with (
        socket.create_connection(("127.0.0.1", server), timeout=10) as raw,
        context.wrap_socket(raw, server_hostname="localhost") as tls,
    ):
        tls.sendall(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
        first = tls.recv(65536)
    head, _, body = first.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200")
    assert b"transfer-encoding: chunked" in head.lower()
    # the chunk with the JSON body and the last chunk, which ends the answer
    assert b'"peer": "CN=hie-gateway-dev,OU=TLS Client' in body
    assert body.endswith(b"\r\n0\r\n\r\n")


def test_answers_go_out_without_nagle_delay() -> None:
    """A listening socket made with proto=0 (as uvicorn makes them) gets no TCP_NODELAY from asyncio; the
    protocol sets it on each connection, so a body written after its headers is not held back waiting for
    the client's delayed acknowledgement."""
    protocols: list[TlsScopeH11Protocol] = []

    async def run() -> int:
        config = uvicorn.Config(_app, log_level="critical", lifespan="off")
        config.load()
        state = ServerState()

        def factory() -> TlsScopeH11Protocol:
            protocols.append(TlsScopeH11Protocol(config, state, {}))
            return protocols[-1]

        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        assert listener.proto == 0
        server = await asyncio.get_running_loop().create_server(factory, sock=listener)
        _reader, writer = await asyncio.open_connection(*listener.getsockname())
        for _ in range(500):
            if protocols and protocols[0].transport is not None:
                break
            await asyncio.sleep(0.01)
        accepted = protocols[0].transport.get_extra_info("socket")
        nodelay: int = accepted.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
        writer.close()
        server.close()
        await server.wait_closed()
        return nodelay

    assert asyncio.run(asyncio.wait_for(run(), 10)) != 0


class _Recorder(asyncio.Transport):
    """A transport that records what it is asked to write, close or abort (it buffers nothing)."""

    def __init__(self) -> None:
        super().__init__()
        self.sent: list[bytes] = []
        self.events: list[str] = []

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.sent.append(bytes(data))

    def is_closing(self) -> bool:
        return False

    def close(self) -> None:
        self.events.append("close")

    def abort(self) -> None:
        self.events.append("abort")

    def get_write_buffer_size(self) -> int:
        return 0


def test_coalescing_transport_sends_one_turns_writes_together() -> None:
    recorder = _Recorder()
    sent, events = recorder.sent, recorder.events

    async def run() -> None:
        wrapper = CoalescingTransport(recorder, asyncio.get_running_loop())
        wrapper.write(b"head ")
        wrapper.writelines([b"body", b""])
        assert sent == []
        await asyncio.sleep(0)
        assert sent == [b"head body"]
        wrapper.write(b"last")
        wrapper.close()  # what was written goes before the close
        assert (sent[-1], events) == (b"last", ["close"])
        wrapper.write(b"dropped")
        wrapper.abort()
        await asyncio.sleep(0)
        assert sent == [b"head body", b"last"]
        assert events == ["close", "abort"]

    asyncio.run(run())


def test_coalescing_transport_does_not_hold_a_large_answer() -> None:
    """An answer streamed in large pieces without yielding leaves as soon as a buffer's worth is pending, so
    the wrapped transport's write limits (uvicorn's back-pressure) still apply and memory stays bounded."""
    recorder = _Recorder()
    piece = CoalescingTransport.FLUSH_AT // 2

    async def run() -> None:
        wrapper = CoalescingTransport(recorder, asyncio.get_running_loop())
        for _ in range(64):
            wrapper.write(b"x" * piece)
            assert wrapper.get_write_buffer_size() < CoalescingTransport.FLUSH_AT
        sent = [len(data) for data in recorder.sent]
        assert sum(sent) == 64 * piece  # all of it handed on within the same turn
        assert max(sent) <= CoalescingTransport.FLUSH_AT

    asyncio.run(run())
