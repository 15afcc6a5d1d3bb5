"""When a pull's record is due: published once the only work left is overdue requests.

A gateway that hangs is only known by its timeout (the partner's read or total timeout: seconds to minutes).
Waiting for it would hold every pull to that timeout however fast the useful gateways answered. So the pull
publishes the patient's record as soon as the only work left is requests that are overdue compared with this
pull's own answers: a request is overdue once it has waited longer than ``factor`` × the slowest answer of
the same transaction so far (one attempt's answer: retried exchanges do not count), plus ``margin_s``. With
the defaults (1.1 and 0.2 s) a pull whose slowest useful gateway answered in *t* seconds has its record
within 1.1 × *t* + 0.3 s, whatever hangs: the other 0.1 s is the pull's own, starting the job and publishing
the record (loading, consolidating and committing it takes ~50 ms at 200 gateways).

A request waits from when it was asked. The discovery fan-out asks every selected gateway at once: its ITI-55
requests are all asked when the fan-out begins (``asked_at``), although the event loop signs and sends them
one after another (at 200 gateways the last goes out ~0.1–0.3 s after the first). Judged from its own
turn, a hanging gateway late in that ramp would hold the record back by the ramp; the user asked them all at
the same moment.

The overdue gateways are not given up: the worker goes on waiting for them up to their partner's timeout,
and whatever they answer is retrieved, converted and merged into the record, which is published again once
their work is done (only requests left again), and at the job's end if anything changed since. The rule
decides when the first record appears, never what later ones hold. A request of
a transaction nobody has answered yet is never overdue (nothing to compare with): the partner's timeout
decides then.

:class:`SettleWatch` keeps the account on the event loop (no locks, no threads): how many of the gateways'
coroutines are working (not waiting for an answer), and each request in flight with its gateway, its
transaction and the moment it was asked. :meth:`SettleWatch.due_in` says how long until the record is due, or
that it is not (something is working, or a request has nothing to compare with), and
:meth:`SettleWatch.changed` waits for the next change or that moment: no polling.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass

from gateway.audit import Transaction
from xca.errors import CircuitOpenError, ExchangeError, GatewayConnectError, GatewayTimeoutError

__all__ = ["SettlePolicy", "SettleWatch", "Wait", "measures"]


@dataclass(frozen=True)
class SettlePolicy:
    """``factor`` × the slowest answer of a transaction + ``margin_s``: how long a request of that
    transaction may wait before the record is published without it. ``enabled=False`` publishes only at the
    end of the job (after every partner timeout)."""

    factor: float = 1.1
    margin_s: float = 0.2
    enabled: bool = True


class Wait:
    """One request in flight. Before the ``with`` block ends, :meth:`note` what came of it, so that only an
    answer measures how long answers take."""

    __slots__ = ("_watch", "attempts", "error", "hcid", "latency_s", "started", "transaction")

    def __init__(self, hcid: str, transaction: Transaction, started: float, watch: SettleWatch) -> None:
        self.hcid, self.transaction, self.started = hcid, transaction, started
        self._watch = watch
        self.error: ExchangeError | None = None
        self.attempts: int | None = None
        self.latency_s: float | None = None

    def worth_retrying(self) -> bool:
        """Whether a failed attempt may be tried again: not once the record is due
        (:meth:`SettleWatch.due_in` is 0: no gateway is working and every request in flight, this one
        included, is overdue against the pull's answers). The job then goes on only for such requests, and
        retrying a gateway that fails that late would hold its end (and a one-shot pull's exit) to more of
        its slow failures, for documents the next pull can still fetch. While any other gateway works, or a
        request has no answer of its kind to compare with, a failure is retried as the partner allows."""
        return self._watch.due_in() != 0.0

    def note(self, error: ExchangeError | None, attempts: int | None, latency_ms: int | None = None) -> None:
        """What came of the request: its error (``None``: answered), how many attempts it took, and how long
        the network took to answer (the transport's own measure, from sending to the answer; without it,
        the time since the request was asked)."""
        self.error, self.attempts = error, attempts
        self.latency_s = latency_ms / 1000 if latency_ms is not None else None

    @property
    def measures(self) -> bool:
        """Whether the wait measured one answer of a gateway (:func:`measures`)."""
        return measures(self.error, self.attempts)


def measures(error: ExchangeError | None, attempts: int | None) -> bool:
    """Whether an exchange measured one answer of a gateway: a first attempt that its service answered. A
    timeout is no answer and an open circuit sent nothing; a connection that failed (refused, reset, a TLS
    refusal: never retried) measured the network's round trip, not how long the gateway takes to answer, and
    a few such fast failures would make every healthy gateway look overdue; an exchange that was retried
    lasted several answers and a backoff, which would make every request look on time for longer. Any other
    error (an HTTP status, a SOAP fault) is the gateway's own answer and took as long as the gateway took."""
    return attempts == 1 and not isinstance(
        error, GatewayTimeoutError | CircuitOpenError | GatewayConnectError
    )


class SettleWatch:
    """The account of one job's gateways for :class:`SettlePolicy` (one per run, on one event loop)."""

    def __init__(self, policy: SettlePolicy, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.policy = policy
        self._clock = clock
        self._busy = 0  # coroutines of any gateway that are working: checked on every change, kept as a sum
        self._waiting: dict[int, Wait] = {}
        self._tokens = itertools.count()
        self._slowest: dict[Transaction, float] = {}
        self._changed = asyncio.Event()
        self.closed = False

    def _touch(self) -> None:
        self._changed.set()

    def answered_before(self, slowest: Mapping[Transaction, float]) -> None:
        """The slowest answers (seconds, per transaction) of earlier runs of this job: a resumed job judges
        its requests by them too, so a gateway hanging now is overdue even when every gateway that answers
        had answered before the interruption."""
        for transaction, took in slowest.items():
            if took > self._slowest.get(transaction, 0.0):
                self._slowest[transaction] = took

    @contextlib.contextmanager
    def working(self) -> Iterator[None]:
        """A gateway's coroutine (its pipeline, one of its retrieve batches) runs inside this."""
        self._busy += 1
        try:
            yield
        finally:
            self._busy -= 1
            self._touch()

    @contextlib.contextmanager
    def idle(self) -> Iterator[None]:
        """Inside :meth:`working`: the coroutine only waits for its own sub-tasks, which account for
        themselves."""
        self._busy -= 1
        try:
            yield
        finally:
            self._busy += 1

    def now(self) -> float:
        """This account's clock (for ``asked_at``)."""
        return self._clock()

    @contextlib.contextmanager
    def request(
        self, hcid: str, transaction: Transaction, *, asked_at: float | None = None
    ) -> Iterator[Wait]:
        """Inside :meth:`working`: the coroutine waits for gateway ``hcid``'s answer to ``transaction``, asked
        now or, for a fan-out that asked many gateways at once, at ``asked_at`` (:meth:`now` then)."""
        token = next(self._tokens)
        started = self._clock() if asked_at is None else min(asked_at, self._clock())
        wait = self._waiting[token] = Wait(hcid, transaction, started, self)
        try:
            with self.idle():
                yield wait
        finally:
            del self._waiting[token]
            if wait.measures:
                # The reference is the partner's time to answer, not time this process spent before sending
                # (signing, a TLS handshake, a turn of a busy event loop): a request still waiting is judged
                # from when it was asked, so local delays make it overdue sooner, never an answer slower.
                took = wait.latency_s if wait.latency_s is not None else self._clock() - wait.started
                if took > self._slowest.get(transaction, 0.0):
                    self._slowest[transaction] = took
            self._touch()

    @property
    def settled(self) -> bool:
        """No gateway's coroutine is working and some wait for an answer: the job goes on only for them.
        (With nothing in flight either, the job is ending: its end publishes the record.)"""
        return not self.closed and self._busy == 0 and bool(self._waiting)

    def waiting_gateways(self) -> frozenset[str]:
        """The gateways with a request in flight."""
        return frozenset(w.hcid for w in self._waiting.values())

    def due_in(self) -> float | None:
        """Seconds until the record is due (0: now), or ``None`` while it is not (a gateway is working,
        nothing is in flight, or an in-flight request has no answer of its transaction to compare with)."""
        if self.closed or not self.policy.enabled or self._busy > 0 or not self._waiting:
            return None
        now, latest = self._clock(), 0.0
        for wait in self._waiting.values():
            slowest = self._slowest.get(wait.transaction)
            if slowest is None:
                return None
            due = wait.started + self.policy.factor * slowest + self.policy.margin_s - now
            latest = max(latest, due)
        return latest

    async def changed(self, timeout: float | None) -> None:
        """Return at the next change of the account, or after ``timeout`` seconds."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout):
                await self._changed.wait()
        self._changed.clear()

    def close(self) -> None:
        """Every gateway is finished: whoever waits in :meth:`changed` wakes up and sees :attr:`closed`."""
        self.closed = True
        self._touch()
