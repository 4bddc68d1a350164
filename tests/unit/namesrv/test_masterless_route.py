"""Broker sets without a master: their queues stay in routes (consumers read them from the
slave), each route answer naming one is reported once per topic until a master registers,
and a slave registering before its master is logged as such."""

from __future__ import annotations

import logging

import pytest

from orbitmq.namesrv.route_data import DataVersion, RegisterBrokerBody, TopicConfig
from orbitmq.namesrv.route_table import RouteTable
from orbitmq.protocol.codes import RequestCode, ResponseCode
from tests.unit.namesrv.test_handlers import MASTER, Harness

T0 = 1_700_000_000_000
SLAVE = "10.0.0.2:10911"
TOPICS = RegisterBrokerBody(
    DataVersion(T0, 1), {t: TopicConfig(t, 4, 4, 6) for t in ("TopicA", "TopicB")}
)


def register(table: RouteTable, addr: str, broker_id: int, key: object = None) -> None:
    body = TOPICS if broker_id == 0 else RegisterBrokerBody()
    table.register_broker("C", addr, "broker-a", broker_id, addr, body, T0, key)


def masterless(table: RouteTable, topic: str) -> list[tuple[str, dict[int, str]]]:
    return [(b.broker_name, b.broker_addrs) for b in table.take_masterless_sets(topic)]


def test_a_set_with_its_master_is_never_reported() -> None:
    table = RouteTable()
    register(table, MASTER, 0)
    register(table, SLAVE, 1)
    assert masterless(table, "TopicA") == []


def test_a_set_that_lost_its_master_is_reported_once_per_topic() -> None:
    table = RouteTable()
    register(table, MASTER, 0, key="master-connection")
    register(table, SLAVE, 1)
    table.on_connection_closed("master-connection")
    route = table.pick_topic_route("TopicA")
    assert route is not None and [q.write_queue_nums for q in route.queue_datas] == [4]
    assert masterless(table, "TopicA") == [("broker-a", {1: SLAVE})]
    assert masterless(table, "TopicA") == []
    assert masterless(table, "TopicB") == [("broker-a", {1: SLAVE})]
    assert masterless(table, "Unknown") == []


def test_a_returning_master_ends_the_report_and_a_new_loss_starts_one() -> None:
    table = RouteTable()
    register(table, MASTER, 0)
    register(table, SLAVE, 1)
    table.unregister_broker("C", MASTER, "broker-a", 0)
    assert masterless(table, "TopicA") != []
    register(table, MASTER, 0)
    register(table, SLAVE, 1)  # an unchanged slave registration changes nothing
    assert masterless(table, "TopicA") == []
    table.expire_inactive(T0 + table.broker_expired_ms + 1)  # both go: the set is dropped
    assert table.pick_topic_route("TopicA") is None
    assert masterless(table, "TopicA") == []
    register(table, MASTER, 0)
    register(table, SLAVE, 1)
    table.unregister_broker("C", MASTER, "broker-a", 0)
    assert masterless(table, "TopicA") == [("broker-a", {1: SLAVE})]


def test_route_answer_logs_a_set_without_master_once(caplog: pytest.LogCaptureFixture) -> None:
    h = Harness()
    h.register()
    h.register(broker_id="1", addr=SLAVE)
    h.table.unregister_broker("DefaultCluster", MASTER, "broker-a", 0)
    with caplog.at_level(logging.WARNING, logger="orbitmq.namesrv"):
        for _ in range(3):
            response = h.call(RequestCode.GET_ROUTEINFO_BY_TOPIC, topic="TopicTest")
            assert response.code == ResponseCode.SUCCESS
    warnings = [r.getMessage() for r in caplog.records]
    assert warnings == [
        f"route of topic TopicTest: broker set broker-a has no master (only id 1 {SLAVE}), "
        "so producers have no address for its queues until a master registers"
    ]


def test_a_slave_registering_before_its_master_is_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    h = Harness()
    with caplog.at_level(logging.INFO, logger="orbitmq.namesrv"):
        slave = h.register(broker_id="1", addr=SLAVE)
        h.register()
        again = h.register(broker_id="1", addr=SLAVE)
    assert "masterAddr" not in slave.ext_fields and again.ext_fields["masterAddr"] == MASTER
    assert [(r.levelname, r.getMessage()) for r in caplog.records] == [
        (
            "WARNING",
            f"new broker registered: DefaultCluster/broker-a id 1 {SLAVE}, but no master of "
            "broker-a is registered: the slave learns its master only from a later "
            "registration",
        ),
        ("INFO", f"new broker registered: DefaultCluster/broker-a id 0 {MASTER}"),
    ]
