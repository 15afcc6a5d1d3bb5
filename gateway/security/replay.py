"""Replay protection: assertion IDs and wsa:MessageIDs seen recently are refused (OASIS WSS 1.1 §10, SAML 2.0
profiles §4.1.4.5 one-time use).

:class:`ReplayCache` is the interface; :class:`InMemoryReplayCache` is a thread-safe TTL implementation that
is
correct for one process. When several processes or hosts answer, they need one shared store (a PostgreSQL
table with a unique key and an expiry column, or Redis ``SET NX PX``) behind the same interface.
"""

from __future__ import annotations

import datetime as dt
import heapq
import threading
from collections.abc import Iterable
from enum import StrEnum
from typing import Final, Protocol

__all__ = ["InMemoryReplayCache", "ReplayCache", "ReplayKind"]

_DEFAULT_MAX_ENTRIES: Final = 1_000_000


class ReplayKind(StrEnum):
    ASSERTION = "assertion"
    MESSAGE = "message"


class ReplayCache(Protocol):
    """Remembers identifiers until they expire."""

    def check_and_store(
        self, keys: Iterable[tuple[ReplayKind, str]], *, until: dt.datetime, now: dt.datetime
    ) -> tuple[ReplayKind, str] | None:
        """Atomically: return the first key already present (storing nothing), else store all until ``until``
        and return None."""
        ...


class InMemoryReplayCache:
    """A dict plus an expiry heap under one lock; expired entries are purged on each call.

    ``max_entries`` bounds memory; when it is reached the call is refused as a replay rather than forgetting
    live entries (fail closed), which only happens under a flood of valid signed messages.
    """

    def __init__(self, *, max_entries: int = _DEFAULT_MAX_ENTRIES) -> None:
        self._entries: dict[tuple[ReplayKind, str], dt.datetime] = {}
        self._expiry: list[tuple[dt.datetime, tuple[ReplayKind, str]]] = []
        self._lock = threading.Lock()
        self._max_entries = max_entries

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)

    def _purge(self, now: dt.datetime) -> None:
        while self._expiry and self._expiry[0][0] <= now:
            until, key = heapq.heappop(self._expiry)
            if self._entries.get(key) == until:
                del self._entries[key]

    def check_and_store(
        self, keys: Iterable[tuple[ReplayKind, str]], *, until: dt.datetime, now: dt.datetime
    ) -> tuple[ReplayKind, str] | None:
        wanted = list(dict.fromkeys(keys))
        with self._lock:
            self._purge(now)
            for key in wanted:
                if key in self._entries:
                    return key
            if len(self._entries) + len(wanted) > self._max_entries:
                return wanted[0] if wanted else None
            for key in wanted:
                self._entries[key] = until
                heapq.heappush(self._expiry, (until, key))
        return None
