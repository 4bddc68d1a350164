"""TraceDispatcher: Pub records timed as Java's, and closing sends what is queued."""

from __future__ import annotations

import asyncio
import logging
import time

import pytest

from orbitmq.client.message import Message, MessageQueue, SendResult, SendStatus
from orbitmq.client.trace import TraceDispatcher, TraceRecord, TraceType, decode_traces, now_ms
from orbitmq.protocol.message import create_offset_msg_id


class RecordingDispatcher(TraceDispatcher):
    """Keeps what the hooks add instead of sending it."""

    def __init__(self) -> None:
        super().__init__("127.0.0.1:9", "PG")
        self.records: list[TraceRecord] = []

    def add(self, records: list[TraceRecord]) -> None:
        self.records.extend(records)


class SlowProducer:
    """Stands in for the dispatcher's inner producer: every send takes `delay` seconds."""

    def __init__(self, delay: float) -> None:
        self.delay = delay
        self.sent: list[Message] = []

    async def start(self) -> None:
        return None

    async def send(self, message: Message) -> None:
        await asyncio.sleep(self.delay)
        self.sent.append(message)

    async def shutdown(self) -> None:
        return None


def send_result(status: SendStatus = SendStatus.SEND_OK) -> SendResult:
    offset_msg_id = create_offset_msg_id(("127.0.0.1", 10911), 200)
    return SendResult(status, "ID1", offset_msg_id, MessageQueue("T", "b", 0), 7)


def pub(msg_id: str) -> TraceRecord:
    return TraceRecord(TraceType.Pub, msg_id, timestamp=1, group="PG", topic="T")


async def started_dispatcher(producer: SlowProducer) -> TraceDispatcher:
    dispatcher = TraceDispatcher("127.0.0.1:9", "PG")
    dispatcher._producer = producer  # type: ignore[assignment]
    await dispatcher.start()
    return dispatcher


async def test_pub_timestamp_is_when_the_send_began() -> None:
    dispatcher = RecordingDispatcher()
    before = now_ms()
    dispatcher.on_send("PG", Message("T", b"body"), send_result(), time.monotonic() - 0.25)
    after = now_ms()
    [record] = dispatcher.records
    assert 250 <= record.cost_time <= 250 + (after - before) + 1
    # begin + cost = the end of the send, which lies within this call
    assert before <= record.timestamp + record.cost_time <= after
    assert before - 252 <= record.timestamp <= after - 249  # 250 ms before the answer
    assert record.success and record.store_host == "127.0.0.1:10911"


async def test_pub_of_a_send_not_ok_is_no_success() -> None:
    dispatcher = RecordingDispatcher()
    result = send_result(SendStatus.FLUSH_SLAVE_TIMEOUT)
    dispatcher.on_send("PG", Message("T", b"body"), result, time.monotonic())
    assert not dispatcher.records[0].success


async def test_close_waits_for_the_batch_being_sent() -> None:
    producer = SlowProducer(0.2)
    dispatcher = await started_dispatcher(producer)
    dispatcher.add([pub("ID1")])
    await asyncio.sleep(0.05)  # the loop has taken the batch and is sending it
    dispatcher.add([pub("ID2")])
    await dispatcher.aclose()
    sent = [r.msg_id for m in producer.sent for r in decode_traces(m.body)]
    assert sent == ["ID1", "ID2"]
    assert (dispatcher.sent_records, dispatcher.dropped_records) == (2, 0)
    dispatcher.add([pub("ID3")])  # closed: dropped
    assert dispatcher.dropped_records == 1


async def test_close_gives_up_after_its_timeout_and_logs_the_loss(
    caplog: pytest.LogCaptureFixture,
) -> None:
    producer = SlowProducer(60.0)
    dispatcher = await started_dispatcher(producer)
    dispatcher.add([pub("ID1")])
    await asyncio.sleep(0.05)
    dispatcher.add([pub("ID2"), pub("ID3")])
    began = time.monotonic()
    with caplog.at_level(logging.WARNING, logger="orbitmq.client.trace"):
        await dispatcher.aclose(timeout=0.3)
    assert 0.25 <= time.monotonic() - began < 2.0
    assert (dispatcher.sent_records, dispatcher.dropped_records) == (0, 3)
    assert "3 trace records dropped" in caplog.text
