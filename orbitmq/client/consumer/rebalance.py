"""Sharing a topic's queues among a consumer group's members (RebalanceImpl.java, §8.4).

`allocate_averagely` is AllocateMessageQueueAveragely, the Java and C++ default: with
`n` sorted queues, `m` sorted client ids and my index `i`, each member takes a contiguous
block; the first `n % m` members take one extra queue. Every member computes the same
split from the same inputs, so no coordination is needed.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from orbitmq.client import broker_api
from orbitmq.client.consumer.broker_requests import now_ms
from orbitmq.client.consumer.offset_store import OffsetStore
from orbitmq.client.heartbeat import (
    CLUSTERING,
    CONSUME_FROM_FIRST_OFFSET,
    CONSUME_FROM_TIMESTAMP,
)
from orbitmq.client.instance import ClientInstance
from orbitmq.client.message import MessageQueue
from orbitmq.protocol.subscription import SubscriptionData
from orbitmq.protocol.topics import is_retry_topic

log = logging.getLogger(__name__)

THIRTY_MINUTES_MS = 30 * 60 * 1000


def allocate_averagely(
    queues: Sequence[MessageQueue], client_ids: Sequence[str], me: str
) -> list[MessageQueue]:
    """The queues `me` owns.

    Args:
        queues: all queues of the topic (sorted here).
        client_ids: ids of the group's members (sorted here).
        me: this client's id; if absent from `client_ids`, it owns nothing.
    """
    mqs = sorted(queues)
    cids = sorted(client_ids)
    if not mqs or me not in cids:
        return []
    n, m, i = len(mqs), len(cids), cids.index(me)
    mod = n % m
    if n <= m:
        size = 1
    elif mod > 0 and i < mod:
        size = n // m + 1
    else:
        size = n // m
    start = i * size if mod > 0 and i < mod else i * size + mod
    count = min(size, n - start)
    return [mqs[(start + k) % n] for k in range(count)]


class Rebalancer:
    """Decides which queues this member should own, topic by topic."""

    def __init__(self, instance: ClientInstance, group: str, message_model: str) -> None:
        self._instance = instance
        self._group = group
        self._message_model = message_model
        self._warned_no_route: set[str] = set()

    def _log_no_route(self, topic: str) -> None:
        """A retry topic has no route until a first message is sent back: expected, so
        DEBUG. A subscribed topic without a route needs the user: one WARNING per topic."""
        if is_retry_topic(topic) or topic in self._warned_no_route:
            log.debug("rebalance of %s: the topic has no route yet; skipped", topic)
            return
        self._warned_no_route.add(topic)
        log.warning("rebalance of %s: the topic has no route (does it exist?); skipped", topic)

    async def assigned_queues(self, subscription: SubscriptionData) -> list[MessageQueue] | None:
        """Queues to own for one subscribed topic; None means "unknown, keep what you have".

        Broadcasting: every read queue. Clustering: this member's average share, computed
        from GET_CONSUMER_LIST_BY_GROUP asked of a random broker of the topic.
        """
        topic = subscription.topic
        routes = self._instance.routes
        if topic not in routes.routes:
            try:
                await routes.refresh(topic)
            except Exception as exc:
                log.warning("no route for %s yet: %s", topic, exc)
        if topic not in routes.routes:
            self._log_no_route(topic)
            return None
        self._warned_no_route.discard(topic)
        queues = await routes.subscribe_queues(topic)
        if self._message_model != CLUSTERING:
            return queues
        addr = routes.any_broker_addr(topic)
        if addr is None:
            return None
        try:
            ids = await broker_api.get_consumer_id_list(self._instance, addr, self._group)
        except Exception as exc:
            log.warning("rebalance of %s: consumer list from %s failed: %s", topic, addr, exc)
            return None
        if not ids:
            log.warning(
                "rebalance of %s: broker %s lists no consumer of %s", topic, addr, self._group
            )
            return None
        return allocate_averagely(queues, ids, self._instance.client_id)


async def compute_pull_from_where(
    inst: ClientInstance,
    offsets: OffsetStore,
    mq: MessageQueue,
    consume_from_where: str,
    consume_timestamp: int | None = None,
) -> int:
    """Start offset of a newly owned queue (RebalancePushImpl.computePullFromWhere).

    The stored offset if any; else LAST_OFFSET: the queue's max offset (retry topics: 0);
    FIRST_OFFSET: 0; TIMESTAMP: the offset searched for `consume_timestamp` (default
    30 minutes ago; retry topics: max offset).

    "Stored" is what QUERY_CONSUMER_OFFSET answers, and a 4.x broker answers 0 for a
    queue the group never committed while the queue is young (its first message still in
    memory), so LAST_OFFSET, like Java's and C++'s, replays young queues from 0 rather
    than miss the first messages of a new topic. TIMESTAMP asks with RocketMQ 5's
    `setZeroIfNotFound=false` instead, so that the time given is what counts.

    Returns:
        The offset, or -1 to skip the queue until the next rebalance (broker unreachable).
    """
    try:
        stored = await offsets.read_store(
            mq, zero_if_not_found=consume_from_where != CONSUME_FROM_TIMESTAMP
        )
        if stored is not None and stored >= 0:
            return stored
        if consume_from_where == CONSUME_FROM_FIRST_OFFSET:
            return 0
        retry = is_retry_topic(mq.topic)
        if retry and consume_from_where != CONSUME_FROM_TIMESTAMP:
            return 0
        addr = await inst.routes.find_master(mq.broker_name, mq.topic)
        if consume_from_where == CONSUME_FROM_TIMESTAMP and not retry:
            when = consume_timestamp or now_ms() - THIRTY_MINUTES_MS
            return await broker_api.search_offset(inst, addr, mq, when)
        return await broker_api.get_max_offset(inst, addr, mq)
    except Exception as exc:
        log.warning("cannot compute the start offset of %s: %s", mq, exc)
        return -1
