"""The frame every peer load runs in: ready/go, budget, ticks, server CPU, outcome.

A peer system (nats_load.py, redis_load.py) only connects, sends or receives; this
module gives it the Budget and the stats, and reports like `bench producer|consumer`.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from orbitmq.bench.common import Budget, call_every
from orbitmq.bench.cpu import CpuMeter, CpuUsage
from orbitmq.bench.stats import ConsumeReport, ConsumeStats, SendReport, SendStats
from orbitmq.bench.worker import Sink

__all__ = ["PeerLoad", "PeerOutcome", "PeerRun"]

SendLoad = Callable[[Budget, SendStats], Awaitable[None]]
# A consume load calls `received(n)` for every n messages it got, until `done` is set.
ConsumeLoad = Callable[[Callable[[int], None], asyncio.Event], Awaitable[None]]


class PeerLoad:
    """What every peer load is given: its server, the body to send, the in-flight window,
    the consume batch and the consumer group."""

    def __init__(self, url: str, body: bytes, window: int, batch: int, group: str) -> None:
        self._url = url
        self._body = body
        self._window = window
        self._batch = batch
        self._group = group


@dataclass(frozen=True, slots=True)
class PeerOutcome:
    settings: dict[str, Any]
    report: SendReport | ConsumeReport
    cpu: CpuUsage | None
    processes: int = 1

    def to_json(self) -> dict[str, Any]:
        return {
            **self.settings,
            "processes": self.processes,
            **self.report.to_json(),
            "broker_cpu": self.cpu.to_json() if self.cpu is not None else None,
        }


class PeerRun:
    """One run of a peer load bounded by `count` messages and `duration` seconds."""

    def __init__(
        self, count: int | None, duration: float, sink: Sink, server_pid: int | None
    ) -> None:
        self._count = count
        self._duration = duration
        self._sink = sink
        self._meter = CpuMeter(server_pid) if server_pid is not None else None
        self._budget: Budget | None = None
        self._done = asyncio.Event()

    def stop(self) -> None:
        if self._budget is not None:
            self._budget.stop()
        self._done.set()

    async def send(self, load: SendLoad) -> tuple[SendReport, CpuUsage | None]:
        loop = asyncio.get_running_loop()
        await self._sink.wait_go(self.stop)
        stats = SendStats(loop.time())
        self._budget = Budget(self._count, loop.time() + self._duration, loop.time)
        if self._meter is not None:
            self._meter.start()
        ticker = loop.create_task(
            call_every(self._sink.period, lambda: self._sink.tick(stats.take_interval(loop.time())))
        )
        try:
            await load(self._budget, stats)
        finally:
            ticker.cancel()
            self._sink.close()
        run = stats.run_tally(loop.time())
        self._sink.done(run)
        cpu = self._meter.stop(run.messages) if self._meter is not None else None
        return run.report(), cpu

    async def consume(self, load: ConsumeLoad) -> tuple[ConsumeReport, CpuUsage | None]:
        loop = asyncio.get_running_loop()
        await self._sink.wait_go(self.stop)
        stats = ConsumeStats(loop.time())
        if self._meter is not None:
            self._meter.start()
        ticker = loop.create_task(
            call_every(self._sink.period, lambda: self._sink.tick(stats.take_interval(loop.time())))
        )
        first_at: float | None = None
        last_at = loop.time()

        def received(messages: int) -> None:
            nonlocal first_at, last_at
            last_at = loop.time()
            first_at = last_at if first_at is None else first_at
            stats.record_unstamped(messages)
            if self._count is not None and stats.messages >= self._count:
                self._done.set()

        task = loop.create_task(load(received, self._done))
        try:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._duration):
                    await self._done.wait()
        finally:
            self._done.set()
            ticker.cancel()
            self._sink.close()
            async with asyncio.timeout(10):
                await task
        run = stats.run_tally(last_at, first_at)
        self._sink.done(run)
        cpu = self._meter.stop(run.messages) if self._meter is not None else None
        return run.report(), cpu

