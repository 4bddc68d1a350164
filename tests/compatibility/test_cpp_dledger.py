"""The official C++ client (rocketmq 0.4.4, librocketmq 1.2.x) against DLedger broker sets
when a leader is SIGKILLed: two sets (RaftNode00, RaftNode01) of three real brokers each
behind one NameServer.

1. A C++ producer sends 1500 keyed messages, one sync send every 8 ms, to a topic on both
   sets while RaftNode00's leader is killed. No send may fail (after the library's own
   retries), and every SEND_OK message must be read back with the message id and queue
   offset it was acknowledged with (the C API does not report the queue id).
2. A C++ PushConsumer is consuming a backlog of RaftNode01 when its leader is killed; it
   must go on and receive every acknowledged message. The messages delivered twice are
   counted (the issue expects about a second of consumption at most: consumer offsets
   reach the followers once a second), and so is how far the offsets the new master took
   over trail what had been consumed.

What librocketmq 1.2.x does on such a failover (its source, tag 1.2.3, and its log):
* It refreshes routes every 30 s only, so it keeps the dead leader's address as the set's
  master. A send attempt to it fails at once (connection refused) and the next attempt
  (5 in all; the C API cannot change that) picks a queue of another brokerName: the
  producer needs no help from the brokers.
* Its PushConsumer re-pulls a queue whose pull failed at once, without a pause, again from
  the dead address: two queues made about 5,000 failed pulls a second. Those pulls hold the
  transport table's lock, whose timed wait gives up at once in this build, and the route
  refresh needs that lock to reach the NameServer: in 2 of 5 runs without a restart the
  first refresh after the kill failed ("GetTransport of <namesrv> get timed_mutex
  timeout"), once the second as well, and the consumer was still stuck 75 s after the kill.
  No broker can answer for a dead address, so the test restarts the killed member once the
  new master is registered, as a supervisor would: the consumer then reads from it (now a
  follower) and, after its next route refresh, from the new master.
* At start-up its first heartbeat (10 ms after start()) connects to every broker while the
  first sends run; a send that loses that lock race fails all 5 attempts within a
  millisecond (seen once in 7 starts), hence the producer's 300 ms start delay.

Runtime: about 55 s for both (the sets are booted once for the module).
"""

from __future__ import annotations

import asyncio
import itertools
import re
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

import pytest
from cpp_harness import CppClient, CppProcess

from orbitmq.client import MQAdmin
from orbitmq.protocol.codes import RequestCode, ResponseCode
from orbitmq.protocol.command import RemotingCommand
from orbitmq.protocol.message import MessageConst
from orbitmq.remoting.client import RemotingClient
from tests.integration.dledger_set import DLedgerSet, Member, wait_master
from tests.integration.send_history import read_messages
from tests.processes import ServerProcess, start_namesrv

pytestmark = [pytest.mark.slow, pytest.mark.timeout(150)]

SETS = ("RaftNode00", "RaftNode01")
SEND_TOPIC, SEND_QUEUES = "CppRaftSend", 4
SENDS, SEND_INTERVAL_MS = 1500, 8
CONSUME_TOPIC, CONSUME_QUEUES = "CppRaftConsume", 2
BACKLOG = 3500
# A slow listener (one thread, 10 ms a message), so that the backlog outlasts the
# consumer's cache and its next route refresh after the kill.
CONSUME_SLEEP_MS = 10
# librocketmq stops pulling a queue while it caches more than 1000 of its messages
# (pulling 32 at a time).
CACHE_PER_QUEUE = 1000 + 32
GROUP = "GID_CPP_RAFT"


@dataclass
class Raft:
    namesrv_addr: str
    sets: dict[str, DLedgerSet]


@pytest.fixture(scope="module")
def raft(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Raft]:
    workdir = tmp_path_factory.mktemp("cpp-dledger")
    namesrv: ServerProcess | None = None
    sets: dict[str, DLedgerSet] = {}
    try:
        namesrv, namesrv_addr = start_namesrv(workdir)
        sets = {name: DLedgerSet(workdir, namesrv_addr, name=name) for name in SETS}
        for dset in sets.values():
            for member in dset.members:
                dset.start(member, wait=False)
        for dset in sets.values():
            for member in dset.members:
                assert member.process is not None
                member.process.wait_booted()
        yield Raft(namesrv_addr, sets)
    finally:
        for dset in sets.values():
            dset.stop_all()
        if namesrv is not None:
            namesrv.stop()


async def _create_topic(
    admin: MQAdmin, raft: Raft, topic: str, queues: int, names: list[str]
) -> None:
    """Create `topic` on the masters of `names`; wait until the NameServer routes them all."""
    for name in names:
        master = await wait_master(admin, raft.sets[name], 30)
        await admin.create_topic(
            master.broker_addr, topic, read_queue_nums=queues, write_queue_nums=queues
        )
    deadline = time.monotonic() + 15
    while True:
        try:
            route = await admin.topic_route(topic)
            routed = {q.broker_name for q in route.queue_datas if q.write_queue_nums == queues}
        except Exception:
            routed = set()
        if routed >= set(names):
            return
        assert time.monotonic() < deadline, f"{topic} routed on {routed}, not on all of {names}"
        await asyncio.sleep(0.1)


async def _read_all(
    namesrv_addr: str, topic: str, names: list[str], queues: int
) -> dict[tuple[str, int, int], tuple[str, str]]:
    """(brokerName, queueId, offset) -> (keys, UNIQ_KEY) of every message of `topic`."""
    read = await read_messages(namesrv_addr, topic, names, queues)
    return {
        where: (
            msg.properties.get(MessageConst.KEYS, ""),
            msg.properties.get(MessageConst.UNIQ_KEY, ""),
        )
        for where, msg in read.items()
    }


def _log_lines(proc: CppProcess, pattern: str) -> list[tuple[float, str]]:
    """(epoch ms, line) of the process's librocketmq log lines matching `pattern`."""
    logs = sorted((proc.home / "logs" / "rocketmq-cpp").glob(f"{proc.pid}_rocketmq-cpp.log*"))
    regex = re.compile(pattern)
    out = []
    for f in logs:
        for line in f.read_text(errors="replace").splitlines():
            if regex.search(line):
                # "[2026-Dec-06 20:41:17.809819](info):..." in local time; boost leaves
                # the fraction out when it is zero.
                text = line[1 : line.index("]")]
                layout = "%Y-%b-%d %H:%M:%S.%f" if "." in text else "%Y-%b-%d %H:%M:%S"
                stamp = datetime.strptime(text, layout)
                out.append((stamp.timestamp() * 1000, line))
    return sorted(out)


async def _stored_offsets(addr: str, group: str, topic: str, queues: int) -> list[int | None]:
    """The group's committed offset of each queue on `addr` (None: never committed)."""
    client = RemotingClient()
    try:
        out: list[int | None] = []
        for queue_id in range(queues):
            ext = {"consumerGroup": group, "topic": topic, "queueId": str(queue_id)}
            command = RemotingCommand.request(
                RequestCode.QUERY_CONSUMER_OFFSET, {**ext, "setZeroIfNotFound": "false"}
            )
            response = await client.invoke(addr, command, timeout=3.0)
            ok = response.code == ResponseCode.SUCCESS
            out.append(int(response.ext_fields["offset"]) if ok else None)
        return out
    finally:
        await client.aclose()


def _consumed_at(deliveries: list[dict], at_ms: float) -> list[int]:
    """Per queue, the offset after the last message delivered by `at_ms`."""
    consumed = [0] * CONSUME_QUEUES
    for r in deliveries:
        if r["received_ms"] <= at_ms:
            consumed[r["queue_id"]] = max(consumed[r["queue_id"]], r["queue_offset"] + 1)
    return consumed


async def _kill_leader(admin: MQAdmin, dset: DLedgerSet) -> tuple[Member, Member, float]:
    """SIGKILL the set's master; return (old, new master, seconds until the new one is
    registered)."""
    old = await wait_master(admin, dset, 15)
    killed_at = time.monotonic()
    dset.kill(old)
    new = await wait_master(admin, dset, 15, exclude=old.self_id)
    return old, new, time.monotonic() - killed_at


async def test_cpp_producer_sees_no_failed_send_when_a_leader_dies(
    raft: Raft, cpp: CppClient
) -> None:
    admin = MQAdmin(raft.namesrv_addr)
    try:
        await _create_topic(admin, raft, SEND_TOPIC, SEND_QUEUES, list(SETS))
        producer = cpp.start(
            "produce", "--namesrv", raft.namesrv_addr, "--topic", SEND_TOPIC,
            "--group", "PID_CPP_RAFT", "--count", SENDS, "--interval-ms", SEND_INTERVAL_MS,
            "--keep-going", "--start-delay-ms", 300, "--timeout", 90,
        )  # fmt: skip
        producer.wait_started()
        # Kill RaftNode00's leader a third of the way through.
        deadline = time.monotonic() + 30
        while len(producer.records_so_far()) < SENDS // 3:
            assert producer.poll() is None, producer.wait(0).describe("producer ended early")
            assert time.monotonic() < deadline, producer.kill().describe("producer too slow")
            await asyncio.sleep(0.02)
        acked_before_kill = len(producer.records_so_far())
        kill_ms = time.time() * 1000
        _old, _new, failover = await _kill_leader(admin, raft.sets[SETS[0]])
        run = producer.wait(90)
        read = await _read_all(raft.namesrv_addr, SEND_TOPIC, list(SETS), SEND_QUEUES)
    finally:
        await admin.shutdown()

    records = run.records
    failed = [r for r in records if r.get("status") != 0]
    assert len(records) == SENDS and not failed, (
        f"{len(failed)} of {len(records)} C++ sends not SEND_OK, e.g. {failed[:5]}\n"
        + run.describe()
    )
    # The dead set was tried after the kill (the scenario happened) and those attempts were
    # retried by the library on the other set.
    retried = _log_lines(producer, rf"send failed of times:1,brokerName:{SETS[0]}")
    assert retried, "no send attempt went to the dead leader: the kill did not hit the run"

    where: dict[str, list[tuple[tuple[str, int, int], str]]] = {}
    for position, (keys, uniq) in read.items():
        where.setdefault(keys, []).append((position, uniq))
    problems = []
    for r in records:
        copies = where.get(r["keys"], [])
        acked = [pos for pos, uniq in copies if uniq == r["msg_id"]]
        if len(acked) != 1 or acked[0][2] != r["offset"]:
            problems.append((r["i"], r["msg_id"], r["offset"], copies))
    assert not problems, f"acknowledged sends not read where acknowledged: {problems[:5]}"
    sent_keys = {r["keys"] for r in records}
    unexpected = [k for k in where if k not in sent_keys]
    assert not unexpected, f"read messages nobody sent: {unexpected[:5]}"

    duplicates = sum(len(c) - 1 for c in where.values())
    after_kill = [r for r in records if r["t_ms"] > kill_ms]
    on_dead_set = Counter(pos[0] for c in where.values() for pos, _u in c)
    print(
        f"\nC++ producer through a leader kill: {len(records)} sends SEND_OK "
        f"({acked_before_kill} before the kill, {len(after_kill)} after), 0 failed; "
        f"{len(retried)} first attempts hit the dead leader and were retried on {SETS[1]}; "
        f"new master registered {failover:.2f} s after the kill; send latency max "
        f"{max(r['send_ms'] for r in records):.0f} ms; read back {len(read)} messages "
        f"({dict(on_dead_set)}), {duplicates} duplicates of failed attempts"
    )


async def test_cpp_push_consumer_goes_on_through_a_leader_kill(raft: Raft, cpp: CppClient) -> None:
    dset = raft.sets[SETS[1]]
    admin = MQAdmin(raft.namesrv_addr)
    try:
        await _create_topic(admin, raft, CONSUME_TOPIC, CONSUME_QUEUES, [SETS[1]])
        records = cpp.run(
            "produce", "--namesrv", raft.namesrv_addr, "--topic", CONSUME_TOPIC,
            "--group", "PID_CPP_RAFT_CONSUME", "--count", BACKLOG, "--mode", "batch",
            "--batch-size", 100, "--body-prefix", "m", timeout=60,
        )  # fmt: skip
        assert len(records) == BACKLOG and all(r["status"] == 0 for r in records)
        consumer = cpp.start(
            "consume", "--namesrv", raft.namesrv_addr, "--topic", CONSUME_TOPIC,
            "--group", GROUP, "--expect", BACKLOG, "--expect-prefix", "m-",
            "--timeout", 75, "--threads", 1, "--sleep-ms", CONSUME_SLEEP_MS,
        )  # fmt: skip
        consumer.wait_started()
        deadline = time.monotonic() + 30
        while len(consumer.records_so_far()) < BACKLOG // 8:
            assert consumer.poll() is None, consumer.wait(0).describe("consumer ended early")
            assert time.monotonic() < deadline, consumer.kill().describe("consumer too slow")
            await asyncio.sleep(0.02)
        kill_ms = time.time() * 1000
        old, new, failover = await _kill_leader(admin, dset)
        # What the new master holds before the client can reach it (its route timer fires
        # 30 s apart): the offsets the followers copied from the old leader.
        stored = await _stored_offsets(new.broker_addr, GROUP, CONSUME_TOPIC, CONSUME_QUEUES)
        # Restarted as a supervisor would: librocketmq re-pulls the dead address in a tight
        # loop until its route refresh, which that loop can starve (see the module doc).
        dset.start(old)
        restarted_ms = time.time() * 1000
        run = consumer.wait(90)
    finally:
        await admin.shutdown()
    deliveries = [r for r in run.records if (r.get("body") or "").startswith("m-")]
    counts = Counter(r["body"] for r in deliveries)
    missing = {f"m-{i}" for i in range(BACKLOG)} - counts.keys()
    assert not missing, (
        f"the C++ consumer missed {len(missing)} of {BACKLOG} messages, e.g. "
        f"{sorted(missing)[:5]}\n" + run.describe()
    )
    redelivered = sum(n - 1 for n in counts.values())
    times = sorted(r["received_ms"] for r in deliveries)
    before = [t for t in times if t <= kill_ms]
    rate = (len(before) - 1) / max((before[-1] - before[0]) / 1000, 1e-3)
    consumed = _consumed_at(deliveries, kill_ms)
    committed = [s for s in stored if s is not None]
    assert len(committed) == CONSUME_QUEUES, f"the new master lacks offsets of {GROUP}: {stored}"
    lag = sum(c - s for c, s in zip(consumed, committed, strict=True))
    dead_pulls = [t for t, _ in _log_lines(consumer, r"pullMessageAsync failed of addr")]
    rerouted = [
        t
        for t, _ in _log_lines(
            consumer, rf"updateTopicRouteInfoFromNameServer changed:{CONSUME_TOPIC}"
        )
        if t > kill_ms
    ]
    from_new_master = len([t for t in times if rerouted and t > rerouted[0]])
    print(
        f"\nC++ push consumer through a leader kill: {len(deliveries)} deliveries of "
        f"{BACKLOG} messages, {redelivered} delivered more than once; consumption "
        f"{rate:.0f} msg/s before the kill ({len(before)} consumed); new master registered "
        f"{failover:.2f} s after the kill; longest pause between deliveries "
        f"{max(b - a for a, b in itertools.pairwise(times)) / 1000:.1f} s, last delivery "
        f"{(times[-1] - kill_ms) / 1000:.1f} s after the kill; the new master's stored "
        f"offsets {stored} trail the consumed {consumed} by {lag} messages "
        f"({lag / rate:.1f} s of consumption, what a restarted consumer would get again); "
        f"{len(dead_pulls)} failed pulls of the dead address, the last "
        f"{(max(dead_pulls, default=kill_ms) - kill_ms) / 1000:.1f} s after the kill (old "
        f"leader back {(restarted_ms - kill_ms) / 1000:.1f} s after it); route refreshed "
        + (
            f"{(rerouted[0] - kill_ms) / 1000:.1f} s after the kill, {from_new_master} "
            "deliveries after that"
            if rerouted
            else "never"
        )
    )
    # The scenario happened: messages beyond the client's cache at the kill were pulled
    # after it, and pulls did hit the dead address.
    assert len(times) - len(before) > CONSUME_QUEUES * CACHE_PER_QUEUE, len(before)
    assert dead_pulls, "no pull went to the dead leader"
    # ... and the client went over to the new master.
    assert from_new_master > 0, "the consumer never refreshed its route to the new master"
    # A stored offset beyond what was consumed would make a restarted consumer skip messages.
    assert all(s <= c for c, s in zip(consumed, committed, strict=True)), (consumed, stored)
    # The client commits its offset with each pull (about one a second a queue while its
    # cache is full) and every 5 s; followers copy the leader's offsets every second.
    assert lag <= 6 * rate, (consumed, stored, rate)
    assert redelivered <= 3 * rate, (redelivered, rate)
