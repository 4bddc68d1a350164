"""Where a new consumer group starts (consume_from_where), and moving a running group's
offsets with INVOKE_BROKER_TO_RESET_OFFSET, against a real NameServer and broker.

The topic gets two batches of messages with a pause between them; `between` is a time in
that pause, closer to the second batch (4.x searches by time for the *nearest* message).
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from orbitmq.client import (
    ConsumeOrderlyStatus,
    ConsumeStatus,
    Message,
    MessageExt,
    MessageQueue,
    MQAdmin,
    MQClientError,
    Producer,
    PushConsumer,
)
from orbitmq.client.errors import ConsumerNotOnlineError
from tests.integration.conftest import Cluster, make_cluster
from tests.integration.scenario import wait_for

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]

TOPIC = "FromTopic"
QUEUES = 2
BATCH = 10


@dataclass
class History:
    first: list[bytes]
    second: list[bytes]
    between: int  # ms, in the pause before the second batch


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    running = make_cluster(tmp_path_factory.mktemp("consume-from"))
    try:
        yield running
    finally:
        running.stop()


async def create_topic(cluster: Cluster, topic: str) -> None:
    async with MQAdmin(cluster.namesrv_addr) as admin:
        await admin.create_topic(cluster.broker_addr, topic, QUEUES, QUEUES)
        deadline = time.monotonic() + 15
        while True:
            try:
                if (await admin.topic_route(topic)).queue_datas:
                    return
            except MQClientError:
                pass
            assert time.monotonic() < deadline, f"no route for {topic}"
            await asyncio.sleep(0.1)


async def send_batch(cluster: Cluster, topic: str, prefix: str) -> list[bytes]:
    bodies = [f"{prefix}{i}".encode() for i in range(BATCH)]
    async with Producer("PG_FROM", cluster.namesrv_addr) as producer:
        for body in bodies:
            await producer.send(Message(topic, body))
    return bodies


async def _history(cluster: Cluster) -> History:
    await create_topic(cluster, TOPIC)
    first = await send_batch(cluster, TOPIC, "old-")
    await asyncio.sleep(1.0)
    between = time.time_ns() // 1_000_000
    await asyncio.sleep(0.05)
    second = await send_batch(cluster, TOPIC, "new-")
    return History(first, second, between)


@pytest.fixture(scope="module")
def history(cluster: Cluster) -> History:
    return asyncio.run(_history(cluster))


class Recorder:
    def __init__(self) -> None:
        self.bodies: list[bytes] = []

    def __call__(self, msgs: list[MessageExt]) -> ConsumeStatus:
        self.bodies.extend(m.body for m in msgs)
        return ConsumeStatus.CONSUME_SUCCESS


async def consume(
    cluster: Cluster, group: str, expected: int, settle: float = 0.5, **options: object
) -> list[bytes]:
    recorder = Recorder()
    consumer = PushConsumer(group, cluster.namesrv_addr, **options)  # type: ignore[arg-type]
    consumer.subscribe(TOPIC)
    consumer.register_message_listener(recorder)
    async with consumer:
        await wait_for(
            lambda: len(consumer.owned_queues) == QUEUES + 1, 20, "queues never assigned"
        )
        await wait_for(lambda: len(recorder.bodies) >= expected, 20, "messages missing")
        await asyncio.sleep(settle)  # anything unexpected would arrive now
    return recorder.bodies


async def test_first_offset_reads_everything(cluster: Cluster, history: History) -> None:
    got = await consume(
        cluster, "CG_FROM_FIRST", 2 * BATCH, consume_from_where="CONSUME_FROM_FIRST_OFFSET"
    )
    assert sorted(got) == sorted(history.first + history.second)


async def test_timestamp_reads_from_that_time_on(cluster: Cluster, history: History) -> None:
    got = await consume(
        cluster,
        "CG_FROM_TIME",
        BATCH,
        consume_from_where="CONSUME_FROM_TIMESTAMP",
        consume_timestamp=history.between,
    )
    assert sorted(got) == sorted(history.second)


async def test_last_offset_on_young_queues_replays_them_like_java(
    cluster: Cluster, history: History
) -> None:
    """A 4.x broker answers QUERY_CONSUMER_OFFSET with 0 for a group that never committed
    on a queue whose first message is still in memory, and Java, C++ and OrbitMQ clients
    start there: a new topic's first messages are not skipped. (When the broker says
    "not found", LAST_OFFSET starts at the max offset: tests/unit/client.)"""
    got = await consume(
        cluster, "CG_FROM_LAST", 2 * BATCH, consume_from_where="CONSUME_FROM_LAST_OFFSET"
    )
    assert sorted(got) == sorted(history.first + history.second)


async def test_a_known_group_resumes_where_it_committed(cluster: Cluster, history: History) -> None:
    await consume(
        cluster, "CG_FROM_RESUME", 2 * BATCH, 0.2, consume_from_where="CONSUME_FROM_FIRST_OFFSET"
    )
    third = await send_batch(cluster, TOPIC, "third-")
    # consume_from_where only matters for a queue the group never committed
    got = await consume(
        cluster, "CG_FROM_RESUME", BATCH, consume_from_where="CONSUME_FROM_FIRST_OFFSET"
    )
    assert sorted(got) == sorted(third)


async def test_reset_offset_moves_running_consumers(cluster: Cluster) -> None:
    topic, group = "ResetTopic", "CG_RESET"
    await create_topic(cluster, topic)
    counts: Counter[bytes] = Counter()
    orderly_counts: Counter[bytes] = Counter()

    def listener(msgs: list[MessageExt]) -> ConsumeStatus:
        counts.update(m.body for m in msgs)
        return ConsumeStatus.CONSUME_SUCCESS

    def orderly_listener(msgs: list[MessageExt]) -> ConsumeOrderlyStatus:
        orderly_counts.update(m.body for m in msgs)
        return ConsumeOrderlyStatus.SUCCESS

    members = []
    for i, (name, handler) in enumerate(
        [(group, listener), (f"{group}_ORDERLY", orderly_listener)]
    ):
        for n in range(2 - i):  # two concurrent members, one orderly member
            consumer = PushConsumer(
                name,
                cluster.namesrv_addr,
                consume_from_where="CONSUME_FROM_FIRST_OFFSET",
                instance_name=f"{name}-{n}",
            )
            consumer.subscribe(topic)
            consumer.register_message_listener(handler, orderly=i == 1)
            await consumer.start()
            members.append(consumer)
    try:
        await wait_for(
            lambda: (
                sum(len([q for q in m.owned_queues if q.topic == topic]) for m in members)
                == 2 * QUEUES
            ),
            20,
            "queues never assigned",
        )
        old = await send_batch(cluster, topic, "a-")
        await wait_for(
            lambda: len(counts) == BATCH and len(orderly_counts) == BATCH, 20, "batch a missing"
        )
        await asyncio.sleep(1.0)
        mark = time.time_ns() // 1_000_000
        await asyncio.sleep(0.05)
        new = await send_batch(cluster, topic, "b-")
        await wait_for(
            lambda: len(counts) == 2 * BATCH and len(orderly_counts) == 2 * BATCH,
            20,
            "batch b missing",
        )
        async with MQAdmin(cluster.namesrv_addr) as admin:
            broker = str(cluster.broker_props["brokerName"])
            mqs = [MessageQueue(topic, broker, q) for q in range(QUEUES)]
            max_offsets = [await admin.max_offset(mq) for mq in mqs]
            table = await admin.reset_offset_by_time(topic, group, mark)
            # each queue moves back to its first "b-" message: BATCH messages in all
            assert set(table) == set(mqs)
            assert sum(max_offsets[q] - table[mq] for q, mq in enumerate(mqs)) == BATCH
            orderly_table = await admin.reset_offset_by_time(topic, f"{group}_ORDERLY", mark)
            assert orderly_table == table
            await wait_for(
                lambda: (
                    all(counts[b] == 2 for b in new) and all(orderly_counts[b] == 2 for b in new)
                ),
                20,
                "the consumers did not follow the reset",
            )
            await asyncio.sleep(0.5)
            assert all(counts[b] == 1 for b in old) and all(orderly_counts[b] == 1 for b in old)
            assert all(counts[b] == 2 for b in new) and all(orderly_counts[b] == 2 for b in new)
            # the committed offsets end up at the end again
            deadline = time.monotonic() + 15
            while [await admin.query_consumer_offset(group, mq) for mq in mqs] != max_offsets:
                assert time.monotonic() < deadline, "offsets not committed after the reset"
                await asyncio.sleep(0.2)
            with pytest.raises(ConsumerNotOnlineError):
                await admin.reset_offset_by_time(topic, "CG_NOBODY_HOME", mark)
    finally:
        for consumer in members:
            await consumer.shutdown()
