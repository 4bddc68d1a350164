"""Pure codecs for DLedger's data and index files (no I/O, no asyncio).

Layouts follow openmessaging/dledger 0.3.1.2 (DLedgerEntry, DLedgerEntryCoder,
DLedgerMmapFileStore), all big-endian:

Entry in a data file, 48-byte header then the body (DLedgerEntry.BODY_OFFSET = 48):
  magic i32 (1) | size i32 (48 + body) | index i64 | term i64 | pos i64 |
  channel i32 (0) | chain crc i32 (0) | body crc i32 | body length i32 | body
Blank / end-of-file marker (MmapFileList.BLANK_MAGIC_CODE), fills the rest of a file:
  magic i32 (-1) | remaining i32 (bytes from the marker to the end of the file)
Index unit, 32 bytes; the unit of entry i is at byte i * 32 of the index files:
  magic i32 (1) | pos i64 | size i32 | index i64 | term i64

`pos` is the entry's offset in the data files, global across segments. DLedger 0.3.x
writes 0 for the body CRC; we write `zlib.crc32(body) & 0x7FFFFFFF` (RocketMQ's
UtilAll.crc32, the CRC convention of every other OrbitMQ record, stored as a
non-negative i32) so recovery can tell a torn or bit-flipped tail from a good entry.
Java DLedger never reads the field, so its files and ours differ only there.
"""

from __future__ import annotations

import enum
import struct
import zlib
from typing import NamedTuple

ENTRY_MAGIC = 1
BLANK_MAGIC = -1
ENTRY_HEADER_SIZE = 48
BLANK_MARKER_SIZE = 8
INDEX_UNIT_SIZE = 32

_HEADER = struct.Struct(">iiqqqiiii")
_BLANK = struct.Struct(">ii")
_INDEX_UNIT = struct.Struct(">iqiqq")
_UNIT_POS_SIZE = struct.Struct(">qi")  # at unit + 4
_UNIT_TERM = struct.Struct(">q")  # at unit + 24
_CRC_MASK = 0x7FFFFFFF

Buffer = bytes | bytearray | memoryview


class EntryHeader(NamedTuple):
    magic: int
    size: int
    index: int
    term: int
    pos: int
    channel: int
    chain_crc: int
    body_crc: int
    body_length: int


class IndexUnit(NamedTuple):
    magic: int
    pos: int
    size: int
    index: int
    term: int


class EntryKind(enum.Enum):
    ENTRY = "entry"  # a complete entry whose body matches its CRC
    BLANK = "blank"  # end-of-file marker covering exactly the rest of the file
    END = "end"  # zeros: nothing was written here
    CORRUPT = "corrupt"  # anything else: a torn or damaged entry


def body_crc(body: Buffer) -> int:
    """The body CRC as stored: CRC-32 with the sign bit cleared (UtilAll.crc32)."""
    return zlib.crc32(body) & _CRC_MASK


def entry_size(body_length: int) -> int:
    return ENTRY_HEADER_SIZE + body_length


def pack_entry_into(
    buf: bytearray | memoryview, offset: int, index: int, term: int, pos: int, body: Buffer
) -> int:
    """Write the entry at `offset` of `buf` (a mapping, usually); returns its size.

    The body is copied after the header, so a torn write that loses it fails the CRC.
    """
    length = len(body)
    size = ENTRY_HEADER_SIZE + length
    _HEADER.pack_into(
        buf, offset, ENTRY_MAGIC, size, index, term, pos, 0, 0, zlib.crc32(body) & _CRC_MASK, length
    )
    start = offset + ENTRY_HEADER_SIZE
    buf[start : start + length] = body
    return size


def encode_entry(index: int, term: int, pos: int, body: Buffer) -> bytearray:
    """The entry's bytes, header and body in one buffer (one allocation)."""
    buf = bytearray(ENTRY_HEADER_SIZE + len(body))
    pack_entry_into(buf, 0, index, term, pos, body)
    return buf


def decode_header(buf: Buffer, offset: int = 0) -> EntryHeader:
    """The 48-byte header at `offset`, unchecked (see check_entry)."""
    return EntryHeader._make(_HEADER.unpack_from(buf, offset))


def encode_blank(remaining: int) -> bytes:
    """The end-of-file marker for a file with `remaining` bytes left, marker included."""
    return _BLANK.pack(BLANK_MAGIC, remaining)


def pack_index_unit_into(
    buf: bytearray | memoryview, offset: int, pos: int, size: int, index: int, term: int
) -> None:
    _INDEX_UNIT.pack_into(buf, offset, ENTRY_MAGIC, pos, size, index, term)


def encode_index_unit(pos: int, size: int, index: int, term: int) -> bytes:
    return _INDEX_UNIT.pack(ENTRY_MAGIC, pos, size, index, term)


def decode_index_unit(buf: Buffer, offset: int = 0) -> IndexUnit:
    return IndexUnit._make(_INDEX_UNIT.unpack_from(buf, offset))


def index_unit_location(buf: Buffer, offset: int) -> tuple[int, int]:
    """(pos, size) of the entry whose unit is at `offset`."""
    pos, size = _UNIT_POS_SIZE.unpack_from(buf, offset + 4)
    return pos, size


def index_unit_term(buf: Buffer, offset: int) -> int:
    term: int = _UNIT_TERM.unpack_from(buf, offset + 24)[0]
    return term


def check_entry(buf: Buffer, offset: int, limit: int) -> tuple[EntryKind, EntryHeader | None, str]:
    """Classify what is stored at `offset`; `limit` is the end of the file there.

    Returns (kind, header, problem): the header for ENTRY (and for CORRUPT when one
    could be read), and for CORRUPT a reason for the log line. Only the entry's own
    consistency is checked here (sizes, room left, body CRC); whether its index, term
    and pos fit the log around it is the caller's business.
    """
    if offset + BLANK_MARKER_SIZE > limit:
        # A writer always leaves room for a blank marker after an entry.
        return EntryKind.CORRUPT, None, f"{limit - offset} bytes left, too few for a marker"
    magic, size = _BLANK.unpack_from(buf, offset)
    if magic == BLANK_MAGIC:
        if size == limit - offset:
            return EntryKind.BLANK, None, ""
        return (
            EntryKind.CORRUPT,
            None,
            f"a blank marker of {size} bytes where {limit - offset} remain",
        )
    if magic == 0 and size == 0:
        return EntryKind.END, None, ""
    if magic != ENTRY_MAGIC:
        return EntryKind.CORRUPT, None, f"bad magic {magic & 0xFFFFFFFF:#x}"
    if size < ENTRY_HEADER_SIZE or offset + size + BLANK_MARKER_SIZE > limit:
        return EntryKind.CORRUPT, None, f"an entry size of {size} bytes that does not fit"
    header = decode_header(buf, offset)
    if header.body_length != size - ENTRY_HEADER_SIZE:
        return EntryKind.CORRUPT, header, f"body length {header.body_length} in a {size}-byte entry"
    start = offset + ENTRY_HEADER_SIZE
    crc = zlib.crc32(buf[start : offset + size]) & _CRC_MASK
    if crc != header.body_crc:
        return EntryKind.CORRUPT, header, f"body CRC {crc:#x}, header says {header.body_crc:#x}"
    return EntryKind.ENTRY, header, ""
