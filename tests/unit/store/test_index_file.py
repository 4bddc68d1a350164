"""Index file layout (IndexFile.java): header, slots, linked entries, names, key hash."""

from __future__ import annotations

import struct
import time
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from orbitmq.protocol.message import java_hash
from orbitmq.store.index_file import (
    INDEX_HEADER_SIZE,
    IndexFile,
    IndexHeader,
    KeyHasher,
    decode_index_header,
    encode_index_header,
    index_file_name,
    index_file_size,
    index_key_hash,
)

SLOTS = 8
ENTRIES = 16
ENTRIES_AT = INDEX_HEADER_SIZE + SLOTS * 4


def _new(tmp_path: Path, name: str = "20240102030405678") -> IndexFile:
    return IndexFile(str(tmp_path), name, SLOTS, ENTRIES)


def _raw(index_file: IndexFile) -> bytes:
    index_file.write_header()
    return Path(index_file.path).read_bytes()


def test_geometry_and_default_size() -> None:
    assert index_file_size(5_000_000, 20_000_000) == 420_000_040
    assert index_file_size(SLOTS, ENTRIES) == 40 + 32 + 320


def test_header_is_40_big_endian_bytes() -> None:
    header = IndexHeader(1, 2, 3, 4, 5, 6)
    raw = encode_index_header(header)
    assert raw == struct.pack(">qqqqii", 1, 2, 3, 4, 5, 6) and len(raw) == 40
    assert decode_index_header(raw) == header


def test_file_name_is_local_creation_time_to_the_millisecond() -> None:
    stamp = int(time.mktime((2024, 1, 2, 3, 4, 5, 0, 0, -1))) * 1000 + 678
    assert index_file_name(stamp) == "20240102030405678"


@given(st.text(max_size=300))
def test_key_hash_is_abs_of_java_hash(key: str) -> None:
    h = java_hash(key)
    assert index_key_hash(key) == (0 if h == -(2**31) else abs(h))


def test_key_hash_of_integer_min_value_is_zero() -> None:
    assert java_hash("polygenelubricants") == -(2**31)  # a well-known Java example
    assert index_key_hash("polygenelubricants") == 0


def test_entries_are_chained_per_slot_and_count_starts_at_one(tmp_path: Path) -> None:
    index_file = _new(tmp_path)
    assert index_file.header.index_count == 1  # entry 0 is never used
    t0 = 1_700_000_000_000
    index_file.put_key(3, 100, t0)  # slot 3
    index_file.put_key(11, 200, t0 + 2500)  # slot 3 again (11 % 8): chains to entry 1
    index_file.put_key(4, 300, t0 + 9000)
    raw = _raw(index_file)
    assert decode_index_header(raw) == IndexHeader(t0, t0 + 9000, 100, 300, 2, 4)
    slots = struct.unpack_from(">8i", raw, INDEX_HEADER_SIZE)
    assert slots[3] == 2 and slots[4] == 3 and slots.count(0) == 6
    entry = struct.Struct(">iqii")
    assert entry.unpack_from(raw, ENTRIES_AT + 1 * 20) == (3, 100, 0, 0)
    assert entry.unpack_from(raw, ENTRIES_AT + 2 * 20) == (11, 200, 2, 1)  # 2.5 s -> 2
    assert entry.unpack_from(raw, ENTRIES_AT + 3 * 20) == (4, 300, 9, 0)


def test_select_follows_the_chain_by_hash_and_time(tmp_path: Path) -> None:
    index_file = _new(tmp_path)
    t0 = 1_700_000_000_000
    for i in range(6):
        index_file.put_key(5 if i % 2 == 0 else 13, 1000 + i, t0 + i * 1000)  # one slot
    found: list[int] = []
    index_file.select_phy_offsets(found, 5, 10, 0, 2**62)
    assert found == [1004, 1002, 1000]  # newest first, other hash in the slot skipped
    found = []
    index_file.select_phy_offsets(found, 5, 10, t0 + 1000, t0 + 3000)
    assert found == [1002]
    found = []
    index_file.select_phy_offsets(found, 5, 2, 0, 2**62)
    assert found == [1004, 1002]
    assert index_file.time_matched(t0 + 1, t0 + 2)
    assert not index_file.time_matched(t0 + 10_000, t0 + 20_000)


def test_torn_entries_past_the_header_are_unlinked(tmp_path: Path) -> None:
    index_file = _new(tmp_path)
    t0 = 1_700_000_000_000
    index_file.put_key(2, 100, t0)
    index_file.write_header()  # the last moment the header reached the mapping
    index_file.put_key(10, 200, t0)  # same slot; the process dies before the header
    index_file.put_key(6, 300, t0)
    index_file.close()

    reopened = _new(tmp_path)
    assert reopened.header.index_count == 2
    assert reopened.unlink_from(reopened.header.index_count) == 2
    raw = _raw(reopened)
    slots = struct.unpack_from(">8i", raw, INDEX_HEADER_SIZE)
    assert slots[2] == 1 and slots[6] == 0  # back to what they held before
    assert raw[ENTRIES_AT + 40 : ENTRIES_AT + 80] == bytes(40)
    reopened.put_key(10, 250, t0)  # the next put reuses entry 2 and chains properly
    found: list[int] = []
    reopened.select_phy_offsets(found, 2, 5, 0, 2**62)
    assert found == [100]


def test_unlink_keeps_the_older_part_of_a_chain(tmp_path: Path) -> None:
    index_file = _new(tmp_path)
    t0 = 1_700_000_000_000
    for i in range(5):
        index_file.put_key(1, 100 * (i + 1), t0 + i * 1000)
    first = index_file.first_entry_at_or_after(300)
    assert first == 3
    assert index_file.unlink_from(first) == 3
    assert index_file.header.index_count == 3
    assert index_file.header.end_phy_offset == 200
    found: list[int] = []
    index_file.select_phy_offsets(found, 1, 10, 0, 2**62)
    assert found == [200, 100]
    assert index_file.check_header(index_file.file_size) is None


def test_header_checks_catch_garbage(tmp_path: Path) -> None:
    index_file = _new(tmp_path)
    index_file.put_key(1, 100, 1)
    index_file.write_header()
    assert index_file.check_header(index_file.file_size) is None
    assert index_file.check_header(123) is not None
    index_file.header.end_phy_offset = 999  # disagrees with the last entry
    assert "last entry" in (index_file.check_header(index_file.file_size) or "")
    index_file.header.index_count = ENTRIES + 5
    assert "indexCount" in (index_file.check_header(index_file.file_size) or "")


@given(st.sampled_from(["TopicTest", "T", "%RETRY%g", "Töpic"]), st.text(max_size=300))
def test_key_hasher_equals_hashing_the_joined_key(topic: str, key: str) -> None:
    assert KeyHasher()(topic, key) == index_key_hash(f"{topic}#{key}")
