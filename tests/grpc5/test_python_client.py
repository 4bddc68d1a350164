"""The official RocketMQ 5.x Python client (PyPI rocketmq-python-client 5.1.2, its own
venv) against a broker serving gRPC itself (`mqbroker --enable-proxy`) and against
`mqproxy` in front of two broker sets: sends with tags, keys and properties, the
SimpleConsumer's receive / ack / invisible time, the PushConsumer's nack and redelivery,
and both protocols over the same data."""

from __future__ import annotations

from pathlib import Path

from orbitmq.client import Message, SyncProducer
from tests.compatibility.cpp_harness import build_cpp_env, run_cpp

from .conftest import BOTH_MODES
from .harness import ProxiedCluster, run_py, start_py


def sent_ids(records: list[dict]) -> list[str]:
    assert records[-1]["failed"] == 0, records
    return [r["message_id"] for r in records if "message_id" in r]


def received(records: list[dict]) -> list[dict]:
    return [r for r in records if "message_id" in r]


@BOTH_MODES
def test_tagged_sends_reach_simple_consumers_by_filter(cluster: ProxiedCluster, home: Path) -> None:
    topic = "Grpc5Tags"
    cluster.create_topic(topic)
    endpoint = cluster.endpoint
    tag_a = sent_ids(
        run_py(home, "produce", "--endpoint", endpoint, "--topic", topic, "--count", "6",
               "--tag", "TagA", "--keys-prefix", "ka", "--body-prefix", "a",
               "--property", "color=blue")
    )  # fmt: skip
    tag_b = sent_ids(
        run_py(home, "produce", "--endpoint", endpoint, "--topic", topic, "--count", "3",
               "--tag", "TagB", "--keys-prefix", "kb", "--body-prefix", "b")
    )  # fmt: skip

    only_a = received(
        run_py(home, "simple", "--endpoint", endpoint, "--topic", topic, "--group", "GID_TAG_A",
               "--expression", "TagA", "--expect", "6", "--timeout", "45")
    )  # fmt: skip
    # Sets: a send the client retried after a timeout may be stored twice (at least once).
    assert {m["message_id"] for m in only_a} == set(tag_a)
    for m in only_a:
        seq = m["properties"]["seq"]
        assert m["body"] == f"a-{seq}" and m["keys"] == [f"ka-{seq}"]
        assert m["tag"] == "TagA" and m["properties"]["color"] == "blue"
        assert m["attempt"] == 1 and not m["corrupted"] and m["topic"] == topic

    everything = received(
        run_py(home, "simple", "--endpoint", endpoint, "--topic", topic, "--group", "GID_TAG_ALL",
               "--expect", "9", "--timeout", "45")
    )  # fmt: skip
    assert {m["message_id"] for m in everything} == set(tag_a + tag_b)


def test_an_unacked_message_comes_back_with_one_more_attempt(
    local_cluster: ProxiedCluster, home: Path
) -> None:
    topic = "Grpc5Invisible"
    local_cluster.create_topic(topic, 2)
    endpoint = local_cluster.endpoint
    ids = sent_ids(
        run_py(home, "produce", "--endpoint", endpoint, "--topic", topic, "--count", "2")
    )
    records = received(
        run_py(home, "simple", "--endpoint", endpoint, "--topic", topic, "--group", "GID_INVISIBLE",
               "--invisible", "10", "--no-ack-first", "1", "--expect", "2", "--timeout", "40")
    )  # fmt: skip
    skipped = [r for r in records if not r["acked"]]
    acked = [r for r in records if r["acked"]]
    assert len(skipped) == 1 and skipped[0]["attempt"] == 1
    assert sorted(r["message_id"] for r in acked) == sorted(ids)
    again = next(r for r in acked if r["message_id"] == skipped[0]["message_id"])
    assert again["attempt"] == 2
    assert again["received_at"] - skipped[0]["received_at"] >= 9.5  # invisible for 10 s
    # It came back through the group's POP retry topic, as on RocketMQ 5.
    assert "%RETRY%GID_INVISIBLE_Grpc5Invisible" in local_cluster.admin("topicList")
    nothing = received(
        run_py(home, "simple", "--endpoint", endpoint, "--topic", topic, "--group", "GID_INVISIBLE",
               "--expect", "1", "--timeout", "6")
    )  # fmt: skip
    assert nothing == []


@BOTH_MODES
def test_push_consumer_failure_is_redelivered(cluster: ProxiedCluster, home: Path) -> None:
    topic = "Grpc5Push"
    cluster.create_topic(topic)
    endpoint = cluster.endpoint
    consumer = start_py(
        home, "push", "--endpoint", endpoint, "--topic", topic, "--group", "GID_PUSH",
        "--expect", "5", "--fail-first", "1", "--timeout", "60",
    )  # fmt: skip
    try:
        consumer.wait_started()
        ids = sent_ids(
            run_py(home, "produce", "--endpoint", endpoint, "--topic", topic, "--count", "5")
        )
        # mqadmin sees the 5.x consumer as it sees 4.x ones.
        connection = cluster.admin("consumerConnection", "-g", "GID_PUSH")
        assert "CONSUME_PASSIVELY" in connection and topic in connection
        records = received(consumer.wait(90))
    finally:
        consumer.kill()
    failed = {r["message_id"]: r for r in records if r["result"] == "FAILURE"}
    succeeded = {r["message_id"]: r for r in records if r["result"] == "SUCCESS"}
    assert sorted(failed) == sorted(ids) and sorted(succeeded) == sorted(ids)
    for message_id, success in succeeded.items():
        assert failed[message_id]["attempt"] == 1 and success["attempt"] == 2


def test_4x_sends_reach_5x_consumers_and_back(local_cluster: ProxiedCluster, home: Path) -> None:
    """Our 4.x Python producer -> 5.x SimpleConsumer; 5.x producer -> the official C++
    4.x PushConsumer, over one broker's data."""
    topic = "Grpc5Cross"
    local_cluster.create_topic(topic)
    with SyncProducer("PG_CROSS", local_cluster.namesrv_addr) as producer:
        ids = [
            producer.send(Message(topic, f"from-4x-{i}".encode(), tags="T4", keys=f"k4-{i}")).msg_id
            for i in range(4)
        ]
    got = received(
        run_py(home, "simple", "--endpoint", local_cluster.endpoint, "--topic", topic,
               "--group", "GID_CROSS_5X", "--expect", "4", "--timeout", "30")
    )  # fmt: skip
    assert sorted(m["message_id"] for m in got) == sorted(ids)
    assert {m["body"] for m in got} == {f"from-4x-{i}" for i in range(4)}
    assert all(m["tag"] == "T4" for m in got)
    # The 5.x group's acks are committed offsets 4.x tools read.
    assert "Diff Total: 0" in local_cluster.admin("consumerProgress", "-g", "GID_CROSS_5X")

    five = sent_ids(
        run_py(home, "produce", "--endpoint", local_cluster.endpoint, "--topic", topic,
               "--count", "3", "--tag", "T5", "--body-prefix", "from-5x")
    )  # fmt: skip
    consumed = run_cpp(
        build_cpp_env(), "consume", "--namesrv", local_cluster.namesrv_addr, "--topic", topic,
        "--group", "GID_CROSS_CPP", "--expression", "T5", "--expect", "3", "--timeout", "40",
        timeout=90,
    )  # fmt: skip
    bodies = sorted(r["body"] for r in consumed if r.get("body", "").startswith("from-5x"))
    assert bodies == [f"from-5x-{i}" for i in range(3)]
    assert {r["msg_id"] for r in consumed if "msg_id" in r} >= set(five)


def test_sql_filter_and_changed_invisible_duration(
    local_cluster: ProxiedCluster, home: Path
) -> None:
    topic = "Grpc5Sql"
    local_cluster.create_topic(topic, 2)
    endpoint = local_cluster.endpoint
    for color in ("blue", "red"):
        run_py(home, "produce", "--endpoint", endpoint, "--topic", topic, "--count", "3",
               "--property", f"color={color}", "--body-prefix", color)  # fmt: skip
    args = [
        "simple", "--endpoint", endpoint, "--topic", topic, "--group", "GID_SQL", "--sql",
        "--expression", "color = 'blue' AND seq >= 1", "--expect", "2",
        "--change-invisible", "20", "--timeout", "30",
    ]  # fmt: skip
    blue = received(run_py(home, *args))
    assert sorted(m["body"] for m in blue) == ["blue-1", "blue-2"]
    assert all(m["changed"] and m["acked"] for m in blue)


def test_consumers_share_one_queue(local_cluster: ProxiedCluster, home: Path) -> None:
    """Message-based load balancing: two SimpleConsumers of a group on a one-queue topic
    both get messages, and no message goes to both."""
    topic = "Grpc5Shared"
    local_cluster.create_topic(topic, 1)
    endpoint = local_cluster.endpoint
    args = [
        "simple", "--endpoint", endpoint, "--topic", topic, "--group", "GID_SHARED",
        "--batch", "2", "--expect", "30", "--timeout", "15",
    ]  # fmt: skip
    consumers = [start_py(home, *args) for _ in range(2)]
    try:
        for consumer in consumers:  # both long-polling before anything is sent
            consumer.wait_started()
        ids = sent_ids(run_py(home, "produce", "--endpoint", endpoint, "--topic", topic,
                              "--count", "30"))  # fmt: skip
        got = [{m["message_id"] for m in received(c.wait(60))} for c in consumers]
    finally:
        for consumer in consumers:
            consumer.kill()
    assert got[0] and got[1] and not got[0] & got[1]
    assert sorted(got[0] | got[1]) == sorted(ids)
