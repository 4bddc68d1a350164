"""Flushing to disk: group commit (SYNC_FLUSH), periodic flush (ASYNC_FLUSH), CQ flush.

fdatasync runs in the store's executor thread so the event loop keeps serving sends and
pulls meanwhile. A flush snapshots each dirty segment's write position first and marks
only that much as flushed afterwards, so appends racing with the fsync are never
reported durable too early.

Group commit (GroupCommitService): a SYNC_FLUSH put registers (end offset, future) and
wakes the flusher. Each round flushes everything written so far with one fdatasync per
dirty segment, then completes every waiter whose end offset is covered. Puts arriving
while an fsync is in flight are all covered by the next round, so many sends share one
fsync. The waiter gives up after sync_flush_timeout_ms (FLUSH_DISK_TIMEOUT; the message
stays stored).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Executor

from orbitmq.store.commit_log import CommitLog
from orbitmq.store.config import MessageStoreConfig
from orbitmq.store.consume_queue import ConsumeQueue
from orbitmq.store.mapped_file import MappedFile
from orbitmq.store.recovery import StoreCheckpoint

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


async def flush_files(
    loop: asyncio.AbstractEventLoop, executor: Executor, files: list[MappedFile]
) -> None:
    snapshot = [(mapped, mapped.wrote_position) for mapped in files]
    await loop.run_in_executor(executor, _fdatasync_all, files)
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
    ) -> None:
        self.commit_log = commit_log
        self.config = config
        self.executor = executor
        self.checkpoint = checkpoint
        self.flushed_offset = 0
        self.flush_count = 0
        self.wake = asyncio.Event()
        self._waiters: deque[tuple[int, asyncio.Future[None]]] = deque()

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
        await flush_files(asyncio.get_running_loop(), self.executor, files)
        self.flush_count += 1
        if target > self.flushed_offset:
            self.flushed_offset = target
        self.checkpoint.physic_msg_timestamp = max(self.checkpoint.physic_msg_timestamp, stamp)
        return True

    async def wait_flushed(self, offset: int, timeout_s: float) -> bool:
        """Wait until the commit log is on disk up to `offset`; False on timeout."""
        if self.flushed_offset >= offset:
            return True
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append((offset, fut))
        self.wake.set()
        try:
            async with asyncio.timeout(timeout_s):
                await fut
        except TimeoutError:
            return False
        return True

    def complete_waiters(self) -> None:
        flushed = self.flushed_offset
        waiters = self._waiters
        while waiters and waiters[0][0] <= flushed:
            _, fut = waiters.popleft()
            if not fut.done():
                fut.set_result(None)

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
    def __init__(
        self,
        queues: dict[tuple[str, int], ConsumeQueue],
        config: MessageStoreConfig,
        executor: Executor,
        checkpoint: StoreCheckpoint,
        dispatched_timestamp: Callable[[], int],
    ) -> None:
        self.queues = queues
        self.config = config
        self.executor = executor
        self.checkpoint = checkpoint
        self.flush_count = 0
        self._dispatched_timestamp = dispatched_timestamp

    async def flush(self, least_pages: int = 0, *, write_checkpoint: bool = False) -> None:
        """Flush consume queues with at least `least_pages` dirty; then the checkpoint."""
        stamp = self._dispatched_timestamp()
        files: list[MappedFile] = []
        for cq in list(self.queues.values()):
            dirty = cq.queue.dirty_files()
            if _able_to_flush(dirty, least_pages):
                files.extend(dirty)
        loop = asyncio.get_running_loop()
        if files:
            await flush_files(loop, self.executor, files)
            self.flush_count += 1
        if write_checkpoint:
            # Every unit dispatched before `stamp` was read is now on disk.
            self.checkpoint.logics_msg_timestamp = max(self.checkpoint.logics_msg_timestamp, stamp)
            await loop.run_in_executor(self.executor, self.checkpoint.flush)

    async def flush_service(self) -> None:
        cfg = self.config
        interval = cfg.flush_interval_consume_queue_ms / 1000
        thorough_interval = cfg.flush_consume_queue_thorough_interval_ms / 1000
        last_thorough = time.monotonic()
        while True:
            await asyncio.sleep(interval)
            now = time.monotonic()
            thorough = now - last_thorough >= thorough_interval
            if thorough:
                last_thorough = now
            least = 0 if thorough else cfg.flush_consume_queue_least_pages
            try:
                await self.flush(least, write_checkpoint=thorough)
            except OSError:
                log.exception("consume queue flush failed")
