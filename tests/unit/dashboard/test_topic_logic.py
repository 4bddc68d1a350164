"""The Topic and Producer pages' logic without a cluster: kinds, merging and searching the
list, the create form's checks and targets, outcome texts, reset times, and the list's
cache against a scripted admin (5,000 topics, a hung master)."""

from __future__ import annotations

import asyncio
import re
import time
from pathlib import Path
from typing import Any

import pytest
from starlette.datastructures import FormData
from starlette.testclient import TestClient

from orbitmq.client.admin import ClusterInfo
from orbitmq.client.admin_bodies import ClientConnection
from orbitmq.client.errors import RequestCodeNotSupportedError
from orbitmq.client.route import BrokerData
from orbitmq.dashboard.app import create_app
from orbitmq.dashboard.config import DashboardConfig
from orbitmq.dashboard.context import BrokerFailure, Console
from orbitmq.dashboard.pages.common import FormError, chosen_masters
from orbitmq.dashboard.pages.producer import producer_rows
from orbitmq.dashboard.pages.topic import (
    TopicListCache,
    filter_topics,
    merge_topics,
    outcome_text,
    parse_topic_form,
    topic_kind,
)
from orbitmq.dashboard.pages.topic_detail import parse_reset_time
from orbitmq.protocol.codes import ResponseCode

A, B, C = "127.0.0.1:10911", "127.0.0.1:10921", "127.0.0.1:10931"
INFO = ClusterInfo(
    {
        "broker-a": BrokerData("DefaultCluster", "broker-a", {0: A, 1: "127.0.0.1:10941"}),
        "broker-b": BrokerData("DefaultCluster", "broker-b", {0: B}),
        "broker-c": BrokerData("OtherCluster", "broker-c", {1: C}),  # its master is gone
    },
    {"DefaultCluster": ["broker-a", "broker-b"], "OtherCluster": ["broker-c"]},
)


# Kinds, merge, search ------------------------------------------------------------------
@pytest.mark.parametrize(
    ("topic", "kind"),
    [
        ("Orders", "normal"),
        ("%RETRY%cg", "retry"),
        ("%DLQ%cg", "dlq"),
        ("TBW102", "system"),
        ("RMQ_SYS_TRACE_TOPIC", "system"),
        ("rmq_sys_SYNC_BROKER_MEMBER_broker-a", "system"),
        ("DefaultCluster", "system"),
        ("rmq_Orders", "normal"),
    ],
)
def test_topic_kind(topic: str, kind: str) -> None:
    assert topic_kind(topic, frozenset({"DefaultCluster"})) == kind


def test_merge_topics_joins_masters_and_namesrv() -> None:
    configs = {
        "broker-a": {"Orders": {"writeQueueNums": 8, "readQueueNums": 8, "perm": 6}},
        "broker-b": {
            "Orders": {"writeQueueNums": 4, "readQueueNums": 4, "perm": 4, "order": True},
            "%RETRY%cg": {"writeQueueNums": 1, "readQueueNums": 1, "perm": 6},
        },
    }
    rows = merge_topics(configs, ["Orders", "OnlyInNamesrv"], frozenset())
    assert [r.name for r in rows] == ["%RETRY%cg", "OnlyInNamesrv", "Orders"]
    orders = rows[2]
    assert list(orders.configs) == ["broker-a", "broker-b"]
    assert (orders.write_queue_nums, orders.read_queue_nums) == (12, 12)
    assert orders.perms == "R-- RW-"
    assert orders.order
    only = rows[1]
    assert (only.configs, only.write_queue_nums, only.perms, only.order) == ({}, 0, "-", False)
    assert rows[0].kind == "retry"


def test_filter_topics_by_any_part_of_the_name_and_kind() -> None:
    rows = merge_topics(
        {}, ["OrderCreated", "order_paid", "%RETRY%orders", "TBW102", "Payments"], frozenset()
    )
    assert [r.name for r in filter_topics(rows, "ORDER", "")] == [
        "%RETRY%orders",
        "OrderCreated",
        "order_paid",
    ]
    assert [r.name for r in filter_topics(rows, "order", "normal")] == [
        "OrderCreated",
        "order_paid",
    ]
    assert [r.name for r in filter_topics(rows, "", "system")] == ["TBW102"]
    assert [r.name for r in filter_topics(rows, " paid ", "")] == ["order_paid"]
    assert filter_topics(rows, "nothing", "") == []


# The create form -----------------------------------------------------------------------
def form(**values: Any) -> FormData:
    base: dict[str, Any] = {
        "topic": "Orders",
        "write_queue_nums": "8",
        "read_queue_nums": "8",
        "perm": "6",
        "cluster": ["DefaultCluster"],
    }
    base.update(values)
    items = [(k, v) for k, vs in base.items() for v in (vs if isinstance(vs, list) else [vs])]
    return FormData(items)


def test_parse_topic_form_reads_every_field() -> None:
    spec = parse_topic_form(form(order="on", broker=["broker-b", " broker-b "], perm="4"))
    assert (spec.topic, spec.write_queue_nums, spec.read_queue_nums) == ("Orders", 8, 8)
    assert (spec.perm, spec.order) == (4, True)
    assert (spec.clusters, spec.brokers) == (["DefaultCluster"], ["broker-b"])
    assert parse_topic_form(form()).order is False


def test_parse_topic_form_message_type() -> None:
    assert parse_topic_form(form()).message_type == "NORMAL"  # rocketmq-dashboard's default
    assert parse_topic_form(form(message_type="FIFO")).message_type == "FIFO"
    with pytest.raises(FormError) as refused:
        parse_topic_form(form(message_type="UNSPECIFIED"))
    assert str(refused.value) == (
        "Message type must be one of NORMAL, FIFO, DELAY, TRANSACTION, MIXED, not 'UNSPECIFIED'."
    )


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"topic": ""}, "Topic name is required."),
        ({"topic": "bad name"}, "contains characters outside [%|a-zA-Z0-9_-]"),
        ({"topic": "x" * 128}, "longer than 127"),
        ({"write_queue_nums": "0"}, "Write queue number must be between 1 and 1024, not 0."),
        ({"read_queue_nums": "1025"}, "Read queue number must be between 1 and 1024, not 1025."),
        ({"read_queue_nums": "eight"}, "Read queue number must be a whole number, not 'eight'."),
        ({"perm": "7"}, "Perm must be 2 (write), 4 (read) or 6 (read and write), not '7'."),
        ({"cluster": []}, "Choose a cluster or at least one broker"),
    ],
)
def test_parse_topic_form_says_what_is_wrong(values: dict[str, Any], message: str) -> None:
    with pytest.raises(FormError) as caught:
        parse_topic_form(form(**values))
    assert message in str(caught.value)


HINT = "choose another broker."


def test_chosen_masters_are_masters_of_clusters_and_brokers() -> None:
    assert chosen_masters(INFO, ["DefaultCluster"], [], HINT) == [("broker-a", A), ("broker-b", B)]
    assert chosen_masters(INFO, [], ["broker-b"], HINT) == [("broker-b", B)]
    assert chosen_masters(INFO, ["DefaultCluster"], ["broker-a"], HINT) == [
        ("broker-a", A),
        ("broker-b", B),
    ]
    with pytest.raises(FormError, match=r"Cluster 'Nope' is unknown \(clusters: Default"):
        chosen_masters(INFO, ["Nope"], [], HINT)
    with pytest.raises(FormError, match=r"Broker 'broker-x' is unknown \(brokers: broker-a"):
        chosen_masters(INFO, [], ["broker-x"], HINT)
    with pytest.raises(FormError, match="Broker broker-c has no master online; choose"):
        chosen_masters(INFO, ["OtherCluster"], [], HINT)


def test_outcome_text_names_who_applied_and_who_failed() -> None:
    failure = BrokerFailure("broker-b", B, "CODE: 1 DESC: disk full")
    assert outcome_text("Topic T created", ["broker-a", "broker-b"], []) == (
        "Topic T created on broker-a, broker-b."
    )
    assert outcome_text("Topic T created", ["broker-a"], [failure]) == (
        f"Topic T created on broker-a; failed on broker-b ({B}): CODE: 1 DESC: disk full."
    )
    assert outcome_text("Topic T created", [], [failure]) == (
        f"Topic T created failed on broker-b ({B}): CODE: 1 DESC: disk full."
    )


def test_parse_reset_time() -> None:
    assert parse_reset_time("now") == -1
    assert parse_reset_time(" 1700000000000 ") == 1_700_000_000_000
    local = time.mktime(time.strptime("2024-05-01 10:00:00", "%Y-%m-%d %H:%M:%S"))
    assert parse_reset_time("2024-05-01 10:00:00") == int(local * 1000)
    assert parse_reset_time("2024-05-01T10:00") == int(local * 1000)
    with pytest.raises(FormError, match="Reset time is required"):
        parse_reset_time("")
    with pytest.raises(FormError, match="'yesterday' is not a date and time"):
        parse_reset_time("yesterday")


def test_producer_rows_show_the_version_name() -> None:
    rows = producer_rows([ClientConnection("10.0.0.1@1", "10.0.0.1:50000", "PYTHON", 409)])
    assert rows[0].version_desc == "V4_9_8"
    assert (rows[0].client_id, rows[0].client_addr, rows[0].language) == (
        "10.0.0.1@1",
        "10.0.0.1:50000",
        "PYTHON",
    )


# The list's cache against a scripted admin ---------------------------------------------
class ScriptedAdmin:
    """Two masters with `count` topics each (half shared); broker-b may hang."""

    def __init__(self, count: int, hang: str | None = None) -> None:
        self.count = count
        self.hang = hang
        self.calls: list[str] = []
        self.extra: list[str] = []

    async def cluster_info(self) -> ClusterInfo:
        self.calls.append("cluster_info")
        return ClusterInfo(
            {n: d for n, d in INFO.broker_addr_table.items() if n != "broker-c"},
            {"DefaultCluster": ["broker-a", "broker-b"]},
        )

    async def topic_list(self) -> list[str]:
        self.calls.append("topic_list")
        return ["TBW102", "DefaultCluster", *self.extra]

    async def get_system_topic_list_from_ns(self) -> list[str]:
        raise RequestCodeNotSupportedError(ResponseCode.REQUEST_CODE_NOT_SUPPORTED, "no")

    async def get_all_topic_config(self, addr: str) -> dict[str, Any]:
        self.calls.append(addr)
        if addr == self.hang:
            await asyncio.sleep(30)
        start = 0 if addr == A else self.count // 2
        table = {
            f"Topic{i:05d}": {"writeQueueNums": 4, "readQueueNums": 4, "perm": 6}
            for i in range(start, start + self.count)
        }
        return {"topicConfigTable": table}


def scripted_console(tmp_path: Path, admin: ScriptedAdmin) -> Console:
    console = Console(DashboardConfig("127.0.0.1:9876", data_dir=tmp_path, admin_timeout=0.3))
    console.admin = admin  # type: ignore[assignment]
    return console


def test_cache_loads_once_per_ttl_and_after_invalidate(tmp_path: Path) -> None:
    admin = ScriptedAdmin(5000)
    console = scripted_console(tmp_path, admin)
    cache = TopicListCache(ttl=60)

    async def scenario() -> None:
        lists = await asyncio.gather(*(cache.get(console) for _ in range(10)))
        assert all(listing is lists[0] for listing in lists)
        assert admin.calls.count(A) == 1  # ten requests, one load
        assert len(lists[0].rows) == 7500 + 2
        assert lists[0].row("Topic02600") is not None
        assert lists[0].failures == []
        admin.extra.append("NewTopic")
        assert (await cache.get(console)).row("NewTopic") is None
        cache.invalidate()
        assert (await cache.get(console)).row("NewTopic") is not None
        assert admin.calls.count(A) == 2

    asyncio.run(scenario())


def test_cache_reloads_when_stale(tmp_path: Path) -> None:
    admin = ScriptedAdmin(10)
    console = scripted_console(tmp_path, admin)
    cache = TopicListCache(ttl=0.05)

    async def scenario() -> None:
        await cache.get(console)
        await asyncio.sleep(0.1)
        await cache.get(console)

    asyncio.run(scenario())
    assert admin.calls.count(A) == 2


def test_list_page_with_5000_topics_and_a_hung_master(tmp_path: Path) -> None:
    admin = ScriptedAdmin(5000, hang=B)
    console = scripted_console(tmp_path, admin)
    with TestClient(create_app(console)) as client:
        started = time.monotonic()
        first = client.get("/topic", params={"q": "topic0", "kind": "normal", "page": "3"})
        elapsed = time.monotonic() - started
        assert first.status_code == 200
        assert elapsed < 2, f"{elapsed:.1f} s"
        assert f"Broker broker-b ({B}): did not answer within 0.3 s" in first.text
        shown = re.findall(r'<tr data-topic="([^"]+)"', first.text)
        assert shown == [f"Topic{i:05d}" for i in range(100, 150)]
        assert "Page 3 of 100 (5000 in all)" in first.text
        assert "?q=topic0&amp;kind=normal&amp;page=4" in first.text

        started = time.monotonic()
        again = client.get("/topic", params={"q": "00042"})
        assert time.monotonic() - started < 0.5  # from the cache, no broker call
        assert re.findall(r'<tr data-topic="([^"]+)"', again.text) == ["Topic00042"]
    assert admin.calls.count(A) == 1
