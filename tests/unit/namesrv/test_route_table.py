"""RouteTable: registration bookkeeping, removal and expiry, with time passed in."""

from __future__ import annotations

from orbitmq.namesrv.route_data import (
    DataVersion,
    QueueData,
    RegisterBrokerBody,
    RegisterBrokerResult,
    TopicConfig,
)
from orbitmq.namesrv.route_table import RouteTable

T0 = 1_700_000_000_000
MASTER = "10.0.0.1:10911"
SLAVE = "10.0.0.2:10911"


def body(*topics: TopicConfig, counter: int = 1) -> RegisterBrokerBody:
    return RegisterBrokerBody(DataVersion(T0, counter), {t.topic_name: t for t in topics})


def register(
    table: RouteTable,
    addr: str = MASTER,
    broker_id: int = 0,
    name: str = "broker-a",
    cluster: str = "DefaultCluster",
    reg_body: RegisterBrokerBody | None = None,
    now: int = T0,
    key: object | None = None,
) -> RegisterBrokerResult:
    ha = addr.rsplit(":", 1)[0] + ":10912"
    return table.register_broker(cluster, addr, name, broker_id, ha, reg_body, now, key)


def test_master_registration_creates_route() -> None:
    table = RouteTable()
    result = register(table, reg_body=body(TopicConfig("TopicTest", 4, 4, 6)))
    assert result == RegisterBrokerResult()
    route = table.pick_topic_route("TopicTest")
    assert route is not None
    assert route.queue_datas == [QueueData("broker-a", 4, 4, 6, 0)]
    assert [(b.cluster, b.broker_name, b.broker_addrs) for b in route.broker_datas] == [
        ("DefaultCluster", "broker-a", {0: MASTER})
    ]
    assert table.cluster_info().cluster_addr_table == {"DefaultCluster": ["broker-a"]}
    assert table.pick_topic_route("Other") is None


def test_route_is_a_copy() -> None:
    table = RouteTable()
    register(table, reg_body=body(TopicConfig("T", 4, 4, 6)))
    route = table.pick_topic_route("T")
    assert route is not None
    route.broker_datas[0].broker_addrs[5] = "x"
    route.queue_datas[0].perm = 0
    assert table.broker_addr_table["broker-a"].broker_addrs == {0: MASTER}
    assert table.topic_queue_table["T"]["broker-a"].perm == 6


def test_tbw102_is_served_like_any_topic() -> None:
    table = RouteTable()
    register(table, reg_body=body(TopicConfig("TBW102", 8, 8, 7)))
    route = table.pick_topic_route("TBW102")
    assert route is not None and route.queue_datas[0].perm == 7


def test_slave_gets_master_address_only_when_master_alive() -> None:
    table = RouteTable()
    assert register(table, SLAVE, 1) == RegisterBrokerResult()
    register(table, MASTER, 0)
    assert register(table, SLAVE, 1) == RegisterBrokerResult(MASTER, "10.0.0.1:10912")
    assert table.broker_addr_table["broker-a"].broker_addrs == {0: MASTER, 1: SLAVE}


def test_slave_topic_configs_are_ignored() -> None:
    table = RouteTable()
    register(table, SLAVE, 1, reg_body=body(TopicConfig("T")))
    assert table.pick_topic_route("T") is None


def test_address_reregistering_under_new_id_replaces_old_id() -> None:
    table = RouteTable()
    register(table, MASTER, 0)
    register(table, SLAVE, 1)
    table.unregister_broker("DefaultCluster", MASTER, "broker-a", 0)
    register(table, SLAVE, 0)  # slave promoted
    assert table.broker_addr_table["broker-a"].broker_addrs == {0: SLAVE}


def test_queue_data_upserted_only_when_data_version_changes() -> None:
    table = RouteTable()
    register(table, reg_body=body(TopicConfig("T", 4, 4, 6), counter=1))
    assert table.wipe_write_perm("broker-a") == 1
    # Same version: the NameServer keeps the operator's wiped perm.
    register(table, reg_body=body(TopicConfig("T", 4, 4, 6), counter=1), now=T0 + 30_000)
    assert table.topic_queue_table["T"]["broker-a"].perm == 4
    # New version: the broker's topic configs win again.
    register(table, reg_body=body(TopicConfig("T", 8, 8, 6), counter=2), now=T0 + 60_000)
    assert table.topic_queue_table["T"]["broker-a"] == QueueData("broker-a", 8, 8, 6, 0)


def test_unregister_last_address_drops_queue_data_and_empty_topics() -> None:
    table = RouteTable()
    register(table, reg_body=body(TopicConfig("T"), TopicConfig("Shared")))
    register(table, "10.0.0.3:10911", 0, name="broker-b", reg_body=body(TopicConfig("Shared")))
    table.unregister_broker("DefaultCluster", MASTER, "broker-a", 0)
    assert table.all_topics() == ["Shared"]
    route = table.pick_topic_route("Shared")
    assert route is not None and [q.broker_name for q in route.queue_datas] == ["broker-b"]
    assert table.cluster_info().cluster_addr_table == {"DefaultCluster": ["broker-b"]}
    assert MASTER not in table.broker_live_table


def test_surviving_slave_keeps_route_without_master() -> None:
    table = RouteTable()
    register(table, MASTER, 0, reg_body=body(TopicConfig("T")))
    register(table, SLAVE, 1)
    table.unregister_broker("DefaultCluster", MASTER, "broker-a", 0)
    route = table.pick_topic_route("T")
    assert route is not None
    assert route.broker_datas[0].broker_addrs == {1: SLAVE}


def test_expiry_after_120_seconds() -> None:
    table = RouteTable()
    register(table, MASTER, 0, reg_body=body(TopicConfig("T")), now=T0)
    register(table, SLAVE, 1, now=T0 + 60_000)
    assert table.expire_inactive(T0 + 120_000) == []
    assert table.expire_inactive(T0 + 121_000) == [MASTER]
    assert table.broker_addr_table["broker-a"].broker_addrs == {1: SLAVE}
    assert table.expire_inactive(T0 + 181_000) == [SLAVE]
    assert table.pick_topic_route("T") is None
    assert table.cluster_info().cluster_addr_table == {}
    assert table.broker_live_table == {}


def test_touch_keeps_broker_alive() -> None:
    table = RouteTable()
    register(table, now=T0)
    table.touch_broker(MASTER, T0 + 100_000)
    assert table.expire_inactive(T0 + 121_000) == []


def test_connection_close_drops_only_brokers_registered_over_it() -> None:
    table = RouteTable()
    register(table, MASTER, 0, reg_body=body(TopicConfig("T")), key="conn-1")
    register(table, SLAVE, 1, key="conn-2")
    assert table.on_connection_closed("conn-1") == [MASTER]
    assert table.broker_addr_table["broker-a"].broker_addrs == {1: SLAVE}
    # The broker re-registered over a new connection: the old one closing changes nothing.
    register(table, MASTER, 0, key="conn-3")
    assert table.on_connection_closed("conn-1") == []
    assert table.on_connection_closed("conn-3") == [MASTER]


def test_topics_by_cluster_and_delete_topic() -> None:
    table = RouteTable()
    register(table, MASTER, 0, cluster="c1", reg_body=body(TopicConfig("A"), TopicConfig("S")))
    register(table, "10.0.0.9:1", 0, name="b", cluster="c2", reg_body=body(TopicConfig("S")))
    assert table.topics_by_cluster("c1") == ["A", "S"]
    assert table.topics_by_cluster("c2") == ["S"]
    assert table.topics_by_cluster("nope") == []
    table.delete_topic("S", "c1")
    assert list(table.topic_queue_table["S"]) == ["b"]
    table.delete_topic("S", "c2")
    assert "S" not in table.topic_queue_table
    table.delete_topic("A")
    assert table.all_topics() == []
    table.delete_topic("missing", "c1")  # no error


def test_wipe_and_add_write_perm_counts() -> None:
    table = RouteTable()
    register(table, reg_body=body(TopicConfig("A", perm=7), TopicConfig("B", perm=6)))
    assert table.wipe_write_perm("broker-a") == 2
    assert {q["broker-a"].perm for q in table.topic_queue_table.values()} == {5, 4}
    assert table.add_write_perm("broker-a") == 2
    assert {q["broker-a"].perm for q in table.topic_queue_table.values()} == {6}
    assert table.wipe_write_perm("unknown") == 0


def test_data_version_bookkeeping() -> None:
    table = RouteTable()
    version = DataVersion(T0, 3)
    assert table.is_broker_topic_config_changed(MASTER, version)
    register(table, reg_body=RegisterBrokerBody(version))
    assert not table.is_broker_topic_config_changed(MASTER, version)
    assert table.is_broker_topic_config_changed(MASTER, DataVersion(T0, 4))
    assert table.query_broker_data_version(MASTER) == version
    assert table.query_broker_data_version(SLAVE) is None
