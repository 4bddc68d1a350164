"""The official RocketMQ 5.x Node.js client (npm rocketmq-client-nodejs 1.0.8, its own
node_modules) against `mqbroker --enable-proxy` and `mqproxy`: sends, the
SimpleConsumer, the PushConsumer's nack and redelivery, and messages crossing to and
from the Python 5.x client."""

from __future__ import annotations

from pathlib import Path

from .conftest import BOTH_MODES
from .harness import ProxiedCluster, run_client, run_py, start_client


def ids_of(records: list[dict]) -> list[str]:
    return sorted(r["message_id"] for r in records if "message_id" in r)


@BOTH_MODES
def test_node_sends_and_simple_receives(cluster: ProxiedCluster, home: Path) -> None:
    topic = "Grpc5Node"
    cluster.create_topic(topic)
    endpoint = cluster.endpoint
    sent = run_client("node", home, "produce", "--endpoint", endpoint, "--topic", topic,
                      "--count", "5", "--tag", "NodeA", "--body-prefix", "node")  # fmt: skip
    assert sent[-1] == {"done": 5, "failed": 0}
    got = run_client(
        "node", home, "simple", "--endpoint", endpoint, "--topic", topic,
        "--group", "GID_NODE_SIMPLE", "--expression", "NodeA", "--expect", "5",
    )  # fmt: skip
    assert ids_of(got) == ids_of(sent)
    for m in got[:-1]:
        seq = m["properties"]["seq"]
        assert m["body"] == f"node-{seq}" and m["keys"] == [f"key-{seq}"]
        assert m["tag"] == "NodeA" and m["attempt"] == 1 and not m["corrupted"]
    # The Python 5.x client reads what the Node.js one sent, in another group.
    python = run_py(home, "simple", "--endpoint", endpoint, "--topic", topic,
                    "--group", "GID_NODE_BY_PY", "--expect", "5", "--timeout", "30")  # fmt: skip
    assert ids_of(python) == ids_of(sent)


def test_node_push_consumer_nack_is_redelivered(local_cluster: ProxiedCluster, home: Path) -> None:
    topic = "Grpc5NodePush"
    local_cluster.create_topic(topic)
    endpoint = local_cluster.endpoint
    consumer = start_client("node", home, "push", "--endpoint", endpoint, "--topic", topic,
                            "--group", "GID_NODE_PUSH", "--expect", "4", "--fail-first", "1",
                            "--timeout", "60")  # fmt: skip
    try:
        consumer.wait_started()
        sent = run_py(home, "produce", "--endpoint", endpoint, "--topic", topic, "--count", "4")
        records = [r for r in consumer.wait(90) if "message_id" in r]
    finally:
        consumer.kill()
    failures = {r["message_id"]: r["attempt"] for r in records if r["result"] == "FAILURE"}
    successes = {r["message_id"]: r["attempt"] for r in records if r["result"] == "SUCCESS"}
    assert sorted(failures) == sorted(successes) == ids_of(sent)
    assert set(failures.values()) == {1} and set(successes.values()) == {2}
