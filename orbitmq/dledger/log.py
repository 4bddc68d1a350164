"""The file-backed Raft log of DLedger mode (DLedgerMmapFileStore.java).

    <directory>/data/   entries (entry.py layout) in segments of `data_file_size`
    <directory>/index/  one 32-byte unit per entry; entry i's unit at byte i * 32

Both are MappedFileQueues: segments named by their 20-digit start offset, created
sparse. `pos` in an entry and its unit is the entry's offset across all data segments.

Theory of operation.

Append writes the entry into the data segment's shared mapping, then its index unit,
then moves the in-memory end. An entry never spans two data files: when `size + 8`
does not fit in what is left, a blank marker covers the rest of the file and the entry
opens the next one, so a segment always has room for that marker after its last entry.
Blocks are allocated ahead of the write (MappedFile.reserve), so a full disk raises
DiskFullError before anything is stored; a batch that fails part way is cut back to
where it began, so an append stores all its entries or none.

`sync()` runs in a worker thread while the event loop keeps appending. It reads the
end (last index, data end) as one tuple, fdatasyncs the segments written since the
last sync, and only then publishes the end it read as `synced_index`. A truncation
bumps an epoch and lowers `synced_index` at once; a sync that started before it does
not publish (it cannot tell which of the entries it saw survived).

Recovery (`load`): the data files are the truth, each entry checked on its own (sizes,
body CRC) and against its place (index, pos, non-decreasing term). As DLedger does, the
check starts at the third-newest data file, or earlier until a file whose first entry
matches its index unit (so a lost index is rebuilt from further back). The first bad
entry ends the log: it and everything after it are cut. Index units that disagree
with the data are rewritten, units past the last entry dropped, and the repaired
files synced before the log is used.

Retention (`delete_files_before`) removes whole data files from the front, then the
index files wholly below what is left. The first entry of the first remaining data file
stays on disk but is no longer readable: `first_index` is the entry after it, and it
only keeps `term_at(first_index - 1)` known, which is the prev_term a leader sends with
entries from first_index (etcd keeps a dummy entry for the same purpose). So a prefix
needs no extra file: after a crash between two deletions the log simply starts at the
first file still there. A log that was never cut starts at entry 0 and needs no such
entry (the term before 0 is -1). Files go one by one, oldest first, each unlink made
durable before the next, so no crash can leave a gap.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass

from orbitmq.dledger.entry import (
    BLANK_MARKER_SIZE,
    ENTRY_HEADER_SIZE,
    ENTRY_MAGIC,
    INDEX_UNIT_SIZE,
    EntryKind,
    check_entry,
    decode_header,
    decode_index_unit,
    encode_blank,
    index_unit_location,
    index_unit_term,
    pack_entry_into,
    pack_index_unit_into,
)
from orbitmq.dledger.messages import Entry
from orbitmq.dledger.state_files import fsync_directory
from orbitmq.store.errors import StoreClosedError
from orbitmq.store.mapped_file import MappedFile
from orbitmq.store.mapped_file_queue import MappedFileQueue

__all__ = ["DEFAULT_INDEX_FILE_SIZE", "DLedgerLog", "DataFileSpan", "destroy_files"]

log = logging.getLogger(__name__)

DEFAULT_INDEX_FILE_SIZE = INDEX_UNIT_SIZE * 5 * 1024 * 1024  # DLedgerConfig: 5 Mi units
# Blocks are allocated this far ahead of the write: one fallocate per 4 MiB appended,
# rather than one per entry or a whole 1 GiB segment at once.
_RESERVE_CHUNK = 4 * 1024 * 1024
# Recovery re-checks the newest files entry by entry (DLedger: from the third-newest);
# older ones were finished long enough ago to have been synced.
_RECOVER_FILES = 3


@dataclass(frozen=True, slots=True)
class DataFileSpan:
    """One data file and the entries stored in it (its first may be the unreadable
    entry before first_index)."""

    path: str
    first_index: int
    last_index: int


def _readable_first(head_index: int) -> int:
    """first_index of a log whose first data file opens with entry `head_index`."""
    return head_index + 1 if head_index > 0 else head_index


def destroy_files(files: Sequence[MappedFile]) -> None:
    """Unmap and delete `files` in order, each deletion made durable (directory fsync)
    before the next, so that a crash leaves no gap. Blocking; for any thread, as the
    files are no longer the log's. Dropping a large file's cached pages takes a while
    (40 ms for a 128 MiB file here)."""
    for mapped in files:
        mapped.destroy()
        fsync_directory(os.path.dirname(mapped.path))


class DLedgerLog:
    """RaftLog over DLedger's data and index files. Call `load()` before use.

    Not thread-safe except for `sync()`, `warm_ahead()` and `synced_index`, which may
    be used from a worker thread while the event loop appends, reads and truncates.
    """

    def __init__(
        self,
        directory: str,
        data_file_size: int,
        index_file_size: int = DEFAULT_INDEX_FILE_SIZE,
    ) -> None:
        if data_file_size < ENTRY_HEADER_SIZE + BLANK_MARKER_SIZE:
            raise ValueError(f"data_file_size {data_file_size} is too small for one entry")
        if index_file_size <= 0 or index_file_size % INDEX_UNIT_SIZE:
            raise ValueError(
                f"index_file_size {index_file_size} is not a multiple of {INDEX_UNIT_SIZE}"
            )
        self.directory = directory
        self.data_file_size = data_file_size
        self.index_file_size = index_file_size
        self._data = self._new_data_queue()
        self._index = self._new_index_queue()
        self._data_file: MappedFile | None = None  # the segments appends go to
        self._index_file: MappedFile | None = None
        self._open = False
        self._first_index = 0
        self._last_index = -1
        self._last_term = -1
        self._data_end = 0  # just past the last entry (where the next one may go)
        # Guards the synced_* fields and the epoch against sync() in another thread.
        self._sync_lock = threading.Lock()
        self._epoch = 0  # bumped by every truncation
        self._synced_index = -1
        self._synced_data_end = 0
        # (epoch, last index, data end) in one object: sync() reads it without a lock.
        self._tail = (0, -1, 0)

    def __repr__(self) -> str:
        return f"DLedgerLog({self.directory!r}, {self._first_index}..{self._last_index})"

    def _new_data_queue(self) -> MappedFileQueue:
        path = os.path.join(self.directory, "data")
        return MappedFileQueue(path, self.data_file_size, reserve_chunk=_RESERVE_CHUNK)

    def _new_index_queue(self) -> MappedFileQueue:
        path = os.path.join(self.directory, "index")
        return MappedFileQueue(path, self.index_file_size, reserve_chunk=_RESERVE_CHUNK)

    # ------------------------------------------------------------------ RaftLog

    @property
    def first_index(self) -> int:
        return self._first_index

    @property
    def last_index(self) -> int:
        return self._last_index

    @property
    def last_term(self) -> int:
        return self._last_term

    @property
    def synced_index(self) -> int:
        """Entries up to here are on disk (fdatasynced)."""
        return self._synced_index

    def term_at(self, index: int) -> int:
        """Term of entry `index`, from first_index - 1 on (see the module docstring);
        -1 for index -1 or an index not stored."""
        if index == self._last_index:
            return self._last_term  # also -1 for index -1 of an empty log
        if not max(0, self._first_index - 1) <= index < self._last_index:
            return -1
        index_file, rel = self._unit(index)
        return index_unit_term(index_file.view, rel)

    def entries(self, start: int, max_count: int, max_bytes: int) -> list[Entry]:
        """Copies of the entries from `start` on: at most `max_count`, and bodies
        within `max_bytes` in total, but at least one if `start` is stored.

        Raises:
            IndexError: `start` is below first_index.
        """
        if start < self._first_index:
            raise IndexError(f"index {start} is below the first index {self._first_index}")
        stop = min(self._last_index + 1, start + max(max_count, 1))
        out: list[Entry] = []
        total = 0
        for index in range(start, stop):
            index_file, rel = self._unit(index)
            unit = decode_index_unit(index_file.view, rel)
            total += unit.size - ENTRY_HEADER_SIZE
            if out and total > max_bytes:
                break
            out.append(Entry(index, unit.term, bytes(self._body(unit.pos, unit.size))))
        return out

    def append(self, entries: Sequence[Entry]) -> None:
        """Store `entries` (all or none); entries[0].index must be last_index + 1.

        Raises:
            ValueError: an index out of sequence, a term below the previous entry's, or
                a body too large for a data file; nothing was written.
            DiskFullError: no blocks left for the data; nothing was kept.
            StoreClosedError: before load() or after close().
        """
        if not self._open:
            raise StoreClosedError(f"DLedger log {self.directory} is not open")
        if not entries:
            return
        self._check_batch(entries)
        data_end = self._data_end
        try:
            for entry in entries:
                data_end = self._write(entry)
        except Exception:
            self._discard_partial_batch()
            raise
        last = entries[-1]
        self._last_index = last.index
        self._last_term = last.term
        self._data_end = data_end
        self._tail = (self._epoch, last.index, data_end)

    def truncate_after(self, index: int) -> None:
        """Drop every entry above `index`, durably (blocking: syncs the cut).

        Raises:
            ValueError: `index` is below first_index - 1.
        """
        if not self._open:
            raise StoreClosedError(f"DLedger log {self.directory} is not open")
        if index >= self._last_index:
            return
        if index < self._first_index - 1:
            raise ValueError(
                f"cannot truncate after {index}: the log starts at {self._first_index}"
            )
        if index >= self._first_index:
            pos, size = self.entry_position(index)
            cut = pos + size
        else:
            cut = self.entry_position(self._first_index)[0]
        term = self.term_at(index)  # known down to first_index - 1
        with self._sync_lock:
            self._epoch += 1
            self._synced_index = min(self._synced_index, index)
            self._synced_data_end = min(self._synced_data_end, cut)
            self._tail = (self._epoch, index, cut)
        data_files, index_files = len(self._data.files), len(self._index.files)
        self._data.truncate_dirty_files(cut)
        self._index.truncate_dirty_files((index + 1) * INDEX_UNIT_SIZE)
        self._last_index, self._last_term, self._data_end = index, term, cut
        self._reset_append_files()
        # The cut lies in each queue's last remaining segment; later ones were deleted,
        # and a deletion that a crash undid would bring old entries back.
        for queue, before in ((self._data, data_files), (self._index, index_files)):
            if queue.files:
                queue.files[-1].fdatasync()
            if len(queue.files) < before:
                fsync_directory(queue.directory)

    # ------------------------------------------------------------------ retention

    def data_files(self) -> list[DataFileSpan]:
        """The data files holding entries, oldest first, with the entries in each."""
        spans: list[DataFileSpan] = []
        if self._last_index < 0:
            return spans
        files = self._data.files
        heads = [self._head_index(f) for f in files]
        for i, (mapped, head) in enumerate(zip(files, heads, strict=True)):
            if head is None:
                break  # only a last file that no entry has reached yet
            following = heads[i + 1] if i + 1 < len(heads) else None
            last = self._last_index if following is None else following - 1
            spans.append(DataFileSpan(mapped.path, head, last))
        return spans

    def delete_files_before(self, index: int, max_files: int | None = None) -> int:
        """Delete the oldest data files whose entries all lie below `index`, then the
        index files wholly below the first entry left; returns the data files deleted.

        Never the data file holding `index` nor the last one, so at least the last
        entry stays. Afterwards first_index is the entry after the first one left (its
        term stays known, see the module docstring). Blocking: `detach_files_before`
        then `destroy_files`, which a caller on the event loop runs in a thread.

        Raises:
            StoreClosedError: before load() or after close().
        """
        before = len(self._data.files)
        destroy_files(self.detach_files_before(index, max_files))
        return before - len(self._data.files)

    def detach_files_before(self, index: int, max_files: int | None = None) -> list[MappedFile]:
        """The quick half of delete_files_before: the log forgets the files and returns
        them, data files first, each kind oldest first, for `destroy_files`. Until they
        are destroyed a crash brings them back, which leaves a loadable log that starts
        earlier.

        Raises:
            StoreClosedError: before load() or after close().
        """
        if not self._open:
            raise StoreClosedError(f"DLedger log {self.directory} is not open")
        index = min(index, self._last_index)
        data = self._data
        detached: list[MappedFile] = []
        while len(data.files) > 1 and (max_files is None or len(detached) < max_files):
            following = self._head_index(data.files[1])
            if following is None or following > index:
                break  # the first file holds `index`, or what follows it is unknown
            detached.append(data.files.pop(0))
            self._first_index = _readable_first(following)
        if detached:
            log.info(
                "%s: deleting %d data file(s) (retention); the log starts at entry %d",
                self.directory,
                len(detached),
                self._first_index,
            )
        # Units from the head entry on are kept: recovery checks the head against its
        # unit, and term_at(first_index - 1) reads it. Units a crash left behind after
        # their data files were deleted go too.
        head_unit = max(0, self._first_index - 1) * INDEX_UNIT_SIZE
        units = self._index
        while (
            len(units.files) > 1 and units.files[0].file_from_offset + units.file_size <= head_unit
        ):
            detached.append(units.files.pop(0))
        return detached

    def _head_index(self, mapped: MappedFile) -> int | None:
        """Index of the entry a data file opens with, None if it opens with none."""
        # The header alone (no body CRC): recovery checked the entries of this run, and
        # an entry claiming this very position is no stray bytes.
        header = decode_header(mapped.view, 0)
        if header.magic != ENTRY_MAGIC or header.pos != mapped.file_from_offset:
            return None
        return header.index

    # ------------------------------------------------------------------ more reads

    def entry_position(self, index: int) -> tuple[int, int]:
        """(pos, size) of entry `index` in the data files.

        Raises:
            IndexError: `index` is not stored.
        """
        if not self._first_index <= index <= self._last_index:
            raise IndexError(f"index {index} not in log [{self._first_index}, {self._last_index}]")
        index_file, rel = self._unit(index)
        return index_unit_location(index_file.view, rel)

    def read_body(self, index: int) -> memoryview:
        """The body of entry `index` as a slice of the mapping (no copy).

        Valid until the entry is truncated or the log closed; release it when done.

        Raises:
            IndexError: `index` is not stored.
        """
        pos, size = self.entry_position(index)
        return self._body(pos, size)

    def _unit(self, index: int) -> tuple[MappedFile, int]:
        offset = index * INDEX_UNIT_SIZE
        index_file = self._index.find_file(offset)
        assert index_file is not None, f"no index segment for stored entry {index}"
        return index_file, offset - index_file.file_from_offset

    def _body(self, pos: int, size: int) -> memoryview:
        data_file = self._data.find_file(pos)
        assert data_file is not None, f"no data segment for stored entry at {pos}"
        rel = pos - data_file.file_from_offset
        return data_file.view[rel + ENTRY_HEADER_SIZE : rel + size]

    # ------------------------------------------------------------------ writing

    def _check_batch(self, entries: Sequence[Entry]) -> None:
        expected, term = self._last_index + 1, self._last_term
        largest = self.data_file_size - ENTRY_HEADER_SIZE - BLANK_MARKER_SIZE
        for entry in entries:
            if entry.index != expected:
                raise ValueError(f"append of index {entry.index}, expected {expected}")
            if entry.term < term:
                raise ValueError(
                    f"entry {entry.index} has term {entry.term}, below the previous {term}"
                )
            if len(entry.body) > largest:
                raise ValueError(
                    f"entry {entry.index}: a {len(entry.body)}-byte body does not fit a "
                    f"{self.data_file_size}-byte data file (at most {largest} bytes)"
                )
            expected, term = expected + 1, entry.term

    def _write(self, entry: Entry) -> int:
        """Write one entry and its index unit; returns the data end after it."""
        body = entry.body
        size = ENTRY_HEADER_SIZE + len(body)
        data = self._data_file
        if data is None or data.wrote_position + size + BLANK_MARKER_SIZE > data.file_size:
            data = self._next_data_file()
        start = data.wrote_position
        end = start + size
        # Blocks for the entry and for a blank marker that may follow it: a store into
        # a hole on a full disk is SIGBUS, not an error.
        if end + BLANK_MARKER_SIZE > data.reserved_position:
            data.reserve(end + BLANK_MARKER_SIZE)
        pos = data.file_from_offset + start
        pack_entry_into(data.view, start, entry.index, entry.term, pos, body)
        data.wrote_position = end

        offset = entry.index * INDEX_UNIT_SIZE
        index_file = self._index_file
        if index_file is None or offset - index_file.file_from_offset >= index_file.file_size:
            index_file = self._next_index_file(offset)
        rel = offset - index_file.file_from_offset
        if rel + INDEX_UNIT_SIZE > index_file.reserved_position:
            index_file.reserve(rel + INDEX_UNIT_SIZE)
        pack_index_unit_into(index_file.view, rel, pos, size, entry.index, entry.term)
        index_file.wrote_position = rel + INDEX_UNIT_SIZE
        return pos + size

    def _next_data_file(self) -> MappedFile:
        """Close the current data segment with a blank marker and open the next."""
        data = self._data_file
        if data is not None and not data.is_full:
            data.reserve(data.wrote_position + BLANK_MARKER_SIZE)
            data.write_at(data.wrote_position, encode_blank(data.remaining))
            data.wrote_position = data.file_size  # the marker stands for the rest
        data = self._data.file_for_append(self._data_end)
        self._data_file = data
        return data

    def _next_index_file(self, offset: int) -> MappedFile:
        index_file = self._index.file_for_append(offset)
        assert 0 <= offset - index_file.file_from_offset < index_file.file_size, (
            f"index segment {index_file.path} does not hold unit offset {offset}"
        )
        self._index_file = index_file
        return index_file

    def _discard_partial_batch(self) -> None:
        """Cut what a failed append wrote. Needs no new blocks: it only zeroes written
        pages and deletes segments. Not synced: the entries were never acknowledged."""
        self._data.truncate_dirty_files(self._data_end)
        self._index.truncate_dirty_files((self._last_index + 1) * INDEX_UNIT_SIZE)
        self._reset_append_files()

    def _reset_append_files(self) -> None:
        self._data_file = self._data.last_file
        self._index_file = self._index.last_file

    # ------------------------------------------------------------------ durability

    def sync(self) -> None:
        """fdatasync the data and index written since the last sync. Blocking.

        Safe to run in a worker thread while the event loop appends and truncates:
        it covers the end it read when it started (see the module docstring).
        """
        epoch, target, data_end = self._tail
        with self._sync_lock:
            synced_index, synced_data_end = self._synced_index, self._synced_data_end
        if target <= synced_index:
            return
        unit_from = (synced_index + 1) * INDEX_UNIT_SIZE
        unit_to = (target + 1) * INDEX_UNIT_SIZE
        files = [
            f
            for f in list(self._data.files)
            if f.file_from_offset + f.file_size > synced_data_end and f.file_from_offset < data_end
        ]
        files += [
            f
            for f in list(self._index.files)
            if f.file_from_offset + f.file_size > unit_from and f.file_from_offset < unit_to
        ]
        for mapped in files:
            mapped.fdatasync()  # a segment deleted meanwhile is skipped
        with self._sync_lock:
            if epoch == self._epoch:
                self._synced_index = max(self._synced_index, target)
                self._synced_data_end = max(self._synced_data_end, data_end)

    def warm_ahead(self, ahead: int) -> None:
        """Pre-fault the next `ahead` bytes of the data and index segments being
        written. Blocking; for a worker thread, like sync().

        The first store into a page of a fresh segment faults on the event loop; on ext4
        that added up to ~4 µs to a 1 KiB append in our runs (3-6.6 µs without, 2.6 µs
        into pre-faulted pages).
        Only pages whose blocks are already reserved are touched (MappedFile.populate).
        """
        for mapped in (self._data_file, self._index_file):
            if mapped is not None:
                mapped.populate(mapped.wrote_position + ahead)

    # ------------------------------------------------------------------ lifecycle

    def load(self) -> None:
        """Map the files on disk and recover (see the module docstring). Blocking.

        Raises:
            StoreLayoutError: data segments of another size, misaligned or with a gap.
            DiskFullError: no blocks for index units that must be rewritten.
        """
        if self._open:
            raise RuntimeError(f"DLedger log {self.directory} is already loaded")
        self._data = self._new_data_queue()
        self._index = self._new_index_queue()
        # A short last data file lost its tail: extended with zeros, the scan cuts it.
        self._data.load(extend_short_last=True)
        # The index is derived: segments that do not fit are dropped and rebuilt.
        self._index.load_salvage()
        first, last, last_term, end = self._recover()
        self._first_index, self._last_index, self._last_term = first, last, last_term
        self._data_end = end
        self._reset_append_files()
        # Whatever the previous run left in the page cache, and the repairs, go to disk
        # now, so that synced_index can start at the end.
        for mapped in self._data.files + self._index.files:
            mapped.fdatasync()
        for queue in (self._data, self._index):
            if os.path.isdir(queue.directory):
                fsync_directory(queue.directory)
        with self._sync_lock:
            self._epoch += 1  # a sync still running from before close() must not publish
            self._synced_index = last
            self._synced_data_end = end
            self._tail = (self._epoch, last, end)
        self._open = True
        log.info(
            "DLedger log %s loaded: entries %d..%d, data end %d", self.directory, first, last, end
        )

    def close(self) -> None:
        """Unmap the files. Does not sync: call sync() first for durability."""
        self._open = False
        self._data.close()
        self._index.close()
        self._data_file = self._index_file = None

    # ------------------------------------------------------------------ recovery

    def _recover(self) -> tuple[int, int, int, int]:
        """Check, cut and re-index; returns (first index, last index, last term, end)."""
        files = self._data.files
        if not files:
            if self._index.files:
                log.warning("%s: index units without data files: dropped", self.directory)
                self._index.destroy()
            return 0, -1, -1, 0
        head = files[0]
        kind, header, _ = check_entry(head.view, 0, head.file_size)
        if kind is EntryKind.ENTRY and header is not None and header.pos == head.file_from_offset:
            first_offset = header.index * INDEX_UNIT_SIZE
            index = self._index
            if index.files and not index.min_offset <= first_offset <= index.max_offset:
                log.warning(
                    "%s: the index does not reach entry %d, the first stored: rebuilding it",
                    self.directory,
                    header.index,
                )
                index.destroy()
        start = max(0, len(files) - _RECOVER_FILES)
        while start > 0 and not self._starts_indexed(files[start]):
            start -= 1
        scanned_first, last, last_term, end, rewritten = self._scan(start)
        if start > 0:
            head_index = decode_header(head.view, 0).index  # before the re-checked files
        else:
            head_index = 0 if scanned_first is None else scanned_first  # nothing valid: empty
        first = _readable_first(head_index)
        cleared = self._data.truncate_dirty_files(end)
        dropped = self._index.truncate_dirty_files((last + 1) * INDEX_UNIT_SIZE)
        if cleared:
            log.warning("%s: cut the data at %d: %d bytes cleared", self.directory, end, cleared)
        if dropped:
            log.warning(
                "%s: dropped index units past entry %d (%d bytes)", self.directory, last, dropped
            )
        if rewritten:
            log.warning("%s: rewrote %d index units from the data", self.directory, rewritten)
        return first, last, last_term, end

    def _starts_indexed(self, mapped: MappedFile) -> bool:
        """Whether the file opens with a good entry that its index unit agrees with."""
        kind, header, _ = check_entry(mapped.view, 0, mapped.file_size)
        if kind is not EntryKind.ENTRY or header is None:
            return False
        return header.pos == mapped.file_from_offset and self._unit_matches(
            header.index, header.pos, header.size, header.term
        )

    def _scan(self, start: int) -> tuple[int | None, int, int, int, int]:
        """Walk the entries from the start of data file `start`, fixing index units.

        Returns (first index seen or None, last index, last term, data end, units
        rewritten); the data end is where the first bad or missing entry begins.
        """
        files = self._data.files
        file_no = start
        mapped = files[file_no]
        pos = mapped.file_from_offset
        first: int | None = None
        last, last_term = -1, -1
        rewritten = 0
        while True:
            rel = pos - mapped.file_from_offset
            kind, header, problem = check_entry(mapped.view, rel, mapped.file_size)
            if kind is EntryKind.BLANK:
                pos = mapped.file_from_offset + mapped.file_size
                file_no += 1
                if file_no == len(files):
                    break
                mapped = files[file_no]
                continue
            if kind is EntryKind.ENTRY and header is not None:
                if header.pos != pos:
                    problem = f"an entry that claims pos {header.pos}"
                elif first is not None and header.index != last + 1:
                    problem = f"entry {header.index} where {last + 1} was expected"
                elif header.term < last_term:
                    problem = f"entry {header.index} of term {header.term} after {last_term}"
            if kind is not EntryKind.ENTRY or problem or header is None:
                if problem:
                    log.warning("%s: the log ends at %d, before %s", self.directory, pos, problem)
                break
            if not self._unit_matches(header.index, pos, header.size, header.term):
                self._put_index_unit(header.index, pos, header.size, header.term)
                rewritten += 1
            if first is None:
                first = header.index
            last, last_term = header.index, header.term
            pos += header.size
        return first, last, last_term, pos, rewritten

    def _unit_matches(self, index: int, pos: int, size: int, term: int) -> bool:
        offset = index * INDEX_UNIT_SIZE
        index_file = self._index.find_file(offset)
        if index_file is None:
            return False
        unit = decode_index_unit(index_file.view, offset - index_file.file_from_offset)
        return unit == (ENTRY_MAGIC, pos, size, index, term)

    def _put_index_unit(self, index: int, pos: int, size: int, term: int) -> None:
        offset = index * INDEX_UNIT_SIZE
        index_file = self._index.find_file(offset) or self._next_index_file(offset)
        rel = offset - index_file.file_from_offset
        index_file.reserve(rel + INDEX_UNIT_SIZE)
        pack_index_unit_into(index_file.view, rel, pos, size, index, term)
        index_file.wrote_position = max(index_file.wrote_position, rel + INDEX_UNIT_SIZE)
