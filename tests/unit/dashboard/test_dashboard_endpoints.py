"""The Dashboard's JSON endpoints and /metrics over a collector's snapshot and history,
through the ASGI app (no broker is called: both only read what the collector holds)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families
from starlette.testclient import TestClient

from orbitmq.client.admin import ClusterInfo
from orbitmq.client.route import BrokerData
from orbitmq.dashboard.app import create_app
from orbitmq.dashboard.collector import FiguresCollector, broker_refs, mean_tps, now_ms
from orbitmq.dashboard.config import DashboardConfig
from orbitmq.dashboard.context import Console
from orbitmq.dashboard.figures import BrokerFigures, BrokerRef, Snapshot, TopicDay
from orbitmq.dashboard.history import day_of

REF = BrokerRef("C", "broker-a", 0, "127.0.0.1:10911")
RUNTIME = {
    "msgPutTotalTodayNow": "70",
    "msgPutTotalTodayMorning": "20",
    "msgPutTotalYesterdayMorning": "5",
    "msgGetTotalTodayNow": "9",
    "msgGetTotalTodayMorning": "0",
    "getTotalTps": "3.0 2.0 1.0",
}


@pytest.fixture
def client(tmp_path: Path) -> Iterator[tuple[TestClient, FiguresCollector]]:
    console = Console(DashboardConfig("127.0.0.1:1", data_dir=tmp_path, login_required=False))
    collector = FiguresCollector(console)
    app = create_app(console)
    app.state.collector = collector
    with TestClient(app) as test_client:
        yield test_client, collector
    asyncio.run(console.aclose())


def _collected(collector: FiguresCollector) -> int:
    ms = now_ms()
    collector.snapshot = Snapshot(ms, brokers=(BrokerFigures(REF, RUNTIME),))
    topics = {f"T{i}": TopicDay(1.0, 10 * i, 0.5, i).chart_point(ms) for i in range(12)}
    collector.history.add(ms - 60_000, {REF.key: 1.0}, {})
    collector.history.add(ms, {REF.key: 2.0}, topics)
    return ms


def test_broker_json_has_the_table_and_the_days_trend(client) -> None:  # type: ignore[no-untyped-def]
    http, collector = client
    ms = _collected(collector)
    body = http.get("/dashboard/broker.json").json()
    assert body["date"] == day_of(ms) and body["collectedAt"] == ms
    assert body["brokers"] == [
        {
            "broker": "broker-a:0",
            "addr": REF.addr,
            "answered": True,
            "producedToday": 50,
            "producedYesterday": 15,
            "consumedToday": 9,
        }
    ]
    assert body["series"] == [{"name": "broker-a:0", "points": [[ms - 60_000, 1.0], [ms, 2.0]]}]


def test_topic_json_ranks_the_top_10_and_gives_one_topics_trend(client) -> None:  # type: ignore[no-untyped-def]
    http, collector = client
    ms = _collected(collector)
    body = http.get("/dashboard/topic.json", params={"names": "1"}).json()
    assert [t["topic"] for t in body["top"]] == [f"T{i}" for i in range(11, 1, -1)]
    assert body["top"][0] == {"topic": "T11", "inToday": 110, "outToday": 11}
    assert body["topic"] == "T11" and body["points"] == [[ms, 1.0, 110, 0.5, 11]]
    assert len(body["names"]) == 12
    chosen = http.get("/dashboard/topic.json", params={"topic": "T3"}).json()
    assert chosen["points"] == [[ms, 1.0, 30, 0.5, 3]] and "names" not in chosen


def test_a_day_without_data_is_empty_and_a_bad_date_says_why(client) -> None:  # type: ignore[no-untyped-def]
    http, _ = client
    empty = http.get("/dashboard/topic.json", params={"date": "2001-01-01"})
    assert empty.status_code == 200 and empty.json()["top"] == []
    assert http.get("/dashboard/broker.json", params={"date": "2001-01-01"}).json()["series"] == []
    bad = http.get("/dashboard/broker.json", params={"date": "../x"})
    assert bad.status_code == 400 and "YYYY-MM-DD" in bad.json()["error"]
    page = http.get("/", params={"date": "yesterday"})
    assert page.status_code == 200 and "The date must be YYYY-MM-DD" in page.text


def test_home_page_and_metrics_before_and_after_a_collection(client) -> None:  # type: ignore[no-untyped-def]
    http, collector = client
    page = http.get("/")
    assert "The first collection is under way" in page.text
    assert "/static/vendor/plotly/plotly.min.js" in page.text
    metrics = http.get("/metrics")
    assert metrics.status_code == 200
    assert all(not f.samples for f in text_string_to_metric_families(metrics.text))
    _collected(collector)
    assert 'data-addr="127.0.0.1:10911"' in http.get("/").text
    families = {f.name: f for f in text_string_to_metric_families(http.get("/metrics").text)}
    assert families["rocketmq_brokeruntime_msg_put_total_today_now"].samples[0].value == 70
    assert http.get("/static/dashboard.js").status_code == 200


def test_broker_refs_and_the_broker_chart_value() -> None:
    info = ClusterInfo(
        {
            "broker-b": BrokerData("C", "broker-b", {0: "b0", 1: "b1"}),
            "broker-a": BrokerData("C", "broker-a", {1: "a1", 0: "a0"}),
        },
        {"C": ["broker-a", "broker-b"]},
    )
    keys = [r.key for r in broker_refs(info)]
    assert keys == ["broker-a:0", "broker-a:1", "broker-b:0", "broker-b:1"]
    assert mean_tps("3.0 2.0 1.0") == 2.0  # rocketmq-dashboard charts the mean of getTotalTps
    assert mean_tps("") is None and mean_tps("x y") is None
