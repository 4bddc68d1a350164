"""One memory-mapped segment file (MappedFile.java).

A segment is created sparse at full size (`ftruncate`), so never-written bytes read as
zero: recovery relies on that to find the end of the data. Writes are slice
assignments into the mapping; reads hand out memoryview slices (zero copy).

Durability: `fdatasync` on the file, run by callers in an executor thread. Linux writes
back the dirty pages of a shared mapping on fdatasync, and unlike `mmap.flush()` (which
keeps the GIL during msync) it lets the event loop run meanwhile.

Disk-full safety: storing into a sparse page of a shared mapping makes the kernel
allocate a block at fault time; on a full disk that fault is SIGBUS, which kills the
process. So writers call `reserve(end)` before writing: it allocates real blocks
(posix_fallocate) for the region ahead and raises DiskFullError (nothing written) when
the filesystem has none left. Reads never need blocks: a hole reads as zeros.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import logging
import mmap
import os

from orbitmq.store.errors import DiskFullError, StoreLayoutError
from orbitmq.store.layout import OS_PAGE_SIZE, file_name

log = logging.getLogger(__name__)

_ZERO_CHUNK = bytes(1 << 20)

# madvise through ctypes rather than mmap.madvise: ctypes drops the GIL, so a background
# thread can pre-fault pages while the event loop keeps appending.
_LIBC = ctypes.CDLL(None, use_errno=True)
_madvise = _LIBC.madvise
_madvise.argtypes = (ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int)
_madvise.restype = ctypes.c_int
MADV_POPULATE_WRITE = 23  # Linux 5.14+: fault pages in writable without touching data


class MappedFile:
    """A fixed-size segment starting at `file_from_offset` of its queue."""

    __slots__ = (
        "_address",
        "_mm",
        "_view",
        "closed",
        "file_from_offset",
        "file_size",
        "flushed_position",
        "path",
        "populated_position",
        "reserve_chunk",
        "reserved_position",
        "wrote_position",
    )

    def __init__(
        self,
        directory: str,
        file_from_offset: int,
        file_size: int,
        *,
        name: str | None = None,
        reserve_chunk: int = 0,
    ) -> None:
        self.path = os.path.join(directory, name or file_name(file_from_offset))
        self.file_from_offset = file_from_offset
        self.file_size = file_size
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            actual = os.fstat(fd).st_size
            created = actual == 0
            if created:
                os.ftruncate(fd, file_size)  # sparse: no blocks until written
            elif actual != file_size:
                raise StoreLayoutError(
                    f"{self.path} is {actual} bytes but the configured segment size is "
                    f"{file_size}; restore the old size setting or move the store away"
                )
            # mmap dups the descriptor, so ours can be closed right away.
            self._mm = mmap.mmap(fd, file_size, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
        finally:
            os.close(fd)
        if created:
            # Fault-time readahead over a sparse new file costs ~1-2 ms per first write
            # into a 6 MB consume queue file (measured); appends never need it.
            self._mm.madvise(mmap.MADV_RANDOM)
        self._view = memoryview(self._mm)
        # The mapping never moves (no resize), so its address stays valid until close.
        self._address = ctypes.addressof(ctypes.c_char.from_buffer(self._mm))
        self.populated_position = 0  # bytes [0, this) were pre-faulted by `populate`
        self.wrote_position = 0
        self.flushed_position = 0
        self.closed = False
        # Bytes [0, reserved_position) have blocks allocated (0 = nothing known).
        self.reserved_position = 0
        # How far ahead of a write `reserve` allocates (0: the whole file at once).
        self.reserve_chunk = reserve_chunk or file_size

    def __repr__(self) -> str:
        return f"MappedFile({self.path!r}, wrote={self.wrote_position})"

    @property
    def end_offset(self) -> int:
        """Queue offset just past the written data of this file."""
        return self.file_from_offset + self.wrote_position

    @property
    def is_full(self) -> bool:
        return self.wrote_position >= self.file_size

    @property
    def remaining(self) -> int:
        return self.file_size - self.wrote_position

    @property
    def view(self) -> memoryview:
        """The whole mapping (callers slice it; slices share the mapping)."""
        return self._view

    def reserve(self, end: int) -> None:
        """Make sure bytes up to `end` have disk blocks before they are written.

        Allocates `reserve_chunk` bytes at a time, so the syscall is rare on the hot
        path. Idempotent over blocks that exist already.

        Raises:
            DiskFullError: the filesystem cannot allocate the blocks; nothing was written.
        """
        if end <= self.reserved_position:
            return
        start = self.reserved_position
        stop = min(self.file_size, max(end, start + self.reserve_chunk))
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CLOEXEC)
            try:
                os.posix_fallocate(fd, start, stop - start)
            finally:
                os.close(fd)
        except OSError as exc:
            if exc.errno in (errno.ENOSPC, errno.EDQUOT):
                raise DiskFullError(
                    f"no space left to allocate {stop - start} bytes in {self.path}"
                ) from exc
            if exc.errno not in (errno.EOPNOTSUPP, errno.EINVAL):
                raise
            log.debug("%s: posix_fallocate unsupported (%s); writing sparse", self.path, exc)
            stop = self.file_size  # nothing better available: do not ask again
        self.reserved_position = stop

    def append(self, data: bytes | bytearray) -> int:
        """Write at the write position; returns the position written at."""
        pos = self.wrote_position
        end = pos + len(data)
        self._mm[pos:end] = data
        self.wrote_position = end
        return pos

    def populate(self, end: int) -> None:
        """Pre-fault the pages from the write position up to `end` (blocking, GIL free).

        An append that first touches a page of a new segment takes a page fault on the
        event loop (~1 µs per KiB record measured); faulting pages in ahead, from a
        background thread, takes that off the send path. Safe against a racing close: the
        kernel refuses an unmapped range, and the advice never changes file data.
        Stays within the reserved region, so it never takes disk space early.
        """
        start = max(self.populated_position, self.wrote_position) & ~(OS_PAGE_SIZE - 1)
        end = min(end, self.reserved_position)  # only blocks `reserve` already allocated
        if end <= start or self.closed:
            return
        if _madvise(self._address + start, end - start, MADV_POPULATE_WRITE) != 0:
            # Old kernel (EINVAL) or no blocks left (ENOSPC): appends fault as usual.
            log.debug("%s: no pre-faulting: %s", self.path, os.strerror(ctypes.get_errno()))
            self.populated_position = self.file_size
            return
        self.populated_position = end

    def write_at(self, pos: int, data: bytes | bytearray) -> None:
        self._mm[pos : pos + len(data)] = data

    def slice(self, pos: int, size: int) -> memoryview:
        return self._view[pos : pos + size]

    def dirty_pages(self) -> int:
        return self.wrote_position // OS_PAGE_SIZE - self.flushed_position // OS_PAGE_SIZE

    def fdatasync(self) -> None:
        """Force written data to disk. Blocking: call it from an executor thread."""
        try:
            fd = os.open(self.path, os.O_RDONLY | os.O_CLOEXEC)
        except FileNotFoundError:
            return  # deleted meanwhile (topic deleted, tail truncated): nothing to keep
        try:
            os.fdatasync(fd)
        finally:
            os.close(fd)

    def truncate_to(self, pos: int) -> int:
        """Forget data from `pos` on: zero it and reset the positions.

        Zeroing (rather than only moving the positions, as Java does) keeps a later
        recovery from mistaking stale records beyond the new end for valid ones. Only
        the file's data extents are written: storing zeros into a hole would allocate
        a block, which on a full disk is SIGBUS.
        Returns how many bytes from `pos` up to the last non-zero byte were cleared.
        """
        cleared = self.last_nonzero(pos) - pos
        if cleared > 0:
            end = pos + cleared
            for begin, stop in self._data_extents(pos):
                begin, stop = max(begin, pos), min(stop, end)
                for start in range(begin, stop, len(_ZERO_CHUNK)):
                    chunk_end = min(stop, start + len(_ZERO_CHUNK))
                    self._mm[start:chunk_end] = _ZERO_CHUNK[: chunk_end - start]
        self.wrote_position = pos
        self.flushed_position = min(self.flushed_position, pos)
        return max(cleared, 0)

    def last_nonzero(self, start: int = 0) -> int:
        """Position just past the last non-zero byte at or after `start` (else `start`).

        Only the file's data extents are read (SEEK_DATA/SEEK_HOLE), so a mostly
        sparse 1 GiB segment costs a few page reads, not a gigabyte of zero pages.
        """
        for begin, end in reversed(self._data_extents(start)):
            while end > begin:
                lo = max(begin, end - len(_ZERO_CHUNK))
                block = self._mm[lo:end]
                if block != _ZERO_CHUNK[: end - lo]:
                    return lo + len(block.rstrip(b"\x00"))
                end = lo
        return start

    def _data_extents(self, start: int) -> list[tuple[int, int]]:
        try:
            fd = os.open(self.path, os.O_RDONLY | os.O_CLOEXEC)
        except FileNotFoundError:
            return [(start, self.file_size)]
        extents: list[tuple[int, int]] = []
        try:
            pos = start
            while pos < self.file_size:
                try:
                    data = os.lseek(fd, pos, os.SEEK_DATA)
                except OSError as exc:
                    if exc.errno == errno.ENXIO:  # no data after pos
                        break
                    raise
                hole = min(os.lseek(fd, data, os.SEEK_HOLE), self.file_size)
                extents.append((data, hole))
                pos = hole
        except (AttributeError, OSError):
            return [(start, self.file_size)]  # filesystem without hole support
        finally:
            os.close(fd)
        return extents

    def close(self) -> None:
        """Unmap. Slices still held by readers keep the mapping alive until released."""
        if self.closed:
            return
        self.closed = True
        self._view.release()
        try:
            self._mm.close()
        except BufferError:
            # A pull response still holds a record slice; the mapping goes away when
            # the last slice is garbage collected.
            log.debug("%s still has exported slices; leaving the unmap to GC", self.path)

    def destroy(self) -> None:
        """Close and delete the file."""
        self.close()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)
