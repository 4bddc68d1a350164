"""The read side of a pull: consume-queue scan and status table (DefaultMessageStore.getMessage).

| situation                          | status                | next_begin_offset   |
| queue empty (max == 0)             | NO_MESSAGE_IN_QUEUE   | 0                   |
| offset < min                       | OFFSET_TOO_SMALL      | min                 |
| offset == max                      | OFFSET_OVERFLOW_ONE   | offset              |
| offset > max                       | OFFSET_OVERFLOW_BADLY | max                 |
| unit file missing                  | OFFSET_FOUND_NULL     | start of next file  |
| scanned, >= 1 matched              | FOUND                 | offset + scanned    |
| scanned, none matched              | NO_MATCHED_MESSAGE    | offset + scanned    |
| scanned, records already deleted   | MESSAGE_WAS_REMOVING  | offset + scanned    |

A scan stops at max_msg_nums, at the in-memory transfer limits (count and bytes) or
after max(800, max_msg_nums) units, and never crosses a consume-queue segment. Every
record is in the page cache, so RocketMQ's "in memory" limits always apply.

Each unit's record is checked to start with its size and the message magic before it
is handed out: a damaged unit (recovery only re-checks the newest ones) is skipped and
logged rather than sending a client bytes that are not a message.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from orbitmq.protocol.message import MESSAGE_MAGIC_CODE
from orbitmq.store.commit_log import CommitLog
from orbitmq.store.config import MessageStoreConfig
from orbitmq.store.consume_queue import ConsumeQueue
from orbitmq.store.layout import CQ_FILL_SIZE, CQ_UNIT, CQ_UNIT_SIZE, SIZE_MAGIC
from orbitmq.store.results import GetMessageResult, GetMessageStatus

log = logging.getLogger(__name__)

MAX_FILTER_BYTES = 16_000  # 800 units of consume queue per pull


def scan_consume_queue(
    cq: ConsumeQueue,
    commit_log: CommitLog,
    config: MessageStoreConfig,
    offset: int,
    max_msg_nums: int,
    message_filter: Callable[[int], bool] | None,
) -> GetMessageResult:
    min_offset, max_offset = cq.min_offset, cq.max_offset
    if max_offset == 0:
        return GetMessageResult(GetMessageStatus.NO_MESSAGE_IN_QUEUE, 0, min_offset, max_offset)
    if offset < min_offset:
        return GetMessageResult(
            GetMessageStatus.OFFSET_TOO_SMALL, min_offset, min_offset, max_offset
        )
    if offset == max_offset:
        return GetMessageResult(
            GetMessageStatus.OFFSET_OVERFLOW_ONE, offset, min_offset, max_offset
        )
    if offset > max_offset:
        return GetMessageResult(
            GetMessageStatus.OFFSET_OVERFLOW_BADLY, max_offset, min_offset, max_offset
        )
    units = cq.index_buffer(offset)
    if units is None:
        position = offset * CQ_UNIT_SIZE
        next_file = position + cq.file_size - position % cq.file_size
        return GetMessageResult(
            GetMessageStatus.OFFSET_FOUND_NULL, next_file // CQ_UNIT_SIZE, min_offset, max_offset
        )

    result = GetMessageResult(GetMessageStatus.NO_MATCHED_MESSAGE, offset, min_offset, max_offset)
    buffers = result.buffers
    max_count = max(1, min(max_msg_nums, config.max_transfer_count_on_message_in_memory))
    max_bytes = config.max_transfer_bytes_on_message_in_memory
    scan_bytes = min(len(units), max(MAX_FILTER_BYTES, max_msg_nums * CQ_UNIT_SIZE))
    total = 0
    count = 0
    scanned = 0
    skip_below = -1  # records below this were deleted with their segment
    # The commit-log segment of the previous record: the next one is usually there too.
    segment_start = segment_end = 0
    view = None
    find_file = commit_log.queue.find_file
    unpack_size_magic = SIZE_MAGIC.unpack_from
    with units, units[:scan_bytes] as window:
        for physical, size, tags in CQ_UNIT.iter_unpack(window):
            # The batch is full only once it holds something (a big record still goes).
            if count and (count >= max_count or total + size > max_bytes):
                break
            scanned += 1
            if size == CQ_FILL_SIZE or physical < skip_below:
                continue
            if message_filter is not None and not message_filter(tags):
                continue
            if physical < segment_start or physical + size > segment_end:
                mapped = find_file(physical)
                if mapped is not None:
                    segment_start = mapped.file_from_offset
                    segment_end = segment_start + mapped.wrote_position
                    view = mapped.view
                if mapped is None or physical < segment_start or physical + size > segment_end:
                    if count == 0:
                        result.status = GetMessageStatus.MESSAGE_WAS_REMOVING
                    skip_below = commit_log.roll_next_file(physical)
                    segment_start = segment_end = 0
                    continue
            pos = physical - segment_start
            if size < 8 or unpack_size_magic(view, pos) != (size, MESSAGE_MAGIC_CODE):  # type: ignore[arg-type]
                log.error(
                    "%r: unit %d points at %d, where no %d-byte message starts; skipped",
                    cq,
                    offset + scanned - 1,
                    physical,
                    size,
                )
                continue
            buffers.append(view[pos : pos + size])  # type: ignore[index]
            total += size
            count += 1
    if count:
        result.status = GetMessageStatus.FOUND
    result.next_begin_offset = offset + scanned
    result.message_count = count
    result.buffer_total_size = total
    return result
