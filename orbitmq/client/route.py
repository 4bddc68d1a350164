"""Topic route values (TopicRouteData.java and friends), parsed from NameServer bodies.

Route body (remoting-protocol.md §4.1):
  {"orderTopicConf": "a:4;b:4"?, "queueDatas": [{brokerName, readQueueNums,
   writeQueueNums, perm, topicSysFlag}], "brokerDatas": [{cluster, brokerName,
   brokerAddrs: {0: "ip:port", ...}}], "filterServerTable": {}}
Java NameServers write `brokerAddrs` keys unquoted (`{0:"..."}`), newer ones quoted; both
are accepted here. Pure code: no I/O.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

import orjson

from orbitmq.client.message import MessageQueue
from orbitmq.protocol.fastjson import loads_tolerant
from orbitmq.protocol.perm import PERM_READ, PERM_WRITE

MASTER_ID = 0
DEFAULT_TOPIC_QUEUE_NUMS = 4


@dataclass(frozen=True, slots=True)
class QueueData:
    broker_name: str
    read_queue_nums: int
    write_queue_nums: int
    perm: int
    topic_sys_flag: int = 0


@dataclass(frozen=True, slots=True)
class BrokerData:
    cluster: str
    broker_name: str
    broker_addrs: dict[int, str] = field(default_factory=dict)

    @property
    def master_addr(self) -> str | None:
        return self.broker_addrs.get(MASTER_ID)

    def select_addr(self) -> str | None:
        """The master if present, else any slave (MQClientInstance.findBrokerAddrByTopic)."""
        master = self.broker_addrs.get(MASTER_ID)
        if master is not None:
            return master
        return random.choice(list(self.broker_addrs.values())) if self.broker_addrs else None


@dataclass(frozen=True, slots=True)
class TopicRouteData:
    queue_datas: list[QueueData]
    broker_datas: list[BrokerData]
    order_topic_conf: str | None = None

    def publish_queues(self, topic: str) -> list[MessageQueue]:
        """Write queues of writable broker sets that have a master (TopicPublishInfo)."""
        masters = {b.broker_name for b in self.broker_datas if b.master_addr is not None}
        if self.order_topic_conf:
            queues = []
            for item in self.order_topic_conf.split(";"):
                name, _, count = item.partition(":")
                if name and count.strip().isdigit():
                    queues += [MessageQueue(topic, name, i) for i in range(int(count))]
            return queues
        return [
            MessageQueue(topic, q.broker_name, i)
            for q in sorted(self.queue_datas, key=lambda q: q.broker_name)
            if q.perm & PERM_WRITE and q.broker_name in masters
            for i in range(q.write_queue_nums)
        ]

    def subscribe_queues(self, topic: str) -> list[MessageQueue]:
        """Read queues of readable broker sets, sorted."""
        return sorted(
            MessageQueue(topic, q.broker_name, i)
            for q in self.queue_datas
            if q.perm & PERM_READ
            for i in range(q.read_queue_nums)
        )

    def as_default_topic_route(self, queue_nums: int = DEFAULT_TOPIC_QUEUE_NUMS) -> TopicRouteData:
        """TBW102's route reused for a new topic: queues clamped to min(queue_nums, read)."""
        clamped = [
            QueueData(
                q.broker_name,
                min(queue_nums, q.read_queue_nums),
                min(queue_nums, q.read_queue_nums),
                q.perm,
                q.topic_sys_flag,
            )
            for q in self.queue_datas
        ]
        return TopicRouteData(clamped, list(self.broker_datas))


def parse_broker_data(raw: dict[str, Any]) -> BrokerData:
    addrs = {int(k): str(v) for k, v in (raw.get("brokerAddrs") or {}).items()}
    return BrokerData(str(raw.get("cluster") or ""), str(raw["brokerName"]), addrs)


def parse_topic_route(body: bytes | str) -> TopicRouteData:
    """Decode a GET_ROUTEINFO_BY_TOPIC body.

    Raises:
        ValueError: the body is not a route.
    """
    try:
        raw = loads_tolerant(body)
        queue_datas = [
            QueueData(
                str(q["brokerName"]),
                int(q.get("readQueueNums", 0)),
                int(q.get("writeQueueNums", 0)),
                int(q.get("perm", 0)),
                int(q.get("topicSysFlag", q.get("topicSynFlag", 0)) or 0),
            )
            for q in raw.get("queueDatas") or []
        ]
        broker_datas = [parse_broker_data(b) for b in raw.get("brokerDatas") or []]
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError) as exc:
        raise ValueError(f"undecodable topic route: {exc}") from exc
    return TopicRouteData(queue_datas, broker_datas, raw.get("orderTopicConf") or None)


class TopicPublishInfo:
    """A producer's view of a topic: its write queues and round-robin selection."""

    __slots__ = ("_index", "queues", "route")

    def __init__(self, topic: str, route: TopicRouteData) -> None:
        self.route = route
        self.queues = route.publish_queues(topic)
        self._index = random.randrange(1 << 16)

    @property
    def ok(self) -> bool:
        return bool(self.queues)

    def select_queue(self, avoid_broker: str | None = None) -> MessageQueue:
        """Next queue round robin, skipping `avoid_broker` (the set that just failed) if possible.

        Raises:
            IndexError: the topic has no write queue.
        """
        queues = self.queues
        n = len(queues)
        if avoid_broker is not None:
            for _ in range(n):
                self._index += 1
                mq = queues[self._index % n]
                if mq.broker_name != avoid_broker:
                    return mq
        self._index += 1
        return queues[self._index % n]
