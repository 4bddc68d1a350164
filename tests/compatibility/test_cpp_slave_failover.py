"""The official C++ client (rocketmq 0.4.4) reads a dead master's backlog from its slave
(store-and-replication.md §8.8): a 2m-2s-sync cluster, 400 messages sent by the C++
producer, master-a SIGKILLed, then a new C++ push consumer group started while the C++
producer sends 100 more (all to broker-b, the only set with a master).

A new group on these young queues starts at offset 0 (QUERY_CONSUMER_OFFSET answers 0,
remoting-protocol.md §3.4), so all 400 + 100 messages are meant for it, broker-a's from
slave-a. Two topics cover both states a slave can be in when its master dies: KNOWN, whose
config slave-a's metadata sync (every 10 s) already copied, and UNSYNCED, created on the
masters right after such a sync round and so unknown to slave-a. A slave used to answer
pulls of UNSYNCED with TOPIC_NOT_EXIST, the C++ client re-pulled in a tight loop, and
broker-a's backlog waited for master-a to return.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest
from cpp_harness import CppClient, CppProcess

from orbitmq.client import MessageQueue
from tests.cluster.probe import BrokerProbe, poll
from tests.integration.test_two_masters_two_slaves import (
    QUEUES,
    TwoMastersTwoSlaves,
    create_topic,
    start_two_masters_two_slaves,
)

pytestmark = [pytest.mark.slow, pytest.mark.timeout(90)]

KNOWN, UNSYNCED = "CppFailoverKnown", "CppFailoverUnsynced"
BACKLOG, LIVE = 400, 100
# From the consumer's start to its last delivery; with the fault it never happened while
# master-a was down.
DELIVERY_SECONDS = 10.0
# Slave-a's metadata sync runs every 10 s, first after 3 s.
SYNC_ROUND_SECONDS = 15.0


def produce(cpp: CppClient, namesrv_addr: str, topic: str, prefix: str, count: int) -> None:
    records = cpp.run(
        "produce", "--namesrv", namesrv_addr, "--topic", topic, "--group", f"PID_{topic}",
        "--count", count, "--body-prefix", prefix, timeout=60,
    )  # fmt: skip
    bad = [r for r in records if r.get("status") != 0]
    assert len(records) == count and not bad, f"C++ sends to {topic} not SEND_OK: {bad[:5]}"


def bodies(consumer: CppProcess) -> dict[str, int]:
    """Body -> local receive time (ms) of the first delivery of each message."""
    seen: dict[str, int] = {}
    for record in consumer.records_so_far():
        if record.get("body") is not None:
            seen.setdefault(record["body"], record["received_ms"])
    return seen


async def queue_bodies(probe: BrokerProbe, addr: str, topic: str, broker: str) -> set[str]:
    mqs = [MessageQueue(topic, broker, q) for q in range(QUEUES)]
    return {m.body.decode() for mq in mqs for m in await probe.pull_all(addr, mq)}


async def test_a_new_cpp_group_reads_the_dead_masters_backlog_from_its_slave(
    cpp: CppClient, tmp_path: Path
) -> None:
    cluster: TwoMastersTwoSlaves = start_two_masters_two_slaves(tmp_path, "2m-2s-sync")
    try:
        ns = cluster.namesrv_addr
        master_a, slave_a = cluster.master("broker-a"), cluster.slave("broker-a")
        async with BrokerProbe() as probe:
            # KNOWN reaching slave-a marks a sync round: the next one is ~10 s away, far
            # more than creating UNSYNCED, sending and killing master-a take.
            await create_topic(cluster, KNOWN, on_slaves=False)
            await poll(
                lambda: _knows(probe, slave_a.addr, KNOWN),
                SYNC_ROUND_SECONDS,
                f"slave-a never synced topic {KNOWN} from master-a",
            )
            await create_topic(cluster, UNSYNCED, on_slaves=False)
            for topic in (KNOWN, UNSYNCED):
                produce(cpp, ns, topic, "backlog", BACKLOG)
            set_a = {
                t: await queue_bodies(probe, master_a.addr, t, "broker-a")
                for t in (KNOWN, UNSYNCED)
            }
            assert all(set_a.values()), f"broker-a got no message: {set_a}"
            for topic in (KNOWN, UNSYNCED):  # SYNC_MASTER: acknowledged = on slave-a
                mqs = cluster.queues(topic, "broker-a")
                on_slave = [await probe.max_offset(slave_a.addr, mq) for mq in mqs]
                on_master = [await probe.max_offset(master_a.addr, mq) for mq in mqs]
                assert on_slave == on_master, (topic, on_slave, on_master)
            assert UNSYNCED not in await probe.topic_names(slave_a.addr), (
                f"slave-a synced {UNSYNCED} before master-a died: the scenario did not happen"
            )
            master_a.kill()
            slave_only = {1: slave_a.addr}
            await poll(
                lambda: _set_a_is(probe, ns, slave_only),
                10,
                "the NameServer still routes broker-a to master-a",
            )

            consumers: dict[str, CppProcess] = {}
            started: dict[str, float] = {}
            for topic in (KNOWN, UNSYNCED):
                consumers[topic] = cpp.start(
                    "consume", "--namesrv", ns, "--topic", topic, "--group", f"GID_{topic}",
                    "--expect", BACKLOG + LIVE, "--timeout", 40,
                )  # fmt: skip
            for topic, consumer in consumers.items():
                consumer.wait_started()
                started[topic] = time.time()
            for topic in (KNOWN, UNSYNCED):
                produce(cpp, ns, topic, "live", LIVE)
            expected = {f"backlog-{i}" for i in range(BACKLOG)} | {f"live-{i}" for i in range(LIVE)}

            # Wait a little past the bound, then report what each group got and when.
            deadline = time.monotonic() + DELIVERY_SECONDS + 5
            while time.monotonic() < deadline and not all(
                bodies(c).keys() >= expected for c in consumers.values()
            ):
                await asyncio.sleep(0.2)
            # Master-a stayed dead and no broker took id 0: broker-a's messages that arrived
            # were read from slave-a.
            assert await _set_a_is(probe, ns, slave_only), "broker-a got a master again"

        for topic, consumer in consumers.items():
            got = bodies(consumer)
            missing = expected - got.keys()
            missing_a = set_a[topic] & missing
            assert not missing, (
                f"{topic}: the new group missed {len(missing)} of {len(expected)} messages, "
                f"{len(missing_a)} of broker-a's {len(set_a[topic])} (slave-a), e.g. "
                f"{sorted(missing)[:5]}\n" + consumer.kill().log_tail(30)
            )
            last = max(got[b] for b in expected) / 1000 - started[topic]
            assert last <= DELIVERY_SECONDS, (
                f"{topic}: the last of the {len(expected)} messages arrived {last:.1f} s after "
                f"the consumer started"
            )
    finally:
        cluster.stop()


async def _knows(probe: BrokerProbe, addr: str, topic: str) -> bool:
    return topic in await probe.topic_names(addr)


async def _set_a_is(probe: BrokerProbe, namesrv_addr: str, addrs: dict[int, str]) -> bool:
    routes = [await probe.broker_addrs(namesrv_addr, t) for t in (KNOWN, UNSYNCED)]
    return all(route.get("broker-a") == addrs for route in routes)
