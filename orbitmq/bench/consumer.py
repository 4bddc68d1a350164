"""`orbitmq bench consumer`: consume load with TPS and delays (RocketMQ's Consumer benchmark).

A PushConsumer in clustering mode with an `async def` listener (so no thread pool hop)
counts every message and records two delays per message, both from the wall clock in ms:
B2C = consumed - born (producer's clock), S2C = consumed - stored (broker's clock).
The run ends when `count` messages were consumed or `duration` seconds passed, whichever
comes first (or, as a fleet worker, when the parent says `stop`). Summary TPS is
measured from the first message consumed to the last, so neither the group's start-up
(route, heartbeat, rebalance) nor idle time dilutes it. The reports carry this process's
CPU per received message, counted from the consumer's start to the end of the run.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass
from typing import Any, TextIO

from orbitmq.bench.common import call_every
from orbitmq.bench.cpu import CpuMeter, CpuUsage
from orbitmq.bench.stats import ConsumeReport, ConsumeStats
from orbitmq.bench.worker import LineSink, WorkerLink, process_cpu_seconds
from orbitmq.client.consumer.consume import ConsumeStatus
from orbitmq.client.consumer.push import PushConsumer
from orbitmq.client.heartbeat import CONSUME_FROM_FIRST_OFFSET, CONSUME_FROM_LAST_OFFSET
from orbitmq.protocol.message import MessageExt


@dataclass(frozen=True, slots=True)
class ConsumerConfig:
    namesrv_addr: str
    topic: str = "BenchmarkTest"
    group: str = "benchmark_consumer"
    expression: str = "*"
    count: int | None = None
    duration: float = 60.0
    from_first: bool = False
    interval: float = 5.0
    threads: int = 20
    pull_batch: int = 32
    consume_batch: int = 1


@dataclass(frozen=True, slots=True)
class ConsumerOutcome:
    config: ConsumerConfig
    report: ConsumeReport
    cpu: CpuUsage | None
    processes: int = 1

    def to_json(self) -> dict[str, Any]:
        c = self.config
        return {
            "role": "consumer",
            "topic": c.topic,
            "group": c.group,
            "from_first": c.from_first,
            "processes": self.processes,
            **self.report.to_json(),
            "broker_cpu": self.cpu.to_json() if self.cpu is not None else None,
        }


class ConsumerBench:
    def __init__(self, config: ConsumerConfig, out: TextIO) -> None:
        self.config = config
        self._out = out
        self._done = asyncio.Event()
        self._first_at: float | None = None
        self._last_at: float | None = None
        self._stats: ConsumeStats | None = None

    async def _listener(self, msgs: list[MessageExt]) -> ConsumeStatus:
        stats = self._stats
        assert stats is not None
        now_ms = time.time_ns() // 1_000_000
        record = stats.record
        for msg in msgs:
            record(now_ms - msg.born_timestamp, now_ms - msg.store_timestamp)
        now = time.monotonic()  # the loop's clock (uvloop's and asyncio's alike)
        if self._first_at is None:
            self._first_at = now
        self._last_at = now
        if self.config.count is not None and stats.messages >= self.config.count:
            self._done.set()
        return ConsumeStatus.CONSUME_SUCCESS

    def stop(self) -> None:
        """End the run early."""
        self._done.set()

    async def run(
        self, broker_pid: int | None = None, link: WorkerLink | None = None
    ) -> ConsumerOutcome:
        c = self.config
        loop = asyncio.get_running_loop()
        meter = CpuMeter(broker_pid) if broker_pid is not None else None
        sink = link or LineSink(self._out, c.interval)
        self._stats = stats = ConsumeStats(loop.time(), process_cpu_seconds())
        consumer = PushConsumer(
            c.group,
            c.namesrv_addr,
            consume_from_where=CONSUME_FROM_FIRST_OFFSET
            if c.from_first
            else CONSUME_FROM_LAST_OFFSET,
            consume_thread_max=c.threads,
            pull_batch_size=c.pull_batch,
            consume_message_batch_max_size=c.consume_batch,
        )
        consumer.subscribe(c.topic, c.expression)
        consumer.register_message_listener(self._listener)
        await sink.wait_go(self.stop)
        if meter is not None:
            meter.start()
        ticker = loop.create_task(
            call_every(
                sink.period,
                lambda: sink.tick(stats.take_interval(loop.time(), process_cpu_seconds())),
            )
        )
        try:
            await consumer.start()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(c.duration):
                    await self._done.wait()
        finally:
            ticker.cancel()
            sink.close()
            end, end_cpu = loop.time(), process_cpu_seconds()
            async with asyncio.timeout(15):
                await consumer.shutdown()
        run = stats.run_tally(self._summary_end(end), self._first_at, end_cpu)
        sink.done(run)
        report = run.report()
        cpu = meter.stop(report.messages) if meter is not None else None
        return ConsumerOutcome(c, report, cpu)

    def _summary_end(self, end: float) -> float:
        """The last message's time (so idle time after it does not count), else the end."""
        if self._last_at is not None and self._first_at != self._last_at:
            return self._last_at
        return end
