"""PullConsumer, MQAdmin and the synchronous facade against an in-process cluster."""

from __future__ import annotations

import asyncio
import time

import pytest

from orbitmq.client import (
    Message,
    MQAdmin,
    Producer,
    PullConsumer,
    PullStatus,
    SendStatus,
    SyncAdmin,
    SyncProducer,
    SyncPullConsumer,
    TopicNotExistError,
)
from orbitmq.client.message import MessageQueue

from .conftest import Cluster, wait_for


async def test_admin_topic_lifecycle(cluster: Cluster) -> None:
    async with MQAdmin(cluster.namesrv_addr) as admin:
        info = await admin.cluster_info()
        assert info.cluster_addr_table == {"DefaultCluster": ["broker-a"]}
        assert info.broker_addr_table["broker-a"].master_addr == cluster.broker_addr()
        with pytest.raises(TopicNotExistError):
            await admin.topic_route("Nope")
        await admin.create_topic(cluster.broker_addr(), "AdminTopic", 3, 2, perm=6)

        async def has_route() -> bool:
            try:
                return bool(await admin.topic_route("AdminTopic"))
            except TopicNotExistError:
                return False

        await wait_for(has_route)
        route = await admin.topic_route("AdminTopic")
        assert (route.queue_datas[0].read_queue_nums, route.queue_datas[0].write_queue_nums) == (
            3,
            2,
        )
        assert "AdminTopic" in await admin.topic_list()
        configs = await admin.get_all_topic_config(cluster.broker_addr())
        assert configs["topicConfigTable"]["AdminTopic"]["readQueueNums"] == 3
        await admin.create_subscription_group(cluster.broker_addr(), {"groupName": "AdminGroup"})
        mq = MessageQueue("AdminTopic", "broker-a", 0)
        assert await admin.max_offset(mq) == 0
        assert await admin.min_offset(mq) == 0


async def test_pull_consumer_offsets_and_filtering(cluster: Cluster) -> None:
    async with (
        Producer("PG", cluster.namesrv_addr) as producer,
        PullConsumer("PullGroup", cluster.namesrv_addr) as consumer,
    ):
        async with MQAdmin(cluster.namesrv_addr) as admin:
            await admin.create_topic(cluster.broker_addr(), "PullTopic", 1, 1)
        queues = await wait_for(lambda: _queues(consumer, "PullTopic"))
        assert queues == [MessageQueue("PullTopic", "broker-a", 0)]
        mq = queues[0]
        before = int(time.time() * 1000) - 1000
        for i in range(6):
            await producer.send(Message("PullTopic", f"p{i}".encode(), tags="A" if i % 2 else "B"))
        result = await consumer.pull(mq, "A", 0, 32)
        assert result.status is PullStatus.FOUND
        assert [m.body for m in result.messages] == [b"p1", b"p3", b"p5"]
        assert result.next_begin_offset == 6
        assert (result.min_offset, result.max_offset) == (0, 6)
        empty = await consumer.pull(mq, "*", 6, 32)
        assert empty.status is PullStatus.NO_NEW_MSG
        illegal = await consumer.pull(mq, "*", 100, 32)
        assert illegal.status is PullStatus.OFFSET_ILLEGAL
        assert illegal.next_begin_offset == 6
        assert await consumer.max_offset(mq) == 6
        assert await consumer.min_offset(mq) == 0
        assert await consumer.search_offset(mq, before) == 0
        await consumer.update_consumer_offset(mq, 4)
        assert await consumer.query_consumer_offset(mq) == 4


async def test_blocking_pull_waits_for_a_message(cluster: Cluster) -> None:
    async with (
        Producer("PG", cluster.namesrv_addr) as producer,
        PullConsumer("PullGroup", cluster.namesrv_addr) as consumer,
    ):
        first = await producer.send(Message("LongPoll", b"one"))
        mq = first.message_queue
        await wait_for(lambda: _queues(consumer, "LongPoll"))
        pending = asyncio.ensure_future(consumer.pull(mq, "*", 1, 32, block=True))
        await asyncio.sleep(0.3)
        assert not pending.done()
        await producer.send_to_queue(Message("LongPoll", b"two"), mq)
        result = await asyncio.wait_for(pending, 10)
        assert [m.body for m in result.messages] == [b"two"]


async def _queues(consumer: PullConsumer, topic: str) -> list[MessageQueue]:
    try:
        return await consumer.fetch_message_queues(topic)
    except Exception:
        return []


def test_sync_facade(cluster_addr: tuple[str, str]) -> None:
    namesrv_addr, broker_addr = cluster_addr
    with SyncAdmin(namesrv_addr) as admin:
        admin.create_topic(broker_addr, "SyncTopic", 1, 1)
        deadline = time.monotonic() + 10
        while "SyncTopic" not in admin.topic_list():
            assert time.monotonic() < deadline
            time.sleep(0.05)
        assert admin.call(admin.admin.topic_list())
    with SyncProducer("PG", namesrv_addr) as producer:
        result = producer.send(Message("SyncTopic", b"sync"))
        assert result.status is SendStatus.SEND_OK
        assert producer.send_async(Message("SyncTopic", b"async")).result(5).queue_offset == 1
    with SyncPullConsumer("SyncGroup", namesrv_addr) as consumer:
        [mq] = consumer.fetch_message_queues("SyncTopic")
        pulled = consumer.pull(mq, "*", 0, 10)
        assert [m.body for m in pulled.messages] == [b"sync", b"async"]
        assert consumer.max_offset(mq) == 2
