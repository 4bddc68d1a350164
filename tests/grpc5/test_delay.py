"""Delay messages from the official 5.x clients (`delivery_timestamp`, any time, not
only the 18 levels): held by the broker's timer service, then delivered no earlier than
asked and within about a second (timerPrecisionMs=1000)."""

from __future__ import annotations

import statistics
from pathlib import Path

import pytest

from .harness import ProxiedCluster, run_client

COUNT = 12


@pytest.mark.parametrize(
    ("driver", "cluster"), [("py", "local"), ("node", "cluster")], indirect=["cluster"]
)
def test_delay_messages_arrive_on_time(cluster: ProxiedCluster, home: Path, driver: str) -> None:
    topic = f"Grpc5Delay_{driver}"
    cluster.create_topic(topic, 2, message_type="DELAY")
    endpoint = cluster.endpoint
    # The Python client takes whole seconds, the Node.js one milliseconds.
    delay = ["--delay-seconds", "4"] if driver == "py" else ["--delay-ms", "4000"]
    sent = run_client(driver, home, "produce", "--endpoint", endpoint, "--topic", topic,
                      "--count", str(COUNT), *delay)  # fmt: skip
    assert sent[-1] == {"done": COUNT, "failed": 0}
    received = run_client(
        driver, home, "simple", "--endpoint", endpoint, "--topic", topic,
        "--group", f"GID_DELAY_{driver}", "--expect", str(COUNT), "--timeout", "40",
    )  # fmt: skip
    got = [r for r in received if "message_id" in r]
    assert sorted(r["message_id"] for r in got) == sorted(r["message_id"] for r in sent[:-1])
    lateness = []
    for r in got:
        due = r["delivery_timestamp"] / 1000  # both drivers report ms
        assert r["received_at"] >= due - 0.05, f"{r['message_id']} came early"
        lateness.append(r["received_at"] - due)
    p50 = statistics.median(lateness)
    p99 = max(lateness)
    print(f"\n{driver} delay lateness p50 {p50 * 1000:.0f} ms, max {p99 * 1000:.0f} ms")
    assert p99 < 2.5


@pytest.mark.parametrize(
    ("driver", "cluster"), [("py", "local"), ("node", "local")], indirect=["cluster"]
)
def test_recalled_delay_messages_never_arrive(
    cluster: ProxiedCluster, home: Path, driver: str
) -> None:
    """RecallMessage before the delivery time: the recalled half never comes."""
    topic = f"Grpc5Recall_{driver}"
    cluster.create_topic(topic, 2, message_type="DELAY")
    delay = ["--delay-seconds", "3"] if driver == "py" else ["--delay-ms", "3000"]
    recall = ["--recall-even"] if driver == "py" else ["--recall-even", "1"]
    sent = run_client(driver, home, "produce", "--endpoint", cluster.endpoint, "--topic",
                      topic, "--count", "6", *delay, *recall)  # fmt: skip
    recalled = {r["recalled"] for r in sent if "recalled" in r}
    kept = {r["message_id"] for r in sent if "message_id" in r} - recalled
    assert len(recalled) == 3 and len(kept) == 3
    received = run_client(
        driver, home, "simple", "--endpoint", cluster.endpoint, "--topic", topic,
        "--group", f"GID_RECALL_{driver}", "--expect", "6", "--timeout", "20",
    )  # fmt: skip
    assert {r["message_id"] for r in received if "message_id" in r} == kept
