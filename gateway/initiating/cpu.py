"""CPU accounting for the pull benchmark's "gateway CPU per exchange".

An exchange is a coroutine that runs in slices between its awaits, interleaved on the event loop with every
other gateway's. :meth:`CpuMeter.run` charges an exchange the thread CPU time of its own slices (each step
of the coroutine, timed with ``time.thread_time_ns`` around the step), so the figure holds what the exchange
itself executes (building, signing, the TLS handshake and records, the HTTP client, checking and parsing)
and nothing the loop does for others meanwhile: job bookkeeping, progress events, other exchanges.
:meth:`CpuMeter.measure` times a synchronous part (building, signing, checking, parsing) on its own.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Coroutine, Generator
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

__all__ = ["CpuMeter"]

T = TypeVar("T")


@dataclass
class CpuMeter:
    """CPU time of a pull's exchanges and of its own threads.

    ``exchange_ns``: the exchanges' coroutines, every step (:meth:`run`), and the closing of the pull's
    connections at its end (TLS goodbyes, sessions read for later pulls); ``ns``: within them, building,
    signing, checking and parsing (:meth:`measure`); ``exchanges``: the exchanges they cover; ``messages``:
    signed requests sent for them (retries included); ``threads``: the CPU of each pull's own threads
    (``writer``, the persisted steps and audit records; ``convert``, C-CDA conversion and consolidation),
    added when the pull's worker closes."""

    ns: int = 0
    exchange_ns: int = 0
    exchanges: int = 0
    messages: int = 0
    threads: dict[str, float] = field(default_factory=dict)

    def add_thread(self, name: str, seconds: float) -> None:
        self.threads[name] = self.threads.get(name, 0.0) + seconds

    def measure(self, work: Callable[[], T]) -> T:
        started = time.thread_time_ns()
        try:
            return work()
        finally:
            self.ns += time.thread_time_ns() - started

    async def run(self, exchange: Coroutine[Any, Any, T]) -> T:
        """Await ``exchange``, adding the thread CPU time of each of its steps to ``exchange_ns``."""
        return await _Stepped(exchange, self)

    def reset(self) -> None:
        """Forget what was counted (the benchmark measures one pull after an unmeasured one)."""
        self.ns = self.exchange_ns = self.exchanges = self.messages = 0
        self.threads.clear()

    @property
    def ms_per_exchange(self) -> float:
        """Building, signing, checking and parsing, milliseconds per exchange."""
        return self.ns / 1e6 / self.exchanges if self.exchanges else 0.0

    @property
    def exchange_ms(self) -> float:
        """The whole exchange (every step of its coroutine), milliseconds per exchange."""
        return self.exchange_ns / 1e6 / self.exchanges if self.exchanges else 0.0


class _Stepped(Generic[T]):
    """Drives a coroutine step by step for the task awaiting it, timing each step on the thread's clock.

    What the coroutine yields (the futures it waits on) goes to the task unchanged, and what the task sends
    or throws in (results, cancellation) goes to the coroutine unchanged."""

    __slots__ = ("_coroutine", "_meter")

    def __init__(self, coroutine: Coroutine[Any, Any, T], meter: CpuMeter) -> None:
        self._coroutine = coroutine
        self._meter = meter

    def __await__(self) -> Generator[Any, Any, T]:
        coroutine, meter = self._coroutine, self._meter
        value: Any = None
        error: BaseException | None = None
        while True:
            started = time.thread_time_ns()
            try:
                yielded = coroutine.send(value) if error is None else coroutine.throw(error)
            except StopIteration as done:
                result: T = done.value
                return result
            finally:
                meter.exchange_ns += time.thread_time_ns() - started
            try:
                value, error = (yield yielded), None
            except GeneratorExit:
                coroutine.close()
                raise
            except BaseException as exc:  # cancellation, anything thrown in: the coroutine's to handle
                value, error = None, exc
