"""Delay levels, batches and retries with the official RocketMQ C++ client (rocketmq 0.4.4).

The broker's delay levels are short, "1s 2s 1s 2s": a C++ `--delay-level 2` message waits
2 s, and a message the C++ consumer rejects comes back through %RETRY%<group> after
level 3 + reconsumeTimes: 1 s, then 2 s. The broker's maxMessageSize is 64 KiB. The C++
client 0.4.4 has no transaction API, so transactions are not tested here.

A consumer must be pulling before the messages it should see are sent, so each one is
first warmed up with probe messages (bodies `probe-…`, left out of every check).
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Iterator

import pytest
from cpp_harness import CppProcess
from scenario import (
    PROBE,
    broker_name,
    cluster_fixture,
    cpp_consume_args,
    cpp_probe_queues,
    cpp_produce,
    cpp_produce_args,
    create_topic,
    py_consumer,
    warm_up,
)

from orbitmq.client import MessageQueue, SyncProducer
from tests.integration.conftest import Cluster
from tests.processes import wait_until

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]

LEVELS = "1s 2s 1s 2s"
MAX_MESSAGE_SIZE = 65536

cluster = cluster_fixture("cpp-delay", messageDelayLevel=LEVELS, maxMessageSize=MAX_MESSAGE_SIZE)


@pytest.fixture(autouse=True)
def _server_output_on_failure(cluster: Cluster) -> Iterator[None]:
    yield
    print(f"--- broker output (last lines) ---\n{cluster.broker.tail(60)}")


@pytest.fixture(scope="module")
def producer(cluster: Cluster) -> Iterator[SyncProducer]:
    client = SyncProducer("PID_ORBIT_PY_DELAY", cluster.namesrv_addr)
    client.start()
    try:
        yield client
    finally:
        client.shutdown()


# --------------------------------------------------------------------------- tests


def test_cpp_delayed_messages_arrive_when_due(cluster, admin, producer, cpp):
    """C++ `set_delay_time_level(2)` -> delivered 2 s later, same id, no DELAY left;
    level 99 is clamped to the last level (4: 2 s)."""
    topic = "CppDelay"
    create_topic(cluster, admin, topic, 1)
    consumer, collector = py_consumer(cluster, "GID_PY_CPP_DELAY", topic)
    try:
        warm_up(cluster, producer, topic, [collector.probe_queues(topic)],
                queues=1, tags=None, timeout=30)  # fmt: skip
        sent = cpp_produce(cpp, cluster, topic, "--count", 3, "--delay-level", 2,
                           "--body-prefix", "delayed", "--tag", "TagD")  # fmt: skip
        sent += cpp_produce(cpp, cluster, topic, "--count", 1, "--delay-level", 99,
                            "--body-prefix", "clamped")  # fmt: skip
        wait_until(lambda: len(collector.real("delayed")) + len(collector.real("clamped")) >= 4,
                   timeout=15, message="delayed messages missing")  # fmt: skip
        time.sleep(0.3)
    finally:
        consumer.shutdown()
    got = collector.timed("delayed") + collector.timed("clamped")
    assert sorted(m.msg_id for _, m in got) == sorted(r["msg_id"] for r in sent)
    errors = []
    for received_at, msg in got:
        assert msg.topic == topic and "DELAY" not in msg.properties
        store_error = msg.store_timestamp - msg.born_timestamp - 2000
        recv_error = received_at - msg.born_timestamp - 2000
        assert 0 <= store_error < 1000 and 0 <= recv_error < 1000, (store_error, recv_error)
        errors.append((msg.body.decode(), store_error, recv_error))
    print(f"\nC++ delay level 2 (2 s) and 99->4 (2 s): (body, store err ms, recv err ms) {errors}")


def test_cpp_batch_within_and_beyond_the_size_limit(cluster, admin, producer, cpp):
    """A C++ batch lands in one queue with consecutive offsets; a C++ batch whose bodies
    exceed the broker's maxMessageSize (C++ zlibs it whole: the broker inflates and
    counts) is refused with a reason and stores nothing."""
    topic = "CppBatchLimit"
    create_topic(cluster, admin, topic, 1)
    mq = MessageQueue(topic, broker_name(cluster), 0)
    cpp_produce(cpp, cluster, topic, "--mode", "batch", "--count", 8, "--body-prefix", "fits")
    assert admin.max_offset(mq) == 8
    run = cpp.result(*cpp_produce_args(cluster, topic, "--mode", "batch", "--count", 10,
                                       "--size", 8000, "--max-message-size", 4 << 20,
                                       "--body-prefix", "huge"), timeout=60)  # fmt: skip
    assert run.returncode == 1, run.describe("unexpected exit code")
    assert "maxMessageSize" in run.stderr or "maxMessageSize" in run.log_tail(200), run.describe(
        "no reason given"
    )
    assert admin.max_offset(mq) == 8
    records = cpp.run("pull", "--namesrv", cluster.namesrv_addr, "--topic", topic, timeout=60)
    assert [r["body"] for r in records] == [f"fits-{i}" for i in range(8)]
    assert [r["queue_offset"] for r in records] == list(range(8))


def test_cpp_consumer_failure_comes_back_with_growing_delay(cluster, admin, producer, cpp):
    """RECONSUME_LATER twice from the C++ consumer: redelivered from %RETRY%<group> after
    level 3 (1 s), then level 4 (2 s), then acked.

    Two quirks of the C++ client shape this test. It looks up the route of %RETRY%<group>
    at start and then only every 30 s, and a broker creates that topic on the first
    heartbeat, after the lookup: the retry topic is created beforehand here so that the
    consumer pulls it from the start. And the 0.4.4 wrapper sends back a whole pull batch
    when one message of it fails, so the test message is sent alone, once every probe
    (rejected twice as well) is through."""
    topic, group = "CppRetryDelay", "GID_CPP_RETRY_DELAY"
    create_topic(cluster, admin, topic, 1)
    create_topic(cluster, admin, f"%RETRY%{group}", 1)
    args = cpp_consume_args(cluster, topic, group, "--fail-times", 2, "--expect", 1,
                            "--expect-prefix", "again-", "--timeout", 40,
                            "--linger", 1.0)  # fmt: skip
    consumer: CppProcess = cpp.start(*args)
    consumer.wait_started()

    def probes() -> dict[str, set[str]]:
        results: dict[str, set[str]] = defaultdict(set)
        for r in consumer.records_so_far():
            if (r.get("body") or "").startswith(PROBE):
                results[r["body"]].add(r["result"])
        return results

    warm_up(cluster, producer, topic, [cpp_probe_queues(consumer, topic)],
            queues=1, tags=None, timeout=30)  # fmt: skip
    wait_until(
        lambda: all("CONSUME_SUCCESS" in seen for seen in probes().values()),
        timeout=20,
        message=f"probes not through their retries: {dict(probes())}",
    )
    sent = cpp_produce(cpp, cluster, topic, "--count", 1, "--body-prefix", "again")
    records = consumer.result(timeout=70)
    deliveries = [r for r in records if r.get("body") == "again-0"]
    assert [(r["reconsume_times"], r["result"]) for r in deliveries] == [
        (0, "RECONSUME_LATER"),
        (1, "RECONSUME_LATER"),
        (2, "CONSUME_SUCCESS"),
    ], deliveries
    assert all(r["topic"] == topic for r in deliveries)
    assert all(r["msg_id"] == sent[0]["msg_id"] for r in deliveries)
    assert [r["properties"].get("RETRY_TOPIC") for r in deliveries] == [None, topic, topic]
    # the store time of each redelivered copy is when its delay ran out
    stored = [r["store_timestamp"] for r in deliveries]
    gaps = [stored[1] - stored[0], stored[2] - stored[1]]
    print(f"\nC++ retry gaps in ms (level 3 = 1 s, level 4 = 2 s): {gaps}")
    assert 1000 <= gaps[0] < 2000 and 2000 <= gaps[1] < 3000, gaps
