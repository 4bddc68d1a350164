"""The figures collector's pure parts: chart history files (rocketmq-dashboard's format),
rates from offset differences, today's counts, and which topics are refreshed first."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

import orjson
import pytest

from orbitmq.dashboard.figures import DayCounter, RateTracker, TopicDay, is_chart_topic
from orbitmq.dashboard.history import BROKER, TOPIC, ChartHistory, day_of
from orbitmq.dashboard.offset_book import OffsetBook

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
