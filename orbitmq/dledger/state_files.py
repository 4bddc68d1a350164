"""DLedger's small state files, Java properties text as DLedger writes them.

`currterm` (MemberState.persistTerm): the Raft hard state.
    currTerm=<term>
    voteLeader=<member id>      (absent when this member has not voted in the term)
`checkpoint` (DLedgerMmapFileStore.persistCheckPoint): where the log ended and how far
it was known committed, a hint for the restart.
    endIndex=<index>
    committedIndex=<index>

Both are replaced whole: written to `<name>.tmp`, renamed over the old file, so a
reader sees the old or the new content, never a mix. `currterm` is also fsynced (file,
then directory) before save returns: Raft's safety needs a vote or term, once acted
on, to survive a power cut. The checkpoint is not: it only says how much a restart may
treat as committed without asking the group, and losing the latest one merely makes
the restart start from an older committed index.
"""

from __future__ import annotations

import contextlib
import logging
import os
from dataclasses import dataclass

import javaproperties

from orbitmq.dledger.messages import HardState
from orbitmq.store.errors import StoreError

__all__ = [
    "LogCheckpoint",
    "fsync_directory",
    "load_checkpoint",
    "load_hard_state",
    "save_checkpoint",
    "save_hard_state",
]

log = logging.getLogger(__name__)

CURR_TERM_KEY = "currTerm"
VOTE_LEADER_KEY = "voteLeader"
END_INDEX_KEY = "endIndex"
COMMITTED_INDEX_KEY = "committedIndex"


@dataclass(frozen=True, slots=True)
class LogCheckpoint:
    end_index: int = -1
    committed_index: int = -1


def load_hard_state(path: str) -> HardState:
    """The term and vote in `currterm`; HardState() if there is no file yet.

    Raises:
        StoreError: the file exists but cannot be read or parsed. Starting over at term
            0 could let this member vote twice in a term, so it is not done silently.
    """
    try:
        with open(path, encoding="utf-8") as fh:
            props = javaproperties.load(fh)
    except FileNotFoundError:
        return HardState()
    except (OSError, UnicodeDecodeError) as exc:
        raise StoreError(f"cannot read the Raft term file {path}: {exc}") from exc
    try:
        term = int(props.get(CURR_TERM_KEY, "0"))
    except ValueError as exc:
        raise StoreError(
            f"{path}: {CURR_TERM_KEY}={props[CURR_TERM_KEY]!r} is not a number; fix or "
            "restore the file (deleting it forgets this member's votes)"
        ) from exc
    return HardState(term=term, voted_for=props.get(VOTE_LEADER_KEY, ""))


def save_hard_state(path: str, state: HardState) -> None:
    """Replace `currterm` durably. Blocking (two fsyncs)."""
    props = {CURR_TERM_KEY: str(state.term)}
    if state.voted_for:
        props[VOTE_LEADER_KEY] = state.voted_for
    _replace(path, javaproperties.dumps(props, timestamp=False), durable=True)


def load_checkpoint(path: str) -> LogCheckpoint:
    """The `checkpoint` values; the defaults (-1) when it is missing or unreadable."""
    try:
        with open(path, encoding="utf-8") as fh:
            props = javaproperties.load(fh)
        return LogCheckpoint(
            end_index=int(props.get(END_INDEX_KEY, "-1")),
            committed_index=int(props.get(COMMITTED_INDEX_KEY, "-1")),
        )
    except FileNotFoundError:
        return LogCheckpoint()
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        # Only a hint (see the module docstring): the group re-establishes the rest.
        log.warning("ignoring the DLedger checkpoint %s: %s", path, exc)
        return LogCheckpoint()


def save_checkpoint(path: str, end_index: int, committed_index: int) -> None:
    """Replace `checkpoint` atomically, without waiting for the disk."""
    props = {END_INDEX_KEY: str(end_index), COMMITTED_INDEX_KEY: str(committed_index)}
    _replace(path, javaproperties.dumps(props, timestamp=False), durable=False)


def _replace(path: str, text: str, *, durable: bool) -> None:
    tmp = path + ".tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o644)
    try:
        data = text.encode("utf-8")
        written = 0
        while written < len(data):
            written += os.write(fd, data[written:])
        if durable:
            os.fsync(fd)
    except BaseException:
        os.close(fd)
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    os.close(fd)
    os.replace(tmp, path)
    if durable:
        fsync_directory(os.path.dirname(path) or ".")


def fsync_directory(directory: str) -> None:
    """Make a rename or unlink in `directory` survive a power cut."""
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
