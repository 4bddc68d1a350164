"""The commit log: every message of every topic, appended in arrival order (CommitLog.java).

Theory of operation: the store runs on one event loop, so `append` needs no lock. It is
plain synchronous code (no await) and so is one serialized step: store timestamp,
physical offset, queue offsets, encoding and the write into the mapping all happen
together, which is what RocketMQ's put-message lock guarantees. Consume queues are not
written here; the reput service (dispatch.py) follows the log and builds them.

A record of length L goes into the current segment only if L + 8 <= remaining bytes;
otherwise an 8-byte blank marker (remaining, BLANK_MAGIC_CODE) closes the segment and
the record goes at the start of the next one (so a batch never spans two segments).
"""

from __future__ import annotations

import struct
import time
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass

from orbitmq.protocol.message import (
    BLANK_MAGIC_CODE,
    MESSAGE_MAGIC_CODE,
    PHYSICAL_OFFSET_POSITION,
    MessageExt,
    SysFlag,
    create_offset_msg_id,
    decode_record,
    encode_record,
    store_timestamp_position,
)
from orbitmq.store.config import MessageStoreConfig
from orbitmq.store.errors import StoreError
from orbitmq.store.layout import (
    END_FILE_MIN_BLANK_LENGTH,
    SIZE_MAGIC,
    DispatchRequest,
    dispatch_request_for,
    encode_blank,
)
from orbitmq.store.mapped_file_queue import MappedFileQueue
from orbitmq.store.results import AppendMessageResult

_I64 = struct.Struct(">q")
_I32 = struct.Struct(">i")
_ENTERS_QUEUE = (0, SysFlag.TRANSACTION_COMMIT)
_MAX_DISPATCH_HINTS = 65536


@dataclass(slots=True)
class LaidOutRecords:
    """Records encoded for the log position `physical` (see CommitLog.lay_out)."""

    physical: int
    data: bytes | bytearray
    result: AppendMessageResult
    queue_key: tuple[str, int] | None  # None: the records take no queue offsets


class CommitLog:
    def __init__(self, config: MessageStoreConfig) -> None:
        assert config.store_path_commit_log is not None
        self.file_size = config.mapped_file_size_commit_log
        self.queue = MappedFileQueue(
            config.store_path_commit_log,
            self.file_size,
            reserve_chunk=config.commit_log_reserve_bytes,
        )
        # Next queue offset per (topic, queue_id); rebuilt from the consume queues.
        self.topic_queue_table: dict[tuple[str, int], int] = {}
        self.last_store_timestamp = 0
        # What reput needs for each record appended since it last ran, in log order,
        # so it can skip parsing them back (see dispatch.py). Bounded: when reput falls
        # far behind it parses instead.
        self.dispatch_hints: deque[DispatchRequest] = deque()

    @property
    def min_offset(self) -> int:
        return self.queue.min_offset

    @property
    def max_offset(self) -> int:
        return self.queue.max_offset

    def max_record_size(self) -> int:
        """Largest record (or batch) that fits in one segment with the blank reserve."""
        return self.file_size - END_FILE_MIN_BLANK_LENGTH

    def append(self, msgs: list[MessageExt], properties: list[str]) -> AppendMessageResult:
        """Store `msgs` (one message, or a batch for one topic/queue) in one write.

        `properties` holds each message's encoded properties string. Sets each
        message's store_timestamp, queue_offset, commit_log_offset, body_crc and
        store_size. The caller has checked sizes (see MessageStore.put_message).
        """
        mapped = self.queue.file_for_append()
        laid = self.lay_out(msgs, properties, mapped.end_offset)
        if laid.physical != mapped.end_offset:
            mapped.reserve(mapped.wrote_position + END_FILE_MIN_BLANK_LENGTH)
            mapped.append(encode_blank(mapped.remaining))
            mapped.wrote_position = mapped.file_size  # the marker stands for the rest
            mapped = self.queue.file_for_append()
        # Blocks first: a store into a hole on a full disk would be SIGBUS, not an error.
        mapped.reserve(mapped.wrote_position + len(laid.data))
        mapped.append(laid.data)
        self.commit_laid_out(msgs, laid)
        self.add_dispatch_hints(msgs)
        return laid.result

    def add_dispatch_hints(self, msgs: list[MessageExt]) -> None:
        """Hand reput what it needs of records about to be written (see dispatch.py)."""
        self.add_dispatch_requests(map(dispatch_request_for, msgs))

    def add_dispatch_requests(self, requests: Iterable[DispatchRequest]) -> None:
        if len(self.dispatch_hints) < _MAX_DISPATCH_HINTS:
            self.dispatch_hints.extend(requests)

    def lay_out(
        self, msgs: list[MessageExt], properties: list[str], end_offset: int
    ) -> LaidOutRecords:
        """Encode `msgs` as they go into a log ending at `end_offset`, writing nothing.

        Assigns store timestamp, queue offsets and physical offsets (in the next segment
        when they do not fit with the blank reserve in this one). DLedger mode lays out
        records at the end of the log as it will be once every proposed entry is applied.
        """
        now = time.time_ns() // 1_000_000
        # Store timestamps never go backwards in log order, even if the clock does.
        if now < self.last_store_timestamp:
            now = self.last_store_timestamp
        first = msgs[0]
        key = (first.topic, first.queue_id)
        # PREPARED/ROLLBACK records never enter a consume queue: offset 0, no advance.
        assign = (first.sys_flag & SysFlag.TRANSACTION_MASK) in _ENTERS_QUEUE
        queue_offset = self.topic_queue_table.get(key, 0) if assign else 0
        physical = end_offset
        encoded: list[bytearray] = []
        total = 0
        for i, msg in enumerate(msgs):
            msg.store_timestamp = now
            msg.queue_offset = queue_offset + i if assign else 0
            msg.commit_log_offset = physical + total
            record = encode_record(msg, properties[i])
            encoded.append(record)
            total += len(record)
        if total + END_FILE_MIN_BLANK_LENGTH > self.file_size - end_offset % self.file_size:
            physical = self.roll_next_file(end_offset)
            position = physical
            for msg, record in zip(msgs, encoded, strict=True):
                _I64.pack_into(record, PHYSICAL_OFFSET_POSITION, position)
                msg.commit_log_offset = position
                position += len(record)
        result = AppendMessageResult(
            wrote_offset=physical,
            wrote_bytes=total,
            msg_ids=[_offset_msg_id(m.store_host, m.commit_log_offset) for m in msgs],
            queue_offset=first.queue_offset,
            message_count=len(msgs),
            store_timestamp=now,
        )
        data = encoded[0] if len(encoded) == 1 else b"".join(encoded)
        return LaidOutRecords(physical, data, result, key if assign else None)

    def commit_laid_out(self, msgs: list[MessageExt], laid: LaidOutRecords) -> None:
        """Advance the queue offsets and timestamps past records laid out by `lay_out`."""
        self.last_store_timestamp = laid.result.store_timestamp
        if laid.queue_key is not None:
            self.topic_queue_table[laid.queue_key] = laid.result.queue_offset + len(msgs)

    def warm_ahead(self, ahead: int) -> None:
        """Pre-fault the next `ahead` bytes of the segment being written (blocking)."""
        mapped = self.queue.last_file
        if mapped is not None:
            mapped.populate(mapped.wrote_position + ahead)

    def warm_needed(self, ahead: int) -> bool:
        mapped = self.queue.last_file
        if mapped is None:
            return False
        wanted = min(mapped.reserved_position, mapped.wrote_position + ahead // 2)
        return mapped.populated_position < wanted

    def get_record(self, offset: int, size: int) -> memoryview | None:
        """A zero-copy slice of the record at `offset`, or None if not (fully) stored."""
        mapped = self.queue.find_file(offset)
        if mapped is None:
            return None
        pos = offset - mapped.file_from_offset
        if pos < 0 or pos + size > mapped.wrote_position:
            return None
        return mapped.slice(pos, size)

    def record_size_at(self, offset: int) -> int:
        """TOTALSIZE of the record at `offset`; 0 if none, blank, or out of range."""
        mapped = self.queue.find_file(offset)
        if mapped is None:
            return 0
        pos = offset - mapped.file_from_offset
        if pos + 8 > mapped.wrote_position:
            return 0
        size, magic = SIZE_MAGIC.unpack_from(mapped.view, pos)
        if magic != MESSAGE_MAGIC_CODE or size <= 0 or pos + size > mapped.wrote_position:
            return 0
        return int(size)

    def record_at(self, offset: int) -> memoryview | None:
        """The whole record starting at `offset` as stored (zero copy), or None."""
        size = self.record_size_at(offset)
        return self.get_record(offset, size) if size else None

    def look_message(self, offset: int) -> MessageExt | None:
        size = self.record_size_at(offset)
        if size == 0:
            return None
        record = self.get_record(offset, size)
        if record is None:
            return None
        with record:
            return decode_record(record)

    def pickup_store_timestamp(self, offset: int, size: int) -> int:
        """Store timestamp of the record at `offset` (-1 if it is not there)."""
        if offset < self.min_offset:
            return -1
        record = self.get_record(offset, size)
        if record is None:
            return -1
        with record:
            (sys_flag,) = _I32.unpack_from(record, 36)
            (stamp,) = _I64.unpack_from(record, store_timestamp_position(sys_flag))
        return int(stamp)

    # ---------------------------------------------------------------- replication
    # Network-free primitives for orbitmq/ha: a master reads raw slices and checks where
    # a slave resumes; a slave writes the master's bytes at the same offsets.

    def read_data(self, offset: int, max_size: int) -> memoryview | None:
        """Up to `max_size` written bytes from `offset`, within one segment (zero copy).

        None when no segment holds `offset`; empty when nothing is written there yet.
        """
        mapped = self.queue.find_file(offset)
        if mapped is None:
            return None
        pos = offset - mapped.file_from_offset
        return mapped.slice(pos, max(0, min(max_size, mapped.wrote_position - pos)))

    def is_record_start(self, offset: int) -> bool:
        """True if a record or an end-of-file marker starts at `offset`, or it is the end.

        A record start is recognised by its magic code and by its PHYSICALOFFSET field
        naming `offset` itself, which bytes at any other position match by accident
        about once in 2**96; a segment start is always one.
        """
        if offset == self.max_offset:
            return True
        mapped = self.queue.find_file(offset)
        if mapped is None:
            return False
        pos = offset - mapped.file_from_offset
        if pos == 0:
            return True
        if pos + PHYSICAL_OFFSET_POSITION + 8 > mapped.wrote_position:
            return pos + 8 <= mapped.wrote_position and _is_blank_at(mapped.view, pos)
        if _is_blank_at(mapped.view, pos):
            return True
        size, magic = SIZE_MAGIC.unpack_from(mapped.view, pos)
        (physical,) = _I64.unpack_from(mapped.view, pos + PHYSICAL_OFFSET_POSITION)
        return magic == MESSAGE_MAGIC_CODE and size > 0 and physical == offset

    def append_replicated(self, offset: int, data: bytes | bytearray | memoryview) -> None:
        """Write bytes replicated from the master at `offset` (a slave's commit log).

        `offset` must be the max offset; an empty log starts its first segment there, so
        it must then be a segment boundary. `data` must not cross a segment boundary.

        Raises:
            StoreError: the offset or size breaks those rules (nothing written).
            DiskFullError: no disk blocks for the data (nothing written).
        """
        if self.queue.files and offset != self.max_offset:
            raise StoreError(
                f"replicated data at {offset} but the commit log ends at {self.max_offset}"
            )
        if not self.queue.files and offset % self.file_size:
            raise StoreError(
                f"replication into an empty commit log starts at a segment boundary, not {offset}"
            )
        mapped = self.queue.file_for_append(offset)
        if len(data) > mapped.remaining:
            raise StoreError(f"{len(data)} replicated bytes at {offset} cross a segment boundary")
        mapped.reserve(mapped.wrote_position + len(data))
        mapped.append(data)

    def append_committed(self, offset: int, data: bytes | bytearray | memoryview) -> None:
        """DLedger mode: write records a Raft majority committed, at the offset they name.

        The leader laid them out at the log's end as it would be after every earlier
        entry (see lay_out), so `offset` is the max offset or, when they did not fit in
        the current segment, the next segment's start: that segment is closed first
        with the end-of-file marker the leader's layout assumed.

        Raises:
            StoreError: `offset` is neither (nothing written).
            DiskFullError: no disk blocks for the data (nothing written).
        """
        end = self.max_offset
        mapped = self.queue.last_file
        if (
            mapped is not None
            and offset != end
            and end % self.file_size
            and offset == self.roll_next_file(end)
        ):
            mapped.reserve(mapped.wrote_position + END_FILE_MIN_BLANK_LENGTH)
            mapped.append(encode_blank(mapped.remaining))
            mapped.wrote_position = mapped.file_size
        self.append_replicated(offset, data)

    def settle_replicated_tail(self, record_end: int) -> int:
        """Make `record_end` (just past the last whole record) the end of a slave's log.

        Replicated frames are not aligned to records: a partial record after
        `record_end` is cut (the master sends it again), and a segment whose end-of-file
        marker arrived without all of its padding is marked full. Returns the new max
        offset, a record boundary a master can verify.
        """
        mapped = self.queue.last_file
        if mapped is None:
            return 0
        if record_end > mapped.end_offset:
            mapped.wrote_position = mapped.file_size  # past a blank marker: the rest is padding
        elif record_end < mapped.end_offset:
            self.queue.truncate_dirty_files(record_end)
        return self.max_offset

    def roll_next_file(self, offset: int) -> int:
        return offset + self.file_size - offset % self.file_size

    def close(self) -> None:
        self.queue.close()
        self.dispatch_hints.clear()


_HOST_PREFIXES: dict[tuple[str, int], str] = {}


def _offset_msg_id(store_host: tuple[str, int], offset: int) -> str:
    """create_offset_msg_id with the host part (same for every message) cached."""
    prefix = _HOST_PREFIXES.get(store_host)
    if prefix is None:
        if len(_HOST_PREFIXES) > 64:
            _HOST_PREFIXES.clear()
        prefix = _HOST_PREFIXES[store_host] = create_offset_msg_id(store_host, 0)[:-16]
    return prefix + _I64.pack(offset).hex().upper()


def _is_blank_at(view: memoryview, pos: int) -> bool:
    """An end-of-file marker at `pos`, declaring exactly the rest of the segment."""
    size, magic = SIZE_MAGIC.unpack_from(view, pos)
    return bool(magic == BLANK_MAGIC_CODE and size == len(view) - pos)
