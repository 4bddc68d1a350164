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
    recovery,
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
    await store._crash(os_crash=True)
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
        await put_all(store, [make_msg(body=b"x" * 1500) for _ in range(4)])  # two segments
    bigger = small_config(tmp_path, mapped_file_size_commit_log=8192)
    with pytest.raises(StoreLayoutError, match="not contiguous"):
        await MessageStore(bigger).start()
    async with MessageStore(config):
        pass  # a failed start releases the lock
    # A single segment written bigger than now configured: refused too.
    big_root = tmp_path / "big"
    async with MessageStore(small_config(big_root, mapped_file_size_commit_log=8192)) as store:
        await put_all(store, [make_msg()])
    with pytest.raises(StoreLayoutError, match="8192 bytes"):
        await MessageStore(small_config(big_root)).start()


async def test_short_last_segment_is_extended_and_its_cut_record_dropped(
    config: MessageStoreConfig,
) -> None:
    store, offsets = await _filled_store(config, 10)
    await store.aclose()
    last = commit_log_files(config)[-1]
    cut = offsets[-1] % config.mapped_file_size_commit_log + 50  # inside the last record
    os.truncate(last, cut)
    async with MessageStore(config) as store:
        assert os.path.getsize(last) == config.mapped_file_size_commit_log
        assert store.get_commit_log_max_offset() == offsets[-1]
        assert _bodies(store, 0) == _expected(9, 0)
        assert _bodies(store, 1) == _expected(9, 1)


_KILLED_WRITER = textwrap.dedent(
    """
    import asyncio, sys, time
    from orbitmq.protocol.message import MessageExt
    from orbitmq.store import MessageStore, MessageStoreConfig

    async def main():
        cfg = MessageStoreConfig(sys.argv[1], mapped_file_size_commit_log=4096,
                                 mapped_file_size_consume_queue=200,
                                 max_hash_slot_num=64, max_index_num=256)
        store = MessageStore(cfg)
        await store.start()
        for i in range(50):
            msg = MessageExt(topic="TopicTest", body=b"k%03d" % i, queue_id=i % 2,
                             properties={"KEYS": "k%d" % i})
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
        assert store.recovery is not None and store.recovery.abnormal
        assert not store.recovery.system_crash  # same boot: only the process died
        found = store.query_message("TopicTest", "k49", 32, 0, 2**63 - 1)
        assert [m.body for m in decode_records(found.body())] == [b"k049"]


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


@pytest.mark.parametrize("crash", [False, True])
async def test_restart_checks_only_the_end_of_the_log(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, crash: bool
) -> None:
    """After a clean stop, or when only the process died, recovery re-checks about
    `_VERIFY_WINDOW` bytes before the newest dispatched record, whatever the store size."""
    monkeypatch.setattr(recovery, "_VERIFY_WINDOW", 2000)
    config = small_config(tmp_path)
    store, offsets = await _filled_store(config, 120)  # ~30 segments of 4 KiB
    if crash:
        await store._crash()
    else:
        await store.aclose()
    async with MessageStore(config) as store:
        report = store.recovery
        assert report is not None and report.abnormal is crash and not report.system_crash
        # The check starts at a record of the newest queue (every other record here)
        # just before the window: 2000 bytes plus less than two records.
        record = offsets[1] - offsets[0]
        assert report.verified_from in offsets
        assert 2000 <= report.verified_bytes < 2000 + 2 * record
        assert report.redispatched_bytes == 0
        assert _bodies(store, 1) == _expected(120, 1)


async def test_os_crash_restart_checks_from_the_flushed_offset(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(recovery, "_VERIFY_WINDOW", 100)
    config = small_config(
        tmp_path,
        flush_commit_log_least_pages=10_000,  # the services never flush on their own
        flush_commit_log_thorough_interval_ms=3_600_000,
        flush_interval_consume_queue_ms=3_600_000,
    )
    store, _ = await _filled_store(config, 60)
    assert store._flusher is not None and store._cq_flusher is not None
    await store._flusher.flush()
    await store._cq_flusher.flush(0)  # writes the checkpoint
    flushed = store.get_commit_log_max_offset()
    await put_all(store, [make_msg(queue_id=i % 2, body=b"n%03d" % i) for i in range(5)])
    end = store.get_commit_log_max_offset()
    await store._crash(os_crash=True)
    async with MessageStore(config) as store:
        report = store.recovery
        assert report is not None and report.abnormal and report.system_crash
        assert report.verified_from == flushed
        assert report.verified_bytes == end - flushed
        assert report.reput_from == flushed  # units after it may not be on disk
        assert store.get_max_offset_in_queue("TopicTest", 0) == 33


async def test_damaged_last_records_after_a_clean_stop(
    config: MessageStoreConfig, caplog: pytest.LogCaptureFixture
) -> None:
    store, offsets = await _filled_store(config, 30)
    await store.aclose()
    for i in (27, 28, 29):  # flipped bytes in the bodies of the last three records
        _patch(config, offsets[i] + 95, b"\xaa\x55")
    async with MessageStore(config) as store:
        assert store.get_commit_log_max_offset() == offsets[27]
        assert _bodies(store, 0) == _expected(27, 0)
        assert _bodies(store, 1) == _expected(27, 1)
        assert store.get_max_offset_in_queue("TopicTest", 1) == 13
    assert f"body CRC mismatch at offset {offsets[27]}" in caplog.text


@pytest.mark.parametrize("damage", ["wrong_size", "emptied", "garbage_tail", "middle_gap"])
async def test_damaged_consume_queue_is_rebuilt(config: MessageStoreConfig, damage: str) -> None:
    store, _ = await _filled_store(config, 60)  # 30 units per queue: 3 segments each
    await store.aclose()
    directory = os.path.join(config.consume_queue_dir, "TopicTest", "0")
    names = sorted(os.listdir(directory))
    assert len(names) == 3
    if damage == "wrong_size":
        os.truncate(os.path.join(directory, names[-1]), 70)
    elif damage == "emptied":
        for name in names:
            os.unlink(os.path.join(directory, name))
    elif damage == "garbage_tail":
        with open(os.path.join(directory, names[-1]), "r+b") as fh:
            fh.seek(100)
            fh.write(os.urandom(100))
    else:
        os.unlink(os.path.join(directory, names[1]))
    async with MessageStore(config) as store:
        assert _bodies(store, 0) == _expected(60, 0)
        assert _bodies(store, 1) == _expected(60, 1)
        assert store.get_max_offset_in_queue("TopicTest", 0) == 30
        more = make_msg(queue_id=0)
        await put_all(store, [more])
        assert more.queue_offset == 30
