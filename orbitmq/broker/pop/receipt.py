"""The receipt handle of a popped message (RocketMQ's POP "extra info").

`startOffset popTime invisibleTime reviveQueueId topicType brokerName queueId
queueOffset`, joined by single spaces (ExtraInfoUtil.buildExtraInfo), to which the
proxy appends the commit-log offset. Clients treat it as opaque; the broker uses the
pop time to tell the current delivery of a message from an earlier one.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from orbitmq.errors import OrbitMQError

NORMAL_TOPIC = 0
POP_RETRY_TOPIC_V1 = 1  # %RETRY%<group>_<topic>


class InvalidReceiptHandleError(OrbitMQError):
    """The text is not a receipt handle this broker made."""


@dataclass(frozen=True, slots=True)
class ReceiptHandle:
    start_offset: int
    pop_time: int  # ms
    invisible_time: int  # ms
    revive_queue_id: int
    topic_type: int
    broker_name: str
    queue_id: int
    queue_offset: int
    commit_log_offset: int = -1

    @property
    def next_visible_time(self) -> int:
        return self.pop_time + self.invisible_time

    def expired(self, now_ms: int) -> bool:
        return self.next_visible_time <= now_ms

    def renewed(self, pop_time: int, invisible_time: int) -> ReceiptHandle:
        """The handle of the same delivery after its invisible time changed."""
        return dataclasses.replace(self, pop_time=pop_time, invisible_time=invisible_time)

    def extra_info(self) -> str:
        """The broker's part: what ACK_MESSAGE and CHANGE_MESSAGE_INVISIBLETIME carry."""
        return (
            f"{self.start_offset} {self.pop_time} {self.invisible_time} "
            f"{self.revive_queue_id} {self.topic_type} {self.broker_name} "
            f"{self.queue_id} {self.queue_offset}"
        )

    def encode(self) -> str:
        """The handle a client gets: extra info plus the commit-log offset."""
        return f"{self.extra_info()} {self.commit_log_offset}"

    @classmethod
    def decode(cls, text: str) -> ReceiptHandle:
        """Raises:
        InvalidReceiptHandleError: not 8 or 9 space-separated fields of the right kinds.
        """
        parts = text.split(" ")
        if len(parts) not in (8, 9):
            raise InvalidReceiptHandleError(f"receipt handle {text!r} is not one of ours")
        try:
            numbers = [int(p) for p in parts[:5]]
            queue_id, queue_offset = int(parts[6]), int(parts[7])
            commit_log_offset = int(parts[8]) if len(parts) == 9 else -1
        except ValueError:
            raise InvalidReceiptHandleError(f"receipt handle {text!r} is not one of ours") from None
        return cls(*numbers, parts[5], queue_id, queue_offset, commit_log_offset)
