"""`orbitmq bench producer`: send load with TPS and latency (RocketMQ's Producer benchmark).

Theory of operation. Up to `window` requests are in flight at once:
  sync    `window` workers, each awaiting `send` (or `send_batch`) in a loop
  async   one issuing loop; `send_async` tasks, a semaphore of `window` permits
          released by each completion callback
  oneway  one loop of `send_oneway`; every `window` messages one acknowledged `send`
          acts as a barrier, so the broker (whose answers come in order on the
          connection) is never more than a window behind and the socket buffer stays
          bounded. RT is the time to hand the frame to the socket.
Every loop asks the Budget (count and deadline) before each request. After the deadline
the in-flight requests get `send_timeout` more seconds to finish, then are cancelled.
The reports carry this process's CPU per sent message: the load generator is the client
a user would run, so its own per-message work is kept to a message object (shared while
messages carry no key) and one histogram sample.
As a fleet worker (`link`), the load starts on the parent's `go` (after the route is
known) and `stop` ends it early.
"""

from __future__ import annotations

import asyncio
import functools
import time
from dataclasses import dataclass
from typing import Any, TextIO

from orbitmq.bench.common import Budget, call_every, make_body
from orbitmq.bench.cpu import CpuMeter, CpuUsage
from orbitmq.bench.stats import SendReport, SendStats
from orbitmq.bench.worker import LineSink, WorkerLink, process_cpu_seconds
from orbitmq.client.errors import MQBrokerError
from orbitmq.client.message import Message
from orbitmq.client.producer import Producer
from orbitmq.errors import OrbitMQError

MODES = ("sync", "async", "oneway")
FAILURE_BACKOFF = 0.1


@dataclass(frozen=True, slots=True)
class ProducerConfig:
    namesrv_addr: str
    topic: str = "BenchmarkTest"
    size: int = 128
    window: int = 64
    count: int | None = None
    duration: float = 60.0
    mode: str = "sync"
    batch: int = 1
    keys: bool = False
    tags: bool = False
    interval: float = 5.0
    group: str = "benchmark_producer"
    send_timeout: float = 3.0


@dataclass(frozen=True, slots=True)
class ProducerOutcome:
    config: ProducerConfig
    report: SendReport
    cpu: CpuUsage | None
    processes: int = 1

    def to_json(self) -> dict[str, Any]:
        c = self.config
        return {
            "role": "producer",
            "topic": c.topic,
            "mode": c.mode,
            "message_size": c.size,
            "window": c.window,
            "batch": c.batch,
            "processes": self.processes,
            **self.report.to_json(),
            "broker_cpu": self.cpu.to_json() if self.cpu is not None else None,
        }


class ProducerBench:
    def __init__(self, config: ProducerConfig, out: TextIO) -> None:
        if config.mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}")
        if config.mode == "oneway" and config.batch > 1:
            raise ValueError("--batch needs --mode sync or async (there is no oneway batch)")
        self.config = config
        self._out = out
        self._body = make_body(config.size)
        self._seq = 0
        # Messages without a key are all alike: one object per tag serves every send.
        self._shared = [
            Message(config.topic, self._body, tags=f"tag{i}" if config.tags else None)
            for i in range(10 if config.tags else 1)
        ]
        self._budget: Budget | None = None
        self._producer = Producer(
            config.group, config.namesrv_addr, send_timeout=config.send_timeout
        )

    def _message(self) -> Message:
        c, seq = self.config, self._seq
        self._seq += 1
        if not c.keys:
            shared = self._shared
            return shared[seq % len(shared)]
        return Message(
            c.topic, self._body, tags=f"tag{seq % 10}" if c.tags else None, keys=f"key{seq}"
        )

    def _messages(self, n: int) -> list[Message]:
        return [self._message() for _ in range(n)]

    async def _send(self, msgs: list[Message]) -> None:
        if len(msgs) == 1 and self.config.batch == 1:
            await self._producer.send(msgs[0])
        else:
            await self._producer.send_batch(msgs)

    def _settle(self, stats: SendStats, started_ns: int, n: int, exc: BaseException | None) -> None:
        if exc is None:
            stats.record_ok((time.perf_counter_ns() - started_ns) // 1000, n)
        elif isinstance(exc, MQBrokerError):
            stats.record_response_failed(n)
        else:
            stats.record_send_failed(n)

    async def _backoff(self, budget: Budget) -> None:
        await asyncio.sleep(min(FAILURE_BACKOFF, budget.time_left()))

    async def _sync_worker(self, budget: Budget, stats: SendStats) -> None:
        if self.config.batch == 1:
            await self._single_worker(budget, stats)
            return
        while n := budget.take(self.config.batch):
            msgs = self._messages(n)
            started = time.perf_counter_ns()
            try:
                await self._send(msgs)
            except (OrbitMQError, OSError) as exc:
                self._settle(stats, started, n, exc)
                await self._backoff(budget)
            else:
                self._settle(stats, started, n, None)

    async def _single_worker(self, budget: Budget, stats: SendStats) -> None:
        """`_sync_worker` for one message per request, with nothing between the sends."""
        send, take, clock = self._producer.send, budget.take, time.perf_counter_ns
        while take(1):
            msg = self._message()
            started = clock()
            try:
                await send(msg)
            except (OrbitMQError, OSError) as exc:
                self._settle(stats, started, 1, exc)
                await self._backoff(budget)
            else:
                stats.record_ok((clock() - started) // 1000)

    async def _async_loop(self, budget: Budget, stats: SendStats) -> None:
        window = asyncio.Semaphore(self.config.window)
        tasks: set[asyncio.Task[Any]] = set()
        loop = asyncio.get_running_loop()

        def done(task: asyncio.Task[Any], started: int, n: int) -> None:
            tasks.discard(task)
            window.release()
            exc = asyncio.CancelledError() if task.cancelled() else task.exception()
            self._settle(stats, started, n, exc)

        try:
            while True:
                await window.acquire()
                n = budget.take(self.config.batch)
                if not n:
                    window.release()
                    break
                started = time.perf_counter_ns()
                msgs = self._messages(n)
                if self.config.batch == 1:
                    task = self._producer.send_async(msgs[0])
                else:
                    task = loop.create_task(self._producer.send_batch(msgs))
                tasks.add(task)
                task.add_done_callback(functools.partial(done, started=started, n=n))
            if tasks:
                await asyncio.wait(list(tasks), timeout=self.config.send_timeout + 1)
        finally:
            for task in list(tasks):
                task.cancel()

    async def _oneway_loop(self, budget: Budget, stats: SendStats) -> None:
        since_barrier = 0
        while n := budget.take(1):
            msgs = self._messages(n)
            started = time.perf_counter_ns()
            try:
                if since_barrier >= self.config.window:
                    since_barrier = 0
                    await self._producer.send(msgs[0])
                else:
                    since_barrier += 1
                    await self._producer.send_oneway(msgs[0])
                    await asyncio.sleep(0)  # let the reporter and the socket run
            except (OrbitMQError, OSError) as exc:
                self._settle(stats, started, n, exc)
                await self._backoff(budget)
            else:
                self._settle(stats, started, n, None)

    def stop(self) -> None:
        """End the load early (in-flight requests still finish)."""
        if self._budget is not None:
            self._budget.stop()

    async def run(
        self, broker_pid: int | None = None, link: WorkerLink | None = None
    ) -> ProducerOutcome:
        """Run the load. Raises (before any load) if the topic has no usable route."""
        c = self.config
        loop = asyncio.get_running_loop()
        meter = CpuMeter(broker_pid) if broker_pid is not None else None
        sink = link or LineSink(self._out, c.interval)
        await self._producer.start()
        try:
            await self._producer.fetch_publish_queues(c.topic)  # fail fast: no route
            await sink.wait_go(self.stop)
            stats = SendStats(loop.time(), process_cpu_seconds())
            self._budget = budget = Budget(c.count, loop.time() + c.duration, loop.time)
            ticker = loop.create_task(
                call_every(
                    sink.period,
                    lambda: sink.tick(stats.take_interval(loop.time(), process_cpu_seconds())),
                )
            )
            if meter is not None:
                meter.start()
            try:
                async with asyncio.timeout(c.duration + c.send_timeout + 5):
                    await self._load(budget, stats)
            finally:
                ticker.cancel()
                sink.close()
            run = stats.run_tally(loop.time(), process_cpu_seconds())
            sink.done(run)
            report = run.report()
            cpu = meter.stop(report.messages) if meter is not None else None
        finally:
            async with asyncio.timeout(10):
                await self._producer.shutdown()
        return ProducerOutcome(c, report, cpu)

    async def _load(self, budget: Budget, stats: SendStats) -> None:
        if self.config.mode == "sync":
            workers = [self._sync_worker(budget, stats) for _ in range(self.config.window)]
            await asyncio.gather(*workers)
        elif self.config.mode == "async":
            await self._async_loop(budget, stats)
        else:
            await self._oneway_loop(budget, stats)
