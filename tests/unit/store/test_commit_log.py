"""Appending: round trip, segment roll with blank marker, batches, limits, timestamps."""

from __future__ import annotations

import itertools
import os
import struct

from orbitmq.protocol.message import (
    BLANK_MAGIC_CODE,
    MESSAGE_MAGIC_CODE,
    SysFlag,
    create_offset_msg_id,
    decode_record,
)
from orbitmq.store import MessageStore, MessageStoreConfig, PutMessageStatus

from .conftest import STORE_HOST, commit_log_files, make_msg, put_all


async def test_append_and_read_round_trip(store: MessageStore) -> None:
    msg = make_msg(body=b"payload", tags="TagA", KEYS="k1")
    result = await store.put_message(msg)
    assert result.status is PutMessageStatus.PUT_OK
    appended = result.append_result
    assert appended is not None
    assert appended.wrote_offset == 0
    assert appended.queue_offset == 0
    assert appended.message_count == 1
    assert appended.msg_ids == [create_offset_msg_id(STORE_HOST, 0)]
    assert appended.wrote_bytes == msg.store_size
    assert store.get_commit_log_max_offset() == appended.wrote_bytes

    stored = store.look_message_by_offset(0)
    assert stored is not None
    assert stored.body == b"payload"
    assert stored.tags == "TagA"
    assert stored.keys == ["k1"]
    assert stored.store_timestamp == appended.store_timestamp
    assert stored.commit_log_offset == 0
    assert stored.offset_msg_id == appended.msg_ids[0]


async def test_record_bytes_carry_assigned_offsets(store: MessageStore) -> None:
    await put_all(store, [make_msg(queue_id=1, body=b"a"), make_msg(queue_id=1, body=b"b")])
    got = store.get_message("TopicTest", 1, 0, 10)
    records = [bytes(b) for b in got.buffers]
    second_offset = len(records[0])
    assert struct.unpack_from(">q", records[1], 20)[0] == 1  # QUEUEOFFSET
    assert struct.unpack_from(">q", records[1], 28)[0] == second_offset  # PHYSICALOFFSET
    assert decode_record(records[1], check_crc=True).body == b"b"


async def test_segments_roll_with_blank_marker(
    store: MessageStore, config: MessageStoreConfig
) -> None:
    body = b"x" * 900  # ~1 KiB records: four fit in a 4 KiB segment, never exactly
    offsets = await put_all(store, [make_msg(body=body + bytes([i])) for i in range(10)])
    files = commit_log_files(config)
    assert [os.path.basename(f) for f in files] == [f"{i * 4096:020d}" for i in range(len(files))]
    assert len(files) >= 3
    for offset in offsets:
        # No record crosses a segment, and 8 bytes are always left for the marker.
        assert offset // 4096 == (offset + len(body) + 100) // 4096
    with open(files[0], "rb") as fh:
        first = fh.read()
    end = 0
    while True:
        size, magic = struct.unpack_from(">ii", first, end)
        if magic != MESSAGE_MAGIC_CODE:
            break
        end += size
    assert magic == BLANK_MAGIC_CODE
    assert size == 4096 - end
    assert offsets[len([o for o in offsets if o < 4096])] == 4096
    for i, offset in enumerate(offsets):
        stored = store.look_message_by_offset(offset)
        assert stored is not None and stored.body == body + bytes([i])
        assert stored.queue_offset == i


async def test_batch_is_one_append_and_rolls_together(store: MessageStore) -> None:
    await put_all(store, [make_msg(body=b"y" * 3000)])
    batch = [make_msg(body=b"z" * 300 + bytes([i])) for i in range(4)]
    result = await store.put_messages(batch)
    assert result.status is PutMessageStatus.PUT_OK
    appended = result.append_result
    assert appended is not None
    # The batch (~1.6 KiB) did not fit after the first record: all of it moved on.
    assert appended.wrote_offset == 4096
    assert appended.message_count == 4
    assert appended.queue_offset == 1
    assert appended.wrote_bytes == sum(m.store_size for m in batch)
    assert [m.queue_offset for m in batch] == [1, 2, 3, 4]
    positions = [m.commit_log_offset for m in batch]
    assert positions[0] == 4096
    gaps = [b - a for a, b in itertools.pairwise(positions)]
    assert gaps == [m.store_size for m in batch[:-1]]
    assert appended.msg_ids == [create_offset_msg_id(STORE_HOST, p) for p in positions]
    await store.wait_dispatched(store.get_commit_log_max_offset())
    assert store.get_max_offset_in_queue("TopicTest", 0) == 5


async def test_store_timestamps_never_decrease(store: MessageStore) -> None:
    msgs = [make_msg(queue_id=i % 2) for i in range(50)]
    await put_all(store, msgs)
    stamps = [m.store_timestamp for m in msgs]
    assert stamps == sorted(stamps)
    assert store.commit_log.last_store_timestamp == stamps[-1]


async def test_limits_are_checked_before_writing(tmp_path: object) -> None:
    from pathlib import Path

    config = MessageStoreConfig(
        str(Path(str(tmp_path)) / "s"),
        mapped_file_size_commit_log=64 * 1024,
        mapped_file_size_consume_queue=200,
        max_message_size=1000,
    )
    async with MessageStore(config) as store:
        cases = [
            (make_msg(topic="t" * 128), PutMessageStatus.MESSAGE_ILLEGAL, "128 bytes"),
            (make_msg(topic="a/b"), PutMessageStatus.MESSAGE_ILLEGAL, "directory"),
            (make_msg(body=b"b" * 1001), PutMessageStatus.MESSAGE_ILLEGAL, "1001"),
            (
                make_msg(BIG="v" * 40000),
                PutMessageStatus.PROPERTIES_SIZE_EXCEEDED,
                "32767",
            ),
        ]
        for msg, status, needle in cases:
            result = await store.put_message(msg)
            assert result.status is status
            assert needle in result.remark
            assert result.append_result is None
        batch = [make_msg(body=b"b" * 600), make_msg(body=b"b" * 600)]
        result = await store.put_messages(batch)
        assert result.status is PutMessageStatus.MESSAGE_ILLEGAL
        assert "1200" in result.remark
        mixed = [make_msg(queue_id=0), make_msg(queue_id=1)]
        assert (await store.put_messages(mixed)).status is PutMessageStatus.MESSAGE_ILLEGAL
        assert (await store.put_messages([])).status is PutMessageStatus.MESSAGE_ILLEGAL
        nul_end = await store.put_message(make_msg(K="v\x00"))
        assert nul_end.status is PutMessageStatus.MESSAGE_ILLEGAL
        assert "NUL" in nul_end.remark
        assert store.get_commit_log_max_offset() == 0
        assert store.statistics().put_message_failures == 8
        ok = await store.put_message(make_msg(topic="t" * 127, body=b"b" * 1000))
        assert ok.status is PutMessageStatus.PUT_OK


async def test_record_larger_than_a_segment_is_illegal(store: MessageStore) -> None:
    result = await store.put_message(make_msg(body=b"b" * 4000))
    assert result.status is PutMessageStatus.MESSAGE_ILLEGAL
    assert "4088 bytes one commit log segment" in result.remark


async def test_prepared_messages_take_no_queue_offset(store: MessageStore) -> None:
    half = make_msg()
    half.sys_flag = SysFlag.TRANSACTION_PREPARED
    normal = make_msg()
    await put_all(store, [make_msg(), half, normal])
    assert half.queue_offset == 0
    assert normal.queue_offset == 1
    assert store.get_max_offset_in_queue("TopicTest", 0) == 2
    committed = make_msg()
    committed.sys_flag = SysFlag.TRANSACTION_COMMIT
    await put_all(store, [committed])
    assert committed.queue_offset == 2
    assert store.get_max_offset_in_queue("TopicTest", 0) == 3


async def test_put_after_close_is_refused(config: MessageStoreConfig) -> None:
    store = MessageStore(config)
    assert (await store.put_message(make_msg())).status is PutMessageStatus.SERVICE_NOT_AVAILABLE
    await store.start()
    await store.aclose()
    assert (await store.put_message(make_msg())).status is PutMessageStatus.SERVICE_NOT_AVAILABLE


async def test_look_message_by_bad_offset(store: MessageStore) -> None:
    await put_all(store, [make_msg()])
    assert store.look_message_by_offset(3) is None
    assert store.look_message_by_offset(10**9) is None
