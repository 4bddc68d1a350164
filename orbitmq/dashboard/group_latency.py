"""`rocketmq_group_get_latency_by_storetime`: how long the message at a clustering group's
consumer offset has waited, per topic and broker set (rocketmq-exporter's
MetricsCollectTask.collectConsumerOffset): now - that message's store time, the most
over the set's lagging queues, 0 when every queue is caught up.

A store time is read by pulling the one message at the consumer offset as TOOLS_CONSUMER
(nothing committed). A consumer offset below the queue's min offset reads the message at
the min offset instead, as the exporter does. The message at an offset does not change,
so a queue whose consumer offset did not move needs no new read: only queues that are
new or moved are read, at most a budget a collection, those of the entries refreshed
longest ago first. An entry with a queue still unread keeps its last value.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from orbitmq.client import MQAdmin
from orbitmq.client.admin_bodies import ConsumeStatsList
from orbitmq.client.message import MessageQueue
from orbitmq.dashboard.figures import BrokerRef
from orbitmq.dashboard.message_queries import store_time_at
from orbitmq.protocol.topics import DLQ_GROUP_TOPIC_PREFIX

EntryKey = tuple[str, str, str, str]  # cluster, broker name, topic, group


@dataclass(frozen=True, slots=True)
class LaggingQueue:
    """A queue whose consumer offset is below its broker offset, at the master `addr`."""

    addr: str
    group: str
    mq: MessageQueue
    consumer_offset: int


def lagging_queues(
    masters: Iterable[BrokerRef],
    consume: Mapping[str, ConsumeStatsList],
    broadcasting: frozenset[str],
) -> dict[EntryKey, list[LaggingQueue]]:
    """Every (broker set, topic, group) of the masters' consume stats with its lagging
    queues (none: caught up); broadcasting groups and DLQ topics are left out, as the
    exporter does."""
    entries: dict[EntryKey, list[LaggingQueue]] = {}
    for ref in masters:
        stats = consume.get(ref.addr)
        if stats is None:
            continue
        for group, per_topic in stats.groups:
            if group in broadcasting:
                continue
            for consume_stats in per_topic:
                for mq, offsets in consume_stats.offset_table.items():
                    if mq.topic.startswith(DLQ_GROUP_TOPIC_PREFIX):
                        continue
                    key = (ref.cluster, ref.broker_name, mq.topic, group)
                    queues = entries.setdefault(key, [])
                    if offsets.broker_offset > offsets.consumer_offset:
                        queues.append(LaggingQueue(ref.addr, group, mq, offsets.consumer_offset))
    return entries


async def lag_store_time(admin: MQAdmin, addr: str, mq: MessageQueue, offset: int) -> int:
    """The store time (ms) of the message at `offset` of `mq`, or of the oldest stored one
    when `offset` is below the queue's min offset; 0 when there is none."""
    found = await store_time_at(admin, addr, mq, offset)
    if found is None:
        low = await admin.min_offset(mq, broker_addr=addr)
        if offset < low:
            found = await store_time_at(admin, addr, mq, low)
    return found or 0


class LatencyBook:
    """Store times known at the lagging queues' consumer offsets, and each entry's last
    value (pure: times are passed in)."""

    def __init__(self) -> None:
        # (group, queue) -> (consumer offset, store ms of the message there; 0: none)
        self._stored: dict[tuple[str, MessageQueue], tuple[int, int]] = {}
        self._last: dict[EntryKey, tuple[int, int]] = {}  # -> (ms computed, latency ms)

    def _known(self, queue: LaggingQueue) -> bool:
        stored = self._stored.get((queue.group, queue.mq))
        return stored is not None and stored[0] == queue.consumer_offset

    def due(
        self, entries: Mapping[EntryKey, Sequence[LaggingQueue]], budget: int
    ) -> list[LaggingQueue]:
        """At most `budget` queues to read: those not known at their consumer offset, of
        the entries computed longest ago (or never) first."""
        order = sorted(entries, key=lambda k: (self._last[k][0] if k in self._last else 0, k))
        due: list[LaggingQueue] = []
        for key in order:
            for queue in entries[key]:
                if len(due) >= budget:
                    return due
                if not self._known(queue):
                    due.append(queue)
        return due

    def learn(self, queue: LaggingQueue, store_ms: int) -> None:
        self._stored[(queue.group, queue.mq)] = (queue.consumer_offset, store_ms)

    def latencies(
        self, entries: Mapping[EntryKey, Sequence[LaggingQueue]], now_ms: int
    ) -> dict[EntryKey, int]:
        """Each entry's latency where every lagging queue is known, its last value where
        one is not (nothing before its first); entries and queues gone are forgotten."""
        lagging = {(q.group, q.mq) for queues in entries.values() for q in queues}
        self._stored = {k: v for k, v in self._stored.items() if k in lagging}
        self._last = {k: v for k, v in self._last.items() if k in entries}
        values: dict[EntryKey, int] = {}
        for key, queues in entries.items():
            if all(self._known(q) for q in queues):
                stamps = [self._stored[(q.group, q.mq)][1] for q in queues]
                latency = max((max(now_ms - s, 0) for s in stamps if s > 0), default=0)
                self._last[key] = (now_ms, latency)
            if key in self._last:
                values[key] = self._last[key][1]
        return values
