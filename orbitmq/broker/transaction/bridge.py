"""Transactional message transforms (TransactionalMessageBridge.java,
EndTransactionProcessor.java, AbstractTransactionalMessageCheckListener.java). Pure code.

  prepare   user topic/queue -> RMQ_SYS_TRANS_HALF_TOPIC queue 0, REAL_TOPIC/REAL_QID
            saved, sysFlag transaction type reset to NOT (so the half message gets an
            ordinary consume-queue unit in the half topic, invisible to consumers)
  commit    half -> real topic/queue, REAL_* and TRAN_MSG removed, sysFlag type COMMIT,
            preparedTransactionOffset = the half message's commit-log offset
  op        RMQ_SYS_TRANS_OP_HALF_TOPIC, tag "d", body = the half queue offset in decimal
  check     CHECK_TRANSACTION_STATE (39): ext tranStateTableOffset, commitLogOffset, msgId,
            transactionId, offsetMsgId; body = the half record with real topic/queue
"""

from __future__ import annotations

from orbitmq.broker.topic_config import TRANS_HALF_TOPIC, TRANS_OP_HALF_TOPIC
from orbitmq.protocol.codes import RequestCode
from orbitmq.protocol.command import RemotingCommand
from orbitmq.protocol.message import MessageConst, MessageExt, SysFlag, encode_record

OP_REMOVE_TAG = "d"
HALF_QUEUE_ID = 0
CHECK_TIMES = "TRANSACTION_CHECK_TIMES"
CHECK_IMMUNITY_TIME_IN_SECONDS = "CHECK_IMMUNITY_TIME_IN_SECONDS"


def is_transaction_prepared(properties: dict[str, str]) -> bool:
    """TRAN_MSG=true (Boolean.parseBoolean: case-insensitive "true")."""
    return properties.get(MessageConst.TRANSACTION_PREPARED, "").lower() == "true"


def to_half_message(msg: MessageExt) -> None:
    """Park a prepared message in the half topic (parseHalfMessageInner), in place."""
    msg.properties[MessageConst.REAL_TOPIC] = msg.topic
    msg.properties[MessageConst.REAL_QID] = str(msg.queue_id)
    msg.sys_flag &= ~SysFlag.TRANSACTION_MASK
    msg.topic = TRANS_HALF_TOPIC
    msg.queue_id = HALF_QUEUE_ID


def real_destination(half: MessageExt) -> tuple[str, int] | None:
    """(REAL_TOPIC, REAL_QID) of a half message, or None if they are missing."""
    topic = half.properties.get(MessageConst.REAL_TOPIC)
    queue_id = half.properties.get(MessageConst.REAL_QID, "")
    if not topic or not queue_id.isdigit():
        return None
    return topic, int(queue_id)


def commit_message(half: MessageExt) -> MessageExt | None:
    """The message a COMMIT stores in the real topic (endMessageTransaction), or None
    if the half message does not say where it belongs."""
    destination = real_destination(half)
    if destination is None:
        return None
    properties = dict(half.properties)
    for key in (MessageConst.REAL_TOPIC, MessageConst.REAL_QID, MessageConst.TRANSACTION_PREPARED):
        properties.pop(key, None)
    properties.pop(CHECK_TIMES, None)
    topic, queue_id = destination
    return MessageExt(
        topic=topic,
        body=half.body,
        properties=properties,
        queue_id=queue_id,
        flag=half.flag,
        sys_flag=(half.sys_flag & ~SysFlag.TRANSACTION_MASK) | SysFlag.TRANSACTION_COMMIT,
        born_timestamp=half.born_timestamp,
        born_host=half.born_host,
        store_host=half.store_host,
        reconsume_times=half.reconsume_times,
        prepared_transaction_offset=half.commit_log_offset,
    )


def op_message(half_queue_offset: int, now_ms: int, store_host: tuple[str, int]) -> MessageExt:
    """The "delete" op message recording that a half message is resolved."""
    return MessageExt(
        topic=TRANS_OP_HALF_TOPIC,
        body=str(half_queue_offset).encode(),
        properties={MessageConst.TAGS: OP_REMOVE_TAG, MessageConst.WAIT: "false"},
        queue_id=HALF_QUEUE_ID,
        born_timestamp=now_ms,
        born_host=store_host,
        store_host=store_host,
    )


def parse_op_body(body: bytes) -> list[int]:
    """Half queue offsets named by an op message: `12` or (5.x) `12,13,`."""
    offsets = []
    for part in body.decode("utf-8", "replace").split(","):
        part = part.strip()
        if part.lstrip("-").isdigit():
            offsets.append(int(part))
    return offsets


def discarded_message(half: MessageExt, topic: str) -> MessageExt:
    """A copy of a half message for TRANS_CHECK_MAX_TIME_TOPIC (resolveDiscardMsg)."""
    return MessageExt(
        topic=topic,
        body=half.body,
        properties=dict(half.properties),
        queue_id=0,
        flag=half.flag,
        sys_flag=half.sys_flag & ~SysFlag.TRANSACTION_MASK,
        born_timestamp=half.born_timestamp,
        born_host=half.born_host,
        store_host=half.store_host,
        reconsume_times=half.reconsume_times,
    )


def check_request(half: MessageExt) -> RemotingCommand | None:
    """CHECK_TRANSACTION_STATE (one-way) for a half message, or None if it has no
    real destination. The body is the record with the real topic and queue id."""
    destination = real_destination(half)
    if destination is None:
        return None
    topic, queue_id = destination
    body_msg = MessageExt(
        topic=topic,
        body=half.body,
        properties=dict(half.properties),
        queue_id=queue_id,
        flag=half.flag,
        queue_offset=half.queue_offset,
        commit_log_offset=half.commit_log_offset,
        sys_flag=half.sys_flag,
        born_timestamp=half.born_timestamp,
        born_host=half.born_host,
        store_timestamp=half.store_timestamp,
        store_host=half.store_host,
        reconsume_times=half.reconsume_times,
        prepared_transaction_offset=half.prepared_transaction_offset,
    )
    transaction_id = half.properties.get(MessageConst.UNIQ_KEY) or half.offset_msg_id
    ext = {
        "tranStateTableOffset": str(half.queue_offset),
        "commitLogOffset": str(half.commit_log_offset),
        "msgId": transaction_id,
        "transactionId": transaction_id,
        "offsetMsgId": half.offset_msg_id,
    }
    return RemotingCommand.request(
        RequestCode.CHECK_TRANSACTION_STATE, ext, bytes(encode_record(body_msg)), oneway=True
    )
