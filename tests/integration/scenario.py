"""Helpers for scenario tests that drive the Python client against real processes."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from orbitmq.client import ConsumeStatus, Message, MessageExt, Producer, PushConsumer


async def produce(
    namesrv_addr: str,
    topic: str,
    count: int,
    *,
    tags: Callable[[int], str] = lambda i: "TagA",
    group: str = "PG_SCENARIO",
) -> list[Message]:
    messages = [
        Message(topic, f"body-{i}".encode(), tags=tags(i), keys=[f"key-{i}"]) for i in range(count)
    ]
    producer = Producer(group, namesrv_addr)
    await producer.start()
    try:
        for message in messages:
            await producer.send(message)
    finally:
        await producer.shutdown()
    return messages


class Collector:
    """A push consumer that records every message it is given."""

    def __init__(self, consumer: PushConsumer) -> None:
        self.consumer = consumer
        self.received: list[MessageExt] = []
        consumer.register_message_listener(self._on_messages)

    def _on_messages(self, messages: list[MessageExt]) -> ConsumeStatus:
        self.received.extend(messages)
        return ConsumeStatus.CONSUME_SUCCESS

    @property
    def bodies(self) -> set[bytes]:
        return {m.body for m in self.received}


async def wait_for(predicate: Callable[[], bool], timeout: float, message: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(message)
        await asyncio.sleep(0.05)


async def start_collector(
    namesrv_addr: str,
    group: str,
    topic: str,
    expression: str = "*",
    **options: object,
) -> Collector:
    consumer = PushConsumer(
        group,
        namesrv_addr,
        consume_from_where="CONSUME_FROM_FIRST_OFFSET",
        **options,  # type: ignore[arg-type]
    )
    consumer.subscribe(topic, expression)
    collector = Collector(consumer)
    await consumer.start()
    return collector


def raw_pull_ext(
    group: str, topic: str, queue_id: int, expression: str, expression_type: str
) -> dict[str, str]:
    """A PULL_MESSAGE header from offset 0 carrying its subscription, no suspend (for
    checking what the broker itself filtered)."""
    return {
        "consumerGroup": group,
        "topic": topic,
        "queueId": str(queue_id),
        "queueOffset": "0",
        "maxMsgNums": "64",
        "sysFlag": "4",
        "commitOffset": "0",
        "suspendTimeoutMillis": "0",
        "subscription": expression,
        "subVersion": "0",
        "expressionType": expression_type,
    }
