"""A DLedger broker set over three hosts (network namespaces), partitioned for real
(raft-testing.md §6, scenario 3): each host runs a NameServer and one member of
RaftNode00, on the same ports, as docs/deployment.md's "Three hosts" lays them out
(tests/cluster/dledger_hosts.py).

1. The leader's link is cut (both directions) under a steady keyed load from the test
   side and from a client on the leader's own host. The cut-off leader acknowledges
   nothing sent after the cut; the other two elect a leader that registers as id 0 with
   their NameServers. When the link returns, the old leader follows the new one in its
   term (no election disturbs it), drops what it never committed and catches up.
2. One follower's host drops every packet from the leader (iptables INPUT rule on the
   follower; the follower -> leader direction is left open). The leader keeps its
   majority with the other follower: sends stay acknowledged, the deaf follower's
   pre-votes change nobody's term, and after the heal it catches up.

Every run ends with the final read of send_history: no acknowledged send lost or moved,
nothing read that was never sent or that was refused; and the three members' commit
logs serve the same message at every queue offset.

The official C++ client (cpp_load.CppLoad: a paced producer and a PushConsumer, run in the
root namespace through the hosts' NameServers) is a second load through both faults: its
acknowledged sends must be read where acknowledged and all be consumed. Through the cut it
goes on until its producer works again (up to librocketmq's 30 s route refresh); the
one-way partition, which keeps the leader, must fail none of its sends.

Runtime: about 60 s for the file on two shared cores (two clusters of six processes).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import itertools
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from orbitmq.client import MessageQueue, MQAdmin, Producer
from orbitmq.remoting.client import RemotingClient
from tests.cluster.dledger_hosts import (
    GROUP,
    QUEUES,
    MinorityRun,
    RaftHosts,
    RaftMember,
    full_registration,
    member_status,
    run_minority_client,
    start_raft_hosts,
    wait_master,
    wait_registered,
)
from tests.cluster.netns import VirtualLan
from tests.cluster.probe import BrokerProbe, Checks, poll
from tests.integration.cpp_load import CppLoad, without_cpp
from tests.integration.dledger_set import max_offsets
from tests.integration.send_history import SendHistory, final_read, send_load, verdict

pytestmark = [pytest.mark.slow, pytest.mark.compat]

log = logging.getLogger(__name__)

TOPIC = "RaftHosts"
# dLegerElectionTimeoutMs is 1 s (followers stand after 1-2 s): the faults last several
# election timeouts, so any election they can cause happens while they last. After the
# heal the members hear each other at the next TCP retransmission on their existing peer
# connections, which backed off exponentially during the fault: 1.5-3.5 s after 5 s here
# (8 s after a 20 s fault), hence the generous catch-up timeouts below.
FAULT_SECONDS = 5.0
ACKS_AFTER_CUT = 50  # the leader-cut test wants more than this many from the majority
# The minority client keeps sending this long after the cut, then reads its broker's
# Raft status while the link is still down.
MINORITY_SECONDS_AFTER_CUT = 3.5


@dataclass
class Observation:
    at: float
    self_id: str
    term: int
    role: str
    leader_id: str


@dataclass
class RoleWatch:
    """Every member's (term, role, leader) every 100 ms, as far as it answers."""

    cluster: RaftHosts
    client: RemotingClient
    seen: list[Observation] = field(default_factory=list)

    async def run(self) -> None:
        while True:
            statuses = await asyncio.gather(
                *(member_status(self.client, m, timeout=0.5) for m in self.cluster.members)
            )
            now = time.monotonic()
            for member, status in zip(self.cluster.members, statuses, strict=True):
                if status is not None:
                    self.seen.append(
                        Observation(
                            now, member.self_id, status["term"], status["role"], status["leader_id"]
                        )
                    )
            await asyncio.sleep(0.1)

    def since(self, at: float) -> list[Observation]:
        return [o for o in self.seen if o.at >= at]


@dataclass
class Load:
    """The test side's producer: keyed sends in one-second rounds until stopped, so that
    no send is ever cancelled half-way (its outcome would be unknown)."""

    producer: Producer
    history: SendHistory
    stopping: bool = False
    task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self.task = asyncio.create_task(self._run(), name="load")

    async def _run(self) -> None:
        round_no = 0
        while not self.stopping:
            await send_load(self.producer, self.history, f"main{round_no}", count=1000, seconds=1)
            round_no += 1

    async def stop(self) -> None:
        self.stopping = True
        if self.task is not None:
            await asyncio.wait_for(self.task, 15)


async def _settle(client: RemotingClient, cluster: RaftHosts) -> tuple[RaftMember, Producer]:
    """Wait for a master that every NameServer lists with both followers, create the
    topic on it, wait until every NameServer routes it; return the master and a producer
    that tries each send once (so a "fail" outcome is that attempt's own)."""
    namesrvs = [m.namesrv for m in cluster.members]
    master, _ = await wait_master(client, cluster, namesrvs, 30)
    await wait_registered(
        client,
        namesrvs,
        lambda ids: ids == full_registration(cluster, master),
        20,
        "the whole set registered",
        cluster.logs,
    )
    async with MQAdmin(cluster.namesrv_addr) as admin:
        await admin.create_topic(master.addr, TOPIC, QUEUES, QUEUES)
    async with BrokerProbe(timeout=1.0) as probe:
        for ns in namesrvs:

            async def routed(ns: str = ns) -> bool:
                route = await probe.broker_addrs(ns, TOPIC)
                return route.get(GROUP, {}).get(0) == master.addr

            await poll(routed, 20, f"{ns} never routed {TOPIC} to {master.addr}")
    producer = Producer(
        "PG_RAFT_HOSTS", cluster.namesrv_addr, send_timeout=3.0, retry_times_when_send_failed=0
    )
    await producer.start()
    return master, producer


async def _status(client: RemotingClient, member: RaftMember) -> dict[str, Any]:
    status = await member_status(client, member, timeout=2.0)
    assert status is not None, f"{member.self_id} does not answer METADATA"
    return status


async def _wait_follows(
    client: RemotingClient, member: RaftMember, leader: RaftMember, term: int, timeout: float
) -> tuple[float, float]:
    """Wait until `member` follows `leader` in `term` and has committed everything the
    leader had committed just before; return (seconds to follow, seconds to catch up)."""
    started = time.monotonic()
    followed: float | None = None
    last: tuple[dict[str, Any] | None, dict[str, Any] | None] = (None, None)
    while True:
        ahead = await member_status(client, leader)
        status = await member_status(client, member)
        last = (ahead, status)
        if (
            status is not None
            and status["role"] == "FOLLOWER"
            and status["leader_id"] == leader.self_id
            and status["term"] == term
        ):
            if followed is None:
                followed = time.monotonic() - started
            if ahead is not None and status["committed_index"] >= ahead["committed_index"]:
                return followed, time.monotonic() - started
        if time.monotonic() - started > timeout:
            raise AssertionError(
                f"{member.self_id} did not follow {leader.self_id} in term {term} and catch "
                f"up within {timeout:.0f} s: leader {last[0]}, member {last[1]}"
            )
        await asyncio.sleep(0.05)


async def _same_max_offsets(client: RemotingClient, cluster: RaftHosts) -> float:
    """Wait until GET_MAX_OFFSET answers alike on every member, and so do their Raft logs'
    last index and term (the load has stopped)."""
    started = time.monotonic()
    seen: dict[str, tuple[object, ...]] = {}

    async def alike() -> bool:
        for member in cluster.members:
            offsets = await max_offsets(client, member.addr, TOPIC, QUEUES)
            status = await _status(client, member)
            seen[member.self_id] = (*offsets, status["last_index"], status["last_term"])
        return len(set(seen.values())) == 1

    await poll(
        alike,
        15,
        lambda: f"(max offsets, last index, last term) differ: {seen}\n{cluster.logs()}",
    )
    return time.monotonic() - started


async def _stored(cluster: RaftHosts) -> dict[str, dict[tuple[int, int], str]]:
    """Per member: (queueId, queue offset) -> key of every message its commit log serves."""
    out: dict[str, dict[tuple[int, int], str]] = {}
    async with BrokerProbe(timeout=3.0) as probe:
        for member in cluster.members:
            found: dict[tuple[int, int], str] = {}
            for queue_id in range(QUEUES):
                mq = MessageQueue(TOPIC, GROUP, queue_id)
                for msg in await probe.pull_all(member.addr, mq):
                    found[(queue_id, msg.queue_offset)] = msg.body.decode()
            out[member.self_id] = found
    return out


def _check_history(
    checks: Checks,
    history: SendHistory,
    read: dict[tuple[str, int, int], str],
    stored: dict[str, dict[tuple[int, int], str]],
) -> None:
    for row, keys in verdict(history, without_cpp(read)).items():
        checks.expect(not keys, f"verdict {row}: {len(keys)} keys, e.g. {keys[:10]}")
    reference = {(q, o): key for (_name, q, o), key in read.items()}
    for self_id, found in stored.items():
        differ = sorted(
            k for k in reference.keys() | found.keys() if reference.get(k) != found.get(k)
        )
        examples = [(k, reference.get(k), found.get(k)) for k in differ[:5]]
        checks.expect(
            not differ,
            f"{self_id}'s commit log differs from the final read at {len(differ)} "
            f"(queue, offset) pairs, e.g. {examples}",
        )


async def test_leader_cut_off_acknowledges_nothing_and_rejoins_without_an_election(
    lan: VirtualLan, tmp_path: Path
) -> None:
    cluster = start_raft_hosts(lan)
    client = RemotingClient()
    checks = Checks()
    history = SendHistory(TOPIC)
    load: Load | None = None
    watch_task: asyncio.Task[None] | None = None
    minority_process: asyncio.subprocess.Process | None = None
    minority_task: asyncio.Task[MinorityRun] | None = None
    cpp: CppLoad | None = None
    try:
        old, producer = await _settle(client, cluster)
        majority = cluster.others(old)
        # All three NameServers, the cut host's last: librocketmq keeps to the first of
        # its list, and a route refresh that fails waits for the next, 30 s later.
        namesrvs = ";".join(m.namesrv for m in [*majority, old])
        cpp = CppLoad(tmp_path, namesrvs, TOPIC)
        await cpp.start()
        watch = RoleWatch(cluster, client)
        watch_task = asyncio.create_task(watch.run(), name="role_watch")
        load = Load(producer, history)
        load.start()
        minority_process, minority_task = await run_minority_client(
            old, TOPIC, "minority", 1.0 + MINORITY_SECONDS_AFTER_CUT
        )
        await asyncio.sleep(1.0)
        old_term = (await _status(client, old))["term"]

        # The leader's cable is pulled.
        lan.cut(old.host)
        # Only once `ip` has returned is the port down: a send made while the command
        # ran may still have reached the majority and been committed, legitimately.
        cut_at = time.monotonic()
        new, elected_in = await wait_master(
            client, cluster, [m.namesrv for m in majority], 10, exclude=old
        )
        failed_over_ms = time.time() * 1000
        new_term = (await _status(client, new))["term"]
        log.info("cut -> %s registered as master in %.2f s", new.self_id, elected_in)

        minority = await asyncio.wait_for(minority_task, 20)
        await asyncio.sleep(max(0.0, cut_at + FAULT_SECONDS - time.monotonic()))
        during_cut = (await _status(client, new))["term"]

        # The cable goes back in.
        healed_at = time.monotonic()
        lan.restore(old.host)
        followed_in, caught_up_in = await _wait_follows(client, old, new, new_term, 15)
        await asyncio.sleep(1.0)

        # The majority keeps taking sends: on a loaded machine the producer's first
        # acknowledgements after the cut may come late, so wait for them (bounded)
        # rather than stop the load on the clock.
        async def acknowledged_after_cut() -> bool:
            return len([r for r in history.ok if r.at >= cut_at]) > ACKS_AFTER_CUT

        await poll(
            acknowledged_after_cut,
            20,
            lambda: f"at most {ACKS_AFTER_CUT} acknowledged sends in 20 s after the heal",
        )
        await load.stop()
        await wait_registered(
            client,
            [m.namesrv for m in cluster.members],
            lambda ids: ids == full_registration(cluster, new),
            25,
            "every NameServer lists the new master and both followers",
            cluster.logs,
        )
        registered_in = time.monotonic() - healed_at
        cpp_recovery = await cpp.recovered(failed_over_ms)
        # Stopped before the members' commit logs are compared, which then cover the C++
        # messages too.
        await cpp.stop_producer()
        same_offsets_in = await _same_max_offsets(client, cluster)
        # Three election timeouts after the heal, with nothing left to catch up.
        await asyncio.sleep(max(0.0, healed_at + 3.0 - time.monotonic()))
        after = {m.self_id: await _status(client, m) for m in cluster.members}

        read = await final_read(cluster.namesrv_addr, TOPIC, [GROUP], QUEUES)
        stored = await _stored(cluster)
        cpp_result, cpp_report = await cpp.stop([GROUP], QUEUES)
    finally:
        if cpp is not None:
            cpp.close()
        if load is not None and not load.stopping:
            with contextlib.suppress(Exception):
                await load.stop()
        if watch_task is not None:
            watch_task.cancel()
            await asyncio.gather(watch_task, return_exceptions=True)
        if minority_process is not None and minority_process.returncode is None:
            minority_process.kill()
        if minority_task is not None:
            await asyncio.gather(minority_task, return_exceptions=True)
        if load is not None:
            await load.producer.shutdown()
        await client.aclose()

    # The minority side: nothing sent after the cut was acknowledged, and the old leader
    # held entries it could not commit (so the catch-up below had something to cut).
    after_cut = [r for r in minority.records if r.at >= cut_at]
    checks.expect(bool(after_cut), "the minority client sent nothing after the cut")
    acked = [r.key for r in after_cut if r.outcome == "ok"]
    checks.expect(not acked, f"the cut-off leader acknowledged {acked[:10]}")
    # Once deposed (check-quorum: within about one election timeout), it refuses sends
    # that reach it with SERVICE_NOT_AVAILABLE rather than letting them time out.
    deposed = [r for r in after_cut if "-direct-" in r.key and r.at >= cut_at + 2.0]
    checks.expect(
        bool(deposed) and all(r.outcome == "fail" for r in deposed),
        "direct sends to the deposed leader not all refused: "
        f"{collections.Counter(r.outcome for r in deposed)}",
    )
    status = minority.status
    checks.expect(
        status is not None and status["term"] == old_term and status["role"] != "LEADER",
        f"the cut-off leader did not step down in its term {old_term}: {status}",
    )
    checks.expect(
        status is not None and status["last_index"] > status["committed_index"],
        f"the cut-off leader held no uncommitted entry: {status}",
    )
    # Elected in a later term, which the heal does not disturb.
    checks.expect(new_term > old_term, f"new term {new_term} after old term {old_term}")
    checks.expect(during_cut == new_term, "the new leader's term moved during the cut")
    for self_id, st in after.items():
        want_role = "LEADER" if self_id == new.self_id else "FOLLOWER"
        checks.expect(
            (st["term"], st["role"], st["leader_id"]) == (new_term, want_role, new.self_id),
            f"after the heal {self_id} is {st['role']} in term {st['term']} "
            f"(leader {st['leader_id']}); expected {want_role} of {new.self_id} in {new_term}",
        )
    disturbed = [
        o
        for o in watch.since(healed_at)
        if o.term > new_term or (o.role == "LEADER" and o.self_id != new.self_id)
    ]
    checks.expect(not disturbed, f"an election after the heal: {disturbed[:5]}")
    checks.expect(elected_in < 10, f"new master registered {elected_in:.1f} s after the cut")

    everything = SendHistory(TOPIC, [*history.records, *minority.records])
    _check_history(checks, everything, read, stored)
    main_after_cut = [r for r in history.ok if r.at >= cut_at]
    checks.expect(
        len(main_after_cut) > ACKS_AFTER_CUT,
        f"only {len(main_after_cut)} acknowledged sends after the cut",
    )
    print(
        f"\nleader cut: {new.self_id} registered as master {elected_in:.2f} s after the cut "
        f"(term {old_term} -> {new_term}); heal -> {old.self_id} follows {followed_in:.2f} s, "
        f"caught up {caught_up_in:.2f} s, every NameServer settled by {registered_in:.2f} s; "
        f"max offsets alike {same_offsets_in:.2f} s after the load stopped; "
        f"{len(history.ok)} ok / {len(history.records)} test-side sends, longest run of "
        f"non-ok {max(history.unavailability(), default=0):.2f} s; minority "
        f"{len(after_cut)} sends after the cut: "
        f"{collections.Counter(r.outcome for r in after_cut)}; first C++ SEND_OK "
        f"{cpp_recovery:.1f} s after the new master registered; {cpp_report}"
    )
    checks.expect(not cpp_result.bad, f"C++ load: {cpp_result.bad}\n{cpp.describe()}")
    checks.assert_all()


async def test_follower_deaf_to_the_leader_changes_no_term_and_catches_up(
    lan: VirtualLan, tmp_path: Path
) -> None:
    cluster = start_raft_hosts(lan)
    client = RemotingClient()
    checks = Checks()
    history = SendHistory(TOPIC)
    load: Load | None = None
    watch_task: asyncio.Task[None] | None = None
    cpp = CppLoad(tmp_path, cluster.namesrv_addr, TOPIC)
    try:
        leader, producer = await _settle(client, cluster)
        await cpp.start()
        deaf, other = cluster.others(leader)
        term = (await _status(client, leader))["term"]
        watch = RoleWatch(cluster, client)
        watch_task = asyncio.create_task(watch.run(), name="role_watch")
        load = Load(producer, history)
        load.start()
        await asyncio.sleep(1.0)

        # The deaf follower's host drops everything from the leader's address.
        fault_at = time.monotonic()
        lan.drop_inbound(deaf.host, leader.host.address)
        await asyncio.sleep(FAULT_SECONDS)
        leader_during = await _status(client, leader)
        deaf_during = await _status(client, deaf)

        healed_at = time.monotonic()
        lan.clear_drops(deaf.host)
        followed_in, caught_up_in = await _wait_follows(client, deaf, leader, term, 15)
        await asyncio.sleep(1.0)
        await cpp.stop_producer()
        await load.stop()
        same_offsets_in = await _same_max_offsets(client, cluster)
        await wait_registered(
            client,
            [m.namesrv for m in cluster.members],
            lambda ids: ids == full_registration(cluster, leader),
            15,
            "every NameServer lists the leader and both followers",
            cluster.logs,
        )
        after = {m.self_id: await _status(client, m) for m in cluster.members}
        read = await final_read(cluster.namesrv_addr, TOPIC, [GROUP], QUEUES)
        stored = await _stored(cluster)
        cpp_result, cpp_report = await cpp.stop([GROUP], QUEUES)
    finally:
        cpp.close()
        if load is not None and not load.stopping:
            with contextlib.suppress(Exception):
                await load.stop()
        if watch_task is not None:
            watch_task.cancel()
            await asyncio.gather(watch_task, return_exceptions=True)
        if load is not None:
            await load.producer.shutdown()
        await client.aclose()

    # The rule took effect: the deaf follower fell behind while the leader committed on.
    checks.expect(
        deaf_during["last_index"] < leader_during["committed_index"],
        f"{deaf.self_id} kept up although deaf to the leader: {deaf_during} vs {leader_during}",
    )
    # Available throughout: every send of the fault acknowledged, none waiting long.
    window = [r for r in history.records if fault_at <= r.at <= healed_at]
    not_ok = [r for r in window if r.outcome != "ok"]
    checks.expect(len(window) > 50, f"only {len(window)} sends during the fault")
    checks.expect(
        not not_ok, f"{len(not_ok)} sends not acknowledged during the fault: {not_ok[:5]}"
    )
    gaps = [b.at - a.at for a, b in itertools.pairwise(window)]
    checks.expect(max(gaps, default=0) < 3.0, f"{max(gaps, default=0):.1f} s between two sends")
    # Nobody's term moved, and only the leader ever led.
    moved = [
        o
        for o in watch.seen
        if o.term != term or (o.role == "LEADER" and o.self_id != leader.self_id)
    ]
    checks.expect(not moved, f"term {term} or leader {leader.self_id} disturbed: {moved[:5]}")
    for self_id, st in after.items():
        want_role = "LEADER" if self_id == leader.self_id else "FOLLOWER"
        checks.expect(
            (st["term"], st["role"], st["leader_id"]) == (term, want_role, leader.self_id),
            f"after the heal {self_id} is {st['role']} in term {st['term']} "
            f"(leader {st['leader_id']})",
        )
    _check_history(checks, history, read, stored)
    print(
        f"\none-way ({deaf.self_id} drops {leader.self_id}'s packets; {other.self_id} "
        f"untouched): {len(window)} sends during the fault, longest gap "
        f"{max(gaps, default=0):.2f} s; heal -> {deaf.self_id} follows {followed_in:.2f} s, "
        f"caught up {caught_up_in:.2f} s; max offsets alike {same_offsets_in:.2f} s after "
        f"the load stopped; term {term} throughout; {cpp_report}"
    )
    checks.expect(not cpp_result.bad, f"C++ load: {cpp_result.bad}\n{cpp.describe()}")
    # The leader kept its majority: the C++ producer, too, had every send acknowledged.
    checks.expect(cpp_result.failed == 0, f"{cpp_result.failed} C++ sends failed")
    checks.assert_all()
