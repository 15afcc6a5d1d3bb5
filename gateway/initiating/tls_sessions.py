"""TLS sessions to resume (:class:`TlsSessions`), per origin, for
:class:`gateway.initiating.http11.H11Transport`; a caller may share them among transports and keep them
across transports.

A new connection resumes a session an earlier connection to its origin left (RFC 8446 section 2.2; the
session ticket of TLS 1.3, the session of TLS 1.2), which spares both sides the certificates, their
verification and the private-key signatures of a full handshake. A resumed connection does not check the
gateway's certificate again: it relies on the full handshake that made the first session of the chain. So a
session carries the time of that verification and the certificate's expiry, and is not offered once either
is past (an hour after the verification by default, however long the gateway's tickets live; RFC 8446
section 4.6.1), nor past its own lifetime (the gateway's ticket lifetime): the next connection verifies in
full. A TLS 1.3 ticket is offered once (RFC 8446 appendix C.4) and replaced by the one the new connection
brings; a TLS 1.2 session may be offered again. A few sessions are kept per origin (one from each
connection), so as many new connections at once can resume; the others make full handshakes. None is ever
written anywhere. A gateway that declines one gets a full handshake with the same verification.

A connection's session is read only when it is needed (:meth:`TlsSessions.keep_later`): reading one costs a
copy of it through its DER form, the gateway's certificate decoded again (about 0.15-0.5 ms of CPU, as much
as a quarter of the handshake), and a one-shot pull whose connections all stay open to its end never
resumes any. So a connection that finished its first exchange (a TLS 1.3 ticket comes after the handshake)
is kept as a source, and its session is read when a new connection to the origin takes it, or when the
connection closes while its session can still serve: while its transport goes on, or at any time when the
sessions outlive their transports (``lasting``, a service's, for its later pulls).
"""

from __future__ import annotations

import ssl
import threading
import time
from collections import OrderedDict, deque
from dataclasses import dataclass
from typing import Protocol

__all__ = ["Origin", "SessionSource", "TlsSession", "TlsSessions", "not_after"]

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


class SessionSource(Protocol):
    """A live connection whose session is read when needed: the session, with when the gateway's certificate
    was verified and its expiry, or ``None`` when it has none a later connection could resume."""

    def session_to_keep(self) -> tuple[ssl.SSLSession, float, float] | None: ...


@dataclass(frozen=True, slots=True)
class _Live:
    """A live connection kept as a source, with the thread of the event loop it runs on: only that thread
    reads its TLS state (an SSL object is not to be used from two threads)."""

    source: SessionSource
    thread: int


class TlsSessions:
    """TLS sessions to resume: up to ``per_origin`` per origin (host, port), for ``max_origins`` origins (the
    origin least recently given one dropped first), none trusted past ``max_age`` seconds after the full
    handshake that verified the gateway (see the module's description). ``lasting``: the sessions outlive the
    transports that use them (a service's, kept for its later pulls), so a connection closing with its
    transport still leaves its session; otherwise (a one-shot pull) it leaves none then. In memory only:
    session secrets are never written to disk."""

    def __init__(
        self,
        *,
        max_origins: int = 4096,
        per_origin: int = 4,
        max_age: float = 3600.0,
        lasting: bool = True,
    ) -> None:
        self.max_age = max_age
        self.lasting = lasting
        self._max_origins = max_origins
        self._per_origin = per_origin
        # Newest last: sessions read, and live connections whose session is read when needed. Transports on
        # several event loops (threads) may share them: the lock keeps each change whole.
        self._sessions: OrderedDict[Origin, deque[TlsSession | _Live]] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        """Sessions kept, all origins together, counting the live connections whose session is not read yet
        (they may turn out to have none)."""
        return sum(len(kept) for kept in self._sessions.values())

    def take(self, origin: Origin) -> TlsSession | None:
        """The origin's most recent session still within its limits, removed; ``None`` if there is none. A
        live connection of another thread's event loop is left to that thread."""
        here, now = threading.get_ident(), time.time()
        with self._lock:
            kept = self._sessions.get(origin)
            if kept is None:
                return None
            found = None
            for index in range(len(kept) - 1, -1, -1):
                candidate = kept[index]
                if isinstance(candidate, _Live) and candidate.thread != here:
                    continue
                del kept[index]
                entry = candidate if isinstance(candidate, TlsSession) else self._read(candidate.source)
                if entry is not None and now < entry.expires:
                    found = entry
                    break
            if not kept:
                del self._sessions[origin]
            return found

    def keep(
        self, origin: Origin, session: ssl.SSLSession, *, verified_at: float, not_after: float
    ) -> TlsSession:
        """Keep ``session`` for ``origin``'s next connections, trusted as the verification at ``verified_at``
        of a certificate valid until ``not_after`` allows."""
        entry = self._entry(session, verified_at, not_after)
        self.put_back(origin, entry)
        return entry

    def keep_later(self, origin: Origin, source: SessionSource) -> None:
        """Keep the session of ``source``, a live connection, for ``origin``'s next connections: read when one
        of them takes it, or when ``source`` closes (:meth:`closing`)."""
        self.put_back(origin, _Live(source, threading.get_ident()))

    def closing(self, origin: Origin, source: SessionSource, *, transport_open: bool) -> None:
        """``source`` closes: its session, if not taken yet, is read now and kept when it can still serve
        (``transport_open``: its transport goes on; or the sessions are ``lasting``), else let go."""
        with self._lock:
            kept = self._sessions.get(origin)
            if kept is None:
                return
            for index, candidate in enumerate(kept):
                if isinstance(candidate, _Live) and candidate.source is source:
                    del kept[index]
                    entry = self._read(source) if transport_open or self.lasting else None
                    if entry is not None:
                        kept.insert(index, entry)
                    break
            if not kept:
                del self._sessions[origin]

    def put_back(self, origin: Origin, entry: TlsSession | _Live) -> None:
        """Keep a session taken and not used (its connection was never made)."""
        with self._lock:
            kept = self._sessions.get(origin)
            if kept is None:
                kept = self._sessions[origin] = deque(maxlen=self._per_origin)
            kept.append(entry)
            self._sessions.move_to_end(origin)
            while len(self._sessions) > self._max_origins:
                self._sessions.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._sessions.clear()

    def _read(self, source: SessionSource) -> TlsSession | None:
        kept = source.session_to_keep()
        return None if kept is None else self._entry(*kept)

    def _entry(self, session: ssl.SSLSession, verified_at: float, not_after: float) -> TlsSession:
        lifetime = session.timeout
        if session.has_ticket:  # the gateway's own word on its ticket; 0 means not to resume it
            lifetime = min(lifetime, session.ticket_lifetime_hint)
        expires = min(session.time + lifetime, verified_at + self.max_age, not_after)
        return TlsSession(session, verified_at, not_after, expires)


def not_after(tls: ssl.SSLObject) -> float:
    """When the gateway's certificate the handshake verified expires (``time.time()`` seconds); 0 when
    unknown."""
    certificate = tls.getpeercert()
    expiry = certificate.get("notAfter") if certificate else None
    return float(ssl.cert_time_to_seconds(expiry)) if isinstance(expiry, str) else 0.0
