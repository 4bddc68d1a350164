"""Producer against an in-process NameServer and broker."""

from __future__ import annotations

import asyncio
import zlib

import pytest

from orbitmq.client import (
    IllegalMessageError,
    Message,
    MQClientError,
    Producer,
    PullConsumer,
    PullStatus,
    SendResult,
    SendStatus,
    select_by_hash,
)
from orbitmq.client.message import MessageQueue
from orbitmq.protocol.message import decode_offset_msg_id

from .conftest import Cluster, wait_for


async def wait_route(consumer: PullConsumer, topic: str) -> list[MessageQueue]:
    """The broker registers an auto-created topic in the background: wait for its route."""

    async def queues() -> list[MessageQueue]:
        try:
            return await consumer.fetch_message_queues(topic)
        except MQClientError:
            return []

    result: list[MessageQueue] = await wait_for(queues)
    return result


async def pull_all(consumer: PullConsumer, mq: MessageQueue, expression: str = "*") -> list:
    await wait_route(consumer, mq.topic)
    out = []
    offset = 0
    while True:
        result = await consumer.pull(mq, expression, offset, 32)
        if result.status is not PullStatus.FOUND and result.status is not PullStatus.NO_MATCHED_MSG:
            return out
        out += result.messages
        offset = result.next_begin_offset


async def test_send_auto_creates_topic_via_tbw102(cluster: Cluster) -> None:
    async with Producer("PG", cluster.namesrv_addr) as producer:
        result = await producer.send(Message("TopicTest", b"hello", tags="TagA", keys=["k1", "k2"]))
        assert result.status is SendStatus.SEND_OK
        assert len(result.msg_id) == 32
        ip, port, _ = decode_offset_msg_id(result.offset_msg_id)
        assert f"{ip}:{port}" == cluster.broker_addr()
        assert result.message_queue.broker_name == "broker-a"
        assert result.queue_offset == 0
        queues = await producer.fetch_publish_queues("TopicTest")
        assert len(queues) == 4  # TBW102 clamped to defaultTopicQueueNums


async def test_round_robin_and_consumed_content(cluster: Cluster) -> None:
    async with (
        Producer("PG", cluster.namesrv_addr) as producer,
        PullConsumer("CG", cluster.namesrv_addr) as consumer,
    ):
        results = [
            await producer.send(Message("RR", f"m{i}".encode(), tags="A", keys="key"))
            for i in range(8)
        ]
        used = {r.message_queue.queue_id for r in results}
        assert len(used) == 4
        mq = results[0].message_queue
        msgs = await pull_all(consumer, mq)
        first = msgs[0]
        assert first.body == b"m0"
        assert first.tags == "A"
        assert first.keys == ["key"]
        assert first.msg_id == results[0].msg_id


async def test_compressed_body_round_trip(cluster: Cluster) -> None:
    body = bytes(range(256)) * 40
    async with (
        Producer("PG", cluster.namesrv_addr) as producer,
        PullConsumer("CG", cluster.namesrv_addr) as consumer,
    ):
        result = await producer.send(Message("Big", body))
        [msg] = await pull_all(consumer, result.message_queue)
        assert msg.body == body
        small = await producer.send(Message("Big", b"x" * 10))
        assert small.status is SendStatus.SEND_OK
    assert zlib.decompress(zlib.compress(body, 5)) == body


async def test_batch(cluster: Cluster) -> None:
    async with (
        Producer("PG", cluster.namesrv_addr) as producer,
        PullConsumer("CG", cluster.namesrv_addr) as consumer,
    ):
        await producer.send(Message("Batch", b"first"))
        msgs = [Message("Batch", f"b{i}".encode(), tags=f"T{i}") for i in range(5)]
        result = await producer.send_batch(msgs)
        assert result.status is SendStatus.SEND_OK
        assert len(result.msg_id.split(",")) == 5
        pulled = await pull_all(consumer, result.message_queue)
        batch = [m for m in pulled if m.body.startswith(b"b")]
        assert [m.body for m in batch] == [f"b{i}".encode() for i in range(5)]
        assert [m.msg_id for m in batch] == result.msg_id.split(",")
        assert batch[0].queue_offset == result.queue_offset
        with pytest.raises(IllegalMessageError):
            await producer.send_batch([Message("Batch", b"a"), Message("Other", b"b")])


async def test_oneway_async_and_orderly(cluster: Cluster) -> None:
    async with (
        Producer("PG", cluster.namesrv_addr) as producer,
        PullConsumer("CG", cluster.namesrv_addr) as consumer,
    ):
        await producer.send(Message("Misc", b"create"))
        await producer.send_oneway(Message("Misc", b"oneway"))
        seen: list[SendResult | None] = []
        done = asyncio.Event()

        def callback(result: SendResult | None, exc: BaseException | None) -> None:
            seen.append(result)
            done.set()

        future = producer.send_async(Message("Misc", b"async"), callback)
        result = await future
        await done.wait()
        assert seen == [result]
        orderly = [
            await producer.send_orderly(
                Message("Misc", f"o{i}".encode()), select_by_hash, "order-42"
            )
            for i in range(4)
        ]
        assert len({r.message_queue for r in orderly}) == 1

        async def total() -> int:
            queues = await wait_route(consumer, "Misc")
            return sum([len(await pull_all(consumer, mq)) for mq in queues])

        await wait_for(lambda: _equals(total(), 7))


async def _equals(awaitable, expected) -> bool:  # type: ignore[no-untyped-def]
    return (await awaitable) == expected


async def test_many_concurrent_sends_pipeline_on_one_connection(cluster: Cluster) -> None:
    async with Producer("PG", cluster.namesrv_addr) as producer:
        await producer.send(Message("Pipe", b"warm-up"))
        results = await asyncio.gather(
            *(producer.send(Message("Pipe", f"{i}".encode())) for i in range(500))
        )
        assert all(r.status is SendStatus.SEND_OK for r in results)
        assert len({r.msg_id for r in results}) == 500
        assert len(producer._instance.transport.connections) == 2  # NameServer + broker


async def test_namesrv_failover(cluster: Cluster) -> None:
    for _ in range(3):  # the first NameServer is chosen at random
        namesrv = f"127.0.0.1:1;{cluster.namesrv_addr}"
        async with Producer("PG", namesrv) as producer:
            assert (await producer.send(Message("Failover", b"x"))).status is SendStatus.SEND_OK


async def test_retry_avoids_a_dead_broker(cluster: Cluster) -> None:
    await cluster.add_broker("broker-b")
    async with Producer("PG", cluster.namesrv_addr, send_timeout=5.0) as producer:
        await producer.send(Message("TwoBrokers", b"x"))
        for name in ("broker-a", "broker-b"):
            await producer.send_to_queue(
                Message("TwoBrokers", b"y"), MessageQueue("TwoBrokers", name, 0)
            )
        await producer._routes.refresh("TwoBrokers")
        info = await producer._routes.publish_info("TwoBrokers")
        assert {q.broker_name for q in info.queues} == {"broker-a", "broker-b"}
        await cluster.stop_broker("broker-b")
        results = [await producer.send(Message("TwoBrokers", b"z")) for _ in range(10)]
        assert {r.message_queue.broker_name for r in results} == {"broker-a"}


async def test_errors_before_start_and_for_bad_messages(cluster: Cluster) -> None:
    producer = Producer("PG", cluster.namesrv_addr)
    with pytest.raises(MQClientError):
        await producer.send(Message("T", b"x"))
    async with producer:
        with pytest.raises(IllegalMessageError):
            await producer.send(Message("T", b""))
    async with Producer("PG", cluster.namesrv_addr, max_message_size=8) as small:
        with pytest.raises(IllegalMessageError, match="9 bytes"):
            await small.send(Message("T", b"x" * 9))
