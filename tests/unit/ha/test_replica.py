"""A slave's commit log fed with a master's bytes, frame by frame (no network).

Frames are cut the way the master cuts them (CommitLog.read_data) but in odd sizes, so
records are split across frames; the slave's reput must wait at a partial tail quietly
and build the same consume queues as the master.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from orbitmq.ha.slave import ReplicaDivergedError, apply_frame
from orbitmq.ha.wire import TransferFrame, transfer_start_offset
from orbitmq.store import MessageStore, StoreError
from tests.unit.store.conftest import make_msg, put_all, small_config

FILE_SIZE = 4096


@pytest.fixture
async def master(tmp_path: Path) -> AsyncIterator[MessageStore]:
    store = MessageStore(small_config(tmp_path / "master"))
    await store.start()
    try:
        yield store
    finally:
        await store.aclose()


@pytest.fixture
async def slave(tmp_path: Path) -> AsyncIterator[MessageStore]:
    store = MessageStore(small_config(tmp_path / "slave"))
    await store.start()
    try:
        yield store
    finally:
        await store.aclose()


async def fill(master: MessageStore, count: int) -> None:
    # Bodies of varying size, two queues, enough to roll several 4 KiB segments.
    await put_all(
        master,
        [
            make_msg(queue_id=i % 2, body=bytes([65 + i % 26]) * (40 + 37 * i % 300), tags="T")
            for i in range(count)
        ],
    )


def copy(
    master: MessageStore, slave: MessageStore, start: int, chunk: int, end: int | None = None
) -> int:
    """Push the master's bytes from `start` (to `end`) in frames of at most `chunk`;
    returns where it stopped."""
    offset = start
    while end is None or offset < end:
        limit = chunk if end is None else min(chunk, end - offset)
        data = master.commit_log.read_data(offset, limit)
        if not data:
            break
        apply_frame(slave, TransferFrame(offset, bytes(data)))
        offset += len(data)
    return offset


def queue_bytes(store: MessageStore, queue_id: int, start: int) -> bytes:
    result = store.get_message("TopicTest", queue_id, start, 1000)
    return result.body()


async def test_split_records_build_the_same_queues(
    master: MessageStore, slave: MessageStore, caplog: pytest.LogCaptureFixture
) -> None:
    await fill(master, 60)
    max_offset = master.get_commit_log_max_offset()
    assert max_offset > 3 * FILE_SIZE  # records end segments with blank markers
    start = 0
    with caplog.at_level(logging.WARNING):
        for chunk in (1, 7, 13, 333, 1000):
            # Stop anywhere; reput runs against the partial tail in between.
            for _ in range(40):
                start = copy(master, slave, start, chunk, start + chunk)
                await asyncio.sleep(0)
                await asyncio.sleep(0)
        assert copy(master, slave, start, 1000) == max_offset
        await slave.wait_dispatched(max_offset)
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert slave.get_commit_log_max_offset() == max_offset
    for queue_id in (0, 1):
        assert slave.get_max_offset_in_queue("TopicTest", queue_id) == (
            master.get_max_offset_in_queue("TopicTest", queue_id)
        )
        assert queue_bytes(slave, queue_id, 0) == queue_bytes(master, queue_id, 0) != b""


async def test_empty_slave_gets_the_last_segment(master: MessageStore, slave: MessageStore) -> None:
    await fill(master, 60)
    max_offset = master.get_commit_log_max_offset()
    start = transfer_start_offset(0, max_offset, FILE_SIZE)
    assert start == max_offset - max_offset % FILE_SIZE > 0
    assert copy(master, slave, start, 1000) == max_offset
    await slave.wait_dispatched(max_offset)
    assert slave.get_commit_log_min_offset() == start
    for queue_id in (0, 1):
        first = slave.get_min_offset_in_queue("TopicTest", queue_id)
        assert first < slave.get_max_offset_in_queue("TopicTest", queue_id)
        assert queue_bytes(slave, queue_id, first) == queue_bytes(master, queue_id, first)


async def test_frame_for_another_offset_is_refused(
    master: MessageStore, slave: MessageStore
) -> None:
    await fill(master, 5)
    end = copy(master, slave, 0, 100)
    with pytest.raises(ReplicaDivergedError):
        apply_frame(slave, TransferFrame(end - 10, b"x" * 10))
    with pytest.raises(ReplicaDivergedError):
        apply_frame(slave, TransferFrame(end + 10, b""))  # a heartbeat too
    assert slave.get_commit_log_max_offset() == end


async def test_empty_slave_starts_only_at_a_segment_boundary(slave: MessageStore) -> None:
    with pytest.raises(StoreError):
        apply_frame(slave, TransferFrame(100, b"x"))
    assert slave.get_commit_log_max_offset() == 0


async def test_resume_offset_cuts_a_partial_record(
    master: MessageStore, slave: MessageStore
) -> None:
    await fill(master, 3)
    boundary = master.commit_log.record_size_at(0)
    apply_frame(slave, TransferFrame(0, bytes(master.commit_log.read_data(0, boundary + 50))))
    assert slave.get_commit_log_max_offset() == boundary + 50
    assert not master.commit_log.is_record_start(boundary + 50)

    resume = slave.replication_resume_offset()

    assert resume == boundary == slave.get_commit_log_max_offset()
    assert master.commit_log.is_record_start(resume)
    # The rest arrives again and fits exactly.
    assert copy(master, slave, resume, 64) == master.get_commit_log_max_offset()
    await slave.wait_dispatched(slave.get_commit_log_max_offset())
    assert queue_bytes(slave, 0, 0) == queue_bytes(master, 0, 0)


async def test_resume_offset_after_a_partly_received_end_of_file_marker(
    master: MessageStore, slave: MessageStore
) -> None:
    await fill(master, 40)
    # The first segment ends with a blank marker; send it but not all of its padding.
    marker_end = _blank_marker_position(master) + 8
    assert marker_end < FILE_SIZE
    assert copy(master, slave, 0, 512, marker_end) == marker_end
    assert slave.get_commit_log_max_offset() == marker_end

    resume = slave.replication_resume_offset()

    assert resume == FILE_SIZE
    assert master.commit_log.is_record_start(resume)
    assert copy(master, slave, resume, 700) == master.get_commit_log_max_offset()


def _blank_marker_position(store: MessageStore) -> int:
    offset = 0
    while (size := store.commit_log.record_size_at(offset)) > 0:
        offset += size
    return offset


async def test_record_starts_are_recognised(master: MessageStore) -> None:
    await fill(master, 10)
    log = master.commit_log
    offset = 0
    starts = set()
    while offset < log.max_offset:
        starts.add(offset)
        size = log.record_size_at(offset)
        offset = offset + size if size else log.roll_next_file(offset)
    assert log.is_record_start(log.max_offset)
    for position in range(0, log.max_offset, 3):
        assert log.is_record_start(position) == (position in starts or position % FILE_SIZE == 0)
    assert not log.is_record_start(log.max_offset + 1)
