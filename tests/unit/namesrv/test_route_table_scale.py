"""RouteTable costs follow what changed: no operation on one broker set scans the topics
of all the others, and an unchanged DataVersion needs no topic configs."""

from __future__ import annotations

from typing import Any, NoReturn

import pytest

from orbitmq.namesrv.route_data import DataVersion, RegisterBrokerBody, TopicConfig
from orbitmq.namesrv.route_table import RouteTable

T0 = 1_700_000_000_000
CLUSTER = "DefaultCluster"


class NoScanDict(dict):  # type: ignore[type-arg]
    """A topic table that fails the test when anything walks all of it."""

    def _scan(self, *_args: Any) -> NoReturn:
        raise AssertionError("the whole topic table was scanned")

    __iter__ = keys = values = items = _scan  # type: ignore[assignment]


def addr(n: int) -> str:
    return f"10.0.0.{n}:10911"


def register(table: RouteTable, n: int, topics: list[str], cluster: str = CLUSTER) -> None:
    configs = {t: TopicConfig(t, 8, 8, 6) for t in topics}
    body = RegisterBrokerBody(DataVersion(T0, 1), configs)
    table.register_broker(cluster, addr(n), f"broker-{n}", 0, "x:1", body, T0, n)


@pytest.fixture
def table() -> RouteTable:
    """broker-1 serves 2 topics of its own and a shared one; broker-2 1,000 and the shared."""
    table = RouteTable()
    register(table, 1, ["A1", "A2", "Shared"])
    register(table, 2, [f"B{i}" for i in range(1000)] + ["Shared"])
    table.topic_queue_table = NoScanDict(table.topic_queue_table)
    return table


def test_dropping_a_broker_set_touches_only_its_topics(table: RouteTable) -> None:
    table.unregister_broker(CLUSTER, addr(1), "broker-1", 0)
    assert "A1" not in table.topic_queue_table and "A2" not in table.topic_queue_table
    assert set(table.topic_queue_table["Shared"].keys()) == {"broker-2"}
    assert "B999" in table.topic_queue_table
    assert "broker-1" not in table.broker_topics


def test_connection_close_and_expiry_touch_only_their_topics(table: RouteTable) -> None:
    assert table.on_connection_closed(1) == [addr(1)]
    assert table.expire_inactive(T0 + 10**9) == [addr(2)]
    assert not dict.__len__(table.topic_queue_table)
    assert table.broker_topics == {}


def test_write_perm_changes_touch_only_the_sets_topics(table: RouteTable) -> None:
    assert table.wipe_write_perm("broker-1") == 3
    assert table.topic_queue_table["Shared"]["broker-1"].perm == 4
    assert table.topic_queue_table["Shared"]["broker-2"].perm == 6
    assert table.add_write_perm("broker-1") == 3
    assert table.topic_queue_table["A1"]["broker-1"].perm == 6


def test_cluster_topics_come_from_the_clusters_sets(table: RouteTable) -> None:
    register(table, 3, ["C1", "Shared"], "Other")
    assert table.topics_by_cluster("Other") == ["C1", "Shared"]
    assert len(table.topics_by_cluster(CLUSTER)) == 1003


def test_delete_topic_keeps_the_index(table: RouteTable) -> None:
    table.delete_topic("Shared", CLUSTER)
    table.delete_topic("A1")
    assert table.broker_topics["broker-1"] == {"A2"}
    assert "Shared" not in table.broker_topics["broker-2"]
    table.unregister_broker(CLUSTER, addr(1), "broker-1", 0)
    assert "A2" not in table.topic_queue_table


def test_topic_configs_are_wanted_only_when_they_count() -> None:
    table = RouteTable()
    version = DataVersion(T0, 1)
    assert table.wants_topic_configs(addr(1), "broker-1", 0, version)  # first registration
    register(table, 1, ["A1"])
    assert not table.wants_topic_configs(addr(1), "broker-1", 0, version)
    assert table.wants_topic_configs(addr(1), "broker-1", 0, DataVersion(T0, 2))
    assert not table.wants_topic_configs(addr(3), "broker-1", 1, DataVersion(T0, 2))  # slave
    # The set's master at a new address: nothing is known of that address yet.
    assert table.wants_topic_configs(addr(3), "broker-1", 0, version)
