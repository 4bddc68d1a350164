"""Store durability with real broker processes: SIGKILL under SYNC_FLUSH, damaged commit
log tails, lost consume queue and index files."""

from __future__ import annotations

import asyncio
import os
import signal
from dataclasses import dataclass
from pathlib import Path

import pytest

from orbitmq.client import Message, MessageQueue, MQAdmin, Producer, PullConsumer, PullStatus
from orbitmq.client.message import SendResult, SendStatus
from orbitmq.protocol.message import decode_offset_msg_id
from tests.integration.conftest import Cluster, make_cluster
from tests.processes import start_broker

pytestmark = pytest.mark.slow

INDEX = {"maxHashSlotNum": 4096, "maxIndexNum": 32768}


@dataclass(frozen=True)
class Acked:
    key: str
    body: bytes
    msg_id: str
    offset_msg_id: str
    queue_id: int
    queue_offset: int


async def create_topic(cluster: Cluster, topic: str, queues: int) -> None:
    async with MQAdmin(cluster.namesrv_addr) as admin:
        await admin.create_topic(cluster.broker_addr, topic, queues, queues)


async def pull_all(cluster: Cluster, topic: str) -> dict[tuple[int, int], bytes]:
    """(queue id, queue offset) -> body for every message of the topic."""
    consumer = PullConsumer("CG_STORE_CHECK", cluster.namesrv_addr)
    await consumer.start()
    found: dict[tuple[int, int], bytes] = {}
    try:
        for mq in await consumer.fetch_message_queues(topic):
            offset = 0
            while True:
                result = await consumer.pull(mq, "*", offset, 32)
                if result.status is not PullStatus.FOUND:
                    break
                for msg in result.messages:
                    assert (mq.queue_id, msg.queue_offset) not in found, "duplicate offset"
                    found[(mq.queue_id, msg.queue_offset)] = msg.body
                offset = result.next_begin_offset
    finally:
        await consumer.shutdown()
    return found


def segment_size(cluster: Cluster) -> int:
    return int(str(cluster.broker_props["mapedFileSizeCommitLog"]))


def commit_log_path(cluster: Cluster, offset: int) -> Path:
    size = segment_size(cluster)
    return cluster.store_dir / "commitlog" / f"{offset - offset % size:020d}"


def physical_offset(acked: Acked) -> int:
    return decode_offset_msg_id(acked.offset_msg_id)[2]


async def send_keyed(cluster: Cluster, topic: str, count: int, prefix: str) -> list[Acked]:
    producer = Producer("PG_STORE", cluster.namesrv_addr)
    await producer.start()
    acked = []
    try:
        for i in range(count):
            key = f"{prefix}-{i}"
            body = f"{prefix} body {i}".encode()
            result = await producer.send(Message(topic, body, keys=[key, "common"]))
            acked.append(_acked(key, body, result))
    finally:
        await producer.shutdown()
    return acked


def _acked(key: str, body: bytes, result: SendResult) -> Acked:
    return Acked(
        key,
        body,
        result.msg_id,
        result.offset_msg_id,
        result.message_queue.queue_id,
        result.queue_offset,
    )


@pytest.mark.parametrize("crash", ["process", "os"])
async def test_sigkill_while_sending_under_sync_flush(tmp_path: Path, crash: str) -> None:
    """`os`: the abort file is made to name another boot, as after a power loss, so
    recovery takes the conservative path (checkpoint offsets) instead of trusting
    the page cache."""
    cluster = make_cluster(tmp_path, flushDiskType="SYNC_FLUSH", **INDEX)
    try:
        topic = "CrashTopic"
        await create_topic(cluster, topic, 4)
        producer = Producer("PG_CRASH", cluster.namesrv_addr, retry_times_when_send_failed=0)
        await producer.start()
        acked: list[Acked] = []

        async def sender(n: int) -> None:
            for i in range(100_000):
                key = f"crash-{n}-{i}"
                body = key.encode() * 8
                try:
                    result = await producer.send(Message(topic, body, keys=[key]), timeout=3)
                except Exception:
                    return  # the broker is gone
                assert result.status is SendStatus.SEND_OK  # on disk before the answer
                acked.append(_acked(key, body, result))

        senders = [asyncio.create_task(sender(n)) for n in range(8)]
        while len(acked) < 400:
            await asyncio.sleep(0.02)
        cluster.broker.send_signal(signal.SIGKILL)  # mid-flight: sends are in progress
        await asyncio.wait_for(asyncio.gather(*senders), 30)
        await producer.shutdown()
        cluster.broker.process.wait(5)
        cluster.broker.stop()
        assert (cluster.store_dir / "abort").exists()
        if crash == "os":
            (cluster.store_dir / "abort").write_text("a-boot-before-the-power-cut")

        cluster.broker = start_broker(cluster.workdir, cluster.broker_props)
        expected = "after a process crash" if crash == "process" else "after an OS crash"
        assert any(expected in line for line in cluster.broker.output), cluster.broker.tail()
        stored = await pull_all(cluster, topic)
        for queue_id in range(4):  # dense offsets 0..n-1 in every queue
            offsets = sorted(o for q, o in stored if q == queue_id)
            assert offsets == list(range(len(offsets)))
        for a in acked:
            assert stored[(a.queue_id, a.queue_offset)] == a.body
        async with MQAdmin(cluster.namesrv_addr) as admin:
            for a in acked[::4]:  # by key, once each
                found = await admin.query_message(topic, a.key)
                assert [m.body for m in found] == [a.body]
            for a in acked[:: len(acked) // 5]:
                assert (await admin.query_message(topic, a.msg_id, unique=True))[0].body == a.body
                assert (await admin.view_message(a.offset_msg_id)).body == a.body
        # Sending goes on with the next offsets of each queue.
        next_offset = {q: len([1 for sq, _ in stored if sq == q]) for q in range(4)}
        for a in await send_keyed(cluster, topic, 8, "after"):
            assert a.queue_offset == next_offset[a.queue_id]
            next_offset[a.queue_id] += 1
    finally:
        cluster.stop()


async def test_damaged_commit_log_tail_is_dropped(tmp_path: Path) -> None:
    cluster = make_cluster(tmp_path, **INDEX)
    try:
        topic = "TailTopic"
        await create_topic(cluster, topic, 1)  # one queue: log order = queue order
        acked = await send_keyed(cluster, topic, 30, "tail")
        cluster.broker.stop()

        # 1. The last record cut mid-way (the file loses its end).
        last = physical_offset(acked[-1])
        os.truncate(commit_log_path(cluster, last), last % segment_size(cluster) + 40)
        cluster.broker = start_broker(cluster.workdir, cluster.broker_props)
        assert any(f"at offset {last}; dropped the" in line for line in cluster.broker.output)
        stored = await pull_all(cluster, topic)
        assert [stored[(0, i)] for i in range(len(stored))] == [a.body for a in acked[:29]]
        async with MQAdmin(cluster.namesrv_addr) as admin:
            assert await admin.query_message(topic, acked[-1].key) == []
            assert (await admin.query_message(topic, acked[-2].key))[0].body == acked[-2].body
        cluster.broker.stop()

        # 2. Flipped bytes in the bodies of the last three records left.
        for a in acked[26:29]:
            with open(commit_log_path(cluster, physical_offset(a)), "r+b") as fh:
                fh.seek(physical_offset(a) % segment_size(cluster) + 90)  # in the body
                fh.write(b"\xde\xad")
        cluster.broker = start_broker(cluster.workdir, cluster.broker_props)
        damaged = physical_offset(acked[26])
        assert any(
            f"body CRC mismatch at offset {damaged}" in line for line in cluster.broker.output
        ), cluster.broker.tail()
        stored = await pull_all(cluster, topic)
        assert [stored[(0, i)] for i in range(len(stored))] == [a.body for a in acked[:26]]
        async with MQAdmin(cluster.namesrv_addr) as admin:
            assert (await admin.view_message(acked[25].offset_msg_id)).body == acked[25].body
            assert await admin.query_message(topic, acked[27].key) == []
        again = await send_keyed(cluster, topic, 1, "again")
        assert again[0].queue_offset == 26 and physical_offset(again[0]) == damaged
    finally:
        cluster.stop()


async def test_lost_consume_queue_and_index_files_are_rebuilt(tmp_path: Path) -> None:
    cluster = make_cluster(tmp_path, **INDEX)
    try:
        topic = "RebuildTopic"
        await create_topic(cluster, topic, 2)
        acked = await send_keyed(cluster, topic, 40, "rebuild")
        before = await pull_all(cluster, topic)
        cluster.broker.stop()

        for path in (cluster.store_dir / "consumequeue" / topic / "0").iterdir():
            path.unlink()  # queue 0 lost every segment
        (index_file,) = (cluster.store_dir / "index").iterdir()
        with open(index_file, "r+b") as fh:
            fh.write(os.urandom(40))  # a garbage header
        cluster.broker = start_broker(cluster.workdir, cluster.broker_props)
        assert await pull_all(cluster, topic) == before
        queue_zero = MessageQueue(topic, str(cluster.broker_props["brokerName"]), 0)
        async with MQAdmin(cluster.namesrv_addr) as admin:
            assert await admin.max_offset(queue_zero) == len([1 for q, _ in before if q == 0])
            for a in acked[::5]:
                assert [m.body for m in await admin.query_message(topic, a.key)] == [a.body]
            assert len(await admin.query_message(topic, "common", max_num=64)) == 40
            # Same Java hash as "BB": the broker answers both, the client keeps its key's.
            async with Producer("PG_HASH", cluster.namesrv_addr) as producer:
                await producer.send(Message(topic, b"aa", keys=["Aa"]))
                await producer.send(Message(topic, b"bb", keys=["BB"]))
            assert [m.body for m in await admin.query_message(topic, "Aa")] == [b"aa"]
    finally:
        cluster.stop()
