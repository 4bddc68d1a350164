"""gRPC messages <-> 4.x messages, and the checks RocketMQ's proxy applies (pure).

Mapping (RocketMQ's GrpcConverter / SendMessageActivity): tag -> TAGS, keys -> KEYS
(space-joined), message_id -> UNIQ_KEY, message_group -> __SHARDINGKEY,
delivery_timestamp -> TIMER_DELIVER_MS, TRANSACTION -> TRAN_MSG + the prepared sys
flag with the topic as producer group, trace_context -> TRACE_CONTEXT.
"""

from __future__ import annotations

import contextlib
import hashlib
import re
import time

from google.protobuf.duration_pb2 import Duration
from google.protobuf.timestamp_pb2 import Timestamp

from orbitmq.protocol.message import MessageConst, MessageExt, SysFlag
from orbitmq.protocol.topics import RETRY_GROUP_TOPIC_PREFIX
from orbitmq.proxy.apis import definition_pb2 as pb
from orbitmq.proxy.errors import ProxyError

SHARDING_KEY = "__SHARDINGKEY"
TIMER_DELIVER_MS = "TIMER_DELIVER_MS"
TRACE_CONTEXT = "TRACE_CONTEXT"
CHECK_IMMUNITY_TIME = "CHECK_IMMUNITY_TIME_IN_SECONDS"
DLQ_ORIGIN_TOPIC = "DLQ_ORIGIN_TOPIC"
DLQ_ORIGIN_MESSAGE_ID = "DLQ_ORIGIN_MESSAGE_ID"
BORN_HOST = "__BORNHOST"
POP_CK = "POP_CK"
# Keys RocketMQ keeps for itself (MessageConst.STRING_HASH_SET): not user properties.
SYSTEM_PROPERTY_KEYS = frozenset(
    {
        "KEYS", "TAGS", "WAIT", "DELAY", "RETRY_TOPIC", "REAL_TOPIC", "REAL_QID",
        "TRAN_MSG", "PGROUP", "MIN_OFFSET", "MAX_OFFSET", "BUYER_ID", "ORIGIN_MESSAGE_ID",
        "TRANSFER_FLAG", "CORRECTION_FLAG", "MQ2_FLAG", "RECONSUME_TIME", "MSG_REGION",
        "TRACE_ON", "UNIQ_KEY", "MAX_RECONSUME_TIMES", "CONSUME_START_TIME",
        "__STARTDELIVERTIME", "TIMER_DELIVER_MS", "TIMER_DELAY_SEC", "TIMER_DELAY_MS",
        "TIMER_OUT_MS", "TIMER_ENQUEUE_MS", "TIMER_DEQUEUE_MS", "TIMER_ROLL_TIMES",
        "TIMER_DEL_UNIQKEY", SHARDING_KEY, "CLUSTER", POP_CK, "TRAN_PREPARED_QUEUE_OFFSET",
        CHECK_IMMUNITY_TIME, "INSTANCE_ID", "CORRELATION_ID", "REPLY_TO_CLIENT", "TTL",
        "ARRIVE_TIME", "PUSH_REPLY_TIME", TRACE_CONTEXT, DLQ_ORIGIN_TOPIC,
        DLQ_ORIGIN_MESSAGE_ID, BORN_HOST, "BORN_TIMESTAMP", "TIMER_ORIGIN_OFFSET",
    }
)  # fmt: skip
NAME = re.compile(r"^[%a-zA-Z0-9_-]+$")
MAX_NAME_LENGTH = 127
MAX_USER_PROPERTIES = 128
MAX_PROPERTIES_BYTES = 16 * 1024
MAX_MESSAGE_GROUP_BYTES = 64
ALL_TYPES = (pb.NORMAL, pb.FIFO, pb.DELAY, pb.TRANSACTION)


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def check_name(name: str, kind: str, code: int) -> str:
    """A topic or group name the way RocketMQ accepts it.

    Raises:
        ProxyError: `code` (ILLEGAL_TOPIC / ILLEGAL_CONSUMER_GROUP), naming the rule.
    """
    if not name:
        raise ProxyError(code, f"{kind} name is empty")
    if len(name) > MAX_NAME_LENGTH or not NAME.match(name):
        raise ProxyError(
            code,
            f"{kind} {name!r} is illegal: use at most {MAX_NAME_LENGTH} of the characters "
            "a-z A-Z 0-9 _ - %",
        )
    return name


def duration_ms(value: Duration) -> int:
    return value.seconds * 1000 + value.nanos // 1_000_000


def duration(ms: int) -> Duration:
    return Duration(seconds=ms // 1000, nanos=(ms % 1000) * 1_000_000)


def timestamp(ms: int) -> Timestamp:
    return Timestamp(seconds=ms // 1000, nanos=(ms % 1000) * 1_000_000)


def timestamp_ms(value: Timestamp) -> int:
    return value.seconds * 1000 + value.nanos // 1_000_000


def message_type_of(message: pb.Message) -> int:
    """What the message is, from what it carries (the client also says it)."""
    system = message.system_properties
    if system.message_type != pb.MESSAGE_TYPE_UNSPECIFIED:
        return system.message_type
    if system.HasField("message_group"):
        return pb.FIFO
    if system.HasField("delivery_timestamp"):
        return pb.DELAY
    return pb.NORMAL


def to_send_fields(
    message: pb.Message, max_body: int, max_delay_ms: int
) -> tuple[bytes, dict[str, str], int]:
    """Body, properties and sys flag of the 4.x send of one gRPC message.

    Raises:
        ProxyError: the check RocketMQ's proxy fails it with (GrpcValidator).
    """
    system = message.system_properties
    body = message.body
    if not body:
        raise ProxyError(pb.MESSAGE_BODY_EMPTY, "message body is empty")
    if len(body) > max_body:
        raise ProxyError(
            pb.MESSAGE_BODY_TOO_LARGE,
            f"message body is {len(body)} bytes; the limit is {max_body}",
        )
    if not system.message_id:
        raise ProxyError(pb.ILLEGAL_MESSAGE_ID, "message id is empty")
    user = dict(message.user_properties)
    if len(user) > MAX_USER_PROPERTIES:
        raise ProxyError(
            pb.MESSAGE_PROPERTIES_TOO_LARGE,
            f"message has {len(user)} user properties; the limit is {MAX_USER_PROPERTIES}",
        )
    size = 0
    for key, value in user.items():
        if key in SYSTEM_PROPERTY_KEYS or not key or any(c < " " for c in key):
            raise ProxyError(
                pb.ILLEGAL_MESSAGE_PROPERTY_KEY,
                f"property key {key!r} is reserved by RocketMQ or not printable",
            )
        size += len(key.encode()) + len(value.encode())
    properties = dict(user)
    if system.HasField("tag"):
        tag = system.tag
        if not tag.strip() or "|" in tag or any(c < " " for c in tag):
            raise ProxyError(pb.ILLEGAL_MESSAGE_TAG, f"tag {tag!r} is blank or holds '|'")
        properties[MessageConst.TAGS] = tag
        size += len(tag.encode())
    if system.keys:
        for key in system.keys:
            if not key.strip():
                raise ProxyError(pb.ILLEGAL_MESSAGE_KEY, "a message key is blank")
        properties[MessageConst.KEYS] = MessageConst.KEY_SEPARATOR.join(system.keys)
        size += len(properties[MessageConst.KEYS].encode())
    if size > MAX_PROPERTIES_BYTES:
        raise ProxyError(
            pb.MESSAGE_PROPERTIES_TOO_LARGE,
            f"properties, tag and keys take {size} bytes; the limit is {MAX_PROPERTIES_BYTES}",
        )
    properties[MessageConst.UNIQ_KEY] = system.message_id
    kind = message_type_of(message)
    sys_flag = 0
    if system.HasField("message_group"):
        group = system.message_group
        if not group or len(group.encode()) >= MAX_MESSAGE_GROUP_BYTES:
            raise ProxyError(
                pb.ILLEGAL_MESSAGE_GROUP,
                f"message group {group!r} is empty or {MAX_MESSAGE_GROUP_BYTES} bytes or more",
            )
        properties[SHARDING_KEY] = group
    if system.HasField("delivery_timestamp"):
        deliver_ms = timestamp_ms(system.delivery_timestamp)
        if deliver_ms - now_ms() > max_delay_ms:
            raise ProxyError(
                pb.ILLEGAL_DELIVERY_TIME,
                f"delivery time {deliver_ms} ms is more than {max_delay_ms // 1000} s ahead",
            )
        properties[TIMER_DELIVER_MS] = str(deliver_ms)
    if kind == pb.TRANSACTION:
        properties[MessageConst.TRANSACTION_PREPARED] = "true"
        sys_flag |= SysFlag.TRANSACTION_PREPARED
        if system.HasField("orphaned_transaction_recovery_duration"):
            seconds = system.orphaned_transaction_recovery_duration.seconds
            properties[CHECK_IMMUNITY_TIME] = str(seconds)
    if system.HasField("trace_context"):
        properties[TRACE_CONTEXT] = system.trace_context
    if system.born_host:
        properties[BORN_HOST] = system.born_host
    if system.body_encoding == pb.GZIP:
        sys_flag |= SysFlag.COMPRESSED
    return body, properties, sys_flag


def queue_for_group(message_group: str, queue_count: int) -> int:
    """The queue every message of a FIFO group goes to."""
    digest = hashlib.sha256(message_group.encode()).digest()
    return int.from_bytes(digest[:8], "big") % queue_count


def stored_message_type(message: MessageExt) -> int:
    properties = message.properties
    if properties.get(MessageConst.TRANSACTION_PREPARED) == "true":
        return pb.TRANSACTION
    if (
        TIMER_DELIVER_MS in properties
        or MessageConst.DELAY in properties
        or "__STARTDELIVERTIME" in properties
        or "TIMER_DELAY_SEC" in properties
    ):
        return pb.DELAY
    if SHARDING_KEY in properties:
        return pb.FIFO
    return pb.NORMAL


def to_grpc_message(
    message: MessageExt,
    namespace: str,
    *,
    topic: str | None = None,
    receipt_handle: str | None = None,
    invisible_ms: int | None = None,
) -> pb.Message:
    """A stored message as 5.x clients get it (GrpcConverter.buildMessage)."""
    properties = message.properties
    body = message.body
    encoding = pb.IDENTITY
    if message.sys_flag & SysFlag.COMPRESSED:
        encoding = pb.GZIP  # the clients inflate a zlib stream
    system = pb.SystemProperties(
        message_id=message.msg_id,
        body_digest=pb.Digest(type=pb.MD5, checksum=hashlib.md5(body).hexdigest().upper()),
        body_encoding=encoding,  # type: ignore[arg-type]
        message_type=stored_message_type(message),  # type: ignore[arg-type]
        born_timestamp=timestamp(message.born_timestamp),
        born_host=properties.get(BORN_HOST) or message.born_host[0],
        store_timestamp=timestamp(message.store_timestamp),
        store_host=f"{message.store_host[0]}:{message.store_host[1]}",
        queue_id=message.queue_id,
        queue_offset=message.queue_offset,
        delivery_attempt=message.reconsume_times + 1,
    )
    if MessageConst.TAGS in properties:
        system.tag = properties[MessageConst.TAGS]
    if message.keys:
        system.keys.extend(message.keys)
    if SHARDING_KEY in properties:
        system.message_group = properties[SHARDING_KEY]
    if TIMER_DELIVER_MS in properties:
        # A malformed value from a 4.x producer is left out.
        with contextlib.suppress(ValueError):
            system.delivery_timestamp.CopyFrom(timestamp(int(properties[TIMER_DELIVER_MS])))
    if TRACE_CONTEXT in properties:
        system.trace_context = properties[TRACE_CONTEXT]
    if receipt_handle is not None:
        system.receipt_handle = receipt_handle
    if invisible_ms is not None:
        system.invisible_duration.CopyFrom(duration(invisible_ms))
    if DLQ_ORIGIN_TOPIC in properties:
        system.dead_letter_queue.topic = properties[DLQ_ORIGIN_TOPIC]
        system.dead_letter_queue.message_id = properties.get(DLQ_ORIGIN_MESSAGE_ID, "")
    user = {k: v for k, v in properties.items() if k not in SYSTEM_PROPERTY_KEYS}
    if topic is None:
        # A retried message is stored in a retry topic; clients know the original.
        topic = message.topic
        if topic.startswith(RETRY_GROUP_TOPIC_PREFIX):
            topic = properties.get(MessageConst.RETRY_TOPIC, topic)
    return pb.Message(
        topic=pb.Resource(resource_namespace=namespace, name=topic),
        user_properties=user,
        system_properties=system,
        body=body,
    )
