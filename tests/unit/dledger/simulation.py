"""A deterministic simulation of one Raft group (raft-testing.md §2, layer 2).

N RaftCores run against a simulated network (per-message delay, so reordering; drops,
duplicates, one-way cuts, partitions, rare long delays), a simulated disk (MemoryLog:
durable vs unsynced entries, a persisted hard state and commit hint), a virtual clock,
crashes (process kill, and power loss under SYNC_FLUSH), pauses (SIGSTOP), leadership
transfers and clients proposing. One `random.Random(seed)` drives all of it, so a seed
is a complete, replayable schedule.

The simulated driver carries out a Ready the way node.py must: persist the hard state,
fsync the log if asked, then send, then apply. A crash discards the core together with
any Ready not yet carried out: its hard state is lost and its messages are never sent.

The Checker verifies raft-testing.md §1 after every event: election safety, leader
append-only, log matching (every (index, term) names one body and one predecessor
term), leader completeness, commit index monotonic and within the log, state-machine
safety. After the chaos phase everything is healed and the run must converge: one
leader, identical logs, everything committed and applied, every acknowledged proposal
present.
"""

from __future__ import annotations

import heapq
import random
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from orbitmq.dledger.memory_log import MemoryLog
from orbitmq.dledger.messages import Entry, HardState, Message, Role, VoteRequest
from orbitmq.dledger.raft import NotLeaderError, RaftConfig, RaftCore, Ready, RoleChange

SEED_ENV = "ORBITMQ_RAFT_SEED"
SEEDS_ENV = "ORBITMQ_RAFT_SEEDS"
TRACE_LEN = 50

CoreFactory = Callable[..., RaftCore]


class SimulationFailure(AssertionError):
    """A seed broke a property; the message says which, how to replay, and the trace."""


class Violation(AssertionError):
    """Raised by the checker at the event that broke a property."""


@dataclass(frozen=True, slots=True)
class SimParams:
    """One seed's cluster and fault mix, drawn from the seed's generator."""

    n: int
    raft: RaftConfig
    drop: float
    duplicate: float
    max_delay_ms: int
    long_delay: float  # share of messages held for up to 3 election timeouts
    power_loss: bool  # crashes may lose unsynced entries (only safe under SYNC_FLUSH)
    lying_disk: bool  # power cuts also lose fsynced entries: Raft cannot survive this
    chaos_ms: int
    fault_every_ms: int  # mean gap between faults
    propose_every_ms: int  # mean gap between client proposals

    @classmethod
    def draw(cls, rng: random.Random) -> SimParams:
        heartbeat = rng.choice((20, 40, 60))
        timeout = heartbeat * rng.randint(3, 6)
        sync = rng.random() < 0.6
        raft = RaftConfig(
            heartbeat_interval_ms=heartbeat,
            election_timeout_ms=timeout,
            pre_vote=rng.random() < 0.7,
            check_quorum=rng.random() < 0.7,
            max_inflight=rng.choice((1, 2, 4, 64)),
            max_entries_per_append=rng.choice((1, 2, 3, 8, 512)),
            max_bytes_per_append=rng.choice((4, 16, 1 << 20)),
            sync_before_ack=sync,
            transfer_timeout_ms=timeout * 2,
        )
        return cls(
            n=5 if rng.random() < 0.25 else 3,
            raft=raft,
            drop=rng.choice((0.0, 0.02, 0.1, 0.25)),
            duplicate=rng.choice((0.0, 0.02, 0.1)),
            max_delay_ms=rng.choice((2, heartbeat // 4, heartbeat)),
            long_delay=rng.choice((0.0, 0.01)),
            power_loss=sync and rng.random() < 0.8,
            lying_disk=False,
            chaos_ms=timeout * rng.randint(10, 25),
            fault_every_ms=timeout,
            propose_every_ms=heartbeat,
        )


@dataclass(slots=True)
class SimStats:
    events: int = 0
    leaders: int = 0  # distinct (term, leader) pairs
    crashes: int = 0
    truncations: int = 0
    committed: int = 0  # highest committed index
    acked: int = 0
    transfers: int = 0
    converge_ms: int = 0  # heal -> converged
    faults: dict[str, int] = field(default_factory=dict)


class SimNode:
    """One member: what survives a crash (log, hard state, commit hint) and the core."""

    __slots__ = (
        "applied",
        "commit_hint",
        "core",
        "hard_state",
        "id",
        "led_term",
        "log",
        "paused_until",
        "ready_at",
        "seen_commit",
    )

    def __init__(self, node_id: str, checker: Checker) -> None:
        self.id = node_id
        self.log = CheckedLog(self, checker)
        self.hard_state = HardState()
        self.commit_hint = -1
        self.core: RaftCore | None = None
        self.ready_at: int | None = None  # a Ready is waiting to be carried out
        self.paused_until = 0
        self.applied = -1
        self.seen_commit = -1  # highest commit index this core instance reported
        self.led_term = -1  # the last term this node was seen leading


class CheckedLog(MemoryLog):
    """A MemoryLog that shows every change to the checker before making it."""

    __slots__ = ("_checker", "_node")

    def __init__(self, node: SimNode, checker: Checker) -> None:
        super().__init__()
        self._node = node
        self._checker = checker

    def append(self, entries: Sequence[Entry]) -> None:
        self._checker.on_append(self._node, self, entries)
        super().append(entries)

    def truncate_after(self, index: int) -> None:
        self._checker.on_truncate(self._node, index)
        super().truncate_after(index)


class Checker:
    """Raft's safety properties, each checked where it could first break."""

    def __init__(self, stats: SimStats) -> None:
        self.stats = stats
        self.entry_ids: dict[tuple[int, int], tuple[bytes, int]] = {}  # -> (body, prev term)
        self.leaders: dict[int, str] = {}
        self.committed: dict[int, Entry] = {}
        # reporter's term -> highest index a node in that term reported committed: such
        # an entry was committed in that term or earlier, so leaders of later terms hold it.
        self.commit_marks: dict[int, int] = {}
        self.proposals: dict[bytes, tuple[int, int]] = {}
        self.acked: dict[bytes, Entry] = {}

    def on_append(self, node: SimNode, log: MemoryLog, entries: Sequence[Entry]) -> None:
        prev_term = log.last_term
        for entry in entries:
            key = (entry.index, entry.term)
            seen = self.entry_ids.setdefault(key, (entry.body, prev_term))
            if seen != (entry.body, prev_term):
                raise Violation(
                    f"log matching: {node.id} appends {entry} after term {prev_term}; "
                    f"({entry.index}, {entry.term}) was {seen}"
                )
            prev_term = entry.term

    def on_truncate(self, node: SimNode, index: int) -> None:
        core = node.core
        if core is not None and core.role is Role.LEADER:
            raise Violation(f"leader append-only: {node.id} truncates after {index} as leader")
        self.stats.truncations += 1

    def on_role_change(self, node: SimNode, change: RoleChange) -> None:
        if change.role is Role.LEADER:
            self.on_leader(node, change.term)

    def on_leader(self, node: SimNode, term: int) -> None:
        """Called as soon as a core is seen leading (before its Ready), and again for
        the reported role change."""
        other = self.leaders.setdefault(term, node.id)
        if other != node.id:
            raise Violation(f"election safety: {other} and {node.id} both lead term {term}")
        if node.led_term == term:
            return
        node.led_term = term
        self.stats.leaders += 1
        for mark_term, index in self.commit_marks.items():
            if mark_term < term and node.log.term_at(index) != self.committed[index].term:
                raise Violation(
                    f"leader completeness: {node.id} leads term {term} without "
                    f"{self.committed[index]} (reported committed in term {mark_term})"
                )

    def on_apply(self, node: SimNode, entry: Entry, term: int) -> None:
        known = self.committed.setdefault(entry.index, entry)
        if known != entry:
            raise Violation(f"state-machine safety: {node.id} applies {entry}, others {known}")
        if self.commit_marks.get(term, -1) < entry.index:
            self.commit_marks[term] = entry.index
        self.stats.committed = max(self.stats.committed, entry.index)
        if self.proposals.get(entry.body) == (entry.index, entry.term):
            self.acked[entry.body] = entry

    def check_node(self, node: SimNode) -> None:
        core = node.core
        if core is None:
            return
        if core.role is Role.LEADER:
            self.on_leader(node, core.term)
        commit = core.committed_index
        if commit > node.log.last_index:
            raise Violation(f"{node.id}: commit {commit} beyond log end {node.log.last_index}")
        if commit < node.seen_commit:
            raise Violation(f"{node.id}: commit index went back {node.seen_commit} -> {commit}")


# event kinds, in tie-break order at equal times
_READY, _TICK, _DELIVER, _PROPOSE, _FAULT, _RESTART, _HEAL = range(7)


class Simulation:
    """One seed. `run()` returns SimStats or raises SimulationFailure."""

    def __init__(
        self,
        seed: int,
        core_factory: CoreFactory = RaftCore,
        params: SimParams | None = None,
    ) -> None:
        self.seed = seed
        self.rng = random.Random(seed)
        self.params = params or SimParams.draw(self.rng)
        self.core_factory = core_factory
        self.stats = SimStats()
        self.checker = Checker(self.stats)
        self.ids = [f"n{i}" for i in range(self.params.n)]
        self.nodes = {node_id: SimNode(node_id, self.checker) for node_id in self.ids}
        self.now = 0
        self.cuts: set[tuple[str, str]] = set()
        self.healed = False
        self.give_up_at = 1 << 62
        self.trace: deque[tuple[int, str, object]] = deque(maxlen=TRACE_LEN)
        self._events: list[tuple[int, int, int, Any]] = []
        self._seq = 0
        self._proposal_seq = 0
        for node in self.nodes.values():
            self._start(node)

    # driver -------------------------------------------------------------------------
    def run(self) -> SimStats:
        try:
            self._run()
        except Exception as exc:  # a crash inside a core deserves the same replay report
            raise SimulationFailure(self._report(exc)) from exc
        return self.stats

    def _run(self) -> None:
        params = self.params
        self._push(self._gap(params.fault_every_ms), _FAULT, None)
        self._push(self._gap(params.propose_every_ms), _PROPOSE, None)
        self._push(params.chaos_ms, _HEAL, None)
        while True:
            when, kind, payload = self._next_event()
            if when > self.give_up_at:
                raise Violation(
                    f"liveness: no convergence {when - params.chaos_ms} ms after healing"
                )
            self.now = when
            self.stats.events += 1
            self._dispatch(kind, payload)
            if self.healed and self._converged():
                self.stats.converge_ms = self.now - params.chaos_ms
                return

    def _next_event(self) -> tuple[int, int, Any]:
        best: tuple[int, int, Any] = (1 << 62, _HEAL, None)
        if self._events:
            when, _seq, kind, payload = self._events[0]
            best = (when, kind, payload)
        for node in self.nodes.values():
            core = node.core
            if core is None:
                continue
            if node.ready_at is not None:
                when = max(node.ready_at, node.paused_until, self.now)
                if (when, _READY) < best[:2]:
                    best = (when, _READY, node)
            # a timer that came due while the node was paused fires as it resumes
            when = max(core.next_deadline_ms(), node.paused_until, self.now)
            if (when, _TICK) < best[:2]:
                best = (when, _TICK, node)
        if best[1] not in (_READY, _TICK):
            heapq.heappop(self._events)
        return best

    def _dispatch(self, kind: int, payload: Any) -> None:
        if kind == _DELIVER:
            self._deliver(payload)
        elif kind == _READY:
            self._carry_out(payload)
        elif kind == _TICK:
            node: SimNode = payload
            assert node.core is not None
            node.core.tick(self.now)
            self._after_input(node)
        elif kind == _PROPOSE:
            if not self.healed:
                self._propose()
                self._push(self.now + self._gap(self.params.propose_every_ms), _PROPOSE, None)
        elif kind == _FAULT:
            if not self.healed:
                self._fault()
                self._push(self.now + self._gap(self.params.fault_every_ms), _FAULT, None)
        elif kind == _RESTART:
            if self.nodes[payload].core is None:
                self._start(self.nodes[payload])
        else:
            self._heal()

    def _after_input(self, node: SimNode) -> None:
        """Most inputs are carried out at once; some wait a little, so Readies batch
        several inputs and a crash can fall between an input and its Ready."""
        self.checker.check_node(node)
        if node.ready_at is None:
            if self.rng.random() < 0.8:
                self._carry_out(node)
            else:
                node.ready_at = self.now + self.rng.randint(1, 3)

    def _carry_out(self, node: SimNode) -> None:
        """node.py's order: hard state, log fsync, send, apply."""
        node.ready_at = None
        core = node.core
        assert core is not None
        rd = core.ready()
        for change in rd.role_changes:
            self.trace.append((self.now, node.id, change))
            self.checker.on_role_change(node, change)
        if rd.hard_state is not None:
            node.hard_state = rd.hard_state
        if rd.sync_log:
            node.log.sync()
            core.log_synced(node.log.last_index)
            node.ready_at = self.now  # log_synced may have committed more
        for msg in rd.messages:
            self._send(msg)
        if rd.committed_index is not None:
            if rd.committed_index <= node.seen_commit:
                raise Violation(f"{node.id}: reported commit {rd.committed_index} again")
            node.seen_commit = rd.committed_index
            node.commit_hint = rd.committed_index
            self._apply(node, rd.committed_index, core.term)
        self.checker.check_node(node)

    def _apply(self, node: SimNode, upto: int, term: int) -> None:
        for index in range(node.applied + 1, upto + 1):
            self.checker.on_apply(node, node.log.entry(index), term)
        node.applied = max(node.applied, upto)

    def _start(self, node: SimNode) -> None:
        node.core = self.core_factory(
            node.id,
            self.ids,
            node.log,
            node.hard_state,
            self.params.raft,
            self.rng,
            self.now,
            committed_index=node.commit_hint,
        )
        node.ready_at = None
        node.applied = -1  # the state machine is rebuilt from the log
        node.seen_commit = node.core.committed_index
        self.trace.append((self.now, node.id, "start"))
        self._apply(node, node.core.committed_index, node.hard_state.term)

    # network ------------------------------------------------------------------------
    def _send(self, msg: Message) -> None:
        rng = self.rng
        params = self.params
        if rng.random() < params.drop and not self.healed:
            return
        copies = 2 if rng.random() < params.duplicate and not self.healed else 1
        for _ in range(copies):
            delay = rng.randint(1, max(1, params.max_delay_ms))
            if rng.random() < params.long_delay and not self.healed:
                delay = rng.randint(1, 3 * params.raft.election_timeout_ms)
            self._push(self.now + delay, _DELIVER, msg)

    def _deliver(self, msg: Message) -> None:
        node = self.nodes[msg.dst]
        if node.core is None or (msg.src, msg.dst) in self.cuts:
            return
        if node.paused_until > self.now:
            self._push(node.paused_until, _DELIVER, msg)  # queued in the socket buffer
            return
        self.trace.append((self.now, "deliver", msg))
        node.core.step(msg, self.now)
        self._after_input(node)

    def _push(self, when: int, kind: int, payload: Any) -> None:
        self._seq += 1
        heapq.heappush(self._events, (when, self._seq, kind, payload))

    def _gap(self, mean_ms: int) -> int:
        return 1 + int(self.rng.expovariate(1.0 / mean_ms))

    # clients and faults -------------------------------------------------------------
    def _leader(self) -> SimNode | None:
        """The running leader of the highest term, if any."""
        best: SimNode | None = None
        best_term = -1
        for node in self.nodes.values():
            core = node.core
            if core is None or core.role is not Role.LEADER or node.paused_until > self.now:
                continue
            if core.term > best_term:
                best, best_term = node, core.term
        return best

    def _propose(self) -> None:
        # Clients write to whoever they believe leads, a deposed leader in a minority
        # included: its uncommitted suffix is what later gets truncated.
        running = [n for n in self.nodes.values() if n.core is not None]
        running = [n for n in running if n.paused_until <= self.now]
        leaders = [n for n in running if n.core is not None and n.core.role is Role.LEADER]
        if not running:
            return
        node = self.rng.choice(leaders if leaders and self.rng.random() < 0.9 else running)
        core = node.core
        assert core is not None
        count = self.rng.choice((1, 1, 2, 3))
        bodies = []
        for _ in range(count):
            self._proposal_seq += 1
            bodies.append(b"p%d" % self._proposal_seq)
        try:
            first = core.propose(bodies, self.now)
        except NotLeaderError:
            return
        for i, body in enumerate(bodies):
            self.checker.proposals[body] = (first + i, core.term)
        self.trace.append((self.now, node.id, f"propose {len(bodies)} at {first}"))
        self._after_input(node)

    def _fault(self) -> None:
        rng = self.rng
        kind = rng.choice(
            ("crash", "crash", "partition", "isolate", "cut", "heal", "pause", "transfer")
        )
        self.stats.faults[kind] = self.stats.faults.get(kind, 0) + 1
        leader = self._leader()
        victim = leader if leader is not None and rng.random() < 0.5 else None
        victim = victim or rng.choice(list(self.nodes.values()))
        timeout = self.params.raft.election_timeout_ms
        detail = ""
        if kind == "crash" and victim.core is not None:
            self._crash(victim)
            self._push(self.now + rng.randint(0, 3 * timeout), _RESTART, victim.id)
            detail = victim.id
        elif kind == "partition":
            side = {i for i in self.ids if rng.random() < 0.5}
            self.cuts |= {(a, b) for a in self.ids for b in self.ids if (a in side) != (b in side)}
            detail = f"{sorted(side)} | rest"
        elif kind == "isolate":
            self.cuts |= {(victim.id, b) for b in self.ids} | {(b, victim.id) for b in self.ids}
            detail = victim.id
        elif kind == "cut":
            a, b = rng.sample(self.ids, 2)
            self.cuts.add((a, b))
            detail = f"{a} -> {b}"
        elif kind == "heal":
            self.cuts.clear()
        elif kind == "pause":
            victim.paused_until = self.now + rng.randint(timeout // 2, 3 * timeout)
            detail = f"{victim.id} until {victim.paused_until}"
        elif kind == "transfer" and leader is not None:
            target = rng.choice([i for i in self.ids if i != leader.id])
            assert leader.core is not None
            leader.core.transfer_leadership(target, self.now)
            self.stats.transfers += 1
            detail = f"{leader.id} -> {target}"
            self._after_input(leader)
        self.trace.append((self.now, "fault", f"{kind} {detail}"))

    def _crash(self, node: SimNode) -> None:
        # kill -9 keeps the page cache; a power cut loses what was not fsynced.
        power_cut = self.params.power_loss and self.rng.random() < 0.5
        if power_cut:
            log = node.log
            log.crash(self.rng.randint(-1, log.last_index) if self.params.lying_disk else None)
        node.core = None  # and with it any Ready not carried out
        node.ready_at = None
        node.paused_until = 0
        self.stats.crashes += 1
        self.trace.append((self.now, node.id, "power cut" if power_cut else "kill -9"))

    def _heal(self) -> None:
        self.healed = True
        # Elections settle within a few timeouts; catching up may take a round trip per
        # entry when the limits allow one entry in flight.
        longest = max(node.log.last_index for node in self.nodes.values()) + 1
        params = self.params
        self.give_up_at = (
            self.now + 40 * params.raft.election_timeout_ms + 2 * params.max_delay_ms * longest
        )
        self.cuts.clear()
        for node in self.nodes.values():
            node.paused_until = 0
            if node.core is None:
                self._start(node)
        self.trace.append((self.now, "heal", "all links up, all nodes running"))

    # the end ------------------------------------------------------------------------
    def _converged(self) -> bool:
        leader = self._leader()
        if leader is None or leader.core is None:
            return False
        lcore = leader.core
        last_index, last_term = leader.log.last_index, leader.log.last_term
        for node in self.nodes.values():
            core = node.core
            if (
                core is None
                or core.leader_id != leader.id
                or core.term != lcore.term
                or node.log.last_index != last_index
                or node.log.last_term != last_term
                or node.applied != last_index
            ):
                return False
        self._check_final(leader)
        return True

    def _check_final(self, leader: SimNode) -> None:
        reference = leader.log.entries(0, leader.log.last_index + 1, 1 << 62)
        for node in self.nodes.values():
            if node.log.entries(0, node.log.last_index + 1, 1 << 62) != reference:
                raise Violation(f"final logs differ: {node.id} vs leader {leader.id}")
        for body, entry in self.checker.acked.items():
            if leader.log.term_at(entry.index) != entry.term or (
                leader.log.entry(entry.index).body != body
            ):
                raise Violation(f"acknowledged {entry} missing from the final log")
        self.stats.acked = len(self.checker.acked)

    def _report(self, exc: BaseException) -> str:
        lines = [
            f"seed {self.seed} failed at t={self.now} ms: {type(exc).__name__}: {exc}",
            f"replay: {SEED_ENV}={self.seed} pytest tests/unit/dledger/test_raft_simulation.py",
            f"params: {self.params}",
            f"last {len(self.trace)} events:",
        ]
        lines += [f"  {when:>7} {who:<8} {what}" for when, who, what in self.trace]
        return "\n".join(lines)


def run_seed(seed: int, core_factory: CoreFactory = RaftCore) -> SimStats:
    """Simulate one seed; SimulationFailure names the seed and shows the trace."""
    return Simulation(seed, core_factory).run()


# Broken rules, for tests that prove the checker is not vacuous ------------------------
class DoubleVoteCore(RaftCore):
    """Forgets its vote before each request: two votes in one term."""

    def _on_vote_request(self, msg: VoteRequest) -> None:
        self._voted_for = ""
        super()._on_vote_request(msg)


class LastTermOnlyVoteCore(RaftCore):
    """Compares only the last terms when voting, ignoring a longer log in that term."""

    def _log_up_to_date(self, last_term: int, last_index: int) -> bool:
        return last_term >= self._log.last_term


class AckBeforeSyncCore(RaftCore):
    """A follower acknowledges entries before they are fsynced (SYNC_FLUSH ignored)."""

    def ready(self) -> Ready:
        rd = super().ready()
        if self.role is not Role.LEADER:
            rd.sync_log = False
        return rd


class CountingCommitCore(RaftCore):
    """Commits any entry a majority holds, whatever its term (DLedger 0.3.1.2's rule,
    thesis Fig. 3.7)."""

    def _may_commit(self, index: int) -> bool:
        return True
