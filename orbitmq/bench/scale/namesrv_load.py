"""One point of the NameServer curve: B simulated broker sets with T topics each against
a fresh `orbitmq namesrv` process.

Phases, each measured with the NameServer's CPU time from /proc:
1. first: every set registers once (a new broker: all its topics are written);
2. repeat: every set registers `repeats` more times back to back with an unchanged
   DataVersion (what RocketMQ brokers send every 30 s);
3. paced: one period in which set i registers at i x period / B while route queries
   (GET_ROUTEINFO_BY_TOPIC, random topics) arrive at `query_rate` per second; their
   latency is the "under load" figure;
then the NameServer's own tables (GET_BROKER_CLUSTER_INFO, GET_ALL_TOPIC_LIST) are
read back so the run can be checked against what was sent.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import orjson

from orbitmq.bench.cpu import read_cpu_seconds
from orbitmq.bench.memory import read_memory
from orbitmq.bench.scale.bodies import Layout, Registration, registration
from orbitmq.bench.stats import LatencyHistogram
from orbitmq.protocol.codes import RequestCode, ResponseCode
from orbitmq.protocol.command import RemotingCommand
from orbitmq.remoting.client import RemotingClient
from orbitmq.remoting.errors import RemotingError

TIMEOUT_S = 10.0
QUERY_CLIENTS = 4
# The topic list of a million topics is a ~30 MB answer, over the usual 16 MB frame limit.
LIST_FRAME_LIMIT = 1 << 30
MAX_QUERIES_IN_FLIGHT = 256


@dataclass(frozen=True, slots=True)
class NamesrvLoad:
    layout: Layout
    body_format: str
    period_s: float
    repeats: int
    query_rate: float
    in_flight: int = 8  # registrations at once in the back-to-back phases


@dataclass(frozen=True, slots=True)
class NamesrvPoint:
    broker_sets: int
    topics_per_set: int
    distinct_topics: int
    body_kib: float  # mean register body on the wire
    registrations: int  # answered SUCCESS, all phases
    registration_failures: int
    first_us: float | None  # NameServer CPU per registration that writes its topics
    repeat_us: float | None  # ... per registration with an unchanged DataVersion
    paced_cpu_percent: float  # NameServer CPU during the paced period, % of one core
    queries: int
    query_failures: int
    query_p50_ms: float
    query_p99_ms: float
    query_max_ms: float
    rss_mib: float
    anon_mib: float
    seen_broker_sets: int  # what the NameServer's tables hold afterwards
    seen_topics: int

    def to_json(self) -> dict[str, object]:
        return {
            name: round(value, 3) if isinstance(value, float) else value
            for name, value in ((f, getattr(self, f)) for f in self.__slots__)
        }


class _Tally:
    def __init__(self) -> None:
        self.ok = 0
        self.failed = 0


async def _register(client: RemotingClient, address: str, reg: Registration, tally: _Tally) -> None:
    try:
        response = await client.invoke(address, reg.request(), TIMEOUT_S)
    except RemotingError:
        tally.failed += 1
        return
    if response.code == ResponseCode.SUCCESS:
        tally.ok += 1
    else:
        tally.failed += 1


async def _bounded(jobs: list[Callable[[], Awaitable[None]]], limit: int) -> None:
    """Run the jobs with at most `limit` at once."""
    gate = asyncio.Semaphore(limit)

    async def one(job: Callable[[], Awaitable[None]]) -> None:
        async with gate:
            await job()

    await asyncio.gather(*(one(job) for job in jobs))


class NamesrvScaleRun:
    def __init__(self, load: NamesrvLoad, address: str, pid: int) -> None:
        self.load = load
        self.address = address
        self.pid = pid
        layout = load.layout
        stamp = int(time.time() * 1000)
        self.registrations = [
            registration(layout, i, load.body_format, 1, stamp + i)
            for i in range(layout.broker_sets)
        ]
        self.topics = layout.all_topics()
        # One connection per broker set: the NameServer ties a broker to its connection.
        self.broker_clients = [RemotingClient() for _ in range(layout.broker_sets)]
        self.query_clients = [RemotingClient() for _ in range(QUERY_CLIENTS)]
        self.tally = _Tally()
        self.latency = LatencyHistogram()
        self.query_failures = 0

    def _register_job(self, index: int) -> Callable[[], Awaitable[None]]:
        client, reg = self.broker_clients[index], self.registrations[index]
        return lambda: _register(client, self.address, reg, self.tally)

    async def _burst(self, rounds: int) -> float | None:
        """NameServer CPU µs per registration of `rounds` back-to-back rounds."""
        before, ok_before = read_cpu_seconds(self.pid), self.tally.ok
        for _ in range(rounds):
            jobs = [self._register_job(i) for i in range(len(self.registrations))]
            await _bounded(jobs, self.load.in_flight)
        done = self.tally.ok - ok_before
        return (read_cpu_seconds(self.pid) - before) * 1e6 / done if done else None

    async def _paced_registrations(self, start: float) -> None:
        loop = asyncio.get_running_loop()
        step = self.load.period_s / len(self.registrations)
        tasks = []
        for index in range(len(self.registrations)):
            await asyncio.sleep(max(0.0, start + index * step - loop.time()))
            tasks.append(asyncio.create_task(self._register_job(index)()))
        await asyncio.gather(*tasks)

    async def _query(self, client: RemotingClient, topic: str) -> None:
        request = RemotingCommand.request(RequestCode.GET_ROUTEINFO_BY_TOPIC, {"topic": topic})
        began = time.perf_counter_ns()
        try:
            response = await client.invoke(self.address, request, TIMEOUT_S)
        except RemotingError:
            self.query_failures += 1
            return
        if response.code != ResponseCode.SUCCESS:
            self.query_failures += 1
            return
        self.latency.record((time.perf_counter_ns() - began) // 1000)

    async def _paced_queries(self, start: float, end: float) -> None:
        """Open loop: query n is due at start + n / rate, whatever the answers do."""
        loop = asyncio.get_running_loop()
        gate = asyncio.Semaphore(MAX_QUERIES_IN_FLIGHT)
        tasks: set[asyncio.Task[None]] = set()
        rng = random.Random(1)
        n = 0
        while (due := start + n / self.load.query_rate) < end:
            await asyncio.sleep(max(0.0, due - loop.time()))
            await gate.acquire()
            client = self.query_clients[n % QUERY_CLIENTS]
            task = asyncio.create_task(self._query(client, rng.choice(self.topics)))
            task.add_done_callback(lambda t: (tasks.discard(t), gate.release()))
            tasks.add(task)
            n += 1
        await asyncio.gather(*tasks)

    async def _paced(self) -> float:
        """One period of registrations with queries; NameServer CPU in % of one core."""
        loop = asyncio.get_running_loop()
        start = loop.time()
        before = read_cpu_seconds(self.pid)
        jobs = [self._paced_registrations(start)]
        if self.load.query_rate > 0:
            jobs.append(self._paced_queries(start, start + self.load.period_s))
        await asyncio.gather(*jobs)
        elapsed = loop.time() - start
        return (read_cpu_seconds(self.pid) - before) * 100 / elapsed

    async def _seen(self) -> tuple[int, int]:
        """Broker sets and topics the NameServer's tables hold."""
        client = RemotingClient(max_frame_size=LIST_FRAME_LIMIT)
        try:
            info = await client.invoke(
                self.address,
                RemotingCommand.request(RequestCode.GET_BROKER_CLUSTER_INFO),
                TIMEOUT_S,
            )
            topics = await client.invoke(
                self.address,
                RemotingCommand.request(RequestCode.GET_ALL_TOPIC_LIST_FROM_NAMESERVER),
                TIMEOUT_S,
            )
        finally:
            await client.aclose()
        sets = orjson.loads(info.body).get("brokerAddrTable") or {}
        return len(sets), len(orjson.loads(topics.body).get("topicList") or [])

    async def run(self) -> NamesrvPoint:
        try:
            first = await self._burst(1)
            repeat = await self._burst(self.load.repeats) if self.load.repeats else None
            paced_cpu = await self._paced()
            seen_sets, seen_topics = await self._seen()
        finally:
            for client in (*self.broker_clients, *self.query_clients):
                await client.aclose()
        return self._point(first, repeat, paced_cpu, seen_sets, seen_topics)

    def _point(
        self,
        first: float | None,
        repeat: float | None,
        paced_cpu: float,
        seen_sets: int,
        seen_topics: int,
    ) -> NamesrvPoint:
        layout, hist = self.load.layout, self.latency
        memory = read_memory(self.pid)
        body = sum(len(r.body) for r in self.registrations) / len(self.registrations)
        return NamesrvPoint(
            layout.broker_sets, layout.topics_per_set, layout.distinct_topics, body / 1024,
            self.tally.ok, self.tally.failed, first, repeat, paced_cpu,
            hist.count, self.query_failures, hist.percentile(0.5) / 1000,
            hist.percentile(0.99) / 1000, hist.max / 1000, memory.rss_kib / 1024,
            memory.anon_kib / 1024, seen_sets, seen_topics,
        )  # fmt: skip
