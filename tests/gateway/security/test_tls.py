"""Mutual TLS end to end: a real uvicorn server on 127.0.0.1 (ephemeral port, own thread) and real httpx."""

from __future__ import annotations

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

from certs import CertificatePurpose, create_ca, issue_identity, write_identity
from gateway.security import (
    client_ssl_context,
    peer_certificate,
    server_ssl_context,
    sync_client,
    uvicorn_config,
)
from gateway.security.tls_server import Receive, Scope, Send
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
