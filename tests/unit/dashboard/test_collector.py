"""The figures collector's pure parts: chart history files (rocketmq-dashboard's format),
rates from offset differences, today's counts, and which topics are refreshed first."""

from __future__ import annotations

import asyncio
import os
import time
from collections import Counter
from pathlib import Path
from typing import Any

import orjson
import pytest

import orbitmq.dashboard.collector as collector_module
from orbitmq.client.admin import ClusterInfo
from orbitmq.client.admin_bodies import (
    ClientConnection,
    ConsumerConnection,
    ConsumerRunningInfo,
    ConsumeStats,
    ConsumeStatsList,
    OffsetWrapper,
)
from orbitmq.client.errors import MQBrokerError
from orbitmq.client.message import MessageQueue
from orbitmq.client.producer_table import ProducerInfo
from orbitmq.client.route import BrokerData
from orbitmq.dashboard.collector import FiguresCollector, now_ms
from orbitmq.dashboard.config import DashboardConfig
from orbitmq.dashboard.context import Console
from orbitmq.dashboard.figures import (
    BrokerRef,
    DayCounter,
    ProducerCount,
    RateTracker,
    Snapshot,
    TopicDay,
    is_chart_topic,
)
from orbitmq.dashboard.group_latency import LatencyBook, lagging_queues
from orbitmq.dashboard.history import BROKER, TOPIC, ChartHistory, day_of
from orbitmq.dashboard.offset_book import OffsetBook
from orbitmq.protocol.codes import RequestCode, ResponseCode
from orbitmq.protocol.command import FLAG_RESPONSE, RemotingCommand
from orbitmq.protocol.message import MessageExt, encode_record

DAY = "2026-03-04"
NOON = int(time.mktime((2026, 3, 4, 12, 0, 0, 0, 0, -1)) * 1000)


def test_history_files_have_rocketmq_dashboards_format_and_load_back(tmp_path: Path) -> None:
    history = ChartHistory(tmp_path)
    point = TopicDay(in_tps=2.5, in_today=30, out_tps=0.0, out_today=7).chart_point(NOON)
    history.add(NOON, {"broker-a:0": 1.25}, {"Orders": point})
    history.add(NOON + 60_000, {"broker-a:0": 2.0, "broker-a:1": 0.0}, {})
    asyncio.run(history.flush(force=True))

    brokers = orjson.loads((tmp_path / f"{DAY}.json").read_bytes())
    assert brokers == {
        "broker-a:0": [f"{NOON},1.25000", f"{NOON + 60_000},2.00000"],
        "broker-a:1": [f"{NOON + 60_000},0.00000"],
    }
    topics = orjson.loads((tmp_path / f"{DAY}_topic.json").read_bytes())
    assert topics == {"Orders": [f"{NOON},2.50000,30,0.00000,7"]}
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"{DAY}.json", f"{DAY}_topic.json"]

    again = ChartHistory(tmp_path)  # a restarted console appends to what was written
    again.load(DAY)
    assert again.last_topic_counts(DAY) == {"Orders": (30, 7)}
    again.add(NOON + 120_000, {"broker-a:0": 3.0}, {})
    assert len(again.series(DAY, BROKER)["broker-a:0"]) == 3


def test_history_writes_at_most_every_few_seconds_unless_forced(tmp_path: Path) -> None:
    history = ChartHistory(tmp_path, min_write_seconds=60)
    history.add(NOON, {"b:0": 1.0}, {})
    asyncio.run(history.flush())
    history.add(NOON + 1000, {"b:0": 2.0}, {})
    asyncio.run(history.flush())  # too soon: not written
    on_disk = orjson.loads((tmp_path / f"{DAY}.json").read_bytes())
    assert len(on_disk["b:0"]) == 1
    asyncio.run(history.flush(force=True))  # the console stopping
    assert len(orjson.loads((tmp_path / f"{DAY}.json").read_bytes())["b:0"]) == 2


def test_a_day_without_data_is_empty_never_an_error(tmp_path: Path) -> None:
    history = ChartHistory(tmp_path)
    assert history.series("2020-01-01", BROKER) == {}
    (tmp_path / "2020-01-02_topic.json").write_text("{not json")
    assert history.series("2020-01-02", TOPIC) == {}
    (tmp_path / "2020-01-03.json").write_text('{"b:0": ["1,2.0", 5], "x": "no list"}')
    assert history.series("2020-01-03", BROKER) == {"b:0": ["1,2.0"]}
    with pytest.raises(ValueError, match="YYYY-MM-DD"):
        history.series("../../etc/passwd", BROKER)


def test_past_days_are_read_from_disk_and_reread_when_they_change(tmp_path: Path) -> None:
    history = ChartHistory(tmp_path)
    path = tmp_path / "2020-01-01.json"
    path.write_text('{"b:0": ["1,1.0"]}')
    assert history.series("2020-01-01", BROKER) == {"b:0": ["1,1.0"]}
    path.write_text('{"b:0": ["1,1.0", "2,2.0"]}')
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))
    assert history.series("2020-01-01", BROKER) == {"b:0": ["1,1.0", "2,2.0"]}


def test_rates_are_offset_differences_over_time() -> None:
    rates: RateTracker[str] = RateTracker()
    assert rates.observe("t", 0, 100) == 0.0  # first sight: no rate yet
    assert rates.observe("t", 2000, 150) == 25.0
    assert rates.observe("t", 4000, 10) == 0.0  # went back: topic recreated
    rates.retain([])
    assert rates.rate("t") == 0.0


def test_today_counts_start_at_first_sight_resume_and_roll_over() -> None:
    counter = DayCounter()
    assert counter.count(DAY, "t", 500) == 0
    assert counter.count(DAY, "t", 530) == 30
    assert counter.count("2026-03-05", "t", 540) == 0  # a new day starts from zero
    counter.count_from_zero("2026-03-05", "new")  # created while watched
    assert counter.count("2026-03-05", "new", 12) == 12

    restarted = DayCounter()
    restarted.resume(DAY, {"t": 30})
    assert restarted.count(DAY, "t", 600) == 30  # counts on from the recorded figure
    assert restarted.count(DAY, "t", 610) == 40


def test_offset_book_sums_broker_sets_and_leaves_out_tools_consumer() -> None:
    book = OffsetBook()
    for ms, a, b, consumed in ((0, 100, 50, 40), (10_000, 120, 70, 80)):
        book.observe_topic("C", "broker-a", "T", ms, a)
        book.observe_topic("C", "broker-b", "T", ms, b)
        book.observe_group("C", "broker-a", "G", "T", ms, a, consumed)
        book.observe_group("C", "broker-a", "TOOLS_CONSUMER", "T", ms, a, a)
        days = book.topic_days(DAY, ["T"])  # once per collection
    assert days["T"] == TopicDay(in_tps=4.0, in_today=40, out_tps=4.0, out_today=40)
    figures = book.topic_figures(["broker-a", "broker-b"])
    assert [(f.broker_name, f.max_offset, f.tps) for f in figures] == [
        ("broker-a", 120, 2.0),
        ("broker-b", 70, 2.0),
    ]
    assert [g.diff for g in book.group_figures(["broker-a"])] == [40, 0]

    book.retain_topics_of("broker-b", [])  # topic deleted on broker-b
    book.retain_groups_of("broker-a", [("G", "T")])
    assert [f.broker_name for f in book.topic_figures(["broker-a", "broker-b"])] == ["broker-a"]
    assert [g.group for g in book.group_figures(["broker-a"])] == ["G"]
    book.retain_brokers(["broker-b"])
    assert book.topics() == set()


def test_stalest_topics_are_refreshed_first_within_the_budget() -> None:
    book = OffsetBook()
    book.observe_topic("C", "b", "old", 1000, 1)
    book.observe_topic("C", "b", "older", 500, 1)
    book.observe_topic("C", "b", "fresh", 2000, 1)
    assert book.stalest("b", ["old", "older", "fresh", "never"], 2000, 2) == ["never", "older"]
    assert book.stalest("b", ["old", "older", "fresh", "never"], 2000, 10) == [
        "never",
        "older",
        "old",
    ]


def test_charts_leave_out_retry_dlq_and_system_topics() -> None:
    names = frozenset({"DefaultCluster", "broker-a"})
    assert is_chart_topic("Orders", names)
    for topic in (
        "%RETRY%G",
        "%DLQ%G",
        "TBW102",
        "SCHEDULE_TOPIC_XXXX",
        "RMQ_SYS_TRACE_TOPIC",
        "rmq_sys_SYNC_BROKER_MEMBER_x",
        "DefaultCluster",
        "broker-a",
    ):
        assert not is_chart_topic(topic, names), topic


def test_day_of_is_the_local_date() -> None:
    assert day_of(NOON) == DAY


# Producers, store-time latency and client statuses -------------------------------------
MASTER = "10.0.0.1:10911"
MQS = [MessageQueue("T", "broker-a", q) for q in range(3)]
BROKER_OFFSET = 9


class FakeAdmin:
    """One master: group G (clustering, clients c1 and c2) and B (broadcasting, c3) on T;
    the message at offset o of a queue was stored at `stored_at + o * 1000`."""

    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()
        self.asked: list[str] = []
        self.consumer_offsets = [2, 5, BROKER_OFFSET]
        self.min_stored = 0  # the queues' min offset
        self.stored_at = now_ms() - 3_600_000
        self.members = {"G": ["c1", "c2"], "B": ["c3"]}

    async def cluster_info(self) -> ClusterInfo:
        broker = BrokerData("C", "broker-a", {0: MASTER})
        return ClusterInfo({"broker-a": broker}, {"C": ["broker-a"]})

    async def get_broker_runtime_info(self, addr: str) -> dict[str, str]:
        return {}

    async def fetch_consume_stats_in_broker(self, addr: str) -> ConsumeStatsList:
        table = {
            mq: OffsetWrapper(BROKER_OFFSET, offset, 0)
            for mq, offset in zip(MQS, self.consumer_offsets, strict=True)
        }
        dlq = ConsumeStats({MessageQueue("%DLQ%G", "broker-a", 0): OffsetWrapper(3, 0, 0)})
        groups = [("G", [ConsumeStats(table), dlq]), ("B", [ConsumeStats(dict(table))])]
        return ConsumeStatsList(addr, 0, groups)

    async def get_all_topic_config(self, addr: str) -> dict[str, Any]:
        return {"topicConfigTable": {"T": {}}}

    async def view_broker_stats_data(self, addr: str, name: str, key: str) -> None:
        raise MQBrokerError(ResponseCode.SYSTEM_ERROR, "The stats not exist")

    async def get_all_producer_info(self, addr: str) -> dict[str, list[ProducerInfo]]:
        self.calls["producers"] += 1
        info = ProducerInfo("p", "/10.2.0.1:1", "JAVA", 409, 0)
        return {"PG": [info, info]}

    async def get_topic_stats_info(self, addr: str, topic: str) -> dict[MessageQueue, Any]:
        return {}

    async def get_consumer_connection(self, addr: str, group: str) -> ConsumerConnection:
        members = [
            ClientConnection(c, f"10.1.0.{c[1]}:1", "PYTHON", 409) for c in self.members[group]
        ]
        model = "BROADCASTING" if group == "B" else "CLUSTERING"
        return ConsumerConnection(members, {}, "CONSUME_PASSIVELY", model, "")

    async def get_consumer_running_info(
        self, group: str, client_id: str, jstack: bool = False, broker_addr: str | None = None
    ) -> ConsumerRunningInfo:
        assert broker_addr == MASTER
        self.calls["running_info"] += 1
        self.asked.append(client_id)
        status = {"pullTPS": 2.5, "consumeOKTPS": 1.5, "consumeRT": 4.0, "consumeFailedMsgs": 3}
        return ConsumerRunningInfo({}, [], {}, {"T": status}, None)

    async def min_offset(self, mq: MessageQueue, broker_addr: str | None = None) -> int:
        assert broker_addr == MASTER
        self.calls["min_offset"] += 1
        return self.min_stored

    async def invoke(
        self, addr: str, code: int, ext: dict[str, str], body: bytes = b"", timeout: Any = None
    ) -> RemotingCommand:
        assert code == RequestCode.PULL_MESSAGE and ext["consumerGroup"] == "TOOLS_CONSUMER"
        assert ext["maxMsgNums"] == "1" and int(ext["sysFlag"]) & 1 == 0  # never commits
        self.calls["pull"] += 1
        offset = int(ext["queueOffset"])
        if offset < self.min_stored:
            raise MQBrokerError(ResponseCode.PULL_OFFSET_MOVED, "offset moved")
        msg = MessageExt("T", b"x", queue_id=int(ext["queueId"]), queue_offset=offset,
                         store_timestamp=self.stored_at + offset * 1000)  # fmt: skip
        fields = {"nextBeginOffset": str(offset + 1), "minOffset": "0", "maxOffset": "9"}
        body = bytes(encode_record(msg))
        return RemotingCommand(0, flag=FLAG_RESPONSE, ext_fields=fields, body=body)  # SUCCESS


def _latency(snapshot: Snapshot) -> int | None:
    assert all((lat.group, lat.topic) == ("G", "T") for lat in snapshot.latencies)
    values = [lat.latency_ms for lat in snapshot.latencies]
    assert len(values) <= 1  # B is a broadcasting group, %DLQ%G a DLQ topic
    return values[0] if values else None


def _waited(admin: FakeAdmin, offset: int) -> tuple[int, int]:
    """The bounds of what the latency of the message at `offset` can be now."""
    waited = now_ms() - (admin.stored_at + offset * 1000)
    return waited - 5_000, waited


async def test_a_collection_reads_producers_latencies_and_clients_within_budgets(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(collector_module, "LATENCY_READS", 1)
    monkeypatch.setattr(collector_module, "RUNNING_INFO_CALLS", 1)
    admin = FakeAdmin()
    config = DashboardConfig("127.0.0.1:9", data_dir=tmp_path, admin_timeout=1.0)
    console = Console(config)
    await console.aclose()
    console.admin = admin  # type: ignore[assignment]
    collector = FiguresCollector(console)

    first = await collector.collect_once()
    assert first.producers == (ProducerCount("C", "broker-a", "PG", 2),)
    assert admin.calls["pull"] == 1 and _latency(first) is None  # one of two queues read
    second = await collector.collect_once()
    low, high = _waited(admin, 2)  # queue 0's message waited longest
    assert admin.calls["pull"] == 2 and low <= (_latency(second) or 0) <= high
    third = await collector.collect_once()
    assert admin.calls["pull"] == 2 and _latency(third) is not None  # offsets did not move
    assert admin.calls["producers"] == 3 and admin.calls["running_info"] == 3
    assert admin.asked == ["c3", "c1", "c2"]  # one a collection, those never asked first
    statuses = [(s.client_id, s.group, s.pull_tps, s.consume_failed_msgs) for s in third.clients]
    assert statuses == [("c3", "B", 2.5, 3), ("c1", "G", 2.5, 3), ("c2", "G", 2.5, 3)]

    admin.consumer_offsets = [BROKER_OFFSET, 1, BROKER_OFFSET]  # queue 1 went back below min
    admin.min_stored = 4
    admin.members["G"] = ["c1"]  # c2 left
    fourth = await collector.collect_once()
    low, high = _waited(admin, 4)  # the oldest message still stored
    assert (admin.calls["pull"], admin.calls["min_offset"]) == (4, 1)
    assert low <= (_latency(fourth) or 0) <= high
    assert "c2" not in {s.client_id for s in fourth.clients}

    admin.consumer_offsets = [BROKER_OFFSET] * 3  # caught up: 0 without a read
    assert _latency(await collector.collect_once()) == 0 and admin.calls["pull"] == 4


def test_latency_book_reads_moved_queues_of_the_stalest_entries_first() -> None:
    ref = BrokerRef("C", "b", 0, MASTER)
    lag = [OffsetWrapper(9, 1, 0), OffsetWrapper(9, 9, 0)]
    stats = ConsumeStatsList(MASTER, 0, [
        ("G", [ConsumeStats(dict(zip(MQS, lag, strict=False)))]),
        ("H", [ConsumeStats(dict(zip(MQS, lag, strict=False)))]),
        ("Cast", [ConsumeStats(dict(zip(MQS, lag, strict=False)))]),
    ])  # fmt: skip
    entries = lagging_queues([ref], {MASTER: stats}, frozenset({"Cast"}))
    assert sorted(entries) == [("C", "b", "T", "G"), ("C", "b", "T", "H")]
    assert [q.consumer_offset for q in entries[("C", "b", "T", "G")]] == [1]  # queue 1 caught up

    book = LatencyBook()
    (g_queue,) = book.due(entries, 1)
    assert g_queue.group == "G"
    book.learn(g_queue, 1_000)
    assert book.latencies(entries, 5_000) == {("C", "b", "T", "G"): 4_000}
    (h_queue,) = book.due(entries, 5)  # G is known at its offset: only H is read
    assert h_queue.group == "H"
    book.learn(h_queue, 0)  # nothing there: no wait
    assert book.latencies(entries, 6_000)[("C", "b", "T", "H")] == 0
