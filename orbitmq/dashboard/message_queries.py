"""Admin calls the message pages need that MQAdmin does not wrap: reading a queue's offset
range as the TOOLS_CONSUMER group without committing anything, and CONSUME_MESSAGE_DIRECTLY
(309) through the broker that stored a message."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from orbitmq.client import MQAdmin, MQBrokerError
from orbitmq.client.admin_bodies import parse_body
from orbitmq.client.consumer.pull_codec import (
    FLAG_SUBSCRIPTION,
    parse_pull_response,
    pull_ext,
)
from orbitmq.client.message import MessageQueue
from orbitmq.protocol.codes import RequestCode, ResponseCode
from orbitmq.protocol.message import MessageExt
from orbitmq.protocol.subscription import parse_subscription

TOOLS_CONSUMER = "TOOLS_CONSUMER"  # MixAll.TOOLS_CONSUMER_GROUP
PULL_BATCH = 32  # rocketmq-dashboard pulls 32 at a time
# The answers that mean "nothing more here" rather than a failure.
_PULL_END_CODES = frozenset(
    {
        ResponseCode.PULL_NOT_FOUND,
        ResponseCode.PULL_RETRY_IMMEDIATELY,
        ResponseCode.PULL_OFFSET_MOVED,
    }
)


async def pull_range(
    admin: MQAdmin, addr: str, mq: MessageQueue, start: int, end: int
) -> list[MessageExt]:
    """The messages of `mq` at offsets [start, end), read from `addr` in batches of 32 as
    TOOLS_CONSUMER, subscription `*` carried in the request (the group has no members)
    and no offset committed."""
    subscription = parse_subscription(mq.topic)
    found: list[MessageExt] = []
    offset = start
    while offset < end:
        ext = pull_ext(
            TOOLS_CONSUMER,
            mq,
            offset,
            min(PULL_BATCH, end - offset),
            FLAG_SUBSCRIPTION,
            0,
            0,
            subscription,
        )
        try:
            response = await admin.invoke(addr, RequestCode.PULL_MESSAGE, ext)
        except MQBrokerError as exc:
            if exc.code in _PULL_END_CODES:
                break
            raise
        result = parse_pull_response(response, None)
        found.extend(m for m in result.messages if m.queue_offset < end)
        if result.next_begin_offset <= offset:
            break
        offset = result.next_begin_offset
    return found


async def store_time_at(admin: MQAdmin, addr: str, mq: MessageQueue, offset: int) -> int | None:
    """The store time (ms) of the message at `offset` of `mq` at `addr`; None if none."""
    found = await pull_range(admin, addr, mq, offset, offset + 1)
    return found[0].store_timestamp if found else None


@dataclass(frozen=True, slots=True)
class ConsumeDirectlyResult:
    """ConsumeMessageDirectlyResult as a consumer answers it."""

    order: bool
    auto_commit: bool
    consume_result: str
    remark: str
    spent_ms: int


def parse_consume_directly_result(data: dict[str, Any]) -> ConsumeDirectlyResult:
    return ConsumeDirectlyResult(
        bool(data.get("order")),
        bool(data.get("autoCommit", True)),
        str(data.get("consumeResult") or "-"),
        str(data.get("remark") or ""),
        int(data.get("spentTimeMills") or 0),
    )


async def consume_message_directly(
    admin: MQAdmin,
    store_addr: str,
    group: str,
    client_id: str,
    topic: str,
    offset_msg_id: str,
    timeout: float,
) -> ConsumeDirectlyResult:
    """CONSUME_MESSAGE_DIRECTLY (309) to the broker that stored the message, which relays
    it to `client_id` of `group` and returns what the client's listener made of it.

    Raises:
        MQBrokerError: the broker's refusal (client not online, message not found) or
            the client's (group not in that client).
    """
    ext = {
        "consumerGroup": group,
        "clientId": client_id,
        "msgId": offset_msg_id,
        "topic": topic,
    }
    response = await admin.invoke(
        store_addr, RequestCode.CONSUME_MESSAGE_DIRECTLY, ext, timeout=timeout
    )
    return parse_consume_directly_result(parse_body(response.body, "ConsumeMessageDirectlyResult"))
