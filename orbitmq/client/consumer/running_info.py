"""The per-queue part of a push consumer's GET_CONSUMER_RUNNING_INFO answer
(ConsumerRunningInfo.mqTable; DefaultMQPushConsumerImpl.consumerRunningInfo and
ProcessQueue.fillProcessQueueInfo in apache/rocketmq). No I/O.

Each owned queue maps to a ProcessQueueInfo; the key is the MessageQueue written as a
fastjson object key, the only form Java's admin tools read for a Map<MessageQueue, V>:

  {"mqTable":{{"brokerName":"b","queueId":0,"topic":"T"}:{"cachedMsgCount":0,
              "commitOffset":7,...,"lastConsumeTimestamp":1700000000000,...}}}

Our ProcessQueue keeps lock and pull times on the monotonic clock and no consume time,
so they are turned into wall-clock ms here, and `QueueClock` keeps the rest: when each
queue was taken (Java's ProcessQueue creation) and when a listener call on it last ended.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from orbitmq.client.consumer.broker_requests import now_ms
from orbitmq.client.consumer.offset_store import OffsetStore
from orbitmq.client.consumer.process_queue import ProcessQueue
from orbitmq.client.message import MessageQueue
from orbitmq.protocol.fastjson import ObjectKey
from orbitmq.protocol.message import MessageExt

MIB = 1024 * 1024


class QueueClock:
    """The offset store as the consume services use it, noting when each queue's listener
    calls end (ProcessQueue.lastConsumeTimestamp, which Java sets on every removeMessage).

    The consume services call `update` once a run of listener calls on a queue is over,
    successful or not; everything else uses `offsets` directly.
    """

    def __init__(self, offsets: OffsetStore) -> None:
        self.offsets = offsets
        self._taken_ms: dict[MessageQueue, int] = {}
        self._consumed_ms: dict[MessageQueue, int] = {}

    def update(self, mq: MessageQueue, offset: int, increase_only: bool = True) -> None:
        self._consumed_ms[mq] = now_ms()
        self.offsets.update(mq, offset, increase_only)

    def taken(self, mq: MessageQueue) -> None:
        """The queue is now ours (a new ProcessQueue)."""
        self._taken_ms[mq] = now_ms()
        self._consumed_ms.pop(mq, None)

    def released(self, mq: MessageQueue) -> None:
        self._taken_ms.pop(mq, None)
        self._consumed_ms.pop(mq, None)

    def taken_ms(self, mq: MessageQueue) -> int:
        return self._taken_ms.get(mq, 0)

    def last_consume_ms(self, mq: MessageQueue) -> int:
        """When a listener call on `mq` last ended; until then, when it was taken."""
        return self._consumed_ms.get(mq) or self.taken_ms(mq)


def mq_key(mq: MessageQueue) -> ObjectKey:
    """A MessageQueue as fastjson writes it when it is a map key."""
    return ObjectKey.of({"brokerName": mq.broker_name, "queueId": mq.queue_id, "topic": mq.topic})


def _offsets_of(msgs: Sequence[MessageExt]) -> tuple[int, int, int]:
    """(min offset, max offset, count); zeros when empty, as Java leaves them."""
    if not msgs:
        return 0, 0, 0
    offsets = [m.queue_offset for m in msgs]
    return min(offsets), max(offsets), len(offsets)


def process_queue_info(
    pq: ProcessQueue,
    commit_offset: int,
    taken_ms: int,
    last_consume_ms: int,
    consuming: Sequence[MessageExt] = (),
    *,
    wall_ms: int,
    monotonic: float,
) -> dict[str, Any]:
    """ProcessQueueInfo of one queue; `consuming` is the batch an orderly listener holds
    (Java's consumingMsgOrderlyTreeMap), `wall_ms`/`monotonic` the same instant on the
    two clocks."""

    def to_wall(when: float) -> int:
        return wall_ms - int((monotonic - when) * 1000)

    busy = {m.queue_offset for m in consuming}
    cached = [m for m in pq.take(pq.count) if m.queue_offset not in busy]
    cached_min, cached_max, cached_count = _offsets_of(cached)
    busy_min, busy_max, busy_count = _offsets_of(consuming)
    return {
        "commitOffset": commit_offset,
        "cachedMsgMinOffset": cached_min,
        "cachedMsgMaxOffset": cached_max,
        "cachedMsgCount": cached_count,
        "cachedMsgSizeInMiB": sum(len(m.body) for m in cached) // MIB,
        "transactionMsgMinOffset": busy_min,
        "transactionMsgMaxOffset": busy_max,
        "transactionMsgCount": busy_count,
        "locked": pq.locked,
        # A released orderly queue is unlocked once its batch is done (push.py), never
        # retried, so there are no unlock attempts to count.
        "tryUnlockTimes": 0,
        "lastLockTimestamp": to_wall(pq.last_lock_time) if pq.last_lock_time else taken_ms,
        "droped": pq.dropped,
        "lastPullTimestamp": to_wall(pq.last_pull_time),
        "lastConsumeTimestamp": last_consume_ms,
    }


def mq_table(
    queues: Mapping[MessageQueue, ProcessQueue],
    clock: QueueClock,
    consuming: Callable[[MessageQueue], Sequence[MessageExt]] | None = None,
) -> dict[ObjectKey, dict[str, Any]]:
    """ConsumerRunningInfo.mqTable of the owned `queues`; commitOffset is the offset in
    memory (-1 if none yet)."""
    wall, mono = now_ms(), time.monotonic()
    return {
        mq_key(mq): process_queue_info(
            pq,
            clock.offsets.read_memory(mq),
            clock.taken_ms(mq),
            clock.last_consume_ms(mq),
            consuming(mq) if consuming is not None else (),
            wall_ms=wall,
            monotonic=mono,
        )
        for mq, pq in queues.items()
    }
