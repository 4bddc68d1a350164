"""RESET_CONSUMER_CLIENT_OFFSET (220) to the official C++ client: the broker sends C++
consumers the list-form body (ResetOffsetBodyForC), and a running C++ push consumer
re-consumes from the offsets OrbitMQ's `MQAdmin.reset_offset_by_time` computed.

Verified in the client's log: it decodes every entry of the list ("ResetOffsetBody
brokerName:…, queueID:…, offset:…"), persists the offsets and re-adds the queues."""

from __future__ import annotations

import time
from collections import Counter

import pytest
from scenario import cluster_fixture, cpp_consume_args, create_topic

from orbitmq.client import Message, SyncAdmin, SyncProducer
from tests.integration.conftest import Cluster
from tests.processes import wait_until

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]

TOPIC, GROUP, BATCH = "CppResetTopic", "GID_CPP_RESET", 10


cluster = cluster_fixture("cpp-reset")


def test_cpp_consumer_follows_a_reset(cpp, cluster: Cluster) -> None:
    admin = SyncAdmin(cluster.namesrv_addr)
    admin.start()
    producer = SyncProducer("PID_CPP_RESET", cluster.namesrv_addr)
    producer.start()
    try:
        create_topic(cluster, admin, TOPIC, 2)
        for i in range(BATCH):
            producer.send(Message(TOPIC, f"a-{i}".encode()))
        time.sleep(1.0)
        mark = time.time_ns() // 1_000_000
        time.sleep(0.05)
        for i in range(BATCH):
            producer.send(Message(TOPIC, f"b-{i}".encode()))
        consumer = cpp.start(
            *cpp_consume_args(cluster, TOPIC, GROUP, "--expect", 0, "--timeout", 30)
        )
        consumer.wait_started()

        def bodies() -> Counter[str]:
            return Counter(r["body"] for r in consumer.records_so_far() if "body" in r)

        wait_until(lambda: len(bodies()) == 2 * BATCH, timeout=20, message="nothing consumed")
        table = admin.call(admin.admin.reset_offset_by_time(TOPIC, GROUP, mark))
        assert sum(table.values()) == BATCH  # both queues back to their first b- message
        # The 1.2.3 client re-adds a reset queue once its held pull returns (up to 15 s
        # of long polling); on a live topic the next message ends that pull.
        for i in range(2):
            producer.send(Message(TOPIC, f"c-{i}".encode()))
        wait_until(
            lambda: all(bodies()[f"b-{i}"] >= 2 for i in range(BATCH)),
            timeout=20,
            message=f"the C++ consumer did not follow the reset: {bodies()}",
        )
        counts = bodies()
        assert all(counts[f"a-{i}"] == 1 for i in range(BATCH)), counts
        consumer.kill()
    finally:
        producer.shutdown()
        admin.shutdown()
