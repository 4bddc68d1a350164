"""A RaftLog in memory, for tests and the simulation, with a model of durability.

Appended entries are volatile until `sync()`; `crash()` then loses what was never
synced, as a power cut loses the page cache. A truncation counts as durable at once
(the file log truncates and fsyncs together), so it only lowers `synced_index`.
`crash(torn_at=…)` goes further and also drops synced entries, as a disk that
acknowledged an fsync it never did: the amnesia the Raft proofs assume away.
"""

from __future__ import annotations

from collections.abc import Sequence

from orbitmq.dledger.messages import Entry

__all__ = ["MemoryLog"]


class MemoryLog:
    """RaftLog over a Python list (index i at position i); entries given to the
    constructor count as synced, as if read back from disk."""

    __slots__ = ("_entries", "_synced_index")

    def __init__(self, entries: Sequence[Entry] = ()) -> None:
        self._entries: list[Entry] = []
        if entries:
            self.append(entries)
        self._synced_index = len(self._entries) - 1

    @property
    def first_index(self) -> int:
        return 0

    @property
    def last_index(self) -> int:
        return len(self._entries) - 1

    @property
    def last_term(self) -> int:
        return self._entries[-1].term if self._entries else -1

    @property
    def synced_index(self) -> int:
        """Entries up to here survive `crash()`."""
        return self._synced_index

    def term_at(self, index: int) -> int:
        if 0 <= index < len(self._entries):
            return self._entries[index].term
        return -1

    def entry(self, index: int) -> Entry:
        """The entry at `index`; IndexError if it is not stored."""
        if not 0 <= index < len(self._entries):
            raise IndexError(f"index {index} not in log [0, {len(self._entries) - 1}]")
        return self._entries[index]

    def entries(self, start: int, max_count: int, max_bytes: int) -> list[Entry]:
        if start < 0:
            raise IndexError(f"index {start} is below the first index 0")
        out: list[Entry] = []
        size = 0
        for entry in self._entries[start : start + max(max_count, 1)]:
            size += len(entry.body)
            if out and size > max_bytes:
                break
            out.append(entry)
        return out

    def append(self, entries: Sequence[Entry]) -> None:
        expected = len(self._entries)
        for entry in entries:
            if entry.index != expected:
                raise ValueError(f"append of index {entry.index}, expected {expected}")
            expected += 1
        self._entries.extend(entries)

    def truncate_after(self, index: int) -> None:
        if index < -1:
            raise ValueError(f"cannot truncate after index {index}")
        del self._entries[index + 1 :]
        self._synced_index = min(self._synced_index, index)

    def sync(self) -> None:
        """fsync: everything appended so far becomes durable."""
        self._synced_index = len(self._entries) - 1

    def crash(self, torn_at: int | None = None) -> None:
        """Lose what a power cut loses: every entry after `synced_index`, and with
        `torn_at` (a lying disk) every entry after that index even if synced."""
        keep = self._synced_index if torn_at is None else min(self._synced_index, torn_at)
        del self._entries[keep + 1 :]
        self._synced_index = len(self._entries) - 1
