"""MemoryLog: the RaftLog contract, and the durability model the simulation relies on."""

from __future__ import annotations

import pytest

from orbitmq.dledger.memory_log import MemoryLog
from orbitmq.dledger.messages import Entry, RaftLog


def entries(first: int, count: int, term: int = 1, size: int = 1) -> list[Entry]:
    return [Entry(i, term, b"x" * size) for i in range(first, first + count)]


def test_empty_log() -> None:
    log: RaftLog = MemoryLog()
    assert (log.first_index, log.last_index, log.last_term) == (0, -1, -1)
    assert log.term_at(-1) == log.term_at(0) == -1
    assert log.entries(0, 10, 100) == []


def test_append_must_continue_the_log() -> None:
    log = MemoryLog(entries(0, 3))
    with pytest.raises(ValueError, match="expected 3"):
        log.append(entries(4, 1))
    log.append(entries(3, 2, term=2))
    assert (log.last_index, log.last_term, log.term_at(2), log.term_at(5)) == (4, 2, 1, -1)


def test_entries_respect_both_limits_but_return_at_least_one() -> None:
    log = MemoryLog(entries(0, 10, size=10))
    assert [e.index for e in log.entries(2, 3, 1000)] == [2, 3, 4]
    assert [e.index for e in log.entries(2, 100, 25)] == [2, 3]
    assert [e.index for e in log.entries(8, 100, 1)] == [8]  # one, even if too big
    assert log.entries(10, 5, 100) == []


def test_crash_loses_only_what_was_never_synced() -> None:
    log = MemoryLog(entries(0, 2))
    assert log.synced_index == 1  # read back from "disk"
    log.append(entries(2, 3))
    log.crash()
    assert log.last_index == 1
    log.append(entries(2, 3))
    log.sync()
    log.crash()
    assert log.last_index == 4


def test_truncation_lowers_the_synced_index() -> None:
    log = MemoryLog(entries(0, 5))
    log.truncate_after(2)
    log.append(entries(3, 2, term=2))  # rewritten, not yet synced
    assert log.synced_index == 2
    log.crash()
    assert (log.last_index, log.last_term) == (2, 1)


def test_a_lying_disk_loses_synced_entries_too() -> None:
    log = MemoryLog(entries(0, 5))
    log.crash(torn_at=1)
    assert (log.last_index, log.synced_index) == (1, 1)
