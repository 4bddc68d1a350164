"""A history checker for sends under faults (raft-testing.md §5).

Each send is recorded with a unique key and classified as ok (SEND_OK), fail
(definitely not stored: refused before or by the broker with SERVICE_NOT_AVAILABLE) or
info (maybe stored: timeouts, lost connections, "broker busy"). After the faults the
whole topic is read from offset 0 (the final read) and checked: no ok send lost, none
read at another (queue, offset) than acknowledged, no key read that was never sent,
no (queue, offset) holding two keys.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

from orbitmq.client import (
    Message,
    MessageExt,
    MessageQueue,
    Producer,
    PullConsumer,
    SendStatus,
)
from orbitmq.client.errors import MQBrokerError
from orbitmq.protocol.codes import ResponseCode


@dataclass
class SendRecord:
    key: str
    outcome: str  # ok | fail | info
    queue: tuple[str, int] | None = None  # (brokerName, queueId) of an ok send
    offset: int = -1
    at: float = 0.0


@dataclass
class SendHistory:
    topic: str
    records: list[SendRecord] = field(default_factory=list)

    @property
    def ok(self) -> list[SendRecord]:
        return [r for r in self.records if r.outcome == "ok"]

    def unavailability(self) -> list[float]:
        """Lengths of the runs of non-ok sends (first non-ok to next ok), in seconds."""
        gaps = []
        start: float | None = None
        for record in self.records:
            if record.outcome != "ok" and start is None:
                start = record.at
            elif record.outcome == "ok" and start is not None:
                gaps.append(record.at - start)
                start = None
        return gaps


async def send_one(producer: Producer, history: SendHistory, key: str, body: bytes) -> None:
    """Send one message keyed `key` and record its outcome."""
    record = SendRecord(key, "info", at=time.monotonic())
    # Recorded before the send: one cancelled half-way (a load task cancelled) stays
    # "info" -- maybe stored -- rather than unknown to the history.
    history.records.append(record)
    try:
        result = await producer.send(Message(history.topic, body, keys=[key]))
    except MQBrokerError as exc:
        record.outcome = "fail" if exc.code == ResponseCode.SERVICE_NOT_AVAILABLE else "info"
    except Exception:
        record.outcome = "info"
    else:
        if result.status is SendStatus.SEND_OK:
            record.outcome = "ok"
            record.queue = (result.message_queue.broker_name, result.message_queue.queue_id)
            record.offset = result.queue_offset


async def send_load(
    producer: Producer,
    history: SendHistory,
    prefix: str,
    *,
    count: int,
    seconds: float,
    interval: float = 0.005,
) -> None:
    """Send up to `count` keyed messages for at most `seconds`, recording each outcome."""
    deadline = time.monotonic() + seconds
    for i in range(count):
        if time.monotonic() > deadline:
            break
        key = f"{prefix}-{i}"
        await send_one(producer, history, key, key.encode())
        await asyncio.sleep(interval)


async def read_messages(
    namesrv_addr: str, topic: str, broker_names: list[str], queues: int
) -> dict[tuple[str, int, int], MessageExt]:
    """(brokerName, queueId, offset) -> message, for every message of `topic` from 0."""
    consumer = PullConsumer(f"CG_FINAL_{time.monotonic_ns()}", namesrv_addr)
    await consumer.start()
    found: dict[tuple[str, int, int], MessageExt] = {}
    try:
        for name in broker_names:
            for queue_id in range(queues):
                mq = MessageQueue(topic, name, queue_id)
                offset = 0
                while True:
                    result = await consumer.pull(mq, "*", offset, 32)
                    if not result.messages:
                        break
                    for msg in result.messages:
                        found[(name, queue_id, msg.queue_offset)] = msg
                    offset = result.next_begin_offset
    finally:
        await consumer.shutdown()
    return found


async def final_read(
    namesrv_addr: str, topic: str, broker_names: list[str], queues: int
) -> dict[tuple[str, int, int], str]:
    """(brokerName, queueId, offset) -> body text of every message of `topic`, from 0."""
    read = await read_messages(namesrv_addr, topic, broker_names, queues)
    return {where: msg.body.decode() for where, msg in read.items()}


def verdict(history: SendHistory, read: dict[tuple[str, int, int], str]) -> dict[str, list[str]]:
    """The forbidden rows of §5's table; each must be empty."""
    sent = {r.key for r in history.records}
    failed = {r.key for r in history.records if r.outcome == "fail"}
    where: dict[str, list[tuple[str, int, int]]] = {}
    for position, key in read.items():
        where.setdefault(key, []).append(position)
    lost = [r.key for r in history.ok if r.key not in where]
    moved = [
        r.key
        for r in history.ok
        if r.key in where and r.queue is not None and (*r.queue, r.offset) not in where[r.key]
    ]
    return {
        "lost": lost,
        "moved": moved,
        "unexpected": [key for key in where if key not in sent],
        "stored_after_fail": [key for key in failed if key in where],
    }
