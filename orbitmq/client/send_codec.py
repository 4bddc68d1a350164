"""Send requests and responses (SendMessageRequestHeaderV2.java, §3.2). Pure code.

SEND_MESSAGE_V2 (310) / SEND_BATCH_MESSAGE (320) ext, all values strings:
  a producerGroup | b topic | c defaultTopic (TBW102) | d defaultTopicQueueNums (4) |
  e queueId | f sysFlag | g bornTimestamp | h flag | i properties | j reconsumeTimes |
  k unitMode | m batch | n brokerName   (+ "bname", as Java 4.9.x)
Response ext: msgId (offset msg id; comma list for a batch), queueId, queueOffset.
"""

from __future__ import annotations

import time
import zlib

from orbitmq.client.errors import IllegalMessageError, error_for_code
from orbitmq.client.message import Message, MessageQueue, SendResult, SendStatus
from orbitmq.client.route import DEFAULT_TOPIC_QUEUE_NUMS
from orbitmq.protocol.codes import RequestCode, ResponseCode
from orbitmq.protocol.command import RemotingCommand
from orbitmq.protocol.message import (
    MAX_TOPIC_BYTES,
    BatchEntry,
    MessageConst,
    SysFlag,
    encode_batch,
)
from orbitmq.protocol.topics import DEFAULT_TOPIC, is_retry_topic

COMPRESS_LEVEL = 5
BATCH_PROPERTIES = "WAIT\x01true"
_TOPIC_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789%|_-")

_STATUS_BY_CODE: dict[int, SendStatus] = {
    ResponseCode.SUCCESS: SendStatus.SEND_OK,
    ResponseCode.FLUSH_DISK_TIMEOUT: SendStatus.FLUSH_DISK_TIMEOUT,
    ResponseCode.FLUSH_SLAVE_TIMEOUT: SendStatus.FLUSH_SLAVE_TIMEOUT,
    ResponseCode.SLAVE_NOT_AVAILABLE: SendStatus.SLAVE_NOT_AVAILABLE,
}


def check_topic(topic: str) -> None:
    """Validators.checkTopic: non-empty, `[%|a-zA-Z0-9_-]`, at most 127 bytes."""
    if not topic:
        raise IllegalMessageError("the topic is empty")
    if len(topic) > MAX_TOPIC_BYTES:
        raise IllegalMessageError(f"topic is {len(topic)} characters; the limit is 127")
    if not _TOPIC_CHARS.issuperset(topic):
        raise IllegalMessageError(f"topic {topic!r} contains characters outside [%|a-zA-Z0-9_-]")


def check_message(msg: Message, max_message_size: int) -> None:
    """Reject a message the broker would refuse: bad topic, empty or oversized body."""
    check_topic(msg.topic)
    if msg.topic == DEFAULT_TOPIC:
        raise IllegalMessageError(f"the topic {DEFAULT_TOPIC} is reserved for auto-creation")
    size = len(msg.body)
    if size == 0:
        raise IllegalMessageError("the message body is empty")
    if size > max_message_size:
        raise IllegalMessageError(
            f"the message body is {size} bytes; max_message_size is {max_message_size}"
        )


def compress_body(body: bytes, sys_flag: int, compress_over: int) -> tuple[bytes, int]:
    """zlib level 5 when `len(body) >= compress_over`; sets sysFlag bit 0."""
    if len(body) >= compress_over:
        return zlib.compress(body, COMPRESS_LEVEL), sys_flag | SysFlag.COMPRESSED
    return body, sys_flag


def send_ext(
    group: str,
    mq: MessageQueue,
    sys_flag: int,
    flag: int,
    properties: str,
    *,
    batch: bool = False,
    born_timestamp: int | None = None,
    reconsume_times: int = 0,
) -> dict[str, str]:
    """The ext fields of a 310/320 request, in Java's member order."""
    born = born_timestamp if born_timestamp is not None else time.time_ns() // 1_000_000
    return {
        "a": group,
        "b": mq.topic,
        "bname": mq.broker_name,
        "c": DEFAULT_TOPIC,
        "d": str(DEFAULT_TOPIC_QUEUE_NUMS),
        "e": str(mq.queue_id),
        "f": str(sys_flag),
        "g": str(born),
        "h": str(flag),
        "i": properties,
        "j": str(reconsume_times),
        "k": "false",
        "m": "true" if batch else "false",
        "n": mq.broker_name,
    }


def encode_single(msg: Message, uniq_key: str, compress_over: int) -> tuple[bytes, int, str]:
    """(body, sysFlag, properties text) of one message; the body compressed if large.

    A transactional half message (TRAN_MSG=true) gets sysFlag type PREPARED, as Java's
    sendKernelImpl sets it.
    """
    body, sys_flag = compress_body(msg.body, 0, compress_over)
    if msg.properties.get(MessageConst.TRANSACTION_PREPARED, "").lower() == "true":
        sys_flag |= SysFlag.TRANSACTION_PREPARED
    return body, sys_flag, msg.properties_text(uniq_key)


def encode_batch_body(msgs: list[Message], uniq_keys: list[str]) -> bytes:
    """The batch body: one entry per message with its own properties (never compressed)."""
    for msg, key in zip(msgs, uniq_keys, strict=True):
        msg.properties_text(key)  # validates
    return encode_batch(
        [
            BatchEntry(m.body, m.flag, m.wire_properties(k))
            for m, k in zip(msgs, uniq_keys, strict=True)
        ]
    )


def single_request(
    group: str,
    mq: MessageQueue,
    msg: Message,
    uniq_key: str,
    compress_over: int,
    born_timestamp: int | None = None,
) -> RemotingCommand:
    """SEND_MESSAGE_V2 for one message."""
    body, sys_flag, props = encode_single(msg, uniq_key, compress_over)
    ext = send_ext(group, mq, sys_flag, msg.flag, props, born_timestamp=born_timestamp)
    return RemotingCommand(code=RequestCode.SEND_MESSAGE_V2, ext_fields=ext, body=body)


def batch_request(
    group: str,
    mq: MessageQueue,
    msgs: list[Message],
    uniq_keys: list[str],
    born_timestamp: int | None = None,
) -> RemotingCommand:
    """SEND_BATCH_MESSAGE; the header carries only the batch-level WAIT property."""
    ext = send_ext(group, mq, 0, 0, BATCH_PROPERTIES, batch=True, born_timestamp=born_timestamp)
    return RemotingCommand(
        code=RequestCode.SEND_BATCH_MESSAGE, ext_fields=ext, body=encode_batch_body(msgs, uniq_keys)
    )


def check_batch(msgs: list[Message], max_message_size: int) -> None:
    """One topic, no delay level, no retry topic, total body within the size limit."""
    if not msgs:
        raise IllegalMessageError("the batch is empty")
    topic = msgs[0].topic
    for msg in msgs:
        if msg.topic != topic:
            raise IllegalMessageError("every message of a batch must have the same topic")
        if msg.delay_time_level > 0:
            raise IllegalMessageError("a batch may not contain delayed messages")
        if is_retry_topic(msg.topic):
            raise IllegalMessageError("a batch may not be sent to a retry topic")
        check_message(msg, max_message_size)
    total = sum(len(m.body) for m in msgs)
    if total > max_message_size:
        raise IllegalMessageError(
            f"the batch bodies total {total} bytes; max_message_size is {max_message_size}"
        )


def parse_send_response(response: RemotingCommand, mq: MessageQueue, msg_id: str) -> SendResult:
    """Turn a send response into a SendResult.

    Raises:
        MQBrokerError: any code other than 0, 10, 11, 12.
    """
    status = _STATUS_BY_CODE.get(response.code)
    if status is None:
        raise error_for_code(response.code, response.remark)
    ext = response.ext_fields
    queue_id = int(ext.get("queueId", mq.queue_id))
    if queue_id != mq.queue_id:
        mq = MessageQueue(mq.topic, mq.broker_name, queue_id)
    return SendResult(
        status=status,
        msg_id=msg_id,
        offset_msg_id=ext.get("msgId", ""),
        message_queue=mq,
        queue_offset=int(ext.get("queueOffset", -1)),
    )
