"""Restarts keep messages and offsets; SYNC_FLUSH acknowledgements are on disk."""

from __future__ import annotations

import signal
from pathlib import Path

import pytest

from orbitmq.client import MessageQueue, MQAdmin, PullConsumer, PullStatus
from tests.integration.conftest import make_cluster
from tests.integration.scenario import produce, start_collector, wait_for
from tests.processes import start_broker

pytestmark = pytest.mark.slow


async def pull_all(namesrv_addr: str, topic: str) -> list[bytes]:
    consumer = PullConsumer("CG_PULL_ALL", namesrv_addr)
    await consumer.start()
    bodies: list[bytes] = []
    try:
        for mq in await consumer.fetch_message_queues(topic):
            offset = 0
            while True:
                result = await consumer.pull(mq, "*", offset, 32)
                if result.status is not PullStatus.FOUND:
                    break
                bodies.extend(m.body for m in result.messages)
                offset = result.next_begin_offset
    finally:
        await consumer.shutdown()
    return bodies


async def test_restart_keeps_messages_and_offsets(tmp_path: Path) -> None:
    cluster = make_cluster(tmp_path)
    try:
        topic = "RestartTopic"
        sent = await produce(cluster.namesrv_addr, topic, 40)
        collector = await start_collector(cluster.namesrv_addr, "CG_RESTART", topic)
        await wait_for(lambda: len(collector.bodies) == 40, 30, "first consumer missed messages")
        await collector.consumer.shutdown()  # commits its offsets to the broker

        cluster.restart_broker()  # SIGTERM, then start on the same store

        assert sorted(await pull_all(cluster.namesrv_addr, topic)) == sorted(m.body for m in sent)
        admin = MQAdmin(cluster.namesrv_addr)
        await admin.start()
        try:
            total = 0
            for queue_id in range(4):
                mq = MessageQueue(topic, cluster.broker_props["brokerName"], queue_id)
                committed = await admin.query_consumer_offset("CG_RESTART", mq)
                assert committed == await admin.max_offset(mq)
                total += committed or 0
            assert total == 40
        finally:
            await admin.shutdown()

        # The group resumes where it stopped: only new messages arrive.
        later = await produce(cluster.namesrv_addr, topic, 5)
        resumed = await start_collector(cluster.namesrv_addr, "CG_RESTART", topic)
        try:
            await wait_for(lambda: len(resumed.bodies) >= 5, 30, "new messages not consumed")
            assert resumed.bodies == {m.body for m in later}
        finally:
            await resumed.consumer.shutdown()
    finally:
        cluster.stop()


async def test_sync_flush_acknowledged_messages_are_on_disk(tmp_path: Path) -> None:
    cluster = make_cluster(tmp_path, flushDiskType="SYNC_FLUSH")
    try:
        topic = "SyncFlushTopic"
        sent = await produce(cluster.namesrv_addr, topic, 25)
        commit_log = b"".join(
            p.read_bytes() for p in sorted((cluster.store_dir / "commitlog").iterdir())
        )
        for message in sent:
            assert message.body in commit_log

        # SIGKILL right after the acknowledgements: a restart still serves all of them.
        cluster.broker.send_signal(signal.SIGKILL)
        cluster.broker.process.wait(5)
        cluster.broker.stop()
        assert (cluster.store_dir / "abort").exists()
        cluster.broker = start_broker(cluster.workdir, cluster.broker_props)
        assert sorted(await pull_all(cluster.namesrv_addr, topic)) == sorted(m.body for m in sent)
    finally:
        cluster.stop()
