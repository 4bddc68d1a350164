"""Retries end in the dead-letter queue: a SimpleConsumer that never acks sees a message
retryMaxTimes + 1 times, then the broker moves it to %DLQ%<group>; a FIFO PushConsumer
that keeps failing forwards it there itself (ForwardMessageToDeadLetterQueue). The DLQ is
the one 4.x consumers use, readable by 5.x consumers too."""

from __future__ import annotations

from pathlib import Path

from tests.processes import wait_until

from .conftest import BOTH_MODES
from .harness import ProxiedCluster, run_py, start_py


def has_route(cluster: ProxiedCluster, topic: str) -> bool:
    try:
        cluster.admin("topicRoute", "-t", topic)
    except AssertionError:
        return False
    return True


def dead_letters(cluster: ProxiedCluster, home: Path, group: str, expect: int) -> list[dict]:
    wait_until(lambda: has_route(cluster, f"%DLQ%{group}"), 30, 0.5, f"no %DLQ%{group} route")
    records = run_py(home, "simple", "--endpoint", cluster.endpoint, "--topic", f"%DLQ%{group}",
                     "--group", f"{group}_DLQ_READER", "--expect", str(expect),
                     "--timeout", "30")  # fmt: skip
    return [r for r in records if "message_id" in r]


@BOTH_MODES
def test_a_never_acked_message_goes_to_the_dlq(cluster: ProxiedCluster, home: Path) -> None:
    topic, group = "Grpc5NeverAcked", "GID_NEVER_ACKED"
    cluster.create_topic(topic, 2)
    cluster.admin("updateSubGroup", "-c", "DefaultCluster", "-g", group, "-r", "1")
    sent = run_py(home, "produce", "--endpoint", cluster.endpoint, "--topic", topic,
                  "--count", "1", "--body-prefix", "doomed")  # fmt: skip
    message_id = sent[0]["message_id"]
    deliveries = run_py(home, "simple", "--endpoint", cluster.endpoint, "--topic", topic,
                        "--group", group, "--invisible", "10", "--never-ack", "--expect", "1",
                        "--timeout", "45")  # fmt: skip
    attempts = [r["attempt"] for r in deliveries if r.get("message_id") == message_id]
    assert attempts == [1, 2]  # retryMaxTimes 1: two deliveries, then the DLQ
    # The broker forwards an expired last attempt at the group's next pop of its queue:
    # keep polling (nothing more is delivered) past the second invisible time.
    after = run_py(home, "simple", "--endpoint", cluster.endpoint, "--topic", topic,
                   "--group", group, "--never-ack", "--expect", "1",
                   "--timeout", "15")  # fmt: skip
    assert not [r for r in after if r.get("message_id") == message_id]
    [dead] = dead_letters(cluster, home, group, 1)
    assert dead["message_id"] == message_id and dead["body"] == "doomed-0"


def test_a_failing_fifo_consumer_forwards_to_the_dlq(
    local_cluster: ProxiedCluster, home: Path
) -> None:
    topic, group = "Grpc5FifoDead", "GID_FIFO_DEAD"
    local_cluster.create_topic(topic, 2, message_type="FIFO")
    local_cluster.admin("updateSubGroup", "-c", "DefaultCluster", "-g", group, "-o", "true",
                        "-r", "1")  # fmt: skip
    consumer = start_py(home, "push", "--endpoint", local_cluster.endpoint, "--topic", topic,
                        "--group", group, "--expect", "1", "--fail-first", "2",
                        "--timeout", "40")  # fmt: skip
    try:
        consumer.wait_started()
        sent = run_py(home, "produce", "--endpoint", local_cluster.endpoint, "--topic", topic,
                      "--count", "2", "--message-group", "g")  # fmt: skip
        ids = [r["message_id"] for r in sent if "message_id" in r]
        # The second one fails twice too: it may be in the DLQ by the time it is read.
        dead = dead_letters(local_cluster, home, group, 1)
    finally:
        consumer.kill()
    # The first message failed its two attempts and was forwarded; the group went on.
    assert dead[0]["message_id"] == ids[0]
    assert {r["message_id"] for r in dead} <= set(ids)
