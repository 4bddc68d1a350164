"""RaftCore scenarios with messages delivered by hand (raft-testing.md §4).

A Cluster plays the network and the drivers: `collect` carries out every core's Ready
(persist the hard state, fsync if asked, queue the messages), `deliver` hands queued
messages over (dropping what the test's filter refuses, or what crosses a cut), and
`stabilize` repeats both until nothing is in flight. Time moves only when a test says:
`fire` runs one node's next timer, `run_for` ticks everyone through some heartbeats.
"""

from __future__ import annotations

import dataclasses
import random
from collections.abc import Callable
from typing import TypeVar

import pytest

from orbitmq.dledger.memory_log import MemoryLog
from orbitmq.dledger.messages import (
    AppendRequest,
    AppendResponse,
    Entry,
    HardState,
    Message,
    Role,
    TimeoutNow,
    VoteRequest,
    VoteResponse,
)
from orbitmq.dledger.raft import (
    NotLeaderError,
    RaftConfig,
    RaftCore,
    RoleChange,
    TransferInProgressError,
)
from tests.unit.dledger.simulation import CountingCommitCore

CONFIG = RaftConfig(heartbeat_interval_ms=100, election_timeout_ms=1000)
# The classic algorithm, for schedules where pre-vote and leases would get in the way.
PLAIN = RaftConfig(
    heartbeat_interval_ms=100, election_timeout_ms=1000, pre_vote=False, check_quorum=False
)

Keep = Callable[[Message], bool]
M = TypeVar("M", bound=Message)


def _everything(msg: Message) -> bool:
    return True


class Cluster:
    def __init__(
        self, n: int = 3, config: RaftConfig = CONFIG, core_cls: type[RaftCore] = RaftCore
    ) -> None:
        self.ids = [f"n{i}" for i in range(n)]
        self.config = config
        self.core_cls = core_cls
        self.rng = random.Random(7)
        self.logs = {i: MemoryLog() for i in self.ids}
        self.hard = {i: HardState() for i in self.ids}
        self.cores: dict[str, RaftCore | None] = {}
        self.now = 0
        self.queue: list[Message] = []
        self.cut: set[str] = set()  # isolated nodes
        self.role_changes: list[tuple[str, RoleChange]] = []
        self.sent: list[Message] = []
        for node_id in self.ids:
            self.restart(node_id)

    def __getitem__(self, node_id: str) -> RaftCore:
        core = self.cores[node_id]
        assert core is not None, f"{node_id} is down"
        return core

    def restart(self, node_id: str, committed_index: int = -1) -> None:
        self.cores[node_id] = self.core_cls(
            node_id,
            self.ids,
            self.logs[node_id],
            self.hard[node_id],
            self.config,
            self.rng,
            self.now,
            committed_index,
        )

    def crash(self, node_id: str) -> None:
        """kill -9 after the last Ready was carried out: the log and hard state stay."""
        self.cores[node_id] = None

    def collect(self) -> None:
        for node_id, core in self.cores.items():
            if core is None:
                continue
            rd = core.ready()
            if rd.hard_state is not None:
                self.hard[node_id] = rd.hard_state
            if rd.sync_log:
                self.logs[node_id].sync()
                core.log_synced(self.logs[node_id].last_index)
            self.role_changes += [(node_id, change) for change in rd.role_changes]
            self.queue += rd.messages
            self.sent += rd.messages

    def deliver(self, keep: Keep = _everything) -> None:
        batch, self.queue = self.queue, []
        for msg in batch:
            core = self.cores[msg.dst]
            if core is None or {msg.src, msg.dst} & self.cut or not keep(msg):
                continue
            core.step(msg, self.now)

    def stabilize(self, keep: Keep = _everything) -> None:
        for _ in range(10_000):
            self.collect()
            if not self.queue:
                return
            self.deliver(keep)
        raise AssertionError("messages still flowing after 10000 rounds")

    def fire(self, node_id: str) -> None:
        """Run this node's next timer (election or heartbeat) at its deadline."""
        core = self[node_id]
        self.now = max(self.now, core.next_deadline_ms())
        core.tick(self.now)

    def elect(self, node_id: str) -> None:
        self.fire(node_id)
        self.stabilize()
        assert self[node_id].role is Role.LEADER

    def run_for(self, ms: int, keep: Keep = _everything) -> None:
        """Tick every live node each heartbeat interval, delivering everything between."""
        end = self.now + ms
        while self.now < end:
            self.now = min(end, self.now + self.config.heartbeat_interval_ms)
            for core in self.cores.values():
                if core is not None:
                    core.tick(self.now)
            self.stabilize(keep)

    def propose(self, node_id: str, *bodies: bytes) -> int:
        return self[node_id].propose(bodies, self.now)

    def bodies(self, node_id: str) -> list[bytes]:
        log = self.logs[node_id]
        return [e.body for e in log.entries(0, log.last_index + 1, 1 << 40)]

    def leaders_by_term(self) -> dict[int, set[str]]:
        out: dict[int, set[str]] = {}
        for node_id, change in self.role_changes:
            if change.role is Role.LEADER:
                out.setdefault(change.term, set()).add(node_id)
        return out


def only_between(a: str, b: str) -> Keep:
    return lambda msg: {msg.src, msg.dst} == {a, b}


def vote_request(src: str, dst: str, term: int, last_index: int, last_term: int) -> VoteRequest:
    return VoteRequest(term, src, dst, last_index, last_term)


def vote_reply(core: RaftCore) -> VoteResponse:
    (msg,) = core.ready().messages
    assert isinstance(msg, VoteResponse)
    return msg


def of_type(messages: list[Message], kind: type[M]) -> list[M]:
    return [m for m in messages if isinstance(m, kind)]


# elections --------------------------------------------------------------------------
def test_one_leader_elected_and_noop_committed() -> None:
    c = Cluster()
    c.elect("n0")
    assert (c["n0"].term, c["n0"].leader_id) == (1, "n0")
    for node_id in ("n1", "n2"):
        assert (c[node_id].role, c[node_id].leader_id) == (Role.FOLLOWER, "n0")
    assert c.logs["n0"].entry(0) == Entry(0, 1, b"")  # the new leader's no-op
    assert c["n0"].committed_index == 0
    c.run_for(100)  # one heartbeat tells the followers
    assert [c[i].committed_index for i in c.ids] == [0, 0, 0]
    assert c.leaders_by_term() == {1: {"n0"}}
    # followers report the leader once known, so the driver can re-register
    assert ("n1", RoleChange(Role.FOLLOWER, 1, "n0")) in c.role_changes


def test_split_vote_then_success_in_the_next_term() -> None:
    c = Cluster(4, PLAIN)
    c.fire("n0")
    c.fire("n1")
    assert c["n0"].role is c["n1"].role is Role.CANDIDATE
    # n2 hears n0 first, n3 hears n1 first: 2 votes each, no majority of 4
    c.collect()
    first = [m for m in c.queue if (m.src, m.dst) in {("n0", "n2"), ("n1", "n3")}]
    c.queue = first + [m for m in c.queue if m not in first]
    c.stabilize()
    assert all(c[i].role is not Role.LEADER for i in c.ids)
    assert {c[i].term for i in c.ids} == {1}
    c.elect("n1")
    assert c["n1"].term == 2
    assert c.leaders_by_term() == {2: {"n1"}}


def test_vote_refused_for_an_older_last_term_even_if_longer() -> None:
    log = MemoryLog([Entry(0, 1, b""), Entry(1, 3, b"x")])
    voter = RaftCore("n0", ["n0", "n1", "n2"], log, HardState(3), PLAIN, random.Random(1), 0)
    voter.step(vote_request("n1", "n0", 4, last_index=5, last_term=2), 0)
    response = vote_reply(voter)
    assert (response.granted, response.reason) == (False, "log behind")
    assert voter.term == 4  # the higher term is still adopted


def test_vote_refused_for_a_shorter_log_in_the_same_last_term() -> None:
    log = MemoryLog([Entry(0, 1, b""), Entry(1, 1, b"x")])
    voter = RaftCore("n0", ["n0", "n1", "n2"], log, HardState(1), PLAIN, random.Random(1), 0)
    voter.step(vote_request("n1", "n0", 2, last_index=0, last_term=1), 0)
    assert not vote_reply(voter).granted
    voter.step(vote_request("n2", "n0", 2, last_index=1, last_term=1), 0)
    assert vote_reply(voter).granted


def test_vote_granted_once_per_term_even_across_restart() -> None:
    peers = ["n0", "n1", "n2"]
    log = MemoryLog()
    voter = RaftCore("n0", peers, log, HardState(), PLAIN, random.Random(1), 0)
    voter.step(vote_request("n1", "n0", 5, -1, -1), 0)
    rd = voter.ready()
    assert rd.hard_state == HardState(5, "n1")  # persisted before the grant leaves
    assert [m.granted for m in of_type(rd.messages, VoteResponse)] == [True]
    voter.step(vote_request("n2", "n0", 5, -1, -1), 0)
    assert not vote_reply(voter).granted

    restarted = RaftCore("n0", peers, log, rd.hard_state, PLAIN, random.Random(2), 10)
    restarted.step(vote_request("n2", "n0", 5, -1, -1), 10)
    refusal = vote_reply(restarted)
    assert (refusal.granted, refusal.reason) == (False, "already voted for n1 in term 5")
    restarted.step(vote_request("n1", "n0", 5, -1, -1), 10)  # a resent request
    assert vote_reply(restarted).granted


def test_higher_term_in_a_reply_steps_the_leader_down() -> None:
    c = Cluster()
    c.elect("n0")
    c.collect()
    c["n0"].step(AppendResponse(7, "n1", "n0", False, 0), c.now)
    rd = c["n0"].ready()
    assert c["n0"].role is Role.FOLLOWER
    assert rd.hard_state == HardState(7, "")
    assert rd.role_changes == [RoleChange(Role.FOLLOWER, 7, "")]
    with pytest.raises(NotLeaderError):
        c.propose("n0", b"x")


def test_check_quorum_steps_down_an_isolated_leader() -> None:
    c = Cluster()
    c.elect("n0")
    c.cut.add("n0")
    start = c.now
    while c["n0"].role is Role.LEADER:
        c.fire("n0")  # heartbeats nobody answers
        c.stabilize()
    assert c.now - start <= CONFIG.election_timeout_ms + CONFIG.heartbeat_interval_ms
    assert ("n0", RoleChange(Role.FOLLOWER, 1, "")) in c.role_changes

    lenient = Cluster(config=RaftConfig(heartbeat_interval_ms=100, check_quorum=False))
    lenient.elect("n0")
    lenient.cut.add("n0")
    lenient.run_for(5000)
    assert lenient["n0"].role is Role.LEADER


def test_pre_vote_keeps_a_returning_node_from_raising_the_term() -> None:
    c = Cluster()
    c.elect("n0")
    c.cut.add("n2")
    c.run_for(10_000)  # n2 times out over and over; its pre-votes go nowhere
    assert c["n2"].term == 1
    c.cut.clear()
    c.fire("n2")  # its pre-vote now arrives, at nodes that hear their leader
    c.collect()
    assert any(isinstance(m, VoteRequest) and m.pre_vote for m in c.queue)
    c.stabilize()
    refusals = [m for m in c.sent if isinstance(m, VoteResponse) and m.dst == "n2"]
    assert refusals and not any(m.granted for m in refusals)
    assert refusals[-1].reason == "leader n0 is alive"
    c.run_for(200)
    assert [(c[i].term, c[i].leader_id) for i in c.ids] == [(1, "n0")] * 3

    # Without pre-vote and leases the same return deposes a healthy leader.
    plain = Cluster(config=PLAIN)
    plain.elect("n0")
    plain.cut.add("n2")
    plain.run_for(10_000)
    assert plain["n2"].term > 1
    plain.cut.clear()
    plain.run_for(5000)
    assert plain["n0"].term > 1


def test_asymmetric_cut_keeps_one_stable_leader() -> None:
    """n0 and n1 cannot talk, n2 sees both (dledger #25): no endless elections."""
    c = Cluster()
    c.elect("n0")

    def not_n0_n1(msg: Message) -> bool:
        return {msg.src, msg.dst} != {"n0", "n1"}

    c.run_for(10_000, keep=not_n0_n1)
    assert c.leaders_by_term() == {1: {"n0"}}
    assert [c[i].term for i in c.ids] == [1, 1, 1]
    index = c.propose("n0", b"x")
    c.run_for(200, keep=not_n0_n1)
    assert c["n0"].committed_index == index  # n0 and n2 are a majority


# replication ------------------------------------------------------------------------
def test_partitioned_leader_cannot_commit_and_its_suffix_is_truncated() -> None:
    c = Cluster()
    c.elect("n0")
    c.run_for(100)
    c.cut.add("n0")
    lost = c.propose("n0", b"lost-1", b"lost-2")
    c.run_for(300)
    assert c["n0"].committed_index < lost  # no majority, no commit
    c.fire("n1")  # n1 has not heard n0 for an election timeout
    c.stabilize()
    assert c["n1"].role is Role.LEADER
    kept = c.propose("n1", b"kept")
    c.stabilize()
    c.run_for(100)
    assert c["n1"].committed_index == kept
    c.cut.clear()
    c.run_for(300)
    n0 = c["n0"]
    assert (n0.role, n0.leader_id) == (Role.FOLLOWER, "n1")
    assert b"lost-1" not in c.bodies("n0")
    assert c.bodies("n0") == c.bodies("n1") == c.bodies("n2")
    assert n0.committed_index == kept <= c.logs["n0"].last_index


def _figure_8(core_cls: type[RaftCore]) -> Cluster:
    """Thesis Fig. 3.7 on five nodes, up to the point where n0 (S1) has copied its
    old-term entry `a` to a majority while its own no-op reached only n1."""
    c = Cluster(5, dataclasses.replace(PLAIN, max_entries_per_append=1), core_cls)
    c.elect("n0")  # term 1, no-op at index 0 everywhere
    c.run_for(100)
    a = c.propose("n0", b"a")  # index 1, term 1, reaches only n1
    c.stabilize(only_between("n0", "n1"))
    assert a == 1 and c.logs["n1"].entry(1).body == b"a"
    c.crash("n0")

    c.fire("n4")  # elected by n2, n3, n4 in term 2; its entries reach no one
    c.stabilize(lambda m: not isinstance(m, AppendRequest))
    assert c["n4"].role is Role.LEADER and c["n4"].term == 2
    c.propose("n4", b"b")
    c.collect()
    c.queue.clear()
    c.crash("n4")

    c.restart("n0", committed_index=0)  # its checkpoint
    while c["n0"].role is not Role.LEADER:  # loses term 2 (n2, n3 voted n4), wins term 3
        c.fire("n0")
        c.stabilize(lambda m: not isinstance(m, AppendRequest))
    assert c["n0"].term == 3
    c.fire("n0")  # heartbeat: probes go out again

    def keep(msg: Message) -> bool:
        if {msg.src, msg.dst} == {"n0", "n1"} or msg.src == "n2":
            return True
        if msg.dst != "n2" or not isinstance(msg, AppendRequest):
            return False
        # n2 gets probes it refuses and `a`, but not the term-3 no-op after `a`
        refused = c.logs["n2"].term_at(msg.prev_index) != msg.prev_term
        return refused or all(e.index < 2 for e in msg.entries)

    c.stabilize(keep)
    assert [c.logs[i].term_at(1) for i in c.ids] == [1, 1, 1, -1, 2]  # `a` on a majority
    return c


def test_figure_8_previous_term_entry_not_committed_by_counting() -> None:
    c = _figure_8(RaftCore)
    assert c["n0"].status()["peers"]["n2"]["match_index"] == 1
    assert c["n0"].committed_index == 0  # `a` is on 3 of 5, but it is from term 1
    c.crash("n0")
    c.restart("n4")
    while c["n4"].role is not Role.LEADER:  # wins with n2 and n3, whose last term is 1
        c.fire("n4")
        c.stabilize()
    c.run_for(300)
    for node_id in ("n1", "n2", "n3", "n4"):
        assert c.bodies(node_id) == [b"", b"", b"b", b""]  # `a` overwritten everywhere
        assert c[node_id].committed_index == 3
    assert c.leaders_by_term() == {1: {"n0"}, 2: {"n4"}, 3: {"n0"}, 4: {"n4"}}


def test_figure_8_counting_commit_would_lose_a_committed_entry() -> None:
    """The same schedule with DLedger 0.3.1.2's rule: `a` counts as committed, then is
    overwritten, which is what the test above guards against."""
    c = _figure_8(CountingCommitCore)
    assert c["n0"].committed_index == 1
    c.crash("n0")
    c.restart("n4")
    while c["n4"].role is not Role.LEADER:
        c.fire("n4")
        c.stabilize()
    c.run_for(300)
    assert c.logs["n2"].entry(1) == Entry(1, 2, b"")  # committed `a` is gone


def test_follower_learns_the_commit_index_within_a_heartbeat() -> None:
    c = Cluster()
    c.elect("n0")
    index = c.propose("n0", b"x")
    c.stabilize()
    assert c["n0"].committed_index == index
    assert c["n1"].committed_index < index  # the append itself carried the old one
    c.fire("n0")
    c.stabilize()
    assert [c[i].committed_index for i in c.ids] == [index] * 3


def test_duplicated_and_reordered_appends_are_harmless() -> None:
    c = Cluster(config=RaftConfig(heartbeat_interval_ms=100, max_entries_per_append=1))
    c.elect("n0")
    c.run_for(100)
    c.propose("n0", b"x", b"y", b"z")
    c.collect()
    to_n1 = [m for m in c.queue if m.dst == "n1"]
    assert len(to_n1) == 3
    c.queue = list(reversed(to_n1)) + to_n1 + to_n1  # reordered, then twice more
    c.stabilize()
    assert c.bodies("n1") == [b"", b"x", b"y", b"z"]
    c.run_for(200)
    assert c.bodies("n1") == c.bodies("n0") == c.bodies("n2")
    assert c["n1"].committed_index == 3


def test_sync_before_ack_acks_and_counts_only_fsynced_entries() -> None:
    config = RaftConfig(heartbeat_interval_ms=100, sync_before_ack=True)
    c = Cluster(config=config)
    c.elect("n0")
    c.run_for(100)
    index = c.propose("n0", b"x")
    leader = c["n0"].ready()
    assert leader.sync_log  # the leader must fsync before its requests leave
    c.queue += leader.messages  # ... but the driver has not reported the fsync yet
    c.deliver()
    follower = c["n1"].ready()
    assert follower.sync_log
    assert [m.success for m in of_type(follower.messages, AppendResponse)] == [True]
    c["n0"].step(follower.messages[0], c.now)
    # n1 durably has it, but the leader's own copy is not fsynced: 1 of 3
    assert c["n0"].committed_index < index
    c["n0"].log_synced(index)
    assert c["n0"].committed_index == index

    relaxed = Cluster()
    relaxed.elect("n0")
    relaxed.run_for(100)
    index = relaxed.propose("n0", b"x")
    rd = relaxed["n0"].ready()
    assert not rd.sync_log
    relaxed.queue += rd.messages
    relaxed.deliver(lambda m: m.dst == "n1")
    rd = relaxed["n1"].ready()
    assert not rd.sync_log
    relaxed["n0"].step(rd.messages[0], relaxed.now)
    assert relaxed["n0"].committed_index == index  # counts its unsynced last_index


def test_log_synced_does_not_cover_entries_rewritten_after_the_fsync_began() -> None:
    config = RaftConfig(heartbeat_interval_ms=100, sync_before_ack=True)
    log = MemoryLog([Entry(0, 1, b""), Entry(1, 1, b"old")])
    follower = RaftCore("n1", ["n0", "n1", "n2"], log, HardState(2), config, random.Random(), 0)
    # an fsync of [0, 1] starts; meanwhile the leader of term 2 replaces index 1
    follower.step(AppendRequest(2, "n0", "n1", 0, 1, (Entry(1, 2, b"new"),), 0), 0)
    follower.log_synced(1)
    assert follower.ready().sync_log  # index 1 was rewritten: still needs an fsync


def test_pipelining_keeps_several_appends_in_flight_and_a_reject_resets() -> None:
    config = RaftConfig(heartbeat_interval_ms=100, max_inflight=3, max_entries_per_append=2)
    c = Cluster(config=config)
    c.elect("n0")
    c.run_for(100)
    c.propose("n0", *[b"e%d" % i for i in range(10)])
    c.collect()
    to_n2 = [m for m in of_type(c.queue, AppendRequest) if m.dst == "n2"]
    assert [len(m.entries) for m in to_n2] == [2, 2, 2]
    assert c["n0"].status()["peers"]["n2"]["inflight"] == 3
    # the first request to n2 is lost: the next one leaves a gap and is refused
    c.queue = [m for m in c.queue if m is not to_n2[0]]
    c.deliver()
    c.collect()
    rejects = [m for m in of_type(c.queue, AppendResponse) if m.src == "n2" and not m.success]
    assert rejects and rejects[0].hint_index == 0
    c.deliver()
    status = c["n0"].status()["peers"]["n2"]
    assert status["probing"] and status["next_index"] == 1
    c.stabilize()
    c.run_for(100)
    assert c.bodies("n2") == c.bodies("n0")
    assert not c["n0"].status()["peers"]["n2"]["probing"]


def test_empty_follower_catches_up_in_batches_without_holding_up_the_others() -> None:
    config = RaftConfig(heartbeat_interval_ms=100, max_entries_per_append=100, max_inflight=4)
    c = Cluster(config=config)
    c.elect("n0")
    c.crash("n2")
    for i in range(20):
        c.propose("n0", *[b"m%d-%d" % (i, j) for j in range(100)])
        c.stabilize()
    assert c["n0"].committed_index == 2000
    c.logs["n2"] = MemoryLog()  # a new, empty disk
    c.hard["n2"] = HardState()
    c.restart("n2")
    c.sent.clear()
    c.fire("n0")
    c.collect()
    c.deliver()
    late = c.propose("n0", b"late")
    c.stabilize()
    assert c["n0"].committed_index == late  # n1 keeps committing meanwhile
    c.run_for(1000)
    assert c.bodies("n2") == c.bodies("n0")
    to_n2 = [m for m in c.sent if isinstance(m, AppendRequest) and m.dst == "n2"]
    assert max(len(m.entries) for m in to_n2) == 100
    rejects = [m for m in c.sent if isinstance(m, AppendResponse) and not m.success]
    assert len(rejects) == 1 and rejects[0].hint_index == -1  # one probe, then a jump


def test_follower_that_lost_acknowledged_entries_is_refilled() -> None:
    """A store that loses what it acknowledged (a disk lying about fsync, a wiped tail)
    breaks Raft's assumptions; the leader must still notice and resend, not stall."""
    c = Cluster()
    c.elect("n0")
    c.propose("n0", *[b"x%d" % i for i in range(6)])
    c.run_for(200)
    assert c["n0"].status()["peers"]["n1"]["match_index"] == 6
    c.crash("n1")
    c.logs["n1"].crash(torn_at=2)  # keeps [0, 2] only
    c.restart("n1", committed_index=2)
    c.propose("n0", b"y")
    c.run_for(300)
    assert c.bodies("n1") == c.bodies("n0")
    assert c["n0"].status()["peers"]["n1"]["match_index"] == 7


# leadership transfer ----------------------------------------------------------------
def test_leadership_transfer_catches_up_a_lagging_target_first() -> None:
    c = Cluster()
    c.elect("n0")
    c.run_for(100)
    c.cut.add("n1")
    last = c.propose("n0", b"x", b"y")
    c.run_for(200)
    assert c.logs["n1"].last_index < last
    c.cut.clear()
    c["n0"].transfer_leadership("n1", c.now)
    with pytest.raises(TransferInProgressError):
        c.propose("n0", b"refused")
    c.collect()
    assert not any(isinstance(m, TimeoutNow) for m in c.queue)  # n1 is behind
    c.run_for(200)  # a heartbeat finds n1's gap; it catches up, then gets TimeoutNow
    assert any(isinstance(m, TimeoutNow) and m.dst == "n1" for m in c.sent)
    # n2 still heard n0 moments ago, yet votes: the request says it is a transfer
    assert (c["n1"].role, c["n1"].term) == (Role.LEADER, 2)
    assert (c["n0"].role, c["n0"].leader_id) == (Role.FOLLOWER, "n1")
    c.propose("n1", b"z")
    c.run_for(200)
    assert c.bodies("n0")[-3:] == [b"y", b"", b"z"]
    assert c.leaders_by_term() == {1: {"n0"}, 2: {"n1"}}


def test_leadership_transfer_to_an_unreachable_node_is_abandoned() -> None:
    c = Cluster()
    c.elect("n0")
    c.crash("n2")
    c["n0"].transfer_leadership("n2", c.now)
    with pytest.raises(TransferInProgressError) as info:
        c.propose("n0", b"x")
    assert info.value.leader_id == "n0"
    c.run_for(CONFIG.transfer_timeout_ms)
    assert c["n0"].role is Role.LEADER and c["n0"].term == 1
    assert c["n0"].status()["transferee"] == ""
    index = c.propose("n0", b"x")
    c.stabilize()
    assert c["n0"].committed_index == index


def test_transfer_requires_leadership_and_a_member() -> None:
    c = Cluster()
    c.elect("n0")
    with pytest.raises(NotLeaderError) as info:
        c["n1"].transfer_leadership("n2", c.now)
    assert (info.value.leader_id, info.value.term) == ("n0", 1)
    with pytest.raises(ValueError, match="not a member"):
        c["n0"].transfer_leadership("n9", c.now)


# restarts and limits ----------------------------------------------------------------
def test_restart_clamps_a_commit_hint_beyond_the_log() -> None:
    log = MemoryLog([Entry(0, 1, b""), Entry(1, 1, b"x")])
    core = RaftCore("n0", ["n0", "n1", "n2"], log, HardState(1), CONFIG, random.Random(), 0, 9)
    assert core.committed_index == 1
    assert (core.role, core.leader_id) == (Role.FOLLOWER, "")


def test_single_node_group_commits_alone() -> None:
    c = Cluster(1)
    c.elect("n0")
    assert c["n0"].committed_index == 0
    index = c.propose("n0", b"x", b"y")
    rd = c["n0"].ready()
    assert rd.committed_index == index + 1 and not rd.messages


def test_election_deadline_is_randomized_in_t_to_2t() -> None:
    deadlines = {
        RaftCore(
            "n0", ["n0", "n1"], MemoryLog(), HardState(), CONFIG, random.Random(s), 0
        ).next_deadline_ms()
        for s in range(50)
    }
    assert len(deadlines) > 10
    assert min(deadlines) >= 1000 and max(deadlines) < 2000


@pytest.mark.parametrize(
    "make",
    [
        lambda: RaftConfig(heartbeat_interval_ms=1000, election_timeout_ms=1000),
        lambda: RaftConfig(heartbeat_interval_ms=0),
        lambda: RaftConfig(max_inflight=0),
        lambda: RaftConfig(transfer_timeout_ms=0),
    ],
)
def test_config_rejects_nonsense(make: Callable[[], RaftConfig]) -> None:
    with pytest.raises(ValueError):
        make()
