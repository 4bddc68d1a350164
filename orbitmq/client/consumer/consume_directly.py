"""CONSUME_MESSAGE_DIRECTLY (309) in a push consumer: a broker relays an admin tool's
request to consume one stored message now, outside the queues' flow
(ClientRemotingProcessor.consumeMessageDirectly and the consume services'
consumeMessageDirectly).

The request body is the stored record; the listener gets it as a batch of one, and the
answer body is a ConsumeMessageDirectlyResult:
  {"order": bool, "autoCommit": true, "consumeResult": "CR_SUCCESS" | "CR_LATER" |
   "CR_RETURN_NULL" | "CR_THROW_EXCEPTION" | ..., "remark": str | null, "spentTimeMills": ms}
Offsets, retries and traces are untouched, as in Java: the outcome only goes back to the
tool that asked.
"""

from __future__ import annotations

import asyncio
import enum
import time
from collections.abc import Callable
from typing import Any

import orjson

from orbitmq.client.consumer.consume import ConsumeStatus, is_async_listener
from orbitmq.client.consumer.consume_orderly import ConsumeOrderlyStatus
from orbitmq.client.consumer.pull_codec import decompress
from orbitmq.protocol.message import MessageConst, MessageExt, decode_record
from orbitmq.protocol.topics import retry_topic


class ConsumeResult(enum.StrEnum):
    """CMResult.java."""

    CR_SUCCESS = "CR_SUCCESS"
    CR_LATER = "CR_LATER"
    CR_ROLLBACK = "CR_ROLLBACK"
    CR_COMMIT = "CR_COMMIT"
    CR_THROW_EXCEPTION = "CR_THROW_EXCEPTION"
    CR_RETURN_NULL = "CR_RETURN_NULL"


_RESULTS: dict[object, ConsumeResult] = {
    ConsumeStatus.CONSUME_SUCCESS: ConsumeResult.CR_SUCCESS,
    ConsumeStatus.RECONSUME_LATER: ConsumeResult.CR_LATER,
    ConsumeOrderlyStatus.SUCCESS: ConsumeResult.CR_SUCCESS,
    ConsumeOrderlyStatus.SUSPEND_CURRENT_QUEUE_A_MOMENT: ConsumeResult.CR_LATER,
}


def consume_result_of(status: object) -> ConsumeResult | None:
    """What a listener's return value means; None for a value of neither status enum
    (Java leaves consumeResult null then)."""
    if status is None:
        return ConsumeResult.CR_RETURN_NULL
    return _RESULTS.get(status)


def result_body(
    orderly: bool, result: ConsumeResult | None, remark: str | None, spent_ms: int
) -> bytes:
    return orjson.dumps(
        {
            "order": orderly,
            "autoCommit": True,
            "consumeResult": result.value if result is not None else None,
            "remark": remark,
            "spentTimeMills": spent_ms,
        }
    )


def message_for_listener(record: bytes, group: str) -> MessageExt:
    """The relayed record as the listener sees messages: body inflated, and a retry
    message under its original topic (resetRetryAndNamespace).

    Raises:
        RemoteProtocolError: `record` is not a stored message.
    """
    msg = decode_record(record)
    decompress(msg)
    original = msg.properties.get(MessageConst.RETRY_TOPIC)
    if original and msg.topic == retry_topic(group):
        msg.topic = original
    return msg


async def consume_directly(
    listener: Callable[[list[MessageExt]], Any], msg: MessageExt, orderly: bool
) -> bytes:
    """Run `listener` on `msg` (a plain `def` on a worker thread) and answer its outcome."""
    started = time.monotonic()
    remark = None
    try:
        if is_async_listener(listener):
            status = await listener([msg])
        else:
            status = await asyncio.to_thread(listener, [msg])
        result = consume_result_of(status)
    except Exception as exc:
        result = ConsumeResult.CR_THROW_EXCEPTION
        remark = f"{type(exc).__name__}: {exc}"
    spent = int((time.monotonic() - started) * 1000)
    return result_body(orderly, result, remark, spent)
