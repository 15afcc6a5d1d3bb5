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
connection), so as many new connections at once can resume; the others make full handshakes. A connection's
session is looked at once, when its first exchange ends, however it ended (a TLS 1.3 ticket comes after the
handshake; tickets arriving later are not looked for), and none is ever written anywhere. A gateway that
declines one gets a full handshake with the same verification.
"""

from __future__ import annotations

import ssl
import time
from collections import OrderedDict, deque
from dataclasses import dataclass

__all__ = ["Origin", "TlsSession", "TlsSessions", "not_after"]

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


def not_after(tls: ssl.SSLObject) -> float:
    """When the gateway's certificate the handshake verified expires (``time.time()`` seconds); 0 when
    unknown."""
    certificate = tls.getpeercert()
    expiry = certificate.get("notAfter") if certificate else None
    return float(ssl.cert_time_to_seconds(expiry)) if isinstance(expiry, str) else 0.0
