"""get_message: the status table, tag filtering, scan and transfer limits, zero copy."""

from __future__ import annotations

import mmap
from pathlib import Path

import pytest

from orbitmq.protocol.message import decode_records, tags_code
from orbitmq.store import GetMessageStatus, MessageStore
from orbitmq.store.layout import CQ_UNIT

from .conftest import make_msg, put_all, small_config

S = GetMessageStatus


async def test_status_table(store: MessageStore) -> None:
    # Unknown or empty queue: NO_MESSAGE_IN_QUEUE with next 0 whatever was asked.
    for asked in (0, 5):
        got = store.get_message("TopicTest", 0, asked, 32)
        assert (got.status, got.next_begin_offset) == (S.NO_MESSAGE_IN_QUEUE, 0)
    await put_all(store, [make_msg(body=bytes([i])) for i in range(5)])

    cases = [
        (5, S.OFFSET_OVERFLOW_ONE, 5),  # caught up: long-poll here
        (9, S.OFFSET_OVERFLOW_BADLY, 5),
        (0, S.FOUND, 5),
        (3, S.FOUND, 5),
    ]
    for offset, status, next_begin in cases:
        got = store.get_message("TopicTest", 0, offset, 32)
        assert (got.status, got.next_begin_offset) == (status, next_begin), offset
        assert (got.min_offset, got.max_offset) == (0, 5)

    got = store.get_message("TopicTest", 0, 1, 2)
    assert got.status is S.FOUND
    assert got.message_count == 2 and got.next_begin_offset == 3
    assert [m.body for m in decode_records(got.body())] == [b"\x01", b"\x02"]
    assert got.buffer_total_size == len(got.body())


async def test_offset_too_small(store: MessageStore) -> None:
    await put_all(store, [make_msg() for _ in range(3)])
    cq = store._queues[("TopicTest", 0)]
    cq.min_logic_offset = 40  # as if the first two were expired
    got = store.get_message("TopicTest", 0, 1, 32)
    assert (got.status, got.next_begin_offset) == (S.OFFSET_TOO_SMALL, 2)


async def test_tag_filter(store: MessageStore) -> None:
    tags = ["A", "B", None, "A", "C", "A"]
    await put_all(store, [make_msg(tags=t, body=bytes([i])) for i, t in enumerate(tags)])
    wanted = {tags_code("A")}
    got = store.get_message("TopicTest", 0, 0, 32, lambda code: code in wanted)
    assert got.status is S.FOUND
    assert [m.body for m in decode_records(got.body())] == [b"\x00", b"\x03", b"\x05"]
    assert got.next_begin_offset == 6  # skipped units count as scanned
    got = store.get_message("TopicTest", 0, 1, 1, lambda code: code in wanted)
    assert got.message_count == 1 and got.next_begin_offset == 4
    none = store.get_message("TopicTest", 0, 0, 32, lambda code: code == tags_code("Z"))
    assert (none.status, none.next_begin_offset, none.buffers) == (S.NO_MATCHED_MESSAGE, 6, [])


async def test_scan_stops_at_segment_end(store: MessageStore) -> None:
    # 200-byte consume queue segments hold 10 units; a pull never crosses one.
    await put_all(store, [make_msg() for _ in range(15)])
    got = store.get_message("TopicTest", 0, 7, 32)
    assert got.message_count == 3 and got.next_begin_offset == 10
    got = store.get_message("TopicTest", 0, 10, 32)
    assert got.message_count == 5 and got.next_begin_offset == 15


async def test_scan_limit_of_800_units(tmp_path: Path) -> None:
    config = small_config(
        tmp_path, mapped_file_size_commit_log=1 << 20, mapped_file_size_consume_queue=20 * 2000
    )
    async with MessageStore(config) as store:
        await put_all(store, [make_msg(tags="skip", body=b"") for _ in range(900)])
        got = store.get_message("TopicTest", 0, 0, 32, lambda code: False)
        assert (got.status, got.next_begin_offset) == (S.NO_MATCHED_MESSAGE, 800)
        got = store.get_message("TopicTest", 0, 800, 32, lambda code: False)
        assert got.next_begin_offset == 900


async def test_transfer_limits(tmp_path: Path) -> None:
    config = small_config(
        tmp_path,
        mapped_file_size_commit_log=1 << 20,
        mapped_file_size_consume_queue=20 * 1000,
        max_transfer_bytes_on_message_in_memory=4000,
    )
    async with MessageStore(config) as store:
        await put_all(store, [make_msg(body=b"") for _ in range(40)])
        got = store.get_message("TopicTest", 0, 0, 64)
        assert got.message_count == 32  # in-memory count limit caps the request
        await put_all(store, [make_msg(body=b"b" * 1000) for _ in range(10)])
        got = store.get_message("TopicTest", 0, 40, 32)
        assert got.message_count == 3  # 4000-byte limit
        assert got.next_begin_offset == 43
        assert got.buffer_total_size <= 4000


async def test_one_oversized_record_is_still_returned(tmp_path: Path) -> None:
    config = small_config(
        tmp_path, mapped_file_size_commit_log=1 << 20, max_transfer_bytes_on_message_in_memory=100
    )
    async with MessageStore(config) as store:
        await put_all(store, [make_msg(body=b"b" * 500), make_msg()])
        got = store.get_message("TopicTest", 0, 0, 32)
        assert got.message_count == 1 and got.next_begin_offset == 1


async def test_buffers_are_slices_of_the_mapping(store: MessageStore) -> None:
    await put_all(store, [make_msg(body=b"zero-copy")])
    got = store.get_message("TopicTest", 0, 0, 32)
    (buf,) = got.buffers
    assert isinstance(buf, memoryview)
    assert isinstance(buf.obj, mmap.mmap)
    assert decode_records(buf)[0].body == b"zero-copy"
    got.release()
    assert got.buffers == []


@pytest.mark.parametrize("max_msg_nums", [1, 5, 32])
async def test_max_msg_nums(store: MessageStore, max_msg_nums: int) -> None:
    await put_all(store, [make_msg() for _ in range(8)])
    got = store.get_message("TopicTest", 0, 0, max_msg_nums)
    assert got.message_count == min(max_msg_nums, 8)
    assert store.statistics().get_message_found == got.message_count


async def test_a_unit_pointing_at_no_message_is_skipped(store: MessageStore) -> None:
    """Damage recovery did not look for (in an old unit) never reaches a client."""
    await put_all(store, [make_msg(body=b"m%d" % i) for i in range(4)])
    cq = store._queues[("TopicTest", 0)]
    offset, size, tags = cq.read_unit(1)  # type: ignore[misc]
    cq.queue.files[0].write_at(20, CQ_UNIT.pack(offset + 7, size, tags))  # unit 1 garbled
    got = store.get_message("TopicTest", 0, 0, 32)
    assert [m.body for m in decode_records(got.body())] == [b"m0", b"m2", b"m3"]
    assert got.next_begin_offset == 4
