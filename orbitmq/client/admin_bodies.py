"""Values of the admin response bodies (remoting-protocol.md §3.6) and their parsers.

TopicStatsTable, ConsumeStats, ConsumeStatsList and ConsumerRunningInfo key maps by
MessageQueue; Java writes those keys as JSON objects (fastjson), which
`fastjson.loads_tolerant` returns as `ObjectKey`s. `message_queue_of` also takes the key
as a plain object or as its JSON text, for servers that write standard JSON. Pure code.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson

from orbitmq.client.errors import MQClientError
from orbitmq.client.message import MessageQueue
from orbitmq.protocol.fastjson import ObjectKey, loads_tolerant

__all__ = [
    "BrokerStatsData",
    "BrokerStatsItem",
    "ClientConnection",
    "ConsumeStats",
    "ConsumeStatsList",
    "ConsumerConnection",
    "ConsumerRunningInfo",
    "OffsetWrapper",
    "TopicOffset",
    "message_queue_of",
    "parse_body",
    "parse_broker_stats_data",
    "parse_connection_set",
    "parse_consume_stats",
    "parse_consume_stats_list",
    "parse_consumer_connection",
    "parse_running_info",
    "parse_topic_stats",
]


def parse_body(body: bytes, what: str) -> dict[str, Any]:
    """A JSON object body (fastjson dialect accepted).

    Raises:
        MQClientError: the body is not a JSON object.
    """
    if not body:
        return {}
    try:
        data = loads_tolerant(body)
    except orjson.JSONDecodeError as exc:
        raise MQClientError(f"undecodable {what} body: {exc}") from exc
    if not isinstance(data, dict):
        raise MQClientError(f"{what} body is not a JSON object")
    return data


def message_queue_of(key: Any) -> MessageQueue:
    """A MessageQueue map key: an ObjectKey, a dict, or the JSON text of one."""
    if isinstance(key, str):
        try:
            key = loads_tolerant(key)
        except orjson.JSONDecodeError as exc:
            raise MQClientError(f"not a MessageQueue key: {key!r}") from exc
    if isinstance(key, ObjectKey):
        key = key.as_dict()
    if not isinstance(key, dict):
        raise MQClientError(f"not a MessageQueue key: {key!r}")
    try:
        return MessageQueue(str(key["topic"]), str(key["brokerName"]), int(key["queueId"]))
    except (KeyError, ValueError, TypeError) as exc:
        raise MQClientError(f"not a MessageQueue key: {key!r}") from exc


def _mq_table(raw: Any) -> dict[MessageQueue, dict[str, Any]]:
    if isinstance(raw, list):  # [{mq fields..., value fields...}] (ResetOffsetBodyForC style)
        return {message_queue_of(item): item for item in raw if isinstance(item, dict)}
    return {message_queue_of(k): (v if isinstance(v, dict) else {}) for k, v in (raw or {}).items()}


@dataclass(frozen=True, slots=True)
class TopicOffset:
    min_offset: int
    max_offset: int
    last_update_timestamp: int


def parse_topic_stats(data: dict[str, Any]) -> dict[MessageQueue, TopicOffset]:
    """TopicStatsTable: {"offsetTable": {<MQ>: {minOffset, maxOffset, lastUpdateTimestamp}}}."""
    return {
        mq: TopicOffset(
            int(v.get("minOffset", 0)),
            int(v.get("maxOffset", 0)),
            int(v.get("lastUpdateTimestamp", 0)),
        )
        for mq, v in _mq_table(data.get("offsetTable")).items()
    }


@dataclass(frozen=True, slots=True)
class OffsetWrapper:
    broker_offset: int
    consumer_offset: int
    last_timestamp: int

    @property
    def diff(self) -> int:
        return self.broker_offset - self.consumer_offset


@dataclass(slots=True)
class ConsumeStats:
    offset_table: dict[MessageQueue, OffsetWrapper] = field(default_factory=dict)
    consume_tps: float = 0.0

    def total_diff(self) -> int:
        return sum(w.diff for w in self.offset_table.values())


def parse_consume_stats(data: dict[str, Any]) -> ConsumeStats:
    """ConsumeStats: {"consumeTps": x, "offsetTable": {<MQ>: {brokerOffset, ...}}}."""
    table = {
        mq: OffsetWrapper(
            int(v.get("brokerOffset", 0)),
            int(v.get("consumerOffset", 0)),
            int(v.get("lastTimestamp", 0)),
        )
        for mq, v in _mq_table(data.get("offsetTable")).items()
    }
    return ConsumeStats(table, float(data.get("consumeTps") or 0.0))


@dataclass(frozen=True, slots=True)
class ConsumeStatsList:
    broker_addr: str
    total_diff: int
    groups: list[tuple[str, list[ConsumeStats]]]


def parse_consume_stats_list(data: dict[str, Any]) -> ConsumeStatsList:
    """ConsumeStatsList: {"brokerAddr", "totalDiff", "consumeStatsList": [{group: [..]}]}."""
    groups = []
    for item in data.get("consumeStatsList") or []:
        for group, stats in (item or {}).items():
            groups.append((str(group), [parse_consume_stats(s) for s in stats or []]))
    return ConsumeStatsList(
        str(data.get("brokerAddr") or ""), int(data.get("totalDiff") or 0), groups
    )


@dataclass(frozen=True, slots=True)
class ClientConnection:
    client_id: str
    client_addr: str
    language: str
    version: int


def parse_connection_set(data: dict[str, Any]) -> list[ClientConnection]:
    """`connectionSet` of ConsumerConnection / ProducerConnection, sorted by client id."""
    connections = [
        ClientConnection(
            str(c.get("clientId", "")),
            str(c.get("clientAddr", "")),
            str(c.get("language", "")),
            int(c.get("version", 0)),
        )
        for c in data.get("connectionSet") or []
    ]
    return sorted(connections, key=lambda c: c.client_id)


@dataclass(frozen=True, slots=True)
class ConsumerConnection:
    connections: list[ClientConnection]
    subscription_table: dict[str, dict[str, Any]]
    consume_type: str
    message_model: str
    consume_from_where: str

    def min_version(self) -> int:
        """ConsumerConnection.computeMinVersion."""
        return min((c.version for c in self.connections), default=2**31 - 1)


def parse_consumer_connection(data: dict[str, Any]) -> ConsumerConnection:
    return ConsumerConnection(
        parse_connection_set(data),
        {str(t): dict(s) for t, s in (data.get("subscriptionTable") or {}).items()},
        str(data.get("consumeType") or ""),
        str(data.get("messageModel") or ""),
        str(data.get("consumeFromWhere") or ""),
    )


@dataclass(frozen=True, slots=True)
class ConsumerRunningInfo:
    properties: dict[str, str]
    subscriptions: list[dict[str, Any]]
    mq_table: dict[MessageQueue, dict[str, Any]]
    status_table: dict[str, dict[str, Any]]
    jstack: str | None


def parse_running_info(data: dict[str, Any]) -> ConsumerRunningInfo:
    """ConsumerRunningInfo as Java, C++ or OrbitMQ consumers answer it."""
    subscriptions = data.get("subscriptionSet") or []
    return ConsumerRunningInfo(
        {str(k): str(v) for k, v in (data.get("properties") or {}).items()},
        [dict(s) for s in subscriptions if isinstance(s, dict)],
        _mq_table(data.get("mqTable")),
        {str(k): dict(v) for k, v in (data.get("statusTable") or {}).items()},
        data.get("jstack"),
    )


@dataclass(frozen=True, slots=True)
class BrokerStatsItem:
    sum: int
    tps: float
    avgpt: float


@dataclass(frozen=True, slots=True)
class BrokerStatsData:
    minute: BrokerStatsItem
    hour: BrokerStatsItem
    day: BrokerStatsItem

    def sum_24h(self) -> int:
        """StatsAllSubCommand.compute24HourSum: the first non-zero of day, hour, minute."""
        return next((s.sum for s in (self.day, self.hour, self.minute) if s.sum), 0)


def parse_broker_stats_data(data: dict[str, Any]) -> BrokerStatsData:
    def item(name: str) -> BrokerStatsItem:
        raw = data.get(name) or {}
        return BrokerStatsItem(
            int(raw.get("sum", 0)), float(raw.get("tps", 0.0)), float(raw.get("avgpt", 0.0))
        )

    return BrokerStatsData(item("statsMinute"), item("statsHour"), item("statsDay"))
