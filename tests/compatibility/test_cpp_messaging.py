"""End-to-end messaging between OrbitMQ and the official RocketMQ C++ client (rocketmq 0.4.4).

One NameServer and one broker (real processes on 127.0.0.1) serve the whole module; every
test uses its own topic and groups. C++ producers and consumers run out of process through
``cpp_driver.py``; the other side is OrbitMQ's own client where a test says so.

A new push consumer must be pulling every queue before the messages it is meant to see are
sent, so each consumer is first "warmed up" with probe messages (see ``scenario.py``).

On a failure the broker's and NameServer's recent output is printed (captured teardown).
"""

from __future__ import annotations

import time
from collections import Counter, defaultdict
from collections.abc import Iterator

import pytest
from scenario import (
    QUEUES,
    broker_name,
    cluster_fixture,
    cpp_consume_args,
    cpp_produce,
    create_topic,
    py_consumer,
    start_cpp_consumers,
    wait_members,
    warm_up,
)

from orbitmq.client import Message, MessageQueue, SyncProducer
from tests.integration.conftest import Cluster
from tests.processes import wait_until

pytestmark = [pytest.mark.slow, pytest.mark.timeout(90)]

SUCCESS = "CONSUME_SUCCESS"
# A consumer long-polling a queue must get a new message promptly. (A Java broker re-checks
# held pulls at least every 5 s even if it missed an arrival; the C++ client holds 15 s.)
MAX_DELIVERY_LATENCY_MS = 6000


# --------------------------------------------------------------------------- fixtures


cluster = cluster_fixture("cpp-cluster")


@pytest.fixture(autouse=True)
def _server_output_on_failure(cluster: Cluster) -> Iterator[None]:
    yield
    # Printed at teardown: pytest shows it only for a failed test.
    print(f"--- broker output (last lines) ---\n{cluster.broker.tail(80)}")
    print(f"--- name server output (last lines) ---\n{cluster.namesrv.tail(20)}")


@pytest.fixture(scope="module")
def producer(cluster: Cluster) -> Iterator[SyncProducer]:
    """OrbitMQ's producer (probes, and the Python side of the mixed tests)."""
    client = SyncProducer("PID_ORBIT_PY", cluster.namesrv_addr)
    client.start()
    try:
        yield client
    finally:
        client.shutdown()


# --------------------------------------------------------------------------- helpers


def real(records: list[dict], prefix: str) -> list[dict]:
    """Deliveries of test messages (not probes) with body `prefix`…."""
    return [r for r in records if (r.get("body") or "").startswith(prefix)]


def acked(records: list[dict]) -> list[dict]:
    return [r for r in records if r.get("result") == SUCCESS]


def view(rec: dict, *props: str) -> tuple:
    """(body, tags, keys, property values…) of a C++ consumer record."""
    return (
        rec["body"],
        rec["tags"],
        rec["keys"],
        *(rec["properties"].get(p) for p in props),
    )


def assert_prompt(deliveries: list[tuple[str, int, int, int]], who: str) -> None:
    """(body, queue id, queue offset, ms from store to delivery) must stay under the limit."""
    late = [d for d in deliveries if d[3] > MAX_DELIVERY_LATENCY_MS]
    assert not late, (
        f"{who}: messages delivered more than {MAX_DELIVERY_LATENCY_MS} ms after the broker "
        f"stored them, although the consumer was long-polling their queues (a held pull not "
        f"woken by the arrival?): (body, queue, offset, ms) {late}"
    )


def cpp_latencies(records: list[dict]) -> list[tuple[str, int, int, int]]:
    return [
        (r["body"], r["queue_id"], r["queue_offset"], r["received_ms"] - r["store_timestamp"])
        for r in records
    ]


def duplicates(items: list) -> dict:
    return {k: n for k, n in Counter(items).items() if n > 1}


# --------------------------------------------------------------------------- tests


def test_cpp_producer_to_cpp_push_consumer(cluster, admin, producer, cpp):
    """1. C++ sync sends with tags and keys reach a C++ PushConsumer intact."""
    topic, group, n = "CppToCppPush", "GID_CPP_PUSH", 50
    create_topic(cluster, admin, topic)
    [consumer] = start_cpp_consumers(
        cpp, cluster, admin, producer, topic, group,
        "--expect", n, "--expect-prefix", "c2c-", "--timeout", 40, "--linger", 0.5,
    )  # fmt: skip

    tags = ["TagA", "TagB", "TagC"]
    sent = cpp_produce(
        cpp,
        cluster,
        topic,
        "--count",
        n,
        *[a for t in tags for a in ("--tag", t)],
        "--keys-prefix",
        "c2c-key",
        "--body-prefix",
        "c2c",
    )
    assert [r["i"] for r in sent] == list(range(n))

    records = consumer.result(timeout=60)
    got = real(records, "c2c-")
    expected = {(f"c2c-{i}", tags[i % 3], f"c2c-key-{i}", str(i)) for i in range(n)}
    assert {view(r, "orbit_seq") for r in got} == expected
    assert all(r["result"] == SUCCESS and r["topic"] == topic for r in got)
    assert not duplicates([r["body"] for r in got]), "a message was delivered twice"
    assert_prompt(cpp_latencies(got), "C++ PushConsumer")
    # The msg_id the C++ producer got back (its UNIQ_KEY) is the one the consumer sees.
    assert {r["msg_id"] for r in got} == {r["msg_id"] for r in sent}
    assert {r["properties"].get("UNIQ_KEY") for r in got} == {r["msg_id"] for r in sent}
    # Round-robin over all queues; each queue's offsets are consecutive.
    by_queue = defaultdict(list)
    for r in got:
        by_queue[r["queue_id"]].append(r["queue_offset"])
    assert sorted(by_queue) == list(range(QUEUES))
    for offsets in by_queue.values():
        offsets.sort()
        assert offsets == list(range(offsets[0], offsets[0] + len(offsets)))


def test_cpp_producer_to_python_consumer_with_tag_filter(cluster, admin, producer, cpp):
    """2. C++ sends cycling TagA/TagB/TagC; OrbitMQ's consumer on 'TagA || TagB' gets
    exactly the TagA and TagB ones."""
    topic, group, n = "CppToPyTags", "GID_PY_TAGS", 30
    create_topic(cluster, admin, topic)
    consumer, collector = py_consumer(cluster, group, topic, "TagA || TagB")
    try:
        wait_members(cluster, admin, group, 1)
        warm_up(cluster, producer, topic, [collector.probe_queues(topic)], tags="TagA")
        tags = ["TagA", "TagB", "TagC"]
        cpp_produce(
            cpp,
            cluster,
            topic,
            "--count",
            n,
            *[a for t in tags for a in ("--tag", t)],
            "--keys-prefix",
            "tag-key",
            "--body-prefix",
            "tag",
            "--property",
            "origin=cpp",
        )
        expected = {
            (f"tag-{i}".encode(), tags[i % 3], (f"tag-key-{i}",), str(i), "cpp")
            for i in range(n)
            if tags[i % 3] != "TagC"
        }
        wait_until(
            lambda: len(collector.real("tag-")) >= len(expected),
            timeout=30,
            message=f"got {len(collector.real('tag-'))} of {len(expected)} messages",
        )
        time.sleep(1.0)  # anything that should not come would come now
    finally:
        consumer.shutdown()
    got = collector.real("tag-")
    views = [
        (m.body, m.tags, tuple(m.keys), m.properties.get("orbit_seq"), m.properties.get("origin"))
        for m in got
    ]
    assert not duplicates(views), "a message was delivered twice"
    assert set(views) == expected
    assert all(m.topic == topic and m.reconsume_times == 0 for m in got)
    assert_prompt(collector.latencies(got), "OrbitMQ PushConsumer")


def test_python_producer_to_cpp_push_consumer(cluster, admin, producer, cpp):
    """3. OrbitMQ's producer -> C++ PushConsumer: body, tags, keys and user properties."""
    topic, group, n = "PyToCppPush", "GID_CPP_FROM_PY", 12
    create_topic(cluster, admin, topic)
    [consumer] = start_cpp_consumers(
        cpp, cluster, admin, producer, topic, group,
        "--expect", n, "--expect-prefix", "py-", "--timeout", 40, "--linger", 0.5,
        "--show-property", "color", "--show-property", "note",
    )  # fmt: skip

    sent = {}
    for i in range(n):
        msg = Message(
            topic,
            f"py-{i}-héllo wörld".encode(),
            tags=f"PyTag{i % 2}",
            keys=[f"pk-{i}", f"alt-{i}"],
            properties={"orbit_seq": str(i), "color": f"blue-{i}", "note": "a b=c;d"},
        )
        result = producer.send(msg)
        sent[result.msg_id] = i

    records = consumer.result(timeout=60)
    got = real(records, "py-")
    expected = {
        (f"py-{i}-héllo wörld", f"PyTag{i % 2}", f"pk-{i} alt-{i}", str(i), f"blue-{i}", "a b=c;d")
        for i in range(n)
    }
    assert {view(r, "orbit_seq", "color", "note") for r in got} == expected
    assert not duplicates([r["body"] for r in got]), "a message was delivered twice"
    assert {r["msg_id"] for r in got} == set(sent)
    assert_prompt(cpp_latencies(got), "C++ PushConsumer")
    assert all(r["body_len"] == len(r["body"].encode()) for r in got)


def test_cpp_compressed_and_batch_messages(cluster, admin, producer, cpp):
    """4. C++ zlib-compressed bodies (>= 4096 bytes) and a C++ batch are stored and consumed
    intact by OrbitMQ's consumer and by a C++ consumer."""
    topic = "CppCompressBatch"
    create_topic(cluster, admin, topic)
    big = cpp_produce(
        cpp,
        cluster,
        topic,
        "--count",
        4,
        "--size",
        6000,
        "--tag",
        "Big",
        "--keys-prefix",
        "big-key",
        "--body-prefix",
        "big",
    )
    batch = cpp_produce(
        cpp,
        cluster,
        topic,
        "--mode",
        "batch",
        "--count",
        10,
        "--batch-size",
        5,
        "--tag",
        "Batch",
        "--keys-prefix",
        "batch-key",
        "--body-prefix",
        "batch",
    )
    assert len(big) == 4 and len(batch) == 10

    def big_body(i: int) -> str:
        return f"big-{i}".ljust(6000, "x")

    expected = {(big_body(i), "Big", f"big-key-{i}", str(i)) for i in range(4)} | {
        (f"batch-{i}", "Batch", f"batch-key-{i}", str(i)) for i in range(10)
    }

    # OrbitMQ's consumer, from the first offset.
    consumer, collector = py_consumer(
        cluster, "GID_PY_COMPRESS", topic, consume_from_where="CONSUME_FROM_FIRST_OFFSET"
    )
    try:
        wait_until(
            lambda: len(collector.snapshot()) >= len(expected),
            timeout=30,
            message=f"OrbitMQ consumer got {len(collector.snapshot())} of {len(expected)}",
        )
    finally:
        consumer.shutdown()
    msgs = collector.snapshot()
    views = [
        (m.body.decode(), m.tags, " ".join(m.keys), m.properties.get("orbit_seq")) for m in msgs
    ]
    assert not duplicates(views)
    assert set(views) == expected
    # A batch lands in one queue with consecutive offsets.
    for start in (0, 5):
        part = [
            m
            for m in msgs
            if m.tags == "Batch" and start <= int(m.properties["orbit_seq"]) < start + 5
        ]
        assert len({m.queue_id for m in part}) == 1, [(m.queue_id, m.queue_offset) for m in part]
        offsets = sorted(m.queue_offset for m in part)
        assert offsets == list(range(offsets[0], offsets[0] + 5))
        ordered = sorted(part, key=lambda m: m.queue_offset)
        assert [int(m.properties["orbit_seq"]) for m in ordered] == list(range(start, start + 5))

    # A C++ consumer of a new group: a young queue is read from offset 0.
    records = cpp.run(
        *cpp_consume_args(
            cluster, topic, "GID_CPP_COMPRESS", "--expect", len(expected), "--timeout", 30
        ),
        timeout=60,
    )
    assert not duplicates([r["body"] for r in records])
    assert {view(r, "orbit_seq") for r in records} == expected
    assert sorted(r["body_len"] for r in records if r["tags"] == "Big") == [6000] * 4


def test_cpp_consumer_failure_is_redelivered_via_retry_topic(cluster, admin, producer, cpp):
    """5. RECONSUME_LATER from the C++ consumer: CONSUMER_SEND_MSG_BACK puts the message into
    %RETRY%<group>, and it is delivered again and consumed.

    Takes ~10 s by design of the client: the group's retry topic is created by the broker at
    the first heartbeat, after the consumer looked its route up; the client finds the route at
    its 3 s refresh and starts pulling it at its next periodic rebalance (10 s). A broker
    that applies retry delays (level 3 = 10 s for a first send-back) adds no more than that.
    """
    topic, group, n = "CppRetry", "GID_CPP_RETRY", 5
    retry_topic = f"%RETRY%{group}"
    create_topic(cluster, admin, topic)
    [consumer] = start_cpp_consumers(
        cpp, cluster, admin, producer, topic, group,
        "--fail-times", 1, "--expect", n, "--expect-prefix", "retry-", "--timeout", 40,
        "--linger", 1.0,
    )  # fmt: skip
    sent = cpp_produce(
        cpp,
        cluster,
        topic,
        "--count",
        n,
        "--tag",
        "TagR",
        "--keys-prefix",
        "retry-key",
        "--body-prefix",
        "retry",
    )

    records = consumer.result(timeout=70)
    got = real(records, "retry-")
    by_body = defaultdict(list)
    for r in got:
        by_body[r["body"]].append(r)
    assert sorted(by_body) == sorted(f"retry-{i}" for i in range(n))
    for i in range(n):
        deliveries = by_body[f"retry-{i}"]
        first, *later = deliveries
        assert first["result"] == "RECONSUME_LATER", deliveries
        assert first["reconsume_times"] == 0 and first["topic"] == topic, deliveries
        ok = acked(later)
        assert len(ok) == 1, f"retry-{i}: {deliveries}"
        again = ok[0]
        # Redelivered from the retry topic, with everything the producer set.
        assert again["reconsume_times"] >= 1, deliveries
        assert view(again, "orbit_seq") == (f"retry-{i}", "TagR", f"retry-key-{i}", str(i))
        assert again["properties"].get("RETRY_TOPIC") == topic, again
        assert again["msg_id"] == sent[i]["msg_id"], (again, sent[i])
    # The sent-back messages are stored in the group's retry topic.
    retry_max = admin.max_offset(MessageQueue(retry_topic, broker_name(cluster), 0))
    assert retry_max >= n


def test_cpp_pull_consumer_reads_everything(cluster, admin, producer, cpp):
    """6. The C++ PullConsumer reads every queue from offset 0 (incl. a compressed body),
    and a tag expression returns only the matching messages."""
    topic, n = "CppPull", 20
    create_topic(cluster, admin, topic)
    expected = {}
    for i in range(n):
        body = f"pull-{i}" if i != 7 else "pull-7-" + "z" * 8000  # one compressed body
        tag = "TagA" if i % 2 == 0 else "TagB"
        producer.send(
            Message(
                topic,
                body.encode(),
                tags=tag,
                keys=f"pull-key-{i}",
                properties={"orbit_seq": str(i)},
            )
        )
        expected[body] = (body, tag, f"pull-key-{i}", str(i))

    records = cpp.run(
        "pull",
        "--namesrv",
        cluster.namesrv_addr,
        "--topic",
        topic,
        "--group",
        "GID_CPP_PULL",
        "--max-num",
        4,
        "--timeout",
        30,
        timeout=60,
    )
    assert not duplicates([r["body"] for r in records])
    assert {view(r, "orbit_seq") for r in records} == set(expected.values())
    by_queue = defaultdict(list)
    for r in records:
        assert r["topic"] == topic
        by_queue[r["queue_id"]].append(r["queue_offset"])
    assert sorted(by_queue) == list(range(QUEUES))
    for offsets in by_queue.values():
        assert offsets == list(range(len(offsets)))

    only_a = cpp.run(
        "pull",
        "--namesrv",
        cluster.namesrv_addr,
        "--topic",
        topic,
        "--group",
        "GID_CPP_PULL_A",
        "--expression",
        "TagA",
        "--timeout",
        30,
        timeout=60,
    )
    assert {view(r, "orbit_seq") for r in only_a} == {
        v for v in expected.values() if v[1] == "TagA"
    }


def test_cpp_broadcasting_consumers_each_get_everything(cluster, admin, producer, cpp):
    """7. Two C++ BROADCASTING members of one group both receive every message."""
    topic, group, n = "CppBroadcast", "GID_CPP_BROADCAST", 20
    create_topic(cluster, admin, topic)
    members = start_cpp_consumers(
        cpp, cluster, admin, producer, topic, group,
        "--broadcast", "--expect", n, "--expect-prefix", "bc-", "--timeout", 40, "--linger", 0.5,
        members=2,
    )  # fmt: skip
    cpp_produce(
        cpp,
        cluster,
        topic,
        "--count",
        n,
        "--tag",
        "TagB",
        "--keys-prefix",
        "bc-key",
        "--body-prefix",
        "bc",
    )
    expected = {(f"bc-{i}", "TagB", f"bc-key-{i}", str(i)) for i in range(n)}
    for proc in members:
        records = proc.result(timeout=60)
        got = real(records, "bc-")
        assert {view(r, "orbit_seq") for r in got} == expected
        assert not duplicates([r["body"] for r in got]), f"pid {proc.pid}: duplicates"
        assert all(r["result"] == SUCCESS for r in got)
        assert_prompt(cpp_latencies(got), f"C++ broadcasting consumer pid {proc.pid}")
