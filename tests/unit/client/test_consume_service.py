"""ConsumeService: batches run by at most `consume_thread_max` workers, offsets follow."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest

from orbitmq.client.consumer.consume import ConsumeService, ConsumeStatus
from orbitmq.client.consumer.offset_store import OffsetStore
from orbitmq.client.consumer.process_queue import ProcessQueue
from orbitmq.client.consumer.rebalance import Rebalancer
from orbitmq.client.heartbeat import CLUSTERING
from orbitmq.client.message import MessageQueue
from orbitmq.protocol.message import MessageExt
from orbitmq.protocol.subscription import parse_subscription

MQ = MessageQueue("T", "broker-a", 0)


def messages(first: int, count: int) -> list[MessageExt]:
    return [MessageExt(topic="T", body=b"x", queue_offset=i) for i in range(first, first + count)]


async def run_batches(listener: Any, max_in_flight: int, batches: int) -> OffsetStore:
    offsets = OffsetStore()
    service = ConsumeService(None, "CG", CLUSTERING, offsets, listener, max_in_flight)  # type: ignore[arg-type]
    pq = ProcessQueue()
    msgs = messages(0, batches)
    pq.put(msgs)
    for msg in msgs:
        service.submit(MQ, pq, [msg])
    async with asyncio.timeout(10):
        while pq.count:
            await asyncio.sleep(0.01)
    await service.aclose()
    return offsets


@pytest.mark.parametrize("max_in_flight", [1, 3, 20])
async def test_a_listener_that_awaits_gets_up_to_max_calls_in_flight(max_in_flight: int) -> None:
    in_flight = peak = 0
    seen: list[int] = []

    async def listener(msgs: list[MessageExt]) -> ConsumeStatus:
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        await asyncio.sleep(0.005)
        seen.extend(m.queue_offset for m in msgs)
        in_flight -= 1
        return ConsumeStatus.CONSUME_SUCCESS

    offsets = await run_batches(listener, max_in_flight, 40)
    assert peak == max_in_flight
    assert sorted(seen) == list(range(40))
    assert offsets.read_memory(MQ) == 40


async def test_a_listener_that_never_awaits_runs_in_order_on_few_tasks() -> None:
    seen: list[int] = []
    tasks: set[asyncio.Task[Any] | None] = set()

    async def listener(msgs: list[MessageExt]) -> ConsumeStatus:
        tasks.add(asyncio.current_task())
        seen.extend(m.queue_offset for m in msgs)
        return ConsumeStatus.CONSUME_SUCCESS

    offsets = await run_batches(listener, 20, 100)
    assert seen == list(range(100))
    assert len(tasks) == 1  # one worker ran them back to back
    assert offsets.read_memory(MQ) == 100


class _Routes:
    routes: dict[str, Any] = {}

    async def refresh(self, topic: str) -> None:
        return None


class _Instance:
    routes = _Routes()


async def test_a_topic_without_route_warns_once_and_a_retry_topic_never(
    caplog: pytest.LogCaptureFixture,
) -> None:
    rebalancer = Rebalancer(_Instance(), "CG", CLUSTERING)  # type: ignore[arg-type]
    caplog.set_level(logging.DEBUG, logger="orbitmq.client.consumer.rebalance")
    for _ in range(3):
        assert await rebalancer.assigned_queues(parse_subscription("%RETRY%CG")) is None
        assert await rebalancer.assigned_queues(parse_subscription("Missing")) is None
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert [r.getMessage() for r in warnings] == [
        "rebalance of Missing: the topic has no route (does it exist?); skipped"
    ]
    assert sum("%RETRY%CG" in r.getMessage() for r in caplog.records) == 3  # all DEBUG
