"""FIFO and transactional messages from the official 5.x clients: a FIFO topic and an
orderly group (mqadmin updateTopic -a +message.type=FIFO, updateSubGroup -o true) keep
each message group in order; a transaction is committed, rolled back, or resolved by the
broker's check-back over the Telemetry stream; a topic refuses messages of another type."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import pytest

from .harness import ProxiedCluster, run_client, start_client

# Each behaviour with both clients, each client in both modes.
CLIENT_MODES = pytest.mark.parametrize(
    ("driver", "cluster"), [("py", "local"), ("node", "cluster")], indirect=["cluster"]
)
CLIENT_MODES_SWAPPED = pytest.mark.parametrize(
    ("driver", "cluster"), [("py", "cluster"), ("node", "local")], indirect=["cluster"]
)


@CLIENT_MODES
def test_fifo_message_groups_arrive_in_order(
    cluster: ProxiedCluster, home: Path, driver: str
) -> None:
    topic, group = f"Grpc5Fifo_{driver}", f"GID_FIFO_{driver}"
    cluster.create_topic(topic, 4, message_type="FIFO")
    cluster.admin("updateSubGroup", "-c", "DefaultCluster", "-g", group, "-o", "true")
    endpoint = cluster.endpoint
    consumer = start_client(driver, home, "push", "--endpoint", endpoint, "--topic", topic,
                            "--group", group, "--expect", "30", "--timeout", "60")  # fmt: skip
    try:
        consumer.wait_started()
        sent = run_client(driver, home, "produce", "--endpoint", endpoint, "--topic", topic,
                          "--count", "30", "--message-group", "order", "--groups", "3")  # fmt: skip
        assert sent[-1] == {"done": 30, "failed": 0}
        records = [r for r in consumer.wait(90) if "message_id" in r]
    finally:
        consumer.kill()
    by_group: dict[str, list[int]] = defaultdict(list)
    for r in records:
        by_group[r["group"]].append(int(r["properties"]["seq"]))
    assert sorted(by_group) == ["order-0", "order-1", "order-2"]
    for name, seqs in by_group.items():
        assert seqs == sorted(seqs), f"{name} out of order: {seqs}"
        assert len(seqs) == 10


@CLIENT_MODES_SWAPPED
def test_transactions_commit_rollback_and_check_back(
    cluster: ProxiedCluster, home: Path, driver: str
) -> None:
    topic = f"Grpc5Tx_{driver}"
    cluster.create_topic(topic, 2, message_type="TRANSACTION")
    endpoint = cluster.endpoint
    for resolution, count in (("commit", 3), ("rollback", 2)):
        done = run_client(
            driver, home, "transaction", "--endpoint", endpoint, "--topic", topic,
            "--count", str(count), "--resolution", resolution, "--body-prefix", resolution,
        )  # fmt: skip
        assert done[-1]["done"] == count
    checked = run_client(
        driver, home, "transaction", "--endpoint", endpoint, "--topic", topic, "--count", "2",
        "--resolution", "none", "--check", "commit", "--body-prefix", "checked", "--wait", "30",
    )  # fmt: skip
    assert checked[-1]["checked"] >= 2, checked
    got = run_client(driver, home, "simple", "--endpoint", endpoint, "--topic", topic,
                     "--group", f"GID_TX_{driver}", "--expect", "5", "--timeout", "30")  # fmt: skip
    bodies = sorted(r["body"] for r in got if "message_id" in r)
    assert bodies == ["checked-0", "checked-1", "commit-0", "commit-1", "commit-2"]


def test_a_topic_refuses_messages_of_another_type(
    local_cluster: ProxiedCluster, home: Path
) -> None:
    topic = "Grpc5TypedNormal"
    local_cluster.create_topic(topic, 2, message_type="NORMAL")
    fifo = run_client("py", home, "produce", "--endpoint", local_cluster.endpoint, "--topic",
                      topic, "--count", "1", "--message-group", "g")  # fmt: skip
    assert fifo[-1]["failed"] == 1
    assert "message type" in fifo[0]["error"]
