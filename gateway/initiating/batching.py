"""Group commit for a worker's persisted steps.

Every answer of every gateway becomes one step (its work, its audit record, the job's recomputed counters).
Committed one transaction each, a 200-gateway pull spent most of its CPU opening sessions, recounting the job
and committing, on the one writer thread whose GIL time starved the event loop. :class:`StepBatcher` queues
the steps that arrive while the writer is busy and runs them as one transaction on the writer thread
(:meth:`~gateway.initiating.jobs.JobStore.run_steps`): a quiet pull still commits each step at once, a busy
one commits in as many transactions as the writer can keep up with.

Nothing a step guarantees changes: its audit record commits with its work, and the caller's ``await`` returns
only after that commit, so a gateway's next request still goes out after its previous answer is persisted (a
resumed pull never re-asks for what it has). A step that raises fails alone (the store re-runs the batch one
step per transaction).

A step that ends a gateway's work (a no-match, a failure: no request of that gateway waits for it) may wait
``linger`` seconds for company when the writer is idle: at 200 gateways most answers are such ends, and a
transaction's fixed cost (loading the job, recounting it, the audit head, the commit) is most of a step's.
A step something waits for (a match before its ITI-38, documents before their ITI-39) is never held: it
starts the batch at once, taking the lingering ones along.
"""

from __future__ import annotations

import asyncio
import uuid
from concurrent.futures import Executor
from typing import Any, TypeVar, cast

from gateway.initiating.jobs import JobStore, Progress
from gateway.initiating.jobs.base import Step, StepOutcome

__all__ = ["StepBatcher"]

R = TypeVar("R")

_Queued = tuple[uuid.UUID, Step[Any], "asyncio.Future[tuple[Progress, Any]]"]


class StepBatcher:
    """Runs steps on ``executor`` (the worker's single writer thread), batching those that queue up."""

    def __init__(
        self, store: JobStore, executor: Executor, *, max_batch: int = 64, linger: float = 0.05
    ) -> None:
        self._store = store
        self._executor = executor
        self._max_batch = max_batch
        self._linger = linger
        self._queue: list[_Queued] = []
        self._flusher: asyncio.Task[None] | None = None
        self._waiting: asyncio.TimerHandle | None = None

    async def run(self, job_id: uuid.UUID, step: Step[R], *, urgent: bool = True) -> tuple[Progress, R]:
        """Run ``step`` for ``job_id``; returns once its transaction committed (or raises its error).
        ``urgent=False``: nothing waits for this step but the record, so it may linger for company."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[tuple[Progress, Any]] = loop.create_future()
        self._queue.append((job_id, step, future))
        if self._flusher is None or self._flusher.done():
            if urgent or self._linger <= 0:
                self._start(loop)
            elif self._waiting is None:
                self._waiting = loop.call_later(self._linger, self._start, loop)
        return cast(tuple[Progress, R], await future)

    def _start(self, loop: asyncio.AbstractEventLoop) -> None:
        if self._waiting is not None:
            self._waiting.cancel()
            self._waiting = None
        if self._queue and (self._flusher is None or self._flusher.done()):
            self._flusher = loop.create_task(self._flush())

    async def _flush(self) -> None:
        loop = asyncio.get_running_loop()
        while self._queue:
            batch, self._queue = self._queue[: self._max_batch], self._queue[self._max_batch :]
            by_job: dict[uuid.UUID, list[_Queued]] = {}
            for queued in batch:
                by_job.setdefault(queued[0], []).append(queued)
            for job_id, items in by_job.items():
                steps = [step for _, step, _ in items]
                try:
                    outcomes: list[StepOutcome] = await loop.run_in_executor(
                        self._executor, self._store.run_steps, job_id, steps
                    )
                except Exception as exc:  # the store itself failed (e.g. the database went away)
                    outcomes = [exc] * len(items)
                for (_, _, future), outcome in zip(items, outcomes, strict=True):
                    if future.done():  # its caller was cancelled; the step still committed
                        continue
                    if isinstance(outcome, Exception):
                        future.set_exception(outcome)
                    else:
                        future.set_result(outcome)
