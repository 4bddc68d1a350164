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

import re
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
# 64 MiB of topic lines is several hundred thousand topics, far more than a broker has.
MAX_INFLATED_REGISTER_BODY = 64 * 1024 * 1024
# RegisterBrokerBody as fastjson (Java brokers) and OrbitMQ brokers write it: keys sorted,
# no spaces, so the DataVersion comes before the topics and can be read without them.
_JSON_VERSION_PREFIX = re.compile(
    rb'\{"filterServerList":\[[^\]]*\],"topicConfigSerializeWrapper":\{"dataVersion":(\{[^{}]*\})'
)


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


def broker_data_bytes(data: BrokerData) -> bytes:
    return orjson.dumps(_broker_data_json(data))


def queue_data_bytes(data: QueueData) -> bytes:
    return orjson.dumps(
        {
            "brokerName": data.broker_name,
            "perm": data.perm,
            "readQueueNums": data.read_queue_nums,
            "topicSysFlag": data.topic_sys_flag,
            "writeQueueNums": data.write_queue_nums,
        }
    )


def join_topic_route(
    broker_datas: list[bytes], queue_datas: list[bytes], order_topic_conf: str | None
) -> bytes:
    """TopicRouteData from its parts, each already JSON (orjson writes a list as its
    items joined by commas, so this is what encoding the whole at once gives)."""
    order = b'"orderTopicConf":%s,' % orjson.dumps(order_topic_conf) if order_topic_conf else b""
    return b'{"brokerDatas":[%s],"filterServerTable":{},%s"queueDatas":[%s]}' % (
        b",".join(broker_datas),
        order,
        b",".join(queue_datas),
    )


def encode_topic_route(route: TopicRouteData) -> bytes:
    return join_topic_route(
        [broker_data_bytes(b) for b in route.broker_datas],
        [queue_data_bytes(q) for q in route.queue_datas],
        route.order_topic_conf,
    )


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


def _topic_table(wrapper: Any) -> dict[str, TopicConfig]:
    table = (wrapper.get("topicConfigTable") if isinstance(wrapper, dict) else None) or {}
    if not isinstance(table, dict):
        raise BodyDecodeError("topicConfigTable is not an object")
    configs = [_topic_config(str(name), value) for name, value in table.items()]
    return {c.topic_name: c for c in configs}


class RegisterBodyView:
    """A REGISTER_BROKER body read as far as its DataVersion; the topic configs, which
    the NameServer reads only when that version changed, are decoded on demand."""

    def __init__(self, data_version: DataVersion) -> None:
        self.data_version = data_version

    def topic_configs(self) -> dict[str, TopicConfig]:
        """Raises BodyDecodeError: a topic config is malformed."""
        return {}

    def filter_server_list(self) -> list[str]:
        """Raises BodyDecodeError: the list (after the topics) is malformed."""
        return []

    def decode(self) -> RegisterBrokerBody:
        configs = self.topic_configs()
        return RegisterBrokerBody(self.data_version, configs, self.filter_server_list())


class _JsonBodyView(RegisterBodyView):
    """The JSON body; parsed at once unless its DataVersion can be read off its start."""

    def __init__(self, data: bytes, legacy: bool) -> None:
        self._data = data
        self._legacy = legacy
        self._doc: dict[str, Any] | None = None
        match = None if legacy else _JSON_VERSION_PREFIX.match(data)
        if match is not None:
            super().__init__(_data_version(loads_tolerant(match.group(1))))
        else:
            wrapper = self._wrapper()
            super().__init__(_data_version(wrapper.get("dataVersion") if wrapper else None))

    def _parsed(self) -> dict[str, Any]:
        if self._doc is None:
            doc = loads_tolerant(self._data)
            if not isinstance(doc, dict):
                raise BodyDecodeError("register body is not a JSON object")
            self._doc = doc
        return self._doc

    def _wrapper(self) -> dict[str, Any] | None:
        doc = self._parsed()
        wrapper = doc if self._legacy else doc.get("topicConfigSerializeWrapper")
        return wrapper if isinstance(wrapper, dict) else None

    def topic_configs(self) -> dict[str, TopicConfig]:
        return _topic_table(self._wrapper())

    def filter_server_list(self) -> list[str]:
        filters = [] if self._legacy else self._parsed().get("filterServerList")
        return _filter_servers(filters)


class _CompressedBodyView(RegisterBodyView):
    def __init__(self, raw: bytes) -> None:
        self._reader = _Reader(raw)
        super().__init__(_data_version(loads_tolerant(self._reader.chunk())))
        self._topics_start = self._reader.position
        self._topics_end = -1

    def topic_configs(self) -> dict[str, TopicConfig]:
        reader = self._reader
        reader.seek(self._topics_start)
        count = reader.i32()
        chunk = reader.chunk
        configs: dict[str, TopicConfig] = {}
        for _ in range(count):
            try:
                line = chunk().decode()
            except UnicodeDecodeError as exc:
                raise BodyDecodeError(f"topic config line is not UTF-8: {exc}") from exc
            config = _topic_config_line(line)
            configs[config.topic_name] = config
        self._topics_end = reader.position
        return configs

    def filter_server_list(self) -> list[str]:
        if self._topics_end < 0:
            self.topic_configs()  # the list follows the topics
        self._reader.seek(self._topics_end)
        filters = loads_tolerant(self._reader.chunk()) if self._reader.remaining else []
        return _filter_servers(filters)


def _filter_servers(filters: Any) -> list[str]:
    if filters is None:
        return []
    if not isinstance(filters, list):
        raise BodyDecodeError(f"filterServerList is not a list: {filters!r:.80}")
    return [str(f) for f in filters]


def open_register_body(data: bytes, compressed: bool, version: int) -> RegisterBodyView:
    """Read a REGISTER_BROKER body, in whichever of its three forms the broker sent, as
    far as its DataVersion.

    Raises:
        BodyDecodeError: the body does not inflate or is not JSON.
    """
    if not data:
        return RegisterBodyView(DataVersion())
    if compressed:
        # Inflated with a cap: a 16 MiB frame of zeros would inflate to gigabytes.
        inflater = zlib.decompressobj()
        try:
            raw = inflater.decompress(data, MAX_INFLATED_REGISTER_BODY)
        except zlib.error as exc:
            raise BodyDecodeError(f"compressed register body does not inflate: {exc}") from exc
        if inflater.unconsumed_tail:
            raise BodyDecodeError(
                f"compressed register body inflates past {MAX_INFLATED_REGISTER_BODY} bytes"
            )
        return _CompressedBodyView(raw)
    return _JsonBodyView(data, legacy=version < LEGACY_REGISTER_VERSION)


def decode_register_body(data: bytes, compressed: bool, version: int) -> RegisterBrokerBody:
    """The whole REGISTER_BROKER body (`open_register_body`, then every part of it)."""
    return open_register_body(data, compressed, version).decode()


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

    @property
    def position(self) -> int:
        return self._pos

    def seek(self, position: int) -> None:
        self._pos = position

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
