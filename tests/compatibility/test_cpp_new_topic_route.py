"""The official C++ client (rocketmq 0.4.4, librocketmq 1.2.x) sending at once to a topic
just made by `mqadmin updateTopic -c`, on a SYNC_MASTER with a slave (issue 14).

What librocketmq 1.2.x does (tag 1.2.3, DefaultMQProducer::sendDefaultImpl): a send makes
up to 5 attempts and, when none succeeded, throws "No route info of this topic" whatever
made them fail. With one broker set, attempts 2-5 find no queue off the failed attempt's
broker and are skipped, so one failed attempt fails the send: a send that a SYNC_MASTER
answers SLAVE_NOT_AVAILABLE reads "No route info of this topic" although the NameServer's
route is complete. (A topic the NameServer does not know yet is sent via TBW102's route.)

The window: a slave that registers before its master gets no master address back, and
used to ask again only a registration period (30 s) later. All that time nothing was
replicated, the SYNC_MASTER refused every send and no log line said why. Starting both
brokers at once gives either order; this cluster starts the slave first. The slave must be
replicating within READY_SECONDS of its master's boot; then every send of a fresh C++
producer right after each of ROUNDS topic creations must be SEND_OK. A failure rate of 4
runs in 60 would pass ROUNDS = 120 rounds with probability (56/60)^120 < 0.1%.

Runtime: about 15 s (a round is about 0.1 s: the C++ driver's start dominates).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from cpp_harness import CppClient, CppRun

from orbitmq.admin.commands.topic import masters_of_cluster
from orbitmq.client import SyncAdmin
from tests.processes import ServerProcess, broker_properties, start_broker, start_namesrv

pytestmark = [pytest.mark.slow, pytest.mark.timeout(150)]

CLUSTER = "DefaultCluster"
QUEUES = 8  # mqadmin updateTopic's default
SENDS = 5
ROUNDS = 120
ROUNDS_BUDGET_SECONDS = 90.0
# From the master's boot to the slave replicating: one MASTERLESS_REGISTER_SECONDS (1 s)
# plus a C++ run. It was a whole registration period (30 s) before.
READY_SECONDS = 3.0
READY_LIMIT_SECONDS = 40.0


@dataclass
class MasterSlave:
    namesrv: ServerProcess
    namesrv_addr: str
    slave: ServerProcess
    master: ServerProcess
    master_booted: float  # monotonic time its boot line was read

    def stop(self) -> None:
        for process in (self.slave, self.master, self.namesrv):
            process.stop()


@dataclass
class Round:
    topic: str
    run: CppRun
    failed: list[dict]


def start_slave_first(workdir: Path) -> MasterSlave:
    namesrv, namesrv_addr = start_namesrv(workdir)
    brokers: list[ServerProcess] = []
    try:
        for stem, broker_id, role in (("slave", 1, "SLAVE"), ("master", 0, "SYNC_MASTER")):
            node_dir = workdir / stem
            node_dir.mkdir()
            props = broker_properties(
                node_dir,
                namesrv_addr,
                brokerClusterName=CLUSTER,
                brokerName="broker-a",
                brokerId=broker_id,
                brokerRole=role,
                storePathRootDir=node_dir / "store",
            )
            brokers.append(start_broker(node_dir, props))
    except BaseException:
        for process in (*brokers, namesrv):
            process.stop()
        raise
    return MasterSlave(namesrv, namesrv_addr, brokers[0], brokers[1], time.monotonic())


def create_like_mqadmin(admin: SyncAdmin, topic: str) -> None:
    """`mqadmin updateTopic -c DefaultCluster -t <topic>`: on every master of the cluster."""
    masters = masters_of_cluster(admin.cluster_info(), CLUSTER)
    assert masters, f"the NameServer knows no master of {CLUSTER}"
    for _, addr in masters:
        admin.create_topic(addr, topic, QUEUES, QUEUES)


def create_and_send(cpp: CppClient, admin: SyncAdmin, namesrv_addr: str, topic: str) -> Round:
    create_like_mqadmin(admin, topic)
    run = cpp.result(
        "produce", "--namesrv", namesrv_addr, "--topic", topic, "--group", f"PID_{topic}",
        "--count", SENDS, "--keep-going", "--timeout", 30, timeout=40,
    )  # fmt: skip
    sends = [r for r in run.records if "i" in r]
    assert len(sends) == SENDS, run.describe(f"{len(sends)} of {SENDS} sends reported")
    return Round(topic, run, [r for r in sends if r.get("status") != 0])


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MasterSlave]:
    running = start_slave_first(tmp_path_factory.mktemp("cpp-new-topic"))
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture(scope="module")
def admin(cluster: MasterSlave) -> Iterator[SyncAdmin]:
    client = SyncAdmin(cluster.namesrv_addr)
    client.start()
    try:
        yield client
    finally:
        client.shutdown()


@pytest.fixture(scope="module")
def ready_after(
    cluster: MasterSlave,
    admin: SyncAdmin,
    cpp_python: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> float:
    """Seconds from the master's boot to the first C++ round whose sends all succeed."""
    cpp = CppClient(cpp_python, tmp_path_factory.mktemp("cpp-ready"))
    deadline = cluster.master_booted + READY_LIMIT_SECONDS
    for attempt in range(int(READY_LIMIT_SECONDS * 10)):
        outcome = create_and_send(cpp, admin, cluster.namesrv_addr, f"CppReady{attempt}")
        if not outcome.failed:
            return time.monotonic() - cluster.master_booted
        if time.monotonic() > deadline:
            break
    pytest.fail(
        f"C++ sends still failing {READY_LIMIT_SECONDS:.0f} s after the master booted: "
        f"{outcome.failed[0].get('error')}\n--- slave ---\n{cluster.slave.tail(15)}"
    )


def test_a_slave_started_before_its_master_replicates_within_seconds(
    cluster: MasterSlave, ready_after: float
) -> None:
    assert ready_after <= READY_SECONDS, (
        f"the slave, registered before its master, replicated (C++ sends to the SYNC_MASTER "
        f"succeeded) only {ready_after:.1f} s after the master booted\n--- slave ---\n"
        + cluster.slave.tail(15)
    )


def test_every_cpp_send_right_after_topic_creation_succeeds(
    cluster: MasterSlave, admin: SyncAdmin, cpp: CppClient, ready_after: float
) -> None:
    failures: list[Round] = []
    deadline = time.monotonic() + ROUNDS_BUDGET_SECONDS
    done = 0
    for done in range(1, ROUNDS + 1):
        outcome = create_and_send(cpp, admin, cluster.namesrv_addr, f"CppNewTopic{done}")
        if outcome.failed:
            failures.append(outcome)
        if time.monotonic() > deadline:
            break
    assert done == ROUNDS, f"only {done} of {ROUNDS} rounds in {ROUNDS_BUDGET_SECONDS:.0f} s"
    if failures:
        first = failures[0]
        lines = [
            f"{r.topic}: {len(r.failed)} of {SENDS} failed, e.g. {r.failed[0].get('error')}"
            for r in failures
        ]
        pytest.fail(
            f"{len(failures)} of {ROUNDS} rounds had failed C++ sends right after topic "
            "creation:\n" + "\n".join(lines) + f"\nroute of {first.topic} now: "
            f"{admin.topic_route(first.topic)}\n--- C++ log of {first.topic} ---\n"
            f"{first.run.log_tail(40)}\n--- NameServer ---\n{cluster.namesrv.tail(10)}"
        )
