"""The Raft rules of DLedger mode as a pure state machine (Ongaro's thesis, etcd-io/raft).

Theory of operation: a RaftCore is fed inputs (`step` for a peer's message, `tick` for
the passage of time, `propose`, `transfer_leadership`, `log_synced`) and never does I/O.
It writes entries to the RaftLog it was given, and everything else it wants done is
collected into a Ready, which the driver takes with `ready()` and carries out in order:
persist and fsync `hard_state`, fsync the log if `sync_log` (then call `log_synced`),
send `messages`, apply entries up to `committed_index`. Nothing may be sent before the
state it depends on is on disk: a vote is only as good as the persisted vote behind it.

Roles. A FOLLOWER that hears nothing from a leader for its randomized election timeout
(in [T, 2T)) first runs a pre-vote at term + 1, which changes nobody's term, then, given
a majority, a real election as CANDIDATE. A voter grants at most one vote per term, only
to a candidate whose log is at least as up to date as its own, and refuses pre-votes
while it has heard from a leader within T (its "lease"). The winner appends a no-op
entry in its own term, because a leader commits only entries of its own term by
counting replicas (thesis §3.6.2, Fig. 3.7); older ones commit with it.

Replication. The leader keeps a _Progress per follower. In probe mode at most one
AppendRequest is outstanding, and a reject moves next_index back (to the follower's
hint); the first success switches to replicate mode, where up to max_inflight requests
are pipelined with an optimistic next_index. Every heartbeat interval each follower
gets an empty AppendRequest at that optimistic position: it carries the commit index,
proves the leader alive, and, if a request was lost, draws the reject that sends the
follower back to probing; in probe mode the heartbeat simply resends the probe.
Requests are built lazily in `ready()`, so many proposals between two calls leave as
one batch.
"""

from __future__ import annotations

import random
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from orbitmq.dledger.messages import (
    AppendRequest,
    AppendResponse,
    Entry,
    HardState,
    Message,
    RaftLog,
    Role,
    TimeoutNow,
    VoteRequest,
    VoteResponse,
)
from orbitmq.errors import OrbitMQError
from orbitmq.protocol.codes import ResponseCode

__all__ = [
    "NotLeaderError",
    "RaftConfig",
    "RaftCore",
    "Ready",
    "RoleChange",
    "TransferInProgressError",
]

_NO_CAP = 1 << 62  # larger than any index


@dataclass(frozen=True, slots=True)
class RaftConfig:
    heartbeat_interval_ms: int = 200
    election_timeout_ms: int = 1000  # T: randomized per election in [T, 2T)
    pre_vote: bool = True
    check_quorum: bool = True  # a leader without a majority for T steps down
    max_inflight: int = 64  # pipelined AppendRequests per follower
    max_entries_per_append: int = 512
    max_bytes_per_append: int = 1 << 20
    sync_before_ack: bool = False  # SYNC_FLUSH: an entry counts for a node once fsynced
    transfer_timeout_ms: int = 2000

    def __post_init__(self) -> None:
        if not 0 < self.heartbeat_interval_ms < self.election_timeout_ms:
            raise ValueError(
                f"heartbeat interval {self.heartbeat_interval_ms} ms must be positive and "
                f"below the election timeout {self.election_timeout_ms} ms"
            )
        if min(self.max_inflight, self.max_entries_per_append, self.max_bytes_per_append) < 1:
            raise ValueError("max_inflight and the per-append limits must be at least 1")
        if self.transfer_timeout_ms < 1:
            raise ValueError(f"transfer timeout {self.transfer_timeout_ms} ms must be positive")


@dataclass(frozen=True, slots=True)
class RoleChange:
    role: Role
    term: int
    leader_id: str  # "" while no leader is known


@dataclass(slots=True)
class Ready:
    """Everything the core produced since the last `ready()`, in the order to carry out."""

    hard_state: HardState | None = None  # persist + fsync before sending anything
    sync_log: bool = False  # fsync the log before sending, then call log_synced()
    messages: list[Message] = field(default_factory=list)
    committed_index: int | None = None  # new commit index; apply entries up to it
    role_changes: list[RoleChange] = field(default_factory=list)


class NotLeaderError(OrbitMQError):
    """Only the leader accepts proposals; `leader_id` ("" if unknown) is where to go."""

    response_code = ResponseCode.SERVICE_NOT_AVAILABLE
    retriable = True

    def __init__(self, leader_id: str, term: int, message: str = "") -> None:
        super().__init__(message or f"not the leader in term {term} (leader: {leader_id or '?'})")
        self.leader_id = leader_id
        self.term = term


class TransferInProgressError(NotLeaderError):
    """The leader is handing over (LEADER_TRANSFERRING): retry shortly, elsewhere."""


class _Progress:
    """The leader's view of one follower (etcd's Progress, DLedger's dispatcher state)."""

    __slots__ = (
        "heartbeat_due",
        "inflight",
        "last_response_ms",
        "match_index",
        "next_index",
        "probe_sent",
        "probing",
    )

    def __init__(self, next_index: int, now_ms: int) -> None:
        self.match_index = -1  # highest index known to be on the follower (durably, if sync)
        self.next_index = next_index  # first index to send next
        self.probing = True  # probe mode: one request at a time until the logs agree
        self.probe_sent = False
        self.inflight: deque[int] = deque()  # last index of each pipelined request
        self.heartbeat_due = False
        self.last_response_ms = now_ms  # for check_quorum; a new leader starts trusted

    def reset_to_probe(self, next_index: int) -> None:
        self.next_index = next_index
        self.probing = True
        self.probe_sent = False
        self.inflight.clear()


class RaftCore:
    """One member's Raft state machine; see the module docstring."""

    def __init__(
        self,
        node_id: str,
        peers: Sequence[str],
        log: RaftLog,
        hard_state: HardState,
        config: RaftConfig,
        rng: random.Random,
        now_ms: int,
        committed_index: int = -1,
    ) -> None:
        """Start as FOLLOWER with no known leader.

        Args:
            peers: every member id, this node's included.
            hard_state: the persisted term and vote.
            committed_index: the persisted commit hint; it may be stale, and it is
                clamped to the log's end.
        """
        if node_id not in peers:
            raise ValueError(f"{node_id!r} is not among the peers {list(peers)}")
        self._node_id = node_id
        self._peers = tuple(peers)
        self._log = log
        self._config = config
        self._rng = rng
        self._others = tuple(p for p in self._peers if p != node_id)
        self._quorum = len(self._peers) // 2 + 1
        self._term = hard_state.term
        self._voted_for = hard_state.voted_for
        self._role = Role.FOLLOWER
        self._leader_id = ""
        self._committed_index = max(-1, min(committed_index, log.last_index))
        self._now = now_ms
        # What the driver reported fsynced; a restart reads the log back from disk.
        self._synced_index = log.last_index
        # Lowest index truncated since the last log_synced(): an fsync that began before
        # the truncation may not cover what was rewritten above it.
        self._sync_cap = _NO_CAP
        self._messages: list[Message] = []
        self._hard_state_dirty = False
        self._commit_dirty = False
        self._role_changes: list[RoleChange] = []
        self._reported = (self._role, self._term, self._leader_id)
        # Follower / candidate
        self._leader_contact_ms = now_ms
        self._randomized_timeout = 0
        self._pre_voting = False
        self._votes: dict[str, bool] = {}
        self._randomize_timeout()
        self._election_deadline = now_ms + self._randomized_timeout
        # Leader
        self._progress: dict[str, _Progress] = {}
        self._heartbeat_deadline = 0
        self._transferee = ""
        self._transfer_deadline = 0

    # read-only state ----------------------------------------------------------------
    @property
    def node_id(self) -> str:
        return self._node_id

    @property
    def peers(self) -> tuple[str, ...]:
        """Every member, this node included."""
        return self._peers

    @property
    def term(self) -> int:
        return self._term

    @property
    def role(self) -> Role:
        return self._role

    @property
    def leader_id(self) -> str:
        """The leader of the current term, "" while unknown."""
        return self._leader_id

    @property
    def committed_index(self) -> int:
        return self._committed_index

    @property
    def voted_for(self) -> str:
        return self._voted_for

    # inputs -------------------------------------------------------------------------
    def tick(self, now_ms: int) -> None:
        """Run the timers due by `now_ms`: election, heartbeat, check-quorum, transfer."""
        self._now = now_ms
        if self._role is Role.LEADER:
            if self._transferee and now_ms >= self._transfer_deadline:
                self._transferee = ""  # abandoned: accept proposals again
            if now_ms >= self._heartbeat_deadline:
                self._heartbeat_deadline = now_ms + self._config.heartbeat_interval_ms
                self._on_heartbeat_timer()
        elif now_ms >= self._election_deadline:
            self._campaign(pre_vote=self._config.pre_vote, transfer=False)

    def step(self, msg: Message, now_ms: int) -> None:
        """Handle one message from a peer."""
        if msg.dst != self._node_id:
            raise ValueError(f"message for {msg.dst!r} stepped into {self._node_id!r}")
        if msg.src not in self._others:
            return  # not a member of this group
        self._now = now_ms
        if msg.term > self._term:
            if isinstance(msg, VoteRequest):
                if msg.pre_vote:
                    self._on_pre_vote_request(msg)
                    return
                if self._config.check_quorum and not msg.transfer and self._in_lease():
                    # A node that cannot see our live leader must not depose it (thesis
                    # §4.2.3); its term stays its own business.
                    return
                self._become_follower(msg.term, "")
            elif isinstance(msg, VoteResponse) and msg.pre_vote and msg.granted:
                pass  # carries the term we would campaign at, not the voter's
            else:
                leader = msg.src if isinstance(msg, AppendRequest | TimeoutNow) else ""
                self._become_follower(msg.term, leader)
        elif msg.term < self._term:
            self._on_stale_message(msg)
            return
        match msg:
            case VoteRequest(pre_vote=True):
                self._on_pre_vote_request(msg)
            case VoteRequest():
                self._on_vote_request(msg)
            case VoteResponse():
                self._on_vote_response(msg)
            case AppendRequest():
                self._on_append_request(msg)
            case AppendResponse():
                self._on_append_response(msg)
            case TimeoutNow():
                if self._role is not Role.LEADER:
                    self._campaign(pre_vote=False, transfer=True)

    def propose(self, bodies: Sequence[bytes], now_ms: int) -> int:
        """Append one entry per body in the current term; replication starts at the
        next `ready()`.

        Returns:
            The index of the first new entry.

        Raises:
            NotLeaderError: this node is not the leader.
            TransferInProgressError: leadership is being handed over.
        """
        self._now = now_ms
        if self._role is not Role.LEADER:
            raise NotLeaderError(self._leader_id, self._term)
        if self._transferee:
            raise TransferInProgressError(
                self._node_id,
                self._term,
                f"handing leadership to {self._transferee} in term {self._term}",
            )
        if not bodies:
            raise ValueError("nothing to propose")
        first = self._log.last_index + 1
        term = self._term
        self._log.append([Entry(first + i, term, body) for i, body in enumerate(bodies)])
        if not self._others:
            self._advance_commit()
        return first

    def log_synced(self, index: int) -> None:
        """The driver fsynced the log up to `index` (captured before the fsync began,
        one fsync at a time)."""
        index = min(index, self._sync_cap, self._log.last_index)
        self._sync_cap = _NO_CAP
        if index > self._synced_index:
            self._synced_index = index
            if self._role is Role.LEADER and self._config.sync_before_ack:
                self._advance_commit()

    def transfer_leadership(self, target: str, now_ms: int) -> None:
        """Hand leadership to `target`: refuse proposals, bring it up to date, send it
        TimeoutNow; give up after transfer_timeout_ms.

        Raises:
            NotLeaderError: this node is not the leader.
            ValueError: `target` is not a member.
        """
        self._now = now_ms
        if self._role is not Role.LEADER:
            raise NotLeaderError(self._leader_id, self._term)
        if target == self._node_id:
            return
        if target not in self._progress:
            raise ValueError(f"{target!r} is not a member of {list(self._peers)}")
        self._transferee = target
        self._transfer_deadline = now_ms + self._config.transfer_timeout_ms
        self._maybe_send_timeout_now()

    # outputs ------------------------------------------------------------------------
    def ready(self) -> Ready:
        """Everything produced since the last call; see Ready for the order to carry out."""
        if self._role is Role.LEADER:
            self._send_appends()
        rd = Ready(messages=self._messages, role_changes=self._role_changes)
        self._messages = []
        self._role_changes = []
        if self._hard_state_dirty:
            self._hard_state_dirty = False
            rd.hard_state = HardState(self._term, self._voted_for)
        if self._config.sync_before_ack and self._log.last_index > self._synced_index:
            # Acks (and the leader's own count) claim durability, so nothing leaves first.
            rd.sync_log = True
        if self._commit_dirty:
            self._commit_dirty = False
            rd.committed_index = self._committed_index
        return rd

    def next_deadline_ms(self) -> int:
        """When `tick` next has work to do."""
        if self._role is Role.LEADER:
            if self._transferee:
                return min(self._heartbeat_deadline, self._transfer_deadline)
            return self._heartbeat_deadline
        return self._election_deadline

    def status(self) -> dict[str, Any]:
        """A snapshot for admin commands; `peers` is filled on the leader only."""
        peers = {
            peer: {
                "match_index": pr.match_index,
                "next_index": pr.next_index,
                "inflight": 1 if pr.probing and pr.probe_sent else len(pr.inflight),
                "probing": pr.probing,
            }
            for peer, pr in self._progress.items()
        }
        return {
            "term": self._term,
            "role": self._role.value,
            "leader_id": self._leader_id,
            "committed_index": self._committed_index,
            "last_index": self._log.last_index,
            "last_term": self._log.last_term,
            "voted_for": self._voted_for,
            "transferee": self._transferee,
            "peers": peers,
        }

    # role transitions ---------------------------------------------------------------
    def _become_follower(self, term: int, leader_id: str) -> None:
        if term != self._term:
            self._term = term
            self._voted_for = ""
            self._hard_state_dirty = True
        self._role = Role.FOLLOWER
        self._leader_id = leader_id
        self._pre_voting = False
        self._votes = {}
        self._progress = {}
        self._transferee = ""
        if leader_id:
            self._leader_contact_ms = self._now
        self._randomize_timeout()
        self._election_deadline = self._now + self._randomized_timeout
        self._note_role()

    def _campaign(self, pre_vote: bool, transfer: bool) -> None:
        """Start a pre-vote (term unchanged, role stays FOLLOWER) or a real election."""
        self._randomize_timeout()
        self._election_deadline = self._now + self._randomized_timeout
        self._leader_id = ""
        self._votes = {self._node_id: True}
        self._pre_voting = pre_vote
        if pre_vote:
            self._role = Role.FOLLOWER
            term = self._term + 1
        else:
            self._role = Role.CANDIDATE
            self._term += 1
            self._voted_for = self._node_id
            self._hard_state_dirty = True
            term = self._term
        self._note_role()
        last_index, last_term = self._log.last_index, self._log.last_term
        for peer in self._others:
            self._messages.append(
                VoteRequest(term, self._node_id, peer, last_index, last_term, pre_vote, transfer)
            )
        self._tally()

    def _become_leader(self) -> None:
        self._role = Role.LEADER
        self._leader_id = self._node_id
        self._pre_voting = False
        self._votes = {}
        next_index = self._log.last_index + 1  # the no-op below goes out with the first probe
        self._progress = {peer: _Progress(next_index, self._now) for peer in self._others}
        self._heartbeat_deadline = self._now + self._config.heartbeat_interval_ms
        self._transferee = ""
        self._log.append([Entry(next_index, self._term, b"")])
        self._note_role()
        self._advance_commit()

    def _note_role(self) -> None:
        current = (self._role, self._term, self._leader_id)
        if current != self._reported:
            self._reported = current
            self._role_changes.append(RoleChange(*current))

    def _randomize_timeout(self) -> None:
        timeout = self._config.election_timeout_ms
        self._randomized_timeout = timeout + self._rng.randrange(timeout)

    def _in_lease(self) -> bool:
        """Heard from a live leader within T (or is the leader)."""
        if self._role is Role.LEADER:
            return True
        return bool(self._leader_id) and (
            self._now - self._leader_contact_ms < self._config.election_timeout_ms
        )

    # elections ----------------------------------------------------------------------
    def _log_up_to_date(self, last_term: int, last_index: int) -> bool:
        return (last_term, last_index) >= (self._log.last_term, self._log.last_index)

    def _on_pre_vote_request(self, msg: VoteRequest) -> None:
        reason = ""
        if not msg.transfer and self._in_lease():
            reason = f"leader {self._leader_id} is alive"
        elif not self._log_up_to_date(msg.last_term, msg.last_index):
            reason = "log behind"
        elif msg.term == self._term and (self._voted_for not in ("", msg.src) or self._leader_id):
            reason = f"already voted for {self._voted_for or self._leader_id} in term {self._term}"
        # A grant carries the term asked about: no one adopts a term for a pre-vote.
        term = self._term if reason else msg.term
        self._messages.append(
            VoteResponse(term, self._node_id, msg.src, not reason, pre_vote=True, reason=reason)
        )

    def _on_vote_request(self, msg: VoteRequest) -> None:
        reason = ""
        if self._voted_for not in ("", msg.src):
            reason = f"already voted for {self._voted_for} in term {self._term}"
        elif not self._log_up_to_date(msg.last_term, msg.last_index):
            reason = "log behind"
        else:
            if self._voted_for != msg.src:
                self._voted_for = msg.src
                self._hard_state_dirty = True
            # A node that just voted gives the candidate a full timeout to win.
            self._election_deadline = self._now + self._randomized_timeout
        self._messages.append(
            VoteResponse(self._term, self._node_id, msg.src, not reason, reason=reason)
        )

    def _on_vote_response(self, msg: VoteResponse) -> None:
        if msg.pre_vote:
            if not self._pre_voting or (msg.granted and msg.term != self._term + 1):
                return  # from an earlier round
        elif self._role is not Role.CANDIDATE:
            return
        self._votes[msg.src] = msg.granted
        self._tally()

    def _tally(self) -> None:
        granted = sum(self._votes.values())
        if granted >= self._quorum:
            if self._pre_voting:
                self._campaign(pre_vote=False, transfer=False)
            else:
                self._become_leader()
        elif len(self._votes) - granted >= self._quorum:
            # Lost: wait out the timeout as a follower (etcd's becomeFollower on loss).
            self._pre_voting = False
            self._votes = {}
            if self._role is Role.CANDIDATE:
                self._role = Role.FOLLOWER
                self._note_role()

    def _on_stale_message(self, msg: Message) -> None:
        """A message from an older term: answer requests so their sender learns it is
        behind (a deposed leader steps down, a candidate gives up); drop the rest."""
        if isinstance(msg, AppendRequest):
            self._messages.append(
                AppendResponse(self._term, self._node_id, msg.src, False, msg.prev_index)
            )
        elif isinstance(msg, VoteRequest):
            self._messages.append(
                VoteResponse(
                    self._term, self._node_id, msg.src, False, msg.pre_vote, reason="stale term"
                )
            )

    # replication: follower side -----------------------------------------------------
    def _on_append_request(self, msg: AppendRequest) -> None:
        if self._role is Role.LEADER:
            raise AssertionError(f"two leaders in term {self._term}: {self._node_id}, {msg.src}")
        if self._role is not Role.FOLLOWER or self._leader_id != msg.src or self._pre_voting:
            self._become_follower(msg.term, msg.src)
        self._leader_contact_ms = self._now
        self._election_deadline = self._now + self._randomized_timeout
        log = self._log
        prev = msg.prev_index
        # Entries up to the commit index match every later leader's, whatever the term.
        if prev > self._committed_index and log.term_at(prev) != msg.prev_term:
            hint = self._reject_hint(prev, msg.prev_term)
            self._messages.append(
                AppendResponse(self._term, self._node_id, msg.src, False, prev, hint)
            )
            return
        if msg.entries:
            self._store_entries(msg.entries)
        match = prev + len(msg.entries)
        commit = min(msg.commit_index, match)
        if commit > self._committed_index:
            self._set_committed(commit)
        self._messages.append(AppendResponse(self._term, self._node_id, msg.src, True, match))

    def _store_entries(self, entries: tuple[Entry, ...]) -> None:
        """Append what is new, skip what matches, cut a conflicting suffix first."""
        log = self._log
        first = entries[0].index
        skip = max(0, log.first_index - first)  # removed by retention: committed long ago
        overlap_end = min(log.last_index, entries[-1].index)
        if skip < len(entries) and overlap_end >= first + skip:
            j = overlap_end - first
            if log.term_at(overlap_end) == entries[j].term:
                # Log matching: the last overlapping entry agrees, so all before it do.
                skip = j + 1
            else:
                while log.term_at(entries[skip].index) == entries[skip].term:
                    skip += 1
                cut = entries[skip].index - 1
                if cut < self._committed_index:
                    # Leader completeness broken somewhere: refuse to lose committed data.
                    raise AssertionError(
                        f"{self._node_id}: leader {entries[skip]} conflicts with committed "
                        f"index {self._committed_index}"
                    )
                log.truncate_after(cut)
                self._synced_index = min(self._synced_index, cut)
                self._sync_cap = min(self._sync_cap, cut)
        if skip < len(entries):
            log.append(entries[skip:])

    def _reject_hint(self, prev_index: int, prev_term: int) -> int:
        """The highest index that may still match the leader: at or below our log end,
        below prev_index, with a term <= prev_term (the leader's terms up to prev_index
        are all <= prev_term). Terms never decrease along a log, so bisect."""
        log = self._log
        lo = self._committed_index  # known to match
        hi = min(prev_index - 1, log.last_index)
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if log.term_at(mid) <= prev_term:
                lo = mid
            else:
                hi = mid - 1
        return lo

    def _set_committed(self, index: int) -> None:
        self._committed_index = index
        self._commit_dirty = True

    # replication: leader side -------------------------------------------------------
    def _on_heartbeat_timer(self) -> None:
        if self._config.check_quorum:
            recent = self._now - self._config.election_timeout_ms
            active = 1 + sum(pr.last_response_ms > recent for pr in self._progress.values())
            if active < self._quorum:
                self._become_follower(self._term, "")
                return
        for pr in self._progress.values():
            pr.heartbeat_due = True
            if pr.probing:
                pr.probe_sent = False  # the probe may be lost: resend it as the heartbeat
        if self._transferee:
            self._maybe_send_timeout_now()  # a TimeoutNow may have been lost

    def _send_appends(self) -> None:
        last = self._log.last_index
        first = self._log.first_index
        for peer, pr in self._progress.items():
            if pr.next_index < first:
                # It needs entries that retention removed here, and there are no
                # snapshots. Once per heartbeat, probe at our first entry (the log knows
                # the term before it): that keeps the follower following and notices a
                # store copied back in place; a reject leaves it here, probing.
                if pr.heartbeat_due:
                    self._send_append(peer, first, -1)
            elif pr.probing:
                if not pr.probe_sent:
                    pr.probe_sent = True
                    self._send_append(peer, pr.next_index, last)
            else:
                sent = False
                while pr.next_index <= last and len(pr.inflight) < self._config.max_inflight:
                    pr.next_index = self._send_append(peer, pr.next_index, last) + 1
                    pr.inflight.append(pr.next_index - 1)
                    sent = True
                if pr.heartbeat_due and not sent:
                    self._send_append(peer, pr.next_index, -1)
            pr.heartbeat_due = False

    def _send_append(self, peer: str, start: int, last: int) -> int:
        """Send entries from `start` (none if past `last`); returns the last index sent."""
        entries: tuple[Entry, ...] = ()
        if start <= last:
            cfg = self._config
            entries = tuple(
                self._log.entries(start, cfg.max_entries_per_append, cfg.max_bytes_per_append)
            )
        prev = start - 1
        self._messages.append(
            AppendRequest(
                self._term,
                self._node_id,
                peer,
                prev,
                self._log.term_at(prev),
                entries,
                self._committed_index,
            )
        )
        return prev + len(entries)

    def _on_append_response(self, msg: AppendResponse) -> None:
        pr = self._progress.get(msg.src)
        if pr is None:
            return  # not the leader any more; a same-term response arrived late
        pr.last_response_ms = self._now
        if not msg.success:
            rejected = msg.match_index
            stale = rejected != pr.next_index - 1 if pr.probing else rejected <= pr.match_index
            if not stale:
                if msg.hint_index < pr.match_index:
                    # The follower lost entries it had acknowledged (restarted with an
                    # emptied store, or its unsynced tail gone): resend from its end.
                    pr.match_index = msg.hint_index
                pr.reset_to_probe(max(pr.match_index + 1, min(rejected, msg.hint_index + 1)))
            return
        match = msg.match_index
        progressed = match > pr.match_index
        if progressed:
            pr.match_index = match
        if pr.probing:
            # The logs agree up to match_index: stream from there on.
            pr.probing = False
            pr.next_index = pr.match_index + 1
        else:
            pr.next_index = max(pr.next_index, match + 1)
            while pr.inflight and pr.inflight[0] <= match:
                pr.inflight.popleft()
        if progressed:
            self._advance_commit()
            if msg.src == self._transferee:
                self._maybe_send_timeout_now()

    def _own_match(self) -> int:
        if self._config.sync_before_ack:
            return min(self._synced_index, self._log.last_index)
        return self._log.last_index

    def _advance_commit(self) -> None:
        matches = [pr.match_index for pr in self._progress.values()]
        matches.append(self._own_match())
        matches.sort(reverse=True)
        index = matches[self._quorum - 1]  # the highest index a majority holds
        if index > self._committed_index and self._may_commit(index):
            self._set_committed(index)

    def _may_commit(self, index: int) -> bool:
        """Counting replicas commits only entries of the leader's own term (Fig. 3.7)."""
        return self._log.term_at(index) == self._term

    def _maybe_send_timeout_now(self) -> None:
        pr = self._progress[self._transferee]
        if pr.match_index == self._log.last_index:
            self._messages.append(TimeoutNow(self._term, self._node_id, self._transferee))
