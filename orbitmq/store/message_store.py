"""The store facade the broker calls (DefaultMessageStore.java).

    store = MessageStore(MessageStoreConfig(store_path_root_dir="/data/store"))
    await store.start()              # lock, load, recover, catch up, start services
    result = await store.put_message(msg)
    pulled = store.get_message("TopicTest", 0, offset, 32)
    await store.aclose()             # flush, checkpoint, remove `abort`

Everything runs on one event loop. put_message appends synchronously (no await before
the record is in the mapped log), then, under SYNC_FLUSH, awaits the group commit.
Background services: reput (builds consume queues and the key index, wakes long
polling), commit-log flush, consume-queue and index flush, retention, disk check, TPS
sampling. Writes are refused (SERVICE_NOT_AVAILABLE) while the disk is full or dispatch
is failing; reads always go on.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Protocol

from orbitmq.errors import RemoteProtocolError
from orbitmq.protocol.message import (
    MessageConst,
    MessageExt,
)
from orbitmq.store.checkpoint import (
    StoreCheckpoint,
    abort_file_boot_id,
    boot_id,
    take_store_lock,
    write_abort_file,
)
from orbitmq.store.commit_log import CommitLog
from orbitmq.store.config import MessageStoreConfig
from orbitmq.store.consume_queue import ConsumeQueue, load_consume_queues
from orbitmq.store.dispatch import ArrivalListener, CommitLogDispatcher, ReputService
from orbitmq.store.errors import DiskFullError, NotWritableError, StoreClosedError, StoreError
from orbitmq.store.flush import CommitLogFlusher, ConsumeQueueFlusher, SyncFunction
from orbitmq.store.index_service import IndexService
from orbitmq.store.layout import DispatchRequest
from orbitmq.store.pull import scan_consume_queue
from orbitmq.store.query import QueryMessageResult, query_message
from orbitmq.store.recovery import (
    RecoveryReport,
    recover_store,
    settle_checkpoint,
    sync_recovered,
)
from orbitmq.store.results import (
    AppendMessageResult,
    GetMessageResult,
    GetMessageStatus,
    PutMessageResult,
    PutMessageStatus,
    StoreStatistics,
)
from orbitmq.store.retention import CleanService
from orbitmq.store.send_batch import (
    AppendedSends,
    SendEntry,
    SendsLayout,
    append_sends,
    dispatch_requests,
)
from orbitmq.store.stats import StoreTimes, TpsSampler, store_runtime_info, tick_ms
from orbitmq.store.validation import check_messages

__all__ = [
    "AppendMessageResult",
    "GetMessageResult",
    "GetMessageStatus",
    "MessageStore",
    "PutMessageResult",
    "PutMessageStatus",
    "QueryMessageResult",
    "StoreStatistics",
]

log = logging.getLogger(__name__)

CommittedCallback = Callable[[PutMessageStatus, str | None], object]
CqUnit = tuple[int, int, int]  # commit-log offset, size, tags code


# (layout, first, stop, status, remark) for entries[first:stop] of a proposed batch.
SendsOutcome = Callable[[SendsLayout, int, int, PutMessageStatus, str], object]


class ReplicatedLog(Protocol):
    """DLedger mode: appends go to a Raft log first and reach the commit log once a
    majority holds them (orbitmq/dledger). The store never imports the network."""

    writable: bool  # this member leads and may take appends

    def append_sends(
        self, entries: list[SendEntry], store_host: bytes, on_outcome: SendsOutcome
    ) -> AppendedSends:
        """Lay out and propose the send lane's batch (see DLedgerCommitLog); raises
        NotWritableError when not leader."""
        ...

    def append(self, msgs: list[MessageExt], properties: list[str]) -> AppendMessageResult:
        """Lay out and propose the records; raises NotWritableError when not leader."""
        ...

    def on_committed(self, appended: AppendMessageResult, callback: CommittedCallback) -> None:
        """`callback(status, remark)` once the records are committed, or failed."""
        ...


# Pre-faulting ahead of the writer: 16 MiB is ~0.3 s of appends at 50k KiB messages/s.
WARM_AHEAD_BYTES = 16 << 20
WARM_INTERVAL_S = 0.05


class MessageStore:
    """The message store.

    Args:
        config: the store settings.
        flush_sync: replaces the blocking fdatasync of commit-log segments (a test seam
            for slow or failing disks).
    """

    def __init__(
        self, config: MessageStoreConfig, *, flush_sync: SyncFunction | None = None
    ) -> None:
        self.config = config
        self.commit_log = CommitLog(config)
        self._queues: dict[tuple[str, int], ConsumeQueue] = {}
        self.index = IndexService(config) if config.message_index_enable else None
        dispatchers: list[CommitLogDispatcher] = [self]
        if self.index is not None:
            dispatchers.append(self.index)
        self._reput = ReputService(self.commit_log, dispatchers, self.get_max_offset_in_queue)
        if self.index is not None:
            self._reput.after_pass = self.index.mark_progress
        # Retention and the disk check; tests may swap its clock and disk probe.
        self.clean_service = CleanService(config, self.commit_log, self._queues, self.index)
        self._times = StoreTimes()
        self._tps = TpsSampler(  # the counters stats.PUTS … PUT_TIMES name
            lambda: (
                self._put_count,
                self._get_found,
                self._get_count,
                self._get_count - self._get_missed,
                self._get_missed,
                *self._times.put_distribution,
            )
        )
        self._flush_sync = flush_sync
        # Set by a DLedger broker before start(): sends then commit through Raft.
        self.replicated_log: ReplicatedLog | None = None
        self.recovery: RecoveryReport | None = None
        self._checkpoint: StoreCheckpoint | None = None
        self._executor: ThreadPoolExecutor | None = None
        # Its own thread: pre-faulting must never delay a group commit's fdatasync.
        self._warm_executor: ThreadPoolExecutor | None = None
        self._flusher: CommitLogFlusher | None = None
        self._cq_flusher: ConsumeQueueFlusher | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._lock_fd = -1
        self._running = False
        self._started = False
        self._topic_lengths: dict[str, int] = {}  # topics already checked -> byte length
        self._put_count = 0
        self._put_failures = 0
        self._put_bytes = 0
        self._unchecked_bytes = 0  # written since the last disk check
        self._get_count = 0
        self._get_found = 0
        self._get_missed = 0  # get calls that found no message
        self._dispatch_max_buffer = 0
        self._sync_flush_timeouts = 0

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        """Lock the directory, load and recover, catch up reput, start the services.

        Raises:
            StoreLockedError: another store holds this directory.
            StoreLayoutError: segment files disagree with the configured sizes.
        """
        cfg = self.config
        assert cfg.store_path_commit_log is not None
        if self._started:
            raise StoreError("a MessageStore can be started only once; create a new one")
        self._started = True
        os.makedirs(cfg.store_path_root_dir, exist_ok=True)
        self._lock_fd = take_store_lock(cfg.lock_path)
        try:
            os.makedirs(cfg.store_path_commit_log, exist_ok=True)
            os.makedirs(cfg.consume_queue_dir, exist_ok=True)
            abnormal = os.path.exists(cfg.abort_path)
            same_boot = False
            if abnormal:
                same_boot = abort_file_boot_id(cfg.abort_path) == boot_id() != ""
                log.warning(
                    "%s exists: the last shutdown was not clean (%s)",
                    cfg.abort_path,
                    "the process died, the OS did not"
                    if same_boot
                    else "the OS may have gone down too",
                )
            self.commit_log.queue.load(extend_short_last=True)
            queues, damaged = load_consume_queues(
                cfg.consume_queue_dir, cfg.mapped_file_size_consume_queue
            )
            self._queues.update(queues)
            if self.index is not None:
                self.index.load()
            self._checkpoint = StoreCheckpoint(cfg.checkpoint_path)
            self.recovery = recover_store(
                self.commit_log,
                self._queues,
                self._reput,
                self._checkpoint.data(),
                abnormal=abnormal,
                check_crc=cfg.check_crc_on_recover,
                damaged=damaged,
                index=self.index,
                process_crash=same_boot,
            )
            self._executor = ThreadPoolExecutor(2, thread_name_prefix="orbitmq-store-flush")
            self._flusher = CommitLogFlusher(
                self.commit_log,
                cfg,
                self._executor,
                self._checkpoint,
                **({"sync": self._flush_sync} if self._flush_sync else {}),
            )
            if abnormal:
                await asyncio.get_running_loop().run_in_executor(
                    self._executor,
                    sync_recovered,
                    self.commit_log,
                    list(self._queues.values()),
                    self.index,
                    self._checkpoint.data().physic_flushed_offset,
                )
            self._flusher.flushed_offset = self.commit_log.queue.flushed_where()
            settle_checkpoint(self._checkpoint, self.recovery, synced=abnormal)
            self._cq_flusher = ConsumeQueueFlusher(
                self._queues,
                cfg,
                self._executor,
                self._checkpoint,
                lambda: (self._reput.reput_from_offset, self._reput.last_dispatched_timestamp),
                self.index,
            )
            self.clean_service.check_disk()
            write_abort_file(cfg.abort_path)
        except BaseException:
            self._close_files()
            raise
        self._running = True
        reput = self._reput.reput_service()
        flush = (
            self._flusher.group_commit_service()
            if cfg.sync_flush
            else self._flusher.flush_service()
        )
        for name, coro in (
            ("reput_service", reput),
            ("commit_log_flush_service", flush),
            ("consume_queue_flush_service", self._cq_flusher.flush_service()),
            ("clean_resource_service", self.clean_service.clean_resource_service()),
            ("disk_check_service", self.clean_service.disk_check_service()),
            ("store_stats_service", self._tps.sample_service()),
            ("commit_log_warm_service", self._warm_service()),
        ):
            task = asyncio.create_task(coro, name=f"orbitmq-store-{name}")
            task.add_done_callback(_log_task_death)
            self._tasks.append(task)

    async def aclose(self) -> None:
        """Stop the services, flush everything, write the checkpoint, remove `abort`."""
        if not self._running:
            return
        self._running = False
        try:
            self._reput.do_reput()  # nothing left behind: the abort file may go
            await self._stop_tasks()
            assert self._flusher is not None and self._cq_flusher is not None
            await self._flusher.flush()
            self._flusher.complete_waiters()
            await self._cq_flusher.flush(0, index=True)
            if self._reput.dispatch_behind_bytes == 0:
                os.unlink(self.config.abort_path)
            else:
                log.warning(
                    "%d bytes not dispatched at shutdown: leaving %s so that the next "
                    "start rebuilds them",
                    self._reput.dispatch_behind_bytes,
                    self.config.abort_path,
                )
        finally:
            self._close_files()

    async def _crash(self, *, os_crash: bool = False) -> None:
        """Stop as if the process had died: no flush, no checkpoint, `abort` stays.

        For recovery tests; the page cache still holds everything written. With
        `os_crash` the abort file is made to look as if the machine was rebooted since,
        so recovery assumes unflushed pages may be lost (tests then remove some).
        """
        self._running = False
        await self._stop_tasks()
        self._close_files()
        if os_crash:
            with open(self.config.abort_path, "wb") as fh:
                fh.write(b"another-boot")

    async def _stop_tasks(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []
        self._reput.fail_waiters(StoreClosedError("message store closed"))

    def _close_files(self) -> None:
        for cq in self._queues.values():
            cq.close()
        self._queues.clear()
        if self.index is not None:
            self.index.close()
        self.commit_log.close()
        self.commit_log.queue.files = []
        if self._executor is not None:
            self._executor.shutdown(wait=False)
        if self._warm_executor is not None:
            self._warm_executor.shutdown(wait=False)
        if self._lock_fd >= 0:
            os.close(self._lock_fd)  # releases the flock
            self._lock_fd = -1

    async def _warm_service(self) -> None:
        """Keep the pages ahead of the commit log's write position faulted in."""
        loop = asyncio.get_running_loop()
        self._warm_executor = ThreadPoolExecutor(1, thread_name_prefix="orbitmq-store-warm")
        while True:
            await asyncio.sleep(WARM_INTERVAL_S)
            if self.commit_log.warm_needed(WARM_AHEAD_BYTES):
                await loop.run_in_executor(
                    self._warm_executor, self.commit_log.warm_ahead, WARM_AHEAD_BYTES
                )

    async def __aenter__(self) -> MessageStore:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    # ------------------------------------------------------------------ writes

    async def put_message(self, msg: MessageExt) -> PutMessageResult:
        """Store one message; under SYNC_FLUSH wait for it to be on disk (unless WAIT=false)."""
        return await self.put_messages([msg])

    async def put_messages(self, msgs: list[MessageExt]) -> PutMessageResult:
        """Store a batch (one topic and queue) with consecutive offsets in one append."""
        result = self.append_messages(msgs)
        if not msgs or not self.flush_wait_needed(result, msgs[0]):
            return result
        return await self.wait_flushed(result)

    def append_messages(self, msgs: list[MessageExt]) -> PutMessageResult:
        """The synchronous half of a put: append now, without waiting for the disk.

        Callers on the hot path use it with `flush_wait_needed` / `on_flushed` so that an
        ASYNC_FLUSH send is answered without a task switch.
        """
        result = self._append(msgs)
        if (
            result.append_result is not None
            and msgs
            and self._flusher is not None
            and self.config.sync_flush
            and msgs[0].properties.get(MessageConst.WAIT) == "false"
        ):
            self._flusher.wake.set()
        return result

    def flush_wait_needed(self, result: PutMessageResult, msg: MessageExt) -> bool:
        if self.replicated_log is not None:  # acknowledged only once committed
            return result.append_result is not None
        return (
            result.append_result is not None
            and self._flusher is not None
            and self.config.sync_flush
            and msg.properties.get(MessageConst.WAIT) != "false"
        )

    def _append(self, msgs: list[MessageExt]) -> PutMessageResult:
        begin_ms = tick_ms()
        problem = self._put_refusal()
        if problem is not None:
            self._put_failures += 1
            return PutMessageResult(PutMessageStatus.SERVICE_NOT_AVAILABLE, None, problem)
        refused, properties = check_messages(
            msgs,
            self._topic_lengths,
            self.config.max_message_size,
            self.commit_log.max_record_size(),
        )
        if refused is not None:
            self._put_failures += 1
            return refused
        try:
            if self.replicated_log is not None:
                appended = self.replicated_log.append(msgs, properties)
            else:
                appended = self.commit_log.append(msgs, properties)
        except NotWritableError as exc:
            self._put_failures += 1
            return PutMessageResult(PutMessageStatus.SERVICE_NOT_AVAILABLE, None, str(exc))
        except DiskFullError as exc:
            log.error("refusing a put: %s", exc)
            self._put_failures += 1
            return PutMessageResult(
                PutMessageStatus.SERVICE_NOT_AVAILABLE,
                None,
                f"service not available now: the broker's disk is full ({exc})",
            )
        except Exception as exc:  # e.g. ENOSPC creating a segment, or a bad host address
            log.exception("append to the commit log failed")
            self._put_failures += 1
            return PutMessageResult(PutMessageStatus.UNKNOWN_ERROR, None, f"append failed: {exc}")
        self._put_count += len(msgs)
        self._put_bytes += appended.wrote_bytes
        self._note_put(begin_ms, len(msgs))
        if self.replicated_log is not None:
            return PutMessageResult(PutMessageStatus.PUT_OK, appended)
        self._reput.wake.set()
        self._note_written(appended.wrote_bytes)
        return PutMessageResult(PutMessageStatus.PUT_OK, appended)

    def append_sends(self, entries: list[SendEntry], store_host: bytes) -> AppendedSends:
        """The broker's send lane: single-message sends appended in one write (see
        send_batch.py), their consume-queue units and index entries written at once
        when reput has caught up, else left to reput. The caller has checked each
        entry's sizes; DLedger mode never comes here. `count` < len(entries) means the
        rest were refused (`refusal` says why) and nothing of them is stored.
        """
        begin_ms = tick_ms()
        refusal = self._put_refusal()
        if refusal is not None:
            self._put_failures += len(entries)
            return AppendedSends(0, 0, 0, 0, [], [], [], refusal)
        reput = self._reput
        caught_up = reput.reput_from_offset == self.commit_log.max_offset
        appended = append_sends(self.commit_log, entries, store_host)
        count = appended.count
        self._put_failures += len(entries) - count
        if appended.refusal is not None:
            log.error("refusing a put: %s", appended.refusal)
        if not count:
            return appended
        self._put_count += count
        wrote = appended.end - appended.start
        self._put_bytes += wrote
        if caught_up:
            self._dispatch_sends(entries, appended)
        else:
            self.commit_log.dispatch_hints.extend(dispatch_requests(entries, appended))
            reput.wake.set()
        if self._flusher is not None and self.config.sync_flush:
            self._flusher.wake.set()
        self._note_written(wrote)
        self._note_put(begin_ms, count)
        return appended

    def propose_sends(
        self, entries: list[SendEntry], store_host: bytes, on_outcome: SendsOutcome
    ) -> AppendedSends:
        """DLedger mode's append_sends: the batch is proposed to the group and reaches
        the commit log once committed; `on_outcome` tells each run's fate."""
        assert self.replicated_log is not None
        begin_ms = tick_ms()
        refusal = self._put_refusal()
        if refusal is None:
            try:
                proposed = self.replicated_log.append_sends(entries, store_host, on_outcome)
            except NotWritableError as exc:
                refusal = str(exc)
        if refusal is not None:
            self._put_failures += len(entries)
            return AppendedSends(0, 0, 0, 0, [], [], [], refusal)
        self._put_failures += len(entries) - proposed.count
        self._put_count += proposed.count
        self._put_bytes += proposed.end - proposed.start
        if proposed.count:
            self._note_put(begin_ms, proposed.count)
        return proposed

    def _dispatch_sends(self, entries: list[SendEntry], appended: AppendedSends) -> None:
        """Consume-queue units and index entries of records just written, reput's job
        done by the writer (it would only parse them back): each queue's units in one
        write, the index in one pass. On a failure (no disk blocks for a segment) reput
        takes over from the first record and retries; writing twice is harmless, as
        both skip what they already hold."""
        physical_offsets = appended.physical_offsets
        queue_offsets = appended.queue_offsets
        sizes = appended.sizes
        stamp = appended.store_timestamp
        count = appended.count
        try:
            self._put_unit_runs(
                ((e[0], e[2]), queue_offsets[i], (physical_offsets[i], sizes[i], e[10]))
                for i, e in enumerate(entries[:count])
            )
            if self.index is not None:
                self.index.index_batch(
                    [
                        (e[0], physical_offsets[i], sizes[i], stamp, e[11], e[12])
                        for i, e in enumerate(entries[:count])
                    ]
                )
        except (OSError, StoreError):
            self.commit_log.dispatch_hints.extend(dispatch_requests(entries, appended))
            self._reput.wake.set()
            return
        touched = {(e[0], e[2]): None for e in entries[:count]}
        self._reput.dispatched_at_append(appended.end, touched, stamp)

    def on_flushed_to(self, offset: int, callback: Callable[[bool], object]) -> None:
        """Group commit for the send lane: `callback(True)` once the commit log is on disk
        up to `offset`, `callback(False)` after syncFlushTimeout (still stored)."""
        assert self._flusher is not None

        def flushed(ok: bool) -> None:
            if not ok:
                self._sync_flush_timeouts += 1
            callback(ok)

        self._flusher.add_waiter(offset, flushed)

    def _note_put(self, begin_ms: int, count: int) -> None:
        """Time of an append that stored `count` messages (the appending alone: a wait
        for the disk or a replica comes after), and the dispatch requests it left for
        reput (StoreStatsService.dispatchMaxBuffer)."""
        self._times.note_put(begin_ms, count)
        waiting = len(self.commit_log.dispatch_hints)
        if waiting > self._dispatch_max_buffer:
            self._dispatch_max_buffer = waiting

    def _note_written(self, wrote: int) -> None:
        self._unchecked_bytes += wrote
        if self._unchecked_bytes >= self.config.commit_log_reserve_bytes:
            # A fast writer can fill a disk between two periodic checks.
            self._unchecked_bytes = 0
            self.clean_service.check_disk()

    def _put_refusal(self) -> str | None:
        """Why a put is refused before anything is written, or None."""
        if not self._running:
            return "message store is not running"
        return self.not_writable_reason()

    def not_writable_reason(self) -> str | None:
        """Why puts are refused right now (disk full, dispatch failing), or None."""
        if self.clean_service.disk_full:
            return self.clean_service.full_remark()
        return self._reput.failure

    async def wait_flushed(self, result: PutMessageResult) -> PutMessageResult:
        """Group commit: wait until the appended bytes are on disk, or time out."""
        fut: asyncio.Future[PutMessageResult] = asyncio.get_running_loop().create_future()
        self.on_flushed(result, fut.set_result)
        return await fut

    def on_flushed(
        self, result: PutMessageResult, callback: Callable[[PutMessageResult], object]
    ) -> None:
        """Group commit without a task: `callback` gets `result` once the appended bytes
        are on disk, or a FLUSH_DISK_TIMEOUT result (the message stays stored)."""
        assert self._flusher is not None and result.append_result is not None
        appended = result.append_result
        if self.replicated_log is not None:
            self.replicated_log.on_committed(
                appended,
                lambda status, remark: callback(PutMessageResult(status, appended, remark or "")),
            )
            return

        def flushed(ok: bool) -> None:
            if ok:
                callback(result)
                return
            callback(
                PutMessageResult(
                    PutMessageStatus.FLUSH_DISK_TIMEOUT,
                    appended,
                    f"stored but not flushed within {self.config.sync_flush_timeout_ms} ms",
                )
            )

        self.on_flushed_to(appended.wrote_offset + appended.wrote_bytes, flushed)

    # ------------------------------------------------------------------ dispatch

    def dispatch_batch(self, requests: list[DispatchRequest]) -> None:
        """CommitLogDispatcher: consume-queue units of consecutive records."""
        self._put_unit_runs(
            (
                (r.topic, r.queue_id),
                r.consume_queue_offset,
                (r.commit_log_offset, r.msg_size, r.tags_code),
            )
            for r in requests
            if r.enters_consume_queue
        )

    def _put_unit_runs(self, units: Iterable[tuple[tuple[str, int], int, CqUnit]]) -> None:
        """Write (queue, queue offset, unit) triples, in log order: each queue's run of
        consecutive offsets in one write."""
        runs: dict[tuple[str, int], tuple[int, list[CqUnit]]] = {}
        for key, queue_offset, unit in units:
            run = runs.get(key)
            if run is not None and run[0] + len(run[1]) == queue_offset:
                run[1].append(unit)
                continue
            if run is not None:
                self._put_units(key, *run)
            runs[key] = (queue_offset, [unit])
        for key, run in runs.items():
            self._put_units(key, *run)

    def _put_units(self, key: tuple[str, int], queue_offset: int, units: list[CqUnit]) -> None:
        cq = self._queues.get(key) or self._new_consume_queue(key)
        cq.put_units(queue_offset, units)

    def _new_consume_queue(self, key: tuple[str, int]) -> ConsumeQueue:
        cq = self._queues[key] = ConsumeQueue(
            key[0],
            key[1],
            self.config.consume_queue_dir,
            self.config.mapped_file_size_consume_queue,
        )
        return cq

    # ------------------------------------------------------------------ replication

    def append_replicated(self, offset: int, data: bytes | bytearray | memoryview) -> None:
        """A slave stores bytes from its master at `offset` (see CommitLog.append_replicated);
        reput then builds consume queues and the index from them as on the master."""
        if not self._running:
            raise StoreClosedError("message store is not running")
        self.commit_log.append_replicated(offset, data)
        self._reput.wake.set()

    def append_committed(self, offset: int, data: bytes | bytearray | memoryview) -> None:
        """DLedger mode: records a Raft majority committed (see CommitLog.append_committed)."""
        if not self._running:
            raise StoreClosedError("message store is not running")
        self.commit_log.append_committed(offset, data)
        self._reput.wake.set()

    async def flush_commit_log(self) -> None:
        """Write the commit log's dirty pages to disk now (DLedger retention does this
        before it deletes Raft log files whose entries only the commit log then holds)."""
        if not self._running or self._flusher is None:
            raise StoreClosedError("message store is not running")
        await self._flusher.flush()

    def queue_max_offsets(self) -> dict[tuple[str, int], int]:
        """Next queue offset of every consume queue (a new DLedger master's table)."""
        return {key: cq.max_offset for key, cq in self._queues.items()}

    def replication_resume_offset(self) -> int:
        """Where a slave asks its master to resume: the end of its last whole record.

        Dispatches what is there first, so that reput's position is that end; a partial
        record after it is cut (see CommitLog.settle_replicated_tail).
        """
        self._reput.do_reput()
        return self.commit_log.settle_replicated_tail(self._reput.reput_from_offset)

    async def wait_appended(self, offset: int, timeout: float) -> bool:
        """Wait until the commit log extends past `offset`; False after `timeout` seconds.

        Raises:
            StoreClosedError: the store is not running.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while self.commit_log.max_offset <= offset:
            if not self._running:
                raise StoreClosedError("message store is not running")
            remaining = deadline - loop.time()
            if remaining <= 0:
                return False
            await self._reput.wait_next_pass(remaining)
        return True

    def set_message_arrival_listener(self, listener: ArrivalListener | None) -> None:
        """`listener(topic, queue_id, next_queue_offset)` runs after reput adds units."""
        self._reput.arrival_listener = listener

    async def wait_dispatched(self, commit_log_offset: int) -> None:
        """Wait until reput has dispatched every record before `commit_log_offset`.

        Raises:
            StoreClosedError: the store is not running (or closes while waiting).
        """
        if not self._running:
            raise StoreClosedError("message store is not running")
        await self._reput.wait_dispatched(commit_log_offset)

    # ------------------------------------------------------------------ reads

    def get_message(
        self,
        topic: str,
        queue_id: int,
        offset: int,
        max_msg_nums: int,
        message_filter: Callable[[int], bool] | None = None,
    ) -> GetMessageResult:
        """Records of one queue from `offset` on, as zero-copy slices (see pull.py)."""
        begin_ms = tick_ms()
        self._get_count += 1
        cq = self._queues.get((topic, queue_id))
        if cq is None:
            self._get_missed += 1
            return GetMessageResult(GetMessageStatus.NO_MESSAGE_IN_QUEUE, 0, 0, 0)
        result = scan_consume_queue(
            cq, self.commit_log, self.config, offset, max_msg_nums, message_filter
        )
        if result.message_count:
            self._get_found += result.message_count
        else:
            self._get_missed += 1
        self._times.note_get(begin_ms)
        return result

    def get_max_offset_in_queue(self, topic: str, queue_id: int) -> int:
        cq = self._queues.get((topic, queue_id))
        return cq.max_offset if cq is not None else 0

    def get_min_offset_in_queue(self, topic: str, queue_id: int) -> int:
        cq = self._queues.get((topic, queue_id))
        return cq.min_offset if cq is not None else 0

    def get_offset_in_queue_by_time(self, topic: str, queue_id: int, timestamp_ms: int) -> int:
        cq = self._queues.get((topic, queue_id))
        if cq is None:
            return 0
        return cq.offset_by_time(timestamp_ms, self.commit_log.pickup_store_timestamp)

    def get_earliest_message_time(self, topic: str, queue_id: int) -> int:
        cq = self._queues.get((topic, queue_id))
        if cq is None or cq.max_offset <= cq.min_offset:
            return -1
        return self.get_message_store_timestamp(topic, queue_id, cq.min_offset)

    def get_message_store_timestamp(self, topic: str, queue_id: int, offset: int) -> int:
        cq = self._queues.get((topic, queue_id))
        unit = cq.read_unit(offset) if cq is not None and offset >= cq.min_offset else None
        if unit is None:
            return -1
        return self.commit_log.pickup_store_timestamp(unit[0], unit[1])

    def look_message_by_offset(self, commit_log_offset: int) -> MessageExt | None:
        if commit_log_offset < self.commit_log.min_offset:
            return None
        try:
            return self.commit_log.look_message(commit_log_offset)
        except RemoteProtocolError:
            return None  # not the start of a record

    def get_message_by_offset(self, commit_log_offset: int) -> bytes | None:
        """The stored record at `commit_log_offset`, byte for byte (VIEW_MESSAGE_BY_ID)."""
        if commit_log_offset < self.commit_log.min_offset:
            return None
        record = self.commit_log.record_at(commit_log_offset)
        if record is None:
            return None
        with record:
            return bytes(record)

    def query_message(
        self, topic: str, key: str, max_num: int, begin: int, end: int
    ) -> QueryMessageResult:
        """Records indexed under topic#key stored in [begin, end] ms (QUERY_MESSAGE).

        Hash matches only: records of other keys with the same hash may be included.
        """
        return query_message(self.index, self.commit_log, topic, key, max_num, begin, end)

    def get_earliest_message_time_in_store(self) -> int:
        """Store time of the oldest record in the commit log (-1 if empty)."""
        return self.commit_log.pickup_store_timestamp(
            self.commit_log.min_offset, self.commit_log.record_size_at(self.commit_log.min_offset)
        )

    def runtime_info(self) -> dict[str, str]:
        """Store figures for GET_BROKER_RUNTIME_INFO, under RocketMQ's key names
        (plus commitLogFlush* flush times, an OrbitMQ addition); see stats.py."""
        return store_runtime_info(
            self.statistics(),
            self._flusher,
            self.clean_service,
            self._tps,
            self._times,
            self._dispatch_max_buffer,
            str(self.config.store_path_commit_log),
            self.get_earliest_message_time_in_store(),
            self.not_writable_reason() is None,
        )

    def get_commit_log_min_offset(self) -> int:
        return self.commit_log.min_offset

    def get_commit_log_max_offset(self) -> int:
        return self.commit_log.max_offset

    def topic_queue_ids(self) -> dict[str, set[int]]:
        result: dict[str, set[int]] = {}
        for topic, queue_id in self._queues:
            result.setdefault(topic, set()).add(queue_id)
        return result

    def delete_topics(self, topics: set[str]) -> None:
        """Remove the consume queues of `topics` (their records stay in the commit log)."""
        for key in [k for k in self._queues if k[0] in topics]:
            self._queues.pop(key).destroy()
            self.commit_log.topic_queue_table.pop(key, None)
        for topic in topics:
            with contextlib.suppress(OSError):
                os.rmdir(os.path.join(self.config.consume_queue_dir, topic))

    def statistics(self) -> StoreStatistics:
        flusher = self._flusher
        return StoreStatistics(
            put_message_count=self._put_count,
            put_message_failures=self._put_failures,
            put_message_bytes=self._put_bytes,
            get_message_count=self._get_count,
            get_message_found=self._get_found,
            commit_log_min_offset=self.commit_log.min_offset,
            commit_log_max_offset=self.commit_log.max_offset,
            commit_log_flushed_offset=flusher.flushed_offset if flusher else 0,
            commit_log_flush_count=flusher.flush_count if flusher else 0,
            consume_queue_flush_count=self._cq_flusher.flush_count if self._cq_flusher else 0,
            dispatch_behind_bytes=self._reput.dispatch_behind_bytes,
            sync_flush_timeouts=self._sync_flush_timeouts,
        )


def _log_task_death(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("store service %s died", task.get_name(), exc_info=task.exception())
