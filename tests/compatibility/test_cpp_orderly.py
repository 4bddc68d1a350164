"""Ordered messages with the official RocketMQ C++ client (rocketmq 0.4.4) on OrbitMQ.

The C++ orderly consumer sends LOCK_BATCH_MQ before pulling a queue and consumes each
queue on one thread; OrbitMQ must grant the locks and keep each queue's order. Order is
checked per sending key: the deliveries printed by the driver (in delivery order) must
give each key's sequence numbers exactly as sent, once each.

A brand-new C++ group starts at offset 0 of these young queues (the broker answers
QUERY_CONSUMER_OFFSET with 0, as a Java broker does), so the consumer may start after
the producers.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Iterator

import pytest
from scenario import QUEUES, cluster_fixture, cpp_consume_args, create_topic

from orbitmq.client import (
    ConsumeOrderlyStatus,
    Message,
    MessageExt,
    SyncAdmin,
    SyncProducer,
    SyncPushConsumer,
    select_by_hash,
)
from tests.integration.conftest import Cluster
from tests.processes import wait_until

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]


cluster = cluster_fixture("cpp-orderly")


@pytest.fixture(autouse=True)
def _server_output_on_failure(cluster: Cluster) -> Iterator[None]:
    yield
    print(f"--- broker output (last lines) ---\n{cluster.broker.tail(60)}")


def sequences(records: list[dict], topic: str) -> dict[str, list[tuple[int, int]]]:
    """key -> [(seq, queue id)] in delivery order, from bodies `<key>:<seq>`."""
    out: dict[str, list[tuple[int, int]]] = defaultdict(list)
    for rec in records:
        if rec.get("topic") != topic or rec.get("result") != "CONSUME_SUCCESS":
            continue
        key, _, seq = (rec["body"] or "").rpartition(":")
        out[key].append((int(seq), rec["queue_id"]))
    return out


def check_order(seqs: dict[str, list[tuple[int, int]]], keys: list[str], count: int) -> int:
    """Assert every key came whole, once, in order, from one queue; return violations."""
    violations = 0
    for key in keys:
        got = [seq for seq, _ in seqs.get(key, [])]
        violations += sum(1 for i, seq in enumerate(got) if seq != i)
        assert got == list(range(count)), f"key {key}: {got}"
        assert len({queue for _, queue in seqs[key]}) == 1, f"key {key} spread over queues"
    return violations


def test_cpp_orderly_producer_to_cpp_orderly_consumer(
    cpp, cluster: Cluster, admin: SyncAdmin
) -> None:
    topic, count = "CppOrderTopic", 30
    create_topic(cluster, admin, topic, order=True)
    seen_ids: set[str] = set()
    # One after another: parallel C++ producers can generate the same UNIQ_KEY (the
    # 1.2.3 client's ids are not unique across processes started together).
    for q in range(3):
        sent = cpp.run(
            "produce",
            "--namesrv",
            cluster.namesrv_addr,
            "--topic",
            topic,
            "--group",
            f"PID_CPP_ORDER_{q}",
            "--mode",
            "orderly",
            "--queue",
            q,
            "--count",
            count,
            "--body-prefix",
            f"cpp{q}",
            timeout=60,
        )
        assert [r["i"] for r in sent] == list(range(count))
        assert {r["msg_id"] for r in sent}.isdisjoint(seen_ids)
        seen_ids.update(r["msg_id"] for r in sent)
    # --body-prefix P gives bodies P-i; rewrite them as key:seq for the check below
    records = cpp.run(
        *cpp_consume_args(cluster, topic, "GID_CPP_ORDERLY", "--orderly", "--expect", 3 * count,
                          "--timeout", 40, "--linger", 0.5),
        timeout=90,
    )  # fmt: skip
    for rec in records:
        if rec.get("body"):
            prefix, _, seq = rec["body"].rpartition("-")
            rec["body"] = f"{prefix}:{seq}"
    seqs = sequences(records, topic)
    violations = check_order(seqs, [f"cpp{q}" for q in range(3)], count)
    print(f"C++ -> C++ orderly: {3 * count} messages, order violations {violations}")


def test_orbitmq_orderly_producer_to_cpp_orderly_consumer(
    cpp, cluster: Cluster, admin: SyncAdmin
) -> None:
    topic, count = "PyOrderTopic", 20
    keys = [f"order-{k}" for k in range(6)]
    create_topic(cluster, admin, topic, order=True)
    producer = SyncProducer("PID_PY_ORDER", cluster.namesrv_addr)
    producer.start()
    try:
        for seq in range(count):
            for key in keys:
                producer.send_orderly(
                    Message(topic, f"{key}:{seq}".encode(), keys=key), select_by_hash, key
                )
    finally:
        producer.shutdown()
    t0 = time.monotonic()
    records = cpp.run(
        *cpp_consume_args(cluster, topic, "GID_CPP_ORDERLY_FROM_PY", "--orderly",
                          "--expect", len(keys) * count, "--timeout", 40, "--linger", 0.5),
        timeout=90,
    )  # fmt: skip
    violations = check_order(sequences(records, topic), keys, count)
    print(
        f"OrbitMQ -> C++ orderly: {len(keys) * count} messages in "
        f"{time.monotonic() - t0:.1f}s, order violations {violations}"
    )


def test_cpp_and_orbitmq_orderly_members_hand_queues_over(
    cpp, cluster: Cluster, admin: SyncAdmin
) -> None:
    """One group, an OrbitMQ orderly member holding every queue, then a C++ orderly member
    joining: the broker locks make the OrbitMQ member give up half of the queues (after
    its in-flight batch, offsets persisted) before the C++ member pulls them.

    Checked per queue on one clock (both processes run here): the deliveries of the two
    members never interleave (at most orbitmq -> cpp -> orbitmq), and within each
    member's stretch every key's messages come in send order. The 1.2.3 C++ client reads
    its start offset when it adds a queue, before it wins the lock, and does not read it
    again after locking (Java does), so under load it may replay a few messages the
    previous owner consumed last: those are reported, not failed."""
    topic, group, count = "MixedOrderTopic", "GID_MIXED_ORDERLY", 40
    keys = [f"mixed-{k}" for k in range(8)]
    create_topic(cluster, admin, topic, order=True)
    deliveries: list[tuple[float, str, int, int]] = []  # (ms, key, seq, queue id)

    def listener(msgs: list[MessageExt]) -> ConsumeOrderlyStatus:
        now = time.time() * 1000
        for msg in msgs:
            key, _, seq = msg.body.decode().rpartition(":")
            deliveries.append((now, key, int(seq), msg.queue_id))
        time.sleep(0.002)
        return ConsumeOrderlyStatus.SUCCESS

    member = SyncPushConsumer(group, cluster.namesrv_addr, instance_name="zz-python")
    member.subscribe(topic)
    member.register_message_listener(listener, orderly=True)
    member.start()
    producer = SyncProducer("PID_MIXED_ORDER", cluster.namesrv_addr)
    producer.start()
    joined = None
    try:
        wait_until(lambda: len(member.consumer.owned_queues) == QUEUES + 1, timeout=20)
        for seq in range(count):
            if seq == count // 3:
                joined = cpp.start(
                    *cpp_consume_args(
                        cluster, topic, group, "--orderly", "--expect", 0,
                        "--timeout", 8,  # stays until production is over
                    )
                )  # fmt: skip
                joined.wait_started()
            for key in keys:
                producer.send_orderly(
                    Message(topic, f"{key}:{seq}".encode(), keys=key), select_by_hash, key
                )
            time.sleep(0.05)
        assert joined is not None
        records = joined.result(60)
        # if the C++ member left first, its queues came back: let them drain
        wait_until(
            lambda: (
                {(k, s) for _, k, s, _ in deliveries}
                | {(k, s) for k, v in sequences(records, topic).items() for s, _ in v}
                >= {(k, s) for k in keys for s in range(count)}
            ),
            timeout=20,
            message="messages went missing",
        )
    finally:
        producer.shutdown()
        member.shutdown()
    events = [(ms, "orbitmq", key, seq, queue) for ms, key, seq, queue in deliveries]
    for rec in records:
        if rec.get("topic") == topic and rec.get("result") == "CONSUME_SUCCESS":
            key, _, seq = rec["body"].rpartition(":")
            events.append((float(rec["received_ms"]), "cpp", key, int(seq), rec["queue_id"]))
    events.sort(key=lambda e: (int(e[0]), e[3]))  # one clock, ms resolution
    assert any(e[1] == "cpp" for e in events), "the C++ member consumed nothing"
    overlaps = out_of_order = repeats = 0
    seen: set[tuple[str, int]] = set()
    for queue in range(QUEUES):
        stints: list[tuple[str, float, float]] = []  # (member, first ms, last ms)
        last_seq: dict[tuple[int, str], int] = {}
        for ms, who, key, seq, q in events:
            if q != queue:
                continue
            if not stints or stints[-1][0] != who:
                stints.append((who, ms, ms))
            else:
                stints[-1] = (who, stints[-1][1], ms)
            stint = len(stints)
            previous = last_seq.get((stint, key))
            if previous is not None and seq != previous + 1:
                out_of_order += 1
            last_seq[(stint, key)] = seq
            repeats += (key, seq) in seen
            seen.add((key, seq))
        # Handing a queue over is one switch of owner (two if the C++ member leaves
        # before the end and it comes back); members consuming it at the same time would
        # interleave, switching back and forth.
        overlaps += max(0, len(stints) - 3)
    print(
        f"mixed orderly group: OrbitMQ {len(deliveries)} / C++ "
        f"{len(events) - len(deliveries)} deliveries, interleaved owners {overlaps}, "
        f"order violations {out_of_order}, replayed by the C++ client {repeats}"
    )
    assert overlaps == 0
    assert out_of_order == 0
