"""Where a new group starts when the broker has no offset for it (in-process broker)."""

from __future__ import annotations

import asyncio

import pytest

from orbitmq.client import ConsumeStatus, Message, MessageExt, Producer, PushConsumer

from .conftest import Cluster, wait_for
from .test_push_consumer_live import create_topic


@pytest.mark.parametrize(
    ("where", "expect_old"),
    [("CONSUME_FROM_LAST_OFFSET", False), ("CONSUME_FROM_FIRST_OFFSET", True)],
)
async def test_without_a_stored_offset_last_starts_at_the_end_and_first_at_zero(
    cluster: Cluster, where: str, expect_old: bool
) -> None:
    # No message counts as "in memory": QUERY_CONSUMER_OFFSET answers 22 (not found),
    # as a Java broker does once a queue's first message has left the page cache.
    cluster.brokers["broker-a"].config.access_message_in_memory_max_ratio = 0
    await create_topic(cluster, "FromEnd", 2)
    got: list[bytes] = []

    def listener(msgs: list[MessageExt]) -> ConsumeStatus:
        got.extend(m.body for m in msgs)
        return ConsumeStatus.CONSUME_SUCCESS

    async with Producer("PG", cluster.namesrv_addr) as producer:
        for i in range(6):
            await producer.send(Message("FromEnd", f"old{i}".encode()))
        consumer = PushConsumer("FromEndGroup", cluster.namesrv_addr, consume_from_where=where)
        consumer.subscribe("FromEnd")
        consumer.register_message_listener(listener)
        async with consumer:
            await wait_for(lambda: len(consumer.owned_queues) == 3)
            for i in range(4):
                await producer.send(Message("FromEnd", f"new{i}".encode()))
            await wait_for(lambda: sum(b.startswith(b"new") for b in got) == 4)
            await asyncio.sleep(0.3)
    old = sorted(b for b in got if b.startswith(b"old"))
    assert old == ([f"old{i}".encode() for i in range(6)] if expect_old else [])
