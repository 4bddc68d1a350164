"""Pure codecs: CQ unit, checkpoint, blank marker, file names, the record walker."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from orbitmq.protocol.message import (
    BLANK_MAGIC_CODE,
    MessageExt,
    SysFlag,
    encode_record,
    tags_code,
)
from orbitmq.store.layout import (
    CHECKPOINT_FILE_SIZE,
    CheckpointData,
    RecordKind,
    check_record,
    decode_checkpoint,
    decode_cq_unit,
    dispatch_request_for,
    encode_blank,
    encode_checkpoint,
    encode_cq_unit,
    file_name,
    parse_file_name,
)


def test_cq_unit_is_20_big_endian_bytes() -> None:
    raw = encode_cq_unit(0x0102030405060708, 0x11223344, -1)
    assert raw == bytes.fromhex("0102030405060708 11223344 ffffffffffffffff")
    assert decode_cq_unit(raw) == (0x0102030405060708, 0x11223344, -1)


def test_checkpoint_layout() -> None:
    raw = encode_checkpoint(CheckpointData(1, 2, 3, 40, 48, 56))
    assert len(raw) == CHECKPOINT_FILE_SIZE
    # RocketMQ's fields, then 5.x's two (unused: zero), then OrbitMQ's offsets + magic.
    assert struct.unpack_from(">qqqqqqqq", raw) == (1, 2, 3, 0, 0, 40, 48, 56)
    assert raw[64:72] == b"ORBITCK1"
    assert raw[72:] == bytes(CHECKPOINT_FILE_SIZE - 72)
    assert decode_checkpoint(raw) == CheckpointData(1, 2, 3, 40, 48, 56)
    assert decode_checkpoint(b"") == CheckpointData()


def test_checkpoint_without_extension_has_unknown_offsets() -> None:
    java = struct.pack(">qqq", 1, 2, 3) + bytes(CHECKPOINT_FILE_SIZE - 24)  # Java's file
    assert decode_checkpoint(java) == CheckpointData(1, 2, 3, -1, -1, -1)


def test_checkpoint_min_timestamp() -> None:
    assert CheckpointData(10_000, 20_000, 0).min_timestamp == 7_000
    assert CheckpointData(1_000, 20_000, 0).min_timestamp == 0


def test_blank_marker_is_size_then_magic() -> None:
    assert encode_blank(100) == struct.pack(">ii", 100, BLANK_MAGIC_CODE)
    assert encode_blank(100).hex() == "00000064cbd43194"


def test_file_names() -> None:
    assert file_name(1073741824) == "00000000001073741824"
    assert parse_file_name("00000000001073741824") == 1073741824
    assert parse_file_name("abc") is None
    assert parse_file_name("0000000000107374182x") is None


def _record(**kwargs: object) -> bytearray:
    msg = MessageExt(
        topic="TopicTest",
        body=b"body-bytes",
        properties={"TAGS": "TagA", "KEYS": "k1 k2", "UNIQ_KEY": "ABC"},
        queue_id=3,
        queue_offset=7,
        commit_log_offset=4096,
        store_timestamp=1234,
        born_host=("10.0.0.1", 1),
        store_host=("10.0.0.2", 2),
    )
    for key, value in kwargs.items():
        setattr(msg, key, value)
    return encode_record(msg)


def test_check_record_extracts_dispatch_fields() -> None:
    raw = _record()
    kind, size, request = check_record(raw, 0, len(raw), check_crc=True)
    assert kind is RecordKind.MESSAGE and size == len(raw)
    assert request is not None
    assert request.topic == "TopicTest"
    assert request.queue_id == 3
    assert request.consume_queue_offset == 7
    assert request.commit_log_offset == 4096
    assert request.store_timestamp == 1234
    assert request.tags_code == tags_code("TagA")
    assert request.keys == "k1 k2"
    assert request.uniq_key == "ABC"
    assert request.enters_consume_queue


@pytest.mark.parametrize(
    "properties",
    [{"TAGS": "TagA"}, {"A": "1", "TAGS": "TagA"}, {"TAGS": "TagA", "B": "2"}],
)
def test_tags_found_anywhere_in_properties(properties: dict[str, str]) -> None:
    raw = _record(properties=properties)
    _, _, request = check_record(raw, 0, len(raw), check_crc=False)
    assert request is not None and request.tags_code == tags_code("TagA")


def test_tags_with_trailing_separator() -> None:
    # Java 4.x ends every pair, the last one too, with 0x02.
    msg = MessageExt(topic="TopicTest", body=b"b", born_host=("1.1.1.1", 1))
    raw = encode_record(msg, "TAGS\x01TagA\x02")
    _, _, request = check_record(raw, 0, len(raw), check_crc=True)
    assert request is not None and request.tags_code == tags_code("TagA")


def test_no_tags_means_code_zero() -> None:
    raw = _record(properties={"XTAGS": "nope"})
    _, _, request = check_record(raw, 0, len(raw), check_crc=False)
    assert request is not None and request.tags_code == 0


def test_ipv6_hosts_are_parsed() -> None:
    raw = _record(born_host=("::1", 5), store_host=("fe80::1", 6))
    kind, size, request = check_record(raw, 0, len(raw), check_crc=True)
    assert kind is RecordKind.MESSAGE and size == len(raw)
    assert request is not None
    assert request.sys_flag & (SysFlag.BORNHOST_V6 | SysFlag.STOREHOST_V6)
    assert request.store_timestamp == 1234


def test_prepared_transactions_do_not_enter_consume_queue() -> None:
    raw = _record(sys_flag=SysFlag.TRANSACTION_PREPARED)
    _, _, request = check_record(raw, 0, len(raw), check_crc=False)
    assert request is not None and not request.enters_consume_queue


def test_check_record_rejects_damage() -> None:
    raw = _record()
    body_at = 88  # 84 + bodyLength (IPv4 hosts)
    assert raw[body_at : body_at + 10] == b"body-bytes"
    damaged = bytearray(raw)
    damaged[body_at] ^= 0xFF
    assert check_record(damaged, 0, len(damaged), check_crc=True)[0] is RecordKind.CORRUPT
    assert check_record(damaged, 0, len(damaged), check_crc=False)[0] is RecordKind.MESSAGE
    # A declared size that disagrees with the fields.
    wrong_size = bytearray(raw) + bytes(8)
    struct.pack_into(">i", wrong_size, 0, len(raw) + 4)
    assert check_record(wrong_size, 0, len(wrong_size), check_crc=False)[0] is RecordKind.CORRUPT
    # Cut short.
    assert check_record(raw, 0, len(raw) - 1, check_crc=False)[0] is RecordKind.CORRUPT
    # Zeros: nothing written; a few stray bytes: corrupt.
    assert check_record(bytes(64), 0, 64, check_crc=False)[0] is RecordKind.END
    assert check_record(bytes(4) + b"\x01", 0, 5, check_crc=False)[0] is RecordKind.CORRUPT
    assert check_record(bytes(4), 0, 4, check_crc=False)[0] is RecordKind.END


def test_tail_cut_inside_topic_or_properties_is_torn() -> None:
    msg = MessageExt(topic="A", body=b"", properties={"K": "v"}, born_host=("1.1.1.1", 1))
    raw = encode_record(msg)
    assert raw.endswith(b"A\x00\x03K\x01v")
    cut_props = raw[:-1] + b"\x00"  # sizes add up, body CRC (empty body) still matches
    assert check_record(cut_props, 0, len(raw), check_crc=True)[0] is RecordKind.MESSAGE
    assert (
        check_record(cut_props, 0, len(raw), check_crc=True, torn_tail_checks=True)[0]
        is RecordKind.CORRUPT
    )
    no_props = encode_record(MessageExt(topic="A", body=b"", born_host=("1.1.1.1", 1)))
    cut_topic = no_props[:-3] + bytes(3)  # topic byte zeroed, empty properties
    assert check_record(cut_topic, 0, len(no_props), check_crc=True)[0] is RecordKind.CORRUPT


def test_check_record_blank() -> None:
    buf = bytes(10) + encode_blank(30) + bytes(22)
    assert check_record(buf, 10, len(buf), check_crc=True)[:2] == (RecordKind.BLANK, 30)


_PROPERTY_TEXT = st.text(
    alphabet=st.characters(blacklist_characters="\x00\x01\x02", blacklist_categories=["Cs"]),
    max_size=12,
)


@given(
    topic=st.text(alphabet="abcXYZ%_-0123456789", min_size=1, max_size=20),
    body=st.binary(max_size=64),
    tags=st.none() | _PROPERTY_TEXT,
    keys=st.none() | _PROPERTY_TEXT,
    extra=st.dictionaries(st.sampled_from(["A", "XTAGS", "TAGSX", "UNIQ"]), _PROPERTY_TEXT),
    sys_flag=st.sampled_from([0, SysFlag.TRANSACTION_PREPARED, SysFlag.TRANSACTION_COMMIT]),
    v6=st.booleans(),
)
def test_append_hint_equals_parsed_record(
    topic: str,
    body: bytes,
    tags: str | None,
    keys: str | None,
    extra: dict[str, str],
    sys_flag: int,
    v6: bool,
) -> None:
    """The request the append path hands to reput is exactly what parsing yields."""
    properties = dict(extra)
    if tags is not None:
        properties["TAGS"] = tags
    if keys is not None:
        properties["KEYS"] = keys
    msg = MessageExt(
        topic=topic,
        body=body,
        properties=properties,
        queue_id=5,
        queue_offset=11,
        commit_log_offset=777,
        store_timestamp=99,
        sys_flag=sys_flag,
        born_host=("::1", 1) if v6 else ("10.0.0.1", 1),
    )
    raw = encode_record(msg)
    kind, size, parsed = check_record(raw, 0, len(raw), check_crc=True)
    assert kind is RecordKind.MESSAGE and size == len(raw)
    assert dispatch_request_for(msg) == parsed
