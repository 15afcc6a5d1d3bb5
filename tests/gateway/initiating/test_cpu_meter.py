"""The exchange CPU meter charges an exchange its own coroutine steps only, and changes nothing else about how
the coroutine runs: its value, its exceptions and its cancellation."""

from __future__ import annotations

import asyncio

import pytest

from gateway.initiating import cpu
from gateway.initiating.cpu import CpuMeter


class FakeClock:
    """A thread clock that moves only when work is done, so the figures are exact."""

    def __init__(self) -> None:
        self.now = 0

    def __call__(self) -> int:
        return self.now

    def work(self, ns: int) -> None:
        self.now += ns


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    fake = FakeClock()
    monkeypatch.setattr(cpu.time, "thread_time_ns", fake)
    return fake


def test_an_exchange_is_charged_its_own_steps_not_the_loops_other_work(clock: FakeClock) -> None:
    meter = CpuMeter()

    async def exchange() -> str:
        for _ in range(3):
            clock.work(5)
            await asyncio.sleep(0)  # the others run here
        clock.work(5)
        return "answer"

    async def other() -> None:
        for _ in range(10):
            clock.work(1000)  # another gateway's exchange, job bookkeeping, events
            await asyncio.sleep(0)

    async def main() -> str:
        answer, _ = await asyncio.gather(meter.run(exchange()), other())
        return answer

    assert asyncio.run(main()) == "answer"
    assert meter.exchange_ns == 20
    assert clock.now == 10_020


def test_errors_raised_in_and_thrown_into_an_exchange_reach_it(clock: FakeClock) -> None:
    meter = CpuMeter()
    seen: list[str] = []

    async def exchange(answer: asyncio.Future[str]) -> str:
        try:
            return await answer
        except ConnectionResetError:
            seen.append("caught")
            clock.work(7)
            raise ValueError("unreadable") from None

    async def main() -> None:
        answer: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        task = asyncio.ensure_future(meter.run(exchange(answer)))
        await asyncio.sleep(0)
        answer.set_exception(ConnectionResetError())
        with pytest.raises(ValueError, match="unreadable"):
            await task

    asyncio.run(main())
    assert seen == ["caught"]
    assert meter.exchange_ns == 7


def test_a_cancelled_exchange_is_cancelled_and_cleans_up() -> None:
    meter = CpuMeter()
    cleaned: list[bool] = []

    async def exchange() -> None:
        try:
            await asyncio.sleep(60)
        finally:
            cleaned.append(True)

    async def main() -> None:
        task = asyncio.ensure_future(meter.run(exchange()))
        await asyncio.sleep(0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert task.cancelled()

    asyncio.run(main())
    assert cleaned == [True]


def test_a_timeout_around_an_exchange_still_works() -> None:
    meter = CpuMeter()

    async def main() -> None:
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.01):
                await meter.run(asyncio.sleep(60))

    asyncio.run(main())


def test_reset_forgets_everything_counted() -> None:
    meter = CpuMeter(ns=1, exchange_ns=2, exchanges=3, messages=4, threads={"writer": 1.0})
    meter.reset()
    assert (meter.ns, meter.exchange_ns, meter.exchanges, meter.messages, meter.threads) == (0, 0, 0, 0, {})
    assert meter.exchange_ms == meter.ms_per_exchange == 0.0
