"""PULL_MESSAGE (11) requests and responses (PullMessageRequestHeader.java, §3.4). Pure code.

Request ext: consumerGroup, topic, queueId, queueOffset, maxMsgNums, sysFlag,
commitOffset, suspendTimeoutMillis, subscription, subVersion, expressionType (+ bname).
Response ext: nextBeginOffset, minOffset, maxOffset, suggestWhichBrokerId; body = stored
records back to back (code 0 only). Codes: 0 FOUND, 19 NO_NEW_MSG, 20 NO_MATCHED_MSG,
21 OFFSET_ILLEGAL; anything else is an error.
"""

from __future__ import annotations

import logging
import zlib
from dataclasses import dataclass, field
from enum import StrEnum

from orbitmq.client.errors import MQClientError, error_for_code
from orbitmq.client.message import MessageQueue
from orbitmq.errors import RemoteProtocolError
from orbitmq.protocol.codes import ResponseCode
from orbitmq.protocol.command import RemotingCommand
from orbitmq.protocol.message import MessageExt, SysFlag, decode_records
from orbitmq.protocol.subscription import SubscriptionData

log = logging.getLogger(__name__)

FLAG_COMMIT_OFFSET = 0x1
FLAG_SUSPEND = 0x2
FLAG_SUBSCRIPTION = 0x4
FLAG_CLASS_FILTER = 0x8

_COMPRESSION_TYPE_MASK = 0x700
_ZLIB_TYPES = (0x000, 0x300)


class PullStatus(StrEnum):
    """Outcome of a pull (response codes 0, 19, 20, 21); prints as its name."""

    FOUND = "FOUND"
    NO_NEW_MSG = "NO_NEW_MSG"
    NO_MATCHED_MSG = "NO_MATCHED_MSG"
    OFFSET_ILLEGAL = "OFFSET_ILLEGAL"


_STATUS_BY_CODE: dict[int, PullStatus] = {
    ResponseCode.SUCCESS: PullStatus.FOUND,
    ResponseCode.PULL_NOT_FOUND: PullStatus.NO_NEW_MSG,
    ResponseCode.PULL_RETRY_IMMEDIATELY: PullStatus.NO_MATCHED_MSG,
    ResponseCode.PULL_OFFSET_MOVED: PullStatus.OFFSET_ILLEGAL,
}


@dataclass(slots=True)
class PullResult:
    """The answer to one pull.

    Attributes:
        status: FOUND, NO_NEW_MSG, NO_MATCHED_MSG or OFFSET_ILLEGAL.
        next_begin_offset: the offset to pull next.
        min_offset / max_offset: the queue's bounds (max is exclusive).
        messages: the messages that passed the exact tag filter (FOUND only).
        suggest_which_broker_id: where to pull next (0 = master).
    """

    status: PullStatus
    next_begin_offset: int
    min_offset: int
    max_offset: int
    messages: list[MessageExt] = field(default_factory=list)
    suggest_which_broker_id: int = 0


def pull_sys_flag(commit_offset: bool, suspend: bool, subscription: bool) -> int:
    """PullSysFlag.buildSysFlag."""
    flag = 0
    if commit_offset:
        flag |= FLAG_COMMIT_OFFSET
    if suspend:
        flag |= FLAG_SUSPEND
    if subscription:
        flag |= FLAG_SUBSCRIPTION
    return flag


def pull_ext(
    group: str,
    mq: MessageQueue,
    offset: int,
    max_nums: int,
    sys_flag: int,
    commit_offset: int,
    suspend_timeout_ms: int,
    subscription: SubscriptionData,
) -> dict[str, str]:
    """The ext fields of a PULL_MESSAGE request."""
    return {
        "consumerGroup": group,
        "topic": mq.topic,
        "queueId": str(mq.queue_id),
        "queueOffset": str(offset),
        "maxMsgNums": str(max_nums),
        "sysFlag": str(sys_flag),
        "commitOffset": str(commit_offset),
        "suspendTimeoutMillis": str(suspend_timeout_ms),
        "subscription": subscription.sub_string,
        "subVersion": str(subscription.sub_version),
        "expressionType": subscription.expression_type,
        "bname": mq.broker_name,
    }


def decompress(msg: MessageExt) -> None:
    """Inflate a compressed body in place (zlib; the 4.9.4 type bits 0 or ZLIB)."""
    if not msg.sys_flag & SysFlag.COMPRESSED:
        return
    kind = msg.sys_flag & _COMPRESSION_TYPE_MASK
    if kind not in _ZLIB_TYPES:
        log.warning("message %s uses unsupported compression %#x", msg.msg_id, kind)
        return
    try:
        msg.body = zlib.decompress(msg.body)
    except zlib.error as exc:
        log.warning("message %s: cannot inflate body: %s", msg.msg_id, exc)
        return
    msg.sys_flag &= ~(SysFlag.COMPRESSED | _COMPRESSION_TYPE_MASK)


def filter_messages(
    msgs: list[MessageExt], subscription: SubscriptionData | None
) -> list[MessageExt]:
    """Inflate bodies and keep the messages whose TAGS match the subscription exactly."""
    if subscription is not None and not subscription.matches_all:
        msgs = [msg for msg in msgs if subscription.matches(msg.tags)]
    compressed = SysFlag.COMPRESSED
    for msg in msgs:
        if msg.sys_flag & compressed:
            decompress(msg)
    return msgs


def parse_pull_response(
    response: RemotingCommand, subscription: SubscriptionData | None
) -> PullResult:
    """Decode a PULL_MESSAGE response.

    Raises:
        MQBrokerError: an error code. MQClientError: a malformed header or body.
    """
    status = _STATUS_BY_CODE.get(response.code)
    if status is None:
        raise error_for_code(response.code, response.remark)
    ext = response.ext_fields
    try:
        result = PullResult(
            status,
            int(ext["nextBeginOffset"]),
            int(ext.get("minOffset", 0)),
            int(ext.get("maxOffset", 0)),
            suggest_which_broker_id=int(ext.get("suggestWhichBrokerId", 0)),
        )
    except (KeyError, ValueError) as exc:
        raise MQClientError(f"pull response lacks valid offsets: {ext}") from exc
    if status is PullStatus.FOUND and response.body:
        try:
            result.messages = filter_messages(decode_records(response.body), subscription)
        except RemoteProtocolError as exc:
            raise MQClientError(f"undecodable pull body: {exc}") from exc
    return result
