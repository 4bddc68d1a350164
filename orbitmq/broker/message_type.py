"""RocketMQ 5's topic message types (TopicMessageType.java and the proxy's
DefaultTopicMessageTypeValidator.java and RouteActivity.parseTopicMessageType).

A topic's type is its attribute `message.type` (`mqadmin updateTopic -a
+message.type=FIFO`, topic_attributes.py); a topic without one is NORMAL. A message's
type follows from its properties. Java RocketMQ 5 compares the two where producers come
in through the proxy (gRPC and the proxy's remoting port, ProxyConfig
`enableTopicMessageTypeCheck`, default true), never on the broker's own port; OrbitMQ's
broker makes the same check on its 4.x send path when its `enableTopicMessageTypeCheck`
is true (default false, so a broker behaves as a Java broker does).

Stable API (the gRPC proxy builds `MessageQueue.accept_message_types` and refuses sends
with these; keep the names):

  TopicMessageType            StrEnum, Java's names and values: UNSPECIFIED, NORMAL,
                              FIFO, DELAY, TRANSACTION, MIXED
  MESSAGE_TYPE_ATTRIBUTE      "message.type"
  topic_message_type(config)  a topic's type: NORMAL when untyped, UNSPECIFIED when
                              `config` is None (no such topic here) or the stored value
                              is not a type this broker knows
  message_type_of(properties, sys_flag=0)
                              a message's type: TRANSACTION, DELAY, FIFO or NORMAL
  accepts(topic_type, msg_type)
                              whether a topic of `topic_type` takes the message: the same
                              type, or any type on a MIXED topic; UNSPECIFIED never
  accept_message_types(topic_type)
                              what a route advertises: MIXED -> (NORMAL, FIFO, DELAY,
                              TRANSACTION); a single type -> itself; else (UNSPECIFIED,)
  check_message_type(topic, config, properties, sys_flag=0)
                              the send-time check: raises MessageTypeMismatchError
                              (remoting: MESSAGE_ILLEGAL; gRPC:
                              MESSAGE_PROPERTY_CONFLICT_WITH_TYPE) with Java's text;
                              retry and DLQ topics and forwarded (TRANSFER_FLAG)
                              messages pass unchecked, as in the proxy
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import TYPE_CHECKING

from orbitmq.broker.errors import MessageTypeMismatchError
from orbitmq.protocol.message import MessageConst, SysFlag
from orbitmq.protocol.topics import DLQ_GROUP_TOPIC_PREFIX, RETRY_GROUP_TOPIC_PREFIX

if TYPE_CHECKING:
    from orbitmq.broker.topic_config import TopicConfig

__all__ = [
    "MESSAGE_TYPE_ATTRIBUTE",
    "TopicMessageType",
    "accept_message_types",
    "accepts",
    "check_message_type",
    "message_type_of",
    "topic_message_type",
]

MESSAGE_TYPE_ATTRIBUTE = "message.type"
# TopicMessageType.parseFromMessageProperty's delay markers: a delay level or a 5.x timer
# property. (The metrics' getMessageType also counts ONS's __STARTDELIVERTIME; the type
# check does not.)
_DELAY_PROPERTIES = (MessageConst.DELAY, "TIMER_DELIVER_MS", "TIMER_DELAY_SEC", "TIMER_DELAY_MS")
_SHARDING_KEY = "__SHARDINGKEY"  # MessageConst.PROPERTY_SHARDING_KEY: the message group
_TRANSFER_FLAG = "TRANSFER_FLAG"  # MessageConst.PROPERTY_TRANSFER_FLAG: forwarded by a proxy


class TopicMessageType(StrEnum):
    UNSPECIFIED = "UNSPECIFIED"
    NORMAL = "NORMAL"
    FIFO = "FIFO"
    DELAY = "DELAY"
    TRANSACTION = "TRANSACTION"
    MIXED = "MIXED"


_SENDABLE = (
    TopicMessageType.NORMAL,
    TopicMessageType.FIFO,
    TopicMessageType.DELAY,
    TopicMessageType.TRANSACTION,
)


def topic_message_type(config: TopicConfig | None) -> TopicMessageType:
    """TopicConfig.getTopicMessageType, with LocalMetadataService's UNSPECIFIED for a
    topic this broker has no config of."""
    if config is None:
        return TopicMessageType.UNSPECIFIED
    value = config.attributes.get(MESSAGE_TYPE_ATTRIBUTE)
    if value is None:
        return TopicMessageType.NORMAL
    try:
        return TopicMessageType(value)
    except ValueError:  # a topics.json from a newer or hand-edited broker
        return TopicMessageType.UNSPECIFIED


def message_type_of(properties: Mapping[str, str], sys_flag: int = 0) -> TopicMessageType:
    """TopicMessageType.parseFromMessageProperty: TRAN_MSG=true (or a prepared
    transaction sys flag, the other half of that marker) -> TRANSACTION, then a delay
    level or timer property -> DELAY, then a sharding key (message group) -> FIFO."""
    if (
        properties.get(MessageConst.TRANSACTION_PREPARED) == "true"
        or sys_flag & SysFlag.TRANSACTION_MASK == SysFlag.TRANSACTION_PREPARED
    ):
        return TopicMessageType.TRANSACTION
    if any(name in properties for name in _DELAY_PROPERTIES):
        return TopicMessageType.DELAY
    if _SHARDING_KEY in properties:
        return TopicMessageType.FIFO
    return TopicMessageType.NORMAL


def accepts(topic_type: TopicMessageType, msg_type: TopicMessageType) -> bool:
    """DefaultTopicMessageTypeValidator.validate, as a predicate."""
    if msg_type is TopicMessageType.UNSPECIFIED:
        return False
    return msg_type is topic_type or topic_type is TopicMessageType.MIXED


def accept_message_types(topic_type: TopicMessageType) -> tuple[TopicMessageType, ...]:
    """RouteActivity.parseTopicMessageType: the types a topic's queues accept."""
    if topic_type is TopicMessageType.MIXED:
        return _SENDABLE
    if topic_type in _SENDABLE:
        return (topic_type,)
    return (TopicMessageType.UNSPECIFIED,)


def check_message_type(
    topic: str, config: TopicConfig | None, properties: Mapping[str, str], sys_flag: int = 0
) -> None:
    """The proxy's send-time check (SendMessageActivity / ProducerProcessor).

    Raises:
        MessageTypeMismatchError: the message's type is not one the topic accepts.
    """
    if (
        topic.startswith(RETRY_GROUP_TOPIC_PREFIX)
        or topic.startswith(DLQ_GROUP_TOPIC_PREFIX)
        or _TRANSFER_FLAG in properties
    ):
        return
    expected = topic_message_type(config)
    actual = message_type_of(properties, sys_flag)
    if not accepts(expected, actual):
        raise MessageTypeMismatchError(
            f"TopicMessageType validate failed, the expected type is {expected}, "
            f"but actual type is {actual}"
        )
