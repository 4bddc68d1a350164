"""What the C++ compatibility modules share: a cluster per module, topics, C++ driver
arguments, warming consumers up with probes, and a listener that records deliveries.

A new push consumer must be pulling every queue before the messages it is meant to see are
sent (CONSUME_FROM_LAST_OFFSET, and broadcasting consumers ask GET_MAX_OFFSET), so each
consumer is first "warmed up": probe messages are sent to every queue until the consumer has
received one from each queue. Probes have bodies ``probe-…`` and are left out of the checks
(the C++ driver counts only ``--expect-prefix`` bodies toward ``--expect``).

``cpp`` arguments are :class:`cpp_harness.CppClient` fixtures (see ``conftest.py``).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import pytest
from cpp_harness import CppClient, CppProcess

from orbitmq.client import (
    ConsumeStatus,
    Message,
    MessageExt,
    MessageQueue,
    MQClientError,
    SyncAdmin,
    SyncProducer,
    SyncPushConsumer,
)
from tests.integration.conftest import Cluster, make_cluster
from tests.processes import wait_until

QUEUES = 4
PROBE = "probe-"


def cluster_fixture(name: str, **broker_overrides: object) -> Any:
    """A module-scoped ``cluster`` fixture: NameServer + broker under a temp dir `name`."""

    @pytest.fixture(scope="module")
    def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
        running = make_cluster(tmp_path_factory.mktemp(name), **broker_overrides)
        try:
            yield running
        finally:
            running.stop()

    return cluster


def broker_name(cluster: Cluster) -> str:
    return str(cluster.broker_props["brokerName"])


def create_topic(
    cluster: Cluster, admin: SyncAdmin, topic: str, queues: int = QUEUES, *, order: bool = False
) -> None:
    """Create `topic` on the broker and wait until the NameServer routes all its queues."""
    admin.create_topic(cluster.broker_addr, topic, queues, queues, order=order)

    def routed() -> bool:
        try:
            route = admin.topic_route(topic)
        except MQClientError:
            return False
        return any(
            q.read_queue_nums == queues and q.write_queue_nums == queues for q in route.queue_datas
        )

    wait_until(routed, timeout=15, interval=0.1, message=f"no route for {topic} after 15 s")


def wait_members(cluster: Cluster, admin: SyncAdmin, group: str, count: int) -> list[str]:
    """Wait until the broker lists `count` members of `group` (GET_CONSUMER_LIST_BY_GROUP)."""
    members: list[str] = []

    def listed() -> bool:
        nonlocal members
        try:
            members = admin.get_consumer_id_list(cluster.broker_addr, group)
        except MQClientError:
            members = []
        return len(members) >= count

    wait_until(
        listed,
        timeout=15,
        interval=0.1,
        message=f"broker lists {members} for group {group}, expected {count} members",
    )
    return members


# --------------------------------------------------------------------------- C++ driver


def cpp_consume_args(cluster: Cluster, topic: str, group: str, *extra: object) -> list[str]:
    """cpp_driver arguments of a push consumer of `topic` in `group`."""
    args = ["consume", "--namesrv", cluster.namesrv_addr, "--topic", topic, "--group", group]
    return [*args, *(str(e) for e in extra)]


def cpp_produce_args(cluster: Cluster, topic: str, *extra: object) -> list[str]:
    """cpp_driver arguments of a producer of `topic` in group ``PID_<topic>``."""
    args = ["produce", "--namesrv", cluster.namesrv_addr, "--topic", topic]
    return [*args, "--group", f"PID_{topic}", *(str(e) for e in extra)]


def cpp_produce(cpp: CppClient, cluster: Cluster, topic: str, *extra: object) -> list[dict]:
    """Send with the C++ producer; every send must be SEND_OK. Returns the driver records."""
    records = cpp.run(*cpp_produce_args(cluster, topic, *extra), timeout=60)
    bad = [r for r in records if r.get("status") != 0]
    assert not bad, f"C++ sends not SEND_OK: {bad}"
    return records


def cpp_probe_queues(proc: CppProcess, topic: str) -> Callable[[], set[int]]:
    """Queue ids of `topic` from which the C++ consumer has received a probe so far."""

    def seen() -> set[int]:
        return {
            r["queue_id"]
            for r in proc.records_so_far()
            if r.get("topic") == topic and (r.get("body") or "").startswith(PROBE)
        }

    return seen


def warm_up(
    cluster: Cluster,
    producer: SyncProducer,
    topic: str,
    consumers: list[Callable[[], set[int]]],
    *,
    tags: str | None = "Probe",
    queues: int = QUEUES,
    timeout: float = 20.0,
    procs: Sequence[CppProcess] = (),
) -> None:
    """Send a probe to every queue, every 0.3 s, until each consumer got one from each."""
    want = set(range(queues))
    deadline = time.monotonic() + timeout
    n = 0
    while True:
        for q in range(queues):
            producer.send_to_queue(
                Message(topic, f"{PROBE}{n}-{q}".encode(), tags=tags),
                MessageQueue(topic, broker_name(cluster), q),
            )
        n += 1
        round_end = time.monotonic() + 0.3
        while time.monotonic() < round_end:
            if all(seen() >= want for seen in consumers):
                return
            time.sleep(0.02)
        for proc in procs:
            if proc.poll() is not None:
                raise AssertionError(proc.wait(0).describe("C++ consumer exited during warm-up"))
        if time.monotonic() > deadline:
            raise AssertionError(
                f"consumers of {topic} did not receive probes from all {queues} queues within "
                f"{timeout} s: {[sorted(seen()) for seen in consumers]}"
            )


def start_cpp_consumers(
    cpp: CppClient,
    cluster: Cluster,
    admin: SyncAdmin,
    producer: SyncProducer,
    topic: str,
    group: str,
    *extra: object,
    members: int = 1,
) -> list[CppProcess]:
    """Start `members` C++ push consumers of `group`, wait until the broker lists them all,
    then warm them up with probes to every queue."""
    args = cpp_consume_args(cluster, topic, group, *extra)
    procs = [cpp.start(*args) for _ in range(members)]
    for proc in procs:
        proc.wait_started()
    wait_members(cluster, admin, group, members)
    warm_up(cluster, producer, topic, [cpp_probe_queues(p, topic) for p in procs], procs=procs)
    return procs


# --------------------------------------------------------------------------- OrbitMQ side


class Collector:
    """Listener for OrbitMQ's SyncPushConsumer: (receive time ms, message) of every
    delivery."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.received: list[tuple[int, MessageExt]] = []

    def __call__(self, msgs: list[MessageExt]) -> ConsumeStatus:
        now = time.time_ns() // 1_000_000
        with self.lock:
            self.received.extend((now, m) for m in msgs)
        return ConsumeStatus.CONSUME_SUCCESS

    def latencies(self, msgs: list[MessageExt]) -> list[tuple[str, int, int, int]]:
        """(body head, queue id, queue offset, ms from store to the listener) of `msgs`."""
        with self.lock:
            received_ms = {id(m): t for t, m in self.received}
        return [
            (
                m.body[:40].decode(errors="replace"),
                m.queue_id,
                m.queue_offset,
                received_ms[id(m)] - m.store_timestamp,
            )
            for m in msgs
        ]

    def snapshot(self) -> list[MessageExt]:
        with self.lock:
            return [m for _, m in self.received]

    def probe_queues(self, topic: str) -> Callable[[], set[int]]:
        def seen() -> set[int]:
            return {
                m.queue_id
                for m in self.snapshot()
                if m.topic == topic and m.body.startswith(PROBE.encode())
            }

        return seen

    def timed(self, prefix: str) -> list[tuple[int, MessageExt]]:
        """(receive time ms, message) of the deliveries with body `prefix`…."""
        with self.lock:
            return [(t, m) for t, m in self.received if m.body.startswith(prefix.encode())]

    def real(self, prefix: str) -> list[MessageExt]:
        return [m for _, m in self.timed(prefix)]


def py_consumer(
    cluster: Cluster, group: str, topic: str, expression: str = "*", **kwargs: Any
) -> tuple[SyncPushConsumer, Collector]:
    collector = Collector()
    consumer = SyncPushConsumer(group, cluster.namesrv_addr, **kwargs)
    consumer.subscribe(topic, expression)
    consumer.register_message_listener(collector)
    consumer.start()
    return consumer, collector
