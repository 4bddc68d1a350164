"""Send requests and responses (SendMessageRequestHeaderV2.java, §3.2). Pure code.

SEND_MESSAGE_V2 (310) / SEND_BATCH_MESSAGE (320) ext, all values strings:
  a producerGroup | b topic | c defaultTopic (TBW102) | d defaultTopicQueueNums (4) |
  e queueId | f sysFlag | g bornTimestamp | h flag | i properties | j reconsumeTimes |
  k unitMode | m batch | n brokerName   (+ "bname", as Java 4.9.x)
Response ext: msgId (offset msg id; comma list for a batch), queueId, queueOffset.
"""

from __future__ import annotations

import struct
import time
import zlib
from typing import Any

import orjson

from orbitmq.client.errors import IllegalMessageError, error_for_code
from orbitmq.client.message import Message, MessageQueue, SendResult, SendStatus
from orbitmq.client.route import DEFAULT_TOPIC_QUEUE_NUMS
from orbitmq.protocol.codes import ORBITMQ_VERSION_ORDINAL, RequestCode, ResponseCode
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
_FRAME_PREFIX = struct.Struct(">ii")  # totalLength, headerLength (serializeType 0: JSON)
_QUEUE_NUMS_TEXT = str(DEFAULT_TOPIC_QUEUE_NUMS)
BATCH_PROPERTIES = "WAIT\x01true"
_TOPIC_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789%|_-")

_STATUS_BY_CODE: dict[int, SendStatus] = {
    ResponseCode.SUCCESS: SendStatus.SEND_OK,
    ResponseCode.FLUSH_DISK_TIMEOUT: SendStatus.FLUSH_DISK_TIMEOUT,
    ResponseCode.FLUSH_SLAVE_TIMEOUT: SendStatus.FLUSH_SLAVE_TIMEOUT,
    ResponseCode.SLAVE_NOT_AVAILABLE: SendStatus.SLAVE_NOT_AVAILABLE,
}


# Topics that passed check_topic: a producer sends to few topics, each many times.
_CHECKED_TOPICS: set[str] = set()
_MAX_CHECKED_TOPICS = 4096


def check_topic(topic: str) -> None:
    """Validators.checkTopic: non-empty, `[%|a-zA-Z0-9_-]`, at most 127 bytes."""
    if topic in _CHECKED_TOPICS:
        return
    if not topic:
        raise IllegalMessageError("the topic is empty")
    if len(topic) > MAX_TOPIC_BYTES:
        raise IllegalMessageError(f"topic is {len(topic)} characters; the limit is 127")
    if not _TOPIC_CHARS.issuperset(topic):
        raise IllegalMessageError(f"topic {topic!r} contains characters outside [%|a-zA-Z0-9_-]")
    if len(_CHECKED_TOPICS) >= _MAX_CHECKED_TOPICS:
        _CHECKED_TOPICS.clear()
    _CHECKED_TOPICS.add(topic)


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
    broker_name = mq.broker_name
    return {
        "a": group,
        "b": mq.topic,
        "bname": broker_name,
        "c": DEFAULT_TOPIC,
        "d": _QUEUE_NUMS_TEXT,
        "e": str(mq.queue_id),
        "f": str(sys_flag),
        "g": str(born),
        "h": str(flag),
        "i": properties,
        "j": str(reconsume_times) if reconsume_times else "0",
        "k": "false",
        "m": "true" if batch else "false",
        "n": broker_name,
    }


class SendFrameTemplate:
    """SEND_MESSAGE_V2 / SEND_BATCH_MESSAGE frames of one producer group and queue, with
    every constant part of the JSON header encoded once.

    A send fills in only what varies (code, sysFlag, bornTimestamp, flag, properties,
    batch, opaque), so it builds neither the ext dict nor a RemotingCommand. The header
    is what `send_ext` + encode_json_header write: the same fields, the same values.
    """

    __slots__ = ("_format",)

    def __init__(self, group: str, mq: MessageQueue) -> None:
        name = _format_text(mq.broker_name)
        self._format = b"".join(
            (
                b'{"code":%d,"extFields":{"a":',
                _format_text(group),
                b',"b":',
                _format_text(mq.topic),
                b',"bname":',
                name,
                b',"c":',
                _format_text(DEFAULT_TOPIC),
                b',"d":',
                _format_text(_QUEUE_NUMS_TEXT),
                b',"e":',
                _format_text(str(mq.queue_id)),
                b',"f":"%d","g":"%d","h":"%d","i":%b,"j":"0","k":"false","m":"%b","n":',
                name,
                b'},"flag":0,"language":"PYTHON","opaque":%d,"remark":null,',
                b'"serializeTypeCurrentRPC":"JSON","version":',
                str(ORBITMQ_VERSION_ORDINAL).encode(),
                b"}",
            )
        )

    def frame(
        self,
        code: int,
        opaque: int,
        sys_flag: int,
        flag: int,
        properties_json: bytes,
        body: bytes,
        *,
        batch: bool = False,
    ) -> bytes:
        """The whole frame; `properties_json` is `orjson.dumps(properties_text)`."""
        born = time.time_ns() // 1_000_000
        header = self._format % (
            code,
            sys_flag,
            born,
            flag,
            properties_json,
            b"true" if batch else b"false",
            opaque,
        )
        prefix = _FRAME_PREFIX.pack(4 + len(header) + len(body), len(header))
        return b"".join((prefix, header, body))


def _format_text(value: str) -> bytes:
    """`value` as a JSON string, with `%` doubled for a bytes %-format."""
    return orjson.dumps(value).replace(b"%", b"%%")


def encode_single(msg: Message, uniq_key: str, compress_over: int) -> tuple[bytes, int, str]:
    """(body, sysFlag, properties text) of one message; the body compressed if large.

    A transactional half message (TRAN_MSG=true) gets sysFlag type PREPARED, as Java's
    sendKernelImpl sets it.
    """
    body, sys_flag = compress_body(msg.body, 0, compress_over)
    properties = msg.properties
    if properties and properties.get(MessageConst.TRANSACTION_PREPARED, "").lower() == "true":
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
    return send_result(response.code, response.remark, response.ext_fields, mq, msg_id)


def parse_send_header(header: dict[str, Any], mq: MessageQueue, msg_id: str) -> SendResult:
    """`parse_send_response` of a response's parsed JSON header (a raw response)."""
    remark = header.get("remark")
    return send_result(
        int(header.get("code", -1)),
        remark if isinstance(remark, str) else None,
        header.get("extFields") or {},
        mq,
        msg_id,
    )


def send_result(
    code: int, remark: str | None, ext: dict[str, Any], mq: MessageQueue, msg_id: str
) -> SendResult:
    """The SendResult of a send response's code, remark and ext fields.

    Raises:
        MQBrokerError: any code other than 0, 10, 11, 12.
    """
    status = _STATUS_BY_CODE.get(code)
    if status is None:
        raise error_for_code(code, remark)
    queue_id = int(ext.get("queueId", mq.queue_id))
    if queue_id != mq.queue_id:
        mq = MessageQueue(mq.topic, mq.broker_name, queue_id)
    # Positional: a frozen dataclass is built noticeably faster without keywords.
    return SendResult(
        status, msg_id, str(ext.get("msgId", "")), mq, int(ext.get("queueOffset", -1))
    )
