"""Retention (deleteWhen, fileReservedTime, disk ratios) and disk-full protection."""

from __future__ import annotations

import errno
import os
import time
from pathlib import Path
from typing import Any

import pytest

from orbitmq.protocol.message import decode_records
from orbitmq.store import GetMessageStatus, MessageStore, PutMessageStatus
from orbitmq.store.retention import parse_delete_when

from .conftest import commit_log_files, make_msg, put_all, small_config

EVERY_HOUR = ";".join(f"{h:02d}" for h in range(24))


def test_parse_delete_when() -> None:
    assert parse_delete_when("04") == {4}
    assert parse_delete_when("04;16") == {4, 16}
    assert parse_delete_when(" 4 ; 25;x;") == {4}
    assert len(parse_delete_when(EVERY_HOUR)) == 24


async def _store_with_segments(tmp_path: Path, **overrides: Any) -> tuple[MessageStore, list[int]]:
    values: dict[str, Any] = {
        "file_reserved_time_hours": 1,
        "delete_commit_log_files_interval_ms": 0,
        "delete_consume_queue_files_interval_ms": 0,
        "clean_resource_interval_ms": 3_600_000,  # rounds run by hand below
        "max_index_num": 9,  # several index files too
    }
    values.update(overrides)
    store = MessageStore(small_config(tmp_path, **values))
    await store.start()
    store.clean_service.used_ratio = lambda path: 0.5
    msgs = [
        make_msg(queue_id=i % 2, body=b"r%03d" % i + b"." * 900, KEYS=f"k{i}") for i in range(16)
    ]
    offsets = await put_all(store, msgs)  # ~1 KiB records: 4 segments of 4 KiB
    assert len(store.commit_log.queue.files) == 4
    return store, offsets


def _age(paths: list[str], hours: float) -> None:
    stamp = time.time() - hours * 3600
    for path in paths:
        os.utime(path, (stamp, stamp))


def _bodies(store: MessageStore, queue_id: int) -> list[bytes]:
    start = store.get_min_offset_in_queue("TopicTest", queue_id)
    got = store.get_message("TopicTest", queue_id, start, 32)
    return [m.body[:4] for m in decode_records(got.body())]


async def test_expired_segments_go_at_the_delete_hour(tmp_path: Path) -> None:
    store, offsets = await _store_with_segments(
        tmp_path, delete_when=EVERY_HOUR, mapped_file_size_consume_queue=100
    )
    try:
        files = commit_log_files(store.config)
        _age(files, 2)  # all older than fileReservedTime, the newest included
        result = await store.clean_service.run_once()
        assert result.commit_log_files == 3  # never the segment being written
        assert commit_log_files(store.config) == files[-1:]
        new_min = store.get_commit_log_min_offset()
        assert new_min == 3 * 4096
        # Consume queues follow: whole segments below the new min go, min offsets move.
        kept = [i for i, o in enumerate(offsets) if o >= new_min]
        assert result.consume_queue_files >= 1 and result.index_files >= 1
        for queue_id in (0, 1):
            first_kept = min(i for i in kept if i % 2 == queue_id)
            assert store.get_min_offset_in_queue("TopicTest", queue_id) == first_kept // 2
            assert _bodies(store, queue_id)[0] == b"r%03d" % first_kept
            below = store.get_message("TopicTest", queue_id, 0, 32)
            assert below.status is GetMessageStatus.OFFSET_TOO_SMALL
            assert below.next_begin_offset == first_kept // 2
            # Searching by time never lands on a deleted message.
            assert store.get_offset_in_queue_by_time("TopicTest", queue_id, 0) == first_kept // 2
            assert store.get_earliest_message_time("TopicTest", queue_id) > 0
        assert all(f.header.end_phy_offset >= new_min for f in store.index.files[:-1])  # type: ignore[union-attr]
        # New writes carry on at the end.
        await put_all(store, [make_msg(queue_id=0, body=b"late")])
    finally:
        await store.aclose()


async def test_young_segments_are_kept(tmp_path: Path) -> None:
    store, _ = await _store_with_segments(tmp_path, delete_when=EVERY_HOUR)
    try:
        files = commit_log_files(store.config)
        _age(files[:1], 2)
        assert (await store.clean_service.run_once()).commit_log_files == 1
        assert commit_log_files(store.config) == files[1:]
    finally:
        await store.aclose()


async def test_outside_delete_hours_nothing_goes_while_disk_has_room(tmp_path: Path) -> None:
    hour = (time.localtime().tm_hour + 12) % 24
    store, _ = await _store_with_segments(tmp_path, delete_when=f"{hour:02d}")
    try:
        _age(commit_log_files(store.config), 2)
        assert (await store.clean_service.run_once()).commit_log_files == 0
        # Above diskMaxUsedSpaceRatio expired files go at any hour.
        store.clean_service.used_ratio = lambda path: 0.80
        assert (await store.clean_service.run_once()).commit_log_files == 3
    finally:
        await store.aclose()


async def test_nearly_full_disk_deletes_regardless_of_age(tmp_path: Path) -> None:
    hour = (time.localtime().tm_hour + 12) % 24
    store, _ = await _store_with_segments(
        tmp_path, delete_when=f"{hour:02d}", delete_file_batch_max=2
    )
    try:
        store.clean_service.used_ratio = lambda path: 0.87  # above the forced clean ratio
        assert (await store.clean_service.run_once()).commit_log_files == 2  # batch max
        assert len(commit_log_files(store.config)) == 2
        assert store.not_writable_reason() is None  # below the warning level: writable
    finally:
        await store.aclose()


async def test_full_disk_refuses_writes_and_keeps_reads(tmp_path: Path) -> None:
    store, _ = await _store_with_segments(tmp_path, clean_file_forcibly_enable=False)
    try:
        clean = store.clean_service
        clean.used_ratio = lambda path: 0.93
        clean.check_disk()
        result = await store.put_message(make_msg(body=b"refused"))
        assert result.status is PutMessageStatus.SERVICE_NOT_AVAILABLE
        assert result.append_result is None
        assert "disk is full" in result.remark and "93.0%" in result.remark
        assert _bodies(store, 0)[:2] == [b"r000", b"r002"]  # reads go on
        assert len(commit_log_files(store.config)) == 4  # nothing forced away
        clean.used_ratio = lambda path: 0.88  # between the two ratios: still full
        clean.check_disk()
        assert store.not_writable_reason() is not None
        clean.used_ratio = lambda path: 0.70
        clean.check_disk()
        assert (await store.put_message(make_msg(body=b"ok"))).is_ok
    finally:
        await store.aclose()


async def test_no_blocks_left_refuses_the_put_cleanly(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = small_config(tmp_path)
    store = MessageStore(config)
    await store.start()
    offsets = await put_all(store, [make_msg(body=b"a" * 900) for _ in range(3)])
    end = store.get_commit_log_max_offset()
    real = os.posix_fallocate

    def no_space(fd: int, offset: int, length: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "posix_fallocate", no_space)
    try:
        # The next record needs a new segment, whose blocks cannot be had.
        result = await store.put_message(make_msg(body=b"b" * 2000))
        assert result.status is PutMessageStatus.SERVICE_NOT_AVAILABLE
        assert "disk is full" in result.remark
        assert store.get_message("TopicTest", 0, 0, 32).message_count == 3
        monkeypatch.setattr(os, "posix_fallocate", real)
        again = await store.put_message(make_msg(body=b"c" * 2000))
        assert again.is_ok and again.append_result is not None
        assert again.append_result.wrote_offset >= end
        await store.wait_dispatched(store.get_commit_log_max_offset())
    finally:
        monkeypatch.setattr(os, "posix_fallocate", real)
        await store.aclose()
    async with MessageStore(config) as store:
        got = store.get_message("TopicTest", 0, 0, 32)
        assert [m.body[:1] for m in decode_records(got.body())] == [b"a", b"a", b"a", b"c"]
        assert offsets[0] == 0


async def test_dispatch_without_space_blocks_writes_until_it_resumes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = small_config(tmp_path)
    async with MessageStore(config) as store:
        real = os.posix_fallocate
        calls: list[str] = []

        def no_space_for_queues(fd: int, offset: int, length: int) -> None:
            path = os.readlink(f"/proc/self/fd/{fd}")
            calls.append(path)
            if "consumequeue" in path:
                raise OSError(errno.ENOSPC, "No space left on device")
            real(fd, offset, length)

        monkeypatch.setattr(os, "posix_fallocate", no_space_for_queues)
        assert (await store.put_message(make_msg(topic="NewTopic"))).is_ok  # in the log
        deadline = time.monotonic() + 5
        while store.not_writable_reason() is None:
            assert time.monotonic() < deadline
            await _tick()
        assert "consume queues" in (store.not_writable_reason() or "")
        refused = await store.put_message(make_msg(topic="NewTopic"))
        assert refused.status is PutMessageStatus.SERVICE_NOT_AVAILABLE
        monkeypatch.setattr(os, "posix_fallocate", real)
        await store.wait_dispatched(store.get_commit_log_max_offset())  # retried in 1 s
        assert store.get_max_offset_in_queue("NewTopic", 0) == 1
        assert store.not_writable_reason() is None


async def _tick() -> None:
    import asyncio

    await asyncio.sleep(0.01)
