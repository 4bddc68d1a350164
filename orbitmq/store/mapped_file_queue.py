"""A directory of equally sized segments named by start offset (MappedFileQueue.java).

Segments are contiguous: file i starts at first_start + i * file_size, so finding the
file for an offset is arithmetic, not a search. On load every file is marked fully
written and flushed; recovery then truncates the last one to its real end.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import os

from orbitmq.store.errors import StoreLayoutError
from orbitmq.store.layout import file_name, parse_file_name
from orbitmq.store.mapped_file import MappedFile

log = logging.getLogger(__name__)


class MappedFileQueue:
    def __init__(self, directory: str, file_size: int, *, reserve_chunk: int = 0) -> None:
        self.directory = directory
        self.file_size = file_size
        self.reserve_chunk = reserve_chunk  # see MappedFile.reserve; 0 = whole file
        self.files: list[MappedFile] = []

    def __repr__(self) -> str:
        return f"MappedFileQueue({self.directory!r}, files={len(self.files)})"

    def _segment_starts(self) -> list[int]:
        if not os.path.isdir(self.directory):
            return []
        starts = []
        for name in os.listdir(self.directory):
            start = parse_file_name(name)
            if start is None:
                path = os.path.join(self.directory, name)
                log.warning("ignoring %s: not a segment file name", path)
                continue
            starts.append(start)
        return sorted(starts)

    def load(self, *, extend_short_last: bool = False) -> None:
        """Map every segment found on disk, all marked full (recovery trims the last).

        `extend_short_last` (commit log): a last segment shorter than the configured
        size lost its tail (a cut or half-copied file); it is extended with zeros and
        recovery then drops the torn record, instead of refusing to start.

        Raises:
            StoreLayoutError: segments are not contiguous, misaligned or of another size.
        """
        starts = self._segment_starts()
        for prev, start in itertools.pairwise(starts):
            if start - prev != self.file_size:
                raise StoreLayoutError(
                    f"segments in {self.directory} are not contiguous: {prev} then {start} "
                    f"with segment size {self.file_size}"
                )
        for i, start in enumerate(starts):
            if start % self.file_size:
                raise StoreLayoutError(
                    f"segment {start} in {self.directory} is not a multiple of the "
                    f"configured segment size {self.file_size}"
                )
            if extend_short_last and i == len(starts) - 1:
                self._extend_if_short(start)
            self._map_full(start)

    def load_salvage(self) -> int | None:
        """Load like `load`, but drop what does not fit instead of refusing to start.

        For derived data (consume queues), which recovery can rebuild from the commit
        log: a segment of the wrong size or after a gap is deleted with every later one.
        Returns the queue offset where the dropped data began, or None if all was kept.
        """
        starts = self._segment_starts()
        for i, start in enumerate(starts):
            path = os.path.join(self.directory, file_name(start))
            problem = None
            if start % self.file_size:
                problem = "is not aligned to the segment size"
            elif i and start - starts[i - 1] != self.file_size:
                problem = f"follows a gap after {starts[i - 1]}"
            elif os.path.getsize(path) != self.file_size:
                problem = f"is {os.path.getsize(path)} bytes, not {self.file_size}"
            if problem is not None:
                dropped = starts[i - 1] + self.file_size if i else start
                log.warning(
                    "%s %s: deleting it and %d later segment(s); they are rebuilt from "
                    "the commit log",
                    path,
                    problem,
                    len(starts) - i - 1,
                )
                for later in starts[i:]:
                    with contextlib.suppress(FileNotFoundError):
                        os.unlink(os.path.join(self.directory, file_name(later)))
                return dropped
            self._map_full(start)
        return None

    def _extend_if_short(self, start: int) -> None:
        path = os.path.join(self.directory, file_name(start))
        size = os.path.getsize(path)
        if 0 < size < self.file_size:
            log.warning(
                "%s is %d bytes, short of %d: extending it with zeros; recovery drops "
                "the cut record",
                path,
                size,
                self.file_size,
            )
            os.truncate(path, self.file_size)

    def _map_full(self, start: int) -> None:
        mapped = MappedFile(self.directory, start, self.file_size, reserve_chunk=self.reserve_chunk)
        mapped.wrote_position = mapped.flushed_position = self.file_size
        self.files.append(mapped)

    @property
    def min_offset(self) -> int:
        return self.files[0].file_from_offset if self.files else 0

    @property
    def max_offset(self) -> int:
        """End of the written data (exclusive)."""
        return self.files[-1].end_offset if self.files else 0

    @property
    def last_file(self) -> MappedFile | None:
        return self.files[-1] if self.files else None

    def find_file(self, offset: int) -> MappedFile | None:
        """The segment holding `offset`, or None if no segment covers it."""
        files = self.files
        if not files:
            return None
        index = (offset - files[0].file_from_offset) // self.file_size
        if 0 <= index < len(files):
            return files[index]
        return None

    def file_for_append(self, start_offset: int = 0) -> MappedFile:
        """The last segment if it has room, else a new one (created sparse).

        `start_offset` places the first segment of an empty queue (rounded down to a
        segment boundary).
        """
        last = self.files[-1] if self.files else None
        if last is not None and not last.is_full:
            return last
        if last is None:
            start = start_offset - start_offset % self.file_size
        else:
            start = last.file_from_offset + self.file_size
        os.makedirs(self.directory, exist_ok=True)
        mapped = MappedFile(self.directory, start, self.file_size, reserve_chunk=self.reserve_chunk)
        self.files.append(mapped)
        return mapped

    def delete_first_file(self) -> MappedFile:
        """Destroy the oldest segment (retention); never call it on the last one."""
        assert len(self.files) > 1, "the segment being written is never deleted"
        mapped = self.files.pop(0)
        mapped.destroy()
        return mapped

    def truncate_dirty_files(self, offset: int) -> int:
        """Drop everything from `offset` on; returns how many non-zero bytes were cleared.

        The segment holding `offset` is cut there; later segments are deleted.
        """
        cleared = 0
        keep: list[MappedFile] = []
        for mapped in self.files:
            if mapped.file_from_offset + self.file_size <= offset:
                keep.append(mapped)
            elif mapped.file_from_offset <= offset:
                cleared += mapped.truncate_to(offset - mapped.file_from_offset)
                keep.append(mapped)
            else:
                cleared += mapped.last_nonzero(0)
                mapped.destroy()
        self.files = keep
        return cleared

    def flushed_where(self) -> int:
        """Offset up to which every segment is known to be on disk."""
        for mapped in self.files:
            if mapped.flushed_position < mapped.wrote_position:
                return mapped.file_from_offset + mapped.flushed_position
        return self.max_offset

    def dirty_files(self) -> list[MappedFile]:
        return [m for m in self.files if m.flushed_position < m.wrote_position]

    def close(self) -> None:
        for mapped in self.files:
            mapped.close()

    def destroy(self) -> None:
        for mapped in self.files:
            mapped.destroy()
        self.files = []
        with contextlib.suppress(OSError):  # not empty (foreign files) or already gone
            os.rmdir(self.directory)
