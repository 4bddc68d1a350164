"""A broker killed with SIGKILL while 5.x consumers hold invisible messages: after the
restart every unacked message is delivered again, none is lost, and once acked none
comes back."""

from __future__ import annotations

from pathlib import Path

from .harness import ProxiedCluster, run_py, start_local_mode


def test_in_flight_messages_survive_a_broker_kill(tmp_path: Path) -> None:
    (tmp_path / "cluster").mkdir()
    cluster: ProxiedCluster = start_local_mode(tmp_path / "cluster")
    home = tmp_path / "home"
    home.mkdir()
    try:
        topic, group = "Grpc5Restart", "GID_RESTART"
        cluster.create_topic(topic, 2)
        endpoint = cluster.endpoint
        produced = run_py(
            home, "produce", "--endpoint", endpoint, "--topic", topic, "--count", "10"
        )
        ids = sorted(r["message_id"] for r in produced if "message_id" in r)
        assert len(ids) == 10
        held = run_py(
            home, "simple", "--endpoint", endpoint, "--topic", topic, "--group", group,
            "--invisible", "300", "--no-ack-first", "10", "--expect", "10", "--timeout", "8",
        )  # fmt: skip
        assert sorted(r["message_id"] for r in held if "message_id" in r) == ids

        cluster.brokers["broker-a"].kill()
        cluster.start_broker("broker-a", True, grpc_port=int(endpoint.rsplit(":", 1)[1]))

        after = run_py(
            home, "simple", "--endpoint", endpoint, "--topic", topic, "--group", group,
            "--expect", "10", "--timeout", "40",
        )  # fmt: skip
        assert sorted(r["message_id"] for r in after if r.get("acked")) == ids
        nothing = run_py(
            home, "simple", "--endpoint", endpoint, "--topic", topic, "--group", group,
            "--expect", "1", "--timeout", "6",
        )  # fmt: skip
        assert [r for r in nothing if "message_id" in r] == []
    finally:
        cluster.stop()
