"""Syslog over TLS: RFC 5424 messages, RFC 5425 framing, retries while the collector is down, no blocking."""

from __future__ import annotations

import datetime as dt
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from lxml import etree

from gateway.audit import AuditLog, SyslogTlsForwarder, syslog_tls_context
from gateway.audit.syslog import format_rfc5424, frame_octet_counting
from gateway.store import Database, Tenant
from tests.gateway.audit.factories import SOURCE, T0, iti39


class Collector:
    """A minimal RFC 5425 receiver: TLS server on 127.0.0.1, octet-counted frames into ``messages``."""

    def __init__(self, pki: Path, port: int = 0) -> None:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(str(pki / "tls-server.pem"), str(pki / "tls-server-key.pem"))
        self._listener = socket.create_server(("127.0.0.1", port))
        self._listener.settimeout(0.2)
        self.port = self._listener.getsockname()[1]
        self._context = context
        self.messages: list[bytes] = []
        self.rejected = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                raw, _ = self._listener.accept()
            except TimeoutError:
                continue
            raw.settimeout(2)
            try:
                with self._context.wrap_socket(raw, server_side=True) as connection:
                    self._receive(connection)
            except (ssl.SSLError, OSError):
                self.rejected += 1  # e.g. a client that does not trust us aborts the handshake

    def _receive(self, connection: ssl.SSLSocket) -> None:
        connection.settimeout(0.2)
        buffer = b""
        while not self._stop.is_set():
            try:
                chunk = connection.recv(65536)
            except TimeoutError:
                continue
            if not chunk:
                return
            buffer += chunk
            while b" " in buffer:
                length, _, rest = buffer.partition(b" ")
                if len(rest) < int(length):
                    break
                self.messages.append(rest[: int(length)])
                buffer = rest[int(length) :]

    def wait_for(self, count: int, timeout: float = 10.0) -> list[bytes]:
        deadline = time.monotonic() + timeout
        while len(self.messages) < count and time.monotonic() < deadline:
            time.sleep(0.02)
        return self.messages

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self._listener.close()


@pytest.fixture
def collector(dev_pki: Path) -> Iterator[Collector]:
    server = Collector(dev_pki)
    yield server
    server.close()


def _forwarder(dev_pki: Path, port: int, **options: float) -> SyslogTlsForwarder:
    return SyslogTlsForwarder(
        "127.0.0.1", port, syslog_tls_context(dev_pki / "ca.pem"), hostname="gw1", **options
    ).start()  # type: ignore[arg-type]


def test_rfc5424_message_and_octet_counting_frame() -> None:
    message = format_rfc5424(b"<AuditMessage/>", timestamp=T0, hostname="gw1", procid="42")
    assert (
        message
        == b"<85>1 2026-03-01T12:00:00.000000Z gw1 hiegate 42 IHE+RFC-3881 - \xef\xbb\xbf<AuditMessage/>"
    )
    assert frame_octet_counting(message) == str(len(message)).encode() + b" " + message
    with pytest.raises(ValueError):
        format_rfc5424(b"x", timestamp=T0, hostname="has space")


def test_tls_context_always_verifies(dev_pki: Path) -> None:
    context = syslog_tls_context(dev_pki / "ca.pem")
    assert context.verify_mode == ssl.CERT_REQUIRED
    assert context.check_hostname
    # A deliberately insecure context, only to prove the forwarder refuses it.
    unverified = ssl.create_default_context()
    unverified.check_hostname = False
    unverified.verify_mode = ssl.CERT_NONE
    with pytest.raises(ValueError):
        SyslogTlsForwarder("127.0.0.1", 1, unverified)


def test_messages_reach_the_collector_in_order(collector: Collector, dev_pki: Path) -> None:
    forwarder = _forwarder(dev_pki, collector.port)
    for n in range(5):
        assert forwarder.submit(f"<AuditMessage n='{n}'/>".encode(), timestamp=T0)
    assert forwarder.flush(10)
    forwarder.close()
    received = collector.wait_for(5)
    assert [m.split(b"\xef\xbb\xbf")[1] for m in received] == [
        f"<AuditMessage n='{n}'/>".encode() for n in range(5)
    ]
    assert all(m.startswith(b"<85>1 ") for m in received)


def test_collector_down_at_first_then_up(dev_pki: Path) -> None:
    with socket.create_server(("127.0.0.1", 0)) as probe:
        port = probe.getsockname()[1]  # free port: nobody listens until we start the collector
    forwarder = _forwarder(dev_pki, port, backoff_initial=0.05, backoff_max=0.2)
    started = time.perf_counter()
    for n in range(3):
        forwarder.submit(f"<m{n}/>".encode())
    assert time.perf_counter() - started < 0.5  # submitting never waits for the network
    deadline = time.monotonic() + 5
    while forwarder.failures == 0 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert forwarder.failures >= 1
    assert forwarder.sent == 0
    collector = Collector(dev_pki, port)
    try:
        assert forwarder.flush(10)
        received = collector.wait_for(3)
        assert [m.rsplit(b"\xef\xbb\xbf", 1)[1] for m in received] == [b"<m0/>", b"<m1/>", b"<m2/>"]
    finally:
        forwarder.close()
        collector.close()


def test_untrusted_collector_is_never_sent_to(collector: Collector, dev_pki: Path, tmp_path: Path) -> None:
    from certs import init_dev_pki

    other = tmp_path / "other-pki"
    init_dev_pki(other)
    forwarder = SyslogTlsForwarder(
        "127.0.0.1",
        collector.port,
        syslog_tls_context(other / "ca.pem"),
        backoff_initial=0.05,
        backoff_max=0.1,
    ).start()
    forwarder.submit(b"<secret/>")
    deadline = time.monotonic() + 5
    while forwarder.failures < 2 and time.monotonic() < deadline:
        time.sleep(0.02)
    forwarder.close(timeout=0.2)
    assert forwarder.failures >= 2
    assert forwarder.sent == 0
    assert collector.messages == []


def test_full_queue_drops_instead_of_blocking(dev_pki: Path) -> None:
    forwarder = SyslogTlsForwarder("127.0.0.1", 9, syslog_tls_context(dev_pki / "ca.pem"), queue_size=2)
    assert forwarder.submit(b"<a/>")
    assert forwarder.submit(b"<b/>")
    assert not forwarder.submit(b"<c/>")
    assert forwarder.dropped == 1


def test_audit_log_forwards_only_committed_records(
    collector: Collector, dev_pki: Path, database: Database, tenant: Tenant
) -> None:
    forwarder = _forwarder(dev_pki, collector.port)
    audit = AuditLog(source=SOURCE, forwarder=forwarder, clock=lambda: T0 + dt.timedelta(seconds=1))
    try:
        with database.session() as session:
            with session.begin():
                audit.record(session, tenant, iti39())
            with session.begin():
                audit.record(session, tenant, iti39(message_id="urn:uuid:rolled-back"))
                session.rollback()
            with session.begin():
                audit.record(session, tenant, iti39(message_id="urn:uuid:second"))
        assert forwarder.flush(10)
    finally:
        forwarder.close()
    received = collector.wait_for(2)
    assert len(received) == 2
    assert all(b"rolled-back" not in m for m in received)
    root = etree.fromstring(received[0].split(b"\xef\xbb\xbf", 1)[1])
    assert root.tag == "AuditMessage"
    assert root.find("EventIdentification").get("EventActionCode") == "C"
