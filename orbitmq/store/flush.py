"""Flushing to disk: group commit (SYNC_FLUSH), periodic flush (ASYNC_FLUSH), CQ flush.

fdatasync runs in the store's executor thread so the event loop keeps serving sends and
pulls meanwhile. A flush snapshots each dirty segment's write position first and marks
only that much as flushed afterwards, so appends racing with the fsync are never
reported durable too early.

Group commit (GroupCommitService): a SYNC_FLUSH put registers (end offset, callback) and
wakes the flusher. Each round flushes everything written so far with one fdatasync per
dirty segment, then completes every waiter whose end offset is covered. Puts arriving
while an fsync is in flight are all covered by the next round, so many sends share one
fsync. A waiter is answered False after sync_flush_timeout_ms (FLUSH_DISK_TIMEOUT; the message
stays stored).

The consume-queue flusher also syncs the index files (on thorough rounds and when a
file fills up) and, after each round, rewrites the checkpoint with the offsets below
which commit log, consume queues and index are known to be on disk (recovery starts
there). `sync` (the blocking fdatasync of a list of files) can be replaced, e.g. by a
test that simulates a slow disk.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from concurrent.futures import Executor

from orbitmq.store.checkpoint import StoreCheckpoint
from orbitmq.store.commit_log import CommitLog
from orbitmq.store.config import MessageStoreConfig
from orbitmq.store.consume_queue import ConsumeQueue
from orbitmq.store.errors import StoreError
from orbitmq.store.index_service import IndexService
from orbitmq.store.mapped_file import MappedFile
from orbitmq.store.offset_waiters import OffsetWaiters, WaiterCallback

log = logging.getLogger(__name__)

_ERROR_BACKOFF_S = 0.1


def _fdatasync_all(files: list[MappedFile]) -> None:
    for mapped in files:
        mapped.fdatasync()


def _able_to_flush(files: list[MappedFile], least_pages: int) -> bool:
    """RocketMQ's isAbleToFlush over a queue's dirty segments."""
    if not files:
        return False
    if least_pages <= 0 or len(files) > 1 or files[0].is_full:
        return True
    return files[0].dirty_pages() >= least_pages


SyncFunction = Callable[[list[MappedFile]], None]


async def flush_files(
    loop: asyncio.AbstractEventLoop,
    executor: Executor,
    files: list[MappedFile],
    sync: SyncFunction = _fdatasync_all,
) -> None:
    snapshot = [(mapped, mapped.wrote_position) for mapped in files]
    await loop.run_in_executor(executor, sync, files)
    for mapped, position in snapshot:
        if position > mapped.flushed_position:
            mapped.flushed_position = position


class CommitLogFlusher:
    def __init__(
        self,
        commit_log: CommitLog,
        config: MessageStoreConfig,
        executor: Executor,
        checkpoint: StoreCheckpoint,
        sync: SyncFunction = _fdatasync_all,
    ) -> None:
        self.commit_log = commit_log
        self.config = config
        self.executor = executor
        self.checkpoint = checkpoint
        self.sync = sync
        self.flushed_offset = 0
        self.flush_count = 0
        self.flush_seconds_total = 0.0  # time spent in fsync rounds
        self.flush_seconds_max = 0.0
        self.flush_seconds_last = 0.0
        self.wake = asyncio.Event()
        self._waiters = OffsetWaiters(config.sync_flush_timeout_ms / 1000)

    async def flush(self, least_pages: int = 0) -> bool:
        """Flush written data if enough is dirty; True if an fsync round ran."""
        files = self.commit_log.queue.dirty_files()
        if not files:
            self.flushed_offset = max(self.flushed_offset, self.commit_log.max_offset)
            return False
        if not _able_to_flush(files, least_pages):
            return False
        target = self.commit_log.max_offset
        stamp = self.commit_log.last_store_timestamp
        started = time.monotonic()
        await flush_files(asyncio.get_running_loop(), self.executor, files, self.sync)
        elapsed = time.monotonic() - started
        self.flush_count += 1
        self.flush_seconds_total += elapsed
        self.flush_seconds_last = elapsed
        self.flush_seconds_max = max(self.flush_seconds_max, elapsed)
        if target > self.flushed_offset:
            self.flushed_offset = target
        self.checkpoint.physic_msg_timestamp = max(self.checkpoint.physic_msg_timestamp, stamp)
        self.checkpoint.physic_flushed_offset = self.commit_log.queue.flushed_where()
        return True

    def add_waiter(self, offset: int, callback: WaiterCallback) -> None:
        """Call `callback(True)` once the commit log is on disk up to `offset`, or
        `callback(False)` after syncFlushTimeout (even if an fsync hangs meanwhile)."""
        if self.flushed_offset >= offset:
            callback(True)
            return
        self._waiters.add(offset, callback)
        self.wake.set()

    def complete_waiters(self) -> None:
        self._waiters.advance(self.flushed_offset)

    async def group_commit_service(self) -> None:
        """SYNC_FLUSH background task."""
        while True:
            await self.wake.wait()
            self.wake.clear()
            try:
                await self.flush()
            except OSError:
                log.exception("commit log flush failed; waiters will time out")
                await asyncio.sleep(_ERROR_BACKOFF_S)
                continue
            self.complete_waiters()

    async def flush_service(self) -> None:
        """ASYNC_FLUSH background task: every interval if enough pages, all periodically."""
        interval = self.config.flush_interval_commit_log_ms / 1000
        thorough = self.config.flush_commit_log_thorough_interval_ms / 1000
        last_thorough = time.monotonic()
        while True:
            await asyncio.sleep(interval)
            least = self.config.flush_commit_log_least_pages
            now = time.monotonic()
            if now - last_thorough >= thorough:
                least, last_thorough = 0, now
            try:
                await self.flush(least)
            except OSError:
                log.exception("commit log flush failed")


class ConsumeQueueFlusher:
    """Consume queues every interval (least pages), everything on thorough rounds;
    index files on thorough rounds and once full; then the checkpoint."""

    def __init__(
        self,
        queues: dict[tuple[str, int], ConsumeQueue],
        config: MessageStoreConfig,
        executor: Executor,
        checkpoint: StoreCheckpoint,
        dispatched: Callable[[], tuple[int, int]],
        index: IndexService | None = None,
    ) -> None:
        self.queues = queues
        self.config = config
        self.executor = executor
        self.checkpoint = checkpoint
        self.index = index
        self.flush_count = 0
        self.index_flush_count = 0
        # (reput offset, store time of the last record dispatched) right now.
        self._dispatched = dispatched
        self._persisted = checkpoint.data()  # what the file holds

    async def flush(
        self, least_pages: int = 0, *, index: bool = True, write_checkpoint: bool = True
    ) -> None:
        """Flush consume queues with at least `least_pages` dirty, index files (all if
        `index`, else only full ones), then rewrite the checkpoint if it changed."""
        dispatched, stamp = self._dispatched()  # every record below has its units written
        files: list[MappedFile] = []
        for cq in list(self.queues.values()):
            dirty = cq.queue.dirty_files()
            if _able_to_flush(dirty, least_pages):
                files.extend(dirty)
        loop = asyncio.get_running_loop()
        if files:
            await flush_files(loop, self.executor, files)
            self.flush_count += 1
        index_through = await self._flush_index(loop, thorough=index)
        # Units of records below `dispatched` are on disk, except in queues still
        # holding back unflushed pages (least pages).
        durable = dispatched
        for cq in list(self.queues.values()):
            pending = cq.first_unflushed_physical()
            if pending is not None and pending < durable:
                durable = pending
        ck = self.checkpoint
        # Assigned, not maxed: a rebuild after recovery makes older data unflushed again.
        ck.logics_flushed_offset = durable
        if durable >= dispatched:
            ck.logics_msg_timestamp = max(ck.logics_msg_timestamp, stamp)
        if index_through is not None:
            ck.index_flushed_offset = index_through
        data = ck.data()
        if write_checkpoint and data != self._persisted:
            await loop.run_in_executor(self.executor, ck.flush)
            self._persisted = data

    async def _flush_index(self, loop: asyncio.AbstractEventLoop, thorough: bool) -> int | None:
        """Sync dirty index files; returns the offset now fully indexed on disk."""
        if self.index is None:
            return None
        dirty = self.index.dirty_files()
        if not dirty:
            return None
        newest = self.index.files[-1]
        if not thorough:
            dirty = [f for f in dirty if f is not newest]  # full files: flush them now
            if not dirty:
                return None
        through = newest.indexed_through if newest in dirty else None
        for index_file in dirty:
            index_file.write_header()  # the header and bookkeeping describe one moment
            index_file.dirty = False
        try:
            await loop.run_in_executor(self.executor, _fdatasync_all, [f.mapped for f in dirty])
        except BaseException:
            for index_file in dirty:
                index_file.dirty = True
            raise
        self.index_flush_count += 1
        full = [f for f in dirty if f is not newest]
        if full:  # IndexService: indexMsgTimestamp advances once a full file is on disk
            self.checkpoint.index_msg_timestamp = max(
                self.checkpoint.index_msg_timestamp, max(f.header.end_timestamp for f in full)
            )
        return through

    async def flush_service(self) -> None:
        cfg = self.config
        interval = cfg.flush_interval_consume_queue_ms / 1000
        thorough_interval = cfg.flush_consume_queue_thorough_interval_ms / 1000
        # Slot writes dirty pages all over an index file, so it is synced less often;
        # a crash re-checks (and if need be rebuilds) what came after the last sync.
        index_interval = cfg.flush_index_interval_ms / 1000
        last_thorough = last_index = time.monotonic()
        while True:
            await asyncio.sleep(interval)
            now = time.monotonic()
            thorough = now - last_thorough >= thorough_interval
            if thorough:
                last_thorough = now
            index = thorough or now - last_index >= index_interval
            if index:
                last_index = now
            least = 0 if thorough else cfg.flush_consume_queue_least_pages
            try:
                await self.flush(least, index=index)
            except (OSError, StoreError):
                log.exception("consume queue flush failed")
