"""Admin statistics requests (AdminBrokerProcessor.java): GET_TOPIC_STATS_INFO (202),
GET_CONSUME_STATS (208), QUERY_TOPIC_CONSUME_BY_WHO (300), VIEW_BROKER_STATS_DATA (315),
GET_BROKER_CONSUME_STATS (317).

TopicStatsTable and ConsumeStats bodies are maps keyed by MessageQueue, which Java's admin
tools only read in fastjson's object-key form (remoting-protocol.md §1.10), so they are
written with `fastjson.dumps` and `ObjectKey` keys:
  {"consumeTps":0.0,"offsetTable":{{"brokerName":"b","queueId":0,"topic":"t"}:
      {"brokerOffset":5,"consumerOffset":3,"lastTimestamp":1700000000000}}}

VIEW_BROKER_STATS_DATA is answered from `OffsetStatsSampler`: the broker samples, every
10 s, how far each topic's queues (TOPIC_PUT_NUMS) and each topic@group's committed offsets
(GROUP_GET_NUMS) have moved, and reports the sums and TPS of the last minute, hour and day
(BrokerStatsData). Offsets count messages exactly, so no hook in the send or pull path is
needed; a group's "gets" are the messages it committed.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from typing import TYPE_CHECKING, Any

from orbitmq.broker.headers import Header
from orbitmq.protocol import fastjson
from orbitmq.protocol.codes import RequestCode, ResponseCode
from orbitmq.protocol.command import RemotingCommand
from orbitmq.remoting.connection import RemotingConnection

if TYPE_CHECKING:
    from orbitmq.broker.broker import BrokerController

TOPIC_PUT_NUMS = "TOPIC_PUT_NUMS"
GROUP_GET_NUMS = "GROUP_GET_NUMS"
BROKER_PUT_NUMS = "BROKER_PUT_NUMS"
BROKER_GET_NUMS = "BROKER_GET_NUMS"
SAMPLE_SECONDS = 10.0
# (window, how long samples of that tier are kept, sample spacing) per tier.
_FIELDS = ("statsMinute", "statsHour", "statsDay")
_TIERS = ((60.0, 70.0, SAMPLE_SECONDS), (3600.0, 3660.0, 60.0), (86400.0, 90000.0, 3600.0))

StatsKey = tuple[str, str]


def mq_key(topic: str, broker_name: str, queue_id: int) -> fastjson.ObjectKey:
    """A MessageQueue as fastjson writes it when it is a map key."""
    return fastjson.ObjectKey.of({"brokerName": broker_name, "queueId": queue_id, "topic": topic})


class OffsetStatsSampler:
    """Keeps cumulative counters sampled at three granularities (10 s, 1 min, 1 h).

    `now` is a monotonic time in seconds, passed in so tests need no sleeping.
    """

    def __init__(self, broker: BrokerController) -> None:
        self._broker = broker
        self._tiers: list[deque[tuple[float, dict[StatsKey, int]]]] = [deque() for _ in _TIERS]

    def counters(self) -> dict[StatsKey, int]:
        """Current cumulative values of every stats key."""
        broker = self._broker
        store = broker.message_store
        values: dict[StatsKey, int] = {}
        for topic, queue_ids in store.topic_queue_ids().items():
            total = sum(store.get_max_offset_in_queue(topic, q) for q in queue_ids)
            values[(TOPIC_PUT_NUMS, topic)] = total
        for key, queues in broker.consumer_offset_manager.offset_table.items():
            values[(GROUP_GET_NUMS, key)] = sum(max(o, 0) for o in queues.values())
        cluster = broker.config.broker_cluster_name
        values[(BROKER_PUT_NUMS, cluster)] = broker.stats.put_count
        values[(BROKER_GET_NUMS, cluster)] = broker.stats.get_count
        return values

    def sample(self, now: float) -> None:
        snapshot = self.counters()
        for tier, (_, keep, spacing) in zip(self._tiers, _TIERS, strict=True):
            if not tier or now - tier[-1][0] >= spacing - 0.5:
                tier.append((now, snapshot))
            while tier and now - tier[0][0] > keep:
                tier.popleft()

    def _base(self, now: float, window: float) -> tuple[float, dict[StatsKey, int]] | None:
        """The newest sample at least `window` old, else the oldest one there is."""
        samples = sorted((s for tier in self._tiers for s in tier), key=lambda s: s[0])
        old_enough = [s for s in samples if now - s[0] >= window]
        if old_enough:
            return old_enough[-1]
        return samples[0] if samples else None

    def stats_data(
        self, name: str, key: str, now: float, current: dict[StatsKey, int] | None = None
    ) -> dict[str, Any] | None:
        """BrokerStatsData of one stats item, None if the broker never saw it.

        `current` is `counters()` when the caller already has it.
        """
        current = self.counters() if current is None else current
        if (name, key) not in current:
            return None
        value = current[(name, key)]
        data: dict[str, Any] = {}
        for field, (window, _, _) in zip(_FIELDS, _TIERS, strict=True):
            base = self._base(now, window)
            if base is None:
                total, elapsed = 0, window
            else:
                total = max(value - base[1].get((name, key), 0), 0)
                elapsed = max(now - base[0], 1.0)
            data[field] = {"avgpt": 0.0, "sum": total, "tps": total / elapsed}
        return data

    def tps(
        self, name: str, key: str, now: float, current: dict[StatsKey, int] | None = None
    ) -> float:
        data = self.stats_data(name, key, now, current)
        return float(data["statsMinute"]["tps"]) if data else 0.0

    async def stats_service(self) -> None:
        """Sample every SAMPLE_SECONDS until cancelled (one task of the broker)."""
        while True:
            self.sample(time.monotonic())
            await asyncio.sleep(SAMPLE_SECONDS)


class AdminStatsHandler:
    def __init__(self, broker: BrokerController) -> None:
        self._broker = broker
        self.sampler = OffsetStatsSampler(broker)

    def register(self, dispatcher: object) -> None:
        for code, handler in (
            (RequestCode.GET_TOPIC_STATS_INFO, self.get_topic_stats_info),
            (RequestCode.GET_CONSUME_STATS, self.get_consume_stats),
            (RequestCode.QUERY_TOPIC_CONSUME_BY_WHO, self.query_topic_consume_by_who),
            (RequestCode.VIEW_BROKER_STATS_DATA, self.view_broker_stats_data),
            (RequestCode.GET_BROKER_CONSUME_STATS, self.get_broker_consume_stats),
        ):
            dispatcher.register(code, handler)  # type: ignore[attr-defined]

    def get_topic_stats_info(
        self, connection: RemotingConnection, request: RemotingCommand
    ) -> RemotingCommand:
        topic = Header(request).str("topic")
        broker = self._broker
        config = broker.topic_config_manager.get(topic)
        if config is None:
            return request.response(ResponseCode.TOPIC_NOT_EXIST, f"topic[{topic}] not exist")
        store = broker.message_store
        table: dict[fastjson.ObjectKey, dict[str, int]] = {}
        for queue_id in range(config.write_queue_nums):
            low = max(store.get_min_offset_in_queue(topic, queue_id), 0)
            high = max(store.get_max_offset_in_queue(topic, queue_id), 0)
            stamp = store.get_message_store_timestamp(topic, queue_id, high - 1) if high else 0
            table[mq_key(topic, broker.config.broker_name, queue_id)] = {
                "lastUpdateTimestamp": max(stamp, 0),
                "maxOffset": high,
                "minOffset": low,
            }
        return request.response(body=fastjson.dumps({"offsetTable": table}))

    def _subscribed_elsewhere(self, group: str, topic: str) -> bool:
        """Online members of `group` subscribe to other topics but not this one."""
        manager = self._broker.client_manager
        info = manager.consumer_groups.get(group)
        return bool(info and info.subscriptions) and manager.find_subscription(group, topic) is None

    def consume_stats(
        self, group: str, topic: str, queue_nums: int, counters: dict[StatsKey, int]
    ) -> dict[str, Any]:
        """ConsumeStats of one group on one topic of this broker (`counters`: the
        sampler's current values, for the consume TPS)."""
        broker = self._broker
        store = broker.message_store
        table: dict[fastjson.ObjectKey, dict[str, int]] = {}
        for queue_id in range(queue_nums):
            broker_offset = max(store.get_max_offset_in_queue(topic, queue_id), 0)
            offset = max(broker.consumer_offset_manager.query_offset(group, topic, queue_id), 0)
            wrapper = {"brokerOffset": broker_offset, "consumerOffset": offset, "lastTimestamp": 0}
            if offset > 0:
                stamp = store.get_message_store_timestamp(topic, queue_id, offset - 1)
                wrapper["lastTimestamp"] = max(stamp, 0)
            table[mq_key(topic, broker.config.broker_name, queue_id)] = wrapper
        tps = self.sampler.tps(GROUP_GET_NUMS, f"{topic}@{group}", time.monotonic(), counters)
        return {"consumeTps": tps, "offsetTable": table}

    def get_consume_stats(
        self, connection: RemotingConnection, request: RemotingCommand
    ) -> RemotingCommand:
        header = Header(request)
        group = header.str("consumerGroup")
        topic = header.optional_str("topic") or ""
        broker = self._broker
        topics = (
            [topic]
            if topic.strip()
            else sorted(broker.consumer_offset_manager.topics_of_group(group))
        )
        tps = 0.0
        table: dict[fastjson.ObjectKey, Any] = {}
        counters = self.sampler.counters()
        for name in topics:
            config = broker.topic_config_manager.get(name)
            if config is None or self._subscribed_elsewhere(group, name):
                continue
            stats = self.consume_stats(group, name, config.read_queue_nums, counters)
            table.update(stats["offsetTable"])
            tps += stats["consumeTps"]
        return request.response(body=fastjson.dumps({"consumeTps": tps, "offsetTable": table}))

    def query_topic_consume_by_who(
        self, connection: RemotingConnection, request: RemotingCommand
    ) -> RemotingCommand:
        topic = Header(request).str("topic")
        broker = self._broker
        groups = {
            group
            for group, info in broker.client_manager.consumer_groups.items()
            if topic in info.subscriptions
        }
        groups |= broker.consumer_offset_manager.groups_of_topic(topic)
        return request.response(body=fastjson.dumps({"groupList": sorted(groups)}))

    def view_broker_stats_data(
        self, connection: RemotingConnection, request: RemotingCommand
    ) -> RemotingCommand:
        header = Header(request)
        name, key = header.str("statsName"), header.str("statsKey")
        data = self.sampler.stats_data(name, key, time.monotonic())
        if data is None:
            return request.response(
                ResponseCode.SYSTEM_ERROR, f"The stats <{name}> <{key}> not exist"
            )
        return request.response(body=fastjson.dumps(data))

    def get_broker_consume_stats(
        self, connection: RemotingConnection, request: RemotingCommand
    ) -> RemotingCommand:
        """ConsumeStatsList: every subscription group's ConsumeStats per topic it committed."""
        order_only = Header(request).bool("isOrder")
        broker = self._broker
        total_diff = 0
        stats_list: list[dict[str, list[dict[str, Any]]]] = []
        counters = self.sampler.counters()
        for group in sorted(broker.subscription_group_manager.table):
            per_topic = []
            for topic in sorted(broker.consumer_offset_manager.topics_of_group(group)):
                config = broker.topic_config_manager.get(topic)
                if config is None or (order_only and not config.order):
                    continue
                if self._subscribed_elsewhere(group, topic):
                    continue
                stats = self.consume_stats(group, topic, config.write_queue_nums, counters)
                total_diff += sum(
                    w["brokerOffset"] - w["consumerOffset"] for w in stats["offsetTable"].values()
                )
                per_topic.append(stats)
            stats_list.append({group: per_topic})
        body = {
            "brokerAddr": broker.config.broker_addr,
            "consumeStatsList": stats_list,
            "totalDiff": total_diff,
        }
        return request.response(body=fastjson.dumps(body))
