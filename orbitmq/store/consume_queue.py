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


class ConsumeQueue:
    def __init__(self, topic: str, queue_id: int, root_dir: str, file_size: int) -> None:
        self.topic = topic
        self.queue_id = queue_id
        self.directory = os.path.join(root_dir, topic, str(queue_id))
        self.queue = MappedFileQueue(self.directory, file_size)
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

    def load(self) -> None:
        self.queue.load()

    def recover(self) -> int:
        """Cut the queue after its last valid unit; returns how many bytes were cleared.

        Starts at the third-last segment, as RocketMQ does: older ones were complete
        when the later ones were started.
        """
        files = self.queue.files
        if not files:
            return 0
        index = max(0, len(files) - 3)
        end = files[index].file_from_offset
        while True:
            mapped = files[index]
            valid = self._valid_prefix(mapped)
            end = mapped.file_from_offset + valid
            if valid < self.file_size or index + 1 >= len(files):
                break
            index += 1
        cleared = self.queue.truncate_dirty_files(end)
        self._reset_max_physic_offset()
        return cleared

    @staticmethod
    def _valid_prefix(mapped: MappedFile) -> int:
        pos = 0
        for offset, size, _tags in CQ_UNIT.iter_unpack(mapped.view[: mapped.file_size]):
            if not cq_unit_is_valid(offset, size):
                break
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

    def close(self) -> None:
        self.queue.close()

    def destroy(self) -> None:
        self.queue.destroy()
        self.max_physic_offset = -1
        self.min_logic_offset = 0
        with contextlib.suppress(OSError):
            os.rmdir(os.path.dirname(self.directory))  # the topic dir, once empty


def load_consume_queues(root: str, file_size: int) -> dict[tuple[str, int], ConsumeQueue]:
    """Every queue found under consumequeue/<topic>/<queueId>/, segments mapped."""
    queues: dict[tuple[str, int], ConsumeQueue] = {}
    for topic in sorted(os.listdir(root)):
        topic_dir = os.path.join(root, topic)
        if not os.path.isdir(topic_dir):
            continue
        for name in os.listdir(topic_dir):
            if name.isdigit():
                cq = ConsumeQueue(topic, int(name), root, file_size)
                cq.load()
                queues[(topic, int(name))] = cq
    return queues
