"""Public message values of the client: Message, MessageQueue, SendResult, UNIQ_KEY ids.

UNIQ_KEY (MessageClientIDSetter.java), 16 bytes shown as 32 upper-case hex characters:
  client IPv4 (4) | pid & 0xFFFF (2) | random (4) | ms since start of month (4) | counter (2)
"""

from __future__ import annotations

import datetime as _dt
import itertools
import os
import random
import socket
import time
from dataclasses import dataclass, field
from enum import IntEnum

from orbitmq.protocol.message import (
    NAME_VALUE_SEPARATOR,
    PROPERTY_SEPARATOR,
    MessageConst,
    encode_properties,
)

__all__ = [
    "Message",
    "MessageQueue",
    "SendResult",
    "SendStatus",
    "create_uniq_id",
    "local_ipv4",
]


# The properties every send carries, as text (Message._own_properties_text).
_WAIT_TRUE = f"{MessageConst.WAIT}{NAME_VALUE_SEPARATOR}true"
_WAIT_TRUE_UNIQ = f"{_WAIT_TRUE}{PROPERTY_SEPARATOR}{MessageConst.UNIQ_KEY}{NAME_VALUE_SEPARATOR}"
_DELAY = f"{MessageConst.DELAY}{NAME_VALUE_SEPARATOR}"
_TAGS = f"{MessageConst.TAGS}{NAME_VALUE_SEPARATOR}"
_KEYS = f"{MessageConst.KEYS}{NAME_VALUE_SEPARATOR}"
_TIMER_DELIVER_MS = "TIMER_DELIVER_MS"  # MessageConst.PROPERTY_TIMER_DELIVER_MS (RocketMQ 5)


@dataclass(frozen=True, slots=True, order=True)
class MessageQueue:
    """One queue of a topic on one broker set; sorts by (topic, broker_name, queue_id)."""

    topic: str
    broker_name: str
    queue_id: int

    def __str__(self) -> str:
        """Java's MessageQueue.toString()."""
        return (
            f"MessageQueue [topic={self.topic}, brokerName={self.broker_name}, "
            f"queueId={self.queue_id}]"
        )


class SendStatus(IntEnum):
    """How a stored message fared (send response codes 0, 10, 12, 11).

    Prints as its RocketMQ name (`SEND_OK`), as every RocketMQ client does; compares
    equal to Java's ordinal.
    """

    SEND_OK = 0
    FLUSH_DISK_TIMEOUT = 1
    FLUSH_SLAVE_TIMEOUT = 2
    SLAVE_NOT_AVAILABLE = 3

    def __str__(self) -> str:
        return self.name

    def __format__(self, format_spec: str) -> str:
        return format(self.name, format_spec)


@dataclass(frozen=True, slots=True)
class SendResult:
    """The outcome of a send.

    Attributes:
        status: SEND_OK unless the broker stored it but flush/replication lagged.
        msg_id: the UNIQ_KEY the client generated (comma-joined for a batch).
        offset_msg_id: the broker's offset message id (ip | port | commit-log offset).
        message_queue: the queue written.
        queue_offset: logical offset in that queue (the first one for a batch).
    """

    status: SendStatus
    msg_id: str
    offset_msg_id: str
    message_queue: MessageQueue
    queue_offset: int

    def __str__(self) -> str:
        """Java's SendResult.toString(), the line RocketMQ's quick start prints."""
        return (
            f"SendResult [sendStatus={self.status}, msgId={self.msg_id}, "
            f"offsetMsgId={self.offset_msg_id}, messageQueue={self.message_queue}, "
            f"queueOffset={self.queue_offset}]"
        )


@dataclass(slots=True)
class Message:
    """A message to send.

    Args:
        topic: destination topic.
        body: payload bytes (`str` is encoded as UTF-8).
        tags: one tag used for filtering (`TAGS` property).
        keys: business keys for lookup: one string, or several; joined by spaces.
        properties: user properties (no `\\x01`/`\\x02`, no empty keys or values).
        flag: opaque user integer stored with the message.
        delay_time_level: 1..18 to deliver later (broker delay levels), 0 for now.
        deliver_time_ms: deliver at this time, epoch milliseconds (a RocketMQ 5 timer
            message, property TIMER_DELIVER_MS; Java's Message.setDeliverTimeMs). The
            broker refuses one more than its timerMaxDelaySec (3 days) ahead; a time
            already past is delivered at once. Not in a batch or a transaction.
    """

    topic: str
    body: bytes
    tags: str | None = None
    keys: str | list[str] | None = None
    properties: dict[str, str] = field(default_factory=dict)
    flag: int = 0
    delay_time_level: int = 0
    deliver_time_ms: int | None = None

    def __post_init__(self) -> None:
        if isinstance(self.body, str):
            self.body = self.body.encode()
        if self.keys is not None and not isinstance(self.keys, str):
            self.keys = list(self.keys)

    @property
    def keys_text(self) -> str | None:
        """The KEYS property value: keys joined by a space."""
        if self.keys is None:
            return None
        if isinstance(self.keys, str):
            return self.keys or None
        return MessageConst.KEY_SEPARATOR.join(k for k in self.keys if k) or None

    def wire_properties(self, uniq_key: str | None) -> dict[str, str]:
        """The properties sent to the broker: KEYS, TAGS, DELAY, TIMER_DELIVER_MS, WAIT,
        UNIQ_KEY, then the user's (which cannot override those). Not validated; see
        `properties_text`."""
        props: dict[str, str] = {}
        keys = self.keys_text
        if keys:
            props[MessageConst.KEYS] = keys
        if self.tags:
            props[MessageConst.TAGS] = self.tags
        if self.delay_time_level > 0:
            props[MessageConst.DELAY] = str(self.delay_time_level)
        if self.deliver_time_ms is not None:
            props[_TIMER_DELIVER_MS] = str(self.deliver_time_ms)
        props[MessageConst.WAIT] = "true"
        if uniq_key is not None:
            props[MessageConst.UNIQ_KEY] = uniq_key
        if self.properties:
            for key, value in self.properties.items():
                props.setdefault(key, value)
        return props

    def properties_text(self, uniq_key: str | None) -> str:
        """`wire_properties` encoded as `k\\x01v\\x02k\\x01v`, checked in one pass.

        Raises:
            ValueError: a property key or value is empty or holds \\x01 or \\x02.
        """
        if not self.properties and self.deliver_time_ms is None:
            return self._own_properties_text(uniq_key)
        props = self.wire_properties(uniq_key)
        text = encode_properties(props)
        pairs = len(props)
        if (
            text.count(NAME_VALUE_SEPARATOR) != pairs
            or text.count(PROPERTY_SEPARATOR) != pairs - 1
            or "" in props
            or "" in props.values()
        ):
            raise ValueError(f"a property is empty or holds \\x01/\\x02: {props!r}")
        return text

    def _own_properties_text(self, uniq_key: str | None) -> str:
        """`properties_text` of a message without user properties (the usual send), built
        as one string: same text, no dict in between."""
        text = _WAIT_TRUE if uniq_key is None else f"{_WAIT_TRUE_UNIQ}{uniq_key}"
        if self.delay_time_level > 0:
            text = f"{_DELAY}{self.delay_time_level}{PROPERTY_SEPARATOR}{text}"
        tags = self.tags
        keys = self.keys_text
        if tags:
            text = f"{_TAGS}{tags}{PROPERTY_SEPARATOR}{text}"
        if keys:
            text = f"{_KEYS}{keys}{PROPERTY_SEPARATOR}{text}"
        for value in (tags, keys):
            if value and (NAME_VALUE_SEPARATOR in value or PROPERTY_SEPARATOR in value):
                raise ValueError(f"a property holds \\x01/\\x02: {value!r}")
        return text


def local_ipv4() -> str:
    """The first non-loopback IPv4 address of this host, else 127.0.0.1."""
    try:
        infos = socket.getaddrinfo(socket.gethostname(), None, socket.AF_INET)
        for info in infos:
            address = str(info[4][0])
            if not address.startswith("127."):
                return address
    except OSError:
        pass
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            probe.connect(("10.255.255.255", 1))  # no packet is sent for UDP connect
            address = str(probe.getsockname()[0])
            if not address.startswith(("127.", "0.")):
                return address
    except OSError:
        pass
    return "127.0.0.1"


def _month_start_ms(now_ms: int) -> tuple[int, int]:
    now = _dt.datetime.fromtimestamp(now_ms / 1000)
    start = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    following = (start + _dt.timedelta(days=32)).replace(day=1)
    return int(start.timestamp() * 1000), int(following.timestamp() * 1000)


class _UniqIdGenerator:
    """Makes UNIQ_KEYs; cheap per call: one clock read, one counter step, one format (the
    first 28 characters are the same for every id of one millisecond)."""

    def __init__(self, ip: str) -> None:
        ip_bytes = socket.inet_aton(ip)
        prefix = ip_bytes + (os.getpid() & 0xFFFF).to_bytes(2, "big")
        prefix += random.getrandbits(32).to_bytes(4, "big")
        self._prefix = prefix.hex().upper()
        self._counter = itertools.count(random.getrandbits(16))
        self._start = 0
        self._next_start = 0
        self._ms = -1
        self._head = ""  # prefix and time of millisecond `_ms`

    def __call__(self) -> str:
        now = time.time_ns() // 1_000_000
        if now != self._ms:
            if now >= self._next_start:
                self._start, self._next_start = _month_start_ms(now)
            self._ms = now
            self._head = f"{self._prefix}{(now - self._start) & 0xFFFFFFFF:08X}"
        return f"{self._head}{next(self._counter) & 0xFFFF:04X}"


_generator: _UniqIdGenerator | None = None


def create_uniq_id() -> str:
    """A new UNIQ_KEY: 32 upper-case hex characters, unique per process and time."""
    global _generator
    if _generator is None:
        _generator = _UniqIdGenerator(local_ipv4())
    return _generator()
