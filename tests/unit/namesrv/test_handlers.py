"""Handlers driven through the real RequestDispatcher with a recording fake connection."""

from __future__ import annotations

import zlib
from typing import Any

import orjson
import pytest

from orbitmq.namesrv.config import NamesrvConfig
from orbitmq.namesrv.handlers import NamesrvHandlers
from orbitmq.namesrv.kv_config import KvConfigManager
from orbitmq.namesrv.route_table import RouteTable
from orbitmq.protocol.codes import RequestCode, ResponseCode
from orbitmq.protocol.command import RemotingCommand
from orbitmq.remoting.dispatch import RequestDispatcher

T0 = 1_700_000_000_000
MASTER = "10.0.0.1:10911"
REGISTER_BODY = orjson.dumps(
    {
        "filterServerList": [],
        "topicConfigSerializeWrapper": {
            "dataVersion": {"counter": 1, "timestamp": T0},
            "topicConfigTable": {
                "TopicTest": {
                    "topicName": "TopicTest",
                    "readQueueNums": 4,
                    "writeQueueNums": 4,
                    "perm": 6,
                    "topicSysFlag": 0,
                },
            },
        },
    }
)


class FakeConnection:
    def __init__(self) -> None:
        self.attributes: dict[str, Any] = {}
        self.peer_address = "127.0.0.1:5555"
        self.sent: list[RemotingCommand] = []

    def send(self, command: RemotingCommand) -> None:
        self.sent.append(command)


class Harness:
    def __init__(self, config: NamesrvConfig | None = None) -> None:
        self.now = T0
        self.config = config or NamesrvConfig()
        self.table = RouteTable()
        self.kv = KvConfigManager(None)
        self.handlers = NamesrvHandlers(self.table, self.kv, self.config, clock=lambda: self.now)
        self.dispatcher = RequestDispatcher("test")
        self.handlers.register(self.dispatcher)
        self.connection = FakeConnection()

    def call(self, code: int, body: bytes = b"", version: int = 409, **ext: str) -> RemotingCommand:
        request = RemotingCommand.request(code, dict(ext), body)
        request.version = version
        request.opaque = 42
        self.dispatcher.dispatch(self.connection, request)  # type: ignore[arg-type]
        response = self.connection.sent.pop()
        assert response.opaque == 42 and response.is_response
        assert all(isinstance(v, str) for v in response.ext_fields.values())
        return response

    def register(self, broker_id: str = "0", addr: str = MASTER, **ext: str) -> RemotingCommand:
        fields = {
            "brokerName": "broker-a",
            "brokerAddr": addr,
            "clusterName": "DefaultCluster",
            "haServerAddr": addr.replace("10911", "10912"),
            "brokerId": broker_id,
        }
        fields.update(ext)
        return self.call(RequestCode.REGISTER_BROKER, REGISTER_BODY, **fields)


@pytest.fixture
def h() -> Harness:
    return Harness()


def test_register_then_route(h: Harness) -> None:
    response = h.register()
    assert (response.code, response.ext_fields, response.body) == (0, {}, b"")
    route = h.call(RequestCode.GET_ROUTEINFO_BY_TOPIC, topic="TopicTest")
    assert route.code == ResponseCode.SUCCESS
    doc = orjson.loads(route.body)
    assert doc["brokerDatas"][0]["brokerAddrs"] == {"0": MASTER}
    assert doc["queueDatas"][0]["writeQueueNums"] == 4
    assert h.table.broker_live_table[MASTER].connection_key is not None


def test_slave_register_gets_master_and_ha_address(h: Harness) -> None:
    h.register()
    response = h.register("1", "10.0.0.2:10911")
    assert response.ext_fields == {"masterAddr": MASTER, "haServerAddr": "10.0.0.1:10912"}


def test_register_crc32(h: Harness) -> None:
    good = zlib.crc32(REGISTER_BODY) & 0x7FFFFFFF
    assert h.register(bodyCrc32=str(good)).code == ResponseCode.SUCCESS
    bad = h.register(bodyCrc32=str(good ^ 1))
    assert (bad.code, bad.remark) == (ResponseCode.SYSTEM_ERROR, "crc32 not match")


def test_register_compressed_flag_with_plain_body_fails_cleanly(h: Harness) -> None:
    response = h.register(compressed="true")
    assert response.code == ResponseCode.SYSTEM_ERROR
    assert "RegisterBrokerBody" in (response.remark or "")


@pytest.mark.parametrize("missing", ["brokerName", "brokerAddr", "clusterName", "brokerId"])
def test_register_missing_field_named(h: Harness, missing: str) -> None:
    fields = {
        "brokerName": "b",
        "brokerAddr": MASTER,
        "clusterName": "c",
        "haServerAddr": "x:1",
        "brokerId": "0",
    }
    del fields[missing]
    response = h.call(RequestCode.REGISTER_BROKER, REGISTER_BODY, **fields)
    assert response.code == ResponseCode.SYSTEM_ERROR
    assert f"<{missing}>" in (response.remark or "")


def test_register_bad_broker_id_named(h: Harness) -> None:
    response = h.register(broker_id="zero")
    assert response.code == ResponseCode.SYSTEM_ERROR
    assert "brokerId" in (response.remark or "")


def test_route_not_found(h: Harness) -> None:
    response = h.call(RequestCode.GET_ROUTEINFO_BY_TOPIC, topic="Nope")
    assert response.code == ResponseCode.TOPIC_NOT_EXIST
    assert response.remark == (
        "No topic route info in name server for the topic: Nope"
        "\nSee http://rocketmq.apache.org/docs/faq/ for further details."
    )
    assert response.ext_fields == {}
    missing = h.call(RequestCode.GET_ROUTEINFO_BY_TOPIC)
    assert missing.code == ResponseCode.SYSTEM_ERROR and "<topic>" in (missing.remark or "")


def test_order_topic_conf_when_enabled() -> None:
    h = Harness(NamesrvConfig(order_message_enable=True))
    h.register()
    h.call(
        RequestCode.PUT_KV_CONFIG,
        namespace="ORDER_TOPIC_CONFIG",
        key="TopicTest",
        value="broker-a:4",
    )
    doc = orjson.loads(h.call(RequestCode.GET_ROUTEINFO_BY_TOPIC, topic="TopicTest").body)
    assert doc["orderTopicConf"] == "broker-a:4"
    # The broker gets the namespace back in its registration response.
    assert orjson.loads(h.register().body) == {"table": {"TopicTest": "broker-a:4"}}


def test_unregister(h: Harness) -> None:
    h.register()
    response = h.call(
        RequestCode.UNREGISTER_BROKER,
        brokerName="broker-a",
        brokerAddr=MASTER,
        clusterName="DefaultCluster",
        brokerId="0",
    )
    assert response.code == ResponseCode.SUCCESS
    assert h.call(RequestCode.GET_ROUTEINFO_BY_TOPIC, topic="TopicTest").code == 17


def test_query_data_version(h: Harness) -> None:
    h.register()
    ext = {
        "brokerName": "broker-a",
        "brokerAddr": MASTER,
        "clusterName": "DefaultCluster",
        "brokerId": "0",
    }
    h.now = T0 + 100_000
    same = h.call(RequestCode.QUERY_DATA_VERSION, b'{"counter":1,"timestamp":%d}' % T0, **ext)
    assert same.ext_fields == {"changed": "false"}
    assert orjson.loads(same.body) == {"counter": 1, "timestamp": T0}
    assert h.table.broker_live_table[MASTER].last_update_ms == T0 + 100_000
    newer = h.call(RequestCode.QUERY_DATA_VERSION, b'{"counter":2,"timestamp":%d}' % T0, **ext)
    assert newer.ext_fields == {"changed": "true"}


def test_cluster_info_and_topic_lists(h: Harness) -> None:
    h.register()
    info = orjson.loads(h.call(RequestCode.GET_BROKER_CLUSTER_INFO).body)
    assert info["clusterAddrTable"] == {"DefaultCluster": ["broker-a"]}
    all_topics = h.call(RequestCode.GET_ALL_TOPIC_LIST_FROM_NAMESERVER)
    assert all_topics.body == b'{"topicList":["TopicTest"]}'
    by_cluster = h.call(RequestCode.GET_TOPICS_BY_CLUSTER, cluster="DefaultCluster")
    assert orjson.loads(by_cluster.body) == {"topicList": ["TopicTest"]}
    assert h.call(RequestCode.DELETE_TOPIC_IN_NAMESRV, topic="TopicTest").code == 0
    assert h.call(RequestCode.GET_ALL_TOPIC_LIST_FROM_NAMESERVER).body == b'{"topicList":[]}'


def test_write_perm_counts(h: Harness) -> None:
    h.register()
    wipe = h.call(RequestCode.WIPE_WRITE_PERM_OF_BROKER, brokerName="broker-a")
    assert wipe.ext_fields == {"wipeTopicCount": "1"}
    add = h.call(RequestCode.ADD_WRITE_PERM_OF_BROKER, brokerName="broker-a")
    assert add.ext_fields == {"addTopicCount": "1"}
    none = h.call(RequestCode.WIPE_WRITE_PERM_OF_BROKER, brokerName="other")
    assert none.ext_fields == {"wipeTopicCount": "0"}


def test_kv_config(h: Harness) -> None:
    put = h.call(RequestCode.PUT_KV_CONFIG, namespace="ns", key="k", value="v")
    assert (put.code, put.ext_fields) == (0, {})
    assert h.call(RequestCode.GET_KV_CONFIG, namespace="ns", key="k").ext_fields == {"value": "v"}
    listed = h.call(RequestCode.GET_KVLIST_BY_NAMESPACE, namespace="ns")
    assert listed.body == b'{"table":{"k":"v"}}'
    assert h.call(RequestCode.DELETE_KV_CONFIG, namespace="ns", key="k").code == 0
    gone = h.call(RequestCode.GET_KV_CONFIG, namespace="ns", key="k")
    assert (gone.code, gone.remark) == (22, "No config item, Namespace: ns Key: k")
    empty = h.call(RequestCode.GET_KVLIST_BY_NAMESPACE, namespace="ns")
    assert (empty.code, empty.remark) == (22, "No config item, Namespace: ns")
    no_value = h.call(RequestCode.PUT_KV_CONFIG, namespace="ns", key="k")
    assert no_value.code == 1 and "<value>" in (no_value.remark or "")


def test_namesrv_config_get_and_update(h: Harness) -> None:
    text = h.call(RequestCode.GET_NAMESRV_CONFIG).body.decode()
    assert "listenPort=9876\n" in text and "orderMessageEnable=false\n" in text
    assert h.call(RequestCode.UPDATE_NAMESRV_CONFIG, b"orderMessageEnable=true\n").code == 0
    assert h.config.order_message_enable is True
    locked = h.call(RequestCode.UPDATE_NAMESRV_CONFIG, b"kvConfigPath=/tmp/x\n")
    assert locked.code == ResponseCode.NO_PERMISSION and "kvConfigPath" in (locked.remark or "")
    bad = h.call(RequestCode.UPDATE_NAMESRV_CONFIG, b"listenPort=abc\n")
    assert bad.code == ResponseCode.SYSTEM_ERROR and "listenPort" in (bad.remark or "")
