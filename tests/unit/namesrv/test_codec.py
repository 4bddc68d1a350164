"""Route JSON encoding (exact bytes) and REGISTER_BROKER body decoding in all three forms."""

from __future__ import annotations

import struct
import zlib

import orjson
import pytest

from orbitmq.namesrv import codec
from orbitmq.namesrv.errors import BodyDecodeError
from orbitmq.namesrv.route_data import (
    BrokerData,
    ClusterInfo,
    DataVersion,
    QueueData,
    TopicConfig,
    TopicRouteData,
)


def test_topic_route_bytes() -> None:
    route = TopicRouteData(
        [QueueData("broker-a", 4, 4, 6, 0)],
        [BrokerData("DefaultCluster", "broker-a", {1: "10.0.0.2:10911", 0: "10.0.0.1:10911"})],
    )
    assert codec.encode_topic_route(route) == (
        b'{"brokerDatas":[{"brokerAddrs":{"0":"10.0.0.1:10911","1":"10.0.0.2:10911"},'
        b'"brokerName":"broker-a","cluster":"DefaultCluster"}],"filterServerTable":{},'
        b'"queueDatas":[{"brokerName":"broker-a","perm":6,"readQueueNums":4,'
        b'"topicSysFlag":0,"writeQueueNums":4}]}'
    )


def test_topic_route_with_order_conf() -> None:
    route = TopicRouteData([], [], order_topic_conf="broker-a:4")
    assert orjson.loads(codec.encode_topic_route(route))["orderTopicConf"] == "broker-a:4"


def test_cluster_info_bytes() -> None:
    info = ClusterInfo(
        {"broker-a": BrokerData("DefaultCluster", "broker-a", {0: "10.0.0.1:10911"})},
        {"DefaultCluster": ["broker-a"]},
    )
    assert codec.encode_cluster_info(info) == (
        b'{"brokerAddrTable":{"broker-a":{"brokerAddrs":{"0":"10.0.0.1:10911"},'
        b'"brokerName":"broker-a","cluster":"DefaultCluster"}},'
        b'"clusterAddrTable":{"DefaultCluster":["broker-a"]}}'
    )


def test_small_bodies() -> None:
    assert codec.encode_topic_list(["A", "B"]) == b'{"topicList":["A","B"]}'
    assert codec.encode_kv_table({"k": "v"}) == b'{"table":{"k":"v"}}'
    assert codec.encode_data_version(DataVersion(5, 3)) == b'{"counter":3,"timestamp":5}'
    assert codec.decode_data_version(b'{"counter":3,"timestamp":5}') == DataVersion(5, 3)
    assert codec.decode_data_version(b"") == DataVersion()
    v5 = DataVersion(5, 3, 2)
    assert codec.decode_data_version(codec.encode_data_version(v5)) == v5


def test_loads_tolerant_quotes_bare_integer_keys_outside_strings() -> None:
    text = b'{"brokerAddrs":{0:"a:1", -1 :"b"},"s":"{7:\\"x\\",8:y}"}'
    assert codec.loads_tolerant(text) == {
        "brokerAddrs": {"0": "a:1", "-1": "b"},
        "s": '{7:"x",8:y}',
    }
    with pytest.raises(BodyDecodeError):
        codec.loads_tolerant(b"{not json")


REGISTER_JSON = (
    b'{"filterServerList":[],"topicConfigSerializeWrapper":{'
    b'"dataVersion":{"counter":12,"timestamp":1700000000000},'
    b'"topicConfigTable":{"TopicTest":{"order":false,"perm":6,"readQueueNums":4,'
    b'"topicFilterType":"SINGLE_TAG","topicName":"TopicTest","topicSysFlag":0,'
    b'"writeQueueNums":8},"%RETRY%g":{"perm":6,"readQueueNums":1,"writeQueueNums":1,'
    b'"topicSysFlag":2}}}}'
)


def test_decode_plain_register_body() -> None:
    body = codec.decode_register_body(REGISTER_JSON, compressed=False, version=409)
    assert body.data_version == DataVersion(1700000000000, 12)
    assert body.topic_configs == {
        "TopicTest": TopicConfig("TopicTest", 4, 8, 6, 0),
        "%RETRY%g": TopicConfig("%RETRY%g", 1, 1, 6, 2),
    }
    assert body.filter_server_list == []


def test_decode_legacy_register_body() -> None:
    wrapper = orjson.loads(REGISTER_JSON)["topicConfigSerializeWrapper"]
    body = codec.decode_register_body(orjson.dumps(wrapper), compressed=False, version=36)
    assert set(body.topic_configs) == {"TopicTest", "%RETRY%g"}


def _java_compressed(version: bytes, lines: list[bytes], filters: bytes = b"[]") -> bytes:
    """What RegisterBrokerBody.encode(true) writes, Deflater(BEST_COMPRESSION)."""
    out = [struct.pack(">i", len(version)), version, struct.pack(">i", len(lines))]
    for line in lines:
        out += [struct.pack(">i", len(line)), line]
    out += [struct.pack(">i", len(filters)), filters]
    return zlib.compress(b"".join(out), 9)


def test_decode_compressed_register_body() -> None:
    data = _java_compressed(
        b'{"counter":7,"timestamp":99}',
        [b"TopicTest 4 8 6 SINGLE_TAG", b'T5 2 2 7 SINGLE_TAG {"+a":"b c"}'],
    )
    body = codec.decode_register_body(data, compressed=True, version=409)
    assert body.data_version == DataVersion(99, 7)
    assert body.topic_configs == {
        "TopicTest": TopicConfig("TopicTest", 4, 8, 6),
        "T5": TopicConfig("T5", 2, 2, 7),
    }


@pytest.mark.parametrize(
    "data",
    [
        b"not zlib",
        zlib.compress(b"\x00\x00"),
        zlib.compress(struct.pack(">i", 1000) + b"{}"),
        _java_compressed(b"{}", [b"TopicTest 4 x 6 SINGLE_TAG"]),
        _java_compressed(b"{}", [b"TopicTest 4"]),
    ],
)
def test_bad_compressed_bodies_raise(data: bytes) -> None:
    with pytest.raises(BodyDecodeError):
        codec.decode_register_body(data, compressed=True, version=409)


def test_bad_plain_bodies_raise() -> None:
    with pytest.raises(BodyDecodeError):
        codec.decode_register_body(b"[1]", compressed=False, version=409)
    bad = b'{"topicConfigSerializeWrapper":{"topicConfigTable":{"T":{"perm":"rw"}}}}'
    with pytest.raises(BodyDecodeError, match="perm"):
        codec.decode_register_body(bad, compressed=False, version=409)


def test_empty_register_body() -> None:
    body = codec.decode_register_body(b"", compressed=False, version=409)
    assert body.topic_configs == {} and body.data_version == DataVersion()
