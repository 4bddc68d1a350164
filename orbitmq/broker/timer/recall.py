"""Recalling a timer message before it is due (RocketMQ 5.3's RecallMessage).

A send of a timer message through the proxy returns a recall handle: URL-safe base64 of
`v1 <topic> <brokerName> <deliver ms> <message id>` (RecallMessageHandle.HandleV1). A
recall stores a marker in the timer topic: a record due in the same slot carrying
TIMER_DEL_UNIQKEY = `<topic>+<message id>`. The timer service skips the timer the
marker names, and the marker, being in the commit log, survives restarts as timers do.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass

from orbitmq.broker.errors import MessageIllegalError
from orbitmq.broker.timer.transform import (
    TIMER_DEL_UNIQKEY,
    TIMER_DELIVER_MS,
    TIMER_OUT_MS,
    TIMER_QUEUE_ID,
    TIMER_TOPIC,
    timer_out_ms,
)
from orbitmq.protocol.message import MessageConst, MessageExt

VERSION = "v1"


@dataclass(frozen=True, slots=True)
class RecallHandle:
    topic: str
    broker_name: str
    deliver_ms: int
    message_id: str

    def encode(self) -> str:
        text = f"{VERSION} {self.topic} {self.broker_name} {self.deliver_ms} {self.message_id}"
        return base64.urlsafe_b64encode(text.encode()).decode()

    @classmethod
    def decode(cls, handle: str) -> RecallHandle:
        """Raises:
        MessageIllegalError: not a recall handle of this version.
        """
        try:
            text = base64.urlsafe_b64decode(handle.encode()).decode()
            version, topic, broker_name, deliver_ms, message_id = text.split(" ")
            if version != VERSION:
                raise ValueError(f"version {version!r}")
            return cls(topic, broker_name, int(deliver_ms), message_id)
        except (ValueError, binascii.Error, UnicodeError) as exc:
            raise MessageIllegalError(f"recall handle {handle!r} is not valid: {exc}") from None


def delete_key(topic: str, message_id: str) -> str:
    """TimerMessageStore.buildDeleteKey: what a marker names."""
    return f"{topic}+{message_id}"


def cancel_key(parked: MessageExt) -> str | None:
    """The key a recall marker of this parked timer would carry."""
    topic = parked.properties.get(MessageConst.REAL_TOPIC)
    message_id = parked.properties.get(MessageConst.UNIQ_KEY)
    return delete_key(topic, message_id) if topic and message_id else None


def recall_marker(
    handle: RecallHandle, precision_ms: int, now_ms: int, store_host: tuple[str, int]
) -> MessageExt:
    """The record that recalls the timer `handle` names.

    Raises:
        MessageIllegalError: its time has come already (it is delivered, or about to be).
    """
    if handle.deliver_ms <= now_ms:
        raise MessageIllegalError(
            f"message {handle.message_id} of {handle.topic} was due at {handle.deliver_ms} "
            "and is delivered already; it cannot be recalled"
        )
    properties = {
        TIMER_DELIVER_MS: str(handle.deliver_ms),
        TIMER_OUT_MS: str(timer_out_ms(handle.deliver_ms, precision_ms)),
        TIMER_DEL_UNIQKEY: delete_key(handle.topic, handle.message_id),
        MessageConst.REAL_TOPIC: handle.topic,
        MessageConst.REAL_QID: "0",
    }
    return MessageExt(
        topic=TIMER_TOPIC,
        body=b"recall",
        properties=properties,
        queue_id=TIMER_QUEUE_ID,
        born_timestamp=now_ms,
        store_host=store_host,
    )
