"""The `checkpoint`, `abort` and `lock` files (StoreCheckpoint.java, DefaultMessageStore).

The checkpoint says how far data is known to be on disk, so recovery can start there
instead of re-checking everything: RocketMQ's three timestamps, plus OrbitMQ's exact
offsets (see layout.py). It is rewritten after every consume-queue flush round and at
shutdown; values only move forward.
"""

from __future__ import annotations

import contextlib
import fcntl
import os

from orbitmq.store.errors import StoreLockedError
from orbitmq.store.layout import (
    CHECKPOINT_FILE_SIZE,
    CheckpointData,
    decode_checkpoint,
    encode_checkpoint,
)


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
            # Own the block now: rewriting it later then never needs free space.
            with contextlib.suppress(OSError):
                os.posix_fallocate(fd, 0, CHECKPOINT_FILE_SIZE)
        finally:
            os.close(fd)
        self.loaded = data
        self.physic_msg_timestamp = data.physic_msg_timestamp
        self.logics_msg_timestamp = data.logics_msg_timestamp
        self.index_msg_timestamp = data.index_msg_timestamp
        self.physic_flushed_offset = data.physic_flushed_offset
        self.logics_flushed_offset = data.logics_flushed_offset
        self.index_flushed_offset = data.index_flushed_offset

    def data(self) -> CheckpointData:
        return CheckpointData(
            self.physic_msg_timestamp,
            self.logics_msg_timestamp,
            self.index_msg_timestamp,
            self.physic_flushed_offset,
            self.logics_flushed_offset,
            self.index_flushed_offset,
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


def boot_id() -> str:
    """The kernel's id of the current boot ("" where there is none, e.g. not Linux)."""
    try:
        with open("/proc/sys/kernel/random/boot_id") as fh:
            return fh.read().strip()
    except OSError:
        return ""


def write_abort_file(path: str) -> None:
    """Create `abort` (a start not yet matched by a clean stop).

    RocketMQ only checks that the file exists; OrbitMQ writes the boot id into it, so
    a later recovery can tell a process crash (same boot) from an OS crash.
    """
    with open(path, "wb") as fh:
        fh.write(boot_id().encode())


def abort_file_boot_id(path: str) -> str:
    """The boot id in `abort` ("" if none: written by Java or an older OrbitMQ)."""
    try:
        with open(path, "rb") as fh:
            return fh.read(64).decode("ascii", "replace").strip()
    except OSError:
        return ""


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
