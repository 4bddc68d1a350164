"""Startup recovery (CommitLog.recoverNormally/recoverAbnormally, DefaultMessageStore.recover).

Theory of operation. Recovery reads only what it cannot trust, so its cost follows the
amount of unflushed or undispatched data, not the store size:

1. Consume queues are cut after their last valid unit. After a clean exit only their
   last units are checked (everything was flushed); after a crash, units from the
   checkpoint's `logicsFlushedOffset` on (binary search to get there). A queue that
   lost segments (wrong size, gap, empty directory) is marked for rebuilding.
2. The commit log is checked record by record (magic, size arithmetic, body CRC, own
   physical offset) from a point known to be good, to its written end:
   - clean exit, or the process died but the OS did not (see below): the newest
     record any consume queue points at, once confirmed against its unit (size,
     topic, queue, queue offset, CRC);
   - the OS went down too (power loss, kernel crash): the older of that and the
     checkpoint's `physicFlushedOffset` (everything before it was fsynced);
   - without either: RocketMQ's rule (third-last segment, or for a crash the newest
     segment started before the checkpoint's safe time).
   The first bad record ends the log: it and everything after it (the torn or damaged
   tail) is zeroed, later segments deleted, and the cut logged.
3. Consume-queue units and index entries for records past the new end are dropped.
4. Reput restarts at the furthest record the consume queues hold, or earlier where
   something must be rebuilt: the checkpoint's `logicsFlushedOffset` after an OS crash
   (units written after it may never have reached the disk), a damaged queue's last
   good unit (or the log start), the index's resume point. Re-dispatch is idempotent.

Process crash or OS crash: `abort` holds the kernel's boot id of the run that wrote it.
If it is today's boot id, only the process died (SIGKILL, OOM): every byte it had
stored in its mappings is in the page cache, so only the record being written when it
died can be torn, and the crash is recovered like a clean exit plus that tail. A
different or missing boot id means unflushed pages may be lost anywhere past the
checkpoint, and the checkpoint's offsets bound what is re-checked and re-dispatched.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass

from orbitmq.store.checkpoint import StoreCheckpoint, take_store_lock
from orbitmq.store.commit_log import CommitLog
from orbitmq.store.consume_queue import ConsumeQueue
from orbitmq.store.dispatch import ReputService
from orbitmq.store.index_service import IndexService
from orbitmq.store.layout import (
    CQ_FILL_SIZE,
    CQ_UNIT_SIZE,
    CheckpointData,
    RecordKind,
    check_record,
    record_problem,
)

__all__ = [
    "CommitLogRecovery",
    "RecoveryReport",
    "StoreCheckpoint",
    "abnormal_dispatch_start",
    "recover_commit_log",
    "recover_store",
    "settle_checkpoint",
    "sync_recovered",
    "take_store_lock",
]

log = logging.getLogger(__name__)

# How many units of the newest consume queue may point at damaged records before
# recovery stops trusting the queues and falls back to scanning whole segments.
_MAX_WALK_BACK = 64
# Even when everything was dispatched, about this much of the log's end is re-checked
# (damage in the last records is found, not only a tail never dispatched).
_VERIFY_WINDOW = 1024 * 1024


@dataclass(frozen=True, slots=True)
class CommitLogRecovery:
    end_offset: int  # end of the last valid record: the new max offset
    dropped_bytes: int  # non-zero bytes cut from the tail
    last_store_timestamp: int
    verified_bytes: int = 0  # bytes checked record by record


@dataclass(frozen=True, slots=True)
class RecoveryReport:
    abnormal: bool  # `abort` was there
    system_crash: bool  # ... and the OS was restarted since (or it cannot be told)
    verified_from: int
    end_offset: int
    verified_bytes: int
    dropped_bytes: int
    reput_from: int
    redispatched_bytes: int
    seconds: float


def recover_commit_log(commit_log: CommitLog, start: int, *, check_crc: bool) -> CommitLogRecovery:
    """Check records from `start` (a record boundary) to the end; cut the bad tail."""
    files = commit_log.queue.files
    if not files:
        return CommitLogRecovery(0, 0, 0)
    file_size = commit_log.file_size
    start = min(max(start, files[0].file_from_offset), files[-1].file_from_offset + file_size)
    index = min((start - files[0].file_from_offset) // file_size, len(files) - 1)
    mapped = files[index]
    pos = start - mapped.file_from_offset
    last_stamp = 0
    problem = None
    while pos < file_size:
        kind, size, request = check_record(
            mapped.view, pos, file_size, check_crc=check_crc, torn_tail_checks=True
        )
        if kind is RecordKind.MESSAGE:
            assert request is not None
            if request.commit_log_offset != mapped.file_from_offset + pos:
                problem = f"a record claiming offset {request.commit_log_offset}"
                break
            pos += size
            last_stamp = request.store_timestamp
        elif kind is RecordKind.BLANK and size == file_size - pos:
            if index + 1 >= len(files):
                pos = file_size
                break
            index += 1
            mapped = files[index]
            pos = 0
        else:
            if kind is not RecordKind.END:
                problem = record_problem(mapped.view, pos, file_size)
            break
    end = mapped.file_from_offset + pos
    dropped = commit_log.queue.truncate_dirty_files(end)
    if dropped:
        log.warning(
            "commit log: %s at offset %d; dropped the %d bytes of tail after it",
            problem or "unwritten data",
            end,
            dropped,
        )
    return CommitLogRecovery(end, dropped, last_stamp, end - start)


def abnormal_dispatch_start(commit_log: CommitLog, checkpoint: CheckpointData) -> int:
    """RocketMQ's crash rule: the newest segment whose first record was stored before
    the checkpoint's safe time (else the first segment)."""
    safe = checkpoint.min_timestamp
    for mapped in reversed(commit_log.queue.files):
        kind, _, request = check_record(mapped.view, 0, mapped.wrote_position, check_crc=False)
        if (
            kind is RecordKind.MESSAGE
            and request is not None
            and 0 < request.store_timestamp <= safe
        ):
            return mapped.file_from_offset
    return commit_log.min_offset


def _unit_confirmed(commit_log: CommitLog, cq: ConsumeQueue, queue_offset: int) -> int | None:
    """The record offset if the unit at `queue_offset` matches a sound record, else None."""
    unit = cq.read_unit(queue_offset)
    if unit is None or unit[1] == CQ_FILL_SIZE:
        return None
    offset, size, _ = unit
    mapped = commit_log.queue.find_file(offset)
    if mapped is None:
        return None
    kind, found, request = check_record(
        mapped.view, offset - mapped.file_from_offset, mapped.file_size,
        check_crc=True, torn_tail_checks=True,
    )  # fmt: skip
    ok = (
        kind is RecordKind.MESSAGE
        and request is not None
        and found == size
        and request.commit_log_offset == offset
        and request.topic == cq.topic
        and request.queue_id == cq.queue_id
        and request.consume_queue_offset == queue_offset
    )
    return offset if ok else None


def confirmed_dispatch_point(
    commit_log: CommitLog, queues: Iterable[ConsumeQueue]
) -> tuple[int | None, bool]:
    """(a record start the commit-log check can begin at; ok).

    Taken from the consume queue with the newest record: one of its units about
    `_VERIFY_WINDOW` bytes (at most `_MAX_WALK_BACK` units) before its newest, so that
    the last records are always checked, not only those never dispatched. The record
    there must match its unit; if it does not, earlier units are tried. `ok` is False
    when none holds up: the data disagrees with what was dispatched, and no shortcut
    (not even the checkpoint) can be trusted. (None, True) when the queues are empty.
    """
    newest = max(queues, key=lambda q: q.max_physic_offset, default=None)
    if newest is None or newest.max_physic_offset <= 0 or not newest.queue.files:
        return None, True
    first = newest.queue.files[0].file_from_offset // CQ_UNIT_SIZE
    queue_offset = newest.max_offset - 1
    horizon = newest.max_physic_offset - _VERIFY_WINDOW
    for _ in range(_MAX_WALK_BACK):  # back to the window's start, reading units only
        unit = newest.read_unit(queue_offset)
        if queue_offset <= first or (unit is not None and unit[0] <= horizon):
            break
        queue_offset -= 1
    for _ in range(_MAX_WALK_BACK):
        if queue_offset < first:
            break
        offset = _unit_confirmed(commit_log, newest, queue_offset)
        if offset is not None:
            return offset, True
        queue_offset -= 1
    log.warning("%r points at damaged records: checking whole commit log segments", newest)
    return None, False


def _flushed_point(commit_log: CommitLog, checkpoint: CheckpointData) -> int | None:
    """The checkpoint's fsynced offset if it can be a record boundary of this log."""
    offset = checkpoint.physic_flushed_offset
    files = commit_log.queue.files
    if offset < 0 or not files:
        return None
    if not files[0].file_from_offset <= offset <= files[-1].file_from_offset + commit_log.file_size:
        return None
    mapped = commit_log.queue.find_file(offset)
    if mapped is None or offset == mapped.file_from_offset:
        return offset
    pos = offset - mapped.file_from_offset
    kind, size, request = check_record(mapped.view, pos, mapped.file_size, check_crc=False)
    # A record that names another offset means the number is not a boundary; a torn
    # record or zeros right there are what a crash after that flush leaves behind.
    if kind is RecordKind.MESSAGE and request is not None:
        return offset if request.commit_log_offset == offset else None
    if kind is RecordKind.BLANK:
        return offset if size == mapped.file_size - pos else None
    return offset


def _recover_queues(
    queues: dict[tuple[str, int], ConsumeQueue],
    damaged: list[tuple[ConsumeQueue, int | None]],
    log_bound: int,
    checkpoint: CheckpointData,
    system_crash: bool,
) -> list[ConsumeQueue]:
    """Step 1; returns the queues that must be rebuilt from an earlier point."""
    known = checkpoint.logics_flushed_offset
    rebuild = {id(cq): cq for cq, _ in damaged}
    for cq in queues.values():
        if system_crash:
            cleared = cq.recover(log_bound, scan_from=known if known >= 0 else None, full=known < 0)
        else:
            cleared = cq.recover(log_bound)
        if cleared:
            # Units were cut (torn by a crash, or damaged): what followed them is
            # dispatched again from the end of the last good unit.
            level = logging.INFO if system_crash else logging.WARNING
            log.log(level, "%r: dropped %d bytes of torn or invalid units", cq, cleared)
            rebuild[id(cq)] = cq
    return list(rebuild.values())


def recover_store(
    commit_log: CommitLog,
    queues: dict[tuple[str, int], ConsumeQueue],
    reput: ReputService,
    checkpoint: CheckpointData,
    *,
    abnormal: bool,
    check_crc: bool,
    damaged: list[tuple[ConsumeQueue, int | None]] | None = None,
    index: IndexService | None = None,
    process_crash: bool = False,
) -> RecoveryReport:
    """Steps 1-4 of the module docstring, then catch up and rebuild the offset table.

    `process_crash`: the exit was abnormal but the OS kept running since (same boot),
    so nothing written to the mappings was lost.
    """
    started = time.monotonic()
    system_crash = abnormal and not process_crash
    files = commit_log.queue.files
    log_bound = files[-1].file_from_offset + commit_log.file_size if files else 0
    rebuild = _recover_queues(queues, damaged or [], log_bound, checkpoint, system_crash)
    queues_done = time.monotonic()

    confirmed, trusted = confirmed_dispatch_point(commit_log, queues.values())
    if system_crash or (abnormal and not trusted):
        flushed = _flushed_point(commit_log, checkpoint) if trusted else None
        if flushed is None:
            flushed = abnormal_dispatch_start(commit_log, checkpoint)
        verify_from = flushed if confirmed is None else min(confirmed, flushed)
    elif confirmed is not None:
        verify_from = confirmed
    else:
        verify_from = files[max(0, len(files) - 3)].file_from_offset if files else 0
    recovered = recover_commit_log(commit_log, verify_from, check_crc=check_crc)
    end = recovered.end_offset
    commit_log.last_store_timestamp = max(
        recovered.last_store_timestamp, checkpoint.physic_msg_timestamp
    )

    if not commit_log.queue.files:
        for cq in queues.values():  # no log, so nothing can be indexed
            cq.destroy()
        queues.clear()
        rebuild = []
    for cq in queues.values():
        cq.truncate_dirty_logic_files(end)
    log_min = commit_log.min_offset

    reput_from = max([log_min, *(cq.max_physic_offset for cq in queues.values())])
    if system_crash:
        known = checkpoint.logics_flushed_offset
        reput_from = min(reput_from, known if known >= 0 else verify_from)
    for cq in rebuild:
        restart = cq.max_physic_offset if cq.queue.files and cq.max_physic_offset > 0 else log_min
        log.warning("%r is rebuilt from the commit log from offset %d", cq, restart)
        reput_from = min(reput_from, restart)
    if index is not None:
        check_after = checkpoint.index_flushed_offset if system_crash else None
        resume = index.recover(log_min, end, check_after=check_after)
        reput_from = min(reput_from, resume)
    reput.reput_from_offset = reput_from = min(max(reput_from, log_min), end)
    dispatch_started = time.monotonic()
    reput.do_reput()  # catch up (re-dispatching after a crash) before serving
    dispatch_done = time.monotonic()
    for cq in queues.values():
        cq.correct_min_offset(log_min)
    # Next queue offsets come from what the consume queues hold after catching up.
    commit_log.topic_queue_table = {key: cq.max_offset for key, cq in queues.items()}
    report = RecoveryReport(
        abnormal=abnormal,
        system_crash=system_crash,
        verified_from=verify_from,
        end_offset=end,
        verified_bytes=recovered.verified_bytes,
        dropped_bytes=recovered.dropped_bytes,
        reput_from=reput_from,
        redispatched_bytes=end - reput_from,
        seconds=time.monotonic() - started,
    )
    log.info(
        "store recovered in %.0f ms after %s: %d consume queues checked in %.0f ms; "
        "checked %d bytes of commit log from offset %d, log ends at %d (%d bytes "
        "dropped); dispatched %d bytes from %d in %.0f ms",
        report.seconds * 1000,
        "an OS crash" if system_crash else "a process crash" if abnormal else "a clean exit",
        len(queues),
        (queues_done - started) * 1000,
        report.verified_bytes,
        verify_from,
        end,
        report.dropped_bytes,
        report.redispatched_bytes,
        reput_from,
        (dispatch_done - dispatch_started) * 1000,
    )
    return report


def settle_checkpoint(
    checkpoint: StoreCheckpoint, report: RecoveryReport, *, synced: bool = False
) -> None:
    """Make the checkpoint's offsets agree with what recovery kept, and persist it
    before anything new is written: a record written later at a cut offset must never
    be mistaken for one the old checkpoint vouched for.

    `synced`: `sync_recovered` has put everything recovered on disk, so the offsets
    move up to the log end; otherwise they only move down.
    """
    end, rebuilt = report.end_offset, report.reput_from
    if synced:
        checkpoint.physic_flushed_offset = checkpoint.logics_flushed_offset = end
        checkpoint.index_flushed_offset = end
    else:
        checkpoint.physic_flushed_offset = min(checkpoint.physic_flushed_offset, end)
        checkpoint.logics_flushed_offset = min(checkpoint.logics_flushed_offset, rebuilt)
        checkpoint.index_flushed_offset = min(checkpoint.index_flushed_offset, rebuilt)
    if checkpoint.data() != checkpoint.loaded:
        checkpoint.flush()


def sync_recovered(
    commit_log: CommitLog,
    queues: Iterable[ConsumeQueue],
    index: IndexService | None,
    flushed_offset: int,
) -> None:
    """After a crash: fdatasync what recovery kept or rebuilt beyond the checkpoint.

    Data recovered from the page cache after a process crash, and units and entries
    re-dispatched at start, may not be on disk yet; once synced, the checkpoint can
    vouch for all of it (see settle_checkpoint), so a second crash soon after does not
    have to re-check more. Files with nothing dirty cost next to nothing. Blocking.
    """
    files = [
        m for m in commit_log.queue.files if flushed_offset < 0 or m.end_offset > flushed_offset
    ]
    for cq in queues:
        if cq.queue.files:
            files.extend({*cq.queue.dirty_files(), cq.queue.files[-1]})
    for mapped in files:
        mapped.fdatasync()
        mapped.flushed_position = mapped.wrote_position
    if index is not None:
        for index_file in {*index.dirty_files(), *index.files[-1:]}:
            index_file.write_header()
            index_file.fdatasync()
            index_file.dirty = False
