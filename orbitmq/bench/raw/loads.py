"""One process's part of a raw load: its connections to one system, and the produce and
consume runs over them (the PeerLoad interface of peers/frame.py, so PeerRun frames it).

Produce: `connections` SendPipelines, each with `window` requests in flight, sharing
one Budget. Consume: reader connections until every one has read its share of the
backlog (or the run is stopped). The CPU time of this process from the start of the run
to its end is kept in `cpu_seconds`: the generator's own cost.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

from orbitmq.bench.common import Budget, make_body
from orbitmq.bench.raw import nats_wire, redis_wire
from orbitmq.bench.raw.pipeline import (
    ReadConnection,
    SendPipeline,
    SendWire,
    open_connection,
    parse_url,
)
from orbitmq.bench.raw.rocketmq_wire import BrokerQueues, PullConnection, resolve_queues
from orbitmq.bench.raw.rocketmq_wire import SendWire as OrbitSendWire
from orbitmq.bench.stats import SendStats
from orbitmq.remoting.client import split_address

__all__ = ["SYSTEMS", "RawLoad", "RawSettings"]

SYSTEMS = ("orbitmq", "redis", "nats")
_DRAIN_TIMEOUT = 10.0  # for the answers still in flight when the budget runs out


@dataclass(frozen=True, slots=True)
class RawSettings:
    system: str
    namesrv: str
    topic: str
    url: str | None
    broker: str | None
    queues: int
    connections: int
    window: int
    size: int
    group: str
    batch: int
    depth: int
    part: int = 0  # this process's index among `parts` (consumers split the queues)
    parts: int = 1


class RawLoad:
    """The connections of one process, opened by `connect_producer()` or
    `connect_consumer()` before the run starts."""

    def __init__(self, settings: RawSettings) -> None:
        self.s = settings
        self.cpu_seconds = 0.0
        self._pipelines: list[SendPipeline] = []
        self._readers: list[ReadConnection] = []
        self._received: Callable[[int], None] = lambda n: None

    def _address(self) -> tuple[str, int]:
        if self.s.url is None:
            raise ValueError(f"--url is required for --system {self.s.system}")
        return parse_url(self.s.url, self.s.system)

    async def aclose(self) -> None:
        for connection in [*self._pipelines, *self._readers]:
            connection.close()

    # ------------------------------------------------------------------ produce

    async def connect_producer(self) -> None:
        s = self.s
        body = make_body(s.size)
        wires: list[tuple[SendWire, str, int]] = []
        if s.system == "orbitmq":
            targets = await resolve_queues(s.namesrv, s.topic, s.broker, s.queues, write=True)
            for i in range(s.connections):
                target = targets[i % len(targets)]
                host, port = split_address(target.addr)
                # Processes and connections start at different queues, so that every
                # queue gets its share from the first round on.
                start = s.part * s.connections + i
                wires.append((OrbitSendWire(s.topic, target, body, start), host, port))
        else:
            host, port = self._address()
            if s.system == "nats":
                await nats_wire.create_stream(host, port)
            for _ in range(s.connections):
                wire: SendWire = (
                    redis_wire.XaddWire(body) if s.system == "redis" else nats_wire.PubWire(body)
                )
                wires.append((wire, host, port))
        for wire, host, port in wires:
            self._pipelines.append(
                await open_connection(lambda w=wire: SendPipeline(w, s.window), host, port)
            )

    async def produce(self, budget: Budget, stats: SendStats) -> None:
        started = time.process_time()
        try:
            finished = [p.start(budget, stats) for p in self._pipelines]
            timeout = budget.time_left() + _DRAIN_TIMEOUT
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(timeout):
                    await asyncio.gather(*finished)
            for pipeline in self._pipelines:
                pipeline.abandon()
        finally:
            self.cpu_seconds = time.process_time() - started

    # ------------------------------------------------------------------ consume

    def _count(self, messages: int) -> None:
        self._received(messages)

    async def connect_consumer(self) -> None:
        s = self.s
        if s.system == "orbitmq":
            targets = await resolve_queues(s.namesrv, s.topic, s.broker, s.queues, write=False)
            for target in self._share(targets):
                host, port = split_address(target.addr)
                await self._open_reader(
                    lambda t=target: PullConnection(s.topic, s.group, t, s.batch, self._count),
                    host, port,
                )  # fmt: skip
            return
        host, port = self._address()
        if s.system == "redis":
            await redis_wire.create_group(host, port, s.group.encode())
            for i in range(s.connections):
                consumer = f"c{os.getpid()}-{i}".encode()
                await self._open_reader(
                    lambda c=consumer: redis_wire.ReadGroupConnection(
                        s.group.encode(), c, s.batch, s.depth, s.size, self._count
                    ),
                    host, port,
                )  # fmt: skip
            return
        await nats_wire.create_stream(host, port)
        await nats_wire.create_pull_consumer(host, port, s.group)
        for _ in range(s.connections):
            await self._open_reader(
                lambda: nats_wire.FetchConnection(s.group, s.batch, s.depth, self._count),
                host, port,
            )  # fmt: skip

    def _share(self, targets: list[BrokerQueues]) -> list[BrokerQueues]:
        """This process's queues (every `parts`-th), spread over its connections."""
        s = self.s
        mine = [(t, q) for t in targets for q in t.queue_ids][s.part :: s.parts]
        shares: list[BrokerQueues] = []
        for i in range(min(s.connections, len(mine))):
            picked = mine[i :: s.connections]
            by_broker: dict[str, list[int]] = {}
            for target, queue_id in picked:
                by_broker.setdefault(target.addr, []).append(queue_id)
            names = {t.addr: t.broker_name for t, _ in picked}
            shares += [BrokerQueues(addr, names[addr], ids) for addr, ids in by_broker.items()]
        return shares

    async def _open_reader(
        self, factory: Callable[[], ReadConnection], host: str, port: int
    ) -> None:
        self._readers.append(await open_connection(factory, host, port))

    async def consume(self, received: Callable[[int], None], done: asyncio.Event) -> None:
        started = time.process_time()
        self._received = received
        try:
            for reader in self._readers:
                reader.start()
            stopped = asyncio.ensure_future(done.wait())
            everything = asyncio.gather(*(reader.drained for reader in self._readers))
            try:
                await asyncio.wait({stopped, everything}, return_when=asyncio.FIRST_COMPLETED)
            finally:
                stopped.cancel()
            done.set()
            for reader in self._readers:
                reader.stopping = True
                reader.close()
            with contextlib.suppress(TimeoutError):  # closed readers end as they go away
                async with asyncio.timeout(_DRAIN_TIMEOUT):
                    await everything
            errors = [error for reader in self._readers for error in reader.errors]
            if errors:
                print(f"raw-consumer: {errors[0]} ({len(errors)} such)", file=sys.stderr)
        finally:
            self.cpu_seconds = time.process_time() - started
