"""Restart after a clean close, after a crash, with torn and damaged tails; lock; layout."""

from __future__ import annotations

import asyncio
import os
import shutil
import struct
import subprocess
import sys
import textwrap
import time as time_module
from pathlib import Path

import pytest

from orbitmq.protocol.message import decode_records
from orbitmq.store import (
    MessageStore,
    MessageStoreConfig,
    StoreError,
    StoreLayoutError,
    StoreLockedError,
)
from orbitmq.store.errors import StoreClosedError
from orbitmq.store.layout import CheckpointData, decode_checkpoint
from orbitmq.store.recovery import abnormal_dispatch_start

from .conftest import commit_log_files, make_msg, put_all, small_config


async def _filled_store(config: MessageStoreConfig, count: int) -> tuple[MessageStore, list[int]]:
    store = MessageStore(config)
    await store.start()
    msgs = [make_msg(queue_id=i % 2, body=b"m%03d" % i + b"." * 150) for i in range(count)]
    offsets = await put_all(store, msgs)
    return store, offsets


def _bodies(store: MessageStore, queue_id: int) -> list[bytes]:
    out: list[bytes] = []
    offset = store.get_min_offset_in_queue("TopicTest", queue_id)
    while offset < store.get_max_offset_in_queue("TopicTest", queue_id):
        got = store.get_message("TopicTest", queue_id, offset, 32)
        out.extend(m.body[:4] for m in decode_records(got.body()))
        offset = got.next_begin_offset
    return out


def _expected(count: int, queue_id: int) -> list[bytes]:
    return [b"m%03d" % i for i in range(count) if i % 2 == queue_id]


def _patch(config: MessageStoreConfig, offset: int, data: bytes) -> None:
    """Overwrite bytes of the commit log at a global offset."""
    size = config.mapped_file_size_commit_log
    path = os.path.join(str(config.store_path_commit_log), f"{offset - offset % size:020d}")
    with open(path, "r+b") as fh:
        fh.seek(offset % size)
        fh.write(data)


async def test_restart_after_clean_close(config: MessageStoreConfig) -> None:
    store, _ = await _filled_store(config, 40)
    max_offset = store.get_commit_log_max_offset()
    await store.aclose()
    assert not os.path.exists(config.abort_path)
    with open(config.checkpoint_path, "rb") as fh:
        checkpoint = decode_checkpoint(fh.read())
    assert checkpoint.physic_msg_timestamp > 0 and checkpoint.logics_msg_timestamp > 0

    store = MessageStore(config)
    await store.start()
    try:
        assert os.path.exists(config.abort_path)
        assert store.get_commit_log_max_offset() == max_offset
        assert _bodies(store, 0) == _expected(40, 0)
        assert _bodies(store, 1) == _expected(40, 1)
        more = make_msg(queue_id=1)
        await put_all(store, [more])
        assert more.queue_offset == 20
        assert more.commit_log_offset >= max_offset
        stored = store.look_message_by_offset(more.commit_log_offset)
        assert stored is not None and stored.queue_offset == 20
    finally:
        await store.aclose()


async def test_restart_after_crash_keeps_everything(config: MessageStoreConfig) -> None:
    store, _ = await _filled_store(config, 30)
    await store._crash()
    assert os.path.exists(config.abort_path)
    async with MessageStore(config) as store:
        assert _bodies(store, 0) == _expected(30, 0)
        assert _bodies(store, 1) == _expected(30, 1)


async def test_torn_last_record_is_dropped(config: MessageStoreConfig) -> None:
    store, offsets = await _filled_store(config, 30)
    last = offsets[-1]
    end = store.get_commit_log_max_offset()
    await store._crash()
    torn = (end - last) // 2
    _patch(config, last + torn, bytes(end - last - torn))  # second half never hit disk

    async with MessageStore(config) as store:
        assert store.get_commit_log_max_offset() == last
        assert _bodies(store, 0) == _expected(29, 0)
        assert _bodies(store, 1) == _expected(29, 1)
        # The dropped record's queue offset and position are reused.
        again = make_msg(queue_id=1)
        await put_all(store, [again])
        assert again.queue_offset == 14
        assert again.commit_log_offset == last


async def test_flipped_body_byte_drops_the_damaged_tail(config: MessageStoreConfig) -> None:
    store, offsets = await _filled_store(config, 30)
    await store._crash()
    damaged = 25
    _patch(config, offsets[damaged] + 90, b"\xff")  # a body byte: CRC no longer matches

    async with MessageStore(config) as store:
        assert store.get_commit_log_max_offset() == offsets[damaged]
        assert _bodies(store, 0) == _expected(damaged, 0)
        assert _bodies(store, 1) == _expected(damaged, 1)
        assert store.look_message_by_offset(offsets[damaged]) is None


async def test_damage_in_an_earlier_segment_deletes_later_ones(
    config: MessageStoreConfig,
) -> None:
    store, offsets = await _filled_store(config, 60)
    await store._crash()
    files_before = commit_log_files(config)
    assert len(files_before) >= 3
    victim = next(i for i, o in enumerate(offsets) if o >= 4096)  # first record of segment 2
    _patch(config, offsets[victim], struct.pack(">i", 12345))  # bad TOTALSIZE

    async with MessageStore(config) as store:
        assert store.get_commit_log_max_offset() == 4096
        assert len(commit_log_files(config)) == 2
        assert _bodies(store, 0) == _expected(victim, 0)
        assert _bodies(store, 1) == _expected(victim, 1)


async def test_lost_consume_queue_pages_are_rebuilt_after_crash(
    config: MessageStoreConfig,
) -> None:
    store, _ = await _filled_store(config, 30)
    await store._crash()
    # The last consume-queue segment of queue 0 lost its data (OS crash before writeback).
    directory = os.path.join(config.consume_queue_dir, "TopicTest", "0")
    last = sorted(os.listdir(directory))[-1]
    with open(os.path.join(directory, last), "r+b") as fh:
        fh.write(bytes(200))

    async with MessageStore(config) as store:
        assert _bodies(store, 0) == _expected(30, 0)
        assert store.get_max_offset_in_queue("TopicTest", 0) == 15


async def test_units_beyond_the_log_end_are_dropped(config: MessageStoreConfig) -> None:
    store, offsets = await _filled_store(config, 10)
    await store._crash()
    # Wipe the commit log after record 6 entirely (consume queues still point there).
    size = config.mapped_file_size_commit_log
    for path in commit_log_files(config):
        start = int(os.path.basename(path))
        with open(path, "r+b") as fh:
            if start + size <= offsets[6]:
                continue
            cut = max(0, offsets[6] - start)
            fh.seek(cut)
            fh.write(bytes(size - cut))
    async with MessageStore(config) as store:
        assert store.get_max_offset_in_queue("TopicTest", 0) == 3
        assert store.get_max_offset_in_queue("TopicTest", 1) == 3


async def test_missing_commit_log_destroys_consume_queues(config: MessageStoreConfig) -> None:
    store, _ = await _filled_store(config, 5)
    await store.aclose()
    shutil.rmtree(str(config.store_path_commit_log))
    async with MessageStore(config) as store:
        assert store.topic_queue_ids() == {}
        assert (await store.put_message(make_msg())).append_result.queue_offset == 0  # type: ignore[union-attr]


async def test_second_store_on_same_directory_is_refused(config: MessageStoreConfig) -> None:
    async with MessageStore(config):
        with pytest.raises(StoreLockedError, match="another"):
            await MessageStore(config).start()
    async with MessageStore(config):
        pass  # the lock was released


async def test_segment_size_mismatch_is_a_layout_error(tmp_path: Path) -> None:
    config = small_config(tmp_path)
    async with MessageStore(config) as store:
        await put_all(store, [make_msg()])
    bigger = small_config(tmp_path, mapped_file_size_commit_log=8192)
    with pytest.raises(StoreLayoutError, match="4096 bytes"):
        await MessageStore(bigger).start()
    async with MessageStore(config):
        pass  # a failed start releases the lock


_KILLED_WRITER = textwrap.dedent(
    """
    import asyncio, sys, time
    from orbitmq.protocol.message import MessageExt
    from orbitmq.store import MessageStore, MessageStoreConfig

    async def main():
        cfg = MessageStoreConfig(sys.argv[1], mapped_file_size_commit_log=4096,
                                 mapped_file_size_consume_queue=200)
        store = MessageStore(cfg)
        await store.start()
        for i in range(50):
            msg = MessageExt(topic="TopicTest", body=b"k%03d" % i, queue_id=i % 2)
            assert (await store.put_message(msg)).is_ok
        await store.wait_dispatched(store.get_commit_log_max_offset())
        print("ready", flush=True)
        await asyncio.sleep(60)

    asyncio.run(main())
    """
)


async def test_sigkill_then_restart(tmp_path: Path) -> None:
    root = tmp_path / "killed"
    proc = subprocess.Popen(
        [sys.executable, "-c", _KILLED_WRITER, str(root)],
        stdout=subprocess.PIPE,
        cwd=str(Path(__file__).resolve().parents[3]),
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == b"ready"
    finally:
        proc.kill()
        proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()
    config = small_config(root)
    assert os.path.exists(config.abort_path)
    async with MessageStore(config) as store:
        assert store.get_max_offset_in_queue("TopicTest", 0) == 25
        assert store.get_max_offset_in_queue("TopicTest", 1) == 25
        got = store.get_message("TopicTest", 1, 0, 32)
        assert [m.body for m in decode_records(got.body())][:2] == [b"k001", b"k003"]


async def test_redispatch_from_the_start_changes_nothing(
    store: MessageStore, config: MessageStoreConfig
) -> None:
    await put_all(store, [make_msg(queue_id=i % 3, tags=str(i)) for i in range(40)])
    snapshot = _consume_queue_bytes(config)
    store._reput.reput_from_offset = 0  # as recovery after a crash may do
    store._reput.do_reput()
    assert _consume_queue_bytes(config) == snapshot
    assert [store.get_max_offset_in_queue("TopicTest", q) for q in range(3)] == [14, 13, 13]


def _consume_queue_bytes(config: MessageStoreConfig) -> dict[str, bytes]:
    out = {}
    for directory, _, names in os.walk(config.consume_queue_dir):
        for name in names:
            with open(os.path.join(directory, name), "rb") as fh:
                out[os.path.join(directory, name)] = fh.read()
    return out


async def test_lifecycle_misuse(config: MessageStoreConfig) -> None:
    store = MessageStore(config)
    with pytest.raises(StoreClosedError):
        await store.wait_dispatched(1)
    await store.start()
    with pytest.raises(StoreError, match="only once"):
        await store.start()
    waiter = asyncio.ensure_future(store.wait_dispatched(10**9))
    await asyncio.sleep(0)
    await store.aclose()
    with pytest.raises(StoreClosedError):
        await waiter
    await store.aclose()  # idempotent


async def test_abnormal_redispatch_starts_at_checkpoint_segment(
    store: MessageStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = [1_000_000]
    monkeypatch.setattr(time_module, "time_ns", lambda: clock[0] * 1_000_000)
    for i in range(12):  # ~1 KiB records: three or four per 4 KiB segment
        clock[0] = 1_000_000 + i * 10_000
        await store.put_message(make_msg(body=b"t" * 900))
    files = store.commit_log.queue.files
    assert len(files) >= 3
    first_stamps = [store.look_message_by_offset(f.file_from_offset) for f in files]
    second = first_stamps[1]
    assert second is not None
    # Safe time = min(physic, logics) - 3 s: just after segment 1's first record.
    safe = CheckpointData(second.store_timestamp + 3000, second.store_timestamp + 3500, 0)
    assert abnormal_dispatch_start(store.commit_log, safe) == files[1].file_from_offset
    assert abnormal_dispatch_start(store.commit_log, CheckpointData()) == 0
