"""A push consumer's running info: ProcessQueueInfo per owned queue, keyed by MessageQueue
as fastjson object keys, readable by our admin client and consumerStatus."""

from __future__ import annotations

import asyncio
import time

from orbitmq.admin.consumer_info import process_queue_warnings, running_info_text
from orbitmq.client.admin_bodies import parse_body, parse_running_info
from orbitmq.client.consumer.broker_requests import now_ms, running_info_body
from orbitmq.client.consumer.consume_orderly import ConsumeOrderlyStatus, OrderlyConsumeService
from orbitmq.client.consumer.offset_store import OffsetStore
from orbitmq.client.consumer.process_queue import ProcessQueue
from orbitmq.client.consumer.running_info import (
    QueueClock,
    mq_key,
    mq_table,
    process_queue_info,
)
from orbitmq.client.heartbeat import BROADCASTING
from orbitmq.client.message import MessageQueue
from orbitmq.protocol.message import MessageExt
from orbitmq.protocol.subscription import parse_subscription

MQ0 = MessageQueue("T", "broker-a", 0)
MQ1 = MessageQueue("T", "broker-a", 1)


def msgs(*offsets: int, size: int = 10) -> list[MessageExt]:
    return [MessageExt("T", b"x" * size, queue_offset=o) for o in offsets]


def test_process_queue_info_of_cached_and_consuming_messages() -> None:
    pq = ProcessQueue()
    batch = msgs(5, 6, 7, 8, size=600 * 1024)
    pq.put(batch)
    pq.mark_locked(100.0)
    pq.last_pull_time = 103.0
    info = process_queue_info(pq, 5, 1_000, 2_000, batch[:2], wall_ms=50_000, monotonic=104.0)
    assert info == {
        "commitOffset": 5,
        "cachedMsgMinOffset": 7,
        "cachedMsgMaxOffset": 8,
        "cachedMsgCount": 2,
        "cachedMsgSizeInMiB": 1,
        "transactionMsgMinOffset": 5,
        "transactionMsgMaxOffset": 6,
        "transactionMsgCount": 2,
        "locked": True,
        "tryUnlockTimes": 0,
        "lastLockTimestamp": 46_000,
        "droped": False,
        "lastPullTimestamp": 49_000,
        "lastConsumeTimestamp": 2_000,
    }


def test_an_empty_never_locked_queue_reports_when_it_was_taken() -> None:
    info = process_queue_info(ProcessQueue(), -1, 1_000, 1_000, wall_ms=9_000, monotonic=1.0)
    assert info["cachedMsgCount"] == info["cachedMsgMinOffset"] == info["cachedMsgMaxOffset"] == 0
    assert (info["locked"], info["lastLockTimestamp"], info["commitOffset"]) == (False, 1_000, -1)


def test_queue_clock_notes_the_end_of_listener_calls() -> None:
    offsets = OffsetStore()
    clock = QueueClock(offsets)
    before = now_ms()
    clock.taken(MQ0)
    assert before <= clock.last_consume_ms(MQ0) == clock.taken_ms(MQ0) <= now_ms()
    time.sleep(0.01)
    clock.update(MQ0, 4)
    assert offsets.read_memory(MQ0) == 4
    assert clock.last_consume_ms(MQ0) > clock.taken_ms(MQ0)
    clock.released(MQ0)
    assert clock.last_consume_ms(MQ0) == clock.taken_ms(MQ0) == 0


def test_running_info_body_is_read_by_the_admin_client_and_consumer_status() -> None:
    offsets = OffsetStore()
    clock = QueueClock(offsets)
    pqs = {MQ0: ProcessQueue(), MQ1: ProcessQueue()}
    for mq in pqs:
        clock.taken(mq)
    pqs[MQ1].put(msgs(3))
    clock.update(MQ0, 12)
    body = running_info_body(
        "CONSUME_PASSIVELY", 20, 1, [parse_subscription("T")], mq_table=mq_table(pqs, clock)
    )
    # Java's admin tools read Map<MessageQueue, V> only with object keys.
    assert b'"mqTable":{{"brokerName":"broker-a","queueId":0,"topic":"T"}:{' in body
    info = parse_running_info(parse_body(body, "ConsumerRunningInfo"))
    assert set(info.mq_table) == {MQ0, MQ1}
    assert info.mq_table[MQ0]["commitOffset"] == 12 and info.mq_table[MQ1]["commitOffset"] == -1
    assert info.mq_table[MQ1]["cachedMsgCount"] == 1
    text = running_info_text(info)
    assert "T                                 broker-a                          0     12" in text
    assert "ProcessQueueInfo [commitOffset=-1, cachedMsgMinOffset=3" in text
    assert process_queue_warnings("c1", info, now_ms()) == []
    # a queue holding messages no listener finished for over a minute is reported
    assert process_queue_warnings("c1", info, now_ms() + 61_000)[0].startswith("c1 ")


async def test_an_orderly_batch_in_the_listener_is_reported_apart() -> None:
    clock = QueueClock(OffsetStore())
    entered, release = asyncio.Event(), asyncio.Event()

    async def listener(batch: list[MessageExt]) -> ConsumeOrderlyStatus:
        entered.set()
        await release.wait()
        return ConsumeOrderlyStatus.SUCCESS

    async def no_lock(mq: MessageQueue, pq: ProcessQueue) -> bool:
        return False

    service = OrderlyConsumeService(
        None,  # type: ignore[arg-type]  # never used: nothing fails, nothing is locked
        "CG",
        BROADCASTING,
        clock,  # type: ignore[arg-type]
        listener,
        1,
        batch_size=2,
        max_reconsume_times=-1,
        suspend_seconds=0.1,
        lock_queue=no_lock,
    )
    pq = ProcessQueue()
    clock.taken(MQ0)
    pq.put(msgs(0, 1, 2))
    service.submit(MQ0, pq, msgs(0, 1, 2))
    async with asyncio.timeout(10):
        await entered.wait()
        info = mq_table({MQ0: pq}, clock, service.consuming)[mq_key(MQ0)]
        assert (info["transactionMsgMinOffset"], info["transactionMsgCount"]) == (0, 2)
        assert (info["cachedMsgMinOffset"], info["cachedMsgCount"]) == (2, 1)
        released_ms = now_ms()
        release.set()
        while clock.offsets.read_memory(MQ0) < 3:
            await asyncio.sleep(0.01)
    info = mq_table({MQ0: pq}, clock, service.consuming)[mq_key(MQ0)]
    assert (info["transactionMsgCount"], info["cachedMsgCount"], info["commitOffset"]) == (0, 0, 3)
    assert info["lastConsumeTimestamp"] >= released_ms
    await service.aclose()
