"""What a pull worker runs on: its writer and conversion threads, its step batching, its events and the
account of the early record (:mod:`gateway.initiating.settle`); :class:`~gateway.initiating.worker.PullWorker`
adds what a job does with them."""

from __future__ import annotations

import asyncio
import functools
import time
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from gateway.directory import Community, PartnersConfig
from gateway.initiating.batching import StepBatcher
from gateway.initiating.events import EventBus, EventKind, ProgressEvent
from gateway.initiating.exchange import Exchanger
from gateway.initiating.jobs import JobStore, Progress
from gateway.initiating.jobs.base import Step
from gateway.initiating.models import JobCounters, JobState
from gateway.initiating.settle import SettlePolicy, SettleWatch

__all__ = ["StepHook", "WorkerRuntime"]

T = TypeVar("T")

StepHook = Callable[[str], None]
"""Called after each persisted step with its name (``iti55``, ``iti38``, ``iti39``, ``convert``): a test seam
to interrupt a pull at an exact point."""


class WorkerRuntime:
    """The threads, batching and events a :class:`~gateway.initiating.worker.PullWorker` runs jobs on."""

    def __init__(
        self,
        *,
        store: JobStore,
        exchanger: Exchanger,
        communities: Sequence[Community],
        partners: PartnersConfig,
        match_threshold: int = 85,
        events: EventBus | None = None,
        step_hook: StepHook | None = None,
        settle: SettlePolicy | None = None,
    ) -> None:
        self.store = store
        self.exchanger = exchanger
        self.communities = {c.home_community_id: c for c in communities}
        self.partners = partners
        self.match_threshold = match_threshold
        self.events = events or EventBus()
        self.step_hook = step_hook
        self.settle = settle or SettlePolicy()
        self._start_run()
        self._writer = ThreadPoolExecutor(1, thread_name_prefix="pull-db")
        self._batch = StepBatcher(store, self._writer)
        self._cpu = ThreadPoolExecutor(1, thread_name_prefix="pull-convert")
        self._convert_lock = asyncio.Lock()
        self._converting: set[int] = set()
        self._state = JobState.CREATED
        self._counters = JobCounters()
        self._cancelled = False

    def _start_run(self) -> None:
        """The early record's account, fresh for each run."""
        self._watch = SettleWatch(self.settle)
        self._converted = 0  # documents converted by this run: the record is consolidated again if it grew
        self._published: int | None = None  # self._converted when the record was last published

    async def _db(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._writer, functools.partial(fn, *args, **kwargs))

    def _note(self, progress: Progress) -> Progress:
        # A step's progress carries the job's state as persisted in the step's transaction: the one check of
        # a cancel that costs no extra query.
        if progress.state is JobState.CANCELLED:
            self._cancelled = True
        return progress

    def _emit(self, kind: EventKind, job_id: uuid.UUID, progress: Progress, hcid: str | None = None) -> None:
        self._note(progress)
        self._state, self._counters = progress.state, progress.counters
        self.events.emit(
            ProgressEvent(kind, job_id, progress.state, progress.counters, progress.gateway, hcid)
        )

    async def _step(self, job_id: uuid.UUID, step: Step[None], *, urgent: bool = True) -> Progress:
        """Persist one step (batched with whatever else is waiting for the writer); ``urgent=False`` for a
        step that ends the gateway's work (see :class:`StepBatcher`)."""
        progress, _ = await self._batch.run(job_id, step, urgent=urgent)
        return self._note(progress)

    def _hook(self, name: str) -> None:
        if self.step_hook is not None:
            self.step_hook(name)

    def close(self) -> None:
        """Wait for the database and conversion threads (a step in flight finishes and commits); their CPU
        time goes to the exchanger's meter (:attr:`CpuMeter.threads`)."""
        for name, executor in (("writer", self._writer), ("convert", self._cpu)):
            try:
                # One thread per executor: this runs on it, after whatever was queued before.
                spent = executor.submit(time.thread_time).result()
            except RuntimeError:  # closed already
                continue
            finally:
                executor.shutdown(wait=True)
            self.exchanger.cpu.add_thread(name, spent)
