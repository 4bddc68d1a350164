"""PushConsumer against an in-process NameServer and broker."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import orjson
import pytest

from orbitmq.client import (
    ConsumeStatus,
    Message,
    MessageExt,
    MQAdmin,
    MQClientError,
    Producer,
    PushConsumer,
)
from orbitmq.client.message import MessageQueue

from .conftest import Cluster, wait_for


async def create_topic(cluster: Cluster, topic: str, queues: int = 4) -> None:
    async with MQAdmin(cluster.namesrv_addr) as admin:
        for name in cluster.brokers:
            await admin.create_topic(cluster.broker_addr(name), topic, queues, queues)

        async def routed() -> bool:
            try:
                route = await admin.topic_route(topic)
            except Exception:
                return False
            return len(route.queue_datas) == len(cluster.brokers)

        await wait_for(routed)


class Collector:
    """A listener that records what it got; `fail_first` bodies fail once."""

    def __init__(self, fail_first: set[bytes] | None = None) -> None:
        self.received: list[MessageExt] = []
        self.fail_first = set(fail_first or ())

    async def __call__(self, msgs: list[MessageExt]) -> ConsumeStatus:
        for msg in msgs:
            if msg.body in self.fail_first:
                self.fail_first.discard(msg.body)
                return ConsumeStatus.RECONSUME_LATER
        self.received += msgs
        return ConsumeStatus.CONSUME_SUCCESS

    def bodies(self) -> set[bytes]:
        return {m.body for m in self.received}


async def test_consumes_with_tag_filter(cluster: Cluster) -> None:
    await create_topic(cluster, "Orders")
    collector = Collector()
    consumer = PushConsumer("CG", cluster.namesrv_addr)
    consumer.subscribe("Orders", "TagA || TagB")
    consumer.register_message_listener(collector)
    async with consumer, Producer("PG", cluster.namesrv_addr) as producer:
        await wait_for(lambda: len(consumer.owned_queues) == 4)
        for i in range(12):
            await producer.send(Message("Orders", f"m{i}".encode(), tags="TagABC"[i % 3 :][:4]))
        expected = {f"m{i}".encode() for i in range(12) if "TagABC"[i % 3 :][:4] in ("TagA",)}
        expected |= {f"m{i}".encode() for i in range(12) if "TagABC"[i % 3 :][:4] == "TagB"}
        await wait_for(lambda: collector.bodies() == expected)
        assert all(m.topic == "Orders" for m in collector.received)
    assert consumer.retry_topic in {s for s in consumer._subscriptions}


async def test_sync_listener_and_offsets_survive_restart(cluster: Cluster) -> None:
    await create_topic(cluster, "Resume", 2)
    threads: set[str] = set()
    got: list[bytes] = []

    def listener(msgs: list[MessageExt]) -> ConsumeStatus:
        threads.add(threading.current_thread().name)
        got.extend(m.body for m in msgs)
        return ConsumeStatus.CONSUME_SUCCESS

    async with Producer("PG", cluster.namesrv_addr) as producer:
        consumer = PushConsumer("ResumeGroup", cluster.namesrv_addr)
        consumer.subscribe("Resume")
        consumer.register_message_listener(listener)
        async with consumer:
            await wait_for(lambda: len(consumer.owned_queues) == 2)
            for i in range(6):
                await producer.send(Message("Resume", f"a{i}".encode()))
            await wait_for(lambda: len(got) == 6)
        assert all(name.startswith("orbitmq-consume-") for name in threads)
        async with MQAdmin(cluster.namesrv_addr) as admin:
            committed = [
                await admin.query_consumer_offset(
                    "ResumeGroup", MessageQueue("Resume", "broker-a", q)
                )
                for q in range(2)
            ]
        assert sum(o or 0 for o in committed) == 6
        for i in range(4):
            await producer.send(Message("Resume", f"b{i}".encode()))
        got.clear()
        again = PushConsumer("ResumeGroup", cluster.namesrv_addr)
        again.subscribe("Resume")
        again.register_message_listener(listener)
        async with again:
            await wait_for(lambda: len(got) >= 4)
            await asyncio.sleep(0.3)
        assert sorted(got) == [f"b{i}".encode() for i in range(4)]


async def test_two_members_share_queues(cluster: Cluster) -> None:
    await create_topic(cluster, "Shared", 4)
    first, second = Collector(), Collector()
    c1 = PushConsumer("SharedGroup", cluster.namesrv_addr)
    c1.subscribe("Shared")
    c1.register_message_listener(first)
    c2 = PushConsumer("SharedGroup", cluster.namesrv_addr)
    c2.subscribe("Shared")
    c2.register_message_listener(second)

    def shared(consumer: PushConsumer) -> set[MessageQueue]:
        return {mq for mq in consumer.owned_queues if mq.topic == "Shared"}

    async with c1:
        await wait_for(lambda: len(shared(c1)) == 4)
        async with c2:
            # NOTIFY_CONSUMER_IDS_CHANGED makes c1 give up half of the queues
            await wait_for(lambda: len(shared(c1)) == 2 and len(shared(c2)) == 2, timeout=10)
            assert shared(c1).isdisjoint(shared(c2))
            async with Producer("PG", cluster.namesrv_addr) as producer:
                for i in range(20):
                    await producer.send(Message("Shared", f"s{i}".encode()))
            await wait_for(lambda: len(first.received) + len(second.received) == 20)
            assert first.received and second.received
        # c2 committed its offsets when it left, so c1 takes its queues over without replays
        await wait_for(lambda: len(shared(c1)) == 4, timeout=10)
        await asyncio.sleep(0.5)
        assert len(first.received) + len(second.received) == 20


@pytest.mark.slow
async def test_failed_message_is_sent_back_and_redelivered(cluster: Cluster) -> None:
    await create_topic(cluster, "Retry", 1)
    collector = Collector(fail_first={b"poison"})
    consumer = PushConsumer("RetryGroup", cluster.namesrv_addr)
    consumer.subscribe("Retry")
    consumer.register_message_listener(collector)
    async with consumer, Producer("PG", cluster.namesrv_addr) as producer:
        await wait_for(lambda: any(mq.topic == "Retry" for mq in consumer.owned_queues))
        await producer.send(Message("Retry", b"poison", tags="T"))
        await producer.send(Message("Retry", b"fine"))
        await wait_for(lambda: b"fine" in collector.bodies())
        # the broker redelivers through %RETRY%RetryGroup after delay level 3 (10 s)
        await wait_for(lambda: b"poison" in collector.bodies(), timeout=30)
        [retried] = [m for m in collector.received if m.body == b"poison"]
        assert retried.topic == "Retry"
        assert retried.reconsume_times == 1
        assert retried.tags == "T"


async def test_broadcasting_every_member_gets_everything(cluster: Cluster, tmp_path: Path) -> None:
    await create_topic(cluster, "News", 2)
    collectors = [Collector(), Collector()]
    consumers = []
    for i, collector in enumerate(collectors):
        consumer = PushConsumer(
            "NewsGroup",
            cluster.namesrv_addr,
            message_model="BROADCASTING",
            consume_from_where="CONSUME_FROM_FIRST_OFFSET",
            offset_store_dir=tmp_path / f"member{i}",
        )
        consumer.subscribe("News")
        consumer.register_message_listener(collector)
        consumers.append(consumer)
    async with consumers[0], consumers[1], Producer("PG", cluster.namesrv_addr) as producer:
        for consumer in consumers:
            await wait_for(lambda c=consumer: len(c.owned_queues) == 2)
        for i in range(6):
            await producer.send(Message("News", f"n{i}".encode()))
        for collector in collectors:
            await wait_for(lambda c=collector: len(c.received) == 6)
    assert "%RETRY%NewsGroup" not in consumers[0]._subscriptions
    raw = orjson.loads((tmp_path / "member0" / "offsets.json").read_bytes())
    assert sum(e["offset"] for e in raw["offsetTable"]) == 6


async def test_start_requires_listener_and_subscription(cluster: Cluster) -> None:
    consumer = PushConsumer("G", cluster.namesrv_addr)
    with pytest.raises(MQClientError):
        await consumer.start()
    consumer.register_message_listener(Collector())
    with pytest.raises(MQClientError):
        await consumer.start()
    with pytest.raises(ValueError):
        PushConsumer("G", cluster.namesrv_addr, message_model="NOPE")


async def test_listener_gets_batches(cluster: Cluster) -> None:
    await create_topic(cluster, "Batched", 1)
    sizes: list[int] = []
    got: list[bytes] = []

    async def listener(msgs: list[MessageExt]) -> ConsumeStatus:
        sizes.append(len(msgs))
        got.extend(m.body for m in msgs)
        return ConsumeStatus.CONSUME_SUCCESS

    async with Producer("PG", cluster.namesrv_addr) as producer:
        await producer.send_batch([Message("Batched", f"{i}".encode()) for i in range(10)])
        consumer = PushConsumer(
            "BatchGroup",
            cluster.namesrv_addr,
            consume_from_where="CONSUME_FROM_FIRST_OFFSET",
            consume_message_batch_max_size=4,
        )
        consumer.subscribe("Batched")
        consumer.register_message_listener(listener)
        async with consumer:
            await wait_for(lambda: len(got) == 10)
    assert sorted(got, key=int) == [f"{i}".encode() for i in range(10)]
    assert max(sizes) == 4
