"""The reput service: follows the commit log and dispatches each record (ReputMessageService).

Dispatchers get the DispatchRequests of consecutive stored records in one call; the
built-in one writes the consume-queue units (only transaction types NOT and COMMIT get
one), a queue's run of them in one write. Because
ConsumeQueue.put_unit skips units it already has, the same loop serves normal
operation and recovery (re-dispatch from an earlier offset after a crash).

Theory of operation: put_message sets `wake` after each append, so the loop runs on the
next event-loop turn and dispatches everything appended so far in one pass; then it
calls the arrival listener once per touched queue (long polling) and resolves
`wait_dispatched` waiters. A pass is synchronous; during a long catch-up the loop yields
to the event loop every few thousand records.

Records appended by this process arrive with a ready DispatchRequest (CommitLog's
`dispatch_hints`, matched by commit-log offset), which saves parsing them back; records
from before a restart, or appended while the hint queue was full, are parsed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Protocol

from orbitmq.protocol.message import MESSAGE_MAGIC_CODE
from orbitmq.store.commit_log import CommitLog
from orbitmq.store.errors import StoreError
from orbitmq.store.layout import (
    MIN_RECORD_SIZE,
    SIZE_MAGIC,
    DispatchRequest,
    RecordKind,
    check_record,
)

log = logging.getLogger(__name__)

ArrivalListener = Callable[[str, int, int], None]
_YIELD_EVERY = 4096
_RETRY_DELAY_S = 1.0


class CommitLogDispatcher(Protocol):
    def dispatch_batch(self, requests: list[DispatchRequest]) -> None:
        """dispatch() for consecutive records, in log order (one write per target)."""
        ...


class ReputService:
    def __init__(
        self,
        commit_log: CommitLog,
        dispatchers: list[CommitLogDispatcher],
        queue_max_offset: Callable[[str, int], int],
    ) -> None:
        self.commit_log = commit_log
        self.dispatchers = dispatchers
        self.reput_from_offset = 0
        self.last_dispatched_timestamp = 0
        self.arrival_listener: ArrivalListener | None = None
        self.wake = asyncio.Event()
        self._queue_max_offset = queue_max_offset
        self._waiters: list[tuple[int, asyncio.Future[None]]] = []
        self._touched: dict[tuple[str, int], None] = {}
        # Why dispatch is failing (e.g. no disk space for a consume-queue segment), or
        # None; the store refuses writes meanwhile, as RocketMQ's "logic queue error".
        self.failure: str | None = None
        # Called after every dispatch pass (the index records how far it got).
        self.after_pass: Callable[[], None] | None = None
        # Resolved (and dropped) by the next pass; shared by every `wait_next_pass` caller.
        self._next_pass: asyncio.Future[None] | None = None

    @property
    def dispatch_behind_bytes(self) -> int:
        return max(0, self.commit_log.max_offset - self.reput_from_offset)

    async def reput_service(self) -> None:
        """Background task: dispatch whenever woken."""
        while True:
            await self.wake.wait()
            self.wake.clear()
            try:
                while self.do_reput(limit=_YIELD_EVERY):
                    await asyncio.sleep(0)  # long catch-up: let sends and pulls run
            except (OSError, StoreError) as exc:
                # e.g. no space for a new consume-queue segment: retry, as RocketMQ does
                if self.failure is None:
                    log.error("dispatch failed at %d (%s); retrying", self.reput_from_offset, exc)
                self.failure = f"dispatch to consume queues and index failed: {exc}"
                await asyncio.sleep(_RETRY_DELAY_S)
                self.wake.set()
            else:
                if self.failure is not None:
                    log.info("dispatch resumed at %d", self.reput_from_offset)
                    self.failure = None

    def do_reput(self, limit: int | None = None) -> bool:
        """Dispatch records from reput_from_offset on; True if stopped by `limit`."""
        commit_log = self.commit_log
        hints = commit_log.dispatch_hints
        count = 0
        more = False
        # Records of this segment, dispatched together before reput_from_offset moves.
        pending: list[DispatchRequest] = []
        while self.reput_from_offset < commit_log.max_offset:
            mapped = commit_log.queue.find_file(self.reput_from_offset)
            if mapped is None:
                # Before the first segment (deleted by retention): jump to the log start.
                if self.reput_from_offset < commit_log.min_offset:
                    self.reput_from_offset = commit_log.min_offset
                    continue
                break
            base = mapped.file_from_offset
            pos = self.reput_from_offset - base
            limit_pos = mapped.wrote_position
            view = mapped.view
            while pos < limit_pos:
                # Records appended by this process come with a ready request.
                while hints and hints[0].commit_log_offset < base + pos:
                    hints.popleft()  # already dispatched (or dropped by recovery)
                request: DispatchRequest | None
                if hints and hints[0].commit_log_offset == base + pos:
                    request = hints.popleft()
                    kind, size = RecordKind.MESSAGE, request.msg_size
                else:
                    kind, size, request = check_record(view, pos, limit_pos, check_crc=False)
                if kind is RecordKind.MESSAGE:
                    assert request is not None
                    pending.append(request)
                    pos += size
                    count += 1
                    if limit is not None and count >= limit:
                        more = True
                        break
                elif kind is RecordKind.BLANK:
                    pos = limit_pos = mapped.file_size
                elif size > 0 and pos + size <= limit_pos:
                    log.error("reput: skipping bad record at %d", mapped.file_from_offset + pos)
                    pos += size
                elif _incomplete_tail(view, pos, limit_pos, mapped.file_size):
                    break  # a slave has only part of the record yet: the rest follows
                else:
                    log.error(
                        "reput: unreadable data at %d; waiting for the log to be repaired",
                        mapped.file_from_offset + pos,
                    )
                    self._dispatch_pending(pending)
                    self.reput_from_offset = mapped.file_from_offset + pos
                    self._notify()
                    return False
            self._dispatch_pending(pending)
            self.reput_from_offset = mapped.file_from_offset + pos
            if more:
                break
            if pos < mapped.file_size:
                break  # caught up with the writer in this segment
        self._notify()
        return more

    def dispatched_at_append(
        self, end: int, touched: dict[tuple[str, int], None], store_timestamp: int
    ) -> None:
        """Records up to `end` were dispatched by their writer (the send lane): finish
        the pass as if reput had done it (long polling, waiters, index progress)."""
        self.reput_from_offset = end
        self.last_dispatched_timestamp = store_timestamp
        self._touched.update(touched)
        self._notify()

    def _dispatch_pending(self, pending: list[DispatchRequest]) -> None:
        """Dispatch the records collected so far; an error leaves reput_from_offset
        where it was, so they are dispatched again (dispatchers skip what they hold)."""
        if not pending:
            return
        for dispatcher in self.dispatchers:
            dispatcher.dispatch_batch(pending)
        touched = self._touched
        for request in pending:
            if request.enters_consume_queue:
                touched[(request.topic, request.queue_id)] = None
        self.last_dispatched_timestamp = pending[-1].store_timestamp
        pending.clear()

    def _notify(self) -> None:
        if self.after_pass is not None:
            self.after_pass()
        if self._next_pass is not None:
            if not self._next_pass.done():
                self._next_pass.set_result(None)
            self._next_pass = None
        if self._touched:
            touched, self._touched = self._touched, {}
            listener = self.arrival_listener
            if listener is not None:
                for topic, queue_id in touched:
                    try:
                        listener(topic, queue_id, self._queue_max_offset(topic, queue_id))
                    except Exception:
                        log.exception("message arrival listener failed for %s:%d", topic, queue_id)
        if self._waiters:
            done = self.reput_from_offset
            keep = []
            for offset, fut in self._waiters:
                if offset <= done:
                    if not fut.done():
                        fut.set_result(None)
                else:
                    keep.append((offset, fut))
            self._waiters = keep

    async def wait_next_pass(self, timeout: float) -> None:
        """Return after the next dispatch pass (new data was appended), or after `timeout`.

        One future serves every caller and is shielded, so a caller timing out leaves
        nothing behind (the HA master waits with this for data to push to slaves).
        """
        if self._next_pass is None:
            self._next_pass = asyncio.get_running_loop().create_future()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(self._next_pass), timeout)

    def fail_waiters(self, exc: BaseException) -> None:
        waiters, self._waiters = self._waiters, []
        for _, fut in waiters:
            if not fut.done():
                fut.set_exception(exc)

    async def wait_dispatched(self, commit_log_offset: int) -> None:
        """Return once every record before `commit_log_offset` has been dispatched."""
        if self.reput_from_offset >= commit_log_offset:
            return
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append((commit_log_offset, fut))
        self.wake.set()
        await fut


def _incomplete_tail(view: memoryview, pos: int, limit: int, file_size: int) -> bool:
    """The written data ends inside the record at `pos` (a slave's log: replication
    frames are not aligned to records), as opposed to damaged data."""
    if limit - pos < 8:
        return True
    size, magic = SIZE_MAGIC.unpack_from(view, pos)
    return bool(magic == MESSAGE_MAGIC_CODE and size >= MIN_RECORD_SIZE and pos + size <= file_size)
