"""Values the Raft core (raft.py) consumes and produces, and the log it runs on. Pure.

Indexes are 0-based and contiguous as in DLedger: the first entry is index 0, an empty
log has last_index -1 and last_term -1, and an AppendRequest with prev_index -1 /
prev_term -1 starts at the beginning of the log.

Every message names its sender (`src`), its receiver (`dst`) and the sender's term.
A VoteResponse granting a pre-vote is the one exception: it carries the term the
candidate *would* campaign at, because a pre-vote changes nobody's term.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

__all__ = [
    "AppendRequest",
    "AppendResponse",
    "Entry",
    "HardState",
    "Message",
    "RaftLog",
    "Role",
    "TimeoutNow",
    "VoteRequest",
    "VoteResponse",
]


class Role(enum.StrEnum):
    FOLLOWER = "FOLLOWER"
    CANDIDATE = "CANDIDATE"
    LEADER = "LEADER"


@dataclass(frozen=True, slots=True)
class Entry:
    index: int
    term: int
    body: bytes  # b"" is the no-op a new leader appends; the broker's reput skips it


@dataclass(frozen=True, slots=True)
class HardState:
    """What must be on disk before any message of the same Ready leaves the node."""

    term: int = 0
    voted_for: str = ""  # "" = no vote in this term


@dataclass(frozen=True, slots=True)
class VoteRequest:
    term: int
    src: str
    dst: str
    last_index: int
    last_term: int
    # A pre-vote asks "would you vote for me at `term`?" and changes no one's term.
    pre_vote: bool = False
    # Sent on TimeoutNow: voters ignore their leader lease, the old leader asked for this.
    transfer: bool = False


@dataclass(frozen=True, slots=True)
class VoteResponse:
    term: int
    src: str
    dst: str
    granted: bool
    pre_vote: bool = False
    reason: str = ""  # why a vote was refused, for logs and tests


@dataclass(frozen=True, slots=True)
class AppendRequest:
    """Entries after (prev_index, prev_term); with no entries it is a heartbeat."""

    term: int
    src: str
    dst: str
    prev_index: int
    prev_term: int
    entries: tuple[Entry, ...]
    commit_index: int


@dataclass(frozen=True, slots=True)
class AppendResponse:
    """On success `match_index` = prev_index + len(entries): the follower now holds the
    leader's log up to there. On reject `match_index` is the request's prev_index (so the
    leader can tell a stale reject from a current one) and `hint_index` is the highest
    index the follower believes may still match: the leader retries from hint_index + 1.
    """

    term: int
    src: str
    dst: str
    success: bool
    match_index: int
    hint_index: int = -1


@dataclass(frozen=True, slots=True)
class TimeoutNow:
    """Leadership transfer: campaign now, skip pre-vote, voters disregard their lease."""

    term: int
    src: str
    dst: str


Message = VoteRequest | VoteResponse | AppendRequest | AppendResponse | TimeoutNow


class RaftLog(Protocol):
    """The replicated log as the core sees it; durability is the driver's business
    (it fsyncs when a Ready says `sync_log` and reports back with `log_synced`)."""

    @property
    def first_index(self) -> int:
        """Lowest index whose entry can be read (0 unless retention removed a prefix;
        then the term of first_index - 1 is still known, for the prev_term of an
        AppendRequest starting at first_index)."""
        ...

    @property
    def last_index(self) -> int:
        """Index of the last entry, -1 when empty."""
        ...

    @property
    def last_term(self) -> int:
        """Term of the last entry (not the node's current term), -1 when empty."""
        ...

    def term_at(self, index: int) -> int:
        """Term of the entry at `index` (first_index - 1 included); -1 for index -1
        or an index not stored."""
        ...

    def entries(self, start: int, max_count: int, max_bytes: int) -> list[Entry]:
        """Entries from `start` on, within both limits but at least one if any exists."""
        ...

    def append(self, entries: Sequence[Entry]) -> None:
        """Add entries; entries[0].index must be last_index + 1."""
        ...

    def truncate_after(self, index: int) -> None:
        """Drop every entry above `index`."""
        ...
