"""One hash index file: message keys -> commit-log offsets (IndexFile.java, IndexHeader.java).

Layout (big-endian), named by creation time `yyyyMMddHHmmssSSS` (local time):

    header  40 B   beginTimestamp i64 | endTimestamp i64 | beginPhyOffset i64 |
                   endPhyOffset i64 | hashSlotCount i32 | indexCount i32
    slots   maxHashSlotNum x 4 B    newest entry number per slot (0 = empty)
    entries maxIndexNum x 20 B      keyHash i32 | phyOffset i64 | timeDiff i32 (s) |
                                    prevIndex i32 (older entry in the slot, 0 = end)

indexCount starts at 1: entry 0 is never used by RocketMQ, so OrbitMQ keeps its own
bookkeeping there (Java readers never look at it):

    entry 0        magic i32 "OBIX" | indexedThrough i64 | lastIndexed i64

`indexedThrough` is the commit-log offset up to which every record has been looked at
(with or without keys), `lastIndexed` the offset of the last message whose keys are all
in. Both are written together with the header, so after a crash they describe the same
moment: entries past the header's count are a torn tail (unlinked on load) and reput
re-dispatches from `indexedThrough`.

Theory of operation: the header lives in memory (`IndexHeader`) and is written into the
mapping by `write_header()` (when flushing, when full, when closing), not on every put;
entries and slots go straight into the mapping.
"""

from __future__ import annotations

import logging
import struct
import time
from collections.abc import Iterable
from dataclasses import dataclass

from orbitmq.protocol.message import java_hash_unsigned
from orbitmq.store.mapped_file import MappedFile

log = logging.getLogger(__name__)

INDEX_HEADER_SIZE = 40
INDEX_HEADER = struct.Struct(">qqqqii")
INDEX_SLOT = struct.Struct(">i")
INDEX_SLOT_SIZE = 4
INDEX_ENTRY = struct.Struct(">iqii")
INDEX_ENTRY_SIZE = 20
_META = struct.Struct(">iqq")
_META_MAGIC = int.from_bytes(b"OBIX", "big")
_INT_MAX = 0x7FFFFFFF


@dataclass(slots=True)
class IndexHeader:
    begin_timestamp: int = 0
    end_timestamp: int = 0
    begin_phy_offset: int = 0
    end_phy_offset: int = 0
    hash_slot_count: int = 0
    index_count: int = 1


def encode_index_header(h: IndexHeader) -> bytes:
    return INDEX_HEADER.pack(
        h.begin_timestamp,
        h.end_timestamp,
        h.begin_phy_offset,
        h.end_phy_offset,
        h.hash_slot_count,
        h.index_count,
    )


def decode_index_header(buf: bytes | bytearray | memoryview) -> IndexHeader:
    return IndexHeader(*INDEX_HEADER.unpack_from(buf, 0))


def index_file_size(hash_slot_num: int, index_num: int) -> int:
    return INDEX_HEADER_SIZE + hash_slot_num * INDEX_SLOT_SIZE + index_num * INDEX_ENTRY_SIZE


def index_file_name(now_ms: int) -> str:
    """Creation time as RocketMQ names index files: yyyyMMddHHmmssSSS, local time."""
    seconds, millis = divmod(now_ms, 1000)
    return time.strftime("%Y%m%d%H%M%S", time.localtime(seconds)) + f"{millis:03d}"


_POW_LEN = 256
_POW31 = [pow(31, n, 1 << 32) for n in range(_POW_LEN + 1)]


def _positive(h: int) -> int:
    """IndexFile.indexKeyHashMethod on an unsigned hash: abs, Integer.MIN_VALUE -> 0."""
    if h & 0x80000000:
        h -= 0x100000000
    return 0 if h == -0x80000000 else abs(h)


def index_key_hash(key: str) -> int:
    """IndexFile.indexKeyHashMethod: abs(javaHash(key)), Integer.MIN_VALUE -> 0."""
    return _positive(java_hash_unsigned(key))


class KeyHasher:
    """index_key_hash of `topic#key`, with the topic part computed once per topic:
    hash(prefix + key) = hash(prefix) * 31^len(key) + hash(key) (mod 2^32)."""

    def __init__(self) -> None:
        self._prefixes: dict[str, int] = {}

    def __call__(self, topic: str, key: str) -> int:
        prefix = self._prefixes.get(topic)
        if prefix is None:
            if len(self._prefixes) > 10_000:
                self._prefixes.clear()
            prefix = self._prefixes[topic] = java_hash_unsigned(topic + "#")
        n = len(key)
        if n > _POW_LEN or not key.isascii():
            return index_key_hash(f"{topic}#{key}")
        return _positive((prefix * _POW31[n] + java_hash_unsigned(key)) & 0xFFFFFFFF)


class IndexFile:
    """An index file mapped in memory. Single writer: the reput service."""

    def __init__(
        self,
        directory: str,
        name: str,
        hash_slot_num: int,
        index_num: int,
        *,
        reserve_chunk: int = 0,
    ) -> None:
        self.name = name
        self.hash_slot_num = hash_slot_num
        self.index_num = index_num
        self.file_size = index_file_size(hash_slot_num, index_num)
        self._entries_at = INDEX_HEADER_SIZE + hash_slot_num * INDEX_SLOT_SIZE
        # The whole file at once unless asked otherwise: a chunk must cover the slots,
        # which are written at random places.
        chunk = max(reserve_chunk, self._entries_at + INDEX_ENTRY_SIZE) if reserve_chunk else 0
        self.mapped = MappedFile(directory, 0, self.file_size, name=name, reserve_chunk=chunk)
        self._view = self.mapped.view
        self.header = decode_index_header(self._view)
        if self.header == IndexHeader(index_count=0):
            self.header = IndexHeader()  # a new (all zero) file: entry numbers start at 1
        magic, through, last = _META.unpack_from(self._view, self._entries_at)
        self.has_meta = magic == _META_MAGIC
        self.indexed_through = through if self.has_meta else -1
        self.last_indexed = last if self.has_meta else -1
        self.dirty = False  # written since the last fdatasync
        self.header_stale = False  # the mapping's header lags the one in memory

    def __repr__(self) -> str:
        h = self.header
        return f"IndexFile({self.name}, count={h.index_count}, end={h.end_phy_offset})"

    @property
    def path(self) -> str:
        return self.mapped.path

    @property
    def is_full(self) -> bool:
        return self.header.index_count >= self.index_num

    @property
    def room(self) -> int:
        return self.index_num - self.header.index_count

    def reserve_for(self, keys: int) -> None:
        """Blocks for the slot table and `keys` more entries (DiskFullError if none)."""
        end = self._entries_at + (self.header.index_count + keys) * INDEX_ENTRY_SIZE
        self.mapped.reserve(end)

    def put_key(self, key_hash: int, phy_offset: int, store_timestamp: int) -> None:
        """IndexFile.putKey; the caller has checked `room` and reserved blocks."""
        self.put_keys(((key_hash, phy_offset, store_timestamp),))

    def put_keys(self, keys: Iterable[tuple[int, int, int]]) -> None:
        """IndexFile.putKey for each (key hash, commit-log offset, store timestamp), in
        order, with the header's counters kept in locals until the last one."""
        h = self.header
        view = self._view
        slot_num = self.hash_slot_num
        entries_at = self._entries_at
        unpack_slot = INDEX_SLOT.unpack_from
        pack_slot = INDEX_SLOT.pack_into
        pack_entry = INDEX_ENTRY.pack_into
        count = h.index_count
        begin_timestamp = h.begin_timestamp
        hash_slot_count = h.hash_slot_count
        phy_offset = store_timestamp = -1
        for key_hash, phy_offset, store_timestamp in keys:
            slot_pos = INDEX_HEADER_SIZE + (key_hash % slot_num) * INDEX_SLOT_SIZE
            (slot_value,) = unpack_slot(view, slot_pos)
            if slot_value <= 0 or slot_value > count:
                slot_value = 0
                hash_slot_count += 1
            # Upstream quirk kept: the diff uses the begin time before the first put sets it.
            diff = 0
            if begin_timestamp > 0:
                diff = (store_timestamp - begin_timestamp) // 1000
                diff = 0 if diff < 0 else _INT_MAX if diff > _INT_MAX else diff
            pack_entry(
                view, entries_at + count * INDEX_ENTRY_SIZE, key_hash, phy_offset, diff, slot_value
            )
            pack_slot(view, slot_pos, count)
            if count <= 1:
                h.begin_phy_offset = phy_offset
                h.begin_timestamp = begin_timestamp = store_timestamp
            count += 1
        if phy_offset < 0:
            return
        h.index_count = count
        h.hash_slot_count = hash_slot_count
        h.end_phy_offset = phy_offset
        h.end_timestamp = store_timestamp
        self.dirty = self.header_stale = True

    def write_header(self) -> None:
        """Put the header and the bookkeeping entry into the mapping (one moment).

        Raises:
            DiskFullError: no block for the bookkeeping entry (a file made by Java).
        """
        self.mapped.reserve(self._entries_at + INDEX_ENTRY_SIZE)
        self._view[:INDEX_HEADER_SIZE] = encode_index_header(self.header)
        _META.pack_into(
            self._view, self._entries_at, _META_MAGIC, self.indexed_through, self.last_indexed
        )
        self.has_meta = True
        self.header_stale = False

    def entry(self, number: int) -> tuple[int, int, int, int]:
        """(keyHash, phyOffset, timeDiff, prevIndex) of entry `number`."""
        key_hash, offset, diff, prev = INDEX_ENTRY.unpack_from(
            self._view, self._entries_at + number * INDEX_ENTRY_SIZE
        )
        return key_hash, offset, diff, prev

    def time_matched(self, begin: int, end: int) -> bool:
        h = self.header
        return (
            (begin < h.begin_timestamp and end > h.end_timestamp)
            or h.begin_timestamp <= begin <= h.end_timestamp
            or h.begin_timestamp <= end <= h.end_timestamp
        )

    def select_phy_offsets(
        self, out: list[int], key_hash: int, max_num: int, begin: int, end: int
    ) -> None:
        """IndexFile.selectPhyOffset: follow the slot's chain, newest first."""
        h = self.header
        count = h.index_count
        slot_pos = INDEX_HEADER_SIZE + (key_hash % self.hash_slot_num) * INDEX_SLOT_SIZE
        (number,) = INDEX_SLOT.unpack_from(self._view, slot_pos)
        if number <= 0 or number > count or count <= 1:
            return
        while len(out) < max_num:
            hash_read, offset, diff, prev = self.entry(number)
            if diff < 0:
                break
            stamp = h.begin_timestamp + diff * 1000
            if hash_read == key_hash and begin <= stamp <= end:
                out.append(offset)
            if prev <= 0 or prev > count or prev == number or stamp < begin:
                break
            number = prev

    # ---------------------------------------------------------------- recovery

    def check_header(self, actual_size: int) -> str | None:
        """Why the file cannot be trusted, or None (cheap checks only)."""
        h = self.header
        if actual_size != self.file_size:
            return f"is {actual_size} bytes, not {self.file_size}"
        if not 1 <= h.index_count <= self.index_num:
            return f"has indexCount {h.index_count}"
        if not 0 <= h.hash_slot_count <= self.hash_slot_num:
            return f"has hashSlotCount {h.hash_slot_count}"
        if h.index_count > 1:
            _, last_offset, diff, prev = self.entry(h.index_count - 1)
            if last_offset != h.end_phy_offset or diff < 0 or prev >= h.index_count:
                return "has a last entry that disagrees with its header"
            if h.begin_phy_offset > h.end_phy_offset:
                return "has beginPhyOffset after endPhyOffset"
        return None

    def check_entries_after(self, physical: int, log_end: int) -> str | None:
        """Check the entries for records at or after `physical` (newest first)."""
        newer = log_end
        number = self.header.index_count - 1
        while number >= 1:
            key_hash, offset, diff, prev = self.entry(number)
            if offset < physical:
                return None
            if key_hash < 0 or offset > newer or diff < 0 or not 0 <= prev < number:
                return f"has a damaged entry {number}"
            newer = offset
            number -= 1
        return None

    def unlink_from(self, first: int) -> int:
        """Forget entries numbered `first` and above; returns how many were dropped.

        Newest first: a slot pointing at a dropped entry gets that entry's predecessor,
        which is the value the slot held before the put (entries in a chain have
        descending numbers, so a predecessor still at or above `first` is fixed later).
        Then the header is recomputed from the last entry kept.
        """
        count = self.header.index_count
        top = count
        # Entries past the header's count: a put whose header write never happened.
        while top < self.index_num and any(self.entry(top)):
            top += 1
        for number in range(top - 1, first - 1, -1):
            key_hash, _, _, prev = self.entry(number)
            slot_pos = INDEX_HEADER_SIZE + (key_hash % self.hash_slot_num) * INDEX_SLOT_SIZE
            (slot_value,) = INDEX_SLOT.unpack_from(self._view, slot_pos)
            if slot_value == number:
                INDEX_SLOT.pack_into(self._view, slot_pos, prev if 0 <= prev < number else 0)
                if prev <= 0 and number < count:
                    self.header.hash_slot_count = max(0, self.header.hash_slot_count - 1)
            pos = self._entries_at + number * INDEX_ENTRY_SIZE
            self._view[pos : pos + INDEX_ENTRY_SIZE] = bytes(INDEX_ENTRY_SIZE)
        dropped = top - first
        if first < count:
            h = self.header
            h.index_count = first
            if first > 1:
                _, offset, diff, _ = self.entry(first - 1)
                h.end_phy_offset = offset
                h.end_timestamp = h.begin_timestamp + diff * 1000
            else:
                h.end_phy_offset = h.begin_phy_offset
                h.end_timestamp = h.begin_timestamp
            self.dirty = True
        return dropped

    def first_entry_at_or_after(self, physical: int) -> int:
        """Number of the first entry whose record is at or after `physical`."""
        number = self.header.index_count
        while number > 1 and self.entry(number - 1)[1] >= physical:
            number -= 1
        return number

    def fdatasync(self) -> None:
        self.mapped.fdatasync()

    def close(self) -> None:
        self.mapped.close()

    def destroy(self) -> None:
        self.mapped.destroy()
