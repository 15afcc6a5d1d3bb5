"""A refused TLS handshake is reported with why it was refused, and is not retried.

Real handshakes against a local mutual-TLS server whose certificate has expired, comes from another CA or
names another host, and one that refuses the caller's certificate. A connection that fails for another reason
(nobody listening) is still retried.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import socket
import ssl
import threading
from pathlib import Path

import pytest

from certs import (
    CertificatePurpose,
    CertifiedKey,
    create_ca,
    issue_certified_key,
    write_certificates,
    write_private_key,
)
from gateway.directory import PartnerSettings
from gateway.initiating import BreakerPolicy, RetryPolicy
from gateway.initiating.breaker import CircuitBreakers
from gateway.initiating.transport import GatewayTransport
from gateway.security import SecuredMessage, client_ssl_context, server_ssl_context
from xca.errors import GatewayConnectError, GatewayTlsError
from xca.soap import CONTENT_TYPE

HCID = "1.2.3.4.5"


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("tls-refusals")
    ours, theirs = create_ca(common_name="Trusted CA"), create_ca(common_name="Other CA")
    now = dt.datetime.now(dt.UTC)

    def save(name: str, key: CertifiedKey) -> None:
        write_certificates(folder / f"{name}.pem", [key.certificate])
        write_private_key(folder / f"{name}-key.pem", key.private_key)

    server, client = CertificatePurpose.TLS_SERVER, CertificatePurpose.TLS_CLIENT
    here = ("127.0.0.1",)
    save("client", issue_certified_key(ours, client, common_name="caller", hostnames=here))
    save("valid", issue_certified_key(ours, server, common_name="gateway", hostnames=here))
    month_ago, one_day = now - dt.timedelta(days=30), dt.timedelta(days=1)
    expired = issue_certified_key(
        ours, server, common_name="gateway", hostnames=here, now=month_ago, valid_for=one_day
    )
    save("expired", expired)
    save("foreign", issue_certified_key(theirs, server, common_name="gateway", hostnames=here))
    save("elsewhere", issue_certified_key(ours, server, common_name="gateway", hostnames=("gw.example",)))
    write_certificates(folder / "trust.pem", [ours.certificate])
    write_certificates(folder / "other-trust.pem", [theirs.certificate])
    return folder


async def _exchange(pki: Path, port: int) -> object:
    context = client_ssl_context(
        certificate=pki / "client.pem", private_key=pki / "client-key.pem", trust_bundle=pki / "trust.pem"
    )
    transport = GatewayTransport(
        context,
        breakers=CircuitBreakers(BreakerPolicy(failure_threshold=10)),
        retry=RetryPolicy(base_seconds=0.001, cap_seconds=0.01),
    )
    message = SecuredMessage(
        data=b"<Envelope/>",
        assertion_id="_a",
        message_id="urn:uuid:m",
        expires=dt.datetime.now(dt.UTC),
    )
    try:
        return await transport.exchange(
            home_community_id=HCID,
            origin=f"https://127.0.0.1:{port}",
            url=f"https://127.0.0.1:{port}/xcpd",
            settings=PartnerSettings(max_attempts=3, connect_timeout=5, read_timeout=5, total_timeout=10),
            sign=lambda: message,
            content_type=CONTENT_TYPE,
            what="ITI-55",
        )
    finally:
        await transport.aclose()


def _serve(
    listener: socket.socket, context: ssl.SSLContext | None, accepted: list[int], stop: threading.Event
) -> None:
    """A blocking TLS server (OpenSSL does the handshake on the socket, sending its alerts as a partner's
    server would): counts TCP connections and answers a completed handshake with an empty 200. Without a
    context, a plain HTTP server answering whatever it reads with a 400."""
    listener.settimeout(0.05)
    while not stop.is_set():
        try:
            connection, _ = listener.accept()
        except TimeoutError:
            continue
        accepted.append(1)
        with connection:
            connection.settimeout(5)
            try:
                if context is None:
                    connection.recv(65536)
                    connection.sendall(b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n")
                    continue
                with context.wrap_socket(connection, server_side=True) as tls:
                    tls.recv(65536)
                    tls.sendall(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n")
            except (ssl.SSLError, OSError):
                continue


def _against(
    pki: Path,
    certificate: str,
    trust: str = "trust.pem",
    tls: ssl.TLSVersion = ssl.TLSVersion.MAXIMUM_SUPPORTED,
) -> tuple[GatewayConnectError, int]:
    """Run one exchange against a server presenting ``certificate``, trusting ``trust`` and speaking TLS up
    to ``tls``: the error and how many TCP connections the server accepted."""
    context = server_ssl_context(
        certificate=pki / f"{certificate}.pem",
        private_key=pki / f"{certificate}-key.pem",
        trust_bundle=pki / trust,
    )
    context.maximum_version = tls
    return _run_against(pki, context)


def _run_against(pki: Path, context: ssl.SSLContext | None) -> tuple[GatewayConnectError, int]:
    accepted: list[int] = []
    stop = threading.Event()
    with socket.create_server(("127.0.0.1", 0)) as listener:
        server = threading.Thread(target=_serve, args=(listener, context, accepted, stop), daemon=True)
        server.start()
        try:
            with pytest.raises(GatewayConnectError) as caught:
                asyncio.run(_exchange(pki, listener.getsockname()[1]))
        finally:
            stop.set()
            server.join(timeout=5)
    return caught.value, len(accepted)


@pytest.mark.parametrize(
    ("certificate", "why"),
    [
        ("expired", "certificate has expired"),
        ("foreign", "unable to get local issuer certificate"),
        ("elsewhere", "IP address mismatch, certificate is not valid for '127.0.0.1'"),
    ],
)
def test_a_gateway_certificate_that_fails_verification_is_named_and_not_retried(
    pki: Path, certificate: str, why: str
) -> None:
    error, accepted = _against(pki, certificate)

    assert isinstance(error, GatewayTlsError)
    assert error.code == "HG-6017"
    assert error.message.startswith("TLS: the gateway's certificate was refused (")
    assert why in error.message
    assert error.detail["attempts"] == 1
    assert accepted == 1


def test_a_gateway_refusing_our_certificate_is_named_and_not_retried(pki: Path) -> None:
    # The gateway trusts only another CA: it refuses the caller's certificate with a TLS alert. Over TLS 1.2
    # (still common among partners) the alert ends the handshake; over TLS 1.3 the client's handshake is
    # already over and what arrives may be a reset, reported as a connection failure.
    error, accepted = _against(pki, "valid", trust="other-trust.pem", tls=ssl.TLSVersion.TLSv1_2)

    assert isinstance(error, GatewayTlsError)
    assert error.message.startswith("TLS: the gateway refused this side's certificate (")
    assert "ALERT" in error.message
    assert error.detail["attempts"] == 1
    assert accepted == 1


def test_nobody_listening_is_still_retried(pki: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # closed again: nothing listens there

    with pytest.raises(GatewayConnectError) as caught:
        asyncio.run(_exchange(pki, port))

    assert not isinstance(caught.value, GatewayTlsError)
    assert caught.value.message == "connection failed: connection refused (ConnectError)"
    assert caught.value.detail["attempts"] == 3


def test_a_gateway_port_without_tls_is_named_as_a_tls_failure(pki: Path) -> None:
    # A plain HTTP server where TLS was expected answers the ClientHello with HTTP: OpenSSL's reason, not the
    # OS error its SSL_ERROR_* number would name ("operation not permitted").
    error, _ = _run_against(pki, None)

    assert error.message == "connection failed: TLS failed (WRONG_VERSION_NUMBER) (ConnectError)"
