"""Group commit: a step something waits for starts its batch at once; a step that only ends a gateway's work
lingers for company, and goes with the next batch or when its linger is over.

The store is a stand-in that records the batches it was given (the real one is exercised by every pull test).
A linger of a minute stands for "never" inside a test: a step that waited for it would hang the test, so
``asyncio.wait_for`` with a few seconds turns that into a failure rather than asserting any duration.
"""

from __future__ import annotations

import asyncio
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any, cast

from gateway.initiating.batching import StepBatcher
from gateway.initiating.jobs import JobStore

JOB = uuid.uuid4()


class Store:
    def __init__(self) -> None:
        self.batches: list[list[str]] = []

    def run_steps(self, job_id: uuid.UUID, steps: list[Any]) -> list[tuple[str, str]]:
        assert job_id == JOB
        self.batches.append([step() for step in steps])
        return [("progress", name) for name in self.batches[-1]]


def _step(name: str) -> Any:
    return lambda: name


def _batcher(store: Store, executor: ThreadPoolExecutor, linger: float) -> StepBatcher:
    return StepBatcher(cast(JobStore, store), executor, linger=linger)


def test_lingering_steps_go_with_the_next_urgent_one() -> None:
    store = Store()

    async def scenario() -> list[Any]:
        with ThreadPoolExecutor(1) as executor:
            batcher = _batcher(store, executor, linger=60.0)
            ends = [asyncio.create_task(batcher.run(JOB, _step(f"end-{i}"), urgent=False)) for i in range(3)]
            for _ in range(20):
                await asyncio.sleep(0)
            assert store.batches == []  # the three ends wait for company
            match = batcher.run(JOB, _step("match"))  # urgent: an ITI-38 waits for it
            return await asyncio.wait_for(asyncio.gather(*ends, match), timeout=10)

    results = asyncio.run(scenario())

    assert store.batches == [["end-0", "end-1", "end-2", "match"]]  # one transaction for all four
    assert [value for _, value in results] == ["end-0", "end-1", "end-2", "match"]


def test_a_lingering_step_alone_runs_when_its_linger_is_over() -> None:
    store = Store()

    async def scenario() -> list[Any]:
        with ThreadPoolExecutor(1) as executor:
            batcher = _batcher(store, executor, linger=0.01)
            first = batcher.run(JOB, _step("end-a"), urgent=False)
            second = batcher.run(JOB, _step("end-b"), urgent=False)
            return await asyncio.wait_for(asyncio.gather(first, second), timeout=10)

    first, second = asyncio.run(scenario())

    assert (first[1], second[1]) == ("end-a", "end-b")
    assert store.batches == [["end-a", "end-b"]]


def test_without_linger_every_step_starts_at_once() -> None:
    store = Store()

    async def scenario() -> None:
        with ThreadPoolExecutor(1) as executor:
            batcher = _batcher(store, executor, linger=0.0)
            await asyncio.wait_for(batcher.run(JOB, _step("end"), urgent=False), timeout=10)
            await asyncio.wait_for(batcher.run(JOB, _step("match")), timeout=10)

    asyncio.run(scenario())

    assert store.batches == [["end"], ["match"]]
