"""Checkpoint file and startup recovery (StoreCheckpoint.java, CommitLog.recover*).

Order at start (store-and-replication.md §5.3, simplified as §17.2 allows):
1. Each consume queue is cut after its last valid unit (offset >= 0, size > 0).
2. The commit log is scanned from its third-last segment: magic, exact size arithmetic,
   body CRC and the record's own physical offset must all hold; a blank marker moves to
   the next segment; the first bad record ends the log. Everything after it is the
   torn tail: zeroed, later segments deleted, and the dropped byte count logged.
3. Consume-queue units pointing at or beyond the new log end are dropped.
4. Reput restarts at the furthest record any consume queue has indexed. After an
   abnormal exit (`abort` present) it restarts earlier, at the first segment whose first
   record is older than the checkpoint's safe time, so units lost with unflushed
   consume-queue pages are rebuilt; put_unit skips the units that survived.
"""

from __future__ import annotations

import fcntl
import logging
import os
from collections.abc import Iterable
from dataclasses import dataclass

from orbitmq.store.commit_log import CommitLog
from orbitmq.store.consume_queue import ConsumeQueue
from orbitmq.store.dispatch import ReputService
from orbitmq.store.errors import StoreLockedError
from orbitmq.store.layout import (
    CHECKPOINT_FILE_SIZE,
    CheckpointData,
    RecordKind,
    check_record,
    decode_checkpoint,
    encode_checkpoint,
)

log = logging.getLogger(__name__)


class StoreCheckpoint:
    """The 4 KiB `checkpoint` file; fields live in memory, `flush` persists them.

    `flush` opens the file itself rather than sharing a descriptor, so a flush still
    running in an executor thread after close can never write through a reused fd.
    """

    def __init__(self, path: str) -> None:
        self.path = path
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            data = decode_checkpoint(os.pread(fd, CHECKPOINT_FILE_SIZE, 0))
        finally:
            os.close(fd)
        self.physic_msg_timestamp = data.physic_msg_timestamp
        self.logics_msg_timestamp = data.logics_msg_timestamp
        self.index_msg_timestamp = data.index_msg_timestamp

    def data(self) -> CheckpointData:
        return CheckpointData(
            self.physic_msg_timestamp, self.logics_msg_timestamp, self.index_msg_timestamp
        )

    def flush(self) -> None:
        """Write and fdatasync the file. Blocking: call from an executor at run time."""
        raw = encode_checkpoint(self.data())
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            os.pwrite(fd, raw, 0)
            os.fdatasync(fd)
        finally:
            os.close(fd)


@dataclass(frozen=True, slots=True)
class CommitLogRecovery:
    end_offset: int  # end of the last valid record: the new max offset
    dropped_bytes: int  # non-zero bytes cut from the tail
    last_store_timestamp: int


def recover_consume_queues(queues: Iterable[ConsumeQueue]) -> int:
    """Cut every queue after its last valid unit; returns the furthest indexed log end."""
    max_physic = -1
    for cq in queues:
        cleared = cq.recover()
        if cleared:
            log.warning("%r: dropped %d bytes of torn units", cq, cleared)
        max_physic = max(max_physic, cq.max_physic_offset)
    return max_physic


def recover_commit_log(commit_log: CommitLog, *, check_crc: bool) -> CommitLogRecovery:
    files = commit_log.queue.files
    if not files:
        return CommitLogRecovery(0, 0, 0)
    file_size = commit_log.file_size
    index = max(0, len(files) - 3)
    mapped = files[index]
    pos = 0
    last_stamp = 0
    while True:
        kind, size, request = check_record(
            mapped.view, pos, file_size, check_crc=check_crc, torn_tail_checks=True
        )
        if kind is RecordKind.MESSAGE:
            assert request is not None
            if request.commit_log_offset != mapped.file_from_offset + pos:
                log.warning(
                    "record at %d claims physical offset %d; treating it as torn",
                    mapped.file_from_offset + pos,
                    request.commit_log_offset,
                )
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
            if kind is RecordKind.CORRUPT:
                log.warning(
                    "commit log: invalid record at %d ends the log", mapped.file_from_offset + pos
                )
            break
    end = mapped.file_from_offset + pos
    dropped = commit_log.queue.truncate_dirty_files(end)
    if dropped:
        log.warning(
            "commit log recovery dropped %d bytes of torn tail after offset %d", dropped, end
        )
    else:
        log.info("commit log recovered up to offset %d", end)
    return CommitLogRecovery(end, dropped, last_stamp)


def abnormal_dispatch_start(commit_log: CommitLog, checkpoint: CheckpointData) -> int:
    """Where re-dispatch must start after a crash: the newest segment whose first record
    was stored before the checkpoint's safe time (else the first segment)."""
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


def take_store_lock(path: str) -> int:
    """Exclusive flock on `lock`; returns the descriptor (closing it unlocks).

    Raises:
        StoreLockedError: another store (in this or another process) holds it.
    """
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        os.close(fd)
        raise StoreLockedError(path) from exc
    os.pwrite(fd, b"lock", 0)
    return fd


def recover_store(
    commit_log: CommitLog,
    queues: dict[tuple[str, int], ConsumeQueue],
    reput: ReputService,
    checkpoint: CheckpointData,
    *,
    abnormal: bool,
    check_crc: bool,
) -> None:
    """Steps 1-4 of the module docstring, then catch up and rebuild the offset table."""
    max_physic = recover_consume_queues(queues.values())
    recovered = recover_commit_log(commit_log, check_crc=check_crc)
    commit_log.last_store_timestamp = recovered.last_store_timestamp
    if not commit_log.queue.files:
        for cq in queues.values():  # no log, so nothing can be indexed
            cq.destroy()
        queues.clear()
    elif max_physic > recovered.end_offset:
        for cq in queues.values():
            cq.truncate_dirty_logic_files(recovered.end_offset)
    reput_from = max(max_physic, commit_log.min_offset)
    if abnormal:
        reput_from = min(reput_from, abnormal_dispatch_start(commit_log, checkpoint))
    reput.reput_from_offset = min(reput_from, recovered.end_offset)
    reput.do_reput()  # catch up (re-dispatching after a crash) before serving
    for cq in queues.values():
        cq.correct_min_offset(commit_log.min_offset)
    # Next queue offsets come from what the consume queues hold after catching up.
    commit_log.topic_queue_table = {key: cq.max_offset for key, cq in queues.items()}
