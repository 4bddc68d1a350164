"""2m-2s-sync over four hosts (network namespaces), as RocketMQ's deployment table lays it
out: each host runs a NameServer on 9876 and one broker on 10911 (host1 broker-a,
host2 broker-a-s, host3 broker-b, host4 broker-b-s), every broker registering with all
four NameServers. One host dies (SIGKILL of everything on it), another loses its link.

The topic is created on all four brokers, as an operator may: this test is about the
network and replicated data, not about metadata sync (tests/integration covers that).
"""

from __future__ import annotations

import asyncio
import logging
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import pytest

from orbitmq.client import Message, MessageQueue, MQAdmin, Producer, SendResult, SendStatus
from orbitmq.errors import OrbitMQError
from tests.cluster.netns import Host, VirtualLan
from tests.cluster.probe import BrokerProbe, Checks, poll
from tests.cluster.topology import TEST_OVERRIDES, TWO_MASTERS_TWO_SLAVES, template
from tests.processes import ServerProcess, write_properties

pytestmark = pytest.mark.slow

log = logging.getLogger(__name__)

NAMESRV_PORT = 9876
BROKER_PORT = 10911
TOPIC = "NetTopic"
QUEUES = 4
SEND_TIMEOUT = 3.0
# The link stays cut longer than haHousekeepingInterval (20 s): both ends of master-b's
# replication connection give up on it, so acknowledged sends after the restore need a
# new one.
CUT_SECONDS = 25.0


@dataclass
class FourHosts:
    lan: VirtualLan
    hosts: dict[int, Host] = field(default_factory=dict)
    brokers: dict[str, ServerProcess] = field(default_factory=dict)
    broker_hosts: dict[str, Host] = field(default_factory=dict)

    @property
    def namesrv_addr(self) -> str:
        return ";".join(self.namesrv(h) for h in self.hosts)

    def namesrv(self, host: int) -> str:
        return f"{self.hosts[host].address}:{NAMESRV_PORT}"

    def broker(self, stem: str) -> str:
        return f"{self.broker_hosts[stem].address}:{BROKER_PORT}"

    def tail(self, stem: str) -> str:
        return self.brokers[stem].tail(20)

    def logs(self, broker_name: str) -> str:
        """The last lines of a broker set's master and slave."""
        stems = (broker_name, f"{broker_name}-s")
        return "\n".join(f"--- {stem}:\n{self.tail(stem)}" for stem in stems)


def start_four_hosts(lan: VirtualLan, mode: str) -> FourHosts:
    """Four hosts, a NameServer on each, then the masters, then the slaves."""
    cluster = FourHosts(lan)
    for _ in range(4):
        host = lan.add_host()
        cluster.hosts[host.index] = host
    namesrvs = []
    for host in cluster.hosts.values():
        config = write_properties(
            host.workdir / "namesrv.properties",
            {"listenPort": NAMESRV_PORT, "kvConfigPath": host.workdir / "namesrv" / "kv.json"},
        )
        argv = [sys.executable, "-m", "orbitmq", "namesrv", "-c", str(config)]
        namesrvs.append(host.start(argv, "The Name Server boot success", "namesrv"))
    for process in namesrvs:
        process.wait_booted()
    for slaves in (False, True):
        started = []
        for slot in TWO_MASTERS_TWO_SLAVES:
            if slot.is_slave != slaves:
                continue
            host = cluster.hosts[slot.host]
            props = template(mode, slot.stem)
            props.update(TEST_OVERRIDES)
            # What the template's header says to change on real hosts.
            props.update(
                namesrvAddr=cluster.namesrv_addr,
                brokerIP1=host.address,
                listenPort=BROKER_PORT,
                storePathRootDir=host.workdir / "store",
            )
            config = write_properties(host.workdir / f"{slot.stem}.properties", props)
            argv = [sys.executable, "-m", "orbitmq", "broker", "-c", str(config)]
            cluster.brokers[slot.stem] = host.start(argv, "boot success", slot.stem)
            cluster.broker_hosts[slot.stem] = host
            started.append(cluster.brokers[slot.stem])
        for process in started:
            process.wait_booted()
    return cluster


async def send_acked(producer: Producer, prefix: str, count: int) -> dict[bytes, SendResult]:
    """`count` sends that must all be acknowledged (SEND_OK)."""
    results = {}
    for i in range(count):
        body = f"{prefix}-{i}".encode()
        result = await producer.send(Message(TOPIC, body))
        assert result.status is SendStatus.SEND_OK, f"{body!r}: {result.status.name}"
        results[body] = result
    return results


async def first_ack(
    producer: Producer, mq: MessageQueue, timeout: float, what: str, logs: Callable[[], str]
) -> None:
    """Send to `mq` until one send is SEND_OK (a SYNC_MASTER needs its slave connected)."""
    seen: list[str] = []

    async def acked() -> bool:
        try:
            result = await producer.send_to_queue(Message(TOPIC, b"warm-up"), mq)
        except OrbitMQError as exc:
            seen.append(type(exc).__name__)
            return False
        seen.append(result.status.name)
        return result.status is SendStatus.SEND_OK

    await poll(
        acked, timeout, lambda: f"{what}: no SEND_OK from {mq.broker_name}: {seen[-5:]}\n{logs()}"
    )


async def readable_at(
    probe: BrokerProbe, addr: str, acked: dict[bytes, SendResult], broker_name: str
) -> dict[tuple[int, int], bytes]:
    """The acknowledged messages of `broker_name` that `addr` does NOT serve at their
    queue offsets (empty when none is lost)."""
    expected = {
        (r.message_queue.queue_id, r.queue_offset): body
        for body, r in acked.items()
        if r.message_queue.broker_name == broker_name
    }
    found: dict[tuple[int, int], bytes] = {}
    for queue_id in range(QUEUES):
        end = 1 + max((o for q, o in expected if q == queue_id), default=-1)
        if end == 0:
            continue
        mq = MessageQueue(TOPIC, broker_name, queue_id)
        for msg in await probe.pull_range(addr, mq, 0, end):
            found[(msg.queue_id, msg.queue_offset)] = msg.body
    return {k: v for k, v in expected.items() if found.get(k) != v}


async def test_2m_2s_sync_over_four_hosts_a_dead_host_and_a_cut_link(lan: VirtualLan) -> None:
    """host1 (master-a) dies: its set leaves every live NameServer's route and sends keep
    succeeding on master-b. Then host3's (master-b) link is cut: with no reachable master
    sends fail cleanly (a client error within the send timeout), and every acknowledged
    message is on the slaves. The link returns: master-b registers again with the other
    hosts' NameServers, acknowledged sends work again, and no acknowledged message is lost
    (set a on slave-a, set b on master-b and slave-b, each at its acknowledged offset)."""
    cluster = start_four_hosts(lan, "2m-2s-sync")
    host1, host3 = cluster.hosts[1], cluster.hosts[3]
    master_a, slave_a = cluster.broker("broker-a"), cluster.broker("broker-a-s")
    master_b, slave_b = cluster.broker("broker-b"), cluster.broker("broker-b-s")
    checks = Checks()
    producer = Producer("PG_NET", cluster.namesrv_addr, send_timeout=SEND_TIMEOUT)
    await producer.start()
    try:
        async with BrokerProbe(timeout=3.0) as probe:
            full = {"broker-a": {0: master_a, 1: slave_a}, "broker-b": {0: master_b, 1: slave_b}}
            async with MQAdmin(cluster.namesrv(1)) as admin:
                for stem in ("broker-a", "broker-b", "broker-a-s", "broker-b-s"):
                    await admin.create_topic(cluster.broker(stem), TOPIC, QUEUES, QUEUES)
            for host in cluster.hosts:

                async def routed(host: int = host) -> bool:
                    return await probe.broker_addrs(cluster.namesrv(host), TOPIC) == full

                await poll(routed, 20, f"NameServer of host{host} never routed {full}")

            # Acknowledged messages on both sets (each master waits for its slave's ack).
            for name in ("broker-a", "broker-b"):
                mq = MessageQueue(TOPIC, name, 0)
                await first_ack(producer, mq, 30, "start", lambda n=name: cluster.logs(n))
            acked = await send_acked(producer, "before", 40)
            assert {r.message_queue.broker_name for r in acked.values()} == set(full)

            # host1 (NameServer 1 and master-a) dies. The others drop master-a at once:
            # the dead host's kernel closes its connections.
            lan.kill_host(host1)
            log.info("host1 killed; %d acknowledged messages so far", len(acked))
            for host in (2, 3, 4):

                async def dropped(host: int = host) -> bool:
                    addrs = await probe.broker_addrs(cluster.namesrv(host), TOPIC)
                    return addrs.get("broker-a") == {1: slave_a}

                await poll(dropped, 15, f"NameServer of host{host} still routes master-a")

            # A master remains (broker-b): sends keep succeeding, retried away from set a
            # until the producer's next route refresh.
            survivors = await send_acked(producer, "one-master", 20)
            checks.expect(
                {r.message_queue.broker_name for r in survivors.values()} == {"broker-b"},
                "sends with master-a dead did not all go to broker-b",
            )
            acked.update(survivors)

            # host3's link is cut: master-b is unreachable but still routed (no connection
            # closes, so NameServers keep it until their 120 s expiry). Sends must fail
            # cleanly: a client error within the send timeout, never a success.
            lan.cut(host3)
            cut_at = time.monotonic()
            log.info("host3's link cut")
            for i in range(3):
                started = time.monotonic()
                outcome: str
                try:
                    result = await producer.send(Message(TOPIC, f"cut-{i}".encode()))
                    outcome = f"returned {result.status.name} on {result.message_queue}"
                except OrbitMQError as exc:
                    outcome = f"raised {type(exc).__name__}"
                elapsed = time.monotonic() - started
                log.info("send %d during the cut %s after %.1f s", i, outcome, elapsed)
                checks.expect(
                    outcome.startswith("raised") and elapsed < SEND_TIMEOUT + 3,
                    f"send {i} with master-a dead and master-b cut off {outcome} "
                    f"after {elapsed:.1f}s (expected a client error within "
                    f"{SEND_TIMEOUT + 3:.0f}s)",
                )

            # The acknowledged messages are on the slaves.
            lost_a = await readable_at(probe, slave_a, acked, "broker-a")
            checks.expect(
                not lost_a,
                f"{len(lost_a)} acknowledged messages of broker-a not on slave-a: "
                f"{sorted(lost_a)[:5]}",
            )
            lost_b = await readable_at(probe, slave_b, acked, "broker-b")
            checks.expect(
                not lost_b,
                f"{len(lost_b)} acknowledged messages of broker-b not on slave-b: "
                f"{sorted(lost_b)[:5]}",
            )

            # The link comes back: master-b registers again with every NameServer. A topic
            # created on it now reaches hosts 2 and 4 only through a new registration.
            await asyncio.sleep(max(0.0, cut_at + CUT_SECONDS - time.monotonic()))
            lan.restore(host3)
            restored_at = time.monotonic()
            log.info("host3's link restored")
            rejoin_topic = f"{TOPIC}Rejoin"
            async with MQAdmin(cluster.namesrv(2)) as admin:

                async def created() -> bool:
                    await admin.create_topic(master_b, rejoin_topic, QUEUES, QUEUES)
                    return True

                await poll(created, 20, "master-b unreachable after its link was restored")
            for host in (2, 3, 4):

                async def rejoined(host: int = host) -> bool:
                    ns = cluster.namesrv(host)
                    topic_route = await probe.broker_addrs(ns, rejoin_topic)
                    return (
                        topic_route.get("broker-b", {}).get(0) == master_b
                        and (await probe.broker_addrs(ns, TOPIC)).get("broker-b")
                        == full["broker-b"]
                    )

                await checks.wait(
                    rejoined,
                    35,
                    lambda host=host: (
                        f"master-b never re-registered with host{host}'s "
                        f"NameServer after the link came back\n{cluster.tail('broker-b')}"
                    ),
                )

            log.info("master-b rejoined after %.1f s", time.monotonic() - restored_at)

            # Acknowledged sends work again (master-b with slave-b), and nothing is lost.
            mq = MessageQueue(TOPIC, "broker-b", 1)
            await first_ack(producer, mq, 40, "after restore", lambda: cluster.logs("broker-b"))
            acked.update(await send_acked(producer, "restored", 20))
            lost_a = await readable_at(probe, slave_a, acked, "broker-a")
            lost_b = await readable_at(probe, master_b, acked, "broker-b")
            checks.expect(
                not lost_a and not lost_b,
                f"after the link came back, acknowledged messages lost: {len(lost_a)} of "
                f"broker-a (slave-a), {len(lost_b)} of broker-b (master-b)",
            )
            lost_b_slave = await readable_at(probe, slave_b, acked, "broker-b")
            checks.expect(
                not lost_b_slave,
                f"{len(lost_b_slave)} acknowledged messages of broker-b not on slave-b",
            )
            # The slaves never left.
            for stem in ("broker-a-s", "broker-b-s"):
                checks.expect(
                    cluster.brokers[stem].process.poll() is None,
                    f"{stem} exited:\n{cluster.tail(stem)}",
                )
        checks.assert_all()
    finally:
        await producer.shutdown()
