"""A circuit breaker per remote gateway: closed → open after ``failure_threshold`` consecutive failed
attempts → half-open after ``recovery_seconds`` (one trial call) → closed on success, open again on failure.

State is in memory, per process (one :class:`CircuitBreakers` per worker, shared by its pulls): a gateway that
keeps failing is skipped by every pull of this worker until it recovers. A new process starts with every
circuit closed and learns again within ``failure_threshold`` attempts; sharing breaker state across worker
processes would need a table or Redis and buys little at that price.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

__all__ = ["BreakerPolicy", "BreakerState", "CircuitBreaker", "CircuitBreakers"]


class BreakerState(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half-open"


@dataclass(frozen=True)
class BreakerPolicy:
    failure_threshold: int = 5
    recovery_seconds: float = 30.0

    def __post_init__(self) -> None:
        if self.failure_threshold < 1 or self.recovery_seconds <= 0:
            raise ValueError("a breaker needs failure_threshold >= 1 and recovery_seconds > 0")


class CircuitBreaker:
    """One gateway's breaker. Not thread-safe: it lives on the event loop that calls the gateway."""

    def __init__(self, policy: BreakerPolicy, clock: Callable[[], float] = time.monotonic) -> None:
        self.policy = policy
        self._clock = clock
        self._failures = 0
        self._opened_at: float | None = None
        self._trial = False

    @property
    def state(self) -> BreakerState:
        if self._opened_at is None:
            return BreakerState.CLOSED
        if self._clock() - self._opened_at >= self.policy.recovery_seconds:
            return BreakerState.HALF_OPEN
        return BreakerState.OPEN

    @property
    def failures(self) -> int:
        return self._failures

    def allow(self) -> bool:
        """Whether a call may go out now; in half-open state only one trial call at a time."""
        state = self.state
        if state is BreakerState.CLOSED:
            return True
        if state is BreakerState.HALF_OPEN and not self._trial:
            self._trial = True
            return True
        return False

    def success(self) -> None:
        self._failures = 0
        self._opened_at = None
        self._trial = False

    def failure(self) -> None:
        self._failures += 1
        if self._trial or self._failures >= self.policy.failure_threshold:
            self._opened_at = self._clock()
        self._trial = False


class CircuitBreakers:
    """The breakers of one worker, by homeCommunityId."""

    def __init__(
        self, policy: BreakerPolicy | None = None, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.policy = policy or BreakerPolicy()
        self._clock = clock
        self._breakers: dict[str, CircuitBreaker] = {}

    def get(self, home_community_id: str) -> CircuitBreaker:
        breaker = self._breakers.get(home_community_id)
        if breaker is None:
            breaker = self._breakers[home_community_id] = CircuitBreaker(self.policy, self._clock)
        return breaker

    def states(self) -> dict[str, BreakerState]:
        return {hcid: b.state for hcid, b in sorted(self._breakers.items())}
