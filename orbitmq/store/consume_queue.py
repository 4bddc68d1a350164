"""One consume queue: the index of one (topic, queue_id) into the commit log (ConsumeQueue.java).

Unit n (queue offset n) is the 20-byte `commitLogOffset i64 | size i32 | tagsCode i64`
at byte n*20 of the queue; segments are named by byte offset. Units are written only
by the reput service, in commit-log order, so commit-log offsets grow along the queue.
`put_unit` is idempotent: replaying records that are already indexed is a no-op, which
lets recovery re-dispatch from any earlier point.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Callable

from orbitmq.store.layout import (
    CQ_FILL_SIZE,
    CQ_FILL_UNIT,
    CQ_UNIT,
    CQ_UNIT_SIZE,
    cq_unit_is_valid,
)
from orbitmq.store.mapped_file import MappedFile
from orbitmq.store.mapped_file_queue import MappedFileQueue

log = logging.getLogger(__name__)

# After a clean exit every unit was flushed: recovery checks only this many at the end.
_TAIL_UNITS = 64
_RESERVE_CHUNK = 64 * 1024


def _round_up_unit(position: int) -> int:
    return -(-position // CQ_UNIT_SIZE) * CQ_UNIT_SIZE


class ConsumeQueue:
    def __init__(self, topic: str, queue_id: int, root_dir: str, file_size: int) -> None:
        self.topic = topic
        self.queue_id = queue_id
        self.directory = os.path.join(root_dir, topic, str(queue_id))
        # Blocks are reserved a little at a time: a broker may have thousands of queues,
        # most of them far from filling a 6 MB segment.
        self.queue = MappedFileQueue(
            self.directory, file_size, reserve_chunk=min(file_size, _RESERVE_CHUNK)
        )
        self.file_size = file_size
        # End (offset + size) of the last indexed record; -1 while empty.
        self.max_physic_offset = -1
        self.min_logic_offset = 0  # bytes
        self.last_store_timestamp = 0

    def __repr__(self) -> str:
        return f"ConsumeQueue({self.topic!r}, {self.queue_id}, max={self.max_offset})"

    @property
    def min_offset(self) -> int:
        return self.min_logic_offset // CQ_UNIT_SIZE

    @property
    def max_offset(self) -> int:
        """Next queue offset to be written (exclusive)."""
        return self.queue.max_offset // CQ_UNIT_SIZE

    def load(self) -> int | None:
        """Map the segments; a damaged one is deleted (see MappedFileQueue.load_salvage).

        Returns the queue byte offset where deleted data began, or None.
        """
        return self.queue.load_salvage()

    def recover(self, log_bound: int, *, scan_from: int | None = None, full: bool = False) -> int:
        """Cut the queue after its last valid unit; returns how many bytes were cleared.

        A unit is valid if it is a fill unit before any real one, or a real unit whose
        record lies after the previous unit's record and below `log_bound` (the end of
        the last commit-log segment). How much is checked depends on what is known:

        - `scan_from` (a commit-log offset below which every unit was flushed, from the
          checkpoint): binary-search the first unit at or above it, check from there;
        - `full` (abnormal exit without that offset): the last three segments, as
          RocketMQ does;
        - otherwise (clean exit, everything was flushed): the last few units only.
        """
        files = self.queue.files
        if not files:
            return 0
        data_end = files[-1].file_from_offset + _round_up_unit(files[-1].last_nonzero(0))
        if full:
            start = files[max(0, len(files) - 3)].file_from_offset
        elif scan_from is not None:
            start = self._first_unit_at_or_after(scan_from, data_end)
        else:
            start = max(files[0].file_from_offset, data_end - _TAIL_UNITS * CQ_UNIT_SIZE)
        end = self._valid_end(start, data_end, log_bound)
        cleared = self.queue.truncate_dirty_files(end)
        self._reset_max_physic_offset()
        return cleared

    def _first_unit_at_or_after(self, physical: int, data_end: int) -> int:
        """Byte position of the last unit below `physical` (binary search), or the start.

        Units below the checkpoint's flushed offset are intact and ascending, so "valid
        and below" holds on a prefix; the search starts one unit early so that the check
        knows where the previous record ended.
        """
        lo = self.queue.files[0].file_from_offset // CQ_UNIT_SIZE
        hi = data_end // CQ_UNIT_SIZE
        first = lo
        while lo < hi:
            mid = (lo + hi) // 2
            unit = self.read_unit(mid)
            below = unit is not None and (
                unit[1] == CQ_FILL_SIZE
                or (cq_unit_is_valid(unit[0], unit[1]) and unit[0] < physical)
            )
            if below:
                lo = mid + 1
            else:
                hi = mid
        return max(first, lo - 1) * CQ_UNIT_SIZE

    def _valid_end(self, start: int, data_end: int, log_bound: int) -> int:
        """Queue byte offset just past the last valid unit in [start, data_end)."""
        prev_end = -1  # end of the previous real unit's record; -1 before the first
        pos = start
        while pos < data_end:
            mapped = self.queue.find_file(pos)
            if mapped is None:
                break
            base = mapped.file_from_offset
            stop = min(data_end, base + self.file_size) - base
            with mapped.view[pos - base : stop] as window:
                for offset, size, _tags in CQ_UNIT.iter_unpack(window):
                    if size == CQ_FILL_SIZE and offset == 0 and prev_end < 0:
                        pos += CQ_UNIT_SIZE
                        continue
                    if size <= 0 or size >= CQ_FILL_SIZE or offset < 0:
                        return pos
                    if offset < prev_end or offset + size > log_bound:
                        return pos
                    prev_end = offset + size
                    pos += CQ_UNIT_SIZE
        return pos

    def _reset_max_physic_offset(self) -> None:
        """Find the last real (non-fill) unit and remember where its record ends."""
        self.max_physic_offset = -1
        for mapped in reversed(self.queue.files):
            pos = mapped.wrote_position - CQ_UNIT_SIZE
            while pos >= 0:
                offset, size, _ = CQ_UNIT.unpack_from(mapped.view, pos)
                if size != CQ_FILL_SIZE:
                    self.max_physic_offset = offset + size
                    return
                pos -= CQ_UNIT_SIZE

    def truncate_dirty_logic_files(self, commit_log_end: int) -> None:
        """Drop units whose record starts at or after `commit_log_end` (a cut log tail)."""
        if self.max_physic_offset <= commit_log_end:
            return
        files = self.queue.files
        while files:
            last = files[-1]
            cut = None
            view = last.view[: last.wrote_position]
            for i, (offset, size, _tags) in enumerate(CQ_UNIT.iter_unpack(view)):
                if size != CQ_FILL_SIZE and offset >= commit_log_end:
                    cut = i * CQ_UNIT_SIZE
                    break
            view.release()
            if cut is None:
                break
            if cut == 0 and len(files) > 1:
                files.pop().destroy()
                continue
            last.truncate_to(cut)
            break
        self._reset_max_physic_offset()
        self.min_logic_offset = min(self.min_logic_offset, self.queue.max_offset)

    def correct_min_offset(self, commit_log_min: int) -> None:
        """Min offset = first real unit whose record is still in the commit log."""
        files = self.queue.files
        if not files:
            self.min_logic_offset = 0
            return
        first = files[0]
        view = first.view[: first.wrote_position]
        self.min_logic_offset = first.end_offset
        for i, (offset, size, _tags) in enumerate(CQ_UNIT.iter_unpack(view)):
            if size != CQ_FILL_SIZE and offset >= commit_log_min:
                self.min_logic_offset = first.file_from_offset + i * CQ_UNIT_SIZE
                break
        view.release()

    def put_units(self, queue_offset: int, units: list[tuple[int, int, int]]) -> None:
        """put_unit for consecutive queue offsets from `queue_offset`, in one write when
        they follow the queue's end within its segment (the send lane's case)."""
        files = self.queue.files
        mapped = files[-1] if files else None
        data_len = len(units) * CQ_UNIT_SIZE
        if (
            mapped is None
            or mapped.end_offset != queue_offset * CQ_UNIT_SIZE
            or mapped.wrote_position + data_len > mapped.file_size
            or units[0][0] + units[0][1] <= self.max_physic_offset
        ):
            for i, (commit_log_offset, size, tags_code) in enumerate(units):
                self.put_unit(commit_log_offset, size, tags_code, queue_offset + i)
            return
        mapped.reserve(mapped.wrote_position + data_len)  # DiskFullError: retried
        mapped.append(b"".join([CQ_UNIT.pack(*unit) for unit in units]))
        last_offset, last_size, _tags = units[-1]
        self.max_physic_offset = last_offset + last_size

    def put_unit(
        self, commit_log_offset: int, size: int, tags_code: int, queue_offset: int
    ) -> bool:
        """Write the unit for `queue_offset`; returns False when it was already there."""
        if commit_log_offset + size <= self.max_physic_offset:
            return False  # replayed record, already indexed
        expected = queue_offset * CQ_UNIT_SIZE
        files = self.queue.files
        if files and not files[-1].is_full:
            mapped = files[-1]
        else:
            mapped = self.queue.file_for_append(expected)
        end = mapped.end_offset
        if expected != end:
            if expected < end:
                log.warning("%r: unit %d already written; skipped", self, queue_offset)
                return False
            mapped = self._fill_gap(expected)
        mapped.reserve(mapped.wrote_position + CQ_UNIT_SIZE)  # DiskFullError: retried
        mapped.append(CQ_UNIT.pack(commit_log_offset, size, tags_code))
        self.max_physic_offset = commit_log_offset + size
        return True

    def _fill_gap(self, expected: int) -> MappedFile:
        """Queue offsets jump ahead: a queue created mid-stream or lost units.

        Fill units (0, 0x7FFFFFFF, 0) keep "unit n at byte n*20"; readers skip them.
        """
        empty = self.queue.max_offset == 0 or self.max_physic_offset < 0
        if not empty:
            log.error(
                "%r: queue offset %d follows %d; filling the gap",
                self,
                expected // CQ_UNIT_SIZE,
                self.max_offset,
            )
        while True:
            mapped = self.queue.file_for_append(expected)
            missing = expected - mapped.end_offset
            if missing <= 0:
                break
            units = min(missing, mapped.remaining) // CQ_UNIT_SIZE
            mapped.reserve(mapped.wrote_position + units * CQ_UNIT_SIZE)
            mapped.append(CQ_FILL_UNIT * units)
        if empty:
            self.min_logic_offset = expected
        return mapped

    def index_buffer(self, queue_offset: int) -> memoryview | None:
        """Units from `queue_offset` to the written end of its segment (zero copy)."""
        pos = queue_offset * CQ_UNIT_SIZE
        mapped = self.queue.find_file(pos)
        if mapped is None:
            return None
        start = pos - mapped.file_from_offset
        if start >= mapped.wrote_position:
            return None
        return mapped.slice(start, mapped.wrote_position - start)

    def read_unit(self, queue_offset: int) -> tuple[int, int, int] | None:
        pos = queue_offset * CQ_UNIT_SIZE
        mapped = self.queue.find_file(pos)
        if mapped is None or pos - mapped.file_from_offset >= mapped.wrote_position:
            return None
        offset, size, tags = CQ_UNIT.unpack_from(mapped.view, pos - mapped.file_from_offset)
        return offset, size, tags

    def offset_by_time(self, timestamp: int, store_time: Callable[[int, int], int]) -> int:
        """Queue offset of the message stored nearest `timestamp` (4.x semantics).

        Binary search over [min, max) by store time (non-decreasing along the queue).
        An exact match returns the first message with that time; otherwise the nearer
        neighbour, the earlier one on a tie. `store_time(offset, size)` returns -1 for
        records already deleted, which count as too early.
        """
        low, high = self.min_offset, self.max_offset - 1
        if high < low:
            return 0
        left_offset = right_offset = -1
        left_time = right_time = -1
        while low <= high:
            mid = (low + high) // 2
            unit = self.read_unit(mid)
            stamp = -1 if unit is None or unit[1] == CQ_FILL_SIZE else store_time(*unit[:2])
            if stamp < timestamp:
                left_offset, left_time = mid, stamp
                low = mid + 1
            else:
                right_offset, right_time = mid, stamp
                high = mid - 1
        # right_offset is now the first message with time >= timestamp (if any).
        if right_time == timestamp or left_offset < 0 or left_time < 0:
            return right_offset if right_offset >= 0 else left_offset
        if right_offset < 0:
            return left_offset
        return right_offset if timestamp - left_time > right_time - timestamp else left_offset

    def flushed_all(self) -> bool:
        return not self.queue.dirty_files()

    def first_unflushed_physical(self) -> int | None:
        """Commit-log offset of the first unit not yet on disk; None if all are."""
        for mapped in self.queue.files:
            if mapped.flushed_position < mapped.wrote_position:
                pos = mapped.flushed_position - mapped.flushed_position % CQ_UNIT_SIZE
                offset, size, _ = CQ_UNIT.unpack_from(mapped.view, pos)
                return offset if size != CQ_FILL_SIZE else None
        return None

    def delete_expired_files(self, commit_log_min: int) -> int:
        """Delete leading segments whose last unit's record is gone (never the last one).

        Returns how many segments were deleted; the min offset is corrected after.
        """
        deleted = 0
        files = self.queue.files
        while len(files) > 1:
            offset, size, _ = CQ_UNIT.unpack_from(files[0].view, self.file_size - CQ_UNIT_SIZE)
            if size != CQ_FILL_SIZE and offset >= commit_log_min:
                break
            self.queue.delete_first_file()
            deleted += 1
        self.correct_min_offset(commit_log_min)
        return deleted

    def close(self) -> None:
        self.queue.close()

    def destroy(self) -> None:
        self.queue.destroy()
        self.max_physic_offset = -1
        self.min_logic_offset = 0
        with contextlib.suppress(OSError):
            os.rmdir(os.path.dirname(self.directory))  # the topic dir, once empty


def load_consume_queues(
    root: str, file_size: int
) -> tuple[dict[tuple[str, int], ConsumeQueue], list[tuple[ConsumeQueue, int | None]]]:
    """Every queue found under consumequeue/<topic>/<queueId>/, segments mapped.

    Also returns the damaged queues: (queue, queue byte offset where data was dropped),
    with None for a queue directory found empty (its data is gone entirely).
    """
    queues: dict[tuple[str, int], ConsumeQueue] = {}
    damaged: list[tuple[ConsumeQueue, int | None]] = []
    for topic in sorted(os.listdir(root)):
        topic_dir = os.path.join(root, topic)
        if not os.path.isdir(topic_dir):
            continue
        for name in os.listdir(topic_dir):
            if name.isdigit():
                cq = ConsumeQueue(topic, int(name), root, file_size)
                dropped = cq.load()
                queues[(topic, int(name))] = cq
                if dropped is not None or not cq.queue.files:
                    damaged.append((cq, dropped))
    return queues, damaged
