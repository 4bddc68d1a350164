"""JSON bodies the NameServer reads and writes (remoting-protocol.md §1.10, §4).

Written bodies are what every client parses: compact separators (Go keeps spaces in the
broker address otherwise), integer ids as *quoted* keys (`{"0":"ip:port"}` is accepted by
Java, C++ and Go alike), counts and perms as JSON numbers, members in fastjson's
alphabetical order so the bytes match a Java NameServer's apart from the key quoting.

Read bodies come from Java brokers written by fastjson, which may leave integer map keys
unquoted; `loads_tolerant` (orbitmq.protocol.fastjson) copes with that.

Compressed REGISTER_BROKER body (RegisterBrokerBody.encode(true)), after zlib inflate:
  i32 len | DataVersion JSON | i32 topicCount |
  topicCount x (i32 len | "topicName read write perm topicFilterType[ attributesJSON]") |
  i32 len | filterServerList JSON | [5.x: topicQueueMappingInfoMap, ignored]
"""

from __future__ import annotations

import struct
import zlib
from typing import Any

import orjson

from orbitmq.namesrv.errors import BodyDecodeError
from orbitmq.namesrv.route_data import (
    BrokerData,
    ClusterInfo,
    DataVersion,
    QueueData,
    RegisterBrokerBody,
    TopicConfig,
    TopicRouteData,
)
from orbitmq.protocol import fastjson

# Brokers older than V3_0_11 (ordinal 37) send a bare TopicConfigSerializeWrapper.
LEGACY_REGISTER_VERSION = 37

_I32 = struct.Struct(">i")


def loads_tolerant(data: bytes | str) -> Any:
    """`orbitmq.protocol.fastjson.loads_tolerant`, failing as a NameServer body does.

    Raises:
        BodyDecodeError: the data is not JSON, even with its integer keys quoted.
    """
    try:
        return fastjson.loads_tolerant(data)
    except orjson.JSONDecodeError as exc:
        raise BodyDecodeError(f"body is not JSON: {exc}") from exc


# encoding ---------------------------------------------------------------------------------
def _broker_data_json(data: BrokerData) -> dict[str, Any]:
    # orjson refuses int keys; quoted ids are what every client accepts anyway.
    addrs = {str(i): addr for i, addr in sorted(data.broker_addrs.items())}
    return {"brokerAddrs": addrs, "brokerName": data.broker_name, "cluster": data.cluster}


def _queue_data_json(data: QueueData) -> dict[str, Any]:
    return {
        "brokerName": data.broker_name,
        "perm": data.perm,
        "readQueueNums": data.read_queue_nums,
        "topicSysFlag": data.topic_sys_flag,
        "writeQueueNums": data.write_queue_nums,
    }


def encode_topic_route(route: TopicRouteData) -> bytes:
    doc: dict[str, Any] = {
        "brokerDatas": [_broker_data_json(b) for b in route.broker_datas],
        "filterServerTable": {},
    }
    if route.order_topic_conf:
        doc["orderTopicConf"] = route.order_topic_conf
    doc["queueDatas"] = [_queue_data_json(q) for q in route.queue_datas]
    return orjson.dumps(doc)


def encode_cluster_info(info: ClusterInfo) -> bytes:
    return orjson.dumps(
        {
            "brokerAddrTable": {
                name: _broker_data_json(data) for name, data in info.broker_addr_table.items()
            },
            "clusterAddrTable": info.cluster_addr_table,
        }
    )


def encode_topic_list(topics: list[str]) -> bytes:
    return orjson.dumps({"topicList": topics})


def encode_kv_table(table: dict[str, str]) -> bytes:
    return orjson.dumps({"table": table})


def encode_data_version(version: DataVersion) -> bytes:
    doc: dict[str, int] = {"counter": version.counter}
    if version.state_version:  # 5.x only; a 4.x broker never sent one
        doc["stateVersion"] = version.state_version
    doc["timestamp"] = version.timestamp
    return orjson.dumps(doc)


# decoding ---------------------------------------------------------------------------------
def _int(doc: dict[str, Any], key: str, default: int) -> int:
    value = doc.get(key, default)
    if value is None:
        return default
    try:
        return int(value)
    except (TypeError, ValueError) as exc:
        raise BodyDecodeError(f"{key} is not an integer: {value!r}") from exc


def _data_version(doc: Any) -> DataVersion:
    if not isinstance(doc, dict):
        return DataVersion()
    return DataVersion(
        _int(doc, "timestamp", 0), _int(doc, "counter", 0), _int(doc, "stateVersion", 0)
    )


def decode_data_version(data: bytes) -> DataVersion:
    return _data_version(loads_tolerant(data)) if data else DataVersion()


def _topic_config(name: str, doc: Any) -> TopicConfig:
    if not isinstance(doc, dict):
        raise BodyDecodeError(f"topic config of {name!r} is not an object")
    return TopicConfig(
        str(doc.get("topicName") or name),
        _int(doc, "readQueueNums", 16),
        _int(doc, "writeQueueNums", 16),
        _int(doc, "perm", 6),
        _int(doc, "topicSysFlag", 0),
    )


def _wrapper(doc: Any) -> tuple[DataVersion, dict[str, TopicConfig]]:
    if not isinstance(doc, dict):
        return DataVersion(), {}
    table = doc.get("topicConfigTable") or {}
    if not isinstance(table, dict):
        raise BodyDecodeError("topicConfigTable is not an object")
    configs = [_topic_config(str(name), value) for name, value in table.items()]
    return _data_version(doc.get("dataVersion")), {c.topic_name: c for c in configs}


def decode_register_body(data: bytes, compressed: bool, version: int) -> RegisterBrokerBody:
    """Decode a REGISTER_BROKER body in whichever of its three forms the broker sent."""
    if not data:
        return RegisterBrokerBody()
    if compressed:
        return _decode_compressed(data)
    doc = loads_tolerant(data)
    if not isinstance(doc, dict):
        raise BodyDecodeError("register body is not a JSON object")
    if version < LEGACY_REGISTER_VERSION:
        data_version, configs = _wrapper(doc)
        return RegisterBrokerBody(data_version, configs)
    data_version, configs = _wrapper(doc.get("topicConfigSerializeWrapper"))
    filters = doc.get("filterServerList") or []
    return RegisterBrokerBody(data_version, configs, [str(f) for f in filters])


def _decode_compressed(data: bytes) -> RegisterBrokerBody:
    try:
        raw = zlib.decompress(data)
    except zlib.error as exc:
        raise BodyDecodeError(f"compressed register body does not inflate: {exc}") from exc
    reader = _Reader(raw)
    data_version = _data_version(loads_tolerant(reader.chunk()))
    configs: dict[str, TopicConfig] = {}
    for _ in range(reader.i32()):
        config = _topic_config_line(reader.chunk().decode("utf-8"))
        configs[config.topic_name] = config
    filters = loads_tolerant(reader.chunk()) if reader.remaining else []
    return RegisterBrokerBody(data_version, configs, [str(f) for f in filters or []])


def _topic_config_line(line: str) -> TopicConfig:
    # TopicConfig.encode(): space-separated; topicSysFlag is not carried in this form.
    parts = line.split(" ", 5)
    if len(parts) < 5:
        raise BodyDecodeError(f"bad topic config line in compressed body: {line!r}")
    try:
        return TopicConfig(parts[0], int(parts[1]), int(parts[2]), int(parts[3]))
    except ValueError as exc:
        raise BodyDecodeError(f"bad topic config line in compressed body: {line!r}") from exc


class _Reader:
    """Bounds-checked reader of the inflated compressed body."""

    def __init__(self, data: bytes) -> None:
        self._data = data
        self._pos = 0

    @property
    def remaining(self) -> int:
        return len(self._data) - self._pos

    def i32(self) -> int:
        if self.remaining < 4:
            raise BodyDecodeError("compressed register body is truncated")
        (value,) = _I32.unpack_from(self._data, self._pos)
        self._pos += 4
        if value < 0:
            raise BodyDecodeError(f"negative length {value} in compressed register body")
        return int(value)

    def chunk(self) -> bytes:
        size = self.i32()
        if size > self.remaining:
            raise BodyDecodeError("compressed register body is truncated")
        start = self._pos
        self._pos += size
        return self._data[start : self._pos]
