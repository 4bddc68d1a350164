"""The DLedger entry, blank marker and index unit codecs (orbitmq/dledger/entry.py).

Golden bytes are written out from the layout table in store-and-replication.md §9.2,
not produced by the encoder.
"""

from __future__ import annotations

import zlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from orbitmq.dledger.entry import (
    BLANK_MARKER_SIZE,
    ENTRY_HEADER_SIZE,
    INDEX_UNIT_SIZE,
    EntryHeader,
    EntryKind,
    IndexUnit,
    body_crc,
    check_entry,
    decode_header,
    decode_index_unit,
    encode_blank,
    encode_entry,
    encode_index_unit,
    entry_size,
    index_unit_location,
    index_unit_term,
    pack_entry_into,
    pack_index_unit_into,
)

# index 5, term 2, pos 4096, body b"hello"; CRC-32("hello") = 0x3610a686 (sign bit clear)
GOLDEN_ENTRY = (
    bytes.fromhex(
        "00000001"  # magic 1
        "00000035"  # size 48 + 5 = 53
        "0000000000000005"  # index
        "0000000000000002"  # term
        "0000000000001000"  # pos 4096
        "00000000"  # channel
        "00000000"  # chain crc (reserved)
        "3610a686"  # body crc
        "00000005"  # body length
    )
    + b"hello"
)
GOLDEN_BLANK = bytes.fromhex("ffffffff00000064")  # magic -1, 100 bytes remaining
GOLDEN_UNIT = bytes.fromhex(
    "00000001"  # magic
    "0000000000001000"  # pos 4096
    "00000035"  # size 53
    "0000000000000005"  # index
    "0000000000000002"  # term
)

indexes = st.integers(0, 2**63 - 1)
bodies = st.binary(max_size=300)


def test_sizes() -> None:
    assert (ENTRY_HEADER_SIZE, BLANK_MARKER_SIZE, INDEX_UNIT_SIZE) == (48, 8, 32)
    assert entry_size(5) == 53


def test_entry_golden_bytes() -> None:
    assert bytes(encode_entry(5, 2, 4096, b"hello")) == GOLDEN_ENTRY
    assert decode_header(GOLDEN_ENTRY) == EntryHeader(1, 53, 5, 2, 4096, 0, 0, 0x3610A686, 5)


def test_blank_and_index_unit_golden_bytes() -> None:
    assert encode_blank(100) == GOLDEN_BLANK
    assert encode_index_unit(4096, 53, 5, 2) == GOLDEN_UNIT
    assert decode_index_unit(GOLDEN_UNIT) == IndexUnit(1, 4096, 53, 5, 2)
    assert index_unit_location(GOLDEN_UNIT, 0) == (4096, 53)
    assert index_unit_term(GOLDEN_UNIT, 0) == 2


def test_body_crc_clears_the_sign_bit() -> None:
    assert zlib.crc32(b"a") == 0xE8B7BE43
    assert body_crc(b"a") == 0x68B7BE43  # stored as a non-negative i32
    assert body_crc(b"") == 0


def test_pack_into_an_offset_leaves_the_neighbours() -> None:
    buf = bytearray(b"\xaa" * 200)
    assert pack_entry_into(buf, 10, 5, 2, 4096, b"hello") == 53
    assert buf[10:63] == GOLDEN_ENTRY
    assert buf[:10] == b"\xaa" * 10 and buf[63:] == b"\xaa" * 137
    pack_index_unit_into(memoryview(buf), 100, 4096, 53, 5, 2)
    assert buf[100:132] == GOLDEN_UNIT


@given(index=indexes, term=indexes, pos=indexes, body=bodies)
def test_entry_round_trip(index: int, term: int, pos: int, body: bytes) -> None:
    raw = encode_entry(index, term, pos, body)
    assert len(raw) == entry_size(len(body))
    header = decode_header(raw)
    assert header == EntryHeader(1, len(raw), index, term, pos, 0, 0, body_crc(body), len(body))
    assert raw[ENTRY_HEADER_SIZE:] == body
    kind, checked, problem = check_entry(raw + bytes(8), 0, len(raw) + 8)
    assert (kind, checked, problem) == (EntryKind.ENTRY, header, "")


@given(pos=indexes, size=st.integers(0, 2**31 - 1), index=indexes, term=indexes)
def test_index_unit_round_trip(pos: int, size: int, index: int, term: int) -> None:
    unit = encode_index_unit(pos, size, index, term)
    assert decode_index_unit(unit) == IndexUnit(1, pos, size, index, term)


# check_entry: what recovery sees at a position


def _file_with(*chunks: bytes, size: int = 256) -> bytearray:
    buf = bytearray(size)
    at = 0
    for chunk in chunks:
        buf[at : at + len(chunk)] = chunk
        at += len(chunk)
    return buf


def test_check_entry_valid_then_zeros() -> None:
    buf = _file_with(GOLDEN_ENTRY)
    assert check_entry(buf, 0, len(buf))[0] is EntryKind.ENTRY
    assert check_entry(buf, len(GOLDEN_ENTRY), len(buf)) == (EntryKind.END, None, "")


def test_check_entry_blank_must_cover_the_rest_of_the_file() -> None:
    buf = _file_with(GOLDEN_ENTRY, encode_blank(256 - 53))
    assert check_entry(buf, 53, 256) == (EntryKind.BLANK, None, "")
    kind, _, problem = check_entry(buf, 53, 255)
    assert kind is EntryKind.CORRUPT and "blank marker of 203 bytes" in problem


@pytest.mark.parametrize(
    ("offset", "value", "why"),
    [
        (0, b"\x00\x00\x00\x07", "bad magic 0x7"),
        (4, b"\x00\x00\x01\x00", "entry size of 256 bytes"),
        (4, b"\x00\x00\x00\x10", "entry size of 16 bytes"),
        (44, b"\x00\x00\x00\x04", "body length 4"),
        (50, b"H", "body CRC"),  # one flipped body byte
        (40, b"\x00\x00\x00\x00", "body CRC"),  # the stored CRC itself damaged
    ],
)
def test_check_entry_rejects_damage(offset: int, value: bytes, why: str) -> None:
    raw = bytearray(GOLDEN_ENTRY)
    raw[offset : offset + len(value)] = value
    buf = _file_with(bytes(raw))
    kind, _, problem = check_entry(buf, 0, len(buf))
    assert kind is EntryKind.CORRUPT
    assert why in problem


def test_check_entry_torn_body() -> None:
    """A write cut inside the body: the tail reads as zeros, the CRC catches it."""
    buf = _file_with(GOLDEN_ENTRY[:50])
    kind, header, problem = check_entry(buf, 0, len(buf))
    assert kind is EntryKind.CORRUPT and header is not None and "CRC" in problem


def test_check_entry_needs_room_for_a_following_marker() -> None:
    # A writer never leaves fewer than 8 bytes after an entry: 53 + 8 > 60.
    buf = _file_with(GOLDEN_ENTRY, size=60)
    assert check_entry(buf, 0, 60)[0] is EntryKind.CORRUPT
    assert check_entry(_file_with(GOLDEN_ENTRY, size=61), 0, 61)[0] is EntryKind.ENTRY
    assert check_entry(buf, 55, 60)[0] is EntryKind.CORRUPT  # 5 bytes: no marker fits


@given(data=st.binary(min_size=8, max_size=120))
def test_check_entry_never_raises(data: bytes) -> None:
    kind, header, problem = check_entry(data, 0, len(data))
    assert (kind is EntryKind.CORRUPT) == bool(problem)
    assert (kind is EntryKind.ENTRY) <= (header is not None)
