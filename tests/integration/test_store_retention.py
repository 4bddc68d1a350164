"""Retention with a real broker: expired commit-log segments go with their consume queue
and index files, and a consumer left behind moves on (PULL_OFFSET_MOVED)."""

from __future__ import annotations

import asyncio
import os
import random
import time
from pathlib import Path

import pytest

from orbitmq.client import (
    ConsumeStatus,
    Message,
    MessageExt,
    MessageQueue,
    MQAdmin,
    Producer,
    PullConsumer,
    PullStatus,
    PushConsumer,
)
from tests.integration.conftest import make_cluster
from tests.integration.scenario import wait_for

pytestmark = pytest.mark.slow

SEGMENT = 64 * 1024


async def test_expired_files_are_deleted_and_consumers_move_on(tmp_path: Path) -> None:
    cluster = make_cluster(
        tmp_path,
        mapedFileSizeCommitLog=SEGMENT,
        mapedFileSizeConsumeQueue=400,  # 20 units
        maxHashSlotNum=64,
        maxIndexNum=40,
        fileReservedTime=1,
        deleteWhen=";".join(f"{h:02d}" for h in range(24)),
        cleanResourceInterval=200,
        deleteCommitLogFilesInterval=0,
        deleteConsumeQueueFilesInterval=0,
    )
    try:
        topic = "RetentionTopic"
        broker_name = str(cluster.broker_props["brokerName"])
        mq = MessageQueue(topic, broker_name, 0)
        async with MQAdmin(cluster.namesrv_addr) as admin:
            await admin.create_topic(cluster.broker_addr, topic, 1, 1)
            async with Producer("PG_RETENTION", cluster.namesrv_addr) as producer:
                for i in range(120):  # ~2 KiB each: four or five segments
                    body = b"%04d" % i + random.Random(i).randbytes(2000)
                    await producer.send(Message(topic, body, keys=[f"ret-{i}"]))
            await admin.update_consumer_offset("CG_BEHIND", mq, 10)  # a consumer far behind
            segments = sorted((cluster.store_dir / "commitlog").iterdir())
            index_before = sorted((cluster.store_dir / "index").iterdir())
            assert len(segments) >= 4 and len(index_before) >= 3
            assert await admin.min_offset(mq) == 0

            old = time.time() - 2 * 3600  # older than fileReservedTime=1 (hour)
            for path in segments:
                os.utime(path, (old, old))
            deadline = time.monotonic() + 10
            while (min_offset := await admin.min_offset(mq)) == 0:
                assert time.monotonic() < deadline, cluster.broker.tail()
                await asyncio.sleep(0.1)
            max_offset = await admin.max_offset(mq)
            assert 10 < min_offset < max_offset == 120
            # Every segment but the one being written is gone; queues and index follow.
            assert sorted((cluster.store_dir / "commitlog").iterdir()) == segments[-1:]
            info = await admin.get_broker_runtime_info(cluster.broker_addr)
            assert int(info["commitLogMinOffset"]) == int(segments[-1].name)
            await wait_for(
                lambda: len(list((cluster.store_dir / "index").iterdir())) < len(index_before),
                10,
                "no index file was deleted",
            )
            cq_files = sorted((cluster.store_dir / "consumequeue" / topic / "0").iterdir())
            assert int(cq_files[0].name) // 20 <= min_offset  # leading CQ files went
            assert int(cq_files[0].name) > 0
            assert await admin.query_message(topic, "ret-0") == []  # deleted with its segment
            assert len(await admin.query_message(topic, "ret-119")) == 1

        # A pull below the new minimum: OFFSET_MOVED, with where to go next.
        puller = PullConsumer("CG_RAW", cluster.namesrv_addr)
        await puller.start()
        try:
            result = await puller.pull(mq, "*", 0, 32)
            assert result.status is PullStatus.OFFSET_ILLEGAL
            assert result.next_begin_offset == min_offset
        finally:
            await puller.shutdown()

        # The push consumer at offset 10 moves on to the minimum and reads to the end.
        received: list[MessageExt] = []

        def on_messages(msgs: list[MessageExt]) -> ConsumeStatus:
            received.extend(msgs)
            return ConsumeStatus.CONSUME_SUCCESS

        consumer = PushConsumer("CG_BEHIND", cluster.namesrv_addr)
        consumer.subscribe(topic, "*")
        consumer.register_message_listener(on_messages)
        await consumer.start()
        try:
            await wait_for(lambda: len(received) >= 120 - min_offset, 30, "consumer stuck")
            offsets = sorted(m.queue_offset for m in received)
            assert offsets == list(range(min_offset, 120))
            assert received[0].body.startswith(b"%04d" % min_offset)
        finally:
            await consumer.shutdown()
    finally:
        cluster.stop()
