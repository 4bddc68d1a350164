"""Rebuild the pending timers from the store and the checkpoint (progress.py).

Run whenever a broker starts delivering timers: at start as a master, and when a
DLedger follower (or a slave) becomes master, from the checkpoint slave sync copied.

  1. Read rmq_sys_wheel_timer queue 0 from the checkpoint's L to its end: each unit not
     done is a candidate, due at the end of its TIMER_OUT_MS slot.
  2. Read the commit log from the checkpoint's C (or, with no checkpoint, from the first
     parked record: every delivery lies after what it delivers) to its stored end: a
     record carrying TIMER_ORIGIN_OFFSET of a candidate (and its TIMER_ENQUEUE_MS, so a
     copy of a message delivered elsewhere cannot pass for it) was delivered after the
     checkpoint was written; the candidate is done.
What is left is pending. The reads yield to the event loop every few thousand records.
"""

from __future__ import annotations

import asyncio
import heapq
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from orbitmq.broker.timer.progress import TimerProgress
from orbitmq.broker.timer.transform import (
    TIMER_ORIGIN_OFFSET,
    TIMER_QUEUE_ID,
    TIMER_TOPIC,
    delivered_origin,
    fire_ms,
)
from orbitmq.errors import RemoteProtocolError
from orbitmq.protocol.message import MessageExt, decode_record
from orbitmq.store.message_store import GetMessageStatus

if TYPE_CHECKING:
    from orbitmq.store.commit_log import CommitLog
    from orbitmq.store.message_store import MessageStore

log = logging.getLogger(__name__)

Pending = tuple[int, int, int]  # (fire ms, timer queue offset, parked record's commit-log offset)

_BATCH = 32  # units per read of the timer queue
_YIELD_EVERY = 4096  # records read between two yields to the event loop
_ORIGIN_FIELD = (TIMER_ORIGIN_OFFSET + "\x01").encode()


@dataclass(frozen=True, slots=True)
class _Candidate:
    fire_ms: int
    queue_offset: int
    store_timestamp: int


def read_parked(
    store: MessageStore, progress: TimerProgress, offset: int, limit: int, precision_ms: int
) -> tuple[list[tuple[int, MessageExt]], int, int]:
    """Up to `limit` units of the timer queue from `offset`.

    Units that hold no timer this broker parked (unreadable, or without TIMER_OUT_MS)
    and offsets the queue skips over (deleted by retention) are marked done in
    `progress`: nothing will ever deliver them.

    Returns:
        ((due ms, parked record) of each timer read, units read, next offset to read).
    """
    timers: list[tuple[int, MessageExt]] = []
    read = 0
    while read < limit:
        result = store.get_message(TIMER_TOPIC, TIMER_QUEUE_ID, offset, min(_BATCH, limit - read))
        try:
            if result.status is not GetMessageStatus.FOUND:
                if result.next_begin_offset <= offset or result.status in (
                    GetMessageStatus.NO_MESSAGE_IN_QUEUE,
                    GetMessageStatus.OFFSET_OVERFLOW_ONE,
                ):
                    break
                log.error(
                    "timer queue offsets %d .. %d are gone (%s); skipped",
                    offset,
                    result.next_begin_offset - 1,
                    result.status.name,
                )
                progress.mark_done(offset, result.next_begin_offset)
                offset = result.next_begin_offset
                continue
            for buffer in result.buffers:
                read += 1
                try:
                    parked = decode_record(buffer)
                except RemoteProtocolError as exc:
                    log.error("timer queue offset %d: unreadable record: %s; dropped", offset, exc)
                    progress.mark_done(offset)
                    offset += 1
                    continue
                offset = parked.queue_offset + 1
                fire = fire_ms(parked, precision_ms)
                if fire is None:
                    log.error(
                        "timer queue offset %d holds no timer message (no TIMER_OUT_MS); dropped",
                        parked.queue_offset,
                    )
                    progress.mark_done(parked.queue_offset)
                    continue
                timers.append((fire, parked))
            offset = max(offset, result.next_begin_offset)
        finally:
            result.release()
    return timers, read, offset


def _records(commit_log: CommitLog, start: int, end: int) -> Iterator[tuple[int, bytes]]:
    """(offset, bytes) of each record in [start, end); `start` is a record boundary."""
    file_size = commit_log.queue.file_size
    offset = max(start, commit_log.min_offset)
    while offset < end:
        size = commit_log.record_size_at(offset)
        record = commit_log.get_record(offset, size) if size else None
        if record is None:  # the blank that ends a segment: go on in the next one
            offset = (offset // file_size + 1) * file_size
            continue
        with record:
            yield offset, bytes(record)
        offset += size


async def recover(
    store: MessageStore, progress: TimerProgress, precision_ms: int
) -> tuple[list[Pending], int]:
    """The pending timers (a heap) and the next timer queue offset to read.

    `progress` is updated in place: units found done or unreadable are marked done,
    and its commit-log offset becomes the end of what was read.
    """
    progress.limit_to(store.get_max_offset_in_queue(TIMER_TOPIC, TIMER_QUEUE_ID))
    lowest = store.get_min_offset_in_queue(TIMER_TOPIC, TIMER_QUEUE_ID)
    lost = progress.skip_to(lowest)
    if lost:
        log.error("%d timer messages were deleted (fileReservedTime) before they were due", lost)
    candidates, scanned, first_parked = await _candidates(store, progress, precision_ms)
    stored_end = store.get_commit_log_max_offset()
    start = progress.commit_log_offset
    if start is None:
        start = stored_end if first_parked is None else first_parked
    found = 0
    records = _records(store.commit_log, start, stored_end) if candidates else iter(())
    for count, (offset, record) in enumerate(records):
        if count % _YIELD_EVERY == _YIELD_EVERY - 1:
            await asyncio.sleep(0)
        if _ORIGIN_FIELD not in record:
            continue
        try:
            origin = delivered_origin(decode_record(record))
        except RemoteProtocolError as exc:
            log.error("commit log offset %d: unreadable record: %s", offset, exc)
            continue
        if origin is None:
            continue
        candidate = candidates.get(origin[0])
        if candidate is not None and origin[1] == candidate.store_timestamp:
            del candidates[origin[0]]
            progress.mark_done(candidate.queue_offset)
            found += 1
    progress.commit_log_offset = stored_end
    pending = [(c.fire_ms, c.queue_offset, offset) for offset, c in candidates.items()]
    heapq.heapify(pending)
    log.info(
        "timers recovered: %d pending, %d found delivered after the checkpoint, "
        "timer queue done below offset %d of %d",
        len(pending),
        found,
        progress.low,
        scanned,
    )
    return pending, scanned


async def _candidates(
    store: MessageStore, progress: TimerProgress, precision_ms: int
) -> tuple[dict[int, _Candidate], int, int | None]:
    """Timers of the timer queue from L on not done yet, by parked commit-log offset;
    the next offset to read; the commit-log offset of the first timer read."""
    candidates: dict[int, _Candidate] = {}
    offset = progress.low
    first_parked: int | None = None
    while True:
        timers, read, offset = read_parked(store, progress, offset, _YIELD_EVERY, precision_ms)
        if not read:
            return candidates, offset, first_parked
        for fire, parked in timers:
            if first_parked is None:
                first_parked = parked.commit_log_offset
            if not progress.is_done(parked.queue_offset):
                candidates[parked.commit_log_offset] = _Candidate(
                    fire, parked.queue_offset, parked.store_timestamp
                )
        await asyncio.sleep(0)
