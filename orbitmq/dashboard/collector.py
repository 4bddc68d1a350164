"""The console's figures collector: one background task that, at start and then every
`collect_interval` seconds (at most a minute), asks every broker for its figures and
keeps the result for the Dashboard's charts and for `/metrics`.

Per collection and broker set, whatever the number of topics and groups:
GET_BROKER_RUNTIME_INFO to every broker (slaves too), and to each master
GET_BROKER_CONSUME_STATS (every group's progress, with its topics' broker offsets),
GET_ALL_TOPIC_CONFIG (which topics exist), two VIEW_BROKER_STATS_DATA (the broker's
put and get TPS) and GET_ALL_PRODUCER_INFO (producers by group). Then a bounded number of
detail calls, stalest first: GET_TOPIC_STATS_INFO for topics nobody consumes,
GET_CONSUMER_CONNECTION_LIST for groups, one-message pulls for the store time at lagging
consumer offsets (group_latency.py) and GET_CONSUMER_RUNNING_INFO to online consumers
(their statusTable). Every call is bounded by the admin timeout, so a dead broker only
costs its share.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from orbitmq.client.admin import ClusterInfo
from orbitmq.client.admin_bodies import ConsumeStatsList
from orbitmq.client.errors import ConsumerNotOnlineError
from orbitmq.client.producer_table import ProducerInfo
from orbitmq.client.route import MASTER_ID
from orbitmq.dashboard.context import CALL_ERRORS, MALFORMED_ANSWER, BrokerFailure, Console
from orbitmq.dashboard.exporter import BROADCASTING, exporter_registry
from orbitmq.dashboard.figures import (
    BrokerFigures,
    BrokerRef,
    ClientConsumeStatus,
    GroupLatency,
    OnlineConsumers,
    ProducerCount,
    Snapshot,
    client_statuses,
    is_chart_topic,
)
from orbitmq.dashboard.group_latency import LatencyBook, lag_store_time, lagging_queues
from orbitmq.dashboard.history import ChartHistory, day_of
from orbitmq.dashboard.offset_book import OffsetBook

log = logging.getLogger(__name__)

T = TypeVar("T")

MAX_INTERVAL = 60.0
MIN_INTERVAL = 1.0
# Detail calls (GET_TOPIC_STATS_INFO per broker set, GET_CONSUMER_CONNECTION_LIST) a
# collection may make: about 20 a second of the interval, so 5,000 idle topics are all
# read again every few minutes at the default interval, a few hundred calls at a time.
DETAIL_CALLS_PER_SECOND = 20
MIN_DETAIL_BUDGET = 100
DETAIL_CALLS_IN_FLIGHT = 8
# Store-time reads (a one-message pull each) and GET_CONSUMER_RUNNING_INFO calls (relayed
# to a client, the slowest to answer) a collection may make; the rest wait their turn.
LATENCY_READS = 200
RUNNING_INFO_CALLS = 100
BROKER_PUT_NUMS = "BROKER_PUT_NUMS"
BROKER_GET_NUMS = "BROKER_GET_NUMS"


def now_ms() -> int:
    return int(time.time() * 1000)


def broker_refs(info: ClusterInfo) -> list[BrokerRef]:
    cluster_of = {
        broker: cluster
        for cluster, brokers in info.cluster_addr_table.items()
        for broker in brokers
    }
    return sorted(
        BrokerRef(cluster_of.get(name, data.cluster), name, broker_id, addr)
        for name, data in info.broker_addr_table.items()
        for broker_id, addr in data.broker_addrs.items()
    )


@dataclass(frozen=True, slots=True)
class _Answers:
    """What the brokers answered in one collection, by address."""

    runtime: dict[str, dict[str, str]]
    consume: dict[str, ConsumeStatsList]
    configs: dict[str, dict[str, Any]]
    puts: dict[str, float]
    gets: dict[str, float]
    producers: dict[str, dict[str, list[ProducerInfo]]]
    failures: tuple[BrokerFailure, ...]


def group_brokers(consume: dict[str, ConsumeStatsList]) -> dict[str, str]:
    """Group -> the address of a master where it has progress (the first by address)."""
    where: dict[str, str] = {}
    for addr, stats in sorted(consume.items()):
        for group, per_topic in stats.groups:
            if per_topic:
                where.setdefault(group, addr)
    return where


def mean_tps(text: str) -> float | None:
    """rocketmq-dashboard's broker chart value: the mean of getTotalTps's three figures."""
    try:
        numbers = [float(n) for n in text.split()]
    except ValueError:
        return None
    return sum(numbers) / len(numbers) if numbers else None


class FiguresCollector:
    def __init__(self, console: Console) -> None:
        self.console = console
        self.history = ChartHistory(console.config.data_path / "dashboard")
        self.registry = exporter_registry(lambda: self.snapshot)
        self.snapshot: Snapshot | None = None
        self._book = OffsetBook()
        self._listed: dict[str, set[str]] = {}  # broker name -> topics at the last collection
        self._online: dict[str, tuple[int, OnlineConsumers]] = {}  # group -> (ms, figures)
        self._latency = LatencyBook()
        # (group, client id) -> (ms, its ConsumeStatus by topic)
        self._clients: dict[tuple[str, str], tuple[int, tuple[ClientConsumeStatus, ...]]] = {}
        self._task: asyncio.Task[None] | None = None

    @property
    def interval(self) -> float:
        return min(max(self.console.config.collect_interval, MIN_INTERVAL), MAX_INTERVAL)

    @property
    def detail_budget(self) -> int:
        return max(int(self.interval * DETAIL_CALLS_PER_SECOND), MIN_DETAIL_BUDGET)

    def start(self) -> None:
        """Read back today's chart history, then collect in the background."""
        today = day_of(now_ms())
        self.history.load(today)
        counts = self.history.last_topic_counts(today)
        self._book.in_today.resume(today, {t: c[0] for t, c in counts.items()})
        self._book.out_today.resume(today, {t: c[1] for t, c in counts.items()})
        self._task = asyncio.create_task(self._collect_loop(), name="dashboard_collect_service")

    async def aclose(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self.history.flush(force=True)

    async def _collect_loop(self) -> None:
        while True:
            started = time.monotonic()
            try:
                await self.collect_once()
            except Exception:  # a bug in one collection must not end the next ones
                log.exception("console: collecting figures failed")
            await asyncio.sleep(max(self.interval - (time.monotonic() - started), 0.0))

    # One collection ----------------------------------------------------------------------
    async def collect_once(self) -> Snapshot:
        console = self.console
        ms = now_ms()
        try:
            info = await console.cluster_info()
        except CALL_ERRORS as exc:
            self.snapshot = Snapshot(ms, failures=(console.namesrv_failure(exc),))
            return self.snapshot
        refs = broker_refs(info)
        masters = [r for r in refs if r.broker_id == MASTER_ID]
        self._book.retain_brokers(r.broker_name for r in refs)
        answers = await self._ask_brokers(refs, masters)
        for ref in masters:
            if ref.addr in answers.consume:
                self._take_consume_stats(ref, answers.consume[ref.addr], ms)
        await self._refresh_topics(masters, answers.configs, ms)
        online = await self._refresh_online(answers.consume, ms)
        latencies, clients = await asyncio.gather(
            self._refresh_latencies(masters, answers.consume, online),
            self._refresh_clients(answers.consume, online, ms),
        )
        names = frozenset({*info.cluster_addr_table, *info.broker_addr_table})
        chart_topics = [t for t in self._book.topics() if is_chart_topic(t, names)]
        # Offsets only of broker sets whose master answered now: no stale series.
        answered = [
            r.broker_name for r in masters if r.addr in answers.consume or r.addr in answers.configs
        ]
        snapshot = Snapshot(
            taken_ms=ms,
            brokers=tuple(
                BrokerFigures(
                    r,
                    answers.runtime.get(r.addr, {}),
                    answers.puts.get(r.addr),
                    answers.gets.get(r.addr),
                )
                for r in refs
            ),
            topics=self._book.topic_figures(answered),
            groups=self._book.group_figures(answered),
            online=online,
            topic_days=self._book.topic_days(day_of(ms), chart_topics),
            failures=answers.failures,
            producers=tuple(
                ProducerCount(r.cluster, r.broker_name, group, len(producers))
                for r in masters
                for group, producers in sorted(answers.producers.get(r.addr, {}).items())
            ),
            latencies=latencies,
            clients=clients,
        )
        self.snapshot = snapshot
        self._record(snapshot)
        await self.history.flush()
        return snapshot

    async def _ask_brokers(self, refs: list[BrokerRef], masters: list[BrokerRef]) -> _Answers:
        """The few calls per broker every collection makes, all brokers at once."""
        console = self.console
        admin = console.admin
        every = [(r.key, r.addr) for r in refs]
        heads = [(r.key, r.addr) for r in masters]
        cluster_of = {r.addr: r.cluster for r in refs}
        (
            (runtime, f1),
            (consume, f2),
            (configs, f3),
            (puts, _),
            (gets, _),
            (producers, _),
        ) = await asyncio.gather(
            console.each(every, admin.get_broker_runtime_info),
            console.each(heads, admin.fetch_consume_stats_in_broker),
            console.each(heads, admin.get_all_topic_config),
            console.each(heads, lambda a: self._broker_tps(a, BROKER_PUT_NUMS, cluster_of[a])),
            console.each(heads, lambda a: self._broker_tps(a, BROKER_GET_NUMS, cluster_of[a])),
            console.each(heads, admin.get_all_producer_info),
        )
        failures: dict[str, BrokerFailure] = {}
        for failure in (*f1, *f2, *f3):
            failures.setdefault(failure.addr, failure)
        return _Answers(
            runtime, consume, configs, puts, gets, producers, tuple(failures.values())
        )

    def _record(self, snapshot: Snapshot) -> None:
        """Chart points; topics without traffic today add none (5,000 idle topics would
        otherwise fill the day's file with zeros)."""
        brokers = {}
        for b in snapshot.brokers:
            tps = mean_tps(b.runtime.get("getTotalTps", ""))
            if tps is not None:
                brokers[b.ref.key] = tps
        ms = snapshot.taken_ms
        topics = {
            topic: d.chart_point(ms)
            for topic, d in snapshot.topic_days.items()
            if d.in_today or d.out_today or d.in_tps or d.out_tps
        }
        self.history.add(ms, brokers, topics)

    async def _broker_tps(self, addr: str, stats_name: str, cluster: str) -> float:
        data = await self.console.admin.view_broker_stats_data(addr, stats_name, cluster)
        return data.minute.tps

    def _take_consume_stats(self, ref: BrokerRef, stats: ConsumeStatsList, ms: int) -> None:
        """Groups' progress, and the broker offsets of every topic some group consumes."""
        book = self._book
        queue_offsets: dict[str, dict[int, int]] = {}
        pairs = set()
        for group, per_topic in stats.groups:
            sums: dict[str, list[int]] = {}
            for consume_stats in per_topic:
                for mq, w in consume_stats.offset_table.items():
                    queue_offsets.setdefault(mq.topic, {})[mq.queue_id] = w.broker_offset
                    both = sums.setdefault(mq.topic, [0, 0])
                    both[0] += w.broker_offset
                    both[1] += w.consumer_offset
            for topic, (broker_offset, consumer_offset) in sums.items():
                book.observe_group(
                    ref.cluster, ref.broker_name, group, topic, ms, broker_offset, consumer_offset
                )
                pairs.add((group, topic))
        book.retain_groups_of(ref.broker_name, pairs)
        for topic, offsets in queue_offsets.items():
            book.observe_topic(ref.cluster, ref.broker_name, topic, ms, sum(offsets.values()))

    async def _refresh_topics(
        self, masters: list[BrokerRef], configs: dict[str, dict[str, Any]], ms: int
    ) -> None:
        """Forget deleted topics; read the stalest others' offsets (GET_TOPIC_STATS_INFO)."""
        book = self._book
        day = day_of(ms)
        due: list[tuple[BrokerRef, str]] = []
        for ref in masters:
            if ref.addr not in configs:
                continue
            topics = {str(t) for t in configs[ref.addr].get("topicConfigTable") or {}}
            before = self._listed.get(ref.broker_name)
            created = topics - before if before is not None else set()
            for topic in created:  # all of a topic created while we watched is today's
                book.in_today.count_from_zero(day, topic)
                book.out_today.count_from_zero(day, topic)
            self._listed[ref.broker_name] = topics
            book.retain_topics_of(ref.broker_name, topics)
            due += [(ref, t) for t in book.stalest(ref.broker_name, topics, ms, self.detail_budget)]
        admin = self.console.admin
        tables = await self._many(
            [lambda r=ref, t=topic: admin.get_topic_stats_info(r.addr, t) for ref, topic in due]
        )
        for (ref, topic), table in zip(due, tables, strict=True):
            if table is not None:
                total = sum(o.max_offset for o in table.values())
                book.observe_topic(ref.cluster, ref.broker_name, topic, ms, total)

    async def _refresh_online(
        self, consume: dict[str, ConsumeStatsList], ms: int
    ) -> dict[str, OnlineConsumers]:
        """Online consumers of every group with progress, the stalest `detail_budget`
        asked again; the others keep what was last seen."""
        where = group_brokers(consume)
        self._online = {g: seen for g, seen in self._online.items() if g in where}
        due = sorted(where, key=lambda g: self._online[g][0] if g in self._online else 0)
        due = due[: self.detail_budget]
        answers = await self._many(
            [lambda g=group: self._online_consumers(where[g], g) for group in due]
        )
        for group, answer in zip(due, answers, strict=True):
            if answer is not None:
                self._online[group] = (ms, answer)
        return {
            g: self._online[g][1] if g in self._online else OnlineConsumers(g)
            for g in sorted(where)
        }

    async def _refresh_latencies(
        self,
        masters: list[BrokerRef],
        consume: dict[str, ConsumeStatsList],
        online: dict[str, OnlineConsumers],
    ) -> tuple[GroupLatency, ...]:
        """rocketmq_group_get_latency_by_storetime of clustering groups (a group nobody is
        online in counts as clustering, as in the exporter): at most LATENCY_READS reads."""
        broadcasting = frozenset(g for g, o in online.items() if o.message_model == BROADCASTING)
        entries = lagging_queues(masters, consume, broadcasting)
        due = self._latency.due(entries, LATENCY_READS)
        admin = self.console.admin
        stamps = await self._many(
            [lambda q=q: lag_store_time(admin, q.addr, q.mq, q.consumer_offset) for q in due]
        )
        for queue, stamp in zip(due, stamps, strict=True):
            if stamp is not None:
                self._latency.learn(queue, stamp)
        return tuple(
            GroupLatency(*key, latency)
            for key, latency in sorted(self._latency.latencies(entries, now_ms()).items())
        )

    async def _refresh_clients(
        self, consume: dict[str, ConsumeStatsList], online: dict[str, OnlineConsumers], ms: int
    ) -> tuple[ClientConsumeStatus, ...]:
        """Every online consumer's statusTable, the stalest RUNNING_INFO_CALLS asked again
        (GET_CONSUMER_RUNNING_INFO through a master of its group); the others keep what
        was last seen, and consumers gone offline are forgotten."""
        where = group_brokers(consume)
        members = {
            (group, client_id): client_addr
            for group, seen in online.items()
            for client_addr, client_id in zip(seen.client_addrs, seen.client_ids, strict=True)
        }
        self._clients = {k: v for k, v in self._clients.items() if k in members}
        due = sorted(members, key=lambda k: self._clients[k][0] if k in self._clients else 0)
        due = due[:RUNNING_INFO_CALLS]
        admin = self.console.admin
        answers = await self._many(
            [
                lambda g=group, c=client_id: admin.get_consumer_running_info(
                    g, c, broker_addr=where[g]
                )
                for group, client_id in due
            ]
        )
        for (group, client_id), info in zip(due, answers, strict=True):
            if info is not None:
                statuses = client_statuses(
                    members[(group, client_id)], client_id, group, info.status_table
                )
                self._clients[(group, client_id)] = (ms, tuple(statuses))
        return tuple(s for _, (_, statuses) in sorted(self._clients.items()) for s in statuses)

    async def _online_consumers(self, addr: str, group: str) -> OnlineConsumers:
        try:
            connection = await self.console.admin.get_consumer_connection(addr, group)
        except ConsumerNotOnlineError:
            return OnlineConsumers(group)
        members = connection.connections
        return OnlineConsumers(
            group,
            tuple(c.client_addr for c in members),
            tuple(c.client_id for c in members),
            connection.message_model if members else "",
        )

    async def _many(self, calls: list[Callable[[], Awaitable[T]]]) -> list[T | None]:
        """Each call bounded by the admin timeout, a few at a time; None where it failed
        (a topic deleted meanwhile, a broker gone: the next collection tries again)."""
        semaphore = asyncio.Semaphore(DETAIL_CALLS_IN_FLIGHT)

        async def one(call: Callable[[], Awaitable[T]]) -> T | None:
            async with semaphore:
                try:
                    return await self.console.bounded(call())
                except CALL_ERRORS as exc:
                    log.debug("console: detail call failed: %s", exc)
                    return None
                except MALFORMED_ANSWER:
                    log.warning("console: detail call got a malformed answer", exc_info=True)
                    return None

        return list(await asyncio.gather(*(one(c) for c in calls)))
