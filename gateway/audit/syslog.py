"""Forwarding ATNA messages to a syslog collector over TLS (RFC 5424 messages, RFC 5425 framing).

The exchange never waits for the collector: ``submit`` puts the message on a bounded queue and returns at
once (a full queue drops the message and counts it; the database record is the source of truth and can be
re-exported). A daemon thread owns the TLS connection, sends in order, and on any failure reconnects with
exponential backoff and resends the message it was holding. TLS verification is always on.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import os
import queue
import socket
import ssl
import threading
import time
from pathlib import Path

from gateway.audit.codec import format_time

__all__ = ["SyslogTlsForwarder", "format_rfc5424", "frame_octet_counting", "syslog_tls_context"]

log = logging.getLogger("gateway.audit.syslog")

_BOM = b"\xef\xbb\xbf"
_AUTHPRIV, _NOTICE = 10, 5  # facility "security/authorization messages", severity "notice"


def format_rfc5424(
    message: bytes,
    *,
    timestamp: dt.datetime,
    hostname: str,
    app_name: str = "hiegate",
    procid: str | None = None,
    msgid: str = "IHE+RFC-3881",
) -> bytes:
    """``<85>1 TIMESTAMP HOST APP PROCID MSGID - BOM MSG``: no structured data, the UTF-8 XML as MSG."""
    fields = (hostname or "-", app_name or "-", procid or str(os.getpid()), msgid or "-")
    for value in fields:
        if not value.isascii() or not value.isprintable() or " " in value:
            raise ValueError("syslog header fields must be printable US-ASCII without spaces")
    header = f"<{_AUTHPRIV * 8 + _NOTICE}>1 {format_time(timestamp)} {' '.join(fields)} -"
    return header.encode("ascii") + b" " + _BOM + message


def frame_octet_counting(message: bytes) -> bytes:
    """RFC 5425 section 4.3: ``MSG-LEN SP SYSLOG-MSG``."""
    return str(len(message)).encode("ascii") + b" " + message


def syslog_tls_context(
    ca_file: str | os.PathLike[str],
    *,
    client_certificate: str | os.PathLike[str] | None = None,
    client_key: str | os.PathLike[str] | None = None,
) -> ssl.SSLContext:
    """A client context that verifies the collector against ``ca_file`` (and may present our certificate)."""
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=str(Path(ca_file)))
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    if client_certificate is not None:
        context.load_cert_chain(str(client_certificate), str(client_key) if client_key else None)
    return context


class SyslogTlsForwarder:
    """Background sender of syslog messages to one collector; ``submit`` never blocks."""

    def __init__(
        self,
        host: str,
        port: int,
        context: ssl.SSLContext,
        *,
        hostname: str | None = None,
        queue_size: int = 10_000,
        connect_timeout: float = 5.0,
        backoff_initial: float = 0.2,
        backoff_max: float = 30.0,
    ) -> None:
        if context.verify_mode != ssl.CERT_REQUIRED:
            raise ValueError("the syslog TLS context must verify the collector's certificate")
        self.host, self.port, self._context = host, port, context
        self.hostname = hostname or socket.gethostname() or "-"
        self._queue: queue.Queue[bytes] = queue.Queue(maxsize=queue_size)
        self._timeout, self._backoff_initial, self._backoff_max = (
            connect_timeout,
            backoff_initial,
            backoff_max,
        )
        self._stop = threading.Event()
        self._socket: ssl.SSLSocket | None = None
        self._thread = threading.Thread(target=self._run, name="audit-syslog", daemon=True)
        self.sent = self.dropped = self.failures = 0

    def start(self) -> SyslogTlsForwarder:
        self._thread.start()
        return self

    def submit(self, xml: bytes, *, timestamp: dt.datetime | None = None) -> bool:
        """Queue one ATNA message; ``False`` (and a count) if the queue is full. Never waits."""
        message = format_rfc5424(xml, timestamp=timestamp or dt.datetime.now(dt.UTC), hostname=self.hostname)
        try:
            self._queue.put_nowait(frame_octet_counting(message))
        except queue.Full:
            self.dropped += 1
            log.warning("audit syslog queue full: message dropped (%d so far)", self.dropped)
            return False
        return True

    def flush(self, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for everything queued to be sent; ``True`` when it was."""
        deadline = time.monotonic() + timeout
        with self._queue.all_tasks_done:
            while self._queue.unfinished_tasks:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._queue.all_tasks_done.wait(remaining)
        return True

    def close(self, timeout: float = 5.0) -> None:
        """Try to drain for ``timeout`` seconds, then stop the sender."""
        if self._thread.is_alive():
            self.flush(timeout)
        self._stop.set()
        self._thread.join(timeout=timeout)
        self._disconnect()

    def _connect(self) -> ssl.SSLSocket:
        raw = socket.create_connection((self.host, self.port), timeout=self._timeout)
        try:
            return self._context.wrap_socket(raw, server_hostname=self.host)
        except BaseException:
            raw.close()
            raise

    def _disconnect(self) -> None:
        if self._socket is not None:
            with contextlib.suppress(OSError):
                self._socket.close()
            self._socket = None

    def _deliver(self, frame: bytes) -> None:
        """Send ``frame``, reconnecting with backoff until it is sent or the forwarder stops."""
        delay = self._backoff_initial
        while not self._stop.is_set():
            try:
                if self._socket is None:
                    self._socket = self._connect()
                self._socket.sendall(frame)
            except (OSError, ssl.SSLError) as exc:
                self.failures += 1
                self._disconnect()
                log.warning(
                    "audit syslog collector %s:%d unavailable (%s); retrying in %.1fs",
                    self.host,
                    self.port,
                    type(exc).__name__,
                    delay,
                )
                self._stop.wait(delay)
                delay = min(delay * 2, self._backoff_max)
            else:
                self.sent += 1
                return

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                frame = self._queue.get(timeout=0.1)
            except queue.Empty:
                continue
            try:
                self._deliver(frame)
            finally:
                self._queue.task_done()
