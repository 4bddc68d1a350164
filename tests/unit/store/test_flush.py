"""Flushing: group commit under SYNC_FLUSH, timeouts, WAIT=false, periodic async flush."""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path

import pytest

from orbitmq.store import MessageStore, PutMessageStatus
from orbitmq.store.layout import decode_checkpoint
from orbitmq.store.mapped_file import MappedFile

from .conftest import commit_log_files, make_msg, small_config


async def _wait_for(condition: object, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.005)


async def test_sync_flush_group_commit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = small_config(
        tmp_path, flush_disk_type="SYNC_FLUSH", mapped_file_size_commit_log=1 << 20
    )
    synced: list[tuple[str, int]] = []
    real = MappedFile.fdatasync

    def spy(self: MappedFile) -> None:
        time.sleep(0.002)  # a real disk takes a while; puts pile up meanwhile
        real(self)
        synced.append((self.path, self.wrote_position))

    monkeypatch.setattr(MappedFile, "fdatasync", spy)
    async with MessageStore(config) as store:
        msgs = [make_msg(queue_id=i % 4, body=b"durable-%03d" % i) for i in range(200)]
        results = await asyncio.gather(*(store.put_message(m) for m in msgs))
        assert all(r.status is PutMessageStatus.PUT_OK for r in results)
        stats = store.statistics()
        assert 1 <= stats.commit_log_flush_count < 50  # 200 sends shared a few fsyncs
        end = max(r.append_result.wrote_offset + r.append_result.wrote_bytes for r in results)  # type: ignore[union-attr]
        assert stats.commit_log_flushed_offset >= end
        (path,) = commit_log_files(config)
        with open(path, "rb") as fh:
            data = fh.read(end)
        for msg in msgs:
            assert msg.body in data
        log_syncs = [position for synced_path, position in synced if synced_path == path]
        assert log_syncs and log_syncs[-1] >= end


async def test_sync_flush_waits_for_its_own_fsync(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = small_config(tmp_path, flush_disk_type="SYNC_FLUSH")
    released = threading.Event()
    real = MappedFile.fdatasync

    def gated(self: MappedFile) -> None:
        released.wait(5)
        real(self)

    monkeypatch.setattr(MappedFile, "fdatasync", gated)
    async with MessageStore(config) as store:
        task = asyncio.create_task(store.put_message(make_msg()))
        await asyncio.sleep(0.05)
        assert not task.done()  # stored, but not acknowledged before the fsync
        assert store.get_commit_log_max_offset() > 0
        released.set()
        assert (await task).status is PutMessageStatus.PUT_OK


async def test_flush_disk_timeout_keeps_the_message(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = small_config(tmp_path, flush_disk_type="SYNC_FLUSH", sync_flush_timeout_ms=30)
    real = MappedFile.fdatasync

    def slow(self: MappedFile) -> None:
        time.sleep(0.2)
        real(self)

    monkeypatch.setattr(MappedFile, "fdatasync", slow)
    async with MessageStore(config) as store:
        result = await store.put_message(make_msg(body=b"late"))
        assert result.status is PutMessageStatus.FLUSH_DISK_TIMEOUT
        assert result.append_result is not None
        assert "30 ms" in result.remark
        await store.wait_dispatched(store.get_commit_log_max_offset())
        assert store.get_message("TopicTest", 0, 0, 1).message_count == 1
        assert store.statistics().sync_flush_timeouts == 1


async def test_wait_false_returns_before_the_fsync(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = small_config(tmp_path, flush_disk_type="SYNC_FLUSH")
    released = threading.Event()
    real = MappedFile.fdatasync

    def gated(self: MappedFile) -> None:
        released.wait(5)
        real(self)

    monkeypatch.setattr(MappedFile, "fdatasync", gated)
    async with MessageStore(config) as store:
        result = await asyncio.wait_for(store.put_message(make_msg(WAIT="false")), 1)
        assert result.status is PutMessageStatus.PUT_OK
        released.set()
        end = store.get_commit_log_max_offset()
        await _wait_for(lambda: store.statistics().commit_log_flushed_offset >= end)


async def test_async_put_never_suspends(tmp_path: Path) -> None:
    async with MessageStore(small_config(tmp_path)) as store:
        coro = store.put_message(make_msg())
        with pytest.raises(StopIteration) as stop:
            coro.send(None)  # runs to completion in one step: no await on the hot path
        assert stop.value.value.status is PutMessageStatus.PUT_OK


async def test_async_flush_runs_in_background(tmp_path: Path) -> None:
    config = small_config(
        tmp_path,
        flush_interval_commit_log_ms=10,
        flush_commit_log_thorough_interval_ms=30,
        flush_interval_consume_queue_ms=10,
        flush_consume_queue_thorough_interval_ms=30,
    )
    async with MessageStore(config) as store:
        await store.put_message(make_msg())  # far below 4 dirty pages
        end = store.get_commit_log_max_offset()
        await _wait_for(lambda: store.statistics().commit_log_flushed_offset >= end)
        await _wait_for(lambda: store.statistics().consume_queue_flush_count > 0)
        assert store.statistics().commit_log_flush_count >= 1
        # The checkpoint is rewritten on each thorough consume-queue flush.
        await _wait_for(lambda: _checkpoint_written(config.checkpoint_path))


def _checkpoint_written(path: str) -> bool:
    with open(path, "rb") as fh:
        data = decode_checkpoint(fh.read())
    return data.physic_msg_timestamp > 0 and data.logics_msg_timestamp > 0


async def test_least_pages_holds_back_small_flushes(tmp_path: Path) -> None:
    config = small_config(
        tmp_path,
        mapped_file_size_commit_log=1 << 20,
        flush_interval_commit_log_ms=5,
        flush_commit_log_thorough_interval_ms=60_000,
    )
    async with MessageStore(config) as store:
        await store.put_message(make_msg())
        await asyncio.sleep(0.05)
        assert store.statistics().commit_log_flush_count == 0
        for _ in range(20):
            await store.put_message(make_msg(body=b"p" * 1000))  # > 4 pages
        await _wait_for(lambda: store.statistics().commit_log_flush_count >= 1)


async def test_injected_slow_disk_answers_flush_disk_timeout(tmp_path: Path) -> None:
    """The group commit is slower than syncFlushTimeout: FLUSH_DISK_TIMEOUT, message kept."""
    config = small_config(tmp_path, flush_disk_type="SYNC_FLUSH", sync_flush_timeout_ms=50)
    released = threading.Event()

    def slow_disk(files: list[MappedFile]) -> None:
        released.wait(5)  # the disk confirms only when the test says so
        for mapped in files:
            mapped.fdatasync()

    async with MessageStore(config, flush_sync=slow_disk) as store:
        results = await asyncio.gather(*(store.put_message(make_msg()) for _ in range(5)))
        assert {r.status for r in results} == {PutMessageStatus.FLUSH_DISK_TIMEOUT}
        assert all(r.append_result is not None for r in results)  # stored all the same
        assert store.statistics().sync_flush_timeouts == 5
        released.set()
        end = store.get_commit_log_max_offset()
        await _wait_for(lambda: store.statistics().commit_log_flushed_offset >= end)
        assert (await store.put_message(make_msg())).status is PutMessageStatus.PUT_OK
        await store.wait_dispatched(store.get_commit_log_max_offset())
        assert store.get_max_offset_in_queue("TopicTest", 0) == 6
        info = store.runtime_info()
        assert float(info["commitLogFlushTimeMillsMax"]) >= 40
        assert info["syncFlushTimeoutTimes"] == "5"


async def test_checkpoint_records_what_is_on_disk(tmp_path: Path) -> None:
    config = small_config(tmp_path, flush_interval_commit_log_ms=10)
    async with MessageStore(config) as store:
        for i in range(30):
            await store.put_message(make_msg(queue_id=i % 3, body=b"x" * 300))
        end = store.get_commit_log_max_offset()

        def on_disk() -> bool:
            with open(config.checkpoint_path, "rb") as fh:
                data = decode_checkpoint(fh.read())
            return data.physic_flushed_offset == end and data.logics_flushed_offset == end

        await _wait_for(on_disk)
