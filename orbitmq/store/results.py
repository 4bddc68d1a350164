"""Result values of the store API (DefaultMessageStore's PutMessageResult & co).

They live apart from message_store.py so that commit_log.py can build them without an
import cycle; message_store.py re-exports every name.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field


class PutMessageStatus(enum.Enum):
    PUT_OK = "PUT_OK"
    FLUSH_DISK_TIMEOUT = "FLUSH_DISK_TIMEOUT"  # stored, but not on disk in time
    MESSAGE_ILLEGAL = "MESSAGE_ILLEGAL"
    PROPERTIES_SIZE_EXCEEDED = "PROPERTIES_SIZE_EXCEEDED"
    SERVICE_NOT_AVAILABLE = "SERVICE_NOT_AVAILABLE"
    UNKNOWN_ERROR = "UNKNOWN_ERROR"
    # DLedger mode: no quorum acknowledged in time, or too many appends await one.
    # The message may still be stored (RocketMQ answers "broker busy").
    OS_PAGECACHE_BUSY = "OS_PAGECACHE_BUSY"


@dataclass(frozen=True, slots=True)
class AppendMessageResult:
    wrote_offset: int  # commit log offset of the first record
    wrote_bytes: int
    msg_ids: list[str]  # offset message ids, one per record
    queue_offset: int  # queue offset of the first record
    message_count: int
    store_timestamp: int


@dataclass(frozen=True, slots=True)
class PutMessageResult:
    status: PutMessageStatus
    append_result: AppendMessageResult | None
    remark: str = ""

    @property
    def is_ok(self) -> bool:
        return self.status is PutMessageStatus.PUT_OK


class GetMessageStatus(enum.Enum):
    FOUND = "FOUND"
    NO_MATCHED_MESSAGE = "NO_MATCHED_MESSAGE"
    MESSAGE_WAS_REMOVING = "MESSAGE_WAS_REMOVING"
    OFFSET_FOUND_NULL = "OFFSET_FOUND_NULL"
    OFFSET_OVERFLOW_BADLY = "OFFSET_OVERFLOW_BADLY"
    OFFSET_OVERFLOW_ONE = "OFFSET_OVERFLOW_ONE"
    OFFSET_TOO_SMALL = "OFFSET_TOO_SMALL"
    NO_MATCHED_LOGIC_QUEUE = "NO_MATCHED_LOGIC_QUEUE"
    NO_MESSAGE_IN_QUEUE = "NO_MESSAGE_IN_QUEUE"


@dataclass(slots=True)
class GetMessageResult:
    status: GetMessageStatus
    next_begin_offset: int
    min_offset: int
    max_offset: int
    # Each buffer is one whole stored record, a slice of the mapped commit log.
    buffers: list[memoryview] = field(default_factory=list)
    message_count: int = 0
    buffer_total_size: int = 0

    def body(self) -> bytes:
        """The pull response body: the records back to back."""
        return b"".join(self.buffers)

    def release(self) -> None:
        """Let go of the mapped slices early (optional; GC does it otherwise)."""
        for buf in self.buffers:
            buf.release()
        self.buffers = []


@dataclass(frozen=True, slots=True)
class StoreStatistics:
    put_message_count: int  # messages stored (a batch counts each message)
    put_message_failures: int  # put calls refused or failed
    put_message_bytes: int
    get_message_count: int  # get_message calls
    get_message_found: int  # messages returned by get_message
    commit_log_min_offset: int
    commit_log_max_offset: int
    commit_log_flushed_offset: int
    commit_log_flush_count: int  # fdatasync rounds on the commit log
    consume_queue_flush_count: int
    dispatch_behind_bytes: int  # commit log bytes reput has not dispatched yet
    sync_flush_timeouts: int
